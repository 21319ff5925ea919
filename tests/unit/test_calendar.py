"""When a day's file is due: by 11:00 New York time the next day."""

from datetime import UTC, date, datetime

import pytest

from extract.calendar import NEW_YORK, files_due_through


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
