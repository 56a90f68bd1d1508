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

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rplnav.gestation import format_ga
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

MIYAKIS, BARBHAIYA, EULAR = "miyakis-2006", "barbhaiya-2023", "eular-2019"

W10, W16, W20, W34 = 10 * 7, 16 * 7, 20 * 7, 34 * 7
TWELVE_WEEKS = PERSISTENCE_DAYS = 12 * 7
SYDNEY_ACL = 40.0  # strictly above (Sydney: "> 40 GPL or MPL")
MODERATE, HIGH = 40.0, 80.0  # 2023: moderate 40-79 units, high >= 80 units
PLATELETS_LOW, PLATELETS_HIGH = 20.0, 130.0  # 2023 D6, x10^9/L, inclusive
ENTRY_YEARS, SYDNEY_MAX_YEARS = 3, 5

EXPLANATORY_UTERUS = frozenset(
    {"septate", "subseptate", "bicornuate", "unicornuate", "didelphys", "submucosal_fibroid", "adhesions"}
)
HORMONAL_CONDITIONS = ("hypothyroidism", "hyperthyroidism", "diabetes", "hyperprolactinaemia")
ABNORMAL_POC = frozenset({"aneuploid", "unbalanced_structural"})


# ---------------------------------------------------------------- three-valued values with their next steps

_NOT_TESTED = {name: unknown(f"{name} not tested") for name in NAMES.values()}


# ---------------------------------------------------------------- timing rules

def _sydney_window(event: Event, test: Event) -> Result:
    why = "Sydney timing rule: 12 weeks to 5 years between positive aPL test and clinical event"
    return all_of([
        relation(event, test, lambda x, y: at_least_days_apart(x, y, TWELVE_WEEKS), why),
        relation(event, test, lambda x, y: within_years(x, y, SYDNEY_MAX_YEARS), why),
    ])


def _entry_window(event: Event, test: Event) -> Result:
    why = "2023 entry criterion: positive aPL test within 3 years of the clinical criterion"
    return relation(event, test, lambda x, y: within_years(x, y, ENTRY_YEARS), why)


LEVELS_ASKED = "2023 levels: moderate 40-79, high >= 80 units"


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


def _explained(p: Pregnancy) -> bool:
    return p.poc_karyotype in ABNORMAL_POC or p.morphologically_normal is False


def _consecutive_early(pregs: list[Pregnancy], limit: int, name: str) -> tuple[Result, list[int]]:
    """>= 3 consecutive recorded spontaneous losses before ``limit`` days; the members of qualifying runs."""
    runs: list[list[tuple[int, bool | None]]] = [[]]
    for i, p in enumerate(pregs):
        if p.outcome in ("biochemical", "pul_resolved"):
            continue  # neither counts nor interrupts
        if p.outcome in ("miscarriage", "stillbirth") and not _explained(p):
            ga = p.gestational_age
            if ga is None:
                runs[-1].append((i, None))
                continue
            if ga < limit:
                runs[-1].append((i, True))
                continue
        runs.append([])
    best = [r for r in runs if sum(v is True for _, v in r) >= 3]
    if best:
        return TRUE, [i for r in best for i, v in r if v]
    maybe = [r for r in runs if len(r) >= 3]
    if not maybe:
        return FALSE, []
    missing = [
        f"give the gestational age of {_preg_label(pregs[i], i)} ({name})" for r in maybe for i, v in r if v is None
    ]
    return Result(None, tuple(missing)), [i for r in maybe for i, _ in r]


def _preeclampsia_flags(p: Pregnancy, i: int) -> tuple[Result, Result, Result] | None:
    """(before 34+0 weeks, severe pre-eclampsia, placental insufficiency), or None when not applicable."""
    flagged = p.severe_preeclampsia is True or p.placental_insufficiency is True
    if not flagged:
        if p.outcome not in ("live_birth", "stillbirth", "termination"):
            return None
        if p.gestational_age is not None and (p.gestational_age < W20 or p.gestational_age >= W34):
            return None
    label = _preg_label(p, i)
    before34 = (
        unknown(f"give the gestational age of {label}")
        if p.gestational_age is None else Result(p.gestational_age < W34)
    )
    pe = _flag(p.severe_preeclampsia, f"state whether {label} had severe pre-eclampsia or eclampsia")
    pi = _flag(p.placental_insufficiency, f"state whether {label} had placental insufficiency")
    return before34, pe, pi


# The hormone tests that exclude what they test for: TSH (thyroid dysfunction, above or below the range),
# prolactin (hyperprolactinaemia), HbA1c (diabetes). TSH is the one the RPL guidelines ask of every woman.
HORMONE_TESTS = (("tsh", "TSH"), ("prolactin", "prolactin"), ("hba1c", "HbA1c"))


def _hormonal(patient: Patient, hist: dict[str, TestHistory], notes: list[str]) -> Result:
    """Maternal hormonal causes excluded: by the hormone tests (a normal TSH excludes untreated thyroid
    dysfunction, a normal prolactin hyperprolactinaemia, a normal HbA1c diabetes), or by a conditions list
    naming none; an abnormal test or a listed disorder means they are not excluded. Tests not done are caveats.
    A conditions list that is not given blocks the exclusion only when TSH was not tested either."""
    listed = [c for c in HORMONAL_CONDITIONS if patient.conditions and c in patient.conditions]
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


def _exclusions(patient: Patient, hist: dict[str, TestHistory]) -> tuple[Result, list[str]]:
    """Sydney 2(c): maternal anatomical, hormonal and parental chromosomal causes excluded."""
    notes: list[str] = []
    fi = patient.findings
    if fi.uterus in (None, "unknown"):
        uterus = unknown("exclusion of uterine anomaly not documented (findings.uterus)")
    elif fi.uterus in EXPLANATORY_UTERUS:
        uterus = FALSE
        notes.append(f"uterine anomaly ({fi.uterus}) present, so anatomical causes are not excluded")
    else:
        uterus = TRUE
    if fi.parental_karyotype in (None, "unknown"):
        karyo = unknown("parental karyotype not documented (findings.parental_karyotype)")
    elif fi.parental_karyotype != "normal":
        karyo = FALSE
        notes.append(f"parental karyotype abnormal ({fi.parental_karyotype}), so chromosomal causes are not excluded")
    else:
        karyo = TRUE
    hormonal = _hormonal(patient, hist, notes)
    return all_of([uterus, karyo, hormonal]), notes


def _sydney_clinical(patient: Patient, hist: dict[str, TestHistory]) -> tuple[list[Criterion], list[str]]:
    pregs = patient.pregnancies
    out: list[Criterion] = []
    notes: list[str] = []

    # 1. vascular thrombosis
    thr = patient.findings.thromboses
    c = Criterion("sydney.clinical.vascular_thrombosis",
                  "Vascular thrombosis: arterial, venous (not superficial) or small-vessel, objectively confirmed",
                  _src(MIYAKIS, "Clinical criterion 1 (vascular thrombosis)"), FALSE)
    if thr is None:
        c.value = unknown("thrombosis history not documented (findings.thromboses; [] when none)")
    else:
        real = [(i, t) for i, t in enumerate(thr) if not t.superficial]
        c.value = Result(bool(real))
        c.events = [Event(t.date, f"findings.thromboses[{i}] ({t.type})") for i, t in real]
        c.evidence = [e.label for e in c.events]
    out.append(c)

    # 2(a) fetal death >= 10 weeks, morphologically normal, unexplained
    c = Criterion("sydney.clinical.fetal_death_ge10w",
                  "Unexplained death of a morphologically normal fetus at or beyond 10 weeks",
                  _src(MIYAKIS, "Clinical criterion 2(a) (fetal death at >=10 weeks)"), FALSE)
    values = []
    for i, p in enumerate(pregs):
        if p.outcome not in ("miscarriage", "stillbirth") or p.poc_karyotype in ABNORMAL_POC:
            continue
        label = _preg_label(p, i)
        if p.gestational_age is not None:
            ga10 = Result(p.gestational_age >= W10)
        elif p.outcome == "stillbirth":
            ga10 = TRUE  # a stillbirth is by definition well beyond 10 weeks
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
    c = Criterion("sydney.clinical.premature_birth_lt34w",
                  "Premature birth of a morphologically normal neonate before 34 weeks because of eclampsia, "
                  "severe pre-eclampsia or placental insufficiency",
                  _src(MIYAKIS, "Clinical criterion 2(b) (premature birth before 34 weeks)"), FALSE)
    values = []
    for i, p in enumerate(pregs):
        if p.outcome != "live_birth":
            continue
        flags = _preeclampsia_flags(p, i)
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
    c = Criterion("sydney.clinical.recurrent_early_loss",
                  "Three or more unexplained consecutive spontaneous abortions before 10 weeks, with maternal "
                  "anatomical and hormonal abnormalities and parental chromosomal causes excluded",
                  _src(MIYAKIS, "Clinical criterion 2(c) (three consecutive losses before 10 weeks)"), FALSE)
    run, members = _consecutive_early(pregs, W10, "Sydney 2(c): losses before 10 weeks")
    if run.value is not False:
        excluded, why = _exclusions(patient, hist)
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

def _acr_clinical(patient: Patient) -> list[Criterion]:
    pregs = patient.pregnancies
    fi = patient.findings
    out: list[Criterion] = []

    def add(domain: str, cid: str, text: str, points: int, value: Result, locator: str,
            events: list[Event] | None = None, evidence: list[str] | None = None) -> None:
        out.append(Criterion(f"acr2023.{domain}.{cid}", text, _src(BARBHAIYA, locator), value,
                             list(events or []), list(evidence or []), points, domain))

    # D1 / D2 macrovascular
    for domain, kind, low, high, what, loc in (
        ("D1", "venous", 1, 3, "venous thromboembolism", "Clinical domain D1 (macrovascular: VTE)"),
        ("D2", "arterial", 2, 4, "arterial thrombosis", "Clinical domain D2 (macrovascular: arterial thrombosis)"),
    ):
        profile = "VTE" if kind == "venous" else "cardiovascular"
        if fi.thromboses is None:
            u = unknown("thrombosis history not documented (findings.thromboses; [] when none)")
            add(domain, "with_high_risk_profile", f"{what} with a high-risk {profile} profile", low, u, loc)
            add(domain, "without_high_risk_profile", f"{what} without a high-risk {profile} profile", high, u, loc)
            continue
        hits = [(i, t) for i, t in enumerate(fi.thromboses) if t.type == kind and not t.superficial]
        events = [Event(t.date, f"findings.thromboses[{i}] ({t.type})") for i, t in hits]
        add(domain, "with_high_risk_profile", f"{what} with a high-risk {profile} profile", low,
            Result(bool(hits)), loc, events, [e.label for e in events])
        vals = [
            Result(True) if t.high_risk_profile is False else FALSE if t.high_risk_profile else unknown(
                f"state whether findings.thromboses[{i}] ({t.type}) occurred with a high-risk {profile} profile")
            for i, t in hits
        ]
        keep = [e for e, v in zip(events, vals, strict=True) if v.value is not False]
        add(domain, "without_high_risk_profile", f"{what} without a high-risk {profile} profile", high,
            any_of(vals), loc, keep, [e.label for e, v in zip(events, vals, strict=True) if v.value])

    # D3 microvascular
    loc = "Clinical domain D3 (microvascular)"
    mv = fi.microvascular
    ev = [Event(fi.microvascular_date, "the microvascular finding (findings.microvascular)",
                undatable=fi.microvascular_date is None)]
    u = unknown("microvascular features (livedo racemosa, livedoid vasculopathy, aPL nephropathy, pulmonary or "
                "adrenal haemorrhage, myocardial disease) not documented (findings.microvascular)")
    add("D3", "suspected", "suspected microvascular disease", 2,
        u if mv is None else Result(mv in ("suspected", "established")), loc, ev)
    add("D3", "established", "established microvascular disease", 5,
        u if mv is None else Result(mv == "established"), loc, ev)

    # D4 obstetric
    loc = "Clinical domain D4 (obstetric)"
    run, members = _consecutive_early(pregs, W16, "2023 D4: deaths before 16 weeks")
    if run.value is not False:
        if fi.uterus in EXPLANATORY_UTERUS or fi.parental_karyotype in (
                "balanced_translocation", "inversion", "other_abnormal"):
            run = FALSE  # an equally or more likely explanation is documented
    add("D4", "consecutive_early_deaths",
        "three or more consecutive pre-fetal (<10 weeks) and/or early fetal (10+0 to 15+6 weeks) deaths", 1, run,
        loc, [_preg_event(pregs[i], i) for i in members],
        [_preg_label(pregs[i], i) for i in members] if run.value else [])
    vals, events = [], []
    for i, p in enumerate(pregs):
        if p.outcome not in ("miscarriage", "stillbirth") or _explained(p):
            continue
        if p.gestational_age is None:
            v = unknown(f"give the gestational age of {_preg_label(p, i)}")
        else:
            v = Result(W16 <= p.gestational_age < W34)
        if v.value is not False:
            vals.append(v)
            events.append(_preg_event(p, i))
    add("D4", "fetal_death_16_34w", "fetal death at 16+0 to 33+6 weeks", 1, any_of(vals), loc, events,
        [e.label for e, v in zip(events, vals, strict=True) if v.value])
    either, both, ev_either, ev_both = [], [], [], []
    for i, p in enumerate(pregs):
        flags = _preeclampsia_flags(p, i)
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
    add("D4", "severe_preeclampsia_or_placental_insufficiency",
        "pre-eclampsia with severe features or placental insufficiency with severe features before 34+0 weeks",
        3, any_of(either), loc, ev_either, [e.label for e, v in zip(ev_either, either, strict=True) if v.value])
    add("D4", "severe_preeclampsia_and_placental_insufficiency",
        "pre-eclampsia with severe features and placental insufficiency with severe features before 34+0 weeks",
        4, any_of(both), loc, ev_both, [e.label for e, v in zip(ev_both, both, strict=True) if v.value])

    # D5 cardiac valve
    loc = "Clinical domain D5 (cardiac valve)"
    cv = fi.cardiac_valve
    ev = [Event(fi.cardiac_valve_date, "the cardiac valve finding (findings.cardiac_valve)",
                undatable=fi.cardiac_valve_date is None)]
    u = unknown("cardiac valve assessment not documented (findings.cardiac_valve)")
    add("D5", "thickening", "cardiac valve thickening", 2,
        u if cv is None else Result(cv in ("thickening", "vegetation")), loc, ev)
    add("D5", "vegetation", "cardiac valve vegetation", 4, u if cv is None else Result(cv == "vegetation"), loc, ev)

    # D6 haematology
    loc = "Clinical domain D6 (haematology: thrombocytopenia)"
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
        add("D6", "thrombocytopenia", "thrombocytopenia, lowest count 20-130 x10^9/L", 2, v, loc,
            [Event(None, "the lowest platelet count", undatable=True)])
    else:
        lowest = min(n for n, _ in counts)
        hit = PLATELETS_LOW <= lowest <= PLATELETS_HIGH
        events = [e for n, e in counts if PLATELETS_LOW <= n <= PLATELETS_HIGH] if hit else []
        add("D6", "thrombocytopenia", "thrombocytopenia, lowest count 20-130 x10^9/L", 2, Result(hit), loc, events,
            [f"lowest platelet count {lowest:g} x10^9/L"] if hit else [])
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


def _timing(c: Criterion, lab_results: list[Reading]) -> Result:
    pairs = [all_of([r.pos, _sydney_window(e, r.event)]) for e in c.events for r in lab_results
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


def classify(patient: Patient, tests: dict[str, TestSpec],
             lab_histories: dict[str, TestHistory] | None = None) -> ApsReport:
    """Classify one patient by Sydney 2006 and 2023 ACR/EULAR, and derive the aps.* / apl.* facts.

    ``lab_histories`` are her laboratory histories as the fact layer read them (rplnav.labs), so that the criteria
    see exactly the positivity and persistence the work-up sees; they are read here when not given."""
    today = patient.today
    if lab_histories is None:
        lab_histories = histories(patient.labs, tests, NAMES, today, PERSISTENCE_DAYS)
    by_test = {t: lab_histories[t] for t in APL_TESTS if t in lab_histories}

    def at_level(test: str, level: float) -> list[Reading]:
        return [Reading(r.lab, r.event, level_reached(r.lab, level, r.event.label, LEVELS_ASKED, tests[test]))
                for r in by_test[test].readings] if test in by_test else []

    syd = {t: list(by_test[t].readings) if t in by_test else [] for t in APL_TESTS}
    moderate = {t: at_level(t, MODERATE) for t in APL_TESTS if t != LA}
    high = {t: at_level(t, HIGH) for t in APL_TESTS if t != LA}
    persist = {t: by_test[t].persistent if t in by_test else _NOT_TESTED[NAMES[t]] for t in APL_TESTS}
    persist_mod = {t: persistence(r, NAMES[t], today, PERSISTENCE_DAYS, " at >= 40 units")
                   for t, r in moderate.items()}
    persist_high = {t: persistence(r, NAMES[t], today, PERSISTENCE_DAYS, " at >= 80 units")
                    for t, r in high.items()}

    # ---------------- Sydney 2006
    clinical, notes_sydney = _sydney_clinical(patient, lab_histories)
    labs = [
        Criterion("sydney.laboratory.lupus_anticoagulant",
                  "Lupus anticoagulant on 2 or more occasions at least 12 weeks apart",
                  _src(MIYAKIS, "Laboratory criterion 1 (lupus anticoagulant)"), persist[LA]),
        Criterion("sydney.laboratory.anticardiolipin",
                  "Anticardiolipin IgG and/or IgM above 40 GPL/MPL or above the 99th percentile, on 2 or more "
                  "occasions at least 12 weeks apart",
                  _src(MIYAKIS, "Laboratory criterion 2 (anticardiolipin)"),
                  any_of([persist[ACL_G], persist[ACL_M]])),
        Criterion("sydney.laboratory.anti_b2gpi",
                  "Anti-β2-glycoprotein I IgG and/or IgM above the 99th percentile, on 2 or more occasions at "
                  "least 12 weeks apart",
                  _src(MIYAKIS, "Laboratory criterion 3 (anti-β2-glycoprotein I)"),
                  any_of([persist[B2_G], persist[B2_M]])),
    ]
    lab_members = {labs[0].id: (LA,), labs[1].id: (ACL_G, ACL_M), labs[2].id: (B2_G, B2_M)}
    for lc in labs:
        for t in lab_members[lc.id]:
            if persist[t].value:
                lc.evidence += [r.event.label for r in syd[t] if r.pos.value]
    lab_results = {lc.id: [r for t in lab_members[lc.id] for r in syd[t]] for lc in labs}
    # While a laboratory criterion is undecided, later results could still satisfy the timing rule.
    # Only pairs where neither criterion is false are ever read (a false criterion decides its pair).
    timing = {(c.id, lc.id): _timing(c, lab_results[lc.id]) if lc.value.value is not None
              else any_of([_timing(c, lab_results[lc.id]), unknown()])
              for c in clinical if c.value.value is not False for lc in labs if lc.value.value is not False}

    def sydney_for(cs: list[Criterion]) -> Result:
        return any_of(all_of([c.value, lc.value, timing[(c.id, lc.id)]]) for c in cs if c.value.value is not False
                      for lc in labs if lc.value.value is not False)

    sydney = sydney_for(clinical)
    obstetric = sydney_for([c for c in clinical if c.id != "sydney.clinical.vascular_thrombosis"])
    thrombotic = sydney_for([c for c in clinical if c.id == "sydney.clinical.vascular_thrombosis"])
    lab_criteria = any_of(lc.value for lc in labs)
    clin_any = any_of(c.value for c in clinical)
    timing_ok = any_of(timing[(c.id, lc.id)] for c in clinical for lc in labs
                       if c.value.value is True and lc.value.value is True)
    if clin_any.value and lab_criteria.value and timing_ok.value is False:
        notes_sydney.append(
            "Clinical and laboratory criteria are met, but every positive aPL test is less than 12 weeks or more "
            "than 5 years from the clinical events, so Sydney 2006 advises against classification."
        )

    def tword(v: Result) -> str:
        return {True: "satisfied", False: "not satisfied", None: "undecided"}[v.value]

    sydney_dict: dict[str, Any] = {
        "definition": "Miyakis 2006 (revised Sapporo / Sydney)",
        "status": _STATUS[sydney.value],
        "clinical": [
            c.entry(timing_rule=tword(any_of(timing[(c.id, lc.id)] for lc in labs if lc.value.value is True)))
            for c in clinical if c.value.value is True
        ],
        "laboratory": [lc.entry() for lc in labs if lc.value.value is True],
        "undecided": [c.id for c in clinical + labs if c.value.value is None],
        "timing_rule": {
            "text": "not classified if less than 12 weeks or more than 5 years separate the positive aPL test "
                    "and the clinical manifestation",
            "status": tword(timing_ok) if clin_any.value and lab_criteria.value else "not applicable",
            "source": dict(_src(MIYAKIS, "Timing footnote to the criteria (12 weeks to 5 years)")),
        },
        "rule": {"text": "at least 1 clinical and 1 laboratory criterion",
                 "source": dict(_src(MIYAKIS, "Revised classification criteria (1 clinical + 1 laboratory)"))},
        "missing": _tidy(sydney.needs) if sydney.value is None else [],
    }

    # ---------------- 2023 ACR/EULAR
    clin23 = _acr_clinical(patient)
    loc7, loc8 = "Laboratory domain D7 (lupus anticoagulant)", "Laboratory domain D8 (aCL / anti-β2GPI by ELISA)"
    la_ever = any_of(r.pos for r in syd[LA]) if syd[LA] else _NOT_TESTED[NAMES[LA]]
    igg_high = [persist_high[ACL_G], persist_high[B2_G]]
    lab23 = [
        Criterion("acr2023.D7.single", "positive lupus anticoagulant, single (one time)",
                  _src(BARBHAIYA, loc7), la_ever, points=1, domain="D7"),
        Criterion("acr2023.D7.persistent", "positive lupus anticoagulant, persistent",
                  _src(BARBHAIYA, loc7), persist[LA], points=5, domain="D7"),
        Criterion("acr2023.D8.igm_moderate_or_high", "moderate or high positive IgM (aCL and/or anti-β2GPI), persistent",
                  _src(BARBHAIYA, loc8), any_of([persist_mod[ACL_M], persist_mod[B2_M]]), points=1, domain="D8"),
        Criterion("acr2023.D8.igg_moderate", "moderate positive IgG (aCL and/or anti-β2GPI), persistent",
                  _src(BARBHAIYA, loc8), any_of([persist_mod[ACL_G], persist_mod[B2_G]]), points=4, domain="D8"),
        Criterion("acr2023.D8.igg_high_one", "high positive IgG (aCL or anti-β2GPI), persistent",
                  _src(BARBHAIYA, loc8), any_of(igg_high), points=5, domain="D8"),
        Criterion("acr2023.D8.igg_high_both", "high positive IgG (aCL and anti-β2GPI), persistent",
                  _src(BARBHAIYA, loc8), all_of(igg_high), points=7, domain="D8"),
    ]
    c_lo, c_hi, c_missing = _domain_points(clin23)
    l_lo, l_hi, l_missing = _domain_points(lab23)
    clinical_points, clinical_possible = sum(c_lo.values()), sum(c_hi.values())
    lab_points, lab_possible = sum(l_lo.values()), sum(l_hi.values())

    entry_tests = [r for r in syd[LA]] + [r for t, rs in moderate.items() for r in rs]
    def entry_pair(c: Criterion, e: Event, r: Reading) -> Result:
        window = _entry_window(e, r.event)
        if c.value.value is None:  # ask for the finding first; its date only matters once it is documented
            window = Result(window.value)
        return all_of([c.value, r.pos, window])

    entry_pairs = [
        entry_pair(c, e, r)
        for c in clin23 if c.value.value is not False for e in c.events for r in entry_tests if r.pos.value is not False
    ]
    entry_clinical = any_of(c.value for c in clin23)
    untested = [_NOT_TESTED[NAMES[t]] for t in APL_TESTS if t not in by_test]
    entry = FALSE if entry_clinical.value is False else any_of(entry_pairs + untested)
    if entry.value is False:
        status23 = "entry_not_met"
    elif clinical_possible < 3 or lab_possible < 3:
        status23 = "not_met"
    elif entry.value and clinical_points >= 3 and lab_points >= 3:
        status23 = "met"
    else:
        status23 = "indeterminate"
    missing23: list[str] = []
    if status23 == "indeterminate":
        if entry.value is None:
            missing23 += entry.needs
        if lab_points < 3:
            missing23 += [m for d in ("D7", "D8") for x in l_missing.get(d, []) for m in x.needs]
        if clinical_points < 3:
            missing23 += [m for d in ("D1", "D2", "D3", "D4", "D5", "D6") for x in c_missing.get(d, [])
                          for m in x.needs]
    all23 = clin23 + lab23
    best = {}
    for c in all23:
        if c.value.value is True and c.points == (c_lo | l_lo)[c.domain]:
            best.setdefault(c.domain, c)
    acr_dict: dict[str, Any] = {
        "definition": "Barbhaiya 2023 (ACR/EULAR)",
        "status": status23,
        "entry": {
            "met": entry.value,
            "text": "at least one clinical criterion (D1-D6) and a positive aPL test (lupus anticoagulant, or "
                    "aCL/anti-β2GPI at moderate-to-high level) within 3 years of it",
            "source": dict(_src(BARBHAIYA, "Entry criterion")),
        },
        "clinical_points": clinical_points,
        "laboratory_points": lab_points,
        "clinical_points_possible": clinical_possible,
        "laboratory_points_possible": lab_possible,
        "domains": {d: (c_lo | l_lo)[d] for d in ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8")},
        "domains_possible": {d: (c_hi | l_hi)[d] for d in ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8")},
        "clinical": [best[d].entry() for d in ("D1", "D2", "D3", "D4", "D5", "D6") if d in best],
        "laboratory": [best[d].entry() for d in ("D7", "D8") if d in best],
        "rule": {"text": "at least 3 points from clinical domains and at least 3 points from laboratory domains; "
                         "only the highest-weighted criterion in each domain counts",
                 "source": dict(_src(BARBHAIYA, "Classification rule and scoring instructions"))},
        "assumption": "each counted clinical criterion is taken to have no equally or more likely explanation than "
                      "APS unless the input documents one",
        "missing": _tidy(missing23),
    }
    if status23 == "entry_not_met":
        acr_dict["note_entry"] = "entry criterion not met, so classification is not attempted; points are shown " \
                                 "for information"

    # ---------------- disagreement notes
    note = _disagreement(sydney.value, status23, clinical_points, clinical_possible, lab_points, best, c_missing)
    if note:
        notes_sydney.append(note)
        acr_dict["note"] = note
    if notes_sydney:
        sydney_dict["note"] = " ".join(notes_sydney)

    # ---------------- facts
    acr_val = {"met": True, "not_met": False, "entry_not_met": False}.get(status23)

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
    high_titre = any_of(persist_high.values())
    high_risk = any_of([persist[LA], at_least(2, [persist[LA], labs[1].value, labs[2].value]), high_titre])

    facts = {
        "aps.sydney_2006": sydney.value,
        "aps.acr_eular_2023": acr_val,
        "aps.any_met": any_of([sydney, Result(acr_val)]).value,
        "aps.obstetric": obstetric.value,
        "aps.thrombotic": thrombotic.value,
        "apl.any_positive": any_positive.value,
        "apl.laboratory_criteria": lab_criteria.value,
        "apl.la_positive": ever(LA).value,
        "apl.la_persistent": persist[LA].value,
        "apl.triple_positive": all_of([ever(LA), acl_ever, b2_ever]).value,
        "apl.high_risk_profile": high_risk.value,
        "apl.tested_panel": all(t in by_test for t in APL_TESTS),
    }
    sydney_dict["high_risk_profile"] = {
        "value": high_risk.value,
        "text": "EULAR 2019 high-risk aPL profile: lupus anticoagulant, more than one aPL type, or persistently "
                "high titres (>= 80 units taken as high), each on 2 or more occasions at least 12 weeks apart",
        "source": {**_src(EULAR, "Overarching principles, Table 1 (definition of high-risk aPL profile)"),
                   "note": "EULAR gives no number for 'high titre'; >= 80 units (the 2023 ACR/EULAR high band) is "
                           "this tool's reading and is not verified"},
    }
    return ApsReport(sydney_2006=sydney_dict, acr_eular_2023=acr_dict, fact_values=facts)


def _disagreement(sydney: bool | None, status23: str, clinical_points: int, clinical_possible: int,
                  lab_points: int, best: dict[str, Criterion], c_missing: dict[str, list[Result]]) -> str | None:
    """Explain why Sydney 2006 classifies and the 2023 criteria do not (or might not)."""
    if sydney is not True or status23 == "met":
        return None
    reasons = []
    if status23 == "entry_not_met":
        reasons.append("the 2023 entry criterion is not met (no positive lupus anticoagulant or aCL/anti-β2GPI "
                       ">= 40 units within 3 years of a clinical criterion)")
    if clinical_points < 3:
        d4 = best.get("D4")
        only_early = d4 is not None and d4.id.endswith("consecutive_early_deaths") and clinical_points == 1
        reasons.append(f"{clinical_points} clinical point{'s' if clinical_points != 1 else ''} under 2023 "
                       "(needs 3)" + (": recurrent early loss alone scores 1 point in domain D4" if only_early else ""))
    if lab_points < 3:
        d8 = best.get("D8")
        igm = d8 is not None and d8.id.endswith("igm_moderate_or_high") and "D7" not in best
        reasons.append(f"{lab_points} laboratory point{'s' if lab_points != 1 else ''} under 2023 (needs 3)"
                       + (": isolated IgM scores 1 point in domain D8" if igm else ""))
    head = "Sydney 2006 is met but 2023 ACR/EULAR is not" if status23 in ("not_met", "entry_not_met") else \
        "Sydney 2006 is met; 2023 ACR/EULAR is not met on the documented features"
    text = f"{head}: {'; '.join(reasons)}."
    if status23 == "indeterminate" and clinical_points < 3 <= clinical_possible:
        text += " It could still be met only if undocumented clinical features add points."
    return text
