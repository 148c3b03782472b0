"""``nki.typing``: ``nt.tensor[shape]`` annotations (and ``nt.tensor[shape, dtype]`` placeholders)."""

from __future__ import annotations

from trnsim.nki.legacy.typing import mutable, mutable_tensor, scalar, tensor

__all__ = ["mutable", "mutable_tensor", "scalar", "tensor"]
