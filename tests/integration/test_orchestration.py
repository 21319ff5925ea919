"""The functions the Airflow tasks call."""

from datetime import date

import pytest

from extract.errors import PipelineError
from extract.orchestration import (
    FileNotPublishedYet,
    daily_extract,
    missing_keys,
    month_windows,
    prefetch,
    recent_window,
)
from extract.sources import S3Bucket, day_file_key, s3_client
from tests.conftest import PREFIX, S3_CREDENTIALS, SMALL_END


def test_the_recent_window_reaches_back_lookback_sessions(make_config):
    cfg = make_config(TBP_LOOKBACK_DAYS="3")
    # 2024-07-08 is a Monday; 2024-07-04 a holiday: three sessions back is 2024-07-02.
    assert recent_window(cfg, date(2024, 7, 8)) == (date(2024, 7, 2), date(2024, 7, 8))


def test_month_windows_cut_a_range_at_month_ends():
    assert month_windows(date(2023, 12, 15), date(2024, 2, 10)) == [
        (date(2023, 12, 15), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 10)),
    ]


def test_a_daily_run_loads_the_window_and_waits_for_a_missing_session(make_config, mirror):
    cfg = make_config(TBP_SOURCE=str(mirror))
    summary = daily_extract(cfg, SMALL_END)
    assert summary.files_loaded == 11 and summary.start == date(2024, 2, 14)
    (mirror / PREFIX / "2024/02/2024-02-28.csv.gz").unlink()
    with pytest.raises(FileNotPublishedYet, match="2024-02-28 is not published yet"):
        daily_extract(make_config(TBP_SOURCE=str(mirror), DUCKDB_PATH=str(mirror / "other.duckdb")), date(2024, 2, 28))
    saturday = daily_extract(cfg, date(2024, 2, 24))  # no file is due on a Saturday: no FileNotPublishedYet
    assert saturday.failed == {} and saturday.end == date(2024, 2, 24)


def test_a_dataset_with_no_configured_ticker_to_land_is_not_waited_for(make_config, mirror):
    """The run does not list a dataset whose files would land nothing (land_scope configured, no configured ticker of
    it); the daily run waited for its file every day (FileNotPublishedYet, then a lateness alert), and the backfill
    downloaded its files ahead."""
    datasets = "us_stocks_sip/day_aggs_v1,us_options_opra/day_aggs_v1"
    cfg = make_config(TBP_SOURCE=str(mirror), TBP_DATASETS=datasets)
    summary = daily_extract(cfg, SMALL_END)
    assert summary.files_loaded == 11
    assert missing_keys(cfg, SMALL_END) == []
    options_file = mirror / day_file_key("us_options_opra/day_aggs_v1", SMALL_END)
    options_file.parent.mkdir(parents=True)
    options_file.write_bytes((mirror / PREFIX / "2024/02/2024-02-29.csv.gz").read_bytes())
    assert prefetch(cfg, SMALL_END, SMALL_END) == 1  # nor downloaded ahead for it


def test_a_daily_run_with_a_failed_file_fails_for_a_retry(make_config, mirror):
    (mirror / PREFIX / "2024/02/2024-02-27.csv.gz").write_bytes(b"broken")
    with pytest.raises(PipelineError, match="1 file\\(s\\) failed: .*2024-02-27.csv.gz"):
        daily_extract(make_config(TBP_SOURCE=str(mirror)), SMALL_END)


def test_prefetch_fills_the_cache_so_the_load_downloads_nothing(make_config, moto_endpoint, s3_bucket, small_mirror):
    name, client, upload = s3_bucket
    upload(small_mirror)
    cfg = make_config(TBP_SOURCE=f"s3://{name}", POLYGON_S3_ENDPOINT=moto_endpoint, **S3_CREDENTIALS)
    assert prefetch(cfg, date(2024, 2, 1), date(2024, 2, 29)) == 20
    bucket = S3Bucket(s3_client(cfg.s3), name, PREFIX)
    [remote] = bucket.list_files(date(2024, 2, 1), date(2024, 2, 1)).files
    client.delete_object(Bucket=name, Key=remote.key)  # a second fetch must come from the cache
    assert bucket.fetch(remote, cfg.pipeline.cache_dir).is_file()
