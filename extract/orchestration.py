"""What scheduled tasks call: the CLI's functions, with the windows a schedule needs."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from extract.calendar import is_session
from extract.config import Config
from extract.errors import PipelineError
from extract.run import RunOptions, RunSummary, datasets_listed, open_warehouse, run_extract
from extract.sources import Source, date_from_key, day_file_key, make_source

log = logging.getLogger("extract")


class FileNotPublishedYet(PipelineError):
    """The session's day file is not in the listing yet; a scheduler should retry later."""


def recent_window(cfg: Config, session: date) -> tuple[date, date]:
    """From `lookback_days` sessions before `session` up to it: what a daily run re-lists for late or new files."""
    start, counted = session, 0
    while counted < cfg.pipeline.lookback_days:
        start -= timedelta(days=1)
        counted += is_session(start)
    return start, session


def missing_keys(cfg: Config, session: date) -> list[str]:
    """The keys of the session's files that have not landed, one per dataset a run lists."""
    with open_warehouse(cfg, read_only=True) as warehouse:
        loaded = {(entry.dataset, date_from_key(entry.key)) for entry in warehouse.manifest()}
    return [day_file_key(d.name, session) for d in datasets_listed(cfg) if (d.name, session) not in loaded]


def daily_extract(cfg: Config, session: date, source: Source | None = None) -> RunSummary:
    """Extract the recent window; fail (for a retry) when a file failed or the session's file is not out yet."""
    start, end = recent_window(cfg, session)
    summary = run_extract(cfg, RunOptions(start=start, end=end), source=source)
    for line in summary.lines():
        log.info("%s", line)
    if summary.failed:
        raise PipelineError(f"{len(summary.failed)} file(s) failed: " + "; ".join(sorted(summary.failed)))
    if is_session(session) and (missing := missing_keys(cfg, session)):
        raise FileNotPublishedYet(f"the day file for {session} is not published yet ({', '.join(missing)})")
    return summary


def alert_if_late(cfg: Config, session: date, run_id: str, now: datetime | None = None) -> bool:
    """Send the lateness alert when the session's file is still missing past the environment's file deadline."""
    from extract.alerts import file_deadline_passed, late_file_alert, send_alert

    if not file_deadline_passed(session, cfg.schedule.file_deadline, now or datetime.now(UTC)):
        return False
    missing = missing_keys(cfg, session)
    for key in missing:
        send_alert(cfg, late_file_alert(session, cfg.schedule.file_deadline, run_id, key))
    return bool(missing)


def month_windows(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end] cut at month ends: one backfill task each."""
    windows = []
    while start <= end:
        next_month = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        windows.append((start, min(end, next_month - timedelta(days=1))))
        start = next_month
    return windows


def prefetch(cfg: Config, start: date, end: date, source: Source | None = None) -> int:
    """Download [start, end] into the shared cache without the warehouse, so many workers share the download."""
    source = source or make_source(cfg.source, cfg.s3, cfg.pipeline.cache_dir)
    listing = [remote for dataset in datasets_listed(cfg) for remote in source.list_files(start, end, dataset).files]

    def fetch(remote) -> bool:
        try:
            source.fetch(remote, cfg.pipeline.cache_dir)
            return True
        except PipelineError as exc:
            log.warning("prefetch: %s (the load task reports it again)", exc)
            return False

    with ThreadPoolExecutor(cfg.pipeline.download_workers) as pool:
        fetched = sum(pool.map(fetch, listing))
    log.info("prefetched %d of %d files for %s .. %s", fetched, len(listing), start, end)
    return fetched


def publish_lake(cfg: Config, location: str | None = None):
    """The marts into the Parquet lake (lake_location, or `location`): what a build is followed by."""
    from extract.lake import open_lake, publish

    with open_warehouse(cfg, read_only=True) as warehouse:
        result = publish(
            warehouse,
            open_lake(location or cfg.pipeline.lake_location, cfg.s3),
            cfg.database.analytics_schema,
            cfg.pipeline.datasets[0].name,
        )
    log.info("%s", result.line())
    return result


def daily_reference(cfg: Config) -> int:
    """Reference data for a scheduled run: skipped, with a line in the log, where neither an API key nor a folder
    of pages is configured (flat files alone still give unadjusted bars). Fails when a fetch failed."""
    if not cfg.api.key and not cfg.api.source:
        log.warning("no POLYGON_API_KEY (nor TBP_REFERENCE_SOURCE): reference data skipped, bars stay unadjusted")
        return 0
    from extract.reference import run_reference

    summary = run_reference(cfg)
    for line in summary.lines():
        log.info("%s", line)
    if summary.failed:
        raise PipelineError(f"{len(summary.failed)} reference fetch(es) failed: " + "; ".join(sorted(summary.failed)))
    return summary.records
