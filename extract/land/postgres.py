"""Landing into PostgreSQL: DuckDB parses, COPY sends the rows, one transaction a file, one extract at a time."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg

from extract.config import PostgresConfig
from extract.datasets import LANDING_TABLES
from extract.errors import FileDefectError, LockTimeoutError, WarehouseError
from extract.land.common import (
    FILL_DATASETS_SQL,
    LANDING_COLUMNS_SQL,
    MANIFEST_COLUMNS,
    MANIFEST_SQL,
    REJECTED_COLUMNS,
    LandResult,
    Lineage,
    Warehouse,
    check_landing_columns,
    dataset_of,
    insert_columns,
    landing_ddl,
    manifest_entry,
    manifest_values,
    ticker_filter,
)
from extract.parse import (
    PARQUET_OPTIONS,
    PARSED_TABLE,
    REJECTS_TABLE,
    UnparsableLines,
    file_error,
    read_csv_sql,
    read_verified,
    verify_file,
)
from extract.plan import FileLoad, ManifestEntry

log = logging.getLogger("extract")
# pg_advisory_lock key shared by every extract into one database ("tbp" in ASCII).
EXTRACT_LOCK_KEY = 0x746270
# PostgreSQL type oids -> DuckDB types, for exports (anything else travels as text).
DUCKDB_TYPES = {
    16: "BOOLEAN",
    20: "BIGINT",
    21: "SMALLINT",
    23: "INTEGER",
    25: "VARCHAR",
    700: "FLOAT",
    701: "DOUBLE",
    1043: "VARCHAR",
    1082: "DATE",
    1114: "TIMESTAMP",
    1184: "TIMESTAMPTZ",
    1700: "DOUBLE",
}
# A line longer than this is no line of a flat file: it is sent as it is, and COPY's refusal sends the file to the
# parser (a stream without line feeds is never held whole).
LONGEST_LINE = 64 << 10


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


def with_lineage(blocks: Iterator[bytes], suffix: bytes) -> Iterator[bytes]:
    """The CSV text in whole lines, each ended by `suffix` and a line feed (CRLF becomes LF): the header's extra
    fields are skipped with it, and a blank line, now short of fields, is refused by COPY as before. A quote in a
    data line (a quoted field may hold a line end) raises UnparsableLines: the parser reads that file."""
    carry, header = b"", True
    for block in blocks:
        end = block.rfind(b"\n")
        if end < 0:
            carry += block
            if len(carry) > LONGEST_LINE:
                yield carry
                carry = b""
            continue
        lines, carry = carry + block[: end + 1], block[end + 1 :]
        _refuse_quotes(lines[lines.index(b"\n") :] if header else lines)
        header = False
        yield lines.replace(b"\r\n", b"\n").replace(b"\n", suffix + b"\n")
    if carry.strip():
        _refuse_quotes(carry)
        yield carry.removesuffix(b"\r") + suffix + b"\n"


def _refuse_quotes(lines: bytes) -> None:
    if b'"' in lines:
        raise UnparsableLines


class _Lane:
    """What one loading thread uses: a PostgreSQL connection for COPY and a DuckDB one to parse defective files."""

    def __init__(self, cfg: PostgresConfig) -> None:
        self.pg = connect(cfg)
        self.duck = duckdb.connect()

    def close(self) -> None:
        self.pg.close()
        self.duck.close()


class PostgresWarehouse(Warehouse):
    """The production warehouse. A session advisory lock keeps extracts one at a time per database; within one
    extract, `lanes` connections COPY files side by side."""

    placeholder = "%s"

    def __init__(self, cfg: PostgresConfig, schema: str, read_only: bool = False, lanes: int = 2) -> None:
        super().__init__(lanes)
        self.cfg = cfg
        self.schema = schema
        self.read_only = read_only
        self.description = f"postgres {cfg.describe()}"

    def open(self) -> PostgresWarehouse:
        self._conn = connect(self.cfg)
        if not self.read_only:
            self._acquire_lock()
            for _ in range(self.lanes):
                self._add_lane(_Lane(self.cfg))
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
        self._close_lanes()
        if self._conn is not None:
            self._conn.close()  # ends the session, and with it the advisory lock
            self._conn = None

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
        check_landing_columns(
            self._execute(LANDING_COLUMNS_SQL.format(param="%s"), [self.schema]).fetchall(), self.schema
        )
        self._execute(
            f"create index if not exists load_manifest_source_key_idx on {self.schema}.load_manifest (source_key)"
        )
        for table in LANDING_TABLES:
            self._prepare_landing_table(table)
        if self._execute(FILL_DATASETS_SQL.format(schema=self.schema)).rowcount:
            self._execute(f"analyze {self.schema}.load_manifest")  # before a build plans with stale statistics
        self.conn.commit()

    def _prepare_landing_table(self, table: str) -> None:
        # Appends arrive in load order, and roughly in date order: a BRIN index finds the rows of recent loads (for
        # dbt) and of a date range (for people). One index of both columns: one COPY stream of a year of full-market
        # files took 3.8-4.1 s with it, 4.3-4.7 s with the single-column ones of earlier versions (3.4-3.7 s with
        # none). Built once over what an upgraded database holds already, by the first extract after the upgrade.
        self._execute(
            f"create index if not exists {table}_lineage_brin on {self.schema}.{table} using brin (load_id, file_date)"
        )
        for column in ("load_id", "file_date"):
            self._execute(f"drop index if exists {self.schema}.{table}_{column}_brin")
        has_defaults = self._execute(
            "select column_default is not null from information_schema.columns "
            "where table_schema = %s and table_name = %s and column_name = 'load_id'",
            [self.schema, table],
        ).fetchone()[0]
        if has_defaults:  # earlier versions filled the lineage from per-row defaults (slower than sending it)
            self._execute(
                f"alter table {self.schema}.{table} alter column load_id drop default, "
                "alter column file_date drop default"
            )

    def manifest(self) -> list[ManifestEntry]:
        exists = self._execute("select to_regclass(%s)", [f"{self.schema}.load_manifest"]).fetchone()[0]
        if exists is None:
            return []
        rows = self._execute(MANIFEST_SQL.format(schema=self.schema)).fetchall()
        self.conn.commit()
        return [manifest_entry(*row) for row in rows]

    def last_load_id(self) -> int:
        last = self._execute(f"select coalesce(max(load_id), 0) from {self.schema}.load_manifest").fetchone()[0]
        self.conn.commit()
        return last

    def _parser(self, lane: _Lane) -> duckdb.DuckDBPyConnection:
        return lane.duck

    def _verifies_as_it_reads(self, load: FileLoad) -> bool:
        return load.every_row

    def _land_strict(self, lane: _Lane, path: Path, load: FileLoad, lineage: Lineage) -> LandResult:
        """Every row: the file's own CSV straight into COPY. Some tickers: DuckDB reads strictly and filters."""
        if load.every_row:
            return self._copy_raw(lane, path, load, lineage)
        columns = dataset_of(load).columns
        return self._copy_selected(lane, load, lineage, read_csv_sql(False, columns), [str(path)])

    def _land_parsed(self, lane: _Lane, load: FileLoad, lineage: Lineage, keep_rejects: bool) -> LandResult:
        rejects = (
            lane.duck.execute(f"select line, column_name, error_message, csv_line from {REJECTS_TABLE}").fetchall()
            if keep_rejects
            else []
        )
        return self._copy_selected(lane, load, lineage, PARSED_TABLE, [], rejects)

    def _copy_raw(self, lane: _Lane, path: Path, load: FileLoad, lineage: Lineage) -> LandResult:
        """PostgreSQL parses the file, checked as it is sent (a damaged one rolls back), each line with its lineage
        appended. A refused value: UnparsableLines. Measured on a year of full-market files: 15 % faster than
        verifying the whole file first and inflating it again for COPY; on a 2.7 M-row minute file, appending the
        lineage takes COPY from 5.3-5.7 s (per-row defaults reading a setting) to 4.6-5.1 s."""
        dataset = dataset_of(load)
        copy_sql = (
            f"copy {self.schema}.{dataset.landing_table} ({insert_columns(dataset)}) "
            "from stdin (format csv, header true)"
        )
        suffix = f",{lineage.load_id},{lineage.file_date.isoformat()}".encode()
        try:
            with lane.pg.transaction(), lane.pg.cursor() as cursor:
                with cursor.copy(copy_sql) as copy:
                    for block in with_lineage(read_verified(path, lineage.source_key, dataset.columns), suffix):
                        copy.write(block)
                rows = cursor.rowcount
                self._write_manifest(cursor, load, lineage, rows, 0)
        except psycopg.errors.DataError as exc:
            log.info(
                "%s: PostgreSQL refused a value (%s); parsing again", lineage.source_key, _scrub(str(exc), self.cfg)
            )
            raise UnparsableLines from None
        except psycopg.Error as exc:
            # COPY stopped before the file's end was checked: a damaged file is the file's fault, not the server's
            verify_file(path, lineage.source_key, dataset.columns)
            raise self._landing_error(lineage, exc) from None
        return LandResult(rows=rows, rejected=0)

    def _copy_selected(
        self, lane: _Lane, load: FileLoad, lineage: Lineage, rows_from: str, params: list, rejects=()
    ) -> LandResult:
        """The load's rows of `rows_from` (a DuckDB relation), written by DuckDB as CSV with their lineage, then
        sent by COPY with the rejects and the manifest row. A strict read that meets a bad line: UnparsableLines."""
        handle, csv_path = tempfile.mkstemp(suffix=".csv", prefix="tbp-copy-")
        os.close(handle)
        try:
            predicate, filter_params = ticker_filter(load)
            try:
                rows = lane.duck.execute(
                    f"copy (select r.*, ?::bigint, ?::date from {rows_from} r where {predicate}) "
                    f"to '{csv_path}' (format csv, header false)",
                    [*lineage.row_values(), *params, *filter_params],
                ).fetchall()[0][0]
            except (duckdb.ConversionException, duckdb.InvalidInputException):
                raise UnparsableLines from None
            except duckdb.Error as exc:
                raise file_error(lineage.source_key, exc) or FileDefectError(
                    f"{lineage.source_key}: cannot parse: {exc}"
                ) from None
            with lane.pg.transaction(), lane.pg.cursor() as cursor:
                dataset = dataset_of(load)
                copy_sql = (
                    f"copy {self.schema}.{dataset.landing_table} ({insert_columns(dataset)}) from stdin (format csv)"
                )
                with cursor.copy(copy_sql) as copy, open(csv_path, "rb") as stream:
                    while block := stream.read(1 << 20):
                        copy.write(block)
                if rejects:
                    cursor.executemany(
                        f"insert into {self.schema}.rejected_rows ({REJECTED_COLUMNS}) "
                        f"values ({', '.join(['%s'] * 10)})",
                        [lineage.reject_values(*reject) for reject in rejects],
                    )
                self._write_manifest(cursor, load, lineage, rows, len(rejects))
        except psycopg.Error as exc:
            raise self._landing_error(lineage, exc) from None
        finally:
            os.unlink(csv_path)
        return LandResult(rows=rows, rejected=len(rejects))

    def _write_manifest(self, cursor, load: FileLoad, lineage: Lineage, rows: int, rejected: int) -> None:
        cursor.execute(
            f"insert into {self.schema}.load_manifest ({MANIFEST_COLUMNS}) values ({', '.join(['%s'] * 11)})",
            manifest_values(load, lineage, rows, rejected),
        )

    def _landing_error(self, lineage: Lineage, exc: psycopg.Error) -> WarehouseError:
        return WarehouseError(
            f"{lineage.source_key}: cannot land into {self.cfg.describe()}: {_scrub(str(exc), self.cfg)}"
        )

    def refresh_statistics(self) -> None:
        """Fresh planner statistics after a load, so that the dbt build that follows plans with them (autovacuum
        never analyzes the small tables the extractor writes whole). The build summarizes the BRIN index it reads
        (summarize_landing_indexes): done here, it cost a backfill a second read of all it landed."""
        for table in (*LANDING_TABLES, "load_manifest", "datasets", "instruments", "calendar_days"):
            self._execute(f"analyze {self.schema}.{table}")
        self.conn.commit()

    def write_together(self, statements: list[tuple[str, list[list]]]) -> None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                for sql, rows in statements:
                    if rows:
                        cursor.executemany(sql, rows)
        except psycopg.Error as exc:
            raise WarehouseError(f"PostgreSQL at {self.cfg.describe()}: {_scrub(str(exc), self.cfg)}") from None

    def export_parquet(self, sql: str, path: Path) -> int:
        """COPY streams the rows out as CSV into a temporary file; DuckDB writes the Parquet from it."""
        columns = self._execute(f"select * from ({sql}) as q limit 0").description
        self.conn.commit()
        types = {column.name: DUCKDB_TYPES.get(column.type_code, "VARCHAR") for column in columns}
        handle, csv_path = tempfile.mkstemp(suffix=".csv", prefix="tbp-export-")
        try:
            with os.fdopen(handle, "wb") as out, self.conn.cursor() as cursor:
                with cursor.copy(f"copy ({sql}) to stdout (format csv)") as copy:
                    for block in copy:
                        out.write(block)
                self.conn.commit()
            with duckdb.connect() as duck:
                return duck.execute(
                    f"copy (select * from read_csv(?, columns = ?, header = false, auto_detect = false)) "
                    f"to '{path}' ({PARQUET_OPTIONS})",
                    [csv_path, types],
                ).fetchall()[0][0]
        except psycopg.Error as exc:
            self._rollback_quietly()
            raise WarehouseError(f"PostgreSQL at {self.cfg.describe()}: {_scrub(str(exc), self.cfg)}") from None
        finally:
            os.unlink(csv_path)

    def execute(self, sql: str, params: list | None = None) -> list[tuple]:
        cursor = self._execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        self.conn.commit()
        return rows
