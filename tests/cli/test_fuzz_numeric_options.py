"""Hypothesis fuzzing of the CLI's numeric options: huge, negative, zero and non-numeric values.

Whatever the value, a command ends in one of three ways: it goes on (status 0, stderr empty but
for ``warning:`` lines), it rejects the input (status 2, exactly one ``error:`` line), or the input
is valid but no plan can exist (status 3, one ``error:`` line). Never a traceback.

Runs in-process. ``plan`` and ``compare`` are stopped where their search would start (argument
validation is all that is fuzzed there); ``estimate`` runs in full since one step takes
milliseconds and its arithmetic is where huge values overflowed. Example counts are capped so the
file costs seconds.
"""

from __future__ import annotations

import contextlib
import io
import sys
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trnsim.cli import main


class _Validated(BaseException):  # a signal, not an error: it passes main's `except Exception`
    """Raised in place of the search: every argument was accepted."""


def _stop(*args: object, **kwargs: object) -> None:
    raise _Validated


VALUES = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["0", "-0", "-1", "1", "2", "7", "1e30", "1e400", "-1e400", "nan", "inf", "-inf", "abc",
                     "", " ", "1.5", "0.0", "15T", "-5T", "500B", "1_000", "0x10", "9" * 40]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)

ESTIMATE = ["estimate", "--model", "llama3-8b", "--system", "trn2"]
ESTIMATE_OPTIONS = ["--nodes", "--ranks", "--tp", "--pp", "--dp", "--cp", "--ep", "--zero", "--micro-batch",
                    "--global-batch", "--seq-len", "--interleave", "--train-tokens"]
PLAN = ["plan", "--model", "llama3-8b", "--system", "trn2", "--tokens", "1T"]
PLAN_OPTIONS = ["--nodes", "--ranks", "--max-ranks", "--global-batch", "--seq-len", "--deadline", "--budget",
                "--pue", "--top", "--lnc", "--tokens"]
COMPARE = ["compare", "--model", "llama3-8b", "--systems", "trn2,p5", "--chips", "64", "--scaling", ""]
COMPARE_OPTIONS = ["--chips", "--scaling", "--hourly-budget", "--global-batch", "--seq-len", "--pue",
                   "--workers", "--tokens"]
RANK_OPTIONS = {"--nodes", "--ranks", "--max-ranks"}


def _run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    code: object = 0
    with (mock.patch.object(sys, "argv", ["trnsim", *args]), contextlib.redirect_stderr(err),
          contextlib.redirect_stdout(io.StringIO()),
          mock.patch("trnsim.cli.cmd_plan.search_plans", _stop),
          mock.patch("trnsim.cli.cmd_plan.compare_systems", _stop)):
        try:
            main()
        except SystemExit as exited:
            code = 0 if exited.code is None else exited.code
        except _Validated:
            code = 0
    assert isinstance(code, int), code
    return code, err.getvalue()


def _check(args: list[str]) -> None:
    code, err = _run(args)
    lines = err.split("\n")[:-1] if err.endswith("\n") else err.split("\n") if err else []
    assert all(line.strip() for line in lines), f"blank line on stderr for {args}: {err!r}"
    errors = [line for line in lines if not line.startswith("warning: ")]
    if code == 0:
        assert errors == [], f"{args}: status 0 with {errors}"
    else:
        assert code in (2, 3), f"{args}: status {code}: {err}"
        assert len(errors) == 1 and errors[0].startswith("error: "), f"{args}: status {code}: {err!r}"


FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(option=st.sampled_from(ESTIMATE_OPTIONS), value=VALUES)
def test_estimate_numeric_options(option: str, value: str) -> None:
    rest = [] if option in RANK_OPTIONS else ["--nodes", "1"]
    _check([*ESTIMATE, *rest, option, value])


@FUZZ
@given(option=st.sampled_from(PLAN_OPTIONS), value=VALUES)
def test_plan_numeric_options(option: str, value: str) -> None:
    rest = [] if option in RANK_OPTIONS else ["--nodes", "1"]
    _check([*PLAN, *rest, option, value])


@FUZZ
@given(option=st.sampled_from(COMPARE_OPTIONS), value=VALUES)
def test_compare_numeric_options(option: str, value: str) -> None:
    _check([*COMPARE, option, value])


SERVE = ["serve", "--model", "llama3-8b", "--system", "trn2"]
SERVE_OPTIONS = ["--chips", "--nodes", "--ranks", "--tp", "--pp", "--ep", "--concurrency", "--input-tokens",
                 "--output-tokens"]


@FUZZ
@given(option=st.sampled_from(SERVE_OPTIONS), value=VALUES)
def test_serve_numeric_options(option: str, value: str) -> None:
    rest = [] if option in {"--chips", "--nodes", "--ranks"} else ["--chips", "1"]
    _check([*SERVE, *rest, option, value])
