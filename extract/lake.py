"""Publish the marts as a Hive-partitioned Parquet lake, from either warehouse.

Readers (polars, pandas, DuckDB, Spark, Trino) read the lake while the pipeline loads and builds: nothing there is
ever locked. Each partition file is written aside and renamed (or PUT, on S3) into place, so a reader sees the old
or the new partition, never half of one, and a correction rewrites only the partitions whose rows changed: each
partition's fingerprint (a digest of its rows) is kept in the lake's manifest, `_manifest.json`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from extract.config import S3Config
from extract.errors import ConfigError, WarehouseError
from extract.sources import s3_client

log = logging.getLogger("extract")
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class LakeTable:
    """A mart in the lake: partitioned by dataset and year (and month: minute data) of date_column, or one file
    when it has none. The dataset is the row's dataset_column, else `dataset`, else the one publish is given.
    ignored: the columns whose change alone does not make a partition worth rewriting (every other column does)."""

    name: str
    sort: tuple[str, ...]
    date_column: str | None = None
    ignored: tuple[str, ...] = ()
    version_column: str | None = None  # the source file version of a row, counted in the manifest
    monthly: bool = False
    dataset_column: str | None = None
    dataset: str | None = None


MINUTE_DATASET = "us_stocks_sip/minute_aggs_v1"
LAKE_TABLES = (
    LakeTable(
        "fct_daily_bars", ("ticker", "trade_date"), "trade_date", version_column="source_etag", dataset_column="dataset"
    ),
    LakeTable("fct_daily_bars_adjusted", ("ticker", "trade_date"), "trade_date", dataset_column="dataset"),
    LakeTable(
        "fct_minute_bars",
        ("ticker", "bar_start"),
        "trade_date",
        version_column="source_etag",
        monthly=True,
        dataset=MINUTE_DATASET,
    ),
    LakeTable("fct_minute_bars_5m", ("ticker", "bucket_start"), "trade_date", monthly=True, dataset=MINUTE_DATASET),
    LakeTable("fct_minute_bars_1h", ("ticker", "bucket_start"), "trade_date", monthly=True, dataset=MINUTE_DATASET),
    LakeTable("fct_minute_bars_daily", ("ticker", "trade_date"), "trade_date", dataset=MINUTE_DATASET),
    LakeTable("fct_corporate_actions", ("ticker", "event_date", "action_type", "cash_amount")),
    LakeTable("dim_instrument_tickers", ("ticker", "valid_from")),
    # updated_at changes on every extract run, the instruments themselves seldom.
    LakeTable("dim_instruments", ("ticker",), ignored=("updated_at",)),
    LakeTable("fct_ticker_coverage", ("ticker",)),
)


@dataclass
class PublishResult:
    location: str
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rows_written: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"lake {self.location}: {len(self.written)} partitions written ({self.rows_written} rows), "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, {self.seconds:.1f}s"
        )


class LakeStore(Protocol):
    location: str

    def read(self, name: str) -> bytes | None: ...

    def put(self, local: Path, name: str) -> None: ...

    def delete(self, name: str) -> None: ...


class FolderLake:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def read(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def put(self, local: Path, name: str) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        aside = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(local, aside)
        os.replace(aside, target)  # atomic: a reader opens the old file or the new one

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


class BucketLake:
    """A lake in an S3-compatible bucket: a PUT replaces an object whole, so readers never see half of one."""

    def __init__(self, client, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def read(self, name: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def put(self, local: Path, name: str) -> None:
        self.client.upload_file(str(local), self.bucket, self._key(name))

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))


def open_lake(location: str, s3: S3Config) -> LakeStore:
    """A folder, or s3://bucket/prefix through the flat files' client factory (with s3's endpoint and keys)."""
    if not location:
        raise ConfigError("no lake location: set lake_location in pipeline.yml (or TBP_LAKE)")
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        return BucketLake(s3_client(s3), bucket, prefix)
    return FolderLake(Path(location))


@dataclass(frozen=True)
class Partition:
    """Which rows of a mart one lake file holds: all of them (no date column), or a dataset's year or month."""

    dataset: str | None = None
    year: int | None = None
    month: int | None = None


def partition_name(table: LakeTable, partition: Partition) -> str:
    if table.date_column is None:
        return f"{table.name}/part-0.parquet"
    month = f"month={partition.month}/" if table.monthly else ""
    # Hive escapes a slash in a value as %2F: Hive readers (DuckDB, polars, Spark, Trino) give the dataset's name back
    dataset = quote(partition.dataset, safe="")
    return f"{table.name}/dataset={dataset}/year={partition.year}/{month}part-0.parquet"


def publish(warehouse, lake: LakeStore, schema: str, dataset: str) -> PublishResult:
    """Write every mart partition (of the marts in `schema`) whose rows differ from what the lake holds; drop
    partitions with no rows left; then the manifest."""
    started = time.monotonic()
    result = PublishResult(lake.location)
    previous = json.loads(lake.read(MANIFEST) or b"{}").get("partitions", {})
    partitions = {}
    with tempfile.TemporaryDirectory(prefix="tbp-lake-") as scratch:
        for table in LAKE_TABLES:
            for partition, facts in _fingerprints(warehouse, schema, table, dataset).items():
                name = partition_name(table, partition)
                partitions[name] = facts
                if previous.get(name, {}).get("fingerprint") == facts["fingerprint"]:
                    partitions[name] = previous[name]
                    result.unchanged.append(name)
                    continue
                local = Path(scratch) / f"{len(result.written)}.parquet"
                rows = warehouse.export_parquet(_partition_sql(f"{schema}.{table.name}", table, partition), local)
                lake.put(local, name)
                partitions[name] = {**facts, "written_at": datetime.now(UTC).isoformat(timespec="seconds")}
                result.written.append(name)
                result.rows_written += rows
        for name in sorted(set(previous) - set(partitions)):
            lake.delete(name)
            result.removed.append(name)
        manifest = Path(scratch) / MANIFEST
        manifest.write_text(
            json.dumps(
                {
                    "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "warehouse": warehouse.description,
                    "partitions": partitions,
                },
                indent=2,
                default=str,
            )
        )
        lake.put(manifest, MANIFEST)
    result.seconds = time.monotonic() - started
    return result


def _partition_columns(table: LakeTable, dataset: str) -> list[str]:
    """The SQL of a row's partition: its dataset, year and month (null where the table has none)."""
    if table.date_column is None:
        return ["null", "null", "null"]
    month = f"cast(extract(month from t.{table.date_column}) as integer)" if table.monthly else "null"
    label = f"t.{table.dataset_column}" if table.dataset_column else f"'{table.dataset or dataset}'"
    return [label, f"cast(extract(year from t.{table.date_column}) as integer)", month]


def _compared_row(warehouse, schema: str, table: LakeTable) -> str:
    """A row as the warehouse spells it, without the ignored columns."""
    if not table.ignored:
        return "cast(t as varchar)"
    columns = warehouse.execute(
        "select column_name from information_schema.columns "
        f"where table_schema = {warehouse.placeholder} and table_name = {warehouse.placeholder} "
        "order by ordinal_position",
        [schema, table.name],
    )
    compared = [f"t.{name}" for (name,) in columns if name not in table.ignored]
    return f"cast(row({', '.join(compared)}) as varchar)"


def _fingerprints(warehouse, schema: str, table: LakeTable, dataset: str) -> dict[Partition, dict]:
    """Per partition: rows, dates, source file versions and a digest of every row as the warehouse spells it
    (it changes with any value but the ignored columns', source version or load of the partition's rows)."""
    relation = f"{schema}.{table.name}"
    row = _compared_row(warehouse, schema, table)
    digest = f"md5(string_agg({row}, ',' order by {', '.join(f't.{c}' for c in table.sort)}))"
    versions = f"count(distinct t.{table.version_column})" if table.version_column else "null"
    dates = f"min(t.{table.date_column}), max(t.{table.date_column})" if table.date_column else "null, null"
    keys = _partition_columns(table, dataset)
    sql = f"select {', '.join(keys)}, count(*), {dates}, {digest}, {versions} from {relation} t group by 1, 2, 3"
    try:
        rows = warehouse.execute(sql)
    except WarehouseError as exc:
        raise WarehouseError(f"cannot read {relation} ({exc}): run `make build` first") from None
    return {
        Partition(label, year, month): {
            "rows": count,
            "min_date": first,
            "max_date": last,
            "source_versions": versions,
            "fingerprint": fingerprint,
        }
        for label, year, month, count, first, last, fingerprint, versions in rows
        if count
    }


def _partition_sql(relation: str, table: LakeTable, partition: Partition) -> str:
    conditions = []
    if table.date_column is not None:
        conditions.append(f"extract(year from {table.date_column}) = {int(partition.year)}")
    if table.monthly:
        conditions.append(f"extract(month from {table.date_column}) = {int(partition.month)}")
    if table.dataset_column:
        conditions.append(f"{table.dataset_column} = '{partition.dataset}'")
    where = f" where {' and '.join(conditions)}" if conditions else ""
    return f"select * from {relation}{where} order by {', '.join(table.sort)}"
