"""The rule that a list of systems names each system once (an alias counts as the system it names).

Standard library only: the CLI checks ``--systems`` with it at start-up, the API its ``systems``.
"""

from __future__ import annotations

from trnsim.errors import ConfigError

__all__ = ["check_distinct_systems"]


def check_distinct_systems(given: list[str], resolved: list[str], option: str = "--systems") -> None:
    """Each system once: a repeat (or an alias of one given) doubled its rows and its searches.

    ``given`` are the names as the user wrote them, ``resolved`` the catalog names they stand for
    (same order); ``option`` is how the user gave the list (``--systems`` or ``systems``)."""
    for i, name in enumerate(resolved):
        if name in resolved[:i]:
            first = given[resolved.index(name)]
            same = f"'{given[i]}' and '{first}' are both {name}" if given[i] != first else f"'{name}' twice"
            raise ConfigError(f"{option} names {same}; give each system once")
