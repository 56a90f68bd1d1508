"""Issue 13, holes 4 and 8: finite numbers only, ASCII digits only, every refusal names its field; CLI exit 2."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from rplnav.cli import app as cli_app
from rplnav.gestation import parse_gestational_age
from rplnav.interop.fhir import FhirIntake
from rplnav.partial_date import PartialDate
from rplnav.patient import InputError, parse_patient

from ..conftest import base_patient


def problems(kb, doc):
    with pytest.raises(InputError) as e:
        parse_patient(doc, kb.tests, set(kb.therapies))
    return e.value.problems


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_with_their_field(kb, bad):
    doc = base_patient(labs=[{"test": "tsh", "value": bad, "unit": "mIU/L"},
                             {"test": "tsh", "value": 2.0, "unit": "mIU/L", "reference_high": bad}],
                       findings={"thrombocytopenia_lowest": bad}, lifestyle={"bmi": bad})
    fields = {p.split(":")[0] for p in problems(kb, doc)}
    assert {"labs[0].value", "labs[1].reference_high", "findings.thrombocytopenia_lowest",
            "lifestyle.bmi"} <= fields


@pytest.mark.parametrize("bad", ["inf", "nan", "-inf", math.inf, math.nan, "1e400"])
def test_gestational_age_not_finite_names_the_field(kb, bad):
    doc = base_patient(pregnancies=[{"outcome": "miscarriage", "gestational_age": bad}])
    (p,) = problems(kb, doc)
    assert p.startswith("pregnancies[0].gestational_age: ")


@pytest.mark.parametrize("text", ["６+１", "6+１", "٦+٢", "６", "６.３", "1_0", " 7e0"])
def test_gestational_age_takes_ascii_digits_only(text):
    with pytest.raises(ValueError, match="is not a gestational age"):
        parse_gestational_age(text)


def test_gestational_age_ascii_forms_still_work():
    assert [parse_gestational_age(t) for t in ("6+2", " 6 + 2 ", "7", "6.3", 6.3, 7)] == [44, 44, 49, 44, 44, 49]


@pytest.mark.parametrize("text", ["２０２４-01-02", "2024-０1", "２０２４", "٢٠٢٤-01-02"])
def test_dates_take_ascii_digits_only(text):
    with pytest.raises(ValueError, match="is not a date"):
        PartialDate.parse(text)


def test_fhir_impossible_birth_date_is_named(kb):
    intake = FhirIntake(kb.tests, set(kb.therapies))
    doc = intake.convert({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "2024-02-30", "gender": "female"}}]})
    assert "age" not in doc
    assert any("birthDate" in n and "'2024-02-30' is not a calendar date" in n for n in intake.not_used)


@pytest.mark.parametrize(("text", "expect"), [
    ("schema: rplnav.patient/v1\nid: a\nage: 33\nlabs:\n  - {test: tsh, value: .nan, unit: mIU/L}\n",
     "is not a finite number"),
    ('{"schema": "rplnav.patient/v1", "id": "a", "age": 33, "labs": [{"test": "tsh", "value": NaN, '
     '"unit": "mIU/L"}]}', "is not a finite number"),
    ("schema: rplnav.patient/v1\nid: a\nage: 33\npregnancies:\n  - {outcome: miscarriage, gestational_age: inf}\n",
     "pregnancies[0].gestational_age:"),
    ("schema: rplnav.patient/v1\nid: a\nage: 33\npregnancies:\n  - {outcome: miscarriage, date: 2024-02-30}\n",
     "pregnancies[0].date: '2024-02-30' has day 30"),
])
def test_cli_exit_2_never_nan(tmp_path, text, expect):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    r = CliRunner().invoke(cli_app, ["assess", str(f), "--format", "json"])
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert expect in r.stderr and "NaN" not in r.stdout and "Traceback" not in r.output


def test_cli_fhir_impossible_birth_date_exits_2(tmp_path):
    f = tmp_path / "b.json"
    f.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "2024-02-30", "gender": "female"}}]}))
    r = CliRunner().invoke(cli_app, ["assess", str(f)])
    assert r.exit_code == 2 and "birthDate" in r.stderr
