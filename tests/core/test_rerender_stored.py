"""A stored report re-rendered later draws its own timing windows: the renderers read the document's window
bounds, never the knowledge base, so a knowledge update cannot move the bars of an old report."""

from __future__ import annotations

import json
import re

from rplnav.assess import Engine
from rplnav.examples import examples_dir
from rplnav.knowledge.load import default_knowledge
from rplnav.patient import read_patient
from rplnav.render.html import render_html, timeline_svg


def _bars(svg: str) -> list[str]:
    return re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+"', svg)


def test_stored_document_keeps_its_bars_after_a_knowledge_update(monkeypatch):
    kb = default_knowledge()
    path = next(examples_dir().glob("08-*.yaml"))  # pregnant now: the report draws the timeline
    parsed = read_patient(str(path), kb.tests, set(kb.therapies), kb=kb)
    stored = json.loads(Engine(kb).assess(parsed).to_json())  # as the audit log keeps it
    before = timeline_svg(stored)
    assert before and _bars(before)
    drawn = next(o for o in stored["options"] if o["timing"]["windows"]
                 and any(w["stop"].get("ga_days") for w in o["timing"]["windows"])
                 and any(s["applies"] is not False for s in o["stances"]))
    t = kb.therapies[drawn["therapy"]]
    w0 = next(w for w in t.timing if w.stop.ga)
    moved = w0.model_copy(update={"stop": w0.stop.model_copy(update={"ga": "30+0"})})
    monkeypatch.setitem(kb.therapies, t.id, t.model_copy(update={"timing": [moved if w is w0 else w
                                                                            for w in t.timing]}))
    # the knowledge base now says otherwise, and a new assessment draws the new window ...
    fresh = timeline_svg(Engine(kb).assess(parsed).to_dict())
    assert fresh is not None and _bars(fresh) != _bars(before)
    # ... but the stored report re-rendered draws exactly its own bars
    assert timeline_svg(stored) == before
    assert _bars(before)[0] in render_html(stored)
