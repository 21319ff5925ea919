"""What the warehouse holds: per-ticker coverage from dbt's marts, the last extract run, the quarantine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from extract.config import Config
from extract.datasets import Dataset
from extract.errors import DamagedWarehouseError, WarehouseError
from extract.run import open_warehouse, resolve_tickers
from extract.timescale import job_stats


@dataclass(frozen=True)
class TickerStatus:
    ticker: str
    first_session: date | None
    last_session: date | None
    sessions_present: int
    sessions_missing: int
    coverage_pct: float | None


@dataclass
class WarehouseStatus:
    tickers: list[TickerStatus] = field(default_factory=list)
    last_run: dict | None = None
    quarantined_rows: int = 0
    quarantined_files: int = 0
    # per dataset, the days of its calendar without a file
    missing_sessions: dict[str, list[date]] = field(default_factory=dict)
    off_session_files: list[str] = field(default_factory=list)  # files dated on a day their calendar does not trade
    landed_datasets: list[str] = field(default_factory=list)  # the datasets with at least one landed file
    warnings: list[str] = field(default_factory=list)  # what the last run reported (vanished or refused keys)
    failed_jobs: list[str] = field(default_factory=list)  # TimescaleDB background jobs whose last run failed
    problems: list[str] = field(default_factory=list)
    exit_code: int = 0

    def fail(self, exit_code: int, problem: str) -> WarehouseStatus:
        self.problems.append(problem)
        self.exit_code = max(self.exit_code, exit_code)
        return self

    def as_dict(self) -> dict:
        return asdict(self)


LAST_RUN_COLUMNS = (
    "run_id",
    "started_at",
    "finished_at",
    "outcome",
    "files_loaded",
    "files_failed",
    "rows_landed",
    "message",
)


def warehouse_status(cfg: Config) -> WarehouseStatus:
    """The state, with an exit code for cron and monitors: 3 when the warehouse or its models are not there (or
    cannot be opened); 1 when a listed dataset has no landed file, a day of a dataset's calendar has no file, a file
    is dated on a day off, a ticker's coverage is under min_coverage_pct (an option contract's aside), a configured
    ticker has no bar at all, the last run did not succeed, or a TimescaleDB job's last run failed."""
    status = WarehouseStatus()
    if cfg.target == "duckdb" and not cfg.database.duckdb_path.is_file():
        return status.fail(3, f"no warehouse at {cfg.database.duckdb_path}: run `make extract` then `make build`")
    with open_warehouse(cfg, read_only=True) as warehouse:
        landing, analytics = cfg.database.landing_schema, cfg.database.analytics_schema
        try:
            rows = warehouse.execute(
                "select ticker, first_session, last_session, sessions_present, sessions_missing, coverage_pct "
                f"from {analytics}.fct_ticker_coverage order by ticker"
            )
            [quarantine] = warehouse.execute(
                f"select count(*), count(distinct source_key) from {analytics}.fct_quarantined_bars"
            )
            status.landed_datasets = sorted(
                dataset for (dataset,) in warehouse.execute(f"select distinct dataset from {landing}.load_manifest")
            )
            gaps = warehouse.execute(
                f"select dataset, session_date, reason, source_key from {analytics}.fct_missing_sessions "
                "order by dataset, session_date"
            )
        except DamagedWarehouseError as exc:
            status.fail(3, str(exc))
        except WarehouseError:
            status.fail(3, f"dbt models not built yet in schema {analytics}: run `make build`")
        else:
            status.tickers = [
                TickerStatus(r[0], r[1], r[2], int(r[3]), int(r[4]), None if r[5] is None else float(r[5]))
                for r in rows
            ]
            status.quarantined_rows, status.quarantined_files = (int(value) for value in quarantine)
            for dataset, day, reason, key in gaps:
                if reason == "no_file":
                    status.missing_sessions.setdefault(dataset, []).append(day)
                else:
                    status.off_session_files.append(key)
        try:
            runs = warehouse.execute(
                f"select {', '.join(LAST_RUN_COLUMNS)} from {landing}.extract_runs order by started_at desc limit 1"
            )
            if runs:
                status.warnings = [
                    warning
                    for (warning,) in warehouse.execute(
                        f"select warning from {landing}.run_warnings where run_id = {warehouse.placeholder}",
                        [runs[0][0]],
                    )
                ]
        except WarehouseError:
            runs = []
        status.failed_jobs = [job.problem() for job in job_stats(warehouse, cfg.target) if job.failing]
    if runs:
        status.last_run = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(LAST_RUN_COLUMNS, runs[0], strict=True)
        }
        if status.last_run["outcome"] != "success":
            status.fail(1, f"the last run ended {status.last_run['outcome']}: {status.last_run['message'] or ''}")
    if status.exit_code < 3:
        # its calendar's days are expected from its first file on: with none, no day shows as missing
        never_landed = [d for d in cfg.pipeline.datasets if d.name not in status.landed_datasets]
        for dataset in sorted(never_landed, key=lambda d: d.name):
            status.fail(1, f"{dataset.name}: no file of it has landed: {_why_none_landed(cfg, dataset)}")
    for dataset, days in status.missing_sessions.items():
        shown = ", ".join(str(day) for day in days[:5])
        more = f" and {len(days) - 5} more" if len(days) > 5 else ""
        status.fail(1, f"{dataset}: {len(days)} sessions have no file: {shown}{more}")
    for problem in status.failed_jobs:
        status.fail(1, problem)
    for key in status.off_session_files:
        status.fail(1, f"{key}: dated on a day its calendar does not trade")
    # an option contract trades on the days someone trades it: its coverage is shown, not required (as in dbt's
    # test), and it may not have traded yet
    for ticker in (t for t in status.tickers if not t.ticker.startswith("O:")):
        # no bar at all, so no coverage to measure: a ticker the provider does not spell so, often (a dataset with
        # no file landed yet holds nothing)
        if ticker.sessions_present == 0 and (
            owners := _day_datasets_holding(cfg, ticker.ticker, status.landed_datasets)
        ):
            status.fail(
                1,
                f"{ticker.ticker}: no bar in any landed file of {' or '.join(owners)}: is it the provider's ticker? "
                "(else set active: false)",
            )
        elif ticker.coverage_pct is not None and ticker.coverage_pct < cfg.pipeline.min_coverage_pct:
            status.fail(
                1,
                f"{ticker.ticker}: coverage {ticker.coverage_pct:.2f} % is under {cfg.pipeline.min_coverage_pct} % "
                f"({ticker.sessions_missing} sessions missing)",
            )
    return status


def _why_none_landed(cfg: Config, dataset: Dataset) -> str:
    if resolve_tickers(cfg, (), None, dataset) == frozenset():
        return (
            "no configured instrument belongs to it and its land_scope is configured, so it is not listed; add one "
            "to instruments.yml, or take it out of datasets (TBP_DATASETS)"
        )
    return (
        "run the extract; if the source lists none, check that your plan includes it, or take it out of datasets "
        "(TBP_DATASETS)"
    )


def _day_datasets_holding(cfg: Config, ticker: str, landed: list[str]) -> list[str]:
    """The listed day datasets with a landed file whose files would hold the ticker (fct_ticker_coverage counts
    day bars only)."""
    return [
        d.name
        for d in cfg.pipeline.datasets
        if d.landing_table == "day_aggs" and d.name in landed and d.owns_ticker(ticker)
    ]
