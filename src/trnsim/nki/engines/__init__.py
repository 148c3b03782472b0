"""Every NKI instruction, written once, ``dst`` first, in one module per engine.

Both front ends call these functions: the legacy one allocates a fresh result tile and passes it
as ``dst``; the current one passes the user's ``dst``. Each instruction validates its operands
against the target's rules (raising :class:`~trnsim.nki.errors.KernelError`), computes in fp32
and rounds to the destination dtype (value mode only), and records one trace
:class:`~trnsim.nki.trace.Instruction` through :func:`trnsim.nki.engines.execute.execute`.

``execute`` (the shared path), ``tensor_engine``, ``vector_scalar`` (VectorE and ScalarE),
``gpsimd``, ``dma``. ``trnsim.nki.isa_impl`` / ``isa_extra`` re-export them for the front ends.
"""
