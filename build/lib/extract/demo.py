"""A deterministic synthetic mirror in the real key layout and file format, for demos, tests and benchmarks."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
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


# Corporate actions of configured tickers, applied to their prices and written as reference pages.
DEMO_SPLITS = {("NVDA", date(2024, 6, 10)): (1, 10)}  # the real 10-for-1 split
# Quarterly cash dividends as a share of the price; ex-date the first session from the 15th of the month.
DEMO_DIVIDEND_YIELDS = {"SPY": 0.0035, "AAPL": 0.0013, "JNJ": 0.0075}
DIVIDEND_MONTHS = (3, 6, 9, 12)


@dataclass
class _Actions:
    """What happened to the configured tickers' prices, for the reference pages."""

    splits: list[dict] = field(default_factory=list)
    dividends: list[dict] = field(default_factory=list)


def _apply_actions(day: date, walks: dict[str, _Walk], due: set[tuple[str, int, int]], actions: _Actions) -> None:
    for (ticker, split_day), (split_from, split_to) in DEMO_SPLITS.items():
        if split_day == day and ticker in walks:
            walks[ticker].close *= split_from / split_to
            walks[ticker].volume_scale *= split_to / split_from
            actions.splits.append(
                {"ticker": ticker, "execution_date": day, "split_from": split_from, "split_to": split_to}
            )
    for ticker, quarterly_yield in DEMO_DIVIDEND_YIELDS.items():
        key = (ticker, day.year, day.month)
        if ticker in walks and day.month in DIVIDEND_MONTHS and day.day >= 15 and key not in due:
            due.add(key)
            close_before = walks[ticker].close
            cash = max(0.01, round(close_before * quarterly_yield, 2))
            walks[ticker].close = close_before - cash
            actions.dividends.append(
                {"ticker": ticker, "ex_dividend_date": day, "cash_amount": cash, "close_before": close_before}
            )


def write_demo_mirror(out_dir: Path, spec: DemoSpec) -> Written:
    """Write one gzip CSV a session under out_dir/<prefix>/YYYY/MM/, and the configured tickers' reference pages
    under out_dir/reference/ (consistent with the prices); the same spec writes the same bytes."""
    rng = random.Random(spec.seed)
    configured = list(dict.fromkeys(spec.include_tickers))
    tickers = sorted(configured + _synthetic_tickers(rng, max(0, spec.ticker_count - len(configured)), set(configured)))
    walks = {ticker: _Walk(rng) for ticker in tickers}
    always = set(configured)
    files = rows = 0
    actions, dividends_due = _Actions(), set()
    for day in sessions(spec.start, spec.end):
        _apply_actions(day, {t: walks[t] for t in configured}, dividends_due, actions)
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
    if configured:
        write_reference_pages(Path(out_dir) / "reference", configured, actions)
    return Written(files=files, rows=rows)


def _page(results) -> str:
    return json.dumps({"status": "OK", "request_id": "demo", "results": results}, indent=1, default=str)


def _compounded(factors: list[float]) -> list[float]:
    """Each event's factor times every later one's: the provider's historical_adjustment_factor."""
    out, running = [], 1.0
    for factor in reversed(factors):
        running *= factor
        out.append(round(running, 10))
    return out[::-1]


def write_reference_pages(root: Path, tickers: list[str], actions: _Actions) -> None:
    """The REST API's pages for each ticker, in its own response format (see extract.rest.PageFolder)."""
    for ticker in tickers:
        splits = [s for s in actions.splits if s["ticker"] == ticker]
        split_factors = _compounded([s["split_from"] / s["split_to"] for s in splits])
        dividends = [d for d in actions.dividends if d["ticker"] == ticker]
        dividend_factors = _compounded([1 - d["cash_amount"] / d["close_before"] for d in dividends])
        figi = "BBG" + hashlib.sha1(ticker.encode()).hexdigest()[:9].upper()
        pages = {
            f"stocks/v1/splits/{ticker}.json": [
                {
                    "id": f"S{ticker}{s['execution_date']:%Y%m%d}",
                    **s,
                    "adjustment_type": "forward_split" if s["split_to"] > s["split_from"] else "reverse_split",
                    "historical_adjustment_factor": factor,
                }
                for s, factor in zip(splits, split_factors, strict=True)
            ],
            f"stocks/v1/dividends/{ticker}.json": [
                {
                    "id": f"D{ticker}{d['ex_dividend_date']:%Y%m%d}",
                    "ticker": ticker,
                    "ex_dividend_date": d["ex_dividend_date"],
                    "pay_date": d["ex_dividend_date"] + timedelta(days=14),
                    "cash_amount": d["cash_amount"],
                    "currency": "USD",
                    "frequency": 4,
                    "distribution_type": "recurring",
                    "historical_adjustment_factor": factor,
                }
                for d, factor in zip(dividends, dividend_factors, strict=True)
            ],
            f"v3/reference/tickers/{ticker}.json": {
                "ticker": ticker,
                "name": f"{ticker} (demo)",
                "type": "ETF" if ticker in ("SPY", "QQQ") else "CS",
                "primary_exchange": "XNAS",
                "composite_figi": figi,
                "share_class_figi": figi[:-1] + "S",
                "list_date": "2000-01-03",
                "active": True,
            },
            f"vX/reference/tickers/{ticker}/events.json": {
                "name": f"{ticker} (demo)",
                "composite_figi": figi,
                "events": [{"type": "ticker_change", "date": "2000-01-03", "ticker_change": {"ticker": ticker}}],
            },
        }
        for name, results in pages.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_page(results))
