"""The typer applications every command module registers on, and the options of ``trnsim`` itself."""

from __future__ import annotations

from typing import Annotated

import typer

from trnsim import __version__

#: ``-h`` as well as ``--help``, on every command (child contexts inherit it).
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="trnsim",
    help="trnsim: AWS Trainium in software (NKI kernels, NeuronCore timing, training plans).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    context_settings=CONTEXT,
)
kernel_app = typer.Typer(help="Run and profile NKI kernels.", no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(kernel_app, name="kernel")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"trnsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """trnsim: AWS Trainium in software (NKI kernels, NeuronCore timing, training plans)."""
