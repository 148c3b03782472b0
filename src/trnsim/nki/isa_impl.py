"""The instructions of ``trnsim.nki.engines`` under their historical module name (the front ends
import ``isa_impl as isa``): a re-export, no code."""

from __future__ import annotations

from trnsim.nki.alu import ACTIVATIONS as ACTIVATIONS
from trnsim.nki.alu import BINARY as BINARY
from trnsim.nki.alu import BITVEC as BITVEC
from trnsim.nki.alu import REDUCE as REDUCE
from trnsim.nki.alu import op_name as op_name
from trnsim.nki.engines.dma import dma_copy as dma_copy
from trnsim.nki.engines.execute import _ENGINES as _ENGINES
from trnsim.nki.engines.execute import _IMMEDIATES as _IMMEDIATES
from trnsim.nki.engines.execute import ON_CHIP as ON_CHIP
from trnsim.nki.engines.execute import _alu as _alu
from trnsim.nki.engines.execute import _apply as _apply
from trnsim.nki.engines.execute import _input_mask as _input_mask
from trnsim.nki.engines.execute import _operand as _operand
from trnsim.nki.engines.execute import _state_view as _state_view
from trnsim.nki.engines.execute import check_tensor as check_tensor
from trnsim.nki.engines.execute import close_groups as close_groups
from trnsim.nki.engines.execute import engine_of as engine_of
from trnsim.nki.engines.execute import execute as execute
from trnsim.nki.engines.execute import free_size as free_size
from trnsim.nki.engines.execute import imm as imm
from trnsim.nki.engines.execute import is_number as is_number
from trnsim.nki.engines.execute import load_f32 as load_f32
from trnsim.nki.engines.execute import mark_written as mark_written
from trnsim.nki.engines.execute import mask_array as mask_array
from trnsim.nki.engines.execute import matmul_group_open as matmul_group_open
from trnsim.nki.engines.execute import named_op as named_op
from trnsim.nki.engines.execute import normalize_axes as normalize_axes
from trnsim.nki.engines.execute import reduced_shape as reduced_shape
from trnsim.nki.engines.execute import same_partitions as same_partitions
from trnsim.nki.engines.execute import to_dtype as to_dtype
from trnsim.nki.engines.execute import write as write
from trnsim.nki.engines.gpsimd import affine_select as affine_select
from trnsim.nki.engines.gpsimd import gather_flattened as gather_flattened
from trnsim.nki.engines.gpsimd import iota as iota
from trnsim.nki.engines.gpsimd import pattern_values as pattern_values
from trnsim.nki.engines.gpsimd import sequence_bounds as sequence_bounds
from trnsim.nki.engines.gpsimd import tensor_partition_reduce as tensor_partition_reduce
from trnsim.nki.engines.tensor_engine import _MATMUL_DTYPES as _MATMUL_DTYPES
from trnsim.nki.engines.tensor_engine import nc_matmul as nc_matmul
from trnsim.nki.engines.tensor_engine import nc_transpose as nc_transpose
from trnsim.nki.engines.vector_scalar import _bcast as _bcast
from trnsim.nki.engines.vector_scalar import _check_bitvec as _check_bitvec
from trnsim.nki.engines.vector_scalar import _free_axes as _free_axes
from trnsim.nki.engines.vector_scalar import _scalar_operand as _scalar_operand
from trnsim.nki.engines.vector_scalar import activation as activation
from trnsim.nki.engines.vector_scalar import dropout as dropout
from trnsim.nki.engines.vector_scalar import exponential as exponential
from trnsim.nki.engines.vector_scalar import memset as memset
from trnsim.nki.engines.vector_scalar import scalar_tensor_tensor as scalar_tensor_tensor
from trnsim.nki.engines.vector_scalar import tensor_copy as tensor_copy
from trnsim.nki.engines.vector_scalar import tensor_reduce as tensor_reduce
from trnsim.nki.engines.vector_scalar import tensor_scalar as tensor_scalar
from trnsim.nki.engines.vector_scalar import tensor_tensor as tensor_tensor
