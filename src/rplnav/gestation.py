"""Gestational age, kept as whole days so that boundaries such as 9+6 vs 10+0 weeks are exact."""

from __future__ import annotations

import math
import re

# ASCII digits only: Python's \d and float() also take fullwidth and other Unicode digits
_WD = re.compile(r"^\s*([0-9]{1,2})\s*\+\s*([0-9])\s*$", re.ASCII)
_WEEKS = re.compile(r"^[0-9]{1,2}(\.[0-9]+)?$", re.ASCII)
MAX_WEEKS = 44


def parse_gestational_age(value: object) -> int:
    """Return gestational age in days from "weeks+days" (``"6+2"``) or a number of weeks (``6.3``).

    A decimal number of weeks is rounded to the nearest whole day (6.3 weeks -> 44 days = 6+2).
    Raises ValueError with a message fit for the user.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a gestational age; expected weeks (7 or 6.3) or weeks+days ('6+2')")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is outside 0-{MAX_WEEKS} weeks")
        days = round(float(value) * 7)
    elif isinstance(value, str):
        text = value.strip()
        m = _WD.match(text)
        if m:
            weeks, extra = int(m.group(1)), int(m.group(2))
            if extra > 6:
                raise ValueError(f"'{value}' has {extra} days; the days part of weeks+days is 0-6")
            days = weeks * 7 + extra
        else:
            if not _WEEKS.match(text):
                raise ValueError(
                    f"'{value}' is not a gestational age; expected weeks (7 or 6.3) or weeks+days ('6+2')")
            return parse_gestational_age(float(text))
    else:
        raise ValueError(f"{value!r} is not a gestational age; expected weeks (7 or 6.3) or weeks+days ('6+2')")
    if days > MAX_WEEKS * 7:
        raise ValueError(f"{value!r} is outside 0-{MAX_WEEKS} weeks")
    return days


def format_ga(days: int) -> str:
    """Days -> 'w+d'."""
    return f"{days // 7}+{days % 7}"
