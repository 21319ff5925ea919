"""One extract run: list -> plan -> fetch (parallel) -> parse and land (a file whole or not at all) -> summary."""

from __future__ import annotations

import itertools
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from extract.calendar import NEW_YORK, early_closes, files_due_through, trading_days
from extract.config import Config, validate_ticker
from extract.datasets import Dataset
from extract.errors import (
    ConfigError,
    FileDefectError,
    Interrupted,
    MemoryCapError,
    NotInPlanError,
    PipelineError,
    ResourceError,
)
from extract.land.common import LandResult, Lineage, RunRecord
from extract.parse import UnparsableLines
from extract.plan import FileLoad, ManifestEntry, Plan, make_plan
from extract.sources import Listing, RemoteFile, Source, make_source

log = logging.getLogger("extract")
# Compressed bytes one transaction lands together at most: many day files, never two minute files.
BATCH_BYTES = 16 << 20


@dataclass(frozen=True)
class RunOptions:
    start: date | None = None
    end: date | None = None
    tickers: tuple[str, ...] = ()
    group: str | None = None
    dry_run: bool = False
    workers: int | None = None


@dataclass
class RunSummary:
    run_id: str
    source: str
    target: str
    start: date
    end: date
    files_listed: int = 0
    already_loaded: int = 0
    planned: dict[str, int] = field(default_factory=dict)
    files_loaded: int = 0
    files_downloaded: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    landed_alone: int = 0  # files that did not fit in memory beside others, landed again alone
    not_in_plan: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    would_load: list[FileLoad] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    @property
    def outcome(self) -> str:
        if self.dry_run:
            return "dry-run"
        return "failed" if self.failed else "success"

    def lines(self) -> list[str]:
        rate = self.rows_landed / self.seconds if self.seconds else 0.0
        lines = [
            f"run {self.run_id}: {self.outcome} ({self.source} -> {self.target}, {self.start} .. {self.end})",
            f"files: listed {self.files_listed}, already loaded {self.already_loaded}, "
            f"planned {sum(self.planned.values())} {self.planned or ''}".rstrip(),
        ]
        if self.dry_run:
            lines += [f"would load {load.remote.key} ({load.reason})" for load in self.would_load]
            return lines + [f"warning: {warning}" for warning in self.warnings]
        lines.append(
            f"loaded {self.files_loaded} files ({self.files_downloaded} downloaded), {self.rows_landed} rows landed, "
            f"{self.rows_rejected} rows rejected, not in plan {len(self.not_in_plan)}, failed {len(self.failed)}, "
            f"{self.seconds:.1f}s, {rate:,.0f} rows/s"
        )
        if self.landed_alone:
            lines.append(f"{self.landed_alone} files did not fit in memory beside others and were landed again alone")
        lines += [f"not in plan: {key}" for key in self.not_in_plan]
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines += [f"FAILED {key}: {message}" for key, message in sorted(self.failed.items())]
        return lines


def resolve_tickers(
    cfg: Config,
    tickers: tuple[str, ...],
    group: str | None,
    dataset: Dataset | None = None,
    earlier: frozenset[str] = frozenset(),
) -> frozenset[str] | None:
    """The tickers this run lands from a dataset's files, or None for every row of each file (`earlier`: the
    instruments' earlier tickers their ticker events name)."""
    if tickers and group:
        raise ConfigError("give --tickers or --group, not both")
    if tickers:
        return frozenset(validate_ticker(t.strip(), "--tickers") for t in tickers if t.strip())
    if group:
        return frozenset(cfg.group(group))
    dataset = dataset or cfg.pipeline.datasets[0]
    if cfg.pipeline.land_scope_of(dataset) == "configured":
        return cfg.tickers_of(dataset, earlier)
    return None


def datasets_listed(cfg: Config) -> list[Dataset]:
    """The datasets a run without --tickers or --group lists: not one whose files would land nothing
    (land_scope configured and no configured ticker of it)."""
    return [d for d in cfg.pipeline.datasets if resolve_tickers(cfg, (), None, d) != frozenset()]


def earlier_tickers_named(cfg: Config, warehouse) -> frozenset[str]:
    """The configured instruments' earlier tickers that their newest ticker events name (FB for META): a dataset
    landing the configured tickers lands theirs too, as instruments.yml's previous_tickers."""
    records = warehouse.ticker_event_records()
    return frozenset(t for i in cfg.instruments for t in i.earlier_tickers(records.get(i.ticker, [])))


def today_in_new_york() -> date:
    return datetime.now(NEW_YORK).date()


def open_warehouse(cfg: Config, read_only: bool = False):
    if cfg.target == "postgres":
        from extract.land.postgres import PostgresWarehouse

        return PostgresWarehouse(
            cfg.database.postgres,
            cfg.database.landing_schema,
            read_only=read_only,
            lanes=cfg.pipeline.load_connections,
        )
    from extract.land.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(
        cfg.database.duckdb_path,
        cfg.database.landing_schema,
        cfg.database.postgres.lock_timeout_seconds,
        read_only=read_only,
        lanes=cfg.pipeline.load_connections,
        memory_limit=cfg.database.duckdb_memory_limit,
    )


def run_extract(
    cfg: Config, options: RunOptions, source: Source | None = None, before_loading: Callable[[], None] | None = None
) -> RunSummary:
    """The run; before_loading is called as soon as the plan has files to land, before the first is fetched (the
    everyday run starts dbt's parse then, beside the rest of the extract)."""
    start = options.start or cfg.pipeline.start_date
    end = options.end or today_in_new_york()
    if start > end:
        raise ConfigError(f"start date {start} is after end date {end}")
    scopes = {d.name: resolve_tickers(cfg, options.tickers, options.group, d) for d in cfg.pipeline.datasets}
    source = source or make_source(cfg.source, cfg.s3, cfg.pipeline.cache_dir)
    started = time.monotonic()
    summary = RunSummary(
        run_id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        source=source.description,
        target=cfg.target,
        start=start,
        end=end,
        dry_run=options.dry_run,
    )
    with _stop_on_signals() as stop:
        listed = [d for d in cfg.pipeline.datasets if scopes[d.name] != frozenset()]
        listings = {d.name: source.list_files(start, end, d) for d in listed}
        summary.files_listed = sum(len(listing.files) for listing in listings.values())
        with open_warehouse(cfg, read_only=options.dry_run) as warehouse:
            if not options.dry_run:
                warehouse.ensure_schema()
                for run_id in warehouse.abandon_stale_runs():
                    log.warning("run %s was stopped without a word (killed?): marked abandoned", run_id)
            if not (options.tickers or options.group):
                earlier = earlier_tickers_named(cfg, warehouse)
                scopes = {d.name: resolve_tickers(cfg, (), None, d, earlier) for d in cfg.pipeline.datasets}
            plan = _plan(listings, warehouse.manifest(), scopes, (start, end))
            if not options.dry_run:
                if plan.loads and before_loading:
                    before_loading()
                _write_configuration(cfg, warehouse, start, end)
            summary.already_loaded, summary.planned = plan.already_loaded, plan.by_reason()
            summary.warnings = (
                [
                    f"--tickers {ticker}: not in instruments.yml; it lands, but dbt builds no bars for it until "
                    "it is configured"
                    for ticker in sorted(set(options.tickers) - set(cfg.all_tickers()))
                ]
                + [
                    f"{name}: no configured instrument belongs to this dataset (land_scope configured); not listed"
                    for name, scope in scopes.items()
                    if scope == frozenset()
                ]
                + cfg.unheld_instruments()
                + [refused for listing in listings.values() for refused in listing.refused]
                + [
                    f"{key}: loaded before but no longer listed by the source; its landed rows are kept"
                    for key in plan.vanished
                ]
            )
            log.info(
                "listed %d files, %d already loaded, plan %s",
                summary.files_listed,
                plan.already_loaded,
                summary.planned,
            )
            for warning in summary.warnings:
                log.warning("%s", warning)
            if options.dry_run:
                summary.would_load = plan.loads
                return summary
            run = RunRecord(summary.run_id, datetime.now(UTC), cfg.target, source.description)
            warehouse.record_run(run)
            try:
                _load_all(cfg, options, source, warehouse, plan, summary, stop)
                if stop.signum:
                    raise Interrupted(stop.signum)
            except BaseException as exc:
                summary.files_downloaded = source.downloaded
                summary.seconds = time.monotonic() - started
                _finish_run(warehouse, run, summary, "interrupted" if isinstance(exc, Interrupted) else "aborted")
                raise
            summary.files_downloaded = source.downloaded
            if summary.rows_landed:
                warehouse.refresh_statistics()
            summary.seconds = time.monotonic() - started
            _finish_run(warehouse, run, summary, summary.outcome)
    return summary


def _write_configuration(cfg: Config, warehouse, start: date, end: date) -> None:
    """The instruments, datasets and calendar days as this run sees them, for the models to read. The calendar covers
    every file landed too: a later start must not make earlier files look dated on days off."""
    warehouse.write_instruments(cfg.instruments, datetime.now(UTC))
    warehouse.write_datasets(cfg.pipeline.datasets)
    [(landed_from,)] = warehouse.execute(f"select min(file_date) from {warehouse.schema}.load_manifest")
    first, last = min(start, cfg.pipeline.start_date, landed_from or start), max(end, today_in_new_york())
    calendars = {"XNYS", *(d.calendar for d in cfg.pipeline.datasets)}
    warehouse.write_calendar_days(
        {calendar: trading_days(calendar, first, last) for calendar in calendars},
        early_closes(first, last),
        min(end, files_due_through(datetime.now(UTC))),
    )


def _plan(
    listings: dict[str, Listing],
    manifest: list[ManifestEntry],
    scopes: dict[str, frozenset[str] | None],
    listed_range: tuple[date, date],
) -> Plan:
    """One plan over every dataset, each listing compared with its own dataset's loads."""
    plans = [
        make_plan(listing.files, [e for e in manifest if e.dataset == name], scopes[name], listed_range)
        for name, listing in listings.items()
    ]
    return Plan(
        loads=[load for plan in plans for load in plan.loads],
        already_loaded=sum(plan.already_loaded for plan in plans),
        vanished=[key for plan in plans for key in plan.vanished],
    )


class _StopRequest(threading.Event):
    signum: int = 0


@contextmanager
def _stop_on_signals() -> Iterator[_StopRequest]:
    """SIGINT and SIGTERM ask the run to stop: no new file starts, files in flight finish or roll back. Only the
    main thread can take signals; elsewhere (a scheduler's worker thread) the request never comes."""
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum, frame) -> None:
        log.warning("%s received: finishing the files in flight, starting no new one", signal.Signals(signum).name)
        stop.signum = signum
        stop.set()
        handler = previous.get(signum)
        if callable(handler) and handler is not signal.default_int_handler:  # a watch's: it stops after this run
            handler(signum, frame)

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stop.signum and not sys.exc_info()[0]:
        raise Interrupted(stop.signum)


def _finish_run(warehouse, run: RunRecord, summary: RunSummary, outcome: str) -> None:
    run.finished_at = datetime.now(UTC)
    run.outcome = outcome
    run.files_listed, run.files_loaded = summary.files_listed, summary.files_loaded
    run.files_skipped, run.files_failed = summary.already_loaded, len(summary.failed)
    run.rows_landed, run.rows_rejected = summary.rows_landed, summary.rows_rejected
    run.message = "; ".join(f"{k}: {v}" for k, v in sorted(summary.failed.items()))[:2000]
    try:
        warehouse.record_run(run, summary.warnings)
    except PipelineError as exc:
        log.warning("could not record the run's outcome: %s", exc)


def _load_all(
    cfg: Config, options: RunOptions, source: Source, warehouse, plan: Plan, summary: RunSummary, stop
) -> None:
    """Downloads run ahead in parallel; files land as soon as they are here, on as many lanes as the warehouse
    offers (PostgreSQL: COPY connections; DuckDB: appending cursors), those that arrived while every lane was busy
    together in one transaction where the warehouse can (batch_files). The summary is kept by this thread.
    Once a stop is requested, no download or landing starts; those under way finish."""
    workers = options.workers or cfg.pipeline.download_workers
    # Extracts hold the warehouse's lock, so ids handed out here are not taken by another run.
    load_ids = itertools.count(warehouse.last_load_id() + 1)
    dropped = frozenset(d.name for d in cfg.pipeline.datasets if d.cache == "drop_after_landing")
    alone: list[tuple[FileLoad, Path]] = []  # files that did not fit in memory beside others
    ready: list[tuple[FileLoad, Path]] = []  # fetched, waiting for a lane
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as fetchers,
        ThreadPoolExecutor(max_workers=warehouse.lanes, thread_name_prefix="land") as landers,
        _progress(len(plan.loads)) as advance,
    ):
        fetching = {fetchers.submit(source.fetch, load.remote, cfg.pipeline.cache_dir): load for load in plan.loads}
        landing: dict[Future, int] = {}
        while fetching or landing or ready:
            if stop.is_set():
                _cancel(fetching)
                _cancel(landing)
                ready.clear()
            while ready and len(landing) < warehouse.lanes:
                batch = [(load, path, next(load_ids)) for load, path in _take_batch(ready, warehouse.batch_files)]
                landing[landers.submit(_land_batch, warehouse, source, batch, summary.run_id, dropped)] = len(batch)
            done, _ = wait([*fetching, *landing], timeout=0.2, return_when=FIRST_COMPLETED)
            fatal: ResourceError | None = None
            for future in done:
                if future in fetching:
                    load = fetching.pop(future)
                    try:
                        ready.append((load, future.result()))
                        continue
                    except PipelineError as exc:
                        outcomes = [(load, None, exc)]
                else:
                    del landing[future]
                    outcomes = future.result()
                for load, path, outcome in outcomes:
                    if isinstance(outcome, ResourceError):
                        fatal = fatal or outcome
                    elif _record(summary, load, outcome):
                        alone.append((load, path))
                    else:
                        advance()
            if fatal:
                _stop_for(fatal, fetching, landing, summary)
    for load, path in alone:
        if stop.is_set():
            break
        try:
            _count(summary, _land_one(warehouse, source, load, path, summary.run_id, next(load_ids), dropped))
            summary.landed_alone += 1
        except MemoryCapError as exc:
            summary.failed[load.remote.key] = f"{str(exc).removeprefix(f'{load.remote.key}: ')}, and alone too"
            log.error("%s, and alone too", exc)
        except ResourceError:
            raise
        except PipelineError as exc:
            _record(summary, load, exc)


def _stop_for(fatal: ResourceError, fetching: dict, landing: dict, summary: RunSummary) -> None:
    """The run cannot go on: no download starts, and what lands under way commits and is counted."""
    _cancel(fetching)
    for future in landing:
        for load, _path, outcome in future.result():
            if not isinstance(outcome, ResourceError):
                _record(summary, load, outcome)
    raise fatal


def _take_batch(ready: list[tuple[FileLoad, Path]], most: int) -> list[tuple[FileLoad, Path]]:
    """The first ready file and, up to `most` in all, the ready files that can land with it in one read: the same
    dataset and tickers, and few enough bytes (a minute file lands alone)."""
    first = ready[0][0]
    key = (first.remote.dataset, first.tickers, first.skip_tickers)
    taken, size = [], 0
    for load, path in list(ready):
        if len(taken) == most or (taken and size + load.remote.size > BATCH_BYTES):
            break
        if (load.remote.dataset, load.tickers, load.skip_tickers) == key:
            taken.append((load, path))
            size += load.remote.size
            ready.remove((load, path))
    return taken


def _record(summary: RunSummary, load: FileLoad, outcome: LandResult | PipelineError) -> bool:
    """Count one file's outcome; True when it must land again alone (it did not fit in memory beside others)."""
    if isinstance(outcome, LandResult):
        _count(summary, outcome)
    elif isinstance(outcome, MemoryCapError):
        log.warning("%s: landing it again alone", outcome)
        return True
    elif isinstance(outcome, NotInPlanError):
        summary.not_in_plan.append(load.remote.key)
        log.warning("%s", outcome)
    else:
        summary.failed[load.remote.key] = str(outcome).removeprefix(f"{load.remote.key}: ")
        log.error("%s", outcome)
    return False


def _cancel(pending: dict[Future, object]) -> None:
    """Drop what has not started; what runs finishes (a landing commits or rolls back as a whole)."""
    for future in list(pending):
        if future.cancel():
            del pending[future]


def _land_batch(
    warehouse, source: Source, batch: list[tuple[FileLoad, Path, int]], run_id: str, dropped: frozenset[str]
) -> list[tuple[FileLoad, Path, LandResult | PipelineError]]:
    """The files in one transaction; when that fails, each alone, in turn (a file that did not fit in memory is
    left to land alone after the others). Each file's outcome, up to the first the whole run stops for."""
    if len(batch) > 1:
        began = time.monotonic()
        files = [(path, load, _lineage(load, load_id, run_id)) for load, path, load_id in batch]
        try:
            results = warehouse.land_together(files)
        except MemoryCapError as exc:
            return [(load, path, exc) for load, path, _load_id in batch]
        except (PipelineError, UnparsableLines) as exc:
            log.info("%d files landed one at a time, not together: %s", len(batch), exc or "a line does not parse")
        else:
            for (load, path, _load_id), result in zip(batch, results, strict=True):
                _landed(source, load, path, result, began, dropped, together=len(batch))
            return [(load, path, result) for (load, path, _load_id), result in zip(batch, results, strict=True)]
    outcomes = []
    for load, path, load_id in batch:
        try:
            outcomes.append((load, path, _land_one(warehouse, source, load, path, run_id, load_id, dropped)))
        except PipelineError as exc:
            outcomes.append((load, path, exc))
            if isinstance(exc, ResourceError):
                break
    return outcomes


def _lineage(load: FileLoad, load_id: int, run_id: str) -> Lineage:
    remote: RemoteFile = load.remote
    return Lineage(load_id, remote.key, remote.etag, remote.file_date, datetime.now(UTC), run_id)


def _land_one(
    warehouse, source: Source, load: FileLoad, path, run_id: str, load_id: int, dropped: frozenset[str]
) -> LandResult:
    """Land one file; a defective download leaves the cache."""
    began = time.monotonic()
    try:
        result = warehouse.land(path, load, _lineage(load, load_id, run_id))
    except FileDefectError:
        source.discard(path)
        raise
    _landed(source, load, path, result, began, dropped)
    return result


def _landed(
    source: Source, load: FileLoad, path, result: LandResult, began: float, dropped: frozenset[str], together: int = 1
) -> None:
    """A landed file leaves the cache where its dataset's cache policy says so (minute files would fill a disk)."""
    if load.remote.dataset in dropped:
        source.discard(path)
    log.info(
        "loaded %s (%s): %d rows, %d rejected, %.3fs%s",
        load.remote.key,
        load.reason,
        result.rows,
        result.rejected,
        time.monotonic() - began,
        f" (one transaction with {together - 1} other files)" if together > 1 else "",
    )


def _count(summary: RunSummary, result: LandResult) -> None:
    summary.files_loaded += 1
    summary.rows_landed += result.rows
    summary.rows_rejected += result.rejected


@contextmanager
def _progress(total: int) -> Iterator:
    """A rich progress bar on a terminal; nothing extra (the per-file log lines) otherwise."""
    if not sys.stderr.isatty() or total == 0:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("loading", total=total)
        yield lambda: progress.advance(task)
