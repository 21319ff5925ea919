"""The NYSE session calendar, from the well-kept exchange-calendars library (XNYS): holidays, the closures no rule
foresees (national days of mourning, hurricanes, 9/11) and early closes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import exchange_calendars

from extract.errors import ConfigError

FIRST_YEAR = 1990
NEW_YORK = ZoneInfo("America/New_York")
# The provider promises a day's file by 11:00 New York time the next day.
FILE_DUE_HOUR = 11


@cache
def _xnys():
    return exchange_calendars.get_calendar("XNYS", start=f"{FIRST_YEAR}-01-01", end=f"{date.today().year + 5}-12-31")


def _checked(day: date) -> str:
    calendar = _xnys()
    if not calendar.first_session.date() <= day <= calendar.last_session.date():
        raise ConfigError(f"{day} is outside the session calendar ({FIRST_YEAR} to {calendar.last_session.date()})")
    return day.isoformat()


def is_session(day: date) -> bool:
    if day.weekday() >= 5:
        return False
    return bool(_xnys().is_session(_checked(day)))


def sessions(start: date, end: date) -> list[date]:
    if start > end:
        return []
    return [stamp.date() for stamp in _xnys().sessions_in_range(_checked(start), _checked(end))]


def early_closes(start: date, end: date) -> set[date]:
    """Sessions that close early (13:00 New York), such as the day after Thanksgiving."""
    closes = _xnys().early_closes
    return {stamp.date() for stamp in closes if start <= stamp.date() <= end}


def files_due_through(now: datetime) -> date:
    """The last day whose file is due by `now`: yesterday's from 11:00 New York time on, the day before's until then."""
    local = now.astimezone(NEW_YORK)
    return local.date() - timedelta(days=1 if local.hour >= FILE_DUE_HOUR else 2)


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """When the session's regular trading opens and closes (UTC; 13:00 New York on an early close)."""
    calendar = _xnys()
    stamp = _checked(day)
    return calendar.session_open(stamp).to_pydatetime(), calendar.session_close(stamp).to_pydatetime()
