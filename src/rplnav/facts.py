"""The fact catalogue: named, typed facts derived from one patient, each three-valued.

Recommendations never look at the raw patient; they look at these facts. A fact the input cannot decide is
``None`` (unknown) — for example ``condition.sle`` when the patient file has no ``conditions`` list, or the
gestational-age bands when a loss has no recorded gestational age — so that a population condition turns
undecided (and names what is missing) instead of silently false.

Banding conventions (stated, not clinical recommendations): first trimester = up to 13+6 weeks; second
trimester = 14+0 to 23+6 weeks; "viability" = 24+0 weeks, the upper limit of miscarriage used by ESHRE and
RCOG (see knowledge/guidelines.yaml). The APS criteria use their own windows (criteria/aps.py). Pre-eclampsia
arises after 20+0 weeks (its definition), so a pregnancy that ended before 20 weeks is read as without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from rplnav import labs as lab_results
from rplnav.criteria import aps as aps_criteria
from rplnav.criteria.rpl_definitions import DefinitionResult
from rplnav.criteria.rpl_definitions import evaluate as rpl_evaluate
from rplnav.knowledge.model import TestSpec
from rplnav.patient import CONDITION_IDS, LOSS_OUTCOMES, NON_VISUALISED, Patient

if TYPE_CHECKING:
    from rplnav.knowledge.criteria_model import GestationBand
    from rplnav.knowledge.load import Knowledge

FactType = Literal["bool", "int", "float", "str"]



@dataclass(frozen=True)
class FactSpec:
    name: str
    type: FactType
    description: str


def _catalogue(test_ids: Iterable[str], therapy_ids: Iterable[str]) -> dict[str, FactSpec]:
    specs: list[FactSpec] = [
        FactSpec("age", "int", "age in years at assessment"),
        FactSpec("country", "str", "ISO 3166-1 alpha-2 country, when given"),
        FactSpec("losses.total", "int", "pregnancy losses: miscarriage, biochemical, resolved PUL, stillbirth"),
        FactSpec("losses.clinical", "int", "losses of pregnancies seen on scan or histology (miscarriage, stillbirth)"),
        FactSpec("losses.biochemical", "int", "non-visualised losses (biochemical, resolved PUL)"),
        FactSpec("losses.consecutive_max", "int", "longest run of losses with no other pregnancy in between"),
        FactSpec("losses.clinical_consecutive_max", "int", "longest run of clinical losses with no other pregnancy between"),
        FactSpec("losses.ectopic", "int", "ectopic pregnancies (not counted as losses by ESHRE)"),
        FactSpec("losses.molar", "int", "molar pregnancies (not counted as losses by ESHRE)"),
        FactSpec("losses.ga_unknown", "int", "losses whose gestational age is not recorded"),
        FactSpec("losses.aneuploid", "int", "losses with an aneuploid or unbalanced karyotype of pregnancy tissue"),
        FactSpec("losses.euploid", "int", "losses with a euploid karyotype of pregnancy tissue"),
        FactSpec("losses.karyotyped", "int", "losses whose pregnancy tissue was karyotyped"),
        FactSpec("births.live", "int", "live births"),
        FactSpec("history.severe_preeclampsia", "bool",
                 "severe pre-eclampsia or eclampsia in an earlier pregnancy (unknown while a pregnancy that reached "
                 "20 weeks has it unrecorded)"),
        FactSpec("rpl.primary", "bool", "no pregnancy beyond 24 weeks before the most recent loss"),
        FactSpec("rpl.secondary", "bool", "a pregnancy beyond 24 weeks before the most recent loss"),
        FactSpec("current.pregnant", "bool", "pregnant now"),
        FactSpec("current.phase", "str", "not_pregnant, first_trimester (to 13+6), second_trimester, third_trimester (from 28+0)"),
        FactSpec("current.ga_days", "int", "current gestational age in days"),
        FactSpec("current.ga_weeks", "float", "current gestational age in weeks"),
        FactSpec("current.intrauterine_confirmed", "bool", "intrauterine pregnancy seen on scan"),
        FactSpec("current.fetal_heart_activity", "bool", "fetal heart activity seen"),
        FactSpec("current.bleeding", "bool", "vaginal bleeding in this pregnancy"),
        FactSpec("current.ivf", "bool", "this pregnancy was conceived by IVF"),
        FactSpec("uterus", "str", "uterine finding (normal, septate, …)"),
        FactSpec("uterus.assessed", "bool", "uterine anatomy has been assessed"),
        FactSpec("uterus.anomaly", "bool", "a congenital or acquired uterine anomaly"),
        FactSpec("uterus.congenital_anomaly", "bool", "a congenital uterine anomaly"),
        FactSpec("uterus.septate", "bool", "septate or subseptate uterus"),
        FactSpec("chronic_endometritis", "bool", "chronic endometritis diagnosed"),
        FactSpec("luteal_phase_insufficiency", "bool",
                 "luteal-phase insufficiency diagnosed (unknown unless findings.luteal_phase_insufficiency is recorded)"),
        FactSpec("rpl.rcog_2011", "bool",
                 "inside RCOG 2011's scope: its definition (three or more consecutive losses) or a second-trimester loss"),
        FactSpec("rpl.rcog_2023", "bool",
                 "inside RCOG 2023's scope: its definition (three or more first-trimester miscarriages) or a "
                 "second-trimester loss"),
        FactSpec("parental_karyotype", "str", "parental karyotype result"),
        FactSpec("parental_karyotype.abnormal", "bool", "a parental chromosomal rearrangement or abnormality"),
        FactSpec("parental_karyotype.structural", "bool",
                 "a parental structural chromosome rearrangement (balanced translocation or inversion)"),
        FactSpec("parental_karyotype.carrier", "str", "which partner carries it: female, male or both"),
        FactSpec("thrombosis.any", "bool", "an objectively confirmed (non-superficial) thrombosis"),
        FactSpec("thrombosis.venous", "bool", "an objectively confirmed deep venous thrombosis or embolism"),
        FactSpec("thrombosis.arterial", "bool", "an objectively confirmed arterial thrombosis"),
        FactSpec("lifestyle.smoking", "bool", "smokes"),
        FactSpec("lifestyle.alcohol", "bool", "drinks alcohol"),
        FactSpec("lifestyle.bmi", "float", "body-mass index, kg/m²"),
        FactSpec("treated.any", "bool", "any therapy recorded in an earlier pregnancy"),
        FactSpec("loss_despite.aspirin_lmwh", "bool", "a pregnancy lost while taking aspirin and heparin/LMWH"),
        FactSpec("aps.sydney_2006", "bool", "APS by the revised Sapporo (Sydney 2006) criteria"),
        FactSpec("aps.acr_eular_2023", "bool", "APS by the 2023 ACR/EULAR classification criteria"),
        FactSpec("aps.any_met", "bool", "APS by either criteria set"),
        FactSpec("aps.obstetric", "bool", "APS (Sydney 2006) with a pregnancy-morbidity clinical criterion"),
        FactSpec("aps.thrombotic", "bool", "APS (Sydney 2006) with a vascular-thrombosis clinical criterion"),
        FactSpec("apl.any_positive", "bool", "any antiphospholipid test positive at least once"),
        FactSpec("apl.laboratory_criteria", "bool", "Sydney 2006 laboratory criteria met (persistent aPL)"),
        FactSpec("apl.la_positive", "bool", "lupus anticoagulant positive at least once"),
        FactSpec("apl.la_persistent", "bool", "lupus anticoagulant positive twice at least 12 weeks apart"),
        FactSpec("apl.triple_positive", "bool", "LA, aCL and anti-β2GPI all positive"),
        FactSpec("apl.high_risk_profile", "bool", "EULAR 2019 high-risk aPL profile"),
        FactSpec("apl.tested_panel", "bool", "LA, aCL and anti-β2GPI all tested"),
    ]
    for c in CONDITION_IDS:
        specs.append(FactSpec(f"condition.{c}", "bool", f"has {c.replace('_', ' ')} (unknown if no conditions list)"))
    for t in test_ids:
        specs += [
            FactSpec(f"lab.{t}.tested", "bool", f"{t} has at least one result"),
            FactSpec(f"lab.{t}.value", "float", f"latest {t} value in the canonical unit"),
            FactSpec(f"lab.{t}.positive", "bool", f"latest {t} result positive/abnormal"),
            FactSpec(f"lab.{t}.ever_positive", "bool", f"{t} positive/abnormal at least once"),
            FactSpec(f"lab.{t}.low", "bool", f"latest {t} result below the range (usual lower limits)"),
            FactSpec(f"lab.{t}.persistent", "bool", f"{t} positive on two occasions at least 12 weeks apart"),
        ]
    for th in therapy_ids:
        specs += [
            FactSpec(f"treated.{th}", "bool", f"{th} taken in an earlier pregnancy"),
            FactSpec(f"loss_despite.{th}", "bool", f"a pregnancy lost while taking {th}"),
        ]
    return {s.name: s for s in specs}


def catalogue_of(kb: Knowledge) -> FactCatalogue:
    """The catalogue of one knowledge base: the fixed facts, its tests and therapies, its gestational bands and
    its derived facts."""
    return FactCatalogue(kb.tests, kb.therapies, {d.id: d.description for d in kb.derived},
                         {b.id: b.description for b in kb.gestation_bands.values()})


class FactCatalogue:
    """The names and types of every fact; recommendations may only refer to these (checked by `kb check`)."""

    def __init__(self, tests: dict[str, TestSpec], therapy_ids: Iterable[str], derived: dict[str, str] | None = None,
                 bands: dict[str, str] | None = None):
        self.tests = tests
        self.therapy_ids = tuple(therapy_ids)
        self.specs = _catalogue(tests, self.therapy_ids)
        for name, description in (bands or {}).items():  # gestation.yaml: counts of losses by gestational age
            self.specs[name] = FactSpec(name, "int", description)
        for name, description in (derived or {}).items():
            self.specs[name] = FactSpec(name, "bool", description)
        # fact names built once (derive() runs per patient)
        self.lab_keys = {t: tuple(f"lab.{t}.{part}" for part in ("tested", "value", "positive", "ever_positive",
                                                                     "persistent", "low")) for t in tests}
        self.untested = {k: v for t in tests for k, v in zip(self.lab_keys[t], (False, None, None, None, None, None),
                                                                strict=True)}
        self.therapy_keys = tuple((th, f"treated.{th}", f"loss_despite.{th}") for th in self.therapy_ids)
        self.untreated = {k: False for _, a, b in self.therapy_keys for k in (a, b)}
        self.condition_keys = tuple((c, f"condition.{c}") for c in CONDITION_IDS)
        self.conditions_unknown = dict.fromkeys((k for _, k in self.condition_keys), None)

    def __contains__(self, name: str) -> bool:
        return name in self.specs


# ---------------------------------------------------------------- derivation

def _band(losses: list[Any], lo: int | None, hi: int | None, non_vis_early: bool = True) -> int | None:
    n = 0
    for p in losses:
        ga = p.gestational_age
        if ga is None:
            if non_vis_early and p.outcome in NON_VISUALISED:
                ga = 0  # never seen on scan: by definition very early
            else:
                return None
        if (lo is None or ga >= lo) and (hi is None or ga < hi):
            n += 1
    return n


def _severe_preeclampsia(pregs: list[Any], from_ga: int) -> bool | None:
    """True when any pregnancy had it; unknown while a pregnancy that reached ``from_ga`` (gestation.yaml:
    preeclampsia_from, 20 weeks) or a birth of unknown gestation leaves it unrecorded; otherwise false."""
    if any(p.severe_preeclampsia is True for p in pregs):
        return True
    at_risk = [p for p in pregs if (p.gestational_age is not None and p.gestational_age >= from_ga)
               or (p.gestational_age is None and p.outcome in ("live_birth", "stillbirth"))]
    return None if any(p.severe_preeclampsia is None for p in at_risk) else False


def _runs(pregs: list[Any], keep: Callable[[Any], bool]) -> int:
    best = run = 0
    for p in pregs:
        if keep(p):
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best


class Facts(dict[str, Any]):
    """The facts of one patient: a read-only mapping from fact name to value (three-valued: ``None`` is
    unknown), with the APS classification, the RPL-definition results and the laboratory histories they
    were computed from, so that nothing downstream has to read the patient again."""

    __slots__ = ("aps", "rpl", "labs", "why", "medications")

    def __init__(self, values: dict[str, Any], aps: aps_criteria.ApsReport, rpl: dict[str, DefinitionResult],
                 labs: dict[str, lab_results.TestHistory], why: dict[str, tuple[str, ...]] | None = None):
        dict.__init__(self, values)
        self.aps = aps
        self.rpl = rpl
        self.labs = labs
        self.why = why or {}  # an undecided derived/APS fact -> the recordable items that would decide it
        # her current medications as written (None = not documented): they decide no statement, only which
        # therapies are in play so that their safety cautions are shown (assess.in_play_for)
        self.medications: frozenset[str] | None = None

    def leaves(self, needs: Iterable[str]) -> list[str]:
        """``needs`` with each derived or APS fact replaced by what a clinician can record to decide it."""
        out: dict[str, None] = {}
        for n in needs:
            out.update(dict.fromkeys(self.why.get(n, (n,))))
        return list(out)

    def same_as(self, other: Facts) -> bool:
        """Equal in everything the document is built from (values, APS report, RPL results, laboratory
        histories, what would decide the unknowns, medications): two patients with the same facts get the
        same decisions, so the engine need not assess the second."""
        return (dict.__eq__(self, other) and self.aps == other.aps and self.rpl == other.rpl
                and self.labs == other.labs and self.why == other.why and self.medications == other.medications)

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("facts are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only  # type: ignore[assignment]


@dataclass(frozen=True)
class RecordParts:
    """The facts' parts that read only her laboratory results, her pregnancies and the assessment date (the
    laboratory histories, the RPL-definition results and the laboratory side of the APS criteria), with the
    very lists they were read from."""

    labs: Any
    pregnancies: Any
    today: Any
    histories: dict[str, lab_results.TestHistory]
    rpl: dict[str, DefinitionResult]
    apl: aps_criteria.LabCriteria  # the laboratory side of both APS criteria sets
    # the classifications made of this record so far, by what the criteria read (aps_criteria.ApsView): the
    # readings of one record mostly differ in lists the criteria do not read
    classified: list[tuple[aps_criteria.ApsView, aps_criteria.ApsReport]] = field(default_factory=list,
                                                                                    compare=False)

    def classify(self, patient: Patient, tests: Any, rules: aps_criteria.ApsRules) -> aps_criteria.ApsReport:
        """Her APS classification for this reading of the record: the one already made for an equal view, else
        a new one (with the laboratory side computed once for the record)."""
        view = aps_criteria.ApsView.of(patient)
        for seen, report in self.classified:
            if seen == view:
                return report
        report = aps_criteria.classify(view, tests, self.histories, rules, self.apl)
        self.classified.append((view, report))
        return report

    def of(self, patient: Patient) -> bool:
        """Built from this record's own lists (the same objects: a variant made by model_copy keeps them)."""
        return patient.labs is self.labs and patient.pregnancies is self.pregnancies and patient.today == self.today


class FactDeriver:
    """Turns one patient into her :class:`Facts`: the only reader of the patient record. Built once per
    knowledge base (the catalogue and the compiled derived-fact conditions)."""

    def __init__(self, kb: Knowledge):
        self.tests = kb.tests
        self.catalogue = catalogue_of(kb)
        self.derived = [(d.id, kb.condition(f"derived:{d.id}")) for d in kb.derived]
        self.definitions = list(kb.rpl_definitions.values())
        self.bands = list(kb.gestation_bands.values())
        self.limits = {k: v.ga for k, v in kb.gestation_limits.items()}
        self.aps_rules = aps_criteria.ApsRules.from_sets(kb.aps_criteria)
        derived = {name for name, _ in self.derived}
        scopes = {d.scope.fact for d in self.definitions if d.scope is not None}
        # what derive() and the APS report write: the catalogue less the facts added after them
        self.why_names = _WhyNames(n for n in self.catalogue.specs if n not in derived and n not in scopes)

    def record_parts(self, patient: Patient) -> RecordParts:
        """What her laboratory results, pregnancies and assessment date alone decide: computed once per record
        and shared by every reading of it that differs only in history lists (rplnav.assumptions)."""
        histories = lab_results.histories(patient.labs, self.tests, aps_criteria.NAMES, patient.today,
                                          self.aps_rules.persistence_days)
        rpl = {d.id: rpl_evaluate(d, patient.pregnancies) for d in self.definitions}
        apl = aps_criteria.lab_criteria(self.tests, histories, patient.today, self.aps_rules)
        return RecordParts(patient.labs, patient.pregnancies, patient.today, histories, rpl, apl)

    def __call__(self, patient: Patient, shared: RecordParts | None = None) -> Facts:
        """Her facts; ``shared`` (from `record_parts` of the same record) saves recomputing what the history
        lists cannot change. It must come from this very record's results and pregnancies."""
        if shared is None or not shared.of(patient):
            shared = self.record_parts(patient)
        histories, rpl = shared.histories, shared.rpl
        aps = shared.classify(patient, self.tests, self.aps_rules)
        f = derive(patient, self.catalogue, histories, self.bands, self.limits)
        f.update(aps.facts())
        why = _aps_why(aps, f, self.why_names)
        for d in self.definitions:  # a scope wider than the definition (RCOG) is a fact of its own
            if d.scope is not None:
                f[d.scope.fact] = rpl[d.id].in_scope
        for name, node in self.derived:  # in order: later ones may use earlier ones
            res = node.evaluate(f)
            f[name] = res.value
            if res.value is None:
                why[name] = tuple(dict.fromkeys(leaf for n in res.needs for leaf in why.get(n, (n,))))
        out = Facts(f, aps, rpl, histories, why)
        out.medications = None if patient.medications is None else frozenset(patient.medications)
        return out


class _WhyNames:
    """The fact names `_aps_why` looks at, split by what would decide them; built once per knowledge base from
    the names derive() and the APS report write for every patient (tests/core/test_facts.py checks the two
    agree)."""

    def __init__(self, names: Iterable[str]):
        self.names = tuple(names)
        self.apl = tuple(n for n in self.names if n.startswith(("aps.", "apl.")))
        self.found = tuple((n, ("findings.uterus",)) if n.startswith("uterus.") else
                           (n, ("findings.parental_karyotype",)) if n.startswith("parental_karyotype.") else
                           (n, ("pregnancies.severe_preeclampsia",))
                           for n in self.names if n.startswith(("uterus.", "parental_karyotype."))
                           or n == "history.severe_preeclampsia")


def _aps_why(aps: aps_criteria.ApsReport, f: dict[str, Any], names: _WhyNames) -> dict[str, tuple[str, ...]]:
    """For each undecided aps.*/apl.* fact, the items the APS classification says are missing (Sydney 2006
    for the aps./apl. facts, ACR/EULAR 2023 for its own, both for ``aps.any_met``)."""
    sydney = tuple(aps.sydney_2006.get("missing") or ())
    acr = tuple(aps.acr_eular_2023.get("missing") or ())
    why: dict[str, tuple[str, ...]] = {}
    for name in names.apl:
        if f[name] is not None:
            continue
        items = acr if name == "aps.acr_eular_2023" else tuple(dict.fromkeys(sydney + acr)) \
            if name == "aps.any_met" else sydney
        if not items and name.startswith("apl."):
            # an aPL-profile fact the criteria do not report on: the aPL results not yet given
            items = tuple(f"lab.{t}.value" for t in aps_criteria.APL_TESTS if f.get(f"lab.{t}.tested") is False)
        if items:
            why[name] = items
    for name, items in names.found:  # findings the record can state directly
        if f[name] is None:
            why[name] = items
    return why


def derive(patient: Patient, catalogue: FactCatalogue, histories: dict[str, lab_results.TestHistory],
           bands: list[GestationBand], limits: dict[str, int]) -> dict[str, Any]:
    """The catalogue's own facts for one patient (the APS facts and the derived facts are added by
    :class:`FactDeriver`); gestational bands and limits come from gestation.yaml."""
    f: dict[str, Any] = {}
    pregs = patient.pregnancies
    losses = [p for p in pregs if p.outcome in LOSS_OUTCOMES]
    f["age"] = patient.age
    f["country"] = patient.country
    f["losses.total"] = len(losses)
    f["losses.biochemical"] = sum(p.outcome in NON_VISUALISED for p in losses)
    f["losses.clinical"] = len(losses) - f["losses.biochemical"]
    f["losses.consecutive_max"] = _runs(pregs, lambda p: p.outcome in LOSS_OUTCOMES)
    f["losses.clinical_consecutive_max"] = _runs(pregs, lambda p: p.outcome in ("miscarriage", "stillbirth"))
    clinical = [p for p in losses if p.outcome not in NON_VISUALISED]
    for band in bands:
        f[band.id] = _band(losses if band.of == "losses" else clinical, band.from_ga, band.before_ga)
    f["losses.ectopic"] = sum(p.outcome == "ectopic" for p in pregs)
    f["losses.molar"] = sum(p.outcome == "molar" for p in pregs)
    f["losses.ga_unknown"] = sum(p.gestational_age is None and p.outcome not in NON_VISUALISED for p in losses)
    f["losses.aneuploid"] = sum(p.poc_karyotype in ("aneuploid", "unbalanced_structural") for p in losses)
    f["losses.euploid"] = sum(p.poc_karyotype == "euploid" for p in losses)
    f["losses.karyotyped"] = f["losses.aneuploid"] + f["losses.euploid"]
    f["births.live"] = sum(p.outcome == "live_birth" for p in pregs)
    f["history.severe_preeclampsia"] = _severe_preeclampsia(pregs, limits["preeclampsia_from"])
    last_loss = max((i for i, p in enumerate(pregs) if p.outcome in LOSS_OUTCOMES), default=None)
    if last_loss is None:
        f["rpl.secondary"] = None
    else:
        before = pregs[:last_loss]
        beyond = [
            p for p in before
            if p.outcome == "live_birth" or (p.outcome == "stillbirth" and (p.gestational_age or 0) >= limits["viability"])
        ]
        f["rpl.secondary"] = bool(beyond)
    f["rpl.primary"] = None if f["rpl.secondary"] is None else not f["rpl.secondary"]

    cur = patient.current
    f["current.pregnant"] = cur is not None
    f["current.ga_days"] = cur.gestational_age if cur else None
    if cur is None:
        f["current.phase"] = "not_pregnant"
    elif cur.gestational_age is None:
        f["current.phase"] = None
    else:
        g = cur.gestational_age
        f["current.phase"] = ("first_trimester" if g < limits["second_trimester_from"] else "second_trimester"
                              if g < limits["third_trimester_from"] else "third_trimester")
    f["current.ga_weeks"] = round(cur.gestational_age / 7, 4) if cur and cur.gestational_age is not None else None
    f["current.intrauterine_confirmed"] = cur.intrauterine_confirmed if cur else None
    f["current.fetal_heart_activity"] = cur.fetal_heart_activity if cur else None
    f["current.bleeding"] = cur.bleeding if cur else None
    f["current.ivf"] = (cur.conception == "ivf") if cur and cur.conception else None

    fi = patient.findings
    uterus = None if fi.uterus in (None, "unknown") else fi.uterus
    f["uterus"] = uterus
    f["uterus.assessed"] = uterus is not None
    f["uterus.anomaly"] = None if uterus is None else uterus != "normal"
    congenital = {"septate", "subseptate", "bicornuate", "unicornuate", "didelphys", "arcuate"}
    f["uterus.congenital_anomaly"] = None if uterus is None else uterus in congenital
    f["uterus.septate"] = None if uterus is None else uterus in ("septate", "subseptate")
    f["chronic_endometritis"] = fi.chronic_endometritis
    f["luteal_phase_insufficiency"] = fi.luteal_phase_insufficiency
    pk = None if fi.parental_karyotype in (None, "unknown") else fi.parental_karyotype
    f["parental_karyotype"] = pk
    f["parental_karyotype.abnormal"] = None if pk is None else pk != "normal"
    # 'other_abnormal' may or may not be structural: only the record can tell
    f["parental_karyotype.structural"] = None if pk in (None, "other_abnormal") else \
        pk in ("balanced_translocation", "inversion")
    carrier = fi.parental_karyotype_carrier
    f["parental_karyotype.carrier"] = None if carrier in (None, "unknown") else carrier
    if fi.thromboses is None:
        f["thrombosis.any"] = f["thrombosis.venous"] = f["thrombosis.arterial"] = None
    else:
        real = [t for t in fi.thromboses if not t.superficial]
        f["thrombosis.any"] = bool(real)
        f["thrombosis.venous"] = any(t.type == "venous" for t in real)
        f["thrombosis.arterial"] = any(t.type == "arterial" for t in real)
    f["lifestyle.smoking"] = patient.lifestyle.smoking
    f["lifestyle.alcohol"] = patient.lifestyle.alcohol
    f["lifestyle.bmi"] = patient.lifestyle.bmi

    conds = patient.conditions
    if conds is None:
        f.update(catalogue.conditions_unknown)
    else:
        for c, key in catalogue.condition_keys:
            f[key] = c in conds

    f.update(catalogue.untested)
    for t, h in histories.items():
        tested, value, positive, ever, persistent, low = catalogue.lab_keys[t]
        latest = h.latest
        f[low] = h.latest_low.value
        f[tested] = True
        f[value] = latest.lab.value
        f[positive] = latest.pos.value
        f[ever] = h.ever_positive.value
        f[persistent] = h.persistent.value

    treated = [p for p in pregs if p.treatments]
    f.update(catalogue.untreated)
    treated_any = False
    if treated:
        for th, treated_key, despite_key in catalogue.therapy_keys:
            took = [p for p in treated if th in p.treatments]
            if took:
                f[treated_key] = True
                f[despite_key] = any(p.outcome in LOSS_OUTCOMES for p in took)
                treated_any = True
    f["treated.any"] = treated_any or bool(treated)

    def _combo(p: Any) -> bool:
        t = set(p.treatments)
        return bool({"aspirin_lmwh", "aspirin_lmwh_therapeutic"} & t) or ({"aspirin", "lmwh"} <= t)

    f["loss_despite.aspirin_lmwh"] = any(p.outcome in LOSS_OUTCOMES and _combo(p) for p in pregs)
    return f
