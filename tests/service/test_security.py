"""CDS Hooks JWT verification: the happy paths and the attacks, each a bare 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.service.conftest import Signer
from tests.service.test_cds import PV, pv_request

BASE = "http://testserver"
AUD = BASE + PV


def b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def assert_bare_401(r) -> None:
    assert r.status_code == 401
    assert r.content == b""


def test_es384_and_rs384_accepted(secure_client, signer):
    r = secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD))
    assert r.status_code == 200
    assert "x-rplnav-insecure-dev" not in r.headers
    r = secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, alg="RS384"))
    assert r.status_code == 200
    r = secure_client.get("/cds-services", headers=signer.headers(BASE + "/cds-services"))
    assert r.status_code == 200
    card = secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD)).json()["cards"][0]["uuid"]
    fb = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-01T10:00:00Z"}]}
    assert secure_client.post(PV + "/feedback", json=fb,
                              headers=signer.headers(AUD + "/feedback")).status_code == 200


def test_audience_as_list(secure_client, signer):
    r = secure_client.post(PV, json=pv_request(), headers=signer.headers(["https://other", AUD]))
    assert r.status_code == 200


def test_no_token(secure_client):
    assert_bare_401(secure_client.post(PV, json=pv_request()))
    assert_bare_401(secure_client.get("/cds-services"))
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": "Basic abc"}))
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": "Bearer not.a.jwt"}))


def test_alg_none(secure_client, signer):
    now = int(time.time())
    claims = {"iss": signer.iss, "aud": AUD, "exp": now + 300, "iat": now, "jti": "none-1"}
    for alg in ("none", "None", "NONE"):
        tok = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': 'ec-1'})}.{b64(claims)}."
        assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": f"Bearer {tok}"}))


def test_hmac_including_key_confusion(secure_client, signer):
    now = int(time.time())
    claims = {"iss": signer.iss, "aud": AUD, "exp": now + 300, "iat": now, "jti": "hs-1"}
    tok = jwt.encode(claims, "secret" * 8, algorithm="HS256", headers={"kid": "ec-1"})
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": f"Bearer {tok}"}))
    # the classic confusion: HMAC keyed with the public key's JWK text
    pub = json.dumps(signer.jwks["keys"][0]).encode()
    signing_input = f"{b64({'alg': 'HS384', 'typ': 'JWT', 'kid': 'ec-1'})}.{b64({**claims, 'jti': 'hs-2'})}"
    mac = hmac.new(pub, signing_input.encode(), hashlib.sha384).digest()
    tok = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": f"Bearer {tok}"}))


def test_wrong_audience(secure_client, signer):
    for aud in ("http://testserver/cds-services/rplnav-order-sign", "https://evil.example", BASE + "/cds-services"):
        assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(aud)))
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(None)))


def test_expired_and_missing_claims(secure_client, signer):
    past = int(time.time()) - 600
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, exp=past, iat=past - 60)))
    for missing in ("exp", "iat", "jti"):
        assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, **{missing: None})))


def test_replayed_jti(secure_client, signer):
    h = signer.headers(AUD)
    assert secure_client.post(PV, json=pv_request(), headers=h).status_code == 200
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=h))


def test_unknown_issuer_and_unknown_key(secure_client, signer):
    stranger = Signer("https://stranger.example")
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=stranger.headers(AUD)))
    # a trusted iss, but signed with a key not in its JWKS (kid of a trusted key)
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=stranger.headers(AUD, iss=signer.iss)))
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, kid="who")))


def test_bad_signature(secure_client, signer):
    tok = signer.token(AUD)
    head, body, sig = tok.split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged["iss"] = signer.iss
    forged["jti"] = "forged"
    tampered = f"{head}.{b64(forged)}.{sig}"
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": f"Bearer {tampered}"}))
    other = ec.generate_private_key(ec.SECP384R1())
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, key=other)))


def test_alg_key_mismatch_and_other_algorithms(secure_client, signer):
    # RS384 header but the EC key's kid
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, alg="RS384", kid="ec-1")))
    # ES256 / RS256 are not on the allow-list
    k256 = ec.generate_private_key(ec.SECP256R1())
    assert_bare_401(secure_client.post(PV, json=pv_request(),
                                       headers=signer.headers(AUD, alg="ES256", kid="ec-1", key=k256)))
    assert_bare_401(secure_client.post(PV, json=pv_request(),
                                       headers=signer.headers(AUD, alg="RS256", kid="rsa-1", key=signer.rsa_key)))


def test_untrusted_jku(secure_client, signer):
    tok = jwt.encode({"iss": signer.iss, "aud": AUD, "exp": int(time.time()) + 60, "iat": int(time.time()),
                      "jti": "jku-1"}, signer.ec_key, algorithm="ES384",
                     headers={"kid": "ec-1", "jku": "https://evil.example/jwks.json"})
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": f"Bearer {tok}"}))


def test_tokens_are_never_logged(secure_client, signer, caplog):
    caplog.set_level(logging.DEBUG)
    h = signer.headers(AUD)
    secure_client.post(PV, json=pv_request(), headers=h)
    secure_client.post(PV, json=pv_request(), headers=h)  # replay: logged, by jti only
    token = h["Authorization"].split()[1]
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_client_configuration_from_a_file(tmp_path, signer, monkeypatch):
    from fastapi.testclient import TestClient

    from rplnav.service.app import create_app

    f = tmp_path / "clients.json"
    f.write_text(json.dumps({"clients": [signer.client_config()]}))
    monkeypatch.setenv("RPLNAV_CDS_CLIENTS_FILE", str(f))
    monkeypatch.setenv("RPLNAV_DATABASE_URL", f"sqlite:///{tmp_path / 'a.sqlite3'}")
    monkeypatch.setenv("RPLNAV_PUBLIC_URL", "https://cds.example.org")
    with TestClient(create_app()) as c:
        aud = "https://cds.example.org" + PV
        assert c.post(PV, json=pv_request(), headers=signer.headers(aud)).status_code == 200
        assert_bare_401(c.post(PV, json=pv_request(), headers=signer.headers(AUD)))


@pytest.mark.parametrize("bad", [{"clients": [{"iss": "x"}]}, {"clients": "x"}, [{"jwks": {"keys": []}}]])
def test_bad_client_configuration_is_refused(bad):
    from rplnav.service.config import parse_clients

    with pytest.raises(ValueError):
        parse_clients(bad)


# ------------------------------------------------------------------ issue 13: audience pinning, forwarded headers
def test_secure_mode_refuses_to_start_without_a_public_url(tmp_path, signer):
    from rplnav.service.config import Settings

    with pytest.raises(ValueError, match="RPLNAV_PUBLIC_URL is required"):
        Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", cds_clients=[signer.client_config()])
    with pytest.raises(ValueError, match="RPLNAV_PUBLIC_URL"):
        Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", cds_clients=[signer.client_config()],
                 public_url="cds.example.org/x?y=1")


def _pinned(tmp_path, signer, wrap=None):
    from fastapi.testclient import TestClient

    from rplnav.service.app import create_app
    from rplnav.service.config import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", public_url="https://cds.example.org/",
                              cds_clients=[signer.client_config()]))
    return TestClient(wrap(app) if wrap else app, base_url="http://127.0.0.1:8000")


def test_audience_does_not_follow_the_host_header(tmp_path, signer):
    with _pinned(tmp_path, signer) as c:
        other = "http://other-cds.example" + PV
        assert_bare_401(c.post(PV, json=pv_request(), headers={**signer.headers(other), "Host": "other-cds.example"}))
        here = "http://127.0.0.1:8000" + PV
        assert_bare_401(c.post(PV, json=pv_request(), headers=signer.headers(here)))
        r = c.post(PV, json=pv_request(), headers={**signer.headers("https://cds.example.org" + PV),
                                                   "Host": "other-cds.example"})
        assert r.status_code == 200
        links = [lk["url"] for card in r.json()["cards"] for lk in card.get("links", [])]
        assert links and all(u.startswith("https://cds.example.org/") for u in links)


def test_audience_does_not_follow_forwarded_headers(tmp_path, signer):
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    # even behind a server that trusts every X-Forwarded-* header, the audience stays the configured URL
    with _pinned(tmp_path, signer, lambda app: ProxyHeadersMiddleware(app, trusted_hosts="*")) as c:
        fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example"}
        for aud in ("https://127.0.0.1:8000" + PV, "https://evil.example" + PV):
            assert_bare_401(c.post(PV, json=pv_request(), headers={**signer.headers(aud), **fwd}))
        assert c.post(PV, json=pv_request(), headers={**signer.headers("https://cds.example.org" + PV), **fwd}
                      ).status_code == 200


def test_serve_trusts_forwarded_headers_only_when_configured(monkeypatch, tmp_path):
    import uvicorn
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from rplnav.cli import app as cli_app

    seen: list[tuple] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append((app, kw)))
    monkeypatch.setenv("RPLNAV_DATABASE_URL", f"sqlite:///{tmp_path / 'a.sqlite3'}")
    for var in ("RPLNAV_CDS_CLIENTS", "RPLNAV_CDS_CLIENTS_FILE", "RPLNAV_FORWARDED_ALLOW_IPS", "RPLNAV_PUBLIC_URL"):
        monkeypatch.delenv(var, raising=False)
    assert CliRunner().invoke(cli_app, ["serve", "--insecure-dev"]).exit_code == 0
    monkeypatch.setenv("RPLNAV_FORWARDED_ALLOW_IPS", "10.0.0.5")
    assert CliRunner().invoke(cli_app, ["serve", "--insecure-dev"]).exit_code == 0
    # uvicorn's own handling (which trusts 127.0.0.1 by default) is off: the application does it
    assert all((kw["proxy_headers"], kw["forwarded_allow_ips"]) == (False, "") for _, kw in seen)
    assert seen[0][1]["h11_max_incomplete_event_size"] == 16 * 1024

    def link_scheme(app, peer: str) -> str:
        with TestClient(app, client=(peer, 40000)) as c:
            r = c.post(PV, json=pv_request(), headers={"X-Forwarded-Proto": "https"})
        return next(lk["url"] for card in r.json()["cards"] for lk in card.get("links", [])).split(":")[0]

    assert link_scheme(seen[0][0], "10.0.0.5") == "http"   # nothing configured: nobody's header is believed
    assert link_scheme(seen[1][0], "10.0.0.9") == "http"   # not the configured proxy
    assert link_scheme(seen[1][0], "10.0.0.5") == "https"  # the configured proxy


def test_serve_refuses_secure_mode_without_public_url(monkeypatch, tmp_path, signer):
    from typer.testing import CliRunner

    from rplnav.cli import app as cli_app

    monkeypatch.setenv("RPLNAV_DATABASE_URL", f"sqlite:///{tmp_path / 'a.sqlite3'}")
    monkeypatch.setenv("RPLNAV_CDS_CLIENTS", json.dumps({"clients": [signer.client_config()]}))
    monkeypatch.delenv("RPLNAV_PUBLIC_URL", raising=False)
    r = CliRunner().invoke(cli_app, ["serve"])
    assert r.exit_code == 1 and "RPLNAV_PUBLIC_URL is required" in r.stderr


def test_api_fhir_links_use_the_public_url_not_the_host_header(tmp_path, signer):
    from tests.service.conftest import example

    with _pinned(tmp_path, signer) as c:
        r = c.post("/api/v1/assess?format=fhir", json=example("03"), headers={"Host": "evil.example"})
        assert r.status_code == 200
        assert "evil.example" not in r.text and "https://cds.example.org/" in r.text


# ------------------------------------------------------------------ issue 13: query tokens, burnt jti, restarts
def test_query_string_token_is_refused_and_used_up(secure_client, signer):
    tok = signer.token(AUD)
    assert_bare_401(secure_client.post(PV + "?access_token=" + tok, json=pv_request()))
    # the refused call used the token up: it does not work afterwards as a Bearer token either
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers={"Authorization": f"Bearer {tok}"}))
    tok2 = signer.token(AUD)
    assert_bare_401(secure_client.post(PV + "?x=" + tok2, json=pv_request(), headers={"Authorization": f"Bearer {tok2}"}))


def test_a_refused_token_still_burns_its_jti(secure_client, signer):
    jti = "burn-me-1"
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers("https://elsewhere" + PV, jti=jti)))
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, jti=jti)))
    assert secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, jti="burn-me-2")).status_code == 200


def test_access_log_never_shows_a_query_string():
    from rplnav.service.app import create_app  # noqa: F401 - installs the filter on import of an app
    from rplnav.service.server import NoQueryInAccessLog, install_log_filter

    install_log_filter()
    logger = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, NoQueryInAccessLog) for f in logger.filters)
    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                            ("127.0.0.1:5000", "POST", PV + "?access_token=SECRET.TOKEN.X", "1.1", 401), None)
    assert all(f.filter(rec) for f in logger.filters)
    assert "SECRET" not in rec.getMessage() and PV in rec.getMessage()


def test_replayed_token_refused_after_a_restart(tmp_path, signer):
    from fastapi.testclient import TestClient

    from rplnav.service.app import create_app
    from rplnav.service.config import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}", cds_clients=[signer.client_config()],
                        public_url=BASE)
    h = signer.headers(AUD)
    with TestClient(create_app(settings)) as c:
        assert c.post(PV, json=pv_request(), headers=h).status_code == 200
    with TestClient(create_app(settings)) as c:  # a new process would see the same database
        assert_bare_401(c.post(PV, json=pv_request(), headers=h))


def test_replay_store_in_postgresql(pg_url, signer):
    from rplnav.audit import AuditLog

    log_ = AuditLog(pg_url)
    try:
        key = "k-" + str(time.time())
        assert log_.claim(key, time.time() + 60) is True
        assert log_.claim(key, time.time() + 60) is False
    finally:
        log_.close()


def test_maximum_token_lifetime(secure_client, signer):
    now = int(time.time())
    assert_bare_401(secure_client.post(PV, json=pv_request(),
                                       headers=signer.headers(AUD, exp=now + 10 * 365 * 86400)))
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, iat=now - 400, exp=now + 60)))
    assert_bare_401(secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, iat=now + 120, exp=now + 200)))
    assert secure_client.post(PV, json=pv_request(), headers=signer.headers(AUD, iat=now, exp=now + 295)
                              ).status_code == 200


def test_replay_checks_stay_cheap_with_many_live_tokens():
    from rplnav.service.security import MemoryReplayStore

    store = MemoryReplayStore()
    later = time.time() + 300
    for i in range(30_000):
        assert store.claim(f"k{i}", later)
    t = time.perf_counter()
    for i in range(2_000):
        assert store.claim(f"n{i}", later)
        assert not store.claim(f"k{i}", later)
    per_check_ms = (time.perf_counter() - t) / 4_000 * 1000
    assert per_check_ms < 0.1, per_check_ms  # was about 2.3 ms: the whole cache rebuilt on each check
    # expired tokens leave the store as time passes
    store2 = MemoryReplayStore()
    for i in range(100):
        store2.claim(f"old{i}", time.time() - 1)
    store2.claim("new", later)
    assert len(store2) == 1


def test_seen_tokens_expire_from_the_audit_database(tmp_path):
    from rplnav.audit import AuditLog, SeenToken

    log_ = AuditLog(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    for i in range(600):
        log_.claim(f"old{i}", time.time() - 1)
    with log_.engine.connect() as conn:
        from sqlalchemy import func, select

        left = conn.execute(select(func.count()).select_from(SeenToken)).scalar_one()
    assert left < 256
    log_.close()
