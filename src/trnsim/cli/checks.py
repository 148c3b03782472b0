"""Checks of command-line values that several commands share, made before any long computation."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from trnsim.errors import ConfigError
from trnsim.hardware.catalog_env import catalog_env, check_catalog_contents, check_catalog_env
from trnsim.hardware.distinct_systems import check_distinct_systems
from trnsim.hardware.node_fit import check_fills_nodes

__all__ = ["check_catalog", "check_catalog_dir", "check_chip_count", "check_distinct_systems",
           "check_output_path", "check_rank_count", "check_seq_len", "parse_count", "split_list",
           "use_catalog", "warn_if_huge", "warn_no_fp8_rate"]

#: Above this many chips a run is larger than any system built (the largest announced, Project
#: Rainier, is about 500,000 Trn2; AWS, Oct 2025): trnsim still answers, with a warning.
LARGEST_PLAUSIBLE_CHIPS = 1_000_000

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}


def check_output_path(path: Path | None, option: str) -> None:
    """Fail now, not after minutes of work, if ``path`` cannot be written (missing directory...).

    ``-`` (standard output) is always writable.
    """
    if path is None or str(path) == "-":
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(
            f"{option} '{path}': directory '{parent}' does not exist; create it or pick another path"
        )
    if path.is_dir():
        raise ConfigError(f"{option} '{path}' is a directory; give a file path")
    existed = path.exists()
    if existed and not path.is_file():
        return  # a pipe or device (/dev/stdout, a FIFO): opening it here would take the reader's end-of-file
    try:  # opened for appending: an existing file is left as it is, a new one removed again
        with path.open("a"):
            pass
    except OSError as error:
        raise ConfigError(f"{option} '{path}': cannot write there ({error.strerror}); pick another path") \
            from None
    if not existed:
        path.unlink(missing_ok=True)


def check_rank_count(ranks: int, system: str, ranks_per_node: int, option: str = "--ranks") -> None:
    """Ranks fill whole nodes, or part of one node evenly (a divisor of its ranks)."""
    check_fills_nodes(ranks, ranks_per_node, "ranks", system, f"{option} {ranks}")


def check_chip_count(chips: int, system: str, chips_per_node: int, option: str = "--chips") -> None:
    """Chips fill whole nodes, or part of one node evenly (a divisor of its chips)."""
    check_fills_nodes(chips, chips_per_node, "chips", system, f"{option} {chips}")


def check_seq_len(seq_len: int, model: Any, option: str) -> None:
    """:func:`trnsim.workload.config.check_seq_len` for the option ``option`` (imported here, once a
    model is loaded, so that start-up does not load the workload layer)."""
    from trnsim.workload.config import check_seq_len as check

    check(seq_len, model, f"{option} {seq_len}")


def check_catalog_dir(path: Path | None) -> None:
    """A ``--catalog`` that exists must be a directory (a file there is a common slip)."""
    if path is not None and path.exists() and not path.is_dir():
        raise ConfigError(f"--catalog '{path}' is a file; give the directory that holds systems/, chips/ ...")


def use_catalog(ctx: Any, param: Any, path: Path | None) -> Path | None:
    """The callback of every command's ``--catalog``: check it, then make it the user catalog of every
    data file for the rest of the command.

    The catalog loaders take the directory as an argument, but the device-time files (efficiency/,
    fusion/, param_passes/, trainium_scale/) and serving.toml are found through ``$TRNSIM_CATALOG``:
    without this, ``--catalog`` changed chips and systems and silently left those files shipped.
    The variable is set until the command's context closes (and is inherited by its worker processes).
    """
    if check_catalog(ctx, param, path) is None:
        return None
    assert path is not None
    ctx.with_resource(catalog_env(path))
    return path


def check_catalog(ctx: Any, param: Any, path: Path | None) -> Path | None:
    """A ``--catalog`` (else ``$TRNSIM_CATALOG``) is a directory whose every file is read
    (:func:`~trnsim.hardware.catalog_env.check_catalog_contents`); the option's value, unchanged."""
    if path is None:
        check_catalog_env()
        return None
    check_catalog_dir(path)
    if not path.is_dir():
        raise ConfigError(f"catalog directory '{path}' does not exist (given by --catalog); "
                          "give a directory that holds systems/, chips/ ...")
    check_catalog_contents(path, "--catalog")
    return path


def warn_if_huge(chips: int, what: str) -> None:
    """One warning line on stderr when ``chips`` exceeds any system built; the command goes on."""
    if chips > LARGEST_PLAUSIBLE_CHIPS:
        message = (f"{what}: {chips:,} chips is more than any system built (over "
                   f"{LARGEST_PLAUSIBLE_CHIPS:,}); estimating anyway")
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def warn_no_fp8_rate(precision: str, systems: list[Any]) -> None:
    """One warning line on stderr when an FP8 run includes systems whose chip has no FP8 rate in the
    catalog (A100, TPU v4/v5p): their GEMMs are timed at the BF16 rate (``ChipSpec.peak_flops``'s
    fallback), which would otherwise pass unsaid; the command goes on."""
    if str(precision) != "fp8":
        return
    lacking = [f"{s.name} ({s.chip.name})" for s in systems if s.chip.peak_flops_fp8 is None]
    if lacking:
        verb = "has" if len(lacking) == 1 else "have"
        message = (f"--precision fp8: {', '.join(lacking)} {verb} no FP8 rate in the catalog (no FP8 units): "
                   "FP8 runs at the BF16 rate there")
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def parse_count(text: str, what: str, example: str = "write e.g. 6.3T, 500B or 1e12") -> float:
    """``6.3T``, ``500B``, ``1e12`` or ``2_000_000`` as a positive number; a clear error otherwise."""
    match = re.fullmatch(r"\s*([+-]?)([0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([KMBGTP]?)\s*", text)
    if not match:
        raise ConfigError(f"{what} '{text}' is not a number; {example}")
    value = float(match.group(2).replace("_", "")) * _SUFFIX[match.group(3)]
    if not math.isfinite(value):
        raise ConfigError(f"{what} '{text}' is too large to be a finite number; {example}")
    if value <= 0 or match.group(1) == "-":
        raise ConfigError(f"{what} must be positive, got '{text}'; {example}")
    return value


def split_list(value: str, option: str, example: str, empty: str = "is empty") -> list[str]:
    """The comma-separated items of ``option``'s ``value``; an empty item ("trn2,,p5", a trailing comma)
    is an error, not a shorter list (a name was left out), as ``kernel profile --target``'s; ``empty``
    says what a list of no item is."""
    items = [item.strip() for item in value.split(",")]
    if not any(items):
        raise ConfigError(f"{option} {empty}; give e.g. {example}")
    if not all(items):
        raise ConfigError(f"{option} '{value}' has an empty item; give items separated by single commas, "
                          f"e.g. {example}")
    return items
