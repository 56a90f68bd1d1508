"""REST API: assessment, problem+json errors, size limit, monographs, guidelines, knowledge."""

from __future__ import annotations

import json

import yaml

from tests.service.conftest import example

PROBLEM = "application/problem+json"


def test_assess_returns_the_assessment_document(client):
    r = client.post("/api/v1/assess", json=example("03"))
    assert r.status_code == 200
    a = r.json()
    assert a["schema"] == "rplnav.assessment/v1"
    assert a["patient_id"] == "demo-aps-obstetric"
    assert a["knowledge_version"].startswith("sha256:")
    assert a["aps"]["sydney-2006"]["status"] == "met"
    assert {o["therapy"] for o in a["options"]} >= {"ivig", "aspirin_lmwh"}
    assert r.headers["x-rplnav-report"].startswith("/reports/")
    assert r.headers["content-type"] == "application/json"
    # exactly the document the engine writes for the same record (the same values and key order)
    same = client.app.state.core.assess_doc(example("03")).to_dict()
    assert a == same and list(a) == list(same)


def test_assess_accepts_yaml(client):
    body = yaml.safe_dump(json.loads(json.dumps(example("01"))))
    r = client.post("/api/v1/assess", content=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    assert r.json()["patient_id"]


def test_guideline_filter_and_unknown_guideline(client):
    r = client.post("/api/v1/assess?guidelines=ESHRE-2022", json=example("03"))
    assert r.status_code == 200
    assert set(r.json()["rpl"]) == {"ESHRE-2022"}
    r = client.post("/api/v1/assess?guidelines=ESHRE-2029", json=example("03"))
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["problems"][0]["field"] == "guidelines"


def test_every_problem_is_listed_with_its_field_path(client):
    doc = {"schema": "rplnav.patient/v1", "id": "bad", "age": 3,
           "pregnancies": [{"outcome": "miscarage", "gestational_age": 60}],
           "labs": [{"test": "anticardiolipin_igg", "value": 55, "unit": "furlongs"}, {"test": "tshh"}]}
    r = client.post("/api/v1/assess", json=doc)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    fields = {p["field"] for p in body["problems"]}
    assert {"age", "labs[0].unit", "labs[1].test", "pregnancies[0].outcome"} <= fields, body
    assert body["status"] == 422 and body["title"]


def test_malformed_bodies_are_4xx_problems(client):
    cases = [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b'{"age": NaN}', "application/json", 400),
        (b"[" * 100000 + b"]" * 100000, "application/json", 400),
        (b"a: [1, 2", "application/yaml", 400),
        (b"<xml/>", "application/xml", 415),
        (b"[1, 2, 3]", "application/json", 422),
        (b'"just a string"', "application/json", 422),
        (b'{"resourceType": "Bundle", "entry": "nope"}', "application/json", 422),
        (b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "birthDate": 5}}]}',
         "application/json", 422),
    ]
    for body, ctype, status in cases:
        r = client.post("/api/v1/assess", content=body, headers={"Content-Type": ctype})
        assert r.status_code == status, (body[:40], r.status_code, r.text[:300])
        assert r.headers["content-type"] == PROBLEM


def test_request_size_limit_413(client):
    big = json.dumps({"schema": "rplnav.patient/v1", "id": "x", "age": 30, "pad": "x" * (3 * 1024 * 1024)})
    r = client.post("/api/v1/assess", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == PROBLEM

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(40):
            yield b"x" * 100_000

    r = client.post("/api/v1/assess", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_format_md(client):
    r = client.post("/api/v1/assess?format=md", json=example("03"))
    assert r.status_code == 200 and r.text.startswith("# RPL Navigator assessment")
    r = client.post("/api/v1/assess?format=docx", json=example("03"))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM


def test_therapy_monograph_and_unknown(client):
    r = client.get("/api/v1/therapies/ivig")
    assert r.status_code == 200
    assert "ivig" in json.dumps(r.json())
    r = client.get("/api/v1/therapies/ivgg")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM
    assert "ivig" in r.json()["detail"]


def test_guidelines_and_knowledge(client):
    g = client.get("/api/v1/guidelines").json()
    ids = {x["id"] for x in g["guidelines"]}
    assert {"ESHRE-2022", "ACR-2020"} <= ids
    assert "ivig" in g["matrix"]["cells"]
    k = client.get("/api/v1/knowledge").json()
    assert k["version"].startswith("sha256:")
    assert k["counts"]["therapies"] >= 20


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/assess" in spec["paths"]
    assert "/cds-services/{service_id}" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_unknown_path_is_problem_json(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM


def test_cors_preflight_without_jwt(tmp_path, signer):
    from fastapi.testclient import TestClient

    from rplnav.service.app import create_app
    from rplnav.service.config import Settings

    preflight = {"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", cds_clients=[signer.client_config()],
                        public_url="http://testserver", cors_origins=["https://ehr.example.org"])
    with TestClient(create_app(settings)) as c:
        r = c.options("/cds-services/rplnav-patient-view", headers=preflight)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://ehr.example.org"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        r = c.options("/cds-services/rplnav-patient-view", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_cors_is_off_by_default(secure_client):
    r = secure_client.options("/cds-services/rplnav-patient-view", headers={
        "Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = secure_client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
