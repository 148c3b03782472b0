"""NKI tensors: views onto an :class:`~trnsim.nki.runtime.Allocation`.

A :class:`Tensor` is ``(allocation, shape, offset, strides)`` in elements of the allocation's
flat storage (the current API's ``NkiTensor`` model; ``.ap()`` patterns map onto it directly).
Legacy advanced indexing with affine ``arange``/``mgrid`` expressions also yields a strided view;
only non-affine or out-of-bounds indices, or integer index tiles (gather/scatter), fall back to
explicit flat index arrays. Bounds are checked when the instruction using the view runs, so a
``mask=`` can exclude out-of-bounds elements, as in NKI.

In timing-only mode the allocation has no storage: views still know their shape and the
:class:`~trnsim.nki.trace.Region` they touch, which is all the trace needs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from trnsim.nki import runtime
from trnsim.nki.dtypes import DtypeError, as_dtype, dtype_name
from trnsim.nki.indexing import IndexExpr
from trnsim.nki.runtime import Allocation, Buffer
from trnsim.nki.trace import MemorySpace, Operand, Region


@dataclass(frozen=True)
class TileOperations:
    """The kernel-language functions behind tile operators and methods.

    :mod:`trnsim.nki.language_impl` installs them (:func:`install_operations`); this module cannot
    import it (language_impl builds on tensors).
    """

    #: ``binary(op_name, a, b)``: an element-wise op (``nl.add`` ...) of two operands
    binary: Callable[[str, Any, Any], Any]
    #: ``assign(target, value)``: ``target[...] = value``
    assign: Callable[[Tensor, Any], None]
    #: ``inplace(target, op_name, other)``: ``target op= other``
    inplace: Callable[[Tensor, str, Any], None]
    #: ``copy(t, dtype)``: a converted copy
    copy: Callable[[Tensor, Any], Any]
    #: ``ap(t, pattern, offset, scalar_offset, vector_offset, indirect_dim, dtype)``
    ap: Callable[[Tensor, Any, Any, Any, Any, int, Any], Tensor]


_OPS: list[TileOperations] = []


def install_operations(ops: TileOperations) -> None:
    """Set the functions tile operators call (once, by trnsim.nki.language_impl)."""
    _OPS[:] = [ops]


def _ops() -> TileOperations:
    return _OPS[0]


def _binary_method(op: str, reverse: bool = False) -> Callable[[Tensor, Any], Any]:
    """``Tensor.__<name>__``: the element-wise op ``op`` with the tensor first (or second)."""

    def method(self: Tensor, other: Any) -> Any:
        binary = _OPS[0].binary
        return binary(op, other, self) if reverse else binary(op, self, other)

    method.__doc__ = f"``nl.{op}`` of the two operands" + (" (reflected)" if reverse else "")
    return method


def _inplace_method(op: str) -> Callable[[Tensor, Any], Tensor]:
    """``Tensor.__i<name>__``: ``self op= other`` in place."""

    def method(self: Tensor, other: Any) -> Tensor:
        _OPS[0].inplace(self, op, other)
        return self

    method.__doc__ = f"in-place ``nl.{op}``"
    return method


#: Reuse the trace operands of strided views per allocation (tests compare with it off).
CACHE_OPERANDS = True


class ParDim(int):
    """``nl.par_dim(p)``: marks the partition dimension in a legacy tensor shape."""


#: one tuple object per shape (and classes of its items) that templates and memoised views hand out:
#: equal shapes of different instructions are then the same object, which the chip model's cost key
#: compares item by item, an identical pair by identity alone (no nested compare of equal tuples)
_SHARED_SHAPES: dict[tuple[Any, ...], Any] = {}
#: entries _SHARED_SHAPES holds at most (it starts again past it: sharing is never needed)
_MAX_SHARED_SHAPES = 4096


_Shape = TypeVar("_Shape", bound=tuple[int, ...])


def shared_shape(shape: _Shape) -> _Shape:
    """The shape object kept for ``shape`` (equal, with items of the same classes): ``shape`` itself
    the first time."""
    key = (shape, tuple(map(type, shape)))
    known = _SHARED_SHAPES.get(key)
    if known is None:
        if len(_SHARED_SHAPES) >= _MAX_SHARED_SHAPES:
            _SHARED_SHAPES.clear()
        known = _SHARED_SHAPES[key] = shape
    return known


def physical_strides(shape: tuple[int, ...], partition_axis: int, free_elems: int) -> tuple[int, ...]:
    """Element strides of a freshly allocated tensor (partition-major on chip, C order in HBM)."""
    strides = [0] * len(shape)
    step = 1
    for d in range(len(shape) - 1, -1, -1):
        if d == partition_axis:
            continue
        strides[d] = step
        step *= shape[d]
    if partition_axis >= 0:
        strides[partition_axis] = free_elems
    return tuple(strides)


class Tensor:
    """A view of NKI memory (HBM, SBUF or PSUM), usable as a legacy tile or a current NkiTensor."""

    # (_kept, _views: its layout's numbered subscripts and this tensor's views by number,
    # trnsim.nki.subscript, set on its first subscript of a kept form; _key: its part of a template
    # key, trnsim.nki.templates; _out: what it was last retargeted as, language_impl._retarget)
    __slots__ = (
        "_kept",
        "_key",
        "_out",
        "_region",
        "_views",
        "alloc",
        "dyn",
        "flat",
        "index_ids",
        "index_tiles",
        "offset",
        "oob",
        "paxis",
        "shape",
        "strides",
    )
    #: per axis, the index variable of an advanced subscript (indexing.py); set only on the views
    #: subscript._advanced makes, so read it with getattr(t, "index_ids", None)
    index_ids: tuple[int, ...]
    __array_ufunc__ = None  # numpy scalars defer to our reflected operators
    _kept: dict[Any, Any]
    _views: list[Tensor | None]
    _key: int | None
    _out: tuple[str, Operand, Region, int, bool, tuple[Operand]] | None
    __hash__ = object.__hash__

    def __init__(
        self,
        alloc: Allocation,
        shape: tuple[int, ...],
        offset: int,
        strides: tuple[int, ...],
        paxis: int,
        flat: np.ndarray | None = None,
        oob: np.ndarray | None = None,
        dyn: bool = False,
        index_tiles: tuple[Tensor, ...] = (),
    ) -> None:
        self.alloc = alloc
        self.shape = shape
        self.offset = offset
        self.strides = strides
        self.paxis = paxis
        self.flat = flat
        self.oob = oob
        self.dyn = dyn
        self.index_tiles = index_tiles
        self._region: Region | None = None
        self._key = None
        self._out = None

    @staticmethod
    def whole(alloc: Allocation) -> Tensor:
        """A view of a whole allocation."""
        shape = alloc.shape
        if len(shape) == 2 and alloc.partition_axis == 0:
            t = Tensor(alloc, shape, 0, (shape[1], 1), 0)  # the common [P, F] tile
            if alloc.on_chip and shape[0] and shape[1]:
                t._region = _new_tuple(Region, (alloc.alloc_id, 0, shape[0], 0, shape[1] * alloc.itemsize))
            return t
        strides = physical_strides(shape, alloc.partition_axis, alloc.free_elems)
        t = Tensor(alloc, shape, 0, strides, alloc.partition_axis)
        if alloc.on_chip and len(shape) > 2:
            # a block: its layout's kept views now (subscript._LAYOUT_VIEWS), not at its first
            # ``block[i]`` by an AttributeError caught (about 2.6 us each, a few hundred per launch)
            _start_views(t)
        return t

    # -- attributes -----------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype[Any]:
        """Element dtype (a numpy dtype; ml_dtypes for bf16/fp8)."""
        return self.alloc.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape) if self.shape else 1

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.alloc.itemsize

    @property
    def buffer(self) -> Buffer:
        """The memory the tensor lives in."""
        return self.alloc.buffer

    @property
    def name(self) -> str:
        """The allocation's name."""
        return self.alloc.name

    @property
    def label(self) -> str:
        """How messages name this tensor: its name, or its shape and buffer."""
        if self.alloc.name:
            return f"'{self.alloc.name}'"
        return f"(unnamed {self.alloc.buffer.value} tensor {self.alloc.shape})"

    @property
    def space(self) -> MemorySpace:
        """Memory space for the trace."""
        return self.alloc.space

    @property
    def on_chip(self) -> bool:
        """True for SBUF/PSUM tensors."""
        return self.alloc.on_chip

    @property
    def is_tile(self) -> bool:
        """True when dimension 0 is the partition dimension (a tile compute APIs accept)."""
        return self.paxis == 0 or (self.flat is not None and self.on_chip)

    def __repr__(self) -> str:
        return f"Tensor({self.shape}, {dtype_name(self.dtype)}, {self.buffer.value}, name={self.name!r})"

    # No __getattr__: CPython specialises attribute reads only on classes without one (a hook made
    # every ``t.shape`` in the simulator a generic look-up). A name Tensor lacks (an NKI tensor
    # method trnsim does not have) raises AttributeError; the launch turns it into the one-line
    # ``not simulated: tensor.<name>`` (trnsim.nki.guard.missing_tensor_attribute).

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __iter__(self) -> NoReturn:
        # nki-semantics §6 [inf]: iteration over a tensor is rejected (without this, Python's
        # fallback protocol called t[0], t[1], ... until an out-of-bounds error at the end)
        runtime.current("iteration").fail(
            "iteration",
            f"TypeError: a tensor is not iterable ({self.label}, view {self.shape}: a Python 'for' over"
            " a tensor has no elements at trace time); loop over indices instead, e.g. for i in"
            " nl.affine_range(n): ... t[i] ... (legacy: or index with nl.arange)",
        )

    def __bool__(self) -> bool:
        # nki-semantics §6: truthiness of a tensor is the compiler's ValueError (values are not
        # known at trace time); ``is None`` / ``== None`` are the host-side checks to use
        sim = runtime.current("bool(tensor)")
        if self.size > 1:
            sim.fail(
                "bool()",
                "ValueError: Cannot evaluate truth value of a multi-element tensor/array"
                " (no if/and/or/not on tiles; use ~ & | or 'is not None')",
                "ambiguous_tensor_truth_value",
            )
        sim.fail(
            "bool()",
            "control flow on a tensor value is not supported (the value is not known at trace time)",
            "dynamic_control_flow_not_supported",
        )

    # -- indexing -------------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Tensor:
        return _view(self, key)  # (replaced by _view itself below)

    def __setitem__(self, key: Any, value: Any) -> None:
        _OPS[0].assign(_view(self, key), value)

    # -- operators: the table of Python operator -> nl.* element-wise op (legacy tile arithmetic;
    #    class attributes, so type checkers see them); ``==`` / ``!=`` below (``None`` is host-side)
    __iadd__ = _inplace_method("add")
    __isub__ = _inplace_method("subtract")
    __imul__ = _inplace_method("multiply")
    __itruediv__ = _inplace_method("divide")
    __add__ = _binary_method("add")
    __radd__ = _binary_method("add", reverse=True)
    __sub__ = _binary_method("subtract")
    __rsub__ = _binary_method("subtract", reverse=True)
    __mul__ = _binary_method("multiply")
    __rmul__ = _binary_method("multiply", reverse=True)
    __truediv__ = _binary_method("divide")
    __rtruediv__ = _binary_method("divide", reverse=True)
    __pow__ = _binary_method("power")
    __lshift__ = _binary_method("left_shift")
    __rshift__ = _binary_method("right_shift")
    __and__ = _binary_method("bitwise_and")
    __or__ = _binary_method("bitwise_or")
    __xor__ = _binary_method("bitwise_xor")
    __lt__ = _binary_method("less")
    __le__ = _binary_method("less_equal")
    __gt__ = _binary_method("greater")
    __ge__ = _binary_method("greater_equal")

    def __invert__(self) -> Any:
        return _ops().binary("bitwise_xor", self, -1)

    def __neg__(self) -> Any:
        return _ops().binary("multiply", self, -1)

    def __eq__(self, o: Any) -> Any:
        if o is None:  # host-side Python on an optional argument (nki-semantics §6)
            return False
        if not _operand_like(o):
            return NotImplemented
        return _ops().binary("equal", self, o)

    def __ne__(self, o: Any) -> Any:
        if o is None:
            return True
        if not _operand_like(o):
            return NotImplemented
        return _ops().binary("not_equal", self, o)

    # -- views ----------------------------------------------------------------------------------
    def reshape(self, *dims: Any, shape: Any = None) -> Tensor:
        """A view with another shape (same elements; contiguous views, or the free dims of a tile).

        ``t.reshape((a, b))``, ``t.reshape(a, b)`` and the current API's ``t.reshape(shape=(a, b))``.
        """
        if shape is not None:
            dims = (shape,)
        shape = dims
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        new = tuple(int(d) for d in shape)
        if -1 in new:
            known = math.prod([d for d in new if d != -1]) or 1
            new = tuple(self.size // known if d == -1 else d for d in new)
        if math.prod(new) != self.size:
            _fail(
                "reshape",
                f"cannot reshape {self.shape} ({self.size} elements) to {new} ({math.prod(new)} elements)",
                "reshape_size_mismatch",
            )
        if self.flat is not None:
            return self._replace(
                shape=new,
                flat=self.flat.reshape(new),
                oob=None if self.oob is None else self.oob.reshape(new),
            )
        if _c_contiguous(self.shape, self.strides):
            paxis = 0 if self.on_chip else -1
            strides = physical_strides(new, -1, 0)
            if self.on_chip:  # keep the partition stride when the partition dim is kept
                strides = _tile_strides(self, new)
            return self._replace(shape=new, strides=strides, paxis=paxis)
        if (
            self.on_chip
            and self.paxis == 0
            and new
            and new[0] == self.shape[0]
            and _c_contiguous(self.shape[1:], self.strides[1:])
        ):
            free = physical_strides(new[1:], -1, 0)
            return self._replace(shape=new, strides=(self.strides[0], *free), paxis=0)
        _fail(
            "reshape", f"cannot reshape a non-contiguous view {self.shape} to {new}", "reshape_non_contiguous"
        )

    def _replace(self, **kw: Any) -> Tensor:
        args = {
            s: getattr(self, s)
            for s in ("alloc", "shape", "offset", "strides", "paxis", "flat", "oob", "dyn", "index_tiles")
        }
        args.update(kw)
        return Tensor(**args)

    def view(self, dtype: Any) -> Tensor:
        """Reinterpret the bytes as another dtype (whole, contiguous tensors; last dim rescaled)."""
        dt = _dtype(dtype, "view")
        a = self.alloc
        if self.offset != 0 or self.shape != a.shape or self.flat is not None:
            _fail("view", "view(dtype) needs the whole tensor", "unsupported_view")
        if (a.free_elems * a.itemsize) % dt.itemsize or (self.shape[-1] * a.itemsize) % dt.itemsize:
            _fail(
                "view",
                f"cannot view {dtype_name(a.dtype)} {self.shape} as {dtype_name(dt)}",
                "unsupported_view",
            )
        last = self.shape[-1] * a.itemsize // dt.itemsize
        shape = (*self.shape[:-1], last)
        # (a tile sharing a load's copy gets its own first: writes through the alias reach it)
        storage = None if a.storage is None else runtime.writable_storage(a).view(dt)
        alias = Allocation(
            a.alloc_id,
            a.buffer,
            dt,
            shape,
            a.partitions,
            a.free_elems * a.itemsize // dt.itemsize,
            a.name,
            storage,
            a.partition_axis,
        )
        if a.buffer.on_chip:
            _keep_alive(alias, a)
        return Tensor.whole(alias)

    def broadcast_to(self, shape: Any) -> Tensor:
        """Broadcast size-1 dims (stride 0) to ``shape``."""
        shape = tuple(int(d) for d in shape)
        if len(shape) != self.ndim:
            _fail(
                "broadcast_to",
                f"broadcast_to needs the same rank ({self.shape} to {shape})",
                "broadcast_rank_mismatch",
            )
        strides = list(self.strides)
        for d, (old, new) in enumerate(zip(self.shape, shape, strict=True)):
            if old != new:
                if old != 1:
                    _fail("broadcast_to", f"cannot broadcast {self.shape} to {shape}", "broadcast_mismatch")
                strides[d] = 0
        flat = None if self.flat is None else np.broadcast_to(self.flat, shape)
        oob = None if self.oob is None else np.broadcast_to(self.oob, shape)
        return self._replace(shape=shape, strides=tuple(strides), flat=flat, oob=oob)

    def expand_dims(self, axis: int) -> Tensor:
        """Insert a size-1 dimension."""
        axis = axis % (self.ndim + 1)
        shape = (*self.shape[:axis], 1, *self.shape[axis:])
        strides = (*self.strides[:axis], 0, *self.strides[axis:])
        flat = None if self.flat is None else np.expand_dims(self.flat, axis)
        paxis = self.paxis + (1 if 0 <= axis <= self.paxis else 0) if self.paxis >= 0 else -1
        return self._replace(
            shape=shape,
            strides=strides,
            flat=flat,
            paxis=paxis,
            oob=None if self.oob is None else np.expand_dims(self.oob, axis),
        )

    # -- the current API's view methods (nki-api.md §3.3; implemented in tensor_views.py)
    def permute(self, dims: Any) -> Tensor:
        """Reorder the dims (dim 0 stays first on chip)."""
        return _views().permute(self, dims)

    def slice(self, dim: Any, start: int, end: int, step: int = 1) -> Tensor:
        """Slice one dim ``start:end:step``."""
        return _views().slice_dim(self, dim, start, end, step)

    def select(self, dim: Any, index: Any) -> Tensor:
        """The view at ``index`` along ``dim`` (removed)."""
        return _views().select(self, dim, index)

    def broadcast(self, dim: Any, size: int) -> Tensor:
        """Repeat a size-1 dim ``size`` times."""
        return _views().broadcast(self, dim, size)

    def expand_dim(self, dim: int) -> Tensor:
        """Insert a size-1 dim at ``dim``."""
        return self.expand_dims(dim)

    def squeeze_dim(self, dim: Any) -> Tensor:
        """Remove a size-1 dim."""
        return _views().squeeze_dim(self, dim)

    def reshape_dim(self, dim: Any, shape: Any) -> Tensor:
        """Split one dim into ``shape``."""
        return _views().reshape_dim(self, dim, shape)

    def flatten_dims(self, start: Any, end: Any) -> Tensor:
        """Merge dims ``start..end`` (inclusive)."""
        return _views().flatten_dims(self, start, end)

    def rearrange(self, src_pattern: str, dst_pattern: str, fixed_sizes: Any = None) -> Tensor:
        """An einops-style view (``"p (a b) -> p b a"``, sizes in ``fixed_sizes``)."""
        return _views().rearrange(self, src_pattern, dst_pattern, fixed_sizes)

    def is_contiguous(self) -> bool:
        """True when the view's elements are consecutive in storage."""
        return bool(_views().is_contiguous(self))

    def as_tile(self) -> Tensor:
        """The tensor as a tile (a no-op view)."""
        return self

    def astype(self, dtype: Any) -> Any:
        """A converted copy (a new SBUF tile, via tensor_copy)."""
        return _ops().copy(self, dtype)

    def assert_shape(self, shape: Any) -> Tensor:
        """Fail unless the tensor has ``shape``."""
        if tuple(shape) != self.shape:
            _fail(
                "assert_shape",
                f"expected shape {tuple(shape)}, got {self.shape}",
                "annotation_shape_mismatch",
            )
        return self

    def ap(
        self,
        pattern: Any,
        offset: Any = None,
        scalar_offset: Any = None,
        vector_offset: Any = None,
        indirect_dim: int = 0,
        dtype: Any = None,
    ) -> Tensor:
        """Current API access pattern: ``[[step, num], ...]`` over the underlying storage."""
        return _ops().ap(self, pattern, offset, scalar_offset, vector_offset, indirect_dim, dtype)

    # -- memory access (used by the ISA implementation) ----------------------------------------
    def region(self) -> Region:
        """The box of the allocation this view touches (for dependency tracking).

        A strided view's box is made once per (allocation, offset, shape, strides).
        """
        r = self._region
        if r is None:
            if self.flat is None and not self.dyn and CACHE_OPERANDS:
                key = (self.offset, self.shape, self.strides)
                regions = self.alloc.regions
                r = regions.get(key)
                if r is None:
                    r = regions[key] = _region(self)
            else:
                r = _region(self)
            self._region = r
        return r

    def operand(self, name: str) -> Operand:
        """The trace operand for this view.

        A strided view's operand depends only on its allocation, offset, shape, strides and
        partition axis: it is made once per allocation and reused (operands are immutable), so a
        loop's second and later iterations skip the layout and region arithmetic.
        """
        if self.flat is None and not self.dyn and CACHE_OPERANDS:
            # keyed without the name: one view read as ``data2`` after it was written as ``dst``
            # is the same operand renamed. The latest view at an offset is found by the offset
            # alone (an int key: no tuple to build and hash); others by the whole layout.
            cache = self.alloc.operands
            offset = self.offset
            shape = self.shape
            strides = self.strides
            paxis = self.paxis
            latest = cache.get(offset)
            if latest is not None and latest[0] == strides and latest[1] == paxis and latest[2][2] == shape:
                op = latest[2]
            else:
                key = (offset, shape, strides, paxis)
                # (nothing at this offset yet: nor under its whole layout, a fresh allocation's case)
                op = cache.get(key) if latest is not None else None
                if op is None:
                    op = cache[key] = self._plain_operand(name)
                cache[offset] = (strides, paxis, op)
            if self._region is None:
                self._region = op[5]
            if op[0] is not name and op[0] != name:
                op = _new_tuple(Operand, (name, *op[1:]))
                cache[offset] = (strides, paxis, op)
            return op
        return self._operand(name)

    def _plain_operand(self, name: str) -> Operand:
        """``_operand`` of a plain view (no index arrays, not dynamic), from the operand of the first
        view laid out alike in any allocation (:data:`_GEOMETRY`): a blocked kernel's fresh blocks
        get each view's operand without the layout and region arithmetic."""
        a = self.alloc
        shape = self.shape
        key = (a.space, a.dtype_name, a.itemsize, a.free_elems, self.offset, shape, self.strides, self.paxis)
        known = _GEOMETRY.get(key)
        if known is None:
            op = self._operand(name)
            box = op[5]
            assert box is not None  # (a view's operand has its region)
            if len(_GEOMETRY) >= _MAX_LAYOUTS:
                _GEOMETRY.clear()
            _GEOMETRY[key] = (op[4], box[1:], op[6], op[7])
            return op
        nbytes, box, contiguous, inner = known
        region = self._region
        if region is None:
            region = self._region = _new_tuple(Region, (a.alloc_id, *box))
        return _new_tuple(Operand, (name, a.space, shape, a.dtype_name, nbytes, region, contiguous, inner))

    def _operand(self, name: str) -> Operand:
        a = self.alloc
        isz = a.itemsize
        shape = self.shape
        if self.flat is None:
            key = (shape, self.strides, self.paxis, isz)
            layout = _LAYOUTS.get(key)
            if layout is None:
                if len(_LAYOUTS) >= _MAX_LAYOUTS:
                    _LAYOUTS.clear()
                layout = _LAYOUTS[key] = _layout(shape, self.strides, self.paxis, isz)
            nbytes, contiguous, inner = layout
        else:
            nbytes = (math.prod(shape) if shape else 1) * isz
            inner = isz
            contiguous = isz
        region = self._region if self._region is not None else self.region()
        # Operand(...) without the named tuple's Python-level __new__ (one per new view layout)
        return _new_tuple(Operand, (name, a.space, shape, a.dtype_name, nbytes, region, contiguous, inner))

    def check_bounds(self, instruction: str, mask: np.ndarray | None) -> None:
        """Fail on an out-of-bounds element the mask does not exclude."""
        if self.oob is None:
            return
        bad = self.oob
        if mask is not None:
            with contextlib.suppress(ValueError):
                bad = bad & fit_mask(mask, self.shape)
        if bad.any():
            where = tuple(int(i[0]) for i in np.nonzero(bad))
            runtime.current().fail(
                instruction,
                f"out-of-bounds access to tensor {self.label}"
                f" {self.alloc.shape} at tile index {where} (mask it, or keep indices"
                " inside the tensor)",
                "tensor_access_out_of_bound",
            )

    def read(self) -> np.ndarray:
        """The values (value mode), in the storage dtype, shaped like the view."""
        storage = self.alloc.storage
        assert storage is not None
        if self.flat is None:
            if not self.shape or 0 in self.shape:
                return (
                    np.empty(self.shape, storage.dtype)
                    if self.shape
                    else storage[self.offset : self.offset + 1][0]
                )
            isz = self.alloc.itemsize
            return strided(storage, self.offset, self.shape, tuple([s * isz for s in self.strides]), False)
        return storage[self.flat]

    def write(self, values: np.ndarray, mask: np.ndarray | None) -> None:
        """Store ``values`` (already in the storage dtype) where ``mask`` (and bounds) allow."""
        storage = runtime.writable_storage(self.alloc)
        if values.shape != self.shape:
            values = np.broadcast_to(values, self.shape)
        if self.flat is None:
            if 0 in self.shape:
                return
            isz = self.alloc.itemsize
            dst = strided(storage, self.offset, self.shape, tuple([s * isz for s in self.strides]), True)
            if mask is None:
                dst[...] = values
            else:
                np.copyto(dst, values, where=fit_mask(mask, self.shape))
            return
        keep = np.ones(self.shape, dtype=bool) if mask is None else fit_mask(mask, self.shape).copy()
        if self.oob is not None:
            keep &= ~self.oob
        storage[self.flat[keep]] = values[keep]


_new_tuple = tuple.__new__

#: (bytes, longest contiguous run in bytes, inner stride in bytes) of a strided view, by (shape,
#: strides, partition axis, itemsize): fresh tiles of one shape share it across allocations.
_LAYOUTS: dict[tuple[Any, ...], tuple[int, int, int]] = {}
_MAX_LAYOUTS = 1 << 16
#: (bytes, region box without the allocation id, contiguous bytes, inner stride bytes) of a plain
#: view's operand, by what they depend on: the allocation's memory space, dtype (name and item
#: size) and elements per partition, and the view's offset, shape, strides and partition axis
_GEOMETRY: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _layout(shape: tuple[int, ...], strides: tuple[int, ...], paxis: int, isz: int) -> tuple[int, int, int]:
    nbytes = (math.prod(shape) if shape else 1) * isz
    inner = strides[-1] * isz if shape else isz
    run = 1  # elements in the longest unit-stride run of the innermost dims
    for d in range(len(shape) - 1, -1, -1):
        if d == paxis:
            continue
        if strides[d] != run and shape[d] != 1:
            break
        run *= shape[d]
    return nbytes, run * isz, inner


def strided(
    base: np.ndarray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...], writeable: bool
) -> np.ndarray:
    """``as_strided(base[offset:], shape, strides)`` (byte strides) without its Python overhead.

    The ndarray constructor checks that the view stays inside ``base``; a view it refuses goes
    through ``as_strided`` as before.
    """
    try:
        view: np.ndarray = np.ndarray(shape, base.dtype, base, offset * base.itemsize, strides)
    except (TypeError, ValueError):
        return as_strided(base[offset:], shape, strides, writeable=writeable)
    if not writeable:
        view.flags.writeable = False
    return view


def _operand_like(o: Any) -> bool:
    """True for what a tile comparison accepts: tensors, numbers, numpy scalars and arrays."""
    return isinstance(o, (Tensor, int, float, np.generic, np.ndarray, IndexExpr))


def fit_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` broadcast to a tile of ``shape``.

    A mask built from a full ``nl.mgrid`` index (e.g. ``i_p < n`` with ``i_p, i_f = nl.mgrid[0:128,
    0:F]``) also masks a ``[128, 1]`` statistics tile: along an axis where the extents differ, a
    mask that does not vary along that axis is reduced to one slice. A mask that varies there
    cannot be applied and raises ValueError (reported as a KernelError by the caller).
    """
    if mask.shape == shape or mask.ndim != len(shape):
        return np.broadcast_to(mask, shape)
    for axis, (have, want) in enumerate(zip(mask.shape, shape, strict=True)):
        if have != want and have != 1:
            first = np.take(mask, [0], axis=axis)
            if not (mask == first).all():
                raise ValueError(f"mask of shape {mask.shape} varies along axis {axis}; the tile is {shape}")
            mask = first
    return np.broadcast_to(mask, shape)


def _keep_alive(alias: Allocation, base: Allocation) -> None:
    # an on-chip alias must keep the base (and its capacity accounting) alive
    import weakref

    weakref.finalize(alias, lambda b: None, base)


def _views() -> Any:
    from trnsim.nki import tensor_views  # imports tensor.py's names lazily (no import cycle)

    return tensor_views


def _fail(instruction: str, rule: str, err_id: str) -> NoReturn:
    runtime.current().fail(instruction, rule, err_id)


def _dtype(value: Any, instruction: str) -> np.dtype[Any]:
    try:
        return as_dtype(value)
    except DtypeError as error:
        runtime.current().fail(instruction, str(error), "unsupported_dtype")


def _c_contiguous(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    expected = 1
    for n, s in zip(reversed(shape), reversed(strides), strict=True):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _tile_strides(t: Tensor, new: tuple[int, ...]) -> tuple[int, ...]:
    strides = physical_strides(new, -1, 0)
    return strides


def _region(t: Tensor) -> Region:
    a = t.alloc
    isz = a.itemsize
    shape = t.shape
    if len(shape) == 2 and t.flat is None and not t.dyn and a.on_chip:
        # the common [P, F] tile view with unit free stride: one box, no loops
        n0, n1 = shape
        s0, s1 = t.strides
        ft = a.free_elems
        if s0 == ft and s1 == 1 and n0 and n1:
            p0, f0 = divmod(t.offset, ft)
            if f0 + n1 <= ft:
                return _new_tuple(Region, (a.alloc_id, p0, p0 + n0, f0 * isz, (f0 + n1) * isz))
    if t.dyn:
        if a.on_chip:
            return Region(a.alloc_id, 0, a.partitions, 0, a.free_elems * isz)
        return Region(a.alloc_id, 0, 1, 0, a.free_elems * isz)
    if t.flat is not None:
        flat = t.flat if t.oob is None else t.flat[~t.oob]
        if flat.size == 0:
            return Region(a.alloc_id, 0, 0, 0, 0)
        if a.on_chip:
            p = flat // a.free_elems
            f = flat % a.free_elems
            return Region(
                a.alloc_id, int(p.min()), int(p.max()) + 1, int(f.min()) * isz, (int(f.max()) + 1) * isz
            )
        return Region(a.alloc_id, 0, 1, int(flat.min()) * isz, (int(flat.max()) + 1) * isz)
    if 0 in t.shape:
        return Region(a.alloc_id, 0, 0, 0, 0)
    if not a.on_chip:
        lo = hi = t.offset
        for n, s in zip(t.shape, t.strides, strict=True):
            span = s * (n - 1)
            if span < 0:
                lo += span
            else:
                hi += span
        return Region(a.alloc_id, 0, 1, lo * isz, (hi + 1) * isz)
    ft = a.free_elems
    p_lo = p_hi = t.offset // ft
    f_lo = f_hi = t.offset % ft
    for n, s in zip(t.shape, t.strides, strict=True):
        if n == 1 or s == 0:
            continue
        if s % ft == 0:
            span = (s // ft) * (n - 1)
            p_lo, p_hi = p_lo + min(0, span), p_hi + max(0, span)
        else:
            span = s * (n - 1)
            f_lo, f_hi = f_lo + min(0, span), f_hi + max(0, span)
    if f_lo < 0 or f_hi >= ft:
        f_lo, f_hi = 0, ft - 1
    return Region(a.alloc_id, p_lo, p_hi + 1, f_lo * isz, (f_hi + 1) * isz)


# the subscript code builds Tensors: imported last, once the class exists
from trnsim.nki.subscript import _start_views  # noqa: E402
from trnsim.nki.subscript import view as _view  # noqa: E402

# ``t[key]`` is the subscript module's function itself (one Python call per subscript)
Tensor.__getitem__ = _view  # type: ignore[method-assign]
