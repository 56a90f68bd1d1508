"""Not documented vs none: decisions taken on history the record does not give, named as assumptions.

A history list that is omitted (``conditions``, ``findings.thromboses``, ``medications``) means *not
documented*; an empty list means *documented as none* (CONTRACT.md, "Absent is not the same as none"). A
referral letter rarely says "no thyroid disease, no thrombosis", yet a specialist reading it decides as if
there were none and says so. The engine does the same, openly:

1. it assesses the record as written (strict: unknown history stays unknown);
2. it assesses the record with every omitted list taken as empty;
3. every decision that differs (strict undecided, the other decided) rests on an assumption; with more than
   one omitted list, each list is restored in turn to see which decisions rest on which list.

The output is the assessment with the omitted lists taken as empty, plus an ``assumptions`` entry per list
(what was assumed, the decisions resting on it, what to record to confirm it) and, on each decision that rests
on one, the ids of its assumptions (``assumes``). Safety checks (contraindications, cautions) are never
decided by an assumption: they are evaluated on the record as written, so "not documented, check first"
stays. ``strict=True`` skips steps 2-3 and keeps today's undecided answers.

Why compare whole assessments rather than thread the assumption through each rule: the strict and assumed
patients differ only in lists that become known, and three-valued logic is monotone (refining an unknown never
changes a decided value), so the difference between the two documents is exactly the set of decisions the
assumptions made — for every rule, present and future, with no rule having to know about assumptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rplnav.patient import Patient


@dataclass(frozen=True)
class HistoryList:
    """One history list that can be omitted; what its absence is taken to mean, and where to record it."""

    id: str
    field: str
    assumed: str
    facts: tuple[str, ...]  # prefixes of the facts the list decides
    empty: Any = ()  # what "documented as none" is for this field ([] for a list, false for a finding)

    def omitted(self, patient: Patient) -> bool:
        return _get(patient, self.field) is None


HISTORY_LISTS: tuple[HistoryList, ...] = (
    HistoryList("no-conditions-recorded", "conditions",
                "no medical conditions (the record gives no problem list)", ("condition.",)),
    HistoryList("no-thrombosis-recorded", "findings.thromboses",
                "no thrombosis (the record gives no thrombosis history)", ("thrombosis.",)),
    HistoryList("no-medications-recorded", "medications",
                "no current medications (the record gives no medication list)", ("medication.", "taking.")),
    HistoryList("no-luteal-phase-insufficiency-recorded", "findings.luteal_phase_insufficiency",
                "no luteal-phase insufficiency (the record does not mention one)", ("luteal_phase_insufficiency",),
                empty=False),
)


def _get(patient: Patient, field: str) -> Any:
    obj: Any = patient
    for part in field.split("."):
        if not hasattr(obj, part):
            return _MISSING_FIELD
        obj = getattr(obj, part)
    return obj


_MISSING_FIELD = object()  # the model has no such field (yet): never "omitted"


def omitted(patient: Patient, lists: Iterable[HistoryList] = HISTORY_LISTS) -> list[HistoryList]:
    """The history lists (of ``lists``) this record leaves out."""
    return [h for h in lists if h.omitted(patient)]


def deciding(fact_names: Iterable[str]) -> tuple[HistoryList, ...]:
    """The history lists some fact of the catalogue is computed from: a list no fact reads (today
    ``medications``, which only the CDS order cards read) can decide nothing, so assuming it is skipped."""
    names = tuple(fact_names)
    return tuple(h for h in HISTORY_LISTS if any(n.startswith(h.facts) for n in names))


def assume_absent(patient: Patient, lists: Iterable[HistoryList]) -> Patient:
    """The same patient with each of ``lists`` recorded as empty."""
    top: dict[str, Any] = {}
    findings: dict[str, Any] = {}
    for h in lists:
        head, _, tail = h.field.partition(".")
        if tail:
            if head != "findings":  # pragma: no cover - only findings.* lists are nested
                raise ValueError(h.field)
            findings[tail] = [] if h.empty == () else h.empty
        else:
            top[head] = [] if h.empty == () else h.empty
    if findings:
        top["findings"] = patient.findings.model_copy(update=findings)
    return patient.model_copy(update=top)


# ---------------------------------------------------------------- decisions of a document

UNDECIDED = (None, "indeterminate")


def decisions(doc: dict[str, Any]) -> dict[str, Any]:
    """Every decision an assessment document takes, by a stable id, with its value.

    Ids: ``rpl.<guideline>``, ``aps.<criteria>``, ``stance.<recommendation id>``, ``workup.<test>``,
    ``alert.<id>``, ``evidence.<therapy>``, ``prognosis``.
    """
    out: dict[str, Any] = {}
    for gid, r in doc["rpl"].items():
        out[f"rpl.{gid}"] = r.get("meets")
    for cid, a in doc["aps"].items():
        if isinstance(a, dict) and "status" in a:
            out[f"aps.{cid}"] = a["status"]
    for w in doc["workup"]:
        out[f"workup.{w['test']}"] = (w["status"], w["priority"])
        for s in w["recommendations"]:
            out[f"stance.{s['id']}"] = s["applies"]
    for o in doc["options"]:
        for s in o["stances"]:
            out[f"stance.{s['id']}"] = s["applies"]
        ev = o.get("evidence")
        if ev:
            stratum = ev.get("stratum")
            out[f"evidence.{o['therapy']}"] = (tuple(stratum.get("studies", ())) if stratum else None,
                                              tuple(ev.get("unmatched", ())))
    for a in doc["alerts"]:
        if a.get("id"):
            out[f"alert.{a['id']}"] = True
    p = doc.get("prognosis") or {}
    out["prognosis"] = (p.get("next_pregnancy_live_birth_percent"), p.get("note"))
    return out


def resting(strict: dict[str, Any], assumed: dict[str, Any]) -> list[str]:
    """The decisions the assumed document takes that the strict one leaves open (or takes differently)."""
    return [k for k, v in assumed.items() if strict.get(k, None) != v]


def attribute(changed: list[str], assumed: dict[str, Any], lists: list[HistoryList],
              without: Callable[[HistoryList], dict[str, Any]]) -> dict[str, list[str]]:
    """Which omitted list(s) each changed decision rests on.

    ``without(h)`` gives the decisions with every omitted list assumed empty except ``h``; a decision rests on
    ``h`` when restoring ``h`` to "not documented" undoes it. When no single list undoes it (either would
    decide it alone), it rests on all of them.
    """
    if len(lists) == 1:
        return {k: [lists[0].id] for k in changed}
    out: dict[str, list[str]] = {k: [] for k in changed}
    for h in lists:
        partial = without(h)
        for k in changed:
            if partial.get(k) != assumed[k]:
                out[k].append(h.id)
    for k, ids in out.items():
        if not ids:
            out[k] = [h.id for h in lists]
    return out


def annotate(doc: dict[str, Any], lists: list[HistoryList], rests: dict[str, list[str]],
             variant: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """The document with its ``assumptions`` and, on each decision resting on one, ``assumes``.

    Parts of a document may be shared with other documents (the engine memoises them), so every part that
    gains an ``assumes`` key is copied first; for the shared stances and evidence, ``variant``
    (rplnav.memo.Memo.variant) makes that copy once per part and list of assumptions.
    """
    def marked(part: dict[str, Any], key: str, shared: bool = False) -> dict[str, Any]:
        ids = rests.get(key)
        if not ids:
            return part
        if shared and variant is not None:  # only parts the engine shares repeat (a fresh part never would)
            return variant(part, "assumes", ids, tuple(ids))
        return {**part, "assumes": ids}

    def stances(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [marked(s, f"stance.{s['id']}", True) for s in items]

    doc["aps"] = {cid: marked(a, f"aps.{cid}") if isinstance(a, dict) else a for cid, a in doc["aps"].items()}
    doc["rpl"] = {gid: marked(r, f"rpl.{gid}") for gid, r in doc["rpl"].items()}
    doc["workup"] = [{**marked(w, f"workup.{w['test']}"), "recommendations": stances(w["recommendations"])}
                     for w in doc["workup"]]
    options = []
    for o in doc["options"]:
        o = {**o, "stances": stances(o["stances"])}
        if o.get("evidence"):
            o["evidence"] = marked(o["evidence"], f"evidence.{o['therapy']}", True)
        options.append(o)
    doc["options"] = options
    doc["alerts"] = [marked(a, f"alert.{a['id']}") if a.get("id") else a for a in doc["alerts"]]
    if doc.get("prognosis"):
        doc["prognosis"] = marked(doc["prognosis"], "prognosis")
    doc["assumptions"] = [
        {"id": h.id, "text": h.assumed, "confirm": h.field, "facts": [f"{p}*" for p in h.facts],
         "decisions": sorted(k for k, ids in rests.items() if h.id in ids)}
        for h in lists if any(h.id in ids for ids in rests.values())
    ]
    return doc
