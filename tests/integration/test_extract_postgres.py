"""The extractor against a real PostgreSQL server (a throwaway cluster, or TBP_TEST_PG_DSN)."""

import gzip
import logging
from datetime import date

import pytest

from extract.errors import LockTimeoutError, WarehouseError
from extract.land.postgres import EXTRACT_LOCK_KEY
from extract.run import RunOptions, run_extract
from tests.conftest import (
    LOADS_NOT_MATCHING_THEIR_ROWS,
    SMALL_END,
    SMALL_START,
    bar_line,
    pg_connect,
    read_mirror_rows,
    warehouse_rows,
    write_day_file,
)

pytestmark = pytest.mark.postgres
WHOLE_RANGE = RunOptions(start=SMALL_START, end=SMALL_END)


@pytest.fixture
def pg_config(make_config, pg_env, small_mirror):
    def make(**overrides):
        return make_config(**{**pg_env, "TBP_SOURCE": str(small_mirror), **overrides})

    return make


def test_a_backfill_copies_every_row_once_and_a_rerun_loads_nothing(pg_config, pg_env, small_mirror):
    summary = run_extract(pg_config(), WHOLE_RANGE)
    expected = read_mirror_rows(small_mirror)
    assert summary.exit_code == 0 and summary.files_loaded == 41 and summary.rows_landed == len(expected)
    landed = warehouse_rows(
        pg_env,
        "select d.ticker, d.file_date, d.volume, d.open, d.close, d.window_start, d.transactions, "
        "m.etag, m.run_id from landing.day_aggs d join landing.load_manifest m using (load_id)",
    )
    assert len(landed) == len({(r[0], r[1]) for r in landed}) == len(expected)
    for ticker, day, volume, open_, close, window_start, transactions, etag, run_id in landed[:500]:
        row = expected[(ticker, day)]
        assert (volume, open_, close) == (float(row["volume"]), float(row["open"]), float(row["close"]))
        assert (window_start, transactions) == (int(row["window_start"]), int(row["transactions"]))
        assert len(etag) == 32 and run_id == summary.run_id
    assert warehouse_rows(pg_env, "select count(*), sum(rows_landed) from landing.load_manifest") == [
        (41, len(expected))
    ]
    assert warehouse_rows(pg_env, LOADS_NOT_MATCHING_THEIR_ROWS) == []
    brin = "select indexdef from pg_indexes where tablename = 'day_aggs' and indexdef like '%USING brin%' order by 1"
    assert [d[d.rindex("(") :] for (d,) in warehouse_rows(pg_env, brin)] == ["(load_id, file_date)"]
    with pg_connect(pg_env) as conn:  # an earlier version's two indexes, each as costly to keep up as both columns
        for column in ("load_id", "file_date"):
            conn.execute(f"create index day_aggs_{column}_brin on landing.day_aggs using brin ({column})")
    assert run_extract(pg_config(), WHOLE_RANGE).files_loaded == 0
    assert [d[d.rindex("(") :] for (d,) in warehouse_rows(pg_env, brin)] == ["(load_id, file_date)"]
    assert warehouse_rows(pg_env, "select count(*) from landing.day_aggs") == [(len(expected),)]
    assert warehouse_rows(pg_env, "select outcome from landing.extract_runs order by started_at") == [("success",)] * 2


def test_rejects_and_broken_files_behave_as_on_duckdb(pg_config, pg_env, mirror):
    day, broken_day = date(2024, 1, 10), date(2024, 1, 11)
    bad = "MSFT,12,1.0,abc,1,1,1704862800000000000,5"
    write_day_file(mirror, day, [bar_line("AAPL", day), bad])
    write_day_file(mirror, broken_day, [bar_line("AAPL", broken_day)], header="ticker,vol")
    summary = run_extract(pg_config(TBP_SOURCE=str(mirror)), WHOLE_RANGE)
    assert summary.exit_code == 1 and list(summary.failed) == ["us_stocks_sip/day_aggs_v1/2024/01/2024-01-11.csv.gz"]
    assert warehouse_rows(pg_env, "select line, column_name, raw_line from landing.rejected_rows") == [
        (3, "close", bad)
    ]
    assert warehouse_rows(pg_env, f"select count(*) from landing.day_aggs where file_date = '{broken_day}'") == [(0,)]


def test_a_narrow_then_wide_run_lands_each_row_once(pg_config, pg_env, small_mirror):
    run_extract(pg_config(), RunOptions(start=SMALL_START, end=SMALL_END, group="tech"))
    run_extract(pg_config(), WHOLE_RANGE)
    assert warehouse_rows(pg_env, "select count(*), count(distinct (ticker, file_date)) from landing.day_aggs") == [
        (len(read_mirror_rows(small_mirror)),) * 2
    ]


def test_the_advisory_lock_stops_a_second_extract(pg_config, pg_env):
    holder = pg_connect(pg_env, autocommit=True)
    holder.execute("select pg_advisory_lock(%s)", [EXTRACT_LOCK_KEY])
    try:
        with pytest.raises(LockTimeoutError, match=r"another extract is loading into .*/tbp_test_\w+; waited 1s"):
            run_extract(pg_config(TBP_LOCK_TIMEOUT_SECONDS="1"), WHOLE_RANGE)
    finally:
        holder.close()
    assert run_extract(pg_config(), WHOLE_RANGE).files_loaded == 41


def test_a_connection_error_names_the_server_but_never_the_password(pg_config):
    from support.pgcluster import free_port

    port = free_port()
    cfg = pg_config(DB_PORT=str(port), DB_PASSWORD="hunter2-secret")
    with pytest.raises(WarehouseError) as error:
        run_extract(cfg, WHOLE_RANGE)
    assert f"cannot connect to PostgreSQL at postgres@127.0.0.1:{port}/tbp_test_" in str(error.value)
    assert "hunter2-secret" not in str(error.value)


def test_a_database_restart_mid_run_is_a_clear_error_and_the_rerun_completes(
    pg_config, pg_env, small_mirror, monkeypatch
):
    from extract.land.postgres import PostgresWarehouse

    original_land, calls = PostgresWarehouse.land, []

    def land_then_lose_the_server(self, path, load, lineage):
        calls.append(lineage.source_key)
        if len(calls) == 10:  # the server drops every session, as a restart does
            warehouse_rows(
                pg_env, "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'tbp-extract'"
            )
        return original_land(self, path, load, lineage)

    monkeypatch.setattr(PostgresWarehouse, "land", land_then_lose_the_server)
    with pytest.raises(WarehouseError, match=r"\.csv\.gz: cannot land into postgres@127\.0\.0\.1:\d+/tbp_"):
        run_extract(pg_config(), WHOLE_RANGE)
    monkeypatch.undo()
    [(files, rows)] = warehouse_rows(
        pg_env, "select count(*), coalesce(sum(rows_landed), 0) from landing.load_manifest"
    )
    assert 0 < files < 41  # the run stopped part way; what was in flight left nothing behind
    assert warehouse_rows(pg_env, "select count(distinct file_date), count(*) from landing.day_aggs") == [(files, rows)]
    rerun = run_extract(pg_config(), WHOLE_RANGE)
    assert rerun.exit_code == 0 and rerun.files_loaded == 41 - files
    assert warehouse_rows(pg_env, "select count(*) from landing.day_aggs") == [(len(read_mirror_rows(small_mirror)),)]


def test_an_older_landing_table_is_refused_before_anything_is_written(pg_config, pg_env):
    with pg_connect(pg_env, autocommit=True) as conn:
        conn.execute("create schema landing")
        conn.execute("create table landing.day_aggs (ticker text, source_key text, source_etag text, run_id text)")
    with pytest.raises(
        WarehouseError, match="lacks day_aggs.volume, day_aggs.open, .*day_aggs.load_id, day_aggs.file_date"
    ):
        run_extract(pg_config(), WHOLE_RANGE)
    assert warehouse_rows(pg_env, "select to_regclass('landing.load_manifest')") == [(None,)]


def test_crlf_lines_and_a_last_line_without_its_end_are_copied_whole_with_their_lineage(
    pg_config, pg_env, tmp_path, caplog
):
    """The raw COPY appends each line's lineage; a defaults-era landing table loses its defaults on the way."""
    caplog.set_level(logging.INFO, logger="extract")
    day = date(2024, 1, 10)
    lines = [bar_line(ticker, day) for ticker in ("AAPL", "MSFT", "NVDA")]
    path = write_day_file(tmp_path / "crlf", day, [])
    path.write_bytes(
        gzip.compress(("\r\n".join(["ticker,volume,open,close,high,low,window_start,transactions", *lines])).encode())
    )
    run_extract(pg_config(TBP_SOURCE=str(tmp_path / "crlf")), RunOptions(start=day, end=day))
    with pg_connect(pg_env, autocommit=True) as conn:
        conn.execute("delete from landing.day_aggs; delete from landing.load_manifest")
        conn.execute("alter table landing.day_aggs alter column load_id set default 0")

    summary = run_extract(pg_config(TBP_SOURCE=str(tmp_path / "crlf")), RunOptions(start=day, end=day))
    assert summary.exit_code == 0 and summary.rows_landed == 3 and summary.rows_rejected == 0
    assert "parsing again" not in caplog.text  # COPY took the file as it came, no second read
    assert warehouse_rows(
        pg_env,
        "select ticker, d.file_date, d.load_id = m.load_id, transactions from landing.day_aggs d "
        "join landing.load_manifest m using (load_id) order by 1",
    ) == [(ticker, day, True, 42) for ticker in ("AAPL", "MSFT", "NVDA")]
    defaults = "select count(column_default) from information_schema.columns where table_name = 'day_aggs'"
    assert warehouse_rows(pg_env, defaults) == [(0,)]


def test_a_quoted_field_lands_as_its_value(pg_config, pg_env, tmp_path):
    """A quote in a data line sends the file to the parser (a quoted field may hold a line end that the raw COPY's
    appended lineage would land inside the value)."""
    day = date(2024, 1, 10)
    write_day_file(tmp_path / "quoted", day, ['"AAPL"' + bar_line("AAPL", day)[4:], bar_line("MSFT", day)])
    summary = run_extract(pg_config(TBP_SOURCE=str(tmp_path / "quoted")), RunOptions(start=day, end=day))
    assert summary.rows_landed == 2 and summary.rows_rejected == 0
    assert warehouse_rows(pg_env, "select ticker from landing.day_aggs order by 1") == [("AAPL",), ("MSFT",)]
