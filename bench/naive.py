"""The loader a first script would be: one GET per ticker and day, pandas to parse, row-by-row INSERTs."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import psycopg


def naive_load(client, bucket: str, keys_by_day: dict[date, str], tickers: list[str], dsn: str) -> int:
    """Load the given days for the given tickers; return the rows inserted."""
    inserted = 0
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "create table if not exists naive_daily_bars (ticker text, trade_date date, open double precision, "
            "high double precision, low double precision, close double precision, volume double precision, "
            "transactions bigint, primary key (ticker, trade_date))"
        )
        conn.commit()
        for day, key in sorted(keys_by_day.items()):
            for ticker in tickers:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                frame = pd.read_csv(io.BytesIO(body), compression="gzip")
                for row in frame[frame["ticker"] == ticker].itertuples(index=False):
                    conn.execute(
                        "insert into naive_daily_bars values (%s, %s, %s, %s, %s, %s, %s, %s) "
                        "on conflict (ticker, trade_date) do update set close = excluded.close",
                        [
                            row.ticker,
                            day,
                            row.open,
                            row.high,
                            row.low,
                            row.close,
                            float(row.volume),
                            int(row.transactions),
                        ],
                    )
                    conn.commit()
                    inserted += 1
    return inserted
