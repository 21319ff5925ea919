"""The S3 path with boto3 unchanged, against moto's S3 server on loopback (real HTTP)."""

from datetime import date

import duckdb
import pytest

from extract.errors import FileGoneError, SourceError
from extract.run import RunOptions, run_extract
from extract.sources import S3Bucket, s3_client
from tests.conftest import PREFIX, S3_CREDENTIALS, SMALL_END, SMALL_START, read_mirror_rows


@pytest.fixture
def s3_config(make_config, moto_endpoint, s3_bucket):
    name, _client, _upload = s3_bucket
    return make_config(TBP_SOURCE=f"s3://{name}", POLYGON_S3_ENDPOINT=moto_endpoint, **S3_CREDENTIALS)


def test_listing_follows_pages_and_keeps_only_day_files_in_range(s3_config, s3_bucket):
    name, client, _upload = s3_bucket
    for n in range(1005):  # more than one page of 1,000 keys
        client.put_object(Bucket=name, Key=f"{PREFIX}/2024/01/other-{n:04d}.txt", Body=b"x")
    for day in (date(2024, 1, 2), date(2024, 1, 3), date(2023, 12, 29), date(2024, 2, 1)):
        client.put_object(Bucket=name, Key=f"{PREFIX}/{day:%Y/%m/%Y-%m-%d}.csv.gz", Body=b"gz")
    bucket = S3Bucket(s3_client(s3_config.s3), name, PREFIX)
    listing = bucket.list_files(date(2023, 12, 29), date(2024, 1, 31))
    assert [f.file_date for f in listing.files] == [date(2023, 12, 29), date(2024, 1, 2), date(2024, 1, 3)]
    assert all(f.size == 2 and len(f.etag) == 32 for f in listing.files)
    assert len(listing.refused) == 1005 and "other-0000.txt: not a day file" in listing.refused[0]
    assert bucket.list_files(date(2025, 1, 1), date(2025, 12, 31)).files == []


def test_a_backfill_from_s3_equals_the_mirror_and_reruns_load_nothing(s3_config, s3_bucket, small_mirror):
    _name, _client, upload = s3_bucket
    assert upload(small_mirror) == 41
    summary = run_extract(s3_config, RunOptions(start=SMALL_START, end=SMALL_END, workers=4))
    assert summary.exit_code == 0 and summary.files_loaded == summary.files_downloaded == 41
    assert "loaded 41 files (41 downloaded)" in "\n".join(summary.lines())
    assert summary.rows_landed == len(read_mirror_rows(small_mirror))
    assert len(list(s3_config.pipeline.cache_dir.rglob("*.csv.gz"))) == 41
    assert not list(s3_config.pipeline.cache_dir.rglob("*.part"))
    assert run_extract(s3_config, RunOptions(start=SMALL_START, end=SMALL_END)).files_loaded == 0
    with duckdb.connect(str(s3_config.database.duckdb_path), read_only=True) as conn:
        assert conn.execute("select count(*) from landing.day_aggs").fetchall() == [(summary.rows_landed,)]


def test_a_cached_download_is_reused_without_another_get(s3_config, s3_bucket, small_mirror):
    name, client, upload = s3_bucket
    upload(small_mirror)
    bucket = S3Bucket(s3_client(s3_config.s3), name, PREFIX)
    [remote] = bucket.list_files(date(2024, 1, 2), date(2024, 1, 2)).files
    first = bucket.fetch(remote, s3_config.pipeline.cache_dir)
    client.delete_object(Bucket=name, Key=remote.key)
    assert bucket.fetch(remote, s3_config.pipeline.cache_dir) == first
    assert bucket.downloaded == 1


def test_a_key_gone_between_listing_and_get_is_reported_for_retry(s3_config, s3_bucket, small_mirror):
    name, client, upload = s3_bucket
    upload(small_mirror)
    bucket = S3Bucket(s3_client(s3_config.s3), name, PREFIX)
    [remote] = bucket.list_files(date(2024, 1, 3), date(2024, 1, 3)).files
    client.delete_object(Bucket=name, Key=remote.key)
    with pytest.raises(FileGoneError, match="2024-01-03.csv.gz: listed but gone"):
        bucket.fetch(remote, s3_config.pipeline.cache_dir)


def test_a_broken_object_fails_alone_and_leaves_no_cached_copy(s3_config, s3_bucket, small_mirror):
    name, client, upload = s3_bucket
    upload(small_mirror)
    broken_key = f"{PREFIX}/2024/01/2024-01-03.csv.gz"
    whole = client.get_object(Bucket=name, Key=broken_key)["Body"].read()
    client.put_object(Bucket=name, Key=broken_key, Body=whole[:-40])
    summary = run_extract(s3_config, RunOptions(start=date(2024, 1, 2), end=date(2024, 1, 4)))
    assert summary.files_loaded == 2
    assert "not a whole gzip file" in summary.failed[broken_key]
    cached = [p.name for p in s3_config.pipeline.cache_dir.rglob("*.csv.gz")]
    assert sorted(name.split(".")[0] for name in cached) == ["2024-01-02", "2024-01-04"]


def test_credentials_in_the_endpoint_url_never_reach_the_summary_the_run_record_or_an_error(
    make_config, moto_endpoint, s3_bucket, small_mirror
):
    name, _client, upload = s3_bucket
    upload(small_mirror)
    with_password = moto_endpoint.replace("http://", "http://proxyuser:hunter2pw@")
    cfg = make_config(TBP_SOURCE=f"s3://{name}", POLYGON_S3_ENDPOINT=with_password, **S3_CREDENTIALS)
    summary = run_extract(cfg, RunOptions(start=date(2024, 1, 2), end=date(2024, 1, 3)))
    assert summary.files_loaded == 2 and "hunter2pw" not in "\n".join(summary.lines())
    with duckdb.connect(str(cfg.database.duckdb_path), read_only=True) as conn:
        [(source,)] = conn.execute("select source from landing.extract_runs").fetchall()
    assert "***@127.0.0.1" in source and "hunter2pw" not in source

    unreachable = make_config(
        TBP_SOURCE=f"s3://{name}",
        POLYGON_S3_ENDPOINT="http://proxyuser:hunter2pw@127.0.0.1:9",
        POLYGON_S3_MAX_ATTEMPTS="1",
        **S3_CREDENTIALS,
    )
    with pytest.raises(SourceError) as failure:
        run_extract(unreachable, RunOptions(start=date(2024, 1, 2), end=date(2024, 1, 3)))
    assert "hunter2pw" not in str(failure.value) and "***@127.0.0.1:9" in str(failure.value)


def test_minute_files_leave_the_cache_once_landed_and_day_files_stay(make_config, moto_endpoint, s3_bucket, tmp_path):
    from extract.demo import DemoSpec, write_demo_mirror

    name, _client, upload = s3_bucket
    mirror = tmp_path / "minute-mirror"
    spec = DemoSpec(date(2024, 3, 4), date(2024, 3, 8), ticker_count=20, include_tickers=("AAPL", "MSFT"))
    write_demo_mirror(mirror, DemoSpec(**{**spec.__dict__, "minute_sessions": 5}))
    assert upload(mirror) == 10
    cfg = make_config(
        TBP_SOURCE=f"s3://{name}",
        POLYGON_S3_ENDPOINT=moto_endpoint,
        TBP_DATASETS="us_stocks_sip/day_aggs_v1,us_stocks_sip/minute_aggs_v1",
        **S3_CREDENTIALS,
    )
    summary = run_extract(cfg, RunOptions(start=spec.start, end=spec.end))
    assert summary.exit_code == 0 and summary.files_loaded == summary.files_downloaded == 10
    cached = sorted(p.relative_to(cfg.pipeline.cache_dir).parts[:2] for p in cfg.pipeline.cache_dir.rglob("*.csv.gz"))
    assert cached == [("us_stocks_sip", "day_aggs_v1")] * 5  # minute files: drop_after_landing
    with duckdb.connect(str(cfg.database.duckdb_path), read_only=True) as conn:
        minute_tickers = conn.execute("select distinct ticker from landing.minute_aggs order by 1").fetchall()
        datasets = conn.execute("select dataset, count(*) from landing.load_manifest group by 1 order by 1").fetchall()
    assert minute_tickers == [("AAPL",), ("MSFT",)]
    assert datasets == [("us_stocks_sip/day_aggs_v1", 5), ("us_stocks_sip/minute_aggs_v1", 5)]
    # A re-run plans nothing: the manifest, not the cache, says what is loaded.
    assert run_extract(cfg, RunOptions(start=spec.start, end=spec.end)).files_loaded == 0


def test_keys_and_folders_outside_the_year_folders_are_reported(s3_config, s3_bucket):
    name, client, _upload = s3_bucket
    for key in (f"{PREFIX}/2024/01/2024-01-02.csv.gz", f"{PREFIX}/2024-01-03.csv.gz", f"{PREFIX}/old/2024/x.csv.gz"):
        client.put_object(Bucket=name, Key=key, Body=b"gz")
    listing = S3Bucket(s3_client(s3_config.s3), name, PREFIX).list_files(date(2024, 1, 1), date(2024, 1, 31))
    assert [f.key for f in listing.files] == [f"{PREFIX}/2024/01/2024-01-02.csv.gz"]
    assert listing.refused == [
        f"{PREFIX}/2024-01-03.csv.gz: not the key pattern {PREFIX}/YYYY/MM/ "
        f"(expected {PREFIX}/2024/01/2024-01-03.csv.gz); not loaded",
        f"{PREFIX}/old/: not a year folder (YYYY) of {PREFIX}; its keys are not listed",
    ]
