"""Issue 13: hostile inputs to the service are refused early, with a small 4xx naming the problem."""

from __future__ import annotations

import json
import time

from benchmarks.alias_bomb import bomb

from tests.service.test_cds import PV

YAML = {"content-type": "application/yaml"}


def _audit_sizes(client) -> list[int]:
    return [len(json.dumps(r.output)) for r in client.app.state.core.audit.recent(100)]


def test_alias_bomb_on_the_api_is_a_fast_small_400(client):
    t = time.perf_counter()
    r = client.post("/api/v1/assess", content=bomb(6).encode(), headers=YAML)
    took = time.perf_counter() - t
    assert r.status_code == 400 and took < 1.0
    assert r.headers["content-type"] == "application/problem+json" and len(r.content) < 1000
    assert "anchors and aliases" in r.json()["problems"][0]["message"]
    assert all(n < 10_000 for n in _audit_sizes(client))


def test_alias_bomb_on_the_upload_form(client):
    t = time.perf_counter()
    r = client.post("/upload", files={"file": ("bomb.yaml", bomb(6).encode(), "application/yaml")})
    assert r.status_code == 400 and time.perf_counter() - t < 1.0
    assert "anchors and aliases" in r.text and len(r.content) < 200_000


def test_cds_endpoints_take_json_only(client):
    r = client.post(PV + "/feedback", content=bomb(6).encode(), headers=YAML)
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"
    r = client.post(PV, content=b"hook: patient-view\n", headers=YAML)
    assert r.status_code == 415
    assert all(n < 10_000 for n in _audit_sizes(client))


def test_strict_media_types(client):
    body = json.dumps({"schema": "rplnav.patient/v1", "id": "a", "age": 33}).encode()
    for ctype in ("application/evil+json", "text/plain", "application/x-www-form-urlencoded"):
        r = client.post("/api/v1/assess", content=body, headers={"content-type": ctype})
        assert r.status_code == 415, ctype
    assert client.post("/api/v1/assess", content=body, headers={"content-type": "application/json; charset=utf-8"}
                       ).status_code == 200


def test_duplicate_keys_and_huge_numbers_are_400_naming_the_field(client):
    r = client.post("/api/v1/assess", content=b'{"schema": "rplnav.patient/v1", "id": "a", "age": 200, "age": 33}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["problems"] == [{"field": "age", "message": "duplicate key"}]
    r = client.post("/api/v1/assess", content=b'{"age": ' + b"9" * 5000 + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "5000 characters" in r.text
    r = client.post("/api/v1/assess", content=b"[" * 100_000 + b"]" * 100_000,
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested deeper" in r.text
