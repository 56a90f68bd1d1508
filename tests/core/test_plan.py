"""The plan for her: a synthesis of the document that cites what it rests on and never hides an 'against'."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from rplnav.examples import example_files
from rplnav.patient import InputError, parse_patient, read_patient
from rplnav.plan import AGAINST, FOR
from rplnav.render.common import plan_sections, short_name
from rplnav.render.html import render_html
from rplnav.render.markdown import assessment_markdown
from rplnav.render.terminal import render_terminal

from .test_assess_properties import rich_patients
from .test_assumptions import NO_TSH, OBSTETRIC_APS


def _assess(kb, engine, data, **kw):
    return engine.assess(parse_patient(data, kb.tests, set(kb.therapies)), **kw)


def test_obstetric_aps_plan_supports_aspirin_and_heparin_with_timing_and_dose(kb, engine):
    doc = _assess(kb, engine, OBSTETRIC_APS)
    plan = doc["plan"]
    line = next(x for x in plan["supported"] if x["therapy"] == "aspirin_lmwh")
    cited = {(s["guideline"], s["stance"]) for s in line["statements"]}
    assert ("ACR-2020", "strong_for") in cited
    assert "ACR-2020 strong for" in line["agreement"] and "no guideline against" in line["agreement"]
    # she is not pregnant: the preconception aspirin window is open now
    assert line["when"] and line["when"][0]["status"] in ("open", "closing")
    assert line["regimens"] and all(r["source"]["document"] for r in line["regimens"])
    # hormonal causes are excluded by her normal TSH: the line rests on no conditions assumption
    assert "no-conditions-recorded" not in line.get("assumes", [])
    assert {a["id"] for a in plan["assumptions"]} == {a["id"] for a in doc["assumptions"]}
    # the superseded RCOG 2011 edition is named as such, never as current support
    assert all(not s.get("superseded_by") for s in line["statements"])


def test_strict_plan_shows_what_would_change_it(kb, engine):
    doc = _assess(kb, engine, NO_TSH, strict=True)  # without TSH only the conditions list can exclude hormonal causes
    plan = doc["plan"]
    assert not any(x["therapy"] == "aspirin_lmwh" and any(s["guideline"] == "ACR-2020" for s in x["statements"])
                   for x in plan["supported"])
    assert any(x["statement"]["guideline"] == "ACR-2020" and x["therapy"] == "aspirin_lmwh"
               for x in plan["would_change"]) or plan["decide_first"]
    assert any(d["record"] == "conditions" or "conditions list" in d["record"] for d in plan["decide_first"])


def _check_plan(doc):
    plan = doc["plan"]
    by_id = {s["id"]: s for o in doc["options"] for s in o["stances"]}
    for section in ("supported", "against", "research_only"):
        for line in plan[section]:
            for s in line["statements"]:
                assert by_id[s["id"]]["applies"] is True, s["id"]
                assert not s.get("superseded_by"), s["id"]
    for line in plan["supported"]:
        assert any(s["stance"] in FOR for s in line["statements"])
        assert line["statements"], line["therapy"]
    against = {x["therapy"] for x in plan["against"]}
    for o in doc["options"]:
        for s in o["stances"]:
            if s["applies"] is True and s["stance"] in AGAINST and not s.get("superseded_by"):
                assert o["therapy"] in against, (o["therapy"], s["id"])  # never hidden
    for line in plan["against"]:
        assert line["regimens"] == [] and line["when"] == []  # no dose or start time for what is advised against
    # never "order this test to decide something" when a current guideline that applies to her advises against it
    for w in doc["workup"]:
        current = [r for r in w["recommendations"] if r["applies"] is True and not r.get("superseded_by")]
        if any(r["stance"] in AGAINST for r in current) and not any(r["stance"] in FOR for r in current):
            assert f"labs.{w['test']}" not in {d["record"] for d in plan["decide_first"]}, w["test"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rich_patients)
def test_plan_cites_only_applying_current_statements_and_hides_no_against(kb, engine, data):
    try:
        parsed = parse_patient(data, kb.tests, set(kb.therapies))
    except InputError:
        return
    _check_plan(engine.assess(parsed))
    _check_plan(engine.assess(parsed, strict=True))


def test_every_view_puts_the_plan_first(kb, engine):
    """Markdown: the plan is the first section. Terminal at 80 columns: what is supported and what is advised
    against for her are headed within the first 30 lines, before the definitions table."""
    for path in example_files():
        doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))
        _check_plan(doc)
        md = assessment_markdown(doc)
        sections = [line for line in md.splitlines() if line.startswith("## ")]
        assert sections[0].startswith("## The plan for her"), path.name
        lines = render_terminal(doc, width=80, color=False).splitlines()
        assert max(len(x) for x in lines) <= 80
        heads = {h: next(i for i, x in enumerate(lines) if h in x) for h in
                 ("Supported for her", "Advised against for her", "RPL definition  ")}
        assert heads["Supported for her"] < heads["Advised against for her"] < 30, (path.name, heads)
        assert heads["Advised against for her"] < heads["RPL definition  "]
        # what to do next is in the first 30 lines too, and every therapy the plan supports or advises against
        # is named there (one short line per therapy or per leading statement; nothing behind a count)
        if doc["plan"]["decide_first"] or doc["plan"]["workup_next"]:
            nxt = next(i for i, x in enumerate(lines) if "Next: record or test" in x)
            assert heads["Advised against for her"] < nxt < 30, (path.name, nxt)
        first = " ".join(" ".join(lines[:30]).replace("│", " ").split())
        for x in doc["plan"]["supported"] + doc["plan"]["against"]:
            assert short_name(x["name"]) in first, (path.name, x["name"])
        assert all(a["text"].split(" (")[0] in first for a in doc["plan"]["assumptions"]), path.name


def test_safety_is_about_what_she_may_be_given_or_takes(engine, make):
    """Obstetric APS: the plan's safety lists the supported therapies' warnings, not the boxed warnings of
    IVIG, which the plan advises against for her; once she is taking IVIG its warnings are back."""
    labs = [{"test": "lupus_anticoagulant", "result": "positive", "date": "2025-01-10"},
            {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-04-20"},
            {"test": "tsh", "value": 1.9, "unit": "mIU/L", "date": "2025-01-10"}]
    pregs = [{"outcome": "miscarriage", "gestational_age": g, "date": d}
             for g, d in (("6+4", "2023-03"), ("7+1", "2023-11"), ("8+0", "2024-06"))]
    base = {"pregnancies": pregs, "labs": labs, "findings": {"uterus": "normal", "parental_karyotype": "normal"}}
    plan = engine.assess(make(**base))["plan"]
    supported = {x["therapy"] for x in plan["supported"]}
    assert "aspirin_lmwh" in supported
    assert all(s["therapy"] in supported or s["therapy"] is None for s in plan["safety"])
    taking = engine.assess(make(**base, medications=["Gammagard"]))["plan"]
    assert any(s["therapy"] == "ivig" for s in taking["safety"])


def test_what_rests_on_her_findings_comes_before_general_care(kb, engine):
    """Refractory obstetric APS: the therapies her APS makes relevant (aspirin + heparin, hydroxychloroquine …)
    come before care offered to every woman with RPL (vitamin D, lifestyle), and every supported therapy is named
    in the first 30 lines of the terminal at 80 columns, none hidden behind a count."""
    path = next(p for p in example_files() if "refractory" in p.name)
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))
    sup = doc["plan"]["supported"]
    general = [x["therapy"] for x in sup if x["general"]]
    particular = [x["therapy"] for x in sup if not x["general"]]
    assert {"vitamin_d", "lifestyle"} <= set(general)
    assert {"aspirin_lmwh", "hydroxychloroquine"} <= set(particular)
    assert [x["general"] for x in sup] == sorted(x["general"] for x in sup)  # particular first
    head = "\n".join(render_terminal(doc, width=80, color=False).splitlines()[:30])
    flat = " ".join(head.replace("│", " ").split())
    for x in sup:
        assert short_name(x["name"]) in flat, x["name"]
    # a woman with unexplained RPL and no finding: what she is offered is general care, said as such
    plain = next(p for p in example_files() if p.name.startswith("01-"))
    sup = engine.assess(read_patient(str(plain), kb.tests, set(kb.therapies)))["plan"]["supported"]
    assert any(x["general"] for x in sup) and next(x for x in sup if x["therapy"] == "vitamin_d")["general"]


def test_a_disputed_therapy_is_never_shown_as_care_for_every_woman(kb, engine):
    """Four unexplained losses: ESHRE 2022's conditional statement for IVIG reaches her through her loss history
    alone, while ASRM 2012 and ATA 2017 advise against it. IVIG is therefore marked disputed in both lists and is
    never named under "For every woman with RPL" in any view; it is named with the disagreement instead."""
    path = next(p for p in example_files() if p.name.startswith("07-"))
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))
    plan = doc["plan"]
    both = {x["therapy"] for x in plan["supported"]} & {x["therapy"] for x in plan["against"]}
    assert "ivig" in both
    for x in plan["supported"] + plan["against"]:
        assert x["disputed"] is (x["therapy"] in both), x["therapy"]
    sup = plan["supported"]
    assert [(x["general"], x["disputed"]) for x in sup] == sorted((x["general"], x["disputed"]) for x in sup)
    sections = dict(plan_sections(doc))
    every = next(line for line in sections["Supported for her"] if line.startswith("For every woman with RPL"))
    disputed = next(line for line in sections["Supported for her"] if line.startswith("Guidelines disagree"))
    short = dict(plan_sections(doc, compact=True))["Supported for her"]
    assert any(line.startswith("disputed (both sides below)") and "Intravenous" in line for line in short)
    assert "Intravenous immunoglobulin" not in every and "Intravenous immunoglobulin" in disputed
    html = render_html(doc)
    general_html = html.split("For every woman with RPL:")[1].split("</p>")[0]
    assert "Intravenous immunoglobulin" not in general_html
    assert "Intravenous immunoglobulin" in html.split("Guidelines disagree for her")[1].split("</p>")[0]
