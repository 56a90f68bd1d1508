"""Antiphospholipid syndrome classification: revised Sapporo (Sydney 2006) and 2023 ACR/EULAR.

Both rule sets are coded here from their published definitions and both are always reported, because they
disagree for the commonest obstetric presentation (recurrent early miscarriage alone).

**Sydney 2006** (Miyakis S, et al. J Thromb Haemost 2006;4:295-306; source id ``miyakis-2006``).
Definite APS needs at least one clinical and at least one laboratory criterion.

* Clinical 1 - vascular thrombosis: one or more objectively confirmed arterial, venous or small-vessel
  thromboses; superficial venous thrombosis does not count. (Thromboses in the input are taken as
  objectively confirmed.)
* Clinical 2(a) - one or more unexplained deaths of a morphologically normal fetus at 10+0 weeks or later.
* Clinical 2(b) - one or more births of a morphologically normal neonate before 34+0 weeks because of
  eclampsia / severe pre-eclampsia or placental insufficiency.
* Clinical 2(c) - three or more unexplained consecutive spontaneous abortions before 10+0 weeks, with maternal
  anatomical and hormonal abnormalities and parental chromosomal causes excluded.
* Laboratory 1 - lupus anticoagulant; 2 - anticardiolipin IgG and/or IgM above 40 GPL/MPL or above the 99th
  percentile (the laboratory's ``reference_high``); 3 - anti-beta2-glycoprotein I IgG and/or IgM above the 99th
  percentile. Each must be positive on two or more occasions at least 12 weeks apart.
* Timing: classification is avoided when less than 12 weeks or more than 5 years separate the positive aPL
  test and the clinical event.

**2023 ACR/EULAR** (Barbhaiya M, et al. Arthritis Rheumatol 2023;75:1687-1702; source id ``barbhaiya-2023``).
Entry: at least one clinical criterion (domains D1-D6) and a positive aPL test (lupus anticoagulant, or
anticardiolipin / anti-beta2GPI at moderate-to-high level, >= 40 units) within 3 years of it. Then weighted
domains, only the highest criterion of each domain counting; classified with >= 3 clinical and >= 3 laboratory
points. Weights: D1 VTE 1 (high-risk VTE profile) / 3 (without); D2 arterial 2 (high-risk cardiovascular
profile) / 4 (without); D3 microvascular suspected 2 / established 5; D4 obstetric: >= 3 consecutive deaths
before 16+0 weeks 1, fetal death 16+0-33+6 weeks 1, severe pre-eclampsia or severe placental insufficiency
before 34+0 weeks 3, both 4; D5 valve thickening 2 / vegetation 4; D6 lowest platelet count 20-130 x10^9/L 2;
D7 lupus anticoagulant single 1 / persistent 5; D8 persistent aCL/anti-beta2GPI: moderate-or-high IgM 1,
moderate IgG 4, high IgG (aCL or anti-beta2GPI) 5, high IgG (both) 7. Moderate = 40-79 units, high >= 80.

**High-risk aPL profile** (Tektonidou MG, et al. Ann Rheum Dis 2019;78:1296-1304; source id ``eular-2019``):
lupus anticoagulant, or more than one aPL type, or persistently high titres - each on two or more occasions
at least 12 weeks apart, as EULAR defines it.

Every answer is three-valued. A criterion is true, false, or undecided (``None``) when the input cannot settle
it: a test not done, a single positive result not yet repeated, a date known only to the year, an exclusion
not documented, a finding not recorded. Undecided pieces carry the concrete next step that would decide them,
and those steps are reported as ``missing`` only when they could change the result.

Interpretations that the papers leave open (stated so that a reviewer can disagree):

* Persistence is judged per test and isotype: two results of the same test at the criterion's level, at least
  12 weeks (84 days) apart. A positive result is "refuted" (no longer awaiting a repeat) once a negative result
  of the same test follows it by 12 weeks or more. For 2023 D8 both occasions must reach the level scored.
* Sydney timing is met when some positive result of a met laboratory criterion lies 12 weeks to 5 years
  (either direction, calendar years) from a dated event of a met clinical criterion. The 2023 entry window is
  3 calendar years either side.
* Spontaneous abortions / deaths are recorded miscarriages and stillbirths; non-visualised losses (biochemical,
  resolved PUL) neither count towards nor interrupt a consecutive run; any other pregnancy, a loss beyond the
  window, or a loss with an abnormal (aneuploid/unbalanced) karyotype interrupts it.
* Uterine anomalies taken to explain losses: septate, subseptate, bicornuate, unicornuate, didelphys,
  submucosal fibroid, adhesions. Hormonal causes are excluded by the hormone tests, each excluding what it
  tests for (a TSH within the range: untreated thyroid dysfunction; prolactin: hyperprolactinaemia; HbA1c:
  diabetes), with the tests not done named as caveats; a conditions list naming none of hypothyroidism,
  hyperthyroidism, diabetes, hyperprolactinaemia also excludes them. A listed disorder or an abnormal test
  means they are not excluded; without TSH and without a conditions list they are undecided.
* 2023: "placental_insufficiency" on a pregnancy is read as placental insufficiency with severe features; a
  clinical criterion is counted unless the input documents an explanation (abnormal karyotype of the pregnancy,
  abnormal morphology, an explanatory uterine anomaly or parental rearrangement for recurrent early loss);
  small-vessel thromboses are not scored (D3 comes from ``findings.microvascular``).
* Pre-eclampsia and placental insufficiency are not considered for pregnancies ending before 20+0 weeks unless
  the input flags them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rplnav.gestation import format_ga
from rplnav.knowledge.criteria_model import ApsCriteriaSet, TissueRule
from rplnav.knowledge.model import TestSpec
from rplnav.labs import Reading, TestHistory, histories, level_reached, persistence
from rplnav.logic import FALSE, TRUE, Result, all_of, any_of, at_least, unknown
from rplnav.logic import of as _flag
from rplnav.partial_date import Event, at_least_days_apart, relation, within_years
from rplnav.patient import Patient, Pregnancy

LA = "lupus_anticoagulant"
ACL_G, ACL_M = "anticardiolipin_igg", "anticardiolipin_igm"
B2_G, B2_M = "anti_b2gpi_igg", "anti_b2gpi_igm"
APL_TESTS = (LA, ACL_G, ACL_M, B2_G, B2_M)
NAMES = {
    LA: "lupus anticoagulant", ACL_G: "anticardiolipin IgG", ACL_M: "anticardiolipin IgM",
    B2_G: "anti-β2GPI IgG", B2_M: "anti-β2GPI IgM",
}

SYDNEY, ACR_EULAR, HIGH_RISK = "sydney-2006", "acr-eular-2023", "eular-high-risk-profile"  # aps-criteria.yaml ids


def _days(weeks: float) -> int:
    return round(weeks * 7)


@dataclass(frozen=True)
class ApsRules:
    """The three rule sets of aps-criteria.yaml, with the numbers this module reads taken out once (gestational
    limits in days). Building it is where a missing parameter, text or criterion is reported."""

    sets: dict[str, ApsCriteriaSet]
    persistence_days: int
    timing_min_days: int
    timing_max_years: int
    fetal_death_from: int
    premature_before: int
    early_loss_before: int
    early_loss_at_least: int
    preeclampsia_from: int
    entry_years: int
    moderate: float
    high: float
    clinical_needed: int
    laboratory_needed: int
    early_deaths_before: int
    early_deaths_at_least: int
    fetal_death_16_from: int
    fetal_death_16_before: int
    severe_before: int
    platelets_low: float
    platelets_high: float
    high_titre: float
    explanatory_uterus: frozenset[str]
    hormonal_conditions: tuple[str, ...]
    abnormal_poc: frozenset[str]
    explanatory_karyotype: frozenset[str]
    tissue_rule: TissueRule | None

    @classmethod
    def from_sets(cls, sets: dict[str, ApsCriteriaSet]) -> ApsRules:
        try:
            syd, acr, eul = sets[SYDNEY], sets[ACR_EULAR], sets[HIGH_RISK]
            sp, ap, ep = syd.parameters, acr.parameters, eul.parameters
            out = cls(
                sets=sets,
                persistence_days=_days(sp["persistence_weeks"]),
                timing_min_days=_days(sp["timing_min_weeks"]),
                timing_max_years=int(sp["timing_max_years"]),
                fetal_death_from=_days(sp["fetal_death_from_weeks"]),
                premature_before=_days(sp["premature_birth_before_weeks"]),
                early_loss_before=_days(sp["early_loss_before_weeks"]),
                early_loss_at_least=int(sp["early_loss_at_least"]),
                preeclampsia_from=_days(sp["preeclampsia_from_weeks"]),
                entry_years=int(ap["entry_window_years"]),
                moderate=ap["moderate_units"], high=ap["high_units"],
                clinical_needed=int(ap["clinical_points_needed"]),
                laboratory_needed=int(ap["laboratory_points_needed"]),
                early_deaths_before=_days(ap["early_deaths_before_weeks"]),
                early_deaths_at_least=int(ap["early_deaths_at_least"]),
                fetal_death_16_from=_days(ap["fetal_death_from_weeks"]),
                fetal_death_16_before=_days(ap["fetal_death_before_weeks"]),
                severe_before=_days(ap["severe_before_weeks"]),
                platelets_low=ap["platelets_low"], platelets_high=ap["platelets_high"],
                high_titre=ep["high_titre_units"],
                explanatory_uterus=frozenset(syd.explanatory_uterus),
                hormonal_conditions=tuple(syd.hormonal_conditions),
                abnormal_poc=frozenset(syd.abnormal_poc),
                explanatory_karyotype=frozenset(acr.explanatory_karyotype),
                tissue_rule=syd.parental_cause_by_tissue,
            )
            if {ap["persistence_weeks"], ep["persistence_weeks"]} != {sp["persistence_weeks"]}:
                raise ValueError("the three rule sets must agree on the persistence interval "
                                 "(one persistence rule per test)")
            for set_id, keys in _TEXTS.items():
                for key in keys:
                    sets[set_id].texts[key]  # noqa: B018 - presence check
            for set_id, ids in _CRITERIA.items():
                have = {c.id for c in sets[set_id].criteria}
                if ids - have:
                    raise KeyError(f"{set_id}: criteria {', '.join(sorted(ids - have))}")
        except KeyError as e:
            raise ValueError(f"aps-criteria.yaml lacks {e.args[0]}") from None
        return out

    def criterion(self, set_id: str, cid: str, value: Result) -> Criterion:
        spec, src = self._specs[cid]
        return Criterion(cid, spec.text, src, value, points=spec.points, domain=spec.domain)

    @functools.cached_property
    def _specs(self) -> dict[str, tuple[Any, dict[str, Any]]]:
        """Criterion id -> (its spec, its citation), looked up once per rule set rather than per patient."""
        return {c.id: (c, _src(s.source.document, c.locator)) for s in self.sets.values() for c in s.criteria}

    def text(self, set_id: str, key: str) -> str:
        return self.sets[set_id].texts[key].text

    def reference_of(self, set_id: str, key: str) -> dict[str, Any]:
        return dict(_src(self.sets[set_id].source.document, self.sets[set_id].texts[key].locator))


_TEXTS = {
    SYDNEY: ("rule", "timing_rule", "timing_why", "timing_failed", "early_loss_run"),
    ACR_EULAR: ("entry", "entry_why", "entry_not_met", "rule", "levels_asked", "at_moderate", "at_high",
                "early_deaths_run", "points_needed", "only_early_loss", "isolated_igm", "assumption", "note_entry"),
    HIGH_RISK: ("profile", "high_titre_note"),
}
_CRITERIA = {
    SYDNEY: {"sydney.clinical.vascular_thrombosis", "sydney.clinical.fetal_death_ge10w",
             "sydney.clinical.premature_birth_lt34w", "sydney.clinical.recurrent_early_loss",
             "sydney.laboratory.lupus_anticoagulant", "sydney.laboratory.anticardiolipin",
             "sydney.laboratory.anti_b2gpi"},
    ACR_EULAR: {f"acr2023.{x}" for x in (
        "D1.with_high_risk_profile", "D1.without_high_risk_profile", "D2.with_high_risk_profile",
        "D2.without_high_risk_profile", "D3.suspected", "D3.established", "D4.consecutive_early_deaths",
        "D4.fetal_death_16_34w", "D4.severe_preeclampsia_or_placental_insufficiency",
        "D4.severe_preeclampsia_and_placental_insufficiency", "D5.thickening", "D5.vegetation",
        "D6.thrombocytopenia", "D7.single", "D7.persistent", "D8.igm_moderate_or_high", "D8.igg_moderate",
        "D8.igg_high_one", "D8.igg_high_both")},
}


@functools.cache
def bundled_rules() -> ApsRules:
    """The bundled base's rules (for callers that classify without a fact layer, e.g. tests)."""
    from rplnav.knowledge.load import default_knowledge

    return ApsRules.from_sets(default_knowledge().aps_criteria)


# ---------------------------------------------------------------- three-valued values with their next steps

_NOT_TESTED = {name: unknown(f"{name} not tested") for name in NAMES.values()}


# ---------------------------------------------------------------- timing rules

def _sydney_window(R: ApsRules, event: Event, test: Event) -> Result:
    why = R.text(SYDNEY, "timing_why")
    return all_of([
        relation(event, test, lambda x, y: at_least_days_apart(x, y, R.timing_min_days), why),
        relation(event, test, lambda x, y: within_years(x, y, R.timing_max_years), why),
    ])


def _entry_window(R: ApsRules, event: Event, test: Event) -> Result:
    why = R.text(ACR_EULAR, "entry_why")
    return relation(event, test, lambda x, y: within_years(x, y, R.entry_years), why)


# ---------------------------------------------------------------- criteria

@dataclass
class Criterion:
    id: str
    text: str
    source: dict[str, str]
    value: Result
    events: list[Event] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    points: int = 0
    domain: str = ""

    def entry(self, **extra: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "text": self.text, "source": dict(self.source)}
        if self.domain:
            d["domain"], d["points"] = self.domain, self.points
        if self.evidence:
            d["evidence"] = list(self.evidence)
        d.update(extra)
        return d


def _src(document: str, locator: str) -> dict[str, Any]:
    """A criterion's citation. The Sydney 2006 and 2023 ACR/EULAR criteria and weights, and EULAR 2019's
    high-risk profile, were read in the papers or their official tables (see knowledge/sources.yaml).

    Built once per locator and shared: every consumer copies it (``Criterion.entry``) or only reads it."""
    key = (document, locator)
    out = _SOURCES.get(key)
    if out is None:
        out = _SOURCES[key] = {"document": document, "locator": locator, "verified": True}
    return out


_SOURCES: dict[tuple[str, str], dict[str, Any]] = {}


def _preg_label(p: Pregnancy, i: int) -> str:
    bits = [p.outcome.replace("_", " ")]
    if p.gestational_age is not None:
        bits.append(f"at {format_ga(p.gestational_age)}")
    if p.date is not None:
        bits.append(str(p.date))
    return f"pregnancies[{i}] ({', '.join(bits)})"


def _preg_event(p: Pregnancy, i: int) -> Event:
    return Event(p.date, _preg_label(p, i))


def _explained(R: ApsRules, p: Pregnancy) -> bool:
    return p.poc_karyotype in R.abnormal_poc or p.morphologically_normal is False


def _consecutive_early(R: ApsRules, pregs: list[Pregnancy], limit: int, at_least: int,
                       name: str) -> tuple[Result, list[int]]:
    """``at_least`` consecutive recorded spontaneous losses before ``limit`` days; the members of qualifying runs."""
    runs: list[list[tuple[int, bool | None]]] = [[]]
    for i, p in enumerate(pregs):
        if p.outcome in ("biochemical", "pul_resolved"):
            continue  # neither counts nor interrupts
        if p.outcome in ("miscarriage", "stillbirth") and not _explained(R, p):
            ga = p.gestational_age
            if ga is None:
                runs[-1].append((i, None))
                continue
            if ga < limit:
                runs[-1].append((i, True))
                continue
        runs.append([])
    best = [r for r in runs if sum(v is True for _, v in r) >= at_least]
    if best:
        return TRUE, [i for r in best for i, v in r if v]
    maybe = [r for r in runs if len(r) >= at_least]
    if not maybe:
        return FALSE, []
    missing = [
        f"give the gestational age of {_preg_label(pregs[i], i)} ({name})" for r in maybe for i, v in r if v is None
    ]
    return Result(None, tuple(missing)), [i for r in maybe for i, _ in r]


def _preeclampsia_flags(R: ApsRules, p: Pregnancy, i: int,
                        before: int) -> tuple[Result, Result, Result] | None:
    """(before the criterion's limit, severe pre-eclampsia, placental insufficiency), or None when not
    applicable."""
    flagged = p.severe_preeclampsia is True or p.placental_insufficiency is True
    if not flagged:
        if p.outcome not in ("live_birth", "stillbirth", "termination"):
            return None
        if p.gestational_age is not None and (p.gestational_age < R.preeclampsia_from or p.gestational_age >= before):
            return None
    label = _preg_label(p, i)
    before34 = (
        unknown(f"give the gestational age of {label}")
        if p.gestational_age is None else Result(p.gestational_age < before)
    )
    pe = _flag(p.severe_preeclampsia, f"state whether {label} had severe pre-eclampsia or eclampsia")
    pi = _flag(p.placental_insufficiency, f"state whether {label} had placental insufficiency")
    return before34, pe, pi


# The hormone tests that exclude what they test for: TSH (thyroid dysfunction, above or below the range),
# prolactin (hyperprolactinaemia), HbA1c (diabetes). TSH is the one the RPL guidelines ask of every woman.
HORMONE_TESTS = (("tsh", "TSH"), ("prolactin", "prolactin"), ("hba1c", "HbA1c"))


def _hormonal(R: ApsRules, patient: ApsView, hist: dict[str, TestHistory], notes: list[str]) -> Result:
    """Maternal hormonal causes excluded: by the hormone tests (a normal TSH excludes untreated thyroid
    dysfunction, a normal prolactin hyperprolactinaemia, a normal HbA1c diabetes), or by a conditions list
    naming none; an abnormal test or a listed disorder means they are not excluded. Tests not done are caveats.
    A conditions list that is not given blocks the exclusion only when TSH was not tested either."""
    listed = [c for c in R.hormonal_conditions if patient.conditions and c in patient.conditions]
    if listed:
        notes.append(f"{', '.join(listed)} listed, so hormonal causes are not excluded")
        return FALSE
    parts: list[Result] = []
    abnormal: list[str] = []
    untested: list[str] = []
    for test, name in HORMONE_TESTS:
        h = hist.get(test)
        if h is None:
            untested.append(name)
            continue
        out = any_of([h.latest.pos, h.latest_low]) if test == "tsh" else h.latest.pos
        if out.value is True:
            abnormal.append(f"{name} outside the range ({h.latest.event.label})")
        parts.append(Result(None if out.value is None else not out.value, out.needs))
    if abnormal:
        notes.append("; ".join(abnormal) + ", so hormonal causes are not excluded")
        return FALSE
    if "TSH" in untested and patient.conditions is None:
        parts.append(unknown("exclusion of maternal hormonal causes not documented: TSH not tested and no "
                             "conditions list (test TSH, or give the conditions list)"))
    decided = all_of(parts) if parts else TRUE
    if decided.value is True and untested:
        notes.append(f"maternal hormonal causes taken as excluded without {', '.join(untested)} (not tested)")
    return decided


def _exclusions(R: ApsRules, patient: ApsView, hist: dict[str, TestHistory]) -> tuple[Result, list[str]]:
    """Sydney 2(c): maternal anatomical, hormonal and parental chromosomal causes excluded."""
    notes: list[str] = []
    fi = patient.findings
    if fi.uterus in (None, "unknown"):
        uterus = unknown("exclusion of uterine anomaly not documented (findings.uterus)")
    elif fi.uterus in R.explanatory_uterus:
        uterus = FALSE
        notes.append(f"uterine anomaly ({fi.uterus}) present, so anatomical causes are not excluded")
    else:
        uterus = TRUE
    tissue = {p.poc_karyotype for p in patient.pregnancies}
    rule = R.tissue_rule
    if fi.parental_karyotype in (None, "unknown") and rule is not None and tissue & set(rule.results) \
            and not tissue & set(rule.blocked_by):
        karyo = TRUE
        notes.append(rule.text)
    elif fi.parental_karyotype in (None, "unknown"):
        karyo = unknown("parental karyotype not documented (findings.parental_karyotype)")
    elif fi.parental_karyotype != "normal":
        karyo = FALSE
        notes.append(f"parental karyotype abnormal ({fi.parental_karyotype}), so chromosomal causes are not excluded")
    else:
        karyo = TRUE
    hormonal = _hormonal(R, patient, hist, notes)
    return all_of([uterus, karyo, hormonal]), notes


def _sydney_clinical(R: ApsRules, patient: ApsView,
                     hist: dict[str, TestHistory]) -> tuple[list[Criterion], list[str]]:
    pregs = patient.pregnancies
    out: list[Criterion] = []
    notes: list[str] = []

    # 1. vascular thrombosis
    thr = patient.findings.thromboses
    c = R.criterion(SYDNEY, "sydney.clinical.vascular_thrombosis", FALSE)
    if thr is None:
        c.value = unknown("thrombosis history not documented (findings.thromboses; [] when none)")
    else:
        real = [(i, t) for i, t in enumerate(thr) if not t.superficial]
        c.value = Result(bool(real))
        c.events = [Event(t.date, f"findings.thromboses[{i}] ({t.type})") for i, t in real]
        c.evidence = [e.label for e in c.events]
    out.append(c)

    # 2(a) fetal death >= 10 weeks, morphologically normal, unexplained
    c = R.criterion(SYDNEY, "sydney.clinical.fetal_death_ge10w", FALSE)
    values = []
    for i, p in enumerate(pregs):
        if p.outcome not in ("miscarriage", "stillbirth") or p.poc_karyotype in R.abnormal_poc:
            continue
        label = _preg_label(p, i)
        if p.gestational_age is not None:
            ga10 = Result(p.gestational_age >= R.fetal_death_from)
        elif p.outcome == "stillbirth":
            ga10 = TRUE  # a stillbirth is by definition well beyond the criterion's limit
        else:
            ga10 = unknown(f"give the gestational age of {label}")
        normal = _flag(p.morphologically_normal,
                       f"fetal morphology of {label} not documented (Sydney 2(a) needs a morphologically normal fetus)")
        v = all_of([ga10, normal])
        if v.value is not False:
            values.append(v)
            c.events.append(_preg_event(p, i))
            if v.value:
                c.evidence.append(label)
    c.value = any_of(values)
    out.append(c)

    # 2(b) premature birth < 34 weeks for severe pre-eclampsia / placental insufficiency
    c = R.criterion(SYDNEY, "sydney.clinical.premature_birth_lt34w", FALSE)
    values = []
    for i, p in enumerate(pregs):
        if p.outcome != "live_birth":
            continue
        flags = _preeclampsia_flags(R, p, i, R.premature_before)
        if flags is None:
            continue
        before34, pe, pi = flags
        label = _preg_label(p, i)
        normal = _flag(p.morphologically_normal, f"neonatal morphology of {label} not documented")
        v = all_of([before34, any_of([pe, pi]), normal])
        if v.value is not False:
            values.append(v)
            c.events.append(_preg_event(p, i))
            if v.value:
                c.evidence.append(label)
    c.value = any_of(values)
    out.append(c)

    # 2(c) >= 3 unexplained consecutive spontaneous abortions < 10 weeks, causes excluded
    c = R.criterion(SYDNEY, "sydney.clinical.recurrent_early_loss", FALSE)
    run, members = _consecutive_early(R, pregs, R.early_loss_before, R.early_loss_at_least,
                                      R.text(SYDNEY, "early_loss_run"))
    if run.value is not False:
        excluded, why = _exclusions(R, patient, hist)
        c.value = all_of([run, excluded])
        c.events = [_preg_event(pregs[i], i) for i in members]
        if run.value:
            c.evidence = [_preg_label(pregs[i], i) for i in members]
        if excluded.value is False:
            notes.append("Three or more consecutive early losses, but Sydney 2(c) requires other causes excluded: "
                         + "; ".join(why) + ".")
        elif excluded.value is True and why and run.value:
            notes.append("Sydney 2(c) causes excluded; " + "; ".join(why) + ".")
    out.append(c)
    return out, notes


# ---------------------------------------------------------------- 2023 clinical domains

def _acr_clinical(R: ApsRules, patient: ApsView) -> list[Criterion]:
    pregs = patient.pregnancies
    fi = patient.findings
    out: list[Criterion] = []

    def add(domain: str, cid: str, value: Result, events: list[Event] | None = None,
            evidence: list[str] | None = None) -> None:
        c = R.criterion(ACR_EULAR, f"acr2023.{domain}.{cid}", value)
        c.events, c.evidence = list(events or []), list(evidence or [])
        out.append(c)

    # D1 / D2 macrovascular
    for domain, kind in (("D1", "venous"), ("D2", "arterial")):
        profile = "VTE" if kind == "venous" else "cardiovascular"
        if fi.thromboses is None:
            u = unknown("thrombosis history not documented (findings.thromboses; [] when none)")
            add(domain, "with_high_risk_profile", u)
            add(domain, "without_high_risk_profile", u)
            continue
        hits = [(i, t) for i, t in enumerate(fi.thromboses) if t.type == kind and not t.superficial]
        events = [Event(t.date, f"findings.thromboses[{i}] ({t.type})") for i, t in hits]
        add(domain, "with_high_risk_profile", Result(bool(hits)), events, [e.label for e in events])
        vals = [
            Result(True) if t.high_risk_profile is False else FALSE if t.high_risk_profile else unknown(
                f"state whether findings.thromboses[{i}] ({t.type}) occurred with a high-risk {profile} profile")
            for i, t in hits
        ]
        keep = [e for e, v in zip(events, vals, strict=True) if v.value is not False]
        add(domain, "without_high_risk_profile", any_of(vals), keep,
            [e.label for e, v in zip(events, vals, strict=True) if v.value])

    # D3 microvascular
    mv = fi.microvascular
    ev = [Event(fi.microvascular_date, "the microvascular finding (findings.microvascular)",
                undatable=fi.microvascular_date is None)]
    u = unknown("microvascular features (livedo racemosa, livedoid vasculopathy, aPL nephropathy, pulmonary or "
                "adrenal haemorrhage, myocardial disease) not documented (findings.microvascular)")
    add("D3", "suspected", u if mv is None else Result(mv in ("suspected", "established")), ev)
    add("D3", "established", u if mv is None else Result(mv == "established"), ev)

    # D4 obstetric
    run, members = _consecutive_early(R, pregs, R.early_deaths_before, R.early_deaths_at_least,
                                      R.text(ACR_EULAR, "early_deaths_run"))
    if run.value is not False:
        if fi.uterus in R.explanatory_uterus or fi.parental_karyotype in R.explanatory_karyotype:
            run = FALSE  # an equally or more likely explanation is documented
    add("D4", "consecutive_early_deaths", run, [_preg_event(pregs[i], i) for i in members],
        [_preg_label(pregs[i], i) for i in members] if run.value else [])
    vals, events = [], []
    for i, p in enumerate(pregs):
        if p.outcome not in ("miscarriage", "stillbirth") or _explained(R, p):
            continue
        if p.gestational_age is None:
            v = unknown(f"give the gestational age of {_preg_label(p, i)}")
        else:
            v = Result(R.fetal_death_16_from <= p.gestational_age < R.fetal_death_16_before)
        if v.value is not False:
            vals.append(v)
            events.append(_preg_event(p, i))
    add("D4", "fetal_death_16_34w", any_of(vals), events, [e.label for e, v in zip(events, vals, strict=True) if v.value])
    either, both, ev_either, ev_both = [], [], [], []
    for i, p in enumerate(pregs):
        flags = _preeclampsia_flags(R, p, i, R.severe_before)
        if flags is None:
            continue
        before34, pe, pi = flags
        v1, v2 = all_of([before34, any_of([pe, pi])]), all_of([before34, pe, pi])
        if v1.value is not False:
            either.append(v1)
            ev_either.append(_preg_event(p, i))
        if v2.value is not False:
            both.append(v2)
            ev_both.append(_preg_event(p, i))
    add("D4", "severe_preeclampsia_or_placental_insufficiency", any_of(either), ev_either,
        [e.label for e, v in zip(ev_either, either, strict=True) if v.value])
    add("D4", "severe_preeclampsia_and_placental_insufficiency", any_of(both), ev_both,
        [e.label for e, v in zip(ev_both, both, strict=True) if v.value])

    # D5 cardiac valve
    cv = fi.cardiac_valve
    ev = [Event(fi.cardiac_valve_date, "the cardiac valve finding (findings.cardiac_valve)",
                undatable=fi.cardiac_valve_date is None)]
    u = unknown("cardiac valve assessment not documented (findings.cardiac_valve)")
    add("D5", "thickening", u if cv is None else Result(cv in ("thickening", "vegetation")), ev)
    add("D5", "vegetation", u if cv is None else Result(cv == "vegetation"), ev)

    # D6 haematology
    counts: list[tuple[float, Event]] = []
    if fi.thrombocytopenia_lowest is not None:
        counts.append((fi.thrombocytopenia_lowest,
                       Event(fi.thrombocytopenia_date, "the lowest platelet count (findings.thrombocytopenia_lowest)",
                             undatable=fi.thrombocytopenia_date is None)))
    for i, lab in enumerate(patient.labs):
        if lab.test == "platelet_count" and lab.value is not None:
            counts.append((lab.value, Event(lab.date, f"the platelet count of {lab.date or f'labs[{i}]'}")))
    if not counts:
        v = unknown("lowest platelet count not documented (findings.thrombocytopenia_lowest or a platelet_count lab)")
        add("D6", "thrombocytopenia", v, [Event(None, "the lowest platelet count", undatable=True)])
    else:
        lowest = min(n for n, _ in counts)
        hit = R.platelets_low <= lowest <= R.platelets_high
        events = [e for n, e in counts if R.platelets_low <= n <= R.platelets_high] if hit else []
        add("D6", "thrombocytopenia", Result(hit), events, [f"lowest platelet count {lowest:g} x10^9/L"] if hit else [])
    return out


def _tidy(missing: Iterable[str]) -> list[str]:
    """Deduplicate, and say "anti-β2GPI IgG/IgM not tested" once instead of twice."""
    items = list(dict.fromkeys(missing))
    for assay in ("anticardiolipin", "anti-β2GPI"):
        g, m = f"{assay} IgG not tested", f"{assay} IgM not tested"
        if g in items and m in items:
            items[items.index(g)] = f"{assay} IgG/IgM not tested"
            items.remove(m)
    return items


# ---------------------------------------------------------------- report

@dataclass
class ApsReport:
    sydney_2006: dict[str, Any] = field(default_factory=dict)
    acr_eular_2023: dict[str, Any] = field(default_factory=dict)
    fact_values: dict[str, Any] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        return dict(self.fact_values)

    def as_dict(self) -> dict[str, Any]:
        return {"sydney-2006": self.sydney_2006, "acr-eular-2023": self.acr_eular_2023}


_STATUS = {True: "met", False: "not_met", None: "indeterminate"}


def _timing(R: ApsRules, c: Criterion, lab_results: list[Reading]) -> Result:
    pairs = [all_of([r.pos, _sydney_window(R, e, r.event)]) for e in c.events for r in lab_results
             if r.pos.value is not False]
    if not c.events:
        return unknown()
    return any_of(pairs)


def _domain_points(crits: list[Criterion]) -> tuple[dict[str, int], dict[str, int], dict[str, list[Result]]]:
    """Points per domain (highest met criterion), the most each could still reach, and the undecided
    criteria that could raise a domain's points (their next steps are read only when reported)."""
    lo: dict[str, int] = {}
    hi: dict[str, int] = {}
    for c in crits:
        d, v = c.domain, c.value.value
        if d not in lo:
            lo[d] = hi[d] = 0
        if v is True and c.points > lo[d]:
            lo[d] = c.points
        if v is not False and c.points > hi[d]:
            hi[d] = c.points
    raising: dict[str, list[Result]] = {}
    for c in crits:
        if c.value.value is None and c.points > lo[c.domain]:
            raising.setdefault(c.domain, []).append(c.value)
    return lo, hi, raising


@dataclass(frozen=True)
class FindingsView:
    """The findings the APS criteria read (the exclusions, the clinical criteria, D1-D6)."""

    uterus: Any
    parental_karyotype: Any
    thromboses: Any
    thrombocytopenia_lowest: Any
    thrombocytopenia_date: Any
    cardiac_valve: Any
    cardiac_valve_date: Any
    microvascular: Any
    microvascular_date: Any


@dataclass(frozen=True)
class ApsView:
    """Everything of a record the APS criteria read; `classify` is given this view, never the record, so two
    readings of a record with equal views (they differ only in what the criteria do not read, such as the
    luteal-phase finding or the medication list) have one classification (rplnav.facts.RecordParts)."""

    today: Any
    labs: Any
    pregnancies: Any
    conditions: Any
    findings: FindingsView

    @classmethod
    def of(cls, patient: Patient | ApsView) -> ApsView:
        if isinstance(patient, ApsView):
            return patient
        fi = patient.findings
        return cls(patient.today, patient.labs, patient.pregnancies, patient.conditions, FindingsView(
            fi.uterus, fi.parental_karyotype, fi.thromboses, fi.thrombocytopenia_lowest, fi.thrombocytopenia_date,
            fi.cardiac_valve, fi.cardiac_valve_date, fi.microvascular, fi.microvascular_date))


@dataclass(frozen=True)
class LabCriteria:
    """What her antiphospholipid results alone decide under both criteria sets: the laboratory criteria, the
    readings the clinical criteria are timed against, and the apl.* facts. It reads only the laboratory
    histories and the assessment date, so it is computed once per record (rplnav.facts.RecordParts) and
    shared by every reading of the record that differs in its history lists; treat as read-only."""

    sydney: list[Criterion]  # the three Sydney 2006 laboratory criteria
    sydney_readings: dict[str, list[Reading]]  # per Sydney laboratory criterion, the readings of its tests
    acr: list[Criterion]  # the 2023 ACR/EULAR laboratory criteria (D7, D8)
    entry_readings: list[Reading]  # the results that can open the 2023 entry criterion
    untested: list[Result]  # one unknown per aPL test not done
    facts: dict[str, Any]  # the apl.* facts
    high_risk_profile: dict[str, Any]


def lab_criteria(tests: dict[str, TestSpec], lab_histories: dict[str, TestHistory], today: Any,
                 R: ApsRules) -> LabCriteria:
    """The laboratory side of Sydney 2006 and 2023 ACR/EULAR for her results (see `classify`)."""
    by_test = {t: lab_histories[t] for t in APL_TESTS if t in lab_histories}

    def at_level(test: str, level: float) -> list[Reading]:
        return [Reading(r.lab, r.event, level_reached(r.lab, level, r.event.label, R.text(ACR_EULAR, "levels_asked"),
                                                      tests[test]))
                for r in by_test[test].readings] if test in by_test else []

    syd = {t: list(by_test[t].readings) if t in by_test else [] for t in APL_TESTS}
    moderate = {t: at_level(t, R.moderate) for t in APL_TESTS if t != LA}
    high = {t: at_level(t, R.high) for t in APL_TESTS if t != LA}
    persist = {t: by_test[t].persistent if t in by_test else _NOT_TESTED[NAMES[t]] for t in APL_TESTS}
    persist_mod = {t: persistence(r, NAMES[t], today, R.persistence_days, R.text(ACR_EULAR, "at_moderate"))
                   for t, r in moderate.items()}
    persist_high = {t: persistence(r, NAMES[t], today, R.persistence_days, R.text(ACR_EULAR, "at_high"))
                    for t, r in high.items()}

    labs = [
        R.criterion(SYDNEY, "sydney.laboratory.lupus_anticoagulant", persist[LA]),
        R.criterion(SYDNEY, "sydney.laboratory.anticardiolipin", any_of([persist[ACL_G], persist[ACL_M]])),
        R.criterion(SYDNEY, "sydney.laboratory.anti_b2gpi", any_of([persist[B2_G], persist[B2_M]])),
    ]
    lab_members = {labs[0].id: (LA,), labs[1].id: (ACL_G, ACL_M), labs[2].id: (B2_G, B2_M)}
    for lc in labs:
        for t in lab_members[lc.id]:
            if persist[t].value:
                lc.evidence += [r.event.label for r in syd[t] if r.pos.value]
    sydney_readings = {lc.id: [r for t in lab_members[lc.id] for r in syd[t]] for lc in labs}

    la_ever = any_of(r.pos for r in syd[LA]) if syd[LA] else _NOT_TESTED[NAMES[LA]]
    igg_high = [persist_high[ACL_G], persist_high[B2_G]]
    lab23 = [
        R.criterion(ACR_EULAR, "acr2023.D7.single", la_ever),
        R.criterion(ACR_EULAR, "acr2023.D7.persistent", persist[LA]),
        R.criterion(ACR_EULAR, "acr2023.D8.igm_moderate_or_high", any_of([persist_mod[ACL_M], persist_mod[B2_M]])),
        R.criterion(ACR_EULAR, "acr2023.D8.igg_moderate", any_of([persist_mod[ACL_G], persist_mod[B2_G]])),
        R.criterion(ACR_EULAR, "acr2023.D8.igg_high_one", any_of(igg_high)),
        R.criterion(ACR_EULAR, "acr2023.D8.igg_high_both", all_of(igg_high)),
    ]
    entry_readings = [r for r in syd[LA]] + [r for t, rs in moderate.items() for r in rs]
    untested = [_NOT_TESTED[NAMES[t]] for t in APL_TESTS if t not in by_test]

    def ever(t: str) -> Result:
        """Positive at least once: Sydney positivity, or (aCL/anti-β2GPI) the 2023 moderate level."""
        if not syd[t]:
            return _NOT_TESTED[NAMES[t]]
        if t == LA:
            return any_of(r.pos for r in syd[t])
        return any_of(any_of([r.pos, m.pos]) for r, m in zip(syd[t], moderate[t], strict=True))

    all_results = [r for t in APL_TESTS for r in syd[t]]
    any_positive = any_of(ever(t) for t in APL_TESTS if syd[t]) if all_results else unknown("no aPL test recorded")
    acl_ever, b2_ever = any_of([ever(ACL_G), ever(ACL_M)]), any_of([ever(B2_G), ever(B2_M)])
    if R.high_titre == R.high:  # EULAR's high titre read at the 2023 high band (see aps-criteria.yaml)
        high_titre = any_of(persist_high.values())
    else:
        high_titre = any_of(persistence(at_level(t, R.high_titre), NAMES[t], today, R.persistence_days)
                            for t in APL_TESTS if t != LA)
    high_risk = any_of([persist[LA], at_least(2, [persist[LA], labs[1].value, labs[2].value]), high_titre])
    facts = {
        "apl.any_positive": any_positive.value,
        "apl.laboratory_criteria": any_of(lc.value for lc in labs).value,
        "apl.la_positive": ever(LA).value,
        "apl.la_persistent": persist[LA].value,
        "apl.triple_positive": all_of([ever(LA), acl_ever, b2_ever]).value,
        "apl.high_risk_profile": high_risk.value,
        "apl.tested_panel": all(t in by_test for t in APL_TESTS),
    }
    profile = {
        "value": high_risk.value,
        "text": R.text(HIGH_RISK, "profile"),
        "source": {**R.reference_of(HIGH_RISK, "profile"), "note": R.text(HIGH_RISK, "high_titre_note")},
    }
    return LabCriteria(labs, sydney_readings, lab23, entry_readings, untested, facts, profile)


def classify(patient: Patient | ApsView, tests: dict[str, TestSpec],
             lab_histories: dict[str, TestHistory] | None = None, rules: ApsRules | None = None,
             laboratory: LabCriteria | None = None) -> ApsReport:
    """Classify one patient by Sydney 2006 and 2023 ACR/EULAR, and derive the aps.* / apl.* facts.

    ``lab_histories`` are her laboratory histories as the fact layer read them (rplnav.labs), so that the criteria
    see exactly the positivity and persistence the work-up sees; they are read here when not given. ``rules``
    are the knowledge base's (aps-criteria.yaml); the bundled base's when not given. ``laboratory`` is
    `lab_criteria` of the same histories, when the caller already has it."""
    R = rules or bundled_rules()
    patient = ApsView.of(patient)
    today = patient.today
    if lab_histories is None:
        lab_histories = histories(patient.labs, tests, NAMES, today, R.persistence_days)
    L = laboratory if laboratory is not None else lab_criteria(tests, lab_histories, today, R)
    labs, lab_results = L.sydney, L.sydney_readings

    # ---------------- Sydney 2006
    clinical, notes_sydney = _sydney_clinical(R, patient, lab_histories)
    # While a laboratory criterion is undecided, later results could still satisfy the timing rule.
    # Only pairs where neither criterion is false are ever read (a false criterion decides its pair).
    timing = {(c.id, lc.id): _timing(R, c, lab_results[lc.id]) if lc.value.value is not None
              else any_of([_timing(R, c, lab_results[lc.id]), unknown()])
              for c in clinical if c.value.value is not False for lc in labs if lc.value.value is not False}

    def sydney_for(cs: list[Criterion]) -> Result:
        return any_of(all_of([c.value, lc.value, timing[(c.id, lc.id)]]) for c in cs if c.value.value is not False
                      for lc in labs if lc.value.value is not False)

    sydney = sydney_for(clinical)
    obstetric = sydney_for([c for c in clinical if c.id != "sydney.clinical.vascular_thrombosis"])
    thrombotic = sydney_for([c for c in clinical if c.id == "sydney.clinical.vascular_thrombosis"])
    lab_any = any_of(lc.value for lc in labs)
    clin_any = any_of(c.value for c in clinical)
    timing_ok = any_of(timing[(c.id, lc.id)] for c in clinical for lc in labs
                       if c.value.value is True and lc.value.value is True)
    if clin_any.value and lab_any.value and timing_ok.value is False:
        notes_sydney.append(R.text(SYDNEY, "timing_failed"))

    def tword(v: Result) -> str:
        return {True: "satisfied", False: "not satisfied", None: "undecided"}[v.value]

    sydney_dict: dict[str, Any] = {
        "definition": R.sets[SYDNEY].definition,
        "status": _STATUS[sydney.value],
        "clinical": [
            c.entry(timing_rule=tword(any_of(timing[(c.id, lc.id)] for lc in labs if lc.value.value is True)))
            for c in clinical if c.value.value is True
        ],
        "laboratory": [lc.entry() for lc in labs if lc.value.value is True],
        "undecided": [c.id for c in clinical + labs if c.value.value is None],
        "timing_rule": {
            "text": R.text(SYDNEY, "timing_rule"),
            "status": tword(timing_ok) if clin_any.value and lab_any.value else "not applicable",
            "source": R.reference_of(SYDNEY, "timing_rule"),
        },
        "rule": {"text": R.text(SYDNEY, "rule"), "source": R.reference_of(SYDNEY, "rule")},
        "missing": _tidy(sydney.needs) if sydney.value is None else [],
    }

    # ---------------- 2023 ACR/EULAR
    clin23 = _acr_clinical(R, patient)
    lab23 = L.acr
    c_lo, c_hi, c_missing = _domain_points(clin23)
    l_lo, l_hi, l_missing = _domain_points(lab23)
    clinical_points, clinical_possible = sum(c_lo.values()), sum(c_hi.values())
    lab_points, lab_possible = sum(l_lo.values()), sum(l_hi.values())

    entry_tests = L.entry_readings
    def entry_pair(c: Criterion, e: Event, r: Reading) -> Result:
        window = _entry_window(R, e, r.event)
        if c.value.value is None:  # ask for the finding first; its date only matters once it is documented
            window = Result(window.value)
        return all_of([c.value, r.pos, window])

    entry_pairs = [
        entry_pair(c, e, r)
        for c in clin23 if c.value.value is not False for e in c.events for r in entry_tests if r.pos.value is not False
    ]
    entry_clinical = any_of(c.value for c in clin23)
    untested = L.untested
    entry = FALSE if entry_clinical.value is False else any_of(entry_pairs + untested)
    if entry.value is False:
        status23 = "entry_not_met"
    elif clinical_possible < R.clinical_needed or lab_possible < R.laboratory_needed:
        status23 = "not_met"
    elif entry.value and clinical_points >= R.clinical_needed and lab_points >= R.laboratory_needed:
        status23 = "met"
    else:
        status23 = "indeterminate"
    missing23: list[str] = []
    if status23 == "indeterminate":
        if entry.value is None:
            missing23 += entry.needs
        if lab_points < R.laboratory_needed:
            missing23 += [m for d in ("D7", "D8") for x in l_missing.get(d, []) for m in x.needs]
        if clinical_points < R.clinical_needed:
            missing23 += [m for d in ("D1", "D2", "D3", "D4", "D5", "D6") for x in c_missing.get(d, [])
                          for m in x.needs]
    all23 = clin23 + lab23
    best = {}
    for c in all23:
        if c.value.value is True and c.points == (c_lo | l_lo)[c.domain]:
            best.setdefault(c.domain, c)
    acr_dict: dict[str, Any] = {
        "definition": R.sets[ACR_EULAR].definition,
        "status": status23,
        "entry": {"met": entry.value, "text": R.text(ACR_EULAR, "entry"), "source": R.reference_of(ACR_EULAR, "entry")},
        "clinical_points": clinical_points,
        "laboratory_points": lab_points,
        "clinical_points_possible": clinical_possible,
        "laboratory_points_possible": lab_possible,
        "domains": {d: (c_lo | l_lo)[d] for d in ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8")},
        "domains_possible": {d: (c_hi | l_hi)[d] for d in ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8")},
        "clinical": [best[d].entry() for d in ("D1", "D2", "D3", "D4", "D5", "D6") if d in best],
        "laboratory": [best[d].entry() for d in ("D7", "D8") if d in best],
        "rule": {"text": R.text(ACR_EULAR, "rule"), "source": R.reference_of(ACR_EULAR, "rule")},
        "assumption": R.text(ACR_EULAR, "assumption"),
        "missing": _tidy(missing23),
    }
    if status23 == "entry_not_met":
        acr_dict["note_entry"] = R.text(ACR_EULAR, "note_entry")

    # ---------------- disagreement notes
    note = _disagreement(R, sydney.value, status23, clinical_points, clinical_possible, lab_points, best, c_missing)
    if note:
        notes_sydney.append(note)
        acr_dict["note"] = note
    if notes_sydney:
        sydney_dict["note"] = " ".join(notes_sydney)

    # ---------------- facts
    acr_val = {"met": True, "not_met": False, "entry_not_met": False}.get(status23)

    facts = {
        "aps.sydney_2006": sydney.value,
        "aps.acr_eular_2023": acr_val,
        "aps.any_met": any_of([sydney, Result(acr_val)]).value,
        "aps.obstetric": obstetric.value,
        "aps.thrombotic": thrombotic.value,
        **L.facts,
    }
    sydney_dict["high_risk_profile"] = dict(L.high_risk_profile)
    return ApsReport(sydney_2006=sydney_dict, acr_eular_2023=acr_dict, fact_values=facts)


def _disagreement(R: ApsRules, sydney: bool | None, status23: str, clinical_points: int, clinical_possible: int,
                  lab_points: int, best: dict[str, Criterion], c_missing: dict[str, list[Result]]) -> str | None:
    """Explain why Sydney 2006 classifies and the 2023 criteria do not (or might not)."""
    if sydney is not True or status23 == "met":
        return None
    reasons = []
    if status23 == "entry_not_met":
        reasons.append(R.text(ACR_EULAR, "entry_not_met"))
    if clinical_points < R.clinical_needed:
        d4 = best.get("D4")
        only_early = d4 is not None and d4.id.endswith("consecutive_early_deaths") and clinical_points == d4.points
        reasons.append(f"{clinical_points} clinical point{'s' if clinical_points != 1 else ''} under 2023 "
                       + R.text(ACR_EULAR, "points_needed")
                       + (R.text(ACR_EULAR, "only_early_loss") if only_early else ""))
    if lab_points < R.laboratory_needed:
        d8 = best.get("D8")
        igm = d8 is not None and d8.id.endswith("igm_moderate_or_high") and "D7" not in best
        reasons.append(f"{lab_points} laboratory point{'s' if lab_points != 1 else ''} under 2023 "
                       + R.text(ACR_EULAR, "points_needed") + (R.text(ACR_EULAR, "isolated_igm") if igm else ""))
    head = "Sydney 2006 is met but 2023 ACR/EULAR is not" if status23 in ("not_met", "entry_not_met") else \
        "Sydney 2006 is met; 2023 ACR/EULAR is not met on the documented features"
    text = f"{head}: {'; '.join(reasons)}."
    if status23 == "indeterminate" and clinical_points < R.clinical_needed <= clinical_possible:
        text += " It could still be met only if undocumented clinical features add points."
    return text
