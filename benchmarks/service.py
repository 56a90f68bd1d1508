"""Latency and throughput of the CDS Hooks patient-view service over loopback.

Run: .venv/bin/python benchmarks/service.py [--requests 300] [--seconds 10]

Starts `uvicorn rplnav.service.app:app_from_env` on a free loopback port (embedded SQLite audit log in a temp
folder, JWT checks off so the client measures the service, not its own signing), sends patient-view requests
with a realistic prefetch (an obstetric-APS patient: Patient, 3 losses, 9 lab Observations, findings,
a MedicationRequest) with an async httpx client, and prints a table: closed loop at concurrency 1, 10 and 50,
then an open loop paced at 100 requests/s (target: p99 <= 50 ms). Every request is audited, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_body() -> dict[str, Any]:
    from rplnav.examples import examples_dir
    from rplnav.interop.fhir import patient_to_bundle
    from rplnav.patient import load_document

    path = next(examples_dir().glob("03*.yaml"))
    doc = load_document(path.read_text(encoding="utf-8"), path.name)
    bundle = patient_to_bundle(doc, dt.date.fromisoformat(str(doc["assessed_on"])))
    res = [e["resource"] for e in bundle["entry"]]

    def ss(items: list[dict[str, Any]]) -> dict[str, Any] | None:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in items]} if items \
            else None

    preg = "urn:rplnav:codes:pregnancy-outcome"
    is_preg = lambda r: any(c.get("system") == preg for c in r["code"]["coding"])  # noqa: E731
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": doc["id"]},
            "prefetch": {
                "patient": res[0],
                "conditions": ss([r for r in res if r["resourceType"] == "Condition"]),
                "labs": ss([r for r in res if r["resourceType"] == "Observation" and not is_preg(r)]),
                "pregnancies": ss([r for r in res if r["resourceType"] == "Observation" and is_preg(r)]),
                "medications": ss([r for r in res if r["resourceType"] == "MedicationRequest"]),
            }}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def closed_loop(url: str, body: dict[str, Any], n: int, conc: int) -> tuple[list[float], float, int]:
    lat: list[float] = []
    errors = 0
    sem = asyncio.Semaphore(conc)
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(limits=limits, timeout=30) as c:
        for _ in range(min(20, n)):  # warm-up
            await c.post(url, json=body)

        async def one() -> None:
            nonlocal errors
            async with sem:
                t = time.perf_counter()
                r = await c.post(url, json=body)
                lat.append(time.perf_counter() - t)
                errors += r.status_code != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return lat, time.perf_counter() - t0, errors


async def open_loop(url: str, body: dict[str, Any], rate: float, seconds: float) -> tuple[list[float], float, int]:
    lat: list[float] = []
    errors = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200), timeout=30) as c:
        async def one() -> None:
            nonlocal errors
            t = time.perf_counter()
            r = await c.post(url, json=body)
            lat.append(time.perf_counter() - t)
            errors += r.status_code != 200

        tasks = []
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        return lat, time.perf_counter() - t0, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300, help="requests per closed-loop run")
    ap.add_argument("--seconds", type=float, default=10, help="length of the 100 requests/s run")
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (one per core)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rplnav-bench-"))
    port = free_port()
    env = {**os.environ, "RPLNAV_DATABASE_URL": f"sqlite:///{tmp / 'audit.sqlite3'}", "RPLNAV_INSECURE_DEV": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "rplnav.service.app:app_from_env", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
                             "--workers", str(args.workers)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        url = base + "/cds-services/rplnav-patient-view"
        body = request_body()
        r = httpx.post(url, json=body, timeout=30)
        assert r.status_code == 200 and r.json()["cards"], r.text[:300]
        print(f"patient-view over loopback, {len(r.content)} bytes of cards, prefetch {len(httpx.Request('POST', url, json=body).content)} bytes; "
              f"uvicorn {args.workers} worker(s), SQLite audit; {os.cpu_count()} cores")
        print(f"{'run':<22}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
        rows = []
        for conc in (1, 10, 50):
            lat, wall, err = asyncio.run(closed_loop(url, body, args.requests, conc))
            rows.append((f"concurrency {conc}", lat, wall, err))
        lat, wall, err = asyncio.run(open_loop(url, body, args.rate, args.seconds))
        rows.append((f"paced {args.rate:g} req/s", lat, wall, err))
        for name, lat, wall, err in rows:
            ms = [x * 1000 for x in lat]
            print(f"{name:<22}{len(lat):>9}{len(lat) / wall:>9.1f}{statistics.median(ms):>9.1f}{pct(ms, 90):>9.1f}"
                  f"{pct(ms, 99):>9.1f}{max(ms):>9.1f}{err:>8}")
        p99 = pct([x * 1000 for x in rows[-1][1]], 99)
        print(f"target p99 <= 50 ms at {args.rate:g} req/s: {'met' if p99 <= 50 else 'NOT met'} ({p99:.1f} ms)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
