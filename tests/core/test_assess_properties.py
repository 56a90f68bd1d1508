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

    from rplnav.assess import Engine

    for data in batch:
        parsed = parse_patient(data, kb.tests, set(kb.therapies))
        warm = engine.assess(parsed)
        cold = Engine(kb).assess(parsed)
        assert warm.to_json() == cold.to_json()


# ---------------------------------------------------------------- richer patients for the memoisation check
# Every input field that some criterion, population, caution, timing window or study row reads, so that a
# memo key missing one of them would make a warm engine disagree with a fresh one.

_dates = st.builds(lambda y, m, d, prec: f"{y}" if prec == 0 else f"{y}-{m:02d}" if prec == 1 else f"{y}-{m:02d}-{d:02d}",
                   st.integers(2018, 2025), st.integers(1, 12), st.integers(1, 28), st.sampled_from([0, 1, 2, 2]))
_maybe = st.sampled_from([True, False, None])


@st.composite
def rich_pregnancy(draw):
    p = draw(pregnancy())
    for key in ("morphologically_normal", "severe_preeclampsia", "placental_insufficiency"):
        v = draw(_maybe)
        if v is not None:
            p[key] = v
    if draw(st.booleans()):
        p["poc_karyotype"] = draw(st.sampled_from(["euploid", "aneuploid", "unbalanced_structural", "unknown"]))
    return p


@st.composite
def apl_result(draw):
    test = draw(st.sampled_from(["lupus_anticoagulant", "anticardiolipin_igg", "anticardiolipin_igm",
                                 "anti_b2gpi_igg", "anti_b2gpi_igm", "platelet_count"]))
    lab = {"test": test, "date": draw(_dates)}
    if test == "lupus_anticoagulant":
        lab["result"] = draw(st.sampled_from(["positive", "negative"]))
    elif test == "platelet_count":
        lab.update(value=float(draw(st.integers(10, 300))), unit="10^9/L")
    else:
        lab.update(value=float(draw(st.sampled_from([5, 25, 39.9, 40, 60, 79.9, 80, 150]))),
                   unit={"anticardiolipin_igg": "GPL", "anticardiolipin_igm": "MPL"}.get(test, "U/mL"))
        if draw(st.booleans()):
            lab["reference_high"] = draw(st.sampled_from([10.0, 20.0, 40.0]))
    return lab


@st.composite
def findings(draw):
    f = {}
    if draw(st.booleans()):
        f["uterus"] = draw(st.sampled_from(["normal", "septate", "arcuate", "bicornuate", "unknown"]))
    if draw(st.booleans()):
        f["parental_karyotype"] = draw(st.sampled_from(["normal", "balanced_translocation", "unknown"]))
    if draw(st.booleans()):
        f["thromboses"] = draw(st.lists(st.builds(
            lambda t, d, h, s: {"type": t, "superficial": s, **({"date": d} if d else {}),
                                **({"high_risk_profile": h} if h is not None else {})},
            st.sampled_from(["venous", "arterial", "small_vessel"]), st.one_of(st.none(), _dates), _maybe,
            st.booleans()), max_size=2))
    for key, values in (("cardiac_valve", ["none", "thickening", "vegetation"]),
                        ("microvascular", ["none", "suspected", "established"])):
        if draw(st.booleans()):
            f[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        f["thrombocytopenia_lowest"] = float(draw(st.integers(10, 200)))
    if draw(st.booleans()):
        f["chronic_endometritis"] = draw(st.booleans())
    return f


rich_patients = st.builds(
    lambda base, pregs, labs, fi, current: {**base, "pregnancies": pregs, "labs": base["labs"] + labs, "findings": fi,
                                            **({"current": current} if current else {})},
    patients, st.lists(rich_pregnancy(), max_size=6),
    st.lists(apl_result(), max_size=6, unique_by=lambda x: (x["test"], x["date"])), findings(),
    st.one_of(st.none(), st.builds(
        lambda ga, iu, fh: {"gestational_age": ga, **({"intrauterine_confirmed": iu} if iu is not None else {}),
                            **({"fetal_heart_activity": fh} if fh and iu is not False else {})},
        st.integers(4, 30), _maybe, _maybe)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(rich_patients, min_size=2, max_size=5))
def test_memoised_blocks_equal_a_fresh_computation_rich(kb, engine, batch):
    """As above, with findings, every antiphospholipid test, pregnancy flags and the current pregnancy."""

    from rplnav.assess import Engine
    from rplnav.patient import InputError

    for data in batch:
        try:
            parsed = parse_patient(data, kb.tests, set(kb.therapies))
        except InputError:
            continue  # e.g. the same test twice on one date with different results
        warm = engine.assess(parsed)
        cold = Engine(kb).assess(parsed)
        assert warm.to_json() == cold.to_json()
