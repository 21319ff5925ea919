"""From raw bars and corporate actions to fct_daily_bars_adjusted, on both targets."""

import json
from datetime import date

import pytest

from extract.reference import run_reference
from extract.run import RunOptions, run_extract
from tests.conftest import CONFIGURED, bar_line, warehouse_rows, write_day_file

SESSIONS = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10, 11, 12)]
WINDOW = RunOptions(start=SESSIONS[0], end=SESSIONS[-1])
# Per ticker: (execution date, split_from, split_to, adjustment_type, provider factor) of its splits.
SPLITS = {
    "AAPL": [("2024-01-04", 1, 4, "forward_split", 0.25), ("2024-01-04", 1, 4, "forward_split", 0.25)],
    "NVDA": [("2024-01-08", 1, 10, "forward_split", 0.1)],
    "XOM": [("2024-01-09", 5, 1, "reverse_split", 0.2)],  # the provider's factor disagrees on purpose
    "JNJ": [("2024-01-10", 1, 1.05, "stock_dividend", None)],
    "MSFT": [("2024-01-08", 1, 2, "forward_split", None), ("2024-01-08", 1, 3, "forward_split", None)],
}
DIVIDENDS = {"SPY": [("2024-01-11", 1.0, "recurring"), ("2024-01-11", 2.0, "special")]}


def raw_close(ticker: str, day: date) -> float:
    """Prices that show every action: 100 before, divided by each split ratio from its date, less dividends."""
    close = 100.0
    for when, split_from, split_to, _kind, _factor in SPLITS.get(ticker, [])[:1]:
        if ticker != "MSFT" and day >= date.fromisoformat(when):
            close *= split_from / split_to
    for when, cash, _kind in DIVIDENDS.get(ticker, []):
        if day >= date.fromisoformat(when):
            close -= cash
    return round(close, 4)


def write_pages(root) -> None:
    for ticker in CONFIGURED:
        splits = [
            {
                "id": f"{ticker}-{n}",
                "ticker": ticker,
                "execution_date": when,
                "split_from": split_from,
                "split_to": split_to,
                "adjustment_type": kind,
                "historical_adjustment_factor": factor,
            }
            for n, (when, split_from, split_to, kind, factor) in enumerate(SPLITS.get(ticker, []))
        ]
        dividends = [
            {
                "id": f"{ticker}-d{n}",
                "ticker": ticker,
                "ex_dividend_date": when,
                "cash_amount": cash,
                "currency": "USD",
                "distribution_type": kind,
                "frequency": 0 if kind == "special" else 4,
            }
            for n, (when, cash, kind) in enumerate(DIVIDENDS.get(ticker, []))
        ]
        for name, results in {
            f"stocks/v1/splits/{ticker}.json": splits,
            f"stocks/v1/dividends/{ticker}.json": dividends,
            f"v3/reference/tickers/{ticker}.json": {"ticker": ticker, "composite_figi": f"BBG-{ticker}"},
            f"vX/reference/tickers/{ticker}/events.json": {"composite_figi": f"BBG-{ticker}", "events": []},
        }.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(json.dumps({"status": "OK", "results": results}))


@pytest.fixture
def adjusted_env(make_config, target_env, run_dbt, tmp_path):
    mirror, pages = tmp_path / "mirror", tmp_path / "pages"
    for day in SESSIONS:
        write_day_file(mirror, day, [bar_line(t, day, close=raw_close(t, day)) for t in CONFIGURED])
    write_pages(pages)
    cfg = make_config(**target_env, TBP_SOURCE=str(mirror), TBP_REFERENCE_SOURCE=str(pages))
    run_extract(cfg, WINDOW)
    assert run_reference(cfg).exit_code == 0
    build = run_dbt(["build"], target_env)
    return target_env, build


def adjusted(env, ticker: str) -> list[tuple]:
    return warehouse_rows(
        env,
        "select trade_date, split_factor, total_return_factor, split_adjusted_close, adjusted_close, "
        f"split_adjusted_volume, raw_volume from analytics.fct_daily_bars_adjusted where ticker = '{ticker}' "
        "order by trade_date",
    )


def test_split_adjusted_closes_have_no_jump_at_any_split(adjusted_env):
    env, _build = adjusted_env
    for ticker, after in (("AAPL", 25.0), ("NVDA", 10.0), ("XOM", 500.0), ("JNJ", 100 / 1.05)):
        rows = adjusted(env, ticker)
        assert len(rows) == len(SESSIONS)
        assert all(row[3] == pytest.approx(after) for row in rows), (ticker, rows)
        factor_before = rows[0][1]
        assert rows[0][6] / factor_before == pytest.approx(rows[0][5])  # volume scaled the other way
        assert rows[-1][1] == 1.0 and factor_before != 1.0


def test_cash_dividends_compound_into_the_total_return_factor_only(adjusted_env):
    env, _build = adjusted_env
    rows = adjusted(env, "SPY")
    before = [row for row in rows if row[0] < date(2024, 1, 11)]
    assert all(row[1] == 1.0 for row in rows)
    assert all(row[2] == pytest.approx((1 - 1 / 100) * (1 - 2 / 100)) for row in before)
    assert rows[-1][2] == 1.0 and rows[-1][4] == pytest.approx(97.0)


def test_duplicates_collapse_conflicts_are_quarantined_and_disagreements_are_flagged(adjusted_env):
    env, build = adjusted_env
    actions = warehouse_rows(
        env,
        "select ticker, action_type, event_date, records from analytics.fct_corporate_actions order by ticker, "
        "event_date, cash_amount",
    )
    assert ("AAPL", "forward_split", date(2024, 1, 4), 2) in actions
    assert not [a for a in actions if a[0] == "MSFT"]
    assert [a[1] for a in actions if a[0] == "SPY"] == ["cash_dividend", "cash_dividend"]
    assert ("JNJ", "stock_dividend", date(2024, 1, 10), 1) in actions
    quarantined = warehouse_rows(
        env,
        "select ticker, quarantine_reason from analytics_intermediate.int_splits__checked "
        "where quarantine_reason is not null",
    )
    assert sorted(quarantined) == [("MSFT", "conflicting_ratio"), ("MSFT", "conflicting_ratio")]
    assert all(row[1] == 1.0 for row in adjusted(env, "MSFT"))

    checks = warehouse_rows(
        env,
        "select ticker, is_visible_in_prices, provider_factor_agrees from analytics.fct_split_checks order by ticker",
    )
    assert checks == [
        ("AAPL", True, True),
        ("JNJ", True, None),
        ("NVDA", True, True),
        ("XOM", True, False),
    ]
    assert "WARN=1" in build.stdout and "provider_factor_agrees" in build.stdout
