"""Where a command's files go: a path, or ``-`` for standard output (``--json -``, ``--csv -``...).

When a file goes to standard output, the command's tables stay off it (the caller makes its console
quiet), so that ``trnsim plan ... --json - | jq`` reads clean JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

from trnsim.errors import ConfigError

__all__ = ["STDOUT", "check_keeps_inputs", "check_one_stdout", "is_stdout", "model_file", "write_output"]

#: The path that means standard output.
STDOUT = "-"


def is_stdout(path: Path | None) -> bool:
    """Whether ``path`` is ``-`` (standard output)."""
    return path is not None and str(path) == STDOUT


def check_one_stdout(**paths: Path | None) -> None:
    """At most one output may be ``-``: two documents on one stream cannot be read apart; and no two
    outputs may name the same file, where the second would silently replace the first."""
    named = [f"--{name}" for name, path in paths.items() if is_stdout(path)]
    if len(named) > 1:
        raise ConfigError(f"{' and '.join(named)} are both '-' (standard output); send one of them to a file")
    seen: dict[Path, str] = {}
    for name, path in paths.items():
        if path is None or is_stdout(path):
            continue
        resolved = path.resolve()
        if resolved in seen:
            raise ConfigError(f"{seen[resolved]} and --{name} both write '{path}': the second would replace "
                              "the first; give each its own file")
        seen[resolved] = f"--{name}"


def model_file(model: str) -> Path | None:
    """The file a ``--model`` value reads (a config.json, or one in the directory), None for a preset.

    A preset name wins over a file or directory of that name (``load_model``'s rule): a warning line
    says so, since the user may have meant their own ``llama3-8b/config.json`` (which is still returned,
    so that no output is written over it)."""
    from trnsim.workload.models import list_models

    if model in list_models() and Path(model).exists():
        from rich.console import Console
        from rich.markup import escape

        message = f"--model {model}: the built-in preset, not the path '{model}' here (./{model} reads that)"
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    return path if path.is_file() else None


def check_keeps_inputs(inputs: dict[str, Path | None], **outputs: Path | None) -> None:
    """No output may be written over a file the command reads (``kernel profile k.py --json k.py`` wrote
    the summary over the kernel's source)."""
    given = {path.resolve(): what for what, path in inputs.items() if path is not None and path.is_file()}
    for name, path in outputs.items():
        if path is not None and not is_stdout(path) and path.resolve() in given:
            raise ConfigError(f"--{name} '{path}' is {given[path.resolve()]}: writing there would replace "
                              "it; pick another file")


def write_output(path: Path, text: str, option: str) -> bool:
    """Write ``text`` to ``path``, or to standard output for ``-``; True when a file was written."""
    if is_stdout(path):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return False
    try:
        path.write_text(text)
    except OSError as error:
        raise ConfigError(f"cannot write {option} file '{path}': {error.strerror}") from None
    return True
