"""Antiphospholipid syndrome classification: revised Sapporo (Sydney 2006) and 2023 ACR/EULAR.

PROVISIONAL: the interface used by facts.py and assess.py. The full criteria (every clinical and laboratory
criterion, timing rules, 2023 weights per domain, `missing` next steps) are being implemented here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rplnav.knowledge.model import TestSpec
from rplnav.patient import Patient

APL_TESTS = ("lupus_anticoagulant", "anticardiolipin_igg", "anticardiolipin_igm", "anti_b2gpi_igg", "anti_b2gpi_igm")


@dataclass
class ApsReport:
    sydney_2006: dict[str, Any] = field(default_factory=dict)
    acr_eular_2023: dict[str, Any] = field(default_factory=dict)
    fact_values: dict[str, Any] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        return dict(self.fact_values)

    def as_dict(self) -> dict[str, Any]:
        return {"sydney-2006": self.sydney_2006, "acr-eular-2023": self.acr_eular_2023}


def classify(patient: Patient, tests: dict[str, TestSpec]) -> ApsReport:
    tested = {lab.test for lab in patient.labs}
    missing = [f"{t} not tested" for t in APL_TESTS if t not in tested]
    unknown = {
        "aps.sydney_2006": None, "aps.acr_eular_2023": None, "aps.any_met": None, "aps.obstetric": None,
        "aps.thrombotic": None, "aps.refractory_obstetric": None, "apl.any_positive": None,
        "apl.laboratory_criteria": None, "apl.la_positive": None, "apl.la_persistent": None,
        "apl.triple_positive": None, "apl.high_risk_profile": None,
        "apl.tested_panel": all(t in tested for t in APL_TESTS),
    }
    return ApsReport(
        sydney_2006={"status": "indeterminate", "clinical": [], "laboratory": [], "missing": missing},
        acr_eular_2023={"status": "indeterminate", "clinical_points": 0, "laboratory_points": 0,
                        "missing": missing},
        fact_values=unknown,
    )
