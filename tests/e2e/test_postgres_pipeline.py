"""End to end on PostgreSQL (and TimescaleDB where the extension exists): the same extractor and dbt project."""

from datetime import date

import duckdb
import pytest

from extract.run import RunOptions, run_extract
from tests.conftest import (
    CONFIGURED,
    PREFIX,
    SMALL_END,
    SMALL_START,
    bar_line,
    pg_connect,
    warehouse_rows,
    write_day_file,
)

pytestmark = pytest.mark.postgres
WHOLE_RANGE = RunOptions(start=SMALL_START, end=SMALL_END)
FACT_COLUMNS = "ticker, trade_date, open, high, low, close, volume, transactions, source_key, source_etag"


def test_postgres_fct_daily_bars_equals_duckdb_row_for_row(
    make_config, pg_env, base_env, small_mirror, run_dbt, tmp_path
):
    duck = make_config(TBP_SOURCE=str(small_mirror))
    run_extract(duck, WHOLE_RANGE)
    run_dbt(["build"], base_env)
    with duckdb.connect(str(duck.database.duckdb_path), read_only=True) as conn:
        duck_rows = conn.execute(f"select {FACT_COLUMNS} from analytics.fct_daily_bars order by 1, 2").fetchall()

    pg = make_config(**pg_env, TBP_SOURCE=str(small_mirror))
    run_extract(pg, WHOLE_RANGE)
    build = run_dbt(["build"], pg_env)
    assert "ERROR=0" in build.stdout and "WARN=0" in build.stdout
    # Every model's session runs without JIT: LLVM compiled the builds' deletes for 0.8 s each (estimates without
    # statistics), on every everyday build. dbt.log (DEBUG) has each statement it ran, by node.
    pg_log = (tmp_path / "dbt_logs" / "dbt.log").read_text().split("Running with dbt=")[-1]  # after DuckDB's
    assert pg_log.count("set jit = off") >= pg_log.count("OK created sql") > 40
    pg_rows = warehouse_rows(pg_env, f"select {FACT_COLUMNS} from analytics.fct_daily_bars order by 1, 2")
    assert len(pg_rows) == 12 * 41
    assert pg_rows == duck_rows

    assert run_extract(pg, WHOLE_RANGE).files_loaded == 0
    run_dbt(["build"], pg_env)
    assert warehouse_rows(pg_env, "select count(*) from analytics.fct_daily_bars") == [(12 * 41,)]

    # The planner knows how many loads a dataset has: misjudged as a few, it planned a scan of day_aggs per load
    # (the first build over 5 years of files ran for over ten minutes instead of seconds).
    estimate = (
        "explain (format json) select * from analytics_staging.stg_polygon__load_manifest "
        "where dataset = 'us_stocks_sip/day_aggs_v1'"
    )
    [(plan,)] = warehouse_rows(pg_env, estimate)
    assert plan[0]["Plan"]["Plan Rows"] == 41

    # A warehouse from before datasets: the next run, with nothing new to land, fills them in and the statistics.
    with pg_connect(pg_env) as conn:
        conn.execute("update landing.load_manifest set dataset = null")
        conn.execute("analyze landing.load_manifest")
    assert run_extract(pg, WHOLE_RANGE).files_loaded == 0
    [(plan,)] = warehouse_rows(pg_env, estimate)
    assert plan[0]["Plan"]["Plan Rows"] == 41

    for env in (base_env, pg_env):
        freshness = run_dbt(["source", "freshness"], env)
        assert "PASS freshness of polygon.load_manifest" in freshness.stdout


def test_a_build_reads_landing_through_a_summarized_brin_index(make_config, pg_env, run_dbt, tmp_path):
    """An unsummarized page range matches every search, and COPY summarizes none: without the build's summary,
    `load_id >= n` read all of landing after a backfill."""
    day = date(2024, 12, 2)
    path = tmp_path / "big" / PREFIX / f"{day:%Y/%m/%Y-%m-%d}.csv.gz"
    path.parent.mkdir(parents=True)
    duckdb.sql(  # 40,000 rows: landing fills several 128-page ranges
        "copy (select 'T' || i as ticker, 100 as volume, 10.0 as open, 10.5 as close, 11.0 as high, 9.5 as low, "
        f"1733149800000000000 as window_start, 3 as transactions from range(40000) t(i)) to '{path}' (header)"
    )
    run_extract(make_config(**pg_env, TBP_SOURCE=str(tmp_path / "big")), RunOptions(start=day, end=day))
    run_dbt(["build", "--select", "stg_polygon__load_manifest"], pg_env)
    summarize = "select brin_summarize_new_values('landing.day_aggs_lineage_brin'::regclass)"
    assert warehouse_rows(pg_env, summarize) == [(0,)]


def test_plain_postgres_gets_the_keys_and_indexes_and_says_the_hypertable_step_was_skipped(
    make_config, pg_env, small_mirror, run_dbt
):
    # A fresh database has no timescaledb extension, whatever libraries the server has: plain PostgreSQL.
    run_extract(make_config(**pg_env, TBP_SOURCE=str(small_mirror)), WHOLE_RANGE)
    build = run_dbt(["build"], pg_env)
    assert "hypertable step skipped: the timescaledb extension is not installed" in build.stdout
    index_sql = "select indexdef from pg_indexes where tablename = 'fct_daily_bars' order by indexdef desc"
    expected = [("UNIQUE", "(ticker, trade_date)"), ("INDEX", "(trade_date)")]

    def index_shapes():
        return [(d.split()[1], d[d.rindex("(") :]) for (d,) in warehouse_rows(pg_env, index_sql)]

    assert index_shapes() == expected
    run_dbt(["build"], pg_env)
    run_dbt(["build", "--full-refresh"], pg_env)
    assert index_shapes() == expected


def test_a_build_replaces_views_in_place_and_drops_no_view_that_depends_on_them(
    make_config, pg_env, small_mirror, run_dbt
):
    # dbt's own view materialization dropped each old view with cascade: every dependent view was gone until the
    # build re-made it, and two threads whose views share dependents deadlocked on them (seen in CI).
    run_extract(make_config(**pg_env, TBP_SOURCE=str(small_mirror)), WHOLE_RANGE)
    run_dbt(["build"], pg_env)
    views_sql = (
        "select n.nspname || '.' || c.relname, c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind = 'v' and n.nspname like 'analytics%' order by 1"
    )
    views = warehouse_rows(pg_env, views_sql)
    assert ("analytics_intermediate.int_splits__checked",) in [(name,) for name, _ in views]
    with pg_connect(pg_env) as conn:
        conn.execute("create view public.analyst_splits as select * from analytics_intermediate.int_splits__checked")
    build = run_dbt(["build"], pg_env)
    assert "ERROR=0" in build.stdout
    assert warehouse_rows(pg_env, views_sql) == views
    assert warehouse_rows(pg_env, "select count(*) from public.analyst_splits") == [(0,)]

    # A view of another shape (an older release's) is replaced whole, and the views on it are made again.
    with pg_connect(pg_env) as conn:
        conn.execute("drop view analytics_staging.stg_massive__fetches cascade")
        conn.execute("create view analytics_staging.stg_massive__fetches as select 1 as fetch_id")
    build = run_dbt(["build"], pg_env)
    assert "ERROR=0" in build.stdout
    names = [name for name, _ in warehouse_rows(pg_env, views_sql)]
    assert names == [name for name, _ in views]
    pages = (
        "select data_type from information_schema.columns "
        "where table_name = 'stg_massive__fetches' and column_name = 'pages'"
    )
    assert warehouse_rows(pg_env, pages) == [("bigint",)]


@pytest.mark.timescaledb
def test_fct_daily_bars_is_a_compressed_hypertable_that_takes_increments_and_corrections(
    make_config, timescale_env, mirror, run_dbt
):
    env = timescale_env
    cfg = make_config(**env, TBP_SOURCE=str(mirror))
    run_extract(cfg, RunOptions(start=SMALL_START, end=date(2024, 2, 27)))
    run_dbt(["build"], env)
    hypertable = warehouse_rows(
        env,
        "select compression_enabled from timescaledb_information.hypertables where hypertable_name = 'fct_daily_bars'",
    )
    assert hypertable == [(True,)]
    dimension = warehouse_rows(
        env,
        "select column_name, time_interval = interval '1 year' "
        "from timescaledb_information.dimensions where hypertable_name = 'fct_daily_bars'",
    )
    assert dimension == [("trade_date", True)]
    settings = dict(
        warehouse_rows(
            env,
            "select attname, coalesce(segmentby_column_index, 0) "
            "from timescaledb_information.compression_settings "
            "where hypertable_name = 'fct_daily_bars'",
        )
    )
    assert settings["ticker"] == 1
    policy = warehouse_rows(
        env,
        "select config->>'compress_after' from timescaledb_information.jobs "
        "where hypertable_name = 'fct_daily_bars' and proc_name = 'policy_compression'",
    )
    assert policy and "60 days" in policy[0][0]

    # Compress every chunk, as the policy eventually would, then write an increment and a correction into them.
    warehouse_rows(
        env, "select count(compress_chunk(c, if_not_compressed => true)) from show_chunks('analytics.fct_daily_bars') c"
    )
    day = date(2024, 2, 1)
    write_day_file(mirror, day, [bar_line(t, day, close=77.0) for t in CONFIGURED])
    run_extract(cfg, WHOLE_RANGE)
    run_dbt(["build"], env)
    closes = warehouse_rows(env, f"select distinct close from analytics.fct_daily_bars where trade_date = '{day}'")
    assert closes == [(77.0,)]
    assert warehouse_rows(
        env, "select count(*), count(distinct (ticker, trade_date)) from analytics.fct_daily_bars"
    ) == [(12 * 41, 12 * 41)]
    run_dbt(["build", "--full-refresh"], env)
    assert warehouse_rows(
        env,
        "select count(*) from timescaledb_information.hypertables "
        "where hypertable_name = 'fct_daily_bars' and compression_enabled",
    ) == [(1,)]
