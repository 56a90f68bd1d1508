"""Studies of women like her: pool the trials whose enrolment and start of treatment match a patient.

RPL trials disagree partly because they enrolled different women (two vs three or more losses, raised NK
cells, autoantibodies, thrombophilia) and started treatment at different times (before conception, in the
luteal phase, at a positive test, at a given gestational week, after a heartbeat).  For one therapy and one
patient this module answers with numbers: every primary study pooled, next to the studies she would have
been eligible for and whose start of treatment is still achievable for her, each with its heterogeneity, and
the studies that cannot be matched because a fact is unknown.

Matching, per study row (``knowledge/studies/*.yaml``):

* **enrolment** -- the row's condition over her facts, evaluated three-valued (rplnav.rules): True (she would
  have been eligible), False, or None (cannot be matched; the unknown facts are named).
* **timing** -- whether the trial's start of treatment is still ahead of her.  A woman who is not pregnant can
  still start at any point.  A pregnant woman cannot start before conception or in the conception cycle
  (``preconception``, ``ovulation_luteal``); for ``positive_test``, ``gestational_week`` and ``mixed``
  starts with a ``start_ga`` (the LATEST gestational age at which the trial started treatment) she matches
  while her gestational age is at most ``start_ga``; ``after_heartbeat`` and ``mixed`` without a bound
  started during pregnancy as women presented (the enrolment condition says when); ``unknown`` cannot be
  matched once she is pregnant.
* a row matches when both are True (Kleene conjunction: False if either is False, else None if either is None).

Pooling: primary studies only -- rows with design ``meta_analysis``/``ipd_meta_analysis`` are shown as context
and never pooled (they contain the trials).  A trial's subgroup rows (listed in its ``includes``) are never
pooled with the trial itself: "all studies" uses the whole trials; her stratum uses, per trial, the subgroup
rows that match her if any, else the whole trial if it matches.  Analyses are separate per outcome and per
design class (randomised vs non-randomised), on the log risk ratio by default (log odds ratio on request);
a row given only as an estimate joins when its measure is the analysis measure; a head-to-head trial
(``comparator_kind: active``) is listed but never pooled.  Model: random effects, REML
tau², Wald z 95% CI, Cochran's Q (chi-square p), I² from tau², prediction interval (metafor defaults).  With
one study the study itself is reported; with none, that is said.

This module imports neither NumPy nor SciPy (the assessment uses it); :mod:`rplnav.evidence.plain_reml` does the
arithmetic, and the CLI passes the NumPy engine (``rma_uni``) as ``pooler`` for the full output.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rplnav import rules
from rplnav.gestation import format_ga, parse_gestational_age
from rplnav.knowledge.model import Study
from rplnav.memo import Memo

from . import plain_reml

OUTCOMES = ("live_birth", "ongoing_pregnancy", "miscarriage", "clinical_pregnancy", "other")
OUTCOME_LABEL = {
    "live_birth": "live birth", "ongoing_pregnancy": "ongoing pregnancy", "miscarriage": "miscarriage",
    "clinical_pregnancy": "clinical pregnancy", "other": "other outcome",
}
CONTEXT_DESIGNS = frozenset({"meta_analysis", "ipd_meta_analysis"})
MEASURES = ("RR", "OR")
START_LABEL = {
    "preconception": "before conception", "ovulation_luteal": "in the conception cycle (ovulation/luteal phase)",
    "positive_test": "at a positive pregnancy test", "gestational_week": "at a gestational week",
    "after_heartbeat": "after a fetal heartbeat is seen", "mixed": "at varying times", "unknown": "not reported",
}


def method_text(measure: str = "RR", level: float = 95.0) -> str:
    name = "risk ratio" if measure == "RR" else "odds ratio"
    return (f"random effects, REML tau², Wald z {level:.0f}% CI, log {name}; Cochran's Q, I² from tau², "
            "prediction interval (metafor defaults); primary studies only, meta-analyses shown as context")


Pooler = Callable[[list[float], list[float], list["Row"]], dict[str, Any]]


def lite_pooler(y: list[float], v: list[float], rows: list[Row]) -> dict[str, Any]:
    """Pure-Python pooling (the assessment's path)."""
    return plain_reml.pool(y, v)


def engine_pooler(y: list[float], v: list[float], rows: list[Row]) -> dict[str, Any]:
    """Pooling with the validated NumPy engine (``rma_uni``), adding the Q-profile CI for tau² and I²."""
    from .pool import rma_uni

    r = rma_uni(y, v, method="REML", slab=[row.study.label for row in rows])
    out = {"estimate": r.estimate, "se": r.se, "ci_lower": r.ci_lower, "ci_upper": r.ci_upper, "pvalue": r.pvalue,
           "tau2": r.tau2, "i2": r.i2, "h2": r.h2, "q": r.q, "q_df": r.q_df, "q_pvalue": r.q_pvalue,
           "pi_lower": r.pi_lower, "pi_upper": r.pi_upper}
    if r.tau2_ci is not None:
        out["tau2_ci"] = list(r.tau2_ci)
    if r.i2_ci is not None:
        out["i2_ci"] = list(r.i2_ci)
    return out


# ------------------------------------------------------------------ prepared rows

@dataclass
class Row:
    """A study row prepared for one measure: its effect on the analysis scale and how to match it."""

    study: Study
    node: rules.Node
    yi: float | None
    vi: float | None
    reason: str | None  # why it cannot enter a pooled analysis on this measure (None: it can)
    start_days: int | None
    children: list[Row] = field(default_factory=list)
    parent: Row | None = None
    id: str = field(init=False)
    primary: bool = field(init=False)
    poolable: bool = field(init=False)
    verdict_key: tuple[Any, ...] = field(init=False)

    def family(self) -> list[Row]:
        """This row and every subgroup row nested in it (children, their children ...), parents first."""
        return [self, *(m for c in self.children for m in c.family())]

    def __post_init__(self) -> None:
        self.id = self.study.id
        self.primary = self.study.design not in CONTEXT_DESIGNS
        self.poolable = self.reason is None
        # rows with the same enrolment condition and start of treatment get the same verdict for a patient
        self.verdict_key = ("verdict", id(self.node), self.study.start, self.study.start_ga)

    @property
    def design_class(self) -> str:
        return "randomised" if self.study.design == "rct" else "non-randomised"

    @property
    def n(self) -> int | None:
        c = self.study.counts
        return None if c is None else c.n1i + c.n2i


def _effect(study: Study, measure: str) -> tuple[float | None, float | None, str | None]:
    if study.comparator_kind == "active":
        # a head-to-head trial answers "which of two treatments", not "this treatment or nothing"
        return None, None, (f"compared with another treatment ({study.comparator}): a head-to-head trial is not "
                            "pooled with placebo or no-treatment comparisons")
    if study.counts is not None:
        c = study.counts
        y, v, why = plain_reml.effect_from_counts(measure, c.ai, c.n1i, c.ci, c.n2i)
        return (None, None, why) if why else (y, v, None)
    e = study.estimate
    if e is None:
        return None, None, "no counts and no estimate"
    if e.measure != measure:
        return None, None, f"reported only as {e.measure} {e.value:g} ({e.ci_lower:g}-{e.ci_upper:g}), not on the {measure} scale"
    y, v = plain_reml.effect_from_ci(e.value, e.ci_lower, e.ci_upper)
    return y, v, None


def _effect_text(p: Mapping[str, Any], measure: str) -> str:
    return f"{measure} {p['estimate']:.2f} ({p['ci'][0]:.2f}-{p['ci'][1]:.2f})"


def stratum_sentence(all_: Mapping[str, Any] | None, stratum: Mapping[str, Any] | None, excluded: int,
                     unmatched: int, measure: str, head_to_head: int = 0) -> str | None:
    """One sentence a clinician can read: how much of the evidence is about women like her, and what it shows.

    Counts are pooled study rows (a trial split into start-week subgroups contributes its matching parts) and
    the women analysed in them; a stratum of one study is that study's own result, never called pooled.
    """
    if all_ is None:
        return None
    whole = f"all studies (k = {all_['k']}, {all_['n']} women): {_effect_text(all_, measure)}"
    if stratum is None:
        text = f"No study enrolled women like her with a start she can still make; {whole}."
    elif stratum["single_study"]:
        text = (f"Her stratum is a single study, {stratum['labels'][0]} ({stratum['n']} women): its own result "
                f"{_effect_text(stratum, measure)}, not a pooled estimate; {whole}.")
    else:
        text = (f"Her stratum: {stratum['k']} of {all_['k']} studies ({stratum['n']} of {all_['n']} women) enrolled "
                f"women like her with a start she can still make: {_effect_text(stratum, measure)}; {whole}.")
    if excluded:
        text += f" {excluded} excluded because their enrolment or timing does not fit her."
    if unmatched:
        text += f" {unmatched} could not be matched (facts missing)."
    if head_to_head:
        text += f" {head_to_head} head-to-head trial(s) against another treatment listed, not pooled."
    return text


# ------------------------------------------------------------------ matching

@dataclass(frozen=True)
class Match:
    value: bool | None
    enrolment: bool | None
    timing: bool | None
    needs: tuple[str, ...]
    because: tuple[str, ...]
    timing_text: str
    enrolment_needs: tuple[str, ...] = ()

    def reason(self, row: Row) -> str:
        if self.value is True:
            return "she would have been eligible and the start of treatment is still achievable"
        parts = []
        if self.enrolment is False:
            parts.append(f"enrolment ({row.study.enrolment_text}) does not fit her: " + "; ".join(self.because))
        elif self.enrolment is None:
            unknown = ", ".join(self.enrolment_needs) or "a fact"
            parts.append(f"cannot be matched: {unknown} unknown (enrolment: {row.study.enrolment_text})")
        if self.timing is False or self.timing is None:
            parts.append(self.timing_text)
        return "; ".join(parts)


_UNSET = object()


def _fmt_value(v: Any) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


TIMING_FACTS = ("current.pregnant", "current.ga_days")  # the facts timing_match reads


def timing_match(study: Study, start_days: int | None, facts: Mapping[str, Any]) -> tuple[bool | None, str, tuple[str, ...]]:
    """Is the trial's start of treatment still achievable for her?  (value, explanation, unknown facts)."""
    start = study.start
    when = START_LABEL[start] if start != "gestational_week" else f"by {study.start_ga} weeks"
    if start in ("positive_test", "mixed") and study.start_ga:
        when = f"{START_LABEL[start]}, by {study.start_ga} weeks at the latest"
    pregnant = facts.get("current.pregnant")
    if pregnant is None:
        return None, "whether she is pregnant is unknown", ("current.pregnant",)
    if not pregnant:
        return True, f"treatment started {when}; she is not pregnant, so that start is still ahead", ()
    if start in ("preconception", "ovulation_luteal"):
        return False, f"treatment started {when}; she is already pregnant", ()
    if start == "unknown":
        return None, "the study does not report when treatment started, and she is already pregnant", ()
    if start_days is None:
        if start in ("after_heartbeat", "mixed"):
            return True, f"treatment started {when}, during pregnancy as women presented", ()
        return None, f"treatment started {when}; the latest start is not recorded", ()
    ga = facts.get("current.ga_days")
    if ga is None:
        return None, f"treatment started {when}; her gestational age is unknown", ("current.ga_days",)
    if ga <= start_days:
        return True, f"treatment started {when}; she is at {format_ga(ga)} weeks", ()
    return False, f"treatment started {when}; she is already at {format_ga(ga)} weeks", ()


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


# ------------------------------------------------------------------ the index

class StudyIndex:
    """Every study row of the knowledge base, prepared once; pooled results cached by the rows they use."""

    def __init__(self, kb: Any, memo: Memo | None = None, measure: str = "RR", pooler: Pooler | None = None,
                 level: float = 95.0):
        measure = measure.upper()
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {', '.join(MEASURES)}")
        self.kb = kb
        self.measure = measure
        self.level = level
        self.pooler = pooler or lite_pooler
        self.method = method_text(measure, level)
        self.rows: dict[str, Row] = {}
        self.by_therapy: dict[str, list[Row]] = {}
        canonical: dict[rules.Node, rules.Node] = {}
        for st in kb.studies:
            node = kb.conditions.get(f"study:{st.id}") or rules.parse(st.enrolment, st.id)
            node = canonical.setdefault(node, node)  # identical conditions share one object (memoised per patient)
            y, v, why = _effect(st, measure)
            start_days = parse_gestational_age(st.start_ga) if st.start_ga else None
            row = Row(st, node, y, v, why, start_days)
            self.rows[st.id] = row
            self.by_therapy.setdefault(st.therapy, []).append(row)
        for row in self.rows.values():
            for inc in row.study.includes:
                child = self.rows.get(inc)
                if child is not None and child.primary == row.primary and child.study.outcome == row.study.outcome:
                    row.children.append(child)
                    child.parent = row
        # analysis groups per therapy: (outcome, design class) -> top-level primary rows
        self.groups: dict[str, dict[tuple[str, str], list[Row]]] = {}
        for tid, rows in self.by_therapy.items():
            g: dict[tuple[str, str], list[Row]] = {}
            for r in rows:
                if r.primary and r.parent is None:
                    g.setdefault((r.study.outcome, r.design_class), []).append(r)
            self.groups[tid] = dict(sorted(g.items(), key=lambda kv: (OUTCOMES.index(kv[0][0]), kv[0][1] != "randomised")))
        self.memo = memo if memo is not None else Memo()  # the engine's one memo, when it builds the index
        self._values_of: dict[int, rules.FactGetter] = {
            id(node): rules.fact_getter(tuple(sorted(node.fact_names()))) for node in canonical}
        self._static_cache: dict[str, dict[str, Any]] = {}  # per therapy, built from the knowledge base once

    # ---------------------------------------------------------- pieces
    def therapies(self) -> list[str]:
        return sorted(self.by_therapy)

    def close_matches(self, name: str) -> list[str]:
        ids = list(self.kb.therapies)
        return difflib.get_close_matches(name, ids, n=5, cutoff=0.4)

    def match(self, row: Row, facts: Mapping[str, Any], memo: dict[Any, Any] | None = None) -> Match:
        """Enrolment and timing of one row for her (``memo`` shares evaluations between rows of one patient)."""
        memo = {} if memo is None else memo
        res, (t, text, tneeds) = self._enrolment_and_timing(row, facts, memo)
        because: tuple[str, ...] = ()
        if res.value is False:
            because = tuple(f"{n} = {_fmt_value(facts.get(n))}" for n in sorted(row.node.fact_names()))
        needs = tuple(dict.fromkeys((*res.needs, *tneeds)))
        return Match(_and(res.value, t), res.value, t, needs, because, text, self._expand(res.needs, facts, memo))

    def _enrolment_and_timing(self, row: Row, facts: Mapping[str, Any],
                              memo: dict[Any, Any]) -> tuple[rules.Result, tuple[bool | None, str, tuple[str, ...]]]:
        """The row's enrolment verdict and timing match for her, each computed once per patient (``memo``):
        identical conditions share one node, and trials with the same start share one timing answer.
        Across patients, a condition's verdict is kept by the values of the facts it names."""
        res = memo.get(id(row.node))
        if res is None:
            key = ("enrolment", id(row.node), self._values_of[id(row.node)](facts))
            res = memo[id(row.node)] = self.memo.get(key, lambda: row.node.evaluate(facts))
        tkey = (row.study.start, row.study.start_ga)
        tm = memo.get(tkey)
        if tm is None:
            tm = memo[tkey] = timing_match(row.study, row.start_days, facts)
        return res, tm

    def _expand(self, needs: tuple[str, ...], facts: Mapping[str, Any], memo: dict[Any, Any] | None = None,
                depth: int = 0) -> tuple[str, ...]:
        """Name the basic facts behind an unknown derived fact (e.g. rpl.unexplained -> aps.sydney_2006);
        ``memo`` (one patient's) keeps expansions shared by several rows."""
        key = ("expand", needs, depth)
        if memo is not None:
            hit = memo.get(key)
            if hit is not None:
                return hit
        out: list[str] = []
        for n in needs:
            node = self.kb.conditions.get(f"derived:{n}")
            sub = node.evaluate(facts).needs if node is not None and depth < 5 else ()
            for x in (f"{n} (needs {', '.join(self._expand(sub, facts, memo, depth + 1))})",) if sub else (n,):
                if x not in out:
                    out.append(x)
        if memo is not None:
            memo[key] = tuple(out)
        return tuple(out)

    def _values(self, rows: list[Row], facts: Mapping[str, Any], memo: dict[Any, Any]) -> dict[str, bool | None]:
        """Just the match value per row (the fast path of the assessment)."""
        out: dict[str, bool | None] = {}
        for row in rows:
            v = memo.get(row.verdict_key, _UNSET)
            if v is _UNSET:
                res, tm = self._enrolment_and_timing(row, facts, memo)
                e, t = res.value, tm[0]
                v = memo[row.verdict_key] = False if (e is False or t is False) else (
                    None if (e is None or t is None) else True)
            out[row.id] = v
        return out

    def pooled(self, rows: list[Row]) -> dict[str, Any] | None:
        """Pooled result (ratio scale added) for poolable rows; cached by the tuple of row ids."""
        use = [r for r in rows if r.poolable]
        if not use:
            return None
        return self.memo.get(("pooled", self.measure, self.level, id(self.pooler), tuple(r.id for r in use)),
                             lambda: self._pool(use))

    def _pool(self, use: list[Row]) -> dict[str, Any]:
        y = [r.yi for r in use]
        v = [r.vi for r in use]
        raw = self.pooler(y, v, use)  # type: ignore[arg-type]
        ns = [r.n for r in use]
        out: dict[str, Any] = {
            "k": len(use),
            "n": sum(n for n in ns if n is not None),
            "n_complete": all(n is not None for n in ns),
            "measure": self.measure,
            "estimate": math.exp(raw["estimate"]),
            "ci": [math.exp(raw["ci_lower"]), math.exp(raw["ci_upper"])],
            "pvalue": raw.get("pvalue"),
            "log_estimate": raw["estimate"],
            "se": raw["se"],
            "tau2": raw["tau2"],
            "i2": raw["i2"],
            "q": raw["q"],
            "q_df": raw["q_df"],
            "q_pvalue": raw["q_pvalue"],
            "pi": [math.exp(raw["pi_lower"]), math.exp(raw["pi_upper"])] if len(use) > 1 else None,
            "studies": [r.id for r in use],
            "labels": [r.study.label for r in use],
            "single_study": len(use) == 1,
        }
        for extra in ("tau2_ci", "i2_ci"):
            if raw.get(extra) is not None:
                out[extra] = raw[extra]
        out["trials"] = self._trial_rows(use, raw["tau2"])
        return out

    def _trial_rows(self, use: list[Row], tau2: float) -> list[dict[str, Any]]:
        """Per pooled row what a forest plot prints: arms' events/totals, the row's own effect and CI on the
        analysis measure, and its random-effects weight in this analysis (1/(v + tau²), as a percentage)."""
        z = plain_reml.z_crit(self.level)
        w = [1.0 / (r.vi + tau2) for r in use]  # type: ignore[operator]
        total = sum(w)
        out = []
        for r, wi in zip(use, w, strict=True):
            s = math.sqrt(r.vi)  # type: ignore[arg-type]
            c = r.study.counts
            out.append({
                "id": r.id, "label": r.study.label, "year": r.study.year, "subgroup": r.study.subgroup,
                "treatment_events": c.ai if c else None, "treatment_total": c.n1i if c else None,
                "control_events": c.ci if c else None, "control_total": c.n2i if c else None,
                "estimate": math.exp(r.yi),  # type: ignore[arg-type]
                "ci": [math.exp(r.yi - z * s), math.exp(r.yi + z * s)],  # type: ignore[operator]
                "weight": 100.0 * wi / total,
                "verified": r.study.source.verified,
                "source": _source(r.study),
            })
        return out

    @staticmethod
    def stratum_rows(top: list[Row], values: Mapping[str, bool | None]) -> list[Row]:
        """Per trial, the most specific rows that match her.

        A trial with two or more subgroup rows lists a partition of its participants along one dimension
        (e.g. start at 4-5 vs 6 weeks; two vs three or more losses): when every part matches her, the whole
        trial does and is used; when only some match, those parts are used.  A single subgroup row (e.g.
        PRISM's one-or-more-miscarriage subgroup) is used instead of its trial whenever it matches, and a
        subgroup row with its own ``includes`` is refined the same way (PRISM's three-or-more subgroup inside
        the one-or-more subgroup), so each woman is counted once, in the narrowest row that fits her.
        """
        def narrowest(r: Row) -> list[Row]:
            subs = [c for c in r.children if values[c.id] is True]
            if subs and (len(r.children) == 1 or len(subs) < len(r.children) or values[r.id] is not True):
                return [x for c in subs for x in narrowest(c)]
            return [r] if values[r.id] is True else []

        return [x for r in top for x in narrowest(r)]

    # ---------------------------------------------------------- reports
    def report(self, therapy: str, facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything for one therapy: per analysis group all studies vs her stratum, unmatched rows, context."""
        rows = self.by_therapy.get(therapy, [])
        memo: dict[int, rules.Result] = {}
        matches = {r.id: self.match(r, facts, memo) for r in rows} if facts is not None else {}
        groups = []
        for (outcome, dclass), top in self.groups.get(therapy, {}).items():
            entry: dict[str, Any] = {
                "outcome": outcome, "outcome_label": OUTCOME_LABEL[outcome], "design": dclass,
                "all": self.pooled(top),
                "not_pooled": [{"id": r.id, "label": r.study.label, "reason": r.reason} for r in top if not r.poolable],
            }
            if facts is not None:
                chosen = self.stratum_rows(top, {k: m.value for k, m in matches.items()})
                entry["stratum"] = self.pooled(chosen)
                entry["stratum_rows"] = [r.id for r in chosen]
                members = [m for r in top for m in r.family()]
                entry["unmatched"] = [self._row_status(m, matches[m.id]) for m in members if matches[m.id].value is None]
                entry["not_matching"] = [self._row_status(m, matches[m.id]) for m in members if matches[m.id].value is False]
                poolable = {r.id for r in top if r.poolable}
                entry["stratum_text"] = stratum_sentence(
                    entry["all"], entry["stratum"], len([u for u in entry["not_matching"] if u["id"] in poolable]),
                    len(entry["unmatched"]), self.measure, head_to_head=len(entry["not_pooled"]))
                if chosen and any(not r.poolable for r in chosen):
                    entry["stratum_not_pooled"] = [{"id": r.id, "label": r.study.label, "reason": r.reason}
                                                   for r in chosen if not r.poolable]
            groups.append(entry)
        context = [self._context(r, matches.get(r.id)) for r in rows if not r.primary]
        return {
            "therapy": therapy,
            "name": self.kb.therapies[therapy].name if therapy in self.kb.therapies else therapy,
            "measure": self.measure,
            "method": self.method,
            "patient_matched": facts is not None,
            "groups": groups,
            "context": context,
            "studies": [self._study_entry(r, matches.get(r.id)) for r in rows],
            "verified": {"rows": len(rows), "verified": sum(r.study.source.verified for r in rows)},
        }

    def _static(self, therapy: str) -> dict[str, Any]:
        st = self._static_cache.get(therapy)
        if st is None:
            rows = self.by_therapy.get(therapy, [])
            groups = self.groups.get(therapy, {})
            members = {key: [m for r in top for m in r.family()] for key, top in groups.items()}
            st = self._static_cache[therapy] = {
                "rows": rows,
                "groups": groups,
                "members": members,
                "primary": [m for ms in members.values() for m in ms],
                "all": {key: self.pooled(top) for key, top in groups.items()},
                "context": [self._context(r, None, brief=True) for r in rows if not r.primary],
                "verified": sum(r.study.source.verified for r in rows),
                "sources": list({r.study.source.document: r.study.source for r in rows}.values()),
                "read_names": frozenset(self._summary_reads([m for ms in members.values() for m in ms])),
            }
            st["reads"] = rules.fact_getter(tuple(sorted(st["read_names"])))
        return st

    def reads(self, therapy: str) -> frozenset[str]:
        """Every fact the therapy's summary reads (nothing when it has no study rows)."""
        return self._static(therapy)["read_names"] if therapy in self.by_therapy else frozenset()

    def _summary_reads(self, rows: list[Row]) -> tuple[str, ...]:
        """Every fact a summary over ``rows`` reads: the rows' enrolment facts, the facts behind each derived
        one (an unmatched row's reason names them, rplnav.evidence.stratify._expand) and the current pregnancy
        (timing_match), all from the compiled conditions."""
        names: set[str] = set(TIMING_FACTS)
        todo = [n for r in rows for n in r.node.fact_names()]
        while todo:
            n = todo.pop()
            if n in names:
                continue
            names.add(n)
            node = self.kb.conditions.get(f"derived:{n}")
            if node is not None:
                todo.extend(node.fact_names())
        return tuple(sorted(names))

    def summary(self, therapy: str, facts: Mapping[str, Any], src: Callable[[Any], Any] | None = None,
                memo: dict[Any, Any] | None = None) -> dict[str, Any] | None:
        """Compact summary for the assessment's therapy option (None when the therapy has no study rows).

        The first analysis group (live birth before other outcomes, randomised before non-randomised) is
        summarised; ``other_analyses`` counts the rest.  The summary is kept by the values of the facts it
        reads (``_summary_reads``); inside it, everything except the rows that cannot be matched or are excluded
        depends only on each primary row's verdict for her, so that core is kept by the pattern of verdicts.
        Both are shared (read-only).
        """
        if therapy not in self.by_therapy:
            return None
        st = self._static(therapy)
        if src is not None:
            for ref in st["sources"]:
                src(ref)
        try:
            key = ("summary", self.measure, self.level, id(self.pooler), therapy, st["reads"](facts))
        except KeyError:  # facts given by hand without every fact of the catalogue: nothing to share
            return self._summary(therapy, st, facts, memo)
        # a function of the facts it reads only, so patients (and assumption passes) that agree on them share it
        return self.memo.get(key, lambda: self._summary(therapy, st, facts, memo))

    def _summary(self, therapy: str, st: dict[str, Any], facts: Mapping[str, Any],
                 memo: dict[Any, Any] | None) -> dict[str, Any]:
        if memo is None:  # shares condition and timing verdicts between the therapies of one patient
            memo = {}
        values = self._values(st["primary"], facts, memo)
        key = (therapy, *values.values())
        core = self.memo.get(("evidence", self.measure, self.level, id(self.pooler), key),
                             lambda: self._summary_core(therapy, values))
        if not st["groups"]:
            return core
        first = next(iter(st["groups"]))
        unmatched, excluded = [], []
        for m in st["members"][first]:
            if values[m.id] is None:
                mm = self.match(m, facts, memo)
                unmatched.append({"id": m.id, "label": m.study.label, "needs": list(mm.needs),
                                  "reason": mm.reason(m)})
            elif values[m.id] is False and m.parent is None:
                excluded.append({"id": m.id, "label": m.study.label, "reason": self.match(m, facts, memo).reason(m)})
        not_pooled = [{"id": r.id, "label": r.study.label, "reason": r.reason}
                      for r in st["groups"][first] if not r.poolable]
        poolable = {r.id for r in st["groups"][first] if r.poolable}
        text = stratum_sentence(core["all"], core["stratum"], len([x for x in excluded if x["id"] in poolable]),
                                len(unmatched), self.measure, head_to_head=len(not_pooled))
        return {**core, "unmatched": unmatched, "excluded": excluded, "not_pooled": not_pooled, "stratum_text": text}

    def _summary_core(self, therapy: str, values: Mapping[str, bool | None]) -> dict[str, Any]:
        st = self._static(therapy)
        out: dict[str, Any] = {"measure": self.measure, "method": self.method,
                               "certainty": None, "certainty_note": "graded per guideline in the stances"}
        groups = st["groups"]
        if not groups:
            out.update(outcome=None, design=None, all=None, stratum=None, unmatched=[], not_matching=0,
                       note="no trial rows with numbers in the knowledge base; meta-analyses shown as context")
        else:
            first = next(iter(groups))
            top = groups[first]
            members = st["members"][first]
            chosen = self.stratum_rows(top, values)
            stratum = self.pooled(chosen)
            out.update(outcome=first[0], design=first[1], all=self._marked(st["all"][first], chosen), stratum=stratum,
                       unmatched=[],
                       not_matching=sum(1 for m in members if values[m.id] is False))
            # what was compared, so an association (e.g. deficiency vs repletion) is never read as a treatment effect
            comparisons = sorted({f"{m.study.intervention or therapy} vs {m.study.comparator}" for m in members})
            out["comparison"] = comparisons[0] if len(comparisons) == 1 else "; ".join(comparisons[:3])
            if stratum is None:
                out["stratum_note"] = "no study of this outcome matches her enrolment and timing"
            out["other_analyses"] = [
                {"outcome": o, "design": d, "k_all": (st["all"][(o, d)] or {}).get("k", 0),
                 "k_stratum": len([r for r in self.stratum_rows(t, values) if r.poolable])}
                for (o, d), t in list(groups.items())[1:]
            ]
        out["context"] = st["context"]
        out["rows"] = len(st["rows"])
        out["verified_rows"] = st["verified"]
        return out

    def _marked(self, all_: dict[str, Any] | None, chosen: list[Row]) -> dict[str, Any] | None:
        """The all-studies result with each trial marked as in her stratum or not (a trial counts as in it when
        the trial or one of its subgroup rows is pooled there); a copy, the cached result stays unmarked."""
        if all_ is None:
            return None
        ids = {r.id for r in chosen if r.poolable}
        return {**all_, "trials": [
            {**t, "in_stratum": any(m.id in ids for m in self.rows[t["id"]].family())}
            for t in all_["trials"]]}

    # ---------------------------------------------------------- row views
    def _row_status(self, row: Row, m: Match) -> dict[str, Any]:
        return {"id": row.id, "label": row.study.label, "subgroup": row.study.subgroup, "needs": list(m.needs),
                "reason": m.reason(row)}

    def _context(self, row: Row, m: Match | None, brief: bool = False) -> dict[str, Any]:
        st = row.study
        e = st.estimate
        out: dict[str, Any] = {"id": st.id, "label": st.label, "design": st.design, "outcome": st.outcome,
                               "comparator": st.comparator}
        if e is not None:
            out.update(measure=e.measure, estimate=e.value, ci=[e.ci_lower, e.ci_upper])
        elif row.yi is not None and row.vi is not None:
            z = plain_reml.z_crit(self.level)
            s = math.sqrt(row.vi)
            out.update(measure=self.measure, estimate=math.exp(row.yi), ci=[math.exp(row.yi - z * s), math.exp(row.yi + z * s)])
        out["verified"] = st.source.verified
        if not brief:
            out["source"] = _source(st)
            if m is not None:
                out["matches_her"] = m.value
        return out

    def _study_entry(self, row: Row, m: Match | None) -> dict[str, Any]:
        st = row.study
        out: dict[str, Any] = {
            "id": st.id, "label": st.label, "year": st.year, "design": st.design, "outcome": st.outcome,
            "enrolment": st.enrolment_text, "enrolment_condition": row.node.to_text(),
            "start": st.start, "start_ga": st.start_ga, "comparator": st.comparator, "intervention": st.intervention,
            "subgroup": st.subgroup, "parent": row.parent.id if row.parent else None,
            "counts": st.counts.model_dump() if st.counts else None,
            "estimate": st.estimate.model_dump() if st.estimate else None,
            "poolable": row.primary and row.poolable,
            "not_pooled_because": None if row.primary and row.poolable else (row.reason or "meta-analysis: context only"),
            "source": _source(st),
        }
        if row.yi is not None and row.vi is not None:
            z = plain_reml.z_crit(self.level)
            s = math.sqrt(row.vi)
            out["effect"] = {"measure": self.measure, "estimate": math.exp(row.yi),
                             "ci": [math.exp(row.yi - z * s), math.exp(row.yi + z * s)]}
        if m is not None:
            out["match"] = {"value": m.value, "enrolment": m.enrolment, "timing": m.timing, "needs": list(m.needs),
                            "reason": m.reason(row), "timing_text": m.timing_text}
        return out


def _source(st: Study) -> dict[str, Any]:
    s = st.source
    out = {"document": s.document, "locator": s.locator, "verified": s.verified}
    if s.note:
        out["note"] = s.note
    return out
