"""Transient and permanent S3 faults, injected by a proxy between boto3 and the moto server on loopback."""

import shutil
from dataclasses import replace
from datetime import date

import duckdb
import pytest

from extract.run import RunOptions, run_extract
from tests.conftest import PREFIX, S3_CREDENTIALS, read_mirror_rows
from tests.faults import FaultProxy

START, END = date(2024, 1, 2), date(2024, 1, 12)
WINDOW = RunOptions(start=START, end=END, workers=3)
KEY_0105 = f"{PREFIX}/2024/01/2024-01-05.csv.gz"
KEY_0108 = f"{PREFIX}/2024/01/2024-01-08.csv.gz"


@pytest.fixture
def proxy(moto_endpoint):
    proxy = FaultProxy(moto_endpoint, stall_seconds=3)
    yield proxy
    proxy.close()


@pytest.fixture
def faulty_config(make_config, proxy, s3_bucket, small_mirror):
    name, _client, upload = s3_bucket
    upload(small_mirror)
    return make_config(
        TBP_SOURCE=f"s3://{name}",
        POLYGON_S3_ENDPOINT=proxy.endpoint,
        POLYGON_S3_MAX_ATTEMPTS="4",
        POLYGON_S3_READ_TIMEOUT="1",
        **S3_CREDENTIALS,
    )


def landed_rows(cfg) -> int:
    with duckdb.connect(str(cfg.database.duckdb_path), read_only=True) as conn:
        return conn.execute("select count(*) from landing.day_aggs").fetchall()[0][0]


def expected_rows(mirror) -> int:
    return sum(1 for (_t, day) in read_mirror_rows(mirror) if START <= day <= END)


def test_throttling_resets_stalls_and_short_bodies_are_retried_until_every_file_lands(
    faulty_config, proxy, small_mirror
):
    proxy.add("GET", "list-type=2", "slowdown", times=2)
    proxy.add("GET", "2024-01-03.csv.gz", "slowdown", times=2)
    proxy.add("GET", "2024-01-04.csv.gz", "reset", times=1)
    proxy.add("GET", KEY_0105, "truncate", times=2)
    proxy.add("GET", "2024-01-08.csv.gz", "stall", times=1)
    summary = run_extract(faulty_config, WINDOW)
    assert summary.exit_code == 0, summary.lines()
    assert summary.files_loaded == 9 and landed_rows(faulty_config) == expected_rows(small_mirror)
    kinds = [kind for _method, _path, kind in proxy.requests]
    assert kinds.count("slowdown") == 4 and kinds.count("reset") == 1
    assert kinds.count("truncate") == 2 and kinds.count("stall") == 1


def test_a_key_the_plan_does_not_cover_is_reported_and_skipped(faulty_config, proxy, small_mirror):
    proxy.add("GET", KEY_0108, "forbidden", times=None)
    summary = run_extract(faulty_config, WINDOW)
    assert summary.exit_code == 0 and summary.not_in_plan == [KEY_0108]
    assert f"not in plan: {KEY_0108}" in summary.lines()
    assert summary.files_loaded == 8


def test_a_file_that_keeps_failing_fails_the_run_and_lands_on_the_next(faulty_config, proxy, small_mirror):
    persistent = proxy.add("GET", KEY_0105, "slowdown", times=None)
    summary = run_extract(faulty_config, WINDOW)
    assert summary.exit_code == 1 and list(summary.failed) == [KEY_0105]
    assert "SlowDown" in summary.failed[KEY_0105]
    persistent.times = 0
    retry = run_extract(faulty_config, WINDOW)
    assert retry.exit_code == 0 and retry.files_loaded == 1
    assert landed_rows(faulty_config) == expected_rows(small_mirror)


def test_a_body_that_does_not_match_its_etag_is_fetched_again_and_never_lands(faulty_config, proxy, small_mirror):
    once = proxy.add("GET", KEY_0105, "corrupt", times=1)
    summary = run_extract(faulty_config, WINDOW)
    assert summary.exit_code == 0 and once.hits == 1
    assert landed_rows(faulty_config) == expected_rows(small_mirror)

    fresh = faulty_config.database.duckdb_path.with_name("fresh.duckdb")
    always = proxy.add("GET", KEY_0108, "corrupt", times=None)
    cfg = replace(faulty_config, database=replace(faulty_config.database, duckdb_path=fresh))
    shutil.rmtree(cfg.pipeline.cache_dir)
    failing = run_extract(cfg, WINDOW)
    assert list(failing.failed) == [KEY_0108] and always.hits >= 2
    # the same wrong bytes twice are taken as the object's (its ETag may not be an MD5); the gzip check refuses them
    assert any(why in failing.failed[KEY_0108] for why in ("MD5 differs", "checksum", "not a whole gzip file"))
    with duckdb.connect(str(fresh), read_only=True) as conn:
        assert conn.execute("select count(*) from landing.day_aggs where file_date = '2024-01-08'").fetchall() == [(0,)]


def test_an_etag_that_is_not_the_md5_of_the_bytes_does_not_stop_a_good_file(faulty_config, proxy, small_mirror):
    proxy.add("GET", "list-type=2", "etag", times=None)
    summary = run_extract(faulty_config, WINDOW)
    assert summary.exit_code == 0 and summary.files_loaded == 9
    assert landed_rows(faulty_config) == expected_rows(small_mirror)
    gets = [path for method, path, _kind in proxy.requests if method == "GET" and ".csv.gz" in path]
    assert len(gets) == 2 * 9  # each file fetched twice: the same bytes, then taken
