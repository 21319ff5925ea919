"""Read the pipeline's Parquet lake where you analyze: never blocked by a load, never half a partition.

    >>> import tickerbars
    >>> tickerbars.bars(["AAPL", "MSFT"], start="2024-01-01", end="2024-06-30", lake="lake")
    >>> tickerbars.bars(["NVDA"], start="2024-06-03", adjusted=True)   # split- and dividend-adjusted
    >>> tickerbars.bars(["AAPL"], start="2024-12-02", end="2024-12-02", frequency="5min")  # from minute bars
    >>> tickerbars.bars(["AAPL"], start="2024-01-01", output="pandas")  # a pandas DataFrame

Each partition file a read needs is opened once (one file handle; one whole GET on s3://) and read from that handle
or those bytes, so a publish replacing the file meanwhile never mixes its footer with another version's data.

The same query in plain polars and DuckDB (both read the lake directly; see the README for what they may see
while a publish replaces a partition):

    pl.scan_parquet("lake/fct_daily_bars/**/*.parquet", hive_partitioning=True).filter(pl.col("ticker") == "AAPL")
    duckdb.sql("select * from read_parquet('lake/fct_daily_bars/**/*.parquet', hive_partitioning = true)")
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import polars as pl

# frequency -> the mart it reads and its time column
FREQUENCIES = {
    "day": ("fct_daily_bars", "trade_date"),
    "minute": ("fct_minute_bars", "bar_start"),
    "5min": ("fct_minute_bars_5m", "bucket_start"),
    "1h": ("fct_minute_bars_1h", "bucket_start"),
    "regular_session": ("fct_minute_bars_daily", "trade_date"),
}
OUTPUTS = ("polars", "pandas")
# storage_options (the names polars takes) -> boto3's client arguments; aws_allow_http: the endpoint's scheme decides
BOTO_OPTIONS = {
    "aws_endpoint_url": "endpoint_url",
    "endpoint_url": "endpoint_url",
    "aws_access_key_id": "aws_access_key_id",
    "aws_secret_access_key": "aws_secret_access_key",
    "aws_session_token": "aws_session_token",
    "aws_region": "region_name",
    "region": "region_name",
}
ADJUSTED_COLUMNS = {
    "split_adjusted_open": "open",
    "split_adjusted_high": "high",
    "split_adjusted_low": "low",
    "split_adjusted_close": "close",
    "split_adjusted_volume": "volume",
}


class _Folder:
    def __init__(self, root: str) -> None:
        self.root, self.location = Path(root), root

    def files(self, name: str) -> list[str]:
        """The table's partition files, as paths below its folder (dataset=.../year=.../part-0.parquet)."""
        folder = self.root / name
        return sorted(path.relative_to(folder).as_posix() for path in folder.glob("**/*.parquet"))

    def open(self, name: str, relative: str) -> pl.LazyFrame | None:
        """The file as it is now, or None when a publish removed it since it was listed. polars reads it through
        this one handle (a replaced file's old version lives on while open), so closing ours after the scan is safe."""
        try:
            with (self.root / name / relative).open("rb") as handle:
                return pl.scan_parquet(handle)
        except FileNotFoundError:
            return None


class _Bucket:
    def __init__(self, location: str, storage_options: dict | None) -> None:
        import boto3

        self.location = location
        self.bucket, _, prefix = location.removeprefix("s3://").partition("/")
        self.prefix = prefix.strip("/")
        self.client = boto3.client("s3", **_boto_arguments(storage_options or {}))

    def _key(self, name: str, relative: str = "") -> str:
        return "/".join(part for part in (self.prefix, name, relative) if part)

    def files(self, name: str) -> list[str]:
        folder = self._key(name) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder)
        keys = (item["Key"].removeprefix(folder) for page in pages for item in page.get("Contents", []))
        return sorted(key for key in keys if key.endswith(".parquet"))

    def open(self, name: str, relative: str) -> pl.LazyFrame | None:
        """One whole GET: every byte of one version of the object (ranged GETs could span two versions)."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(name, relative))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        return pl.scan_parquet(io.BytesIO(body))


def _boto_arguments(storage_options: dict) -> dict:
    unknown = sorted(set(storage_options) - set(BOTO_OPTIONS) - {"aws_allow_http"})
    if unknown:
        raise ValueError(f"storage_options: unknown {', '.join(unknown)} (known: {', '.join(BOTO_OPTIONS)})")
    return {BOTO_OPTIONS[key]: value for key, value in storage_options.items() if key in BOTO_OPTIONS}


def _store(lake: str, storage_options: dict | None) -> _Folder | _Bucket:
    return _Bucket(lake, storage_options) if lake.startswith("s3://") else _Folder(lake.rstrip("/"))


def _partition(relative: str) -> dict[str, str]:
    """The Hive values of a partition's path: {"dataset": ..., "year": "2024", "month": "12"}."""
    return dict(part.split("=", 1) for part in relative.split("/")[:-1] if "=" in part)


def _overlaps(relative: str, start: date | None, end: date | None) -> bool:
    """Whether the partition's year (and month) can hold a date between start and end."""
    values = _partition(relative)
    if "year" not in values:
        return True
    year, month = int(values["year"]), values.get("month")
    first, last = ((year, int(month)), (year, int(month))) if month else ((year, 1), (year, 12))
    return (start is None or last >= (start.year, start.month)) and (end is None or first <= (end.year, end.month))


def _scan(store: _Folder | _Bucket, name: str, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
    """The table's partitions that can hold rows between start and end (at least one, for its columns), each
    opened once now."""
    files = store.files(name)
    wanted = [relative for relative in files if _overlaps(relative, start, end)] or files[:1]
    with ThreadPoolExecutor(8) as pool:  # on S3, the GETs in parallel
        frames = [frame for frame in pool.map(lambda relative: store.open(name, relative), wanted) if frame is not None]
    if not frames:
        raise FileNotFoundError(f"no table {name} in the lake {store.location} (tbp-extract publish writes it)")
    return pl.concat(frames, how="vertical")


def table(name: str, lake: str = "lake", storage_options: dict | None = None) -> pl.LazyFrame:
    """A mart of the lake (fct_daily_bars, dim_instruments, fct_ticker_coverage, ...) as a lazy polars frame of
    its files' own columns: each partition as it was when table() opened it. `.collect().to_pandas()` for pandas."""
    return _scan(_store(lake, storage_options), name)


def bars(
    tickers: str | Iterable[str] | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
    lake: str = "lake",
    adjusted: bool = False,
    storage_options: dict | None = None,
    frequency: str = "day",
    output: str = "polars",
):
    """Bars of `tickers` (one ticker, or several; None: every one) sorted by ticker and time, as a polars DataFrame
    (output="pandas": a pandas one). frequency "day": as traded (fct_daily_bars), or with adjusted=True
    split-adjusted OHLC and volume with the total-return adjusted_close (fct_daily_bars_adjusted); "minute", "5min",
    "1h" and "regular_session" (daily bars of the regular session) come from the minute bars, unadjusted. start and
    end are session dates. Only the partitions (years, months) between start and end are opened, and row groups
    outside the tickers and dates are skipped."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    if adjusted and frequency != "day":
        raise ValueError("adjusted=True is for daily bars (frequency='day')")
    name, time_column = FREQUENCIES[frequency]
    start = None if start is None else date.fromisoformat(str(start))
    end = None if end is None else date.fromisoformat(str(end))
    frame = _scan(_store(lake, storage_options), "fct_daily_bars_adjusted" if adjusted else name, start, end)
    if isinstance(tickers, str):
        tickers = [tickers]
    if tickers is not None:
        frame = frame.filter(pl.col("ticker").is_in(list(tickers)))
    if start is not None:
        frame = frame.filter(pl.col("trade_date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("trade_date") <= end)
    if adjusted:
        frame = frame.select(
            "ticker", "trade_date", *ADJUSTED_COLUMNS, "adjusted_close", "split_factor", "total_return_factor"
        ).rename(ADJUSTED_COLUMNS)
    result = frame.sort("ticker", time_column).collect()
    return result.to_pandas() if output == "pandas" else result
