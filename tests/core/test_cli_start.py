"""`rplnav assess` starts fast: the terminal, JSON and Markdown outputs of every example import none of the
heavy libraries (measured 2026-12-03: NumPy + SciPy ~0.45 s, the web service's FastAPI/Starlette stack,
WeasyPrint, matplotlib, Jinja2), nor the NumPy meta-analysis engine or the FHIR reader."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "scipy", "matplotlib", "weasyprint", "fastapi", "starlette", "uvicorn", "sqlalchemy", "jinja2",
         "httpx", "rplnav.service", "rplnav.evidence.core", "rplnav.evidence.pool")

RUN = """
import contextlib, io, json, sys
from rplnav.cli import main
from rplnav.examples import example_files
codes = []
for fmt in sys.argv[1].split(","):
    for f in example_files():
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                main(["assess", str(f), "-f", fmt, "--width", "100"])
            except SystemExit as e:
                codes.append(e.code)
        assert out.getvalue().strip(), f
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def _modules(formats: str) -> tuple[list[object], set[str]]:
    done = subprocess.run([sys.executable, "-c", RUN, formats], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["codes"], set(out["modules"])


def test_assess_imports_no_heavy_module():
    codes, modules = _modules("text,json,md")
    assert set(codes) <= {0, None}, codes
    assert len(codes) == 30
    loaded = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert loaded == [], loaded
    assert "rplnav.evidence.plain_reml" in modules  # the pooled summaries were computed, without NumPy
