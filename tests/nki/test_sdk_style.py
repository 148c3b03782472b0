"""Kernels written as the public SDK samples and nki-library write them run unmodified.

Each file under ``sdk_style/`` checks its own output against numpy in ``__main__`` and exits
non-zero on a mismatch; each file under ``sdk_style/rejected/`` does something the Neuron
compiler rejects and must stop with one KernelError line carrying the compiler's error id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trnsim.nki import KernelError
from trnsim.nki.runner import run_file

HERE = Path(__file__).resolve().parent / "sdk_style"
ACCEPTED = sorted(HERE.glob("*.py"))
REJECTED = {
    "partition_over_128.py": "num_partition_exceed_arch_limit",
    "unmasked_out_of_bounds.py": "tensor_access_out_of_bound",
    "matmul_moving_too_wide.py": "size_of_dimension_exceed_arch_limit",
}


def test_every_rejected_file_is_listed() -> None:
    assert sorted(p.name for p in (HERE / "rejected").glob("*.py")) == sorted(REJECTED)
    assert len(ACCEPTED) >= 5


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.stem)
def test_sdk_style_kernel_matches_numpy(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.random.seed(0)  # the files draw from numpy's global generator, as the samples do
    assert run_file(path) == 0, capsys.readouterr().err
    assert "match" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_kernel_gives_one_kernel_error_line(name: str) -> None:
    with pytest.raises(KernelError) as info:
        run_file(HERE / "rejected" / name)
    message = str(info.value)
    assert "\n" not in message
    assert f"[{REJECTED[name]}]" in message
