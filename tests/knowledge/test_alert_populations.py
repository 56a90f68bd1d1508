"""Alerts reach only the women they are written for; critical safety is shown whenever a therapy is in play;
regulatory status cites the regulator (issue 11, item 5).

The wrong-woman cases here each failed on the previous coding (alerts with no population, safety cautions
without a condition never shown, the US LIT position cited to a slide deck).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from rplnav.knowledge.load import KNOWLEDGE_DIR, load
from tests.knowledge.conftest import option, sydney_obstetric_aps, unexplained


def alert_ids(a: dict[str, Any], therapy: str | None = None) -> set[str | None]:
    items = option(a, therapy)["alerts"] if therapy else a["alerts"]
    return {x.get("id") for x in items}


def test_every_alert_carries_a_population(knowledge):
    for a in knowledge.alerts:
        assert a.population_text
        assert knowledge.condition(f"alert-population:{a.id}").fact_names(), a.id


def test_kb_check_rejects_an_alert_without_a_population(tmp_path: Path):
    kb_dir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, kb_dir)
    path = kb_dir / "alerts.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["alerts"][0]["population"]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    _, problems = load(kb_dir, strict=False)
    assert any("population" in p for p in problems)


# --------------------------------------------------------------------- the wrong women

def test_ivig_escalation_ladder_not_for_unexplained_rpl(assess):
    """Four unexplained losses: no guideline endorses 'IVIG after aspirin/LMWH/HCQ failed' for her."""
    a = assess(**unexplained(4))
    assert "ivig-consent" not in alert_ids(a, "ivig")


def test_ivig_escalation_ladder_for_refractory_obstetric_aps(assess):
    """Obstetric APS with the last pregnancy lost on aspirin and enoxaparin: EULAR 2019 allows IVIG in highly
    selected cases (ACR 2020 advises against) - the consent alert speaks to her."""
    fields = sydney_obstetric_aps()
    fields["pregnancies"][-1] = {**fields["pregnancies"][-1], "treatments": ["aspirin", "lmwh"]}
    a = assess(**fields)
    assert a["facts"]["aps.refractory_obstetric"] is True
    alert = next(x for x in option(a, "ivig")["alerts"] if x.get("id") == "ivig-consent")
    assert "EULAR 2019" in alert["text"] and "ACR 2020" in alert["text"]


def _bleeding_iup(**extra: Any) -> dict[str, Any]:
    """Note: 'Three miscarriages (7, 6, 8 weeks). Now 6+3, IUP with FH on TVS, PV bleeding since this morning.
    Work-up not yet done.'"""
    fields: dict[str, Any] = {
        "pregnancies": [{"outcome": "miscarriage", "gestational_age": g, "date": d}
                        for g, d in ((7, "2022-01"), (6, "2022-10"), (8, "2023-09"))],
        "current": {"gestational_age": "6+3", "intrauterine_confirmed": True, "fetal_heart_activity": True,
                    "bleeding": True},
    }
    fields.update(extra)
    return fields


def test_promise_no_bleeding_alert_never_to_a_bleeding_woman(assess):
    a = assess(**_bleeding_iup())
    assert "progesterone-no-bleeding-promise" not in alert_ids(a, "progesterone")
    b = assess(pregnancies=_bleeding_iup()["pregnancies"])  # not pregnant now
    assert "progesterone-no-bleeding-promise" in alert_ids(b, "progesterone")


def test_complete_the_workup_alert_never_to_a_woman_nice_offers_progesterone_now(assess):
    a = assess(**_bleeding_iup())
    nice = next(s for s in option(a, "progesterone")["stances"] if s["id"] == "nice-progesterone-bleeding")
    assert nice["applies"] is True
    assert "progesterone-not-a-cure" not in alert_ids(a, "progesterone")
    # the same work-up gap before pregnancy still draws it
    b = assess(pregnancies=_bleeding_iup()["pregnancies"])
    assert "progesterone-not-a-cure" in alert_ids(b, "progesterone")


# --------------------------------------------------------------------- safety always shown when in play

def test_lymphocyte_immunotherapy_infection_risk_shown_when_a_statement_speaks_to_her(assess):
    """Unexplained RPL in the UK: ESHRE's strong 'do not use' and ASRI's conditional 'for' both speak to her, so
    LIT is in play and its critical adverse effects show with it, with their sources."""
    a = assess(country="GB", **unexplained(3))
    alerts = option(a, "lymphocyte_immunotherapy")["alerts"]
    infection = [x for x in alerts if x["level"] == "critical" and "infection" in x["text"]]
    assert infection and infection[0]["source"]["document"] == "seed-002"
    assert any(x["level"] == "critical" and x["source"]["document"] == "fda-lit-2002" for x in alerts)


def test_ivig_boxed_warnings_and_contraindications_shown_when_in_play(assess):
    """Four unexplained losses: ESHRE's conditional statement for IVIG applies, so the FDA boxed warnings
    (thrombosis, renal failure) and the contraindications (severe reaction to immune globulin, IgA deficiency
    with anti-IgA antibodies) are shown with it, none of which needs a recorded condition."""
    a = assess(**unexplained(4))
    alerts = [x for x in option(a, "ivig")["alerts"] if x["level"] == "critical"]
    docs = {x["source"]["document"] for x in alerts}
    assert {"fda-ig-thrombosis-2013", "fda-igiv-renal-1999", "gammagard-liquid-pi"} <= docs
    assert any("renal failure" in x["text"] for x in alerts)
    assert any("IgA" in x["text"] and x["kind"] == "contraindication" for x in alerts)
    cited = {s["id"] for s in a["sources"]}
    assert {"fda-ig-thrombosis-2013", "fda-igiv-renal-1999", "gammagard-liquid-pi"} <= cited


def test_ivig_renal_warning_for_a_woman_with_renal_disease(assess):
    a = assess(**unexplained(4, conditions=["renal_disease"]))
    assert any("Renal disease or diabetes recorded" in x["text"] for x in option(a, "ivig")["alerts"])


def test_safety_not_shown_for_a_therapy_out_of_play(assess):
    """One miscarriage at 8 weeks: no IVIG statement applies or may apply to her, so its boxed warnings are not
    listed for her (they are in its monograph and on any drafted order)."""
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": 8, "date": "2024-02"}])
    ivig = option(a, "ivig")
    assert all(s["applies"] is False for s in ivig["stances"])
    assert not any(x.get("always") for x in ivig["alerts"])


def test_ivig_consent_and_iga_deficiency(assess):
    a = assess(**unexplained(4, conditions=["iga_deficiency"]))
    alerts = option(a, "ivig")["alerts"]
    assert any(x["kind"] == "contraindication" and "IgA deficiency recorded" in x["text"]
               and x["level"] == "critical" for x in alerts)


# --------------------------------------------------------------------- regulatory status cites the regulator

def test_us_lymphocyte_immunotherapy_position_cites_the_fda(assess, knowledge):
    lit = knowledge.therapies["lymphocyte_immunotherapy"]
    us = next(r for r in lit.regulatory if r.country == "US")
    assert us.source.document == "fda-lit-2002" and knowledge.sources["fda-lit-2002"].kind == "regulatory"
    a = assess(country="US", **unexplained(3))
    ban = next(x for x in option(a, "lymphocyte_immunotherapy")["alerts"] if x.get("id") == "lit-us-ban")
    assert ban["source"]["document"] == "fda-lit-2002"
    assert "Investigational New Drug" in ban["text"]
    assert "fda-lit-2002" in {s["id"] for s in a["sources"]}


def test_safety_shown_for_a_therapy_she_is_taking(assess):
    """Note: 'One miscarriage at 8 weeks. Medications: Gammagard infusions (started elsewhere).' No IVIG
    statement speaks to her, but she is taking it: its boxed warnings are shown with it."""
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": 8, "date": "2024-02"}],
               medications=["Gammagard"])
    assert a["medications"] == ["ivig"]
    ivig = option(a, "ivig")
    assert any(x.get("always") and x["source"]["document"] == "fda-ig-thrombosis-2013" for x in ivig["alerts"])
