"""The knowledge-base schema: every clinical statement is data with a source.

A reviewer reads the YAML files next to this module; these models make sure each file says what the engine
needs (a citation, a grade as the source states it, a population written in the condition language) and
nothing it would silently ignore (unknown keys are rejected).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Stance = Literal[
    "strong_for",
    "conditional_for",
    "good_practice",
    "research_only",
    "no_recommendation",
    "insufficient_evidence",
    "conditional_against",
    "strong_against",
    "not_permitted",
]
Certainty = Literal["high", "moderate", "low", "very_low", "not_graded"]
STANCES: tuple[str, ...] = Stance.__args__  # type: ignore[attr-defined]
CERTAINTIES: tuple[str, ...] = Certainty.__args__  # type: ignore[attr-defined]
AGAINST = frozenset({"conditional_against", "strong_against", "not_permitted"})
FOR = frozenset({"strong_for", "conditional_for", "good_practice"})
OFFERS = frozenset({"strong_for", "conditional_for"})  # the stances that offer a CDS suggestion's orders
RESEARCH = frozenset({"research_only", "insufficient_evidence"})
# stances from the most to the least binding, for listing statements (a "not permitted" first)
STANCE_ORDER = ("not_permitted", "strong_against", "strong_for", "conditional_against", "conditional_for",
                "good_practice", "research_only", "insufficient_evidence", "no_recommendation")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


Tier = Literal["primary", "secondary", "unverified"]
TIERS: tuple[str, ...] = Tier.__args__  # type: ignore[attr-defined]


class SecondaryRef(Strict):
    """A secondary source (review table, national summary, slide deck) in which the statement was read."""

    document: str = Field(description="id of an entry in sources.yaml")
    locator: str = Field(min_length=1, description="where in the secondary source the statement is quoted")


class SourceRef(Strict):
    """Where a statement comes from: a source id, the place in it, and how far we could check it.

    `tier` says what the statement was checked against: the primary text itself (`primary`, the only tier
    with `verified: true`), a named secondary source that reports it (`secondary`, with `secondary` naming
    that source), or nothing yet (`unverified`). Left out, it follows `verified`.
    """

    document: str = Field(description="id of an entry in sources.yaml")
    locator: str = Field(min_length=1, description="section, table, recommendation or slide")
    verified: bool = Field(description="true only when read in the primary source or its official abstract/table")
    tier: Tier = Field("unverified", description="primary | secondary | unverified (default: from `verified`)")
    secondary: SecondaryRef | None = Field(None, description="the secondary source read, when tier is secondary")
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_tier(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tier" not in data and isinstance(data.get("verified"), bool):
            return {**data, "tier": "primary" if data["verified"] else "unverified"}
        return data

    @model_validator(mode="after")
    def _tier_consistent(self) -> SourceRef:
        if (self.tier == "primary") != self.verified:
            raise ValueError(f"tier '{self.tier}' contradicts verified: {str(self.verified).lower()} "
                             "(verified is true exactly for primary reads)")
        if self.tier == "secondary" and self.secondary is None:
            raise ValueError("tier 'secondary' needs `secondary: {document, locator}` naming the source read")
        if self.tier == "unverified" and self.secondary is not None:
            raise ValueError("a statement read in a secondary source has tier 'secondary', not 'unverified'")
        return self


class Source(Strict):
    id: str
    citation: str
    year: int | None = None
    kind: Literal[
        "guideline", "criteria", "trial", "meta_analysis", "cohort", "review", "seed", "regulatory", "standard",
        "lab_catalogue", "other"
    ]
    doi: str | None = None
    url: str | None = None
    accessed: str | None = Field(None, description="date a web page (e.g. a laboratory test catalogue) was read")
    note: str | None = None


class Code(Strict):
    """One code of a standard terminology (LOINC, RxNorm, SNOMED CT), with where it was read.

    `source.verified` is true only when the code was read on the terminology's own page (loinc.org, an RxNorm
    browser page); a code read in a laboratory catalogue or a value set is `tier: secondary`.
    """

    code: str = Field(min_length=1)
    display: str = Field(min_length=1, description="the terminology's name for the code, as read")
    source: SourceRef


def normal_name(name: str) -> str:
    """Case and spacing do not distinguish drug names ('Clexane ', 'clexane', 'aspirin 75mg', 'aspirin 75 mg')."""
    return " ".join(re.sub(r"(\d)([a-zµ%])", r"\1 \2", name.lower()).split())


class Drug(Strict):
    """A drug or brand name as charts write it, and the therapy id it maps to (`treatments`, `medications`)."""

    id: str
    therapy: str = Field(description="therapy id in therapies.yaml")
    names: list[str] = Field(min_length=1, description="generic, salt and brand names; matched case-insensitively")
    rxnorm: list[Code] = Field(default_factory=list, description="RxNorm ingredient (IN) and product codes")
    note: str | None = None
    source: SourceRef


class CodeMap(Strict):
    """Codes of one terminology that an EHR sends for one thing the patient model holds (or deliberately not).

    `reads_as` is outcome:<outcome> | result:<qualitative result> | gestational_age | pregnancy_status |
    status:pregnant | status:not_pregnant | condition:<condition id> | finding:<field>=<value> |
    recomputed (understood but not taken, because the engine recomputes it; `reason` says why).
    """

    id: str
    system: Literal["loinc", "snomed", "icd10"]
    reads_as: str = Field(
        pattern=r"^(outcome:[a-z_]+|result:[a-z_]+|gestational_age|pregnancy_status|status:(pregnant|not_pregnant)|"
                r"condition:[a-z_]+|finding:[a-z_]+=[a-z_]+|recomputed)$")
    reason: str | None = None
    note: str | None = None
    codes: list[Code] = Field(min_length=1)

    @model_validator(mode="after")
    def _reason(self) -> CodeMap:
        if (self.reads_as == "recomputed") != (self.reason is not None):
            raise ValueError("give `reason` exactly when reads_as is 'recomputed'")
        return self


class Proposal(Strict):
    """One order a CDS suggestion proposes: the drug as an RxNorm-coded product and its dose, with the dose's source."""

    therapy: str
    label: str = Field(description="how the card names it, e.g. 'low-dose aspirin'")
    rxnorm: str = Field(description="RxNorm code of the product; must be listed for the therapy in drugs.yaml")
    display: str
    dosage: str
    start: str | None = Field(None, description="when to start, as the source times it (e.g. from the day of a "
                                                "positive pregnancy test)")
    start_source: SourceRef | None = None
    source: SourceRef


class CdsSuggestion(Strict):
    """A CDS Hooks suggestion card: its wording and the orders it proposes."""

    id: str
    therapy: str = Field(description="the stance on this therapy that triggers the suggestion")
    summary: str = Field(max_length=139)
    add_label: str = Field(pattern=r"\{parts\}", description="suggestion label; {parts} = labels of the missing orders")
    proposals: list[Proposal] = Field(min_length=1)
    source: SourceRef


class Country(Strict):
    """An ISO 3166-1 alpha-2 code; `not_codes` are spellings that are not the code (e.g. UK for GB)."""

    id: str = Field(pattern=r"^[A-Z]{2}$")
    name: str
    not_codes: list[str] = Field(default_factory=list)
    source: SourceRef | None = Field(None, description="required with `not_codes`: who says the spelling is not the code")

    @model_validator(mode="after")
    def _not_codes_cited(self) -> Country:
        if self.not_codes and self.source is None:
            raise ValueError("`not_codes` needs a `source` saying the spelling is not the code")
        return self


class Topic(Strict):
    """An area of RPL care that a guideline may or may not address, with the therapies and tests in it.

    A guideline that lists a topic under `covers` speaks to that area, so a therapy of the topic with no
    encoded statement is "not encoded" (a gap in this knowledge base), not "the guideline is silent".
    """

    id: str
    label: str
    therapies: list[str] = []
    tests: list[str] = Field(default_factory=list, description="lab tests and investigations")


class Coverage(Strict):
    """The topics a guideline addresses, and where its scope or contents say so."""

    topics: list[str] = Field(min_length=1)
    source: SourceRef


class Guideline(Strict):
    id: str
    body: str
    title: str
    year: int
    scope: str
    grading: str
    rpl_definition: str | None = None
    definition_algorithm: str | None = Field(None, description="id of the coded RPL definition, if any")
    supersedes: str | None = None
    covers: Coverage | None = Field(None, description="topics the guideline addresses (ids from `topics`)")
    source: SourceRef


class Regimen(Strict):
    label: str
    dose: str | None = None
    route: str | None = None
    frequency: str | None = None
    source: SourceRef


class TimePoint(Strict):
    """A point in the reproductive timeline, relative to an anchor event."""

    anchor: Literal[
        "preconception", "ovulation", "positive_test", "scan_confirmed", "heartbeat", "gestational_age", "delivery",
        "postpartum",
    ]
    ga: str | None = Field(None, description="gestational age 'w+d' when anchor is gestational_age")
    weeks_after: int | None = Field(None, ge=0, description="weeks after delivery when anchor is postpartum")


class TimingWindow(Strict):
    label: str
    start: TimePoint
    stop: TimePoint
    text: str
    source: SourceRef


class Regulatory(Strict):
    country: str = Field(description="ISO 3166-1 alpha-2, or '*' for a general statement")
    status: Literal["approved", "off_label", "not_permitted", "restricted", "unlicensed"]
    text: str
    source: SourceRef


class Caution(Strict):
    """A contraindication, interaction or check that must precede use."""

    text: str
    kind: Literal["contraindication", "check", "adverse_effect", "monitoring"]
    when: Any = Field(None, description="condition over facts; the caution becomes a patient alert when it holds")
    level: Literal["info", "warning", "critical"] = "warning"
    source: SourceRef


class Therapy(Strict):
    id: str
    name: str
    therapy_class: str = Field(alias="class")
    mechanism: str
    regimens: list[Regimen] = []
    timing: list[TimingWindow] = []
    cautions: list[Caution] = []
    cost_burden: str | None = None
    regulatory: list[Regulatory] = []
    source: SourceRef

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class PositiveRule(Strict):
    """When a numeric result counts as positive/abnormal, as a source states it."""

    above: float | None = None
    at_or_above: float | None = None
    below: float | None = None
    use_reference_high: bool = Field(False, description="the lab's upper limit (reference_high) decides when given")
    use_cutoff_p99: bool = Field(False, description="the lab's 99th-percentile cut-off (cutoff_p99) decides when "
                                                    "given; reference_high never stands in for it")
    reference_high_means: str = Field("upper reference limit",
                                      description="what the laboratory's limit is, as the source names it")
    research_cutoff: bool = Field(False, description="the fixed threshold is a research cut-off, not a reference "
                                                     "range: the lab's range is not read and the output says so")
    source: SourceRef

    @model_validator(mode="after")
    def _one_lab_limit(self) -> PositiveRule:
        if self.use_reference_high and self.use_cutoff_p99:
            raise ValueError("give use_reference_high or use_cutoff_p99, not both")
        if self.research_cutoff and (self.use_reference_high or self.use_cutoff_p99):
            raise ValueError("a research cut-off is never read against the laboratory's range")
        return self


class Limit(Strict):
    """One laboratory's (or study's) limit, in the test's canonical unit, with where it was read."""

    value: float
    at_limit: Literal["normal", "abnormal"] = Field(
        description="how that source reads a result equal to the limit (e.g. '<10 negative' -> abnormal)")
    source: SourceRef


class UsualLimits(Strict):
    """The span of limits in use for one test across laboratories and assays.

    A result beyond the highest limit is abnormal wherever it was measured, one within the lowest is normal
    wherever it was measured; in between only the laboratory's own limit can decide. ``side: upper`` spans
    upper limits (abnormal above), ``side: lower`` lower limits (abnormal below: TSH, for example)."""

    id: str
    test: str
    side: Literal["upper", "lower"] = "upper"
    means: Literal["upper_reference_limit", "positivity_cutoff", "lower_reference_limit"]
    lowest: Limit
    highest: Limit
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> UsualLimits:
        if self.lowest.value > self.highest.value:
            raise ValueError("lowest limit is above the highest")
        return self


class ResultLevels(Strict):
    """What the qualitative levels mean in units, for tests whose source defines them (2023 ACR/EULAR for
    aCL and anti-β2GPI): each band is [from, to) in the canonical unit, ``to`` empty for no upper end."""

    low_positive: tuple[float, float | None] | None = None
    moderate_positive: tuple[float, float | None] | None = None
    high_positive: tuple[float, float | None] | None = None
    source: SourceRef

    def band(self, level: str) -> tuple[float, float | None] | None:
        return getattr(self, level, None) if level in ("low_positive", "moderate_positive", "high_positive") \
            else None


class TestSpec(Strict):
    id: str
    name: str
    kind: Literal["qualitative", "quantitative", "both"]
    unit: str | None = Field(None, description="canonical unit")
    units: dict[str, float | tuple[float, float]] = Field(
        default_factory=dict, description="accepted unit -> factor to canonical, or (factor, offset)"
    )
    results: list[str] = Field(default_factory=lambda: ["positive", "negative"])
    min: float | None = Field(None, description="smallest possible value in the canonical unit")
    max: float | None = Field(None, description="largest possible value in the canonical unit")
    positive: PositiveRule | None = None
    levels: ResultLevels | None = None
    usual_limits: tuple[UsualLimits, ...] = Field((), description="filled from lab-limits.yaml when loaded")
    loinc: list[Code] = Field(default_factory=list, description="LOINC codes an EHR reports this test under")
    source: SourceRef


    def to_canonical(self, value: float, unit: str) -> float:
        conv = self.units[unit]
        if isinstance(conv, tuple):
            return value * conv[0] + conv[1]
        return value * conv


class Investigation(Strict):
    """A work-up item recorded under `findings` rather than as a lab result."""

    id: str
    name: str
    done_when: Any = Field(description="condition over facts that is true once the investigation is done")
    source: SourceRef


class DerivedFact(Strict):
    """A named fact defined as a condition over other facts (e.g. 'unexplained RPL')."""

    id: str
    description: str
    condition: Any
    source: SourceRef


class Recommendation(Strict):
    id: str
    guideline: str
    therapy: str | None = None
    test: str | None = None
    stance: Stance
    strength: str = Field(description="strength exactly as the source states it (e.g. 'strong', 'Grade C', 'GPP')")
    certainty: Certainty
    certainty_as_stated: str | None = Field(None, description="e.g. '⊕⊕○○' or 'Level 2a'")
    population: Any = Field(True, description="condition over facts (see rules.py)")
    population_text: str
    statement: str
    when: str | None = Field(None, description="for tests: when in the history (e.g. 'after 2 losses')")
    aps_definition: str | None = Field(None, description="which APS definition the population assumes")
    source: SourceRef

    @field_validator("therapy", "test")
    @classmethod
    def _non_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v


class Alert(Strict):
    id: str
    level: Literal["info", "warning", "critical"]
    text: str
    population: Any = Field(description="condition over facts: the women the alert is written for (required)")
    population_text: str = Field(min_length=1, description="the population in words, as its source has it")
    trigger: Any = Field(None, description="condition over facts within the population; the alert shows when both hold")
    therapy: str | None = None
    kind: Literal["pitfall", "safety", "regulatory", "research_vs_guideline", "consent", "workup"] = "pitfall"
    source: SourceRef


class PrognosisCell(Strict):
    age: int
    losses: int
    live_birth_percent: float
    verified: bool


class PrognosisExclusion(Strict):
    """One of the model's exclusions, with the reason shown when it rules her out."""

    when: Any = Field(description="condition over facts; when true she is outside the model's population")
    reason: str


class PrognosisTable(Strict):
    id: str
    title: str
    population: str
    population_condition: Any = Field(description="condition over facts: she belongs to the model's population")
    exclusions: list[PrognosisExclusion] = []
    outcome: str
    caveat: str
    cells: list[PrognosisCell]
    context: list[SourceRef] = []
    source: SourceRef


class ArmCounts(Strict):
    """Events and totals per arm (treatment ai/n1i, control ci/n2i), as the source reports them."""

    ai: int = Field(ge=0)
    n1i: int = Field(ge=0)
    ci: int = Field(ge=0)
    n2i: int = Field(ge=0)


class Estimate(Strict):
    """A published effect estimate with its 95% CI, when arm counts are not available."""

    measure: Literal["OR", "RR", "RD", "HR"]
    value: float
    ci_lower: float
    ci_upper: float


class Randomised(Strict):
    """Women randomised per arm, when the analysed totals in `counts` differ from them."""

    n1i: int = Field(ge=0)
    n2i: int = Field(ge=0)


class Study(Strict):
    """One trial, cohort or meta-analysis row: who was enrolled, when treatment started, what it found.

    `enrolment` is a condition over the same facts a patient has, so "studies of patients like her" is the
    same evaluation the recommendations use: true (she would have been eligible), false, or unknown.
    """

    id: str
    therapy: str
    label: str
    year: int | None = None
    design: Literal["rct", "non_randomised", "cohort", "case_control", "meta_analysis", "ipd_meta_analysis"]
    enrolment: Any = Field(True, description="condition over facts describing who was enrolled")
    enrolment_text: str
    comparator: str = "placebo or no treatment"
    comparator_kind: Literal["inactive", "active"] = Field(
        "inactive", description="inactive = placebo, no treatment or the same background treatment in both arms; "
                                "active = another treatment (a head-to-head trial, never pooled with inactive ones)")
    intervention: str | None = None
    start: Literal[
        "preconception", "ovulation_luteal", "positive_test", "gestational_week", "after_heartbeat", "mixed", "unknown"
    ] = "unknown"
    start_ga: str | None = Field(None, description="'w+d' when start is gestational_week")
    outcome: Literal["live_birth", "miscarriage", "ongoing_pregnancy", "clinical_pregnancy", "other"]
    counts: ArmCounts | None = None
    estimate: Estimate | None = None
    subgroup: str | None = None
    includes: list[str] = Field(default_factory=list, description="ids of studies pooled in this meta-analysis")
    trial: str | None = Field(None, description="id of the trial (or cohort) this row belongs to; counted once")
    analysis: Literal["itt", "mitt", "per_protocol", "as_reported"] = Field(
        "as_reported", description="which analysis set `counts` is"
    )
    randomised: Randomised | None = None
    dose: str | None = Field(None, description="dose and route as the source states it")
    duration: str | None = Field(None, description="how long / until when")
    conception: Literal["natural", "ivf", "mixed", "unknown"] = "unknown"
    risk_of_bias: str | None = Field(None, description="as the review states it, with the review named")
    source: SourceRef


class PrintedEstimate(Strict):
    """A pooled estimate as the review prints it, with the number of decimals it prints."""

    value: float
    ci_lower: float
    ci_upper: float
    decimals: int = Field(2, ge=0, le=4, description="decimals printed; a reproduction must agree when rounded so")


class Reproduction(Strict):
    """A published meta-analysis re-computed from the encoded trial rows.

    `method` is the pooling as the review states it (or, where the review's text was not read, as its figures
    imply, said in `method_text`). A reproduction either matches the printed estimate and CI to the printed
    precision, or carries a `discrepancy` naming what a reader can check (a trial not encoded, another
    analysis set). The test suite holds both to account.
    """

    id: str
    review: str = Field(description="id of the review in sources.yaml")
    label: str
    therapy: str
    comparison: str
    outcome: Literal["live_birth", "miscarriage", "ongoing_pregnancy", "clinical_pregnancy", "other"]
    measure: Literal["RR", "OR", "RD"]
    method: Literal["MH", "IV", "DL", "MH-DL"] = Field(
        description="MH = Mantel-Haenszel fixed effect; IV = inverse-variance fixed effect; DL = inverse-variance "
                    "random effects (DerSimonian-Laird); MH-DL = RevMan 5 'M-H, Random'")
    method_text: str = Field(min_length=1, description="the method in the review's words, or why it is inferred")
    studies: list[str] = Field(min_length=1, description="ids of the encoded study rows the review pools")
    not_encoded: list[str] = Field(default_factory=list, description="trials the review pools that are not encoded")
    k_printed: int = Field(ge=1, description="number of trials the review pools")
    printed: PrintedEstimate
    discrepancy: str | None = Field(None, description="why the reproduction differs, when it does")
    source: SourceRef
