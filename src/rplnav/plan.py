"""The plan for her: the bottom line of an assessment, synthesised from the document itself.

A clinician with ten seconds wants what to do next, what the guidelines support and advise against *for her*,
and on what assumptions — a graded statement first, the rationale after (as MAGICapp and UpToDate lay it out).
Every line here is computed from the assessment's own stances, work-up, timing, regimens, alerts and
assumptions and names the statements it rests on, so the plan can never say something the detail does not.

Rules of the synthesis (stated so a reviewer can disagree):

* A therapy is **supported** when at least one statement of a current guideline edition that applies to her
  is for it (strong, conditional or good practice); it is **advised against** when one such statement is
  against it (or it is not permitted in her country). A therapy can be both: the disagreement is said in words
  and the therapy is listed in both places, never resolved here; both lines are marked **disputed** (also
  when the other side is her country's regulation rather than a guideline).
* A supported therapy is **general** care when every current statement for it that applies to her reaches
  her through her loss history alone (loss counts, live births, the RPL definitions, her age, her country): care any woman
  with RPL is offered (lifestyle, psychological support …). A line that rests on a finding of hers (a
  diagnosis, a test result, the current pregnancy) comes first: that is what the record changes. Undisputed
  lines come before disputed ones, and a disputed therapy is never shown as care for every woman with RPL
  (the renderers name it with both sides).
* Statements of a superseded edition (``superseded_by``) never make a line on their own; they are named next
  to the current ones as "superseded".
* **Research only**: applying statements that reserve the therapy for research or find the evidence
  insufficient, with no current statement for or against.
* **Decide first**: the recordable items (tests, history fields) named by the most undecided statements, each
  with the statements it would decide; then the recommended work-up not yet done.
* **Would change the plan**: strong statements that are still undecided for her, with what decides them.
* **Safety**: critical and warning alerts of what she may be given — the supported therapies — and of what she
  takes now (her medications), and her patient-level critical alerts. An advised-against therapy's own
  warnings are not repeated there (its line says "advised against"), unless she is taking it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from rplnav.knowledge.model import AGAINST, FOR, RESEARCH

STRENGTH_ORDER = {s: i for i, s in enumerate(("not_permitted", "strong_against", "strong_for", "good_practice",
                                              "conditional_against", "conditional_for", "research_only",
                                              "insufficient_evidence", "no_recommendation"))}
WHEN_STATUS = {"open": "now", "closing": "closing soon", "not_yet": "not yet", "passed": "window passed",
               "n/a": "timing not decidable"}
DECIDE_FIRST_MAX = 5
# facts every woman with RPL has a value for: a statement that names only these says nothing particular to her
BACKGROUND = ("losses.", "births.", "rpl.", "age", "country")
WOULD_CHANGE_MAX = 6


def _words(stance: str) -> str:
    return stance.replace("_", " ")


def _ref(s: dict[str, Any]) -> dict[str, Any]:
    """A statement as the plan cites it."""
    out = {"id": s["id"], "guideline": s["guideline"], "stance": s["stance"], "strength": s.get("strength"),
           "certainty": s.get("certainty"), "verified": bool(s["source"].get("verified")),
           "source": s["source"]}
    if s.get("superseded_by"):
        out["superseded_by"] = s["superseded_by"]
    if s.get("assumes"):
        out["assumes"] = s["assumes"]
    return out


def _strongest_per_guideline(stances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each guideline's strongest applicable statement, strongest first."""
    best: dict[str, dict[str, Any]] = {}
    for s in stances:
        cur = best.get(s["guideline"])
        if cur is None or STRENGTH_ORDER.get(s["stance"], 99) < STRENGTH_ORDER.get(cur["stance"], 99):
            best[s["guideline"]] = s
    return sorted(best.values(), key=lambda s: (STRENGTH_ORDER.get(s["stance"], 99), s["guideline"]))


def _agreement(current_for: list[dict[str, Any]], current_against: list[dict[str, Any]],
               superseded: list[dict[str, Any]], others: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    def listing(ss: list[dict[str, Any]]) -> str:
        return ", ".join(f"{s['guideline']} {_words(s['stance'])}" for s in _strongest_per_guideline(ss))

    parts = []
    if others and not current_for and not current_against:
        parts.append(listing(list(others)))
    if current_for:
        parts.append(listing(current_for))
    if current_against:
        parts.append("but " + listing(current_against) if current_for else listing(current_against))
    elif current_for:
        parts.append("no guideline against")
    text = "; ".join(parts)
    if superseded:
        text += f" (superseded: {listing(superseded)})"
    return text


def _when(option: dict[str, Any]) -> list[dict[str, Any]]:
    """Where she stands in the therapy's timing windows: the windows still relevant, first the open ones."""
    windows = (option.get("timing") or {}).get("windows") or []
    rank = {"open": 0, "closing": 0, "not_yet": 1, "n/a": 2, "passed": 3}
    out = []
    for w in sorted(windows, key=lambda w: rank.get(w["status"], 9)):
        out.append({"label": w["label"], "text": w["text"], "status": w["status"],
                    "status_text": WHEN_STATUS.get(w["status"], w["status"]), "source": w["source"]})
    return out[:3]


def _regimens(option: dict[str, Any], guidelines: list[str]) -> list[dict[str, Any]]:
    """The regimens labelled with a supporting guideline's name, else the first one listed."""
    regimens = option.get("regimens") or []
    short = {g.split("-")[0].upper() for g in guidelines}
    named = [r for r in regimens if any(n in r["label"].upper() for n in short)]
    return (named or regimens[:1])[:2]


def _rests_on_a_finding(s: dict[str, Any]) -> bool:
    """Whether an applying statement reaches her through a finding of hers: a fact beyond her loss history
    that holds (``facts``: the population's facts with her values)."""
    return any(not f["name"].startswith(BACKGROUND) and f["value"] not in (False, None, 0, "none")
               for f in s.get("facts", ()))


def _line(option: dict[str, Any], applying: list[dict[str, Any]], kind: frozenset[str]) -> dict[str, Any]:
    current = [s for s in applying if not s.get("superseded_by")]
    superseded = [s for s in applying if s.get("superseded_by") and s["stance"] in kind]
    current_for = [s for s in current if s["stance"] in FOR]
    current_against = [s for s in current if s["stance"] in AGAINST]
    main = [s for s in current if s["stance"] in kind]
    strongest = _strongest_per_guideline(main)
    supporting = kind is FOR  # timing and doses are given for what is supported, never for what is not
    line = {
        "therapy": option["therapy"], "name": option["name"],
        "agreement": _agreement(current_for, current_against, superseded, main),
        "statements": [_ref(s) for s in strongest],
        "superseded": [_ref(s) for s in _strongest_per_guideline(superseded)],
        "when": _when(option) if supporting else [],
        "regimens": _regimens(option, [s["guideline"] for s in strongest]) if supporting else [],
        "unverified": sum(not s["source"].get("verified") for s in strongest),
    }
    if supporting:
        line["general"] = not any(_rests_on_a_finding(s) for s in main)
    assumes = sorted({a for s in strongest for a in s.get("assumes", ())})
    if assumes:
        line["assumes"] = assumes
    return line


def _record_label(need: str, names: dict[str, str]) -> tuple[str, str]:
    """A need (a fact name or an APS item) -> (what to record, how to say it)."""
    if need.startswith("condition."):
        return "conditions", "record her medical conditions (problem list; an empty list if none)"
    if need.startswith("thrombosis."):
        return "findings.thromboses", "record whether she has had a thrombosis"
    if need.startswith("lab."):
        test = need.split(".")[1]
        return f"labs.{test}", f"result of {names.get(test, test.replace('_', ' '))}"
    if need.startswith(("uterus", "findings.uterus")):
        return "findings.uterus", "uterine assessment (imaging)"
    if need.startswith("parental_karyotype"):
        return "findings.parental_karyotype", "parental karyotype"
    if " " in need:  # an APS classification item, already in words (it may name a field, kept as written)
        return need, need
    return need, need.replace("_", " ")


def _advised_against_tests(doc: dict[str, Any]) -> set[str]:
    """Tests a current guideline statement that applies to her advises against, none for: the plan never
    proposes ordering them just to decide other statements."""
    out = set()
    for w in doc["workup"]:
        current = [r for r in w["recommendations"] if r["applies"] is True and not r.get("superseded_by")]
        if any(r["stance"] in AGAINST | RESEARCH for r in current) and not any(r["stance"] in FOR for r in current):
            out.add(f"labs.{w['test']}")
    return out


def _decide_first(doc: dict[str, Any]) -> list[dict[str, Any]]:
    names = {w["test"]: w["name"] for w in doc["workup"]}
    discouraged = _advised_against_tests(doc)
    statements: dict[str, set[str]] = defaultdict(set)
    labels: dict[str, str] = {}
    for o in doc["options"]:
        for s in o["stances"]:
            if s["applies"] is None:
                for n in s["needs"]:
                    key, label = _record_label(n, names)
                    if key in discouraged:
                        continue
                    statements[key].add(s["id"])
                    labels[key] = label
    ranked = sorted(statements, key=lambda k: (-len(statements[k]), k))[:DECIDE_FIRST_MAX]
    return [{"record": k, "text": labels[k], "decides": len(statements[k]), "statements": sorted(statements[k])}
            for k in ranked]


def _workup_next(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for w in doc["workup"]:
        if w["status"] in ("missing", "repeat_needed") and w["priority"] in ("recommended", "consider"):
            by = [r for r in w["recommendations"] if r["applies"] is True and r["stance"] in FOR
                  and not r.get("superseded_by")]
            out.append({"test": w["test"], "name": w["name"], "status": w["status"], "priority": w["priority"],
                        "statements": [_ref(r) for r in _strongest_per_guideline(by)]})
    return out


def _would_change(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for o in doc["options"]:
        for s in o["stances"]:
            if s["applies"] is None and s["stance"] in ("strong_for", "strong_against", "not_permitted") \
                    and not s.get("superseded_by"):
                out.append({"therapy": o["therapy"], "name": o["name"], "statement": _ref(s),
                            "population": s.get("population"), "if": s["needs"]})
    out.sort(key=lambda x: (STRENGTH_ORDER.get(x["statement"]["stance"], 99), x["therapy"]))
    return out[:WOULD_CHANGE_MAX]


def _headline(doc: dict[str, Any]) -> str:
    lo = doc["losses"]
    parts = [f"{lo['total']} pregnancy loss{'es' if lo['total'] != 1 else ''}"]
    aps = [f"APS by {cid}" for cid, a in doc["aps"].items() if isinstance(a, dict) and a.get("status") == "met"]
    if aps:
        parts.append(", ".join(aps))
    elif any(isinstance(a, dict) and a.get("status") == "indeterminate" for a in doc["aps"].values()):
        parts.append("APS undecided")
    meets = [g for g, r in doc["rpl"].items() if r.get("meets") is True]
    parts.append(f"meets the RPL definition of {', '.join(meets)}" if meets else "meets no guideline's RPL definition")
    return "; ".join(parts)


def build_plan(doc: dict[str, Any]) -> dict[str, Any]:
    """The plan block of an assessment document (see the module docstring for the rules)."""
    supported, against, research = [], [], []
    for o in doc["options"]:
        applying = [s for s in o["stances"] if s["applies"] is True]
        current = [s for s in applying if not s.get("superseded_by")]
        if any(s["stance"] in FOR for s in current):
            supported.append(_line(o, applying, FOR))
        regulatory_block = [a for a in o["alerts"] if a.get("kind") == "regulatory" and a["level"] == "critical"]
        if any(s["stance"] in AGAINST for s in current) or regulatory_block:
            line = _line(o, applying, AGAINST)
            if regulatory_block:
                line["regulatory"] = [{"text": a["text"], "source": a.get("source")} for a in regulatory_block]
            against.append(line)
        elif not any(s["stance"] in FOR for s in current) and any(s["stance"] in RESEARCH for s in current):
            research.append(_line(o, applying, RESEARCH))
    for mine, other in ((supported, against), (against, supported)):
        theirs = {x["therapy"] for x in other}
        for x in mine:
            x["disputed"] = x["therapy"] in theirs
    safety = []
    may_receive = {x["therapy"] for x in supported} | set(doc.get("medications") or ())
    for o in doc["options"]:
        if o["therapy"] in may_receive:
            for a in o["alerts"]:
                if a["level"] in ("critical", "warning") and a.get("kind") != "regulatory":
                    safety.append({"therapy": o["therapy"], "name": o["name"], "level": a["level"],
                                   "kind": a.get("kind"), "text": a["text"], "source": a.get("source")})
    for a in doc["alerts"]:
        if a["level"] == "critical":
            safety.append({"therapy": None, "name": None, "level": a["level"], "kind": a.get("kind"),
                           "text": a["text"], "source": a.get("source")})
    undecided = Counter(s["applies"] is None for o in doc["options"] for s in o["stances"])
    return {
        "headline": _headline(doc),
        "decide_first": _decide_first(doc),
        "workup_next": _workup_next(doc),
        # what rests on her findings first, then general care; undisputed before disputed; strongest first;
        # among equals, the therapies more guidelines speak for
        "supported": sorted(supported, key=lambda x: (x["general"], x["disputed"], STRENGTH_ORDER.get(x["statements"][0]["stance"], 99),
                                                      -len(x["statements"]))),
        "against": sorted(against, key=lambda x: STRENGTH_ORDER.get(
            x["statements"][0]["stance"] if x["statements"] else "not_permitted", 99)),
        "research_only": research,
        "safety": safety,
        "assumptions": [{"id": a["id"], "text": a["text"], "confirm": a["confirm"],
                         "decides": len(a["decisions"])} for a in doc.get("assumptions") or []],
        "would_change": _would_change(doc),
        "undecided_statements": undecided[True],
        "statements": undecided[True] + undecided[False],
    }
