"""Every source reference in the knowledge base, with the statement it belongs to.

Verification is measured over source references (a therapy's regimen, timing window and caution each cite
their own), so the walk visits every `SourceRef` a loaded knowledge base holds, wherever it sits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from rplnav.knowledge.load import SECTIONS, Knowledge
from rplnav.knowledge.model import Recommendation, SourceRef


@dataclass(frozen=True)
class RefSite:
    section: str        # knowledge section: recommendations, therapies, studies, ...
    owner: str          # id of the entry that holds the reference
    path: str           # where in the entry (e.g. "regimens[1].source")
    guideline: str | None  # the guideline the statement belongs to, when it belongs to one
    ref: SourceRef


def _walk(obj: object, path: str) -> Iterator[tuple[str, SourceRef]]:
    if isinstance(obj, SourceRef):
        yield path, obj
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _walk(getattr(obj, name), f"{path}.{name}" if path else name)
    elif isinstance(obj, list | tuple):
        for i, x in enumerate(obj):
            yield from _walk(x, f"{path}[{i}]")


KNOWLEDGE_ATTR = {"derived_facts": "derived"}  # section name -> Knowledge attribute, where they differ


def guideline_of_document(kb: Knowledge) -> dict[str, str]:
    """sources.yaml id -> the guideline whose own document it is (eshre-2022 -> ESHRE-2022)."""
    return {g.source.document: g.id for g in kb.guidelines.values() if g.source.document in kb.sources}


def source_refs(kb: Knowledge) -> Iterator[RefSite]:
    """Every source reference, each attributed to a guideline when the statement is one of its own."""
    by_doc = guideline_of_document(kb)
    # every section the loader reads, so a new section's references are walked (and checked) without a
    # list to keep; usual_limits are folded into the tests they belong to
    sections: list[tuple[str, list]] = []
    for section in SECTIONS:
        held = getattr(kb, KNOWLEDGE_ATTR.get(section, section), None)
        if section != "sources" and held is not None:
            sections.append((section, list(held.values()) if isinstance(held, dict) else list(held)))
    for section, entries in sections:
        for entry in entries:
            for path, ref in _walk(entry, ""):
                if isinstance(entry, Recommendation):
                    gl: str | None = entry.guideline
                elif section == "guidelines":
                    gl = entry.id
                else:
                    gl = by_doc.get(ref.document)
                yield RefSite(section, entry.id, path, gl, ref)
