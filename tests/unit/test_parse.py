import gzip
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from extract.errors import FileDefectError
from extract.parse import PARSED_TABLE, REJECTS_TABLE, parse_file
from tests.conftest import bar_line, write_day_file

SHARED_ROWS = Path(__file__).resolve().parents[3] / "shared" / "data" / "day_aggs_2024-03-07_first_rows.csv"
DAY = date(2024, 3, 7)


@pytest.fixture
def conn():
    with duckdb.connect() as connection:
        yield connection


@pytest.mark.skipif(not SHARED_ROWS.exists(), reason="../shared/data is not beside this checkout")
def test_real_rows_parse_with_the_explicit_schema(conn, tmp_path):
    path = tmp_path / "real.csv.gz"
    with SHARED_ROWS.open("rb") as source, gzip.open(path, "wb") as target:
        shutil.copyfileobj(source, target)
    assert parse_file(conn, path, "k").rows == 3
    row = conn.execute(f"select * from {PARSED_TABLE} where ticker = 'AAA'").fetchall()[0]
    assert row == ("AAA", 12050.0, 25.1531, 25.07, 25.1599, 25.02, 1709787600000000000, 64)


def test_fractional_volume_is_read_as_a_double(conn, tmp_path):
    path = write_day_file(tmp_path, DAY, [bar_line("AAPL", DAY, volume="1234.5678"), bar_line("MSFT", DAY)])
    assert parse_file(conn, path, "k").rows == 2
    volumes = conn.execute(f"select volume from {PARSED_TABLE} order by ticker").fetchall()
    assert volumes == [(1234.5678,), (1000.0,)]


def test_an_unparsable_value_is_set_aside_with_its_line_and_column(conn, tmp_path):
    bad = "MSFT,10,abc,1,1,1,1709787600000000000,3"
    path = write_day_file(tmp_path, DAY, [bar_line("AAPL", DAY), bad, bar_line("SPY", DAY)])
    parsed = parse_file(conn, path, "k")
    assert (parsed.rows, parsed.rejected) == (2, 1)
    assert conn.execute(f"select line, column_name, csv_line from {REJECTS_TABLE}").fetchall() == [(3, "open", bad)]


def test_a_wrong_header_names_the_key_and_the_line(conn, tmp_path):
    path = write_day_file(tmp_path, DAY, [bar_line("AAPL", DAY)], header="ticker,open,close")
    with pytest.raises(FileDefectError, match=r"my/key: line 1: header is 'ticker,open,close', expected 'ticker,vol"):
        parse_file(conn, path, "my/key")


def test_an_empty_file_and_a_header_only_file_fail(conn, tmp_path):
    empty = tmp_path / "empty.csv.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(FileDefectError, match="empty file"):
        parse_file(conn, empty, "k")
    header_only = write_day_file(tmp_path, DAY, [])
    with pytest.raises(FileDefectError, match="no data rows"):
        parse_file(conn, header_only, "k")


def test_a_file_of_garbage_lines_fails_as_a_whole(conn, tmp_path):
    path = write_day_file(tmp_path, DAY, ["x,y,z", "1,2"])
    with pytest.raises(FileDefectError, match="none of its 2 rows could be parsed"):
        parse_file(conn, path, "k")
