"""Assessment documents share memoised parts (stances, alerts, evidence, sources) between patients, so no
renderer or service view may change a document. Render each example every way the product does, then check
the document is exactly as it was and a later assessment still equals a fresh engine's."""

from __future__ import annotations

import copy
import json

from rplnav.assess import Engine
from rplnav.examples import example_files
from rplnav.interop.fhir import guidance_response
from rplnav.patient import load_document, parse_patient
from rplnav.render.html import render_html
from rplnav.render.jsonout import render_json
from rplnav.render.markdown import assessment_markdown
from rplnav.render.pdf import render_print_html
from rplnav.render.terminal import render_terminal
from rplnav.service.cards import CardMaker
from rplnav.service.cds import ordered_therapies


def _dump(doc):
    return doc.to_json()


def test_rendering_never_changes_a_document(kb):
    engine = Engine(kb)
    maker = CardMaker("http://localhost/")
    parsed = [parse_patient(load_document(f.read_text(), f.name), kb.tests, set(kb.therapies))
              for f in example_files()]
    for p in parsed:
        doc = engine.assess(p)
        before = copy.deepcopy(doc.to_dict())
        render_json(doc)
        assessment_markdown(doc)
        render_terminal(doc)
        render_html(doc)
        render_print_html(doc)
        cards = maker.patient_view(doc)
        maker.orders(doc, ordered_therapies(doc, [{"resourceType": "MedicationRequest",
                                                   "medicationCodeableConcept": {"text": "aspirin"}}]), "Patient/x")
        guidance_response(doc, cards, module_uri="http://localhost/assess")
        assert _dump(doc) == json.dumps(before, indent=2, ensure_ascii=False), p.patient.id
    for p in parsed:  # the shared parts are still what a fresh engine computes
        assert _dump(engine.assess(p)) == _dump(Engine(kb).assess(p)), p.patient.id
