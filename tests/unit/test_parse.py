import gzip
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from extract.errors import FileDefectError, WarehouseError
from extract.land.postgres import LONGEST_LINE, with_lineage
from extract.parse import (
    HEADER,
    PARSED_TABLE,
    REJECTS_TABLE,
    UnparsableLines,
    inflate_verified,
    parse_file,
    read_verified,
    verify_file,
)
from tests.conftest import bar_line, write_day_file

SHARED_ROWS = Path(__file__).resolve().parents[3] / "shared" / "data" / "day_aggs_2024-03-07_first_rows.csv"
DAY = date(2024, 3, 7)
LINE = "AAPL,1000,1.0,1.1,1.2,0.9,1709787600000000000,42"


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


def test_a_wrong_header_names_the_key_and_the_line(tmp_path):
    path = write_day_file(tmp_path, DAY, [bar_line("AAPL", DAY)], header="ticker,open,close")
    with pytest.raises(FileDefectError, match=r"my/key: line 1: header is 'ticker,open,close', expected 'ticker,vol"):
        verify_file(path, "my/key")


def test_an_empty_file_and_a_header_only_file_fail(tmp_path):
    empty = tmp_path / "empty.csv.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(FileDefectError, match="empty file"):
        verify_file(empty, "k")
    header_only = write_day_file(tmp_path, DAY, [])
    with pytest.raises(FileDefectError, match="no data rows"):
        verify_file(header_only, "k")


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff" + ",".join(HEADER) + "\n" + LINE + "\n",
        ",".join(f'"{name}"' for name in HEADER) + "\n" + LINE + "\n",
        ",".join(HEADER) + "\n\n" + LINE + "\n",
        ",".join(HEADER) + "\r\n" + LINE + "\r\n",
    ],
    ids=["utf8-bom", "quoted-header", "blank-line-after-header", "crlf"],
)
def test_a_good_file_in_another_spelling_is_accepted_and_parses(conn, tmp_path, text):
    path = tmp_path / "f.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    verify_file(path, "k")
    assert parse_file(conn, path, "k").rows == 1


def test_a_damaged_member_fails_its_crc_although_a_reader_would_decode_most_of_it(tmp_path):
    path = write_day_file(tmp_path, DAY, [bar_line(f"T{n}", DAY) for n in range(2000)])
    good = path.read_bytes()
    crc_at = len(good) - 8  # the gzip trailer: CRC-32 then length
    path.write_bytes(good[:crc_at] + bytes([good[crc_at] ^ 0xFF]) + good[crc_at + 1 :])
    with pytest.raises(FileDefectError, match="k: not a whole gzip file .*CRC|k: not a whole gzip file .*check"):
        verify_file(path, "k")
    path.write_bytes(good[:crc_at] + good[crc_at:][:4] + bytes([good[-4] ^ 0x01]) + good[-3:])
    with pytest.raises(FileDefectError, match="not a whole gzip file"):
        verify_file(path, "k")
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(FileDefectError, match=r"not a whole gzip file \(cut short\)"):
        verify_file(path, "k")


def test_a_file_read_as_it_is_checked_yields_its_text_and_fails_at_a_bad_trailer(tmp_path):
    """What PostgreSQL's COPY sends: the whole text of a good file; a damaged one raises before its end is sent."""
    path = write_day_file(tmp_path, DAY, [bar_line(f"T{n}", DAY) for n in range(20_000)])
    good = path.read_bytes()
    assert b"".join(read_verified(path, "k")) == gzip.decompress(good)
    path.write_bytes(good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:])
    sent = []
    with pytest.raises(FileDefectError, match="k: not a whole gzip file"):
        sent.extend(read_verified(path, "k"))
    path.write_bytes(gzip.compress(b"ticker,volume\nAAPL,1\n"))
    with pytest.raises(FileDefectError, match="line 1: header is"):
        next(read_verified(path, "k"))


def test_every_member_of_a_multi_member_file_is_checked(tmp_path):
    head = gzip.compress((",".join(HEADER) + "\n" + LINE + "\n").encode())
    tail = bytearray(gzip.compress(((LINE + "\n") * 50).encode()))
    path = tmp_path / "members.csv.gz"
    path.write_bytes(head + bytes(tail) + b"\0\0\0")
    verify_file(path, "k")
    tail[-8] ^= 0xFF
    path.write_bytes(head + bytes(tail))
    with pytest.raises(FileDefectError, match="not a whole gzip file"):
        verify_file(path, "k")
    path.write_bytes(head + b"garbage after the member")
    with pytest.raises(FileDefectError, match="bytes after the last gzip member"):
        verify_file(path, "k")


def test_a_file_of_garbage_lines_fails_as_a_whole(conn, tmp_path):
    path = write_day_file(tmp_path, DAY, ["x,y,z", "1,2"])
    with pytest.raises(FileDefectError, match="none of its 2 rows could be parsed"):
        parse_file(conn, path, "k")


def test_the_lineage_is_appended_to_every_whole_line_whatever_the_blocks_and_line_ends():
    text = (",".join(HEADER) + "\r\n" + LINE + "\r\n" + LINE.replace("AAPL", "MSFT")).encode()
    expected = (
        ",".join(HEADER)
        + ",7,2024-03-07\n"
        + LINE
        + ",7,2024-03-07\n"
        + LINE.replace("AAPL", "MSFT")
        + ",7,2024-03-07\n"
    ).encode()
    for size in (1, 2, 5, 64, len(text)):
        blocks = [text[at : at + size] for at in range(0, len(text), size)]
        assert b"".join(with_lineage(iter(blocks), b",7,2024-03-07")) == expected, size
    blank = b"".join(with_lineage(iter([b"h\n\nA,1\n"]), b",7"))
    assert blank == b"h,7\n,7\nA,1,7\n"  # the blank line is short of fields: COPY refuses it, the parser takes over


def test_a_stream_without_line_feeds_is_never_held_whole():
    blocks = [b"x" * 1000] * 200
    sent = list(with_lineage(iter(blocks), b",7"))
    assert max(map(len, sent)) <= LONGEST_LINE + 1000 and b"".join(sent).startswith(b"x" * 100_000)


def test_a_quote_in_a_data_line_sends_the_file_to_the_parser_and_a_quoted_header_does_not():
    quoted_header = ",".join(f'"{name}"' for name in HEADER) + "\n" + LINE + "\n"
    assert b"".join(with_lineage(iter([quoted_header.encode()]), b",7")).endswith(LINE.encode() + b",7\n")
    for text in (",".join(HEADER) + '\n"AA\nPL",1,2,3,4,5,6,7\n', ",".join(HEADER) + '\nAAPL,1,2,3,4,5,6,"7"'):
        with pytest.raises(UnparsableLines):
            b"".join(with_lineage(iter([text.encode()]), b",7"))


def test_text_that_cannot_be_written_is_a_warehouse_error_naming_the_key_and_the_way_out(tmp_path):
    path = write_day_file(tmp_path, date(2024, 3, 7), [bar_line("AAPL", date(2024, 3, 7))])
    into = tmp_path / "scratch"
    into.mkdir()  # a folder where the text file goes: the write fails
    with pytest.raises(WarehouseError, match=r"^k: cannot write its text to .*; free space or fix permissions there"):
        inflate_verified(path, "k", into)
