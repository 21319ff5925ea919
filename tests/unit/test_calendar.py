"""When a day's file is due: by 11:00 New York time the next day."""

from datetime import UTC, date, datetime

import pytest

from extract import calendar
from extract.calendar import NEW_YORK, files_due_through
from extract.errors import ConfigError


@pytest.mark.parametrize(
    ("now", "due_through"),
    [
        (datetime(2024, 1, 10, 10, 59, tzinfo=NEW_YORK), date(2024, 1, 8)),
        (datetime(2024, 1, 10, 11, 0, tzinfo=NEW_YORK), date(2024, 1, 9)),
        (datetime(2024, 1, 10, 23, 30, tzinfo=NEW_YORK), date(2024, 1, 9)),
        (datetime(2024, 1, 11, 3, 0, tzinfo=UTC), date(2024, 1, 9)),  # 22:00 on the 10th in New York
        (datetime(2024, 7, 10, 15, 30, tzinfo=UTC), date(2024, 7, 9)),  # 11:30 EDT
    ],
)
def test_a_days_file_is_due_by_eleven_new_york_time_the_next_day(now, due_through):
    assert files_due_through(now) == due_through


@pytest.fixture
def fresh_calendar(tmp_path, monkeypatch):
    """The calendar built anew, its cache in tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calendar._xnys.cache_clear()
    yield tmp_path / "tickerbars"
    calendar._xnys.cache_clear()


def test_the_cached_calendar_answers_as_the_library_does(fresh_calendar, monkeypatch):
    import exchange_calendars

    xnys = exchange_calendars.get_calendar("XNYS", start="2012-01-01", end="2025-12-31")
    built = calendar.sessions(date(2012, 1, 1), date(2025, 12, 31))
    calendar._xnys.cache_clear()
    monkeypatch.setattr(calendar, "_from_library", None)  # the cache answers alone
    cached = calendar.sessions(date(2012, 1, 1), date(2025, 12, 31))
    assert [f.name for f in fresh_calendar.iterdir()] == [calendar._cache_file(date.today().year + 5).name]
    assert built == cached == [stamp.date() for stamp in xnys.sessions]
    assert calendar.early_closes(date(2012, 1, 1), date(2025, 12, 31)) == {
        stamp.date() for stamp in xnys.early_closes if stamp.year <= 2025
    }
    assert calendar.session_bounds(date(2024, 11, 29)) == (
        datetime(2024, 11, 29, 14, 30, tzinfo=UTC),
        datetime(2024, 11, 29, 18, 0, tzinfo=UTC),
    )
    assert not calendar.is_session(date(2012, 10, 29))  # Hurricane Sandy


def test_a_damaged_cache_is_rebuilt_and_an_unwritable_one_only_costs_time(fresh_calendar, tmp_path, monkeypatch):
    path = calendar._cache_file(date.today().year + 5)
    path.parent.mkdir(parents=True)
    path.write_text('{"sessions": [')
    assert calendar.is_session(date(2024, 1, 2))
    assert calendar.SessionCalendar.from_json(path.read_text()).sessions[0] == date(1990, 1, 2)

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    calendar._xnys.cache_clear()
    assert calendar.is_session(date(2024, 1, 2))


def test_a_day_outside_the_calendar_is_a_config_error(fresh_calendar):
    with pytest.raises(ConfigError, match="outside the session calendar"):
        calendar.sessions(date(1980, 1, 1), date(1980, 2, 1))
    with pytest.raises(ConfigError, match="not an NYSE session"):
        calendar.session_bounds(date(2024, 1, 6))


def test_each_calendar_has_its_own_trading_days():
    week = (date(2024, 11, 25), date(2024, 12, 1))  # Monday to Sunday, Thanksgiving on the Thursday
    assert calendar.trading_days("XNYS", *week) == [date(2024, 11, day) for day in (25, 26, 27, 29)]
    assert calendar.trading_days("every_day", *week) == [date(2024, 11, day) for day in range(25, 31)] + [
        date(2024, 12, 1)
    ]
    assert date(2024, 11, 30) not in calendar.trading_days("sunday_to_friday", *week)
    assert len(calendar.trading_days("sunday_to_friday", *week)) == 6
