"""The provider's REST API, page by page: the API itself (httpx, the key in a header) or a local folder of pages
in the API's own response format (what `demo-data` writes, or a mirror of earlier responses)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from extract.config import Secret
from extract.errors import ConfigError, NotAuthorizedError, SourceError

log = logging.getLogger("extract")
# Query parameters that may carry a credential: never logged, never landed.
SECRET_PARAMS = {"apikey", "api_key", "token"}


@dataclass(frozen=True)
class Page:
    request: str  # the URL asked for, without credentials
    number: int
    body: dict


class ReferenceApi(Protocol):
    description: str

    def pages(self, path: str, params: dict[str, str]) -> Iterator[Page]: ...


def without_secrets(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))


class RestApi:
    """GET with the key in the Authorization header; next_url followed page by page; 429 waits Retry-After, 5xx and
    dropped connections back off, both up to max_attempts; 401/403 name the endpoint and never the key."""

    def __init__(self, base_url: str, api_key: Secret, max_attempts: int = 6, timeout_seconds: float = 30) -> None:
        if not api_key:
            raise ConfigError(
                "POLYGON_API_KEY must be set to fetch reference data (or set TBP_REFERENCE_SOURCE to a folder of pages)"
            )
        self.base_url = base_url.rstrip("/")
        self.description = f"REST API {without_secrets(self.base_url)}"
        self.max_attempts = max_attempts
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {api_key.get()}", "Accept": "application/json"},
            timeout=timeout_seconds,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def pages(self, path: str, params: dict[str, str]) -> Iterator[Page]:
        url = f"{self.base_url}{path}?{urlencode(params)}" if params else f"{self.base_url}{path}"
        number = 1
        while url:
            body = self._get_json(url)
            yield Page(without_secrets(url), number, body)
            # next_url carries the cursor (and may echo a key back: the header carries ours)
            next_url = body.get("next_url")
            url = without_secrets(next_url) if isinstance(next_url, str) and next_url else None
            number += 1

    def _get_json(self, url: str) -> dict:
        shown = without_secrets(url)
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._client.get(url)
            except httpx.TransportError as exc:
                if attempt == self.max_attempts:
                    raise SourceError(f"{shown}: {type(exc).__name__} after {attempt} attempts") from None
                _pause(attempt)
                continue
            if response.status_code in (401, 403):
                raise NotAuthorizedError(
                    f"{shown}: {response.status_code} not authorized; check POLYGON_API_KEY and that your plan "
                    "covers this endpoint"
                )
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == self.max_attempts:
                    raise SourceError(f"{shown}: HTTP {response.status_code} after {attempt} attempts")
                _pause(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code != 200:
                raise SourceError(f"{shown}: HTTP {response.status_code}")
            try:
                body = response.json()
            except json.JSONDecodeError as exc:
                raise SourceError(f"{shown}: the response is not JSON ({exc.msg} at character {exc.pos})") from None
            if not isinstance(body, dict):
                raise SourceError(f"{shown}: the response is not a JSON object")
            return body
        raise AssertionError("unreachable")


def _pause(attempt: int, retry_after: str | None = None) -> None:
    try:
        seconds = float(retry_after) if retry_after else min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)
    except ValueError:
        seconds = 1.0
    time.sleep(min(seconds, 60.0))


class PageFolder:
    """Pages stored as files, one per request: <root><path>/<ticker>.json for the list endpoints (the ticker query
    parameter names the file) and <root><path>.json for the others. A page's next_url names the next file."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ConfigError(f"reference folder '{root}' does not exist")
        self.root = root
        self.description = f"reference pages in {root}"

    def pages(self, path: str, params: dict[str, str]) -> Iterator[Page]:
        first = self.root / path.strip("/")
        file = first / f"{params['ticker']}.json" if "ticker" in params else first.with_name(first.name + ".json")
        number = 1
        while file is not None:
            if not file.is_file():
                return
            try:
                body = json.loads(file.read_text())
            except json.JSONDecodeError as exc:
                raise SourceError(f"{file}: not JSON ({exc.msg} at line {exc.lineno})") from None
            yield Page(str(file.relative_to(self.root)), number, body)
            next_name = body.get("next_url")
            file = file.with_name(next_name) if next_name else None
            number += 1


def make_reference_api(spec: str, base_url: str, api_key: Secret) -> ReferenceApi:
    """TBP_REFERENCE_SOURCE: a folder of pages, or empty for the REST API at base_url."""
    if spec:
        return PageFolder(Path(spec))
    return RestApi(base_url, api_key)
