"""Read the pipeline's Parquet lake where you analyze: never blocked by a load, never half a partition.

    >>> import tickerbars
    >>> tickerbars.bars(["AAPL", "MSFT"], start="2024-01-01", end="2024-06-30", lake="lake")
    >>> tickerbars.bars(["NVDA"], start="2024-06-03", adjusted=True)   # split- and dividend-adjusted
    >>> tickerbars.bars(["AAPL"], start="2024-12-02", end="2024-12-02", frequency="5min")  # from minute bars

The same query in plain polars and DuckDB (both read the lake directly):

    pl.scan_parquet("lake/fct_daily_bars/**/*.parquet", hive_partitioning=True).filter(pl.col("ticker") == "AAPL")
    duckdb.sql("select * from read_parquet('lake/fct_daily_bars/**/*.parquet', hive_partitioning = true)")
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import polars as pl

PARTITION_COLUMNS = ("dataset", "year", "month")
# frequency -> the mart it reads and its time column
FREQUENCIES = {
    "day": ("fct_daily_bars", "trade_date"),
    "minute": ("fct_minute_bars", "bar_start"),
    "5min": ("fct_minute_bars_5m", "bucket_start"),
    "1h": ("fct_minute_bars_1h", "bucket_start"),
    "regular_session": ("fct_minute_bars_daily", "trade_date"),
}


def table(name: str, lake: str = "lake", storage_options: dict | None = None) -> pl.LazyFrame:
    """A mart of the lake (fct_daily_bars, dim_instruments, fct_ticker_coverage) as a lazy polars frame."""
    return pl.scan_parquet(
        f"{lake.rstrip('/')}/{name}/**/*.parquet",
        hive_partitioning=True,
        storage_options=storage_options,
    )


ADJUSTED_COLUMNS = {
    "split_adjusted_open": "open",
    "split_adjusted_high": "high",
    "split_adjusted_low": "low",
    "split_adjusted_close": "close",
    "split_adjusted_volume": "volume",
}


def bars(
    tickers: Iterable[str] | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
    lake: str = "lake",
    adjusted: bool = False,
    storage_options: dict | None = None,
    frequency: str = "day",
) -> pl.DataFrame:
    """Bars sorted by ticker and time. frequency "day": as traded (fct_daily_bars), or with adjusted=True
    split-adjusted OHLC and volume with the total-return adjusted_close (fct_daily_bars_adjusted); "minute",
    "5min", "1h" and "regular_session" (daily bars of the regular session) come from the minute bars, unadjusted.
    start and end are session dates. Filters reach the scan: only the years between start and end are opened, and
    row groups outside the tickers and dates are skipped."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    if adjusted and frequency != "day":
        raise ValueError("adjusted=True is for daily bars (frequency='day')")
    name, time_column = FREQUENCIES[frequency]
    frame = table("fct_daily_bars_adjusted" if adjusted else name, lake, storage_options)
    if tickers is not None:
        frame = frame.filter(pl.col("ticker").is_in(list(tickers)))
    if start is not None:
        start = date.fromisoformat(str(start))
        frame = frame.filter((pl.col("year") >= start.year) & (pl.col("trade_date") >= start))
    if end is not None:
        end = date.fromisoformat(str(end))
        frame = frame.filter((pl.col("year") <= end.year) & (pl.col("trade_date") <= end))
    if adjusted:
        frame = frame.select(
            "ticker", "trade_date", *ADJUSTED_COLUMNS, "adjusted_close", "split_factor", "total_return_factor"
        ).rename(ADJUSTED_COLUMNS)
    else:
        frame = frame.drop([c for c in PARTITION_COLUMNS if c in frame.collect_schema().names()])
    return frame.sort("ticker", time_column).collect()
