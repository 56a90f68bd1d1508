"""Fixtures for knowledge-base tests: patients are built as input documents and assessed by the engine."""

from __future__ import annotations

from typing import Any

import pytest

from rplnav.assess import Engine
from rplnav.knowledge.load import default_knowledge
from rplnav.patient import parse_patient

ASSESSED_ON = "2026-11-01"


@pytest.fixture(scope="session")
def knowledge():
    return default_knowledge()


@pytest.fixture(scope="session")
def assess(knowledge):
    engine = Engine(knowledge)

    def _assess(**fields: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": "rplnav.patient/v1", "id": "kb-test", "age": 32, "assessed_on": ASSESSED_ON}
        doc.update(fields)
        return engine.assess(parse_patient(doc, knowledge.tests, set(knowledge.therapies)))

    return _assess


def stance(assessment: dict[str, Any], rec_id: str) -> dict[str, Any]:
    """The evaluated stance of one recommendation (from the options or the work-up)."""
    for o in assessment["options"]:
        for s in o["stances"]:
            if s["id"] == rec_id:
                return s
    for w in assessment["workup"]:
        for s in w["recommendations"]:
            if s["id"] == rec_id:
                return s
    raise AssertionError(f"recommendation {rec_id} not in the assessment")


def option(assessment: dict[str, Any], therapy: str) -> dict[str, Any]:
    return next(o for o in assessment["options"] if o["therapy"] == therapy)


# ---- patients, written from the criteria texts -------------------------------------------------------------

def negative_apl(date1: str = "2025-01-10", date2: str = "2025-04-20") -> list[dict[str, Any]]:
    """A complete, negative aPL panel on two occasions more than 12 weeks apart."""
    labs = []
    for d in (date1, date2):
        labs += [
            {"test": "lupus_anticoagulant", "result": "negative", "date": d},
            {"test": "anticardiolipin_igg", "value": 5, "unit": "GPL", "reference_high": 20, "date": d},
            {"test": "anticardiolipin_igm", "value": 4, "unit": "MPL", "reference_high": 20, "date": d},
            {"test": "anti_b2gpi_igg", "value": 3, "unit": "U/mL", "reference_high": 20, "date": d},
            {"test": "anti_b2gpi_igm", "value": 2, "unit": "U/mL", "reference_high": 20, "date": d},
        ]
    return labs


def early_losses(n: int, start_year: int = 2021) -> list[dict[str, Any]]:
    return [{"outcome": "miscarriage", "gestational_age": "7+0", "date": f"{start_year + i // 2}-{3 + 6 * (i % 2):02d}"}
            for i in range(n)]


def unexplained(n_losses: int, **extra: Any) -> dict[str, Any]:
    """n consecutive early losses with a complete negative work-up (uterus, karyotype, TSH, aPL)."""
    fields: dict[str, Any] = {
        "pregnancies": early_losses(n_losses),
        "labs": negative_apl() + [{"test": "tsh", "value": 1.8, "unit": "mIU/L", "reference_high": 4.0,
                                   "date": "2025-01-10"}],
        "findings": {"uterus": "normal", "parental_karyotype": "normal", "thromboses": []},
        "conditions": [],
    }
    fields.update(extra)
    return fields


def sydney_obstetric_aps(**extra: Any) -> dict[str, Any]:
    """Sydney 2006: LA positive twice 14 weeks apart + 3 consecutive unexplained losses <10 weeks, normal
    uterus, karyotype and TSH (clinical criterion 2(c) and laboratory criterion 1)."""
    fields: dict[str, Any] = {
        "pregnancies": [
            {"outcome": "miscarriage", "gestational_age": "6+5", "date": "2023-01"},
            {"outcome": "miscarriage", "gestational_age": "8+0", "date": "2023-09"},
            {"outcome": "miscarriage", "gestational_age": "7+2", "date": "2024-06"},
        ],
        "labs": [
            {"test": "lupus_anticoagulant", "result": "positive", "date": "2024-09-02"},
            {"test": "lupus_anticoagulant", "result": "positive", "date": "2024-12-09"},
            {"test": "anticardiolipin_igg", "value": 8, "unit": "GPL", "reference_high": 20, "date": "2024-09-02"},
            {"test": "anticardiolipin_igm", "value": 6, "unit": "MPL", "reference_high": 20, "date": "2024-09-02"},
            {"test": "anti_b2gpi_igg", "value": 5, "unit": "U/mL", "reference_high": 20, "date": "2024-09-02"},
            {"test": "anti_b2gpi_igm", "value": 4, "unit": "U/mL", "reference_high": 20, "date": "2024-09-02"},
            {"test": "tsh", "value": 2.1, "unit": "mIU/L", "reference_high": 4.0, "date": "2024-09-02"},
        ],
        "findings": {"uterus": "normal", "parental_karyotype": "normal", "thromboses": []},
        "conditions": [],
    }
    fields.update(extra)
    return fields
