"""A speculative draft model is held to the load it serves, and the result says what it leaves out.

A draft whose context is shorter than the requests' (llama3-8b, 8,192 positions, drafting for a
10,000 + 1,500-token request) ran silently past its own max_seq_len; the memory per rank counts the
target model only, which was not said.
"""

from __future__ import annotations

import pytest

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.serve import ServeConfig, Speculation, estimate_serving
from trnsim.workload import load_model


def _config(draft: str, input_tokens: int, output_tokens: int) -> ServeConfig:
    return ServeConfig(load_model("llama3.3-70b"), load_system("trn2"), 64, 64, 1, input_tokens,
                       output_tokens, speculation=Speculation(load_model(draft), 4, 0.7))


def test_a_draft_shorter_than_the_requests_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"draft model 'llama3-8b'.*max_seq_len=8192.*11500"):
        _config("llama3-8b", 10000, 1500)
    _config("llama3-8b", 4096, 1024)  # within both contexts
    _config("llama3.1-8b", 10000, 1500)


def test_memory_note_names_the_draft_model() -> None:
    notes = estimate_serving(_config("llama3.1-8b", 2048, 256)).notes
    (note,) = [n for n in notes if "draft" in n]
    assert "llama3.1-8b" in note and "memory per rank" in note
    plain = ServeConfig(load_model("llama3.3-70b"), load_system("trn2"), 64, 64, 1, 2048, 256)
    assert not any("draft" in n for n in estimate_serving(plain).notes)
