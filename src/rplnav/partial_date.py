"""Dates as clinicians record them: a year, a month or a day.

A history often says "miscarriage in 2021" or "April 2023". Such a date is an interval, not a point, so
every comparison that depends on it (12 weeks between two antibody tests, 5 years between a test and a
loss) is three-valued: it is decided only when the whole interval agrees.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from rplnav.logic import Result, known, unknown

_PATTERN = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$", re.ASCII)  # ASCII digits only


@dataclass(frozen=True, order=True)
class PartialDate:
    """A date known to the year, the month or the day."""

    earliest: dt.date
    latest: dt.date
    text: str

    @classmethod
    def parse(cls, value: object) -> PartialDate:
        """Parse YYYY, YYYY-MM or YYYY-MM-DD (or a date / an int year); raise ValueError otherwise."""
        if isinstance(value, PartialDate):
            return value
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return cls(value, value, value.isoformat())
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a date; expected YYYY, YYYY-MM or YYYY-MM-DD")
        if isinstance(value, int):
            value = f"{value:04d}"
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a date; expected YYYY, YYYY-MM or YYYY-MM-DD")
        m = _PATTERN.match(value.strip())
        if not m:
            raise ValueError(f"'{value}' is not a date; expected YYYY, YYYY-MM or YYYY-MM-DD")
        year = int(m.group(1))
        if year < 1900:
            raise ValueError(f"'{value}' is before 1900")
        if m.group(2) is None:
            return cls(dt.date(year, 1, 1), dt.date(year, 12, 31), value)
        month = int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"'{value}' has month {month}; expected 01-12")
        last = calendar.monthrange(year, month)[1]
        if m.group(3) is None:
            return cls(dt.date(year, month, 1), dt.date(year, month, last), value)
        day = int(m.group(3))
        if not 1 <= day <= last:
            raise ValueError(f"'{value}' has day {day}; {year}-{month:02d} has {last} days")
        d = dt.date(year, month, day)
        return cls(d, d, value)

    @property
    def exact(self) -> bool:
        return self.earliest == self.latest

    def __str__(self) -> str:
        return self.text


def days_between(a: PartialDate, b: PartialDate) -> tuple[int, int]:
    """The smallest and largest possible number of days from ``a`` to ``b`` (negative when b is earlier)."""
    return (b.earliest - a.latest).days, (b.latest - a.earliest).days


def at_least_days_apart(a: PartialDate, b: PartialDate, days: int) -> bool | None:
    """Whether |b - a| >= days: True, False, or None when the imprecision of the dates leaves it open."""
    lo, hi = days_between(a, b)
    if lo > hi:  # pragma: no cover - defensive
        lo, hi = hi, lo
    # absolute distance interval
    if lo >= 0:
        dmin, dmax = lo, hi
    elif hi <= 0:
        dmin, dmax = -hi, -lo
    else:
        dmin, dmax = 0, max(-lo, hi)
    if dmin >= days:
        return True
    if dmax < days:
        return False
    return None


def at_most_days_apart(a: PartialDate, b: PartialDate, days: int) -> bool | None:
    """Whether |b - a| <= days, three-valued like :func:`at_least_days_apart`."""
    r = at_least_days_apart(a, b, days + 1)
    return None if r is None else not r


def _add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def within_years(a: PartialDate, b: PartialDate, years: int) -> bool | None:
    """Whether the two dates are at most ``years`` calendar years apart (either order); three-valued."""
    if b.latest <= _add_years(a.earliest, years) and a.latest <= _add_years(b.earliest, years):
        return True
    if b.earliest > _add_years(a.latest, years) or a.earliest > _add_years(b.latest, years):
        return False
    return None


class Event(NamedTuple):
    """A dated (or undated) occurrence that a timing rule is checked against, with the label a next step
    names it by."""

    date: PartialDate | None
    label: str
    undatable: bool = False  # the input model has no date field for it


def relation(a: Event, b: Event, fn: Callable[[PartialDate, PartialDate], bool | None], why: str) -> Result:
    """A three-valued date relation between two events; undecided with the date that would decide it."""
    for e in (a, b):
        if e.date is None:
            if e.undatable:
                return unknown(f"{e.label} has no date in the input, so {why} cannot be checked against it")
            return unknown(f"give the date of {e.label} ({why})")
    assert a.date is not None and b.date is not None
    r = fn(a.date, b.date)
    if r is None:
        return unknown(f"give exact dates for {a.label} and {b.label} ({why})")
    return known(r)
