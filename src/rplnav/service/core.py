"""What every route shares: the knowledge base and engine (loaded once), the audit log, the JWT verifier."""

from __future__ import annotations

import logging
from typing import Any

from rplnav.assess import Engine
from rplnav.assessment import Assessment
from rplnav.audit import AuditLog
from rplnav.inputdoc import DocumentError, parse_document
from rplnav.knowledge.load import Knowledge, default_knowledge
from rplnav.patient import closest
from rplnav.problems import problems_of
from rplnav.service.access import LinkSigner
from rplnav.service.config import Settings
from rplnav.service.errors import ClientError
from rplnav.service.security import JwtVerifier
from rplnav.usecase import JSON_TYPES, YAML_TYPES, Options, assess_input

log = logging.getLogger("rplnav.service")


class Service:
    """The state every route shares: knowledge base, engine, audit log, token verifier, report-link signer."""

    def __init__(self, settings: Settings, kb: Knowledge | None = None):
        self.settings = settings
        self.kb = kb or default_knowledge()
        self.engine = Engine(self.kb)
        self.therapy_ids = set(self.kb.therapies)
        self.audit = AuditLog(settings.database_url)
        # seen tokens are kept in the audit database: a restart (or another worker) does not forget them
        self.verifier = JwtVerifier(settings.cds_clients, settings.jwt_leeway_seconds, settings.jwt_max_lifetime,
                                    replay=self.audit)
        # report-link tokens: the configured key, or one generated once and kept with the other service state
        key = (settings.report_link_secret.strip().encode() if settings.report_link_secret
               else self.audit.secret("report-link-hmac"))
        self.links = LinkSigner(key, settings.report_link_ttl_minutes * 60)

    # ------------------------------------------------------------------ input
    def decode(self, body: bytes, content_type: str | None, yaml_ok: bool = True) -> Any:
        """A request body -> a document, through the bounded parser every input path shares (inputdoc.py).
        Media types are matched exactly; CDS Hooks requests (`yaml_ok=False`) are JSON only."""
        ctype = (content_type or "application/json").split(";")[0].strip().lower()
        if ctype in JSON_TYPES:
            syntax = "json"
        elif ctype in YAML_TYPES and yaml_ok:
            syntax = "yaml"
        else:
            accepted = ", ".join(JSON_TYPES + (YAML_TYPES[:1] if yaml_ok else ()))
            raise ClientError(415, "Unsupported media type", f"'{ctype[:100]}'; send {accepted}")
        if not body.strip():
            raise ClientError(400, "Empty body", "send a patient document (JSON or YAML) or a FHIR R4 Bundle")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ClientError(400, "Body is not UTF-8 text") from None
        try:
            return parse_document(text, "", syntax)
        except DocumentError as e:
            raise ClientError(400, f"Malformed {syntax.upper()}", None, problems_of(e.problems)) from None

    def guideline_list(self, text: str | None) -> list[str] | None:
        if not text:
            return None
        keep = [g.strip() for g in text.split(",") if g.strip()]
        unknown = [g for g in keep if g not in self.kb.guidelines]
        if unknown:
            raise ClientError(422, "Unknown guideline", None, [
                {"field": "guidelines", "message": f"'{g}' is not a guideline id{closest(g, sorted(self.kb.guidelines))}"}
                for g in unknown])
        return keep or None

    # ------------------------------------------------------------------ assessment
    def assess_doc(self, doc: Any, guidelines: list[str] | None = None, name: str = "body",
                   strict: bool = False) -> Assessment:
        """Patient document or FHIR Bundle -> assessment, through the one use case (rplnav.usecase)."""
        return assess_input(doc, None, Options(guidelines=guidelines, strict=strict, name=name), self.engine)
