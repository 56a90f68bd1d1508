"""The aps.* and apl.* facts consumed by the knowledge base: three-valued, None only when undecidable."""

from __future__ import annotations

from rplnav.criteria.aps import classify
from tests.criteria.test_aps_sydney import (
    CLEAN,
    FACTS,
    KB,
    LA_PERSISTENT,
    NEGATIVE_PANEL,
    THREE_EARLY,
    la,
    loss,
    make,
    quant,
    run,
)

FACT_NAMES = {
    "aps.sydney_2006", "aps.acr_eular_2023", "aps.any_met", "aps.obstetric", "aps.thrombotic",
    "apl.any_positive", "apl.laboratory_criteria", "apl.la_positive",
    "apl.la_persistent", "apl.triple_positive", "apl.high_risk_profile", "apl.tested_panel",
}


def facts(**kw):
    return FACTS(make(**kw))


def test_fact_names_are_exactly_the_catalogue():
    f = run().facts()
    assert set(f) == FACT_NAMES
    assert all(v in (True, False, None) for v in f.values())
    assert all(facts()[k] == v for k, v in f.items())  # the patient's facts carry the report's facts


def test_nothing_tested():
    f = facts(pregnancies=THREE_EARLY)
    assert f["apl.any_positive"] is None and f["apl.la_positive"] is None and f["apl.la_persistent"] is None
    assert f["apl.tested_panel"] is False
    assert f["aps.sydney_2006"] is None


def test_all_negative_panel():
    f = facts(pregnancies=THREE_EARLY, labs=[la("2024-09-02", "negative")] + NEGATIVE_PANEL)
    assert f["apl.any_positive"] is False and f["apl.la_positive"] is False
    assert f["apl.tested_panel"] is True and f["apl.triple_positive"] is False
    assert f["apl.high_risk_profile"] is False
    assert f["aps.sydney_2006"] is False and f["aps.any_met"] is False
    assert f["aps.acr_eular_2023"] is False


def test_triple_positive():
    labs = [la("2024-09-02"), quant("anticardiolipin_igg", 50, "2024-09-02"),
            quant("anti_b2gpi_igm", 30, "2024-09-02", p99=20)]
    assert facts(labs=labs)["apl.triple_positive"] is True
    labs[0] = la("2024-09-02", "negative")
    assert facts(labs=labs)["apl.triple_positive"] is False
    assert facts(labs=labs[1:])["apl.triple_positive"] is None  # LA not tested


def test_high_risk_profile_la_persistent():
    assert facts(labs=LA_PERSISTENT)["apl.high_risk_profile"] is True


def test_high_risk_profile_double_positivity():
    labs = [la("2024-09-02", "negative"), la("2024-12-09", "negative")]
    labs += [quant("anticardiolipin_igg", 50, "2024-09-02"), quant("anticardiolipin_igg", 50, "2024-12-09")]
    labs += [quant("anti_b2gpi_igg", 30, "2024-09-02", p99=20), quant("anti_b2gpi_igg", 30, "2024-12-09", p99=20)]
    labs += [quant("anticardiolipin_igm", 5, "2024-09-02", ref=20), quant("anti_b2gpi_igm", 3, "2024-09-02", ref=20)]
    assert facts(labs=labs)["apl.high_risk_profile"] is True


def test_single_moderate_acl_is_not_high_risk_but_high_titre_is():
    base = [la("2024-09-02", "negative"), la("2024-12-09", "negative"), *NEGATIVE_PANEL[1:]]
    moderate = base + [quant("anticardiolipin_igg", 50, "2024-09-02"), quant("anticardiolipin_igg", 50, "2024-12-09")]
    assert facts(labs=moderate)["apl.high_risk_profile"] is False
    high = base + [quant("anticardiolipin_igg", 95, "2024-09-02"), quant("anticardiolipin_igg", 90, "2024-12-09")]
    assert facts(labs=high)["apl.high_risk_profile"] is True


def test_refractory_obstetric_aps():
    def pregs(treatments: list[str]) -> list[dict]:
        return THREE_EARLY + [loss("8+0", "2025-03-01", treatments=treatments)]

    for t in (["aspirin", "lmwh"], ["aspirin_lmwh"], ["aspirin_lmwh_therapeutic"]):
        f = facts(pregnancies=pregs(t), labs=LA_PERSISTENT)
        assert f["aps.obstetric"] is True and f["aps.refractory_obstetric"] is True, t
    f = facts(pregnancies=pregs(["aspirin"]), labs=LA_PERSISTENT)
    assert f["aps.refractory_obstetric"] is False


def test_refractory_needs_obstetric_aps():
    pregs = [loss("8+0", "2025-03-01", treatments=["aspirin_lmwh"])]
    f = facts(pregnancies=pregs, labs=[la("2024-09-02", "negative")] + NEGATIVE_PANEL)
    assert f["aps.refractory_obstetric"] is False


def test_thrombotic_and_obstetric_together():
    f = dict(CLEAN, thromboses=[{"type": "venous", "date": "2024-01-10", "high_risk_profile": False}])
    r = facts(pregnancies=THREE_EARLY, labs=LA_PERSISTENT, findings=f)
    assert r["aps.obstetric"] is True and r["aps.thrombotic"] is True


def test_2023_met_without_sydney():
    # valve vegetation (4) + persistent LA (5): the 2023 criteria classify, Sydney has no clinical criterion
    f = dict(CLEAN, cardiac_valve="vegetation")
    p = make(findings=f, labs=[la("2024-09-02"), la("2024-12-09")] + NEGATIVE_PANEL)
    r = classify(p, KB.tests)
    # the valve finding has no date, so the 3-year entry window cannot be checked against it
    assert r.acr_eular_2023["entry"]["met"] is None
    assert any("cardiac valve finding" in m and "has no date" in m for m in r.acr_eular_2023["missing"])
    assert r.facts()["aps.sydney_2006"] is False
    plats = [{"test": "platelet_count", "value": 90, "unit": "x10^9/L", "date": "2024-10-01"}]
    p = make(findings=f, labs=[la("2024-09-02"), la("2024-12-09")] + NEGATIVE_PANEL + plats)
    r = classify(p, KB.tests)
    assert r.acr_eular_2023["status"] == "met"
    assert r.facts()["aps.acr_eular_2023"] is True and r.facts()["aps.any_met"] is True
    assert r.facts()["aps.sydney_2006"] is False
