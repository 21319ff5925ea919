from datetime import date

import pytest

from extract.errors import FileGoneError, SourceError
from extract.sources import LocalMirror, date_from_key, make_source
from tests.conftest import PREFIX, bar_line, write_day_file


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("us_stocks_sip/day_aggs_v1/2024/03/2024-03-07.csv.gz", date(2024, 3, 7)),
        ("2024/03/2024-03-07.csv.gz", date(2024, 3, 7)),
        ("us_stocks_sip/day_aggs_v1/2024/03/2024-04-07.csv.gz", None),
        ("us_stocks_sip/day_aggs_v1/2024/02/2024-02-30.csv.gz", None),
        ("us_stocks_sip/day_aggs_v1/2024/03/readme.txt", None),
    ],
)
def test_the_session_date_comes_from_the_key(key, expected):
    assert date_from_key(key) == expected


def test_a_mirror_lists_day_files_in_range_with_keys_as_in_the_bucket(tmp_path):
    for day in (date(2024, 3, 6), date(2024, 3, 7), date(2024, 3, 8)):
        write_day_file(tmp_path, day, [bar_line("AAPL", day)])
    (tmp_path / PREFIX / "2024" / "03" / "notes.txt").write_text("not a day file")
    listing = LocalMirror(tmp_path, PREFIX).list_files(date(2024, 3, 7), date(2024, 3, 31))
    assert [f.key for f in listing] == [f"{PREFIX}/2024/03/2024-03-07.csv.gz", f"{PREFIX}/2024/03/2024-03-08.csv.gz"]
    assert all(len(f.etag) == 32 and f.size > 0 for f in listing)


def test_a_mirror_of_the_prefix_folder_itself_gives_the_same_keys(tmp_path):
    write_day_file(tmp_path, date(2024, 3, 7), [bar_line("AAPL", date(2024, 3, 7))])
    nested = LocalMirror(tmp_path, PREFIX).list_files(date(2024, 1, 1), date(2024, 12, 31))
    flat = LocalMirror(tmp_path / PREFIX, PREFIX).list_files(date(2024, 1, 1), date(2024, 12, 31))
    assert nested == flat


def test_a_file_removed_after_listing_is_reported_gone(tmp_path):
    path = write_day_file(tmp_path, date(2024, 3, 7), [bar_line("AAPL", date(2024, 3, 7))])
    mirror = LocalMirror(tmp_path, PREFIX)
    [listed] = mirror.list_files(date(2024, 3, 7), date(2024, 3, 7))
    path.unlink()
    with pytest.raises(FileGoneError, match="2024-03-07.csv.gz: listed but no longer"):
        mirror.fetch(listed, tmp_path / "cache")


def test_make_source_tells_s3_from_folders(tmp_path, make_config):
    cfg = make_config()
    assert isinstance(make_source(str(tmp_path), cfg.s3), LocalMirror)
    bucket = make_source("s3://mybucket/some/prefix", cfg.s3)
    assert (bucket.bucket, bucket.prefix) == ("mybucket", "some/prefix")
    default = make_source("", cfg.s3)
    assert (default.bucket, default.prefix) == ("flatfiles", PREFIX)
    with pytest.raises(SourceError, match="source folder '.*nowhere' does not exist"):
        make_source(str(tmp_path / "nowhere"), cfg.s3)
