"""Command-line entry point: ``trnsim``.

Each command lives in its own module and registers itself on the shared typer apps in
:mod:`trnsim.cli.apps`. Every :class:`~trnsim.errors.TrnsimError` becomes one line on stderr and
its ``exit_status`` (2: bad input; 3: valid input but no feasible plan); a usage error of the
command line (an unknown option, a value of the wrong type or out of range) is one line and 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape  # messages name TOML tables like [on_chip]: print them verbatim

from trnsim.cli import commands  # noqa: F401  (registers the commands)
from trnsim.cli.apps import app
from trnsim.errors import ConfigError, TrnsimError
from trnsim.plan.collector import collector_paused

__all__ = ["app", "main"]


def _print_error(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _name(info: object) -> str:
    """The name a registered command or group is invoked by (typer's rule where it has none)."""
    from typer.main import get_command_name

    name = getattr(info, "name", None)
    if name:
        return str(name)
    callback = getattr(info, "callback", None)
    return get_command_name(getattr(callback, "__name__", ""))


@contextmanager
def _only_invoked(args: list[str]) -> Iterator[None]:
    """Register only the command (or group) the command line names while typer builds the CLI.

    typer builds every command's options from its signature on each run (about 0.1 s for all of
    them); a command line that names one needs only that one: its parsing, help, usage and errors
    do not depend on its siblings. The root's help, an unknown name (answered with the close
    matches) and shell completion see every command.
    """
    word = args[0] if args else ""
    every, groups = app.registered_commands, app.registered_groups
    mine = [c for c in every if _name(c) == word]
    my_groups = [g for g in groups if _name(g) == word]
    completing = any(key.endswith("_COMPLETE") for key in os.environ)
    if word.startswith("-") or completing or not (mine or my_groups):
        yield
        return
    app.registered_commands, app.registered_groups = mine, my_groups
    try:
        yield
    finally:
        app.registered_commands, app.registered_groups = every, groups


#: Commands run with Python's cyclic garbage collector paused throughout: short runs that make no
#: reference cycles worth collecting (their searches pause it already), while the imports and the
#: schema building before and inside them set off collections that walked every object made so
#: far and freed nothing (``trnsim compare``: some 60 collections, 25-45 ms).
_COLLECTOR_PAUSED = frozenset({"compare"})


def _missing_command(ctx: object) -> str:
    """The line for a group run without a command (``trnsim``, ``trnsim kernel``): what to give."""
    command = getattr(ctx, "command", None)
    names = command.list_commands(ctx) if command is not None and hasattr(command, "list_commands") else []
    path = getattr(ctx, "command_path", "trnsim")
    return f"{path}: give a command ({', '.join(names)}); {path} -h describes each"


def _repeated_option(command: object, args: list[str]) -> str | None:
    """The line for an option given twice (``--nodes 1 ... --nodes 2``: click keeps the last value,
    silently), None when there is none. Options that repeat by design (``--topology-set``) pass, and
    so does everything after ``--`` and a command that hands its extra arguments on (``kernel run``)."""
    # typer's (vendored) click classes, read by their attributes: a group's commands, an option's opts
    node: Any = command
    words = list(args)
    while isinstance(getattr(node, "commands", None), dict):
        node = node.commands.get(words[0]) if words else None
        words = words[1:]
    if node is None or (getattr(node, "context_settings", None) or {}).get("allow_extra_args"):
        return None
    options = {name: param for param in getattr(node, "params", [])
               if getattr(param, "param_type_name", "") == "option"
               and not getattr(param, "multiple", False) and not getattr(param, "count", False)
               for name in (*param.opts, *param.secondary_opts)}
    first: dict[str | None, str] = {}
    for word in words:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        param = options.get(name)
        if param is None:
            continue
        if param.name in first:
            also = "" if first[param.name] == name else f" (also as {first[param.name]})"
            return f"{name} is given twice{also}: the last would silently win; give it once"
        first[param.name] = name
    return None


def main() -> None:
    """Run the CLI, turning user errors into one clear line."""
    from typer.main import get_command

    args = sys.argv[1:]
    try:
        with _only_invoked(args), collector_paused(bool(args) and args[0] in _COLLECTOR_PAUSED):
            command = get_command(app)  # built once: checked here, then run
            repeated = _repeated_option(command, args)
            if repeated is not None:
                raise ConfigError(repeated)
            status = command.main(args=args, prog_name="trnsim", standalone_mode=False)
        if status == 130:  # typer turns Ctrl-C (and SIGTERM in a sweep) into status 130, silently
            _print_error("interrupted")
        if isinstance(status, int) and status != 0:
            sys.exit(status)
    except TrnsimError as error:
        _print_error(str(error))
        sys.exit(error.exit_status)
    except SystemExit:
        raise
    except Exception as error:  # usage errors of typer's (vendored) click arrive here
        names = {cls.__name__ for cls in type(error).__mro__}
        if "ClickException" in names:
            # one line, e.g. "Invalid value for '--top': Input should be greater than or equal to 1"
            message = error.format_message().replace("Value error, ", "")  # type: ignore[attr-defined]
            if "NoArgsIsHelpError" in names:  # its message is the help, which rich printed already
                message = _missing_command(getattr(error, "ctx", None))
            _print_error(message)
            sys.exit(int(getattr(error, "exit_code", 2)))
        if "Abort" in names:
            sys.exit(1)
        raise
