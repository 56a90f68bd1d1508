"""What every route shares: the knowledge base and engine (loaded once), the audit log, the JWT verifier."""

from __future__ import annotations

import json
import logging
from typing import Any

from rplnav.assess import Engine
from rplnav.audit import AuditLog
from rplnav.interop.fhir import FhirIntake, is_bundle
from rplnav.knowledge.load import Knowledge, default_knowledge
from rplnav.patient import InputError, closest, load_document, parse_patient
from rplnav.service.config import Settings
from rplnav.service.errors import ClientError
from rplnav.service.security import JwtVerifier

log = logging.getLogger("rplnav.service")
JSON_TYPES = ("application/json", "application/fhir+json")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
CLIENT_FAULTS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in clinical input")


class Core:
    def __init__(self, settings: Settings, kb: Knowledge | None = None):
        self.settings = settings
        self.kb = kb or default_knowledge()
        self.engine = Engine(self.kb)
        self.therapy_ids = set(self.kb.therapies)
        self.audit = AuditLog(settings.database_url)
        self.verifier = JwtVerifier(settings.cds_clients, settings.jwt_leeway_seconds)

    # ------------------------------------------------------------------ input
    def decode(self, body: bytes, content_type: str | None) -> Any:
        ctype = (content_type or "application/json").split(";")[0].strip().lower()
        if not body.strip():
            raise ClientError(400, "Empty body", "send a patient document (JSON or YAML) or a FHIR R4 Bundle")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ClientError(400, "Body is not UTF-8 text") from None
        if ctype in YAML_TYPES:
            try:
                return load_document(text, "body")
            except InputError as e:
                raise ClientError(400, "Malformed YAML", None, e.problems) from None
            except CLIENT_FAULTS as e:
                raise ClientError(400, "Malformed YAML", str(e)) from None
        if ctype not in JSON_TYPES and not ctype.endswith("+json"):
            raise ClientError(415, "Unsupported media type",
                              f"'{ctype}'; send application/json, application/fhir+json or application/yaml")
        try:
            return json.loads(text, parse_constant=_no_constants)
        except json.JSONDecodeError as e:
            raise ClientError(400, "Malformed JSON", f"line {e.lineno}, column {e.colno}: {e.msg}") from None
        except (ValueError, RecursionError) as e:
            raise ClientError(400, "Malformed JSON", str(e)) from None

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
                   strict: bool = False) -> dict[str, Any]:
        """Patient document or FHIR Bundle -> assessment; InputError lists every problem."""
        try:
            intake = None
            if is_bundle(doc):
                intake = FhirIntake(self.kb.tests, self.therapy_ids, kb=self.kb)
                doc = intake.convert(doc)
            parsed = parse_patient(doc, self.kb.tests, self.therapy_ids, name, kb=self.kb)
            a = self.engine.assess(parsed, guidelines, strict=strict)
        except InputError as e:
            if intake is not None and intake.not_used:
                raise InputError(e.problems + [f"not used from the Bundle: {n}" for n in intake.not_used]) from None
            raise
        except CLIENT_FAULTS as e:  # the input provoked something the validators did not catch
            log.warning("input could not be assessed: %s: %s", type(e).__name__, e)
            raise InputError([f"(document): the input could not be assessed ({type(e).__name__})"]) from None
        if intake is not None:
            a["input_format"] = "fhir-r4-bundle"
            a["not_used"] = list(intake.not_used)
        return a
