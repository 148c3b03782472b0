"""Small kernels reproducing the patterns of public NKI code that trnsim once refused (issue 10).

Each file under ``corpus_patterns/`` checks its own results against numpy in ``__main__`` and
prints "match"; each file under ``corpus_patterns/rejected/`` does what the toolchain rejects and
must end in one KernelError line carrying the expected text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trnsim.nki import KernelError
from trnsim.nki.runner import run_file

HERE = Path(__file__).resolve().parent / "corpus_patterns"
ACCEPTED = sorted(HERE.glob("*.py"))
#: file -> text the one-line KernelError must contain
REJECTED: dict[str, str] = {
    "collective_v_count_mismatch.py": "rank 0 expects 2 rows from rank 1, which sends 1",
    "current_permute_partition_dim.py": "dim 0 of an on-chip tensor is the partition dim and stays fixed",
    "exponential_on_trn2.py": "exponential exists on NeuronCore-v4 (trn3) only; target trn2 is NeuronCore-v3",
    "current_affine_select_psum.py": "GpSimdE cannot access PSUM [unsupported_memory]",
    "direct_alloc_bad_start_partition.py": "start partition 32 for 64 partitions (valid: 0, 64)",
    "direct_alloc_hidden_transpose.py": "[transpose_on_tensor_engine_not_allowed_in_allocated_kernel]",
    "direct_alloc_misaligned.py": "byte address 6 is not a multiple of sbuf_min_align (4 bytes)",
    "direct_alloc_initial_value.py": "[tensor_creation_on_scratchpad_with_init_value_not_supported]",
    "do_while_repeats.py": "not simulated: do_while with more than one iteration",
    "mx_matmul_column_tiling.py": "nc_matmul_mx tiles rows only (valid: column 0, column size 128",
    "mx_memset_nonzero.py": "memset_nonzero.py:14: memset of a float8_e4m3fn_x4 tile takes 0 only, got 1.0",
    "mx_on_trn2.py": "MX instructions exist on NeuronCore-v4 (trn3) only; target trn2 is NeuronCore-v3",
    "mx_quantize_partitions.py": "src has 48 partitions (valid: a multiple of 32, at most 128)",
    "fp8_e4m3fn_mixed_matmul.py": "float8_e4m3fn cannot be mixed with float8_e4m3 in one matmul",
    "fp8_e4m3fn_on_trn2.py": "float8_e4m3fn operands need NeuronCore-v4 (trn3); target trn2 is NeuronCore-v3",
    "matmul_reads_explicit_psum.py": "is in psum (valid: sbuf) [unsupported_memory]",
    "nl_call_outside_kernel.py": "[nki_api_outside_of_nki_kernel]",
    "signature_gap.py": "signature_gap.py:17: not simulated: nisa.tensor_copy (this signature:",
    "unknown_instruction.py": "unknown_instruction.py:16: not simulated: nisa.instruction_from_the_future",
    "unknown_tensor_method.py": "unknown_tensor_method.py:11: not simulated: tensor.some_future_method",
    "tensor_tensor_partition_broadcast.py": "[num_partition_mismatch]",
    "tensor_truthiness.py": "Cannot evaluate truth value of a multi-element tensor",
}


def test_every_rejected_file_is_listed() -> None:
    assert sorted(p.name for p in (HERE / "rejected").glob("*.py")) == sorted(REJECTED)


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.stem)
def test_pattern_kernel_matches_numpy(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.random.seed(0)
    assert run_file(path) == 0, capsys.readouterr().err
    assert "match" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_pattern_gives_one_kernel_error_line(name: str) -> None:
    with pytest.raises(KernelError) as info:
        run_file(HERE / "rejected" / name)
    message = str(info.value)
    assert "\n" not in message
    assert REJECTED[name] in message
