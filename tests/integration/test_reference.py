"""tbp-extract reference against a local HTTP server answering in the provider's response format."""

import gzip
import json
import logging
import time
from datetime import UTC, date, datetime

import pytest
from werkzeug import Response

from extract.config import Secret
from extract.errors import NotAuthorizedError, SourceError
from extract.parse import HEADER
from extract.reference import run_reference
from extract.rest import RestApi
from extract.run import RunOptions, run_extract
from extract.sources import day_file_key
from tests.conftest import bar_line, warehouse_rows
from tests.provider_api import ProviderApi

API_KEY = "test-api-key-never-logged"


def page(results, next_url=None) -> dict:
    body = {"status": "OK", "request_id": "r1", "results": results}
    if next_url:
        body["next_url"] = next_url
    return body


def split(ticker, day, split_from, split_to, kind, record_id, factor=None) -> dict:
    return {
        "id": record_id,
        "ticker": ticker,
        "execution_date": day,
        "split_from": split_from,
        "split_to": split_to,
        "adjustment_type": kind,
        "historical_adjustment_factor": factor,
    }


def dividend(ticker, day, cash, kind="recurring", record_id="d") -> dict:
    return {
        "id": record_id,
        "ticker": ticker,
        "ex_dividend_date": day,
        "pay_date": day,
        "cash_amount": cash,
        "currency": "USD",
        "frequency": 4 if kind == "recurring" else 0,
        "distribution_type": kind,
    }


@pytest.fixture
def api_config(make_config, config_dir, httpserver):
    (config_dir / "instruments.yml").write_text(
        "instruments:\n"
        "  - {ticker: NVDA, name: NVIDIA, type: stock, exchange: XNAS, sector: Technology}\n"
        "  - {ticker: META, name: Meta, type: stock, exchange: XNAS, sector: Technology, previous_tickers: [FB]}\n"
    )
    return make_config(POLYGON_API_BASE_URL=httpserver.url_for("/").rstrip("/"), POLYGON_API_KEY=API_KEY)


def serve_everything_empty(httpserver) -> None:
    for path in ("/stocks/v1/splits", "/stocks/v1/dividends"):
        httpserver.expect_request(path).respond_with_json(page([]))
    for ticker in ("NVDA", "META"):
        httpserver.expect_request(f"/v3/reference/tickers/{ticker}").respond_with_json(page({"ticker": ticker}))
        httpserver.expect_request(f"/vX/reference/tickers/{ticker}/events").respond_with_json(page({"events": []}))


def test_pages_are_followed_with_the_key_in_a_header_and_landed_with_lineage(api_config, httpserver, caplog):
    seen_auth = []

    def first_page(request):
        seen_auth.append(request.headers.get("Authorization"))
        assert "apiKey" not in request.query_string.decode()
        next_url = httpserver.url_for("/stocks/v1/splits") + "?cursor=abc&apiKey=" + API_KEY
        return Response(json.dumps(page([split("NVDA", "2024-06-10", 1, 10, "forward_split", "s1")], next_url)))

    def second_page(request):
        seen_auth.append(request.headers.get("Authorization"))
        assert "apiKey" not in request.query_string.decode()
        return Response(json.dumps(page([split("NVDA", "2021-07-20", 1, 4, "forward_split", "s0")])))

    httpserver.expect_request("/stocks/v1/splits", query_string={"cursor": "abc"}).respond_with_handler(second_page)
    httpserver.expect_request(
        "/stocks/v1/splits", query_string={"ticker": "NVDA", "limit": "1000"}
    ).respond_with_handler(first_page)
    serve_everything_empty(httpserver)
    caplog.set_level(logging.DEBUG)
    summary = run_reference(api_config)
    assert summary.exit_code == 0 and summary.fetches == 10  # FB, META's earlier ticker: splits and dividends
    assert seen_auth == [f"Bearer {API_KEY}"] * 2
    [(pages, records, request)] = warehouse_rows(
        {"DUCKDB_PATH": str(api_config.database.duckdb_path)},
        "select pages, records, request from landing.reference_fetches where dataset = 'splits' and ticker = 'NVDA'",
    )
    assert (pages, records) == (2, 2) and API_KEY not in request
    assert API_KEY not in caplog.text


def test_429_waits_retry_after_and_5xx_backs_off_until_the_page_comes(api_config, httpserver):
    # Retry-After 2 s is longer than the first backoff (at most 1.5 s): a retry sooner has ignored it
    answers = iter(
        [
            Response("slow down", status=429, headers={"Retry-After": "2"}),
            Response("oops", status=503),
            Response(json.dumps(page([dividend("NVDA", "2024-06-11", 0.01)]))),
        ]
    )
    asked_at = []

    def answer(request):
        asked_at.append(time.monotonic())
        return next(answers)

    httpserver.expect_request(
        "/stocks/v1/dividends", query_string={"ticker": "NVDA", "limit": "1000"}
    ).respond_with_handler(answer)
    serve_everything_empty(httpserver)
    summary = run_reference(api_config)
    assert summary.exit_code == 0
    after_429, after_503 = asked_at[1] - asked_at[0], asked_at[2] - asked_at[1]
    assert after_429 >= 2.0 and after_503 >= 1.0  # the second attempt's backoff: 2 s, jittered by 0.5 to 1.5
    rows = warehouse_rows(
        {"DUCKDB_PATH": str(api_config.database.duckdb_path)},
        "select count(*) from landing.reference_records r join landing.reference_fetches f using (fetch_id) "
        "where f.dataset = 'dividends' and f.ticker = 'NVDA'",
    )
    assert rows == [(1,)]


def test_401_is_one_error_naming_the_endpoint_and_never_the_key(api_config, httpserver):
    httpserver.expect_request("/stocks/v1/splits").respond_with_json(
        {"status": "NOT_AUTHORIZED", "message": "bad key"}, status=401
    )
    with pytest.raises(NotAuthorizedError) as failure:
        run_reference(api_config)
    message = str(failure.value)
    assert "/stocks/v1/splits" in message and "401 not authorized" in message and API_KEY not in message


def test_403_is_one_error_naming_the_endpoint_and_never_the_key(api_config, httpserver, invoke):
    httpserver.expect_request("/stocks/v1/splits").respond_with_json(
        {"status": "NOT_AUTHORIZED", "message": f"plan does not include this data; key {API_KEY}"}, status=403
    )
    result = invoke("reference", POLYGON_API_BASE_URL=httpserver.url_for("/").rstrip("/"), POLYGON_API_KEY=API_KEY)
    [error] = [line for line in result.output.splitlines() if "error" in line]  # the others: the server's log
    assert result.exit_code == 3 and "Traceback" not in result.output and API_KEY not in result.output
    assert error.startswith(f"error: {httpserver.url_for('/stocks/v1/splits')}?ticker=")
    assert "403 not authorized" in error
    assert len(httpserver.log) == 1  # refused at once: no retry


def test_malformed_json_fails_that_fetch_naming_the_url_without_secrets(api_config, httpserver):
    httpserver.expect_request("/stocks/v1/dividends").respond_with_data("{not json", content_type="application/json")
    httpserver.expect_request("/stocks/v1/splits").respond_with_json(page([]))
    for ticker in ("NVDA", "META"):
        httpserver.expect_request(f"/v3/reference/tickers/{ticker}").respond_with_json(page({"ticker": ticker}))
        httpserver.expect_request(f"/vX/reference/tickers/{ticker}/events").respond_with_json(page({"events": []}))
    summary = run_reference(api_config)
    assert summary.exit_code == 1 and sorted(summary.failed) == ["dividends FB", "dividends META", "dividends NVDA"]
    assert "/stocks/v1/dividends?ticker=NVDA&limit=1000: the response is not JSON" in summary.failed["dividends NVDA"]
    assert warehouse_rows(
        {"DUCKDB_PATH": str(api_config.database.duckdb_path)},
        "select count(*) from landing.reference_fetches where dataset = 'dividends'",
    ) == [(0,)]


def test_a_later_run_fetches_a_window_for_tickers_it_has_whole(api_config, httpserver):
    serve_everything_empty(httpserver)
    run_reference(api_config)
    httpserver.clear()
    windowed = []

    def record(request):
        windowed.append(dict(request.args))
        return Response(json.dumps(page([])))

    httpserver.expect_request("/stocks/v1/splits").respond_with_handler(record)
    httpserver.expect_request("/stocks/v1/dividends").respond_with_handler(record)
    for ticker in ("NVDA", "META"):
        httpserver.expect_request(f"/v3/reference/tickers/{ticker}").respond_with_json(page({"ticker": ticker}))
        httpserver.expect_request(f"/vX/reference/tickers/{ticker}/events").respond_with_json(page({"events": []}))
    run_reference(api_config)
    assert len(windowed) == 6
    assert all("execution_date.gte" in args or "ex_dividend_date.gte" in args for args in windowed)


def test_without_a_key_the_api_is_refused_before_any_request():
    with pytest.raises(Exception, match="POLYGON_API_KEY must be set"):
        RestApi("http://127.0.0.1:9", Secret(""))


def test_a_connection_that_never_answers_fails_after_its_attempts():
    api = RestApi("http://127.0.0.1:9", Secret("k"), max_attempts=2, timeout_seconds=1)
    with pytest.raises(SourceError, match=r"http://127.0.0.1:9/stocks/v1/splits\?ticker=X: ConnectError after 2"):
        list(api.pages("/stocks/v1/splits", {"ticker": "X"}))


def provider_config(make_config, config_dir, httpserver, provider, tickers):
    """The configuration of these instruments, reading the reference data from provider's loopback server."""
    lines = [
        f"  - {{ticker: {ticker}, name: {ticker}, type: stock, exchange: XNAS, sector: Tech}}" for ticker in tickers
    ]
    (config_dir / "instruments.yml").write_text("instruments:\n" + "\n".join(lines) + "\n")
    return make_config(**provider.serve(httpserver))


def at(year: int, month: int, day: int):
    """A clock that says it is this day."""
    return lambda: datetime(year, month, day, 12, tzinfo=UTC)


def landed_dates(cfg, dataset: str, ticker: str) -> set[str]:
    rows = warehouse_rows(
        {"DUCKDB_PATH": str(cfg.database.duckdb_path)},
        "select r.record from landing.reference_records r join landing.reference_fetches f using (fetch_id) "
        f"where f.dataset = '{dataset}' and f.ticker = '{ticker}'",
    )
    day = "execution_date" if dataset == "splits" else "ex_dividend_date"
    return {json.loads(record)[day] for (record,) in rows}


def test_a_ticker_added_to_the_configuration_later_gets_its_whole_history(make_config, config_dir, httpserver):
    provider = ProviderApi(API_KEY)
    provider.splits = [
        split("NVDA", "2024-06-10", 1, 10, "forward_split", "n1"),
        split("AAPL", "2020-08-31", 1, 4, "forward_split", "a1"),
    ]
    provider.dividends = [dividend("AAPL", day, 0.25, record_id=f"a-{day}") for day in ("2019-11-07", "2024-11-08")]
    run_reference(provider_config(make_config, config_dir, httpserver, provider, ["NVDA"]), clock=at(2024, 7, 1))
    provider.asked.clear()
    cfg = provider_config(make_config, config_dir, httpserver, provider, ["NVDA", "AAPL"])
    assert run_reference(cfg, clock=at(2024, 12, 2)).exit_code == 0
    for path in ("/stocks/v1/splits", "/stocks/v1/dividends"):
        assert [set(q) for q in provider.asked_for(path, "AAPL")] == [{"ticker", "limit"}]  # no window
        [nvda] = provider.asked_for(path, "NVDA")
        assert set(nvda) - {"ticker", "limit"}  # a window: NVDA's whole history was fetched in July
    assert landed_dates(cfg, "splits", "AAPL") == {"2020-08-31"}
    assert landed_dates(cfg, "dividends", "AAPL") == {"2019-11-07", "2024-11-08"}
    asked_events = [path for path, _query in provider.asked if path.endswith("/events")]
    assert asked_events == ["/vX/reference/tickers/NVDA/events", "/vX/reference/tickers/AAPL/events"]


def test_a_ticker_configured_again_gets_what_happened_while_it_was_out(make_config, config_dir, httpserver):
    # AAPL is fetched whole in January, then left out of the configuration; its split of March is announced and
    # executed meanwhile. Configured again in December, more than lookback_days (90) after the split.
    provider = ProviderApi(API_KEY)
    run_reference(provider_config(make_config, config_dir, httpserver, provider, ["AAPL"]), clock=at(2024, 1, 2))
    run_reference(provider_config(make_config, config_dir, httpserver, provider, ["NVDA"]), clock=at(2024, 2, 1))
    provider.splits = [split("AAPL", "2024-03-04", 1, 4, "forward_split", "a1")]
    cfg = provider_config(make_config, config_dir, httpserver, provider, ["AAPL"])
    assert run_reference(cfg, clock=at(2024, 12, 2)).exit_code == 0
    assert landed_dates(cfg, "splits", "AAPL") == {"2024-03-04"}


def test_files_landing_the_configured_tickers_land_the_earlier_tickers_ticker_events_name(
    make_config, config_dir, httpserver, tmp_path
):
    """Minute files land the configured tickers: META's bars before 2022-06-09 are FB's, which only the API's ticker
    events name here (not instruments.yml). The day files (the whole market) had them; the minute files never did."""
    minute, day = "us_stocks_sip/minute_aggs_v1", date(2022, 6, 8)
    mirror = tmp_path / "mirror"
    path = mirror / day_file_key(minute, day)
    path.parent.mkdir(parents=True)
    lines = [bar_line(ticker, day) for ticker in ("AAPL", "FB", "GOOGL")]
    path.write_bytes(gzip.compress(("\n".join([",".join(HEADER), *lines]) + "\n").encode()))
    provider = ProviderApi(API_KEY)
    provider.events = {
        "META": {
            "events": [
                {"type": "ticker_change", "date": "2022-06-09", "ticker_change": {"ticker": "META"}},
                {"type": "ticker_change", "date": "2012-05-18", "ticker_change": {"ticker": "FB"}},
            ]
        }
    }
    settings = provider.serve(httpserver)
    (config_dir / "instruments.yml").write_text(
        "instruments:\n  - {ticker: META, name: Meta, type: stock, exchange: XNAS, sector: Technology}\n"
    )
    cfg = make_config(**settings, TBP_SOURCE=str(mirror), TBP_DATASETS=minute)
    landed = "select distinct ticker from landing.minute_aggs"

    run_extract(cfg, RunOptions(start=day, end=day))  # before the events are fetched: META's ticker alone
    assert warehouse_rows({"DUCKDB_PATH": str(cfg.database.duckdb_path)}, landed) == []
    assert run_reference(cfg, clock=at(2024, 12, 2)).exit_code == 0
    summary = run_extract(cfg, RunOptions(start=day, end=day))
    assert summary.files_loaded == 1  # the file again, for the ticker it lacked
    assert warehouse_rows({"DUCKDB_PATH": str(cfg.database.duckdb_path)}, landed) == [("FB",)]


def test_an_index_a_currency_and_an_option_are_asked_only_what_the_provider_holds_for_them(
    make_config, config_dir, httpserver
):
    """Splits, dividends and ticker events are a stock's, and an option contract has no ticker overview: every run
    asked for all four for every instrument, and an endpoint that answers such a ticker with an error failed it."""
    provider = ProviderApi(API_KEY)
    instruments = ["AAPL: stock", "I:SPX: index", "X:BTCUSD: crypto", "O:SPY250110C00480000: option"]
    lines = [f"  - {{ticker: '{entry.rsplit(': ', 1)[0]}', type: {entry.rsplit(': ', 1)[1]}}}" for entry in instruments]
    (config_dir / "instruments.yml").write_text("instruments:\n" + "\n".join(lines) + "\n")
    cfg = make_config(**provider.serve(httpserver))
    assert run_reference(cfg, clock=at(2024, 12, 2)).exit_code == 0
    asked = sorted({query.get("ticker") or path.split("/")[4] for path, query in provider.asked})
    assert asked == ["AAPL", "I:SPX", "X:BTCUSD"]
    assert sorted(path for path, _query in provider.asked if "I:SPX" in path or "X:BTCUSD" in path) == [
        "/v3/reference/tickers/I:SPX",
        "/v3/reference/tickers/X:BTCUSD",
    ]
