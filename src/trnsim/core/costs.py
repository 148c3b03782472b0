"""Cost of one compute instruction on its engine, from the spec's per-instruction formulas.

Every engine is pipelined: an instruction *occupies* its engine for its issue time (the next
instruction of the same queue may start then) and its result is in SBUF/PSUM a fixed latency
later. The issue time follows the legacy ISA cost notes (nki-api.md section 6.2), in cycles of the
engine's own clock:

* VectorE / ScalarE / GpSimdE: ``max(MIN_II, fixed + factor · N / rate)`` with ``N`` the elements
  per partition, ``factor`` the opcode's passes over the data (2 for two-input ``tensor_tensor``,
  8 for ``reciprocal``, ...) and ``rate`` the elements per partition per cycle for the dtype
  (1 on v2; 2 or 4 for 16-bit data on v3/v4); an inner stride above 16 B multiplies the element
  time by the stride penalty.
* TensorE matmul: ``max(min(MIN_II, N_stationary), N_moving)`` cycles, × 4 for FP32, ÷ the FP8
  (double-row) or MX rate (per packed x4 value); transposes ``max(P, min(64, F))``.

All numbers come from :class:`~trnsim.hardware.neuroncore_timing.NeuronCoreTiming`; this module
holds only the rules (which opcode takes which formula).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from trnsim.hardware.neuroncore_timing import EngineTiming, NeuronCoreTiming
from trnsim.nki.trace import Engine, Instruction, MemorySpace, Operand

__all__ = ["OTHER_KEY_ATTRS", "PSUM_PORT", "SBUF_PORT", "TENSOR_KEY_ATTRS", "ComputeCost", "ComputeCostModel",
           "cost_key", "is_matmul",
           "is_transpose", "shared_ports"]

#: The v2 shared access ports: VectorE/GpSimdE share SBUF access, VectorE/ScalarE PSUM access.
SBUF_PORT, PSUM_PORT = 0, 1

_ON_CHIP = (MemorySpace.SBUF, MemorySpace.PSUM)
_FLOAT16 = frozenset({"bfloat16", "float16", "bf16", "fp16"})
_FP32 = frozenset({"float32", "fp32"})
#: Opcodes VectorE/ScalarE run in their fast 16-bit modes ([AG3], [AG4]).
_FAST_RATE_OPCODES = frozenset({"tensor_copy", "tensor_scalar", "copy"})
_MATMUL_OPCODES = frozenset({"nc_matmul", "matmul", "nc_matmul_mx"})
#: Values per element of the packed x4 dtypes (a format fact: the "_x4" in the name).
_X4_LANES = 4
_TRANSPOSE_OPCODES = frozenset({"nc_transpose", "transpose"})
#: The instruction attributes a TensorE cost depends on (``_tensor_cost``, ``is_transpose``) and
#: those of the other engines (``_element_factor``): the memo key includes them.
_TENSOR_ATTRS = ("perf_mode", "transpose", "is_transpose")
_ENGINE_ATTRS = ("op", "op0", "op1", "value")
_TENSOR = Engine.TENSOR


@dataclass(frozen=True, slots=True)
class ComputeCost:
    """Time of one compute instruction, in ns."""

    #: How long the instruction occupies its engine (the next one may start after it).
    issue_ns: float
    #: From start until the result can be read by another instruction.
    complete_ns: float
    #: The part of ``issue_ns`` spent streaming elements (the rest is issue-interval padding).
    work_ns: float
    #: Added before the start when the instruction waits for a result (pipeline drained).
    dependent_overhead_ns: float
    #: LoadStationary time of a matmul, exposed when TensorE had nothing to overlap it with.
    load_stationary_ns: float
    flops: float
    #: A TensorE multiply whose first input is the stationary operand.
    loads_stationary: bool = False
    #: Shared v2 ports the instruction holds while it issues (indices into the core's port table).
    ports: tuple[int, ...] = ()


def is_transpose(instruction: Instruction) -> bool:
    """True for a TensorE transpose (``nc_transpose`` or ``nc_matmul(is_transpose=True)``).

    The kernel layer sets the ``transpose`` attribute; ``is_transpose`` (the ISA's keyword) is
    accepted too.
    """
    attrs = instruction.attrs
    return (instruction.opcode in _TRANSPOSE_OPCODES
            or bool(attrs.get("transpose", False)) or bool(attrs.get("is_transpose", False)))


def is_matmul(instruction: Instruction) -> bool:
    """True for a TensorE multiply (not a transpose through the identity)."""
    return instruction.opcode in _MATMUL_OPCODES and not is_transpose(instruction)


def shared_ports(instruction: Instruction) -> tuple[int, ...]:
    """The v2 shared ports an instruction would hold while it runs (used where the flag is set)."""
    engine = instruction.engine
    if engine not in (Engine.VECTOR, Engine.SCALAR, Engine.GPSIMD):
        return ()
    spaces = {o.space for o in (*instruction.inputs, *instruction.outputs)}
    ports: list[int] = []
    if engine != Engine.GPSIMD and MemorySpace.PSUM in spaces:
        ports.append(PSUM_PORT)
    if engine != Engine.SCALAR and MemorySpace.SBUF in spaces:
        ports.append(SBUF_PORT)
    return tuple(ports)


def _op_name(value: object) -> str:
    """ALU op as a bare name: ``np.add``, ``nl.add``, ``<ufunc 'add'>`` → ``add``."""
    text = getattr(value, "__name__", None) or str(value)
    text = text.rsplit(".", 1)[-1].strip("<>'\" ").replace("ufunc ", "").strip("'")
    return {"amax": "max", "maximum": "max", "amin": "min", "minimum": "min"}.get(text, text)


def _elements(instruction: Instruction) -> int:
    """Elements per partition the instruction streams: its largest on-chip operand."""
    n = 0
    for operand in (*instruction.inputs, *instruction.outputs):
        if operand.space in _ON_CHIP:
            n = max(n, operand.free_elements)
    return n


def _itemsize(operand: Operand) -> int:
    return max(1, operand.nbytes // max(1, math.prod(operand.shape))) if operand.shape else 1


#: The attributes the cost formulas read, by engine: TensorE's, and the other engines'. A cost key
#: holds their values (:func:`cost_key`, and the scheduler's own key of the common arities).
TENSOR_KEY_ATTRS = ("perf_mode", "transpose", "is_transpose")
OTHER_KEY_ATTRS = ("op", "op0", "op1", "value")
#: one by one, for the keys' hot paths (a name added above fails to unpack here until they read it too)
_PERF_MODE, _TRANSPOSE, _IS_TRANSPOSE = TENSOR_KEY_ATTRS
_OP, _OP0, _OP1, _VALUE = OTHER_KEY_ATTRS


def cost_key(instruction: Instruction) -> tuple[object, ...]:
    """Everything the cost of ``instruction`` depends on, as a memo key.

    Of each operand: its space, shape, dtype and bytes (``operand[1:5]``, one slice) and its inner
    stride (``operand[7]``); of the attributes, those its engine's formula reads. The common
    arities are spelled out (a key per instruction is the simulator's inner loop); the arity is
    part of the key. Raises ``TypeError`` on hashing when an attribute value is unhashable
    (:func:`_text_key` then keys it on its text).
    """
    attrs = instruction.attrs
    if not attrs:
        named: tuple[object, ...] = ()
    elif instruction.engine is _TENSOR:
        named = (attrs.get(_PERF_MODE), attrs.get(_TRANSPOSE), attrs.get(_IS_TRANSPOSE))
    else:
        named = (attrs.get(_OP), attrs.get(_OP0), attrs.get(_OP1), attrs.get(_VALUE))
    ins, outs = instruction.inputs, instruction.outputs
    if len(outs) == 1:
        c = outs[0]
        if len(ins) == 2:
            a, b = ins
            return (instruction.engine, instruction.opcode, 2, a[1:5], a[7], b[1:5], b[7], c[1:5], c[7],
                    named)
        if len(ins) == 1:
            a = ins[0]
            return (instruction.engine, instruction.opcode, 1, a[1:5], a[7], c[1:5], c[7], named)
        if len(ins) == 3:
            a, b, d = ins
            return (instruction.engine, instruction.opcode, 3, a[1:5], a[7], b[1:5], b[7], d[1:5], d[7],
                    c[1:5], c[7], named)
        if not ins:
            return (instruction.engine, instruction.opcode, 0, c[1:5], c[7], named)
    return (instruction.engine, instruction.opcode, -1, tuple([(o[1:5], o[7]) for o in ins]),
            tuple([(o[1:5], o[7]) for o in outs]), named)


def _text_key(instruction: Instruction) -> tuple[object, ...]:
    """:func:`cost_key` with every attribute value as text (for unhashable values)."""
    key = cost_key(instruction)
    named: tuple[object, ...] = key[-1]  # type: ignore[assignment]
    return (*key[:-1], tuple(str(value) for value in named))


class ComputeCostModel:
    """Per-instruction costs of the compute engines of one generation."""

    def __init__(self, timing: NeuronCoreTiming) -> None:
        self.timing = timing
        mem = timing.memory
        self._stride_threshold = mem.stride_penalty_threshold_bytes.value
        self._stride_factor = mem.stride_penalty_factor.value
        self._factors = {name: v.value for name, v in timing.opcode_element_factor.items()}
        self._extra = {name: v.value for name, v in timing.opcode_extra_cycles.items()}
        self._min_ii = {name: v.value for name, v in timing.opcode_min_issue_interval_cycles.items()}
        self._engines: dict[Engine, EngineTiming] = {
            Engine.VECTOR: timing.vector, Engine.SCALAR: timing.scalar, Engine.GPSIMD: timing.gpsimd,
        }
        t = timing.tensor
        self._tensor_ns_per_cycle = 1e9 / t.clock_hz.value
        self._cache: dict[tuple[object, ...], ComputeCost] = {}

    # -- helpers -------------------------------------------------------------------------------
    def _strided(self, instruction: Instruction) -> bool:
        for operand in (*instruction.inputs, *instruction.outputs):
            if operand.space in _ON_CHIP and operand.inner_stride_bytes > self._stride_threshold:
                return True
        return False

    def _rate(self, instruction: Instruction, engine: EngineTiming) -> float:
        """Elements per partition per cycle for this instruction's dtypes and opcode."""
        operands = [o for o in (*instruction.inputs, *instruction.outputs) if o.space in _ON_CHIP]
        if not operands or not all(o.dtype in _FLOAT16 for o in operands):
            return engine.rate_default.value
        fast = (
            instruction.opcode in _FAST_RATE_OPCODES
            and all(o.space == MemorySpace.SBUF for o in operands)
            and all(o.inner_stride_bytes <= _itemsize(o) for o in operands)
        )
        return engine.fast_16bit_rate.value if fast else engine.rate_16bit.value

    def _element_factor(self, instruction: Instruction) -> float:
        """Passes over the data, with the fast cases of the ISA cost notes."""
        opcode = instruction.opcode
        base = self._factors.get(opcode, 1.0)
        fast_key = f"{opcode}_fast"
        if fast_key not in self._factors:
            return base
        ins = instruction.inputs
        operands = (*ins, *instruction.outputs)
        attrs = instruction.attrs
        all_bf16 = all(o.dtype in _FLOAT16 for o in operands if o.space in _ON_CHIP)
        fast = False
        if opcode == "tensor_tensor":
            one_psum = any(o.space == MemorySpace.PSUM for o in ins)
            simple = _op_name(attrs.get("op", "")) in {"add", "subtract", "multiply"}
            sbuf_unit = all(o.space == MemorySpace.SBUF and o.inner_stride_bytes <= _itemsize(o)
                            for o in operands)
            fast = one_psum or (all_bf16 and simple and sbuf_unit)
        elif opcode == "scalar_tensor_tensor":
            # The kernel layer names the first ALU op ``op``; the ISA keyword is ``op0``.
            fast = (all_bf16 and _op_name(attrs.get("op0", attrs.get("op", ""))) == "subtract"
                    and _op_name(attrs.get("op1", "")) == "multiply" and _elements(instruction) % 2 == 0)
        elif opcode == "tensor_reduce":
            fast = all_bf16 and _op_name(attrs.get("op", "")) in {"add", "max"}
        elif opcode == "memset":
            fast = all_bf16 and float(attrs.get("value", 1.0) or 0.0) == 0.0
        elif opcode == "tensor_copy_predicated":
            fast = any(o.space == MemorySpace.PSUM for o in operands)
        return self._factors[fast_key] if fast else base

    # -- costs ---------------------------------------------------------------------------------
    def cost(self, instruction: Instruction) -> ComputeCost:
        """Cost of a compute instruction (TensorE, VectorE, ScalarE or GpSimdE).

        Kernels repeat the same instruction shapes thousands of times: costs are memoised on
        everything they depend on (:func:`cost_key`).
        """
        try:
            key = cost_key(instruction)
            cached = self._cache.get(key)
        except TypeError:  # an unhashable attribute value: key on its text instead
            key = _text_key(instruction)
            cached = self._cache.get(key)
        if cached is None:
            cost = self._cost(instruction)
            cached = self._cache[key] = replace(cost, ports=shared_ports(instruction))
        return cached

    def _cost(self, instruction: Instruction) -> ComputeCost:
        if instruction.engine == Engine.TENSOR:
            return self._tensor_cost(instruction)
        engine = self._engines[instruction.engine]
        ns_per_cycle = 1e9 / engine.clock_hz.value
        n = _elements(instruction)
        work_cycles = self._element_factor(instruction) * n / self._rate(instruction, engine)
        if self._strided(instruction):
            work_cycles *= self._stride_factor
        min_ii = self._min_ii.get(instruction.opcode, engine.min_issue_interval_cycles.value)
        busy_cycles = engine.fixed_cycles.value + work_cycles
        issue_cycles = max(min_ii, busy_cycles) + self._extra.get(instruction.opcode, 0.0)
        issue_ns = issue_cycles * ns_per_cycle
        return ComputeCost(
            issue_ns=issue_ns,
            complete_ns=issue_ns + engine.access_latency_cycles.value * ns_per_cycle,
            work_ns=work_cycles * ns_per_cycle,
            dependent_overhead_ns=engine.dependent_overhead_cycles.value * ns_per_cycle,
            load_stationary_ns=0.0,
            flops=0.0,
        )

    def _tensor_cost(self, instruction: Instruction) -> ComputeCost:
        t = self.timing.tensor
        cyc = self._tensor_ns_per_cycle
        min_ii = t.min_issue_interval_cycles.value
        fill_ns = t.fill_latency_cycles.value * cyc
        if is_transpose(instruction) or len(instruction.inputs) < 2:
            data = instruction.inputs[0] if instruction.inputs else instruction.outputs[0]
            cycles = max(data.partitions, min(min_ii, data.free_elements))
            return ComputeCost(cycles * cyc, cycles * cyc + fill_ns, cycles * cyc, 0.0, 0.0, 0.0)
        stationary, moving = instruction.inputs[0], instruction.inputs[1]
        double_row = "double_row" in str(instruction.attrs.get("perf_mode", "") or "")
        dtype = moving.dtype
        # An x4 element packs 4 contraction values per partition (nki-api.md §4): the MX array
        # streams one packed moving column per cycle at mx_rate = 4 values per partition.
        lanes = _X4_LANES if dtype.endswith("_x4") else 1
        if instruction.opcode == "nc_matmul_mx" or lanes > 1:
            rate = t.mx_rate.value / lanes
        elif double_row:
            rate = t.fp8_rate.value
        elif dtype in _FP32:
            rate = 1.0 / t.fp32_cycle_factor.value
        else:
            rate = 1.0
        m_stationary = stationary.free_elements
        n_moving = moving.free_elements
        work_cycles = n_moving / rate
        cycles = max(min(min_ii, m_stationary), work_cycles)
        # Multiply-adds: contraction (partitions) × stationary columns × moving columns; double
        # row packs two contraction rows per partition into both free sizes.
        flops = 2.0 * stationary.partitions * lanes * m_stationary * n_moving / (2.0 if double_row else 1.0)
        load_cycles = m_stationary / t.load_stationary_speedup.value
        return ComputeCost(
            issue_ns=cycles * cyc,
            complete_ns=cycles * cyc + fill_ns,
            work_ns=work_cycles * cyc,
            dependent_overhead_ns=0.0,
            load_stationary_ns=load_cycles * cyc,
            flops=flops,
            loads_stationary=True,
        )
