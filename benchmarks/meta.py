"""Benchmark for rplnav.evidence (a script, not a test): ``python benchmarks/meta.py``.

(a) one REML fit with every output (CI, Q-profile tau^2 CI, prediction interval) on k = 13, x1000 (a batch of
    one row), and the assessment's plain-Python REML;
(b) 10,000 independent REML meta-analyses (k = 13) vectorised, and the max relative difference to one-row
    fits (checked on a sample of 500 rows);
(c) leave-one-out + cumulative REML analyses on k = 30;
(d) the assessment's per-patient evidence summaries (stratified pooling, cached).
Comparisons (skipped when not importable / not installed): statsmodels ``combine_effects`` (DL, PM),
PyMARE (REML), metafor through ``Rscript benchmarks/metafor_timing.R`` (the same data and outputs as (a); without
R the benchmark says so and runs the rest).  Targets: (a) at least 50x faster than metafor; (b) <= 0.3 s, exact
to 1e-9.
"""

from __future__ import annotations

import gc
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rplnav.evidence import analyses, plain_reml, pool  # noqa: E402

BCG_Y = np.array([-0.889311333920205, -1.58538865720143, -1.34807314829969, -1.44155119002131, -0.217547322211296,
                  -0.786115585818864, -1.62089822359839, 0.0119523335238405, -0.469417648738149, -1.37134480347278,
                  -0.339358828338391, 0.445913400571379, -0.0173139482168798])
BCG_V = np.array([0.325584765003961, 0.194581121398144, 0.415367965367965, 0.0200100319022476, 0.0512101721696309,
                  0.00690561845590876, 0.223017247572315, 0.00396157929781773, 0.056434210463249, 0.0730247936130289,
                  0.0124122139715597, 0.532505845200153, 0.0714046596839863])


def timeit(fn, n, repeat=5):
    """Seconds per call: the median of ``repeat`` runs of ``n`` calls, after a warm-up of at least 0.3 s,
    with the garbage collector paused during each run as the standard library's ``timeit`` does (a shared
    machine's noise moves single runs by 10-20 %, and the first tenths of a second after start-up run slow)."""
    fn()
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        fn()
    runs = []
    for _ in range(repeat):
        gc.disable()
        try:
            t = time.perf_counter()
            for _ in range(n):
                fn()
            runs.append((time.perf_counter() - t) / n)
        finally:
            gc.enable()
    return statistics.median(runs)


def metafor_rows(t_ours: float, ours) -> list[tuple[str, str, str]]:
    """metafor's time for step (a) (benchmarks/metafor_timing.R: rma + confint + predict on the same data, median
    of 5 runs of 200 fits), the ratio to ours against the 50x target, and how far its outputs are from ours."""
    if not shutil.which("Rscript"):
        return [("metafor (a)", "Rscript not found", "ratio to metafor not measured (R with metafor not installed)")]
    script = Path(__file__).resolve().with_name("metafor_timing.R")
    args = ["Rscript", str(script), "200", "5", ",".join(map(repr, BCG_Y.tolist())), ",".join(map(repr, BCG_V.tolist()))]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True).stdout
        got = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
        t_mf = float(got["us_per_fit"]) * 1e-6
    except (subprocess.SubprocessError, ValueError, KeyError) as exc:
        return [("metafor (a)", "Rscript failed", f"not measured ({exc.__class__.__name__})")]
    mine = {"tau2": ours.tau2, "estimate": ours.estimate, "se": ours.se, "ci_lb": ours.ci_lower,
            "ci_ub": ours.ci_upper, "tau2_ci_lb": ours.tau2_ci[0], "tau2_ci_ub": ours.tau2_ci[1],
            "pi_lb": ours.pi_lower, "pi_ub": ours.pi_upper}
    diff = max(abs(mine[key] - float(got[key])) / abs(float(got[key])) for key in mine)
    ratio = t_mf / t_ours
    versions = f"R {got['r_version'].strip()}, metafor {got['metafor_version'].strip()}"
    return [
        ("metafor rma + confint + predict, k=13 (benchmarks/metafor_timing.R)", f"{t_mf * 1e6:.0f} us/fit",
         f"{versions}; median of 5 runs x 200 ({got['us_per_fit_runs'].strip()} us)"),
        ("(a) speed-up over metafor", f"{ratio:.1f}x", f"target >= 50x: {'met' if ratio >= 50 else 'not met'}"),
        ("(a) max rel. diff of the 9 outputs vs metafor", f"{diff:.1e}",
         "tau2, estimate, SE, CI, tau2 CI, PI; metafor at its default tolerances"),
    ]


def main() -> None:
    rows = []
    # (a)
    t_api = timeit(lambda: pool.rma_uni(BCG_Y, BCG_V, method="REML"), 1000)
    t_plain = timeit(lambda: plain_reml.pool(list(BCG_Y), list(BCG_V)), 1000)
    rows.append(("(a) REML + CI + Q-profile + PI, k=13 (rma_uni: the batch fit with one row)",
                 f"{t_api * 1e6:.0f} us/fit", "metafor / 50 (median of 5 runs x 1,000)"))
    rows.append(("(a) REML + CI + PI, k=13, plain Python (the assessment's path)", f"{t_plain * 1e6:.0f} us/fit", ""))
    # (b)
    rng = np.random.default_rng(20251121)
    B, k = 10_000, 13
    v = rng.uniform(0.01, 0.3, (B, k))
    y = rng.normal(0.2, np.sqrt(v + rng.choice([0.0, 0.02, 0.1, 0.3], B)[:, None]))
    analyses.batch_fit(y[:10], v[:10])
    bat = analyses.batch_fit(y, v, method="REML")
    t_b = timeit(lambda: analyses.batch_fit(y, v, method="REML"), 1, repeat=3)
    t_bn = timeit(lambda: analyses.batch_fit(y, v, method="REML", qprofile=False), 1, repeat=3)
    bat_nq = None
    worst = 0.0
    for b in range(0, B, 20):
        s = pool.rma_uni(y[b], v[b], method="REML")
        for key, val in (("tau2", s.tau2), ("estimate", s.estimate), ("se", s.se), ("tau2_ci_ub", s.tau2_ci[1])):
            ref = bat[key][b]
            worst = max(worst, abs(ref - val) / max(abs(val), 1e-300) if val != 0 else abs(ref - val))
    del bat_nq
    rows.append(("(b) 10,000 REML fits vectorised, with Q-profile CI", f"{t_b:.3f} s", "<= 0.3 s (median of 3 runs)"))
    rows.append(("(b) 10,000 REML fits vectorised, without Q-profile", f"{t_bn:.3f} s", ""))
    rows.append(("(b) max rel. diff 10,000-row batch vs one-row fits (500 rows)", f"{worst:.1e}", "<= 1e-9"))
    # (c)
    y30 = rng.normal(0.2, 0.4, 30)
    v30 = rng.uniform(0.01, 0.3, 30)
    data = {"study": [f"S{i}" for i in range(30)], "yi": y30, "vi": v30}
    t_c = timeit(lambda: (analyses.leave_one_out(data, measure="GEN", method="REML"),
                          analyses.cumulative(data, measure="GEN", method="REML")), 20)
    rows.append(("(c) leave-one-out + cumulative, REML, k=30", f"{t_c * 1e3:.1f} ms", ""))
    # (d) the assessment's evidence summaries (every therapy, one patient; pooled results cached by rows)
    from rplnav.assess import Engine
    from rplnav.evidence.stratify import StudyIndex
    from rplnav.knowledge.load import default_knowledge
    from rplnav.patient import read_patient

    kb = default_knowledge()
    ex = Path(__file__).resolve().parents[1] / "examples" / "02-unexplained-4-losses.yaml"
    facts = Engine(kb).facts(read_patient(str(ex), kb.tests, set(kb.therapies)).patient)
    index = StudyIndex(kb)
    t_d = timeit(lambda: [index.summary(t, facts) for t in kb.therapies], 500)
    rows.append(("(d) evidence summaries for all therapies, one patient", f"{t_d * 1e6:.0f} us", "assessment path"))
    # comparisons
    try:
        from statsmodels.stats.meta_analysis import combine_effects

        t_sm = timeit(lambda: combine_effects(BCG_Y, BCG_V, method_re="pm"), 300)
        rows.append(("statsmodels combine_effects PM, k=13", f"{t_sm * 1e6:.0f} us/fit", "no REML, no Q-profile"))
    except ImportError:
        rows.append(("statsmodels", "not installed", "skipped"))
    try:
        from pymare import Dataset
        from pymare.estimators import VarianceBasedLikelihoodEstimator

        ds = Dataset(BCG_Y, BCG_V)
        t_pm = timeit(lambda: VarianceBasedLikelihoodEstimator(method="REML").fit_dataset(ds).summary(), 100)
        rows.append(("PyMARE REML, k=13", f"{t_pm * 1e6:.0f} us/fit", "no Q-profile in this timing"))
        est = VarianceBasedLikelihoodEstimator(method="REML").fit_dataset(ds).summary().tau2
        ours = pool.rma_uni(BCG_Y, BCG_V).tau2
        rows.append(("PyMARE REML tau2 rel. diff vs ours", f"{abs(float(np.ravel(est)[0]) - ours) / ours:.1e}", ""))
    except Exception as exc:  # noqa: BLE001 - optional comparison only
        rows.append(("PyMARE", f"unavailable ({exc.__class__.__name__})", "skipped"))
    rows += metafor_rows(t_api, pool.rma_uni(BCG_Y, BCG_V, method="REML"))
    w = max(len(r[0]) for r in rows)
    print(f"{'workload'.ljust(w)}  {'measured':>18}  target / note")
    print("-" * (w + 40))
    for name, val, note in rows:
        print(f"{name.ljust(w)}  {val:>18}  {note}")


if __name__ == "__main__":
    main()
