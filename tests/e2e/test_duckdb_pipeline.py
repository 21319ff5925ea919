"""End to end on the embedded default: mirror -> tbp-extract -> dbt build -> fct_daily_bars (DuckDB)."""

from collections import Counter
from datetime import date

import duckdb
import yaml

from extract.run import RunOptions, run_extract
from tests.conftest import CONFIGURED, PREFIX, SMALL_END, SMALL_START, bar_line, read_mirror_rows, write_day_file

WHOLE_RANGE = RunOptions(start=SMALL_START, end=SMALL_END)


def query(cfg, sql: str) -> list[tuple]:
    with duckdb.connect(str(cfg.database.duckdb_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def fact_rows(cfg) -> dict[tuple[str, date], tuple]:
    rows = query(
        cfg, "select ticker, trade_date, open, high, low, close, volume, transactions from analytics.fct_daily_bars"
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


def test_the_demo_mirror_becomes_fct_daily_bars_row_for_row(make_config, small_mirror, base_env, run_dbt):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    run_extract(cfg, WHOLE_RANGE)
    result = run_dbt(["build"], base_env)
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout

    assert fact_rows(cfg) == expected_fact(read_mirror_rows(small_mirror), CONFIGURED)
    coverage = query(
        cfg, "select ticker, sessions_present, sessions_missing, coverage_pct from analytics.fct_ticker_coverage"
    )
    assert len(coverage) == 12 and all(row[1:] == (41, 0, 100) for row in coverage)
    assert query(cfg, "select count(*) from analytics.fct_quarantined_bars") == [(0,)]

    assert run_extract(cfg, WHOLE_RANGE).files_loaded == 0
    run_dbt(["build"], base_env)
    assert len(fact_rows(cfg)) == 12 * 41


def test_corrections_late_files_and_bad_rows_have_defined_outcomes(make_config, mirror, base_env, run_dbt):
    cfg = make_config(TBP_SOURCE=str(mirror))
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
    run_dbt(["build"], base_env)
    before = fact_rows(cfg)
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
    run_dbt(["build"], base_env)
    after = fact_rows(cfg)

    assert sum(1 for key in after if key[1] == late_day) == 12
    assert after[("AAPL", republished_day)][3] == 123.45
    assert ("MSFT", republished_day) not in after
    assert after[("SPY", date(2024, 2, 22))][3] == float(original[("SPY", date(2024, 2, 22))]["close"])
    assert after[("AAPL", bad_day)][3] == 10.0
    assert ("NVDA", bad_day) not in after and ("JPM", bad_day) not in after
    reasons = Counter(r[0] for r in query(cfg, "select quarantine_reason from analytics.fct_quarantined_bars"))
    assert reasons == {"date_mismatch": 1, "ohlc_inconsistent": 1, "conflicting_duplicate": 2}
    unchanged = {k: v for k, v in before.items() if k[1] not in (republished_day, misdated_file_day, bad_day)}
    assert all(after[k] == v for k, v in unchanged.items())
    assert query(cfg, "select count(*), count(distinct (ticker, trade_date)) from analytics.fct_daily_bars")[0][0] == (
        len(after)
    )


def test_an_added_ticker_brings_its_history_and_a_deactivated_one_leaves(
    make_config, small_mirror, base_env, config_dir, run_dbt
):
    cfg = make_config(TBP_SOURCE=str(small_mirror))
    run_extract(cfg, WHOLE_RANGE)
    run_dbt(["build"], base_env)
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
    assert run_extract(make_config(TBP_SOURCE=str(small_mirror)), WHOLE_RANGE).files_loaded == 0
    run_dbt(["build"], base_env)
    assert fact_rows(cfg) == expected_fact(mirror_rows, (*CONFIGURED, newcomer))

    for instrument in config["instruments"]:
        if instrument["ticker"] in (newcomer, "XOM"):
            instrument["active"] = False
    instruments_file.write_text(yaml.safe_dump(config))
    run_extract(make_config(TBP_SOURCE=str(small_mirror)), WHOLE_RANGE)
    run_dbt(["build"], base_env)
    remaining = set(CONFIGURED) - {"XOM"}
    assert fact_rows(cfg) == expected_fact(mirror_rows, remaining)
