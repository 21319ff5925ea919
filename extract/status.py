"""What the warehouse holds: per-ticker coverage from dbt's marts, the last extract run, the quarantine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from extract.config import Config

ANALYTICS_SCHEMA = "analytics"


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
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def query_warehouse(cfg: Config, sql: str) -> list[tuple]:
    if cfg.target == "postgres":
        from extract.land.postgres import connect

        with connect(cfg.database.postgres) as conn:
            return conn.execute(sql).fetchall()
    import duckdb

    with duckdb.connect(str(cfg.database.duckdb_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def warehouse_status(cfg: Config) -> WarehouseStatus:
    status = WarehouseStatus()
    if cfg.target == "duckdb" and not cfg.database.duckdb_path.is_file():
        status.problems.append(f"no warehouse at {cfg.database.duckdb_path}: run `make extract` then `make build`")
        return status
    try:
        rows = query_warehouse(
            cfg,
            "select ticker, first_session, last_session, sessions_present, sessions_missing, coverage_pct "
            f"from {ANALYTICS_SCHEMA}.fct_ticker_coverage order by ticker",
        )
        status.tickers = [
            TickerStatus(r[0], r[1], r[2], int(r[3]), int(r[4]), None if r[5] is None else float(r[5])) for r in rows
        ]
        quarantine = query_warehouse(
            cfg, f"select count(*), count(distinct source_key) from {ANALYTICS_SCHEMA}.fct_quarantined_bars"
        )
        status.quarantined_rows, status.quarantined_files = (int(value) for value in quarantine[0])
    except Exception as exc:  # noqa: BLE001 - any missing table means dbt has not built yet
        status.problems.append(f"dbt models not built yet ({type(exc).__name__}): run `make build`")
    schema = cfg.database.landing_schema
    try:
        runs = query_warehouse(
            cfg,
            "select run_id, started_at, finished_at, outcome, files_loaded, files_failed, rows_landed, message "
            f"from {schema}.extract_runs order by started_at desc limit 1",
        )
    except Exception:  # noqa: BLE001 - no extract has run yet
        runs = []
    if runs:
        keys = (
            "run_id",
            "started_at",
            "finished_at",
            "outcome",
            "files_loaded",
            "files_failed",
            "rows_landed",
            "message",
        )
        status.last_run = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(keys, runs[0], strict=True)
        }
    return status
