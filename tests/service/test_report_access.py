"""Report links tied to the caller who made them: CDS card links carry a signed token, web and API reports
belong to the user the reverse proxy names. Every refusal is the 404 of an unknown report."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from rplnav.audit import AuditLog
from rplnav.service.app import create_app
from rplnav.service.config import Settings
from tests.service.conftest import ISS, Signer, csrf, example
from tests.service.test_cds import PV, pv_request

BASE = "http://testserver"
PROXY = "10.0.0.5"  # the reverse proxy's address in these tests
USER = "x-remote-user"


def cds_app(db: str, *signers: Signer, **kw: Any):
    return create_app(Settings(database_url=db, cds_clients=[s.client_config() for s in signers],
                               public_url=BASE, **kw))


def report_link(c: TestClient, signer: Signer) -> str:
    """The card link to the full report (path and query) from a verified patient-view call."""
    r = c.post(PV, json=pv_request(), headers=signer.headers(BASE + PV))
    assert r.status_code == 200
    url = next(lk["url"] for card in r.json()["cards"] for lk in card.get("links", []) if "/reports/" in lk["url"])
    u = urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


def parts(link: str) -> tuple[str, str]:
    """(report id, token) of a card link."""
    u = urlsplit(link)
    return u.path.rsplit("/", 1)[1], parse_qs(u.query)["t"][0]


def assert_hidden(r, unknown) -> None:
    """The refusal is indistinguishable from an unknown report id, and carries the security headers."""
    assert r.status_code == 404
    assert r.json() == unknown.json()
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.sqlite3'}"


# ------------------------------------------------------------------ CDS Hooks card links
def test_card_link_opens_the_report_and_its_pdf_with_its_token(db, signer):
    with TestClient(cds_app(db, signer)) as c:
        link = report_link(c, signer)
        eid, token = parts(link)
        page = c.get(link)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        pdf = f"/reports/{eid}.pdf?t={token}"
        assert pdf in page.text.replace("&amp;", "&")  # the page's PDF link keeps the token
        r = c.get(pdf)
        assert r.status_code == 200 and r.content[:5] == b"%PDF-"


def test_card_link_without_its_token_is_an_unknown_report(db, signer):
    with TestClient(cds_app(db, signer)) as c:
        eid = urlsplit(report_link(c, signer)).path.rsplit("/", 1)[1]  # the report id a leak or guess gives
        unknown = c.get("/reports/" + "0" * 32)
        for path in (f"/reports/{eid}", f"/reports/{eid}.pdf", f"/reports/{eid}?t=", f"/reports/{eid}?t=abc"):
            assert_hidden(c.get(path), unknown)


def test_another_callers_token_does_not_open_the_report(db, signer):
    """Two EHRs: each one's link opens its own report only; a token for report B does not open report A."""
    other = Signer("https://other-ehr.example")
    with TestClient(cds_app(db, signer, other)) as c:
        a_id, a_tok = parts(report_link(c, signer))
        b_id, b_tok = parts(report_link(c, other))
        unknown = c.get("/reports/" + "0" * 32)
        assert c.get(f"/reports/{a_id}?t={a_tok}").status_code == 200
        assert c.get(f"/reports/{b_id}?t={b_tok}").status_code == 200
        assert_hidden(c.get(f"/reports/{a_id}?t={b_tok}"), unknown)
        assert_hidden(c.get(f"/reports/{b_id}?t={a_tok}"), unknown)
        assert_hidden(c.get(f"/reports/{a_id}.pdf?t={b_tok}"), unknown)
        # a token the service itself would make for report A, but bound to the other caller, is refused too
        core = c.app.state.core
        b_principal = core.audit.get(b_id).principal
        assert_hidden(c.get(f"/reports/{a_id}?t={core.links.token(a_id, b_principal)}"), unknown)


def test_same_issuer_other_subject_or_tenant_is_another_caller(db, signer):
    with TestClient(cds_app(db, signer)) as c:
        r = c.post(PV, json=pv_request(), headers=signer.headers(BASE + PV, sub="client-a", tenant="t1"))
        url = next(lk["url"] for card in r.json()["cards"] for lk in card.get("links", []) if "/reports/" in lk["url"])
        eid, token = parts(url)
        core = c.app.state.core
        stored = core.audit.get(eid).principal
        assert json.loads(stored.removeprefix("cds:")) == {"iss": ISS, "sub": "client-a", "tenant": "t1"}
        assert c.get(f"/reports/{eid}?t={token}").status_code == 200
        unknown = c.get("/reports/" + "0" * 32)
        for who in ({"iss": ISS}, {"iss": ISS, "sub": "client-b", "tenant": "t1"}, {"iss": ISS, "sub": "client-a"}):
            principal = "cds:" + json.dumps(who, sort_keys=True, separators=(",", ":"))
            assert_hidden(c.get(f"/reports/{eid}?t={core.links.token(eid, principal)}"), unknown)


def test_expired_token_is_an_unknown_report(db, signer):
    with TestClient(cds_app(db, signer, report_link_ttl_minutes=1)) as c:
        eid, token = parts(report_link(c, signer))
        expires = int(token.split(".")[0])
        assert time.time() + 50 < expires <= time.time() + 61  # RPLNAV_REPORT_LINK_TTL_MINUTES=1
        core = c.app.state.core
        principal = core.audit.get(eid).principal
        stale = core.links.token(eid, principal, not_after=time.time() - 1)  # genuinely signed, a second old
        assert_hidden(c.get(f"/reports/{eid}?t={stale}"), c.get("/reports/" + "0" * 32))
        assert c.get(f"/reports/{eid}?t={token}").status_code == 200


def test_tampered_token_is_an_unknown_report(db, signer):
    import base64
    import hashlib
    import hmac

    with TestClient(cds_app(db, signer)) as c:
        eid, token = parts(report_link(c, signer))
        unknown = c.get("/reports/" + "0" * 32)
        expires, mac = token.split(".")
        later = f"{int(expires) + 86400}.{mac}"                       # the expiry pushed back a day
        flipped = f"{expires}.{mac[:-2]}{'A' if mac[-2] != 'A' else 'B'}{mac[-1]}"  # one character of the MAC
        principal = c.app.state.core.audit.get(eid).principal
        msg = b"\x00".join((b"rplnav report link v1", eid.encode(), principal.encode(), expires.encode()))
        guessed_key = base64.urlsafe_b64encode(hmac.new(b"secret", msg, hashlib.sha256).digest()).rstrip(b"=")
        forged = f"{expires}.{guessed_key.decode()}"                   # right layout, wrong key
        for bad in (later, flipped, forged, token + "x", token + "\n", "." + mac, f"{expires}.", token.upper()):
            assert_hidden(c.get(f"/reports/{eid}", params={"t": bad}), unknown)
        assert c.get(f"/reports/{eid}?t={token}").status_code == 200


def test_token_is_not_written_to_the_audit_log_or_the_logs(db, signer, caplog):
    caplog.set_level(logging.DEBUG)
    with TestClient(cds_app(db, signer)) as c:
        link = report_link(c, signer)
        eid, token = parts(link)
        assert c.get(link).status_code == 200
        row = c.app.state.core.audit.get(eid)
        stored = json.dumps(row.output)
        assert token not in stored and f"/reports/{eid}?t=(token)" in stored
        assert row.principal == "cds:" + json.dumps({"iss": ISS}, separators=(",", ":"))
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]  # not the test's client
    assert ours and not [m for m in ours if token in m]


def test_link_key_is_kept_across_restarts_and_a_configured_key_is_used(db, signer, tmp_path):
    with TestClient(cds_app(db, signer)) as c:
        link = report_link(c, signer)
    with TestClient(cds_app(db, signer)) as c:  # a restart (or another worker) on the same database
        assert c.get(link).status_code == 200
    key = "k" * 40
    with TestClient(cds_app(db, signer, report_link_secret=key)) as c:
        assert c.get(link).status_code == 404  # the configured key replaces the generated one
        link2 = report_link(c, signer)
        assert c.get(link2).status_code == 200
        assert c.app.state.core.links.key == key.encode()
        assert key not in repr(c.app.state.core.settings) and key not in repr(c.app.state.core.links)
    with pytest.raises(ValueError, match="RPLNAV_REPORT_LINK_SECRET"):
        Settings(database_url=db, report_link_secret="short")


def test_generated_key_is_shared_by_every_worker(db_url):
    first, second = AuditLog(db_url), AuditLog(db_url)
    try:
        key = first.secret("report-link-hmac")
        assert len(key) == 32 and second.secret("report-link-hmac") == key
        assert first.secret("another") != key
    finally:
        first.close()
        second.close()


def test_database_from_before_report_principals_gets_the_column(db_url):
    from sqlalchemy import text

    log_ = AuditLog(db_url)
    with log_.engine.begin() as conn:  # the audit table as it was before reports had a principal
        conn.execute(text("ALTER TABLE rplnav_audit_event DROP COLUMN principal"))
    log_.close()
    logs = [AuditLog(db_url), AuditLog(db_url)]  # two workers starting on the old database
    try:
        eid = logs[1].record(kind="assess", endpoint="x", caller="api", input_sha256="0" * 64, status=200,
                             output={}, knowledge_version=None, principal="user:alice")
        assert logs[0].get(eid).principal == "user:alice"
    finally:
        for one in logs:
            one.close()


# ------------------------------------------------------------------ web app and REST API behind a proxy
@pytest.fixture
def proxied(db: str):
    """A service whose proxy names the signed-in user in X-Remote-User; clients at the proxy and elsewhere."""
    app = create_app(Settings(database_url=db, insecure_dev=True, user_header="X-Remote-User",
                              forwarded_allow_ips=[PROXY]))
    with TestClient(app, client=(PROXY, 40000)) as via_proxy, TestClient(app, client=("203.0.113.7", 40000)) as direct:
        yield via_proxy, direct


def api_report(c: TestClient, user: str | None) -> str:
    r = c.post("/api/v1/assess", json=example("03"), headers={USER: user} if user else {})
    assert r.status_code == 200, r.text
    return r.headers["x-rplnav-report"]


def test_api_report_opens_only_for_the_user_who_made_it(proxied):
    via_proxy, direct = proxied
    link = api_report(via_proxy, "alice")
    unknown = via_proxy.get("/reports/" + "0" * 32, headers={USER: "alice"})
    assert via_proxy.get(link, headers={USER: "alice"}).status_code == 200
    assert via_proxy.get(link + ".pdf", headers={USER: "alice"}).status_code == 200
    assert_hidden(via_proxy.get(link, headers={USER: "bob"}), unknown)
    assert_hidden(via_proxy.get(link + ".pdf", headers={USER: "bob"}), unknown)
    assert_hidden(via_proxy.get(link, headers={USER: "Alice"}), unknown)
    assert_hidden(via_proxy.get(link), unknown)  # no user header
    # the header is believed only from the proxy: someone reaching the port directly cannot claim to be alice
    assert_hidden(direct.get(link, headers={USER: "alice"}), unknown)
    # nor by sending it twice or with a control character
    assert_hidden(via_proxy.get(link, headers=[(USER, "alice"), (USER, "alice")]), unknown)
    assert_hidden(via_proxy.get(link, headers={USER: "alice\t"}), unknown)
    assert via_proxy.app.state.core.audit.recent(1)[0].principal == "user:alice"


def test_making_a_report_needs_the_user_when_one_is_required(proxied):
    via_proxy, direct = proxied
    for c, headers in ((via_proxy, {}), (direct, {USER: "alice"}), (via_proxy, {USER: ""})):
        r = c.post("/api/v1/assess", json=example("03"), headers=headers)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert via_proxy.app.state.core.audit.recent(5) == []  # nothing was assessed or stored


def test_web_form_report_belongs_to_the_signed_in_user(proxied):
    via_proxy, _ = proxied
    token = csrf(via_proxy)
    form = {"csrf": token, "id": "referral-0412", "age": "34", "pregnancies.0.outcome": "miscarriage",
            "pregnancies.1.outcome": "miscarriage", "pregnancies.2.outcome": "miscarriage"}
    r = via_proxy.post("/assess", data=form, headers={USER: "alice"}, follow_redirects=False)
    assert r.status_code == 303, re.findall(r"<li[^>]*>([^<]*)", r.text)
    link = r.headers["location"]
    assert via_proxy.get(link, headers={USER: "alice"}).status_code == 200
    assert via_proxy.get(link, headers={USER: "bob"}).status_code == 404
    r = via_proxy.post("/assess", data=form, follow_redirects=False)
    assert r.status_code == 401


def test_unowned_and_cds_reports_do_not_open_for_a_signed_in_user(db, signer):
    """With a user header required, a report made before (no principal) stops opening, and a CDS report still
    needs its card token: being signed in at the proxy is not enough."""
    with TestClient(cds_app(db, signer)) as c:
        cds_link = report_link(c, signer)
        old = api_report(c, None)
    app = create_app(Settings(database_url=db, cds_clients=[signer.client_config()], public_url=BASE,
                              user_header=USER, forwarded_allow_ips=[PROXY]))
    with TestClient(app, client=(PROXY, 40000)) as c:
        alice = {USER: "alice"}
        assert c.get(old, headers=alice).status_code == 404
        assert c.get(cds_link.split("?")[0], headers=alice).status_code == 404
        assert c.get(cds_link, headers=alice).status_code == 200
        assert c.get(cds_link).status_code == 200  # the token alone: the EHR's browser need not be signed in


def test_without_authentication_configured_links_work_as_before(client):
    """No user header, --insecure-dev: the report link is a bearer secret that expires (documented)."""
    link = api_report(client, None)
    assert client.get(link).status_code == 200
    assert client.app.state.core.audit.recent(1)[0].principal is None


def test_user_header_needs_a_trusted_proxy():
    with pytest.raises(ValueError, match="RPLNAV_FORWARDED_ALLOW_IPS"):
        Settings(database_url="sqlite://", user_header=USER)
    with pytest.raises(ValueError, match="anyone"):
        Settings(database_url="sqlite://", user_header=USER, forwarded_allow_ips=["*"])
    for bad in ("Authorization", "X-Forwarded-For", "x remote user", ""):
        with pytest.raises(ValueError, match="RPLNAV_USER_HEADER"):
            Settings(database_url="sqlite://", user_header=bad, forwarded_allow_ips=[PROXY])


def test_live_server_believes_the_user_header_only_from_the_proxy(tmp_path):
    """Through a real uvicorn: the proxy's address is 127.0.0.1, as in the deployment recipe."""
    import httpx

    from tests.service.conftest import start_server

    srv = start_server(tmp_path, {"RPLNAV_FORWARDED_ALLOW_IPS": "127.0.0.1", "RPLNAV_USER_HEADER": "X-Remote-User"})
    try:
        r = httpx.post(srv.url + "/api/v1/assess", json=example("03"), headers={USER: "alice"})
        assert r.status_code == 200
        link = srv.url + r.headers["x-rplnav-report"]
        assert httpx.get(link, headers={USER: "alice"}).status_code == 200
        assert httpx.get(link, headers={USER: "bob"}).status_code == 404
        assert httpx.get(link).status_code == 404
        assert httpx.post(srv.url + "/api/v1/assess", json=example("03")).status_code == 401
    finally:
        srv.stop()
    srv = start_server(tmp_path, {"RPLNAV_FORWARDED_ALLOW_IPS": "10.0.0.5", "RPLNAV_USER_HEADER": "X-Remote-User"})
    try:  # the same request from an address that is not the proxy: the header is not believed
        assert httpx.get(link.replace(link.split("/reports")[0], srv.url), headers={USER: "alice"}).status_code == 404
        assert httpx.post(srv.url + "/api/v1/assess", json=example("03"), headers={USER: "alice"}).status_code == 401
    finally:
        srv.stop()
