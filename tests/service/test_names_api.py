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
