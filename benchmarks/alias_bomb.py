"""YAML alias bomb: time and memory growth of one hostile request, on the API and on the CLI parser.

Run with `.venv/bin/python benchmarks/alias_bomb.py [LEVELS]` (default 7; the issue's 8 needs about 2 GB on
code that expands aliases). Each measurement runs in a fresh process; growth is the peak resident set size
after the request minus the one before it. The `rplnav assess` time includes building the engine, which the
command does before it reads the file. Target (issue 13): refused in < 100 ms with < 10 MB growth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def bomb(levels: int = 8) -> str:
    """A few hundred bytes: each anchor lists the previous one nine times; `labs` points at the last."""
    lines = ["schema: rplnav.patient/v1", "id: bomb", "age: 33", "x:", '  a0: &a0 ["lol","lol","lol","lol","lol",'
             '"lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        p = f"*a{i - 1}"
        lines.append(f"  a{i}: &a{i} [{', '.join([p] * 9)}]")
    lines.append(f"labs: *a{levels}")
    return "\n".join(lines) + "\n"


API = """
import resource, sys, tempfile, time
from fastapi.testclient import TestClient
from rplnav.service.app import create_app
from rplnav.service.config import Settings
db = tempfile.NamedTemporaryFile(suffix=".sqlite3", delete=False).name
with TestClient(create_app(Settings(database_url=f"sqlite:///{db}", insecure_dev=True))) as c:
    body = sys.stdin.read().encode()
    c.post("/api/v1/assess", content=b"schema: x", headers={"content-type": "application/yaml"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    r = c.post("/api/v1/assess", content=body, headers={"content-type": "application/yaml"})
    ms = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(__import__("json").dumps({"where": "POST /api/v1/assess", "status": r.status_code, "ms": round(ms, 1),
      "growth_mb": round((after - before) / 1024, 1), "response_bytes": len(r.content)}))
"""

CLI = """
import io, os, resource, sys, tempfile, time
from contextlib import redirect_stderr, redirect_stdout
from rplnav.cli import main
path = os.path.join(tempfile.mkdtemp(), "bomb.yaml")
open(path, "w").write(sys.stdin.read())
small = os.path.join(os.path.dirname(path), "small.yaml")
open(small, "w").write("schema: x\\n")
def run(p):
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        try:
            main(["assess", p])
        except SystemExit as e:
            return e.code, len(err.getvalue())
    return 0, len(err.getvalue())
run(small)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
code, err_bytes = run(path)
ms = (time.perf_counter() - t) * 1000
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(__import__("json").dumps({"where": "rplnav assess", "exit": code, "ms": round(ms, 1),
      "growth_mb": round((after - before) / 1024, 1), "stderr_bytes": err_bytes}))
"""


PARSER = """
import resource, sys, time
from rplnav.patient import InputError, load_document
text = sys.stdin.read()
load_document("a: 1")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    load_document(text, "bomb.yaml")
    status = "parsed"
except InputError as e:
    status = "refused: " + e.problems[0][:100]
ms = (time.perf_counter() - t) * 1000
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(__import__("json").dumps({"where": "parser (load_document)", "status": status, "ms": round(ms, 2),
      "growth_mb": round((after - before) / 1024, 1)}))
"""


def measure(code: str, text: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], input=text, capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    levels = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    text = bomb(levels)
    print(f"bomb: {levels} levels, {len(text.encode())} bytes")
    for code in (PARSER, CLI, API):
        print(json.dumps(measure(code, text)))


if __name__ == "__main__":
    main()
