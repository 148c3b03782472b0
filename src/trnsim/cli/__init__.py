"""Command-line entry point: ``trnsim``.

Each command lives in its own module and registers itself on the shared typer apps in
:mod:`trnsim.cli.apps`. Every :class:`~trnsim.errors.TrnsimError` becomes one line on stderr and
exit status 2.
"""

from __future__ import annotations

import sys

from rich.console import Console

from trnsim.cli import commands  # noqa: F401  (registers the commands)
from trnsim.cli.apps import app
from trnsim.errors import TrnsimError

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI, turning user errors into one clear line."""
    try:
        status = app(standalone_mode=False)
        if isinstance(status, int) and status != 0:
            sys.exit(status)
    except TrnsimError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as error:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(error, click.exceptions.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if isinstance(error, click.exceptions.Abort):
            sys.exit(1)
        raise
