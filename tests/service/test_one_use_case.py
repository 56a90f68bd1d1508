"""One use case for every front end (rplnav.usecase): the same record, as a native YAML document and as a FHIR
R4 Bundle, gives the same decisions through the command line, the REST API, the web upload and CDS Hooks
(patient-view with the Bundle as prefetch: the plan card says what the assessment's plan says), and the same
problems when it is invalid; `evidence --for` reads a Bundle too."""

from __future__ import annotations

import html
import itertools
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rplnav.cli import app as cli_app
from rplnav.evidence.cli import app as evidence_app
from rplnav.examples import examples_dir
from rplnav.interop.fhir import patient_to_bundle
from rplnav.patient import load_document
from rplnav.render.common import plan_sections
from tests.service.conftest import csrf
from tests.service.test_cds import check_cards, split_prefetch

runner = CliRunner()
RECORDS = ["02", "03", "08"]


def _files(tmp_path: Path, prefix: str) -> tuple[Path, Path]:
    native = next(examples_dir().glob(f"{prefix}*.yaml"))
    bundle = tmp_path / f"{prefix}.json"
    bundle.write_text(json.dumps(patient_to_bundle(load_document(native.read_text(), native.name))))
    return native, bundle


def decisions(a: dict[str, Any]) -> dict[str, Any]:
    """What a clinician acts on: RPL per guideline, APS status, work-up status, every stance's verdict, the plan."""
    return {
        "rpl": {g: r["meets"] for g, r in a["rpl"].items()},
        "aps": {k: b["status"] for k, b in a["aps"].items()},
        "workup": {w["test"]: w["status"] for w in a["workup"]},
        "stances": {s["id"]: s["applies"] for o in a["options"] for s in o["stances"]},
        "headline": a["plan"]["headline"],
    }


def _cli(path: Path) -> dict[str, Any]:
    r = runner.invoke(cli_app, ["assess", str(path), "-f", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _patient_view(client: Any, bundle: Path) -> list[dict[str, Any]]:
    """CDS Hooks patient-view for the Bundle's patient, her record sent as the EHR's prefetch."""
    b = json.loads(bundle.read_text())
    pid = next(e["resource"]["id"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
    r = client.post("/cds-services/rplnav-patient-view", json={
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": pid}, "prefetch": split_prefetch(b)})
    assert r.status_code == 200, r.text
    return check_cards(r.json())


def plan_of(a: dict[str, Any]) -> dict[str, Any]:
    """The decisions of an assessment's plan as every view words them (render.common.plan_sections, the lines
    the plan card prints too), its summary's halves and its critical items."""
    p = a["plan"]
    sections = dict(plan_sections(a))
    return {"headline": p["headline"],
            "Supported for her": sections["Supported for her"],
            "Advised against for her": sections["Advised against for her"],
            "summary": [h for h, xs in (("For her: ", p["supported"]), ("Against: ", p["against"])) if xs],
            "critical": sorted({x["text"] for x in p["safety"] if x["level"] == "critical"}
                               | {r["text"] for x in p["against"] for r in x.get("regulatory", [])})}


def shown_plan(cards: list[dict[str, Any]], want: dict[str, Any]) -> dict[str, Any]:
    """The decisions read back from patient-view cards: the plan card's headline and section lines (each cut
    to the decision it must start with), its summary's halves, and one critical card per safety item."""
    lines = cards[0]["detail"].splitlines()
    sections: dict[str, list[str]] = {}
    title = ""
    for line in lines[1:]:
        if line.startswith("**") and line.endswith("**"):
            title = line.strip("*")
        elif line.startswith("- "):
            sections.setdefault(title, []).append(line[2:])
    out: dict[str, Any] = {"headline": lines[0].strip("*")}
    for t in ("Supported for her", "Advised against for her"):
        got = sections.get(t, [])
        out[t] = [w if g.startswith(w) else g for g, w in itertools.zip_longest(got, want[t][:len(got)])]
    out["summary"] = [h for h in ("For her: ", "Against: ") if h in cards[0]["summary"]]
    out["critical"] = sorted(re.split(r"\s+\*\[", c["detail"])[0] for c in cards[1:] if c["indicator"] == "critical")
    return out


@pytest.mark.parametrize("prefix", RECORDS)
def test_same_record_same_decisions_through_every_front_end(client, tmp_path, prefix):
    native, bundle = _files(tmp_path, prefix)
    by_cli = {"native": _cli(native), "fhir": _cli(bundle)}
    by_api = {
        "native": client.post("/api/v1/assess", content=native.read_bytes(),
                              headers={"content-type": "application/yaml"}),
        "fhir": client.post("/api/v1/assess", content=bundle.read_bytes(),
                            headers={"content-type": "application/fhir+json"}),
    }
    assert all(r.status_code == 200 for r in by_api.values())
    want = decisions(by_cli["native"])
    for kind in ("native", "fhir"):
        assert decisions(by_cli[kind]) == want, kind
        assert decisions(by_api[kind].json()) == want, kind
    plan = plan_of(by_cli["native"])
    assert shown_plan(_patient_view(client, bundle), plan) == plan, prefix
    assert by_cli["fhir"]["input_format"] == by_api["fhir"].json()["input_format"] == "fhir-r4-bundle"
    assert "input_format" not in by_cli["native"] and "input_format" not in by_api["native"].json()
    for path, ctype in ((native, "application/yaml"), (bundle, "application/json")):
        r = client.post("/upload", files={"file": (path.name, path.read_bytes(), ctype)}, data={"csrf": csrf(client)},
                        follow_redirects=False)
        assert r.status_code == 303, r.text[:300]
        page = client.get(r.headers["location"])
        assert page.status_code == 200
        assert html.escape(want["headline"], quote=False) in page.text or want["headline"] in html.unescape(page.text)


def test_same_invalid_record_same_problems_through_every_front_end(client, tmp_path):
    native = next(examples_dir().glob("07*.yaml"))
    doc = yaml.safe_load(native.read_text())
    doc["labs"][0]["unit"] = "furlongs"
    doc["age"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = runner.invoke(cli_app, ["assess", str(bad), "-f", "json"])
    assert r.exit_code == 2
    cli_problems = [line.removeprefix("error: ") for line in r.output.splitlines() if line.startswith("error: ")]
    assert any(p.startswith("age:") for p in cli_problems) and any("furlongs" in p for p in cli_problems)
    api = client.post("/api/v1/assess", content=bad.read_bytes(), headers={"content-type": "application/yaml"})
    assert api.status_code == 422
    assert [f"{p['field']}: {p['message']}" for p in api.json()["problems"]] == cli_problems
    page = client.post("/upload", files={"file": ("bad.yaml", bad.read_bytes(), "application/yaml")},
                       data={"csrf": csrf(client)})
    assert page.status_code == 422
    text = html.unescape(page.text)
    for p in cli_problems:
        assert p in text, p


def test_evidence_for_reads_a_fhir_bundle(tmp_path):
    native, bundle = _files(tmp_path, "02")
    out = {}
    for kind, path in (("native", native), ("fhir", bundle)):
        r = runner.invoke(evidence_app, ["ivig", "--for", str(path), "--format", "json"])
        assert r.exit_code == 0, r.output
        out[kind] = json.loads(r.stdout)
    assert out["fhir"]["patient_id"] == out["native"]["patient_id"]
    strata = {k: [(g["outcome"], (g.get("stratum") or {}).get("studies")) for g in v["groups"]] for k, v in out.items()}
    assert strata["fhir"] == strata["native"]
    assert any(s for _, s in strata["fhir"])  # her stratum is pooled from the Bundle's facts
