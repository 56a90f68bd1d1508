"""Laboratory results, read once: whether each result is positive, and whether each test is persistent.

The work-up, the APS criteria and the recommendations all see a result through these functions, so they
cannot disagree about it. There is one positivity rule (the test's ``positive`` entry in tests.yaml, or the
laboratory's own upper limit when the test has none) and one persistence rule (positive on two occasions at
least a given interval apart; the interval is the Sydney 2006 one, criteria/aps-sydney-2006.yaml).

Reading a number (the knowledge base's ``positive`` rule, the laboratory's limits and the usual limits of
knowledge/lab-limits.yaml):

* A fixed threshold from a source (Sydney's >40 units, vitamin D <30 ng/mL) decides wherever it is met.
* The laboratory's printed upper limit (``reference_high``) decides the tests whose rule uses it. Without it,
  the test's usual range decides: above every usual limit is abnormal, within the lowest is normal, in between
  the laboratory's limit is asked for; each decision taken so carries its ``basis`` (shown with the result).
* Sydney 2006's ">99th percentile" (aCL, anti-β2GPI) is read only from ``cutoff_p99``. A result not above the
  laboratory's printed upper limit is negative there (the laboratory reports it negative); one above that
  limit but not above 40 units stays undecided and asks for the 99th-percentile cut-off. Without any limit, a
  result within every usual negative range is negative.
* A research cut-off (peripheral NK cells) decides only "raised by that cut-off"; the laboratory's range is not
  read, and the basis says it is not a reference range.
* A censored value ("<2", ">150") is the set of values it allows; it is decided only when the whole set lies
  on one side of the limit. A qualitative level (low/moderate/high positive) is its 2023 ACR/EULAR band for
  aCL and anti-β2GPI (low 20-39, moderate 40-79, high >= 80 units); for other tests it reads as positive.

Interpretations stated here so that a reviewer can disagree (they hold for every test alike):

* A qualitative result is positive when it reads positive, present, heterozygous, homozygous, abnormal,
  deficient, high or a positive level, negative when it reads negative, absent, normal or not detected; a
  qualitative reading takes precedence over a number given with it. For aCL and anti-β2GPI a bare "positive"
  is above the laboratory's cut-off, not necessarily Sydney's, so the titre is asked for.
* A positive result is "refuted" (no longer awaiting a repeat) once a negative result of the same test follows
  it by the persistence interval or more. A pair of results at least the interval apart, both positive,
  makes the test persistent whatever came between or after.
* An undated result can be paired with nothing and refuted by nothing: its date is asked for.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rplnav.knowledge.model import PositiveRule, TestSpec, UsualLimits
from rplnav.logic import FALSE, TRUE, Result, all_of, any_of, unknown
from rplnav.partial_date import Event, at_least_days_apart, relation
from rplnav.patient import QUALITATIVE_LEVELS, Lab

POSITIVE_WORDS = frozenset({"positive", "present", "heterozygous", "homozygous", "abnormal", "deficient", "high",
                            *QUALITATIVE_LEVELS})
NEGATIVE_WORDS = frozenset({"negative", "absent", "normal", "not_detected"})

INF = math.inf


@dataclass(frozen=True)
class Basis:
    """What a result was judged against when the laboratory's own limit was not used, and its sources."""

    text: str
    documents: tuple[str, ...]


class Reading(NamedTuple):
    """One result, the event it is dated by, whether it is positive (at some rule or level), and, when that
    was decided without the laboratory's own limit, what it was judged against (shown with the result)."""

    lab: Lab
    event: Event
    pos: Result
    basis: Basis | None = None


@dataclass(frozen=True)
class Span:
    """The values a result can have, in the canonical unit: a number is a point, ``"<2"`` is [0, 2),
    a qualitative level with a defined band is that band."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def above(self, t: float, at_limit_abnormal: bool = False) -> bool | None:
        """Whether every value is above ``t`` (True), none is (False), or some are (None); a value equal to
        ``t`` counts as above when ``at_limit_abnormal``."""
        if self.lo > t or (self.lo == t and (self.lo_open or at_limit_abnormal)):
            return True
        if self.hi < t or (self.hi == t and (self.hi_open or not at_limit_abnormal)):
            return False
        return None

    def below(self, t: float, at_limit_abnormal: bool = False) -> bool | None:
        """Mirror of :meth:`above`."""
        if self.hi < t or (self.hi == t and (self.hi_open or at_limit_abnormal)):
            return True
        if self.lo > t or (self.lo == t and (self.lo_open or not at_limit_abnormal)):
            return False
        return None

    def text(self, unit: str | None) -> str:
        u = f" {unit}" if unit else ""
        if self.lo == self.hi:
            return f"{self.lo:g}{u}"
        if self.hi == INF:
            return f"{'>' if self.lo_open else '>='}{self.lo:g}{u}"
        if self.lo <= 0 and not self.lo_open:
            return f"{'<' if self.hi_open else '<='}{self.hi:g}{u}"
        return f"{self.lo:g}-{self.hi:g}{u}"


def span_of(lab: Lab, spec: TestSpec) -> Span | None:
    """The values a result can have: its number, its censored bound, or its qualitative level's band."""
    if lab.result is not None:
        band = spec.levels.band(lab.result) if spec.levels else None
        return None if band is None else Span(band[0], INF if band[1] is None else band[1], hi_open=True)
    if lab.value is not None:
        return Span(lab.value, lab.value)
    if lab.bound is not None:
        return _bound_span(lab, spec.min if spec.min is not None else -INF)
    return None


def _bound_span(lab: Lab, floor: float) -> Span:
    assert lab.bound is not None
    if lab.bound_side in ("below", "at_or_below"):
        return Span(floor, lab.bound, hi_open=lab.bound_side == "below")
    return Span(lab.bound, INF, lo_open=lab.bound_side == "above")


def _usual(span: Span, spec: TestSpec, side: str = "upper") -> tuple[bool | None, UsualLimits | None]:
    """Abnormal (True) beyond every usual limit, normal (False) within every one, else None."""
    for u in spec.usual_limits:
        if u.side != side:
            continue
        if side == "upper":
            hi = span.above(u.highest.value, u.highest.at_limit == "abnormal")
            lo = span.above(u.lowest.value, u.lowest.at_limit == "abnormal")
        else:
            hi = span.below(u.lowest.value, u.lowest.at_limit == "abnormal")
            lo = span.below(u.highest.value, u.highest.at_limit == "abnormal")
        if hi is True:
            return True, u
        if lo is False:
            return False, u
        return None, u
    return None, None


def usual_basis(u: UsualLimits, unit: str | None, verdict: bool) -> Basis:
    """The statement shown with a result judged against the usual range."""
    what = {"upper_reference_limit": "upper reference limits", "lower_reference_limit": "lower reference limits",
            "positivity_cutoff": "upper limits of the negative range"}[u.means]
    word = ("positive" if verdict else "negative") if u.means == "positivity_cutoff" else \
        ("abnormal" if verdict else "normal")
    unit_ = f" {unit}" if unit else ""
    docs = tuple(dict.fromkeys(x.source.document for x in (u.lowest, u.highest)))
    return Basis(f"read as {word} against the usual range ({what} {u.lowest.value:g}-{u.highest.value:g}{unit_} "
                 f"across laboratories; sources: {', '.join(docs)}); the laboratory's limit was not given", docs)


def interpret(lab: Lab, spec: TestSpec, label: str) -> tuple[Result, Basis | None]:
    """Whether one result is positive/abnormal by its test's rule, and what it was judged against when that
    was not the laboratory's own limit; undecided with the datum that would decide it."""
    rule = spec.positive
    span = span_of(lab, spec)
    if lab.result is not None and span is None:
        if lab.result in NEGATIVE_WORDS:
            return FALSE, None
        if lab.result not in POSITIVE_WORDS:
            return unknown(f"{label} is '{lab.result}'; give positive or negative"), None
        if rule is not None and rule.use_cutoff_p99:
            return unknown(f"give the titre of {label} (reported '{lab.result}'; the criterion needs "
                           f"{_p99_words(rule)})"), None
        return TRUE, None
    if span is None:
        return unknown(f"{label} has no result"), None
    shown = span.text(spec.unit)
    if rule is None:
        if lab.reference_high is not None:
            return _tri(span.above(lab.reference_high), label, shown), None
        v, u = _usual(span, spec)
        if v is not None and u is not None:
            return Result(v), usual_basis(u, spec.unit, v)
        return unknown(f"give the laboratory's upper reference limit (reference_high) for {label} ({shown})"), None
    fixed: list[bool | None] = []
    if rule.above is not None:
        fixed.append(span.above(rule.above))
    if rule.at_or_above is not None:
        fixed.append(span.above(rule.at_or_above, at_limit_abnormal=True))
    if rule.below is not None:
        fixed.append(span.below(rule.below))
    fixed_hit = any_of(_tri(v, label, shown) for v in fixed) if fixed else FALSE
    if fixed_hit.value is True:
        return TRUE, _research(rule, spec, True)
    if rule.research_cutoff or not (rule.use_reference_high or rule.use_cutoff_p99):
        if fixed_hit.value is False:
            return FALSE, _research(rule, spec, False) if fixed else None
        return unknown(f"give the exact value of {label} ({shown})"), None
    if rule.use_cutoff_p99:
        return _p99(span, lab, spec, rule, fixed_hit, label, shown)
    if lab.reference_high is not None:
        return any_of([fixed_hit, _tri(span.above(lab.reference_high), label, shown)]), None
    v, u = _usual(span, spec)
    if v is not None and u is not None:
        return any_of([fixed_hit, Result(v)]), usual_basis(u, spec.unit, v)
    limit = f" (it is not above {rule.above:g})" if rule.above is not None and fixed_hit.value is False else ""
    return unknown(f"give the laboratory's {rule.reference_high_means} (reference_high) for {label} "
                   f"({shown}){limit}"), None


def _tri(v: bool | None, label: str, shown: str) -> Result:
    """A comparison's answer; a censored value or level straddling the limit asks for the exact value."""
    return unknown(f"give the exact value of {label} (reported {shown})") if v is None else Result(v)


def _research(rule: PositiveRule, spec: TestSpec, verdict: bool) -> Basis | None:
    if not rule.research_cutoff:
        return None
    t = rule.above if rule.above is not None else rule.at_or_above if rule.at_or_above is not None else rule.below
    unit = f" {spec.unit}" if spec.unit else ""
    word = "raised" if verdict else "not raised"
    return Basis(f"{word} by a research cut-off ({t:g}{unit}; source: {rule.source.document}), which is not a "
                 "reference range", (rule.source.document,))


def _p99_words(rule: PositiveRule) -> str:
    return (f"above {rule.above:g} units or above the 99th percentile" if rule.above is not None
            else "above the 99th percentile")


def _p99(span: Span, lab: Lab, spec: TestSpec, rule: PositiveRule, fixed_hit: Result, label: str,
         shown: str) -> tuple[Result, Basis | None]:
    """Sydney 2006's '>99th percentile' route: taken only from the laboratory's ``cutoff_p99``. Without it a
    result is negative only when it is not above the laboratory's printed upper limit, or (no limit printed)
    within every usual negative range; otherwise the 99th-percentile cut-off is asked for."""
    if lab.cutoff_p99 is not None:
        return any_of([fixed_hit, _tri(span.above(lab.cutoff_p99), label, shown)]), None
    if fixed_hit.value is False:
        if lab.reference_high is not None and span.above(lab.reference_high) is False:
            return FALSE, None
        if lab.reference_high is None:
            v, u = _usual(span, spec)
            if v is False and u is not None:
                return FALSE, usual_basis(u, spec.unit, False)
    above_ref = ""
    if lab.reference_high is not None and span.above(lab.reference_high) is not False:
        above_ref = (f"; it is above the laboratory's upper limit ({lab.reference_high:g}), which the report "
                     "does not give as its 99th-percentile cut-off")
    return unknown(f"give the laboratory's 99th-percentile cut-off (cutoff_p99) for {label} ({shown}; the "
                   f"criterion needs {_p99_words(rule)}{above_ref})"), None


def below_range(lab: Lab, spec: TestSpec, label: str) -> tuple[Result, Basis | None]:
    """Whether one result lies below the test's range (a low TSH): against the laboratory's printed lower
    limit (``reference_low``) when given, else the usual lower limits; undecided between them, or for a test
    without a lower span."""
    if lab.result is not None:
        if lab.result in NEGATIVE_WORDS:
            return FALSE, None
        return unknown(f"{label} is '{lab.result}'; give the value"), None
    span = span_of(lab, spec)
    if span is None:
        return unknown(f"{label} has no result"), None
    if lab.reference_low is not None:
        return _tri(span.below(lab.reference_low), label, span.text(spec.unit)), None
    v, u = _usual(span, spec, "lower")
    if u is None:
        return unknown(f"{spec.name}: no lower limit is known"), None
    if v is None:
        return unknown(f"{label} ({span.text(spec.unit)}) lies between the usual lower limits "
                       f"({u.lowest.value:g}-{u.highest.value:g}); give the laboratory's lower reference limit "
                       "(reference_low)"), None
    return Result(v), usual_basis(u, spec.unit, v)


def positivity(lab: Lab, spec: TestSpec, label: str) -> Result:
    """Whether one result is positive/abnormal by its test's rule (see :func:`interpret`)."""
    return interpret(lab, spec, label)[0]


def level_reached(lab: Lab, level: float, label: str, ask: str, spec: TestSpec | None = None) -> Result:
    """Whether a result's titre reaches ``level``: a qualitative negative never does; a censored value or a
    qualitative level (with ``spec``'s bands) decides when its whole range lies on one side; otherwise the
    titre is asked for (``ask`` says what the levels are)."""
    span = span_of(lab, spec) if spec is not None else (Span(lab.value, lab.value) if lab.value is not None else None)
    if span is None and lab.value is None and lab.bound is not None:
        span = _bound_span(lab, -INF)
    if span is not None:
        v = span.above(level, at_limit_abnormal=True)
        if v is not None:
            return Result(v)
        return unknown(f"give the titre of {label} ({span.text(spec.unit if spec else None)}; {ask})")
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
    spaced = False  # two not-negative results already far enough apart: only their readings are missing
    for i, a in enumerate(readings):
        if a.pos.value is False:
            continue
        for b in readings[i + 1:]:
            if b.pos.value is False:
                continue
            apart = relation(a.event, b.event, lambda x, y: at_least_days_apart(x, y, interval_days), why)
            spaced = spaced or apart.value is True
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
    if spaced:
        pass
    elif dated:
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
    latest_low: Result = FALSE  # the latest result below the range (tests with a lower span: TSH)

    @property
    def ever_positive(self) -> Result:
        return any_of(r.pos for r in self.readings)

    @property
    def bases(self) -> list[str]:
        """What results were judged against when the laboratory's limit was not given, each once."""
        return list(dict.fromkeys(f"{r.event.label}: {r.basis.text}" for r in self.readings if r.basis))

    @property
    def basis_documents(self) -> list[str]:
        return list(dict.fromkeys(d for r in self.readings if r.basis for d in r.basis.documents))

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
            pos, basis = interpret(lab, spec, event.label)
            readings.append(Reading(lab, event, pos, basis))
        low = below_range(readings[-1].lab, spec, readings[-1].event.label)[0] \
            if any(u.side == "lower" for u in spec.usual_limits) else unknown(f"{name}: no lower limit is known")
        out[t] = TestHistory(t, name, tuple(readings), persistence(readings, name, today, interval_days), low)
    return out
