import datetime as dt

import pytest

from rplnav.gestation import format_ga, parse_gestational_age
from rplnav.partial_date import PartialDate, at_least_days_apart


@pytest.mark.parametrize("text,days", [("6+2", 44), ("9+6", 69), ("10+0", 70), (7, 49), (6.3, 44), ("15+6", 111),
                                       ("16+0", 112), ("0+0", 0), ("44+0", 308)])
def test_ga_parsing(text, days):
    assert parse_gestational_age(text) == days


@pytest.mark.parametrize("bad", ["6+7", "45", 44.2, -1, "six", True, "44+1"])
def test_ga_rejects(bad):
    with pytest.raises(ValueError):
        parse_gestational_age(bad)


def test_format_ga_round_trip():
    for d in range(0, 309):
        assert parse_gestational_age(format_ga(d)) == d


def test_partial_dates_are_intervals():
    y = PartialDate.parse("2024")
    assert (y.earliest, y.latest) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    m = PartialDate.parse("2024-02")
    assert m.latest == dt.date(2024, 2, 29)
    assert PartialDate.parse(2023).text == "2023"
    with pytest.raises(ValueError):
        PartialDate.parse("2024-13")
    with pytest.raises(ValueError):
        PartialDate.parse("2023-02-29")


def test_distance_is_three_valued():
    a, b = PartialDate.parse("2024-01-01"), PartialDate.parse("2024-03-25")  # 84 days
    assert at_least_days_apart(a, b, 84) is True
    assert at_least_days_apart(a, PartialDate.parse("2024-03-24"), 84) is False
    # month precision: 2024-01 to 2024-04 spans 61..121 days -> undecided
    assert at_least_days_apart(PartialDate.parse("2024-01"), PartialDate.parse("2024-04"), 84) is None
    # order does not matter
    assert at_least_days_apart(b, a, 84) is True
