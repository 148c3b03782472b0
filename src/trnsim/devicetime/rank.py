"""What one parallel rank of a chip has: its share of the chip's peak and memory bandwidth."""

from __future__ import annotations

from dataclasses import dataclass

from trnsim.devicetime.ops import Dtype
from trnsim.hardware.catalog import ChipSpec

__all__ = ["RankView"]


@dataclass(frozen=True)
class RankView:
    """A chip divided among ``ranks_per_chip`` ranks (Trainium: logical NeuronCores)."""

    chip: ChipSpec
    ranks_per_chip: int

    @classmethod
    def of(cls, chip: ChipSpec, ranks_per_chip: int | None = None) -> RankView:
        return cls(chip, ranks_per_chip if ranks_per_chip is not None else chip.ranks_per_chip())

    def peak_flops(self, dtype: Dtype) -> float:
        return self.chip.peak_flops(dtype.value) / self.ranks_per_chip

    @property
    def hbm_bw_bytes_per_s(self) -> float:
        return self.chip.hbm_bw_bytes_per_s / self.ranks_per_chip

    @property
    def hbm_bytes(self) -> float:
        return self.chip.hbm_bytes / self.ranks_per_chip
