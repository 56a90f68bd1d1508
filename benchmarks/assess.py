"""Assessment speed: in-process throughput and latency over generated patients, and CLI cold start.

Run with `make bench` (or `.venv/bin/python benchmarks/assess.py [N]`). Targets (issue 10): p99 <= 5 ms per
assessment on one core, `rplnav assess` <= 0.6 s from a cold start (the throughput target of 1,000
assessments/s is retired).
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.progress import track

from rplnav.assess import Engine
from rplnav.collector import pace_for_a_warm_engine
from rplnav.examples import example_files
from rplnav.knowledge.load import default_knowledge
from rplnav.patient import parse_patient

OUTCOMES = ["miscarriage"] * 5 + ["biochemical", "live_birth", "ectopic", "stillbirth"]


def generate(rng: random.Random, i: int) -> dict:
    pregs = []
    for _ in range(rng.randint(1, 7)):
        o = rng.choice(OUTCOMES)
        p = {"outcome": o, "date": f"{rng.randint(2012, 2025)}-{rng.randint(1, 12):02d}"}
        if o != "biochemical":
            p["gestational_age"] = f"{rng.randint(5, 39) if o == 'live_birth' else rng.randint(5, 20)}+{rng.randint(0, 6)}"
        if rng.random() < 0.2:
            p["treatments"] = rng.sample(["aspirin", "lmwh", "progesterone", "prednisolone"], 2)
        pregs.append(p)
    labs = []
    for t, unit, hi in [("anticardiolipin_igg", "GPL", 20), ("tsh", "mIU/L", 4.0), ("tpo_antibodies", "IU/mL", 35)]:
        if rng.random() < 0.7:
            labs.append({"test": t, "value": round(rng.uniform(0, 90), 1), "unit": unit, "reference_high": hi,
                         "date": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"})
    for month in rng.sample(range(1, 13), rng.randint(0, 2)):  # one LA result per date
        labs.append({"test": "lupus_anticoagulant", "result": rng.choice(["positive", "negative"]),
                     "date": f"2025-{month:02d}-{rng.randint(1, 28):02d}"})
    d = {"schema": "rplnav.patient/v1", "id": f"bench-{i}", "age": rng.randint(20, 45), "pregnancies": pregs,
         "labs": labs, "country": rng.choice(["US", "GB", "DE", "KR"]), "assessed_on": "2026-11-01",
         "findings": {"uterus": rng.choice(["normal", "septate", "unknown"])}}
    if rng.random() < 0.5:
        d["conditions"] = rng.sample(["sle", "hypothyroidism", "latent_tb", "iga_deficiency"], rng.randint(0, 2))
    if rng.random() < 0.3:
        d["current"] = {"gestational_age": f"{rng.randint(4, 15)}+{rng.randint(0, 6)}", "bleeding": rng.random() < 0.5,
                        "intrauterine_confirmed": True}
    return d


def main(n: int = 10_000) -> None:
    pacer = pace_for_a_warm_engine()  # as the service does after each request (rplnav.collector)
    kb = default_knowledge()
    rng = random.Random(20261121)
    raw = [generate(rng, i) for i in range(n)]
    parsed = [parse_patient(d, kb.tests, set(kb.therapies)) for d in track(raw, description="validating")]
    # Three passes, each with a fresh engine (empty memo caches, so every pass pays the same misses); the
    # median pass is reported, because a shared machine's noise moves single passes by 10-20 %.
    passes = []
    for k in range(3):
        engine = Engine(kb)
        for p in parsed[:50]:  # warm-up (imports, first-use tables)
            engine.assess(p)
        lat = []
        t0 = time.perf_counter()
        for p in track(parsed, description=f"assessing (pass {k + 1} of 3)"):
            s = time.perf_counter()
            engine.assess(p)
            pacer.after_unit()
            lat.append(time.perf_counter() - s)
        passes.append((time.perf_counter() - t0, sorted(lat)))
    passes.sort(key=lambda x: x[0])
    total, lat = passes[1]
    q = statistics.quantiles(lat, n=100)
    rates = ", ".join(f"{n / t:,.0f}" for t, _ in passes)
    print(f"in-process: {n} assessments in {total:.2f} s = {n / total:,.0f} /s (one core; median of 3 passes: "
          f"{rates} /s)")
    print(f"latency: p50 {q[49] * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms, max {lat[-1] * 1e3:.2f} ms (median pass)")
    t0 = time.perf_counter()
    for d in raw[:2000]:
        parse_patient(d, kb.tests, set(kb.therapies))
    print(f"validation: {2000 / (time.perf_counter() - t0):,.0f} patients/s")
    f = example_files()[0]
    for fmt in ("text", "json"):
        for bytecode in (True, False):
            cli_cold_start(f, fmt, bytecode)


def cli_cold_start(f: Path, fmt: str, bytecode: bool, runs: int = 5) -> None:
    """`rplnav assess FILE -f FMT` in a new process, median of `runs` after one warm-up run (which writes the
    knowledge-base cache and, with `bytecode`, the compiled modules an installed package ships with). Without
    bytecode (PYTHONDONTWRITEBYTECODE=1 on a source checkout) every run compiles the package again."""
    import os
    import resource
    import tempfile

    exe = Path(sys.executable).with_name("rplnav")
    env = dict(os.environ)
    pyc = tempfile.TemporaryDirectory(prefix="rplnav-pyc-")
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pyc.name
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [str(exe), "assess", str(f), "-f", fmt]
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    walls, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - s)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    pyc.cleanup()
    print(f"CLI `rplnav assess {f.name} -f {fmt}` ({'with' if bytecode else 'without'} bytecode): wall median "
          f"{statistics.median(walls):.3f} s (min {min(walls):.3f}), CPU median {statistics.median(cpus):.3f} s "
          f"over {runs} runs")

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
