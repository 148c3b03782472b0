"""``trnsim kernel run FILE [--target trn1|trn2|trn3] [ARGS...]``: run an unmodified NKI file.

The file runs as ``__main__`` with the import hook installed, so ``import neuronxcc.nki`` and
``import nki`` resolve to trnsim. The file's exit status is the command's; a KernelError prints
one line (exit 2).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import typer

from trnsim.cli.apps import kernel_app
from trnsim.errors import ConfigError
from trnsim.hardware.neuroncore import canonical_target
from trnsim.nki.hook import sdk_imports
from trnsim.nki.targets import ENV_TARGET


@kernel_app.command(
    "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    file: Path = typer.Argument(..., help="A Python file written for the Neuron SDK (NKI kernel + __main__)."),
    target: str = typer.Option(None, "--target", help="trn1 | trn2 | trn3 (default: $"
                               f"{ENV_TARGET} or trn2)."),
    args: list[str] = typer.Argument(None, help="Arguments passed to the file as sys.argv[1:]."),
) -> int:
    """Run an NKI kernel file on trnsim's CPU simulator."""
    if not file.is_file():
        raise ConfigError(f"kernel file '{file}' does not exist or is not a file")
    if target:
        os.environ[ENV_TARGET] = canonical_target(target)
    old_argv = sys.argv
    sys.argv = [str(file), *(args or [])]
    sys.path.insert(0, str(file.resolve().parent))
    try:
        with sdk_imports():
            runpy.run_path(str(file), run_name="__main__")
    except SystemExit as stop:
        code = stop.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    finally:
        sys.argv = old_argv
        sys.path.remove(str(file.resolve().parent))
    return 0
