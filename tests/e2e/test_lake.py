"""The Parquet lake: published from either warehouse, read by the read API, polars and DuckDB, never blocking."""

import json
import threading
import time
from datetime import date

import duckdb
import polars as pl
import pytest

import tickerbars
from extract.lake import LAKE_TABLES, BucketLake, FolderLake, publish
from extract.reference import run_reference
from extract.run import RunOptions, open_warehouse, run_extract
from tests.conftest import CONFIGURED, S3_CREDENTIALS, bar_line, warehouse_rows, write_day_file

SESSIONS = [date(2023, 12, 27), date(2023, 12, 28), date(2023, 12, 29), date(2024, 1, 2), date(2024, 1, 3)]
WINDOW = RunOptions(start=SESSIONS[0], end=SESSIONS[-1])
NEXT_SESSION = date(2024, 1, 4)
NEXT_WINDOW = RunOptions(start=SESSIONS[0], end=NEXT_SESSION)
YEAR_2023 = "fct_daily_bars/dataset=us_stocks_sip%2Fday_aggs_v1/year=2023/part-0.parquet"
YEAR_2024 = "fct_daily_bars/dataset=us_stocks_sip%2Fday_aggs_v1/year=2024/part-0.parquet"
# No reference data here: fct_corporate_actions is empty, and an empty mart has no file.
LAKE_FILES = [
    YEAR_2023,
    YEAR_2024,
    YEAR_2023.replace("fct_daily_bars", "fct_daily_bars_adjusted"),
    YEAR_2024.replace("fct_daily_bars", "fct_daily_bars_adjusted"),
    "dim_instrument_tickers/part-0.parquet",
    "dim_instruments/part-0.parquet",
    "fct_ticker_coverage/part-0.parquet",
]


@pytest.fixture
def year_end_mirror(tmp_path):
    root = tmp_path / "year-end-mirror"
    for n, day in enumerate(SESSIONS):
        write_day_file(root, day, [bar_line(t, day, close=20.0 + n) for t in CONFIGURED])
    return root


def build_and_publish(cfg, env, run_dbt, lake, window=WINDOW):
    run_extract(cfg, window)
    run_dbt(["build"], env)
    with open_warehouse(cfg, read_only=True) as warehouse:
        return publish(warehouse, lake, "analytics", cfg.pipeline.datasets[0].name)


def test_the_read_api_returns_exactly_fct_daily_bars_and_a_correction_rewrites_only_its_partitions(
    make_config, year_end_mirror, target_env, run_dbt, tmp_path
):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(year_end_mirror))
    lake = FolderLake(tmp_path / "lake")
    first = build_and_publish(cfg, env, run_dbt, lake)
    assert sorted(first.written) == sorted(LAKE_FILES)

    frame = tickerbars.bars(lake=str(lake.root))  # every column of the mart, every value
    expected = sorted(warehouse_rows(env, f"select {', '.join(frame.columns)} from analytics.fct_daily_bars"))
    assert sorted(frame.rows()) == expected and frame.height == 5 * len(CONFIGURED)
    spy_2024 = tickerbars.bars(["SPY"], start="2024-01-01", lake=str(lake.root))
    assert spy_2024["trade_date"].to_list() == SESSIONS[3:]
    adjusted = tickerbars.bars(["SPY"], start="2024-01-01", lake=str(lake.root), adjusted=True)
    assert adjusted.columns[:7] == ["ticker", "trade_date", "open", "high", "low", "close", "volume"]
    assert adjusted["close"].to_list() == spy_2024["close"].to_list()  # no actions here: factors of 1
    glob = f"{lake.root}/fct_daily_bars/**/*.parquet"
    counted = duckdb.sql(f"select count(*) from read_parquet('{glob}', hive_partitioning = true)").fetchall()
    assert counted == [(len(expected),)]
    assert pl.scan_parquet(glob, hive_partitioning=True).filter(pl.col("ticker") == "SPY").collect().height == 5

    untouched = (lake.root / YEAR_2023).stat()
    write_day_file(year_end_mirror, SESSIONS[4], [bar_line(t, SESSIONS[4], close=99.0) for t in CONFIGURED])
    correction = build_and_publish(cfg, env, run_dbt, lake)
    assert correction.written == [YEAR_2024, YEAR_2024.replace("fct_daily_bars", "fct_daily_bars_adjusted")]
    assert (lake.root / YEAR_2023).stat().st_ino == untouched.st_ino
    assert tickerbars.bars(["AAPL"], start=SESSIONS[4], lake=str(lake.root))["close"].to_list() == [99.0]
    manifest = json.loads((lake.root / "_manifest.json").read_text())["partitions"]
    assert manifest[YEAR_2024]["rows"] == 2 * len(CONFIGURED) and manifest[YEAR_2023]["max_date"] == "2023-12-29"
    assert manifest[YEAR_2024]["source_versions"] == 2 and "written_at" in manifest[YEAR_2024]


def test_lake_files_are_zstd_compressed_and_sorted_by_ticker_and_date(
    make_config, year_end_mirror, target_env, run_dbt, tmp_path
):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(year_end_mirror))
    lake = FolderLake(tmp_path / "lake")
    build_and_publish(cfg, env, run_dbt, lake)
    sort_of = {table.name: list(table.sort) for table in LAKE_TABLES}
    for file in LAKE_FILES:
        path = lake.root / file
        codecs = duckdb.sql(f"select distinct compression from parquet_metadata('{path}')").fetchall()
        assert codecs == [("ZSTD",)], file
        frame = pl.read_parquet(path, hive_partitioning=False)
        assert frame.equals(frame.sort(sort_of[file.split("/")[0]], nulls_last=True)), file


def write_overviews(pages) -> None:
    """Ticker overviews giving every configured ticker a composite FIGI, its instrument_id once referenced."""
    for ticker in CONFIGURED:
        path = pages / f"v3/reference/tickers/{ticker}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        overview = {"ticker": ticker, "composite_figi": f"BBG-{ticker}", "list_date": "1999-01-22"}
        path.write_text(json.dumps({"status": "OK", "results": overview}))


def test_a_change_of_any_instrument_column_rewrites_dim_instruments(
    make_config, year_end_mirror, target_env, run_dbt, tmp_path
):
    env, pages = target_env, tmp_path / "pages"
    write_overviews(pages)
    cfg = make_config(**env, TBP_SOURCE=str(year_end_mirror), TBP_REFERENCE_SOURCE=str(pages))
    lake = FolderLake(tmp_path / "lake")
    build_and_publish(cfg, env, run_dbt, lake)
    assert run_reference(cfg).exit_code == 0
    second = build_and_publish(cfg, env, run_dbt, lake)
    assert "dim_instruments/part-0.parquet" in second.written
    published = pl.read_parquet(lake.root / "dim_instruments/part-0.parquet").drop("updated_at")
    columns = ", ".join(published.columns)
    assert sorted(published.rows()) == sorted(warehouse_rows(env, f"select {columns} from analytics.dim_instruments"))
    assert set(published["instrument_id"]) == {f"BBG-{ticker}" for ticker in CONFIGURED}


def s3_storage(endpoint: str) -> dict[str, str]:
    """storage_options reaching the moto server (the read API's, polars' own)."""
    return {
        "aws_endpoint_url": endpoint,
        "aws_access_key_id": S3_CREDENTIALS["POLYGON_S3_ACCESS_KEY"],
        "aws_secret_access_key": S3_CREDENTIALS["POLYGON_S3_SECRET_KEY"],
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }


@pytest.fixture(params=["folder", "s3"])
def lake_under_test(request, tmp_path):
    """A lake to publish into (a folder, or a prefix of a moto bucket), its location and storage options."""
    if request.param == "folder":
        return FolderLake(tmp_path / "lake"), str(tmp_path / "lake"), None
    name, client, _upload = request.getfixturevalue("s3_bucket")
    return BucketLake(client, name, "lake"), f"s3://{name}/lake", s3_storage(request.getfixturevalue("moto_endpoint"))


class Reader(threading.Thread):
    """Reads every bar through the read API until stopped; keeps each read and every exception (polars' panics
    too, which are no Exception)."""

    def __init__(self, location: str, storage: dict | None) -> None:
        super().__init__()
        self.location, self.storage = location, storage
        self.seen, self.errors, self.stop = [], [], threading.Event()

    def read(self) -> pl.DataFrame:
        return tickerbars.bars(lake=self.location, storage_options=self.storage)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.seen.append(self.read())
            except BaseException as exc:  # every failure of a read counts
                self.errors.append(repr(exc))


def by_year(frame: pl.DataFrame, year: int) -> pl.DataFrame:
    return frame.filter(pl.col("trade_date").dt.year() == year)


def replace_back_and_forth(lake, versions: dict[str, tuple[bytes, bytes]], scratch, seconds: float) -> None:
    """Put each partition's old and new file in turn, as publish puts them, ending on the new ones."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        for which in (0, 1):
            for name, files in versions.items():
                local = scratch / f"{which}.parquet"
                local.write_bytes(files[which])
                lake.put(local, name)


def test_readers_of_the_lake_never_block_a_load_and_see_each_partition_old_or_new_whole(
    make_config, year_end_mirror, base_env, run_dbt, lake_under_test, tmp_path
):
    lake, location, storage = lake_under_test
    cfg = make_config(**base_env, TBP_SOURCE=str(year_end_mirror))
    build_and_publish(cfg, base_env, run_dbt, lake)
    bars_2024 = [YEAR_2024, YEAR_2024.replace("fct_daily_bars", "fct_daily_bars_adjusted")]
    reader, old_files = Reader(location, storage), [lake.read(name) for name in bars_2024]
    old = reader.read()
    write_day_file(year_end_mirror, NEXT_SESSION, [bar_line(t, NEXT_SESSION, close=77.0) for t in CONFIGURED])

    reader.start()
    try:  # a new session: the extract and dbt build succeed while it reads, and the 2024 partitions grow
        assert set(bars_2024) <= set(build_and_publish(cfg, base_env, run_dbt, lake, NEXT_WINDOW).written)
        versions = {name: (before, lake.read(name)) for name, before in zip(bars_2024, old_files, strict=True)}
        replace_back_and_forth(lake, versions, tmp_path, seconds=4)  # many more replacements while it reads
    finally:
        reader.stop.set()
        reader.join()
    new = reader.read()
    assert by_year(new, 2024).height == by_year(old, 2024).height + len(CONFIGURED)
    assert reader.errors == [] and len(reader.seen) > 20
    for year in (2023, 2024):
        assert all(
            by_year(seen, year).equals(by_year(old, year)) or by_year(seen, year).equals(by_year(new, year))
            for seen in reader.seen
        ), year


def test_the_configured_s3_lake_is_published_through_the_client_factory_and_read_over_s3(
    make_config, year_end_mirror, base_env, run_dbt, moto_endpoint, s3_bucket, invoke
):
    name, client, _upload = s3_bucket
    lake_env = {"TBP_LAKE": f"s3://{name}/lake", "POLYGON_S3_ENDPOINT": moto_endpoint, **S3_CREDENTIALS}
    cfg = make_config(**base_env, TBP_SOURCE=str(year_end_mirror), **lake_env)
    run_extract(cfg, WINDOW)
    run_dbt(["build"], base_env)
    published = invoke("publish", **lake_env)  # lake_location in pipeline.yml, the keys and endpoint of s3.yml
    assert published.exit_code == 0, published.output
    assert f"lake s3://{name}/lake: {len(LAKE_FILES)} partitions written" in published.output
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket=name, Prefix="lake/")["Contents"])
    assert keys == sorted([f"lake/{file}" for file in LAKE_FILES] + ["lake/_manifest.json"])
    frame = tickerbars.bars(["SPY"], lake=f"s3://{name}/lake", storage_options=s3_storage(moto_endpoint))
    assert frame["trade_date"].to_list() == SESSIONS
    run_extract(cfg, WINDOW)  # instruments written again: only updated_at changes
    run_dbt(["build"], base_env)
    assert f"lake s3://{name}/lake: 0 partitions written" in invoke("publish", **lake_env).output


def test_a_lake_of_an_earlier_version_gets_its_partitions_renamed_once(
    make_config, year_end_mirror, base_env, run_dbt, tmp_path
):
    """Earlier versions spelled the dataset's slash as a dot: a Hive reader got `us_stocks_sip.day_aggs_v1`."""
    cfg = make_config(**base_env, TBP_SOURCE=str(year_end_mirror))
    lake = FolderLake(tmp_path / "lake")
    build_and_publish(cfg, base_env, run_dbt, lake)
    manifest_path = lake.root / "_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    dotted = {name: name.replace("%2F", ".") for name in manifest["partitions"] if "%2F" in name}
    for name, old in dotted.items():
        (lake.root / old).parent.mkdir(parents=True, exist_ok=True)
        (lake.root / name).rename(lake.root / old)
    manifest["partitions"] = {dotted.get(k, k): v for k, v in manifest["partitions"].items()}
    manifest_path.write_text(json.dumps(manifest))

    upgrade = build_and_publish(cfg, base_env, run_dbt, lake)
    assert sorted(upgrade.written) == sorted(dotted) and sorted(upgrade.removed) == sorted(dotted.values())
    assert not list(lake.root.glob("*/dataset=us_stocks_sip.day_aggs_v1/*/*.parquet"))
    hive = f"read_parquet('{lake.root}/fct_daily_bars/**/*.parquet', hive_partitioning = true)"
    assert duckdb.sql(f"select distinct dataset from {hive}").fetchall() == [("us_stocks_sip/day_aggs_v1",)]
