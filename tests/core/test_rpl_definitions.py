"""Each guideline's definition of RPL, on cases built from the definitions' wording."""

from rplnav.criteria.rpl_definitions import evaluate
from rplnav.knowledge.load import default_knowledge

_DEFS = default_knowledge().rpl_definitions


def _by(gid):
    return lambda pregs: evaluate(_DEFS[gid], pregs)


eshre_2022, asrm_2012, rcog_2011, rcog_2023, asri_2025 = (
    _by(g) for g in ("ESHRE-2022", "ASRM-2012", "RCOG-2011", "RCOG-2023", "ASRI-2025"))


def pregs(make, *items):
    return make(pregnancies=list(items)).patient.pregnancies


def test_two_losses_one_biochemical(make):
    """ESHRE counts hCG-confirmed losses; ASRM counts clinical pregnancies only."""
    p = pregs(make, {"outcome": "biochemical"}, {"outcome": "miscarriage", "gestational_age": 7})
    assert eshre_2022(p).meets is True
    assert asrm_2012(p).meets is False
    assert rcog_2023(p).meets is False
    assert asri_2025(p).meets is None  # the seed's two wordings disagree for her
    assert "non-visualised" in eshre_2022(p).reason


def test_ectopic_and_molar_do_not_count_for_eshre(make):
    p = pregs(make, {"outcome": "ectopic"}, {"outcome": "molar"}, {"outcome": "miscarriage", "gestational_age": 6})
    r = eshre_2022(p)
    assert r.meets is False and r.counted == 1


def test_rcog_2011_needs_consecutive(make):
    interrupted = pregs(make, {"outcome": "miscarriage", "gestational_age": 7}, {"outcome": "miscarriage", "gestational_age": 8},
                        {"outcome": "live_birth", "gestational_age": 39}, {"outcome": "miscarriage", "gestational_age": 7})
    assert rcog_2011(interrupted).meets is False
    assert rcog_2023(interrupted).meets is True  # 2023: not necessarily consecutive


def test_rcog_2023_first_trimester_only(make):
    p = pregs(make, {"outcome": "miscarriage", "gestational_age": "13+6"}, {"outcome": "miscarriage", "gestational_age": 8},
              {"outcome": "miscarriage", "gestational_age": "14+0"})
    r = rcog_2023(p)
    assert r.meets is False and r.counted == 2
    assert "second-trimester" in r.reason


def test_undecidable_without_gestational_age(make):
    p = pregs(make, {"outcome": "miscarriage", "gestational_age": 7}, {"outcome": "miscarriage", "gestational_age": 8},
              {"outcome": "miscarriage"})
    assert rcog_2023(p).meets is None
    assert eshre_2022(p).meets is True


def test_stillbirth_at_or_after_24_weeks_not_a_miscarriage(make):
    p = pregs(make, {"outcome": "stillbirth", "gestational_age": 30}, {"outcome": "miscarriage", "gestational_age": 7})
    assert eshre_2022(p).meets is False


def test_every_coded_definition_is_data_that_kb_check_validates(kb, tmp_path):
    """A guideline naming a definition that does not exist, or a reason naming a count that is not
    computed, is a knowledge-base error, not a crash at assessment time."""
    import shutil

    import yaml

    from rplnav.knowledge.load import KNOWLEDGE_DIR, load

    assert {g.definition_algorithm for g in kb.guidelines.values() if g.definition_algorithm} <= set(kb.rpl_definitions)
    shutil.copytree(KNOWLEDGE_DIR, tmp_path / "kb", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = tmp_path / "kb" / "rpl-definitions.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["rpl_definitions"][0]["reason"] += " {no_such_count}"
    doc["rpl_definitions"][1]["id"] = "ASRM-2099"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    _, problems = load(tmp_path / "kb", strict=False)
    assert any("no_such_count" in p for p in problems)
    assert any("definition_algorithm 'ASRM-2012'" in p for p in problems)


def test_changing_the_threshold_in_yaml_changes_the_answer(make):
    """The counter has no number of its own: ESHRE at 'three or more' would not count two losses."""
    p = pregs(make, {"outcome": "miscarriage", "gestational_age": 7}, {"outcome": "miscarriage", "gestational_age": 8})
    d = _DEFS["ESHRE-2022"]
    stricter = d.model_copy(update={"readings": [d.readings[0].model_copy(update={"at_least": 3})]})
    assert evaluate(d, p).meets is True and evaluate(stricter, p).meets is False
