"""Direct allocation (legacy ``ncc.sbuf/psum.alloc`` and ``mod_alloc``): addresses and their rules.

nki-semantics §4: each block of a tensor ``(blocks..., par_dim(P), free...)`` is placed at a start
partition and byte address (PSUM: a bank too) computed at compile time, by the kernel's callback
or by the modular formulas::

    start_partition = base_partition + lin(idx % num_par_tiles) * P
    byte_addr       = base_addr + lin(idx % num_free_tiles) * fdim_bytes
    bank            = base_bank + lin(idx % num_bank_tiles)              (PSUM)

The compiler refuses addresses outside the usable range, start partitions the partition count
does not allow, PSUM tiles over one bank (2 KiB) or crossing one, and PSUM ``mod_alloc`` with a
non-zero ``base_addr``/``base_partition``. Blocks sharing an address alias on hardware; trnsim
gives every tensor its own storage (aliasing is optional in the spec and not modelled), and such
tensors are left out of spill planning (they have fixed addresses: no capacity to exceed).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from trnsim.nki.runtime import Buffer, Simulation


def is_direct(buffer: Any) -> bool:
    """True for an ``ncc.sbuf.alloc(...)`` / ``mod_alloc(...)`` request (not ``auto_alloc``)."""
    return getattr(buffer, "kind", None) in ("alloc", "mod_alloc")


def _lin(idx: tuple[int, ...], tiles: tuple[int, ...]) -> int:
    """Row-major linear index of ``idx % tiles`` (an empty ``tiles`` means all ones)."""
    if not tiles:
        return 0
    tiles = tuple(int(t) for t in tiles) + (1,) * (len(idx) - len(tiles))
    lin = 0
    for i, t in zip(idx, tiles, strict=False):
        lin = lin * t + (i % t)
    return lin


def _tuple(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def place(
    sim: Simulation, instr: str, request: Any, shape: tuple[int, ...], paxis: int, itemsize: int
) -> list[tuple[int, int, int]]:
    """Addresses ``(bank, start_partition, byte_addr)`` of every block; fails on the compiler's rules."""
    blocks = shape[:paxis]
    pdim = int(shape[paxis])
    fdim_bytes = math.prod(shape[paxis + 1 :]) * itemsize
    psum = request.buffer is Buffer.PSUM
    args = dict(request.args)
    spec = sim.spec
    if psum and request.kind == "mod_alloc" and (args.get("base_addr", 0) or args.get("base_partition", 0)):
        sim.fail(
            instr,
            "psum.mod_alloc needs base_addr=0 and base_partition=0 (one tile per bank)",
            "invalid_alloc",
        )
    if psum and fdim_bytes > spec.psum_bank_bytes:
        sim.fail(
            instr,
            f"PSUM tile of {fdim_bytes} bytes per partition exceeds one bank ({spec.psum_bank_bytes} bytes)",
            "size_of_dimension_exceed_arch_limit",
        )
    out = []
    for idx in itertools.product(*[range(int(b)) for b in blocks]):
        if request.kind == "alloc":
            got = tuple(int(v) for v in request.args["func"](idx, pdim, fdim_bytes))
            bank, part, addr = got if psum else (0, *got)
        else:
            part = int(args.get("base_partition", 0)) + _lin(idx, _tuple(args.get("num_par_tiles"))) * pdim
            addr = int(args.get("base_addr", 0)) + _lin(idx, _tuple(args.get("num_free_tiles"))) * fdim_bytes
            bank = (
                int(args.get("base_bank", 0)) + _lin(idx, _tuple(args.get("num_bank_tiles"))) if psum else 0
            )
        _check(sim, instr, idx, psum, bank, part, addr, pdim, fdim_bytes)
        out.append((bank, part, addr))
    return out


def _check(
    sim: Simulation,
    instr: str,
    idx: tuple[int, ...],
    psum: bool,
    bank: int,
    part: int,
    addr: int,
    pdim: int,
    fdim_bytes: int,
) -> None:
    spec = sim.spec
    where = f"block {idx}" if idx else "the tensor"
    allowed = (0,) if pdim > 64 else (0, 64) if pdim > 32 else (0, 32, 64, 96)
    if part not in allowed or part + pdim > spec.pmax:
        sim.fail(
            instr,
            f"{where}: start partition {part} for {pdim} partitions (valid: {', '.join(map(str, allowed))})",
            "invalid_start_partition",
        )
    if psum:
        if not 0 <= bank < spec.psum_banks:
            sim.fail(instr, f"{where}: PSUM bank {bank} (valid: 0..{spec.psum_banks - 1})", "invalid_alloc")
        if addr < 0 or addr + fdim_bytes > spec.psum_bank_bytes:
            sim.fail(
                instr,
                f"{where}: PSUM bytes [{addr}, {addr + fdim_bytes}) cross bank {bank}"
                f" (valid: within [0, {spec.psum_bank_bytes}))",
                "invalid_alloc",
            )
        return
    align = spec.sbuf_min_align_bytes
    if addr % align:
        sim.fail(
            instr,
            f"{where}: SBUF byte address {addr} is not a multiple of sbuf_min_align ({align} bytes)",
            "invalid_alloc",
        )
    usable = spec.sbuf_usable_bytes_per_partition
    if addr < 0 or addr + fdim_bytes > usable:
        sim.fail(
            instr,
            f"{where}: SBUF bytes [{addr}, {addr + fdim_bytes}) outside the allocatable range [0, {usable})",
            "invalid_alloc",
        )
