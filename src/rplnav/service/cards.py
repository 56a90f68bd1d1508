"""CDS Hooks 2.0 cards from an assessment document (patient-view) and from draft orders (order-select/-sign).

Cards are a view of the assessment, like every other renderer: they read only the document (and the therapies
the request's orders were read as, see cds.ordered_therapies), never the knowledge base, so a card says what the
report says. Every card has a `source` (the guideline statement it rests on), a summary under 140 characters,
and a markdown detail that cites each statement.
"""

from __future__ import annotations

import uuid
from typing import Any

from rplnav.knowledge.model import AGAINST, FOR
from rplnav.render.common import plan_sections, source_text, stance_label

SUMMARY_MAX = 139
NON_ADHERENCE = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
OVERRIDE_REASONS = [
    {"system": NON_ADHERENCE, "code": "cds-not-applicable", "display": "Guidance does not apply to this patient"},
    {"system": NON_ADHERENCE, "code": "recipient-disagrees-evidence", "display": "Disagree with the evidence"},
    {"system": NON_ADHERENCE, "code": "does-not-align-preferences",
     "display": "Patient's informed preference after counselling"},
    {"system": NON_ADHERENCE, "code": "risk-benefit-ratio", "display": "Benefit outweighs risk for this patient"},
]


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary (never mid-word) with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:·(") + "…"


class CardMaker:
    """Cards for one request: ``read`` (called by patient_view and orders) indexes the document it shows."""

    def __init__(self, base_url: str, report_url: str | None = None):
        self.base = base_url.rstrip("/")
        self.report_url = report_url
        self.sources: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        self.combination_of: dict[str, str] = {}

    def read(self, a: dict[str, Any]) -> None:
        """The document's source entries and therapy names, and which combination each suggested order is a
        part of (a drafted aspirin is also checked against the aspirin + LMWH stances)."""
        self.sources = {s["id"]: s for s in a.get("sources") or ()}
        self.names = {o["therapy"]: o["name"] for o in a.get("options") or ()}
        self.combination_of = {p["therapy"]: o["therapy"] for o in a.get("options") or ()
                               if o.get("suggestion") for p in o["suggestion"]["orders"]}

    # ------------------------------------------------------------------ helpers
    def source(self, src: dict[str, Any] | None, label: str | None = None) -> dict[str, Any]:
        if not src:
            return {"label": label or "RPL Navigator knowledge base"}
        doc = self.sources.get(src["document"]) or {}
        gl = label or src["document"]
        out: dict[str, Any] = {"label": clip(f"{gl}: {src['locator']}" + ("" if src.get("verified") else
                                                                               " (unverified)"), 200)}
        if doc.get("url"):
            out["url"] = doc["url"]
        elif doc.get("doi"):
            out["url"] = f"https://doi.org/{doc['doi']}"
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
        return {"label": f"Monograph: {self.names.get(tid, tid)}"[:100], "url": f"{self.base}/therapies/{tid}",
                "type": "absolute"}

    @staticmethod
    def stance_line(s: dict[str, Any]) -> str:
        return (f"- **{s['guideline']}**: {stance_label(s['stance'])} ({s['strength']}; certainty "
                f"{s['certainty'].replace('_', ' ')}) — {s['statement']} *[{source_text(s['source'])}]*")

    # ------------------------------------------------------------------ patient-view
    def patient_view(self, a: dict[str, Any]) -> list[dict[str, Any]]:
        """One plan card (the assessment's plan: supported, advised against, next steps, assumptions), then
        at most one card per critical safety item. The detail of everything else is one link away."""
        self.read(a)
        plan = a.get("plan")
        if not plan:
            return [self._aps_card(a)]
        cards = [self._plan_card(a, plan)]
        seen: set[str] = set()
        for item in plan["safety"]:
            if item["level"] != "critical" or item["text"] in seen:
                continue
            seen.add(item["text"])
            who = f"{item['name']}: " if item.get("name") else ""
            links = [self.therapy_link(item["therapy"])] if item.get("therapy") else None
            cards.append(self.card(f"{who}{item['text']}", "critical",
                                   item["text"] + (f"\n\n*[{source_text(item['source'])}]*"
                                                   if item.get("source") else ""),
                                   self.source(item.get("source")), links))
        for line in plan["against"]:
            for reg in line.get("regulatory", []):
                if reg["text"] not in seen:
                    seen.add(reg["text"])
                    cards.append(self.card(f"{line['name']}: {reg['text']}", "critical",
                                           f"{reg['text']} *[{source_text(reg['source'])}]*",
                                           self.source(reg.get("source")), [self.therapy_link(line["therapy"])]))
        return cards

    def _plan_card(self, a: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
        def short(line: dict[str, Any]) -> str:
            top = line["statements"][0] if line["statements"] else None
            return line["name"] + (f" ({top['guideline']} {stance_label(top['stance'])})" if top else "")

        # both halves always show: what is supported for her and what is advised against (never cut away);
        # whole items only, then "+N more"
        def fit(head: str, items: list[str], room: int) -> str:
            out = ""
            for i, item in enumerate(items):
                more = f" +{len(items) - i - 1} more" if i < len(items) - 1 else ""
                trial = f"{head}{out}{'; ' if out else ''}{item}"
                if len(trial + more) > room:
                    if out:
                        return f"{head}{out} +{len(items) - i} more"
                    bare = item.split(" (")[0]  # the first item alone, without its parenthesis
                    rest = f" +{len(items) - 1} more" if len(items) > 1 else ""
                    return clip(head + bare, room - len(rest)) + rest
                out = trial[len(head):]
            return head + out

        against_text = fit("Against: ", [x["name"] for x in plan["against"]], 64) if plan["against"] else ""
        room = SUMMARY_MAX - (len(against_text) + 3 if against_text else 0)
        sup_text = fit("For her: ", [short(x) for x in plan["supported"][:3]], room) if plan["supported"] else ""
        summary = " · ".join(t for t in (sup_text, against_text) if t) or clip(plan["headline"])
        against = bool(plan["against"])
        lines = [f"**{plan['headline']}**", ""]
        for title, items in plan_sections(a):
            lines.append(f"**{title}**")
            lines += [f"- {x}" for x in items]
            lines.append("")
        top = (plan["supported"] or plan["against"] or [None])[0]
        src = top["statements"][0] if top and top["statements"] else None
        return self.card(summary, "warning" if against or plan["assumptions"] else "info", "\n".join(lines).strip(),
                         self.source(src["source"], src["guideline"]) if src else self.source(None))

    @staticmethod
    def _asked_safety(o: dict[str, Any]) -> list[dict[str, Any]]:
        """A drafted order puts the therapy in play: its unconditional critical cautions (boxed warnings,
        infection transmission) are shown even when no guideline statement speaks to her."""
        texts = {al["text"] for al in o["alerts"]}
        return [c for c in o.get("if_ordered") or () if c["text"] not in texts]

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
    def orders(self, a: dict[str, Any], ordered: list[str], patient_ref: str) -> list[dict[str, Any]]:
        """Cards on the drafted orders, given as the therapies they were read as (cds.ordered_therapies)."""
        self.read(a)
        by_id = {o["therapy"]: o for o in a["options"]}
        ordered = [t for t in dict.fromkeys(ordered) if t in by_id]
        # what she already takes counts with the drafted orders (an active aspirin order + a drafted LMWH is
        # the combination); her current medications come from the record (FHIR: active MedicationRequests)
        active = set(a.get("medications") or ()) & set(by_id)
        have = set(ordered) | active
        cards: list[dict[str, Any]] = []
        suggestion, sg = {}, None
        for combo in a["options"]:
            sg = combo.get("suggestion")
            suggestion = self._suggestion(combo, have, patient_ref) if sg else {}
            if suggestion:
                break
        for tid in ordered:
            combo = self.combination_of.get(tid)
            checks = [tid] + ([combo] if combo in by_id else [])
            o = by_id[tid]
            applying = [s for t in checks for s in by_id[t]["stances"] if s["applies"] is True]
            # a superseded edition never speaks alone: it is named only next to a current statement
            current = [s for s in applying if not s.get("superseded_by")]
            superseded = [s for s in applying if s.get("superseded_by")]
            applying = current
            against = [s for s in applying if s["stance"] in AGAINST]
            research = [s for s in applying if s["stance"] in ("research_only", "insufficient_evidence")]
            supports = [s for s in applying if s["stance"] in FOR]
            parts = {t for t, c in self.combination_of.items() if c == combo}
            if combo and not parts <= have:
                supports = [s for s in by_id[tid]["stances"] if s["applies"] is True and s["stance"] in FOR
                            and not s.get("superseded_by")]
            with_active = sorted(active & parts - {tid}) if combo else []
            this = f"This order ({o['name']}" + (f", with her current {', '.join(with_active)}" if with_active
                                                  else "") + ")"
            links = [self.therapy_link(tid)]
            if against:
                worst = "critical" if any(s["stance"] in ("strong_against", "not_permitted") for s in against) \
                    else "warning"
                g = ", ".join(sorted({f"{s['guideline']} {stance_label(s['stance'])}" for s in against}))
                detail = f"{this}. For her:\n" + "\n".join(self.stance_line(s) for s in applying)
                detail += _superseded_note(superseded)
                cards.append(self.card(f"{this}: not recommended for her ({g})", worst, detail,
                                       self.source(against[0]["source"], against[0]["guideline"]), links,
                                       overrideReasons=OVERRIDE_REASONS, **suggestion))
            elif research or not supports:
                if supports and research:
                    why = "guidelines disagree (" + ", ".join(sorted({
                        f"{s['guideline']} {stance_label(s['stance'])}" for s in supports + research})) + ")"
                elif research:
                    why = "evidence insufficient / research only (" + ", ".join(sorted({
                        s["guideline"] for s in research})) + ")"
                elif superseded:
                    why = "only a superseded edition speaks to it for her (" + ", ".join(sorted({
                        f"{s['guideline']} {stance_label(s['stance'])}, superseded by {s['superseded_by']}"
                        for s in superseded})) + ")"
                else:
                    why = "no guideline statement supports it for her"
                shown = [s for s in by_id[tid]["stances"] if s["applies"] is not False]
                detail = f"{this} — {why}."
                if shown:
                    detail += "\n" + "\n".join(self.stance_line(s) for s in shown)
                src = research[0]["source"] if research else o.get("source")
                cards.append(self.card(f"{this}: {why}", "warning", detail,
                                       self.source(src, research[0]["guideline"] if research else None), links,
                                       overrideReasons=OVERRIDE_REASONS, **suggestion))
            t = o["timing"]
            if t["status"] == "passed":
                w = next((w for w in t["windows"] if w["status"] == "passed"), t["windows"][0])
                cards.append(self.card(f"{o['name']}: its timing window has passed ({w['label']})", "warning",
                                       f"{w['label']}: {w['text']} *[{source_text(w['source'])}]*",
                                       self.source(w["source"]), links, overrideReasons=OVERRIDE_REASONS))
            for al in o["alerts"] + self._asked_safety(o):
                if al["level"] in ("warning", "critical"):
                    cards.append(self.card(f"{o['name']}: {al['text']}", al["level"],
                                           f"{al['text']} *[{source_text(al['source'])}]*",
                                           self.source(al["source"]), links, overrideReasons=OVERRIDE_REASONS))
        if suggestion and sg is not None and not any(c.get("suggestions") for c in cards):
            sup = suggestion["_support"]
            cards.append(self.card(sg["summary"], "warning",
                                   "\n".join(self.stance_line(s) for s in sup),
                                   self.source(sup[0]["source"], sup[0]["guideline"]),
                                   [self.therapy_link(suggestion["_therapy"])],
                                   suggestions=suggestion["suggestions"],
                                   selectionBehavior=suggestion["selectionBehavior"],
                                   overrideReasons=OVERRIDE_REASONS))
        for c in cards:
            c.pop("_support", None)
            c.pop("_therapy", None)
        return cards

    def _suggestion(self, combo: dict[str, Any], ordered: set[str], patient_ref: str) -> dict[str, Any]:
        """The suggestion card's orders (the option's suggestion, from cards.yaml) when the document says
        statements support it for her and the orders lack some of its parts."""
        sg = combo["suggestion"]
        by_id = {s["id"]: s for s in combo["stances"]}
        support = [by_id[i] for i in sg["support"] if i in by_id]
        need = [p for p in sg["orders"] if p["therapy"] not in ordered]
        if not support or not need:
            return {}
        actions = []
        for p in need:
            start = p.get("start")
            coding = p["coding"]
            actions.append({
                "type": "create",
                "description": f"Propose {coding['display']} ({p['dosage']}" + (f"; {start}" if start else "") + ")",
                "resource": {
                    "resourceType": "MedicationRequest", "status": "draft", "intent": "proposal",
                    "subject": {"reference": patient_ref},
                    "medicationCodeableConcept": {"coding": [{"system": coding["system"], "code": coding["code"],
                                                              "display": coding["display"]}],
                                                  "text": coding["display"]},
                    "dosageInstruction": [{"text": p["dosage"] + (f", {start}" if start else "")}],
                },
            })
        label = sg["add_label"].format(parts=" and ".join(p["label"] for p in need))
        return {"suggestions": [{"label": label, "uuid": str(uuid.uuid4()), "isRecommended": True,
                                 "actions": actions}],
                "selectionBehavior": "at-most-one", "_support": support, "_therapy": combo["therapy"]}


def _superseded_note(superseded: list[dict[str, Any]]) -> str:
    if not superseded:
        return ""
    return "\n\nSuperseded editions (not current guidance): " + "; ".join(sorted({
        f"{s['guideline']} {stance_label(s['stance'])} (superseded by {s['superseded_by']})" for s in superseded}))
