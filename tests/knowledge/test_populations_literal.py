"""Populations as the sources word them (issue 11, item 4).

Each patient is written as her clinic note reads; each test names the source wording it checks and would fail
if the population were coded the old way (full classification for 'laboratory criteria', an APS gate the
source does not state, luteal-phase statements for every woman, RCOG's scope read as its definition, a
prognosis model outside its own population or read from the younger age row).
"""

from __future__ import annotations

from typing import Any

from tests.knowledge.conftest import stance, sydney_obstetric_aps, unexplained


def _la_persistent() -> list[dict[str, Any]]:
    """'LA positive (dRVVT) 10/01/2025, repeat positive 20/04/2025' — nothing else of the aPL panel reported."""
    return [{"test": "lupus_anticoagulant", "result": "positive", "date": "2025-01-10"},
            {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-04-20"}]


# --------------------------------------------------------------------- ESHRE: laboratory criteria, not classification

def test_eshre_aps_statement_reads_laboratory_criteria_with_three_losses(assess):
    """Note: 'G4 P1. Miscarriages at 7 and 8 weeks (2021), term SVD 2022, miscarriage at 6 weeks (2024).
    LA positive twice, 14 weeks apart.' Three losses, not consecutive: no Sydney clinical criterion, but
    ESHRE's statement asks for the laboratory criteria of APS and three or more losses (ESHRE 2017 table
    hoy004TB13 row 2; seed 002 'ESHRE 2022: heparin + ASA')."""
    a = assess(pregnancies=[
        {"outcome": "miscarriage", "gestational_age": 7, "date": "2021-02"},
        {"outcome": "miscarriage", "gestational_age": 8, "date": "2021-08"},
        {"outcome": "live_birth", "gestational_age": 39, "date": "2022-09"},
        {"outcome": "miscarriage", "gestational_age": 6, "date": "2024-05"},
    ], labs=_la_persistent())
    assert a["aps"]["sydney-2006"]["status"] != "met"
    s = stance(a, "eshre-aps-3losses-aspirin-heparin")
    assert s["applies"] is True
    assert "apl.laboratory_criteria = true" in s["because"]


def test_eshre_two_loss_research_statement_reads_laboratory_criteria(assess):
    """Note: 'Two miscarriages at 6 and 9 weeks. LA positive on two occasions 14 weeks apart.' Two early losses
    can never meet Sydney's clinical criterion, so ESHRE's 'APS and two pregnancy losses' (GPP: anticoagulation
    only in research) is about the laboratory criteria."""
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": 6, "date": "2023-03"},
                            {"outcome": "miscarriage", "gestational_age": 9, "date": "2024-01"}],
               labs=_la_persistent())
    assert stance(a, "eshre-aps-2losses-research")["applies"] is True
    assert stance(a, "eshre-aps-3losses-aspirin-heparin")["applies"] is False


def test_eshre_thrombophilia_statement_is_not_gated_on_apl_being_excluded(assess):
    """Note: 'Three miscarriages at 7, 8 and 7 weeks. LA positive x2 (14 weeks apart). Factor V Leiden
    heterozygous.' ESHRE's statement is for 'hereditary thrombophilia and a history of RPL'; it does not say
    'without APS', so it speaks to her whether or not APS is classified (here it cannot yet be: her notes do not
    say whether other causes were excluded)."""
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": g, "date": d}
                            for g, d in ((7, "2022-01"), (8, "2022-09"), (7, "2023-06"))],
               labs=_la_persistent() + [{"test": "factor_v_leiden", "result": "positive", "date": "2025-01-10"}])
    for rec in ("eshre-thrombophilia-no-prophylaxis", "eshre-thrombophilia-no-lmwh"):
        s = stance(a, rec)
        assert s["applies"] is True
        assert "aps_definition" not in s  # no APS criteria set is read by this population any more


def test_eshre_thrombophilia_statement_reaches_a_woman_with_aps(assess):
    """Obstetric APS (Sydney 2006) and a factor V Leiden result: both ESHRE statements speak to her."""
    fields = sydney_obstetric_aps()
    fields["labs"] = fields["labs"] + [{"test": "factor_v_leiden", "result": "positive", "date": "2024-09-02"}]
    a = assess(**fields)
    assert a["facts"]["aps.sydney_2006"] is True
    assert stance(a, "eshre-thrombophilia-no-prophylaxis")["applies"] is True
    assert stance(a, "eshre-aps-3losses-aspirin-heparin")["applies"] is True


def test_eshre_thrombophilia_statement_needs_a_history_of_rpl(assess):
    """Note: 'One miscarriage at 8 weeks; prothrombin G20210A found on family screening.' One loss is not RPL."""
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": 8, "date": "2024-02"}],
               labs=[{"test": "prothrombin_g20210a", "result": "positive", "date": "2025-01-10"}])
    assert stance(a, "eshre-thrombophilia-no-prophylaxis")["applies"] is False


# --------------------------------------------------------------------- luteal-phase insufficiency is its own fact

def _bleeding_now() -> dict[str, Any]:
    """Note: 'Three miscarriages (7, 6, 8 weeks). Now 6+3 by dates, IUP with FH seen on scan, fresh PV bleeding
    since yesterday.'"""
    return {
        "pregnancies": [{"outcome": "miscarriage", "gestational_age": g, "date": d}
                        for g, d in ((7, "2022-01"), (6, "2022-10"), (8, "2023-09"))],
        "current": {"gestational_age": "6+3", "intrauterine_confirmed": True, "fetal_heart_activity": True,
                    "bleeding": True},
    }


def test_luteal_phase_statements_do_not_reach_a_bleeding_woman_without_that_diagnosis(assess):
    a = assess(**_bleeding_now())
    # NICE NG126 speaks to her (bleeding + a previous miscarriage): offer progesterone
    assert stance(a, "nice-progesterone-bleeding")["applies"] is True
    for rec in ("eshre-progesterone-lpi", "eshre-hcg"):
        assert stance(a, rec)["applies"] is False  # not documented: taken as absent, and said so
    lpi = [x for x in a["assumptions"] if x["confirm"] == "findings.luteal_phase_insufficiency"]
    assert lpi and "stance.eshre-hcg" in lpi[0]["decisions"]


def test_luteal_phase_statements_apply_when_the_diagnosis_is_recorded(assess):
    """Note: 'Luteal-phase defect diagnosed on mid-luteal progesterone (referring clinic).'"""
    a = assess(**_bleeding_now(), findings={"luteal_phase_insufficiency": True})
    assert stance(a, "eshre-progesterone-lpi")["applies"] is True
    assert stance(a, "eshre-hcg")["applies"] is True
    b = assess(**_bleeding_now(), findings={"luteal_phase_insufficiency": False})
    assert stance(b, "eshre-hcg")["applies"] is False


# --------------------------------------------------------------------- RCOG: scope apart from the definition

def test_rcog_scope_covers_a_second_trimester_loss(assess):
    """Note: 'Miscarriage at 8 weeks (2022); second-trimester loss at 18+2 weeks (2024).' She does not meet
    RCOG's definition (three first-trimester miscarriages) but is inside the scope of both editions, which
    cover one or more second-trimester losses (Green-top 17, 2011 and 2023: scope)."""
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": 8, "date": "2022-04"},
                            {"outcome": "miscarriage", "gestational_age": "18+2", "date": "2024-06"}])
    for gid in ("RCOG-2023", "RCOG-2011"):
        r = a["rpl"][gid]
        assert r["meets"] is False  # the definition: three first-trimester miscarriages (2023)
        assert r["in_scope"] is True  # never a bare 'no' for a woman inside its scope
        assert "scope" in r["reason"]
    assert a["facts"]["rpl.rcog_2011"] is True and a["facts"]["rpl.rcog_2023"] is True
    # RCOG 2011 statements for 'recurrent miscarriage' speak to her (they said 'no' on a count of three losses)
    assert stance(a, "rcog11-progesterone")["applies"] is True
    assert stance(a, "rcog11-supportive-care")["applies"] is True


def test_rcog_scope_is_false_for_two_early_losses(assess):
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": 8, "date": "2022-04"},
                            {"outcome": "miscarriage", "gestational_age": 6, "date": "2024-06"}])
    assert a["rpl"]["RCOG-2023"]["in_scope"] is False and a["rpl"]["RCOG-2023"]["meets"] is False
    assert "in_scope" not in a["rpl"]["ESHRE-2022"]  # only RCOG has a scope wider than its definition
    assert stance(a, "rcog11-progesterone")["applies"] is False


def test_rcog_no_bleeding_progesterone_statement_is_for_unexplained_miscarriage(assess):
    """RCOG 2023 (news release): insufficient evidence for progesterone in asymptomatic women with
    *unexplained* recurrent miscarriage; a woman with obstetric APS, not pregnant, is not in that population."""
    a = assess(**sydney_obstetric_aps())
    assert stance(a, "rcog23-progesterone-no-bleeding")["applies"] is False
    b = assess(**unexplained(3))
    assert stance(b, "rcog23-progesterone-no-bleeding")["applies"] is True


# --------------------------------------------------------------------- prognosis: Brigham 1999's own population

def test_prognosis_interpolates_between_age_rows(assess):
    """A 33-year-old with two unexplained losses lies between the age-30 (84%) and age-35 (77%) cells: both are
    shown and the estimate is the linear interpolation (84 - 7 x 3/5 = 79.8), not the age-30 cell."""
    p = assess(age=33, **unexplained(2))["prognosis"]
    assert p["applies"] is True
    assert [(c["age"], c["live_birth_percent"]) for c in p["bracket"]] == [(30, 84), (35, 77)]
    assert p["next_pregnancy_live_birth_percent"] == 79.8
    assert "interpolation" in p["method"] and "interpolation" in p["note"]
    assert p["verified"] is True  # both cells were read in the secondary source


def test_prognosis_on_an_age_row_uses_that_cell(assess):
    p = assess(age=35, **unexplained(2))["prognosis"]
    assert p["next_pregnancy_live_birth_percent"] == 77
    assert p["cell"] == {"age": 35, "losses": 2}


def test_prognosis_not_shown_outside_the_table_ages(assess):
    p = assess(age=47, **unexplained(2))["prognosis"]
    assert p["next_pregnancy_live_birth_percent"] is None
    assert "45" in p["note"]


def test_prognosis_not_shown_with_a_septate_uterus(assess):
    """Note: '3 miscarriages; 3D US: septate uterus.'"""
    fields = unexplained(3)
    fields["findings"] = {**fields["findings"], "uterus": "septate"}
    p = assess(**fields)["prognosis"]
    assert p["next_pregnancy_live_birth_percent"] is None and p["applies"] is False
    assert "uterine anomaly" in p["note"]


def test_prognosis_not_shown_with_a_parental_translocation(assess):
    """Note: 'Partner karyotype 46,XY,t(11;22) balanced.'"""
    fields = unexplained(3)
    fields["findings"] = {**fields["findings"], "parental_karyotype": "balanced_translocation"}
    p = assess(**fields)["prognosis"]
    assert p["next_pregnancy_live_birth_percent"] is None
    assert "parental chromosomal" in p["note"]


def test_prognosis_not_shown_after_a_16_week_loss(assess):
    """Note: 'Miscarriages at 7 and 8 weeks; loss at 16+1 weeks (2024).' Brigham excluded mid-trimester loss."""
    fields = unexplained(2)
    fields["pregnancies"] = fields["pregnancies"] + [
        {"outcome": "miscarriage", "gestational_age": "16+1", "date": "2024-10"}]
    p = assess(**fields)["prognosis"]
    assert p["next_pregnancy_live_birth_percent"] is None
    assert "14 weeks or later" in p["note"]


def test_prognosis_not_shown_with_aps(assess):
    """Obstetric APS (three losses before 10 weeks, LA positive twice 14 weeks apart, work-up otherwise normal)."""
    p = assess(**sydney_obstetric_aps())["prognosis"]
    assert p["next_pregnancy_live_birth_percent"] is None and p["applies"] is False
    assert "antiphospholipid syndrome" in p["note"]


def test_prognosis_undecided_population_is_said_and_names_what_to_record(assess):
    """Note: 'Two miscarriages at 7 and 8 weeks; TSH 1.8 (0.4-4.0); aPL screen negative x2. Uterus not yet
    imaged.' Whether her losses are unexplained is not known, so no estimate is shown (it may not be hers) and
    the note says what to record."""
    fields = unexplained(2)
    fields["findings"] = {"parental_karyotype": "normal", "thromboses": []}
    p = assess(**fields)["prognosis"]
    assert p["applies"] is None and p["next_pregnancy_live_birth_percent"] is None
    assert "rpl.unexplained" in p["needs"] and "not yet known" in p["note"]


def test_prognosis_with_untested_parental_karyotypes_is_shown_and_says_so(assess):
    """Unexplained RPL, parental karyotypes not done (not routine in ESHRE 2022): the estimate is shown, with the
    study's exclusion of an abnormal parental karyotype stated."""
    fields = unexplained(2)
    fields["findings"] = {"uterus": "normal", "thromboses": []}
    p = assess(**fields)["prognosis"]
    assert p["applies"] is True and p["next_pregnancy_live_birth_percent"] is not None
    assert "parental karyotypes are not recorded" in p["note"]
