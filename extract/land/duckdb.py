"""Landing into a DuckDB file: parse straight into the warehouse connection, one transaction a file or a batch."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
from filelock import FileLock, Timeout

from extract.datasets import Dataset
from extract.errors import DamagedWarehouseError, LockTimeoutError, MemoryCapError, WarehouseError
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
    inflate_verified,
    read_csv_sql,
)
from extract.plan import FileLoad, ManifestEntry

# Measured on 5 years of full-market files: a 32 MB checkpoint threshold and a 128 MB memory cap (database.yml's
# duckdb.memory_limit) keep the extractor near 180 MB whatever the history; a 1 GB cap is 10-20 % faster at 480 MB.
DUCKDB_SETTINGS = {"checkpoint_threshold": "32MB", "preserve_insertion_order": "false"}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


WAY_OUT = "move it away and run the extract again (downloads stay cached), then dbt build --full-refresh"
DISK_FULL = ("No space left on device", "File too large", "Disk quota exceeded")
ROWS_A_STATEMENT = 500


def _statements(sql: str, rows: list[list]) -> Iterator[tuple[str, list]]:
    """The statement once for each row of parameters; an insert's rows go ROWS_A_STATEMENT to one statement instead,
    since DuckDB's executemany runs one statement a row (1,740 calendar days: 0.23 s one by one, 0.04 s so)."""
    head, values, group = sql.partition(" values ")
    if not values:
        yield from ((sql, row) for row in rows)
        return
    for first in range(0, len(rows), ROWS_A_STATEMENT):
        chunk = rows[first : first + ROWS_A_STATEMENT]
        yield f"{head} values {', '.join([group] * len(chunk))}", [value for row in chunk for value in row]


def read_text_sql(dataset: Dataset, filename: bool = False) -> str:
    """A strict read of the text inflate_verified wrote."""
    return read_csv_sql(False, dataset.columns, filename=filename, compression="none")


def _rollback(conn) -> None:
    """Roll back, unless a failed commit has ended the transaction already."""
    with contextlib.suppress(duckdb.TransactionException):
        conn.execute("rollback")


class DuckDBWarehouse(Warehouse):
    """The embedded warehouse. A file lock beside the database keeps extracts one at a time; within one extract,
    `lanes` connections of the same database parse and append files side by side."""

    # Measured on 3 years of full-market day files: 20 files a read and a commit land them in 0.65x the time of one
    # at a time; 60 (about 630,000 rows, 5 row groups a read) in 0.8x that again, since a read that large writes its
    # row groups straight to the database file, where 20 leave them to the checkpoint (1.2 s at close).
    batch_files = 60

    def __init__(
        self,
        path: Path,
        schema: str,
        lock_timeout_seconds: int = 60,
        read_only: bool = False,
        lanes: int = 2,
        memory_limit: str = "128MB",
    ) -> None:
        super().__init__(lanes)
        self.path = Path(path)
        self.memory_limit = memory_limit
        self.read_only = read_only
        self.schema = schema
        self.lock_timeout_seconds = lock_timeout_seconds
        self.description = f"duckdb {self.path}"
        self._lock: FileLock | None = None
        self._scratch: Path | None = None  # the files' text while they land

    def open(self) -> DuckDBWarehouse:
        if self.read_only:
            exists = self.path.is_file()
            self._conn = self._connect(str(self.path) if exists else ":memory:", read_only=exists)
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._acquire_lock()
        except OSError as exc:
            raise WarehouseError(
                f"cannot create the warehouse {self.path}: {exc.strerror or exc}; set DUCKDB_PATH to a writable place"
            ) from None
        try:
            self._scratch = self._empty_scratch()
            self._conn = self._connect(str(self.path), config={**DUCKDB_SETTINGS, "memory_limit": self.memory_limit})
        except WarehouseError:
            self.close()
            raise
        for _ in range(self.lanes):
            self._add_lane(self._conn.cursor())
        return self

    def _empty_scratch(self) -> Path:
        """The folder beside the database where files' text waits to land, emptied of what a killed run left (the
        lock is held: no other extract uses it). Beside the database, not in TMPDIR, which may be memory."""
        scratch = Path(f"{self.path}.landing")
        try:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
        except OSError as exc:
            raise WarehouseError(
                f"cannot create {scratch} (where files wait to land): {exc.strerror or exc}; "
                "make the warehouse's folder writable or set DUCKDB_PATH elsewhere"
            ) from None
        return scratch

    def _connect(self, database: str, **options) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(database, **options)
        except duckdb.Error as exc:
            if "conflicting lock" in str(exc).lower():
                raise WarehouseError(
                    f"{self.path} is held by another process (a notebook, the DuckDB CLI, dbt?); DuckDB allows one "
                    "writer and no reader beside it: close it and run again"
                ) from None
            damaged = f"if the file is damaged, {WAY_OUT}"
            raise WarehouseError(f"cannot open {self.path}: {_first_line(exc)}; {damaged}") from None

    def _acquire_lock(self) -> None:
        self._lock = FileLock(f"{self.path}.lock")
        try:
            self._lock.acquire(timeout=self.lock_timeout_seconds, poll_interval=0.2)
        except Timeout:
            self._lock = None
            raise LockTimeoutError(
                f"another extract is loading into {self.path}; waited {self.lock_timeout_seconds}s "
                "(raise TBP_LOCK_TIMEOUT_SECONDS to wait longer)"
            ) from None

    def close(self) -> None:
        try:
            self._close_lanes()
            if self._conn is not None:
                self._conn.close()  # checkpoints: reads the file back
        except duckdb.Error as exc:
            raise self._error(exc) from None
        finally:
            self._conn = None
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def ensure_schema(self) -> None:
        for statement in landing_ddl(self.schema):
            self.execute(statement)
        self.execute(FILL_DATASETS_SQL.format(schema=self.schema))
        check_landing_columns(self.execute(LANDING_COLUMNS_SQL.format(param="?"), [self.schema]), self.schema)

    def manifest(self) -> list[ManifestEntry]:
        if not self.has_table("load_manifest"):
            return []
        return [manifest_entry(*row) for row in self.execute(MANIFEST_SQL.format(schema=self.schema))]

    def last_load_id(self) -> int:
        return self.conn.execute(f"select coalesce(max(load_id), 0) from {self.schema}.load_manifest").fetchall()[0][0]

    def _parser(self, lane):
        return lane

    def _verifies_as_it_reads(self, load: FileLoad) -> bool:
        return True  # each file is read from the text inflate_verified wrote

    @contextlib.contextmanager
    def _inflated(self, path: Path, load: FileLoad, lineage: Lineage) -> Iterator[Path]:
        """The file's text, checked whole, in a scratch file for as long as the block runs."""
        text = self._scratch / f"{lineage.load_id}.csv"
        try:
            inflate_verified(path, lineage.source_key, text, dataset_of(load).columns)
            yield text
        finally:
            text.unlink(missing_ok=True)

    def _land_strict(self, lane, path: Path, load: FileLoad, lineage: Lineage) -> LandResult:
        with self._inflated(path, load, lineage) as text:
            return self._in_transaction(
                lane,
                lineage,
                lambda: self._insert(lane, load, lineage, read_text_sql(dataset_of(load)), [str(text)]),
                strict=True,
            )

    def _land_batch(self, lane, files: list[tuple[Path, FileLoad, Lineage]]) -> list[LandResult]:
        """One read of every file's text; each row takes its file's lineage by the path it came from."""
        with contextlib.ExitStack() as texts:
            inflated = [(texts.enter_context(self._inflated(*file)), file[2]) for file in files]
            return self._land_texts(lane, [load for _path, load, _lineage in files], inflated)

    def _land_texts(self, lane, loads: list[FileLoad], texts: list[tuple[Path, Lineage]]) -> list[LandResult]:
        dataset = dataset_of(loads[0])
        predicate, filter_params = ticker_filter(loads[0])
        lineages = [lineage for _text, lineage in texts]
        first, last = lineages[0].load_id, lineages[-1].load_id

        def write() -> list[LandResult]:
            inserted = lane.execute(
                f"insert into {self.schema}.{dataset.landing_table} ({insert_columns(dataset)}) "
                "select r.* exclude (filename), f.load_id, f.file_date "
                f"from {read_text_sql(dataset, filename=True)} r "
                f"join (values {', '.join(['(?, ?::bigint, ?::date)'] * len(texts))}) f (filename, load_id, file_date) "
                f"using (filename) where {predicate}",
                [
                    [str(text) for text, _lineage in texts],
                    *(value for text, lineage in texts for value in (str(text), *lineage.row_values())),
                    *filter_params,
                ],
            ).fetchall()[0][0]
            rows = dict(
                lane.execute(
                    f"select load_id, count(*) from {self.schema}.{dataset.landing_table} "
                    "where load_id between ? and ? group by load_id",
                    [first, last],
                ).fetchall()
            )
            if sum(rows.values()) != inserted or (loads[0].every_row and len(rows) < len(texts)):
                # rows of another load in the id range, or a file whose rows found no lineage: one at a time instead
                raise WarehouseError(f"{len(texts)} files landing together do not add up to their rows")
            for statement, params in _statements(
                f"insert into {self.schema}.load_manifest ({MANIFEST_COLUMNS}) values ({', '.join('?' * 11)})",
                [
                    manifest_values(load, lineage, rows.get(lineage.load_id, 0), 0)
                    for load, lineage in zip(loads, lineages, strict=True)
                ],
            ):
                lane.execute(statement, params)
            return [LandResult(rows=rows.get(lineage.load_id, 0), rejected=0) for lineage in lineages]

        return self._in_transaction(lane, lineages[0], write, strict=True)

    def _land_parsed(self, lane, load: FileLoad, lineage: Lineage, keep_rejects: bool) -> LandResult:
        def write() -> LandResult:
            rejected = 0
            if keep_rejects:
                rejected = lane.execute(
                    f"insert into {self.schema}.rejected_rows ({REJECTED_COLUMNS}) select ?, ?, ?, ?, "
                    f"line, column_name, error_message, csv_line, ?, ? from {REJECTS_TABLE}",
                    [lineage.load_id, lineage.source_key, lineage.source_etag, lineage.file_date]
                    + [lineage.loaded_at, lineage.run_id],
                ).fetchall()[0][0]
            return self._insert(lane, load, lineage, PARSED_TABLE, [], rejected)

        return self._in_transaction(lane, lineage, write)

    def _in_transaction(self, lane, lineage: Lineage, write, strict: bool = False) -> LandResult:
        """write() in one transaction; in a strict read, a value that does not parse raises UnparsableLines."""
        lane.execute("begin transaction")
        try:
            result = write()
            lane.execute("commit")
            return result
        except duckdb.OutOfMemoryException:
            _rollback(lane)
            raise MemoryCapError(
                f"{lineage.source_key}: does not fit in DuckDB's memory cap ({self.memory_limit}, "
                "TBP_DUCKDB_MEMORY_LIMIT) beside the files landing with it"
            ) from None
        except duckdb.Error as exc:
            _rollback(lane)
            if strict and isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException):
                raise UnparsableLines from None
            if str(self._scratch) in str(exc):  # the text inflate_verified wrote, not the flat file
                raise WarehouseError(f"{lineage.source_key}: cannot read its text: {_first_line(exc)}") from None
            raise (
                self._write_error(lineage.source_key, exc)
                or file_error(lineage.source_key, exc)
                or WarehouseError(f"{lineage.source_key}: cannot land into {self.path}: {exc}")
            ) from None
        except BaseException:
            _rollback(lane)
            raise

    def _write_error(self, key: str, exc: duckdb.Error) -> WarehouseError | None:
        """The warehouse's own file could not be written (a full disk, a file size limit): not the flat file's fault."""
        text = str(exc)
        if str(self.path) not in text and not any(sign in text for sign in DISK_FULL):
            return None
        return WarehouseError(
            f"{key}: cannot write {self.path} ({_first_line(exc)}): free space on its disk (or set DUCKDB_PATH "
            "elsewhere) and run again; nothing of this file landed, the files before it stay"
        )

    def _insert(self, lane, load: FileLoad, lineage: Lineage, rows_from: str, params: list, rejected: int = 0):
        predicate, filter_params = ticker_filter(load)
        dataset = dataset_of(load)
        rows = lane.execute(
            f"insert into {self.schema}.{dataset.landing_table} ({insert_columns(dataset)}) "
            f"select r.*, ?, ? from {rows_from} r where {predicate}",
            [*lineage.row_values(), *params, *filter_params],
        ).fetchall()[0][0]
        lane.execute(
            f"insert into {self.schema}.load_manifest ({MANIFEST_COLUMNS}) values ({', '.join('?' * 11)})",
            manifest_values(load, lineage, rows, rejected),
        )
        return LandResult(rows=rows, rejected=rejected)

    def refresh_statistics(self) -> None:
        """DuckDB keeps its statistics up to date as it writes."""

    def write_together(self, statements: list[tuple[str, list[list]]]) -> None:
        try:
            self.conn.execute("begin transaction")
            for sql, rows in statements:
                for statement, params in _statements(sql, rows):
                    self.conn.execute(statement, params)
            self.conn.execute("commit")
        except duckdb.Error as exc:
            _rollback(self.conn)
            raise self._error(exc) from None

    def export_parquet(self, sql: str, path: Path) -> int:
        return self.execute(f"copy ({sql}) to '{path}' ({PARQUET_OPTIONS})")[0][0]

    def execute(self, sql: str, params: list | None = None) -> list[tuple]:
        try:
            return self.conn.execute(sql, params or []).fetchall()
        except duckdb.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: duckdb.Error) -> WarehouseError:
        """A file DuckDB opened but cannot read back (cut short, overwritten) is damaged: say how to start over."""
        if isinstance(exc, duckdb.IOException) and str(self.path) in str(exc) and "read" in str(exc).lower():
            return DamagedWarehouseError(f"{self.path} is damaged ({_first_line(exc)}): {WAY_OUT}")
        return WarehouseError(f"{self.path}: {_first_line(exc)}")
