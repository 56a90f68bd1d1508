"""Therapy monographs and knowledge-base coverage statistics."""

from __future__ import annotations

import json

import pytest

from rplnav.kbstats import coverage, render_stats
from rplnav.monograph import FORMATS, UnknownTherapy, build_monograph, render_monograph


def test_every_therapy_renders_in_every_format(knowledge):
    for tid in knowledge.therapies:
        m = build_monograph(knowledge, tid)
        for fmt in FORMATS:
            out = render_monograph(m, fmt)
            assert out.strip(), (tid, fmt)
            assert knowledge.therapies[tid].name in out, (tid, fmt)
        json.loads(render_monograph(m, "json"))


def test_ivig_monograph_shows_acr_against_and_off_guideline_consent(knowledge):
    m = build_monograph(knowledge, "ivig")
    acr = [s for s in m["stance_matrix"] if s["id"] == "acr-refractory-ivig"]
    assert acr and acr[0]["stance"] == "conditional_against" and acr[0]["guideline"] == "ACR-2020"
    assert "Refractory obstetric APS" in acr[0]["population"] and acr[0]["verified"] is True
    og = m["off_guideline"]
    assert og["label"].startswith("OFF-GUIDELINE")
    assert og["consent"] and "consent" in og["consent"][0]["text"]
    md = render_monograph(m, "md")
    assert "OFF-GUIDELINE" in md and "ACR-2020" in md and "conditional AGAINST" in md
    text = render_monograph(m, "text")
    assert "OFF-GUIDELINE" in text and "Consent" in text


def test_references_are_numbered_once(knowledge):
    m = build_monograph(knowledge, "aspirin_lmwh")
    ids = [r["id"] for r in m["references"]]
    assert len(ids) == len(set(ids))
    assert [r["n"] for r in m["references"]] == list(range(1, len(ids) + 1))
    cited = {s["source"]["ref"] for s in m["stance_matrix"]}
    assert cited <= {r["n"] for r in m["references"]}


def test_bottom_line_is_derived_from_stances(knowledge):
    assert build_monograph(knowledge, "lymphocyte_immunotherapy")["bottom_line"]["against"]
    assert build_monograph(knowledge, "ivf")["bottom_line"]["verdict"] == "no_statement"
    assert build_monograph(knowledge, "g_csf")["bottom_line"]["verdict"] == "uncertain"


def test_unknown_therapy_suggests_close_matches(knowledge):
    with pytest.raises(KeyError) as exc:
        build_monograph(knowledge, "ivg")
    assert isinstance(exc.value, UnknownTherapy)
    assert "ivig" in exc.value.suggestions
    assert "ivig" in str(exc.value)


def test_unknown_format(knowledge):
    with pytest.raises(ValueError):
        render_monograph(build_monograph(knowledge, "aspirin"), "pdf")


def test_coverage(knowledge):
    stats = coverage(knowledge)
    assert stats["therapy_matrix"]["ivig"]["GLADEL-PANLAR-2018"] == ["strong_against"]
    # ESHRE covers progesterone and luteal support but no dydrogesterone statement is encoded: a gap, not silence;
    # NICE NG126 covers progesterone only, so it is silent on levothyroxine.
    assert stats["therapy_matrix"]["dydrogesterone"]["ESHRE-2022"] == "not_encoded"
    assert stats["therapy_matrix"]["levothyroxine"]["NICE-NG126"] == "silent"
    per = stats["recommendations_per_guideline"]
    assert sum(c["total"] for c in per.values()) == len(knowledge.recommendations)
    assert 0 < stats["verified"]["share"] < 1
    text = render_stats(stats)
    assert "ivig" in text and "ACR20" in text and "silent" in text
