"""SPMD launch grids: ``kernel[2, 3]``, ``kernel[nl.nc(2)]``, ``kernel[nl.spmd_dim(nl.nc(2), 2)]``.

A grid dimension is a product of factors, some of which (``nl.nc(k)``) select the physical
NeuronCore. Grid points run serially in row-major order (as NKI runs SPMD instances on one core),
and each instruction records the core its instance belongs to.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from trnsim.nki import runtime
from trnsim.nki.errors import KernelError


@dataclass(frozen=True)
class NC:
    """``nl.nc(k)``: a grid factor spread over ``k`` NeuronCores."""

    cores: int

    def __mul__(self, other: Any) -> SpmdDim:
        return spmd_dim(self, other)

    def __rmul__(self, other: Any) -> SpmdDim:
        return spmd_dim(other, self)


@dataclass(frozen=True)
class SpmdDim:
    """``nl.spmd_dim(a, b, ...)``: one grid dim of size ``a*b*...``, index ``i_a*b + i_b``."""

    factors: tuple[Any, ...]

    @property
    def size(self) -> int:
        n = 1
        for f in self.factors:
            n *= f.cores if isinstance(f, NC) else int(f)
        return n

    def __mul__(self, other: Any) -> SpmdDim:
        return SpmdDim((*self.factors, other))

    def __rmul__(self, other: Any) -> SpmdDim:
        return SpmdDim((other, *self.factors))


def spmd_dim(*factors: Any) -> SpmdDim:
    """A grid dimension made of factors (ints and ``nl.nc(k)``)."""
    flat: list[Any] = []
    for f in factors:
        flat.extend(f.factors if isinstance(f, SpmdDim) else [f])
    return SpmdDim(tuple(flat))


def nc(cores: int) -> NC:
    """``nl.nc(k)``: spread this grid factor over ``k`` NeuronCores."""
    return NC(runtime.integer_argument("nl.nc", "nl.nc(k)'s core count k", cores))


@dataclass(frozen=True)
class Grid:
    """A normalised launch grid."""

    dims: tuple[SpmdDim, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(d.size for d in self.dims)

    @property
    def num_cores(self) -> int:
        n = 1
        for d in self.dims:
            for f in d.factors:
                if isinstance(f, NC):
                    n *= f.cores
        return n

    def points(self) -> Iterator[tuple[tuple[int, ...], int]]:
        """(program id, core) for every instance, row-major."""
        for pid in itertools.product(*(range(s) for s in self.sizes)):
            core = 0
            for d, i in zip(self.dims, pid, strict=True):
                rest = i
                digits = []
                for f in reversed(d.factors):
                    size = f.cores if isinstance(f, NC) else int(f)
                    digits.append((f, rest % size))
                    rest //= size
                for f, digit in reversed(digits):
                    if isinstance(f, NC):
                        core = core * f.cores + digit
            yield pid, core


def make_grid(spec: Any, kernel: str = "?") -> Grid:
    """Normalise what ``kernel[...]`` received; anything but positive integer sizes (``kernel[0]``,
    ``kernel["x"]``) is one KernelError line at the launching line."""
    if not isinstance(spec, tuple):
        spec = (spec,)
    dims = []
    for s in spec:
        if isinstance(s, SpmdDim):
            dims.append(s)
        elif isinstance(s, NC):
            dims.append(SpmdDim((s,)))
        else:
            dims.append(SpmdDim((s,)))
    for d in dims:
        for f in d.factors:
            size = f.cores if isinstance(f, NC) else f
            if isinstance(size, bool) or not hasattr(size, "__index__") or int(size) < 1:
                raise _grid_error(kernel, spec, size)
    return Grid(tuple(SpmdDim(tuple(f if isinstance(f, NC) else int(f) for f in d.factors)) for d in dims))


def _grid_error(kernel: str, spec: tuple[Any, ...], size: Any) -> KernelError:
    given = ", ".join(map(repr, spec))
    return runtime.error_at_user_line(
        f"launch grid [{given}]: {size!r} is not a valid grid size (each dimension is a positive integer,"
        " nl.nc(k) or nl.spmd_dim(...) of them, e.g. kernel[2, 3])",
        "invalid_grid", kernel=kernel,
    )
