"""CDS Hooks 2.0 cards from an assessment document (patient-view) and from draft orders (order-select/-sign).

Cards are a view of the assessment, like every other renderer: every card has a `source` (the guideline
statement it rests on), a summary under 140 characters, and a markdown detail that cites each statement.
"""

from __future__ import annotations

import uuid
from typing import Any

from rplnav.interop.codes import RXNORM
from rplnav.interop.fhir import therapy_of
from rplnav.knowledge.load import Knowledge
from rplnav.knowledge.model import AGAINST, CdsSuggestion
from rplnav.render.common import GUIDELINE_ORDER, source_text, stance_label

FOR = ("strong_for", "conditional_for", "good_practice")
SUMMARY_MAX = 139
NON_ADHERENCE = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
OVERRIDE_REASONS = [
    {"system": NON_ADHERENCE, "code": "cds-not-applicable", "display": "Guidance does not apply to this patient"},
    {"system": NON_ADHERENCE, "code": "recipient-disagrees-evidence", "display": "Disagree with the evidence"},
    {"system": NON_ADHERENCE, "code": "does-not-align-preferences",
     "display": "Patient's informed preference after counselling"},
    {"system": NON_ADHERENCE, "code": "risk-benefit-ratio", "display": "Benefit outweighs risk for this patient"},
]
STANCE_RANK = {"strong_for": 0, "conditional_for": 1, "good_practice": 2}


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;:") + "…"


class CardMaker:
    def __init__(self, kb: Knowledge, base_url: str, report_url: str | None = None):
        self.kb = kb
        self.base = base_url.rstrip("/")
        self.report_url = report_url
        # a drafted component (e.g. aspirin) is also checked against its combination's stances (aspirin + LMWH)
        self.combination_of = {p.therapy: sg.therapy for sg in kb.cds_suggestions.values() for p in sg.proposals}

    # ------------------------------------------------------------------ helpers
    def source(self, src: dict[str, Any] | None, label: str | None = None) -> dict[str, Any]:
        if not src:
            return {"label": label or "RPL Navigator knowledge base"}
        doc = self.kb.sources.get(src["document"])
        gl = label or src["document"]
        out: dict[str, Any] = {"label": clip(f"{gl}: {src['locator']}" + ("" if src.get("verified") else
                                                                               " (unverified)"), 200)}
        if doc is not None and doc.url:
            out["url"] = doc.url
        elif doc is not None and doc.doi:
            out["url"] = f"https://doi.org/{doc.doi}"
        return out

    def card(self, summary: str, indicator: str, detail: str, source: dict[str, Any],
             links: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        c: dict[str, Any] = {"uuid": str(uuid.uuid4()), "summary": clip(summary), "indicator": indicator,
                             "detail": detail, "source": source}
        all_links = list(links or [])
        if self.report_url:
            all_links.append({"label": "Full RPL Navigator report", "url": self.report_url, "type": "absolute"})
        if all_links:
            c["links"] = all_links
        c.update({k: v for k, v in extra.items() if v})
        return c

    def therapy_link(self, tid: str) -> dict[str, Any]:
        return {"label": f"Monograph: {self.kb.therapies[tid].name}"[:100], "url": f"{self.base}/therapies/{tid}",
                "type": "absolute"}

    @staticmethod
    def stance_line(s: dict[str, Any]) -> str:
        return (f"- **{s['guideline']}**: {stance_label(s['stance'])} ({s['strength']}; certainty "
                f"{s['certainty'].replace('_', ' ')}) — {s['statement']} *[{source_text(s['source'])}]*")

    # ------------------------------------------------------------------ patient-view
    def patient_view(self, a: dict[str, Any]) -> list[dict[str, Any]]:
        cards: list[dict[str, Any]] = []
        lo = a["losses"]
        meets = [g for g, r in a["rpl"].items() if r["meets"] is True]
        first = a["rpl"][meets[0]] if meets else next(iter(a["rpl"].values()), None)
        detail = "\n".join(f"- **{g}**: {'meets' if r['meets'] else 'does not meet' if r['meets'] is False else 'unknown'}"
                           f" — {r['reason']} *[{source_text(r['source'])}]*" for g, r in a["rpl"].items())
        if meets:
            summary = f"Recurrent pregnancy loss ({lo['total']} losses): meets {', '.join(meets)}"
        else:
            summary = f"{lo['total']} pregnancy loss(es): no RPL definition met yet"
        cards.append(self.card(summary, "info", detail, self.source(first["source"] if first else None,
                                                                     meets[0] if meets else None)))
        cards.append(self._aps_card(a))
        missing = [w for w in a["workup"] if w["status"] in ("missing", "repeat_needed")]
        if missing:
            names = [f"{w['name']}{' (repeat)' if w['status'] == 'repeat_needed' else ''}" for w in missing]
            top = missing[0]
            rec = next((r for r in top["recommendations"] if r["applies"] is True and r["stance"] in FOR),
                       top["recommendations"][0])
            detail = "\n".join(
                f"- **{w['name']}** ({w['status'].replace('_', ' ')}): " + "; ".join(
                    f"{r['guideline']} {stance_label(r['stance'])} *[{source_text(r['source'])}]*"
                    for r in w["recommendations"] if r["applies"] is not False) for w in missing)
            cards.append(self.card(f"Work-up missing: {', '.join(names)}", "warning" if any(
                w["status"] == "repeat_needed" for w in missing) else "info", detail,
                self.source(rec["source"], rec["guideline"])))
        supported = []
        for o in a["options"]:
            best = sorted((s for s in o["stances"] if s["applies"] is True and s["stance"] in FOR),
                          key=lambda s: (STANCE_RANK[s["stance"]], GUIDELINE_ORDER.get(s["guideline"], 99)))
            if best:
                supported.append((STANCE_RANK[best[0]["stance"]], -len(best), o, best))
        supported.sort(key=lambda x: (x[0], x[1]))
        for _, _, o, best in supported[:3]:
            who = ", ".join(f"{s['guideline']} {stance_label(s['stance'])}" for s in best)
            detail = "\n".join(self.stance_line(s) for s in best)
            if o["timing"]["status"] not in ("n/a",):
                detail += f"\n\n**Timing** ({o['timing']['status'].replace('_', ' ')}): {o['timing']['window']}"
            cards.append(self.card(f"Option: {o['name']} ({who})", "info", detail,
                                   self.source(best[0]["source"], best[0]["guideline"]),
                                   links=[self.therapy_link(o["therapy"])]))
        against = []
        for o in a["options"]:
            ag = [s for s in o["stances"] if s["applies"] is True and s["stance"] in AGAINST]
            if ag:
                against.append((o, ag))
        if against:
            names = ", ".join(o["name"] for o, _ in against)
            detail = "\n\n".join(f"**{o['name']}**\n" + "\n".join(self.stance_line(s) for s in ag)
                                 for o, ag in against)
            o0, ag0 = against[0]
            critical = any(s["stance"] == "not_permitted" for _, ag in against for s in ag)
            cards.append(self.card(f"Not recommended for her: {names}", "critical" if critical else "warning",
                                   detail, self.source(ag0[0]["source"], ag0[0]["guideline"])))
        for al in a["alerts"]:
            if al["level"] in ("warning", "critical") and al.get("kind") != "input":
                cards.append(self.card(al["text"], al["level"], al["text"] + (
                    f"\n\n*[{source_text(al['source'])}]*" if al.get("source") else ""), self.source(al.get("source"))))
        for o in a["options"]:
            for al in o["alerts"]:
                if al.get("kind") == "regulatory" and al["level"] == "critical":
                    cards.append(self.card(f"{o['name']}: {al['text']}", "critical",
                                           f"{al['text']} *[{source_text(al['source'])}]*", self.source(al["source"])))
        return cards

    def _aps_card(self, a: dict[str, Any]) -> dict[str, Any]:
        parts, lines, met, src = [], [], False, None
        names = {"sydney-2006": "Sydney 2006", "acr-eular-2023": "ACR/EULAR 2023"}
        for key, block in a["aps"].items():
            status = block.get("status", "?")
            met = met or status == "met"
            pts = ""
            if "clinical_points" in block:
                pts = f" (clinical {block['clinical_points']}, lab {block['laboratory_points']} points)"
            parts.append(f"{names.get(key, key)} {status.replace('_', ' ')}{pts}")
            lines.append(f"- **{names.get(key, key)}**: {status.replace('_', ' ')}{pts}")
            for m in block.get("missing", []):
                lines.append(f"  - to decide: {m}")
            if block.get("note"):
                lines.append(f"  - {block['note']}")
            rule = block.get("rule")
            if src is None and isinstance(rule, dict) and rule.get("source"):
                src = {**rule["source"], "verified": rule["source"].get("verified", True)}
        return self.card("APS: " + "; ".join(parts), "warning" if met else "info", "\n".join(lines),
                         self.source(src, "APS classification criteria"))

    # ------------------------------------------------------------------ orders
    def orders(self, a: dict[str, Any], orders: list[dict[str, Any]], patient_ref: str) -> list[dict[str, Any]]:
        by_id = {o["therapy"]: o for o in a["options"]}
        ordered: dict[str, dict[str, Any]] = {}
        for r in orders:
            if r.get("resourceType") not in ("MedicationRequest", "MedicationStatement"):
                continue
            tid = therapy_of(r, set(by_id))
            if tid and tid not in ordered:
                ordered[tid] = r
        cards: list[dict[str, Any]] = []
        suggestion, sg = {}, None
        for sg in self.kb.cds_suggestions.values():
            suggestion = self._suggestion(sg, a, set(ordered), patient_ref)
            if suggestion:
                break
        for tid, _res in ordered.items():
            combo = self.combination_of.get(tid)
            checks = [tid] + ([combo] if combo in by_id else [])
            o = by_id[tid]
            applying = [s for t in checks for s in by_id[t]["stances"] if s["applies"] is True]
            against = [s for s in applying if s["stance"] in AGAINST]
            research = [s for s in applying if s["stance"] in ("research_only", "insufficient_evidence")]
            supports = [s for s in applying if s["stance"] in FOR]
            parts = {t for t, c in self.combination_of.items() if c == combo}
            if combo and not parts <= set(ordered):
                supports = [s for s in by_id[tid]["stances"] if s["applies"] is True and s["stance"] in FOR]
            links = [self.therapy_link(tid)]
            if against:
                worst = "critical" if any(s["stance"] in ("strong_against", "not_permitted") for s in against) \
                    else "warning"
                g = ", ".join(sorted({f"{s['guideline']} {stance_label(s['stance'])}" for s in against}))
                detail = f"Drafted: **{o['name']}**. For her:\n" + "\n".join(self.stance_line(s) for s in applying)
                cards.append(self.card(f"{o['name']}: not recommended for her ({g})", worst, detail,
                                       self.source(against[0]["source"], against[0]["guideline"]), links,
                                       overrideReasons=OVERRIDE_REASONS, **suggestion))
            elif research or not supports:
                if supports and research:
                    why = "guidelines disagree (" + ", ".join(sorted({
                        f"{s['guideline']} {stance_label(s['stance'])}" for s in supports + research})) + ")"
                elif research:
                    why = "evidence insufficient / research only (" + ", ".join(sorted({
                        s["guideline"] for s in research})) + ")"
                else:
                    why = "no guideline statement supports it for her"
                shown = [s for s in by_id[tid]["stances"] if s["applies"] is not False]
                detail = f"Drafted: **{o['name']}** — {why}."
                if shown:
                    detail += "\n" + "\n".join(self.stance_line(s) for s in shown)
                src = research[0]["source"] if research else self._therapy_source(tid)
                cards.append(self.card(f"{o['name']}: {why}", "warning", detail,
                                       self.source(src, research[0]["guideline"] if research else None), links,
                                       overrideReasons=OVERRIDE_REASONS, **suggestion))
            t = o["timing"]
            if t["status"] == "passed":
                w = next((w for w in t["windows"] if w["status"] == "passed"), t["windows"][0])
                cards.append(self.card(f"{o['name']}: its timing window has passed ({w['label']})", "warning",
                                       f"{w['label']}: {w['text']} *[{source_text(w['source'])}]*",
                                       self.source(w["source"]), links, overrideReasons=OVERRIDE_REASONS))
            for al in o["alerts"]:
                if al["level"] in ("warning", "critical"):
                    cards.append(self.card(f"{o['name']}: {al['text']}", al["level"],
                                           f"{al['text']} *[{source_text(al['source'])}]*",
                                           self.source(al["source"]), links, overrideReasons=OVERRIDE_REASONS))
        if suggestion and sg is not None and not any(c.get("suggestions") for c in cards):
            sup = suggestion["_support"]
            cards.append(self.card(sg.summary, "warning",
                                   "\n".join(self.stance_line(s) for s in sup),
                                   self.source(sup[0]["source"], sup[0]["guideline"]),
                                   [self.therapy_link(sg.therapy)],
                                   suggestions=suggestion["suggestions"],
                                   selectionBehavior=suggestion["selectionBehavior"],
                                   overrideReasons=OVERRIDE_REASONS))
        for c in cards:
            c.pop("_support", None)
        return cards

    def _therapy_source(self, tid: str) -> dict[str, Any]:
        s = self.kb.therapies[tid].source
        return {"document": s.document, "locator": s.locator, "verified": s.verified}

    def _suggestion(self, sg: CdsSuggestion, a: dict[str, Any], ordered: set[str],
                    patient_ref: str) -> dict[str, Any]:
        """The suggestion card's orders (from cards.yaml) when a 'for' stance on its therapy applies to her."""
        combo = next((o for o in a["options"] if o["therapy"] == sg.therapy), None)
        if combo is None:
            return {}
        support = [s for s in combo["stances"] if s["applies"] is True and s["stance"] in ("strong_for",
                                                                                              "conditional_for")]
        need = [p for p in sg.proposals if p.therapy not in ordered]
        if not support or not need:
            return {}
        actions = []
        for p in need:
            actions.append({
                "type": "create",
                "description": f"Propose {p.display} ({p.dosage})",
                "resource": {
                    "resourceType": "MedicationRequest", "status": "draft", "intent": "proposal",
                    "subject": {"reference": patient_ref},
                    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": p.rxnorm,
                                                              "display": p.display}], "text": p.display},
                    "dosageInstruction": [{"text": p.dosage}],
                },
            })
        label = sg.add_label.format(parts=" and ".join(p.label for p in need))
        return {"suggestions": [{"label": label, "uuid": str(uuid.uuid4()), "isRecommended": True,
                                 "actions": actions}],
                "selectionBehavior": "at-most-one", "_support": support}
