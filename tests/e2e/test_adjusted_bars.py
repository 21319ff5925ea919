"""From raw bars and corporate actions to fct_daily_bars_adjusted, on both targets: the reference data comes from
the provider's REST API on a loopback server (tests/provider_api.py), which pages every list through next_url."""

import math
from collections import defaultdict
from datetime import date

import pytest
import yaml

from extract.reference import run_reference
from extract.run import RunOptions, earlier_tickers_named, open_warehouse, run_extract
from tests.conftest import CONFIGURED, bar_line, warehouse_rows, write_day_file
from tests.provider_api import ProviderApi

API_KEY = "e2e-api-key-never-landed"
SESSIONS = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10, 11, 12)]
WINDOW = RunOptions(start=SESSIONS[0], end=SESSIONS[-1])
# Per ticker: (execution date, split_from, split_to, adjustment_type, provider factor) of its splits. The provider's
# factor is cumulative (NVDA's 4-for-1 then 10-for-1, as in 2021 and 2024: 1/40 before the first).
SPLITS = {
    "AAPL": [("2024-01-04", 1, 4, "forward_split", 0.25), ("2024-01-04", 1, 4, "forward_split", 0.25)],
    "NVDA": [("2024-01-03", 1, 4, "forward_split", 0.025), ("2024-01-08", 1, 10, "forward_split", 0.1)],
    "XOM": [("2024-01-09", 5, 1, "reverse_split", 0.2)],  # the provider's factor disagrees on purpose
    "JNJ": [("2024-01-10", 1, 1.05, "stock_dividend", None)],
    "MSFT": [("2024-01-08", 1, 2, "forward_split", None), ("2024-01-08", 1, 3, "forward_split", None)],
    "GOOGL": [("2024-01-09", 1, 20, "forward_split", None)],
    "JPM": [("2024-01-09", 1, 4, "forward_split", 0.25)],
}
# Splits the raw prices do not show: MSFT's two ratios conflict (neither applies), GOOGL's never happened in them.
NOT_IN_PRICES = {"MSFT", "GOOGL"}
# Per ticker: (ex-dividend date, cash amount, distribution type) of its cash dividends. JPM's first ex-date is a
# Monday, its second comes after its split (in post-split dollars, as the provider publishes them).
DIVIDENDS = {
    "SPY": [("2024-01-11", 1.0, "recurring"), ("2024-01-11", 2.0, "special")],
    "JPM": [("2024-01-08", 1.15, "recurring"), ("2024-01-11", 0.30, "recurring")],
    "AMZN": [("2024-01-10", 250.0, "special")],  # more than the close: no fraction of the price
}
# Closes given as they traded: each dividend taken off the price, the split showing on its day.
CLOSES = {"JPM": [170.00, 171.50, 169.80, 172.40, 171.25, 42.90, 43.10, 42.85, 43.00], "AMZN": [100.0] * 9}


def distinct_splits(ticker: str) -> list[tuple[str, float, float]]:
    """(execution date, split_from, split_to) of each split once (AAPL's is published twice)."""
    return list(
        dict.fromkeys((when, split_from, split_to) for when, split_from, split_to, *_ in SPLITS.get(ticker, []))
    )


def raw_close(ticker: str, day: date) -> float:
    """Prices that show every action: 100 before, divided by each split ratio from its date, less dividends."""
    if ticker in CLOSES:
        return CLOSES[ticker][SESSIONS.index(day)]
    close = 100.0
    for when, split_from, split_to in distinct_splits(ticker):
        if ticker not in NOT_IN_PRICES and day >= date.fromisoformat(when):
            close *= split_from / split_to
    for when, cash, _kind in DIVIDENDS.get(ticker, []):
        if day >= date.fromisoformat(when):
            close -= cash
    return round(close, 4)


def provide_actions(provider: ProviderApi) -> None:
    for ticker in CONFIGURED:
        provider.splits += [
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
        provider.dividends += [
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
        provider.overviews[ticker] = {"ticker": ticker, "composite_figi": f"BBG-{ticker}"}
        provider.events[ticker] = {"composite_figi": f"BBG-{ticker}", "events": []}


@pytest.fixture
def adjusted_env(make_config, target_env, run_dbt, tmp_path, httpserver):
    mirror, provider = tmp_path / "mirror", ProviderApi(API_KEY, page_size=1)
    for day in SESSIONS:
        write_day_file(mirror, day, [bar_line(t, day, close=raw_close(t, day)) for t in CONFIGURED])
    provide_actions(provider)
    cfg = make_config(**target_env, TBP_SOURCE=str(mirror), **provider.serve(httpserver))
    run_extract(cfg, WINDOW)
    assert run_reference(cfg).exit_code == 0
    assert [query for path, query in provider.asked if path == "/stocks/v1/dividends" and "cursor" in query]
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
    for ticker, after in (("AAPL", 25.0), ("NVDA", 2.5), ("XOM", 500.0), ("JNJ", 100 / 1.05)):
        rows = adjusted(env, ticker)
        assert len(rows) == len(SESSIONS)
        assert all(row[3] == pytest.approx(after) for row in rows), (ticker, rows)
        factor_before = rows[0][1]
        assert rows[0][6] / factor_before == pytest.approx(rows[0][5])  # volume scaled the other way
        assert rows[-1][1] == 1.0 and factor_before != 1.0


def test_cash_dividends_go_into_the_total_return_factor_only(adjusted_env):
    env, _build = adjusted_env
    rows = adjusted(env, "SPY")
    before = [row for row in rows if row[0] < date(2024, 1, 11)]
    assert all(row[1] == 1.0 for row in rows)
    # a special dividend beside the regular one: the ex-date's factor is 1 - their sum / the close before it
    assert all(row[2] == pytest.approx(1 - (1 + 2) / 100) for row in before)
    assert rows[-1][2] == 1.0 and rows[-1][4] == pytest.approx(97.0)
    assert {round(row[4], 9) for row in rows} == {97.0}  # the price fell by exactly the dividends: no jump


def hand_factors(ticker: str, day: date) -> tuple[float, float]:
    """A bar's split factor and total-return factor, worked out the CRSP way from the events above: each split after
    the bar scales by split_from / split_to; each ex-date after it by 1 - its cash (every dividend of that ex-date
    together) / the close of the session before the ex-date."""
    split = math.prod(f / t for when, f, t in distinct_splits(ticker) if date.fromisoformat(when) > day)
    cash = defaultdict(float)
    for when, amount, _kind in DIVIDENDS.get(ticker, []):
        cash[date.fromisoformat(when)] += amount
    prior_session = {ex: max(s for s in SESSIONS if s < ex) for ex in cash}
    dividends = math.prod(1 - cash[ex] / raw_close(ticker, prior_session[ex]) for ex in cash if ex > day)
    return split, split * dividends


def test_the_factors_agree_with_a_computation_by_hand(adjusted_env):
    env, _build = adjusted_env
    for ticker in ("JPM", "NVDA", "SPY", "AAPL", "XOM", "JNJ", "GOOGL"):
        rows = adjusted(env, ticker)
        assert [row[0] for row in rows] == SESSIONS
        assert [row[1] for row in rows] == pytest.approx([hand_factors(ticker, day)[0] for day in SESSIONS], rel=1e-9)
        assert [row[2] for row in rows] == pytest.approx([hand_factors(ticker, day)[1] for day in SESSIONS], rel=1e-9)
    jpm = adjusted(env, "JPM")
    # JPM's first bar, on a calculator: 1/4 x (1 - 1.15 / 172.40) x (1 - 0.30 / 43.10)
    assert jpm[0][2] == pytest.approx(0.2466038350, abs=1e-10)
    # NVDA before both splits: 1/4 x 1/10, the provider's own cumulative factor
    assert adjusted(env, "NVDA")[0][1] == pytest.approx(0.025, abs=1e-12)
    # JPM's close fell by its dividend on the Monday ex-date (172.40 -> 171.25): the adjusted close does not move
    assert jpm[3][4] == pytest.approx(jpm[4][4], abs=1e-9)


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
        ("GOOGL", False, None),
        ("JNJ", True, None),
        ("JPM", True, True),
        ("NVDA", True, True),
        ("NVDA", True, True),
        ("XOM", True, False),
    ]
    assert "WARN 1 not_false_fct_split_checks_provider_factor_agrees" in build.stdout
    assert warehouse_rows(
        env, "select ticker from analytics_dbt_test__audit.not_false_fct_split_checks_provider_factor_agrees"
    ) == [("XOM",)]


def test_a_split_the_raw_prices_do_not_show_is_flagged_and_listed_by_its_warn_test(adjusted_env):
    env, build = adjusted_env
    [(close_before, open_after, observed_ratio, visible)] = warehouse_rows(
        env,
        "select close_before, open_after, observed_ratio, is_visible_in_prices from analytics.fct_split_checks "
        "where ticker = 'GOOGL'",
    )
    assert (close_before, open_after, visible) == (100.0, 99.0, False)
    assert observed_ratio == pytest.approx(0.99)  # the prices went on as before; the ratio says 1 / 20
    assert "WARN 1 not_false_fct_split_checks_is_visible_in_prices" in build.stdout
    listed = warehouse_rows(
        env,
        "select ticker, event_date, price_factor from "
        "analytics_dbt_test__audit.not_false_fct_split_checks_is_visible_in_prices",
    )
    assert listed == [("GOOGL", date(2024, 1, 9), 0.05)]


def test_a_dividend_that_is_no_fraction_of_the_close_is_flagged_and_left_out(adjusted_env):
    env, build = adjusted_env
    checks = warehouse_rows(
        env,
        "select ticker, event_date, cash_amount, close_before, is_below_close_before, dividend_factor "
        "from analytics.fct_dividend_checks where ticker = 'AMZN'",
    )
    assert checks == [("AMZN", date(2024, 1, 10), 250.0, 100.0, False, None)]
    assert "WARN 1 not_false_fct_dividend_checks_is_below_close_before" in build.stdout
    listed = warehouse_rows(
        env,
        "select ticker, event_date from analytics_dbt_test__audit.not_false_fct_dividend_checks_is_below_close_before",
    )
    assert listed == [("AMZN", date(2024, 1, 10))]
    assert all(row[2] == 1.0 for row in adjusted(env, "AMZN"))


CHANGE_DAY = date(2024, 1, 8)


def write_ticker_change(root) -> None:
    """FB becomes META on CHANGE_DAY; before that another company (an ETF) traded as META, at other prices."""
    for day in SESSIONS:
        lines = [bar_line(t, day) for t in CONFIGURED if t != "META"]
        if day < CHANGE_DAY:
            lines += [bar_line("FB", day, close=300.0), bar_line("META", day, close=7.0)]
        else:
            lines += [bar_line("META", day, close=310.0)]
        write_day_file(root, day, lines)


def test_an_instrument_keeps_its_history_across_a_ticker_change(make_config, target_env, run_dbt, tmp_path, httpserver):
    mirror, provider = tmp_path / "mirror", ProviderApi(API_KEY)
    write_ticker_change(mirror)
    provider.events["META"] = {
        "name": "Meta Platforms",
        "composite_figi": "BBG000MM2P62",
        "events": [
            {"type": "ticker_change", "date": "2012-05-18", "ticker_change": {"ticker": "FB"}},
            {"type": "ticker_change", "date": str(CHANGE_DAY), "ticker_change": {"ticker": "META"}},
        ],
    }
    provider.overviews["META"] = {"ticker": "META", "composite_figi": "BBG000MM2P62"}
    # Under FB, a dividend of the instrument's, then one of the fund that took the ticker over; under META before
    # the change, one of the ETF's: only the first is the instrument's (the events name FB, the config does not).
    provider.dividends = [
        {
            "id": "fb",
            "ticker": "FB",
            "ex_dividend_date": "2024-01-04",
            "cash_amount": 3.0,
            "distribution_type": "special",
        },
        {"id": "fb-fund", "ticker": "FB", "ex_dividend_date": "2024-01-10", "cash_amount": 1.0},
        {"id": "etf", "ticker": "META", "ex_dividend_date": "2024-01-03", "cash_amount": 0.5},
    ]
    cfg = make_config(**target_env, TBP_SOURCE=str(mirror), **provider.serve(httpserver))
    run_extract(cfg, WINDOW)
    assert run_reference(cfg).exit_code == 0
    # FB's overview and events would describe whoever holds the ticker now
    assert {path for path, _query in provider.asked if "FB" in path} == set()
    run_dbt(["build"], target_env)
    factors = warehouse_rows(
        target_env,
        "select trade_date, total_return_factor from analytics.fct_daily_bars_adjusted where ticker = 'META' "
        "order by trade_date",
    )
    assert factors == [(day, pytest.approx(1 - 3 / 300 if day < date(2024, 1, 4) else 1.0)) for day in SESSIONS]
    rows = warehouse_rows(
        target_env,
        "select trade_date, traded_ticker, close, instrument_id from analytics.fct_daily_bars "
        "where ticker = 'META' order by trade_date",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (day, "FB" if day < CHANGE_DAY else "META", 300.0 if day < CHANGE_DAY else 310.0) for day in SESSIONS
    ]
    assert {r[3] for r in rows} == {"BBG000MM2P62"}
    history = warehouse_rows(
        target_env,
        "select traded_ticker, valid_from, valid_to from analytics.dim_instrument_tickers where ticker = 'META' "
        "order by valid_from",
    )
    assert history == [("FB", date(2012, 5, 18), date(2024, 1, 7)), ("META", CHANGE_DAY, None)]
    coverage = warehouse_rows(
        target_env, "select sessions_present, sessions_missing from analytics.fct_ticker_coverage where ticker = 'META'"
    )
    assert coverage == [(len(SESSIONS), 0)]

    # The provider's newest events name no earlier ticker: FB's days leave META in the marts as in the extractor
    # (dbt kept counting the older fetch that named FB, the newest fetch with a ticker change).
    provider.events["META"] = {"name": "Meta Platforms", "composite_figi": "BBG000MM2P62", "events": []}
    assert run_reference(cfg).exit_code == 0
    with open_warehouse(cfg) as warehouse:
        assert earlier_tickers_named(cfg, warehouse) == frozenset()
    run_dbt(["build"], target_env)
    rows = warehouse_rows(
        target_env,
        "select trade_date, traded_ticker, close from analytics.fct_daily_bars where ticker = 'META' order by 1",
    )
    assert rows == [(day, "META", 7.0 if day < CHANGE_DAY else 310.0) for day in SESSIONS]


def test_previous_tickers_in_instruments_yml_work_without_the_api(make_config, config_dir, base_env, run_dbt, tmp_path):
    mirror = tmp_path / "mirror"
    write_ticker_change(mirror)
    for path in mirror.rglob("*.csv.gz"):  # no ETF under META before the change in this mirror
        day = date.fromisoformat(path.name[:10])
        if day < CHANGE_DAY:
            write_day_file(
                mirror, day, [bar_line(t, day) for t in CONFIGURED if t != "META"] + [bar_line("FB", day, close=300.0)]
            )
    instruments = config_dir / "instruments.yml"
    configured = yaml.safe_load(instruments.read_text())
    for instrument in configured["instruments"]:
        if instrument["ticker"] == "META":
            instrument["previous_tickers"] = ["FB"]
    instruments.write_text(yaml.safe_dump(configured))
    cfg = make_config(**base_env, TBP_SOURCE=str(mirror))
    assert cfg.instruments[[i.ticker for i in cfg.instruments].index("META")].previous_tickers == ("FB",)
    run_extract(cfg, WINDOW)
    run_dbt(["build"], base_env)
    rows = warehouse_rows(
        base_env, "select trade_date, traded_ticker from analytics.fct_daily_bars where ticker = 'META' order by 1"
    )
    assert rows == [(day, "FB" if day < CHANGE_DAY else "META") for day in SESSIONS]


def test_an_instrument_renamed_later_or_given_its_figi_later_keeps_its_whole_history(
    make_config, config_dir, target_env, run_dbt, tmp_path, httpserver
):
    """An instrument renamed as the docs say (FB becomes META, previous_tickers: [FB]) after its FB bars were built,
    and an instrument whose FIGI arrives later: every bar is re-read under its instrument, with the new
    instrument_id. FB's bars older than the lookback were lost, and old bars kept the old instrument_id."""
    mirror, provider = tmp_path / "mirror", ProviderApi(API_KEY)
    for day in SESSIONS:
        traded = "FB" if day < CHANGE_DAY else "META"
        write_day_file(mirror, day, [bar_line(t, day) for t in CONFIGURED if t != "META"] + [bar_line(traded, day)])
    instruments = config_dir / "instruments.yml"
    configured = instruments.read_text()
    env = target_env
    dbt_env = {**env, "TBP_LOOKBACK_DAYS": "0"}  # dbt's lookback: every earlier load is out of it, as days later
    instruments.write_text(configured.replace("ticker: META,", "ticker: FB,").replace("META]", "FB]"))
    run_extract(make_config(**env, TBP_SOURCE=str(mirror)), RunOptions(SESSIONS[0], date(2024, 1, 5)))
    run_dbt(["build"], dbt_env)

    with_previous = yaml.safe_load(configured)
    for instrument in with_previous["instruments"]:
        if instrument["ticker"] == "META":
            instrument["previous_tickers"] = ["FB"]
    instruments.write_text(yaml.safe_dump(with_previous))
    run_extract(make_config(**env, TBP_SOURCE=str(mirror)), WINDOW)
    run_dbt(["build"], dbt_env)
    rows = warehouse_rows(
        env,
        "select trade_date, traded_ticker, instrument_id from analytics.fct_daily_bars "
        "where ticker = 'META' order by 1",
    )
    assert rows == [(day, "FB" if day < CHANGE_DAY else "META", "META") for day in SESSIONS]

    provider.overviews["AAPL"] = {"ticker": "AAPL", "composite_figi": "BBG000B9XRY4"}
    cfg = make_config(**env, TBP_SOURCE=str(mirror), **provider.serve(httpserver))
    assert run_reference(cfg).exit_code == 0
    run_dbt(["build"], dbt_env)
    ids = "select instrument_id, count(*) from analytics.fct_daily_bars where ticker = 'AAPL' group by 1"
    assert warehouse_rows(env, ids) == [("BBG000B9XRY4", len(SESSIONS))]


def test_the_demo_data_adjusts_nvda_without_a_jump_at_its_split(make_config, target_env, run_dbt, tmp_path):
    base_env = target_env
    from extract.demo import DemoSpec, write_demo_mirror

    mirror = tmp_path / "demo"
    write_demo_mirror(
        mirror, DemoSpec(date(2024, 6, 3), date(2024, 6, 14), ticker_count=30, include_tickers=CONFIGURED)
    )
    cfg = make_config(**base_env, TBP_SOURCE=str(mirror), TBP_REFERENCE_SOURCE=str(mirror / "reference"))
    run_extract(cfg, RunOptions(start=date(2024, 6, 3), end=date(2024, 6, 14)))
    assert run_reference(cfg).exit_code == 0
    run_dbt(["build"], base_env)
    closes = [row[3] for row in adjusted(base_env, "NVDA")]
    raw = [
        r[0]
        for r in warehouse_rows(
            base_env, "select close from analytics.fct_daily_bars where ticker = 'NVDA' order by trade_date"
        )
    ]
    jumps = [abs(b / a - 1) for a, b in zip(closes, closes[1:], strict=False)]
    assert max(jumps) < 0.15 and max(abs(b / a - 1) for a, b in zip(raw, raw[1:], strict=False)) > 0.8
    assert warehouse_rows(
        base_env, "select ticker, is_visible_in_prices, provider_factor_agrees from analytics.fct_split_checks"
    ) == [("NVDA", True, True)]


def test_name_type_exchange_and_sector_default_from_the_ticker_overview(
    make_config, config_dir, base_env, run_dbt, tmp_path, httpserver
):
    mirror, provider = tmp_path / "mirror", ProviderApi(API_KEY)
    for day in SESSIONS[:3]:
        write_day_file(mirror, day, [bar_line("NVDA", day), bar_line("SPY", day)])
    provider.overviews = {
        "NVDA": {
            "ticker": "NVDA",
            "name": "NVIDIA Corp",
            "type": "CS",
            "primary_exchange": "XNAS",
            "composite_figi": "BBG000BBJQV0",
            "sic_description": "SEMICONDUCTORS",
        },
        "SPY": {"ticker": "SPY", "name": "SPDR S&P 500", "type": "ETF", "primary_exchange": "ARCX"},
    }
    (config_dir / "instruments.yml").write_text(
        "instruments:\n  - {ticker: NVDA}\n  - {ticker: SPY, name: My SPY, sector: Broad Market}\n"
    )
    cfg = make_config(**base_env, TBP_SOURCE=str(mirror), **provider.serve(httpserver))
    run_extract(cfg, RunOptions(start=SESSIONS[0], end=SESSIONS[2]))
    run_reference(cfg)
    run_dbt(["build"], base_env)
    rows = warehouse_rows(
        base_env,
        "select ticker, instrument_id, instrument_name, instrument_type, exchange, sector "
        "from analytics.dim_instruments order by ticker",
    )
    assert rows == [
        ("NVDA", "BBG000BBJQV0", "NVIDIA Corp", "stock", "XNAS", "SEMICONDUCTORS"),
        ("SPY", "SPY", "My SPY", "etf", "ARCX", "Broad Market"),
    ]
