"""The typer applications every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="trnsim",
    help="trnsim: AWS Trainium in software (NKI kernels, NeuronCore timing, training plans).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
kernel_app = typer.Typer(help="Run and profile NKI kernels.", no_args_is_help=True)
app.add_typer(kernel_app, name="kernel")
