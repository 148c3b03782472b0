"""Per-micro-batch passes over the parameters that a framework's mixed-precision mode implies.

Under ``torch.autocast`` with FP32 parameters (NeuronX Distributed's mode on Trainium) every
micro-batch casts each weight to BF16 before the forward GEMMs and adds each BF16 weight gradient
into the FP32 ``.grad`` accumulator after the backward ones. Both are memory passes over the
rank's parameters, independent of the tokens in the micro-batch, so they weigh most where a rank
holds many parameters and processes few tokens per micro-batch (micro-batch 1, many gradient
accumulation steps). The dtypes live in ``devicetime/data/param_passes/<family>.toml``; a chip
family without a file (GPUs, TPUs: Megatron-LM fuses the accumulation into the weight-gradient
GEMM and keeps BF16 working weights) gets no ops.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.hardware.catalog import ChipFamily, ChipSpec
from trnsim.hardware.datafile import CATALOG_ENV, DataKind, overlay_token

__all__ = ["PARAM_PASSES", "ParamPasses", "clear_loaded_param_passes", "load_param_passes", "param_pass_ops"]

#: The param_passes files: a user file replaces the shipped one of the same name whole.
PARAM_PASSES = DataKind("param_passes", Path(__file__).parent / "data" / "param_passes",
                      merge=False, new_keys_from_depth=0)
_FAMILY_FILE = {ChipFamily.TRAINIUM: "trainium"}
#: Row length the passes are laid out in for the streaming-kernel timing (a flat parameter buffer).
_COLS = 8192


class ParamPasses(BaseModel):
    """Dtype sizes of one framework precision mode (a data file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    date: str
    confidence: str
    param_bytes: int = Field(gt=0)
    compute_bytes: int = Field(gt=0)
    grad_bytes: int = Field(gt=0)


#: Files by (family, $TRNSIM_CATALOG, in-memory overrides): found once, not looked up on disk per stage timed;
#: :func:`clear_loaded_param_passes` (``devicetime.timing.clear_memo``) forgets them.
_LOADED: dict[tuple[ChipFamily, str | None, int], ParamPasses | None] = {}


def clear_loaded_param_passes() -> None:
    """Forget the files found (a test or a what-if that edits them in this process)."""
    _LOADED.clear()


def load_param_passes(chip: ChipSpec) -> ParamPasses | None:
    """The precision mode of ``chip``'s family (a user file first), or None where it has none."""
    key = (chip.family, os.environ.get(CATALOG_ENV), overlay_token())
    if key not in _LOADED:
        _LOADED[key] = _find_param_passes(chip)
    return _LOADED[key]


def _find_param_passes(chip: ChipSpec) -> ParamPasses | None:
    name = _FAMILY_FILE.get(chip.family)
    if name is None:
        return None
    return PARAM_PASSES.load_model(name, ParamPasses)


def param_pass_ops(params: int, passes: ParamPasses | None) -> tuple[Op, ...]:
    """The weight cast (forward) and gradient accumulation (backward) of one micro-batch.

    ``params``: parameters this rank holds (all of them are cast and receive a gradient). Per
    parameter the cast reads ``param_bytes`` and writes ``compute_bytes``; the accumulation reads
    ``compute_bytes + grad_bytes`` and writes ``grad_bytes``. One FLOP per parameter each.
    """
    if passes is None or params <= 0:
        return ()
    shape = {"rows": math.ceil(params / _COLS), "cols": _COLS}
    p = float(params)
    cast = Op(name="weight_cast", op_class=OpClass.ELEMENTWISE, phase=Phase.FWD, flops=p,
              bytes_read=passes.param_bytes * p, bytes_written=passes.compute_bytes * p,
              shape=shape, dtype=Dtype.FP32)
    accumulate = Op(name="grad_accumulate", op_class=OpClass.ELEMENTWISE, phase=Phase.BWD, flops=p,
                    bytes_read=(passes.compute_bytes + passes.grad_bytes) * p,
                    bytes_written=passes.grad_bytes * p, shape=shape, dtype=Dtype.FP32)
    return cast, accumulate
