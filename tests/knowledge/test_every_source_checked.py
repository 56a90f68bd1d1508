"""`kb check` verifies every source reference, in every section the loader reads (not a hand-kept list of
fields), and a spelling refused as "not the code" must say who says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from rplnav.knowledge.load import KNOWLEDGE_DIR, SECTIONS, load
from rplnav.knowledge.refs import source_refs


def _edited(tmp_path: Path, name: str, edit) -> list[str]:
    kb_dir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, kb_dir)
    path = kb_dir / name
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    _, problems = load(kb_dir, strict=False)
    return problems


def _gb(doc):
    return next(c for c in doc["countries"] if c["id"] == "GB")


def test_an_unknown_source_in_any_section_is_refused(tmp_path: Path):
    problems = _edited(tmp_path, "countries.yaml", lambda d: _gb(d)["source"].update(document="no-such-source"))
    assert any("countries:GB" in p and "no-such-source" in p for p in problems), problems


def test_not_codes_need_a_source(tmp_path: Path):
    problems = _edited(tmp_path, "countries.yaml", lambda d: _gb(d).pop("source"))
    assert any("not_codes" in p for p in problems), problems


def test_the_walk_reaches_every_section_that_cites(knowledge):
    walked = {site.section for site in source_refs(knowledge)}
    assert walked <= set(SECTIONS)
    assert {"drugs", "cds_suggestions", "countries", "recommendations", "studies"} <= walked
