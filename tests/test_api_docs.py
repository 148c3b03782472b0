"""docs/api.md cannot go stale silently: its ``>>>`` examples run, and their output is what it shows."""

from __future__ import annotations

import doctest
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_examples_of_docs_api_md_print_what_it_shows() -> None:
    examples = doctest.DocTestParser().get_examples(DOC.read_text())
    assert any("trnsim.serve(" in e.source for e in examples), "docs/api.md's serving example is gone"
    failed, attempted = doctest.testfile(str(DOC), module_relative=False, globs={}, report=False,
                                         optionflags=doctest.ELLIPSIS, verbose=False)
    assert attempted == len(examples) and failed == 0, (
        f"{failed} of {attempted} examples of docs/api.md print something else (stdout: what they print)")
