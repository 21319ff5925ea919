"""The figures of fct_extract_runs, fct_build_runs, the quarantine, coverage and TimescaleDB's jobs, in the
Prometheus text exposition format (for node-exporter's textfile collector)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from extract.config import Config
from extract.errors import WarehouseError
from extract.run import open_warehouse
from extract.timescale import job_stats

PREFIX = "tickerbars"
# dbt_project.yml's quarantine_reasons holds the same list: each reason is reported, 0 when no row carries it.
QUARANTINE_REASONS = (
    "date_mismatch",
    "conflicting_duplicate",
    "missing_value",
    "non_finite",
    "non_positive_price",
    "negative_volume",
    "ohlc_inconsistent",
    "unparsable",
    "not_a_session",
)
LAST_RUN = (
    "select started_at, finished_at, outcome, duration_seconds, files_listed, files_loaded, files_skipped, "
    "files_failed, rows_landed, rows_rejected, rows_per_second, sessions_behind "
    "from {schema}.fct_extract_runs order by started_at desc limit 1"
)
LAST_BUILD = (
    "select finished_at, command, duration_seconds, models_failed, tests_failed, fact_rows, min_coverage_pct, "
    "tickers_below_threshold, sessions_behind from {schema}.fct_build_runs order by finished_at desc limit 1"
)


@dataclass
class Family:
    name: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float | int | None, **labels: str) -> None:
        if value is not None:
            self.samples.append((labels, float(value)))


@dataclass
class Metrics:
    labels: dict[str, str]
    families: dict[str, Family] = field(default_factory=dict)

    def family(self, name: str, help_text: str) -> Family:
        return self.families.setdefault(name, Family(f"{PREFIX}_{name}", help_text))

    def text(self) -> str:
        lines = []
        for family in self.families.values():
            if not family.samples:
                continue
            lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} gauge"]
            lines += [f"{family.name}{_labels({**self.labels, **extra})} {_number(v)}" for extra, v in family.samples]
        return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{key}="{escaped(str(value))}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _timestamp(value) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def collect_metrics(cfg: Config) -> Metrics:
    """Every figure the warehouse holds now; a family whose model is not built yet is left out, and
    models_available says so. Raises WarehouseError (exit 3) when the warehouse itself cannot be opened."""
    metrics = Metrics({"environment": cfg.environment, "target": cfg.target})
    if cfg.target == "duckdb" and not cfg.database.duckdb_path.is_file():
        raise WarehouseError(f"no warehouse at {cfg.database.duckdb_path}: run `make extract` then `make build`")
    analytics = cfg.database.analytics_schema
    with open_warehouse(cfg, read_only=True) as warehouse:
        available = all(
            [
                _read(warehouse, LAST_RUN.format(schema=analytics), lambda rows: _last_run(metrics, rows)),
                _read(warehouse, LAST_BUILD.format(schema=analytics), lambda rows: _last_build(metrics, rows)),
                _read(warehouse, _quarantine_sql(analytics), lambda rows: _quarantine(metrics, rows)),
                _read(warehouse, _coverage_sql(analytics), lambda rows: _coverage(metrics, rows)),
            ]
        )
        _jobs(metrics, job_stats(warehouse, cfg.target))
    metrics.family("models_available", "1 when every model the metrics read is built, else 0.").add(available)
    return metrics


def _read(warehouse, sql: str, record) -> bool:
    try:
        rows = warehouse.execute(sql)
    except WarehouseError:
        return False
    record(rows)
    return True


def _last_run(metrics: Metrics, rows: list[tuple]) -> None:
    if not rows:
        return
    started, finished, outcome, duration, listed, loaded, skipped, failed, landed, rejected, rate, behind = rows[0]
    metrics.family("extract_last_run_started_timestamp_seconds", "Start of the last extract run.").add(
        _timestamp(started)
    )
    metrics.family("extract_last_run_finished_timestamp_seconds", "End of the last extract run.").add(
        _timestamp(finished)
    )
    metrics.family("extract_last_run_success", "1 when the last extract run succeeded.").add(outcome == "success")
    metrics.family("extract_last_run_duration_seconds", "Duration of the last extract run.").add(duration)
    files = metrics.family("extract_last_run_files", "Files of the last extract run, by state.")
    for state, count in (("listed", listed), ("loaded", loaded), ("skipped", skipped), ("failed", failed)):
        files.add(count, state=state)
    row_counts = metrics.family("extract_last_run_rows", "Rows of the last extract run: landed, rejected.")
    row_counts.add(landed, kind="landed")
    row_counts.add(rejected, kind="rejected")
    metrics.family("extract_last_run_rows_per_second", "Rows landed per second by the last extract run.").add(rate)
    behind_help = "Days without a newer landed file at the last run, on each dataset's calendar (the stalest dataset)."
    metrics.family("extract_sessions_behind", behind_help).add(behind)


def _last_build(metrics: Metrics, rows: list[tuple]) -> None:
    if not rows:
        return
    finished, command, duration, models_failed, tests_failed, fact_rows, min_coverage, below, behind = rows[0]
    metrics.family("dbt_last_finished_timestamp_seconds", "End of the last dbt invocation.").add(
        _timestamp(finished), command=command
    )
    metrics.family("dbt_last_duration_seconds", "Duration of the last dbt invocation.").add(duration, command=command)
    failures = metrics.family("dbt_last_failures", "Models and tests that failed in the last dbt invocation.")
    failures.add(models_failed, command=command, kind="model")
    failures.add(tests_failed, command=command, kind="test")
    metrics.family("fact_rows", "Rows in fct_daily_bars at the last build.").add(fact_rows)
    metrics.family("min_coverage_percent", "Lowest ticker coverage at the last build.").add(min_coverage)
    metrics.family("tickers_below_threshold", "Tickers under min_coverage_pct at the last build.").add(below)
    lag_help = "Sessions after the newest bar of the stalest dataset, at the last build."
    metrics.family("freshness_lag_sessions", lag_help).add(behind)


def _quarantine_sql(schema: str) -> str:
    return f"select quarantine_reason, count(*) from {schema}.fct_quarantined_bars group by 1 order by 1"


def _quarantine(metrics: Metrics, rows: list[tuple]) -> None:
    family = metrics.family("quarantined_rows", "Rows kept out of fct_daily_bars and fct_minute_bars, by reason.")
    counts = {reason: 0 for reason in QUARANTINE_REASONS} | dict(rows)
    for reason, count in counts.items():
        family.add(count, reason=reason)


def _coverage_sql(schema: str) -> str:
    return f"select ticker, coverage_pct, sessions_missing from {schema}.fct_ticker_coverage order by ticker"


def _coverage(metrics: Metrics, rows: list[tuple]) -> None:
    coverage = metrics.family("ticker_coverage_percent", "Share of the exchange's sessions with a bar, per ticker.")
    missing = metrics.family("ticker_sessions_missing", "Sessions without a bar, per ticker.")
    for ticker, pct, sessions_missing in rows:
        coverage.add(pct, ticker=ticker)
        missing.add(sessions_missing, ticker=ticker)


def _jobs(metrics: Metrics, jobs) -> None:
    failures = metrics.family("timescaledb_job_failures", "Failed runs of a TimescaleDB background job, in total.")
    failing = metrics.family("timescaledb_job_last_run_failed", "1 when the job's last run failed.")
    for job in jobs:
        labels = {"job_id": str(job.job_id), "proc_name": job.proc_name, "hypertable": job.hypertable}
        failures.add(job.total_failures, **labels)
        failing.add(job.failing, **labels)
    metrics.family("timescaledb_failed_jobs", "TimescaleDB jobs whose last run failed (0 without TimescaleDB).").add(
        sum(job.failing for job in jobs)
    )


def write_atomically(text: str, path: Path) -> None:
    """Write aside and rename: a textfile collector never reads half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)
