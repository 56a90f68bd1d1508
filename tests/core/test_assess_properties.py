"""Property: any valid generated patient assesses without error, and the document is self-consistent."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rplnav.patient import CONDITION_IDS, parse_patient

from ..conftest import base_patient

outcomes = st.sampled_from(["miscarriage", "biochemical", "pul_resolved", "ectopic", "molar", "stillbirth",
                            "live_birth", "termination"])


@st.composite
def pregnancy(draw):
    o = draw(outcomes)
    p = {"outcome": o}
    if o not in ("biochemical", "pul_resolved") and draw(st.booleans()):
        p["gestational_age"] = draw(st.one_of(st.integers(4, 40), st.builds(lambda w, d: f"{w}+{d}",
                                                                             st.integers(4, 40), st.integers(0, 6))))
    if draw(st.booleans()):
        p["date"] = f"{draw(st.integers(2010, 2025))}-{draw(st.integers(1, 12)):02d}"
    if draw(st.booleans()):
        p["treatments"] = draw(st.lists(st.sampled_from(["aspirin", "lmwh", "progesterone", "ivig"]), max_size=3,
                                        unique=True))
    return p


@st.composite
def lab(draw):
    kind = draw(st.sampled_from(["la", "acl", "tsh", "nk", "tpo", "vitd"]))
    date = f"2025-{draw(st.integers(1, 12)):02d}-{draw(st.integers(1, 28)):02d}"
    if kind == "la":
        return {"test": "lupus_anticoagulant", "result": draw(st.sampled_from(["positive", "negative"])), "date": date}
    if kind == "acl":
        lab = {"test": draw(st.sampled_from(["anticardiolipin_igg", "anticardiolipin_igm"])),
               "value": draw(st.floats(0, 200)), "unit": "U/mL", "date": date}
        if draw(st.booleans()):
            lab["reference_high"] = 20
        return lab
    test, unit = {"tsh": ("tsh", "mIU/L"), "nk": ("nk_cells_peripheral", "%"), "tpo": ("tpo_antibodies", "IU/mL"),
                  "vitd": ("vitamin_d_25oh", "nmol/L")}[kind]
    return {"test": test, "value": draw(st.floats(0, 99)), "unit": unit, "date": date, "reference_high": 50}


patients = st.builds(
    lambda age, pregs, labs, conds, current, country: base_patient(
        age=age, pregnancies=pregs, labs=labs, country=country,
        **({"conditions": conds} if conds is not None else {}), **({"current": current} if current else {})),
    st.integers(18, 50), st.lists(pregnancy(), max_size=7),
    st.lists(lab(), max_size=6, unique_by=lambda x: (x["test"], x["date"])),
    st.one_of(st.none(), st.lists(st.sampled_from(CONDITION_IDS), unique=True, max_size=3)),
    st.one_of(st.none(), st.builds(lambda ga, b: {"gestational_age": ga, "bleeding": b, "intrauterine_confirmed": True},
                                   st.integers(4, 20), st.booleans())),
    st.sampled_from(["US", "GB", "KR", None]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patients)
def test_any_valid_patient_assesses(kb, engine, data):
    parsed = parse_patient(data, kb.tests, set(kb.therapies))
    a = engine.assess(parsed)
    lo = a["losses"]
    assert lo["clinical"] + lo["biochemical"] == lo["total"]
    assert lo["consecutive_max"] <= lo["total"]
    for o in a["options"]:
        for s in o["stances"]:
            if s["applies"] is None:
                assert s["needs"], s["id"]
            else:
                assert s["needs"] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(patients, min_size=2, max_size=4))
def test_memoised_blocks_equal_a_fresh_computation(kb, engine, batch):
    """The engine memoises stances, work-up items, options and evidence by the facts they depend on; every
    document must equal the one a fresh engine (empty caches) computes for the same patient."""
    import json

    from rplnav.assess import Engine

    for data in batch:
        parsed = parse_patient(data, kb.tests, set(kb.therapies))
        warm = engine.assess(parsed)
        cold = Engine(kb).assess(parsed)
        assert json.dumps(warm, sort_keys=True, default=str) == json.dumps(cold, sort_keys=True, default=str)
