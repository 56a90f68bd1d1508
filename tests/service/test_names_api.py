"""The REST API rejects an unknown drug name and a non-ISO country with a 422 naming the field."""

from ..conftest import base_patient


def test_api_422_for_unknown_drug(client):
    r = client.post("/api/v1/assess", json=base_patient(medications=["Gamagard"]))
    assert r.status_code == 422
    assert "medications[0]" in r.text and "Gammagard" in r.text


def test_api_422_for_uk(client):
    r = client.post("/api/v1/assess", json=base_patient(country="UK"))
    assert r.status_code == 422 and "'GB'" in r.text


def test_api_accepts_brand_names(client):
    r = client.post("/api/v1/assess", json=base_patient(
        medications=["Eltroxin"], pregnancies=[{"outcome": "miscarriage", "treatments": ["Clexane"]}] * 2))
    assert r.status_code == 200, r.text


def test_web_form_medications_keep_not_documented_apart_from_none():
    from rplnav.service.web import form_to_patient

    base = {"id": ["x"], "age": ["33"]}
    assert "medications" not in form_to_patient({**base, "medications_known": [""], "medications": [""]})
    assert form_to_patient({**base, "medications_known": ["none"]})["medications"] == []
    assert form_to_patient({**base, "medications": ["Clexane, aspirin 75 mg"]})["medications"] == \
        ["Clexane", "aspirin 75 mg"]


def test_web_form_defaults_the_medication_list_to_not_documented(client):
    import re

    page = client.get("/").text
    select = re.search(r'<select name="medications_known">(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)" selected', select) in ([], [""])


def test_web_form_keeps_a_lab_comment(client):
    from rplnav.service.web import form_to_patient

    doc = form_to_patient({"id": ["x"], "age": ["33"], "labs.0.test": ["anticardiolipin_igm"],
                           "labs.0.value": ["28"], "labs.0.unit": ["MPL"], "labs.0.note": ["low positive"]})
    assert doc["labs"] == [{"test": "anticardiolipin_igm", "value": 28, "unit": "MPL", "note": "low positive"}]
    assert 'name="labs.__i__.note"' in client.get("/").text
