"""Schemas of the published criteria kept as data: the RPL definitions and the APS classification criteria.

The numbers, windows, weights and wording of each rule set live in YAML beside the citation they come from;
the Python in ``rplnav.criteria`` only counts and scores by them, so a clinician can review a definition
without reading code.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import Field, field_validator, model_validator

from rplnav.gestation import parse_gestational_age
from rplnav.knowledge.model import SourceRef, Strict

Outcome = Literal["miscarriage", "biochemical", "pul_resolved", "ectopic", "molar", "stillbirth", "live_birth",
                  "termination"]


def _ga(value: object) -> int | None:
    return None if value is None else parse_gestational_age(value)


class Reading(Strict):
    """One way of counting her pregnancies: which outcomes count, within which gestational limits, how many."""

    name: str = Field(description="the name the reason template uses for this count")
    noun: str = Field(description="what one counted pregnancy is called, singular")
    counts: list[Outcome] = Field(min_length=1)
    from_ga: int | None = Field(None, description="counted from this gestational age (weeks+days)")
    before_ga: int | None = Field(None, description="counted before this gestational age (weeks+days)")
    at_least: int = Field(ge=1)
    consecutive: bool = False
    not_interrupting: list[Outcome] = Field(default_factory=list,
                                            description="outcomes that neither count nor break a consecutive run")
    unknown_ga_inside: list[Outcome] = Field(
        default_factory=list, description="outcomes taken as inside the limits when their gestational age is not "
                                          "recorded (a miscarriage is by definition a loss before 24 weeks)")

    _ga_fields = field_validator("from_ga", "before_ga", mode="before")(_ga)


class Mention(Strict):
    """A count of other pregnancies the reason names (e.g. non-visualised losses not counted)."""

    outcomes: list[Outcome] = Field(min_length=1)
    noun: str
    text: str = Field(description="template; {count} is the pluralised count; shown only when it is not zero")


class RplScope(Strict):
    """A scope wider than the definition (RCOG: one or more second-trimester losses)."""

    also: Reading
    inside: str = Field(description="added to the reason when she is inside the scope only; {gas} lists the losses")
    unknown: str = Field(description="added when the record cannot say whether she is inside the scope")
    fact: str = Field(description="the catalogue fact that carries whether she is inside the scope")
    source: SourceRef


class RplDefinition(Strict):
    """A guideline's definition of RPL. With several readings (the source words it more than one way) she
    meets it when all readings agree, and it is undecided when they disagree."""

    id: str
    readings: list[Reading] = Field(min_length=1)
    reason: str = Field(description="template naming each reading's count as {<name>} and {<name>_n}, "
                                    "and the mentions by name")
    undecided: str = Field(description="added to the reason when the record cannot decide it")
    mentions: dict[str, Mention] = Field(default_factory=dict)
    counted: str | None = Field(None, description="the reading whose count is reported (default: the first)")
    scope: RplScope | None = None
    source: SourceRef

    @model_validator(mode="after")
    def _templates_name_known_counts(self) -> RplDefinition:
        names = {r.name for r in self.readings}
        if self.counted is not None and self.counted not in names:
            raise ValueError(f"counted: '{self.counted}' is not one of the readings ({', '.join(sorted(names))})")
        known = names | {f"{n}_n" for n in names} | set(self.mentions) | {"ga_unknown_n"}
        for field_name in ("reason", "undecided"):
            used = {f for _, f, _, _ in string.Formatter().parse(getattr(self, field_name)) if f}
            if used - known:
                raise ValueError(f"{field_name}: unknown placeholder(s) {', '.join(sorted(used - known))}")
        return self


class CriterionSpec(Strict):
    """One classification criterion: its wording, where the paper states it, and (2023) its domain and weight."""

    id: str
    text: str
    locator: str
    domain: str = ""
    points: int = Field(0, ge=0)


class CriteriaText(Strict):
    """A sentence the classification reports (a rule, a note), with the place in the paper it restates."""

    text: str
    locator: str


class TissueRule(Strict):
    """When a pregnancy-tissue karyotype stands in for the parents' (a guideline that karyotypes the parents only
    after an unbalanced tissue result, or when no tissue result exists)."""

    results: list[str] = Field(min_length=1, description="tissue results that count as a result")
    blocked_by: list[str] = Field(description="tissue results after which the parents must be karyotyped")
    text: str
    source: SourceRef


class ApsCriteriaSet(Strict):
    """A published APS rule set (Sydney 2006, 2023 ACR/EULAR, EULAR 2019's high-risk profile): its numbers,
    its criteria and the sentences it reports. rplnav.criteria.aps names the keys it reads; a missing key is
    a knowledge-base error."""

    id: str
    definition: str
    source: SourceRef
    parameters: dict[str, float]
    criteria: list[CriterionSpec] = Field(default_factory=list)
    texts: dict[str, CriteriaText] = Field(default_factory=dict)
    explanatory_uterus: list[str] = Field(default_factory=list)
    hormonal_conditions: list[str] = Field(default_factory=list)
    abnormal_poc: list[str] = Field(default_factory=list)
    explanatory_karyotype: list[str] = Field(default_factory=list)
    parental_cause_by_tissue: TissueRule | None = None


class GestationBand(Strict):
    """A count of her losses within gestational limits, as a fact the recommendations read."""

    id: str = Field(description="the catalogue fact (losses.*)")
    description: str
    of: Literal["losses", "clinical"] = Field(description="all losses, or clinical (not non-visualised) losses")
    from_ga: int | None = None
    before_ga: int | None = None
    source: SourceRef

    _ga_fields = field_validator("from_ga", "before_ga", mode="before")(_ga)


class GestationLimit(Strict):
    """A named gestational boundary (viability, trimesters) or timing setting, with where it comes from."""

    id: str
    ga: int = Field(description="weeks+days")
    source: SourceRef

    _ga_field = field_validator("ga", mode="before")(_ga)
