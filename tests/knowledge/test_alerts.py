"""Alerts fire on the facts that should trigger them, and only then."""

from __future__ import annotations

from tests.knowledge.conftest import option, sydney_obstetric_aps, unexplained


def alert_ids(a, therapy=None):
    items = option(a, therapy)["alerts"] if therapy else a["alerts"]
    return {x.get("id") for x in items}


def test_us_patient_lit_not_permitted_alert(assess):
    a = assess(country="US", **unexplained(3))
    alerts = option(a, "lymphocyte_immunotherapy")["alerts"]
    assert any(x.get("id") == "lit-us-ban" and x["level"] == "critical" for x in alerts)
    b = assess(country="GB", **unexplained(3))
    assert "lit-us-ban" not in alert_ids(b, "lymphocyte_immunotherapy")


def test_nk_cells_alone_do_not_justify_ivig(assess):
    p = unexplained(2)
    p["labs"] = p["labs"] + [{"test": "nk_cells_peripheral", "value": 16, "unit": "%", "date": "2025-01-10"}]
    assert "ivig-nk-alone" in alert_ids(assess(**p), "ivig")
    assert "ivig-nk-alone" not in alert_ids(assess(**unexplained(2)), "ivig")


def test_everything_at_once(assess):
    p = unexplained(3)
    p["pregnancies"][-1] = {**p["pregnancies"][-1], "treatments": ["prednisolone", "ivig", "aspirin"]}
    assert "everything-at-once" in alert_ids(assess(**p))
    assert "everything-at-once" not in alert_ids(assess(**unexplained(3)))


def test_heparin_for_unexplained_rpl_is_a_pitfall(assess):
    assert "heparin-unexplained" in alert_ids(assess(**unexplained(3)), "aspirin_lmwh")
    assert "heparin-unexplained" not in alert_ids(assess(**sydney_obstetric_aps()), "aspirin_lmwh")


def test_progesterone_without_workup(assess):
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": "7+0"}] * 2)
    assert "progesterone-not-a-cure" in alert_ids(a, "progesterone")
    assert "progesterone-not-a-cure" not in alert_ids(assess(**unexplained(2)), "progesterone")


def test_ivf_is_not_a_treatment(assess):
    assert "ivf-not-treatment" in alert_ids(assess(**unexplained(2)), "ivf")


def test_latent_tb_before_anti_tnf(assess):
    a = assess(**unexplained(3, conditions=["latent_tb"]))
    assert any("tuberculosis" in x["text"] and x["kind"] == "contraindication" for x in option(a, "anti_tnf")["alerts"])


def test_seed003_high_risk_exception_is_separate_and_unverified(assess, knowledge):
    p = unexplained(2)
    p["labs"] = [lab for lab in p["labs"] if lab["test"] != "lupus_anticoagulant"] + [
        {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-04-20"}]
    p["current"] = {"gestational_age": "6+0", "conception": "ivf"}
    a = assess(**p)
    assert "apl-high-risk-exceptions" in alert_ids(a, "aspirin_lmwh")
    alert = next(x for x in knowledge.alerts if x.id == "apl-high-risk-exceptions")
    assert alert.source.verified is False and alert.kind == "research_vs_guideline"
