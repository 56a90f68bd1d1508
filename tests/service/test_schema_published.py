"""The published schemas: one from the command line, one from the API, and the assessment's in OpenAPI as the
assess endpoint's response; all three are the typed model's schema, and a real assessment validates against it."""

from __future__ import annotations

import json

from pydantic import TypeAdapter
from typer.testing import CliRunner

from rplnav.assessment import Assessment, json_schema
from rplnav.cli import app as cli_app
from rplnav.examples import example_files

runner = CliRunner()


def test_cli_prints_the_assessment_and_patient_schemas():
    r = runner.invoke(cli_app, ["schema", "assessment"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json_schema()
    r = runner.invoke(cli_app, ["schema", "patient"])
    assert r.exit_code == 0, r.output
    patient = json.loads(r.stdout)
    assert patient["$id"] == "rplnav.patient/v1" and {"schema", "id", "age"} <= set(patient["required"])
    assert "labs" in patient["properties"] and "pregnancies" in patient["properties"]


def test_cli_unknown_schema_exits_2_with_a_suggestion():
    r = runner.invoke(cli_app, ["schema", "assesment"])
    assert r.exit_code == 2
    assert "did you mean 'assessment'" in r.output


def test_api_serves_the_same_schema(client):
    r = client.get("/api/v1/schema/assessment")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema+json")
    assert r.json() == json_schema()
    assert client.get("/api/v1/schema/patient").json()["$id"] == "rplnav.patient/v1"
    r = client.get("/api/v1/schema/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert "assessment or patient" in r.json()["detail"]


def test_openapi_declares_the_assessment_as_the_assess_response(client):
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/api/v1/assess"]["post"]["responses"]["200"]["content"]
    ref = content["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    declared = spec["components"]["schemas"][name]
    assert declared != {"type": "object"}
    assert set(declared["required"]) >= {"schema", "knowledge_version", "patient_id", "options", "plan"}
    stance = spec["components"]["schemas"]["StanceEntry"]["properties"]["stance"]
    assert "strong_against" in stance["enum"]
    # an assessment the endpoint returns is a valid instance of what it declares
    body = example_files()[2].read_text()
    r = client.post("/api/v1/assess", content=body, headers={"content-type": "application/yaml"})
    assert r.status_code == 200
    TypeAdapter(Assessment).validate_python(r.json())
