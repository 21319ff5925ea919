"""`tbp-extract reference`: splits, dividends, ticker overviews and ticker events of the configured instruments,
from the provider's REST API (or a folder of its pages), landed raw with lineage, one transaction a dataset fetch.

Corporate actions are announced ahead and corrected later, so every run fetches again, for each ticker, the window
from lookback_days before its newest fetch on (the future included), and the whole history of a ticker never
fetched before. dbt decides which records
count: those of the newest fetch whose window covers their date.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from extract.config import Config
from extract.datasets import ASSET_PREFIX
from extract.errors import NotAuthorizedError, PipelineError
from extract.land.common import Warehouse
from extract.rest import ReferenceApi, make_reference_api

log = logging.getLogger("extract")


@dataclass(frozen=True)
class Endpoint:
    dataset: str
    path: str
    date_param: str | None = None  # list endpoints: the event date a lookback window filters on

    def request(self, ticker: str, since: date | None) -> tuple[str, dict[str, str]]:
        if "{ticker}" in self.path:
            return self.path.format(ticker=ticker), {}
        params = {"ticker": ticker, "limit": "1000"}
        if since is not None and self.date_param:
            params[f"{self.date_param}.gte"] = since.isoformat()
        return self.path, params


OVERVIEW = Endpoint("ticker_overview", "/v3/reference/tickers/{ticker}")
ENDPOINTS = (
    Endpoint("splits", "/stocks/v1/splits", "execution_date"),
    Endpoint("dividends", "/stocks/v1/dividends", "ex_dividend_date"),
    OVERVIEW,
    Endpoint("ticker_events", "/vX/reference/tickers/{ticker}/events"),  # last: it names the earlier tickers
)
LIST_ENDPOINTS = ENDPOINTS[:2]  # splits and dividends, the datasets asked by ticker


def endpoints_of(ticker: str) -> tuple[Endpoint, ...]:
    """What the provider holds for a ticker. Splits, dividends and ticker events are a stock's (the /stocks/
    endpoints; an index, a currency pair or a contract has none), and an option contract has no ticker overview:
    asking for them anyway fails or finds nothing, for each such instrument on every run."""
    if ticker.startswith("O:"):
        return ()
    return (OVERVIEW,) if ASSET_PREFIX.match(ticker) else ENDPOINTS


@dataclass(frozen=True)
class ReferenceFetch:
    """One dataset fetched for one ticker: its pages' records land together with this row."""

    fetch_id: int
    dataset: str
    ticker: str
    request: str
    window_start: date | None  # None: the whole history
    pages: int
    records: list[tuple[int, str]]  # (page, the record as the API wrote it)
    fetched_at: datetime
    run_id: str

    def row(self) -> list:
        return [
            self.fetch_id,
            self.dataset,
            self.ticker,
            self.request,
            self.window_start,
            self.pages,
            len(self.records),
            self.fetched_at,
            self.run_id,
        ]


@dataclass
class ReferenceSummary:
    run_id: str
    source: str
    fetches: int = 0
    records: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        lines = [
            f"reference run {self.run_id} from {self.source}: {self.fetches} fetches, {self.records} records, "
            f"failed {len(self.failed)}"
        ]
        return lines + [f"FAILED {what}: {why}" for what, why in sorted(self.failed.items())]


def page_records(body: dict) -> list[dict]:
    """A page's records: each element of `results`, or `results` itself for the single-object endpoints."""
    results = body.get("results")
    if isinstance(results, list):
        return [r for r in results if isinstance(r, dict)]
    return [results] if isinstance(results, dict) else []


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_reference(
    cfg: Config, api: ReferenceApi | None = None, clock: Callable[[], datetime] = utc_now
) -> ReferenceSummary:
    """Every dataset the provider holds for each configured ticker (endpoints_of), then the splits and dividends of
    its earlier tickers (their overview and events would describe whoever holds the ticker now)."""
    from extract.run import open_warehouse

    api = api or make_reference_api(cfg.api.source, cfg.api.base_url, cfg.api.key)
    summary = ReferenceSummary(f"{clock():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", api.description)
    with open_warehouse(cfg) as warehouse:
        warehouse.ensure_schema()
        fetcher = Fetcher(api, warehouse, summary, clock, cfg.api.lookback_days)
        for instrument in cfg.instruments:
            fetched = {e.dataset: fetcher.fetch(e, instrument.ticker) for e in endpoints_of(instrument.ticker)}
            events = fetched.get("ticker_events")
            for ticker in instrument.earlier_tickers([record for _page, record in events.records] if events else []):
                for endpoint in (e for e in LIST_ENDPOINTS if e in endpoints_of(ticker)):
                    fetcher.fetch(endpoint, ticker)
    return summary


class Fetcher:
    """Fetches one dataset of one ticker and lands it, at most once a run; a failure is the summary's."""

    def __init__(
        self,
        api: ReferenceApi,
        warehouse: Warehouse,
        summary: ReferenceSummary,
        clock: Callable[[], datetime],
        lookback_days: int,
    ) -> None:
        self.api, self.warehouse, self.summary, self.clock = api, warehouse, summary, clock
        self.lookback_days = lookback_days
        self.fetched_whole = warehouse.reference_fetched_whole()
        self.fetch_id = warehouse.last_reference_fetch_id()
        self.done: set[tuple[str, str]] = set()

    def fetch(self, endpoint: Endpoint, ticker: str) -> ReferenceFetch | None:
        if (endpoint.dataset, ticker) in self.done:
            return None
        self.done.add((endpoint.dataset, ticker))
        since = _window_start(endpoint, self.fetched_whole.get((endpoint.dataset, ticker)), self.lookback_days)
        try:
            fetch = _fetch(self.api, endpoint, ticker, since, self.fetch_id + 1, self.summary.run_id, self.clock)
        except NotAuthorizedError:
            raise
        except PipelineError as exc:
            self.summary.failed[f"{endpoint.dataset} {ticker}"] = str(exc)
            log.error("%s %s: %s", endpoint.dataset, ticker, exc)
            return None
        self.warehouse.land_reference(fetch)
        self.fetch_id += 1
        self.summary.fetches += 1
        self.summary.records += len(fetch.records)
        log.info("%s %s: %d records in %d pages", endpoint.dataset, ticker, len(fetch.records), fetch.pages)
        return fetch


def _window_start(endpoint: Endpoint, newest_fetch: date | None, lookback_days: int) -> date | None:
    """None (the whole history) for a ticker never fetched whole, else lookback_days before its newest fetch: a
    ticker left out of the configuration (or reference runs stopped) for a while gets what happened meanwhile."""
    if endpoint.date_param is None or newest_fetch is None:
        return None
    return newest_fetch - timedelta(days=lookback_days)


def _fetch(
    api: ReferenceApi,
    endpoint: Endpoint,
    ticker: str,
    since: date | None,
    fetch_id: int,
    run_id: str,
    clock: Callable[[], datetime],
) -> ReferenceFetch:
    path, params = endpoint.request(ticker, since)
    records, request, pages = [], "", 0
    for page in api.pages(path, params):
        request = request or page.request
        pages = page.number
        records += [(page.number, json.dumps(record, sort_keys=True)) for record in page_records(page.body)]
    return ReferenceFetch(fetch_id, endpoint.dataset, ticker, request or path, since, pages, records, clock(), run_id)
