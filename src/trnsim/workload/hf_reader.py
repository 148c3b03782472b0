"""Typed access to a Hugging Face ``config.json`` dict: family defaults, aliases, clear errors.

A :class:`HfReader` looks a key up in the file first and then in the family's class defaults
(transformers fills absent keys from them, and sub-configs such as Gemma 3's ``text_config``
often list only what differs). It remembers which keys it read, so the generic reader can say
which fields it ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trnsim.errors import ConfigError

__all__ = ["HfReader"]


class HfReader:
    """Typed access to a config dict, naming the file and key in every error."""

    def __init__(self, data: Mapping[str, Any], where: str,
                 defaults: Mapping[str, Any] | None = None) -> None:
        self.data = data
        self.where = where
        self.defaults = defaults or {}
        self.used: set[str] = set()

    def raw(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (file, then family default, then ``default``)."""
        self.used.add(key)
        value = self.data.get(key)
        if value is None:
            value = self.defaults.get(key)
        return default if value is None else value

    def has(self, key: str) -> bool:
        """True when the file itself sets ``key`` to a non-null value."""
        return self.data.get(key) is not None

    def integer(self, *keys: str, default: int | None = None, minimum: int | None = None) -> int:
        """The first of ``keys`` that is set (aliases in order), as a whole number."""
        # Every alias in the file first, then the family defaults: an old file's ``n_embed``
        # must win over the class default of ``hidden_size``.
        self.used.update(keys)
        found = [(k, self.data.get(k)) for k in keys] + [(k, self.defaults.get(k)) for k in keys]
        for key, value in found:
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ConfigError(f"{self.where}: '{key}' must be a whole number, got {value!r}")
                if minimum is not None and value < minimum:
                    raise ConfigError(f"{self.where}: '{key}' must be at least {minimum}, got {value}")
                return value
        if default is None:
            raise ConfigError(f"{self.where}: missing '{keys[0]}'")
        return default

    def opt_int(self, key: str) -> int | None:
        """``key`` as a whole number, or None when absent, null or 0."""
        return self.integer(key, default=0) or None

    def number(self, key: str, default: float = 0.0) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.where}: '{key}' must be a number, got {value!r}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where}: '{key}' must be true or false, got {value!r}")
        return value

    def int_list(self, key: str) -> list[int]:
        value = self.raw(key, [])
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                   for v in value):
            raise ConfigError(f"{self.where}: '{key}' must be a list of whole numbers, got {value!r}")
        return value

    def sub(self, key: str, defaults: Mapping[str, Any] | None = None) -> HfReader:
        """A reader over the nested object ``key`` (DBRX's ``attn_config``, ``ffn_config``)."""
        value = self.raw(key, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self.where}: '{key}' must be an object, got {value!r}")
        return HfReader(value, f"{self.where}: {key}", defaults)
