"""Drug and brand names, current medications and country codes as charts write them."""

import pytest

from rplnav.patient import InputError, parse_patient

from ..conftest import base_patient


def parse(kb, **over):
    return parse_patient(base_patient(**over), kb.tests, set(kb.therapies), kb=kb).patient


def problems(kb, **over):
    with pytest.raises(InputError) as e:
        parse_patient(base_patient(**over), kb.tests, set(kb.therapies), kb=kb)
    return e.value.problems


@pytest.mark.parametrize("name,therapy", [
    ("enoxaparin", "lmwh"), ("Clexane", "lmwh"), ("LOVENOX", "lmwh"), ("dalteparin", "lmwh"), ("Fragmin", "lmwh"),
    ("tinzaparin", "lmwh"), ("unfractionated heparin", "lmwh"), ("prednisone", "prednisolone"),
    ("Prednisolone", "prednisolone"), ("Utrogestan", "progesterone"), ("Crinone", "progesterone"),
    ("cyclogest", "progesterone"), ("Duphaston", "dydrogesterone"), ("dydrogesterone", "dydrogesterone"),
    ("Gammagard", "ivig"), ("Privigen", "ivig"), ("octagam", "ivig"), ("Plaquenil", "hydroxychloroquine"),
    ("Eltroxin", "levothyroxine"), ("Synthroid", "levothyroxine"), ("aspirin 75 mg", "aspirin"),
    ("Aspirin  81 mg", "aspirin"), ("aspirin 100 mg", "aspirin"), ("aspirin 75mg", "aspirin"), ("ivig", "ivig"),
])
def test_names_map_to_therapy_ids(kb, name, therapy):
    p = parse(kb, pregnancies=[{"outcome": "miscarriage", "gestational_age": 7, "treatments": [name]}],
              medications=[name])
    assert p.pregnancies[0].treatments == [therapy]
    assert p.medications == [therapy]


def test_progestogens_stay_apart(kb):
    p = parse(kb, medications=["Utrogestan", "Duphaston"])
    assert p.medications == ["progesterone", "dydrogesterone"]


def test_two_names_of_one_therapy_count_once(kb):
    p = parse(kb, pregnancies=[{"outcome": "miscarriage", "treatments": ["Clexane", "enoxaparin", "aspirin"]}])
    assert p.pregnancies[0].treatments == ["lmwh", "aspirin"]


def test_unknown_name_names_the_field_and_suggests(kb):
    (msg,) = problems(kb, pregnancies=[{"outcome": "miscarriage"}, {"outcome": "miscarriage",
                                                                    "treatments": ["aspirin", "Clexan"]}])
    assert msg.startswith("pregnancies[1].treatments[1]: 'Clexan' is not a known drug name")
    assert "'Clexane'" in msg


def test_unknown_medication_is_an_error(kb):
    (msg,) = problems(kb, medications=["levothyroxin", "paracetamolx"])[:1]
    assert msg.startswith("medications[0]:") and "levothyroxine" in msg


def test_medications_absent_is_not_documented_and_empty_is_none(kb):
    assert parse(kb).medications is None
    assert parse(kb, medications=[]).medications == []


def test_country_uk_suggests_gb(kb):
    (msg,) = problems(kb, country="UK")
    assert msg == "country: 'UK' is not an ISO 3166-1 alpha-2 code; use 'GB'"


@pytest.mark.parametrize("bad,hint", [("XX", "is not an ISO 3166-1 alpha-2 country code"), ("gb", "upper case: 'GB'")])
def test_country_checked_against_the_list(kb, bad, hint):
    (msg,) = problems(kb, country=bad)
    assert msg.startswith("country:") and hint in msg


def test_known_countries_pass(kb):
    assert parse(kb, country="GB").country == "GB"
    assert parse(kb, country="NO").country == "NO"


def test_cli_exit_2_for_unknown_drug(tmp_path):
    import subprocess
    import sys

    f = tmp_path / "p.yaml"
    f.write_text("schema: rplnav.patient/v1\nid: x\nage: 30\nmedications: [Clexan]\n")
    r = subprocess.run([sys.executable, "-m", "rplnav.cli", "assess", str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and "medications[0]" in r.stderr and "Clexane" in r.stderr


def test_lab_note_is_shown_next_to_its_result_in_every_format(kb, engine):
    from rplnav.render.html import render_html
    from rplnav.render.markdown import assessment_markdown
    from rplnav.render.terminal import render_terminal

    p = parse_patient(base_patient(labs=[{"test": "anticardiolipin_igm", "value": 28, "unit": "MPL",
                                          "reference_high": 20, "note": "low positive", "date": "2025-01-10"}],
                                   medications=[]), kb.tests, set(kb.therapies), kb=kb)
    a = engine.assess(p)
    assert a["results"] == [{"test": "anticardiolipin_igm", "name": "Anticardiolipin IgM", "date": "2025-01-10",
                             "value": 28.0, "unit": "MPL", "reference_high": 20.0, "note": "low positive"}]
    assert a["medications"] == []
    for text in (assessment_markdown(a), render_terminal(a, color=False), render_html(a)):
        line = next(li for li in text.splitlines() if "low positive" in li)
        assert "28 MPL" in line
        assert "Current medications: none" in text or "current medications: none" in text


def test_monograph_lists_the_names_a_chart_may_use(kb):
    from rplnav.monograph import build_monograph, render_monograph

    m = build_monograph(kb, "lmwh")
    names = {n for d in m["drug_names"] for n in d["names"]}
    assert {"Clexane", "Fragmin", "tinzaparin"} <= names
    assert "Clexane" in render_monograph(m, "md")
