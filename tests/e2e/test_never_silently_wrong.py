"""The ways the pipeline could land wrong data with exit code 0, each with its defined outcome, on both targets."""

import gzip
import math
import signal
import subprocess
import sys
from datetime import date

import pytest
import yaml

from extract.run import RunOptions, run_extract
from extract.sources import day_file_key
from extract.status import warehouse_status
from tests.conftest import (
    CONFIGURED,
    LOADS_NOT_MATCHING_THEIR_ROWS,
    PREFIX,
    REPO,
    SMALL_END,
    SMALL_START,
    bar_line,
    warehouse_rows,
    write_day_file,
)

START, END = date(2024, 1, 2), date(2024, 1, 12)
WINDOW = RunOptions(start=START, end=END)
SESSIONS = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10, 11, 12)]
SMALL_FILES = 41  # the sessions of small_mirror
FACT = "select ticker, trade_date, open, high, low, close, volume, transactions from analytics.fct_daily_bars"


@pytest.fixture
def mini_mirror(tmp_path):
    """Nine sessions of the configured tickers, every bar clean."""
    root = tmp_path / "mini-mirror"
    for n, day in enumerate(SESSIONS):
        write_day_file(root, day, [bar_line(t, day, close=10.0 + n) for t in CONFIGURED])
    return root


def fact(env) -> dict:
    return {(r[0], r[1]): r[2:] for r in warehouse_rows(env, FACT)}


def damage_crc(path) -> bytes:
    """Flip a bit of the gzip trailer's CRC-32: every byte of the CSV still decodes."""
    good = path.read_bytes()
    path.write_bytes(good[:-8] + bytes([good[-8] ^ 0x01]) + good[-7:])
    return good


def test_a_file_whose_gzip_crc_fails_lands_nothing_and_lands_whole_on_the_next_run(
    make_config, mini_mirror, target_env
):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(mini_mirror))
    key = day_file_key(PREFIX, SESSIONS[3])
    good = damage_crc(mini_mirror / key)
    summary = run_extract(cfg, WINDOW)
    assert summary.exit_code == 1 and list(summary.failed) == [key]
    assert "not a whole gzip file" in summary.failed[key]
    assert warehouse_rows(env, f"select count(*) from landing.load_manifest where source_key = '{key}'") == [(0,)]
    assert warehouse_rows(env, f"select count(*) from landing.day_aggs where file_date = '{SESSIONS[3]}'") == [(0,)]
    (mini_mirror / key).write_bytes(good)
    retry = run_extract(cfg, WINDOW)
    assert retry.planned == {"new": 1} and retry.rows_landed == len(CONFIGURED)


def test_a_file_restored_to_an_earlier_version_counts_again(make_config, mini_mirror, target_env, run_dbt):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(mini_mirror))
    day = SESSIONS[4]
    path = mini_mirror / day_file_key(PREFIX, day)
    version_a = path.read_bytes()
    run_extract(cfg, WINDOW)
    run_dbt(["build"], env)
    close_a = fact(env)[("AAPL", day)][3]

    write_day_file(mini_mirror, day, [bar_line(t, day, close=99.0) for t in CONFIGURED])
    assert run_extract(cfg, WINDOW).planned == {"changed": 1}
    run_dbt(["build"], env)
    assert fact(env)[("AAPL", day)][3] == 99.0

    path.write_bytes(version_a)
    assert run_extract(cfg, WINDOW).planned == {"changed": 1}
    run_dbt(["build"], env)
    assert fact(env)[("AAPL", day)][3] == close_a
    assert warehouse_rows(env, LOADS_NOT_MATCHING_THEIR_ROWS) == []


def test_a_file_republished_without_any_configured_ticker_takes_their_bars_out(
    make_config, mini_mirror, target_env, run_dbt
):
    """A new version of a file with no row of a configured ticker replaces the old one: its bars leave the marts.
    They stayed, from the superseded version, because delete+insert only replaces the files a run reads rows of."""
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(mini_mirror))
    day = SESSIONS[4]
    run_extract(cfg, WINDOW)
    run_dbt(["build"], env)
    assert {ticker for ticker, trade_date in fact(env) if trade_date == day} == set(CONFIGURED)

    write_day_file(mini_mirror, day, [bar_line("ZZZZ", day)])
    assert run_extract(cfg, WINDOW).planned == {"changed": 1}
    build = run_dbt(["build"], env, check=False)  # the session now has no bar of any configured ticker
    assert "FAIL 12 at_least_fct_ticker_coverage" in build.stdout
    assert [key for key in fact(env) if key[1] == day] == []
    assert warehouse_rows(env, "select count(*) from analytics_intermediate.int_day_aggs__checked") == [
        (len(CONFIGURED) * (len(SESSIONS) - 1),)
    ]


def test_a_ticker_removed_then_added_back_gets_the_files_loaded_while_it_was_away(
    make_config, mini_mirror, target_env, config_dir, run_dbt
):
    env = target_env
    late = mini_mirror / day_file_key(PREFIX, SESSIONS[-1])
    held_back = late.read_bytes()
    late.unlink()
    # a run the day before the late file is due
    run_extract(make_config(**env, TBP_SOURCE=str(mini_mirror)), RunOptions(start=START, end=SESSIONS[-2]))
    run_dbt(["build"], env)

    instruments_file = config_dir / "instruments.yml"
    configured = yaml.safe_load(instruments_file.read_text())
    without_spy = {
        "instruments": [i for i in configured["instruments"] if i["ticker"] != "SPY"],
        "groups": {name: [t for t in members if t != "SPY"] for name, members in configured["groups"].items()},
    }
    instruments_file.write_text(yaml.safe_dump(without_spy))
    late.write_bytes(held_back)
    run_extract(make_config(**env, TBP_SOURCE=str(mini_mirror)), WINDOW)
    run_dbt(["build"], env)
    assert not [key for key in fact(env) if key[0] == "SPY"]

    instruments_file.write_text(yaml.safe_dump(configured))
    run_extract(make_config(**env, TBP_SOURCE=str(mini_mirror)), WINDOW)
    run_dbt(["build"], env)
    assert sorted(day for ticker, day in fact(env) if ticker == "SPY") == SESSIONS


def defect_battery(root):
    """Day files with every kind of defect the landing and the models must treat alike on both warehouses."""
    stamp = {day: bar_line("X", day).split(",")[6] for day in SESSIONS}
    d = SESSIONS
    lines = {t: bar_line(t, d[1]) for t in CONFIGURED}
    lines["AAPL"] = f"AAPL,1000,NaN,10,11,9,{stamp[d[1]]},5"
    lines["MSFT"] = f"MSFT,1000,10,10,inf,9,{stamp[d[1]]},5"
    lines["NVDA"] = f"NVDA,-inf,10,10,11,9,{stamp[d[1]]},5"
    lines["GOOGL"] = f"GOOGL,1000,10,1e400,11,9,{stamp[d[1]]},5"
    lines["AMZN"] = f"AMZN,1000,10,10,11,1e-400,{stamp[d[1]]},5"
    write_day_file(root, d[1], list(lines.values()))
    write_day_file(
        root,
        d[2],
        [bar_line(t, d[2]) for t in CONFIGURED if t != "JPM"]
        + [f"JPM,10,abc,1,1,1,{stamp[d[2]]},3", f"SPY,10,1,1,1,1,{stamp[d[2]]},99999999999999999999"],
    )
    write_day_file(root, d[3], ["garbage,line", "another,garbage,line", "x"])
    text = "\ufeff" + '"ticker","volume","open","close","high","low","window_start","transactions"\n\n'
    text += "\n".join(bar_line(t, d[4]) for t in CONFIGURED) + "\n"
    (root / day_file_key(PREFIX, d[4])).write_bytes(gzip.compress(text.encode()))
    damage_crc(root / day_file_key(PREFIX, d[5]))
    write_day_file(root, d[6], [bar_line(t, d[6]) for t in CONFIGURED], header="ticker,open,close")
    write_day_file(
        root,
        d[7],
        [bar_line(t, d[7]) for t in CONFIGURED if t not in ("XOM", "JNJ")]
        + [f"XOM,100,10,10,9,11,{stamp[d[7]]},1", f"JNJ,,10,10,11,9,{stamp[d[7]]},1"]
        + [bar_line("QQQ", d[7], close=3.0)],
    )
    second_key = root / PREFIX / f"{d[8]:%Y/%m/%Y-%m-%d}.csv"
    second_key.write_text("ticker\n")


def comparable(rows) -> list[tuple]:
    """Rows with floats as text (NaN equals NaN) and sorted, so that two warehouses' answers compare."""
    spelled = [
        tuple(("nan" if math.isnan(v) else repr(float(v))) if isinstance(v, float) else v for v in row) for row in rows
    ]
    return sorted(spelled, key=repr)


PARITY_QUERIES = {
    "manifest": "select source_key, etag, size, file_date, rows_landed, rows_rejected, tickers "
    "from landing.load_manifest",
    "landing": "select d.ticker, d.volume, d.open, d.close, d.high, d.low, d.window_start, d.transactions, "
    "m.source_key from landing.day_aggs d join landing.load_manifest m using (load_id)",
    "rejected": "select source_key, line, column_name, raw_line from landing.rejected_rows",
    "quarantine": "select ticker, trade_date, source_key, quarantine_reason, line_number "
    "from analytics.fct_quarantined_bars",
    "fact": FACT,
}


def test_one_battery_of_defect_files_gives_identical_warehouses_on_both_targets(
    make_config, mini_mirror, base_env, pg_env, run_dbt
):
    defect_battery(mini_mirror)
    results, summaries = {}, {}
    for name, env in (("duckdb", base_env), ("postgres", pg_env)):
        cfg = make_config(**env, TBP_SOURCE=str(mini_mirror))
        narrow = run_extract(cfg, RunOptions(start=START, end=END, tickers=("SPY", "AAPL")))
        whole = run_extract(cfg, WINDOW)
        summaries[name] = [(s.failed, s.warnings, s.rows_landed, s.rows_rejected) for s in (narrow, whole)]
        run_dbt(["build"], env, check=False)
        results[name] = {query: comparable(warehouse_rows(env, sql)) for query, sql in PARITY_QUERIES.items()}

    assert summaries["duckdb"] == summaries["postgres"]
    for query in PARITY_QUERIES:
        assert results["duckdb"][query] == results["postgres"][query], query

    failed = summaries["duckdb"][0][0]
    assert sorted(failed) == [day_file_key(PREFIX, d) for d in (SESSIONS[3], SESSIONS[5], SESSIONS[6])]
    assert "none of its 3 rows could be parsed" in failed[day_file_key(PREFIX, SESSIONS[3])]
    assert any("a second key for that date" in w for w in summaries["duckdb"][0][1])
    reasons = {(r[0], r[3]) for r in results["duckdb"]["quarantine"]}
    assert {(t, "non_finite") for t in ("AAPL", "MSFT", "NVDA", "GOOGL")} <= reasons
    assert {("AMZN", "non_positive_price"), ("XOM", "ohlc_inconsistent"), ("JNJ", "missing_value")} <= reasons
    assert {("JPM", "unparsable"), ("SPY", "unparsable")} <= reasons
    days = {r[1] for r in results["duckdb"]["fact"]}
    assert SESSIONS[4] in days  # BOM, quoted header and a blank line: a good file
    assert not {SESSIONS[3], SESSIONS[5], SESSIONS[6]} & days


def run_harness(
    point: str, n: int, sig: str, env: dict, mirror, window: tuple[date, date] = (START, END)
) -> subprocess.CompletedProcess:
    start, end = window
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_harness", point, str(n), "run", "--start", str(start), "--end", str(end)],
        env={**env, "CRASH_SIGNAL": sig, "TBP_SOURCE": str(mirror), "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(("sig", "code"), [("TERM", 143), ("INT", 130)])
def test_a_signal_stops_the_run_promptly_and_records_it_interrupted(sig, code, make_config, small_mirror, target_env):
    """Promptly: what lands under way finishes and nothing starts after the stop is seen. On PostgreSQL a lane
    lands one file at a time, so most of the 41 files are left; on DuckDB a lane lands up to 60 in one transaction,
    and the stop can be seen as the last batch starts, so there only the record and the re-run are checked."""
    env = {**target_env, "TBP_CONFIG_DIR": str(REPO / "config")}
    stopped = run_harness("committed", 1, sig, env, small_mirror, (SMALL_START, SMALL_END))
    assert stopped.returncode == code, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert f"error: interrupted by SIG{sig}; re-run to load the rest" in stopped.stderr
    [(outcome, files_loaded)] = warehouse_rows(env, "select outcome, files_loaded from landing.extract_runs")
    landed = warehouse_rows(env, "select count(*) from landing.load_manifest")[0][0]
    assert outcome == "interrupted" and files_loaded == landed and landed >= 1
    assert landed < SMALL_FILES or env["TBP_TARGET"] == "duckdb"
    finished = run_extract(make_config(**env, TBP_SOURCE=str(small_mirror)), RunOptions(SMALL_START, SMALL_END))
    assert finished.files_loaded == SMALL_FILES - landed
    assert warehouse_rows(env, LOADS_NOT_MATCHING_THEIR_ROWS) == []


def test_a_killed_run_is_marked_abandoned_by_the_next(make_config, mini_mirror, target_env):
    env = {**target_env, "TBP_CONFIG_DIR": str(REPO / "config")}
    killed = run_harness("committed", 2, "KILL", env, mini_mirror)
    assert killed.returncode == -signal.SIGKILL
    assert warehouse_rows(env, "select outcome from landing.extract_runs") == [("running",)]
    run_extract(make_config(**env, TBP_SOURCE=str(mini_mirror)), WINDOW)
    outcomes = sorted(outcome for (outcome,) in warehouse_rows(env, "select outcome from landing.extract_runs"))
    assert outcomes == ["abandoned", "success"]


def test_a_key_gone_from_the_listing_is_reported_and_its_rows_kept(make_config, mini_mirror, target_env):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(mini_mirror))
    run_extract(cfg, WINDOW)
    key = day_file_key(PREFIX, SESSIONS[2])
    (mini_mirror / key).unlink()
    summary = run_extract(cfg, WINDOW)
    assert summary.warnings == [f"{key}: loaded before but no longer listed by the source; its landed rows are kept"]
    assert f"warning: {summary.warnings[0]}" in summary.lines()
    assert warehouse_rows(env, "select warning from landing.run_warnings") == [(summary.warnings[0],)]
    assert warehouse_status(cfg).warnings == summary.warnings
    assert warehouse_rows(env, f"select count(*) from landing.day_aggs where file_date = '{SESSIONS[2]}'") == [
        (len(CONFIGURED),)
    ]


def test_a_session_without_a_file_and_a_weekend_file_show_in_coverage_and_status(
    make_config, mini_mirror, target_env, run_dbt
):
    env = target_env
    (mini_mirror / day_file_key(PREFIX, SESSIONS[2])).unlink()
    saturday = date(2024, 1, 6)
    write_day_file(mini_mirror, saturday, [bar_line(t, saturday) for t in CONFIGURED])
    cfg = make_config(**env, TBP_SOURCE=str(mini_mirror))
    run_extract(cfg, WINDOW)
    build = run_dbt(["build"], env, check=False)
    # 8 of 9 sessions is under the 95 % threshold: the coverage test fails the build, the gap test warns
    assert build.returncode == 1 and "FAIL 12 at_least_fct_ticker_coverage" in build.stdout
    assert "WARN 2 row_count_is_zero_fct_missing_sessions" in build.stdout
    gaps = warehouse_rows(env, "select dataset, session_date, reason from analytics.fct_missing_sessions order by 2")
    assert gaps == [(PREFIX, SESSIONS[2], "no_file"), (PREFIX, saturday, "not_a_session")]
    coverage = warehouse_rows(
        env, "select distinct sessions_expected, sessions_missing from analytics.fct_ticker_coverage"
    )
    assert coverage == [(len(SESSIONS), 1)]
    status = warehouse_status(cfg)
    assert status.exit_code == 1 and status.missing_sessions == {PREFIX: [SESSIONS[2]]}
    assert f"{PREFIX}: 1 sessions have no file: {SESSIONS[2]}" in status.problems
    assert any("dated on a day its calendar does not trade" in p for p in status.problems)


def test_a_configured_ticker_that_no_landed_file_holds_fails_status(
    make_config, config_dir, mini_mirror, base_env, run_dbt
):
    """A mistyped ticker got no bar at all, and every check passed: its coverage had nothing to measure. An option
    contract that has not traded, and a ticker of a listed dataset with no file landed yet, are no such problem; a
    listed dataset of which no file landed is one (the source has none: a plan without it, or a mistaken name), and
    it passed every check too, since its calendar's days are expected from its first file on."""
    instruments = config_dir / "instruments.yml"
    added = "".join(
        f"  - {{ticker: '{ticker}', type: {kind}}}\n"
        for ticker, kind in (("APPL", "stock"), ("O:SPY250110C00480000", "option"), ("I:SPX", "index"))
    )
    instruments.write_text(instruments.read_text().replace("instruments:\n", "instruments:\n" + added, 1))
    datasets = f"{PREFIX},us_options_opra/day_aggs_v1,us_indices/day_aggs_v1,global_crypto/day_aggs_v1"
    cfg = make_config(**base_env, TBP_SOURCE=str(mini_mirror), TBP_DATASETS=datasets, TBP_LAND_SCOPE="configured")
    run_extract(cfg, WINDOW)
    run_dbt(["build"], base_env)
    status = warehouse_status(cfg)
    assert status.exit_code == 1
    never_landed = (
        "no file of it has landed: run the extract; if the source lists none, check that your plan includes it, or "
        "take it out of datasets (TBP_DATASETS)"
    )
    assert status.problems == [
        "global_crypto/day_aggs_v1: no file of it has landed: no configured instrument belongs to it and its "
        "land_scope is configured, so it is not listed; add one to instruments.yml, or take it out of datasets "
        "(TBP_DATASETS)",
        f"us_indices/day_aggs_v1: {never_landed}",
        f"us_options_opra/day_aggs_v1: {never_landed}",
        f"APPL: no bar in any landed file of {PREFIX}: is it the provider's ticker? (else set active: false)",
    ]


def test_a_feed_that_stops_publishing_shows_the_sessions_due_since_as_missing(
    make_config, mini_mirror, target_env, run_dbt
):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(mini_mirror))
    # the newest file is END's; the run expects files a week further on (2024-01-15 is Martin Luther King Day)
    due = [date(2024, 1, d) for d in (16, 17, 18, 19)]
    run_extract(cfg, RunOptions(start=START, end=date(2024, 1, 19)))
    build = run_dbt(["build"], env, check=False)
    assert build.returncode == 1 and "FAIL 12 at_least_fct_ticker_coverage" in build.stdout
    assert warehouse_rows(env, "select session_date from analytics.fct_missing_sessions order by 1") == [
        (day,) for day in due
    ]
    coverage = warehouse_rows(
        env, "select distinct sessions_expected, sessions_missing from analytics.fct_ticker_coverage"
    )
    assert coverage == [(len(SESSIONS) + len(due), len(due))]
    status = warehouse_status(cfg)
    assert status.exit_code == 1 and status.missing_sessions == {PREFIX: due}
