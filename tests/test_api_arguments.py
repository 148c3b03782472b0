"""The Python API refuses what the CLI refuses, with a TrnsimError (one line), before any work.

It had none of the CLI's option checks: ``estimate(tp=0)`` and ``compare(scaling=(0,))`` raised
ZeroDivisionError, ``compare(chips=100)`` on trn2 (16-chip nodes) returned an empty result,
``estimate(ranks=3)`` a plan on 3 of a node's 64 ranks, ``plan(nodes=-1)`` "no feasible plan ...
with -64 ranks", and ``hourly_budget=-1``, ``workers=0``, ``top=0`` were taken.
"""

from __future__ import annotations

from typing import Any

import pytest

import trnsim
from trnsim.errors import ConfigError

EST: dict[str, Any] = {"nodes": 1, "tp": 4}
PLAN: dict[str, Any] = {"tokens": "1T", "nodes": 1, "space": "quick"}
CMP: dict[str, Any] = {"systems": "trn2", "chips": 64, "scaling": ()}


@pytest.mark.parametrize(("call", "message"), [
    (lambda: trnsim.estimate("llama3-8b", "trn2", **{**EST, "tp": 0}), "tp must be at least 1, got 0"),
    (lambda: trnsim.estimate("llama3-8b", "trn2", **{**EST, "micro_batch": 0}),
     "micro_batch must be at least 1"),
    (lambda: trnsim.estimate("llama3-8b", "trn2", ranks=3, tp=1),
     "ranks=3 does not fit trn2 nodes of 64 ranks"),
    (lambda: trnsim.plan("llama3-8b", "trn2", **{**PLAN, "nodes": -1}), "nodes must be at least 1, got -1"),
    (lambda: trnsim.plan("llama3-8b", "trn2", **{**PLAN, "top": 0}), "top must be at least 1, got 0"),
    (lambda: trnsim.plan("llama3-8b", "trn2", tokens="1T", ranks=100), "ranks=100 does not fit trn2 nodes"),
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "chips": 100}), "chips=100 does not fit trn2 nodes of 16"),
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "scaling": (0,)}), "scaling[0] must be at least 1, got 0"),
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "workers": 0}), "workers must be at least 1, got 0"),
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "hourly_budget": -1.0}),
     "hourly_budget must be a positive"),
])
def test_api_refuses_what_the_cli_refuses(call: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
