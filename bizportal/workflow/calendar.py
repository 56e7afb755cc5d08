"""Working days in Thailand: weekends, public holidays and days an agency adds.

Public holidays come from the maintained `holidays` library (Thailand, public
category, including substitution days it publishes). Agencies and deployments
add special days off (e.g. a cabinet-declared bridge holiday) in configuration.
Deadlines under the Licensing Facilitation Act are counted in these days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
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
    """Counts working days: Monday to Friday, minus public holidays and configured days off.

    `extra_holidays` apply to every agency (e.g. a cabinet-declared special holiday);
    `agency_holidays` to one agency's tasks only (e.g. a municipality's own day off).
    """

    def __init__(self, extra_holidays: Iterable[dt.date] = (),
                 agency_holidays: Mapping[str, Iterable[dt.date]] | None = None) -> None:
        self.extra_holidays = frozenset(extra_holidays)
        self.agency_holidays = {agency: frozenset(days) for agency, days in (agency_holidays or {}).items()}

    def is_working_day(self, day: dt.date, agency: str | None = None) -> bool:
        """True if the offices (of `agency`, when given) are open on `day`."""
        return (day.weekday() < 5 and day not in self.extra_holidays
                and day not in _thai_public_holidays(day.year)
                and (agency is None or day not in self.agency_holidays.get(agency, ())))

    def add_working_days(self, start: dt.date, days: int, agency: str | None = None) -> dt.date:
        """The date `days` working days after `start` (the start day itself is not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        remaining = days
        while remaining:
            day += dt.timedelta(days=1)
            if self.is_working_day(day, agency):
                remaining -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date, agency: str | None = None) -> int:
        """Working days in (start, end]; negative when `end` is before `start`."""
        if end < start:
            return -self.working_days_between(end, start, agency)
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working_day(day, agency):
                count += 1
        return count
