"""``trnsim kernel run FILE [--target trn1|trn2|trn3] [ARGS...]``: run an unmodified NKI file.

The file runs as ``__main__`` with the import hook installed, so ``import neuronxcc.nki`` and
``import nki`` resolve to trnsim. The file's exit status is the command's; a KernelError prints
one line (exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from trnsim.cli.apps import kernel_app
from trnsim.errors import ConfigError

#: ``trnsim.nki.targets.ENV_TARGET`` and ``trnsim.nki.budget.ENV_INSTRUCTIONS``/``ENV_TIME``, spelled
#: out for the help texts so that start-up does not import the kernel layer (numpy, ml_dtypes);
#: tests/test_startup.py checks that they agree.
ENV_TARGET = "NEURON_PLATFORM_TARGET_OVERRIDE"
ENV_INSTRUCTIONS = "TRNSIM_MAX_INSTRUCTIONS"
ENV_TIME = "TRNSIM_TIME_LIMIT_S"


def target_from_env() -> str | None:
    """``$NEURON_PLATFORM_TARGET_OVERRIDE`` when set (the target without ``--target``, as under the
    SDK), checked here so that a bad value is named as the variable's."""
    value = os.environ.get(ENV_TARGET, "")
    if not value.strip():
        return None
    from trnsim.hardware.neuroncore_timing import load_timing

    try:
        load_timing(value)
    except ConfigError as error:
        raise ConfigError(f"${ENV_TARGET}='{value}' (the target when --target is not given): "
                          f"{error}") from None
    return value


@kernel_app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    file: Annotated[Path, typer.Argument(help="A Python file written for the Neuron SDK.")],
    target: Annotated[
        str | None, typer.Option("--target", help=f"trn1 | trn2 | trn3 (default: ${ENV_TARGET}, trn2).")
    ] = None,
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the file (sys.argv[1:]).")] = None,
    max_instructions: Annotated[int | None, typer.Option(
        "--max-instructions", min=1,
        help=f"Stop a launch after this many instructions (default: ${ENV_INSTRUCTIONS}, 50 M).")] = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0.001,
        help=f"Stop a launch after this many seconds of wall time (default: ${ENV_TIME}, 1800).")] = None,
) -> int:
    """Run an NKI kernel file on trnsim's CPU simulator (its exit status is the command's)."""
    if target is not None and not target.strip():  # '' ran on the default target, silently
        raise ConfigError("--target is empty; give one of trn1, trn2, trn3 (or leave it out for "
                          f"${ENV_TARGET}, else trn2)")
    if target is None:
        target_from_env()  # the runner reads it; a bad value is the variable's error
    from trnsim.nki.budget import TimeLimitInterrupt, limits
    from trnsim.nki.errors import KernelError
    from trnsim.nki.runner import run_file

    try:
        with limits(max_instructions, time_limit) as budget:
            return run_file(file, list(args or []), target)
    except KernelError as error:
        message = str(error)
    except TimeLimitInterrupt:
        # The deadline fell while a launch was being set up, before the kernel's own frames that
        # turn it into a KernelError: still the budget's line, not a traceback.
        message = (f"kernel file '{file}': wall-time budget of {budget.time_limit_s:g} s exceeded while "
                   f"launching a kernel (raise it with --time-limit or ${ENV_TIME}) [time_limit_exceeded]")
    # printed here, escaped, so that the message's "[err_id]" is not taken for rich markup
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return 2
