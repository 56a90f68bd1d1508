"""One use case for every front end: raw input -> patient -> guidelines -> assessment.

The command line (`assess`, `evidence --for`), the REST API, the web pages and CDS Hooks all read a patient here:
native `rplnav.patient/v1` documents (YAML or JSON) and FHIR R4 Bundles are told apart, converted, validated
and assessed the same way, so the same record gives the same problems and the same decisions everywhere.
Front ends keep only what is theirs (files and exit codes, HTTP media types and status codes, the form).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rplnav.assess import Engine
from rplnav.assessment import Assessment
from rplnav.inputdoc import DocumentError, parse_document
from rplnav.interop.fhir import FhirIntake, is_bundle
from rplnav.knowledge.load import Knowledge
from rplnav.patient import InputError, Parsed, parse_patient

log = logging.getLogger("rplnav.usecase")
FHIR_BUNDLE = "fhir-r4-bundle"
NATIVE = "rplnav-patient"
JSON_TYPES = ("application/json", "application/fhir+json")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
# what an input that passed validation may still provoke in the engine: reported as an input problem
CLIENT_FAULTS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError)


@dataclass(frozen=True)
class Options:
    """How to assess: only these guidelines (None = all), strict (omitted history stays undecided), and the
    name the input is called by in problems."""

    guidelines: list[str] | None = None
    strict: bool = False
    name: str = "<input>"


@dataclass(frozen=True)
class Intake:
    """A patient as read: the validated record, the format it came in, and what a Bundle held that was not read."""

    parsed: Parsed
    input_format: str = NATIVE
    not_used: list[str] = field(default_factory=list)


def decode(raw: bytes | str | Any, media_type: str | None = None, name: str = "<input>") -> Any:
    """Bytes or text -> a document through the bounded parser (JSON or YAML by media type, else detected);
    an already decoded document is returned as it is."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError([f"{name}: not UTF-8 text"]) from None
    if not isinstance(raw, str):
        return raw
    ctype = (media_type or "").split(";")[0].strip().lower()
    syntax = "json" if ctype in JSON_TYPES else "yaml" if ctype in YAML_TYPES else "auto"
    try:
        return parse_document(raw, name, syntax)
    except DocumentError as e:
        raise InputError(e.problems) from None


def read_input(raw: bytes | str | Any, media_type: str | None, kb: Knowledge, name: str = "<input>") -> Intake:
    """Detect native vs FHIR input, convert a Bundle, validate the patient; InputError lists every problem
    (with what a Bundle held that was not used, so the reader sees why a field is missing)."""
    doc = decode(raw, media_type, name)
    intake = FhirIntake(kb.tests, set(kb.therapies), kb=kb) if is_bundle(doc) else None
    try:
        if intake is not None:
            doc = intake.convert(doc)
        parsed = parse_patient(doc, kb.tests, set(kb.therapies), name, kb=kb)
    except InputError as e:
        if intake is not None and intake.not_used:
            raise InputError(e.problems + [f"not used from the Bundle: {n}" for n in intake.not_used]) from None
        raise
    if intake is None:
        return Intake(parsed)
    return Intake(parsed, FHIR_BUNDLE, list(intake.not_used))


def assess_input(raw: bytes | str | Any, media_type: str | None, options: Options, engine: Engine) -> Assessment:
    """The assessment of one input, whatever its format. Problems in the input raise InputError; an output the
    document model rejects is an engine bug (rplnav.assessment.OutputError) and is never reported as bad input."""
    try:
        intake = read_input(raw, media_type, engine.kb, options.name)
        a = engine.assess(intake.parsed, options.guidelines, strict=options.strict)
    except InputError:
        raise
    except CLIENT_FAULTS as e:  # the input provoked something the validators did not catch
        log.warning("input could not be assessed: %s: %s", type(e).__name__, e)
        raise InputError([f"(document): the input could not be assessed ({type(e).__name__})"]) from None
    if intake.input_format == FHIR_BUNDLE:
        a = a.with_input(input_format=FHIR_BUNDLE, not_used=intake.not_used)
    return a
