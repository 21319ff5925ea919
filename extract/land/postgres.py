"""Landing into PostgreSQL: DuckDB parses, COPY sends the rows, one transaction a file, one extract at a time."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import psycopg

from extract.config import Instrument, PostgresConfig
from extract.errors import LockTimeoutError, WarehouseError
from extract.land.common import (
    LANDING_COLUMNS,
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

# pg_advisory_lock key shared by every extract into one database ("tbp" in ASCII).
EXTRACT_LOCK_KEY = 0x746270


def _scrub(message: str, cfg: PostgresConfig) -> str:
    password = cfg.password.get()
    first_line = message.strip().splitlines()[0] if message.strip() else message
    return first_line.replace(password, "***") if password else first_line


def connect(cfg: PostgresConfig, autocommit: bool = False) -> psycopg.Connection:
    """A connection, or a WarehouseError naming host, port and database (never the password)."""
    try:
        return psycopg.connect(
            host=cfg.host,
            port=cfg.port,
            dbname=cfg.dbname,
            user=cfg.user,
            password=cfg.password.get() or None,
            connect_timeout=10,
            application_name="tbp-extract",
            autocommit=autocommit,
        )
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot connect to PostgreSQL at {cfg.describe()}: {_scrub(str(exc), cfg)}") from None


class PostgresWarehouse:
    """The production warehouse. A session advisory lock keeps extracts one at a time per database."""

    def __init__(self, cfg: PostgresConfig, schema: str, read_only: bool = False) -> None:
        self.cfg = cfg
        self.schema = schema
        self.read_only = read_only
        self.description = f"postgres {cfg.describe()}"
        self._conn: psycopg.Connection | None = None
        self._duck: duckdb.DuckDBPyConnection | None = None

    def open(self) -> PostgresWarehouse:
        self._conn = connect(self.cfg)
        self._duck = duckdb.connect()
        if not self.read_only:
            self._acquire_lock()
        return self

    def _acquire_lock(self) -> None:
        deadline = time.monotonic() + self.cfg.lock_timeout_seconds
        while True:
            locked = self._execute("select pg_try_advisory_lock(%s)", [EXTRACT_LOCK_KEY]).fetchone()[0]
            self.conn.commit()
            if locked:
                return
            if time.monotonic() >= deadline:
                self.close()
                raise LockTimeoutError(
                    f"another extract is loading into {self.cfg.describe()}; waited "
                    f"{self.cfg.lock_timeout_seconds}s (raise TBP_LOCK_TIMEOUT_SECONDS to wait longer)"
                )
            time.sleep(0.5)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # ends the session, and with it the advisory lock
            self._conn = None
        if self._duck is not None:
            self._duck.close()
            self._duck = None

    def __enter__(self) -> PostgresWarehouse:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            raise WarehouseError(f"{self.description} is not open")
        return self._conn

    def _execute(self, query: str, params: list | None = None) -> psycopg.Cursor:
        try:
            return self.conn.execute(query, params)
        except psycopg.Error as exc:
            self._rollback_quietly()
            raise WarehouseError(f"PostgreSQL at {self.cfg.describe()}: {_scrub(str(exc), self.cfg)}") from None

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()

    def ensure_schema(self) -> None:
        for statement in landing_ddl(self.schema):
            self._execute(statement)
        self._execute(
            f"create index if not exists load_manifest_source_key_idx on {self.schema}.load_manifest (source_key)"
        )
        self.conn.commit()

    def manifest(self) -> list[ManifestEntry]:
        exists = self._execute("select to_regclass(%s)", [f"{self.schema}.load_manifest"]).fetchone()[0]
        if exists is None:
            return []
        rows = self._execute(f"select source_key, etag, size, tickers from {self.schema}.load_manifest").fetchall()
        self.conn.commit()
        return [manifest_entry(*row) for row in rows]

    def _export_rows(self, load: FileLoad, lineage: Lineage, target: Path) -> int:
        """Write the parsed rows of this load, lineage included, as CSV for COPY; return how many."""
        predicate, params = ticker_filter(load)
        return self._duck.execute(
            f"copy (select p.*, ?::varchar, ?::varchar, ?::date, ?::timestamptz, ?::varchar "
            f"from {PARSED_TABLE} p where {predicate}) to '{target}' (format csv, header false)",
            lineage.values() + params,
        ).fetchall()[0][0]

    def land(self, path: Path, load: FileLoad, lineage: Lineage) -> LandResult:
        parse_file(self._duck, path, lineage.source_key)
        handle, csv_path = tempfile.mkstemp(suffix=".csv", prefix="tbp-copy-")
        os.close(handle)
        try:
            rows = self._export_rows(load, lineage, Path(csv_path))
            rejects = (
                []
                if load.reason == "widened"
                else self._duck.execute(
                    f"select line, column_name, error_message, csv_line from {REJECTS_TABLE}"
                ).fetchall()
            )
            self._write_file(Path(csv_path), load, lineage, rows, rejects)
        finally:
            os.unlink(csv_path)
        return LandResult(rows=rows, rejected=len(rejects))

    def _write_file(self, csv_path: Path, load: FileLoad, lineage: Lineage, rows: int, rejects: list) -> None:
        columns = ", ".join(LANDING_COLUMNS)
        try:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                copy_rows = f"copy {self.schema}.day_aggs ({columns}) from stdin (format csv)"
                with cursor.copy(copy_rows) as copy, csv_path.open("rb") as stream:
                    while block := stream.read(1 << 20):
                        copy.write(block)
                if rejects:
                    cursor.executemany(
                        f"insert into {self.schema}.rejected_rows values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [[*lineage.values()[:3], *reject, *lineage.values()[3:]] for reject in rejects],
                    )
                cursor.execute(
                    f"insert into {self.schema}.load_manifest values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        lineage.source_key,
                        lineage.source_etag,
                        load.remote.size,
                        lineage.file_date,
                        rows,
                        len(rejects),
                        encode_tickers(load.tickers),
                        lineage.loaded_at,
                        lineage.run_id,
                    ],
                )
        except psycopg.Error as exc:
            raise WarehouseError(
                f"{lineage.source_key}: cannot land into {self.cfg.describe()}: {_scrub(str(exc), self.cfg)}"
            ) from None

    def write_instruments(self, instruments: tuple[Instrument, ...], now: datetime) -> None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                cursor.execute(f"delete from {self.schema}.instruments")
                cursor.executemany(
                    f"insert into {self.schema}.instruments values (%s, %s, %s, %s, %s, %s, %s)",
                    instrument_rows(instruments, now),
                )
        except psycopg.Error as exc:
            raise WarehouseError(f"PostgreSQL at {self.cfg.describe()}: {_scrub(str(exc), self.cfg)}") from None

    def record_run(self, run: RunRecord) -> None:
        placeholders = ", ".join(["%s"] * 13)
        self._execute(f"delete from {self.schema}.extract_runs where run_id = %s", [run.run_id])
        self._execute(f"insert into {self.schema}.extract_runs ({RUN_COLUMNS}) values ({placeholders})", run.values())
        self.conn.commit()
