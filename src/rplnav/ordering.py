"""What an order for a therapy brings with it, written into the therapy's option of the assessment.

The CDS Hooks cards are a view of the document like every other renderer, so everything a card says when a
therapy is ordered is put here, cited, from the knowledge base: the therapy's own source, the critical cautions
an order puts in play (a boxed warning comes with an IVIG order even when no statement speaks to her), and the
suggestion of knowledge/cards.yaml (drug, dose, RxNorm code, start, wording) with the statements that support
offering it to her.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rplnav.interop.codes import RXNORM
from rplnav.knowledge.load import Knowledge
from rplnav.knowledge.model import OFFERS, CdsSuggestion, SourceRef

Cite = Callable[[SourceRef], dict[str, Any]]


def support_of(stances: list[dict[str, Any]]) -> tuple[str, ...]:
    """Ids of the current (not superseded) strong or conditional 'for' statements that apply to her."""
    return tuple(s["id"] for s in stances
                 if s["applies"] is True and s["stance"] in OFFERS and not s.get("superseded_by"))


class OrderParts:
    """Builds the ordering parts of each option from the knowledge base (one suggestion per therapy at most)."""

    def __init__(self, kb: Knowledge):
        self.kb = kb
        self.suggestions = {sg.therapy: sg for sg in kb.cds_suggestions.values()}

    def parts(self, tid: str, stances: list[dict[str, Any]], in_play: bool, cite: Cite) -> dict[str, Any]:
        """``source``, ``if_ordered`` (when not in play and there is any) and ``suggestion`` (when the
        therapy has one) for the option of ``tid``; every source is cited through ``cite``."""
        t = self.kb.therapies[tid]
        out: dict[str, Any] = {"source": cite(t.source)}
        if not in_play:  # in play, these are already in the option's alerts (Engine._option_alerts)
            cautions = [{"level": "critical", "kind": c.kind, "text": c.text, "source": cite(c.source)}
                        for c in t.cautions if c.when is None and c.level == "critical"]
            if cautions:
                out["if_ordered"] = cautions
        sg = self.suggestions.get(tid)
        if sg is not None:
            out["suggestion"] = _suggestion(sg, support_of(stances), cite)
        return out


def _suggestion(sg: CdsSuggestion, support: tuple[str, ...], cite: Cite) -> dict[str, Any]:
    orders = []
    for p in sg.proposals:
        order: dict[str, Any] = {"therapy": p.therapy, "label": p.label,
                                 "coding": {"system": RXNORM, "code": p.rxnorm, "display": p.display},
                                 "dosage": p.dosage}
        if p.start:
            order["start"] = p.start
        if p.start_source is not None:
            order["start_source"] = cite(p.start_source)
        order["source"] = cite(p.source)
        orders.append(order)
    return {"id": sg.id, "summary": sg.summary, "add_label": sg.add_label, "orders": orders,
            "support": list(support), "source": cite(sg.source)}
