"""The vocabulary of device operations: what the workload layer builds and devicetime times.

An :class:`Op` is one kind of work on one rank (a GEMM, an attention core, a norm...), repeated
``count`` times with the same shape (e.g. once per transformer layer on this rank). ``flops``,
``bytes_read`` and ``bytes_written`` are per instance; the ``total_*`` properties multiply by
``count``. ``shape`` holds the dimensions a kernel needs (``m``/``k``/``n`` for a matmul; see
:data:`SHAPE_KEYS`). The type lives here, below ``trnsim.workload``, because devicetime must be
able to time an op without importing the layer that builds graphs of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = ["SHAPE_KEYS", "Dtype", "Op", "OpClass", "Phase", "executed_attention_flops"]


class Dtype(StrEnum):
    """Element type an op computes in (its inputs, for a matmul)."""

    BF16 = "bf16"
    FP8 = "fp8"
    FP32 = "fp32"

    @property
    def nbytes(self) -> int:
        # by value: a dict keyed by members would hash an enum (a Python-level call) per op built,
        # and reading a member off the class (``Dtype.BF16``) goes through the enum metaclass
        return _DTYPE_BYTES[self._value_]


#: Bytes per element of each :class:`Dtype`, by its value.
_DTYPE_BYTES = {"bf16": 2, "fp8": 1, "fp32": 4}


class OpClass(StrEnum):
    """What kind of work an op is: decides which kernel / efficiency curve times it."""

    MATMUL = "matmul"
    ATTENTION = "attention"
    NORM = "norm"
    ELEMENTWISE = "elementwise"
    EMBEDDING = "embedding"
    LOSS = "loss"
    ROUTER = "router"
    OPTIMIZER = "optimizer"


class Phase(StrEnum):
    FWD = "fwd"
    BWD = "bwd"
    RECOMPUTE = "recompute"
    OPTIMIZER = "optimizer"


#: Keys of ``Op.shape`` by class. Matmul: C[m, n] = A[m, k] @ B[k, n]. Attention: per (batch x
#: head) instance, queries ``seq_q`` against keys ``seq_kv``; ``causal`` 1 or 0. Row-wise ops:
#: ``rows`` x ``cols`` elements. Optimizer: ``params``.
SHAPE_KEYS: Mapping[OpClass, tuple[str, ...]] = MappingProxyType(
    {
        OpClass.MATMUL: ("m", "k", "n"),
        OpClass.ROUTER: ("m", "k", "n"),
        OpClass.ATTENTION: ("batch_heads", "seq_q", "seq_kv", "head_dim_qk", "head_dim_v", "causal"),
        OpClass.NORM: ("rows", "cols"),
        OpClass.ELEMENTWISE: ("rows", "cols"),
        OpClass.EMBEDDING: ("rows", "cols"),
        OpClass.LOSS: ("rows", "cols"),
        OpClass.OPTIMIZER: ("params",),
    }
)


@dataclass(slots=True)  # not frozen: see the class doc
class Op:
    """One operation of a training step on one rank, repeated ``count`` times.

    A value: never change an op's fields once built (ops are shared by cached step graphs and their
    times memoised by :meth:`timing_key`). It is not a frozen dataclass only because a frozen one
    sets each of its fields through ``object.__setattr__`` on construction, which made building ops
    a quarter of a planner's cold evaluation (about 20 ops per plan).
    """

    name: str
    op_class: OpClass
    phase: Phase
    flops: float
    bytes_read: float
    bytes_written: float
    shape: Mapping[str, int] = field(default_factory=dict)
    dtype: Dtype = Dtype.BF16
    count: int = 1
    #: The kernel that implements it on Trainium ('matmul', 'rmsnorm', 'attention', ...); '' = none.
    kernel: str = ""
    #: The GEMM whose output this op reads straight from the accumulator with no collective in
    #: between (an activation or residual add a compiler can run as the GEMM's epilogue); ''.
    epilogue_of: str = ""
    #: :meth:`timing_key`, built on first use (ops of a cached step graph are timed many times).
    _timing_key: tuple[object, ...] | None = field(default=None, init=False, repr=False, compare=False)
    #: What :func:`~trnsim.devicetime.timing.time_ops` returns for this op the next time it is asked
    #: in the same context (chip, method, memo generation): (context token, seconds). The op of a
    #: cached layer block is timed once per stage that holds the block; later times skip the memo.
    _timed: tuple[object, float] | None = field(default=None, init=False, repr=False, compare=False)
    #: The memoised time of one instance in a context (the token, as ``_timed``'s), once the memo holds
    #: it: what :func:`~trnsim.devicetime.timing.time_runs` times a one-layer template op by, at any
    #: count. Two fields, not a tuple: one object fewer per op timed for the cyclic collector.
    _instance_context: object = field(default=None, init=False, repr=False, compare=False)
    _instance_s: float = field(default=0.0, init=False, repr=False, compare=False)

    def timing_key(self) -> tuple[object, ...]:
        """Everything the time of one instance depends on (all but ``name`` and ``count``)."""
        key = self._timing_key
        if key is None:
            # enum values, not members: a member hashes in Python, and memo keys are hashed often. The
            # shape's names (strings) then its values (ints), in the key itself: no tuple per item nor
            # per half (a key is kept per op shape timed, and every tuple kept is one more object for
            # the cyclic collector to visit); the strings end where the ints begin, so two keys are
            # equal exactly when the ops' fields and shapes are.
            shape = self.shape
            key = (self.op_class._value_, self.phase._value_, self.dtype._value_, self.kernel, self.flops,
                   self.bytes_read, self.bytes_written, *shape, *shape.values())
            self._timing_key = key  # a cache, not a change of value
        return key

    @property
    def total_flops(self) -> float:
        return self.flops * self.count

    @property
    def total_bytes(self) -> float:
        return (self.bytes_read + self.bytes_written) * self.count

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte of memory traffic of one instance."""
        moved = self.bytes_read + self.bytes_written
        return self.flops / moved if moved else float("inf")


#: Query/key tile of a FlashAttention kernel: 128 rows, one partition-dimension tile on Trainium
#: and the usual block on GPUs. Only the causal-skip fraction depends on it.
CAUSAL_BLOCK = 128


def executed_attention_flops(op: Op) -> float:
    """FLOPs a FlashAttention kernel executes: causal masking skips blocks above the diagonal.

    ``op.flops`` counts the full score matrix (Megatron's convention). With n = seq_q / block
    query blocks against as many key blocks, a causal kernel visits n·(n+1)/2 of n² block pairs:
    a fraction (n+1)/(2n). Context-parallel chunks are load-balanced, so each rank executes the
    same fraction of its part. Non-attention ops return ``op.flops``.
    """
    if op.op_class is not OpClass.ATTENTION or not op.shape.get("causal", 0):
        return op.flops
    n = max(1, op.shape.get("seq_q", 1) // CAUSAL_BLOCK)
    return op.flops * (n + 1) / (2 * n)
