"""Run an unmodified SDK kernel file (``__main__``) on trnsim, optionally collecting launch traces.

:func:`run_file` backs ``trnsim kernel run`` and, inside :func:`trnsim.nki.trace.collect_traces`,
``trnsim kernel profile``. :func:`collect_traces` here runs a file in timing-only mode (launches
return zero-filled arrays of the right shapes, since no values are computed) through the one launch
observer, :func:`trnsim.nki.trace.collect_traces`; the CLI does not use it.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trnsim.errors import ConfigError, TrnsimError
from trnsim.hardware.neuroncore import canonical_target
from trnsim.nki.hook import sdk_imports
from trnsim.nki.targets import ENV_TARGET, using_target
from trnsim.nki.trace import KernelTrace
from trnsim.nki.trace import collect_traces as trace_collector


@contextmanager
def _as_main(file: Path, args: list[str], target: str | None) -> Iterator[None]:
    if not file.is_file():
        raise ConfigError(f"kernel file '{file}' does not exist or is not a file")
    old_argv, old_env = sys.argv, os.environ.get(ENV_TARGET)
    folder = str(file.resolve().parent)
    sys.argv = [str(file), *args]
    sys.path.insert(0, folder)
    name = canonical_target(target) if target else None
    if name:  # the file itself may read the SDK's variable, as it would under the SDK
        os.environ[ENV_TARGET] = name
    try:
        # the launches get the explicit target through a context variable, which wins over the
        # environment: it holds even if the file rewrites the variable, and in every thread
        with sdk_imports(), using_target(name):
            yield
    finally:
        sys.argv = old_argv
        if folder in sys.path:
            sys.path.remove(folder)
        if name:
            if old_env is None:
                os.environ.pop(ENV_TARGET, None)
            else:
                os.environ[ENV_TARGET] = old_env


def run_file(file: Path, args: list[str] | None = None, target: str | None = None) -> int:
    """Run ``file`` as ``__main__`` with SDK imports resolved to trnsim; returns its exit status."""
    with _as_main(Path(file), list(args or []), target):
        try:
            runpy.run_path(str(file), run_name="__main__")
        except TrnsimError:
            raise
        except Exception as error:  # the file's own bug: report it as `python FILE` would
            _print_user_traceback(error, Path(file))
            return 1
        except SystemExit as stop:
            code = stop.code
            if code is None:
                return 0
            if isinstance(code, int):
                return code
            print(code, file=sys.stderr)  # SystemExit("message"), as Python does
            return 1
    return 0


#: trnsim's own sources: their frames (a kernel's launch between two of the file's frames) are
#: not the user's code, so its traceback leaves them out
_TRNSIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _print_user_traceback(error: BaseException, file: Path) -> None:
    """Print the traceback from the file's own frames on, without any frame of trnsim's (neither
    typer's and trnsim's above the file's first frame, nor a launch's between the file's frames)."""
    target = os.path.abspath(file)
    tb = error.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != target:
        tb = tb.tb_next
    if tb is None and not isinstance(error, SyntaxError):
        tb = error.__traceback__  # the error arose before any frame of the file: show them all
    # A SyntaxError in the file: none of its frames ran, and Python shows only file, line and caret.
    shown = traceback.TracebackException(type(error), error, tb)
    if tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == target:
        shown.stack = traceback.StackSummary.from_list(
            [f for f in shown.stack if not os.path.abspath(f.filename).startswith(_TRNSIM_DIR)]
        )
    print("".join(shown.format()), end="", file=sys.stderr)


def collect_traces(
    file: Path, target: str = "trn2", timing_only: bool = True, args: list[str] | None = None
) -> list[KernelTrace]:
    """Run ``file`` as ``__main__`` and return the trace of every kernel launch it made.

    In timing-only mode the file's own result checks may fail (outputs are zeros); such errors
    are ignored once at least one launch was traced. KernelErrors always propagate.
    """
    with (
        trace_collector(timing_only=timing_only) as traces,
        _as_main(Path(file), list(args or []), target),
    ):
        try:
            runpy.run_path(str(file), run_name="__main__")
        except SystemExit:
            pass
        except TrnsimError:
            raise
        except Exception:
            if not traces:
                raise
    return traces
