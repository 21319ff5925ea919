"""What both warehouses share: the landing tables (one DDL that DuckDB and PostgreSQL both accept)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from extract.config import Instrument
from extract.datasets import DEFAULT_DATASET, LANDING_TABLES, Dataset, registry
from extract.errors import WarehouseError
from extract.parse import UnparsableLines, parse_file, verify_file
from extract.plan import FileLoad, ManifestEntry

LANDING_COLUMNS = (
    "ticker",
    "volume",
    "open",
    "close",
    "high",
    "low",
    "window_start",
    "transactions",
    "load_id",
    "file_date",
)


# Loads landed before datasets were configurable are of the default dataset: filled in here, not guessed in the
# models, since an expression on the join key hides the column's statistics from PostgreSQL, which then planned a
# scan of day_aggs for every load (over ten minutes on 5 years of files, not seconds).
FILL_DATASETS_SQL = "update {schema}.load_manifest set dataset = '" + DEFAULT_DATASET + "' where dataset is null"


def landing_ddl(schema: str) -> list[str]:
    """Each landed row carries its file's columns unchanged (a column its dataset lacks is null), the load it came
    in (load_manifest.load_id has the key, ETag, dataset, load time and run) and the file's date. Per-row text
    lineage measured 2x the landing cost. Day bars of every dataset share day_aggs; minute bars have their own."""
    return [
        f"create schema if not exists {schema}",
        *(
            f"""create table if not exists {schema}.{table} (
            ticker text not null, volume double precision, open double precision,
            close double precision, high double precision, low double precision,
            window_start bigint, transactions bigint,
            load_id bigint not null, file_date date not null)"""
            for table in LANDING_TABLES
        ),
        f"""create table if not exists {schema}.rejected_rows (
            load_id bigint not null, source_key text not null, source_etag text not null, file_date date not null,
            line bigint, column_name text, error text, raw_line text,
            loaded_at timestamptz not null, run_id text not null)""",
        f"""create table if not exists {schema}.load_manifest (
            load_id bigint primary key, source_key text not null, etag text not null, size bigint not null,
            file_date date not null,
            rows_landed bigint not null, rows_rejected bigint not null, tickers text,
            loaded_at timestamptz not null, run_id text not null, dataset text)""",
        # Loads of versions before datasets were configurable have none (FILL_DATASETS_SQL fills them in).
        f"alter table {schema}.load_manifest add column if not exists dataset text",
        f"""create table if not exists {schema}.datasets (
            dataset text primary key, landing_table text not null, calendar text not null, timezone text not null,
            ticker_prefix text not null, columns text not null)""",
        f"""create table if not exists {schema}.instruments (
            ticker text primary key, name text not null, type text not null, exchange text not null,
            sector text not null, active boolean not null, updated_at timestamptz not null)""",
        f"alter table {schema}.instruments add column if not exists previous_tickers text",
        # The days each calendar trades. It replaced the NYSE-only sessions table, which is no longer written.
        f"""create table if not exists {schema}.calendar_days (
            calendar text not null, session_date date not null, early_close boolean not null,
            file_due boolean not null, primary key (calendar, session_date))""",
        f"""create table if not exists {schema}.reference_fetches (
            fetch_id bigint primary key, dataset text not null, ticker text not null, request text not null,
            window_start date, pages bigint not null, records bigint not null,
            fetched_at timestamptz not null, run_id text not null)""",
        f"""create table if not exists {schema}.reference_records (
            fetch_id bigint not null, page bigint not null, record text not null)""",
        f"""create table if not exists {schema}.build_state (
            stage text primary key, markers text not null, recorded_at timestamptz not null)""",
        f"""create table if not exists {schema}.run_warnings (
            run_id text not null, warning text not null)""",
        f"""create table if not exists {schema}.extract_runs (
            run_id text primary key, started_at timestamptz not null, finished_at timestamptz,
            target text not null, source text not null, outcome text not null,
            files_listed bigint, files_loaded bigint, files_skipped bigint, files_failed bigint,
            rows_landed bigint, rows_rejected bigint, message text)""",
    ]


REJECTED_COLUMNS = "load_id, source_key, source_etag, file_date, line, column_name, error, raw_line, loaded_at, run_id"
LANDING_COLUMNS_SQL = (
    "select table_name, column_name from information_schema.columns "
    "where table_schema = {param} and table_name in ('day_aggs', 'rejected_rows')"
)


def check_landing_columns(found: list[tuple[str, str]], schema: str) -> None:
    """An older version's landing tables (text lineage on every row, rejects without their load) cannot take this
    version's rows."""
    expected = [("day_aggs", c) for c in LANDING_COLUMNS] + [("rejected_rows", "load_id")]
    missing = [f"{table}.{column}" for table, column in expected if (table, column) not in found]
    if missing:
        raise WarehouseError(
            f"{schema} was made by an older version of tbp-extract (it lacks {', '.join(missing)}): "
            f"drop schema {schema}, run the extract again (downloads stay cached), then dbt build --full-refresh"
        )


@dataclass(frozen=True)
class Lineage:
    """One load of one file: landed rows carry its load_id and file_date, its manifest row the rest."""

    load_id: int
    source_key: str
    source_etag: str
    file_date: date
    loaded_at: datetime
    run_id: str

    def reject_values(self, line: int, column_name: str, error: str, raw_line: str) -> list:
        """A rejected line with this lineage, in REJECTED_COLUMNS order."""
        return [
            self.load_id,
            self.source_key,
            self.source_etag,
            self.file_date,
            line,
            column_name,
            error,
            raw_line,
            self.loaded_at,
            self.run_id,
        ]

    def row_values(self) -> list:
        return [self.load_id, self.file_date]


@dataclass(frozen=True)
class LandResult:
    rows: int
    rejected: int


@dataclass
class RunRecord:
    run_id: str
    started_at: datetime
    target: str
    source: str
    outcome: str = "running"
    finished_at: datetime | None = None
    files_listed: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    message: str = ""

    def values(self) -> list:
        return [
            self.run_id,
            self.started_at,
            self.finished_at,
            self.target,
            self.source,
            self.outcome,
            self.files_listed,
            self.files_loaded,
            self.files_skipped,
            self.files_failed,
            self.rows_landed,
            self.rows_rejected,
            self.message,
        ]


RUN_COLUMNS = (
    "run_id, started_at, finished_at, target, source, outcome, files_listed, files_loaded, "
    "files_skipped, files_failed, rows_landed, rows_rejected, message"
)


def ticker_filter(load: FileLoad) -> tuple[str, list]:
    """A DuckDB predicate on the parsed rows for this load, with its parameters."""
    if load.tickers is not None:
        return "list_contains(?::varchar[], ticker)", [sorted(load.tickers)]
    if load.skip_tickers:
        return "not list_contains(?::varchar[], ticker)", [sorted(load.skip_tickers)]
    return "true", []


def encode_tickers(tickers: frozenset[str] | None) -> str | None:
    return None if tickers is None else ",".join(sorted(tickers))


def manifest_values(load: FileLoad, lineage: Lineage, rows: int, rejected: int) -> list:
    """The load_manifest row of one committed load, in MANIFEST_COLUMNS order."""
    return [
        lineage.load_id,
        lineage.source_key,
        lineage.source_etag,
        load.remote.size,
        lineage.file_date,
        rows,
        rejected,
        encode_tickers(load.tickers),
        lineage.loaded_at,
        lineage.run_id,
        load.remote.dataset,
    ]


MANIFEST_COLUMNS = (
    "load_id, source_key, etag, size, file_date, rows_landed, rows_rejected, tickers, loaded_at, run_id, dataset"
)
MANIFEST_SQL = (
    f"select load_id, source_key, etag, size, tickers, coalesce(dataset, '{DEFAULT_DATASET}') "
    "from {schema}.load_manifest order by load_id"
)


def manifest_entry(load_id: int, key: str, etag: str, size: int, tickers: str | None, dataset: str) -> ManifestEntry:
    covered = None if tickers is None else frozenset(tickers.split(","))
    return ManifestEntry(int(load_id), key, etag, int(size), covered, dataset)


def dataset_of(load: FileLoad) -> Dataset:
    """The registry entry of the dataset a load's file belongs to: its columns and landing table."""
    return registry()[load.remote.dataset]


def insert_columns(dataset: Dataset) -> str:
    """The landing table's columns a file of this dataset fills, in the file's order, then the lineage."""
    return ", ".join([*dataset.columns, "load_id", "file_date"])


INSTRUMENT_COLUMNS = "ticker, name, type, exchange, sector, active, updated_at, previous_tickers"
DATASET_COLUMNS = "dataset, landing_table, calendar, timezone, ticker_prefix, columns"
CALENDAR_DAY_COLUMNS = "calendar, session_date, early_close, file_due"


def instrument_rows(instruments: tuple[Instrument, ...], now: datetime) -> list[list]:
    return [
        [i.ticker, i.name, i.type, i.exchange, i.sector, i.active, now, ",".join(i.previous_tickers) or None]
        for i in instruments
    ]


class Warehouse:
    """The one interface run, orchestration, status and report use, whatever the warehouse: a context manager
    around one main connection, `lanes` more connections that land files side by side (each land call borrows an
    idle one), and the landing tables' reads and writes."""

    description = "warehouse"
    placeholder = "?"
    schema = "landing"
    batch_files = 1  # the most files one transaction lands together (1: one at a time)

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self._conn = None
        self._idle_lanes: queue.SimpleQueue = queue.SimpleQueue()
        self._all_lanes: list = []

    def open(self):
        raise NotImplementedError

    def execute(self, sql: str, params: list | None = None) -> list[tuple]:
        """One statement on the main connection, committed; its rows, if it returns any."""
        raise NotImplementedError

    def export_parquet(self, sql: str, path: Path) -> int:
        """The rows of a query into a zstd Parquet file, streamed (never the whole result in memory); how many."""
        raise NotImplementedError

    def _values(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def record_run(self, run: RunRecord, warnings: list[str] = ()) -> None:
        """The run's row, and the warnings it reported (kept for `status`)."""
        self.execute(f"delete from {self.schema}.extract_runs where run_id = {self.placeholder}", [run.run_id])
        self.execute(
            f"insert into {self.schema}.extract_runs ({RUN_COLUMNS}) values ({self._values(13)})", run.values()
        )
        self.execute(f"delete from {self.schema}.run_warnings where run_id = {self.placeholder}", [run.run_id])
        for warning in warnings:
            self.execute(f"insert into {self.schema}.run_warnings values ({self._values(2)})", [run.run_id, warning])

    def write_together(self, statements: list[tuple[str, list[list]]]) -> None:
        """Each statement with each of its rows of parameters, all in one transaction."""
        raise NotImplementedError

    def write_instruments(self, instruments: tuple[Instrument, ...], now: datetime) -> None:
        """instruments.yml as the models read it, replaced whole when it changed (updated_at: when it last did)."""
        rows = instrument_rows(instruments, now)
        self._replace_whole("instruments", INSTRUMENT_COLUMNS, rows, ignored=frozenset({6}))

    def write_datasets(self, datasets: tuple[Dataset, ...]) -> None:
        """The configured datasets as the models read them (which landing table, calendar and day boundary)."""
        rows = [
            [d.name, d.landing_table, d.calendar, d.timezone, d.ticker_prefix, ",".join(d.columns)] for d in datasets
        ]
        self._replace_whole("datasets", DATASET_COLUMNS, rows)

    def write_calendar_days(self, days: dict[str, list[date]], early_closes: set[date], due_through: date) -> None:
        """The days of each calendar over the range the data may cover: what coverage is measured against (a day
        with no file at all is a gap, not a day off); file_due up to due_through, the last day whose file this run
        expects (its end, or the last file due by now if earlier). Early closes are the exchange's (XNYS)."""
        rows = [
            [calendar, day, calendar == "XNYS" and day in early_closes, day <= due_through]
            for calendar, found in sorted(days.items())
            for day in found
        ]
        self._replace_whole("calendar_days", CALENDAR_DAY_COLUMNS, rows)

    def _replace_whole(self, table: str, columns: str, rows: list[list], ignored: frozenset[int] = frozenset()) -> None:
        """Replace the table's rows, unless it holds these already (the ignored column positions aside): an
        unchanged table is not rewritten, so the next build sees nothing new in it."""

        def compared(found) -> list[tuple[str, ...]]:
            return sorted(tuple(str(v) for at, v in enumerate(row) if at not in ignored) for row in found)

        if compared(self.execute(f"select {columns} from {self.schema}.{table}")) == compared(rows):
            return
        insert = f"insert into {self.schema}.{table} ({columns}) values ({self._values(len(columns.split(',')))})"
        self.write_together(
            [
                (f"delete from {self.schema}.{table}", [[]]),
                (insert, rows),
            ]
        )

    def land_reference(self, fetch) -> None:
        """A reference fetch and its records, in one transaction."""
        self.write_together(
            [
                (f"insert into {self.schema}.reference_fetches values ({self._values(9)})", [fetch.row()]),
                (
                    f"insert into {self.schema}.reference_records values ({self._values(3)})",
                    [[fetch.fetch_id, page, record] for page, record in fetch.records],
                ),
            ]
        )

    def reference_fetched_whole(self) -> dict[tuple[str, str], date]:
        """(dataset, ticker) pairs whose whole history has been fetched, with the day of their newest fetch."""
        rows = self.execute(
            f"select dataset, ticker, cast(max(fetched_at) as date) from {self.schema}.reference_fetches "
            "group by dataset, ticker having count(*) filter (where window_start is null) > 0"
        )
        return {(dataset, ticker): newest for dataset, ticker, newest in rows}

    def has_table(self, table: str) -> bool:
        """Whether the landing schema holds this table (a warehouse no extract has written to holds none)."""
        found = self.execute(
            "select count(*) from information_schema.tables "
            f"where table_schema = {self.placeholder} and table_name = {self.placeholder}",
            [self.schema, table],
        )
        return bool(found[0][0])

    def ticker_event_records(self) -> dict[str, list[str]]:
        """The records of each ticker's newest ticker_events fetch (tbp-extract reference); none before any."""
        if not self.has_table("reference_records"):
            return {}
        newest = (
            f"select max(fetch_id) from {self.schema}.reference_fetches where dataset = 'ticker_events' group by ticker"
        )
        records: dict[str, list[str]] = {}
        for ticker, record in self.execute(
            f"select f.ticker, r.record from {self.schema}.reference_fetches f "
            f"join {self.schema}.reference_records r on r.fetch_id = f.fetch_id where f.fetch_id in ({newest}) "
            "order by f.fetch_id, r.page"
        ):
            records.setdefault(ticker, []).append(record)
        return records

    def last_reference_fetch_id(self) -> int:
        return self.execute(f"select coalesce(max(fetch_id), 0) from {self.schema}.reference_fetches")[0][0]

    def abandon_stale_runs(self) -> list[str]:
        """Runs still marked running while this extract holds the lock were killed before they could say so."""
        rows = self.execute(
            f"update {self.schema}.extract_runs set outcome = 'abandoned' where outcome = 'running' returning run_id"
        )
        return [run_id for (run_id,) in rows]

    def land(self, path: Path, load: FileLoad, lineage: Lineage) -> LandResult:
        """One file in one transaction with its manifest row, decided here for every warehouse (the backends only
        write; safe from several threads, each call on an idle lane). The file is verified whole first. It lands
        in one strict read when every line parses; otherwise it is parsed again with the unparsable lines set
        aside, and recorded when the plan says this load records them."""
        columns = dataset_of(load).columns
        checked_in_transaction = self._verifies_as_it_reads(load)
        if not checked_in_transaction:
            verify_file(path, lineage.source_key, columns)
        with self._borrowed_lane() as lane:
            try:
                return self._land_strict(lane, path, load, lineage)
            except UnparsableLines:
                if checked_in_transaction:  # the strict read stopped at the bad line, before the file's end
                    verify_file(path, lineage.source_key, columns)
                parse_file(self._parser(lane), path, lineage.source_key, columns)
                return self._land_parsed(lane, load, lineage, keep_rejects=load.records_rejects)

    def land_together(self, files: list[tuple[Path, FileLoad, Lineage]]) -> list[LandResult]:
        """Several files of one dataset and ticker scope in one transaction with their manifest rows, each verified
        whole first: all of them land, or none does and this raises (the caller then lands each alone). Fewer
        commits and one read of many files, where the backend can (batch_files > 1)."""
        for path, load, lineage in files:
            if not self._verifies_as_it_reads(load):
                verify_file(path, lineage.source_key, dataset_of(load).columns)
        with self._borrowed_lane() as lane:
            return self._land_batch(lane, files)

    def _land_batch(self, lane, files: list[tuple[Path, FileLoad, Lineage]]) -> list[LandResult]:
        """Land every row of the files for their loads in one strict read, or raise having written nothing."""
        raise NotImplementedError

    def _verifies_as_it_reads(self, load: FileLoad) -> bool:
        """Whether the strict read (and the batch's) checks the file as verify_file would (read_verified) before it
        commits, so the file is inflated once, not twice."""
        return False

    def _land_strict(self, lane, path: Path, load: FileLoad, lineage: Lineage) -> LandResult:
        """Land the file's rows for this load, or raise UnparsableLines having written nothing."""
        raise NotImplementedError

    def _land_parsed(self, lane, load: FileLoad, lineage: Lineage, keep_rejects: bool) -> LandResult:
        """Land the rows parse_file left in the lane's parser, with the rejects if keep_rejects."""
        raise NotImplementedError

    def _parser(self, lane):
        """The DuckDB connection of a lane that parse_file reads into."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def conn(self):
        if self._conn is None:
            raise WarehouseError(f"{self.description} is not open")
        return self._conn

    def _add_lane(self, lane) -> None:
        self._all_lanes.append(lane)
        self._idle_lanes.put(lane)

    @contextmanager
    def _borrowed_lane(self) -> Iterator:
        lane = self._idle_lanes.get()
        try:
            yield lane
        finally:
            self._idle_lanes.put(lane)

    def _close_lanes(self) -> None:
        for lane in self._all_lanes:
            lane.close()
        self._all_lanes.clear()
