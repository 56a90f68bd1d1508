"""The `rplnav.assessment/v1` document as frozen, typed models: the output contract in code.

The engine builds the document and validates it into `Assessment` in one place (`Engine.assess`); every front end
and renderer receives this object. Its JSON Schema (`Assessment.model_json_schema`) is what the project publishes
(`rplnav schema assessment`, `GET /api/v1/schema/assessment`, OpenAPI). Field order is the document's key order,
and keys the engine leaves out stay out (`to_json` dumps only what was set), so the JSON is exactly what the
engine wrote. A document that does not fit the model is a bug in the engine, never the user's input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter

from rplnav.knowledge.model import Certainty, Stance, Tier
from rplnav.memo import Memo

SCHEMA_ID = "rplnav.assessment/v1"

Tri = bool | None
"""True, false, or null when it cannot be decided on what is recorded."""
Number = int | float
"""A JSON number as the engine wrote it (an integer stays an integer)."""
FactValue = bool | int | float | str | None

GuidelineId = str
"""A guideline id of the knowledge base (the contract lists ESHRE-2022, ASRM-2012, RCOG-2023 …; more may be added)."""
TherapyId = str
"""A therapy id of the knowledge base (its `therapies`)."""
Level = Literal["info", "warning", "critical"]
AlertKind = Literal["pitfall", "safety", "regulatory", "research_vs_guideline", "consent", "workup",
                    "contraindication", "check", "adverse_effect", "monitoring", "verification", "input"]
WindowStatus = Literal["open", "not_yet", "closing", "passed", "n/a"]
WorkupStatus = Literal["done", "missing", "repeat_needed", "not_indicated"]
Priority = Literal["recommended", "consider", "may_apply", "none"]
Anchor = Literal["preconception", "ovulation", "positive_test", "scan_confirmed", "heartbeat", "gestational_age",
                 "delivery", "postpartum"]
RegulatoryStatus = Literal["approved", "off_label", "not_permitted", "restricted", "unlicensed"]


class Part(BaseModel):
    """Every part of the document: frozen, no key outside the model, keys as written (aliases)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True,
                              validate_by_alias=True, validate_by_name=True)


# ------------------------------------------------------------------ sources
class SecondaryRef(Part):
    document: str
    locator: str


class SourceRef(Part):
    """Where a statement comes from: a document id of `sources`, the place in it, and whether it was checked."""

    document: str
    locator: str
    verified: bool
    tier: Tier | None = None
    secondary: SecondaryRef | None = None
    note: str | None = None


class SourceEntry(Part):
    id: str
    citation: str
    kind: str
    year: int | None = None
    doi: str | None = None
    url: str | None = None
    note: str | None = None


# ------------------------------------------------------------------ history and definitions
class Losses(Part):
    total: int
    clinical: int
    biochemical: int
    consecutive_max: int
    early_lt10w: int | None = Field(description="null when a loss has no gestational age that places it")
    early_fetal_10_15w: int | None
    fetal_ge10w: int | None
    fetal_ge16w: int | None
    first_trimester: int | None
    second_trimester: int | None
    ectopic: int
    molar: int
    live_births: int
    primary: Tri


class RplDefinition(Part):
    meets: Tri
    reason: str
    counted: int
    source: SourceRef
    in_scope: Tri = Field(None, description="RCOG only: whether the guideline's scope covers her (meets is its "
                                             "definition)")
    assumes: tuple[str, ...] = ()


class Criterion(Part):
    id: str
    text: str
    source: SourceRef
    domain: str | None = None
    points: int | None = None
    evidence: tuple[str, ...] = ()
    timing_rule: Literal["satisfied", "not satisfied", "undecided"] | None = None


class Rule(Part):
    text: str
    source: SourceRef


class TimingRule(Part):
    text: str
    status: Literal["satisfied", "not satisfied", "undecided", "not applicable"]
    source: SourceRef


class HighRiskProfile(Part):
    value: Tri
    text: str
    source: SourceRef


class Entry(Part):
    met: Tri
    text: str
    source: SourceRef


Domains = dict[Literal["D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8"], int]


class SydneyBlock(Part):
    """Sydney 2006 (Miyakis): the criteria met, the undecided ones and what would decide them."""

    definition: str
    status: Literal["met", "not_met", "indeterminate"]
    clinical: tuple[Criterion, ...]
    laboratory: tuple[Criterion, ...]
    undecided: tuple[str, ...]
    timing_rule: TimingRule
    rule: Rule
    missing: tuple[str, ...]
    note: str | None = None
    high_risk_profile: HighRiskProfile
    interpretation: tuple[str, ...] = ()
    assumes: tuple[str, ...] = ()


class AcrEularBlock(Part):
    """2023 ACR/EULAR (Barbhaiya): entry criterion, points per domain, and the points still possible."""

    definition: str
    status: Literal["met", "not_met", "indeterminate", "entry_not_met"]
    entry: Entry
    clinical_points: int
    laboratory_points: int
    clinical_points_possible: int
    laboratory_points_possible: int
    domains: Domains
    domains_possible: Domains
    clinical: tuple[Criterion, ...]
    laboratory: tuple[Criterion, ...]
    rule: Rule
    assumption: str
    missing: tuple[str, ...]
    note_entry: str | None = None
    note: str | None = None
    interpretation: tuple[str, ...] = ()
    assumes: tuple[str, ...] = ()


class Aps(Part):
    sydney_2006: SydneyBlock = Field(alias="sydney-2006")
    acr_eular_2023: AcrEularBlock = Field(alias="acr-eular-2023")


class EnteredPregnancy(Part):
    """An earlier pregnancy as entered (gestational age as weeks+days)."""

    outcome: str
    gestational_age: str | None = None
    date: str | None = None
    fetal_heart_activity: bool | None = None
    poc_karyotype: str | None = None
    morphologically_normal: bool | None = None
    severe_preeclampsia: bool | None = None
    placental_insufficiency: bool | None = None
    conception: str | None = None
    treatments: tuple[str, ...] | None = None


class EnteredThrombosis(Part):
    type: str
    date: str | None = None
    high_risk_profile: bool | None = None
    superficial: bool | None = None


class Entered(Part):
    """What the record said, as the engine read it (results are in `results`): so a reader can check the
    input behind every decision. A history list that is null was not documented; an empty one is "none"."""

    age: int
    country: str | None = None
    current: dict[str, str | bool | None] | None = Field(None, description="the current pregnancy, if any")
    pregnancies: tuple[EnteredPregnancy, ...]
    findings: dict[str, str | bool | Number | None]
    thromboses: tuple[EnteredThrombosis, ...] | None = Field(description="null = not documented")
    conditions: tuple[str, ...] | None = Field(description="null = not documented")
    lifestyle: dict[str, bool | Number | None]


class LabResult(Part):
    """A result as entered (canonical unit); the note is the laboratory's comment, shown, never interpreted."""

    test: str
    name: str
    date: str | None
    result: str | None = None
    value: Number | None = None
    unit: str | None = None
    reference_low: Number | None = None
    reference_high: Number | None = None
    cutoff_p99: Number | None = None
    note: str | None = None


# ------------------------------------------------------------------ statements
class StatementFact(Part):
    """One fact a statement's population names, and her value of it."""

    name: str
    value: FactValue


class StanceEntry(Part):
    """One guideline statement and whether its population includes her (`applies`; null = see `needs`)."""

    id: str
    guideline: GuidelineId
    stance: Stance
    strength: str
    certainty: Certainty
    population: str
    statement: str
    source: SourceRef
    certainty_as_stated: str | None = None
    aps_definition: Literal["sydney-2006", "acr-eular-2023"] | None = None
    when: str | None = None
    superseded_by: GuidelineId | None = None
    applies: Tri
    needs: tuple[str, ...]
    because: tuple[str, ...]
    facts: tuple[StatementFact, ...] = Field((), description="the facts the population names, with her values "
                                             "(null = unknown): `because` in data")
    assumes: tuple[str, ...] = ()


class WorkupItem(Part):
    test: str
    name: str
    status: WorkupStatus
    priority: Priority
    recommendations: tuple[StanceEntry, ...]
    note: str | None = None
    interpretation: tuple[str, ...] = ()
    assumes: tuple[str, ...] = ()


class TimePoint(Part):
    """A window bound as the knowledge base stated it when the document was made (renderers draw from this)."""

    anchor: Anchor
    weeks_after: int | None = None
    ga: str | None = None
    ga_days: int | None = None


class Window(Part):
    label: str
    text: str
    status: WindowStatus
    start: TimePoint
    stop: TimePoint
    source: SourceRef


class Timing(Part):
    window: str
    status: WindowStatus
    windows: tuple[Window, ...]


class Regimen(Part):
    label: str
    dose: str
    route: str | None
    frequency: str | None
    source: SourceRef


class RegulatoryEntry(Part):
    country: str
    status: RegulatoryStatus
    text: str
    source: SourceRef


class Alert(Part):
    level: Level
    kind: AlertKind
    id: str | None = None
    text: str
    needs: tuple[str, ...] = ()
    always: bool | None = Field(None, description="shown whenever the therapy is in play for her")
    source: SourceRef | None
    assumes: tuple[str, ...] = ()


# ------------------------------------------------------------------ evidence
class PooledTrial(Part):
    """One row of a pooled analysis, as a forest plot prints it (effect and CI on the analysis measure)."""

    id: str
    label: str
    year: int | None
    subgroup: str | None
    treatment_events: int | None
    treatment_total: int | None
    control_events: int | None
    control_total: int | None
    estimate: Number
    ci: tuple[Number, Number]
    weight: Number = Field(description="percentage weight in this analysis (random effects: 1/(v + tau²))")
    verified: bool
    source: SourceRef = Field(description="where the row's numbers were read")
    in_stratum: bool | None = Field(None, description="all-studies rows only: whether this trial, or its subgroup "
                                                      "that matches her, is pooled in her stratum")


class Pooled(Part):
    k: int
    n: int
    n_complete: bool
    measure: str
    estimate: Number
    ci: tuple[Number, Number]
    pvalue: Number | None
    log_estimate: Number
    se: Number
    tau2: Number
    i2: Number
    q: Number
    q_df: int
    q_pvalue: Number
    pi: tuple[Number, Number] | None
    studies: tuple[str, ...]
    labels: tuple[str, ...]
    single_study: bool
    tau2_ci: tuple[Number, Number] | None = None
    i2_ci: tuple[Number, Number] | None = None
    trials: tuple[PooledTrial, ...] = Field((), description="the pooled rows, in order, for a forest plot")


class Unmatched(Part):
    id: str
    label: str
    needs: tuple[str, ...]
    reason: str


class NotPooled(Part):
    id: str
    label: str
    reason: str


class OtherAnalysis(Part):
    outcome: str
    design: str
    k_all: int
    k_stratum: int


class ContextStudy(Part):
    id: str
    label: str
    design: str
    outcome: str
    comparator: str | None
    measure: str | None = None
    estimate: Number | None = None
    ci: tuple[Number | None, Number | None] | None = None
    verified: bool


class Evidence(Part):
    """Pooled trials for all women and for those enrolled like her (the stratum), with context studies."""

    measure: str
    method: str
    certainty: None
    certainty_note: str
    outcome: str | None
    design: str | None
    all: Pooled | None
    stratum: Pooled | None
    unmatched: tuple[Unmatched, ...]
    not_matching: int
    comparison: str | None = None
    note: str | None = None
    stratum_note: str | None = None
    other_analyses: tuple[OtherAnalysis, ...] = ()
    context: tuple[ContextStudy, ...]
    rows: int
    verified_rows: int
    excluded: tuple[NotPooled, ...] = Field((), description="studies of the outcome whose enrolment excludes her")
    not_pooled: tuple[NotPooled, ...] = Field((), description="rows left out of the pooling (e.g. head-to-head)")
    stratum_text: str | None = None
    assumes: tuple[str, ...] = ()


class OrderCoding(Part):
    system: str
    code: str
    display: str


class ProposedOrder(Part):
    """One order a CDS suggestion proposes, as knowledge/cards.yaml states it: the coded product, its dose and
    when to start, each with its source."""

    therapy: TherapyId
    label: str
    coding: OrderCoding
    dosage: str
    start: str | None = None
    start_source: SourceRef | None = None
    source: SourceRef


class Suggestion(Part):
    """The CDS suggestion on a combination therapy (knowledge/cards.yaml): its wording, the orders it proposes,
    and the current strong or conditional 'for' statements that apply to her (empty: it is not offered to her).
    Its orders are also the combination's parts, so a drafted part is read against the combination's stances."""

    id: str
    summary: str
    add_label: str = Field(description="label of the suggestion; {parts} = labels of the orders not yet placed")
    orders: tuple[ProposedOrder, ...]
    support: tuple[str, ...] = Field(description="ids of the statements in this option's stances that support it")
    source: SourceRef


class Option(Part):
    """One therapy: every guideline's stance for her, timing, regimens, regulatory status, alerts, evidence."""

    therapy: TherapyId
    name: str
    class_: str = Field(alias="class")
    stances: tuple[StanceEntry, ...]
    summary: str
    timing: Timing
    regimens: tuple[Regimen, ...]
    regulatory: tuple[RegulatoryEntry, ...]
    alerts: tuple[Alert, ...]
    evidence: Evidence | None
    source: SourceRef | None = Field(None, description="where the therapy's description comes from")
    if_ordered: tuple[Alert, ...] = Field((), description="critical cautions not in `alerts` because no statement "
                                                          "puts the therapy in play for her; an order for it does")
    suggestion: Suggestion | None = None


# ------------------------------------------------------------------ prognosis, assumptions
class PrognosisCell(Part):
    age: int
    losses: int
    live_birth_percent: Number
    verified: bool


class CellRef(Part):
    age: int
    losses: int


class Prognosis(Part):
    table: str | None = None
    title: str | None = None
    population: str | None = None
    caveat: str | None = None
    source: SourceRef | None
    context: tuple[SourceRef, ...] = ()
    next_pregnancy_live_birth_percent: Number | None
    verified: bool | None = None
    method: str | None = None
    bracket: tuple[PrognosisCell, ...] = ()
    applies: Tri = None
    needs: tuple[str, ...] = ()
    note: str
    assumes: tuple[str, ...] = ()
    cell: CellRef | None = None


class Assumption(Part):
    id: str
    text: str
    confirm: str
    facts: tuple[str, ...]
    decisions: tuple[str, ...]


# ------------------------------------------------------------------ plan
class StatementRef(Part):
    id: str
    guideline: GuidelineId
    stance: Stance
    strength: str | None
    certainty: Certainty | None
    verified: bool
    source: SourceRef
    superseded_by: GuidelineId | None = None
    assumes: tuple[str, ...] = ()


class PlanWhen(Part):
    label: str
    text: str
    status: WindowStatus
    status_text: str
    source: SourceRef


class PlanRegulatory(Part):
    text: str
    source: SourceRef | None


class PlanLine(Part):
    therapy: TherapyId
    name: str
    agreement: str
    statements: tuple[StatementRef, ...]
    superseded: tuple[StatementRef, ...]
    when: tuple[PlanWhen, ...]
    regimens: tuple[Regimen, ...]
    unverified: int
    general: bool = Field(False, description="supported lines only: care any woman with RPL is offered (the "
                          "statements reach her through her loss history alone), listed after what rests on a "
                          "finding of hers")
    regulatory: tuple[PlanRegulatory, ...] = ()
    assumes: tuple[str, ...] = ()
    disputed: bool = Field(False, description="the therapy is in both lists for her: a current guideline "
                           "statement that applies to her (or her country's regulation) takes the other side")


class DecideFirst(Part):
    record: str
    text: str
    decides: int
    statements: tuple[str, ...]


class WorkupNext(Part):
    test: str
    name: str
    status: WorkupStatus
    priority: Priority
    statements: tuple[StatementRef, ...]


class SafetyLine(Part):
    therapy: TherapyId | None
    name: str | None
    level: Level
    kind: AlertKind | None
    text: str
    source: SourceRef | None


class PlanAssumption(Part):
    id: str
    text: str
    confirm: str
    decides: int


class WouldChange(Part):
    therapy: TherapyId
    name: str
    statement: StatementRef
    population: str | None
    if_: tuple[str, ...] = Field(alias="if")


class Plan(Part):
    """The bottom line for her, shown first by every renderer."""

    headline: str
    decide_first: tuple[DecideFirst, ...]
    workup_next: tuple[WorkupNext, ...]
    supported: tuple[PlanLine, ...]
    against: tuple[PlanLine, ...]
    research_only: tuple[PlanLine, ...]
    safety: tuple[SafetyLine, ...]
    assumptions: tuple[PlanAssumption, ...]
    would_change: tuple[WouldChange, ...]
    undecided_statements: int
    statements: int


# ------------------------------------------------------------------ the document
class Assessment(Part):
    """One patient's assessment: `rplnav.assessment/v1`."""

    model_config = ConfigDict(title="rplnav.assessment/v1")

    schema_: Literal["rplnav.assessment/v1"] = Field(alias="schema")
    knowledge_version: str = Field(description="sha256 of the knowledge base content used")
    tool_version: str
    generated_on: str
    assessed_on: str
    intended_use: str
    patient_id: str
    input_warnings: tuple[str, ...]
    losses: Losses
    rpl: dict[GuidelineId, RplDefinition] = Field(description="one entry per guideline that defines RPL")
    aps: Aps
    results: tuple[LabResult, ...]
    entered: Entered | None = Field(None, description="the record as read: history, findings, conditions")
    medications: tuple[str, ...] | None = Field(description="therapy ids; null = not documented")
    workup: tuple[WorkupItem, ...]
    options: tuple[Option, ...] = Field(description="one per therapy the knowledge base covers")
    alerts: tuple[Alert, ...]
    prognosis: Prognosis
    facts: dict[str, FactValue] = Field(description="the facts the decisions read (null = unknown)")
    sources: tuple[SourceEntry, ...]
    assumptions: tuple[Assumption, ...]
    strict: bool | None = Field(None, description="present when omitted history was kept undecided")
    plan: Plan
    input_format: Literal["fhir-r4-bundle"] | None = None
    not_used: tuple[str, ...] | None = Field(None, description="what was not read from a FHIR Bundle, and why")

    _plain: dict[str, Any] | None = PrivateAttr(None)

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON data, keys exactly as written (computed once, or the engine's own dict
        when validated ``as_written``; read-only either way: it may share parts with other documents)."""
        if self._plain is None:
            self._plain = self.model_dump(mode="json", exclude_unset=True)
        return self._plain

    def to_json(self) -> str:
        """Exactly one JSON document, stable key order, UTF-8 text."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def with_input(self, *, input_format: str, not_used: list[str]) -> Assessment:
        """The same document saying which input format it was read from and what was not used."""
        out = self.model_copy(update={"input_format": input_format, "not_used": tuple(not_used)})
        # the two keys are the model's last fields, so appending them keeps the dumped key order
        out._plain = None if self._plain is None else {**self._plain, "input_format": input_format,
                                                       "not_used": list(not_used)}
        return out

    # read-only mapping access, so code that reads the document by key keeps one source of truth
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> Any:
        return self.to_dict().keys()

    def items(self) -> Any:
        return self.to_dict().items()

    def values(self) -> Any:
        return self.to_dict().values()

    def __iter__(self) -> Any:  # type: ignore[override]  # keys, as a mapping (pydantic's field pairs: model_dump)
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def plain(doc: Assessment | dict[str, Any]) -> dict[str, Any]:
    """The document's JSON form for code that reads it by key (templates); a plain dict is returned as it is."""
    return doc.to_dict() if isinstance(doc, Assessment) else doc


def validate_document(doc: dict[str, Any], parts: PartCache | None = None, *, as_written: bool = False
                      ) -> Assessment:
    """The engine's document as the typed model (a failure here is an engine bug: OutputError). ``parts``
    reuses the typed form of the parts the engine shares between assessments, so each is validated once.

    ``as_written``: ``doc`` is the engine's own dict, plain JSON data in the model's key order whose dump is
    equal to it (tests/core/test_assessment_model.py holds this for every example and record), so it is kept
    as the document's JSON form instead of dumping the model again (4-9 ms of a 500 KB document)."""
    try:
        typed = Assessment.model_validate(doc if parts is None else parts.typed(doc))
    except ValueError as e:
        raise OutputError(str(e)) from e
    if as_written:
        typed._plain = doc
    return typed


class PartCache:
    """The typed form of the document parts an engine shares between patients (its memoised stances, alerts,
    timing, evidence, work-up items and source lists), keyed by the very object: a part is validated the first
    time it is seen and reused while the engine keeps it (the entry holds the part, so its id cannot be reused
    by another object). Parts are read-only by the engine's rule; a changed copy is a new object."""

    _ADAPTERS: dict[str, TypeAdapter[Any]] = {}

    def __init__(self, limit: int = 50_000):
        # least recently used entries go first, one at a time (rplnav.memo.Memo): clearing the cache when full
        # made the next document validate every shared part again at once (one 115 ms assessment in 3,000)
        self._memo = Memo(limit)

    def _typed(self, kind: str, value: Any) -> Any:
        def validate() -> tuple[Any, Any]:
            adapter = self._ADAPTERS.get(kind)
            if adapter is None:
                adapter = self._ADAPTERS[kind] = TypeAdapter(_PART_TYPES[kind])
            return value, adapter.validate_python(self._with_typed_members(value) if kind == "evidence" else value)

        # the entry holds the part, so a live object with this id is that part
        return self._memo.get(id(value), validate)[1]

    def _with_typed_members(self, evidence: dict[str, Any]) -> dict[str, Any]:
        """An evidence summary with its pooled results and context studies in typed form. Summaries are made
        per set of facts they read, but those members are shared by every summary with the same pattern of
        trial verdicts (a summary copies the shared core's top level only), and a model instance is taken
        as it is: the bulk of a summary is validated once, not once per summary."""
        out = dict(evidence)
        for key, kind in _EVIDENCE_MEMBERS:
            member = evidence.get(key)
            if isinstance(member, (dict, list)) and member:
                out[key] = self._typed(kind, member)
        return out

    def typed(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The document with its shared parts replaced by their typed form (a shallow copy; doc is unchanged)."""
        return map_shared_parts(doc, self._typed, tuple)


OPTION_PARTS = ("alerts", "regulatory", "regimens", "timing", "if_ordered", "suggestion", "evidence")


def map_shared_parts(doc: dict[str, Any], fn: Callable[[str, Any], Any],
                     seq: Callable[[Any], Any] = list) -> dict[str, Any]:
    """``doc`` with ``fn(kind, part)`` in place of every part the engine shares between documents: each
    option's stances and its alerts, regulatory status, regimens, timing, order parts and evidence; each
    work-up item's recommendations; the source list. Lists of parts are rebuilt with ``seq``. A shallow copy
    down to the parts (``doc`` is unchanged); the one statement of where shared parts sit, for the typed-part
    cache and the audit log's part store."""
    options = []
    for o in doc.get("options") or ():
        o = dict(o)
        if isinstance(o.get("stances"), list):  # per statement: an assumption copies the list, not each one
            o["stances"] = seq(fn("stance", x) if isinstance(x, dict) else x for x in o["stances"])
        for key in OPTION_PARTS:
            if isinstance(o.get(key), (list, dict)):
                o[key] = fn(key, o[key])
        options.append(o)
    out = {**doc, "options": options}
    if isinstance(doc.get("workup"), list):
        out["workup"] = [{**w, "recommendations": seq(fn("stance", x) if isinstance(x, dict) else x
                                                      for x in w["recommendations"])}
                         if isinstance(w, dict) and isinstance(w.get("recommendations"), list) else w
                         for w in doc["workup"]]
    if isinstance(doc.get("sources"), list):
        out["sources"] = fn("sources", doc["sources"])
    return out


_PART_TYPES: dict[str, Any] = {
    "stance": StanceEntry, "alerts": tuple[Alert, ...], "regulatory": tuple[RegulatoryEntry, ...],
    "regimens": tuple[Regimen, ...], "timing": Timing, "evidence": Evidence, "if_ordered": tuple[Alert, ...],
    "suggestion": Suggestion,
    "sources": tuple[SourceEntry, ...],
    "pooled": Pooled, "context": tuple[ContextStudy, ...], "other_analyses": tuple[OtherAnalysis, ...],
}
_EVIDENCE_MEMBERS = (("all", "pooled"), ("stratum", "pooled"), ("context", "context"),
                     ("other_analyses", "other_analyses"))


class OutputError(RuntimeError):
    """The engine built a document the contract does not allow: an internal error, never the caller's fault."""


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the document (serialisation form: keys as written)."""
    out = Assessment.model_json_schema(mode="serialization", by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **out}
