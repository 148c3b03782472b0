"""trnsim.serve: serving a model (inference) beside the training step.

Prefill is the training forward pass at the prompt length (the same op graph, no backward);
decode is one step of ``concurrency`` rows through decode-shaped kernels (weights streamed, KV
cache attention), TP collectives at the small-message latency, and fixed per-step overheads
from ``serve/data/serving.toml``. :func:`estimate_serving` answers one configuration;
:mod:`trnsim.serve.compare` ranks systems at a latency target; :mod:`trnsim.serve.calibration`
checks against the published Trn2 inference runs.
"""

from trnsim.serve.config import ServeConfig, Speculation
from trnsim.serve.estimate import ServeResult, estimate_serving
from trnsim.serve.params import ServingParams, load_serving_params

__all__ = ["ServeConfig", "ServeResult", "ServingParams", "Speculation", "estimate_serving",
           "load_serving_params"]
