"""Monotonicity properties of the APS classification (hypothesis).

* Adding a positive aPL result never lowers a definite 2023 point total.
* Removing an aPL result never turns an `indeterminate` classification into `met` (Sydney or 2023).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rplnav.criteria.aps import classify
from rplnav.patient import InputError
from tests.criteria.test_aps_sydney import CLEAN, KB, THREE_EARLY, make

START = dt.date(2021, 1, 1)
TESTS = ("lupus_anticoagulant", "anticardiolipin_igg", "anticardiolipin_igm", "anti_b2gpi_igg", "anti_b2gpi_igm")


@st.composite
def dates(draw) -> str:
    d = START + dt.timedelta(days=draw(st.integers(0, 1800)))
    precision = draw(st.sampled_from(["day", "day", "day", "month", "year"]))
    return {"day": d.isoformat(), "month": d.isoformat()[:7], "year": d.isoformat()[:4]}[precision]


@st.composite
def results(draw, positive: bool = False) -> dict[str, Any]:
    test = draw(st.sampled_from(TESTS))
    lab: dict[str, Any] = {"test": test, "date": draw(dates())}
    if test == "lupus_anticoagulant":
        lab["result"] = "positive" if positive else draw(st.sampled_from(["positive", "negative"]))
        return lab
    lab["unit"] = {"anticardiolipin_igg": "GPL", "anticardiolipin_igm": "MPL"}.get(test, "U/mL")
    ref = draw(st.one_of(st.none(), st.sampled_from([10.0, 20.0, 40.0])))
    if positive:
        lab["value"] = float(draw(st.integers(int(ref or 40) + 1, 200)))
        if test.startswith("anti_b2gpi") and ref is None:
            ref = 20.0
    else:
        lab["value"] = float(draw(st.integers(0, 150)))
    if ref is not None:
        lab["reference_high"] = ref
    return lab


@st.composite
def backgrounds(draw) -> dict[str, Any]:
    choice = draw(st.sampled_from(["early", "vte", "pe", "none", "early_undocumented"]))
    findings = dict(CLEAN)
    pregs: list[dict[str, Any]] = []
    if choice in ("early", "early_undocumented"):
        pregs = list(THREE_EARLY)
        if choice == "early_undocumented":
            findings = {"thromboses": []}
    elif choice == "vte":
        findings["thromboses"] = [{"type": "venous", "date": draw(dates()),
                                   "high_risk_profile": draw(st.sampled_from([True, False, None]))}]
    elif choice == "pe":
        pregs = [{"outcome": "live_birth", "gestational_age": "30+0", "date": draw(dates()),
                  "severe_preeclampsia": True, "placental_insufficiency": draw(st.booleans()),
                  "morphologically_normal": True}]
    if draw(st.booleans()):
        findings["thrombocytopenia_lowest"] = float(draw(st.integers(10, 300)))
    return {"pregnancies": pregs, "findings": findings}


def _classify(background: dict[str, Any], labs: list[dict[str, Any]]):
    try:
        patient = make(labs=labs, **background)
    except InputError:  # e.g. contradictory results of one test on one day: not a valid input
        assume(False)
        raise
    return classify(patient, KB.tests)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(backgrounds(), st.lists(results(), max_size=6), results(positive=True))
def test_adding_a_positive_result_never_lowers_points(background, labs, extra):
    before = _classify(background, labs).acr_eular_2023
    after = _classify(background, labs + [extra]).acr_eular_2023
    assert after["laboratory_points"] >= before["laboratory_points"]
    assert after["clinical_points"] >= before["clinical_points"]
    for d in ("D7", "D8"):
        assert after["domains"][d] >= before["domains"][d]


@SETTINGS
@given(backgrounds(), st.lists(results(), min_size=1, max_size=6), st.data())
def test_removing_a_result_never_turns_indeterminate_into_met(background, labs, data):
    i = data.draw(st.integers(0, len(labs) - 1))
    before = _classify(background, labs)
    after = _classify(background, labs[:i] + labs[i + 1:])
    for key in ("sydney_2006", "acr_eular_2023"):
        if getattr(before, key)["status"] == "indeterminate":
            assert getattr(after, key)["status"] != "met", key


@SETTINGS
@given(backgrounds(), st.lists(results(), max_size=6))
def test_status_is_consistent_with_facts_and_missing(background, labs):
    r = _classify(background, labs)
    s, a, f = r.sydney_2006, r.acr_eular_2023, r.facts()
    assert s["status"] in ("met", "not_met", "indeterminate")
    assert a["status"] in ("met", "not_met", "indeterminate", "entry_not_met")
    assert f["aps.sydney_2006"] == {"met": True, "not_met": False, "indeterminate": None}[s["status"]]
    assert (s["status"] == "indeterminate") == bool(s["missing"])
    if a["status"] == "indeterminate":
        assert a["missing"]
    if a["status"] == "met":
        assert a["clinical_points"] >= 3 and a["laboratory_points"] >= 3 and a["entry"]["met"] is True
    assert a["clinical_points"] <= a["clinical_points_possible"]
    assert a["laboratory_points"] <= a["laboratory_points_possible"]
    if f["aps.obstetric"] or f["aps.thrombotic"]:
        assert f["aps.sydney_2006"] is True


def test_kleene_combinations_report_next_steps_in_order_without_repeats():
    """Undecided combinations keep their operands and flatten the next steps only when read; the result must
    be the ordered, de-duplicated union, nested at any depth."""
    from rplnav.logic import FALSE, TRUE, all_of, any_of, at_least, unknown

    a, b, c = unknown("x", "y"), unknown("y", "z"), unknown("w", "x")
    r = any_of([a, FALSE, b])
    assert r.value is None and r.needs == ("x", "y", "z")
    r2 = all_of([r, c, TRUE])
    assert r2.value is None and r2.needs == ("x", "y", "z", "w")
    assert any_of([r2, TRUE]) is TRUE and all_of([r2, FALSE]) is FALSE
    assert all_of([TRUE, a]) is a  # a single undecided operand is passed through unchanged
    assert at_least(2, [TRUE, a, b]).needs == ("x", "y", "z")
    assert at_least(2, [TRUE, TRUE, a]) is TRUE and at_least(2, [FALSE, FALSE, a]).value is False
    assert r2 == all_of([any_of([a, b]), c])  # equality compares value and next steps
