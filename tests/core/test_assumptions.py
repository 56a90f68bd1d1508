"""Not documented vs none (CONTRACT.md): omitted history is taken as absent, and every decision resting on
that is listed as an assumption; `strict` keeps it undecided; safety checks are never silenced."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rplnav.assumptions import UNDECIDED, decisions
from rplnav.patient import parse_patient

from ..conftest import base_patient
from .test_assess_properties import rich_patients

# A clinic letter: three losses before 10 weeks, LA positive twice 14 weeks apart, normal scan and karyotypes.
# The letter mentions no medical history and no thrombosis, so neither list is written.
OBSTETRIC_APS = base_patient(
    id="letter-oaps",
    age=33,
    pregnancies=[
        {"outcome": "miscarriage", "gestational_age": 7, "date": "2023-02"},
        {"outcome": "miscarriage", "gestational_age": "8+2", "date": "2023-10"},
        {"outcome": "miscarriage", "gestational_age": 6, "date": "2024-07"},
    ],
    labs=[
        {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-01-10"},
        {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-04-18"},
        {"test": "anticardiolipin_igg", "value": 3, "unit": "GPL", "reference_high": 20, "date": "2025-01-10"},
        {"test": "tsh", "value": 1.7, "unit": "mIU/L", "reference_high": 4.2, "date": "2025-01-10"},
    ],
    findings={"uterus": "normal", "parental_karyotype": "normal"},
)


# The same letter without the TSH result: only the (omitted) conditions list can then exclude hormonal causes.
NO_TSH = {**OBSTETRIC_APS, "labs": [x for x in OBSTETRIC_APS["labs"] if x["test"] != "tsh"]}


def _assess(kb, engine, data, **kw):
    return engine.assess(parse_patient(data, kb.tests, set(kb.therapies)), **kw)


def _stance(doc, therapy, guideline, stance):
    for o in doc["options"]:
        if o["therapy"] == therapy:
            for s in o["stances"]:
                if s["guideline"] == guideline and s["stance"] == stance:
                    return s
    raise AssertionError(f"no {guideline} {stance} statement on {therapy}")


def test_a_normal_tsh_excludes_hormonal_causes_without_any_assumption(kb, engine):
    """Sydney 2(c): the normal TSH decides 'hormonal causes excluded' (prolactin and HbA1c not done are named);
    no conditions list is needed, so neither the classification nor ACR's aspirin + heparin rests on one."""
    for strict in (False, True):
        doc = _assess(kb, engine, OBSTETRIC_APS, strict=strict)
        sydney = doc["aps"]["sydney-2006"]
        assert sydney["status"] == "met" and not sydney.get("assumes")
        assert "without prolactin, HbA1c (not tested)" in sydney["note"]
        acr = _stance(doc, "aspirin_lmwh", "ACR-2020", "strong_for")
        assert acr["applies"] is True and "no-conditions-recorded" not in acr.get("assumes", [])


def test_obstetric_aps_from_a_letter_is_decided_and_says_what_it_assumed(kb, engine):
    doc = _assess(kb, engine, NO_TSH)
    sydney = doc["aps"]["sydney-2006"]
    assert sydney["status"] == "met"
    assert sydney["assumes"] == ["no-conditions-recorded"]
    acr = _stance(doc, "aspirin_lmwh", "ACR-2020", "strong_for")
    assert acr["applies"] is True and "no-conditions-recorded" in acr["assumes"]
    by_id = {a["id"]: a for a in doc["assumptions"]}
    conditions = by_id["no-conditions-recorded"]
    assert conditions["confirm"] == "conditions"
    assert "aps.sydney-2006" in conditions["decisions"]
    assert f"stance.{acr['id']}" in conditions["decisions"]
    # every decision named by an assumption carries that assumption's id, and vice versa
    for a in doc["assumptions"]:
        assert a["decisions"], a["id"]


def test_strict_keeps_omitted_history_undecided(kb, engine):
    doc = _assess(kb, engine, NO_TSH, strict=True)
    assert doc["aps"]["sydney-2006"]["status"] == "indeterminate"
    assert _stance(doc, "aspirin_lmwh", "ACR-2020", "strong_for")["applies"] is None
    assert doc["assumptions"] == [] and doc["strict"] is True


def test_a_record_that_states_none_needs_no_assumption(kb, engine):
    stated = {**OBSTETRIC_APS, "conditions": [],
              "findings": {**OBSTETRIC_APS["findings"], "thromboses": [], "luteal_phase_insufficiency": False}}
    explicit = _assess(kb, engine, stated)
    assumed = _assess(kb, engine, OBSTETRIC_APS)
    assert explicit["assumptions"] == []
    # the decisions are the same; only the assumption marks differ
    assert decisions(explicit) == decisions(assumed)


def test_each_decision_rests_on_the_list_it_needs(kb, engine):
    doc = _assess(kb, engine, OBSTETRIC_APS)
    by_id = {a["id"]: a for a in doc["assumptions"]}
    thromb = by_id["no-thrombosis-recorded"]
    assert thromb["confirm"] == "findings.thromboses"
    # thrombotic-APS statements (therapeutic anticoagulation) are decided "does not apply" on the thrombosis
    # assumption, not on the conditions one
    therapeutic = [d for d in thromb["decisions"] if d.startswith("stance.") and "therapeutic" in d]
    assert therapeutic
    assert not set(therapeutic) & set(by_id["no-conditions-recorded"]["decisions"])
    # Sydney's obstetric classification needs the hormonal exclusion (conditions), not the thrombosis history
    assert "aps.sydney-2006" not in thromb["decisions"]


def test_an_assumption_never_silences_a_contraindication_check(kb, engine):
    """IVIG's IgA-deficiency contraindication must stay 'not documented, check first' when the problem list
    is not given, although the decisions take her as having no conditions."""
    doc = _assess(kb, engine, OBSTETRIC_APS)
    ivig = next(o for o in doc["options"] if o["therapy"] == "ivig")
    checks = [a for a in ivig["alerts"] if a["kind"] == "check" and "IgA" in a["text"]]
    assert checks and checks[0]["needs"] == ["condition.iga_deficiency"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rich_patients)
def test_assumptions_only_decide_what_was_open(kb, engine, data):
    """Taking omitted history as absent never overturns a decision the record itself decides (three-valued
    logic is monotone), every changed decision is listed under an assumption, and the decisions equal those
    of the same record with the omitted lists written as empty."""
    from rplnav.patient import InputError

    try:
        parsed = parse_patient(data, kb.tests, set(kb.therapies))
    except InputError:
        return
    strict = decisions(engine.assess(parsed, strict=True))
    doc = engine.assess(parsed)
    assumed = decisions(doc)
    listed = {d for a in doc["assumptions"] for d in a["decisions"]}
    for key, value in assumed.items():
        if strict.get(key) != value:
            assert key in listed, key
            if not key.startswith(("workup.", "alert.", "evidence.", "prognosis")):
                assert strict.get(key) in UNDECIDED, (key, strict.get(key), value)
    written = dict(data)
    if "conditions" not in written or written["conditions"] is None:
        written["conditions"] = []
    fi = dict(written.get("findings") or {})
    fi.setdefault("thromboses", [])
    fi.setdefault("luteal_phase_insufficiency", False)
    written["findings"] = fi
    explicit = engine.assess(parse_patient(written, kb.tests, set(kb.therapies)))
    assert json.dumps(decisions(explicit), sort_keys=True, default=str) == \
        json.dumps(assumed, sort_keys=True, default=str)
    assert explicit["assumptions"] == []


def test_parts_shared_between_passes_equal_the_parts_of_each_pass(kb, engine):
    """The laboratory histories and RPL-definition results are computed once per record and shared by every
    assumption pass (Engine.document): each pass's facts must equal the facts read from scratch, and the
    sharing must not be taken for a record whose results or pregnancies differ."""
    from rplnav import assumptions

    p = parse_patient(OBSTETRIC_APS, kb.tests, set(kb.therapies)).patient
    lists = assumptions.omitted(p, engine.history_lists)
    assert len(lists) >= 2  # conditions and thromboses are not in the letter
    shared = engine.facts.record_parts(p)
    for k in range(len(lists) + 1):
        variant = assumptions.assume_absent(p, lists[:k])
        assert shared.of(variant)
        assert engine.facts(variant, shared).same_as(engine.facts(variant))
    other = parse_patient({**OBSTETRIC_APS, "labs": OBSTETRIC_APS["labs"][:1]}, kb.tests, set(kb.therapies)).patient
    assert not shared.of(other)
    assert engine.facts(other, shared).same_as(engine.facts(other))
    assert engine.facts(other, shared).labs != engine.facts(p).labs


def _passes(kb, engine, parsed, guidelines=None):
    """The base pass of a record (every omitted list taken as empty) and the facts of every other reading the
    engine makes of it: the record as written and each omitted list restored in turn."""
    from rplnav import assumptions

    p = parsed.patient
    lists = assumptions.omitted(p, engine.history_lists)
    shared = engine.facts.record_parts(p)
    as_written = engine.facts(p, shared)
    assumed = engine.facts(assumptions.assume_absent(p, lists), shared)
    doc, unverified = engine._build(parsed, assumed, as_written, guidelines)
    base = engine._pass(assumed, decisions(doc), unverified)
    others = [as_written] + [engine.facts(assumptions.assume_absent(p, [x for x in lists if x is not h]), shared)
                             for h in lists]
    return base, as_written, others


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rich_patients, st.sampled_from([None, ["ESHRE-2022"], ["ASRM-2012", "RCOG-2023", "ACR-2020"]]))
def test_a_pass_that_reuses_the_unchanged_parts_equals_a_full_pass(kb, engine, data, guidelines):
    """A leave-one-out pass takes every therapy and work-up item that reads no changed fact from the base pass
    (Engine._decisions): its decisions must equal those of a pass that rebuilds everything."""
    from rplnav.patient import InputError

    try:
        parsed = parse_patient(data, kb.tests, set(kb.therapies))
    except InputError:
        return
    base, as_written, others = _passes(kb, engine, parsed, guidelines)
    for facts in others:
        assert engine._decisions(parsed, facts, guidelines, as_written, base=base) == \
            engine._decisions(parsed, facts, guidelines, as_written)


def test_restoring_one_list_rebuilds_only_the_parts_that_read_it(kb, engine):
    """The letter omits the luteal-phase finding: restoring it to "not documented" changes only the facts
    about it, so nearly every therapy and work-up item is taken from the base pass, and progesterone (whose
    statements name luteal-phase insufficiency) is rebuilt."""
    from rplnav import assumptions
    from rplnav.assess import Citations

    parsed = parse_patient(OBSTETRIC_APS, kb.tests, set(kb.therapies))
    base, as_written, others = _passes(kb, engine, parsed)
    lists = assumptions.omitted(parsed.patient, engine.history_lists)
    luteal = others[1 + [h.id for h in lists].index("no-luteal-phase-insufficiency-recorded")]
    differ = frozenset(n for n in luteal if luteal[n] != base.facts[n])
    assert "luteal_phase_insufficiency" in differ
    parts = engine._decided_parts(parsed, luteal, as_written, Citations(engine), None, full=False, base=base,
                                  differ=differ)
    rebuilt = {o["therapy"] for o in parts["options"]}
    assert "progesterone" in rebuilt
    assert len(parts["reused"]) > 3 * len(rebuilt)


def test_readings_that_differ_only_in_what_aps_does_not_read_share_one_classification(kb, engine):
    """The luteal-phase finding is not an APS criterion: restoring it gives the very classification of the
    base reading, while restoring the thrombosis history classifies again (it is a clinical criterion)."""
    from rplnav import assumptions

    p = parse_patient(OBSTETRIC_APS, kb.tests, set(kb.therapies)).patient
    lists = {h.id: h for h in assumptions.omitted(p, engine.history_lists)}
    shared = engine.facts.record_parts(p)
    assumed = engine.facts(assumptions.assume_absent(p, lists.values()), shared)

    def restored(list_id):
        return engine.facts(assumptions.assume_absent(p, [h for k, h in lists.items() if k != list_id]), shared)

    assert restored("no-luteal-phase-insufficiency-recorded").aps is assumed.aps
    thromb = restored("no-thrombosis-recorded")
    assert thromb.aps is not assumed.aps
    assert thromb.aps.as_dict() != assumed.aps.as_dict()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rich_patients)
def test_every_reading_has_the_classification_made_from_scratch(kb, engine, data):
    """Whatever a reading reuses from an earlier reading of the record, its APS report equals the one the
    criteria give that reading alone."""
    from rplnav import assumptions
    from rplnav.criteria import aps as aps_criteria
    from rplnav.patient import InputError

    try:
        p = parse_patient(data, kb.tests, set(kb.therapies)).patient
    except InputError:
        return
    lists = assumptions.omitted(p, engine.history_lists)
    shared = engine.facts.record_parts(p)
    readings = [p, assumptions.assume_absent(p, lists)] + \
        [assumptions.assume_absent(p, [x for x in lists if x is not h]) for h in lists]
    for r in readings:
        assert engine.facts(r, shared).aps == aps_criteria.classify(r, kb.tests, rules=engine.facts.aps_rules)
