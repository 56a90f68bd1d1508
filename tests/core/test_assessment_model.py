"""The typed `rplnav.assessment/v1` document: every example and realism record, read natively and as a FHIR
Bundle, strict and not, yields a document the model accepts, whose JSON is exactly what the engine wrote and
validates again from its own JSON (the published schema is the model's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from rplnav.assessment import Assessment, OutputError, json_schema, validate_document
from rplnav.examples import example_files
from rplnav.interop.fhir import FhirIntake, patient_to_bundle
from rplnav.patient import load_document, parse_patient

RECORDS = sorted((Path(__file__).parents[1] / "realism" / "records").glob("r*.yaml"))
INPUTS = [*example_files(), *RECORDS]


def _parsed(kb, path: Path, fhir: bool):
    data = load_document(path.read_text(), path.name)
    intake = FhirIntake(kb.tests, set(kb.therapies), kb=kb)
    if fhir:
        data = intake.convert(json.loads(json.dumps(patient_to_bundle(data))))
    return parse_patient(data, kb.tests, set(kb.therapies), path.name, kb=kb), intake


@pytest.mark.parametrize("strict", [False, True], ids=["assumed", "strict"])
@pytest.mark.parametrize("fhir", [False, True], ids=["native", "fhir"])
@pytest.mark.parametrize("path", INPUTS, ids=[p.stem for p in INPUTS])
def test_every_output_is_the_typed_document(kb, engine, path, fhir, strict):
    parsed, intake = _parsed(kb, path, fhir)
    written = engine.document(parsed, strict=strict)
    doc = engine.assess(parsed, strict=strict)
    assert isinstance(doc, Assessment)
    if fhir:
        assert intake.converted
        doc = doc.with_input(input_format="fhir-r4-bundle", not_used=intake.not_used)
        written = {**written, "input_format": "fhir-r4-bundle", "not_used": list(intake.not_used)}
    # the model keeps every key, value and key order the engine wrote, and adds nothing
    assert doc.to_json() == json.dumps(written, indent=2, ensure_ascii=False)
    # so the engine's dict stands for the model's dump (kept as the JSON form): equal values and types
    # (a tuple is not equal to a list), the same key order everywhere
    dumped = doc.model_dump(mode="json", exclude_unset=True)
    assert doc.to_dict() == dumped and json.dumps(doc.to_dict()) == json.dumps(dumped)
    # the dumped JSON is a valid document again (pydantic's validation of the published schema's model)
    again = Assessment.model_validate_json(doc.to_json())
    assert again.to_json() == doc.to_json()
    assert doc.strict is (True if strict else None)


def test_the_document_is_frozen_and_closed(engine, make):
    doc = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 3))
    with pytest.raises(ValidationError):
        doc.patient_id = "someone-else"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        doc.options[0].stances[0].applies = True  # type: ignore[misc]
    raw = doc.model_dump(mode="json", exclude_unset=True)
    with pytest.raises(ValidationError, match="extra"):
        Assessment.model_validate({**raw, "surprise": 1})
    bad = json.loads(doc.to_json())
    bad["options"][0]["stances"][0]["stance"] = "strongly_for"  # not a contract stance
    with pytest.raises(OutputError, match="stance"):
        validate_document(bad)
    bad = json.loads(doc.to_json())
    bad["options"][0]["stances"][0]["applies"] = "maybe"  # a Tri is true, false or null
    with pytest.raises(OutputError, match="applies"):
        validate_document(bad)


def test_output_error_is_not_an_input_error():
    """A document the model rejects is the engine's fault: it must never look like bad input (ValueError)."""
    assert not issubclass(OutputError, ValueError)


def test_published_schema_lists_the_contract():
    schema = json_schema()
    assert schema["$id"] == "rplnav.assessment/v1"
    top = schema["properties"]
    for key in ("schema", "knowledge_version", "patient_id", "losses", "rpl", "aps", "workup", "options", "alerts",
                "prognosis", "sources", "assumptions", "plan"):
        assert key in top and key in schema["required"], key
    defs = schema["$defs"]
    stance = defs["StanceEntry"]["properties"]
    assert set(stance["stance"]["enum"]) == {
        "strong_for", "conditional_for", "good_practice", "research_only", "no_recommendation",
        "insufficient_evidence", "conditional_against", "strong_against", "not_permitted"}
    assert set(stance["certainty"]["enum"]) == {"high", "moderate", "low", "very_low", "not_graded"}
    assert {t["type"] for t in stance["applies"]["anyOf"]} == {"boolean", "null"}
    assert set(defs["SydneyBlock"]["properties"]["status"]["enum"]) == {"met", "not_met", "indeterminate"}
    assert set(defs["AcrEularBlock"]["properties"]["status"]["enum"]) == {
        "met", "not_met", "indeterminate", "entry_not_met"}
    assert set(defs["Window"]["properties"]["status"]["enum"]) == {"open", "not_yet", "closing", "passed", "n/a"}
    assert set(defs["Alert"]["properties"]["level"]["enum"]) == {"info", "warning", "critical"}
    assert set(defs["WorkupItem"]["properties"]["status"]["enum"]) == {
        "done", "missing", "repeat_needed", "not_indicated"}
    assert set(top["aps"]["$ref"].split("/")[-1:]) == {"Aps"}
    assert set(defs["Aps"]["properties"]) == {"sydney-2006", "acr-eular-2023"}
    assert "class" in defs["Option"]["properties"] and "if" in defs["WouldChange"]["properties"]


def test_shared_parts_are_validated_once_and_copies_again(kb, make):
    """The engine's memoised parts are typed once (PartCache); a changed copy is validated on its own."""
    from rplnav.assess import Engine

    engine = Engine(kb)
    p = make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 3, conditions=[], medications=[],
             findings={"thromboses": []})
    first, second = engine.assess(p), engine.assess(p)
    i, j = next((i, j) for i, o in enumerate(first.options) for j, s in enumerate(o.stances)
                if s.applies is False and not s.assumes)
    assert first.options[i].stances[j] is second.options[i].stances[j]
    assert first.to_json() == second.to_json() == Engine(kb).assess(p).to_json()
    doc = engine.document(p)
    stances = doc["options"][i]["stances"]
    doc["options"][i]["stances"] = [*stances[:j], {**stances[j], "applies": "maybe"}, *stances[j + 1:]]
    with pytest.raises(OutputError, match="applies"):
        validate_document(doc, engine._typed_parts)


def test_the_finished_documents_copies_of_shared_parts_are_one_object_per_base_and_change(kb):
    """An undecided stance's leaf needs and an ``assumes`` list are copies of a shared stance: the same record
    assessed again gets the very same copies (so their typed form is reused, not validated again), and a copy
    never changes the shared part it was made from."""
    from rplnav.assess import Engine
    from rplnav.memo import Memo
    from rplnav.patient import read_patient

    memo = Memo()
    base = {"id": "s", "needs": ["x"]}
    a = memo.variant(base, "needs", ["y"], ("y",))
    assert a == {"id": "s", "needs": ["y"]} and base == {"id": "s", "needs": ["x"]}
    assert memo.variant(base, "needs", ["y"], ("y",)) is a
    assert memo.variant(base, "needs", ["z"], ("z",)) is not a
    assert memo.variant(dict(base), "needs", ["y"], ("y",)) is not a  # an equal but other base is its own

    engine = Engine(kb)
    path = next(p for p in example_files() if p.name.startswith("07-"))
    parsed = read_patient(str(path), kb.tests, set(kb.therapies))
    first = engine.assess(parsed)
    copies = [(i, j) for i, o in enumerate(first.options) for j, s in enumerate(o.stances)
              if s.assumes or (s.applies is None and s.needs)]
    assert any(first.options[i].stances[j].assumes for i, j in copies)
    assert any(first.options[i].stances[j].applies is None for i, j in copies)
    stance_type = type(first.options[0].stances[0])

    def typed_stances() -> int:
        return sum(isinstance(t, stance_type) for _, t in engine._typed_parts._memo._d.values())

    before = typed_stances()
    second = engine.assess(parsed)
    for i, j in copies:
        assert second.options[i].stances[j] is first.options[i].stances[j], (i, j)
    assert typed_stances() == before  # the second assessment validated no stance again
    assert first.to_json() == second.to_json() == Engine(kb).assess(parsed).to_json()


def test_evidence_summaries_sharing_pooled_results_type_them_once(kb, engine):
    """Two summaries made from one shared core (the same pooled results, other per-patient text) share the typed
    pooled results, and the typed summary equals a full validation of the same data."""
    from rplnav.assessment import Evidence, PartCache
    from rplnav.patient import read_patient

    path = next(p for p in example_files() if p.name.startswith("05-"))
    doc = engine.document(read_patient(str(path), kb.tests, set(kb.therapies)))
    ev = next(o["evidence"] for o in doc["options"] if o.get("evidence") and o["evidence"].get("all"))
    other = {**ev, "stratum_text": "another patient's sentence", "unmatched": []}
    cache = PartCache()
    a, b = cache._typed("evidence", ev), cache._typed("evidence", other)
    assert a.all is b.all and (a.stratum is b.stratum if ev.get("stratum") else True)
    assert b == Evidence.model_validate(other) and a == Evidence.model_validate(ev)
    with pytest.raises(ValidationError):  # a member that was typed once still belongs to a checked summary
        cache._typed("evidence", {**ev, "rows": "many"})


def test_a_full_part_cache_drops_its_least_recently_used_entry_not_all(kb, engine):
    """At its limit the typed-part cache forgets the least recently used part and keeps the rest: clearing it all
    made the next assessment validate every shared part again at once (a latency spike of ~100 ms)."""
    from rplnav.assessment import PartCache
    from rplnav.patient import read_patient

    doc = engine.document(read_patient(str(example_files()[0]), kb.tests, set(kb.therapies)))
    parts = [s for o in doc["options"] for s in o["stances"]][:9]
    assert len(parts) == 9
    cache = PartCache(limit=8)
    typed = [cache._typed("stance", p) for p in parts[:8]]
    assert cache._typed("stance", parts[0]) is typed[0]  # used again: now the most recent
    cache._typed("stance", parts[8])  # the ninth: the cache is full
    assert len(cache._memo) == 8
    misses = cache._memo.misses
    for p, t in zip([parts[0], *parts[2:8]], [typed[0], *typed[2:]], strict=True):  # kept, by identity
        assert cache._typed("stance", p) is t
    assert cache._memo.misses == misses  # none of them was validated again
    cache._typed("stance", parts[1])  # the least recently used one was dropped: validated again
    assert cache._memo.misses == misses + 1
