"""trnsim.kernels: the project's own NKI kernels, with NumPy references and a registry.

Modules: ``elementwise`` (tensor add, plain and SPMD), ``transpose``, ``softmax``, ``norms``
(RMSNorm, LayerNorm), ``matmul`` (naive → fully blocked), ``attention`` and ``attention_bwd``
(flash attention), ``mlp`` (SwiGLU), ``adamw``, ``cross_entropy``; ``reference`` holds the NumPy
references and ``registry`` maps operation names to :class:`~trnsim.kernels.registry.KernelEntry`.
The package itself imports nothing, so ``trnsim.kernels.tiling`` stays usable on its own.
"""
