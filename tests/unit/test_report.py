from datetime import date

import pytest

from extract.errors import WarehouseError
from extract.report import coverage_matrix, write_report


def test_coverage_is_per_ticker_and_month_from_the_first_bar_on():
    stocks = "us_stocks_sip/day_aggs_v1"
    loaded = [
        (stocks, date(2024, 1, 2)),
        (stocks, date(2024, 1, 3)),
        (stocks, date(2024, 2, 1)),
        (stocks, date(2024, 2, 2)),
    ]
    bars = [
        ("AAA", stocks, date(2024, 1, 2), 1.0),
        ("AAA", stocks, date(2024, 1, 3), 1.0),
        ("AAA", stocks, date(2024, 2, 1), 1.0),
        ("BBB", stocks, date(2024, 2, 1), 2.0),
        ("BBB", stocks, date(2024, 2, 2), 2.0),
    ]
    tickers, months, matrix = coverage_matrix(bars, loaded)
    assert tickers == ["AAA", "BBB"] and months == ["2024-01", "2024-02"]
    assert matrix == [[100.0, 50.0], [None, 100.0]]


def test_each_ticker_counts_against_its_own_datasets_files():
    """Crypto's every-day files made each stock look 65 % covered in March, where status said 100 %. A month in
    which the stock files stopped while crypto's went on is 0 %."""
    stocks, crypto = "us_stocks_sip/day_aggs_v1", "global_crypto/day_aggs_v1"
    friday, saturday, april = date(2024, 3, 1), date(2024, 3, 2), date(2024, 4, 1)
    loaded = [(stocks, friday), (crypto, friday), (crypto, saturday), (crypto, april)]
    bars = [("AAA", stocks, friday, 1.0), *[("X:BTCUSD", crypto, day, 1.0) for day in (friday, saturday, april)]]
    matrix = [[100.0, 0.0], [100.0, 100.0]]
    assert coverage_matrix(bars, loaded) == (["AAA", "X:BTCUSD"], ["2024-03", "2024-04"], matrix)


def test_a_report_before_any_build_says_what_to_run(make_config):
    with pytest.raises(WarehouseError, match="run `make build`"):
        write_report(make_config(), make_config().database.duckdb_path.parent / "report")
