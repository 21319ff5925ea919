import hashlib
import json
import os
from datetime import date

import pytest

from extract.errors import ConfigError, FileGoneError, SourceError
from extract.sources import (
    LocalMirror,
    RemoteFile,
    cache_path,
    date_from_key,
    make_source,
    mask_credentials,
    sort_listing,
)
from tests.conftest import PREFIX, S3_CREDENTIALS, bar_line, write_day_file


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
    listing = LocalMirror(tmp_path).list_files(date(2024, 3, 7), date(2024, 3, 31))
    assert [f.key for f in listing.files] == [
        f"{PREFIX}/2024/03/2024-03-07.csv.gz",
        f"{PREFIX}/2024/03/2024-03-08.csv.gz",
    ]
    assert all(len(f.etag) == 32 and f.size > 0 for f in listing.files)
    assert listing.refused == [
        f"{PREFIX}/2024/03/notes.txt: not a day file of {PREFIX} (no date in its name); not loaded"
    ]


def test_a_mirror_of_the_prefix_folder_itself_gives_the_same_keys(tmp_path):
    write_day_file(tmp_path, date(2024, 3, 7), [bar_line("AAPL", date(2024, 3, 7))])
    nested = LocalMirror(tmp_path).list_files(date(2024, 1, 1), date(2024, 12, 31))
    flat = LocalMirror(tmp_path / PREFIX).list_files(date(2024, 1, 1), date(2024, 12, 31))
    assert nested == flat


def test_a_mirror_hashes_a_file_again_only_when_its_size_or_time_changed(tmp_path):
    day = date(2024, 3, 7)
    path = write_day_file(tmp_path / "mirror", day, [bar_line("AAPL", day)])
    digests = tmp_path / "cache" / "local-mirror-md5.json"
    [first] = LocalMirror(tmp_path / "mirror", digests).list_files(day, day).files
    assert (
        json.loads(digests.read_text())[str(path.resolve())][-1]
        == first.etag
        == hashlib.md5(path.read_bytes()).hexdigest()
    )
    # Unchanged since its digest was taken (2 s after its last change): the kept digest, without reading the file
    # (here, one planted to tell). Taken sooner after the change, it is not trusted.
    found = path.stat()
    stamp = [found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino]
    settled = max(found.st_mtime_ns, found.st_ctime_ns) + 2_000_000_000
    for hashed_at, expected in ((settled, "f" * 32), (settled - 1, first.etag)):
        digests.write_text(json.dumps({str(path.resolve()): [*stamp, hashed_at, "f" * 32]}))
        [kept] = LocalMirror(tmp_path / "mirror", digests).list_files(day, day).files
        assert kept.etag == expected
    # The same bytes put back with their old mtime (cp -p, rsync -t) still changed its ctime: hashed again.
    digests.write_text(json.dumps({str(path.resolve()): [*stamp, settled, "f" * 32]}))
    os.utime(path, ns=(found.st_atime_ns, found.st_mtime_ns))
    [touched] = LocalMirror(tmp_path / "mirror", digests).list_files(day, day).files
    assert touched.etag == first.etag
    write_day_file(tmp_path / "mirror", day, [bar_line("AAPL", day), bar_line("MSFT", day)])  # re-published
    [again] = LocalMirror(tmp_path / "mirror", digests).list_files(day, day).files
    assert again.etag == hashlib.md5(path.read_bytes()).hexdigest() != first.etag
    for damaged in ("{not json", "[]"):  # a damaged cache is hashed past, and replaced
        digests.write_text(damaged)
        assert LocalMirror(tmp_path / "mirror", digests).list_files(day, day).files == [again]
        assert json.loads(digests.read_text())[str(path.resolve())][-1] == again.etag


def test_a_file_removed_after_listing_is_reported_gone(tmp_path):
    path = write_day_file(tmp_path, date(2024, 3, 7), [bar_line("AAPL", date(2024, 3, 7))])
    mirror = LocalMirror(tmp_path)
    [listed] = mirror.list_files(date(2024, 3, 7), date(2024, 3, 7)).files
    path.unlink()
    with pytest.raises(FileGoneError, match="2024-03-07.csv.gz: listed but no longer"):
        mirror.fetch(listed, tmp_path / "cache")


def test_make_source_tells_s3_from_folders(tmp_path, make_config):
    cfg = make_config(**S3_CREDENTIALS)
    assert isinstance(make_source(str(tmp_path), cfg.s3), LocalMirror)
    bucket = make_source("s3://mybucket/some/prefix", cfg.s3)
    assert (bucket.bucket, bucket.root) == ("mybucket", "some/prefix")
    default = make_source("", cfg.s3)
    assert (default.bucket, default.root) == ("flatfiles", "")
    # A prefix naming a dataset's folder (as earlier versions took it) stands for the folder above it.
    assert make_source(f"s3://flatfiles/{PREFIX}", cfg.s3).root == ""
    assert make_source(f"s3://flatfiles/mirror/{PREFIX}", cfg.s3).root == "mirror"
    with pytest.raises(SourceError, match="source folder '.*nowhere' does not exist"):
        make_source(str(tmp_path / "nowhere"), cfg.s3)


def test_only_the_exact_key_pattern_is_loaded_and_every_other_dated_key_is_reported():
    listed = [
        (f"{PREFIX}/2024/03/2024-03-07.csv.gz", "e1", 10),
        (f"{PREFIX}/2024/03/2024-03-07.csv", "e2", 10),
        (f"{PREFIX}/2024/03/copy/2024-03-07.csv.gz", "e3", 10),
        (f"{PREFIX}/2024/03/../../../../tmp/2024-03-08.csv.gz", "e4", 10),
        (f"{PREFIX}/2024/03/2024-03-09 (1).csv.gz", "e5", 10),
        (f"{PREFIX}/2024/05/2024-05-01.csv.gz", "e6", 10),
    ]
    listing = sort_listing(iter(listed), PREFIX, date(2024, 3, 1), date(2024, 3, 31))
    assert [(f.key, f.file_date) for f in listing.files] == [(listed[0][0], date(2024, 3, 7))]
    assert listing.refused == [
        f"{PREFIX}/2024/03/2024-03-07.csv: a second key for that date (expected {listed[0][0]}); not loaded",
        f"{PREFIX}/2024/03/copy/2024-03-07.csv.gz: a second key for that date (expected {listed[0][0]}); not loaded",
        f"{PREFIX}/2024/03/../../../../tmp/2024-03-08.csv.gz: not the key pattern {PREFIX}/YYYY/MM/ "
        f"(expected {PREFIX}/2024/03/2024-03-08.csv.gz); not loaded",
        f"{PREFIX}/2024/03/2024-03-09 (1).csv.gz: not the key pattern {PREFIX}/YYYY/MM/ "
        f"(expected {PREFIX}/2024/03/2024-03-09.csv.gz); not loaded",
    ]


def test_the_cache_path_comes_from_the_date_and_etag_never_from_the_key(tmp_path):
    hostile = RemoteFile("../../../../etc/2024-03-07.csv.gz", date(2024, 3, 7), '"../x/..', 10, PREFIX)
    path = cache_path(tmp_path, hostile)
    assert path == tmp_path / PREFIX / "2024" / "03" / "2024-03-07.____x___.csv.gz"
    assert path.resolve().is_relative_to(tmp_path)


def test_a_prefix_that_climbs_out_of_its_folder_is_refused(tmp_path, make_config):
    cfg = make_config(**S3_CREDENTIALS)
    with pytest.raises(ConfigError, match="prefix '../etc' is not a plain key prefix"):
        make_source("s3://bucket/../etc", cfg.s3)


def test_credentials_in_a_url_are_masked():
    assert mask_credentials("https://user:secret@files.example.com/x") == "https://***@files.example.com/x"
    assert mask_credentials("https://files.example.com") == "https://files.example.com"


def test_s3_never_falls_back_to_ambient_credentials(make_config):
    cfg = make_config(AWS_ACCESS_KEY_ID="someone-else", AWS_SECRET_ACCESS_KEY="their-secret")
    with pytest.raises(ConfigError, match="POLYGON_S3_ACCESS_KEY and POLYGON_S3_SECRET_KEY must be set"):
        make_source("s3://flatfiles", cfg.s3)


def test_boto_s_own_credential_chain_only_when_the_user_opts_in(make_config, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ambient-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient-secret")
    with pytest.raises(ConfigError, match="POLYGON_S3_ACCESS_KEY and POLYGON_S3_SECRET_KEY must be set"):
        make_source("s3://flatfiles", make_config().s3)
    cfg = make_config(POLYGON_S3_AMBIENT_CREDENTIALS="true")
    bucket = make_source("s3://flatfiles", cfg.s3)
    assert bucket.client._request_signer._credentials.access_key == "ambient-key"


def test_keys_and_folders_outside_the_year_folders_are_reported_never_skipped_in_silence(tmp_path):
    write_day_file(tmp_path, date(2024, 3, 7), [bar_line("AAPL", date(2024, 3, 7))])
    (tmp_path / PREFIX / "2024-03-08.csv.gz").write_bytes(b"")
    (tmp_path / PREFIX / "backup" / "2024" / "03").mkdir(parents=True)
    listing = LocalMirror(tmp_path).list_files(date(2024, 3, 1), date(2024, 3, 31))
    assert [f.key for f in listing.files] == [f"{PREFIX}/2024/03/2024-03-07.csv.gz"]
    assert listing.refused == [
        f"{PREFIX}/2024-03-08.csv.gz: not the key pattern {PREFIX}/YYYY/MM/ "
        f"(expected {PREFIX}/2024/03/2024-03-08.csv.gz); not loaded",
        f"{PREFIX}/backup/: not a year folder (YYYY) of {PREFIX}; its keys are not listed",
    ]
