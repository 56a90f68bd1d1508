"""kb stats' trial registry: each randomised trial counted once, subgroup rows never, per therapy."""

from __future__ import annotations

from rplnav.kbstats import coverage, trial_registry


def test_trials_counted_once_and_subgroups_ignored(knowledge):
    reg = trial_registry(knowledge)["per_therapy"]
    expected: dict[str, set[str]] = {}
    for st in knowledge.studies:
        if st.design == "rct" and st.subgroup is None:
            expected.setdefault(st.therapy, set()).add(st.trial or st.id)
    for th, trials in expected.items():
        assert reg[th]["primary_trials"] == len(trials)
        assert set(reg[th]["trials"]) == trials
    # Yamada 2022: two outcome rows and four start-week subgroup rows, one trial
    assert sum(t == "yamada-2022" for t in reg["ivig"]["trials"]) == 1
    assert reg["ivig"]["primary_trials"] >= 8


def test_women_and_verified_shares(knowledge):
    reg = trial_registry(knowledge)
    ivig = reg["per_therapy"]["ivig"]
    # Coulam 1995 counts women randomised (95), not the 61 who conceived
    assert ivig["women_randomised"] >= 95 + 82 + 99
    assert 0 <= ivig["rows_verified"] <= ivig["primary_rows"]
    tot = reg["total"]
    assert tot["share_rows_verified"] == round(tot["rows_verified"] / tot["primary_rows"], 3)
    # ALIFE is one trial of two therapies: counted once overall
    per = sum(v["primary_trials"] for v in reg["per_therapy"].values())
    assert tot["primary_trials"] < per


def test_stats_json_carries_registry(knowledge):
    stats = coverage(knowledge)
    assert set(stats["trial_registry"]) == {"per_therapy", "total"}
    assert stats["trial_registry"]["total"]["reproductions"] == len(knowledge.reproductions)
