"""Every flat-file dataset from demo data to the marts, on DuckDB and on PostgreSQL: minute bars and their rollups
(the regular-session rollup equals the day file's bar), and the day bars of indices, crypto, forex and options."""

from __future__ import annotations

import gzip
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from unittest.mock import ANY

import duckdb
import psycopg
import pytest

import tickerbars
from extract.demo import DemoSpec, write_demo_mirror
from extract.lake import FolderLake, publish
from extract.run import RunOptions, open_warehouse, run_extract
from extract.status import warehouse_status
from tests.conftest import CONFIGURED, pg_connect, warehouse_rows

START, END = date(2024, 11, 25), date(2024, 12, 6)  # holds 2024-11-29, an early close (13:00)
MINUTE_SESSIONS = 6
ALL_DATASETS = ",".join(
    [
        "us_stocks_sip/day_aggs_v1",
        "us_stocks_sip/minute_aggs_v1",
        "us_indices/day_aggs_v1",
        "global_crypto/day_aggs_v1",
        "global_forex/day_aggs_v1",
        "us_options_opra/day_aggs_v1",
    ]
)
OTHER_ASSETS = {"I:SPX": "index", "X:BTCUSD": "crypto", "C:EURUSD": "forex", "O:SPY250110C00480000": "option"}


@pytest.fixture(scope="module")
def every_dataset_mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets-mirror")
    write_demo_mirror(
        root,
        DemoSpec(
            START,
            END,
            ticker_count=40,
            seed=5,
            include_tickers=CONFIGURED,
            minute_sessions=MINUTE_SESSIONS,
            other_datasets=True,
        ),
    )
    return root


def configure_other_assets(config_dir) -> None:
    text = (config_dir / "instruments.yml").read_text()
    added = "".join(f"  - {{ticker: '{ticker}', type: {kind}}}\n" for ticker, kind in OTHER_ASSETS.items())
    (config_dir / "instruments.yml").write_text(text.replace("instruments:\n", "instruments:\n" + added, 1))


def test_every_dataset_lands_and_builds(target_env, make_config, config_dir, every_dataset_mirror, run_dbt, tmp_path):
    configure_other_assets(config_dir)
    cfg = make_config(**target_env, TBP_SOURCE=str(every_dataset_mirror), TBP_DATASETS=ALL_DATASETS)
    summary = run_extract(cfg, RunOptions(start=START, end=END))
    assert not summary.failed and not summary.warnings
    result = run_dbt(["build"], {**target_env, "TBP_DATASETS": ALL_DATASETS})
    assert "ERROR=0" in result.stdout

    # Minute files land only the configured tickers (their dataset's default land_scope).
    minute_tickers = {t for (t,) in warehouse_rows(target_env, "select distinct ticker from landing.minute_aggs")}
    assert minute_tickers == set(CONFIGURED)

    # The regular-session rollup of each day's minute bars is that day's bar from the day file.
    pairs = warehouse_rows(
        target_env,
        "select d.open, m.open, d.high, m.high, d.low, m.low, d.close, m.close, d.volume, m.volume, "
        "d.transactions, m.transactions from analytics.fct_minute_bars_daily m "
        "join analytics.fct_daily_bars d on d.ticker = m.ticker and d.trade_date = m.trade_date",
    )
    assert len(pairs) == len(CONFIGURED) * MINUTE_SESSIONS
    for row in pairs:
        assert row[0:12:2] == pytest.approx(row[1:12:2])

    # The early close ends the regular session at 13:00 New York: 210 regular minutes, later bars post-market.
    sessions = dict(
        warehouse_rows(
            target_env,
            "select market_session, count(*) from analytics.fct_minute_bars "
            "where ticker = 'AAPL' and trade_date = '2024-11-29' group by market_session",
        )
    )
    assert sessions["regular"] == 210 and sessions["pre_market"] > 0 and sessions["post_market"] > 0
    assert warehouse_rows(
        target_env,
        "select count(*), sum(minute_bars) from analytics.fct_minute_bars_1h where ticker = 'AAPL' "
        "and trade_date = '2024-12-02'",
    ) == [
        (
            warehouse_rows(
                target_env,
                "select count(distinct extract(hour from bar_start)), count(*) from analytics.fct_minute_bars "
                "where ticker = 'AAPL' and trade_date = '2024-12-02'",
            )[0]
        )
    ]

    # Day bars of the other asset classes, each on its own calendar and day boundary.
    days = warehouse_rows(
        target_env,
        "select ticker, dataset, count(*), count(volume), "
        "sum(case when extract(dow from trade_date) = 6 then 1 else 0 end), "
        "sum(case when extract(dow from trade_date) = 0 then 1 else 0 end) "
        "from analytics.fct_daily_bars where ticker like '_:%' group by ticker, dataset order by ticker",
    )
    assert days == [
        ("C:EURUSD", "global_forex/day_aggs_v1", 11, 11, 0, 1),  # Sunday to Friday
        ("I:SPX", "us_indices/day_aggs_v1", 9, 0, 0, 0),  # sessions; no volume
        ("O:SPY250110C00480000", "us_options_opra/day_aggs_v1", 9, 9, 0, 0),
        ("X:BTCUSD", "global_crypto/day_aggs_v1", 12, 12, 1, 1),  # every day
    ]
    assert warehouse_rows(target_env, "select count(*) from analytics.fct_quarantined_bars") == [(0,)]
    # Each dataset's days count on its own calendar: none is missing, and crypto's weekend bars are expected.
    assert warehouse_rows(target_env, "select dataset, session_date from analytics.fct_missing_sessions") == []
    crypto = "select sessions_present, sessions_expected from analytics.fct_ticker_coverage where ticker like 'X:%'"
    assert warehouse_rows(target_env, crypto) == [(12, 12)]
    assert warehouse_rows(
        target_env,
        "select underlying_ticker, expiration_date, contract_type, strike_price from analytics.dim_option_contracts",
    ) == [("SPY", date(2025, 1, 10), "call", 480.0)]

    # The lake: day bars partitioned by their dataset, minute bars and their rollups by month too.
    lake = FolderLake(tmp_path / "lake")
    with open_warehouse(cfg, read_only=True) as warehouse:
        written = publish(warehouse, lake, "analytics", cfg.pipeline.datasets[0].name).written
    assert "fct_daily_bars/dataset=global_crypto%2Fday_aggs_v1/year=2024/part-0.parquet" in written
    assert "fct_minute_bars/dataset=us_stocks_sip%2Fminute_aggs_v1/year=2024/month=12/part-0.parquet" in written
    assert "fct_minute_bars_5m/dataset=us_stocks_sip%2Fminute_aggs_v1/year=2024/month=11/part-0.parquet" in written
    # A Hive reader gets the warehouse's dataset names back from the paths (they were spelled with dots), and the
    # adjusted bars sit under their own dataset (all of them were filed under the first one listed).
    for mart in ("fct_daily_bars", "fct_daily_bars_adjusted"):
        hive = duckdb.sql(
            f"select distinct dataset, ticker like 'X:%' from read_parquet('{lake.root}/{mart}/**/*.parquet', "
            "hive_partitioning = true) where ticker in ('AAPL', 'X:BTCUSD') order by 1"
        ).fetchall()
        assert hive == [("global_crypto/day_aggs_v1", True), ("us_stocks_sip/day_aggs_v1", False)], mart
    five_minutes = tickerbars.bars(["AAPL"], "2024-12-02", "2024-12-02", lake=str(lake.root), frequency="5min")
    expected = warehouse_rows(
        target_env,
        "select bucket_start, open, high, low, close, volume from analytics.fct_minute_bars_5m "
        "where ticker = 'AAPL' and trade_date = '2024-12-02' order by bucket_start",
    )
    got = five_minutes.select("bucket_start", "open", "high", "low", "close", "volume").rows()
    assert [(stamp.timestamp(), *values) for stamp, *values in got] == [
        (stamp.timestamp(), *values) for stamp, *values in expected
    ]

    # A full refresh rebuilds the marts (it failed on DuckDB, in a race over the marts' indexes, which DuckDB's marts
    # no longer have: a warehouse of an earlier version has its indexes dropped by the build, a user's own are kept).
    if target_env["TBP_TARGET"] == "duckdb":
        with duckdb.connect(target_env["DUCKDB_PATH"]) as conn:
            conn.execute(f'create unique index "{"0" * 32}" on analytics.fct_minute_bars (ticker, bar_start)')
            conn.execute("create index bars_by_close on analytics.fct_daily_bars (close)")
        run_dbt(["build"], {**target_env, "TBP_DATASETS": ALL_DATASETS})
        assert warehouse_rows(target_env, "select index_name from duckdb_indexes()") == [("bars_by_close",)]
        with duckdb.connect(target_env["DUCKDB_PATH"]) as conn:
            conn.execute(f'create unique index "{"0" * 32}" on analytics.fct_minute_bars (ticker, bar_start)')
            conn.execute("drop index analytics.bars_by_close")
    result = run_dbt(["build", "--full-refresh"], {**target_env, "TBP_DATASETS": ALL_DATASETS})
    assert "ERROR=0" in result.stdout
    assert warehouse_rows(target_env, "select count(*) from analytics.fct_minute_bars_daily") == [(len(pairs),)]
    if target_env["TBP_TARGET"] == "duckdb":
        assert warehouse_rows(target_env, "select count(*) from duckdb_indexes()") == [(0,)]


def test_crypto_files_do_not_hide_stock_files_that_stopped(
    target_env, make_config, config_dir, every_dataset_mirror, run_dbt, tmp_path
):
    """The freshness of runs and builds is each dataset's on its own calendar, the stalest counting: crypto's files
    (every day) kept `newest_file_date` and `newest_session` current, so a stock feed that stopped went unseen by
    the sessions_behind metrics. An option contract that stops trading is no stopped feed: it does not count."""
    datasets = "us_stocks_sip/day_aggs_v1,global_crypto/day_aggs_v1,us_options_opra/day_aggs_v1"
    mirror = tmp_path / "mirror"
    for name in datasets.split(","):
        shutil.copytree(every_dataset_mirror / name, mirror / name)
    last_stock_day = date(2024, 12, 3)
    for path in (mirror / "us_stocks_sip/day_aggs_v1").rglob("*.csv.gz"):
        if date.fromisoformat(path.name[:10]) > last_stock_day:
            path.unlink()
    for path in (mirror / "us_options_opra/day_aggs_v1").rglob("*.csv.gz"):  # the contract's last trade: 12-02
        if date.fromisoformat(path.name[:10]) > date(2024, 12, 2):
            lines = gzip.decompress(path.read_bytes()).decode().splitlines()
            path.write_bytes(gzip.compress("\n".join(x for x in lines if "SPY250110C" not in x).encode() + b"\n"))
    configure_other_assets(config_dir)
    cfg = make_config(**target_env, TBP_SOURCE=str(mirror), TBP_DATASETS=datasets)
    run_extract(cfg, RunOptions(START, END))
    run_dbt(["build"], target_env, check=False)  # the stock days since are missing: the coverage test fails
    stock_days_since = (
        "(select count(*) from landing.calendar_days where calendar = 'XNYS' "
        f"and session_date > '{last_stock_day}' and session_date < cast(r.started_at as date))"
    )
    [(newest_file, behind, stock_behind)] = warehouse_rows(
        target_env, f"select newest_file_date, sessions_behind, {stock_days_since} from analytics.fct_extract_runs r"
    )
    assert newest_file == last_stock_day and behind >= stock_behind > 0
    assert warehouse_rows(target_env, "select newest_session from analytics.fct_build_runs") == [(last_stock_day,)]


def test_minute_files_alone_build_minute_bars(base_env, make_config, every_dataset_mirror, run_dbt, tmp_path):
    """A pipeline that loads minute files and no day files: each ticker's period under its instrument starts at its
    first minute bar (it started at its first day bar, so fct_minute_bars stayed empty without a word); a minute bar
    that fails a rule shows in fct_quarantined_bars (it was only in an intermediate model)."""
    minute = "us_stocks_sip/minute_aggs_v1"
    mirror = tmp_path / "minute-mirror"
    shutil.copytree(every_dataset_mirror / minute, mirror / minute)
    damaged = sorted((mirror / minute).rglob("*.csv.gz"))[0]
    header, first, *rest = gzip.decompress(damaged.read_bytes()).decode().splitlines()
    ticker, volume, open_, close, high, low, window_start, transactions = first.split(",")
    impossible = ",".join([ticker, volume, open_, close, str(float(low) / 2), low, window_start, transactions])
    damaged.write_bytes(gzip.compress("\n".join([header, impossible, *rest, ""]).encode()))

    summary = run_extract(make_config(**base_env, TBP_SOURCE=str(mirror), TBP_DATASETS=minute), RunOptions(START, END))
    assert summary.rows_landed and not summary.failed
    assert "ERROR=0" in run_dbt(["build"], {**base_env, "TBP_DATASETS": minute}).stdout
    landed = warehouse_rows(base_env, "select ticker, count(*) from landing.minute_aggs group by 1 order by 1")
    built = warehouse_rows(base_env, "select ticker, count(*) from analytics.fct_minute_bars group by 1 order by 1")
    assert len(landed) == len(CONFIGURED)
    assert built == [(t, n - 1) if t == ticker else (t, n) for t, n in landed]
    assert warehouse_rows(base_env, "select count(distinct ticker) from analytics.fct_minute_bars_daily") == [
        (len(CONFIGURED),)
    ]
    assert warehouse_rows(
        base_env, "select ticker, quarantine_reason, bar_start is not null from analytics.fct_quarantined_bars"
    ) == [(ticker, "ohlc_inconsistent", True)]
    runs = "select sum(quarantined_rows), sum(quarantined_ohlc_inconsistent) from analytics.fct_extract_runs"
    assert warehouse_rows(base_env, runs) == [(1, 1)]


def test_an_option_is_expected_to_its_expiry_and_may_skip_days(
    base_env, make_config, config_dir, every_dataset_mirror, run_dbt, tmp_path
):
    """An option contract trades on no day after its expiry, and not on every day before it: counting every day of
    the dataset failed the coverage test, and so every build, once a configured contract expired or skipped days."""
    datasets = "us_stocks_sip/day_aggs_v1,us_options_opra/day_aggs_v1"
    mirror = tmp_path / "options-mirror"
    for dataset in datasets.split(","):
        shutil.copytree(every_dataset_mirror / dataset, mirror / dataset)
    listed, expiring = "O:SPY250110C00480000", "O:SPY241203C00480000"
    for number, path in enumerate(sorted((mirror / "us_options_opra").rglob("*.csv.gz"))):
        header, *lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        (row,) = [line for line in lines if line.startswith(listed + ",")]
        if path.name <= "2024-12-03.csv.gz":
            lines.append(row.replace(listed, expiring))
        if number in (2, 5):  # a day the listed contract did not trade
            lines.remove(row)
        path.write_bytes(gzip.compress("\n".join([header, *lines, ""]).encode()))
    text = (config_dir / "instruments.yml").read_text()
    added = "".join(f"  - {{ticker: '{ticker}', type: option}}\n" for ticker in (listed, expiring))
    (config_dir / "instruments.yml").write_text(text.replace("instruments:\n", "instruments:\n" + added, 1))

    cfg = make_config(**base_env, TBP_SOURCE=str(mirror), TBP_DATASETS=datasets)
    run_extract(cfg, RunOptions(START, END))
    assert "ERROR=0" in run_dbt(["build"], {**base_env, "TBP_DATASETS": datasets}).stdout
    coverage = (
        "select ticker, sessions_present, sessions_expected from analytics.fct_ticker_coverage "
        "where ticker like 'O:%' order by ticker"
    )
    assert warehouse_rows(base_env, coverage) == [(expiring, 6, 6), (listed, 7, 9)]
    status = warehouse_status(cfg)
    assert status.exit_code == 0, status.problems


def test_minute_bars_and_rollups_follow_the_instruments_and_corrections(
    target_env, make_config, config_dir, every_dataset_mirror, run_dbt, tmp_path
):
    """A ticker configured again gets its minute bars back from landing (the minute model re-read only files with
    newer loads, and landing held its rows already); the rollups take bars that reach fct_minute_bars with old loads
    (a ticker active again); a day re-published without its regular session leaves the daily rollup (its bar stayed).
    Each held the old answer while every test passed."""
    datasets = "us_stocks_sip/day_aggs_v1,us_stocks_sip/minute_aggs_v1"
    env = {**target_env, "TBP_DATASETS": datasets}
    cfg = make_config(**target_env, TBP_SOURCE=str(every_dataset_mirror), TBP_DATASETS=datasets)
    instruments = config_dir / "instruments.yml"
    configured = instruments.read_text()

    def extract_and_build(instruments_text: str) -> None:
        instruments.write_text(instruments_text)
        run_extract(
            make_config(**target_env, TBP_SOURCE=str(every_dataset_mirror), TBP_DATASETS=datasets),
            RunOptions(start=START, end=END),
        )
        run_dbt(["build"], env)

    def minute_counts(ticker: str) -> list[tuple]:
        return warehouse_rows(
            env,
            " union all ".join(
                f"select '{relation}', count(*) from analytics.{relation} where ticker = '{ticker}'"
                for relation in ("fct_minute_bars", "fct_minute_bars_5m", "fct_minute_bars_1h", "fct_minute_bars_daily")
            ),
        )

    run_extract(cfg, RunOptions(start=START, end=END))
    run_dbt(["build"], env)
    msft, aapl = minute_counts("MSFT"), minute_counts("AAPL")
    assert all(count > 0 for _relation, count in msft + aapl)

    msft_line = next(line for line in configured.splitlines() if "ticker: MSFT," in line)
    extract_and_build(configured.replace(msft_line + "\n", "").replace(", MSFT", ""))  # and its groups
    assert all(count == 0 for _relation, count in minute_counts("MSFT"))
    extract_and_build(configured)
    assert minute_counts("MSFT") == msft

    aapl_line = next(line for line in configured.splitlines() if "ticker: AAPL," in line)
    extract_and_build(configured.replace(aapl_line, aapl_line.replace("active: true", "active: false")))
    assert all(count == 0 for _relation, count in minute_counts("AAPL"))
    extract_and_build(configured)
    assert minute_counts("AAPL") == aapl

    day = date(2024, 12, 4)
    path = every_dataset_mirror / "us_stocks_sip" / "minute_aggs_v1" / f"{day:%Y/%m/%Y-%m-%d}.csv.gz"
    original = path.read_bytes()
    regular = range(
        int(datetime(2024, 12, 4, 14, 30, tzinfo=UTC).timestamp()),
        int(datetime(2024, 12, 4, 21, tzinfo=UTC).timestamp()),
    )
    try:
        lines = gzip.decompress(original).decode().splitlines()
        kept = [lines[0]] + [
            line for line in lines[1:] if not (line.startswith("AAPL,") and int(line.split(",")[6]) // 10**9 in regular)
        ]
        assert len(kept) < len(lines)
        path.write_bytes(gzip.compress(("\n".join(kept) + "\n").encode(), mtime=0))
        extract_and_build(configured)
    finally:
        path.write_bytes(original)
    assert warehouse_rows(
        env,
        "select market_session, count(*) from analytics.fct_minute_bars where ticker = 'AAPL' "
        "and trade_date = '2024-12-04' group by market_session order by 1",
    ) == [("post_market", ANY), ("pre_market", ANY)]
    assert warehouse_rows(
        env, "select count(*) from analytics.fct_minute_bars_daily where ticker = 'AAPL' and trade_date = '2024-12-04'"
    ) == [(0,)]

    # An index added (no minute dataset holds I:SPX) re-reads no minute file: it made the minute model re-read them all.
    extract_and_build(configured.replace("instruments:\n", "instruments:\n  - {ticker: 'I:SPX', type: index}\n", 1))
    compiled = tmp_path / "dbt_target/compiled/tickerbars/dbt_project/models/intermediate/int_minute_aggs__checked.sql"
    assert "stg.load_id >=" in compiled.read_text()


def test_an_earlier_ticker_added_later_reaches_every_minute_rollup(
    target_env, make_config, config_dir, every_dataset_mirror, run_dbt, tmp_path
):
    """With every minute row landed, an earlier ticker configured later brings its days to fct_minute_bars with their
    old loads: the rollups rebuild every day they do not hold (they rebuilt only days with newer loads, and kept
    the instrument's later days alone while every test passed)."""
    minute = "us_stocks_sip/minute_aggs_v1"
    mirror = tmp_path / "minute-mirror"
    shutil.copytree(every_dataset_mirror / minute, mirror / minute)
    files = sorted((mirror / minute).rglob("*.csv.gz"))
    for path in files[:3]:  # AAPL traded as AAPLW on the first three sessions
        text = gzip.decompress(path.read_bytes()).decode()
        assert "\nAAPLW," not in text
        path.write_bytes(gzip.compress(text.replace("\nAAPL,", "\nAAPLW,").encode(), mtime=0))
    (config_dir / "pipeline.yml").write_text(
        f"pipeline:\n  start_date: {START}\n  datasets:\n    - {{name: {minute}, land_scope: all}}\n"
    )
    instruments = config_dir / "instruments.yml"
    configured = instruments.read_text()

    def extract_and_build() -> list[tuple]:
        assert not run_extract(make_config(**target_env, TBP_SOURCE=str(mirror)), RunOptions(START, END)).failed
        run_dbt(["build"], target_env)
        return warehouse_rows(
            target_env,
            " union all ".join(
                f"select '{relation}', count(distinct trade_date) from analytics.{relation} where ticker = 'AAPL'"
                for relation in ("fct_minute_bars", "fct_minute_bars_5m", "fct_minute_bars_1h", "fct_minute_bars_daily")
            ),
        )

    assert {days for _relation, days in extract_and_build()} == {len(files) - 3}
    aapl_line = next(line for line in configured.splitlines() if "ticker: AAPL," in line)
    instruments.write_text(configured.replace(aapl_line, aapl_line.replace("}", ", previous_tickers: [AAPLW]}")))
    assert {days for _relation, days in extract_and_build()} == {len(files)}


@pytest.mark.timescaledb
def test_minute_bars_are_a_compressed_hypertable_with_continuous_aggregates_equal_to_the_rollups(
    timescale_env, make_config, every_dataset_mirror, run_dbt
):
    env = {**timescale_env, "TBP_DATASETS": "us_stocks_sip/day_aggs_v1,us_stocks_sip/minute_aggs_v1"}
    cfg = make_config(**env, TBP_SOURCE=str(every_dataset_mirror))
    run_extract(cfg, RunOptions(start=START, end=END))
    run_dbt(["build"], env)
    assert warehouse_rows(
        env,
        "select d.column_name, d.time_interval, h.compression_enabled from timescaledb_information.dimensions d "
        "join timescaledb_information.hypertables h using (hypertable_schema, hypertable_name) "
        "where d.hypertable_name = 'fct_minute_bars'",
    ) == [("bar_start", timedelta(days=7), True)]
    # Each continuous aggregate equals the dbt rollup of the same bars, bucket for bucket.
    # (The daily aggregate's bucket is the New York day; the rollup's bucket_start is the session's first minute.)
    values = "open, high, low, close, volume, transactions, minute_bars"
    for cagg, rollup, bucket in (
        ("cagg_minute_bars_5m", "fct_minute_bars_5m", "bucket_start"),
        ("cagg_minute_bars_1h", "fct_minute_bars_1h", "bucket_start"),
        (
            "cagg_minute_bars_daily",
            "fct_minute_bars_daily",
            "cast(bucket_start at time zone 'America/New_York' as date)",
        ),
    ):
        caggs = warehouse_rows(env, f"select ticker, {bucket} as b, {values} from analytics.{cagg} order by 1, 2")
        rollup_bucket = "trade_date" if rollup.endswith("daily") else "bucket_start"
        rollups = warehouse_rows(
            env, f"select ticker, {rollup_bucket} as b, {values} from analytics.{rollup} order by 1, 2"
        )
        assert caggs and caggs == rollups, cagg
    policies = warehouse_rows(
        env,
        "select count(*) from timescaledb_information.jobs where proc_name = 'policy_refresh_continuous_aggregate'",
    )
    assert policies == [(3,)]
    build_while_a_refresh_policy_runs(env, run_dbt)

    # Compressed, then corrected: the re-published file's bars reach the hypertable and the aggregates.
    warehouse_rows(
        env,
        "select count(compress_chunk(c, if_not_compressed => true)) from show_chunks('analytics.fct_minute_bars') c",
    )
    day = date(2024, 12, 6)
    path = every_dataset_mirror / "us_stocks_sip" / "minute_aggs_v1" / f"{day:%Y/%m/%Y-%m-%d}.csv.gz"
    original = path.read_bytes()
    try:
        lines = gzip.decompress(original).decode().splitlines()
        kept = [lines[0]] + [line for line in lines[1:] if not line.startswith("AAPL,")]
        path.write_bytes(gzip.compress(("\n".join(kept) + "\n").encode(), mtime=0))
        run_extract(cfg, RunOptions(start=START, end=END))
        run_dbt(["build"], env)
    finally:
        path.write_bytes(original)
    for relation in ("fct_minute_bars", "cagg_minute_bars_1h", "fct_minute_bars_1h"):
        time_column = "bar_start" if relation == "fct_minute_bars" else "bucket_start"
        assert warehouse_rows(
            env,
            f"select count(*) from analytics.{relation} where ticker = 'AAPL' "
            f"and {time_column} >= '2024-12-06 05:00:00+00' and {time_column} < '2024-12-07 05:00:00+00'",
        ) == [(0,)], relation
    run_dbt(["build", "--full-refresh"], env)
    assert warehouse_rows(env, "select count(*) from timescaledb_information.continuous_aggregates") == [(3,)]


def build_while_a_refresh_policy_runs(env: dict[str, str], run_dbt) -> None:
    """A refresh policy that runs while a build refreshes the same aggregate made the build fail ("due to a
    concurrent refresh", seen in CI): the build now pauses the policies and waits for a running one. The policy is held
    running, its refresh window registered, by a lock on the invalidation threshold it takes next, until the build
    fails or waits for it (or TimescaleDB's scheduler cancels the policy the build paused). A policy paused by hand
    stays paused; a build that fails while it holds the policies paused leaves none paused."""
    jobs = {
        name: job_id
        for name, job_id in warehouse_rows(
            env,
            "select hypertable_name, job_id from timescaledb_information.jobs "
            "where proc_name = 'policy_refresh_continuous_aggregate'",
        )
    }
    scheduled = (
        "select hypertable_name from timescaledb_information.jobs "
        "where proc_name = 'policy_refresh_continuous_aggregate' and scheduled order by 1"
    )
    with pg_connect(env, autocommit=True) as conn:
        conn.execute(f"select alter_job({jobs['cagg_minute_bars_1h']}, scheduled => false)")
    build = hold_a_policy_running(
        env, jobs["cagg_minute_bars_5m"], lambda: run_dbt(["build", "-s", "fct_minute_bars"], env)
    )
    assert "ERROR=0" in build.stdout
    assert warehouse_rows(env, scheduled) == [("cagg_minute_bars_5m",), ("cagg_minute_bars_daily",)]

    with pg_connect(env, autocommit=True) as conn:
        conn.execute(f"select alter_job({jobs['cagg_minute_bars_1h']}, scheduled => true)")
    impatient = ["build", "-s", "fct_minute_bars", "--vars", "{continuous_aggregate_policy_wait: 1 second}"]
    with a_policy_running_on(env, jobs["cagg_minute_bars_5m"]), ThreadPoolExecutor(1) as pool:
        built = pool.submit(run_dbt, impatient, env, check=False)
        wait_till(lambda: built.done() or warehouse_rows(env, BUILD_WAITING) != [(0,)], "the build did not wait")
        scheduled_while_waiting = warehouse_rows(env, scheduled)
        build = built.result()
    assert scheduled_while_waiting == []  # the build paused them all
    assert build.returncode == 1 and "has run for over 1 second" in build.stdout
    assert warehouse_rows(env, scheduled) == [(name,) for name in sorted(jobs)]
    assert warehouse_rows(env, "select count(*) from landing.paused_refresh_policies") == [(0,)]


@contextmanager
def a_policy_running_on(env: dict[str, str], job_id: int) -> Iterator[None]:
    """A policy that runs on after the build paused it. A real one does not: TimescaleDB's scheduler cancels a running
    job that is paused once it next reads its jobs (within 0.4 s here, or later: it depends on when it wakes). So this
    is a session that job_stats sees as the job running: active, under the job's application name."""
    running = f"select job_status from timescaledb_information.job_stats where job_id = {job_id}"
    with pg_connect(env, autocommit=True) as policy, ThreadPoolExecutor(1) as pool:
        policy.execute(
            "select set_config('application_name', application_name, false) "
            f"from _timescaledb_catalog.bgw_job where id = {job_id}"
        )
        pid = policy.info.backend_pid
        sleeping = pool.submit(policy.execute, "select pg_sleep(300)")
        wait_till(lambda: ("Running",) in warehouse_rows(env, running), "the policy's session did not start")
        try:
            yield
        finally:
            with pg_connect(env, autocommit=True) as conn:
                conn.execute(f"select pg_cancel_backend({pid})")
            with pytest.raises(psycopg.errors.QueryCanceled):
                sleeping.result()


BUILD_WAITING = (
    "select count(*) from pg_stat_activity "
    "where query like '%do $wait_for_policies$%' and state = 'active' and pid <> pg_backend_pid()"
)


def wait_till(condition: Callable[[], bool], failure: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def hold_a_policy_running(env: dict[str, str], job_id: int, build: Callable[[], object]):
    """Runs the build while the policy is held running, until the build fails, waits for it, or (the scheduler having
    cancelled the policy it paused) waits on the lock that held the policy."""
    running = f"select job_status from timescaledb_information.job_stats where job_id = {job_id}"
    with pg_connect(env) as blocker, ThreadPoolExecutor(1) as pool:
        blocker.execute("select from _timescaledb_catalog.continuous_aggs_invalidation_threshold for update")
        held_by_the_lock = (
            "select count(*) from pg_stat_activity where backend_type = 'client backend' "
            f"and {blocker.info.backend_pid} = any(pg_blocking_pids(pid))"
        )
        with pg_connect(env, autocommit=True) as conn:
            conn.execute(f"select alter_job({job_id}, next_start => now())")
        wait_till(lambda: ("Running",) in warehouse_rows(env, running), "the refresh policy did not start", 60)
        built = pool.submit(build)
        wait_till(
            lambda: (
                built.done()
                or warehouse_rows(env, BUILD_WAITING) != [(0,)]
                or warehouse_rows(env, held_by_the_lock) != [(0,)]
            ),
            "the build neither failed nor reached its refreshes",
        )
        if not built.done():
            time.sleep(2)  # the build waits on
        blocker.commit()
        result = built.result()
    wait_till(lambda: ("Running",) not in warehouse_rows(env, running), "the refresh policy did not end")
    return result


def test_a_dataset_taken_out_takes_its_bars_out_until_it_is_listed_again(
    target_env, make_config, config_dir, every_dataset_mirror, run_dbt, tmp_path
):
    """A dataset taken out of `datasets` takes its instruments' bars out of the marts, as the configuration's warning
    says ("it gets no bars"), and listed again brings them back from landing: its bars stayed, frozen at the day it
    was taken out, while nothing expected its days any more."""
    stocks, taken_out = "us_stocks_sip/day_aggs_v1", "global_crypto/day_aggs_v1,us_stocks_sip/minute_aggs_v1"
    configure_other_assets(config_dir)

    def extract_and_build(datasets: str) -> dict[str, int]:
        env = {**target_env, "TBP_DATASETS": datasets}
        assert not run_extract(make_config(**env, TBP_SOURCE=str(every_dataset_mirror)), RunOptions(START, END)).failed
        assert "ERROR=0" in run_dbt(["build"], env).stdout
        return dict(
            warehouse_rows(
                env,
                " union all ".join(
                    f"select '{mart}', {count} from analytics.{mart} where ticker = '{ticker}'"
                    for mart, count, ticker in (
                        ("fct_daily_bars", "count(*)", "X:BTCUSD"),
                        ("fct_daily_bars_adjusted", "count(*)", "X:BTCUSD"),
                        ("fct_ticker_coverage", "sum(sessions_present)", "X:BTCUSD"),
                        ("fct_minute_bars", "count(*)", "AAPL"),
                        ("fct_minute_bars_1h", "count(*)", "AAPL"),
                    )
                ),
            )
        )

    listed = extract_and_build(f"{stocks},{taken_out}")
    assert listed["fct_daily_bars"] == listed["fct_daily_bars_adjusted"] == listed["fct_ticker_coverage"] == 12
    assert listed["fct_minute_bars"] > listed["fct_minute_bars_1h"] > 0
    assert extract_and_build(stocks) == dict.fromkeys(listed, 0)
    assert warehouse_rows(target_env, "select count(*) from landing.day_aggs where ticker = 'X:BTCUSD'") == [(12,)]
    assert extract_and_build(f"{stocks},{taken_out}") == listed
