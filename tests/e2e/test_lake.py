"""The Parquet lake: published from either warehouse, read by the read API, polars and DuckDB, never blocking."""

import json
import threading
from datetime import date

import duckdb
import polars as pl
import pytest

import tickerbars
from extract.lake import LAKE_TABLES, FolderLake, publish
from extract.reference import run_reference
from extract.run import RunOptions, open_warehouse, run_extract
from tests.conftest import CONFIGURED, S3_CREDENTIALS, bar_line, warehouse_rows, write_day_file

SESSIONS = [date(2023, 12, 27), date(2023, 12, 28), date(2023, 12, 29), date(2024, 1, 2), date(2024, 1, 3)]
WINDOW = RunOptions(start=SESSIONS[0], end=SESSIONS[-1])
FACT_COLUMNS = "ticker, trade_date, open, high, low, close, volume, transactions, source_key, source_etag"
YEAR_2023 = "fct_daily_bars/dataset=us_stocks_sip.day_aggs_v1/year=2023/part-0.parquet"
YEAR_2024 = "fct_daily_bars/dataset=us_stocks_sip.day_aggs_v1/year=2024/part-0.parquet"
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


def build_and_publish(cfg, env, run_dbt, lake):
    run_extract(cfg, WINDOW)
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

    expected = sorted(warehouse_rows(env, f"select {FACT_COLUMNS} from analytics.fct_daily_bars"))
    frame = tickerbars.bars(lake=str(lake.root))
    assert sorted(frame.select(FACT_COLUMNS.split(", ")).rows()) == expected
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


def test_a_reader_of_the_lake_never_blocks_a_load_and_never_sees_half_a_partition(
    make_config, year_end_mirror, base_env, run_dbt, tmp_path
):
    cfg = make_config(**base_env, TBP_SOURCE=str(year_end_mirror))
    lake = FolderLake(tmp_path / "lake")
    build_and_publish(cfg, base_env, run_dbt, lake)
    old = pl.read_parquet(lake.root / YEAR_2024)
    write_day_file(year_end_mirror, SESSIONS[3], [bar_line(t, SESSIONS[3], close=77.0) for t in CONFIGURED])

    seen, stop = [], threading.Event()

    def keep_reading() -> None:
        while not stop.is_set():
            seen.append(pl.read_parquet(lake.root / YEAR_2024))

    held_open = (lake.root / YEAR_2024).open("rb")
    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        build_and_publish(cfg, base_env, run_dbt, lake)  # the extract and dbt build succeed while it reads
    finally:
        stop.set()
        reader.join()
    new = pl.read_parquet(lake.root / YEAR_2024)
    assert not new.equals(old) and seen
    assert all(frame.equals(old) or frame.equals(new) for frame in seen)
    assert pl.read_parquet(held_open).equals(old)  # an open file keeps the version it opened
    held_open.close()


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
    storage = {
        "aws_endpoint_url": moto_endpoint,
        "aws_access_key_id": S3_CREDENTIALS["POLYGON_S3_ACCESS_KEY"],
        "aws_secret_access_key": S3_CREDENTIALS["POLYGON_S3_SECRET_KEY"],
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }
    frame = tickerbars.bars(["SPY"], lake=f"s3://{name}/lake", storage_options=storage)
    assert frame["trade_date"].to_list() == SESSIONS
    run_extract(cfg, WINDOW)  # instruments written again: only updated_at changes
    run_dbt(["build"], base_env)
    assert f"lake s3://{name}/lake: 0 partitions written" in invoke("publish", **lake_env).output
