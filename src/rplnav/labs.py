"""Laboratory results, read once: whether each result is positive, and whether each test is persistent.

The work-up, the APS criteria and the recommendations all see a result through these functions, so they
cannot disagree about it. There is one positivity rule (the test's ``positive`` entry in tests.yaml, or the
laboratory's own upper limit when the test has none) and one persistence rule (positive on two occasions at
least a given interval apart; the interval is the Sydney 2006 one, criteria/aps-sydney-2006.yaml).

Interpretations stated here so that a reviewer can disagree (they hold for every test alike):

* A qualitative result is positive when it reads positive, present, heterozygous, homozygous, abnormal,
  deficient or high, negative when it reads negative, absent, normal or not detected; a qualitative reading
  takes precedence over a number given with it.
* A positive result is "refuted" (no longer awaiting a repeat) once a negative result of the same test follows
  it by the persistence interval or more. A pair of results at least the interval apart, both positive,
  makes the test persistent whatever came between or after.
* An undated result can be paired with nothing and refuted by nothing: its date is asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rplnav.knowledge.model import TestSpec
from rplnav.logic import FALSE, TRUE, Result, all_of, any_of, known, unknown
from rplnav.partial_date import Event, at_least_days_apart, relation
from rplnav.patient import Lab

POSITIVE_WORDS = frozenset({"positive", "present", "heterozygous", "homozygous", "abnormal", "deficient", "high"})
NEGATIVE_WORDS = frozenset({"negative", "absent", "normal", "not_detected"})


class Reading(NamedTuple):
    """One result, the event it is dated by, and whether it is positive (at some rule or level)."""

    lab: Lab
    event: Event
    pos: Result


def positivity(lab: Lab, spec: TestSpec, label: str) -> Result:
    """Whether one result is positive/abnormal by its test's rule; undecided with the missing datum."""
    if lab.result is not None:
        if lab.result in POSITIVE_WORDS:
            return TRUE
        if lab.result in NEGATIVE_WORDS:
            return FALSE
        return unknown(f"{label} is '{lab.result}'; give positive or negative")
    v = lab.value
    if v is None:
        return unknown(f"{label} has no result")
    rule = spec.positive
    if rule is None:
        if lab.reference_high is not None:
            return known(v > lab.reference_high)
        return unknown(f"give the laboratory's upper reference limit (reference_high) for {label}")
    hit = False
    decided = False
    if rule.above is not None:
        hit, decided = hit or v > rule.above, True
    if rule.at_or_above is not None:
        hit, decided = hit or v >= rule.at_or_above, True
    if rule.below is not None:
        hit, decided = hit or v < rule.below, True
    if hit:
        return TRUE
    if rule.use_reference_high:
        if lab.reference_high is not None:
            return known(v > lab.reference_high)
        shown = f"{v:g} {spec.unit}" if spec.unit else f"{v:g}"
        limit = f" (it is not above {rule.above:g})" if rule.above is not None else ""
        return unknown(f"give the laboratory's {rule.reference_high_means} (reference_high) for {label} "
                       f"({shown}){limit}")
    return FALSE if decided else unknown(f"give the laboratory's upper reference limit (reference_high) for {label}")


def level_reached(lab: Lab, level: float, label: str, ask: str) -> Result:
    """Whether a result's titre reaches ``level``: a qualitative negative never does; a qualitative positive
    is undecided until the titre is given (``ask`` says what the levels are)."""
    if lab.value is not None:
        return known(lab.value >= level)
    if lab.result in NEGATIVE_WORDS:
        return FALSE
    return unknown(f"give the titre of {label} ({ask})")


def persistence(readings: Sequence[Reading], name: str, today: dt.date, interval_days: int,
                level: str = "") -> Result:
    """Positive on two occasions at least ``interval_days`` apart; three-valued, with the repeat test (or the
    date) that would decide it."""
    if not readings:
        return unknown(f"{name} not tested")
    weeks = f"{interval_days // 7} weeks" if interval_days % 7 == 0 else f"{interval_days} days"
    why = f"persistence: positive on 2 occasions at least {weeks} apart"
    pairs = []
    for i, a in enumerate(readings):
        if a.pos.value is False:
            continue
        for b in readings[i + 1:]:
            if b.pos.value is False:
                continue
            apart = relation(a.event, b.event, lambda x, y: at_least_days_apart(x, y, interval_days), why)
            pairs.append(all_of([a.pos, b.pos, apart]))
    paired = any_of(pairs)
    if paired.value is True:
        return TRUE
    open_: list[Reading] = []
    for p in readings:
        if p.pos.value is False:
            continue
        d = p.event.date
        refuted = d is not None and any(
            n.pos.value is False and n.event.date is not None
            and (n.event.date.earliest - d.latest).days >= interval_days
            for n in readings
        )
        if not refuted:
            open_.append(p)
    if not open_:
        return paired
    needs = list(paired.needs)
    for p in open_:
        needs += p.pos.needs
    dated = [(p, p.event.date) for p in open_ if p.event.date is not None]
    if dated:
        first, first_date = min(dated, key=lambda x: x[1].latest)
        due = max(first_date.latest + dt.timedelta(days=interval_days), today)
        what = "positive" if first.pos.value else "possibly positive"
        needs.append(f"repeat {name} on or after {due.isoformat()} ({weeks} after the {what} result of "
                     f"{first_date}) to test persistence{level}")
    else:
        needs += [f"give the date of {p.event.label} (persistence needs dated results)" for p in open_]
    return Result(None, tuple(dict.fromkeys(needs)))


@dataclass(frozen=True)
class TestHistory:
    """Every result of one test, oldest first (undated ones first of all), each read by the test's rule, and
    the test's persistence."""

    test: str
    name: str
    readings: tuple[Reading, ...]
    persistent: Result

    @property
    def ever_positive(self) -> Result:
        return any_of(r.pos for r in self.readings)

    @property
    def latest(self) -> Reading:
        return self.readings[-1]


def _label(lab: Lab, index: int, name: str) -> str:
    return f"the {name} result of {lab.date}" if lab.date else f"the {name} result labs[{index}]"


def histories(labs: Iterable[Lab], tests: Mapping[str, TestSpec], names: Mapping[str, str], today: dt.date,
              interval_days: int) -> dict[str, TestHistory]:
    """One history per tested test (tests not in ``tests`` are ignored); ``names`` are the short names
    next steps use ("lupus anticoagulant"), falling back to the test's name."""
    by_test: dict[str, list[tuple[int, Lab]]] = {}
    for i, lab in enumerate(labs):
        if lab.test in tests:
            by_test.setdefault(lab.test, []).append((i, lab))
    out: dict[str, TestHistory] = {}
    for t, items in by_test.items():
        spec = tests[t]
        name = names.get(t) or spec.name
        items.sort(key=lambda x: x[1].date.earliest if x[1].date else dt.date.min)
        readings = []
        for i, lab in items:
            event = Event(lab.date, _label(lab, i, name))
            readings.append(Reading(lab, event, positivity(lab, spec, event.label)))
        out[t] = TestHistory(t, name, tuple(readings), persistence(readings, name, today, interval_days))
    return out
