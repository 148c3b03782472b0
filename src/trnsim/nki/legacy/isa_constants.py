"""``neuronxcc.nki.isa.constants``: the ISA enums public kernels import from it (nki-semantics §7)."""

from __future__ import annotations

from trnsim.nki.isa_common import nc_version, oob_mode
from trnsim.nki.legacy.isa import dge_mode, engine, reduce_cmd

__all__ = ["dge_mode", "engine", "nc_version", "oob_mode", "reduce_cmd"]
