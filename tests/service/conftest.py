"""Service fixtures: app clients (SQLite and a throwaway PostgreSQL cluster), JWT keys, a live uvicorn server."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from rplnav.examples import examples_dir
from rplnav.patient import load_document
from rplnav.service.app import create_app
from rplnav.service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
ISS = "https://ehr.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def example(name: str) -> dict[str, Any]:
    path = next(examples_dir().glob(f"{name}*.yaml"))
    return load_document(path.read_text(encoding="utf-8"), path.name)


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ PostgreSQL (throwaway cluster)
def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found; run `bash scripts/system-deps.sh`")
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runner = shutil.which("runuser")
    return [runner, "-u", "postgres", "--", *cmd] if runner else ["su", "postgres", "-c", " ".join(cmd)]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    pgbin = _pg_bin()
    d = Path(tempfile.mkdtemp(prefix="rplnav-pg-"))
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(pgbin / "initdb"), "-D", str(d / "data"), "-U", "postgres", "-A", "trust",
                                 "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
    subprocess.run(_as_postgres([str(pgbin / "pg_ctl"), "-D", str(d / "data"), "-l", str(d / "log"), "-w", "-s",
                                 "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {d} -c fsync=off", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(pgbin / "pg_ctl"), "-D", str(d / "data"), "-m", "immediate", "-w", "-s",
                                     "stop"]), capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    url = request.getfixturevalue("pg_url")
    # a fresh schema per test: drop our tables
    from sqlalchemy import create_engine

    from rplnav.audit import Base

    eng = create_engine(url)
    Base.metadata.drop_all(eng)
    eng.dispose()
    return url


# ------------------------------------------------------------------ JWT
class Signer:
    """A CDS client with an ES384 key (and an RS384 one) that signs CDS Hooks JWTs."""

    def __init__(self, iss: str = ISS):
        self.iss = iss
        self.ec_key = ec.generate_private_key(ec.SECP384R1())
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        self.jwks = {"keys": [{**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES384"},
                              {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS384"}]}

    def client_config(self) -> dict[str, Any]:
        return {"iss": self.iss, "jwks": self.jwks}

    def token(self, aud: str, *, alg: str = "ES384", kid: str | None = None, key: Any = None,
              **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        if key is None:
            key = self.rsa_key if alg == "RS384" else self.ec_key
        kid = kid or ("rsa-1" if alg == "RS384" else "ec-1")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})

    def headers(self, aud: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(aud, **kw)}"}


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


def csrf(client: TestClient) -> str:
    """The form token a browser gets with the patient form (cookie + hidden field), for posting the forms."""
    client.get("/")
    return client.cookies["rplnav_csrf"]


# ------------------------------------------------------------------ app clients
@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}", insecure_dev=True))
    with TestClient(app) as c:
        yield c


@pytest.fixture
def secure_client(tmp_path: Path, signer: Signer) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
                              cds_clients=[signer.client_config()], public_url="http://testserver"))
    with TestClient(app) as c:
        yield c


# ------------------------------------------------------------------ live server
class LiveServer:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path):
        self.proc, self.url, self.log = proc, url, log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(tmp: Path, env_over: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    env = {**os.environ, "RPLNAV_DATABASE_URL": f"sqlite:///{tmp / 'live-audit.sqlite3'}", "RPLNAV_INSECURE_DEV": "1"}
    env.update(env_over or {})
    log = tmp / f"uvicorn-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "rplnav.service.app:app_from_env", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {log.read_text()}")
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return LiveServer(proc, url, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"uvicorn did not start: {log.read_text()}")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = start_server(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()
