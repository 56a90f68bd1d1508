"""Derived facts: loss counts, three-valued lab and condition facts."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_loss_bands_and_boundaries(engine, make):
    f = engine.facts(make(pregnancies=[
        {"outcome": "miscarriage", "gestational_age": "9+6"},
        {"outcome": "miscarriage", "gestational_age": "10+0"},
        {"outcome": "miscarriage", "gestational_age": "15+6"},
        {"outcome": "stillbirth", "gestational_age": "16+0"},
        {"outcome": "biochemical"},
        {"outcome": "ectopic", "gestational_age": 6},
    ]).patient)
    assert f["losses.total"] == 5 and f["losses.clinical"] == 4 and f["losses.biochemical"] == 1
    assert f["losses.early_lt10w"] == 2  # 9+6 and the biochemical loss
    assert f["losses.early_fetal_10_15w"] == 2  # 10+0 and 15+6
    assert f["losses.fetal_ge16w"] == 1
    assert f["losses.second_trimester"] == 2  # 15+6 and 16+0 (14+0 to 23+6)
    assert f["losses.consecutive_max"] == 5  # the ectopic at the end breaks nothing before it
    assert f["losses.ectopic"] == 1


def test_missing_ga_makes_bands_unknown_not_zero(engine, make):
    f = engine.facts(make(pregnancies=[{"outcome": "miscarriage"}, {"outcome": "miscarriage", "gestational_age": 7}]).patient)
    assert f["losses.total"] == 2
    assert f["losses.early_lt10w"] is None and f["losses.fetal_ge10w"] is None


def test_consecutive_run_broken_by_live_birth(engine, make):
    f = engine.facts(make(pregnancies=[{"outcome": "miscarriage"}, {"outcome": "miscarriage"},
                                       {"outcome": "live_birth", "gestational_age": 39}, {"outcome": "miscarriage"}]).patient)
    assert f["losses.consecutive_max"] == 2 and f["rpl.secondary"] is True


def test_conditions_unknown_without_list(engine, make):
    assert engine.facts(make().patient)["condition.sle"] is None
    assert engine.facts(make(conditions=[]).patient)["condition.sle"] is False
    assert engine.facts(make(conditions=["sle"]).patient)["condition.sle"] is True


def test_lab_facts(engine, make):
    f = engine.facts(make(labs=[
        {"test": "anticardiolipin_igg", "value": 30, "unit": "GPL", "date": "2025-01-01"},
        {"test": "tsh", "value": 5.1, "unit": "mIU/L", "reference_high": 4.0, "date": "2025-01-01"},
    ]).patient)
    # 30 GPL is below 40 but the lab's 99th percentile was not given: undecided
    assert f["lab.anticardiolipin_igg.positive"] is None
    assert f["lab.tsh.positive"] is True and f["thyroid.tsh_abnormal"] is True
    assert f["lab.prolactin.tested"] is False and f["lab.prolactin.positive"] is None


def test_loss_despite_treatment(engine, make):
    f = engine.facts(make(pregnancies=[{"outcome": "miscarriage", "treatments": ["aspirin", "lmwh"]},
                                       {"outcome": "live_birth", "gestational_age": 38, "treatments": ["progesterone"]}]).patient)
    assert f["loss_despite.aspirin_lmwh"] is True
    assert f["treated.progesterone"] is True and f["loss_despite.progesterone"] is False


def test_persistence_rule_12_weeks(engine, make):
    def persistent(*results):
        labs = [{"test": "lupus_anticoagulant", "result": r, "date": d} for d, r in results]
        return engine.facts(make(labs=labs).patient)["lab.lupus_anticoagulant.persistent"]

    assert persistent(("2025-01-01", "positive"), ("2025-03-26", "positive")) is True  # 84 days
    assert persistent(("2025-01-01", "positive"), ("2025-03-25", "positive")) is None  # 83 days: repeat needed
    assert persistent(("2025-01-01", "positive"), ("2025-04-30", "negative")) is False
    assert persistent(("2025-01-01", "negative"),) is False
    assert persistent(("2025-01-01", "positive"),) is None


outcomes = st.sampled_from(["miscarriage", "biochemical", "pul_resolved", "ectopic", "molar", "stillbirth",
                            "live_birth", "termination"])
preg = st.builds(lambda o, ga: {"outcome": o, **({"gestational_age": ga} if ga is not None and o not in ("biochemical", "pul_resolved") else {})},
                 outcomes, st.one_of(st.none(), st.integers(3, 42)))
COUNTS = ["losses.total", "losses.clinical", "losses.biochemical", "losses.consecutive_max", "losses.early_lt10w",
          "losses.fetal_ge10w", "losses.fetal_ge16w", "losses.first_trimester", "losses.second_trimester"]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(preg, max_size=8), preg.filter(lambda p: p["outcome"] in ("miscarriage", "biochemical", "stillbirth")))
def test_counts_consistent_and_monotone(engine, make, pregs, loss):
    f = engine.facts(make(pregnancies=pregs).patient)
    assert f["losses.clinical"] + f["losses.biochemical"] == f["losses.total"]
    if f["losses.early_lt10w"] is not None:
        assert f["losses.early_lt10w"] + f["losses.fetal_ge10w"] == f["losses.total"]
    g = engine.facts(make(pregnancies=pregs + [loss]).patient)
    for c in COUNTS:
        if f[c] is not None and g[c] is not None:
            assert g[c] >= f[c], c


def test_the_why_names_built_from_the_catalogue_are_the_names_a_derivation_writes(kb):
    """`_aps_why` looks only at names known before any patient is read; they must be exactly the names derive()
    and the APS report write, for every example record (or an undecided finding loses its 'record this')."""
    from rplnav import facts as facts_mod
    from rplnav.criteria import aps as aps_criteria
    from rplnav.examples import example_files
    from rplnav.patient import read_patient

    deriver = facts_mod.FactDeriver(kb)
    for path in example_files():
        patient = read_patient(str(path), kb.tests, set(kb.therapies)).patient
        parts = deriver.record_parts(patient)
        f = facts_mod.derive(patient, deriver.catalogue, parts.histories, deriver.bands, deriver.limits)
        f.update(aps_criteria.classify(patient, deriver.tests, parts.histories, deriver.aps_rules).facts())
        assert set(deriver.why_names.names) == set(f), path.name
    assert deriver.why_names.apl and deriver.why_names.found
