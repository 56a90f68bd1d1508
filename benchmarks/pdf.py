"""PDF report speed and length for every example patient (issue 12: <= 2 s to render, <= 10 pages).

Run with `make bench` (or `.venv/bin/python benchmarks/pdf.py [repeats]`). Each example is assessed once, then
`render_pdf` is timed `repeats` times (default 3) after one warm-up render (fonts and WeasyPrint's first-use
tables); the best wall-clock and CPU times are printed with the page count as `pdfinfo`
(poppler) reads it. Best-of-N, because on a shared machine other jobs only ever add time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time

from rich.progress import track

from rplnav.assess import Engine
from rplnav.examples import example_files
from rplnav.knowledge.load import default_knowledge
from rplnav.patient import read_patient

TARGET_SECONDS = 2.0
TARGET_PAGES = 10


def pages(pdf: bytes) -> int | None:
    """The page count as a PDF reader sees it (None when no reader is available)."""
    if shutil.which("pdfinfo") is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        out = subprocess.run(["pdfinfo", f.name], capture_output=True, text=True).stdout
    m = re.search(r"^Pages:\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def host_speed() -> float:
    """Seconds of CPU for a fixed pure-Python loop (best of 5): printed beside the render times because this
    shared host's speed drifts by up to ~1.8x between runs without showing in load or steal time."""
    best = float("inf")
    for _ in range(5):
        t, s = time.process_time(), 0
        for i in range(1_000_000):
            s += i * i
        best = min(best, time.process_time() - t)
    return best


def main(repeats: int = 3) -> None:
    kb = default_knowledge()
    engine = Engine(kb)
    docs = [(p.name, engine.assess(read_patient(str(p), kb.tests, set(kb.therapies)))) for p in example_files()]
    t = time.perf_counter()
    import weasyprint  # noqa: F401, PLC0415

    from rplnav.render.pdf import render_pdf  # noqa: PLC0415 - its WeasyPrint import is timed (a CLI run pays it)
    imported = time.perf_counter() - t
    t = time.perf_counter()
    render_pdf(docs[0][1])  # warm-up
    first = time.perf_counter() - t
    rows = []
    for name, doc in track(docs, description="rendering PDFs"):
        walls, cpus, pdf = [], [], b""
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            pdf = render_pdf(doc)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        rows.append((name, min(walls), min(cpus), pages(pdf), len(pdf)))
    width = max(len(r[0]) for r in rows)
    print(f"{'example'.ljust(width)}  wall s   CPU s  pages     KB")
    for name, wall, cpu, n, size in rows:
        print(f"{name.ljust(width)}  {wall:6.2f}  {cpu:6.2f}  {n if n is not None else '?':>5}  {size / 1024:5.0f}")
    print(f"host speed: a fixed 1e6-step Python loop took {host_speed() * 1000:.0f} ms of CPU (55-110 ms seen on "
          "the development machine; renders scale with it)")
    print(f"cold start (a CLI run pays this once): WeasyPrint import {imported:.2f} s, first render of "
          f"{docs[0][0]} {first:.2f} s")
    worst = max(r[1] for r in rows)
    most = max((r[3] for r in rows if r[3] is not None), default=None)
    print(f"slowest warm render {worst:.2f} s (target <= {TARGET_SECONDS:g} s: {'met' if worst <= TARGET_SECONDS else 'NOT met'}); "
          f"most pages {most} (target <= {TARGET_PAGES}: "
          f"{'met' if most is not None and most <= TARGET_PAGES else 'NOT met' if most else 'not read'})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
