"""CDS Hooks client trust: verify the client's JWT (CDS Hooks 2.0 §Trusting CDS Clients).

Checks, in order: a bearer token is present; `alg` is ES384 or RS384 (never `none`, never HMAC); `iss` is an
allow-listed client and `jku`, if sent, is one of its allow-listed key URLs; the key with this `kid` comes from
that client's configured JWK Set; the signature; `aud` equals the URL being called; `exp` (and `iat`, `jti`)
present and `exp` not passed; the `tenant`, when the client lists tenants; and the `jti` was not seen before
(kept until the token expires). Any failure is a bare 401. Tokens are never logged; `iss` and `jti` may be.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import jwt

log = logging.getLogger("rplnav.service.security")
ALGORITHMS = ("ES384", "RS384")


class Unauthorized(Exception):
    """Any failed check; the response carries no detail."""


class ReplayCache:
    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check_and_add(self, key: str, exp: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            if key in self._seen:
                return False
            self._seen[key] = max(exp, now)
            return True


class JwtVerifier:
    def __init__(self, clients: list[dict[str, Any]], leeway: int = 5):
        self.clients = {c["iss"]: c for c in clients}
        self.leeway = leeway
        self.replay = ReplayCache()
        self._keys: dict[tuple[str, str], Any] = {}
        for c in clients:
            for k in c["jwks"]["keys"]:
                if isinstance(k, dict) and k.get("kid"):
                    try:
                        self._keys[(c["iss"], k["kid"])] = jwt.PyJWK(k)
                    except jwt.PyJWTError as e:  # a bad key in configuration: skip it, say so
                        log.error("CDS client %s: key %s unusable: %s", c["iss"], k.get("kid"), e)

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized
        token = authorization[len("Bearer "):].strip()
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
                token, jwk.key, algorithms=[alg], audience=audience, issuer=iss, leeway=self.leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except Unauthorized:
            raise
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise Unauthorized from None
        tenants = client.get("tenants")
        if tenants and claims.get("tenant") not in tenants:
            raise Unauthorized
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise Unauthorized
        if not self.replay.check_and_add(f"{iss}\x00{jti}", float(claims["exp"])):
            log.warning("replayed jti from %s: %s", iss, jti)
            raise Unauthorized
        return claims
