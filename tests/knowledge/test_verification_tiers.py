"""Verification tiers: a source reference is read in the primary text, in a named secondary source, or not yet.

`verified: true` is kept for primary reads only, and the schema refuses a reference whose tier contradicts it.
`rplnav kb stats` counts every reference (regimens, cautions, study rows included) by guideline and tier.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from rplnav.cli import app
from rplnav.kbstats import coverage, render_stats, verification
from rplnav.knowledge.model import SourceRef
from rplnav.knowledge.refs import source_refs


def test_tier_follows_verified_when_left_out():
    assert SourceRef(document="x", locator="y", verified=True).tier == "primary"
    assert SourceRef(document="x", locator="y", verified=False).tier == "unverified"


@pytest.mark.parametrize("fields, problem", [
    ({"verified": False, "tier": "primary"}, "contradicts"),
    ({"verified": True, "tier": "secondary", "secondary": {"document": "s", "locator": "t"}}, "contradicts"),
    ({"verified": False, "tier": "secondary"}, "needs"),
    ({"verified": False, "tier": "unverified", "secondary": {"document": "s", "locator": "t"}}, "secondary"),
])
def test_contradictory_tiers_are_refused(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        SourceRef(document="x", locator="y", **fields)


def test_a_secondary_read_names_its_source():
    ref = SourceRef(document="eshre-2022", locator="Treatment: IVIG", verified=False, tier="secondary",
                    secondary={"document": "seed-002", "locator": "IVIG slide"})
    assert ref.secondary is not None and ref.secondary.document == "seed-002" and not ref.verified


def test_every_secondary_source_is_a_listed_document(knowledge):
    for site in source_refs(knowledge):
        if site.ref.secondary is not None:
            assert site.ref.secondary.document in knowledge.sources, site
            assert site.ref.secondary.document != site.ref.document, site


def test_the_walk_reaches_nested_references(knowledge):
    sites = list(source_refs(knowledge))
    paths = {(s.section, s.path.split("[")[0]) for s in sites}
    assert ("therapies", "regimens") in paths and ("therapies", "cautions") in paths
    assert ("tests", "positive.source") in paths and ("prognosis", "context") in paths
    assert len(sites) > len(knowledge.recommendations) + len(knowledge.studies)


def test_stats_by_tier_add_up(knowledge):
    v = verification(knowledge)
    sites = list(source_refs(knowledge))
    assert v["total"] == len(sites) == v["primary"] + v["secondary"] + v["unverified"]
    assert v["primary"] == sum(s.ref.verified for s in sites)
    assert sum(g["total"] for g in v["by_guideline"].values()) + sum(
        k["total"] for k in v["by_document_kind"].values()) == v["total"]
    rcog = v["by_guideline"]["RCOG-2023"]
    assert rcog["primary"] == sum(1 for s in sites if s.guideline == "RCOG-2023" and s.ref.tier == "primary")
    text = "\n".join(render_stats(coverage(knowledge)).splitlines())
    assert "all source references" in text and "secondary" in text and "RCOG-2023" in text


def test_kb_stats_json_and_text():
    runner = CliRunner()
    out = runner.invoke(app, ["kb", "stats", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data["verification"]["by_guideline"]) >= {"ESHRE-2022", "RCOG-2023", "ASRI-2025"}
    assert {"primary", "secondary", "unverified", "share_primary"} <= set(data["verification"])
    text = runner.invoke(app, ["kb", "stats"])
    assert text.exit_code == 0 and "Verification of source references" in text.output
    bad = runner.invoke(app, ["kb", "stats", "--format", "xml"])
    assert bad.exit_code == 2


def test_topics_and_covers_are_checked(tmp_path):
    """Every therapy and test belongs to a topic and `covers` names known topics, or kb check says which."""
    import shutil

    from rplnav.knowledge.load import KNOWLEDGE_DIR, load

    root = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE_DIR, root)
    g = root / "guidelines.yaml"
    text = g.read_text(encoding="utf-8")
    text = text.replace("therapies: [metformin, bromocriptine]", "therapies: [metformin]")
    text = text.replace("    covers:\n      topics: [progesterone]", "    covers:\n      topics: [progesteron]")
    g.write_text(text, encoding="utf-8")
    _, problems = load(root, strict=False)
    assert any("'bromocriptine' belongs to no topic" in p for p in problems), problems
    assert any("unknown topic 'progesteron'" in p for p in problems), problems
