"""Code systems and the knowledge base's code maps, as used to read FHIR R4 data.

The codes themselves live in the knowledge base, each with where it was read: LOINC with each test
(tests.yaml), RxNorm with each drug (drugs.yaml), SNOMED CT outcomes, gestational-age LOINC and ICD-10-CM in
codes.yaml. This module only indexes them. A code is read when its source is primary or secondary; anything
else must arrive under one of the clearly labelled local code systems below (whose codes are RPL Navigator
ids), or it is reported as not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rplnav.knowledge.model import Code

if TYPE_CHECKING:
    from rplnav.knowledge.load import Knowledge

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
UCUM = "http://unitsofmeasure.org"

# Local code systems (not standard terminologies): the code is the RPL Navigator id.
LOCAL_TEST = "urn:rplnav:codes:test"                    # e.g. anticardiolipin_igg
LOCAL_THERAPY = "urn:rplnav:codes:therapy"              # e.g. ivig
LOCAL_CONDITION = "urn:rplnav:codes:condition"          # e.g. sle
LOCAL_FINDING = "urn:rplnav:codes:finding"              # e.g. uterus=septate, thrombosis=venous
LOCAL_OUTCOME = "urn:rplnav:codes:pregnancy-outcome"    # e.g. miscarriage, live_birth, current
LOCAL_CURRENT = "urn:rplnav:codes:current-pregnancy"    # components: intrauterine_confirmed, ...
EXT_GA = "urn:rplnav:fhir:extension:gestational-age"    # valueString "6+5" or valueQuantity (wk or d)
EXT_DETAIL = "urn:rplnav:fhir:extension:detail"          # sub-extensions: url = patient-model field name
EXT_PREGNANCY = "urn:rplnav:fhir:extension:pregnancy"    # on a medication: valueReference to the pregnancy


_TABLES: dict[str, CodeTables] = {}


def readable(code: Code) -> bool:
    """A code is read from FHIR only when it was checked: on the terminology's page or in a named secondary source."""
    return code.source.tier in ("primary", "secondary")


@dataclass(frozen=True)
class CodeTables:
    """The knowledge base's code maps, indexed for reading FHIR; `unread` holds the codes known but not verified."""

    loinc_tests: dict[str, str]
    rxnorm: dict[str, str]
    snomed_outcomes: dict[str, str]
    snomed_results: dict[str, str]
    gestational_age: frozenset[str]
    pregnancy_status: frozenset[str]
    pregnancy_values: dict[str, str]
    icd10: dict[str, tuple[str, object]]
    recomputed: dict[tuple[str, str], str]
    unread: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def for_kb(cls, kb: Knowledge) -> CodeTables:
        """The tables of a knowledge base, built once per knowledge version."""
        hit = _TABLES.get(kb.version)
        if hit is None:
            if len(_TABLES) > 8:
                _TABLES.clear()
            hit = _TABLES[kb.version] = cls.from_kb(kb)
        return hit

    @classmethod
    def from_kb(cls, kb: Knowledge) -> CodeTables:
        loinc: dict[str, str] = {}
        rx: dict[str, str] = {}
        outcomes: dict[str, str] = {}
        results: dict[str, str] = {}
        ga: set[str] = set()
        status: set[str] = set()
        status_values: dict[str, str] = {}
        icd: dict[str, tuple[str, object]] = {}
        recomputed: dict[tuple[str, str], str] = {}
        unread: dict[tuple[str, str], str] = {}
        systems = {"loinc": LOINC, "snomed": SNOMED, "icd10": "icd10"}
        for t in kb.tests.values():
            for c in t.loinc:
                if readable(c):
                    loinc[c.code] = t.id
                else:
                    unread[(LOINC, c.code)] = t.id
        for d in kb.drugs.values():
            for c in d.rxnorm:
                if readable(c):
                    rx[c.code] = d.therapy
                else:
                    unread[(RXNORM, c.code)] = d.therapy
        for m in kb.code_maps.values():
            kind, _, target = m.reads_as.partition(":")
            for c in m.codes:
                if not readable(c):
                    unread[(systems[m.system], c.code)] = m.reads_as
                elif kind == "outcome":
                    outcomes[c.code] = target
                elif kind == "result":
                    results[c.code] = target
                elif kind == "gestational_age":
                    ga.add(c.code)
                elif kind == "pregnancy_status":
                    status.add(c.code)
                elif kind == "status":
                    status_values[c.code] = target
                elif kind == "condition":
                    icd[c.code] = ("conditions", target)
                elif kind == "finding":
                    name, _, value = target.partition("=")
                    icd[c.code] = (f"findings.{name}", {"true": True, "false": False}.get(value, value))
                else:
                    recomputed[(systems[m.system], c.code)] = m.reason or "recomputed by the engine"
        return cls(loinc, rx, outcomes, results, frozenset(ga), frozenset(status), status_values, icd, recomputed,
                   unread)


# Unit spellings (UCUM codes and common variants) -> the knowledge base's unit names.
UNIT_ALIASES: dict[str, str] = {
    "[GPL'U]": "GPL", "[GPL'U]/mL": "GPL", "GPL U/mL": "GPL", "GPL/mL": "GPL",
    "[MPL'U]": "MPL", "[MPL'U]/mL": "MPL", "MPL U/mL": "MPL", "MPL/mL": "MPL",
    "U/ml": "U/mL", "[U]/mL": "U/mL", "m[IU]/L": "mIU/L", "mIU/l": "mIU/L", "u[IU]/mL": "uIU/mL",
    "[iU]/mL": "IU/mL", "[IU]/mL": "IU/mL", "k[IU]/L": "kIU/L", "10*9/L": "x10^9/L", "10*3/uL": "x10^3/uL",
    "ug/L": "ug/L", "umol/L": "umol/L", "nmol/l": "nmol/L", "ng/ml": "ng/mL", "pmol/l": "pmol/L",
}
