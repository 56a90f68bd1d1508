"""Definitions of recurrent pregnancy loss, one per guideline, counted by the rules in rpl-definitions.yaml.

The YAML says, for each guideline, which outcomes count, within which gestational limits, how many and
whether consecutively, and words the reason; this module only counts. Every answer is three-valued: a loss
without a gestational age may leave a definition undecided (``None``) when it could tip the count.

RCOG's scope (2011 and 2023) is wider than its definition: it also covers women with one or more
second-trimester losses. The result keeps the two apart: ``meets`` is the definition, ``in_scope`` the scope,
and every renderer shows "inside its scope" beside a definition not met, so a woman with a second-trimester
loss is never told RCOG does not speak to her.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rplnav.gestation import format_ga
from rplnav.knowledge.criteria_model import Reading, RplDefinition
from rplnav.patient import Pregnancy


@dataclass(frozen=True)
class DefinitionResult:
    meets: bool | None
    reason: str
    counted: int | None
    document: str
    locator: str
    verified: bool
    has_scope: bool = False  # the guideline's scope is wider than its definition (RCOG: second-trimester losses)
    in_scope: bool | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "meets": self.meets,
            "reason": self.reason,
            "counted": self.counted,
            "source": {"document": self.document, "locator": self.locator, "verified": self.verified},
        }
        if self.has_scope:  # 'meets' is the definition; 'in_scope' says whether the guideline speaks to her
            out["in_scope"] = self.in_scope
        return out


def plural(n: int, word: str) -> str:
    """'1 loss', '2 losses', '3 pregnancies' (English plurals of the nouns the definitions use)."""
    if n == 1:
        return f"{n} {word}"
    if word.endswith("s"):
        return f"{n} {word}es"
    if word.endswith("y"):
        return f"{n} {word[:-1]}ies"
    return f"{n} {word}s"


def counts(reading: Reading, p: Pregnancy) -> bool | None:
    """Whether this pregnancy counts for the reading: True, False, or None when its missing gestational age
    decides it."""
    if p.outcome not in reading.counts:
        return False
    ga = p.gestational_age
    if ga is None:
        bounded = reading.from_ga is not None or reading.before_ga is not None
        return True if not bounded or p.outcome in reading.unknown_ga_inside else None
    if reading.from_ga is not None and ga < reading.from_ga:
        return False
    return not (reading.before_ga is not None and ga >= reading.before_ga)


@dataclass(frozen=True)
class Count:
    sure: int   # pregnancies (or, for a consecutive reading, the longest run) that certainly count
    maybe: int  # the same, counting the undecided ones too

    def meets(self, at_least: int) -> bool | None:
        return True if self.sure >= at_least else None if self.maybe >= at_least else False


def count(reading: Reading, pregs: Sequence[Pregnancy]) -> Count:
    values = [counts(reading, p) for p in pregs]
    if not reading.consecutive:
        return Count(sum(v is True for v in values), sum(v is not False for v in values))
    best_sure = best_maybe = run_sure = run_maybe = 0
    for p, v in zip(pregs, values, strict=True):
        if v is False and p.outcome in reading.not_interrupting:
            continue  # neither counted nor interrupting
        if v is True:
            run_sure, run_maybe = run_sure + 1, run_maybe + 1
        elif v is None:
            run_sure, run_maybe = 0, run_maybe + 1
        else:
            run_sure = run_maybe = 0
        best_sure, best_maybe = max(best_sure, run_sure), max(best_maybe, run_maybe)
    return Count(best_sure, best_maybe)


def evaluate(d: RplDefinition, pregs: Sequence[Pregnancy]) -> DefinitionResult:
    """She meets the definition when every reading is met, not when none is, and it is undecided otherwise
    (a reading undecided, or the readings disagreeing)."""
    tallies = {r.name: count(r, pregs) for r in d.readings}
    verdicts = {r.meets(reading.at_least) for r, reading in zip(tallies.values(), d.readings, strict=True)}
    meets = verdicts.pop() if len(verdicts) == 1 else None
    words: dict[str, object] = {}
    for reading in d.readings:
        words[reading.name] = plural(tallies[reading.name].sure, reading.noun)
        words[f"{reading.name}_n"] = tallies[reading.name].sure
    for name, m in d.mentions.items():
        n = sum(p.outcome in m.outcomes for p in pregs)
        words[name] = m.text.format(n=n, count=plural(n, m.noun)) if n else ""
    first = d.readings[0]
    words["ga_unknown_n"] = sum(1 for p in pregs if counts(first, p) is None)
    reason = d.reason.format(**words)
    if meets is None:
        reason += d.undecided.format(**words)
    in_scope = None
    if d.scope is not None:
        in_scope, why = _scope(d, meets, pregs)
        reason += why
    return DefinitionResult(meets, reason, tallies[d.counted or first.name].sure, d.source.document, d.source.locator,
                            d.source.verified, has_scope=d.scope is not None, in_scope=in_scope)


def _scope(d: RplDefinition, meets: bool | None, pregs: Sequence[Pregnancy]) -> tuple[bool | None, str]:
    """Inside the scope: meeting the definition, or a loss the wider scope names (RCOG: second trimester)."""
    assert d.scope is not None
    also = d.scope.also
    inside = [p for p in pregs if counts(also, p) is True]
    if meets is True:
        return True, ""
    if len(inside) >= also.at_least:
        return True, d.scope.inside.format(gas=", ".join(format_ga(p.gestational_age or 0) for p in inside))
    if meets is None or count(also, pregs).maybe >= also.at_least:
        return None, d.scope.unknown
    return False, ""
