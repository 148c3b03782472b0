"""The less frequent instructions of ``trnsim.nki.engines`` under their historical module name:
a re-export, no code."""

from __future__ import annotations

from trnsim.nki.engines.dma import dma_compute as dma_compute
from trnsim.nki.engines.execute import VirtualRegister as VirtualRegister
from trnsim.nki.engines.gpsimd import core_barrier as core_barrier
from trnsim.nki.engines.vector_scalar import _reduce_into as _reduce_into
from trnsim.nki.engines.vector_scalar import bn_aggr as bn_aggr
from trnsim.nki.engines.vector_scalar import bn_stats as bn_stats
from trnsim.nki.engines.vector_scalar import max8 as max8
from trnsim.nki.engines.vector_scalar import nc_find_index8 as nc_find_index8
from trnsim.nki.engines.vector_scalar import nc_match_replace8 as nc_match_replace8
from trnsim.nki.engines.vector_scalar import nc_stream_shuffle as nc_stream_shuffle
from trnsim.nki.engines.vector_scalar import range_select as range_select
from trnsim.nki.engines.vector_scalar import select_reduce as select_reduce
