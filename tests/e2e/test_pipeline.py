"""End to end: mirror -> tbp-extract -> dbt build -> fct_daily_bars, on DuckDB and on PostgreSQL."""

from collections import Counter
from datetime import date

import yaml

from extract.report import write_report
from extract.run import RunOptions, run_extract
from extract.status import warehouse_status
from tests.conftest import (
    CONFIGURED,
    PREFIX,
    SMALL_END,
    SMALL_START,
    bar_line,
    read_mirror_rows,
    warehouse_rows,
    write_day_file,
)

WHOLE_RANGE = RunOptions(start=SMALL_START, end=SMALL_END)


def fact_rows(env) -> dict[tuple[str, date], tuple]:
    rows = warehouse_rows(
        env, "select ticker, trade_date, open, high, low, close, volume, transactions from analytics.fct_daily_bars"
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def expected_fact(mirror_rows: dict, tickers) -> dict[tuple[str, date], tuple]:
    return {
        key: (
            float(r["open"]),
            float(r["high"]),
            float(r["low"]),
            float(r["close"]),
            float(r["volume"]),
            int(r["transactions"]),
        )
        for key, r in mirror_rows.items()
        if key[0] in tickers
    }


def test_the_demo_mirror_becomes_fct_daily_bars_row_for_row(make_config, small_mirror, base_env, run_dbt, tmp_path):
    env = base_env
    cfg = make_config(**env, TBP_SOURCE=str(small_mirror))
    run_extract(cfg, WHOLE_RANGE)
    result = run_dbt(["build"], env)
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout

    assert fact_rows(env) == expected_fact(read_mirror_rows(small_mirror), CONFIGURED)
    coverage = warehouse_rows(
        env, "select ticker, sessions_present, sessions_missing, coverage_pct from analytics.fct_ticker_coverage"
    )
    assert len(coverage) == 12 and all(row[1:] == (41, 0, 100) for row in coverage)
    assert warehouse_rows(env, "select count(*) from analytics.fct_quarantined_bars") == [(0,)]

    assert run_extract(cfg, WHOLE_RANGE).files_loaded == 0
    run_dbt(["build"], env)
    assert len(fact_rows(env)) == 12 * 41

    heatmap, chart, page = write_report(cfg, tmp_path / "report")
    assert heatmap.read_bytes()[:8] == chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "src='coverage.png'" in text and "src='close.png'" in text and "492 bars of 12 tickers" in text


def test_corrections_late_files_and_bad_rows_have_defined_outcomes(make_config, mirror, target_env, run_dbt):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(mirror))
    late_day, republished_day, misdated_file_day, bad_day = (
        date(2024, 2, 14),
        date(2024, 2, 20),
        date(2024, 2, 21),
        date(2024, 2, 23),
    )
    late_file = mirror / PREFIX / f"{late_day:%Y/%m/%Y-%m-%d}.csv.gz"
    late_bytes = late_file.read_bytes()
    late_file.unlink()
    run_extract(cfg, WHOLE_RANGE)
    run_dbt(["build"], env)
    before = fact_rows(env)
    assert not [key for key in before if key[1] == late_day]

    # The late file arrives for an old date; a file is re-published with a correction that also drops MSFT;
    # a file carries a row stamped with the next session (as the real 2019-08-12 file does); another has
    # an impossible bar, an exact duplicate and a conflicting duplicate.
    late_file.write_bytes(late_bytes)
    original = read_mirror_rows(mirror)
    write_day_file(
        mirror, republished_day, [bar_line(t, republished_day, close=123.45) for t in CONFIGURED if t != "MSFT"]
    )
    misdated_lines = [bar_line(t, misdated_file_day) for t in CONFIGURED] + [
        bar_line("SPY", misdated_file_day, close=1.0, stamp_day=date(2024, 2, 22))
    ]
    write_day_file(mirror, misdated_file_day, misdated_lines)
    impossible = f"NVDA,100,10,10,9,11,{bar_line('X', bad_day).split(',')[6]},1"
    write_day_file(
        mirror,
        bad_day,
        [bar_line(t, bad_day) for t in CONFIGURED if t not in ("NVDA",)]
        + [impossible, bar_line("AAPL", bad_day), bar_line("JPM", bad_day, close=55.0)],
    )

    summary = run_extract(cfg, WHOLE_RANGE)
    assert summary.planned == {"new": 1, "changed": 3}
    build = run_dbt(["build"], env)
    assert "WARN=1" in build.stdout and "Got 4 results, configured to warn if != 0" in build.stdout
    status = warehouse_status(cfg)
    assert (status.quarantined_rows, status.quarantined_files) == (4, 2) and status.problems == []
    assert status.last_run["outcome"] == "success" and status.last_run["files_loaded"] == 4
    assert {t.ticker: t.sessions_missing for t in status.tickers}["MSFT"] == 1  # dropped by the re-publication
    after = fact_rows(env)

    assert sum(1 for key in after if key[1] == late_day) == 12
    assert after[("AAPL", republished_day)][3] == 123.45
    assert ("MSFT", republished_day) not in after
    assert after[("SPY", date(2024, 2, 22))][3] == float(original[("SPY", date(2024, 2, 22))]["close"])
    assert after[("AAPL", bad_day)][3] == 10.0
    assert ("NVDA", bad_day) not in after and ("JPM", bad_day) not in after
    reasons = Counter(r[0] for r in warehouse_rows(env, "select quarantine_reason from analytics.fct_quarantined_bars"))
    assert reasons == {"date_mismatch": 1, "ohlc_inconsistent": 1, "conflicting_duplicate": 2}
    unchanged = {k: v for k, v in before.items() if k[1] not in (republished_day, misdated_file_day, bad_day)}
    assert all(after[k] == v for k, v in unchanged.items())
    counts = warehouse_rows(env, "select count(*), count(distinct (ticker, trade_date)) from analytics.fct_daily_bars")
    assert counts == [(len(after), len(after))]


def test_widening_earlier_loads_keeps_the_bars_they_landed(make_config, small_mirror, target_env, run_dbt):
    # January first lands without SPY, February whole; a later whole run widens January with SPY. The incremental
    # build must re-read January's earlier loads too, or delete+insert on source_key would drop their bars.
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(small_mirror))
    run_extract(cfg, RunOptions(start=date(2024, 2, 1), end=SMALL_END))
    without_spy = tuple(t for t in CONFIGURED if t != "SPY")
    run_extract(cfg, RunOptions(start=SMALL_START, end=date(2024, 1, 31), tickers=without_spy))
    run_dbt(["build"], env)
    expected = expected_fact(read_mirror_rows(small_mirror), CONFIGURED)
    assert len(fact_rows(env)) == len(expected) - 21
    assert run_extract(cfg, WHOLE_RANGE).planned == {"widened": 21}
    run_dbt(["build"], env)
    assert fact_rows(env) == expected


def test_an_added_ticker_brings_its_history_and_a_deactivated_one_leaves(
    make_config, small_mirror, target_env, config_dir, run_dbt
):
    env = target_env
    cfg = make_config(**env, TBP_SOURCE=str(small_mirror))
    run_extract(cfg, WHOLE_RANGE)
    run_dbt(["build"], env)
    mirror_rows = read_mirror_rows(small_mirror)
    newcomer = Counter(t for t, _ in mirror_rows if t not in CONFIGURED).most_common(1)[0][0]

    instruments_file = config_dir / "instruments.yml"
    config = yaml.safe_load(instruments_file.read_text())
    config["instruments"].append(
        {
            "ticker": newcomer,
            "name": "Newcomer",
            "type": "stock",
            "exchange": "XNAS",
            "sector": "Technology",
            "active": True,
        }
    )
    instruments_file.write_text(yaml.safe_dump(config))
    assert run_extract(make_config(**env, TBP_SOURCE=str(small_mirror)), WHOLE_RANGE).files_loaded == 0
    run_dbt(["build"], env)
    assert fact_rows(env) == expected_fact(mirror_rows, (*CONFIGURED, newcomer))

    for instrument in config["instruments"]:
        if instrument["ticker"] in (newcomer, "XOM"):
            instrument["active"] = False
    instruments_file.write_text(yaml.safe_dump(config))
    run_extract(make_config(**env, TBP_SOURCE=str(small_mirror)), WHOLE_RANGE)
    run_dbt(["build"], env)
    remaining = set(CONFIGURED) - {"XOM"}
    assert fact_rows(env) == expected_fact(mirror_rows, remaining)


def test_coverage_below_the_threshold_fails_the_build(make_config, mirror, base_env, run_dbt):
    for day in (date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)):
        write_day_file(mirror, day, [bar_line(t, day) for t in CONFIGURED if t != "META"])
    run_extract(make_config(**base_env, TBP_SOURCE=str(mirror)), WHOLE_RANGE)
    failed = run_dbt(["build"], base_env, check=False)
    assert failed.returncode == 1
    assert "Failure in test at_least_fct_ticker_coverage_coverage_pct" in failed.stdout
    coverage = warehouse_rows(
        base_env, "select sessions_missing, coverage_pct from analytics.fct_ticker_coverage where ticker = 'META'"
    )
    assert [(missing, float(pct)) for missing, pct in coverage] == [(3, round(100 * 38 / 41, 2))]
    passing = run_dbt(["build", "--vars", "{min_coverage_pct: 90}"], base_env, check=False)
    assert passing.returncode == 0


def test_schemas_lookback_and_threshold_set_once_reach_the_extractor_and_dbt(
    make_config, small_mirror, base_env, run_dbt, tmp_path
):
    env = {
        **base_env,
        "TBP_LANDING_SCHEMA": "raw_files",
        "TBP_ANALYTICS_SCHEMA": "marts",
        "TBP_LOOKBACK_DAYS": "3",
        "TBP_MIN_COVERAGE_PCT": "99.5",
    }
    cfg = make_config(**env, TBP_SOURCE=str(small_mirror))
    run_extract(cfg, RunOptions(start=SMALL_START, end=date(2024, 1, 31)))
    run_dbt(["build"], env)
    assert warehouse_rows(env, "select count(*) from marts.fct_daily_bars") == [(12 * 21,)]
    assert warehouse_rows(env, "select count(*) from raw_files.load_manifest") == [(21,)]
    status = warehouse_status(cfg)
    assert status.exit_code == 0 and len(status.tickers) == 12
    run_extract(cfg, WHOLE_RANGE)
    run_dbt(["build", "--select", "fct_daily_bars"], env)
    compiled = next((tmp_path / "dbt_target" / "compiled").rglob("fct_daily_bars.sql")).read_text()
    assert "cast(-3 as bigint) * interval 1 day" in " ".join(compiled.split())
    test_sql = next((tmp_path / "dbt_target" / "compiled").rglob("at_least_fct_ticker_coverage*.sql")).read_text()
    assert "99.5" in test_sql
