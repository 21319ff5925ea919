"""The extractor against a real DuckDB file and a local mirror."""

from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from extract.calendar import files_due_through, sessions
from extract.errors import ConfigError, LockTimeoutError, WarehouseError
from extract.land.duckdb import DuckDBWarehouse
from extract.run import RunOptions, run_extract
from tests.conftest import (
    LOADS_NOT_MATCHING_THEIR_ROWS,
    PREFIX,
    SMALL_END,
    SMALL_START,
    bar_line,
    read_mirror_rows,
    write_day_file,
)

WHOLE_RANGE = RunOptions(start=SMALL_START, end=SMALL_END)


def query(cfg, sql: str) -> list[tuple]:
    with duckdb.connect(str(cfg.database.duckdb_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_a_backfill_lands_every_row_once_with_lineage(make_config, small_mirror):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    summary = run_extract(cfg, WHOLE_RANGE)
    expected = read_mirror_rows(small_mirror)
    assert summary.exit_code == 0 and summary.failed == {}
    assert summary.files_loaded == summary.files_listed == 41
    assert summary.rows_landed == len(expected)
    landed = query(
        cfg,
        "select d.ticker, d.file_date, d.volume, d.close, m.source_key, m.etag, m.run_id "
        "from landing.day_aggs d join landing.load_manifest m using (load_id)",
    )
    assert len({(t, d) for t, d, *_ in landed}) == len(landed) == len(expected)
    ticker, day, volume, close, key, etag, run_id = landed[0]
    assert volume == float(expected[(ticker, day)]["volume"]) and close == float(expected[(ticker, day)]["close"])
    assert key == f"{PREFIX}/{day:%Y/%m/%Y-%m-%d}.csv.gz" and len(etag) == 32 and run_id == summary.run_id
    manifest = query(cfg, "select count(*), sum(rows_landed) from landing.load_manifest")
    assert manifest == [(41, len(expected))]
    assert query(cfg, LOADS_NOT_MATCHING_THEIR_ROWS) == []
    assert query(cfg, "select count(*) from landing.instruments") == [(12,)]
    assert query(cfg, "select outcome, files_loaded from landing.extract_runs") == [("success", 41)]


def test_rows_written_together_all_land_however_many_statements_they_take(tmp_path):
    """DuckDB inserts go 500 rows to a statement: 1,201 rows take three, in the one transaction."""
    rows = [["XNYS", date(2020, 1, 1) + timedelta(days=n), n % 7 == 0, True] for n in range(1201)]
    with DuckDBWarehouse(tmp_path / "w.duckdb", "landing") as warehouse:
        warehouse.ensure_schema()
        warehouse.write_together(
            [
                ("delete from landing.calendar_days", [[]]),
                ("insert into landing.calendar_days values (?, ?, ?, ?)", rows),
            ]
        )
        found = warehouse.execute("select * from landing.calendar_days order by session_date")
    assert [list(row) for row in found] == rows


def test_a_scratch_folder_that_cannot_be_made_stops_the_run_with_the_way_out_and_frees_the_lock(tmp_path):
    database = tmp_path / "w.duckdb"
    (tmp_path / "w.duckdb.landing").write_text("a file where the folder goes")
    with pytest.raises(WarehouseError, match=r"cannot create .*w\.duckdb\.landing .*set DUCKDB_PATH elsewhere"):
        DuckDBWarehouse(database, "landing", lock_timeout_seconds=1).open()
    (tmp_path / "w.duckdb.landing").unlink()
    with DuckDBWarehouse(database, "landing", lock_timeout_seconds=1) as warehouse:  # the lock was let go
        warehouse.ensure_schema()


def test_sessions_are_due_through_the_runs_end_or_the_last_file_due_by_now(make_config, small_mirror):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    last_due = "select max(session_date) from landing.calendar_days where calendar = 'XNYS' and file_due"
    run_extract(cfg, RunOptions(start=SMALL_START, end=date(2024, 1, 31)))
    assert query(cfg, last_due) == [(date(2024, 1, 31),)]
    run_extract(cfg, RunOptions(start=SMALL_START))  # to today: the newest file promised by now
    assert query(cfg, last_due) == [(sessions(SMALL_START, files_due_through(datetime.now(UTC)))[-1],)]


def test_a_later_start_keeps_the_calendar_of_every_file_landed(make_config, small_mirror):
    """The calendar began at the run's start (or start_date): a run with a later one made the files landed before it
    look dated on days off (fct_missing_sessions: not_a_session), and a full refresh quarantined their minute bars."""
    first_day = "select min(session_date) from landing.calendar_days where calendar = 'XNYS'"
    run_extract(make_config(TBP_SOURCE=str(small_mirror), TBP_START_DATE=str(SMALL_START)), WHOLE_RANGE)
    later = SMALL_END - timedelta(days=7)
    run_extract(make_config(TBP_SOURCE=str(small_mirror), TBP_START_DATE=str(later)), RunOptions(start=later))
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    assert query(cfg, first_day) == query(cfg, "select min(file_date) from landing.load_manifest") == [(SMALL_START,)]


def test_a_rerun_of_the_same_range_loads_nothing(make_config, small_mirror, caplog):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    caplog.set_level("INFO", logger="extract")
    first = run_extract(cfg, WHOLE_RANGE)
    # files fetched while both lanes were busy land together, each with its own manifest row
    assert any("one transaction with" in record.getMessage() for record in caplog.records)
    assert query(cfg, LOADS_NOT_MATCHING_THEIR_ROWS) == []
    second = run_extract(cfg, WHOLE_RANGE)
    assert second.files_loaded == 0 and second.already_loaded == 41
    assert query(cfg, "select count(*) from landing.day_aggs") == [(first.rows_landed,)]


def test_a_dry_run_changes_nothing(make_config, small_mirror):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    preview = run_extract(cfg, RunOptions(start=SMALL_START, end=SMALL_END, dry_run=True))
    assert not cfg.database.duckdb_path.exists()
    assert len(preview.would_load) == 41 and "would load" in preview.lines()[-1]
    run_extract(cfg, RunOptions(start=SMALL_START, end=date(2024, 1, 31)))
    before = query(cfg, "select count(*) from landing.day_aggs")
    preview = run_extract(cfg, RunOptions(start=SMALL_START, end=SMALL_END, dry_run=True))
    assert [load.remote.file_date.month for load in preview.would_load] == [2] * 20
    assert query(cfg, "select count(*) from landing.day_aggs") == before


def test_a_narrow_run_then_a_wide_run_lands_each_row_exactly_once(make_config, small_mirror):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    run_extract(cfg, RunOptions(start=SMALL_START, end=SMALL_END, group="etfs"))
    assert query(cfg, "select distinct ticker from landing.day_aggs order by 1") == [("QQQ",), ("SPY",)]
    run_extract(cfg, RunOptions(start=SMALL_START, end=SMALL_END, tickers=("SPY", "AAPL")))
    wide = run_extract(cfg, WHOLE_RANGE)
    assert wide.planned == {"widened": 41}
    counts = query(cfg, "select count(*), count(distinct (ticker, file_date)) from landing.day_aggs")
    assert counts == [(len(read_mirror_rows(small_mirror)),) * 2]
    assert run_extract(cfg, WHOLE_RANGE).files_loaded == 0


def test_land_scope_configured_keeps_only_the_configured_tickers(make_config, small_mirror):
    cfg = make_config(TBP_SOURCE=str(small_mirror), TBP_LAND_SCOPE="configured")
    run_extract(cfg, WHOLE_RANGE)
    assert query(cfg, "select count(distinct ticker) from landing.day_aggs") == [(12,)]


def test_a_republished_file_is_loaded_again_and_kept_beside_the_old_copy(make_config, mirror):
    cfg = make_config(TBP_SOURCE=str(mirror))
    run_extract(cfg, WHOLE_RANGE)
    day = date(2024, 2, 1)
    write_day_file(mirror, day, [bar_line("AAPL", day, close=99.0)])
    summary = run_extract(cfg, WHOLE_RANGE)
    assert summary.planned == {"changed": 1} and summary.rows_landed == 1
    versions = query(
        cfg,
        "select count(distinct m.etag) from landing.day_aggs d join landing.load_manifest m using (load_id) "
        f"where d.file_date = '{day}'",
    )
    assert versions == [(2,)]


def test_a_broken_file_fails_alone_and_is_retried_by_the_next_run(make_config, mirror):
    cfg = make_config(TBP_SOURCE=str(mirror))
    scratch = cfg.database.duckdb_path.with_name(f"{cfg.database.duckdb_path.name}.landing")
    scratch.mkdir(parents=True)
    (scratch / "7.csv").write_text("what a killed run left")
    truncated = mirror / PREFIX / "2024/01/2024-01-10.csv.gz"
    good_bytes = truncated.read_bytes()
    truncated.write_bytes(good_bytes[: len(good_bytes) // 2])
    write_day_file(mirror, date(2024, 1, 11), [bar_line("AAPL", date(2024, 1, 11))], header="a,b")
    summary = run_extract(cfg, WHOLE_RANGE)
    assert summary.exit_code == 1
    assert set(summary.failed) == {f"{PREFIX}/2024/01/2024-01-10.csv.gz", f"{PREFIX}/2024/01/2024-01-11.csv.gz"}
    assert "not a whole gzip file" in summary.failed[f"{PREFIX}/2024/01/2024-01-10.csv.gz"]
    assert "FAILED us_stocks_sip/day_aggs_v1/2024/01/2024-01-11.csv.gz: line 1: header is" in "\n".join(summary.lines())
    assert summary.files_loaded == 39
    assert query(cfg, "select count(*) from landing.day_aggs where file_date in ('2024-01-10', '2024-01-11')") == [(0,)]
    assert query(cfg, "select outcome, files_failed from landing.extract_runs") == [("failed", 2)]
    assert not scratch.exists()  # the files' inflated text is gone (the broken files' too), and what was there before

    truncated.write_bytes(good_bytes)
    write_day_file(mirror, date(2024, 1, 11), [bar_line("AAPL", date(2024, 1, 11))])
    retry = run_extract(cfg, WHOLE_RANGE)
    assert retry.exit_code == 0 and retry.files_loaded == 2


def test_unparsable_lines_are_kept_aside_and_the_rest_of_the_file_lands(make_config, mirror):
    cfg = make_config(TBP_SOURCE=str(mirror))
    day = date(2024, 1, 10)
    bad = "MSFT,12,1.0,abc,1,1,1704862800000000000,5"
    write_day_file(mirror, day, [bar_line("AAPL", day), bad])
    summary = run_extract(cfg, WHOLE_RANGE)
    assert summary.rows_rejected == 1 and summary.exit_code == 0
    assert query(cfg, "select line, column_name, raw_line from landing.rejected_rows") == [(3, "close", bad)]
    assert query(cfg, f"select ticker from landing.day_aggs where file_date = '{day}'") == [("AAPL",)]


def test_a_second_extract_waits_for_the_lock_then_gives_up_clearly(make_config, small_mirror):
    cfg = make_config(TBP_SOURCE=str(small_mirror), TBP_LOCK_TIMEOUT_SECONDS="1")
    holder = DuckDBWarehouse(cfg.database.duckdb_path, "landing", 60)
    refused = pytest.raises(LockTimeoutError, match="another extract is loading into .*tbp.duckdb; waited 1s")
    with holder, refused:
        run_extract(cfg, WHOLE_RANGE)
    assert run_extract(cfg, WHOLE_RANGE).files_loaded == 41


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (RunOptions(start=date(2024, 3, 1), end=date(2024, 2, 1)), "start date 2024-03-01 is after end date"),
        (RunOptions(tickers=("aapl",)), "'aapl' is not a valid ticker"),
        (RunOptions(group="energy"), "unknown group 'energy'"),
        (RunOptions(tickers=("AAPL",), group="etfs"), "not both"),
    ],
)
def test_bad_run_arguments_fail_before_anything_is_written(make_config, small_mirror, options, message):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    with pytest.raises(ConfigError, match=message):
        run_extract(cfg, options)
    assert not cfg.database.duckdb_path.exists()


def test_a_landing_table_of_an_older_version_is_named_with_the_way_out(make_config, small_mirror):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    cfg.database.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(cfg.database.duckdb_path)) as conn:
        conn.execute("create schema landing")
        conn.execute("create table landing.day_aggs (ticker text, source_key text, source_etag text, run_id text)")
    with pytest.raises(
        WarehouseError, match="landing was made by an older version .*day_aggs.load_id.* drop schema landing"
    ):
        run_extract(cfg, WHOLE_RANGE)


def write_big_day_file(root, day: date, rows: int) -> None:
    """A full-market-sized day file (rows bars of 400-minute tickers), written by DuckDB for speed."""
    path = root / PREFIX / f"{day:%Y/%m/%Y-%m-%d}.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        "copy (select 'T' || (i // 400) as ticker, 100 + i % 7 as volume, 10 + i % 400 * 0.01 as open, "
        "10.01 + i % 400 * 0.01 as close, 10.02 + i % 400 * 0.01 as high, 9.99 + i % 400 * 0.01 as low, "
        f"1733149800000000000 + i % 400 * 60000000000 as window_start, 3 as transactions from range({rows}) t(i)) "
        f"to '{path}' (header, compression gzip)"
    )


def test_a_file_over_the_memory_cap_is_landed_again_alone_and_never_stops_the_run(make_config, tmp_path, monkeypatch):
    mirror = tmp_path / "big-mirror"
    big = (date(2024, 12, 2), date(2024, 12, 3))
    for day in big:
        write_big_day_file(mirror, day, 1_000_000)
    small = date(2024, 12, 4)
    write_day_file(mirror, small, [bar_line("AAPL", small)])
    # Each lands on its own lane (no batch): two of these files side by side do not fit in 40 MB (on two cores,
    # four threads reading); each alone does (34 MB is enough).
    monkeypatch.setattr(DuckDBWarehouse, "batch_files", 1)
    cfg = make_config(TBP_SOURCE=str(mirror), TBP_DUCKDB_MEMORY_LIMIT="40MB")
    summary = run_extract(cfg, RunOptions(start=big[0], end=small))
    assert summary.exit_code == 0 and summary.files_loaded == 3 and summary.landed_alone >= 1
    assert "landed again alone" in "\n".join(summary.lines())
    assert query(cfg, "select count(*) from landing.day_aggs") == [(2_000_001,)]
    assert query(cfg, LOADS_NOT_MATCHING_THEIR_ROWS) == []
    # Under a cap too small even alone, the file fails alone: the others land, the run goes on (exit 1, not 3).
    tight = make_config(
        TBP_SOURCE=str(mirror), TBP_DUCKDB_MEMORY_LIMIT="16MB", DUCKDB_PATH=str(tmp_path / "tight.duckdb")
    )
    summary = run_extract(tight, RunOptions(start=big[0], end=small))
    assert summary.exit_code == 1 and summary.files_loaded == 1
    assert all("memory cap (16MB" in message and "alone too" in message for message in summary.failed.values())
    assert query(tight, "select count(*) from landing.day_aggs") == [(1,)]


def test_a_memory_limit_that_is_no_size_is_refused(make_config):
    with pytest.raises(ConfigError, match="'duckdb.memory_limit' must be a size like 128MB or 1GB, not 'lots'"):
        make_config(TBP_DUCKDB_MEMORY_LIMIT="lots")
