"""Definitions of recurrent pregnancy loss, one per guideline, implemented as each source words them.

Each function takes the patient's pregnancies and returns whether she meets the definition (True, False,
or None when the record cannot decide it, e.g. a loss without a gestational age where the definition
depends on trimester) and a sentence saying why. Sources (see knowledge/sources.yaml):

* ESHRE 2022 (Hum Reprod Open 2023;hoad002): two or more pregnancy losses, not necessarily consecutive;
  pregnancies confirmed by hCG count, so biochemical / non-visualised losses are included; ectopic and
  molar pregnancies are not. Losses up to 24 weeks.
* ASRM 2012 (Fertil Steril 2012;98:1103): two or more failed clinical pregnancies (seen on ultrasound or
  confirmed histologically); consecutiveness not required.
* RCOG 2011 (Green-top 17, 3rd ed.): three or more consecutive pregnancy losses before 24 weeks.
* RCOG 2023 (Green-top 17, 4th ed., BJOG 2023;130:e9): three or more first-trimester miscarriages, not
  necessarily consecutive, with any partner.
* RCOG's scope (2011 and 2023) is wider than its definition: it also covers women with one or more
  second-trimester losses. The output keeps the two apart: ``meets`` is the definition, ``in_scope`` the scope,
  and every renderer shows "inside its scope" beside a definition not met, so a woman with a second-trimester
  loss is never told RCOG does not speak to her.
* ASRI 2025 (seed 002): two or more losses; the slides say "≥2 losses" on the overview slide and "≥2 clinical
  miscarriages" in the comparison table. When the two readings disagree for a patient the answer is None.

Conventions stated here, not in the sources: first trimester = up to 13+6 weeks; a non-visualised loss
(biochemical, resolved PUL) is neither counted nor treated as interrupting a run of clinical miscarriages
in the definitions that count clinical pregnancies only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rplnav.gestation import format_ga
from rplnav.patient import LOSS_OUTCOMES, NON_VISUALISED, Pregnancy

VIABILITY_DAYS = 24 * 7
FIRST_TRIMESTER_END = 14 * 7  # losses before 14+0 weeks


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


def _second_trimester(pregs: Sequence[Pregnancy]) -> tuple[list[Pregnancy], int]:
    """Losses at 14+0 to 23+6 weeks, and the losses whose missing gestational age could place them there."""
    second = [p for p in pregs if p.outcome in ("miscarriage", "stillbirth") and p.gestational_age is not None
              and FIRST_TRIMESTER_END <= p.gestational_age < VIABILITY_DAYS]
    unknown = sum(1 for p in pregs if p.outcome in ("miscarriage", "stillbirth") and p.gestational_age is None)
    return second, unknown


def _rcog_scope(meets: bool | None, pregs: Sequence[Pregnancy]) -> tuple[bool | None, str]:
    """RCOG's scope (2011 and 2023): women who meet its definition, and women with one or more second-trimester
    losses, who are covered although they do not meet the definition."""
    second, unknown = _second_trimester(pregs)
    if meets is True:
        return True, ""
    if second:
        gas = ", ".join(format_ga(p.gestational_age or 0) for p in second)
        return True, (f" She is inside the guideline's scope, which also covers one or more second-trimester "
                      f"losses ({gas} weeks).")
    if meets is None or unknown:
        return None, " Whether she is inside the guideline's scope (second-trimester losses) is not known."
    return False, ""


def _before_viability(p: Pregnancy) -> bool | None:
    if p.outcome in NON_VISUALISED or p.outcome == "miscarriage":
        return True if p.gestational_age is None or p.gestational_age < VIABILITY_DAYS else False
    if p.outcome == "stillbirth":
        return None if p.gestational_age is None else p.gestational_age < VIABILITY_DAYS
    return False


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    if word.endswith("s"):
        return f"{n} {word}es"
    if word.endswith("y"):
        return f"{n} {word[:-1]}ies"
    return f"{n} {word}s"


def eshre_2022(pregs: Sequence[Pregnancy]) -> DefinitionResult:
    """ESHRE 2022: >=2 losses (incl. biochemical), not necessarily consecutive; ectopic/molar excluded."""
    sure = sum(1 for p in pregs if p.outcome in LOSS_OUTCOMES and _before_viability(p) is True)
    maybe = sum(1 for p in pregs if p.outcome in LOSS_OUTCOMES and _before_viability(p) is None)
    bio = sum(1 for p in pregs if p.outcome in NON_VISUALISED)
    excluded = sum(1 for p in pregs if p.outcome in ("ectopic", "molar"))
    extra = f", of which {bio} non-visualised" if bio else ""
    excl = f"; {_plural(excluded, 'ectopic/molar pregnancy')} not counted" if excluded else ""
    if sure >= 2:
        meets: bool | None = True
    elif sure + maybe >= 2:
        meets = None
    else:
        meets = False
    reason = (f"{_plural(sure, 'pregnancy loss')} before 24 weeks{extra}{excl}; ESHRE requires two or more, "
              "consecutive or not, and counts hCG-confirmed (biochemical) losses.")
    if meets is None:
        reason += " A stillbirth without a gestational age could not be placed before or after 24 weeks."
    return DefinitionResult(meets, reason, sure, "eshre-2022", "Definition of RPL (as tabulated in J Clin Med 2023;12:4768 Table 1)", True)


def asrm_2012(pregs: Sequence[Pregnancy]) -> DefinitionResult:
    """ASRM 2012: >=2 failed clinical pregnancies (ultrasound or histology); biochemical losses excluded."""
    clinical = sum(1 for p in pregs if p.outcome in ("miscarriage", "stillbirth"))
    bio = sum(1 for p in pregs if p.outcome in NON_VISUALISED)
    note = f"; {_plural(bio, 'non-visualised loss')} not counted" if bio else ""
    reason = (f"{_plural(clinical, 'failed clinical pregnancy')}{note}; ASRM requires two or more clinical "
              "pregnancies documented by ultrasound or histopathology.")
    return DefinitionResult(clinical >= 2, reason, clinical, "asrm-2012", "Definition (committee opinion, 2012)", True)


def _run_length(pregs: Sequence[Pregnancy], counts: Callable[[Pregnancy], bool | None]) -> tuple[int, int]:
    """Longest run of counted losses (sure, and possibly with undecided ones)."""
    best_sure = best_maybe = run_sure = run_maybe = 0
    for p in pregs:
        if p.outcome in NON_VISUALISED:
            continue  # neither counted nor interrupting (see module docstring)
        c = counts(p)
        if c is True:
            run_sure += 1
            run_maybe += 1
        elif c is None:
            run_sure = 0
            run_maybe += 1
        else:
            run_sure = run_maybe = 0
        best_sure = max(best_sure, run_sure)
        best_maybe = max(best_maybe, run_maybe)
    return best_sure, best_maybe


def rcog_2011(pregs: Sequence[Pregnancy]) -> DefinitionResult:
    """RCOG 2011: >=3 consecutive losses before 24 weeks."""

    def counts(p: Pregnancy) -> bool | None:
        if p.outcome not in ("miscarriage", "stillbirth"):
            return False
        return _before_viability(p)

    sure, maybe = _run_length(pregs, counts)
    meets = True if sure >= 3 else (None if maybe >= 3 else False)
    reason = (f"longest run of consecutive miscarriages before 24 weeks: {sure}; RCOG 2011 requires three or "
              "more consecutive losses.")
    if meets is None:
        reason += " A loss without a gestational age could not be placed before or after 24 weeks."
    scope, why = _rcog_scope(meets, pregs)
    return DefinitionResult(meets, reason + why, sure, "rcog-2011", "Scope and definitions (Green-top 17, 2011)", True,
                            has_scope=True, in_scope=scope)


def rcog_2023(pregs: Sequence[Pregnancy]) -> DefinitionResult:
    """RCOG 2023: >=3 first-trimester miscarriages, not necessarily consecutive."""
    sure = sum(1 for p in pregs if p.outcome == "miscarriage" and p.gestational_age is not None
               and p.gestational_age < FIRST_TRIMESTER_END)
    unknown = sum(1 for p in pregs if p.outcome == "miscarriage" and p.gestational_age is None)
    meets = True if sure >= 3 else (None if sure + unknown >= 3 else False)
    reason = (f"{_plural(sure, 'first-trimester miscarriage')} (before 14+0 weeks); RCOG 2023 requires three or "
              "more, consecutive or not, with any partner.")
    if meets is None:
        reason += f" {_plural(unknown, 'miscarriage')} lack a gestational age, which would decide it."
    scope, why = _rcog_scope(meets, pregs)
    return DefinitionResult(meets, reason + why, sure, "rcog-2023", "Scope and definitions (Green-top 17, 2023)", True,
                            has_scope=True, in_scope=scope)


def asri_2025(pregs: Sequence[Pregnancy]) -> DefinitionResult:
    """ASRI 2025 (seed 002): >=2 losses; 'clinical miscarriages' in the comparison table."""
    all_losses = sum(1 for p in pregs if p.outcome in LOSS_OUTCOMES and _before_viability(p) is not False)
    clinical = sum(1 for p in pregs if p.outcome in ("miscarriage", "stillbirth") and _before_viability(p) is not False)
    a, b = all_losses >= 2, clinical >= 2
    meets = a if a == b else None
    reason = (f"{_plural(all_losses, 'loss')} ({clinical} clinical); the ASRI slides define RPL as two or more losses "
              "(overview) or two or more clinical miscarriages (comparison table).")
    if meets is None:
        reason += " The two readings disagree for her because of non-visualised losses."
    return DefinitionResult(meets, reason, clinical, "seed-002", "Slide '2025' and the guideline comparison table", False)


DEFINITIONS: dict[str, Callable[[Sequence[Pregnancy]], DefinitionResult]] = {
    "ESHRE-2022": eshre_2022,
    "ASRM-2012": asrm_2012,
    "RCOG-2011": rcog_2011,
    "RCOG-2023": rcog_2023,
    "ASRI-2025": asri_2025,
}
