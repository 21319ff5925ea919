"""The provider's reference endpoints on a loopback HTTP server (pytest-httpserver), answering as the REST API does:
the key required in the Authorization header, the list endpoints filtered by ticker and by date ranges
(`execution_date.gte`, ...) and paged through next_url cursors, the ticker endpoints one object each."""

from __future__ import annotations

import base64
import json
import operator
import re
from dataclasses import dataclass, field

from werkzeug import Request, Response

# The list endpoints and the date each one's ranges and default order (newest first) are on.
LIST_DATES = {"/stocks/v1/splits": "execution_date", "/stocks/v1/dividends": "ex_dividend_date"}
RANGES = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}
OVERVIEW = re.compile(r"/v3/reference/tickers/(?P<ticker>[^/]+)")
EVENTS = re.compile(r"/vX/reference/tickers/(?P<ticker>[^/]+)/events")


@dataclass
class ProviderApi:
    """Records by endpoint, served to the holder of `key` (a ticker without an overview or events of its own has a
    bare overview and no events); `asked` keeps each request's path and query."""

    key: str
    page_size: int = 2  # below the client's limit, as the provider caps its pages: every list pages
    splits: list[dict] = field(default_factory=list)
    dividends: list[dict] = field(default_factory=list)
    overviews: dict[str, dict] = field(default_factory=dict)
    events: dict[str, dict] = field(default_factory=dict)
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def serve(self, httpserver) -> dict[str, str]:
        """Answer every request to httpserver; the settings that point a configuration at it."""
        httpserver.expect_request(re.compile("/.*")).respond_with_handler(self.answer)
        return {"POLYGON_API_BASE_URL": httpserver.url_for("/").rstrip("/"), "POLYGON_API_KEY": self.key}

    def asked_for(self, path: str, ticker: str) -> list[dict[str, str]]:
        """The queries of the first pages asked of a list endpoint for one ticker."""
        return [query for asked, query in self.asked if asked == path and query.get("ticker") == ticker]

    def answer(self, request: Request) -> Response:
        self.asked.append((request.path, dict(request.args)))
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return _json({"status": "NOT_AUTHORIZED", "message": "Unknown API Key"}, 401)
        if request.path in LIST_DATES:
            return self._list(request)
        if events := EVENTS.fullmatch(request.path):
            return _json(_ok(self.events.get(events["ticker"], {"events": []})))
        if overview := OVERVIEW.fullmatch(request.path):
            return _json(_ok(self.overviews.get(overview["ticker"], {"ticker": overview["ticker"]})))
        return _json({"status": "NOT_FOUND", "message": "not found"}, 404)

    def _list(self, request: Request) -> Response:
        query = dict(request.args)
        if "cursor" in query:
            query = json.loads(base64.urlsafe_b64decode(query["cursor"]))
        offset = int(query.pop("offset", 0))
        day = LIST_DATES[request.path]
        records = self.splits if day == "execution_date" else self.dividends
        matching = sorted((r for r in records if _matches(r, query, day)), key=lambda r: r[day], reverse=True)
        size = min(int(query.get("limit", 100)), self.page_size)
        body = _ok(matching[offset : offset + size])
        if offset + size < len(matching):
            cursor = base64.urlsafe_b64encode(json.dumps({**query, "offset": offset + size}).encode()).decode()
            body["next_url"] = f"{request.host_url.rstrip('/')}{request.path}?cursor={cursor}"
        return _json(body)


def _matches(record: dict, query: dict[str, str], day: str) -> bool:
    if "ticker" in query and record["ticker"] != query["ticker"]:
        return False
    return all(
        compare(record[day], query[f"{day}.{name}"]) for name, compare in RANGES.items() if f"{day}.{name}" in query
    )


def _ok(results) -> dict:
    return {"status": "OK", "request_id": "r", "results": results}


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
