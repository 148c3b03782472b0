"""Network topologies as data: per-dimension links inside a scale-up domain, then a scale-out network.

A topology (ASTRA-sim style) is an ordered list of levels, innermost first:

* ``on_chip`` — between the ranks (NeuronCores) of one chip, when a chip holds several ranks;
* ``dimension`` entries — the scale-up domain (an instance, an UltraServer, a TPU slice, an NVLink
  domain), each a ring, torus, switch or fully connected dimension of ``size`` chips;
* ``scale_out`` — the switched network joining domains (EFA, InfiniBand, the data-centre network).

Each level carries its link bandwidth per direction and a per-hop latency, both converted to SI units
(bytes/s, seconds) once here. The files live in ``trnsim/hardware/data/topologies/*.toml``, each level
with its source; any value can be overridden in memory with dotted keys in the file's units
(``"dimension.0.hop_latency_us"``), or with a quantity string (``"500 ns"``), through the data-file
scheme of :mod:`trnsim.hardware.datafile`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.hardware.catalog import SystemSpec
from trnsim.hardware.datafile import DataKind, apply_overrides, normalise_units, overlay_token, read_toml

__all__ = [
    "LinkKind",
    "Reliability",
    "TopologyLevel",
    "TopologySpec",
    "check_domain_fits_nodes",
    "list_topologies",
    "load_topology",
    "load_topology_file",
    "topology_for_system",
]

_GIGA = 1e9
_MICRO = 1e-6


class LinkKind(StrEnum):
    """How the chips of one level are wired."""

    RING = "ring"
    TORUS = "torus"  # one dimension of a torus: a ring with wrap-around
    SWITCH = "switch"  # every chip one hop from every other through a switch
    FULL = "full"  # a direct link between every pair


class TopologyLevel(BaseModel):
    """One level of the hierarchy, in SI units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: LinkKind
    size: int = Field(ge=1, description="chips along this level (0 reserved for the unbounded scale-out)")
    link_bw_bytes_per_s: float = Field(gt=0, description="per link, per direction")
    links: int = Field(ge=1, description="parallel links to each neighbour (per chip for a switch)")
    hop_latency_s: float = Field(ge=0)
    bw_efficiency: float = Field(1.0, gt=0, le=1, description="fraction of the link rate collectives reach")
    source: str
    confidence: str = "documented"

    @property
    def is_ring_like(self) -> bool:
        """True for a ring or a torus dimension (neighbour links, multi-hop paths)."""
        return self.kind in (LinkKind.RING, LinkKind.TORUS)

    @property
    def chip_bw_bytes_per_s(self) -> float:
        """Usable bandwidth per direction on one neighbour link bundle (per chip for a switch)."""
        return self.link_bw_bytes_per_s * self.links * self.bw_efficiency


class Reliability(BaseModel):
    """Failure and checkpoint facts used by the goodput model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_rate_per_chip_hour: float = Field(ge=0)
    checkpoint_write_bytes_per_s_per_node: float = Field(gt=0)
    restart_s: float = Field(ge=0)
    source: str
    confidence: str = "documented"


class TopologySpec(BaseModel):
    """A system's network: optional on-chip level, scale-up dimensions, scale-out network."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    on_chip: TopologyLevel | None
    dimensions: tuple[TopologyLevel, ...]
    scale_out: TopologyLevel
    reliability: Reliability

    @property
    def chips_per_domain(self) -> int:
        """Chips in one scale-up domain (the product of the dimension sizes)."""
        product = 1
        for dim in self.dimensions:
            product *= dim.size
        return product


def _level(
    raw: Mapping[str, Any], where: str, *, scale_out: bool, node: _NodeNetwork | None = None
) -> TopologyLevel:
    """Convert one level from file units (GB/s, Gbit/s, microseconds) to SI units."""
    data = dict(raw)
    valid = _SCALE_OUT_KEYS if scale_out else _LEVEL_KEYS
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"topology {where}: unknown key '{unknown[0]}'; valid keys there: "
                          f"{', '.join(sorted(valid))}")
    try:
        if scale_out:
            # Scale-out bandwidth is quoted per instance/host and shared by its chips; a file that
            # omits it takes the system catalog's figure (one source of truth for that number).
            if "bandwidth_gbit_per_s" in data:
                if "chips_sharing" not in data:
                    # the bandwidth is quoted per instance/host or per chip: the file must say which
                    example = node.chips if node is not None else 8
                    raise ConfigError(
                        f"topology {where}: bandwidth_gbit_per_s needs chips_sharing, the number of chips "
                        f"that share that bandwidth (the chips of a node for a per-instance figure, 1 for "
                        f"a per-chip one); e.g. scale_out.chips_sharing={example} with the bandwidth")
                total_bytes_per_s = float(data.pop("bandwidth_gbit_per_s")) * _GIGA / 8
                chips_sharing = int(data.pop("chips_sharing"))
            elif node is not None:
                total_bytes_per_s, chips_sharing = node.bw_bytes_per_s, node.chips
                data.pop("chips_sharing", None)
            else:
                raise ConfigError(
                    f"topology {where}: no bandwidth_gbit_per_s and no system to take it from; "
                    "load it with topology_for_system() or set scale_out.bandwidth_gbit_per_s"
                )
            oversubscription = float(data.pop("oversubscription", 1.0))
            if chips_sharing < 1 or oversubscription < 1:
                raise ConfigError(
                    f"topology {where}: chips_sharing must be >= 1 and oversubscription >= 1, "
                    f"got {chips_sharing} and {oversubscription}"
                )
            data["link_bw_bytes_per_s"] = total_bytes_per_s / chips_sharing / oversubscription
            data["links"] = 1
            data["size"] = 1  # unbounded: the number of domains comes from the rank count
        else:
            data["link_bw_bytes_per_s"] = float(data.pop("link_bandwidth_gbytes_per_s")) * _GIGA
            data.setdefault("size", 1)
        data["hop_latency_s"] = float(data.pop("hop_latency_us")) * _MICRO
        return TopologyLevel(**data)
    except KeyError as missing:
        raise ConfigError(f"topology {where}: missing key {missing}") from None
    except (TypeError, ValueError) as error:
        first = error.errors()[0] if isinstance(error, ValidationError) else None
        detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first else str(error)
        raise ConfigError(f"topology {where}: {detail}") from None


#: The keys a level may have in a file (in the file's units; ``_level`` converts them).
_LEVEL_KEYS = frozenset({"name", "kind", "size", "link_bandwidth_gbytes_per_s", "links", "hop_latency_us",
                         "bw_efficiency", "source", "confidence"})
_SCALE_OUT_KEYS = frozenset({"name", "kind", "bandwidth_gbit_per_s", "chips_sharing", "oversubscription",
                             "hop_latency_us", "bw_efficiency", "source", "confidence"})


@dataclass(frozen=True)
class _NodeNetwork:
    """A system catalog's scale-out bandwidth per node and the chips sharing it."""

    bw_bytes_per_s: float
    chips: int


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Set dotted keys (``scale_out.hop_latency_us``, ``dimension.1.size``) in a copy of the raw file.

    Inside a section a new key may be added (e.g. a scale-out bandwidth the file leaves to the
    catalog); the section's schema rejects unknown ones. At the top level only existing keys.
    """
    data, _ = apply_overrides(raw, overrides, where=f"topology '{name}'", origin="override",
                              new_keys_from_depth=1)
    return data


def _parse(raw: Mapping[str, Any], origin: str, node: _NodeNetwork | None = None) -> TopologySpec:
    raw = normalise_units(raw, f"topology {origin}")
    try:
        dims_raw = raw["dimension"]
        if not dims_raw:
            raise ConfigError(f"topology {origin}: needs at least one [[dimension]]")
        dims = tuple(
            _level(d, f"{origin} dimension {i}", scale_out=False) for i, d in enumerate(dims_raw)
        )
        on_chip = _level(raw["on_chip"], f"{origin} on_chip", scale_out=False) if "on_chip" in raw else None
        scale_out = _level(raw["scale_out"], f"{origin} scale_out", scale_out=True, node=node)
        rel = dict(raw["reliability"])
        rel["checkpoint_write_bytes_per_s_per_node"] = (
            float(rel.pop("checkpoint_write_gbytes_per_s_per_node")) * _GIGA
        )
        return TopologySpec(
            name=raw["name"],
            description=raw["description"],
            on_chip=on_chip,
            dimensions=dims,
            scale_out=scale_out,
            reliability=Reliability(**rel),
        )
    except KeyError as missing:
        raise ConfigError(f"topology {origin}: missing key {missing}") from None
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"topology {origin}: {loc}: {first['msg']}") from None


def _data_dir() -> Path:
    return Path(str(resources.files("trnsim.hardware"))) / "data" / "topologies"


#: The bundled topologies; a user's own file comes through :func:`load_topology_file`.
TOPOLOGIES = DataKind("topologies", _data_dir(), user_files=False, new_keys_from_depth=1)


def list_topologies() -> list[str]:
    """Names of the bundled topologies."""
    return TOPOLOGIES.names()


@cache
def _topology_names() -> tuple[str, ...]:
    return tuple(list_topologies())


def _raw(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if name not in _topology_names():
        raise UnknownNameError("topology", name, list_topologies())
    return TOPOLOGIES.load(name, overrides=overrides).data


@cache
def _load_cached(name: str, node: _NodeNetwork | None, frozen: tuple[tuple[str, Any], ...],
                 token: int) -> TopologySpec:
    """One topology per (name, node network, overrides, in-memory overlay): parsed once."""
    return _parse(_raw(name, dict(frozen)), f"'{name}'", node)


def load_topology(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    node_scale_out_bw_bytes_per_s: float | None = None,
    chips_per_node: int | None = None,
) -> TopologySpec:
    """Load a bundled topology by name, with optional dotted-key overrides in file units.

    ``node_scale_out_bw_bytes_per_s`` and ``chips_per_node`` (from the system catalog) supply the
    scale-out bandwidth when the file does not give it.
    """
    node = None
    if node_scale_out_bw_bytes_per_s is not None and chips_per_node is not None:
        node = _NodeNetwork(node_scale_out_bw_bytes_per_s, chips_per_node)
    frozen = tuple(sorted(overrides.items())) if overrides else ()
    try:
        spec = _load_cached(name, node, frozen, overlay_token())
    except TypeError:  # an unhashable override value: parse without the memo
        spec = _parse(_raw(name, overrides), f"'{name}'", node)
    if chips_per_node is not None:
        check_domain_fits_nodes(spec, chips_per_node, f"topology '{name}'", overrides)
    return spec


def check_domain_fits_nodes(topology: TopologySpec, chips_per_node: int, where: str,
                            overrides: Mapping[str, Any] | None = None) -> None:
    """Refuse a scale-up domain that does not tile the system's nodes.

    Ranks are placed level by level (on-chip, each dimension, then scale-out), and node counts and
    scale-out bandwidth per chip come from the catalog's ``chips_per_node``: the two agree only if a
    domain is a whole number of nodes (one instance, an UltraServer, a TPU slice, an NVL72 rack), as
    every bundled topology's is. Otherwise a group's levels hold more ranks than the group (4 x 3 =
    12-chip domains on 16-chip nodes put a 64-rank group on 2 x 3 x 11 = 66 positions).
    """
    domain = topology.chips_per_domain
    if domain % chips_per_node == 0:
        return
    names = ", ".join(d.name for d in topology.dimensions)
    sizes = " x ".join(str(d.size) for d in topology.dimensions)
    changed = sorted(k for k in (overrides or {}) if k.endswith(".size"))
    after = f" (after {', '.join(changed)})" if changed else ""
    raise ConfigError(
        f"{where}: its scale-up dimensions ({names}) hold {sizes} = {domain} chips{after}, not whole "
        f"nodes of {chips_per_node} chips; give dimension sizes whose product is a multiple of "
        f"{chips_per_node}")


def topology_for_system(
    system: SystemSpec, name: str | None = None, overrides: Mapping[str, Any] | None = None
) -> TopologySpec:
    """The topology of a catalog system: the file named ``name`` (e.g. the alias the user typed)
    when one exists, else the file named after the system; scale-out bandwidth from the catalog
    unless the file gives its own."""
    chosen = name if name is not None and name in _topology_names() else system.name
    return load_topology(
        chosen,
        overrides,
        node_scale_out_bw_bytes_per_s=system.scale_out_bw_bytes_per_s,
        chips_per_node=system.chips_per_node,
    )


def load_topology_file(
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    node_scale_out_bw_bytes_per_s: float | None = None,
    chips_per_node: int | None = None,
) -> TopologySpec:
    """Load a user's topology file (same format as the bundled ones); given the system's scale-out
    bandwidth per node and chips per node, as :func:`load_topology` (a copy of a bundled file that
    leaves its bandwidth to the catalog then loads as the bundled one does)."""
    file = Path(path)
    raw = read_toml(file)
    if overrides:
        raw = _apply_overrides(raw, overrides, str(file))
    node = None
    if node_scale_out_bw_bytes_per_s is not None and chips_per_node is not None:
        node = _NodeNetwork(node_scale_out_bw_bytes_per_s, chips_per_node)
    spec = _parse(raw, f"'{file}'", node)
    if chips_per_node is not None:
        check_domain_fits_nodes(spec, chips_per_node, f"topology '{file}'", overrides)
    return spec
