"""Landing into a DuckDB file: parse straight into the warehouse connection, one transaction a file."""

from __future__ import annotations

import fcntl
import time
from datetime import datetime
from pathlib import Path

import duckdb

from extract.config import Instrument
from extract.errors import FileDefectError, LockTimeoutError, WarehouseError
from extract.land.common import (
    RUN_COLUMNS,
    LandResult,
    Lineage,
    RunRecord,
    encode_tickers,
    instrument_rows,
    landing_ddl,
    manifest_entry,
    ticker_filter,
)
from extract.parse import PARSED_TABLE, REJECTS_TABLE, parse_file
from extract.plan import FileLoad, ManifestEntry


class DuckDBWarehouse:
    """The embedded warehouse. A file lock beside the database keeps extracts one at a time."""

    lanes = 1  # one writing connection: files land one after another

    def __init__(self, path: Path, schema: str, lock_timeout_seconds: int = 60, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.schema = schema
        self.lock_timeout_seconds = lock_timeout_seconds
        self.description = f"duckdb {self.path}"
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock_file = None

    def open(self) -> DuckDBWarehouse:
        if self.read_only:
            exists = self.path.is_file()
            self._conn = duckdb.connect(str(self.path) if exists else ":memory:", read_only=exists)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._conn = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            self.close()
            raise WarehouseError(f"cannot open {self.path}: {exc}") from None
        return self

    def _acquire_lock(self) -> None:
        self._lock_file = open(f"{self.path}.lock", "w")  # noqa: SIM115 - held until close()
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._lock_file.close()
                    self._lock_file = None
                    raise LockTimeoutError(
                        f"another extract is loading into {self.path}; waited {self.lock_timeout_seconds}s "
                        "(raise TBP_LOCK_TIMEOUT_SECONDS to wait longer)"
                    ) from None
                time.sleep(0.2)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> DuckDBWarehouse:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise WarehouseError(f"{self.description} is not open")
        return self._conn

    def ensure_schema(self) -> None:
        for statement in landing_ddl(self.schema):
            self.conn.execute(statement)

    def manifest(self) -> list[ManifestEntry]:
        exists = self.conn.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [self.schema, "load_manifest"],
        ).fetchall()[0][0]
        if not exists:
            return []
        rows = self.conn.execute(f"select source_key, etag, size, tickers from {self.schema}.load_manifest").fetchall()
        return [manifest_entry(*row) for row in rows]

    def land(self, path: Path, load: FileLoad, lineage: Lineage) -> LandResult:
        conn = self.conn
        conn.execute("begin transaction")
        try:
            parsed = parse_file(conn, path, lineage.source_key)
            predicate, params = ticker_filter(load)
            rows = conn.execute(
                f"insert into {self.schema}.day_aggs select p.*, ?, ?, ?, ?, ? from {PARSED_TABLE} p where {predicate}",
                lineage.values() + params,
            ).fetchall()[0][0]
            rejected = 0 if load.reason == "widened" else parsed.rejected
            if rejected:
                conn.execute(
                    f"insert into {self.schema}.rejected_rows select ?, ?, ?, line, column_name, "
                    f"error_message, csv_line, ?, ? from {REJECTS_TABLE}",
                    lineage.values(),
                )
            conn.execute(
                f"insert into {self.schema}.load_manifest values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    lineage.source_key,
                    lineage.source_etag,
                    load.remote.size,
                    lineage.file_date,
                    rows,
                    rejected,
                    encode_tickers(load.tickers),
                    lineage.loaded_at,
                    lineage.run_id,
                ],
            )
            conn.execute("commit")
        except FileDefectError:
            conn.execute("rollback")
            raise
        except duckdb.Error as exc:
            conn.execute("rollback")
            raise WarehouseError(f"{lineage.source_key}: cannot land into {self.path}: {exc}") from None
        return LandResult(rows=rows, rejected=rejected)

    def write_instruments(self, instruments: tuple[Instrument, ...], now: datetime) -> None:
        conn = self.conn
        conn.execute("begin transaction")
        conn.execute(f"delete from {self.schema}.instruments")
        conn.executemany(
            f"insert into {self.schema}.instruments values (?, ?, ?, ?, ?, ?, ?)",
            instrument_rows(instruments, now),
        )
        conn.execute("commit")

    def record_run(self, run: RunRecord) -> None:
        self.conn.execute(f"delete from {self.schema}.extract_runs where run_id = ?", [run.run_id])
        self.conn.execute(
            f"insert into {self.schema}.extract_runs ({RUN_COLUMNS}) values ({', '.join('?' * 13)})",
            run.values(),
        )
