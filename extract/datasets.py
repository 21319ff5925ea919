"""The dataset registry: what each of the provider's flat-file datasets looks like (extract/datasets.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from extract.errors import ConfigError

REGISTRY_FILE = Path(__file__).with_name("datasets.yml")
DEFAULT_DATASET = "us_stocks_sip/day_aggs_v1"
LANDING_TABLES = ("day_aggs", "minute_aggs")
CALENDARS = ("XNYS", "every_day", "sunday_to_friday")
LAND_SCOPES = ("all", "configured")
CACHE_POLICIES = ("keep", "drop_after_landing")
# Asset-class prefixes of the provider's tickers (I:SPX, X:BTCUSD, C:EURUSD, O:SPY251219C00650000); stocks have none.
ASSET_PREFIX = re.compile(r"^[A-Z]:")
FIELDS = {"columns", "landing_table", "calendar", "timezone", "ticker_prefix", "land_scope", "cache"}


@dataclass(frozen=True)
class Dataset:
    """One flat-file dataset: its key prefix (the name), its file's columns and where and how its rows land."""

    name: str
    columns: tuple[str, ...]
    landing_table: str
    calendar: str
    timezone: str
    ticker_prefix: str
    land_scope: str
    cache: str

    def owns_ticker(self, ticker: str) -> bool:
        """Whether a configured ticker belongs to this dataset (by its asset-class prefix)."""
        if self.ticker_prefix:
            return ticker.startswith(self.ticker_prefix)
        return not ASSET_PREFIX.match(ticker)


def _choice(entry: dict[str, Any], where: str, key: str, allowed: tuple[str, ...]) -> str:
    value = str(entry.get(key, ""))
    if value not in allowed:
        raise ConfigError(f"{where}: '{key}' must be one of {', '.join(allowed)}, not '{value}'")
    return value


def _dataset(name: str, entry: dict[str, Any], where: str) -> Dataset:
    from extract.parse import COLUMN_TYPES

    unknown = set(entry) - FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} (valid: {', '.join(sorted(FIELDS))})")
    columns = tuple(entry.get("columns") or ())
    if not {"ticker", "open", "close", "high", "low", "window_start"} <= set(columns) <= set(COLUMN_TYPES):
        raise ConfigError(
            f"{where}: 'columns' must name ticker, open, close, high, low and window_start, "
            f"drawn from {', '.join(COLUMN_TYPES)}"
        )
    return Dataset(
        name=name,
        columns=columns,
        landing_table=_choice(entry, where, "landing_table", LANDING_TABLES),
        calendar=_choice(entry, where, "calendar", CALENDARS),
        timezone=str(entry.get("timezone") or "America/New_York"),
        ticker_prefix=str(entry.get("ticker_prefix") or ""),
        land_scope=_choice(entry, where, "land_scope", LAND_SCOPES),
        cache=_choice(entry, where, "cache", CACHE_POLICIES),
    )


@cache
def registry() -> dict[str, Dataset]:
    data = yaml.safe_load(REGISTRY_FILE.read_text()) or {}
    return {name: _dataset(name, entry, f"{REGISTRY_FILE.name}: {name}") for name, entry in data["datasets"].items()}


def chosen_dataset(entry: Any, where: str) -> Dataset:
    """One entry of pipeline.yml's `datasets`: a registry name, or {name, land_scope, cache} overriding its defaults."""
    overrides = dict(entry) if isinstance(entry, dict) else {"name": entry}
    name = str(overrides.pop("name", "")).strip("/")
    known = registry()
    if name not in known:
        raise ConfigError(f"{where}: unknown dataset '{name}' (known: {', '.join(known)})")
    unknown = set(overrides) - {"land_scope", "cache"}
    if unknown:
        raise ConfigError(f"{where}: unknown key '{sorted(unknown)[0]}' (a dataset takes name, land_scope, cache)")
    dataset = known[name]
    return replace(
        dataset,
        land_scope=_choice({"land_scope": dataset.land_scope, **overrides}, where, "land_scope", LAND_SCOPES),
        cache=_choice({"cache": dataset.cache, **overrides}, where, "cache", CACHE_POLICIES),
    )
