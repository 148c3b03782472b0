"""``trnsim plan``, ``trnsim compare`` and ``trnsim sweep``: the planner's commands.

Input parsing, progress bars and file writing live here; the planning itself is in
:mod:`trnsim.plan` and the renderings in :mod:`trnsim.report`.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from trnsim.cli.apps import app
from trnsim.cli.checks import (
    check_catalog_dir,
    check_chip_count,
    check_distinct_systems,
    check_output_path,
    check_rank_count,
    check_seq_len,
    parse_count,
    split_list,
    use_catalog,
    warn_if_huge,
    warn_no_fp8_rate,
)
from trnsim.cli.output import check_keeps_inputs, check_one_stdout, is_stdout, model_file, write_output
from trnsim.errors import ConfigError, TrnsimError
from trnsim.plan.choices import LaunchFormat, Objective, SpaceProfile
from trnsim.workload.options import Precision

# The model layers load inside the commands that use them, so that start-up stays light.
if TYPE_CHECKING:
    from trnsim.hardware.catalog import SystemSpec
    from trnsim.plan.problem import TrainingJob
    from trnsim.plan.space import SearchSpace
    from trnsim.plan.sweep import SweepSpec
    from trnsim.report.entries import Entry
    from trnsim.workload.config import ModelConfig

#: Width for output that is not a terminal (a file, a pipe): the tables are laid out for 100 columns.
PIPE_WIDTH = 100


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)


console = _console()
stderr = _console(stderr=True)

DEFAULT_SYSTEMS = "trn2-ultraserver,trn2,trn1,p5,p5e,tpu-v4,tpu-v5p"
#: The seed claim ("30-40 % better price-performance than P5e") is stated against this system.
DEFAULT_REFERENCE = "p5e"


def _parse_ints(text: str, what: str, example: str) -> list[int]:
    """Whole numbers, each once (a repeated scaling point was searched twice, its rows doubled)."""
    values: list[int] = []
    for part in split_list(text, what, example.removeprefix("give chip counts, e.g. ")):
        value = parse_count(part, f"{what} value", example)
        if value != int(value):
            raise ConfigError(f"{what} value '{part}' is not a whole number; {example}")
        if int(value) in values:
            raise ConfigError(f"{what} names {int(value):,} chips twice; give each chip count once")
        values.append(int(value))
    return values


#: The command-line option of each TrainingJob field, for messages about its value.
_JOB_OPTIONS = {"tokens": "--tokens", "seq_len": "--seq-len", "global_batch": "--global-batch",
                "deadline_days": "--deadline", "budget_usd": "--budget", "pue": "--pue"}


def _job(tokens: str, seq_len: int, global_batch: int, precision: Precision, deadline: float | None,
         budget: float | None, objective: Objective, pue: float,
         sequence_parallel: bool = True) -> TrainingJob:
    from pydantic import ValidationError

    from trnsim.plan.problem import TrainingJob

    for option, value in (("--deadline", deadline), ("--budget", budget), ("--pue", pue)):
        if value is not None and not math.isfinite(value):  # inf passed the bounds: Infinity in the JSON
            raise ConfigError(f"{option} must be a finite number, got {value}")
    try:
        return TrainingJob(tokens=parse_count(tokens, "--tokens"), seq_len=seq_len, global_batch=global_batch,
                           precision=precision, deadline_days=deadline, budget_usd=budget,
                           objective=objective, pue=pue, sequence_parallel=sequence_parallel)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if where in _JOB_OPTIONS:
            raise ConfigError(f"{_JOB_OPTIONS[where]} {first.get('input')}: {message}") from None
        raise ConfigError(f"job {where}: {message}" if where else f"job: {message}") from None


def _write(path: Path, text: str, what: str) -> None:
    if write_output(path, text, what):
        stderr.print(f"wrote {what}: {path}", highlight=False, markup=False)


def _check_outputs(json_out: Path | None, csv_out: Path | None, html_out: Path | None) -> None:
    """Check the output paths; with one of them ``-``, the tables stay off standard output."""
    for path, option in ((json_out, "--json"), (csv_out, "--csv"), (html_out, "--html")):
        check_output_path(path, option)
    check_one_stdout(json=json_out, csv=csv_out, html=html_out)
    console.quiet = any(is_stdout(p) for p in (json_out, csv_out, html_out))


def _outputs(entries: list[Entry], meta: dict[str, Any], title: str, notes: list[str],
             json_out: Path | None, csv_out: Path | None, html_out: Path | None) -> None:
    from trnsim.report.export import to_csv, to_json

    if json_out:
        _write(json_out, to_json(entries, meta), "JSON")
    if csv_out:
        _write(csv_out, to_csv(entries), "CSV")
    if html_out:
        from trnsim.report.html import render_html  # plotly: only when a page is written

        _write(html_out, render_html(title, entries, notes, meta), "HTML report")


@contextmanager
def _progress(
    enabled: bool, total: int | None, description: str, lines_off_terminal: bool = False
) -> Iterator[tuple[Callable[[int], None], Callable[[str], None]]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # A bar in a file or pipe is noise (and a stray newline); a long sweep in a CI log gets a line
    # every few seconds instead.
    if enabled and not stderr.is_terminal and lines_off_terminal:
        yield from _progress_lines(total, description)
        return
    if not enabled or not stderr.is_terminal:
        yield (lambda n: None), (lambda text: None)
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield (lambda n: progress.advance(task, n)), (lambda text: progress.update(task, description=text))


#: Seconds between progress lines on a non-terminal.
PROGRESS_LINE_S = 5.0


def _progress_lines(
    total: int | None, description: str
) -> Iterator[tuple[Callable[[int], None], Callable[[str], None]]]:
    import time

    start = last = time.monotonic()
    done = 0

    def line(final: bool = False) -> None:
        elapsed = time.monotonic() - start
        if total:
            eta = "" if final or not done else f", ETA {elapsed / done * (total - done):.0f} s"
            text = f"{description}: {done:,}/{total:,} done in {elapsed:.0f} s{eta}"
        else:
            text = f"{description}: {done:,} done in {elapsed:.0f} s"
        stderr.print(text, highlight=False, markup=False, soft_wrap=True)

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= PROGRESS_LINE_S:
            last = time.monotonic()
            line()

    yield advance, (lambda text: None)
    if time.monotonic() - start >= PROGRESS_LINE_S:  # long enough to have shown lines: close them
        line(final=True)


def _rank_counts(
    system: SystemSpec, nodes: int | None, ranks: int | None, max_ranks: int | None
) -> list[int]:
    given = [v for v in (nodes, ranks, max_ranks) if v is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one of --nodes, --ranks or --max-ranks")
    if nodes is not None:
        return [nodes * system.ranks_per_node]
    if ranks is not None:
        check_rank_count(ranks, system.name, system.ranks_per_node)
        return [ranks]
    assert max_ranks is not None
    if max_ranks < system.ranks_per_node:
        raise ConfigError(f"--max-ranks {max_ranks} is less than one {system.name} node "
                          f"({system.ranks_per_node} ranks); give at least {system.ranks_per_node}, "
                          "or --ranks for part of a node")
    counts, count = [], system.ranks_per_node
    while count <= max_ranks:
        counts.append(count)
        count *= 2
    return counts


Opt = typer.Option
_JSON_HELP = "write the results as JSON to this file (- for standard output, instead of the tables)"
_CSV_HELP = "write the results as CSV to this file (- for standard output, instead of the tables)"
_HTML_HELP = "write an interactive HTML report to this file (- for standard output)"
_PROGRESS_HELP = "show a progress bar (on a terminal only)"


@app.command("plan")
def plan_command(
    model: Annotated[str, Opt("--model", help="model preset or config.json path")],
    tokens: Annotated[str, Opt("--tokens", help="training tokens, e.g. 15T or 500B")],
    system: Annotated[str, Opt("--system", help="catalog system, e.g. trn2")],
    nodes: Annotated[int | None, Opt("--nodes", min=1, help="nodes (instances or servers)")] = None,
    ranks: Annotated[int | None, Opt("--ranks", min=1, help="ranks (logical devices)")] = None,
    max_ranks: Annotated[int | None, Opt("--max-ranks", min=1, help="search node counts up to this")] = None,
    global_batch: Annotated[int, Opt("--global-batch", min=1, help="sequences per optimizer step")] = 1024,
    seq_len: Annotated[int, Opt("--seq-len", min=1, help="sequence length in tokens")] = 4096,
    precision: Annotated[Precision, Opt("--precision", help="training precision")] = Precision.BF16,
    deadline: Annotated[float | None, Opt(
        "--deadline", help="days the training may take: slower plans are marked as missing it")] = None,
    budget: Annotated[float | None, Opt(
        "--budget", help="USD the training may cost: dearer plans are marked as over it")] = None,
    objective: Annotated[Objective, Opt("--objective", help="rank plans by time to train or by cost")] = (
        Objective.TIME),
    pue: Annotated[float, Opt("--pue", help="power usage effectiveness for energy")] = 1.0,
    sequence_parallel: Annotated[bool, Opt(
        "--sequence-parallel/--no-sequence-parallel", help="sequence parallelism with TP > 1")] = True,
    top: Annotated[int, Opt("--top", min=1, help="how many of the best plans to show")] = 5,
    space_profile: Annotated[SpaceProfile, Opt(
        "--space", help="search space: full (every plan) or quick (about 1/8 of them; docs/planner.md)")] = (
        SpaceProfile.FULL),
    lnc: Annotated[int | None, Opt("--lnc", help="Trainium logical NeuronCore size")] = None,
    catalog: Annotated[Path | None, Opt("--catalog", callback=use_catalog,
        help="user catalog directory (chips/, systems/, efficiency/, ...: as $TRNSIM_CATALOG)")] = None,
    json_out: Annotated[Path | None, Opt("--json", help=_JSON_HELP)] = None,
    csv_out: Annotated[Path | None, Opt("--csv", help=_CSV_HELP)] = None,
    html_out: Annotated[Path | None, Opt("--html", help=_HTML_HELP)] = None,
    progress: Annotated[bool, Opt("--progress/--no-progress", help=_PROGRESS_HELP)] = True,
    launch: Annotated[LaunchFormat | None, Opt(
        "--launch", help="also print the best plan as launch settings: nxdt (Trainium YAML) or megatron "
        "(GPU flags)")] = None,
) -> None:
    """Find the best parallel plan of a model on a system, ranked by time-to-train or cost."""
    from trnsim.plan.explain import explain
    from trnsim.plan.inputs import resolve_model, resolve_system
    from trnsim.plan.launch import add_estimate_args, check_launch_family, launch_settings
    from trnsim.plan.problem import Problem
    from trnsim.plan.search import count_candidates, search_plans
    from trnsim.report.bands import band_legend, bands_meta
    from trnsim.report.entries import entries_from_search
    from trnsim.report.tables import breakdown_table, estimated_power_note, plans_table
    from trnsim.workload.models import describe_params, param_counts

    _check_outputs(json_out, csv_out, html_out)
    check_keeps_inputs({"the --model file": model_file(model)}, json=json_out, csv=csv_out, html=html_out)
    check_catalog_dir(catalog)
    job = _job(tokens, seq_len, global_batch, precision, deadline, budget, objective, pue, sequence_parallel)
    model_config = resolve_model(model)
    check_seq_len(seq_len, model_config, "--seq-len")
    system_spec = resolve_system(system, catalog, lnc)
    _check_priced(system_spec, objective is Objective.COST, budget is not None)
    warn_no_fp8_rate(precision, [system_spec])
    if launch is not None:
        check_launch_family(launch, system_spec)
        if json_out is None and (is_stdout(csv_out) or is_stdout(html_out)):
            raise ConfigError("--launch prints beside the tables, which --csv -/--html - leave off standard "
                              "output: add --json FILE (its meta.launch holds the settings) or write the "
                              "CSV/HTML to a file")
    problems = [Problem(model_config, system_spec, r, job)
                for r in _rank_counts(system_spec, nodes, ranks, max_ranks)]
    space = space_profile.space()
    candidates = count_candidates(problems, space)
    if candidates:  # else the search names the binding constraint at once (exit 3)
        warn_if_huge(max(p.chips for p in problems), f"{model} on {system}")
    with _progress(progress, candidates, "searching plans") as (advance, _):
        result = search_plans(problems, space, top_k=top, progress=advance)
    console.print(f"{model}: {describe_params(model_config)}"
                  + (f"; notes: {'; '.join(model_config.notes)}" if model_config.notes else ""),
                  highlight=False, markup=False)
    console.print(plans_table(result))
    page_notes = [*band_legend(list(result.top)), *estimated_power_note(system_spec), _sp_note(job)]
    for line in page_notes:
        console.print(line, highlight=False, markup=False)
    console.print(breakdown_table(result))
    for line in explain(result):
        console.print(f"• {line}", highlight=False, markup=False)
    stats = result.stats
    console.print(f"{stats.candidates:,} candidates, {stats.evaluated:,} evaluated "
                  f"in {stats.elapsed_s:.1f} s "
                  f"({stats.candidates_per_s:,.0f} candidates/s)", highlight=False, markup=False)
    _price_note(system_spec)
    settings = None
    if launch is not None:
        best_problem = Problem(model_config, system_spec, result.best.ranks, job)
        settings = launch_settings(launch, best_problem, result.best.candidate)
        console.print(settings, end="", highlight=False, markup=False, soft_wrap=True)
    entries = entries_from_search(result)
    add_estimate_args(entries, model_config, {system_spec.name: system_spec}, job, model,
                      None if catalog is None else str(catalog))
    meta = {"command": "plan", "model": model, **param_counts(model_config),
            "job": job.model_dump(mode="json"), "explanation": explain(result),
            "candidates": stats.candidates, "evaluated": stats.evaluated,
            "infeasible_by_reason": dict(stats.infeasible_by_reason),
            "error_bars": bands_meta(list(result.top))}
    if launch is not None:  # in the JSON too: with `--json -` the terminal text is off
        meta["launch"] = {"format": launch.value, "settings": settings}
    _outputs(entries, meta, f"trnsim plan: {model} on {system}", [*page_notes, *explain(result)],
             json_out, csv_out, html_out)


def _check_priced(system: SystemSpec, by_cost: bool, budget: bool) -> None:
    """--objective cost and --budget need the system's price: without it every cost is unknown, the
    plans were ranked by time under a "ranked by cost" title, and no plan could miss the budget."""
    if system.price_usd_per_node_hour is None and (by_cost or budget):
        what = "--objective cost" if by_cost else "--budget"
        raise ConfigError(f"{what} needs a price for {system.name}, which the catalog does not have: give "
                          f"one (price_usd_per_node_hour in systems/{system.name}.toml of a --catalog DIR), "
                          "or leave it out")


def _sp_note(job: TrainingJob) -> str:
    """Whether plans with TP > 1 use sequence parallelism (the plan column does not say)."""
    return ("sequence parallelism on with tp > 1 (the frameworks' default; --no-sequence-parallel "
            "turns it off)" if job.sequence_parallel else "sequence parallelism off (--no-sequence-parallel)")


def _price_note(system: SystemSpec) -> None:
    if system.price_usd_per_node_hour is None:
        console.print(f"Price of {system.name} unknown in the catalog: cost not reported "
                      "(supply one in a user catalog file, --catalog DIR).", highlight=False, markup=False)
    else:
        console.print(f"Price: ${system.price_usd_per_node_hour:,.2f} per node-hour "
                      f"({system.price_source or 'no source'}, {system.price_date or 'undated'}).",
                      highlight=False, markup=False)


@app.command("compare")
def compare_command(
    model: Annotated[str, Opt("--model", help="model preset or config.json path")] = "afm-server",
    tokens: Annotated[str, Opt("--tokens", help="training tokens, e.g. 15T or 500B")] = "6.3T",
    systems: Annotated[str, Opt("--systems", help="comma-separated catalog systems")] = DEFAULT_SYSTEMS,
    chips: Annotated[int, Opt("--chips", min=1, help="chips per system at equal chip count")] = 8192,
    scaling: Annotated[str, Opt(
        "--scaling", help="chip counts of the scaling curve, comma-separated ('' for none); "
        "the default's 131,072 answers the 100,000-chip claim; five counts draw a curve")
        ] = "8192,16384,32768,65536,131072",
    reference: Annotated[str | None, Opt(
        "--reference", help=f"system whose spend sets the equal budget (default: {DEFAULT_REFERENCE} when "
        "compared, else the first system with a price)")] = None,
    hourly_budget: Annotated[float | None, Opt(
        "--hourly-budget", help="USD per hour of the equal-budget comparison (default: the reference's)")
    ] = None,
    global_batch: Annotated[int, Opt("--global-batch", min=1, help="sequences per optimizer step")] = 4096,
    seq_len: Annotated[int, Opt("--seq-len", min=1, help="sequence length in tokens")] = 4096,
    precision: Annotated[Precision, Opt("--precision", help="training precision")] = Precision.BF16,
    pue: Annotated[float, Opt("--pue", help="power usage effectiveness for energy")] = 1.0,
    sequence_parallel: Annotated[bool, Opt(
        "--sequence-parallel/--no-sequence-parallel", help="sequence parallelism with TP > 1")] = True,
    catalog: Annotated[Path | None, Opt("--catalog", callback=use_catalog,
        help="user catalog directory (chips/, systems/, efficiency/, ...: as $TRNSIM_CATALOG)")] = None,
    space_profile: Annotated[SpaceProfile, Opt(
        "--space", help="search space: quick (the default here, unlike plan's: compare runs a search per "
        "system and chip count) or full")] = SpaceProfile.QUICK,
    workers: Annotated[int | None, Opt(
        "--workers", min=1, help="processes for independent searches (default: on two cores this one and "
        "a forked child taking the other chip families' systems; one on one core; else up to 4; 1: all "
        "in this process)")] = None,
    json_out: Annotated[Path | None, Opt("--json", help=_JSON_HELP)] = None,
    csv_out: Annotated[Path | None, Opt("--csv", help=_CSV_HELP)] = None,
    html_out: Annotated[Path | None, Opt("--html", help=_HTML_HELP)] = None,
    progress: Annotated[bool, Opt("--progress/--no-progress", help=_PROGRESS_HELP)] = True,
) -> None:
    """Compare systems on one job: best plan at equal chips and equal budget, with the seed claims."""
    from trnsim.plan.claims import check_claims
    from trnsim.plan.collector import collector_paused
    from trnsim.plan.compare import compare_parallelism, compare_systems
    from trnsim.plan.errors import NoFeasiblePlanError
    from trnsim.plan.explain import explain
    from trnsim.plan.inputs import resolve_model, resolve_system
    from trnsim.plan.launch import add_estimate_args
    from trnsim.report.bands import band_legend, band_verdicts, bands_meta
    from trnsim.report.entries import entries_from_comparison, system_meta
    from trnsim.report.story import headline_sentence
    from trnsim.report.tables import (
        claims_table,
        comparison_notes,
        comparison_table,
        prices_table,
    )
    from trnsim.workload.models import describe_params, param_counts

    _check_outputs(json_out, csv_out, html_out)
    check_keeps_inputs({"the --model file": model_file(model)}, json=json_out, csv=csv_out, html=html_out)
    check_catalog_dir(catalog)
    if hourly_budget is not None and not (math.isfinite(hourly_budget) and hourly_budget > 0):
        raise ConfigError(f"--hourly-budget must be a positive number of USD per hour, got {hourly_budget}")
    job = _job(tokens, seq_len, global_batch, precision, None, None, Objective.TIME, pue, sequence_parallel)
    model_config = resolve_model(model)
    check_seq_len(seq_len, model_config, "--seq-len")
    names = split_list(systems, "--systems", "trn2,trn1,p5e")
    specs = [resolve_system(n, catalog) for n in names]
    resolved = [spec.name for spec in specs]
    check_distinct_systems(names, resolved)
    named_reference = reference is not None
    reference = resolve_reference(reference, names, resolved, lambda name: resolve_system(name, catalog).name)
    if named_reference:  # one the user named must be priced (the default falls back to a priced one)
        _check_reference_priced(reference, resolved, specs, hourly_budget)
    scaling_chips = (_parse_ints(scaling, "--scaling", "give chip counts, e.g. 8192,131072")
                     if scaling.strip() else [])
    for spec in specs:
        check_chip_count(chips, spec.name, spec.chips_per_node)
        for count in scaling_chips:
            check_chip_count(count, spec.name, spec.chips_per_node, "--scaling value")
    space = space_profile.space()
    _require_some_split(model_config, specs, job, chips, space)
    warn_if_huge(max([chips, *scaling_chips]), "compare")
    warn_no_fp8_rate(precision, specs)
    # the collector paused over all the searches: it found nothing to free, and each full pass
    # walked every cached object
    pool, split = compare_parallelism(workers)
    with collector_paused(), _progress(progress, None, "comparing") as (advance, stage):
        comparison = compare_systems(
            model_config, specs, job, chips, space=space,
            scaling_chips=scaling_chips,
            reference=reference, hourly_budget_usd=hourly_budget, progress=advance, on_stage=stage,
            # two cores: the other chip families' searches in one forked process, not a pool's
            workers=pool, split=split,
            top_k=1,  # the pages show each search's best plan only: a tighter bound prunes more
        )
        # The caches the searches filled live until the process ends: moved out of the collector's
        # sight, the first collection after the pause does not walk them all (0.1-0.2 s).
        gc.freeze()
    if all(row.equal_chips is None for row in comparison.rows):
        first = comparison.rows[0]
        raise NoFeasiblePlanError(f"no system has a feasible plan at {chips:,} chips; "
                                  f"{first.system.name}: {first.equal_chips_error}")
    entries = entries_from_comparison(comparison)
    add_estimate_args(entries, model_config, {s.name: s for s in specs}, job, model,
                      None if catalog is None else str(catalog))
    story = headline_sentence(entries, comparison.reference)
    console.print(f"[bold]{escape(story)}[/]", highlight=False)  # markup: bold only; the answer first
    notes = [f"model {model} ({describe_params(model_config)}): "
             + "; ".join(model_config.notes or ("as configured",)),
             f"job: {job.tokens:.3g} tokens, sequence {seq_len}, global batch {global_batch}, "
             f"{precision.value}; "
             f"{space_profile.value} search space; {_sp_note(job)}"]
    for note in notes:
        console.print(note, highlight=False, markup=False)
    for equal_budget in (False, True):
        console.print(comparison_table(comparison, equal_budget=equal_budget))
        for line in comparison_notes(comparison, equal_budget=equal_budget):
            console.print(f"  {line}", highlight=False, markup=False)
            if equal_budget:  # why a system has no equal-budget row, on the page too
                notes.append(f"equal budget: {line}")
    bests = [o for r in comparison.rows for o in (r.best,) if o is not None]
    band_notes = band_legend(bests) + band_verdicts(comparison)
    for line in band_notes:
        console.print(line, highlight=False, markup=False)
    notes += band_notes
    console.print(prices_table(comparison))
    claims = check_claims(comparison)
    console.print(claims_table(claims))
    for row in comparison.rows:
        if row.equal_chips is not None:
            console.print(f"[bold]{escape(row.system.name)}[/]: " + escape(explain(row.equal_chips)[0]),
                          highlight=False)  # markup: the bold name
    notes += [f"{c.claim}: trnsim predicts {c.prediction}" for c in claims]
    meta = {"command": "compare", "headline": story, "job": job.model_dump(mode="json"), "model": model,
            **param_counts(model_config), "chips": chips,
            "hourly_budget_usd": comparison.hourly_budget_usd, "reference": comparison.reference,
            "claims": [{"claim": c.claim, "prediction": c.prediction} for c in claims],
            "unpriced_systems": [s.name for s in specs if s.price_usd_per_node_hour is None],
            "systems": {s.name: system_meta(s) for s in specs},
            "error_bars": bands_meta(bests, comparison)}
    _outputs(entries, meta, f"trnsim compare: {model}", notes,
             json_out, csv_out, html_out)


def _require_some_split(model: ModelConfig, specs: list[SystemSpec], job: TrainingJob, chips: int,
                        space: SearchSpace) -> None:
    """Exit 3 at once, naming the binding constraint, when no system can split ``chips`` at all."""
    from trnsim.plan.errors import NoFeasiblePlanError
    from trnsim.plan.problem import Problem
    from trnsim.plan.search import require_candidates

    errors = []
    for spec in specs:
        try:
            require_candidates(Problem(model, spec, chips * spec.ranks_per_chip, job), space)
            return
        except NoFeasiblePlanError as error:
            errors.append(error)
    raise errors[0]


def check_sweep_names(sweep_spec: SweepSpec, path: Path) -> None:
    """Resolve every model, system, chip count and what-if of a spec before any point runs."""
    from trnsim.plan.errors import SweepSpecError
    from trnsim.plan.inputs import resolve_model, resolve_system

    if not sweep_spec.whatif:  # `whatif = []` ran no point and exited 0; empty models/chips are refused
        raise SweepSpecError(f"sweep spec {path}: whatif: List should have at least 1 item; leave it out for "
                             "the baseline alone")
    try:
        for model in sweep_spec.models:
            resolve_model(model)
        for name in sweep_spec.systems:
            spec = resolve_system(name)
            for chips in sweep_spec.chips:
                check_chip_count(chips, name, spec.chips_per_node, "chips value")
            for whatif in sweep_spec.whatif:
                resolve_system(name, whatif=whatif)
    except TrnsimError as error:
        raise SweepSpecError(f"sweep spec {path}: {error}") from None


def _check_reference_priced(reference: str | None, names: list[str], specs: list[SystemSpec],
                            hourly_budget: float | None) -> None:
    """A reference sets the equal budget by its price: an unpriced one set none, and every row said
    "no system with a known price has a feasible plan", even a priced one that had."""
    if reference is None or hourly_budget is not None:
        return
    spec = specs[names.index(reference)]
    if spec.price_usd_per_node_hour is None:
        priced = [s.name for s in specs if s.price_usd_per_node_hour is not None]
        instead = f"name a priced one ({', '.join(priced)})" if priced else "give a price in a --catalog DIR"
        raise ConfigError(f"--reference {reference} has no price in the catalog, so it sets no equal budget; "
                          f"{instead} or give --hourly-budget")


def resolve_reference(reference: str | None, names: list[str], resolved: list[str] | None = None,
                      catalog_name: Callable[[str], str] | None = None) -> str | None:
    """The equal-budget reference's catalog name: the one named, else P5e when compared, else None
    (first priced). ``resolved`` are the catalog names of ``names``; ``catalog_name`` maps a name
    or alias to its catalog name, so that ``p5e.48xlarge`` finds ``p5e`` among them and back."""
    resolved = names if resolved is None else resolved
    if reference is None:
        return DEFAULT_REFERENCE if DEFAULT_REFERENCE in resolved else None
    if reference in names:
        return resolved[names.index(reference)]
    if catalog_name is not None:
        try:
            canonical = catalog_name(reference)
        except TrnsimError:  # not a catalog system at all, so not among them either
            canonical = None
        if canonical in resolved:
            return canonical
    raise ConfigError(f"--reference '{reference}' is not among --systems ({', '.join(names)}); "
                      "add it there or name one of them")


def _check_run_options(reporting: bool, db: bool, workers: int | None, num_cpus: int | None, local: bool,
                       use_ray: bool, address: str | None) -> None:
    """An option that would change nothing is refused (it was taken and ignored)."""
    if reporting:
        given = [name for name, on in (("--db", db), ("--workers", workers is not None),
                                       ("--num-cpus", num_cpus is not None), ("--local", local),
                                       ("--ray", use_ray), ("--address", address is not None)) if on]
        if given:
            raise ConfigError(f"--report reads a finished sweep: {', '.join(given)} appl"
                              f"{'ies' if len(given) == 1 else 'y'} to running one; leave "
                              f"{'it' if len(given) == 1 else 'them'} out")
        return
    if num_cpus is not None and (not use_ray or address is not None):
        raise ConfigError("--num-cpus sizes the local Ray instance that --ray starts (an --address cluster "
                          "has its own): add --ray, or leave it out")
    if workers is not None and (local or use_ray or address is not None):
        raise ConfigError("--workers sizes the local process pool: --local runs in this one process and Ray "
                          "sizes itself (--num-cpus); leave --workers out")


def _check_sweep_database(path: Path) -> None:
    """``--report`` must name a database a sweep wrote: opening another file as the store created the
    sweep's tables in it (changing the user's file) and reported no points."""
    import sqlite3

    if path.is_dir():
        raise ConfigError(f"sweep database {path} is a directory; give the --db file a sweep wrote")
    if not path.is_file():
        raise ConfigError(f"sweep database {path} does not exist")
    try:  # read-only: nothing is written to a file that turns out not to be a sweep's
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            found = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'results'").fetchone()
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"cannot open sweep database {path}: {error}") from None
    if found is None:
        raise ConfigError(f"sweep database {path} holds no sweep results (no 'results' table); give the "
                          "--db file a sweep wrote")


@app.command("sweep")
def sweep_command(
    spec: Annotated[Path | None, typer.Argument(help="sweep spec (TOML)")] = None,
    db: Annotated[Path | None, Opt("--db", help="SQLite results database (appended to, resumable; default "
                                   "sweep.sqlite)")] = None,
    report: Annotated[Path | None, Opt("--report", help="turn this results database into reports")] = None,
    address: Annotated[str | None, Opt("--address", help="Ray cluster address (implies --ray)")] = None,
    num_cpus: Annotated[int | None, Opt("--num-cpus", min=1, help="CPUs of the local Ray instance")] = None,
    local: Annotated[bool, Opt("--local", help="run in this one process")] = False,
    use_ray: Annotated[bool, Opt("--ray", help="run on a local Ray instance (pip install 'trnsim\\[ray]')")
                       ] = False,
    workers: Annotated[int | None, Opt(
        "--workers", min=1, help="local pool processes (default: the CPUs; 1 on a machine of two cores or "
        "fewer)")] = None,
    json_out: Annotated[Path | None, Opt("--json", help=_JSON_HELP)] = None,
    csv_out: Annotated[Path | None, Opt("--csv", help=_CSV_HELP)] = None,
    html_out: Annotated[Path | None, Opt("--html", help=_HTML_HELP)] = None,
) -> None:
    """Explore models × systems × chip counts × what-if hardware, resumably (local pool, or Ray)."""
    from trnsim.plan.inputs import run_point
    from trnsim.plan.pool import default_workers
    from trnsim.plan.runner import require_ray, run_sweep
    from trnsim.plan.store import SweepStore
    from trnsim.plan.sweep import load_sweep_spec
    from trnsim.report.entries import entries_from_sweep
    from trnsim.report.tables import sweep_table

    if (spec is None) == (report is None):
        raise ConfigError("give a sweep spec to run, or --report DB to report on a finished one (not both)")
    if local and (use_ray or address is not None):
        raise ConfigError("--local runs in this process: leave out --ray/--address, or --local")
    _check_run_options(report is not None, db is not None, workers, num_cpus, local, use_ray, address)
    db = db if db is not None else Path("sweep.sqlite")
    if spec is not None and (use_ray or address is not None):
        require_ray()  # before any work: without Ray, say how to get it
    _check_outputs(json_out, csv_out, html_out)
    check_keeps_inputs({"the sweep spec": spec}, json=json_out, csv=csv_out, html=html_out)
    # a report written over the database (--db, or the --report one) would destroy the results
    store_option = {"db": db} if report is None else {"report": report}
    check_one_stdout(**store_option, json=json_out, csv=csv_out, html=html_out)
    if report is not None:
        _check_sweep_database(report)
        database = report
    else:
        assert spec is not None
        sweep_spec = load_sweep_spec(spec)
        check_sweep_names(sweep_spec, spec)
        points = sweep_spec.points()
        database = db
        progress_lines = _progress(True, len(points), "sweep points", lines_off_terminal=True)
        with SweepStore(db) as store, progress_lines as (advance, _):
            store.record_spec(str(spec), sweep_spec.model_dump(mode="json"), len(points))
            advance(len(store.done_keys() & {p.key for p in points}))
            on_ray = use_ray or address is not None
            pool = 1 if local else (workers or default_workers())
            summary = run_sweep(points, store, run_point, use_ray=on_ray, ray_address=address,
                                num_cpus=num_cpus, on_result=lambda point, status: advance(1), workers=pool)
        console.print(f"{summary.total} points: {summary.already_done} already in {db}, {summary.ran} run, "
                      f"{summary.written} written", highlight=False, markup=False)
    with SweepStore(database) as store:
        stored = store.results()
    entries = entries_from_sweep(stored)
    console.print(sweep_table(entries))
    failed = [r for r in stored if r.status.value != "ok"]
    lines = [f"{r.point['model']} on {r.point['system']} at {r.point['chips']} chips "
             f"({r.point['whatif']['name']}): {r.status.value}: {r.result.get('error', '')}" for r in failed]
    for line in lines:
        console.print(line, highlight=False, markup=False)
    # the points without a plan, with why, in the files too (an all-infeasible sweep wrote "results": [])
    failed_points = [{"model": r.point["model"], "system": r.point["system"], "chips": r.point["chips"],
                      "whatif": r.point["whatif"]["name"], "status": r.status.value,
                      "error": r.result.get("error", "")} for r in failed]
    _outputs(entries, {"command": "sweep", "database": str(database), "failed_points": failed_points},
             f"trnsim sweep: {database.name}", lines, json_out, csv_out, html_out)
