"""Read the pipeline's Parquet lake where you analyze: never blocked by a load, never half a partition.

    >>> import tickerbars
    >>> tickerbars.bars(["AAPL", "MSFT"], start="2024-01-01", end="2024-06-30", lake="lake")

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


def bars(
    tickers: Iterable[str] | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
    lake: str = "lake",
    storage_options: dict | None = None,
) -> pl.DataFrame:
    """Daily bars of fct_daily_bars, sorted by ticker and date. Filters reach the scan: only the years between
    start and end are opened, and row groups outside the tickers and dates are skipped."""
    frame = table("fct_daily_bars", lake, storage_options)
    if tickers is not None:
        frame = frame.filter(pl.col("ticker").is_in(list(tickers)))
    if start is not None:
        start = date.fromisoformat(str(start))
        frame = frame.filter((pl.col("year") >= start.year) & (pl.col("trade_date") >= start))
    if end is not None:
        end = date.fromisoformat(str(end))
        frame = frame.filter((pl.col("year") <= end.year) & (pl.col("trade_date") <= end))
    return frame.drop(PARTITION_COLUMNS).sort("ticker", "trade_date").collect()
