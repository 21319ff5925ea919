"""`tbp-extract update`, the everyday run: extract, then dbt over only what changed since the last good build (in
the same process), then the lake; a run with nothing new builds and publishes nothing."""

import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from extract import build
from support.watch import Update, WatchProcess
from tests.conftest import CONFIGURED, PREFIX, REPO, SMALL_END, SMALL_START, bar_line, warehouse_rows, write_day_file

NEXT_SESSION = date(2024, 3, 1)


@pytest.fixture
def update(invoke, target_env, mirror, tmp_path):
    """tbp-extract update on each warehouse: the markers are read from either."""
    return updater(invoke, target_env, mirror, tmp_path)


@pytest.fixture
def update_on_duckdb(invoke, base_env, mirror, tmp_path):
    """tbp-extract update on DuckDB alone, for what the warehouse does not decide (which build, exit codes)."""
    return updater(invoke, base_env, mirror, tmp_path)


def updater(invoke, target_env, mirror, tmp_path):
    """tbp-extract update on the test's warehouse, with dbt's profiles, target and logs of its own."""
    profiles = tmp_path / "update_profiles"
    profiles.mkdir()
    shutil.copy(REPO / "profiles.example.yml", profiles / "profiles.yml")
    env = {
        **target_env,
        "TBP_SOURCE": str(mirror),
        "TBP_LAKE": str(tmp_path / "lake"),
        "DBT_PROFILES_DIR": str(profiles),
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }

    def run(*args: str, end: date = SMALL_END, **extra: str):
        result = invoke("update", "--start", str(SMALL_START), "--end", str(end), *args, **{**env, **extra})
        lines = [line for line in result.output.splitlines() if line.startswith(("build:", "lake "))]
        return result, lines

    run.env = env
    return run


def facts(env) -> int:
    return warehouse_rows(env, "select count(*) from analytics.fct_daily_bars")[0][0]


def test_nothing_new_builds_nothing_and_a_new_session_builds_only_its_models(update, mirror):
    result, lines = update()
    assert result.exit_code == 0, result.output
    assert lines[0] == "build: the whole project (first build)"
    assert lines[1].startswith("lake ") and "partitions written" in lines[1]
    assert facts(update.env) == 12 * 41

    result, lines = update()
    assert result.exit_code == 0, result.output
    assert lines == [
        "build: nothing new since the last build, skipped",
        f"lake {update.env['TBP_LAKE']}: holds this build already, not published",
    ]
    assert "PASS=" not in result.output  # dbt did not start

    views = view_ids(update.env)
    write_day_file(mirror, NEXT_SESSION, [bar_line(ticker, NEXT_SESSION) for ticker in CONFIGURED])
    result, lines = update(end=NEXT_SESSION)
    assert result.exit_code == 0, result.output
    # the new session's file is due now, too: coverage counts it
    assert lines[0] == (
        "build: source:polygon+ source:reference.calendar_days+ except stg_polygon__minute_aggs "
        "int_minute_aggs__checked int_minute_aggs__first_dates int_minute_aggs__tickers_read "
        "int_minute_bars__by_instrument+, views kept as they are (calendar_days, loads:us_stocks_sip/day_aggs_v1 "
        "changed)"
    )
    assert "unit_test" not in result.output and "partitions written" in lines[1]
    # the views were not created again (PostgreSQL kept them too: no table they read was replaced), their tests ran
    assert view_ids(update.env) == views and "stg_polygon__day_aggs" in views
    assert "sql view model" not in result.output and "OK created sql table model analytics.fct_daily_bars_adjusted" in (
        result.output
    )
    assert "does not match any enabled nodes" not in result.output
    assert "PASS not_null_stg_reference__calendar_days_calendar" in result.output
    assert "PASS not_null_stg_polygon__load_manifest_source_key" in result.output
    assert facts(update.env) == 12 * 42
    target = Path(update.env["DBT_TARGET_PATH"])
    assert not (target / "run_results.json").exists() and not (target / "manifest.json").exists()
    dbt_log = (Path(update.env["DBT_LOG_PATH"]) / "dbt.log").read_text()
    assert "[info ]" in dbt_log and "[debug]" not in dbt_log  # each node and its outcome, not each statement
    lake = pl.scan_parquet(f"{update.env['TBP_LAKE']}/fct_daily_bars/**/*.parquet", hive_partitioning=True)
    assert lake.filter(pl.col("trade_date") == NEXT_SESSION).collect().height == 12


def test_a_view_left_out_that_goes_missing_during_the_build_fails_it(update_on_duckdb, mirror, monkeypatch):
    """Views are left out only when no build drops them; should one go missing all the same, the build says so and
    stores no markers."""
    assert update_on_duckdb()[0].exit_code == 0
    kept_by_the_project = build.views_kept

    def and_one_that_is_gone(manifest) -> build.KeptViews:
        kept = kept_by_the_project(manifest)
        return build.KeptViews({**kept.relations, "gone": ("analytics", "gone")}, kept.tested_models)

    monkeypatch.setattr(build, "views_kept", and_one_that_is_gone)
    write_day_file(mirror, NEXT_SESSION, [bar_line(ticker, NEXT_SESSION) for ticker in CONFIGURED])
    result, lines = update_on_duckdb(end=NEXT_SESSION)
    assert result.exit_code == 5, result.output
    assert "error: the build left views out, and analytics.gone went missing during it" in result.output
    monkeypatch.undo()
    result, lines = update_on_duckdb(end=NEXT_SESSION)  # built again, whole: the failed build stored no markers
    assert result.exit_code == 0 and lines[0].startswith("build: the whole project (build, "), result.output


def view_ids(env) -> dict[str, int]:
    """The project's views and the ids the warehouse gave them when they were created."""
    if env.get("TBP_TARGET") == "postgres":
        sql = (
            "select c.relname, c.oid from pg_class as c inner join pg_namespace as n on c.relnamespace = n.oid "
            "where c.relkind = 'v' and n.nspname like 'analytics%'"
        )
    else:
        sql = "select view_name, view_oid from duckdb_views() where schema_name like 'analytics%'"
    return dict(warehouse_rows(env, sql))


def test_a_changed_setting_or_a_build_by_other_hands_builds_the_whole_project(update_on_duckdb, run_dbt, config_dir):
    assert update_on_duckdb()[0].exit_code == 0

    result, lines = update_on_duckdb(TBP_LOOKBACK_DAYS="20")
    assert lines[0] == "build: the whole project (project changed)", result.output

    run_dbt(["run", "--select", "dim_instruments"], {**update_on_duckdb.env, "TBP_LOOKBACK_DAYS": "20"})
    result, lines = update_on_duckdb(TBP_LOOKBACK_DAYS="20")
    assert lines[0] == "build: the whole project (build changed)", result.output

    instruments = config_dir / "instruments.yml"
    listed = yaml.safe_load(instruments.read_text())
    listed["instruments"] = [i for i in listed["instruments"] if i["ticker"] != "XOM"]
    instruments.write_text(yaml.safe_dump(listed))
    result, lines = update_on_duckdb(TBP_LOOKBACK_DAYS="20")
    assert lines[0] == "build: source:reference.instruments+ (instruments changed)", result.output
    xom = "select count(*) from analytics.fct_daily_bars where ticker = 'XOM'"
    assert warehouse_rows(update_on_duckdb.env, xom) == [(0,)]

    with duckdb.connect(update_on_duckdb.env["DUCKDB_PATH"]) as conn:
        conn.execute("drop view analytics_staging.stg_polygon__day_aggs")
    result, lines = update_on_duckdb(TBP_LOOKBACK_DAYS="20")
    assert lines[0] == "build: the whole project (relations changed)", result.output
    assert "stg_polygon__day_aggs" in view_ids(update_on_duckdb.env)


def test_a_failed_build_exits_5_and_is_built_again_next_time(update_on_duckdb, mirror):
    missing_aapl = [bar_line(ticker, NEXT_SESSION) for ticker in CONFIGURED if ticker != "AAPL"]
    write_day_file(mirror, NEXT_SESSION, missing_aapl)
    result, lines = update_on_duckdb(end=NEXT_SESSION, TBP_MIN_COVERAGE_PCT="100")  # AAPL's coverage test fails
    assert result.exit_code == 5, result.output
    assert "error: dbt build failed" in result.output and len(lines) == 1

    result, lines = update_on_duckdb(end=NEXT_SESSION, TBP_MIN_COVERAGE_PCT="100")
    assert result.exit_code == 5 and lines[0] == "build: the whole project (first build)", result.output

    result, lines = update_on_duckdb(end=NEXT_SESSION, TBP_MIN_COVERAGE_PCT="95")  # AAPL's 97.6 % passes
    assert result.exit_code == 0 and lines[0] == "build: the whole project (first build)", result.output
    assert update_on_duckdb(end=NEXT_SESSION)[1][0] == "build: nothing new since the last build, skipped"


def test_a_dry_run_lands_and_builds_nothing(update_on_duckdb, mirror):
    assert update_on_duckdb()[0].exit_code == 0
    write_day_file(mirror, NEXT_SESSION, [bar_line(ticker, NEXT_SESSION) for ticker in CONFIGURED])
    result, lines = update_on_duckdb("--dry-run", end=NEXT_SESSION)
    assert result.exit_code == 0 and lines == [], result.output
    assert f"would load {PREFIX}/2024/03/2024-03-01.csv.gz (new)" in result.output
    assert facts(update_on_duckdb.env) == 12 * 41
    assert update_on_duckdb(end=NEXT_SESSION)[1][0].startswith("build: source:polygon+")


def replace_atomically(path: Path, content: bytes) -> None:
    """Written beside, then renamed over: a watch's update reads the old file or the new one, never half of one."""
    beside = path.with_name(f".{path.name}.new")
    beside.parent.mkdir(parents=True, exist_ok=True)
    beside.write_bytes(content)
    os.replace(beside, path)


def test_watch_updates_every_interval_with_dbt_parsed_once_and_stops_on_sigterm(
    update_on_duckdb, mirror, config_dir, tmp_path
):
    """One process: a new session lands and builds from the parse made at the start; a failed update is reported
    and the next goes on; a change of a setting dbt sees is parsed again and builds the whole project; SIGTERM ends
    it with 143."""
    window = ["--start", str(SMALL_START), "--end", str(NEXT_SESSION)]
    env = {**update_on_duckdb.env, "TBP_DOTENV": "", "LOG_LEVEL": "INFO"}
    watch = WatchProcess(["--every", "1s", "--config-dir", str(config_dir), *window], env, REPO)
    try:
        first = watch.next_update()
        assert first.code == 0 and "build: the whole project (first build)" in first.lines, watch.tail()
        day_file = write_day_file(tmp_path, NEXT_SESSION, [bar_line(ticker, NEXT_SESSION) for ticker in CONFIGURED])
        new_session = mirror / day_file.relative_to(tmp_path)
        replace_atomically(new_session, day_file.read_bytes())
        landed = watch.update_where(Update.landed_files)
        assert landed.code == 0 and any(line.startswith("build: source:polygon+") for line in landed.lines)
        assert any("dbt builds from the project parsed beside it" in line for line in landed.lines), watch.tail()

        pipeline = config_dir / "pipeline.yml"
        settings = pipeline.read_text()
        replace_atomically(pipeline, (settings + "  download_workers: [\n").encode())
        broken = watch.update_where(lambda update: update.code != 0)
        assert broken.code == 2 and any(line.startswith("error: ") and "pipeline.yml" in line for line in broken.lines)
        replace_atomically(pipeline, settings.replace("TBP_LOOKBACK_DAYS:-10", "TBP_LOOKBACK_DAYS:-11").encode())
        mended = watch.update_where(lambda update: update.code == 0)
        assert "build: the whole project (project changed)" in mended.lines, watch.tail()
        assert any("dbt builds from the project parsed beside it" in line for line in mended.lines), watch.tail()
    finally:
        code = watch.stop()
    assert code == 143 and "watch: stopped by SIGTERM" in watch.output, watch.tail()
    assert not any("parses the project itself" in line for line in watch.output), watch.tail()
    assert facts(update_on_duckdb.env) == 12 * 42  # read once the watch is gone: DuckDB takes one process at a time
    dbt_log = (Path(update_on_duckdb.env["DBT_LOG_PATH"]) / "dbt.log").read_text()
    assert dbt_log.count("[dbt-parse_]: Performance info") == 2  # at the start, and for the changed setting
