"""The APS classifiers hold no number of their own: thresholds, windows, weights and wording come from
aps-criteria.yaml, and kb check refuses a rule set that lacks what the classifier reads."""

from __future__ import annotations

import shutil

import yaml

from rplnav.criteria.aps import ACR_EULAR, SYDNEY, ApsRules, classify
from rplnav.knowledge.load import KNOWLEDGE_DIR, load
from tests.criteria.test_aps_sydney import CLEAN, KB, LA_PERSISTENT, THREE_EARLY, make


def _rules(set_id: str, **changes) -> ApsRules:
    sets = dict(KB.aps_criteria)
    s = sets[set_id]
    sets[set_id] = s.model_copy(update={"parameters": {**s.parameters, **changes}})
    return ApsRules.from_sets(sets)


def _with_weight(cid: str, points: int) -> ApsRules:
    sets = dict(KB.aps_criteria)
    s = sets[ACR_EULAR]
    crits = [c.model_copy(update={"points": points}) if c.id == cid else c for c in s.criteria]
    sets[ACR_EULAR] = s.model_copy(update={"criteria": crits})
    return ApsRules.from_sets(sets)


def _obstetric_aps():
    return make(pregnancies=THREE_EARLY, labs=LA_PERSISTENT, findings=CLEAN, conditions=[])


def test_the_bundled_rules_classify_the_worked_example():
    rep = classify(_obstetric_aps(), KB.tests, rules=ApsRules.from_sets(KB.aps_criteria))
    assert rep.sydney_2006["status"] == "met"
    # 2023: three early losses score 1 clinical point (D4), so she is not classified
    assert rep.acr_eular_2023["clinical_points"] == 1 and rep.acr_eular_2023["status"] == "not_met"


def test_a_weight_changed_in_the_data_changes_the_score():
    rep = classify(_obstetric_aps(), KB.tests, rules=_with_weight("acr2023.D4.consecutive_early_deaths", 3))
    assert rep.acr_eular_2023["clinical_points"] == 3
    assert rep.acr_eular_2023["clinical"][0]["points"] == 3


def test_a_window_changed_in_the_data_changes_the_criterion():
    # Sydney 2(c) counts losses before 10 weeks; with the limit at 7 weeks only one of her three losses counts
    rep = classify(_obstetric_aps(), KB.tests, rules=_rules(SYDNEY, early_loss_before_weeks=7))
    assert rep.sydney_2006["status"] == "not_met"


def test_the_wording_reported_is_the_data(tmp_path):
    rep = classify(_obstetric_aps(), KB.tests)
    spec = {c.id: c for c in KB.aps_criteria[SYDNEY].criteria}
    for entry in rep.sydney_2006["clinical"] + rep.sydney_2006["laboratory"]:
        assert entry["text"] == spec[entry["id"]].text
        assert entry["source"]["locator"] == spec[entry["id"]].locator
        assert entry["source"]["document"] == "miyakis-2006"


def test_kb_check_reports_a_missing_parameter_or_criterion(tmp_path):
    shutil.copytree(KNOWLEDGE_DIR, tmp_path / "kb", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = tmp_path / "kb" / "aps-criteria.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["aps_criteria"][0]["parameters"]["timing_max_years"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    _, problems = load(tmp_path / "kb", strict=False)
    assert any("aps-criteria.yaml" in p and "timing_max_years" in p for p in problems)
    doc = yaml.safe_load(path.read_text())
    doc["aps_criteria"][0]["parameters"]["timing_max_years"] = 5
    doc["aps_criteria"][1]["criteria"] = doc["aps_criteria"][1]["criteria"][1:]
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    _, problems = load(tmp_path / "kb", strict=False)
    assert any("acr2023.D1.with_high_risk_profile" in p for p in problems)


def test_the_rule_sets_cite_sources_that_exist():
    for s in KB.aps_criteria.values():
        assert s.source.document in KB.sources


def test_a_tissue_karyotype_stands_for_the_parents_as_rcog_2023_reads_it():
    """Sydney 2(c) needs parental chromosomal causes excluded. Without a parental karyotype, a pregnancy-tissue
    result without an unbalanced structural abnormality decides it (RCOG 2023 karyotypes the parents only after
    such a result or when no tissue result exists); with no tissue result it stays undecided."""
    findings = {k: v for k, v in CLEAN.items() if k != "parental_karyotype"}
    untested = make(pregnancies=THREE_EARLY, labs=LA_PERSISTENT, findings=findings, conditions=[])
    euploid = [*THREE_EARLY[:2], {**THREE_EARLY[2], "poc_karyotype": "euploid"}]
    tested = make(pregnancies=euploid, labs=LA_PERSISTENT, findings=findings, conditions=[])
    assert classify(untested, KB.tests).sydney_2006["status"] == "indeterminate"
    rep = classify(tested, KB.tests)
    assert rep.sydney_2006["status"] == "met"
    assert "RCOG 2023" in rep.sydney_2006["note"]
    no_rule = dict(KB.aps_criteria)
    no_rule[SYDNEY] = no_rule[SYDNEY].model_copy(update={"parental_cause_by_tissue": None})
    assert classify(tested, KB.tests, rules=ApsRules.from_sets(no_rule)).sydney_2006["status"] == "indeterminate"
