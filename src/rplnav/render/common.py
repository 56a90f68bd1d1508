"""Shared wording for every renderer."""

from __future__ import annotations

from typing import Any

GUIDELINE_ORDER = {g: i for i, g in enumerate([
    "ESHRE-2022", "ESHRE-2017", "ASRM-2012", "RCOG-2023", "RCOG-2011", "NICE-NG126", "LANCET-2021", "ASRI-2025",
    "ACR-2020", "EULAR-2019", "GLADEL-PANLAR-2018",
])}

STANCE_LABEL = {
    "strong_for": "strong for",
    "conditional_for": "conditional for",
    "good_practice": "good practice",
    "research_only": "research only",
    "no_recommendation": "no recommendation",
    "insufficient_evidence": "insufficient evidence",
    "conditional_against": "conditional AGAINST",
    "strong_against": "strong AGAINST",
    "not_permitted": "NOT PERMITTED",
}

STANCE_SHORT = {
    "strong_for": "++", "conditional_for": "+", "good_practice": "GPP", "research_only": "R",
    "no_recommendation": "0", "insufficient_evidence": "?ev", "conditional_against": "−",
    "strong_against": "−−", "not_permitted": "✖",
}

STANCE_STYLE = {
    "strong_for": "bold green", "conditional_for": "green", "good_practice": "cyan", "research_only": "magenta",
    "no_recommendation": "white", "insufficient_evidence": "yellow", "conditional_against": "red",
    "strong_against": "bold red", "not_permitted": "bold white on red",
}


def stance_label(stance: str) -> str:
    return STANCE_LABEL.get(stance, stance)


def fmt_tri(v: Any) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if v is None:
        return "unknown"
    return str(v)


def source_text(src: dict[str, Any] | None) -> str:
    if not src:
        return ""
    mark = "" if src.get("verified") else " (unverified)"
    return f"{src['document']}, {src['locator']}{mark}"
