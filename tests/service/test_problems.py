"""Problems are objects (path, message, hint) from the intake to the HTTP body; an output the document model
rejects is the engine's fault: a 500 problem (or exit 1), never a 422 that blames the input."""

from __future__ import annotations

from typer.testing import CliRunner

from rplnav.cli import app as cli_app
from rplnav.examples import examples_dir
from rplnav.patient import InputError
from rplnav.problems import Problem


def test_intake_problems_are_objects_with_path_message_and_hint():
    e = InputError(["labs[0].test: 'tsh2' is not a test id (did you mean 'tsh'?)", "age: required",
                    "<input>: expected a mapping"])
    assert e.items == [
        Problem(path="labs[0].test", message="'tsh2' is not a test id (did you mean 'tsh'?)",
                hint="did you mean 'tsh'?"),
        Problem(path="age", message="required"),
        Problem(path="(document)", message="<input>: expected a mapping")]
    assert [str(p) for p in e.items] == e.problems  # the command line prints the intake's own wording


def test_http_problem_body_lists_the_objects(client):
    body = {"schema": "rplnav.patient/v1", "id": "p", "age": 30,
            "labs": [{"test": "tsh2", "value": 2.0, "unit": "mIU/L"}]}
    r = client.post("/api/v1/assess", json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    items = r.json()["problems"]
    first = next(p for p in items if p["field"] == "labs[0].test")
    assert "tsh" in first["hint"] and first["message"].startswith("'tsh2'")


def test_an_invalid_output_is_a_500_never_a_422(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from rplnav.service.app import create_app
    from rplnav.service.config import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}", insecure_dev=True))
    with TestClient(app, raise_server_exceptions=False) as client:
        _post_broken(client, monkeypatch)


def _post_broken(client, monkeypatch):
    core = client.app.state.core
    real = core.engine.document

    def broken(*args, **kwargs):
        doc = real(*args, **kwargs)
        doc["options"][0]["stances"][0]["stance"] = "strongly_for"  # not a contract stance: an engine bug
        return doc

    monkeypatch.setattr(core.engine, "document", broken)
    path = next(examples_dir().glob("03*.yaml"))
    r = client.post("/api/v1/assess", content=path.read_bytes(), headers={"content-type": "application/yaml"})
    assert r.status_code == 500, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "the input was not the cause" in r.json()["detail"]


def test_cli_reports_an_invalid_output_as_internal(monkeypatch):
    from rplnav.assess import Engine

    real = Engine.document

    def broken(self, *args, **kwargs):
        doc = real(self, *args, **kwargs)
        doc["options"][0]["stances"][0]["applies"] = "maybe"
        return doc

    monkeypatch.setattr(Engine, "document", broken)
    path = next(examples_dir().glob("03*.yaml"))
    r = CliRunner().invoke(cli_app, ["assess", str(path), "-f", "json"])
    assert r.exit_code == 1 and "internal error" in r.output and "Traceback" not in r.output
