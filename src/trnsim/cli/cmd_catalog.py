"""``trnsim catalog``: the chips, systems and models trnsim knows, with their sources.

``trnsim catalog chips|systems|models [--json PATH|-]`` lists them; ``trnsim catalog show NAME``
prints every field of a chip, system or model with the source, date and confidence of each value;
``trnsim catalog data KIND/NAME`` every number of any other data file (``efficiency/a100``,
``neuroncore_timing/trn2``, ``topologies/trn2``...) with its unit and source. A user catalog
directory (``--catalog`` or ``$TRNSIM_CATALOG``) adds or overrides entries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from trnsim.cli.apps import app
from trnsim.cli.checks import check_catalog, check_output_path, use_catalog
from trnsim.cli.output import write_output
from trnsim.errors import ConfigError, UnknownNameError

# The model layers load inside the commands that use them, so that start-up stays light.
if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.table import Table

    from trnsim.hardware.catalog import ChipSpec, SystemSpec
    from trnsim.hardware.datafile import DataKind

catalog_app = typer.Typer(help="List the chips, systems and models in the catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

_CatalogDir = Annotated[
    Path | None, typer.Option("--catalog", "--catalog-dir", callback=check_catalog,
                              help="A user catalog directory (else $TRNSIM_CATALOG); --catalog-dir: old name")
]
#: ``catalog data``'s: it also makes the directory $TRNSIM_CATALOG, through which the loaders of the
#: device-time files and serving.toml find the user's files (as every model command's --catalog does).
_DataCatalogDir = Annotated[
    Path | None, typer.Option("--catalog", "--catalog-dir", callback=use_catalog,
                              help="A user catalog directory (else $TRNSIM_CATALOG); --catalog-dir: old name")
]
#: Width of the tables in a file or pipe: the systems table's names, aliases and prices on one line each.
PIPE_WIDTH = 120

_Json = Annotated[Path | None, typer.Option(
    "--json", help="Write JSON to this file instead of a table (- for standard output).")]


def _whole(table: Table, *names: str) -> Table:
    """No cell cut short to "…" (rich's default when a table is wider than the terminal): every cell
    wraps, a word longer than its column folded onto the next line; the columns ``names`` (names,
    fields, keys: what a user types) do not wrap, and only a terminal too narrow even for them ends
    them in "…" (rich's fold would cut a cell that does not wrap without a mark)."""
    for column in table.columns:
        column.no_wrap = column.header in names
        column.overflow = "ellipsis" if column.no_wrap else "fold"
    return table


def _console() -> Console:
    """The terminal, or in a file or pipe $COLUMNS, else 120 columns (rich would lay the tables out
    for 80)."""
    probe = Console()
    return probe if probe.is_terminal or "COLUMNS" in os.environ else Console(width=PIPE_WIDTH)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "unknown"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G")):
        if isinstance(value, float) and value >= scale:
            return f"{value / scale:,.3g} {prefix}{unit}"
    return f"{value}{(' ' + unit) if unit else ''}"


@catalog_app.command("chips")
def chips(catalog_dir: _CatalogDir = None, as_json: _Json = None) -> None:
    """Every chip: peak FLOP/s, HBM, bandwidth, power."""
    from rich.table import Table

    from trnsim.hardware.catalog import list_chips, load_chip

    check_output_path(as_json, "--json")
    specs = [load_chip(n, catalog_dir) for n in list_chips(catalog_dir)]
    if as_json is not None:
        write_output(as_json, json.dumps([s.model_dump(mode="json") for s in specs], indent=1), "--json")
        return
    table = Table(title="chips")
    for col in ("name", "family", "BF16", "FP8", "HBM", "HBM BW", "power", "ranks/chip"):
        table.add_column(col)
    for s in specs:
        power = "unknown" if s.power_w is None else f"{s.power_w:.0f} W ({s.power_confidence})"
        fp8 = _fmt(s.peak_flops_fp8, "FLOPS") + (f" ({s.fp8_format})" if s.fp8_format else "")
        table.add_row(s.name, s.family.value, _fmt(s.peak_flops_bf16, "FLOPS"), fp8,
                      f"{s.hbm_bytes / 2**30:.0f} GiB",
                      _fmt(s.hbm_bw_bytes_per_s, "B/s"), power, str(s.ranks_per_chip()))
    _console().print(_whole(table, "name"))


@catalog_app.command("systems")
def systems(catalog_dir: _CatalogDir = None, as_json: _Json = None) -> None:
    """Every system (node): chips, ranks, price, scale-out bandwidth."""
    from rich.table import Table

    from trnsim.hardware.catalog import list_systems, load_system

    check_output_path(as_json, "--json")
    specs = [load_system(n, catalog_dir) for n in list_systems(catalog_dir)]
    if as_json is not None:
        write_output(as_json, json.dumps([s.model_dump(mode="json") for s in specs], indent=1), "--json")
        return
    table = Table(title="systems")
    for col in ("name", "aliases", "chip", "chips", "ranks", "USD/node-hour", "scale-out"):
        table.add_column(col)
    for s in specs:
        price = ("unknown" if s.price_usd_per_node_hour is None
                 else f"{s.price_usd_per_node_hour:.2f} ({s.price_date})")
        table.add_row(s.name, ", ".join(s.aliases), s.chip.name, str(s.chips_per_node), str(s.ranks_per_node),
                      price, _scale_out(s))
    _console().print(_whole(table, "name"))


def _scale_out(system: SystemSpec) -> str:
    """Scale-out bandwidth per node in bytes and bits (networks are quoted in Tbps), with its
    confidence unless published (the UltraServer's 12.8 Tbps is derived from its instances')."""
    bw = system.scale_out_bw_bytes_per_s
    if bw is None:
        return "unknown"
    provenance = system.sources.get("scale_out_bw_bytes_per_s")
    confidence = provenance.confidence.value if provenance else "no source"
    mark = "" if confidence == "published" else f", {confidence}"
    return f"{_fmt(bw, 'B/s')} ({bw * 8 / 1e12:g} Tbps{mark})"


@catalog_app.command("models")
def models(as_json: _Json = None) -> None:
    """Every built-in model preset: size, layers, experts, and how many notes (approximations)."""
    from rich.table import Table

    from trnsim.workload.models import list_models, load_model

    check_output_path(as_json, "--json")
    specs = [load_model(n) for n in list_models()]
    if as_json is not None:
        write_output(as_json, json.dumps([{**m.model_dump(mode="json"), "n_params": m.n_params(),
                                           "n_active_params": m.n_active_params()} for m in specs], indent=1),
                     "--json")
        return
    table = Table(title="models")
    columns = ("name", "family", "params", "active", "layers", "hidden", "heads/kv", "experts", "notes")
    for col in columns:
        table.add_column(col)
    for m in specs:
        experts = f"{m.num_experts} (top-{m.experts_per_token})" if m.is_moe else "-"
        table.add_row(m.name, m.family, f"{m.n_params() / 1e9:.1f} B", f"{m.n_active_params() / 1e9:.1f} B",
                      str(m.num_layers), str(m.hidden_size), f"{m.num_heads}/{m.num_kv_heads}", experts,
                      str(len(m.notes)))
    _console().print(_whole(table, "name"))


def _show_spec(spec: ChipSpec | SystemSpec) -> Table:
    from rich.table import Table

    table = Table(title=f"{spec.display_name} ({spec.name})")
    for col in ("field", "value", "source", "date", "confidence", "note"):
        table.add_column(col)
    for key, value in spec.model_dump().items():
        if key in ("sources", "chip"):
            continue
        prov = spec.sources.get(key)
        table.add_row(key, str(value), prov.source if prov else "", (prov.date or "") if prov else "",
                      prov.confidence.value if prov else "", (prov.note or "") if prov else "")
    return _whole(table, "field")


@catalog_app.command("show")
def show(name: Annotated[str, typer.Argument(help="A chip, system (or alias) or model name.")],
         catalog_dir: _CatalogDir = None) -> None:
    """Every field of one chip, system or model, with the source of each value."""
    from trnsim.hardware.catalog import list_chips, list_systems, load_chip, load_system
    from trnsim.workload.models import list_models, load_model

    console = _console()
    if name in list_models():
        model = load_model(name)
        console.print_json(json.dumps({**model.model_dump(mode="json"), "n_params": model.n_params(),
                                       "n_active_params": model.n_active_params()}))
        return
    try:
        system = load_system(name, catalog_dir)
    except UnknownNameError:
        try:
            chip = load_chip(name, catalog_dir)
        except UnknownNameError:
            # a system is often named after its chip (trn2, b200): list each name once
            known = sorted({*list_chips(catalog_dir), *list_systems(catalog_dir), *list_models()})
            raise UnknownNameError("chip, system or model", name, known) from None
        console.print(_show_spec(chip))
        return
    console.print(_show_spec(system))
    console.print(_show_spec(system.chip))


def _data_kinds() -> dict[str, tuple[DataKind, Callable[[str, Path | None], object]]]:
    """Every kind of data file besides the catalog's chips and systems, by folder, with the loader
    the model reads it with: ``catalog data`` shows a file only once that loader accepts it, so that
    a file `estimate` refuses is refused here with the same message."""
    from trnsim.cluster.topology import TOPOLOGIES
    from trnsim.devicetime.efficiency import EFFICIENCY, EfficiencyCurves
    from trnsim.devicetime.fusion import FUSION, FusionRules
    from trnsim.devicetime.param_passes import PARAM_PASSES, ParamPasses
    from trnsim.devicetime.trainium_scale import TRAINIUM_SCALE, TrainiumScale
    from trnsim.hardware.neuroncore import NEURONCORE, load_neuroncore
    from trnsim.hardware.neuroncore_timing import TIMING, load_timing
    from trnsim.serve.params import SERVING, load_serving_params

    def schema(kind: DataKind, model: type[BaseModel]) -> Callable[[str, Path | None], object]:
        return lambda name, catalog_dir: kind.load_model(name, model, catalog_dir)

    return {
        EFFICIENCY.folder: (EFFICIENCY, schema(EFFICIENCY, EfficiencyCurves)),
        FUSION.folder: (FUSION, schema(FUSION, FusionRules)),
        PARAM_PASSES.folder: (PARAM_PASSES, schema(PARAM_PASSES, ParamPasses)),
        TRAINIUM_SCALE.folder: (TRAINIUM_SCALE, schema(TRAINIUM_SCALE, TrainiumScale)),
        TIMING.folder: (TIMING, lambda name, _: load_timing(name)),
        NEURONCORE.folder: (NEURONCORE, lambda name, _: load_neuroncore(name)),
        TOPOLOGIES.folder: (TOPOLOGIES, _check_topology),
        # serving.toml is found through $TRNSIM_CATALOG, which --catalog sets (use_catalog)
        SERVING.folder: (SERVING, lambda name, _: load_serving_params()),
    }


def _check_topology(name: str, catalog_dir: Path | None) -> object:
    """Load topology ``name`` as the model does: a system's topology takes the scale-out bandwidth
    its file leaves out from the system's catalog entry."""
    from trnsim.cluster.topology import load_topology, topology_for_system
    from trnsim.hardware.catalog import load_system

    try:
        system = load_system(name, catalog_dir)  # a name or an alias (dgx-a100 is p4d's)
    except UnknownNameError:
        return load_topology(name)
    return topology_for_system(system, name)


@catalog_app.command("data")
def data(file: Annotated[str, typer.Argument(
             help="KIND/NAME of a data file, e.g. efficiency/a100, neuroncore_timing/trn2, topologies/trn2, "
                  "serving/serving.")],
         catalog_dir: _DataCatalogDir = None, as_json: _Json = None) -> None:
    """Every number of one data file (with the user's overrides) with its unit and source."""
    from rich.table import Table

    from trnsim.hardware.datafile import value_sources

    check_output_path(as_json, "--json")
    kinds = _data_kinds()
    folder, _, name = file.partition("/")
    if folder in ("chips", "systems"):  # catalog entries, shown with their sources by `catalog show`
        raise ConfigError(f"'{file}' is a catalog entry, not a data file: `trnsim catalog show "
                          f"{name or 'NAME'}` lists its fields with their sources")
    if folder not in kinds:
        raise UnknownNameError("data-file kind", folder, [*kinds, "chips (trnsim catalog show)",
                                                          "systems (trnsim catalog show)"])
    kind, check = kinds[folder]
    names = kind.names()
    if name not in names and kind.user_file(name, catalog_dir) is None:
        raise UnknownNameError(f"{folder} file", name, names)
    check(name, catalog_dir)  # refuse a file the model would refuse, with the model's message
    values = value_sources(kind.load(name, catalog_dir))
    if as_json is not None:
        rows = [{"key": v.key, "value": v.value, "unit": v.unit, "source": v.source,
                 "confidence": v.confidence} for v in values]
        write_output(as_json, json.dumps(rows, indent=1), "--json")
        return
    table = Table(title=file)
    for col in ("key", "value", "unit", "source", "confidence"):
        table.add_column(col)
    for v in values:
        table.add_row(v.key, str(v.value), v.unit, v.source, v.confidence or "")
    _console().print(_whole(table, "key"))
