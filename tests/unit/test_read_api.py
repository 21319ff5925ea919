"""The read API on a lake laid out as publish lays it out: pruning, pandas output, one-line errors."""

from datetime import date, datetime

import pandas as pd
import polars as pl
import pytest

import tickerbars

DAY = "fct_daily_bars/dataset=us_stocks_sip%2Fday_aggs_v1"


def write_bars(lake, partition: str, days: list[date]) -> None:
    rows = [{"ticker": t, "trade_date": d, "close": 10.0 + n} for t in ("AAPL", "MSFT") for n, d in enumerate(days)]
    path = lake / partition / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_parquet(path)


def write_garbage(lake, partition: str) -> None:
    """A file no Parquet reader can open: a read that opens it fails."""
    path = lake / partition / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not parquet")


def test_only_the_years_and_months_between_start_and_end_are_opened(tmp_path):
    write_garbage(tmp_path, f"{DAY}/year=2022")
    write_bars(tmp_path, f"{DAY}/year=2024", [date(2024, 1, 2), date(2024, 1, 3)])
    frame = tickerbars.bars(["MSFT"], start="2024-01-03", lake=str(tmp_path))
    assert frame.rows() == [("MSFT", date(2024, 1, 3), 11.0)]
    five_minutes = "fct_minute_bars_5m/dataset=us_stocks_sip%2Fminute_aggs_v1/year=2024"
    write_garbage(tmp_path, f"{five_minutes}/month=11")
    stamps = [datetime(2024, 12, 2, 14, 30), datetime(2024, 12, 2, 14, 35)]
    path = tmp_path / five_minutes / "month=12/part-0.parquet"
    path.parent.mkdir(parents=True)
    pl.DataFrame({"ticker": "AAPL", "trade_date": date(2024, 12, 2), "bucket_start": stamps}).write_parquet(path)
    got = tickerbars.bars(["AAPL"], "2024-12-02", "2024-12-02", lake=str(tmp_path), frequency="5min")
    assert got["bucket_start"].to_list() == stamps
    with pytest.raises(pl.exceptions.ComputeError):
        tickerbars.table("fct_daily_bars", lake=str(tmp_path)).collect()  # the whole table opens 2022 too


def test_output_pandas_gives_the_same_bars_as_a_pandas_dataframe(tmp_path):
    write_bars(tmp_path, f"{DAY}/year=2023", [date(2023, 12, 29)])
    write_bars(tmp_path, f"{DAY}/year=2024", [date(2024, 1, 2)])
    polars_frame = tickerbars.bars(lake=str(tmp_path))
    pandas_frame = tickerbars.bars(lake=str(tmp_path), output="pandas")
    assert isinstance(pandas_frame, pd.DataFrame) and list(pandas_frame.columns) == polars_frame.columns
    assert [ts.date() for ts in pandas_frame["trade_date"]] == polars_frame["trade_date"].to_list()
    assert pandas_frame["close"].tolist() == polars_frame["close"].to_list()


def test_a_range_without_partitions_gives_no_rows_with_the_tables_columns(tmp_path):
    write_bars(tmp_path, f"{DAY}/year=2024", [date(2024, 1, 2)])
    frame = tickerbars.bars(["AAPL"], start="2030-01-01", lake=str(tmp_path))
    assert frame.height == 0 and frame.columns == ["ticker", "trade_date", "close"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"frequency": "2min"}, "frequency must be one of day, minute, 5min, 1h, regular_session, not '2min'"),
        ({"output": "arrow"}, "output must be one of polars, pandas, not 'arrow'"),
        ({"adjusted": True, "frequency": "1h"}, r"adjusted=True is for daily bars \(frequency='day'\)"),
        ({"lake": "s3://bucket/lake", "storage_options": {"aws_regoin": "x"}}, "storage_options: unknown aws_regoin"),
    ],
)
def test_bad_arguments_are_one_line_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        tickerbars.bars(["AAPL"], **arguments)


def test_a_table_the_lake_lacks_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no table fct_daily_bars in the lake {tmp_path}"):
        tickerbars.bars(lake=str(tmp_path))


def test_one_ticker_may_be_given_as_a_string(tmp_path):
    """bars("AAPL") gave no rows: the string was read as the tickers "A", "A", "P", "L"."""
    write_bars(tmp_path, f"{DAY}/year=2024", [date(2024, 1, 2)])
    assert tickerbars.bars("MSFT", lake=str(tmp_path)).rows() == [("MSFT", date(2024, 1, 2), 10.0)]
