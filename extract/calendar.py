"""The NYSE session calendar, from the well-kept exchange-calendars library (XNYS): holidays, the closures no rule
foresees (national days of mourning, hurricanes, 9/11) and early closes.

Importing the library and building the calendar costs about two seconds, most of an everyday run that finds
nothing new, so what it answers is kept in a small file in the user's cache, one per library version and span."""

from __future__ import annotations

import bisect
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

from extract.errors import ConfigError

log = logging.getLogger("extract")
FIRST_YEAR = 1990
NEW_YORK = ZoneInfo("America/New_York")
# The provider promises a day's file by 11:00 New York time the next day.
FILE_DUE_HOUR = 11


@dataclass(frozen=True)
class SessionCalendar:
    sessions: tuple[date, ...]
    opens: tuple[int, ...]  # epoch seconds (UTC) of each session's regular open
    closes: tuple[int, ...]
    early_closes: frozenset[date]

    def to_json(self) -> str:
        return json.dumps(
            {
                "sessions": [d.isoformat() for d in self.sessions],
                "opens": self.opens,
                "closes": self.closes,
                "early_closes": sorted(d.isoformat() for d in self.early_closes),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SessionCalendar:
        data = json.loads(text)
        return cls(
            tuple(date.fromisoformat(d) for d in data["sessions"]),
            tuple(data["opens"]),
            tuple(data["closes"]),
            frozenset(date.fromisoformat(d) for d in data["early_closes"]),
        )


def _cache_file(last_year: int) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tickerbars"
    return root / f"xnys-{version('exchange-calendars')}-{FIRST_YEAR}-{last_year}.json"


def _from_library(last_year: int) -> SessionCalendar:
    import exchange_calendars

    xnys = exchange_calendars.get_calendar("XNYS", start=f"{FIRST_YEAR}-01-01", end=f"{last_year}-12-31")
    return SessionCalendar(
        tuple(stamp.date() for stamp in xnys.sessions),
        tuple(int(stamp.timestamp()) for stamp in xnys.opens),
        tuple(int(stamp.timestamp()) for stamp in xnys.closes),
        frozenset(stamp.date() for stamp in xnys.early_closes),
    )


def _store(path: Path, calendar: SessionCalendar) -> None:
    """Written aside and renamed, so a run beside this one reads all of it or none; a cache it cannot write is
    only slower."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as aside:
            aside.write(calendar.to_json())
        os.replace(aside.name, path)
    except OSError as exc:
        log.debug("session calendar not cached at %s: %s", path, exc)


@cache
def _xnys() -> SessionCalendar:
    last_year = date.today().year + 5
    path = _cache_file(last_year)
    try:
        return SessionCalendar.from_json(path.read_text())
    except (OSError, ValueError, KeyError):
        calendar = _from_library(last_year)
        _store(path, calendar)
        return calendar


def _checked(day: date) -> None:
    calendar = _xnys()
    if not calendar.sessions[0] <= day <= calendar.sessions[-1]:
        raise ConfigError(f"{day} is outside the session calendar ({FIRST_YEAR} to {calendar.sessions[-1]})")


def _position(day: date) -> int | None:
    """Where day is in the session list, or None when it is not a session."""
    _checked(day)
    found = _xnys().sessions
    at = bisect.bisect_left(found, day)
    return at if found[at] == day else None


def is_session(day: date) -> bool:
    return day.weekday() < 5 and _position(day) is not None


def sessions(start: date, end: date) -> list[date]:
    if start > end:
        return []
    _checked(start)
    _checked(end)
    found = _xnys().sessions
    return list(found[bisect.bisect_left(found, start) : bisect.bisect_right(found, end)])


def trading_days(calendar: str, start: date, end: date) -> list[date]:
    """The days a dataset on this calendar has a file for: NYSE sessions (XNYS), every day (crypto), or every day
    but Saturday (forex, whose week opens on Sunday evening)."""
    if calendar == "XNYS":
        return sessions(start, end)
    every = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return every if calendar == "every_day" else [day for day in every if day.weekday() != 5]


def early_closes(start: date, end: date) -> set[date]:
    """Sessions that close early (13:00 New York), such as the day after Thanksgiving."""
    return {day for day in _xnys().early_closes if start <= day <= end}


def files_due_through(now: datetime) -> date:
    """The last day whose file is due by `now`: yesterday's from 11:00 New York time on, the day before's until then."""
    local = now.astimezone(NEW_YORK)
    return local.date() - timedelta(days=1 if local.hour >= FILE_DUE_HOUR else 2)


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """When the session's regular trading opens and closes (UTC; 13:00 New York on an early close)."""
    at = _position(day)
    if at is None:
        raise ConfigError(f"{day} is not an NYSE session")
    calendar = _xnys()
    return datetime.fromtimestamp(calendar.opens[at], UTC), datetime.fromtimestamp(calendar.closes[at], UTC)
