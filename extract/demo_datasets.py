"""The demo mirror's other datasets: minute files consistent with the day files, and day files of indices, crypto,
forex and options in their own layouts (deterministic, like the stock day files)."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from extract.calendar import session_bounds, trading_days
from extract.datasets import registry
from extract.sources import day_file_key

MINUTE_DATASET = "us_stocks_sip/minute_aggs_v1"
NS = 1_000_000_000
EXTENDED_OPEN_HOURS, EXTENDED_CLOSE_HOURS = 5.5, 4.0  # 04:00-09:30 and 16:00-20:00 New York
# A day bar as the day file spells it: open, high, low, close, volume, transactions.
DayBar = tuple[str, str, str, str, str, str]
# Tickers of the other asset classes, with a starting price.
DEMO_INDICES = {"I:SPX": 4700.0, "I:NDX": 16800.0, "I:VIX": 14.0}
DEMO_CRYPTO = {"X:BTCUSD": 42000.0, "X:ETHUSD": 2300.0}
DEMO_FOREX = {"C:EURUSD": 1.09, "C:USDJPY": 145.0}
DEMO_OPTION_UNDERLYINGS = ("SPY", "AAPL")


def write_gzip_csv(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes, and so the ETag, the same on every run.
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6, mtime=0))


def _price(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _split(total: float, parts: int, rng: random.Random) -> list[float]:
    """total in `parts` whole shares (the remainder, fractional too, in the last), a U-shaped day."""
    weights = [1.0 + 2.0 * abs(i / max(1, parts - 1) - 0.5) * rng.random() for i in range(parts)]
    scale = int(total) / sum(weights)
    shares = [int(w * scale) for w in weights]
    shares[-1] += total - sum(shares)
    return shares


def minute_bars(day: date, bar: DayBar, rng: random.Random) -> list[tuple[int, str, str, str, str, str, str]]:
    """The day's minute bars (window_start ns, open, high, low, close, volume, transactions): the regular session's
    roll up exactly to the day bar (first open, highest high, lowest low, last close, summed volume and
    transactions); a few extended-hours bars trade inside the day's range and are not part of it."""
    open_, high, low, close = (float(v) for v in bar[:4])
    volume, transactions = float(bar[4]), int(bar[5])
    opens_at, closes_at = session_bounds(day)
    minutes = int((closes_at - opens_at).total_seconds() // 60)
    path = [open_ + (close - open_) * (i + 1) / minutes + rng.gauss(0, (high - low) / 12) for i in range(minutes)]
    closes = [min(high, max(low, round(p, 4))) for p in path[:-1]] + [close]
    opens = [open_, *closes[:-1]]
    highs = [max(o, c) for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) for o, c in zip(opens, closes, strict=True)]
    highs[rng.randrange(minutes)], lows[rng.randrange(minutes)] = high, low
    volumes = _split(volume, minutes, rng)
    trades = [max(1, int(t)) for t in _split(float(transactions), minutes, rng)]
    trades[-1] = transactions - sum(trades[:-1])
    stamp = int(opens_at.timestamp()) * NS
    regular = [
        (
            stamp + i * 60 * NS,
            _price(opens[i]),
            _price(highs[i]),
            _price(lows[i]),
            _price(closes[i]),
            _volume(volumes[i]),
            str(trades[i]),
        )
        for i in range(minutes)
    ]
    return (
        _extended(opens_at, closes_at, low, high, rng, before=True)
        + regular
        + _extended(opens_at, closes_at, low, high, rng, before=False)
    )


def _volume(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}"


def _extended(opens_at, closes_at, low: float, high: float, rng: random.Random, before: bool) -> list[tuple]:
    hours = EXTENDED_OPEN_HOURS if before else EXTENDED_CLOSE_HOURS
    first = opens_at - timedelta(hours=hours) if before else closes_at
    picked = sorted(rng.sample(range(int(hours * 60)), 12))
    bars = []
    for minute in picked:
        a, b = (round(rng.uniform(low, high), 4) for _ in range(2))
        stamp = int((first + timedelta(minutes=minute)).timestamp()) * NS
        bars.append((stamp, _price(a), _price(max(a, b)), _price(min(a, b)), _price(b), str(rng.randint(1, 900)), "3"))
    return bars


def write_minute_files(out_dir: Path, day_bars: dict[date, dict[str, DayBar]], seed: int) -> int:
    """One minute file a session, for the tickers whose day bars are given."""
    columns = registry()[MINUTE_DATASET].columns
    rng = random.Random(seed)
    for day, bars in sorted(day_bars.items()):
        lines = [",".join(columns)]
        for ticker, bar in sorted(bars.items()):
            for stamp, open_, high, low, close, volume, trades in minute_bars(day, bar, rng):
                lines.append(f"{ticker},{volume},{open_},{close},{high},{low},{stamp},{trades}")
        write_gzip_csv(out_dir / day_file_key(MINUTE_DATASET, day), lines)
    return len(day_bars)


def _midnight_ns(day: date, zone: str) -> int:
    from zoneinfo import ZoneInfo

    tz = UTC if zone == "UTC" else ZoneInfo(zone)
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()) * NS


def _walk_bar(level: float, rng: random.Random, volatility: float) -> tuple[float, tuple[float, float, float, float]]:
    open_ = level * (1 + rng.gauss(0, volatility / 3))
    close = open_ * (1 + rng.gauss(0, volatility))
    high = max(open_, close) * (1 + abs(rng.gauss(0, volatility / 2)))
    low = min(open_, close) * (1 - abs(rng.gauss(0, volatility / 2)))
    return close, (open_, close, high, low)


def write_asset_day_files(out_dir: Path, start: date, end: date, seed: int) -> int:
    """Day files of the index, crypto, forex and options datasets over [start, end], each on its own calendar."""
    rng, files = random.Random(seed), 0
    for name, prices, volatility in (
        ("us_indices/day_aggs_v1", DEMO_INDICES, 0.01),
        ("global_crypto/day_aggs_v1", DEMO_CRYPTO, 0.03),
        ("global_forex/day_aggs_v1", DEMO_FOREX, 0.004),
        ("us_options_opra/day_aggs_v1", _option_contracts(end), 0.08),
    ):
        dataset = registry()[name]
        levels = dict(prices)
        for day in trading_days(dataset.calendar, start, end):
            lines = [",".join(dataset.columns)]
            stamp = _midnight_ns(day, dataset.timezone)
            for ticker in sorted(levels):
                levels[ticker], (open_, close, high, low) = _walk_bar(levels[ticker], rng, volatility)
                values = {
                    "ticker": ticker,
                    "volume": str(rng.randint(1, 50_000)),
                    "open": _price(open_),
                    "close": _price(close),
                    "high": _price(high),
                    "low": _price(low),
                    "window_start": str(stamp),
                    "transactions": str(rng.randint(1, 5_000)),
                }
                lines.append(",".join(values[column] for column in dataset.columns))
            write_gzip_csv(out_dir / day_file_key(name, day), lines)
            files += 1
    return files


def _option_contracts(last_day: date) -> dict[str, float]:
    """A call and a put on each underlying, expiring the first Friday a month after the range (O:SPY250110C00480000)."""
    expiry = last_day + timedelta(days=30)
    expiry += timedelta(days=(4 - expiry.weekday()) % 7)  # a Friday
    contracts = {}
    for underlying, strike in zip(DEMO_OPTION_UNDERLYINGS, (480, 190), strict=True):
        for kind, premium in (("C", 9.0), ("P", 7.5)):
            contracts[f"O:{underlying}{expiry:%y%m%d}{kind}{strike * 1000:08d}"] = premium
    return contracts
