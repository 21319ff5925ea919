"""`tbp-extract`: click commands, each a thin layer over a plain function.

Exit codes: 0 success; 1 some files failed (the rest landed; re-run to retry them); 2 bad configuration or
arguments (nothing written); 3 the source, the warehouse or the download cache could not be reached or used; 4
another extract holds the lock; 5 dbt failed (`update`: landing is kept, the next run builds again); 130 / 143
stopped by SIGINT / SIGTERM (files in flight finished, re-run for the rest).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
from datetime import date
from pathlib import Path

import click

from extract.config import Config, load_config, parse_date
from extract.errors import ConfigError, PipelineError, WarehouseError
from extract.logs import setup_logging


def _date(_ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value, f"--{param.name}")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _config(
    config_dir: str | None, target: str | None, environment: str | None = None, environ: dict[str, str] | None = None
) -> Config:
    """The configuration, from `environ` (default: the process's environment) and the config folder."""
    environ = dict(os.environ if environ is None else environ)
    if target:
        environ["TBP_TARGET"] = target
    if environment:
        environ["TBP_ENVIRONMENT"] = environment
    dotenv = environ.get("TBP_DOTENV", ".env")  # empty: read none (the test suite)
    return load_config(config_dir, environ, dotenv=Path(dotenv) if dotenv else None)


def _reports_errors(command):
    """Turn the pipeline's errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PipelineError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)

    return wrapper


config_dir_option = click.option(
    "--config-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder with instruments.yml, pipeline.yml, s3.yml, database.yml (default: $TBP_CONFIG_DIR or config).",
)
target_option = click.option(
    "--target",
    type=click.Choice(["duckdb", "postgres"]),
    default=None,
    help="Warehouse to land into (default: $TBP_TARGET, else the environment's target, else duckdb).",
)
environment_option = click.option(
    "--environment",
    default=None,
    help="Configuration overlay config/environments/<name>.yml (default: $TBP_ENVIRONMENT or development).",
)


@click.group()
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING (default: $LOG_LEVEL or INFO).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None, help="Default: $LOG_FORMAT.")
def main(log_level: str | None, log_format: str | None) -> None:
    """Load Polygon/Massive day-aggregate flat files into the warehouse's landing tables."""
    try:
        setup_logging(log_level, log_format)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


def entry_point() -> None:
    """The `tbp-extract` command: `main`, then, once dbt was imported, the exit handlers (logs, coverage,
    multiprocessing's semaphores) and out without the interpreter's teardown: freeing dbt's objects one by one takes
    0.4 s after everything is written and closed. dbt's parse, still running when the extract fails, is stopped
    instead of waited for (dbt parses again when a saved parse is cut short)."""
    code: object = 0
    try:
        main()
    except SystemExit as done:
        if "dbt" not in sys.modules:
            raise
        code = done.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader gone (| head) loses nothing it wanted
            stream.flush()
    os._exit(code)


def _extract_options(command, with_dry_run: bool = True):
    """The options of a run: which sessions and tickers, dry run, downloads, configuration, warehouse."""
    options = [
        click.option("--start", callback=_date, help="First session date (default: start_date in pipeline.yml)."),
        click.option("--end", callback=_date, help="Last session date (default: today in New York)."),
        click.option("--tickers", default=None, help="Comma-separated tickers to land (default: the land_scope)."),
        click.option("--group", default=None, help="A ticker group from instruments.yml to land."),
        *(
            [click.option("--dry-run", is_flag=True, help="Print what would be fetched and loaded; change nothing.")]
            if with_dry_run
            else []
        ),
        click.option("--workers", type=click.IntRange(min=1), default=None, help="Parallel downloads."),
        config_dir_option,
        target_option,
        environment_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_options(start, end, tickers, group, dry_run, workers):
    from extract.run import RunOptions

    return RunOptions(
        start=start,
        end=end,
        tickers=tuple((tickers or "").split(",")) if tickers else (),
        group=group,
        dry_run=dry_run,
        workers=workers,
    )


@main.command()
@_extract_options
@_reports_errors
def run(start, end, tickers, group, dry_run, workers, config_dir, target, environment) -> None:
    """List the source, fetch what the manifest lacks, and land it (a file's rows commit with its manifest row)."""
    from extract.run import run_extract

    cfg = _config(config_dir, target, environment)
    summary = run_extract(cfg, _run_options(start, end, tickers, group, dry_run, workers))
    for line in summary.lines():
        click.echo(line)
    sys.exit(summary.exit_code)


@main.command()
@_extract_options
@_reports_errors
def update(start, end, tickers, group, dry_run, workers, config_dir, target, environment) -> None:
    """The everyday run: extract, reference data, dbt build of only what changed (nothing, when nothing did), in
    this process, then the lake. Exit 5 when dbt fails. --dry-run: the extract's plan alone."""
    from extract.build import ProjectParse
    from extract.update import update as update_once

    cfg = _config(config_dir, target, environment)
    options = _run_options(start, end, tickers, group, dry_run, workers)
    with ProjectParse() as parse:
        sys.exit(update_once(cfg, options, parse, click.echo))


@main.command()
@click.option("--every", default="10m", show_default=True, help="From one update's start to the next: 90s, 10m, 1h.")
@functools.partial(_extract_options, with_dry_run=False)
@_reports_errors
def watch(every, start, end, tickers, group, workers, config_dir, target, environment) -> None:
    """Keep the warehouse current: `update` every interval in one process, dbt imported and the project parsed once
    (again when they change), so a new session is built in seconds. A failed update is reported and tried again at
    the next; SIGINT or SIGTERM stop it (exit 130 or 143), after the update in flight."""
    from extract.build import project_dir
    from extract.update import parse_interval
    from extract.update import watch as watch_updates

    interval = parse_interval(every)
    environ = dict(os.environ)  # as the watch started: dbt's settings, set while it runs, are no configuration
    _config(config_dir, target, environment, environ)  # what is wrong stops it before the first update (exit 2)
    project_dir()
    options = _run_options(start, end, tickers, group, False, workers)
    sys.exit(watch_updates(lambda: _config(config_dir, target, environment, environ), options, interval, click.echo))


@main.command()
@config_dir_option
@target_option
@environment_option
@_reports_errors
def reference(config_dir, target, environment) -> None:
    """Fetch splits, dividends, ticker overviews and ticker events of the configured instruments; land them raw."""
    from extract.reference import run_reference

    summary = run_reference(_config(config_dir, target, environment))
    for line in summary.lines():
        click.echo(line)
    sys.exit(summary.exit_code)


@main.command("check-config")
@config_dir_option
@target_option
@environment_option
@_reports_errors
def check_config(config_dir, target, environment) -> None:
    """Validate the configuration and the environment; show the merged settings and where each came from (secrets
    masked); say what is wrong."""
    from extract.environments import settings

    cfg = _config(config_dir, target, environment)
    click.echo(
        f"config {cfg.config_dir}: {len(cfg.instruments)} instruments "
        f"({len(cfg.active_tickers())} active), groups: {', '.join(sorted(cfg.groups)) or 'none'}"
    )
    click.echo(f"environment: {cfg.environment}")
    for setting in settings(cfg):
        click.echo(f"  {setting.key} = {setting.value}  ({setting.origin})")
    from extract.run import open_warehouse, today_in_new_york
    from extract.sources import mask_credentials

    s3_source = f"s3://{cfg.s3.bucket}/{cfg.s3.prefix}".rstrip("/") + f" at {mask_credentials(cfg.s3.endpoint)}"
    click.echo(f"source: {cfg.source or s3_source}")
    datasets = (f"{d.name} (land {cfg.pipeline.land_scope_of(d)}, cache {d.cache})" for d in cfg.pipeline.datasets)
    click.echo(f"datasets: {', '.join(datasets)}")
    target_desc = cfg.database.duckdb_path if cfg.target == "duckdb" else cfg.database.postgres.describe()
    click.echo(f"target: {cfg.target} ({target_desc})")
    if cfg.pipeline.start_date > today_in_new_york():
        click.echo(f"warning: start_date {cfg.pipeline.start_date} is in the future: runs without --start load nothing")
    for warning in cfg.unheld_instruments():
        click.echo(f"warning: {warning}")
    problems = cfg.validate_environment()
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        sys.exit(2)
    try:
        with open_warehouse(cfg, read_only=True) as warehouse:
            warehouse.execute("select 1")
    except WarehouseError as exc:
        click.echo(f"problem: {exc}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"warehouse: reachable ({target_desc})")
    click.echo("ok")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@config_dir_option
@target_option
@environment_option
@_reports_errors
def dbt(dbt_args, config_dir, target, environment) -> None:
    """Run dbt (`tbp-extract dbt build`) on the warehouse of the environment's merged configuration."""
    from extract.environments import run_dbt

    cfg = _config(config_dir, target, environment)
    _duckdb_free(cfg)
    sys.exit(run_dbt(cfg, list(dbt_args)))


def _duckdb_free(cfg: Config) -> None:
    """A DuckDB file another process holds (a notebook, an extract) is one line and exit 3 (4: an extract's lock),
    not a page of dbt's errors."""
    if cfg.target == "duckdb" and cfg.database.duckdb_path.is_file():
        from extract.run import open_warehouse

        with open_warehouse(cfg):
            pass


@main.command("demo-data")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--start", callback=_date, default="2023-01-01", show_default=True)
@click.option("--end", callback=_date, default="2024-12-31", show_default=True)
@click.option(
    "--tickers",
    "ticker_count",
    type=click.IntRange(min=1),
    default=3000,
    show_default=True,
    help="How many tickers a day file holds (the configured ones included).",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--minute-sessions",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="The range's last sessions that get minute files (the configured stock tickers').",
)
@click.option(
    "--other-datasets/--stocks-only",
    default=True,
    show_default=True,
    help="Also write day files of indices, crypto, forex and options.",
)
@config_dir_option
@_reports_errors
def demo_data(out_dir, start, end, ticker_count, seed, minute_sessions, other_datasets, config_dir) -> None:
    """Write a deterministic synthetic mirror in the real key layout and file format."""
    from extract.demo import DemoSpec, write_demo_mirror

    cfg = _config(config_dir, None)
    spec = DemoSpec(
        start=start,
        end=end,
        ticker_count=ticker_count,
        seed=seed,
        include_tickers=tuple(cfg.all_tickers()),
        minute_sessions=minute_sessions,
        other_datasets=other_datasets,
    )
    written = write_demo_mirror(out_dir, spec)
    click.echo(
        f"wrote {written.files} stock day files ({written.rows} rows), {written.minute_files} minute files and "
        f"{written.other_files} day files of other datasets into {out_dir}"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@config_dir_option
@target_option
@environment_option
@_reports_errors
def status(as_json, config_dir, target, environment) -> None:
    """Per ticker: first and last session, sessions present and missing, coverage; the last run and its warnings;
    quarantine. Exits 3 when the warehouse or its models are missing, 1 when coverage is under min_coverage_pct or
    the last run did not succeed: fit for cron and monitors."""
    import json

    from extract.status import warehouse_status

    result = warehouse_status(_config(config_dir, target, environment))
    if as_json:
        click.echo(json.dumps(result.as_dict(), default=str, indent=2))
        sys.exit(result.exit_code)
    from rich.console import Console
    from rich.table import Table

    table = Table("ticker", "first", "last", "present", "missing", "coverage %")
    for t in result.tickers:
        coverage = "" if t.coverage_pct is None else f"{t.coverage_pct:.2f}"
        table.add_row(
            t.ticker,
            str(t.first_session or ""),
            str(t.last_session or ""),
            str(t.sessions_present),
            str(t.sessions_missing),
            coverage,
        )
    console = Console()
    console.print(table)
    if result.last_run:
        run = result.last_run
        console.print(
            f"last run {run['run_id']}: {run['outcome']}, {run['files_loaded']} files, "
            f"{run['rows_landed']} rows, {run['files_failed']} failed, finished {run['finished_at']}"
        )
    console.print(f"in quarantine: {result.quarantined_rows} rows from {result.quarantined_files} files")
    for warning in result.warnings:
        console.print(f"[yellow]warning: {warning}[/yellow]")
    for problem in result.problems:
        console.print(f"[red]problem: {problem}[/red]")
    sys.exit(result.exit_code)


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to this file.")
@config_dir_option
@target_option
@environment_option
@_reports_errors
def metrics(out, config_dir, target, environment) -> None:
    """Print the last run's and the last build's figures, quarantine, coverage and failed TimescaleDB jobs in the
    Prometheus text format; --out writes them atomically (node-exporter's textfile collector). Exit 3 when the
    warehouse cannot be opened."""
    from extract.metrics import collect_metrics, write_atomically

    text = collect_metrics(_config(config_dir, target, environment)).text()
    if out:
        write_atomically(text, out)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@config_dir_option
@target_option
@environment_option
@_reports_errors
def report(out_dir, config_dir, target, environment) -> None:
    """Write a coverage heatmap (ticker x month), a close-price chart and an HTML page showing them."""
    from extract.report import write_report

    for path in write_report(_config(config_dir, target, environment), out_dir):
        click.echo(f"wrote {path}")


@main.command()
@click.option("--lake", default=None, help="Folder or s3://bucket/prefix (default: lake_location in pipeline.yml).")
@config_dir_option
@target_option
@environment_option
@_reports_errors
def publish(lake, config_dir, target, environment) -> None:
    """Write the marts as a Hive-partitioned Parquet lake: only partitions whose rows changed, each atomically."""
    from extract.orchestration import publish_lake

    cfg = _config(config_dir, target, environment)
    result = publish_lake(cfg, lake)
    click.echo(result.line())
    if not result.location.startswith("s3://"):
        example = f"tickerbars.bars(['SPY'], lake='{result.location}').tail()"
        click.echo(f'query it: {sys.executable} -c "import tickerbars; print({example})"')
