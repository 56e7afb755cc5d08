"""Working days in Thailand: weekends, public holidays and days an agency adds.

Public holidays come from the maintained `holidays` library (Thailand, public
category, including substitution days it publishes). Agencies and deployments
add special days off (e.g. a cabinet-declared bridge holiday) in configuration.
Deadlines under the Licensing Facilitation Act are counted in these days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

THAI_TIME = ZoneInfo("Asia/Bangkok")


@lru_cache(maxsize=256)
def _thai_public_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("TH", years=year).keys())


def local_date(moment: dt.datetime) -> dt.date:
    """The date in Thailand at `moment` (which must be timezone-aware)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(THAI_TIME).date()


class WorkingCalendar:
    """Counts working days: Monday to Friday, minus public and extra holidays."""

    def __init__(self, extra_holidays: Iterable[dt.date] = ()) -> None:
        self.extra_holidays = frozenset(extra_holidays)

    def with_extra(self, extra_holidays: Iterable[dt.date]) -> WorkingCalendar:
        """A calendar with more days off (e.g. one agency's own)."""
        extra = frozenset(extra_holidays)
        return self if not extra - self.extra_holidays else WorkingCalendar(self.extra_holidays | extra)

    def is_working_day(self, day: dt.date) -> bool:
        """True if government offices are open on `day`."""
        return (day.weekday() < 5 and day not in self.extra_holidays
                and day not in _thai_public_holidays(day.year))

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The date `days` working days after `start` (the start day itself is not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        remaining = days
        while remaining:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when `end` is before `start`."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count
