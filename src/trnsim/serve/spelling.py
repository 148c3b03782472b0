"""How the user named an input of a serving request: a CLI option or an API argument.

The serving checks (:mod:`trnsim.serve.inputs`, :class:`~trnsim.serve.ServeConfig`) say what is wrong
in the words the user wrote: ``--chips 3`` for ``trnsim serve``, ``chips=3`` for ``trnsim.serve``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["API", "CLI", "Spelling"]


@dataclass(frozen=True)
class Spelling:
    """How the user named an input: a CLI option (``--input-tokens``) or an API argument
    (``input_tokens``)."""

    cli: bool

    def name(self, key: str) -> str:
        """``input_tokens`` as ``--input-tokens`` (CLI) or ``input_tokens`` (API)."""
        return "--" + key.replace("_", "-") if self.cli else key

    def given(self, key: str, value: object) -> str:
        """A value as the user gave it: ``--chips 3`` or ``chips=3``."""
        return f"{self.name(key)} {value}" if self.cli else f"{key}={value}"

    def keyword(self, key: str) -> str:
        """The input in a list of choices: ``--chips`` or ``chips=``."""
        return self.name(key) if self.cli else f"{key}="


CLI = Spelling(cli=True)
API = Spelling(cli=False)
