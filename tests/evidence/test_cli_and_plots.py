"""CLI (typer ``app`` via CliRunner), CSV validation and forest plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rplnav.evidence.cli import app
from rplnav.evidence.csvio import read_csv
from rplnav.evidence.forest import forest_plot
from rplnav.evidence.pool import meta_analysis

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def test_cli_json_vitd_revman5():
    r = _run("pool", str(DATA / "vitd_miscarriage.csv"), "--measure", "OR", "--method", "MH", "--random", "--profile", "revman5")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for key in ("k", "estimate", "se", "ci_lower", "ci_upper", "statistic", "pvalue", "tau2", "tau2_ci", "i2", "i2_q",
                "h2", "q", "q_df", "q_pvalue", "pi_lower", "pi_upper", "weights", "exp", "profile", "method", "measure"):
        assert key in out
    assert out["k"] == 6 and out["q_df"] == 5
    assert f"{out['exp']['estimate']:.2f}" == "1.60"
    assert [f"{x:.2f}" for x in out["exp"]["ci"]] == ["1.11", "2.30"]
    assert math.isclose(sum(out["weights"]), 100.0)


def test_cli_json_reml_hksj_generic(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("study,yi,vi\nA,0.1,0.04\nB,0.5,0.09\nC,-0.2,0.05\nD,0.3,0.02\n")
    r = _run("pool", str(p), "--measure", "RR", "--method", "REML", "--hksj")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["statistic_dist"] == "t" and out["df"] == 3
    assert out["tau2_ci"][0] == 0.0
    assert out["exp"]["pi"] is not None


def test_cli_subgroups_and_plot(tmp_path):
    png = tmp_path / "f.png"
    r = _run("pool", str(DATA / "cni_live_birth.csv"), "--method", "MH", "--profile", "revman5", "--subgroup", "drug", "--plot", str(png))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["weights"][2] is None
    assert out["studies"][2]["excluded"].startswith("empty arm")
    tsd = out["test_for_subgroup_differences"]
    assert f"{tsd['q']:.2f}" == "0.30" and tsd["df"] == 1 and f"{tsd['pvalue']:.2f}" == "0.58"
    assert f"{math.exp(out['subgroups']['CsA']['estimate']):.2f}" == "2.09"
    assert png.stat().st_size > 1000


def test_cli_text_format():
    r = _run("pool", str(DATA / "vitd_miscarriage.csv"), "--method", "MH", "--random", "--profile", "revman5", "--format", "text")
    assert r.exit_code == 0, r.output
    assert "Andersen 2015" in r.stdout
    assert "Tau² = 0.07; Chi² = 7.67, df = 5 (P = 0.18); I² = 35%" in r.stdout


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("study,ai,n1i,ci\nA,1,10,2\nB,2,10,3\n", ["column 'n2i'", "missing column", "line 1"]),
        ("study,ai,n1i,ci,n2i\nA,1,10,2,10\nB,x,10,3,10\n", ["line 3", "data row 2", "column 'ai'", "not a number"]),
        ("study,ai,n1i,ci,n2i\nA,1,10,2,10\nB,12,10,3,10\n", ["data row 2", "column 'ai'", "exceed"]),
        ("study,ai,n1i,ci,n2i\nA,1,10,-2,10\nB,2,10,3,10\n", ["data row 1", "column 'ci'", "negative"]),
        ("study,ai,n1i,ci,n2i\nA,1,10,2,10\n", ["at least 2", "column 'study'"]),
        ("study,yi,vi\nA,0.1,0.0\nB,0.2,0.1\n", ["data row 1", "column 'vi'"]),
        ("study,ai,n1i,ci,n2i\nA,1,10,2,\nB,2,10,3,10\n", ["data row 1", "column 'n2i'", "empty"]),
    ],
)
def test_cli_bad_csv_exit_2(tmp_path, content, needles):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    r = _run("pool", str(p), "--method", "REML")
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)


def test_cli_bad_options_exit_2():
    r = _run("pool", str(DATA / "vitd_miscarriage.csv"), "--measure", "XX")
    assert r.exit_code == 2 and "--measure" in r.stderr
    r = _run("pool", str(DATA / "vitd_miscarriage.csv"), "--method", "FOO")
    assert r.exit_code == 2 and "--method" in r.stderr
    r = _run("pool", str(DATA / "missing.csv"))
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_forest_png_and_svg(tmp_path):
    data = read_csv(DATA / "vitd_miscarriage.csv")
    res = meta_analysis(data, measure="OR", method="MH", random=True, profile="revman5")
    png = forest_plot(data, res, tmp_path / "vitd.png")
    svg = forest_plot(data, res, tmp_path / "vitd.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    text = svg.read_text()
    for s in data["study"]:
        assert s in text
    assert "1.60 [1.11, 2.30]" in text
    assert "Tau² = 0.07" in text


def test_forest_subgroups_not_estimable_svg(tmp_path):
    from rplnav.evidence.analyses import subgroup_analysis

    data = read_csv(DATA / "cni_live_birth.csv", subgroup="drug")
    sg = subgroup_analysis(data, data["subgroup"], measure="OR", method="MH", profile="revman5")
    svg = forest_plot(data, sg.overall, tmp_path / "cni.svg", subgroups=sg, groups=data["subgroup"])
    text = svg.read_text()
    for s in ("Qu 2021", "Nakagawa 2015", "Not estimable", "Subtotal", "Test for subgroup differences", "2.25 [1.54, 3.29]"):
        assert s in text, s


def test_report_forest_plots_need_neither_numpy_nor_matplotlib():
    """The reports draw forest plots in pure Python (matplotlib's import alone costs more than a report)."""
    import subprocess
    import sys

    code = ("import sys, rplnav.render.html, rplnav.evidence.forest_svg; "
            "print(sorted(m for m in ('numpy', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_svg_is_the_report_back_end(tmp_path):
    """One SVG implementation: the command line's .svg is the pure-Python drawing, text kept as text."""
    data = read_csv(DATA / "vitd_miscarriage.csv")
    res = meta_analysis(data, measure="OR", method="MH", random=True, profile="revman5")
    text = forest_plot(data, res, tmp_path / "v.svg").read_text()
    assert 'class="forest"' in text and "matplotlib" not in text
    assert "M-H, Random, 95% CI" in text and "Odds Ratio" in text
