"""``trnsim kernel run FILE [--target trn1|trn2|trn3] [ARGS...]``: run an unmodified NKI file.

The file runs as ``__main__`` with the import hook installed, so ``import neuronxcc.nki`` and
``import nki`` resolve to trnsim. The file's exit status is the command's; a KernelError prints
one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from trnsim.cli.apps import kernel_app
from trnsim.nki.budget import ENV_INSTRUCTIONS, ENV_TIME, limits
from trnsim.nki.errors import KernelError
from trnsim.nki.runner import run_file
from trnsim.nki.targets import ENV_TARGET


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
    try:
        with limits(max_instructions, time_limit):
            return run_file(file, list(args or []), target)
    except KernelError as error:
        # printed here, escaped, so that the message's "[err_id]" is not taken for rich markup
        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        return 2
