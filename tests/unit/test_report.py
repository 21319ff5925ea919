from datetime import date

import pytest

from extract.errors import WarehouseError
from extract.report import coverage_matrix, write_report


def test_coverage_is_per_ticker_and_month_from_the_first_bar_on():
    loaded = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 2, 1), date(2024, 2, 2)]
    bars = [
        ("AAA", date(2024, 1, 2), 1.0),
        ("AAA", date(2024, 1, 3), 1.0),
        ("AAA", date(2024, 2, 1), 1.0),
        ("BBB", date(2024, 2, 1), 2.0),
        ("BBB", date(2024, 2, 2), 2.0),
    ]
    tickers, months, matrix = coverage_matrix(bars, loaded)
    assert tickers == ["AAA", "BBB"] and months == ["2024-01", "2024-02"]
    assert matrix == [[100.0, 50.0], [None, 100.0]]


def test_a_report_before_any_build_says_what_to_run(make_config):
    with pytest.raises(WarehouseError, match="run `make build`"):
        write_report(make_config(), make_config().database.duckdb_path.parent / "report")
