"""One scheme for every TOML data file: read once, each value's source and unit, overrides.

Every hardware or model number trnsim uses lives in a TOML data file of one *kind* (a folder):
``chips``, ``systems``, ``neuroncore``, ``neuroncore_timing``, ``topologies`` (under
``hardware/data/``), ``efficiency``, ``fusion``, ``param_passes``, ``trainium_scale``
(``devicetime/data/``) and ``serving`` (``serve/data/serving.toml``). Each loader declares its
kind with :class:`DataKind` and gets the same four things from this module:

* **reading**: :func:`read_toml` parses a file once per (path, modification time); a file that is
  not TOML is one :class:`ConfigError` line naming the file.
* **provenance**: a value's source is, in this order, its own table (``{ value = ..., source =
  "..." }``), an entry of a ``[sources]`` table of the enclosing table, the ``source`` of the
  nearest enclosing table, the file's top-level ``source``; for a user file or an in-memory
  override, that file or override (:func:`value_sources`).
* **units**: a value's unit is written in its key (``_bytes_per_s``, ``_gbytes_per_s``, ``_us``,
  ``_hz``...) or in a quantity string (``"96 GiB"``, ``"2.9 TB/s"``) that is converted once, at
  load, to the key's unit; a unit of the wrong kind is one line naming file, key and the valid
  units (:func:`unit_of`, :func:`normalise_units`).
* **overrides**: a user file of the same kind and name in ``$TRNSIM_CATALOG/<kind>/`` (or
  ``--catalog``) is merged over the shipped one key by key, or replaces it where the kind says so;
  an in-memory mapping (``{"efficiency/a100": {"calibration_scale": 0.9}}``, dotted keys or nested
  tables) is applied on top, for the duration of :func:`overlay` or passed to a loader directly,
  so a what-if never writes a temporary file. An override of a key the file does not have is one
  line naming the file, the key and the valid keys.

Validation with pydantic (where a kind is validated) goes through :func:`validate`, which turns
the first error into the same one line; pydantic is imported only then, so ``import trnsim.cli``
stays light.
"""

from __future__ import annotations

import copy
import difflib
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from trnsim.errors import ConfigError
from trnsim.hardware.catalog_env import CATALOG_ENV
from trnsim.hardware.units import QuantityKind, parse_quantity

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "CATALOG_ENV",
    "DataKind",
    "DataTree",
    "ShippedMemo",
    "ValueSource",
    "apply_overrides",
    "check_catalog_environment",
    "normalise_units",
    "on_data_change",
    "overlay",
    "overlay_for",
    "overlay_token",
    "overlays_of",
    "read_toml",
    "unit_of",
    "user_dir",
    "validate",
    "value_sources",
]


#: Keys of a value's own provenance table.
PROVENANCE_KEYS = ("value", "source", "date", "confidence", "note")

Model = TypeVar("Model", bound="BaseModel")


# ---------------------------------------------------------------------------------------------- reading


@lru_cache(maxsize=128)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read TOML: {error}") from None


def read_toml(path: Path | str) -> dict[str, Any]:
    """The parsed file (a fresh copy the caller may change); parsed once per version (modification
    time and size: an edit within one tick of the file-system clock that keeps the size is missed)."""
    file = Path(path)
    try:
        stat = file.stat()
    except FileNotFoundError:
        raise ConfigError(f"data file '{file}' does not exist") from None
    except OSError as error:
        raise ConfigError(f"{file}: cannot read data file: {error.strerror}") from None
    return copy.deepcopy(_parsed(file, stat.st_mtime_ns, stat.st_size))


def user_dir(catalog_dir: str | Path | None = None) -> Path | None:
    """The user catalog directory: ``catalog_dir`` if given, else ``$TRNSIM_CATALOG`` (or none)."""
    chosen = catalog_dir if catalog_dir is not None else os.environ.get(CATALOG_ENV)
    return Path(chosen) if chosen else None


# ---------------------------------------------------------------------------------------------- overrides


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested override tables as dotted keys; a table with ``value`` is one (sourced) value."""
    flat: dict[str, Any] = {}
    for key, val in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(val, Mapping) and "value" not in val and val:
            flat.update(_flatten(val, dotted))
        else:
            flat[dotted] = val
    return flat


def _valid_here(node: Any) -> str:
    if isinstance(node, list):
        return f"an index 0..{len(node) - 1}"
    keys = [k for k in node if k not in ("source", "sources", "date", "confidence", "note")]
    return ", ".join(sorted(keys)) or "(none)"


def _suggest(key: str, node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    close = difflib.get_close_matches(key, [str(k) for k in node], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def apply_overrides(
    data: Mapping[str, Any],
    overrides: Mapping[str, Any],
    *,
    where: str,
    origin: str,
    confidence: str | None = None,
    new_keys_from_depth: int | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` with ``overrides`` (dotted keys or nested tables) applied, and what each came from.

    A value written as a provenance table keeps that shape: a plain override replaces its
    ``value`` and its ``source`` becomes ``origin`` (and ``confidence`` when given). Lists are
    indexed by number (``dimension.0.size``). A key the file does not have is refused with one
    line naming ``where``, the key and the valid keys, unless ``new_keys_from_depth`` allows new
    keys at that nesting depth or deeper (0: anywhere; the schema then checks them, e.g. an
    optional field the file leaves at its default). Returns the new tree and the
    dotted keys overridden, each with ``origin``.
    """
    tree = copy.deepcopy(dict(data))
    changed: dict[str, str] = {}
    for dotted, value in _flatten(overrides).items():
        parts = dotted.split(".")
        node: Any = tree
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                key: Any = int(part)
            elif isinstance(node, dict) and (part in node or (last and new_keys_from_depth is not None
                                                                  and depth >= new_keys_from_depth)):
                key = part
            else:
                valid = _valid_here(node) if isinstance(node, dict | list) else "(none: a value)"
                # the override's own file (a --timing file, a what-if) is where the user can fix it
                given = f"; the key is from {origin}" if origin != "override" and where not in origin else ""
                raise ConfigError(f"{where}: override key '{dotted}' does not exist; valid keys there: "
                                  f"{valid}{_suggest(part, node)}{given}")
            if last:
                old = node[key] if isinstance(node, list) or key in node else None
                if isinstance(old, dict) and "value" in old:
                    if isinstance(value, Mapping) and "value" in value:
                        node[key] = {"source": old.get("source", origin), **value}
                    else:
                        node[key] = {"value": value, "source": origin,
                                     **({"confidence": confidence} if confidence else {})}
                elif isinstance(old, dict) and not isinstance(value, Mapping):
                    raise ConfigError(f"{where}: override key '{dotted}' names a table, not a value; "
                                      f"valid keys there: {_valid_here(old)}")
                else:
                    node[key] = value
            else:
                node = node[key]
        changed[dotted] = origin
    return tree, changed


# In-memory overrides in force (innermost last), and a token that names the current set so
# memoised loads can key on it.
_OVERLAYS: list[tuple[Mapping[str, Mapping[str, Any]], str]] = []
_TOKENS: list[int] = [0]
_NEXT_TOKEN = [0]

# Caches above the loaders (the cluster's step caches, devicetime's op memo) hold results computed
# from data files; they register here and are cleared whenever the data in force changes: on
# entering or leaving an overlay, and when $TRNSIM_CATALOG names another directory.
_INVALIDATORS: list[Callable[[], None]] = []
_SEEN_CATALOG: list[str | None] = [os.environ.get(CATALOG_ENV)]


def on_data_change(callback: Callable[[], None]) -> Callable[[], None]:
    """Register ``callback`` (a cache's clear function) to run whenever the data in force changes."""
    _INVALIDATORS.append(callback)
    return callback


def _data_changed() -> None:
    for callback in _INVALIDATORS:
        callback()


def check_catalog_environment() -> None:
    """Clear the registered caches if ``$TRNSIM_CATALOG`` changed since the last call (one lookup)."""
    current = os.environ.get(CATALOG_ENV)
    if current != _SEEN_CATALOG[0]:
        _SEEN_CATALOG[0] = current
        _data_changed()


@contextmanager
def overlay(overrides: Mapping[str, Mapping[str, Any]], origin: str) -> Iterator[None]:
    """Within the block, every load of ``"<kind>/<name>"`` applies ``overrides[...]`` in memory.

    ``overrides`` maps a file (``"efficiency/a100"``) to its overridden keys; ``origin`` is
    recorded as the source of every value changed. Loaders key their memos on
    :func:`overlay_token`, so no file loaded outside the block is reused inside it or after; caches
    above the loaders registered with :func:`on_data_change` are cleared on the way in and out. A
    catalog override changes the catalog objects themselves.
    """
    _OVERLAYS.append((overrides, origin))
    _NEXT_TOKEN[0] += 1
    _TOKENS.append(_NEXT_TOKEN[0])
    _data_changed()
    try:
        yield
    finally:
        _OVERLAYS.pop()
        _TOKENS.pop()
        _data_changed()


def overlay_token() -> int:
    """A number naming the in-memory overrides in force (0: none)."""
    return _TOKENS[-1]


def overlays_of(kind: str) -> list[tuple[str, Mapping[str, Any], str]]:
    """Every in-memory override in force for files of ``kind``: (name, overrides, origin)."""
    prefix = f"{kind}/"
    return [(file[len(prefix):], table, origin) for layer, origin in _OVERLAYS
            for file, table in layer.items() if file.startswith(prefix)]


def overlay_for(kind: str, name: str) -> list[tuple[Mapping[str, Any], str]]:
    """The in-memory overrides in force for file ``<kind>/<name>``, outermost first, with origins."""
    file = f"{kind}/{name}"
    return [(layer[file], origin) for layer, origin in _OVERLAYS if file in layer]


# ---------------------------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class DataTree:
    """A data file as loaded: the merged tree, the files it came from, what overrides changed."""

    data: dict[str, Any]
    files: tuple[str, ...]
    #: Dotted key → where its overriding value came from (a user file, an in-memory override).
    overridden: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DataKind:
    """One kind of data file: its folder name, where the shipped files are, how user files apply.

    ``merge``: a user file overrides the shipped one key by key (True), or replaces it whole
    (False: the kind's files are complete descriptions, e.g. an efficiency curve set).
    ``new_keys_from_depth``: an override may add a key at this depth or deeper (0: anywhere, for
    kinds a schema validates; 1: inside an existing table; None: never).
    ``override_confidence``: the confidence recorded on a provenance table an override changes.
    ``user_subdir``: where user files of this kind live under the catalog directory (default: the
    folder; ``""``: the catalog directory itself, as for ``serving.toml``).
    ``user_files``: whether ``<catalog>/<folder>/`` files apply (False where a derived artefact
    depends on the shipped file alone, e.g. the NeuronCore timing the op tables were made with:
    such a kind takes overrides only through an explicit argument that the caller tracks).
    """

    folder: str
    shipped: Path
    merge: bool = True
    new_keys_from_depth: int | None = None
    override_confidence: str | None = None
    user_files: bool = True
    user_subdir: str | None = None

    def shipped_file(self, name: str) -> Path:
        return self.shipped / f"{name}.toml"

    def user_file(self, name: str, catalog_dir: str | Path | None = None) -> Path | None:
        """``<catalog>/<folder>/<name>.toml`` when it exists."""
        base = user_dir(catalog_dir) if self.user_files else None
        sub = self.folder if self.user_subdir is None else self.user_subdir
        path = base / sub / f"{name}.toml" if base is not None else None
        return path if path is not None and path.is_file() else None

    def names(self) -> list[str]:
        """Names of the shipped files of this kind."""
        return sorted(p.stem for p in self.shipped.glob("*.toml"))

    def exists(self, name: str, catalog_dir: str | Path | None = None) -> bool:
        """Whether a shipped or user file of this name exists."""
        return self.shipped_file(name).is_file() or self.user_file(name, catalog_dir) is not None

    def load(
        self,
        name: str,
        catalog_dir: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        origin: str = "override",
    ) -> DataTree:
        """The file ``name`` with the user file, the :func:`overlay` in force and ``overrides``."""
        shipped = self.shipped_file(name)
        user = self.user_file(name, catalog_dir)
        files: tuple[str, ...] = ()
        overridden: dict[str, str] = {}
        if user is not None and (not self.merge or not shipped.is_file()):
            data, files = read_toml(user), (str(user),)
        elif shipped.is_file():
            data, files = read_toml(shipped), (str(shipped),)
            if user is not None:
                data, changed = self._apply(data, read_toml(user), user, f"user file {user}")
                files += (str(user),)
                overridden.update(changed)
        else:
            raise ConfigError(f"no {self.folder} data file '{name}'; shipped: {', '.join(self.names())}")
        layers = [*overlay_for(self.folder, name), *([(overrides, origin)] if overrides else [])]
        for layer, layer_origin in layers:
            data, changed = self._apply(data, layer, Path(files[-1]), layer_origin)
            overridden.update(changed)
        return DataTree(data, files, overridden)

    def load_model(
        self,
        name: str,
        model: type[Model],
        catalog_dir: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        origin: str = "override",
    ) -> Model:
        """:meth:`load` with quantity strings converted (:func:`normalise_units`), validated as
        ``model`` (:func:`validate`)."""
        tree = self.load(name, catalog_dir, overrides, origin)
        where = tree.files[-1]
        return validate(normalise_units(tree.data, where), model, where)

    def _apply(self, data: dict[str, Any], layer: Mapping[str, Any], file: Path,
               origin: str) -> tuple[dict[str, Any], dict[str, str]]:
        return apply_overrides(data, layer, where=str(file), origin=origin,
                               confidence=self.override_confidence,
                               new_keys_from_depth=self.new_keys_from_depth)


# ---------------------------------------------------------------------------------------------- provenance


@dataclass(frozen=True)
class ValueSource:
    """Where one value of a data file comes from, and its unit."""

    key: str
    value: Any
    source: str
    unit: str
    confidence: str | None = None


def value_sources(tree: DataTree | Mapping[str, Any]) -> list[ValueSource]:
    """Every number (or list of numbers) of a data file with its source and unit (see the module doc)."""
    data = tree.data if isinstance(tree, DataTree) else tree
    overridden = tree.overridden if isinstance(tree, DataTree) else {}
    out: list[ValueSource] = []

    def walk(node: Mapping[str, Any], prefix: str, inherited: tuple[str, str | None]) -> None:
        own = node.get("source")
        here = (str(own), _str_or_none(node.get("confidence"))) if isinstance(own, str) else inherited
        table = node.get("sources")
        named: Mapping[str, Any] = table if isinstance(table, Mapping) else {}
        for key, val in node.items():
            if key in ("source", "sources", "date", "confidence", "note"):
                continue
            dotted = f"{prefix}.{key}" if prefix else key
            if isinstance(val, Mapping) and "value" in val:
                # an override of a value table writes its source into the table itself
                src = str(val.get("source") or overridden.get(dotted) or here[0])
                out.append(ValueSource(dotted, val["value"], src, unit_of(key, val["value"]),
                                       _str_or_none(val.get("confidence", here[1]))))
            elif isinstance(val, Mapping):
                walk(val, dotted, here)
            elif isinstance(val, list) and val and all(isinstance(v, Mapping) for v in val):
                for i, item in enumerate(val):
                    walk(item, f"{dotted}.{i}", here)
            elif _is_number(val) or (isinstance(val, list) and val and all(_is_number(v) for v in val)):
                src = overridden.get(dotted) or (str(named[key]) if key in named else here[0])
                out.append(ValueSource(dotted, val, src, unit_of(key, val), here[1]))

    walk(data, "", ("", None))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------- units

#: Unit suffixes of keys, longest first: (suffix, unit shown, quantity kind, factor of the key's
#: unit in the kind's base unit). A quantity string in such a key is converted to the key's unit.
_SUFFIXES: tuple[tuple[str, str, QuantityKind | None, float], ...] = (
    ("_gbytes_per_s_per_node", "GB/s", QuantityKind.BYTES_PER_S, 1e9),
    ("_gbytes_per_s", "GB/s", QuantityKind.BYTES_PER_S, 1e9),
    ("_gbit_per_s", "Gbit/s", QuantityKind.BYTES_PER_S, 1e9 / 8),
    ("_bytes_per_s", "B/s", QuantityKind.BYTES_PER_S, 1.0),
    ("_bytes_per_partition", "B", QuantityKind.BYTES, 1.0),
    ("_bytes", "B", QuantityKind.BYTES, 1.0),
    ("_flops_per_s", "FLOP/s", QuantityKind.FLOPS, 1.0),
    ("_usd_per_node_hour", "USD/h", QuantityKind.USD_PER_HOUR, 1.0),
    ("_per_chip_hour", "1/h", None, 1.0),
    ("_hz", "Hz", QuantityKind.FREQUENCY, 1.0),
    ("_us", "us", QuantityKind.TIME, 1e-6),
    ("_ns", "ns", QuantityKind.TIME, 1e-9),
    ("_s", "s", QuantityKind.TIME, 1.0),
    ("_w", "W", QuantityKind.WATTS, 1.0),
    ("_cycles", "cycles", None, 1.0),
)


def _suffix(key: str) -> tuple[str, str, QuantityKind | None, float] | None:
    for entry in _SUFFIXES:
        if key.endswith(entry[0]):
            return entry
    if key.startswith("peak_flops"):
        return ("", "FLOP/s", QuantityKind.FLOPS, 1.0)
    return None


def unit_of(key: str, value: Any = None) -> str:
    """The unit of ``key``'s value: from a quantity string's own unit, else the key's suffix
    ('1' for a dimensionless number: a fraction, a count, a factor)."""
    if isinstance(value, str):
        parts = value.split()
        if len(parts) == 2:
            return parts[1]
    entry = _suffix(key)
    return entry[1] if entry else "1"


def normalise_units(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``data`` with every quantity string (``hop_latency_us = "500 ns"``) in a unit-suffixed key
    converted to the key's unit (0.5); a wrong unit is one line naming ``where``, the key and the
    valid units. Numbers pass unchanged."""
    return {k: _fix_units(str(k), v, str(k), where) for k, v in data.items()}


def _fix_units(key: str, value: Any, dotted: str, where: str) -> Any:
    """:func:`normalise_units` of one value under ``key`` (a module function: a recursive
    closure is a reference cycle, left for the cyclic collector at every call)."""
    if isinstance(value, Mapping):
        if "value" in value:
            return {**value, "value": _fix_units(key, value["value"], dotted, where)}
        return {k: _fix_units(str(k), v, f"{dotted}.{k}", where) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_units(key, v, f"{dotted}.{i}", where) if isinstance(v, Mapping) else v
                for i, v in enumerate(value)]
    entry = _suffix(key)
    if not isinstance(value, str) or entry is None or entry[2] is None:
        return value
    base = parse_quantity(value, entry[2], f"{where}: key '{dotted}'")
    return base / entry[3]


# ---------------------------------------------------------------------------------------------- validation


def validate(data: Mapping[str, Any], model: type[Model], where: str) -> Model:
    """``data`` as ``model``; the first problem is one :class:`ConfigError` line naming ``where``,
    the key, and (for an unknown key) the valid ones."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        if not loc:  # a check across fields
            raise ConfigError(f"{where}: {first['msg']}") from None
        if first["type"] == "extra_forbidden":
            valid = _fields_at(model, first["loc"][:-1])
            hint = f"; valid keys there: {', '.join(valid)}" if valid else ""
            raise ConfigError(f"{where}: unknown key '{loc}'{hint}") from None
        if first["type"] == "missing":
            raise ConfigError(f"{where}: missing key '{loc}'") from None
        raise ConfigError(f"{where}: key '{loc}': {first['msg']}") from None


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the (sub)model at ``loc`` (best effort: [] where it cannot tell)."""
    from pydantic import BaseModel

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            nested = [a for c in candidates for a in getattr(c, "__args__", ())]
            nxt = next((c for c in nested if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            return []
        current = nxt
    return sorted(getattr(current, "model_fields", {}))


Made = TypeVar("Made")


class ShippedMemo(Generic[Made]):
    """What a loader makes of a shipped data file loaded without overrides (``make(name)``), kept
    per version of the file (modification time and size) and of the overlay in force, and cleared
    whenever the data in force changes: a kernel launch asks for its target's files each time, and
    loading and validating one costs 0.07-0.75 ms. What ``make`` returns is shared: it must be
    immutable (a frozen model). ``kind`` gives the files' kind, read at each call (a module's kind
    may be swapped, as tests do with another folder)."""

    def __init__(self, kind: Callable[[], DataKind], make: Callable[[str], Made]) -> None:
        self._kind = kind
        self._make = make
        self._made: dict[tuple[str, int, int, int], Made] = {}
        self._files: dict[tuple[Path, str], str] = {}  # each shipped file's path, by (folder, name)
        on_data_change(self._made.clear)

    def __call__(self, name: str) -> Made:
        """The shipped file ``name`` with the overlay in force, made once per version of both."""
        kind = self._kind()
        file = self._files.get((kind.shipped, name))
        if file is None:
            file = self._files[kind.shipped, name] = str(kind.shipped_file(name))
        try:
            stat = os.stat(file)
        except OSError:  # no such file: ``make`` names the problem
            return self._make(name)
        key = (name, overlay_token(), stat.st_mtime_ns, stat.st_size)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = self._make(name)
        return made
