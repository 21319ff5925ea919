"""Read the pipeline's Parquet lake where you analyze: never blocked by a load, never half a partition.

    >>> import tickerbars
    >>> tickerbars.bars(["AAPL", "MSFT"], start="2024-01-01", end="2024-06-30", lake="lake")
    >>> tickerbars.bars(["NVDA"], start="2024-06-03", adjusted=True)   # split- and dividend-adjusted

The same query in plain polars and DuckDB (both read the lake directly):

    pl.scan_parquet("lake/fct_daily_bars/**/*.parquet", hive_partitioning=True).filter(pl.col("ticker") == "AAPL")
    duckdb.sql("select * from read_parquet('lake/fct_daily_bars/**/*.parquet', hive_partitioning = true)")
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import polars as pl

PARTITION_COLUMNS = ("dataset", "year")


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
) -> pl.DataFrame:
    """Daily bars, sorted by ticker and date: as traded (fct_daily_bars), or with adjusted=True split-adjusted OHLC
    and volume with the total-return adjusted_close (fct_daily_bars_adjusted). Filters reach the scan: only the
    years between start and end are opened, and row groups outside the tickers and dates are skipped."""
    frame = table("fct_daily_bars_adjusted" if adjusted else "fct_daily_bars", lake, storage_options)
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
        frame = frame.drop(PARTITION_COLUMNS)
    return frame.sort("ticker", "trade_date").collect()
