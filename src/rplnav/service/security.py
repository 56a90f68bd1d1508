"""CDS Hooks client trust: verify the client's JWT (CDS Hooks 2.0 §Trusting CDS Clients).

Checks, in order: a bearer token is present; `alg` is ES384 or RS384 (never `none`, never HMAC); `iss` is an
allow-listed client and `jku`, if sent, is one of its allow-listed key URLs; the key with this `kid` comes from
that client's configured JWK Set; the signature; then the `jti` is used up (it must not have been seen
before; kept until the token expires, in the audit database so a restart does not forget it), whatever
the remaining checks decide; `aud` equals the configured URL being called; `exp`, `iat` present, `exp` not
passed and at most `max_lifetime` (5 minutes) after `iat` and from now; the `tenant`, when the client lists
tenants. A token in the URL's query string refuses the call (and is used up). Any failure is a bare 401.
Tokens are never logged; `iss` and `jti` may be.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import re
import threading
import time
from typing import Any, Protocol

import jwt

log = logging.getLogger("rplnav.service.security")
ALGORITHMS = ("ES384", "RS384")


class Unauthorized(Exception):
    """Any failed check; the response carries no detail."""


class ReplayStore(Protocol):
    def claim(self, key: str, expires: float) -> bool:
        """Record `key` until `expires` (Unix seconds); False when it was already recorded."""


class MemoryReplayStore:
    """Seen tokens in memory (one process; lost on restart): for tests and tools. The service uses the audit
    database (AuditLog.claim), which survives restarts and is shared by worker processes."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []  # a heap: each check drops only what has expired, O(log n)
        self._lock = threading.Lock()

    def claim(self, key: str, expires: float) -> bool:
        now = time.time()
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                _, old = heapq.heappop(self._expiry)
                if self._seen.get(old, now) < now:
                    del self._seen[old]
            if key in self._seen:
                return False
            self._seen[key] = expires
            heapq.heappush(self._expiry, (expires, key))
            return True

    def __len__(self) -> int:
        return len(self._seen)


_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$")


def looks_like_jwt(text: str) -> bool:
    return bool(_JWT_SHAPE.match(text))


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class JwtVerifier:
    def __init__(self, clients: list[dict[str, Any]], leeway: int = 5, max_lifetime: int = 300,
                 replay: ReplayStore | None = None):
        self.clients = {c["iss"]: c for c in clients}
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.replay: ReplayStore = replay if replay is not None else MemoryReplayStore()
        self._keys: dict[tuple[str, str], Any] = {}
        for c in clients:
            for k in c["jwks"]["keys"]:
                if isinstance(k, dict) and k.get("kid"):
                    try:
                        self._keys[(c["iss"], k["kid"])] = jwt.PyJWK(k)
                    except jwt.PyJWTError as e:  # a bad key in configuration: skip it, say so
                        log.error("CDS client %s: key %s unusable: %s", c["iss"], k.get("kid"), e)

    def verify(self, authorization: str | None, audience: str, stray: list[str] | tuple[str, ...] = ()
               ) -> dict[str, Any]:
        """The claims of a valid Bearer token for `audience`, or Unauthorized. `stray` are tokens found where
        they must never be (the URL's query): each is used up, if genuine, and the call refused."""
        for token in stray:
            try:
                self._signed_and_claimed(token)
            except Unauthorized:
                pass
        if stray:
            log.warning("refused a call carrying a token in its URL")
            raise Unauthorized
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized
        claims, client = self._signed_and_claimed(authorization[len("Bearer "):].strip())
        now = time.time()
        aud = claims.get("aud")
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise Unauthorized
        exp, iat, nbf = _number(claims.get("exp")), _number(claims.get("iat")), _number(claims.get("nbf", 0))
        if exp is None or iat is None or nbf is None:
            raise Unauthorized
        if exp + self.leeway < now or iat > now + self.leeway or nbf > now + self.leeway:
            raise Unauthorized
        # CDS Hooks advises tokens of at most 5 minutes: a long-lived token is a stolen token's long life
        if exp - iat > self.max_lifetime or exp > now + self.max_lifetime + self.leeway:
            raise Unauthorized
        tenants = client.get("tenants")
        if tenants and claims.get("tenant") not in tenants:
            raise Unauthorized
        return claims

    def _signed_and_claimed(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Checks the header, the issuer and the signature, then uses up the `jti` (before any other claim is
        checked, so a refused token cannot be tried again); returns (claims, client)."""
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg not in ALGORITHMS:
                raise Unauthorized
            unverified = jwt.decode(token, options={"verify_signature": False})
            iss = unverified.get("iss")
            client = self.clients.get(iss) if isinstance(iss, str) else None
            if client is None:
                raise Unauthorized
            jku = header.get("jku")
            if jku is not None and jku not in (client.get("jku") or []):
                raise Unauthorized
            kid = header.get("kid")
            jwk = self._keys.get((iss, kid)) if isinstance(kid, str) else None
            if jwk is None:
                raise Unauthorized
            if jwk.key_type != {"ES384": "EC", "RS384": "RSA"}[alg]:
                raise Unauthorized
            claims = jwt.decode(
                token, jwk.key, algorithms=[alg], issuer=iss,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_aud": False, "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False},
            )
        except Unauthorized:
            raise
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise Unauthorized from None
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 512:
            raise Unauthorized
        now = time.time()
        exp = _number(claims.get("exp"))
        # kept until the token could no longer be accepted anyway (at most the longest lifetime from now)
        keep_until = now + self.max_lifetime + self.leeway
        if exp is not None:
            keep_until = min(max(exp + self.leeway, now), keep_until)
        key = hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()
        if not self.replay.claim(key, keep_until):
            log.warning("replayed jti from %s: %s", iss, jti[:100])
            raise Unauthorized
        return claims, client
