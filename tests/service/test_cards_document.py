"""CDS cards are a view of the assessment document: what a card proposes (drug, dose, RxNorm code, when to
start, wording) and cites is in the document, so a stored document gives the same cards after a knowledge
update, and the card module never reads the knowledge base."""

from __future__ import annotations

import ast
import itertools
import json
import uuid
from pathlib import Path

import pytest

import rplnav.service.cards as cards_module
from rplnav.assess import Engine
from rplnav.examples import examples_dir
from rplnav.knowledge.load import default_knowledge
from rplnav.patient import parse_patient, read_patient
from rplnav.service.cards import CardMaker

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _assess(kb, prefix: str, engine=None):
    path = next(examples_dir().glob(f"{prefix}-*.yaml"))
    return (engine or Engine(kb)).assess(read_patient(str(path), kb.tests, set(kb.therapies), kb=kb))


def _option(a, tid: str) -> dict:
    return next(o for o in a["options"] if o["therapy"] == tid)


@pytest.fixture
def fixed_uuids(monkeypatch):
    counter = itertools.count()
    monkeypatch.setattr(cards_module.uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))
    return counter


def test_card_module_imports_no_knowledge_reader():
    tree = ast.parse(Path(cards_module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and (m.startswith(("rplnav.knowledge.load", "rplnav.interop"))
                                              or m in ("rplnav.assess", "rplnav.ordering"))}, imported
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"default_knowledge", "Knowledge", "kb"}


def test_the_suggestion_is_in_the_document_as_cards_yaml_states_it(kb):
    """Obstetric APS: the aspirin + LMWH option carries the suggestion of cards.yaml, each order coded, dosed
    and timed as there, with the current strong/conditional 'for' statements that apply to her as support,
    and every source it cites listed among the document's sources."""
    a = _assess(kb, "03")
    sg = _option(a, "aspirin_lmwh")["suggestion"]
    spec = next(s for s in kb.cds_suggestions.values() if s.therapy == "aspirin_lmwh")
    assert (sg["id"], sg["summary"], sg["add_label"]) == (spec.id, spec.summary, spec.add_label)
    assert [(o["therapy"], o["coding"]["code"], o["dosage"], o.get("start")) for o in sg["orders"]] == \
        [(p.therapy, p.rxnorm, p.dosage, p.start) for p in spec.proposals]
    assert all(o["coding"]["system"] == RXNORM for o in sg["orders"])
    lmwh = next(o for o in sg["orders"] if o["therapy"] == "lmwh")
    assert "positive pregnancy test" in lmwh["start"] and lmwh["start_source"]["locator"]
    stances = {s["id"]: s for s in _option(a, "aspirin_lmwh")["stances"]}
    assert "acr-oaps-aspirin-lmwh" in sg["support"]
    assert all(stances[i]["applies"] is True and stances[i]["stance"] in ("strong_for", "conditional_for")
               and not stances[i].get("superseded_by") for i in sg["support"])
    listed = {s["id"] for s in a["sources"]}
    cited = [sg["source"]] + [o[k] for o in sg["orders"] for k in ("source", "start_source") if o.get(k)]
    assert {c["document"] for c in cited} <= listed
    # unexplained losses: ESHRE advises against heparin there, so no statement supports offering it
    assert _option(_assess(kb, "02"), "aspirin_lmwh")["suggestion"]["support"] == []


def test_order_cards_propose_what_the_document_says(kb, fixed_uuids):
    """The proposed orders are read from the document: change the document's dose and the card says so."""
    a = _assess(kb, "03").to_dict()
    cards = CardMaker("http://x").orders(a, ["ivig"], "Patient/p")
    actions = [x for c in cards for s in c.get("suggestions", []) for x in s["actions"]]
    assert {x["resource"]["medicationCodeableConcept"]["coding"][0]["code"] for x in actions} == {"243670", "854235"}
    changed = json.loads(json.dumps(a))
    sg = _option(changed, "aspirin_lmwh")["suggestion"]
    sg["orders"][1]["dosage"] = "a dose the document states"
    cards = CardMaker("http://x").orders(changed, ["ivig"], "Patient/p")
    texts = [x["resource"]["dosageInstruction"][0]["text"] for c in cards for s in c.get("suggestions", [])
             for x in s["actions"]]
    assert texts[1].startswith("a dose the document states")
    sg["support"] = []  # no statement supports it for her: no suggestion
    assert not any(c.get("suggestions") for c in CardMaker("http://x").orders(changed, ["ivig"], "Patient/p"))


def test_stored_document_gives_the_same_cards_after_a_knowledge_update(monkeypatch):
    kb = default_knowledge()
    live = _assess(kb, "03")
    stored = json.loads(live.to_json())  # as the audit log keeps it

    def all_cards(doc):
        maker = CardMaker("http://x", "http://x/reports/1")
        return [maker.patient_view(doc), maker.orders(doc, ["ivig"], "Patient/p"),
                maker.orders(doc, ["lmwh"], "Patient/p")]

    before = all_cards(stored)
    assert _without_uuids(all_cards(live)) == _without_uuids(before)
    spec = next(iter(kb.cds_suggestions.values()))
    p0 = spec.proposals[0]
    monkeypatch.setitem(kb.cds_suggestions, spec.id, spec.model_copy(update={"proposals": [
        p0.model_copy(update={"dosage": "100 mg by mouth once daily"}), *spec.proposals[1:]]}))
    fresh = all_cards(Engine(kb).assess(read_patient(str(next(examples_dir().glob("03-*.yaml"))), kb.tests,
                                                     set(kb.therapies), kb=kb)))
    assert "100 mg by mouth" in json.dumps(fresh) and "100 mg by mouth" not in json.dumps(before)
    assert _without_uuids(all_cards(stored)) == _without_uuids(before)


def test_an_order_brings_its_boxed_warnings_from_the_document(kb):
    """One miscarriage: no IVIG statement speaks to her, so its boxed warnings are not among the option's
    alerts but are in the document as what an order brings; with three losses IVIG is in play and they are
    alerts, not repeated."""
    doc = {"schema": "rplnav.patient/v1", "id": "one-loss", "age": 31,
           "pregnancies": [{"outcome": "miscarriage", "gestational_age": 8, "date": "2025-02"}]}
    a = Engine(kb).assess(parse_patient(doc, kb.tests, set(kb.therapies), kb=kb))
    ivig = _option(a, "ivig")
    boxed = [c.text for c in kb.therapies["ivig"].cautions if c.when is None and c.level == "critical"]
    assert boxed and [x["text"] for x in ivig["if_ordered"]] == boxed
    assert not {x["text"] for x in ivig["alerts"]} & set(boxed)
    assert {x["source"]["document"] for x in ivig["if_ordered"]} <= {s["id"] for s in a["sources"]}
    cards = CardMaker("http://x").orders(json.loads(a.to_json()), ["ivig"], "Patient/p")
    assert [c["detail"].split(" *[")[0] for c in cards if c["indicator"] == "critical"] == boxed
    in_play = _option(_assess(kb, "03"), "ivig")
    assert "if_ordered" not in in_play and set(boxed) <= {x["text"] for x in in_play["alerts"]}


def _without_uuids(value):
    if isinstance(value, dict):
        return {k: _without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value
