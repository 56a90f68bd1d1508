"""Bad input: every problem at once, each with its field path; warnings for implausible combinations."""

import subprocess
import sys

import pytest

from rplnav.patient import InputError, load_document, parse_patient

from ..conftest import base_patient


def problems(kb, **over):
    with pytest.raises(InputError) as e:
        parse_patient(base_patient(**over), kb.tests, set(kb.therapies))
    return e.value.problems


def test_unit_that_does_not_fit_the_test(kb):
    p = problems(kb, labs=[{"test": "tsh", "value": 2, "unit": "mIU/L"}] * 3 + [{"test": "tsh", "value": 2, "unit": "furlongs"}])
    assert p == ["labs[3].unit: 'furlongs' is not a unit for tsh; expected mIU/L or mU/L or uIU/mL or µIU/mL"]


def test_unknown_test_id_suggests_closest(kb):
    (msg,) = problems(kb, labs=[{"test": "lupus_anticoagulent", "result": "positive"}])
    assert msg.startswith("labs[0].test:") and "did you mean 'lupus_anticoagulant'" in msg


def test_unknown_key_suggests_closest(kb):
    (msg,) = problems(kb, pregnancies=[{"outcome": "miscarriage", "gestatonal_age": 7}])
    assert msg == "pregnancies[0].gestatonal_age: unknown key (did you mean 'gestational_age'?)"


def test_all_problems_reported_together(kb):
    p = problems(kb, age=3, pregnancies=[{"outcome": "miscarriage", "gestational_age": 60, "date": "2999-01"}],
                 labs=[{"test": "anticardiolipin_igg", "value": -5, "unit": "GPL"}])
    joined = "\n".join(p)
    assert len(p) == 4
    assert "age:" in joined and "pregnancies[0].gestational_age" in joined
    assert "pregnancies[0].date: '2999-01' is in the future" in joined
    assert "labs[0].value: -5 GPL is impossible" in joined


def test_strict_types(kb):
    (msg,) = problems(kb, age="thirty")
    assert msg.startswith("age:")
    (msg,) = problems(kb, current={"bleeding": "yes"})
    assert msg.startswith("current.bleeding:")


def test_contradictions_rejected(kb):
    (msg,) = problems(kb, pregnancies=[{"outcome": "biochemical", "fetal_heart_activity": True}])
    assert "pregnancies[0]" in msg and "fetal_heart_activity" in msg


def test_qualitative_vs_quantitative(kb):
    p = problems(kb, labs=[{"test": "lupus_anticoagulant", "value": 3, "unit": "GPL"},
                           {"test": "tsh", "result": "borderline"},
                           {"test": "factor_v_leiden", "result": "maybe"}])
    assert any(x.startswith("labs[0].value") for x in p)
    assert any(x.startswith("labs[1].result") for x in p)
    assert any(x.startswith("labs[2].result") for x in p)


def test_unknown_therapy_in_history(kb):
    (msg,) = problems(kb, pregnancies=[{"outcome": "miscarriage", "treatments": ["asprin"]}])
    assert msg.startswith("pregnancies[0].treatments[0]") and "did you mean 'aspirin'" in msg


def test_units_are_normalised(make):
    p = make(labs=[{"test": "vitamin_d_25oh", "value": 50, "unit": "nmol/L"},
                   {"test": "hba1c", "value": 48, "unit": "mmol/mol"},
                   {"test": "prolactin", "value": 424, "unit": "mIU/L"}]).patient
    vd, a1c, prl = p.labs
    assert vd.value == pytest.approx(20.03, abs=0.01) and vd.unit == "ng/mL"
    assert a1c.value == pytest.approx(6.543, abs=0.001) and a1c.unit == "%"
    assert prl.value == pytest.approx(20.0, abs=0.01)


def test_warnings_not_rejections(make):
    parsed = make(pregnancies=[{"outcome": "live_birth", "gestational_age": 20}])
    assert any("live birth at 20+0" in w for w in parsed.warnings)


def test_malformed_yaml_and_json_name_line_and_column():
    with pytest.raises(InputError) as e:
        load_document("a: 1\nb: [1,\n", "f.yaml")
    assert "f.yaml: line" in e.value.problems[0] and "column" in e.value.problems[0]
    with pytest.raises(InputError) as e:
        load_document('{"a": 1,,}', "f.json")
    assert e.value.problems[0].startswith("f.json: line 1, column 9")


def test_cli_exit_code_and_no_traceback(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("schema: rplnav.patient/v1\nid: x\nage: 30\nlabs: [{test: tsh, value: 3, unit: furlongs}]\n")
    r = subprocess.run([sys.executable, "-m", "rplnav.cli", "assess", str(f)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "labs[0].unit: 'furlongs' is not a unit for tsh" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_contradictory_results_same_day(kb):
    (msg,) = problems(kb, labs=[{"test": "lupus_anticoagulant", "result": "positive", "date": "2025-01-02"},
                                {"test": "lupus_anticoagulant", "result": "negative", "date": "2025-01-02"}])
    assert msg.startswith("labs[1]:") and "labs[0]" in msg


def test_investigations_belong_under_findings(kb):
    (msg,) = problems(kb, labs=[{"test": "parental_karyotype", "result": "positive"}])
    assert "findings.parental_karyotype" in msg
