"""What one parallel rank of a chip has: its share of the chip's peak and memory bandwidth."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
        peaks = self._peaks
        peak = peaks.get(dtype._value_)
        if peak is None:  # the same quotient, computed once per dtype (asked for every op timed)
            peak = peaks[dtype._value_] = self.chip.peak_flops(dtype.value) / self.ranks_per_chip
        return peak

    @cached_property
    def _peaks(self) -> dict[str, float]:
        return {}

    @cached_property
    def hbm_bw_bytes_per_s(self) -> float:
        """The rank's share of the chip's HBM bandwidth (the same quotient, computed once per view:
        read for every op shape timed)."""
        return self.chip.hbm_bw_bytes_per_s / self.ranks_per_chip

    @property
    def hbm_bytes(self) -> float:
        return self.chip.hbm_bytes / self.ranks_per_chip
