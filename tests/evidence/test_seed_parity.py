"""Seed 002 RevMan forest plots reproduced to the printed decimals (fixtures in data/, see data/README.md)."""

from __future__ import annotations

import math
from pathlib import Path

from rplnav.evidence.analyses import fmt_subgroup_line, subgroup_analysis
from rplnav.evidence.csvio import read_csv
from rplnav.evidence.pool import fmt_effect, fmt_p, heterogeneity_line, meta_analysis, overall_line

DATA = Path(__file__).parent / "data"


def test_vitamin_d_mh_random_revman5():
    data = read_csv(DATA / "vitd_miscarriage.csv")
    res = meta_analysis(data, measure="OR", method="MH", random=True, profile="revman5")
    assert fmt_effect(res.estimate, res.ci_lower, res.ci_upper) == "1.60 [1.11, 2.30]"
    assert heterogeneity_line(res) == "Heterogeneity: Tau² = 0.07; Chi² = 7.67, df = 5 (P = 0.18); I² = 35%"
    assert overall_line(res) == "Test for overall effect: Z = 2.51 (P = 0.01)"
    assert [f"{w:.1f}%" for w in res.weights] == ["16.0%", "8.1%", "29.1%", "25.6%", "6.8%", "14.4%"]
    printed_rows = ["3.21 [1.51, 6.82]", "1.29 [0.40, 4.19]", "1.21 [0.78, 1.89]", "1.12 [0.68, 1.87]",
                    "2.77 [0.75, 10.23]", "2.08 [0.92, 4.69]"]
    z = 1.959963984540054
    for i, want in enumerate(printed_rows):
        se = math.sqrt(res.vi[i])
        assert fmt_effect(res.yi[i], res.yi[i] - z * se, res.yi[i] + z * se) == want
    assert sum(data["n1i"]) == 4102 and sum(data["n2i"]) == 2236
    assert sum(data["ai"]) == 209 and sum(data["ci"]) == 88


def test_vitamin_d_plain_dl_differs_as_documented():
    """A plain inverse-variance DL fit does not reproduce the plot (Z 2.53, upper 2.29): the MH-based Q matters."""
    data = read_csv(DATA / "vitd_miscarriage.csv")
    res = meta_analysis(data, measure="OR", method="DL", profile="revman5")
    assert fmt_effect(res.estimate, res.ci_lower, res.ci_upper) == "1.60 [1.11, 2.29]"
    assert f"{res.stat:.2f}" == "2.53"


def test_cni_mh_fixed_subgroups_revman5():
    data = read_csv(DATA / "cni_live_birth.csv", subgroup="drug")
    sg = subgroup_analysis(data, data["subgroup"], measure="OR", method="MH", profile="revman5")
    tot = sg.overall
    assert tot.reasons[2] is not None and "empty arm" in tot.reasons[2]
    assert tot.k == 3
    assert fmt_effect(tot.estimate, tot.ci_lower, tot.ci_upper) == "2.25 [1.54, 3.29]"
    assert overall_line(tot) == "Test for overall effect: Z = 4.17 (P < 0.0001)"
    assert heterogeneity_line(tot) == "Heterogeneity: Chi² = 0.39, df = 2 (P = 0.82); I² = 0%"
    assert [f"{w:.1f}%" for w in tot.weights[tot.included]] == ["37.6%", "31.9%", "30.5%"]
    csa, tac = sg.groups["CsA"], sg.groups["TAC"]
    assert fmt_effect(csa.estimate, csa.ci_lower, csa.ci_upper) == "2.09 [1.31, 3.32]"
    assert heterogeneity_line(csa) == "Heterogeneity: Chi² = 0.09, df = 1 (P = 0.76); I² = 0%"
    assert fmt_effect(tac.estimate, tac.ci_lower, tac.ci_upper) == "2.62 [1.34, 5.10]"
    assert heterogeneity_line(tac) == "Heterogeneity: Not applicable"
    assert fmt_p(tac.pvalue) == "P = 0.005"
    assert fmt_subgroup_line(sg) == "Test for subgroup differences: Chi² = 0.30, df = 1 (P = 0.58), I² = 0%"
    # subgroup weights within the total as printed (69.5% / 30.5%)
    assert f"{tot.weights[0] + tot.weights[1]:.1f}" == "69.5"


def test_vitamin_d_revman_web_vignette():
    """The same data under REML + HKSJ (documented vignette values in the shared notes)."""
    data = read_csv(DATA / "vitd_miscarriage.csv")
    res = meta_analysis(data, measure="OR", profile="revman-web")
    assert res.method == "REML" and res.test == "knha"
    assert f"{math.exp(res.estimate):.3f}" == "1.613"
    assert f"{math.exp(res.ci_lower):.3f} {math.exp(res.ci_upper):.3f}" == "1.008 2.583"
    assert f"{res.tau2:.4f}" == "0.0858"
    assert f"{res.i2:.1f}" == "40.0"
    assert f"{math.exp(res.pi_lower):.2f} {math.exp(res.pi_upper):.2f}" == "0.66 3.92"
    dl = meta_analysis(data, measure="OR", method="DL", hksj=True, profile="revman-web")
    assert f"{math.exp(dl.ci_lower):.3f}" == "0.999"
