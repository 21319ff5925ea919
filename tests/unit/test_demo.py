import gzip
from datetime import date
from pathlib import Path

from extract.calendar import early_closes, is_session, sessions
from extract.demo import DemoSpec, window_start_ns, write_demo_mirror
from tests.conftest import CONFIGURED, read_mirror_rows

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_window_start_is_new_york_midnight_as_in_the_real_files():
    # day_aggs_2024-03-07_first_rows.csv: window_start 1709787600000000000
    assert window_start_ns(date(2024, 3, 7)) == 1709787600000000000
    assert window_start_ns(date(2019, 8, 12)) == 1565582400000000000


def test_the_session_calendar_skips_weekends_holidays_and_historic_closures():
    holidays = [
        date(2024, 3, 29),  # Good Friday
        date(2024, 6, 19),  # Juneteenth
        date(2021, 12, 24),  # Christmas on a Saturday, observed on Friday
        date(2025, 1, 9),  # national day of mourning (Carter)
        date(2018, 12, 5),  # national day of mourning (G. H. W. Bush)
        date(2012, 10, 29),  # Hurricane Sandy
        date(2012, 10, 30),
        date(2001, 9, 11),  # 9/11, closed to 2001-09-14
        date(2001, 9, 14),
        date(2007, 1, 2),  # national day of mourning (Ford): no hand-written rule knew it
    ]
    assert not any(is_session(day) for day in holidays)
    assert is_session(date(2021, 12, 31))  # New Year's Day on a Saturday is not observed on Friday
    assert not is_session(date(2024, 3, 9)) and is_session(date(2024, 3, 7))
    assert len(sessions(date(2024, 1, 1), date(2024, 12, 31))) == 252
    assert early_closes(date(2024, 11, 1), date(2024, 12, 31)) == {date(2024, 11, 29), date(2024, 12, 24)}


def test_the_sessions_match_the_real_november_2025_listing():
    listing = (SHARED / "day_aggs_listing_2025-11.txt").read_text() if SHARED.exists() else ""
    listed = [line.rsplit("/", 1)[1][:10] for line in listing.splitlines() if line.endswith(".csv.gz")]
    if listed:
        assert [d.isoformat() for d in sessions(date(2025, 11, 3), date(2025, 11, 11))] == listed


def test_the_demo_mirror_is_deterministic_and_realistic(tmp_path):
    spec = DemoSpec(date(2024, 3, 1), date(2024, 3, 15), ticker_count=300, seed=3, include_tickers=CONFIGURED)
    first = write_demo_mirror(tmp_path / "a", spec)
    write_demo_mirror(tmp_path / "b", spec)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.csv.gz"))
    assert first.files == len(files_a) == 11
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)

    rows = read_mirror_rows(tmp_path / "a")
    assert len(rows) == first.rows
    assert all((t, d) in rows for t in CONFIGURED for d in sessions(spec.start, spec.end))
    volumes = [row["volume"] for row in rows.values()]
    assert any("." in v for v in volumes) and sum("." not in v for v in volumes) > 0.9 * len(volumes)
    for row in rows.values():
        o, h, low, c = (float(row[k]) for k in ("open", "high", "low", "close"))
        assert h >= max(o, c, low) and low <= min(o, c) and low > 0
        assert len(row["close"].partition(".")[2]) <= 4
    first_file = gzip.decompress((tmp_path / "a" / files_a[0]).read_bytes()).decode().splitlines()
    assert first_file[0] == "ticker,volume,open,close,high,low,window_start,transactions"
    assert first_file[1:] == sorted(first_file[1:])
