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


@pytest.mark.parametrize(("call", "message"), [
    # TypeError "'<' not supported between instances of 'str' and 'int'" before
    (lambda: trnsim.estimate("llama3-8b", "trn2", **{**EST, "tp": "4"}),
     "tp must be a whole number, got '4'"),
    (lambda: trnsim.estimate("llama3-8b", "trn2", **{**EST, "pp": 2.5}),
     "pp must be a whole number, got 2.5"),
    (lambda: trnsim.plan("llama3-8b", "trn2", **{**PLAN, "nodes": "1"}), "nodes must be a whole number"),
    # the curve's point came twice: every scaling row doubled
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "scaling": (64, 64)}), "scaling names 64 chips twice"),
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "scaling": "64,x"}), "scaling value 'x' is not a number"),
    # an empty name between commas was dropped, as if the list had one system fewer
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "systems": "trn2,,p5"}),
     "systems 'trn2,,p5' has an empty"),
])
def test_api_refuses_wrong_types_and_repeats(call: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value), str(caught.value)


def test_compare_takes_the_cli_s_scaling_text() -> None:
    """``scaling="64,128"`` (the CLI's text, as ``tokens="6.3T"`` and ``systems="trn2,p5"`` are taken)
    raised a TypeError; it is the tuple (64, 128), and "" no curve."""
    text = trnsim.compare("llama3-8b", tokens="1T", systems="p5", chips=8, scaling="8,16", space="quick",
                          workers=1)
    given = trnsim.compare("llama3-8b", tokens="1T", systems="p5", chips=8, scaling=(8, 16), space="quick",
                           workers=1)
    assert text.to_dict()["results"] == given.to_dict()["results"]
    assert sorted(e["chips"] for e in text.entries if e["kind"] == "scaling") == [8, 16]
    none = trnsim.compare("llama3-8b", tokens="1T", systems="p5", chips=8, scaling="", space="quick",
                          workers=1)
    assert not [e for e in none.entries if e["kind"] == "scaling"]


def test_to_dict_is_the_cli_s_json_document() -> None:
    """docs/api.md: ``to_dict()`` is the document of ``--json``; the meta lacked compare's headline,
    claims, unpriced systems and prices, and plan's infeasible counts."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}

    args = ["--model", "llama3-8b", "--tokens", "1T", "--space", "quick"]
    cmp_cli = json.loads(subprocess.run(
        [sys.executable, "-m", "trnsim", "compare", *args, "--systems", "p5,trn1", "--chips", "64",
         "--scaling", "64", "--workers", "1", "--json", "-"], capture_output=True, text=True, check=True,
        env=env).stdout)
    cmp_api = trnsim.compare("llama3-8b", tokens="1T", systems=["p5", "trn1"], chips=64, scaling=(64,),
                             space="quick", workers=1).to_dict()
    assert cmp_api == cmp_cli
    plan_cli = json.loads(subprocess.run(
        [sys.executable, "-m", "trnsim", "plan", *args, "--system", "p5", "--nodes", "1", "--json", "-"],
        capture_output=True, text=True, check=True, env=env).stdout)
    plan_api = trnsim.plan("llama3-8b", "p5", tokens="1T", nodes=1, space="quick").to_dict()
    for document in (plan_cli, plan_api):  # a search's wall time differs from run to run
        document["meta"].pop("elapsed_s", None)
    assert plan_api == plan_cli


def test_plan_and_compare_take_sequence_parallel() -> None:
    """The CLI's --no-sequence-parallel had no API argument: plan/compare always searched with SP on."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    args = ["--model", "llama3-8b", "--tokens", "1T", "--space", "quick", "--no-sequence-parallel"]
    plan_cli = json.loads(subprocess.run(
        [sys.executable, "-m", "trnsim", "plan", *args, "--system", "p5", "--nodes", "1", "--json", "-"],
        capture_output=True, text=True, check=True, env=env).stdout)
    plan_api = trnsim.plan("llama3-8b", "p5", tokens="1T", nodes=1, space="quick",
                           sequence_parallel=False).to_dict()
    assert plan_api["meta"]["job"]["sequence_parallel"] is False
    assert plan_api == plan_cli
    cmp_api = trnsim.compare("llama3-8b", tokens="1T", systems=["p5"], chips=8, scaling=(), workers=1,
                             sequence_parallel=False).to_dict()
    assert cmp_api["meta"]["job"]["sequence_parallel"] is False


def test_plan_takes_max_ranks() -> None:
    """The CLI's --max-ranks (node counts doubling up to it) had no API argument."""
    result = trnsim.plan("llama3-8b", "p5", tokens="1T", max_ranks=16, space="quick", top=50)
    assert {e["ranks"] for e in result.entries} <= {8, 16} and len({e["ranks"] for e in result.entries}) == 2
    with pytest.raises(ConfigError, match="give exactly one of nodes=, ranks= or max_ranks="):
        trnsim.plan("llama3-8b", "p5", tokens="1T", nodes=1, max_ranks=16)
    with pytest.raises(ConfigError, match=r"^max_ranks=4 is less than one p5 node \(8 ranks\)"):
        trnsim.plan("llama3-8b", "p5", tokens="1T", max_ranks=4)


def test_estimate_takes_tokens_and_lnc() -> None:
    """The CLI's --tokens (run time, goodput) and --lnc had no API argument."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cli = json.loads(subprocess.run(
        [sys.executable, "-m", "trnsim", "estimate", "--model", "llama3-8b", "--system", "trn2",
         "--nodes", "1", "--tp", "4", "--zero", "1", "--lnc", "1", "--tokens", "1T", "--json", "-"],
        capture_output=True, text=True, check=True, env=env).stdout)
    api = trnsim.estimate("llama3-8b", "trn2", nodes=1, tp=4, zero=1, lnc=1, tokens="1T").to_dict()
    assert api == cli
    assert api["ranks"] == 128 and "train_time_s" in api and "goodput" in api


@pytest.mark.parametrize(("call", "message"), [
    (lambda: trnsim.plan("llama3-8b", "p5", **{**PLAN, "pue": "x"}), "pue must be a number, got 'x'"),
    (lambda: trnsim.plan("llama3-8b", "p5", **{**PLAN, "deadline": "30"}),
     "deadline must be a number, got '30'"),
    (lambda: trnsim.compare("llama3-8b", **{**CMP, "hourly_budget": "100"}),
     "hourly_budget must be a number, got '100'"),
])
def test_non_numbers_are_one_line(call: Any, message: str) -> None:
    """They raised TypeError ("must be real number, not str") from math.isfinite."""
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value).startswith(message), str(caught.value)
