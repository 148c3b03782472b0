"""A chunked prefill says what chunk it ran: a chunk is padded to a multiple of TP (sequence
parallelism), so `--prefill-chunk 100` at TP 64 runs chunks of 128 tokens; that was silent, and
the padding note counted the unchunked prompt (1,024 tokens for 1,000) where the chunks pad it to
ceil(1000 / 320) x 320 = 1,280 at `--prefill-chunk 300`."""

from __future__ import annotations

from trnsim.hardware.catalog import load_system
from trnsim.serve import ServeConfig, estimate_serving
from trnsim.workload import load_model


def _notes(input_tokens: int, prefill_chunk: int | None) -> list[str]:
    config = ServeConfig(load_model("llama3-70b"), load_system("trn2"), 64, 64, 1, input_tokens, 64,
                         prefill_chunk=prefill_chunk)
    return [n for n in estimate_serving(config).notes if "prefill" in n]


def test_a_chunk_rounded_up_to_tp_is_named() -> None:
    (note,) = _notes(input_tokens=1024, prefill_chunk=100)  # 1,024 = 8 x 128: no padding beyond it
    assert "chunks of 128 tokens" in note and "--prefill-chunk 100" in note and "tp=64" in note


def test_padding_counts_the_chunks() -> None:
    notes = _notes(input_tokens=1000, prefill_chunk=300)  # chunks of 320: 4 passes, 1,280 tokens
    assert any("chunks of 320 tokens" in n for n in notes)
    assert any("padded to 1280 tokens" in n for n in notes) and not any("1024" in n for n in notes)


def test_no_note_when_nothing_is_rounded() -> None:
    assert _notes(input_tokens=1024, prefill_chunk=128) == []
    assert _notes(input_tokens=1024, prefill_chunk=4096) == []  # one pass of the whole prompt
    assert _notes(input_tokens=1024, prefill_chunk=None) == []
    (note,) = _notes(input_tokens=1000, prefill_chunk=None)
    assert "padded to 1024 tokens" in note
