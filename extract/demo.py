"""A deterministic synthetic mirror in the real key layout and file format, for demos, tests and benchmarks."""

from __future__ import annotations

import gzip
import random
import string
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from extract.calendar import sessions
from extract.parse import HEADER
from extract.sources import day_file_key

NEW_YORK = ZoneInfo("America/New_York")


def window_start_ns(day: date) -> int:
    """Midnight in New York of the session, in epoch nanoseconds, as the real files stamp it."""
    return int(datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


@dataclass(frozen=True)
class DemoSpec:
    start: date
    end: date
    ticker_count: int = 3000
    seed: int = 7
    include_tickers: tuple[str, ...] = ()
    prefix: str = "us_stocks_sip/day_aggs_v1"


@dataclass(frozen=True)
class Written:
    files: int
    rows: int


def _synthetic_tickers(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    tickers: list[str] = []
    while len(tickers) < count:
        ticker = "".join(rng.choices(string.ascii_uppercase, k=rng.choice((1, 2, 3, 3, 4, 4, 4))))
        roll = rng.random()
        if roll < 0.03:
            ticker += rng.choice(("W", "U", "pA", "pD", ".A", ".B"))
        if ticker not in taken:
            taken.add(ticker)
            tickers.append(ticker)
    return tickers


def _fmt_price(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


class _Walk:
    """One ticker's price path: a random walk from a random starting price."""

    def __init__(self, rng: random.Random) -> None:
        self.close = round(rng.lognormvariate(3.3, 1.2), 2) + 0.5
        self.volume_scale = rng.lognormvariate(11, 2)
        self.listed_probability = 0.97 + 0.03 * rng.random()

    def bar(self, rng: random.Random) -> tuple[str, str, str, str, str, str]:
        open_ = max(0.01, self.close * (1 + rng.gauss(0, 0.01)))
        close = max(0.01, open_ * (1 + rng.gauss(0, 0.02)))
        open_, close = round(open_, 4), round(close, 4)
        high = round(max(open_, close) * (1 + abs(rng.gauss(0, 0.01))), 4)
        low = round(max(0.0001, min(open_, close) * (1 - abs(rng.gauss(0, 0.01)))), 4)
        self.close = close
        volume = max(1.0, rng.expovariate(1 / self.volume_scale))
        volume_text = f"{volume:.2f}" if rng.random() < 0.005 else str(int(volume))
        transactions = max(1, int(float(volume_text) / rng.uniform(50, 400)))
        return (
            volume_text,
            _fmt_price(open_),
            _fmt_price(close),
            _fmt_price(high),
            _fmt_price(low),
            str(transactions),
        )


def write_demo_mirror(out_dir: Path, spec: DemoSpec) -> Written:
    """Write one gzip CSV a session under out_dir/<prefix>/YYYY/MM/; the same spec writes the same bytes."""
    rng = random.Random(spec.seed)
    configured = list(dict.fromkeys(spec.include_tickers))
    tickers = sorted(configured + _synthetic_tickers(rng, max(0, spec.ticker_count - len(configured)), set(configured)))
    walks = {ticker: _Walk(rng) for ticker in tickers}
    always = set(configured)
    files = rows = 0
    for day in sessions(spec.start, spec.end):
        lines = [",".join(HEADER)]
        stamp = str(window_start_ns(day))
        for ticker in tickers:
            walk = walks[ticker]
            if ticker not in always and rng.random() > walk.listed_probability:
                continue
            volume, open_, close, high, low, transactions = walk.bar(rng)
            lines.append(f"{ticker},{volume},{open_},{close},{high},{low},{stamp},{transactions}")
        path = Path(out_dir) / day_file_key(spec.prefix, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0 keeps the gzip bytes, and so the ETag, the same on every run.
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6, mtime=0))
        files += 1
        rows += len(lines) - 1
    return Written(files=files, rows=rows)
