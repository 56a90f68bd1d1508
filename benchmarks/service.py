"""Latency and throughput of the CDS Hooks patient-view service over loopback.

Run: .venv/bin/python benchmarks/service.py [--seconds 10] [--rate 100] [--client auto|wrk|python]
                                            [--breakdown 200]

Starts `uvicorn rplnav.service.app:app_from_env` on a free loopback port (embedded SQLite audit log in a temp
folder; JWT checks off with RPLNAV_INSECURE_DEV=1, so the client measures the service, not its own signing),
sends patient-view requests with a realistic prefetch (an obstetric-APS patient: Patient, 3 losses, 9 lab
Observations, findings, a MedicationRequest) and prints a table: closed loop at concurrency 1, 10 and 50, then an
open loop paced at 100 requests/s (target: p99 <= 50 ms) with the rate actually achieved. Every request is
audited, as in production.

The load generator must not take the CPU the server needs (2 cores here): the closed loops use `wrk` when it is
installed (`apt-get install wrk`; one thread, a Lua script posting the hook request), otherwise a lean
asyncio client on raw sockets with a pre-built request. wrk has no constant-rate mode, so the paced run always
uses the lean client: requests are started on a fixed schedule whatever the replies do (an open loop, new
connections when all are busy), and each latency is measured from the request's scheduled start, so a stalled
server shows as latency, not as fewer requests (no coordinated omission).

First, in this process and on one core, `--breakdown N` requests are timed stage by stage (the steps
cds.call_service takes, in its order) next to the whole route called through ASGI, so the table says how much
of a request is the engine (Engine.document) and how much is around it: reading the hook request, FHIR intake,
the typed document, the cards, the audit row, the response. It reads CPU time, not latency, so other jobs on the
machine matter less than in the loopback runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PATH = "/cds-services/rplnav-patient-view"


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
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


# ---------------------------------------------------------------------- CPU accounting (Linux /proc)
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_ticks() -> int:
    """All CPUs' busy time (user+nice+system+irq+softirq+steal), in clock ticks."""
    try:
        f = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[:8])
    return user + nice + system + irq + softirq + steal


def _tree_ticks(pid: int) -> int:
    """CPU time of a process and its live children (the uvicorn supervisor and its workers)."""
    total = 0
    pids = [pid]
    try:
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total


def _client_ticks() -> float:
    """This process and its finished children (wrk), in ticks."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * TICK


class CpuMeter:
    """Who used the CPUs during a run: the server, the load generator, everything else on the machine."""

    def __init__(self, server_pid: int):
        self.pid = server_pid

    def __enter__(self) -> CpuMeter:
        self.t0, self.b0, self.s0, self.c0 = time.perf_counter(), _busy_ticks(), _tree_ticks(self.pid), \
            _client_ticks()
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.perf_counter() - self.t0
        self.server_s = (_tree_ticks(self.pid) - self.s0) / TICK
        self.client_s = (_client_ticks() - self.c0) / TICK
        other = (_busy_ticks() - self.b0) / TICK - self.server_s - self.client_s
        self.other_pct = max(0.0, other) / (wall * (os.cpu_count() or 1)) * 100


@dataclass
class Run:
    name: str
    client: str
    requests: int
    rate: float  # completed requests per second
    p50: float
    p90: float
    p99: float
    max: float
    errors: int
    note: str = ""
    server_ms_per_req: float = float("nan")
    client_ms_per_req: float = float("nan")
    other_load_pct: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)


def summarise(name: str, client: str, lat_s: list[float], wall: float, errors: int, note: str = "") -> Run:
    ms = [x * 1000 for x in lat_s]
    return Run(name, client, len(ms), len(ms) / wall if wall > 0 else 0.0,
               statistics.median(ms) if ms else float("nan"), pct(ms, 90), pct(ms, 99), max(ms, default=float("nan")),
               errors, note)


# ---------------------------------------------------------------------- wrk (closed loops)
WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("RPLNAV_BENCH_BODY"), "rb"):read("*a")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RPLNAV {"requests": %d, "duration_us": %d, "p50": %d, "p90": %d, "p99": %d, ' ..
    '"max": %d, "errors": %d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk_closed(wrk: str, url: str, body: bytes, conc: int, seconds: float, tmp: Path) -> Run:
    script, data = tmp / "post.lua", tmp / "body.json"
    script.write_text(WRK_LUA, encoding="utf-8")
    data.write_bytes(body)
    env = {**os.environ, "RPLNAV_BENCH_BODY": str(data)}
    # warm-up (connections, the workers' first requests) outside the measurement
    subprocess.run([wrk, "-t1", f"-c{conc}", "-d1s", "-s", str(script), url], env=env, capture_output=True,
                   check=True)
    out = subprocess.run([wrk, "-t1", f"-c{conc}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RPLNAV "))
    d = json.loads(line[len("RPLNAV "):])
    wall = d["duration_us"] / 1e6
    return Run(f"concurrency {conc}", "wrk", d["requests"], d["requests"] / wall, d["p50"] / 1000, d["p90"] / 1000,
               d["p99"] / 1000, d["max"] / 1000, d["errors"])


# ---------------------------------------------------------------------- lean asyncio client
class Conn:
    """One keep-alive HTTP/1.1 connection sending a pre-built request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.last_used = time.perf_counter()

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def call(self, raw: bytes) -> int:
        self.last_used = time.perf_counter()
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def raw_request(host: str, port: int, body: bytes) -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def py_closed(host: str, port: int, body: bytes, conc: int, seconds: float) -> Run:
    raw = raw_request(host, port, body)
    conns = [await Conn.open(host, port) for _ in range(conc)]
    lat: list[float] = []
    errors = 0
    for c in conns:  # warm-up
        await c.call(raw)
    t0 = time.perf_counter()
    stop = t0 + seconds

    async def loop(c: Conn) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                ok = await c.call(raw) == 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                c.close()
                c = await Conn.open(host, port)
            lat.append(time.perf_counter() - t)
            errors += not ok

    await asyncio.gather(*(loop(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return summarise(f"concurrency {conc}", "python", lat, wall, errors)


async def py_paced(host: str, port: int, body: bytes, rate: float, seconds: float, max_conns: int = 256) -> Run:
    """Open loop: request i starts at t0 + i/rate; latency from that scheduled start to the full reply."""
    raw = raw_request(host, port, body)
    idle = [await Conn.open(host, port) for _ in range(8)]
    for c in idle:
        await c.call(raw)
    opened = len(idle)
    lat: list[float] = []
    errors = 0
    late_starts = 0
    done_at = 0.0
    statuses: dict[Any, int] = {}

    async def one(scheduled: float) -> None:
        nonlocal errors, opened, late_starts, done_at
        c = None
        try:
            # the server closes keep-alive connections idle for 5 s (uvicorn's default): do not reuse those
            now = time.perf_counter()
            for stale in [x for x in idle if now - x.last_used > 2]:
                idle.remove(stale)
                stale.close()
            if idle:
                c = idle.pop()
            else:
                opened += 1
                c = await Conn.open(host, port)
            if time.perf_counter() - scheduled > 0.005:
                late_starts += 1
            status = await c.call(raw)
            ok = status == 200
            if not ok:
                statuses[status] = statuses.get(status, 0) + 1
            idle.append(c)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            ok = False
            statuses[type(e).__name__] = statuses.get(type(e).__name__, 0) + 1
            if c is not None:
                c.close()
        done_at = time.perf_counter()
        lat.append(done_at - scheduled)
        errors += not ok

    n = int(rate * seconds)
    tasks = []
    t0 = time.perf_counter()
    for i in range(n):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
        if len(tasks) - len(lat) > max_conns:  # the server has fallen far behind: stop rather than pile up
            break
    sent_wall = time.perf_counter() - t0
    await asyncio.gather(*tasks)
    for c in idle:
        c.close()
    run = summarise(f"paced {rate:g} req/s", "python", lat, max(done_at - t0, sent_wall), errors,
                    note=f"sent {len(tasks)} at {len(tasks) / sent_wall:.1f} req/s, {opened} connections"
                    + (f", errors: {statuses}" if statuses else ""))
    run.extra = {"sent": len(tasks), "late_starts": late_starts}
    return run


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def run_async(coro: Any) -> Any:
    loop = new_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# ---------------------------------------------------------------------- where a request's time goes
STAGES = ("read hook request", "prefetch -> Bundle", "FHIR intake + patient", "Engine.document", "typed document",
          "cards", "audit row", "response JSON")


async def _staged(core: Any, body: bytes) -> list[float]:
    """One patient-view request as cds.call_service runs it, with the CPU time of each stage (ms)."""
    from fastapi.responses import JSONResponse

    from rplnav.assessment import validate_document
    from rplnav.audit import sha256_of
    from rplnav.service.cards import CardMaker, clip
    from rplnav.service.cds import HookRequest, gather
    from rplnav.usecase import FHIR_BUNDLE, read_input

    class NoFhirServer:  # gather() reads the app only to fetch what the prefetch lacks; here it lacks nothing
        app = None

    t = [time.thread_time()]
    req = HookRequest.model_validate(core.decode(body, "application/json", yaml_ok=False))
    t.append(time.thread_time())
    resources = await gather(NoFhirServer(), req, str(req.context["patientId"]))  # type: ignore[arg-type]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    t.append(time.thread_time())
    intake = read_input(bundle, None, core.kb, "body")
    t.append(time.thread_time())
    doc = core.engine.document(intake.parsed)
    t.append(time.thread_time())
    a = validate_document(doc, core.engine._typed_parts, as_written=True).with_input(
        input_format=FHIR_BUNDLE, not_used=intake.not_used)
    t.append(time.thread_time())
    cards = CardMaker("http://127.0.0.1", "http://127.0.0.1/reports/x").patient_view(a)
    for c in cards:
        c["summary"] = clip(c["summary"])
    t.append(time.thread_time())
    core.audit.record(kind="hook", endpoint="POST " + PATH, caller="insecure-dev", input_sha256=sha256_of(body),
                      status=200, output={"hookInstance": req.hookInstance, "cards": cards},
                      knowledge_version=core.kb.version, event_id=uuid.uuid4().hex, detail=a)
    t.append(time.thread_time())
    JSONResponse({"cards": cards})
    t.append(time.thread_time())
    return [(b - a) * 1000 for a, b in zip(t, t[1:], strict=False)]


def breakdown(n: int, tmp: Path) -> dict[str, float]:
    """Mean CPU ms per stage over ``n`` requests, and of the whole route through ASGI (warm engine)."""
    os.environ["RPLNAV_DATABASE_URL"] = f"sqlite:///{tmp / 'breakdown.sqlite3'}"
    os.environ["RPLNAV_INSECURE_DEV"] = "1"
    from rplnav.service.app import app_from_env

    app = app_from_env()
    core = app.state.core
    body = json.dumps(request_body()).encode()

    async def both() -> tuple[list[float], list[list[float]]]:
        """The whole route and the staged steps, alternating, so load on the machine falls on both alike."""
        transport = httpx.ASGITransport(app=app)
        whole, staged, bare = [], [], []
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for _ in range(20):  # warm-up: the engine's memo, the typed parts, the audit connection
                await client.post(PATH, content=body, headers={"Content-Type": "application/json"})
            for _ in range(n):
                t0 = time.thread_time()
                r = await client.post(PATH, content=body, headers={"Content-Type": "application/json"})
                whole.append((time.thread_time() - t0) * 1000)
                assert r.status_code == 200, r.text[:300]
                staged.append(await _staged(core, body))
                t0 = time.thread_time()
                await client.get("/api/v1/health")  # the same client, middleware and router, no work
                bare.append((time.thread_time() - t0) * 1000)
        return whole, staged, bare

    whole, staged, bare = run_async(both())
    out = dict(zip(STAGES, (statistics.fmean(x) for x in zip(*staged, strict=True)), strict=True))
    out["whole route (ASGI)"] = statistics.fmean(whole)
    out["GET /api/v1/health"] = statistics.fmean(bare)
    return out


def print_breakdown(b: dict[str, float], n: int) -> None:
    staged = sum(b[k] for k in STAGES)
    whole = b["whole route (ASGI)"]
    print(f"where a patient-view request's CPU goes (in-process, one core, mean of {n} requests, warm engine):")
    print(f"{'stage':<28}{'ms':>7}{'share':>8}")
    for k in STAGES:
        print(f"{k:<28}{b[k]:>7.2f}{b[k] / whole * 100:>7.0f}%")
    print(f"{'routing, middleware, rest':<28}{whole - staged:>7.2f}{(whole - staged) / whole * 100:>7.0f}%"
          f"  (a bare GET /api/v1/health through the same test client and middleware: "
          f"{b['GET /api/v1/health']:.2f} ms)")
    print(f"{'whole route (ASGI)':<28}{whole:>7.2f}  (outside Engine.document: {whole - b['Engine.document']:.2f} ms, "
          f"{(whole - b['Engine.document']) / whole * 100:.0f}%)")


# ---------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10, help="length of each run")
    ap.add_argument("--rate", type=float, default=100, help="rate of the paced run (requests/s)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (one per core)")
    ap.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                    help="closed-loop load generator: wrk when installed (auto), or the lean Python client")
    ap.add_argument("--concurrency", default="1,10,50", help="closed-loop concurrencies, comma-separated")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--breakdown", type=int, default=200, metavar="N",
                    help="first time N requests stage by stage in this process (0: skip)")
    args = ap.parse_args()
    wrk = shutil.which("wrk") if args.client != "python" else None
    if args.client == "wrk" and not wrk:
        sys.exit("wrk is not installed (apt-get install wrk); use --client python")
    tmp = Path(tempfile.mkdtemp(prefix="rplnav-bench-"))
    stages = breakdown(args.breakdown, tmp) if args.breakdown > 0 else {}
    if stages:
        print_breakdown(stages, args.breakdown)
    host, port = "127.0.0.1", free_port()
    env = {**os.environ, "RPLNAV_DATABASE_URL": f"sqlite:///{tmp / 'audit.sqlite3'}", "RPLNAV_INSECURE_DEV": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "rplnav.service.app:app_from_env", "--factory",
                             "--host", host, "--port", str(port), "--log-level", "warning", "--no-access-log",
                             "--workers", str(args.workers)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    base = f"http://{host}:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        url = base + PATH
        body = json.dumps(request_body()).encode()
        r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 200 and r.json()["cards"], r.text[:300]
        print(f"patient-view over loopback: {len(body)}-byte prefetch request, {len(r.content)}-byte cards reply; "
              f"uvicorn {args.workers} worker(s), SQLite audit (every call recorded); {os.cpu_count()} cores")
        print("auth: JWT verification OFF (RPLNAV_INSECURE_DEV=1), so the client does not spend CPU signing; "
              "see the service tests for JWT cost")
        print(f"closed loops: {'wrk (1 thread)' if wrk else 'lean Python asyncio client'}, {args.seconds:g} s each; "
              f"paced: lean Python open-loop client, {args.seconds:g} s, latency from each scheduled start")
        print("srv/cli ms: server and load-generator CPU per request; other: CPU taken by the rest of the machine "
              "(other users' jobs skew latency)")
        print(f"{'run':<22}{'client':>7}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
              f"{'max ms':>9}{'errors':>8}{'srv ms':>8}{'cli ms':>8}{'other':>8}")
        runs: list[Run] = []

        def measure(fn: Any, *a: Any) -> Run:
            with CpuMeter(proc.pid) as m:
                run = fn(*a)
            run.server_ms_per_req = m.server_s * 1000 / max(1, run.requests)
            run.client_ms_per_req = m.client_s * 1000 / max(1, run.requests)
            run.other_load_pct = m.other_pct
            print(f"{run.name:<22}{run.client:>7}{run.requests:>9}{run.rate:>9.1f}{run.p50:>9.1f}{run.p90:>9.1f}"
                  f"{run.p99:>9.1f}{run.max:>9.1f}{run.errors:>8}{run.server_ms_per_req:>8.1f}"
                  f"{run.client_ms_per_req:>8.1f}{run.other_load_pct:>7.0f}%" + (f"  ({run.note})" if run.note else ""),
                  flush=True)
            runs.append(run)
            return run

        for conc in (int(c) for c in args.concurrency.split(",") if c.strip()):
            if wrk:
                measure(wrk_closed, wrk, url, body, conc, args.seconds, tmp)
            else:
                measure(lambda c: run_async(py_closed(host, port, body, c, args.seconds)), conc)
        paced = measure(lambda: run_async(py_paced(host, port, body, args.rate, args.seconds)))
        ok = paced.p99 <= 50 and paced.rate >= 0.95 * args.rate and paced.errors == 0
        print(f"target p99 <= 50 ms at {args.rate:g} req/s: {'met' if ok else 'NOT met'} "
              f"(achieved {paced.rate:.1f} req/s, p99 {paced.p99:.1f} ms, {paced.errors} errors)")
        if args.json:
            args.json.write_text(json.dumps({"breakdown_ms": stages, "runs": [r.__dict__ for r in runs]}, indent=1),
                                 encoding="utf-8")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
