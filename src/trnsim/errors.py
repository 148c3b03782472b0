"""Errors trnsim reports to a person: one clear line each, never a traceback.

Every error a user can cause (a bad config file, an unknown model, an impossible parallel plan,
a kernel that breaks a hardware rule) derives from :class:`TrnsimError`. The CLI prints
``str(error)`` on one line and exits with the error's ``exit_status``: 2 for bad input, 3 when the
input is valid but no feasible plan exists.
"""

from __future__ import annotations


class TrnsimError(Exception):
    """Base of every user-facing error: its message is complete on one line."""

    #: The CLI's exit status for this error (2: the input is wrong).
    exit_status: int = 2


class ConfigError(TrnsimError):
    """A data or config file, or a command-line value, is malformed or inconsistent."""


class UnknownNameError(ConfigError):
    """A named model, chip, system or kernel does not exist; the message lists what does."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        shown = ", ".join(sorted(known)) if known else "(none)"
        super().__init__(f"unknown {kind} '{name}'; known: {shown}")
        self.kind = kind
        self.name = name
        self.known = tuple(known)
