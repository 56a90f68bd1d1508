"""Patient + knowledge base -> the `rplnav.assessment/v1` document.

This is the only place where facts meet recommendations; every renderer (JSON, Markdown, terminal, web,
CDS cards) reads the typed document built here (rplnav.assessment), so they can never disagree.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rplnav import __version__, assumptions, rules
from rplnav import labs as lab_results
from rplnav.assessment import Assessment, PartCache, validate_document
from rplnav.criteria import aps as aps_criteria
from rplnav.facts import FactDeriver, Facts
from rplnav.gestation import format_ga, parse_gestational_age
from rplnav.knowledge.load import Knowledge
from rplnav.knowledge.model import AGAINST, FOR, STANCE_ORDER, SourceRef, TimingWindow
from rplnav.memo import Memo
from rplnav.ordering import OrderParts, support_of
from rplnav.patient import Parsed, Patient
from rplnav.plan import build_plan
from rplnav.rules import FactGetter, fact_getter

SCHEMA = "rplnav.assessment/v1"
INTENDED_USE = (
    "Decision support for reproductive-medicine clinicians. It summarises what published guidelines and studies "
    "say for a patient like this one, with sources and certainty; it is not a prescription and does not replace "
    "clinical judgement or the patient's informed choice."
)
FIRM_FOR = {"strong_for", "good_practice"}


@dataclass(frozen=True)
class Pass:
    """One reading of the record (rplnav.assumptions): its facts, the decisions of each of its therapies and
    work-up items, and how many unverified statements each therapy has for her. A later pass over facts that
    differ in a few values takes from it every part that reads none of those values (Engine._decisions)."""

    facts: Facts
    unverified: dict[str, int]
    by_part: dict[str, dict[str, Any]]  # the decisions of each therapy and work-up item (Engine._part_of)


# The current-pregnancy facts, the only facts a timing window's status reads (window_status takes these only).
Current = tuple[Any, Any, Any, Any]
current_of: Callable[[dict[str, Any]], Current] = operator.itemgetter(
    "current.pregnant", "current.ga_days", "current.intrauterine_confirmed", "current.fetal_heart_activity")


class Citations:
    """Records which documents an assessment cites while handing out each reference's output form."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.cited: dict[str, None] = {}

    def __call__(self, ref: SourceRef) -> dict[str, Any]:
        self.cited[ref.document] = None
        if ref.secondary is not None:
            self.cited[ref.secondary.document] = None
        return self.engine.source_dict(ref)


class Engine:
    """Holds the knowledge base and everything precomputed from it, so one assessment is cheap."""

    def __init__(self, kb: Knowledge):
        self.kb = kb
        self.closing_days = kb.gestation_limits["window_closing_notice"].ga
        self._typed_parts = PartCache()  # typed form of the shared parts (rplnav.assessment)
        self.facts = FactDeriver(kb)  # patient -> Facts: the only reader of the patient record
        self.catalogue = self.facts.catalogue
        self.history_lists = assumptions.deciding(self.catalogue.specs)  # omitted lists that can decide something
        self.recs_by_therapy: dict[str, list[Any]] = {t: [] for t in kb.therapies}
        self.recs_by_test: dict[str, list[Any]] = {}
        for r in kb.recommendations:
            node = kb.condition(f"rec:{r.id}")
            if r.therapy:
                self.recs_by_therapy[r.therapy].append((r, node))
            else:
                self.recs_by_test.setdefault(r.test or "", []).append((r, node))
        self.alerts = [(a, kb.condition(f"alert:{a.id}")) for a in kb.alerts]
        self.alerts_by_therapy: dict[str | None, list[tuple[Any, rules.Node]]] = {}
        for a, node in self.alerts:
            self.alerts_by_therapy.setdefault(a.therapy, []).append((a, node))
        self.superseded_by = {g.supersedes: g.id for g in kb.guidelines.values() if g.supersedes}
        self._sources: dict[int, dict[str, Any]] = {}
        self.order_parts = OrderParts(kb)  # what an order brings: therapy source, cautions, CDS suggestion
        self.memo = Memo()  # the one memo: every part reused between patients, keyed by the facts it reads
        self._evidence_cited: dict[str, dict[str, None]] = {}
        self._option_keys: dict[str, tuple[FactGetter, FactGetter]] = {}
        self._workup_keys: dict[str, tuple[frozenset[str], FactGetter]] = {}
        self._option_read_names: dict[str, frozenset[str]] = {}
        # which part takes each statement's decision: its therapy's option or its test's work-up item
        self._rec_part = {r.id: f"therapy:{r.therapy}" if r.therapy else f"test:{r.test or ''}"
                          for r in kb.recommendations}
        self._entries: dict[str, dict[str, Any]] = {}
        self._studies: Any = None  # rplnav.evidence.stratify.StudyIndex, built on first use
        self._always_shown: list[str] | None = None
        self._prognosis_keys: FactGetter | None = None
        self._always_values: FactGetter = fact_getter(())
        self._shown_if_set: list[str] = []
        # everything about a recommendation that does not depend on the patient, built once
        self._static: dict[str, tuple[dict[str, Any], tuple[str, ...], FactGetter]] = {}
        for r in kb.recommendations:
            static = {"id": r.id, "guideline": r.guideline, "stance": r.stance, "strength": r.strength,
                      "certainty": r.certainty, "population": r.population_text, "statement": r.statement,
                      "source": self.source_dict(r.source)}
            if r.certainty_as_stated:
                static["certainty_as_stated"] = r.certainty_as_stated
            names = tuple(sorted(kb.condition(f"rec:{r.id}").fact_names()))
            aps_def = r.aps_definition or aps_definition_of(names)
            if aps_def:
                static["aps_definition"] = aps_def
            if r.when:
                static["when"] = r.when
            if r.guideline in self.superseded_by:
                static["superseded_by"] = self.superseded_by[r.guideline]
            self._static[r.id] = (static, names, fact_getter(names))

    def source_dict(self, ref: SourceRef) -> dict[str, Any]:
        """The output form of a source reference (built once; treat as read-only)."""
        out = self._sources.get(id(ref))
        if out is None:
            out = {"document": ref.document, "locator": ref.locator, "verified": ref.verified, "tier": ref.tier}
            if ref.secondary is not None:
                out["secondary"] = {"document": ref.secondary.document, "locator": ref.secondary.locator}
            if ref.note:
                out["note"] = ref.note
            self._sources[id(ref)] = out
        return out

    # -------------------------------------------------------------- main entry
    def assess(self, parsed: Parsed | Patient, guidelines: list[str] | None = None,
               strict: bool = False) -> Assessment:
        """The assessment of one patient as the typed document: built by `document`, validated here and nowhere
        else (a document the model rejects is an engine bug, rplnav.assessment.OutputError)."""
        return validate_document(self.document(parsed, guidelines, strict), self._typed_parts, as_written=True)

    def document(self, parsed: Parsed | Patient, guidelines: list[str] | None = None,
                 strict: bool = False) -> dict[str, Any]:
        """The document as the engine writes it. History the record omits is taken as absent and every decision
        resting on that is listed under ``assumptions`` (rplnav.assumptions); ``strict`` leaves it undecided."""
        if isinstance(parsed, Patient):
            parsed = Parsed(patient=parsed)
        patient = parsed.patient
        shared = self.facts.record_parts(patient)  # what no history list changes, for every pass below
        as_written = self.facts(patient, shared)
        lists = [] if strict else assumptions.omitted(patient, self.history_lists)
        if not lists:
            doc, _ = self._build(parsed, as_written, as_written, guidelines)
            doc["assumptions"] = []
            if strict:
                doc["strict"] = True
            doc["plan"] = build_plan(doc)
            return doc

        assumed = self.facts(assumptions.assume_absent(patient, lists), shared)
        doc, unverified = self._build(parsed, assumed, as_written, guidelines)
        decided = assumptions.decisions(doc)
        base = self._pass(assumed, decided, unverified)
        strict_decided = self._decisions(parsed, as_written, guidelines, base=base)
        changed = assumptions.resting(strict_decided, decided)

        def without(h: assumptions.HistoryList) -> dict[str, Any]:
            """The decisions with ``h`` restored to "not documented"; no pass when that changes no fact."""
            facts = self.facts(assumptions.assume_absent(patient, [x for x in lists if x is not h]), shared)
            if facts.same_as(assumed):
                return decided
            if facts.same_as(as_written):
                return strict_decided
            return self._decisions(parsed, facts, guidelines, as_written, base=base)

        rests = assumptions.attribute(changed, decided, lists, without if changed else lambda h: {})
        doc = assumptions.annotate(doc, lists, rests, self.memo.variant)
        doc["plan"] = build_plan(doc)
        return doc

    def _decisions(self, parsed: Parsed, facts: Facts, guidelines: list[str] | None,
                   safety: Facts | None = None, base: Pass | None = None) -> dict[str, Any]:
        """The decisions (rplnav.assumptions.decisions) the document for ``facts`` would take, read from the same
        parts `_build` writes; the parts no decision reads (sources, results, timing, plan …) are not built.

        With ``base`` (a pass over facts of the same record), a therapy or work-up item none of whose facts
        differ from the base's takes the base's decisions: each part is a function of the facts it reads (the
        premise of every memo key here), so the result equals a full pass (tests/core/test_assumptions.py
        checks this over generated records) while a pass that restores one history list rebuilds the few
        parts that read it."""
        keep = set(guidelines) if guidelines else None
        differ = frozenset() if base is None else _differing(facts, base.facts)
        parts = self._decided_parts(parsed, facts, facts if safety is None else safety, Citations(self), keep,
                                    full=False, base=base, differ=differ)
        out = assumptions.decisions(parts)
        if base is not None:
            for part in parts["reused"]:
                out.update(base.by_part.get(part, ()))
        return out

    def _pass(self, facts: Facts, decided: dict[str, Any], unverified: dict[str, int]) -> Pass:
        by_part: dict[str, dict[str, Any]] = {}
        for k, v in decided.items():
            part = self._part_of(k)
            if part is not None:
                by_part.setdefault(part, {})[k] = v
        return Pass(facts, unverified, by_part)

    def _part_of(self, decision: str) -> str | None:
        """The therapy or work-up test whose part takes ``decision`` (rplnav.assumptions.decisions ids); None for
        the parts every pass rebuilds (RPL definitions, APS, patient alerts, prognosis)."""
        kind, _, name = decision.partition(".")
        if kind == "stance":
            return self._rec_part.get(name)
        if kind == "evidence":
            return f"therapy:{name}"
        if kind == "workup":
            return f"test:{name}"
        return None

    def _build(self, parsed: Parsed, facts: Facts, safety: Facts, guidelines: list[str] | None
               ) -> tuple[dict[str, Any], dict[str, int]]:
        """The document for one set of facts, and the unverified statements per therapy (for a `Pass`);
        ``safety`` (the record as written) decides the safety checks, which an assumption must never silence."""
        patient = parsed.patient
        src = Citations(self)
        cited = src.cited
        keep = set(guidelines) if guidelines else None
        parts = self._decided_parts(parsed, facts, safety, src, keep, full=True)
        workup, options = parts["workup"], parts["options"]
        losses = {
            "total": facts["losses.total"],
            "clinical": facts["losses.clinical"],
            "biochemical": facts["losses.biochemical"],
            "consecutive_max": facts["losses.consecutive_max"],
            "early_lt10w": facts["losses.early_lt10w"],
            "early_fetal_10_15w": facts["losses.early_fetal_10_15w"],
            "fetal_ge10w": facts["losses.fetal_ge10w"],
            "fetal_ge16w": facts["losses.fetal_ge16w"],
            "first_trimester": facts["losses.first_trimester"],
            "second_trimester": facts["losses.second_trimester"],
            "ectopic": facts["losses.ectopic"],
            "molar": facts["losses.molar"],
            "live_births": facts["births.live"],
            "primary": facts["rpl.primary"],
        }
        sources = self._source_list(tuple(cited))
        workup, options = _leaf_needs(workup, options, facts, self.memo.variant)
        doc = {
            "schema": SCHEMA,
            "knowledge_version": self.kb.version,
            "tool_version": __version__,
            "generated_on": dt.date.today().isoformat(),
            "assessed_on": patient.today.isoformat(),
            "intended_use": INTENDED_USE,
            "patient_id": patient.id,
            "input_warnings": list(parsed.warnings),
            "losses": losses,
            "rpl": parts["rpl"],
            "aps": parts["aps"],
            "results": self._results(patient),
            "entered": entered_of(patient),
            "medications": patient.medications,
            "workup": workup,
            "options": options,
            "alerts": parts["alerts"],
            "prognosis": parts["prognosis"],
            "facts": self._shown_facts(facts),
            "sources": sources,
        }
        return doc, parts["unverified"]

    def _decided_parts(self, parsed: Parsed, facts: Facts, safety: Facts, src: Citations, keep: set[str] | None,
                       full: bool, base: Pass | None = None, differ: frozenset[str] = frozenset()
                       ) -> dict[str, Any]:
        """The parts of the document that take decisions (RPL definitions, APS, work-up, options, patient alerts,
        prognosis), in document order; ``full=False`` leaves out of each option what no decision reads (timing,
        regimens, safety alerts), for the passes that only compare decisions. With ``base``, the therapies and
        work-up items that read none of the facts in ``differ`` are left out and named under ``reused``."""
        reused: set[str] = set()
        cited = src.cited
        rpl = {}
        for gid, definition in facts.rpl.items():
            if keep is not None and gid not in keep:
                continue
            r = definition.as_dict()
            cited[r["source"]["document"]] = None  # type: ignore[index]
            rpl[gid] = r
        aps = _aps_interpretation(facts.aps.as_dict(), facts.labs)
        for t in aps_criteria.APL_TESTS:
            if t in facts.labs:
                cited.update(dict.fromkeys(facts.labs[t].basis_documents))
        # every APS block states its rule with its source: Sydney 2006 (Miyakis) and 2023 ACR/EULAR (Barbhaiya)
        for set_id in (aps_criteria.SYDNEY, aps_criteria.ACR_EULAR):
            cited[self.kb.aps_criteria[set_id].source.document] = None

        workup = self._workup(facts, src, keep, None if base is None else (differ, reused))
        options = []
        by_therapy: dict[str, int] = {}
        study_memo: dict[Any, Any] = {}  # study-row verdicts for her, shared by all therapies
        for tid in self.kb.therapies:
            if base is not None and differ.isdisjoint(self._option_reads(tid)):
                reused.add(f"therapy:{tid}")
                by_therapy[tid] = base.unverified[tid]
                continue
            option, by_therapy[tid] = self._option(tid, facts, safety, src, keep, study_memo, full)
            options.append(option)
        unverified = sum(by_therapy.values())
        alerts = self._patient_alerts(facts, safety, parsed.warnings, src)
        prognosis = self._prognosis(facts, src)
        if unverified:
            alerts.append({
                "level": "info", "kind": "verification", "id": "unverified-statements",
                "text": f"{unverified} guideline statement(s) that may apply to her could not be confirmed in the "
                        "primary source; they are marked 'unverified' and should be checked before acting on them.",
                "source": None,
            })
        return {"rpl": rpl, "aps": aps, "workup": workup, "options": options, "alerts": alerts,
                "prognosis": prognosis, "unverified": by_therapy, "reused": reused}

    def _option_reads(self, tid: str) -> frozenset[str]:
        """Every fact a therapy's decisions read: its statements' populations and its evidence summary's rows."""
        names = self._option_read_names.get(tid)
        if names is None:
            names = self._option_read_names[tid] = frozenset(self._option_part_names(tid)[0]) | \
                self._study_index().reads(tid)
        return names

    def _study_index(self) -> Any:
        """rplnav.evidence.stratify.StudyIndex, built on first use (it is not needed to start the CLI)."""
        if self._studies is None:
            from rplnav.evidence.stratify import StudyIndex

            self._studies = StudyIndex(self.kb, self.memo)
        return self._studies

    # -------------------------------------------------------------- pieces
    def _results(self, patient: Patient) -> list[dict[str, Any]]:
        """Every lab result as entered (canonical unit), with the lab's comment shown, never interpreted."""
        out = []
        for lab in patient.labs:
            spec = self.kb.tests.get(lab.test)
            row: dict[str, Any] = {"test": lab.test, "name": spec.name if spec else lab.test,
                                   "date": lab.date.text if lab.date else None}
            for k in ("result", "value", "unit", "reference_low", "reference_high", "cutoff_p99", "note"):
                v = getattr(lab, k, None)
                if v is not None:
                    row[k] = v
            out.append(row)
        return out

    def _shown_facts(self, facts: dict[str, Any]) -> dict[str, Any]:
        """Every patient-level fact, and the per-test/per-therapy facts only where they say something."""
        if self._always_shown is None:
            prefixes = ("treated.", "loss_despite.", "lab.")
            self._always_shown = [k for k in facts if not k.startswith(prefixes)]
            self._shown_if_set = [k for k in facts if k.startswith(prefixes)]
            self._always_values = fact_getter(tuple(self._always_shown))
        out = dict(zip(self._always_shown, self._always_values(facts), strict=True))
        for k in self._shown_if_set:
            v = facts[k]
            if v is not None and v is not False:
                out[k] = v
        return out

    def _source_list(self, cited: tuple[str, ...]) -> list[dict[str, Any]]:
        """The document's source entries, in order of first citation (the same list for the same citations)."""
        return self.memo.get(("sources", cited),
                             lambda: [self._source_entry(d) for d in cited if d in self.kb.sources])

    def _source_entry(self, doc: str) -> dict[str, Any]:
        cached = self._entries.get(doc)
        if cached is not None:
            return cached
        self._entries[doc] = out = self._build_source_entry(doc)
        return out

    def _build_source_entry(self, doc: str) -> dict[str, Any]:
        s = self.kb.sources[doc]
        out: dict[str, Any] = {"id": s.id, "citation": s.citation, "kind": s.kind}
        if s.year:
            out["year"] = s.year
        if s.doi:
            out["doi"] = s.doi
        if s.url:
            out["url"] = s.url
        if s.note:
            out["note"] = s.note
        return out

    def _stance(self, r: Any, node: rules.Node, facts: dict[str, Any], src: Any) -> dict[str, Any]:
        static, names, values_of = self._static[r.id]
        src.cited[r.source.document] = None  # record the citation
        if r.source.secondary is not None:
            src.cited[r.source.secondary.document] = None
        # The verdict depends only on the values of the facts the population names, which repeat across
        # patients, so the stance is memoised per recommendation (bounded) and the same dictionary is shared
        # by every assessment that reaches it: assessment documents are read-only views.
        key = values_of(facts)

        def verdict() -> dict[str, Any]:
            res = node.evaluate(facts)
            because = [r.population_text]
            for name, v in zip(names, key, strict=True):
                shown = "unknown" if v is None else ("true" if v else "false") if v is True or v is False else v
                because.append(f"{name} = {shown}")
            out = dict(static)
            out["applies"] = res.value
            out["needs"] = list(res.needs)
            out["because"] = because
            out["facts"] = [{"name": name, "value": v} for name, v in zip(names, key, strict=True)]
            return out

        return self.memo.get(("stance", r.id, key), verdict)

    def _workup(self, facts: dict[str, Any], src: Any, keep: set[str] | None,
                skip: tuple[frozenset[str], set[str]] | None = None) -> list[dict[str, Any]]:
        """The work-up items; with ``skip`` (facts that differ from a base pass, and the set of reused parts),
        an item that reads none of those facts is left out and added to the reused parts."""
        items = []
        for test_id, recs in self.recs_by_test.items():
            keys = self._workup_keys.get(test_id)
            if keys is None:
                found: set[str] = set()
                for _r, n in recs:
                    found |= n.fact_names()
                if test_id in self.kb.investigations:
                    found |= self.kb.condition(f"investigation:{test_id}").fact_names()
                else:
                    found |= {f"lab.{test_id}.tested", f"lab.{test_id}.ever_positive", f"lab.{test_id}.persistent"}
                keys = self._workup_keys[test_id] = (frozenset(found), fact_getter(tuple(sorted(found))))
            reads, values_of = keys
            if skip is not None and skip[0].isdisjoint(reads):
                skip[1].add(f"test:{test_id}")
                continue
            key = ("workup", test_id, frozenset(keep) if keep else None, values_of(facts))
            entry = self._cached(key, lambda rec, t=test_id, rs=recs: self._workup_item(t, rs, facts, rec, keep), src)
            if entry is not None:
                history = facts.labs.get(test_id) if isinstance(facts, Facts) else None
                if history is not None:
                    src.cited.update(dict.fromkeys(history.basis_documents))
                items.append(_with_interpretation(entry, history))
        order = {"repeat_needed": 0, "missing": 1, "done": 3, "not_indicated": 4}
        rank = {"recommended": 0, "consider": 1, "may_apply": 2, "none": 3}
        items.sort(key=lambda x: (order[x["status"]], rank[x["priority"]]))
        return items

    def _workup_item(self, test_id: str, recs: list[Any], facts: dict[str, Any], src: Any,
                     keep: set[str] | None) -> dict[str, Any] | None:
        stances = [self._stance(r, n, facts, src) for r, n in recs if keep is None or r.guideline in keep]
        if not stances:
            return None
        if test_id in self.kb.investigations:
            done = self.kb.condition(f"investigation:{test_id}").evaluate(facts).value is True
            name = self.kb.investigations[test_id].name
            repeat = False
        else:
            done = bool(facts.get(f"lab.{test_id}.tested"))
            name = self.kb.tests[test_id].name
            # persistence matters for antiphospholipid antibodies (Sydney 2006 laboratory criteria)
            repeat = test_id in aps_criteria.APL_TESTS and done \
                and facts.get(f"lab.{test_id}.ever_positive") is True \
                and facts.get(f"lab.{test_id}.persistent") is None
        strong = any(s["applies"] is True and s["stance"] in FIRM_FOR for s in stances)
        indicated = any(s["applies"] is True and s["stance"] in FOR for s in stances)
        maybe = any(s["applies"] is None and s["stance"] in FOR for s in stances)
        against = [s for s in stances if s["applies"] is True and s["stance"] in AGAINST | {"insufficient_evidence"}]
        if repeat:
            status = "repeat_needed"
        elif done:
            status = "done"
        elif indicated or maybe:
            status = "missing"
        else:
            status = "not_indicated"
        # how firmly the guidelines that apply to her ask for it
        priority = "recommended" if strong else "consider" if indicated else "may_apply" if maybe else "none"
        entry = {"test": test_id, "name": name, "status": status, "priority": priority,
                 "recommendations": stances}
        if done and against and not indicated:
            entry["note"] = "done although a guideline advises against routine testing"
        return entry

    def _timing(self, windows: list[TimingWindow], facts: dict[str, Any], src: Citations) -> dict[str, Any]:
        """Where she stands in each timing window; window_status reads only the current-pregnancy facts
        (``current_of``), which are the memo key."""
        current = current_of(facts)
        return self._cached(("timing", id(windows), current),
                            lambda rec: self._timing_uncached(windows, current, rec), src)

    def _timing_uncached(self, windows: list[TimingWindow], current: Current, src: Any) -> dict[str, Any]:
        if not windows:
            return {"window": "no timing stated in the knowledge base", "status": "n/a", "windows": []}
        out = []
        for w in windows:
            out.append({"label": w.label, "text": w.text, "status": window_status(w, current, self.closing_days),
                        "start": time_point(w.start), "stop": time_point(w.stop), "source": src(w.source)})
        first = out[0]
        return {"window": f"{first['label']}: {first['text']}", "status": first["status"], "windows": out}

    def _option(self, tid: str, facts: dict[str, Any], safety: dict[str, Any], src: Citations, keep: set[str] | None,
                study_memo: dict[Any, Any] | None = None, full: bool = True) -> tuple[dict[str, Any], int]:
        """One therapy's option, put together from parts memoised by the values of the facts each depends on,
        and how many of its statements that may apply to her are unverified.

        Splitting the option lets each part be reused by every patient who agrees on *its* facts: the
        stances depend on the populations' facts, the safety alerts on conditions and country, the timing on
        the current pregnancy and the evidence on the studies' enrolment facts.  Parts are shared, read-only.
        """
        keys = self._option_keys.get(tid)
        if keys is None:
            keys = self._option_keys[tid] = tuple(fact_getter(n) for n in self._option_part_names(tid))  # type: ignore[assignment]
        kept = frozenset(keep) if keep else None
        stances, summary, unverified = self._cached(
            ("stances", tid, kept, keys[0](facts)),
            lambda rec: self._option_stances(tid, facts, rec, keep), src)
        if not full:  # only what decisions read (rplnav.assumptions.decisions)
            return {"therapy": tid, "stances": stances, "evidence": self.evidence(tid, facts, src, study_memo)}, \
                unverified
        in_play = in_play_for(stances, safety, tid)  # the record as written: an assumption never hides safety
        alerts, regulatory = self._cached(
            ("alerts", tid, in_play, keys[1](safety), keys[1](facts)),
            lambda rec: self._option_alerts(tid, facts, safety, rec, in_play), src)
        t = self.kb.therapies[tid]
        return {
            "therapy": tid,
            "name": t.name,
            "class": t.therapy_class,
            "stances": stances,
            "summary": summary,
            "timing": self._timing(t.timing, facts, src),
            "regimens": self._cached(("regimens", tid), lambda rec: [
                {"label": r.label, "dose": r.dose, "route": r.route, "frequency": r.frequency,
                 "source": rec(r.source)} for r in t.regimens], src),
            "regulatory": regulatory,
            "alerts": alerts,
            "evidence": self.evidence(tid, facts, src, study_memo),
            **self._cached(("ordering", tid, in_play, support_of(stances)),
                           lambda rec: self.order_parts.parts(tid, stances, in_play, rec), src),
        }, unverified

    def _cached(self, key: tuple[Any, ...], compute: Any, src: Citations) -> Any:
        """A memoised part with the citations it made (replayed into this document's citations on a hit)."""
        def run() -> tuple[Any, dict[str, None]]:
            record = Citations(self)
            return compute(record), dict(record.cited)

        value, cited = self.memo.get(key, run)
        src.cited.update(cited)
        return value

    def _option_part_names(self, tid: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The facts an option's stances depend on, and those its safety alerts depend on."""
        t = self.kb.therapies[tid]
        stance_names: set[str] = set()
        for _r, node in self.recs_by_therapy[tid]:
            stance_names |= node.fact_names()
        alert_names: set[str] = {"country"}
        for i, c in enumerate(t.cautions):
            if c.when is not None:
                alert_names |= self.kb.condition(f"caution:{tid}:{i}").fact_names()
        for _a, node in self.alerts_by_therapy.get(tid, ()):
            alert_names |= node.fact_names()
        return tuple(sorted(stance_names)), tuple(sorted(alert_names))

    def _option_stances(self, tid: str, facts: dict[str, Any], src: Citations,
                        keep: set[str] | None) -> tuple[list[dict[str, Any]], str, int]:
        """The therapy's guideline statements for her, the summary line, and how many unverified ones may apply."""
        stances = [self._stance(r, n, facts, src) for r, n in self.recs_by_therapy[tid]
                   if keep is None or r.guideline in keep]
        applying = [s for s in stances if s["applies"] is True]
        unverified = sum(1 for s in stances if s["applies"] is not False and not s["source"]["verified"])
        return stances, summarise(applying, stances), unverified

    def _option_alerts(self, tid: str, facts: dict[str, Any], safety: dict[str, Any], src: Citations,
                       in_play: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Safety alerts (cautions, therapy alerts, a regulatory block in her country) and regulatory status.

        Cautions that need no condition (a boxed warning, infection transmission, a check before use) are shown
        whenever the therapy is in play for her (see `in_play_for`), critical ones at their own level, so that
        safety never waits on a fact that is rarely recorded.

        Cautions and contraindications are judged on the record as written (``safety``): a history that was
        not documented stays "not documented, check first" whatever the decisions assumed."""
        t = self.kb.therapies[tid]
        alerts: list[dict[str, Any]] = []
        for i, c in enumerate(t.cautions):
            if c.when is not None:
                hit = self.kb.condition(f"caution:{tid}:{i}").evaluate(safety)
                if hit.value is True:
                    alerts.append({"level": c.level, "kind": c.kind, "text": c.text, "source": src(c.source)})
                elif hit.value is None and c.kind in ("check", "contraindication"):
                    alerts.append({"level": "info", "kind": "check", "text": f"Not documented, check first: {c.text}",
                                   "needs": list(hit.needs), "source": src(c.source)})
            elif in_play and (c.level == "critical" or c.kind in ("check", "contraindication")):
                alerts.append({"level": "critical" if c.level == "critical" else "info", "kind": c.kind,
                               "text": c.text, "always": True, "source": src(c.source)})
        for a, node in self.alerts_by_therapy.get(tid, ()):
            if node.evaluate(facts).value is True or (safety is not facts and node.evaluate(safety).value is True):
                alerts.append({"level": a.level, "kind": a.kind, "id": a.id, "text": a.text, "source": src(a.source)})
        regulatory = []
        for reg in t.regulatory:
            entry = {"country": reg.country, "status": reg.status, "text": reg.text, "source": src(reg.source)}
            regulatory.append(entry)
            if reg.status == "not_permitted" and facts["country"] == reg.country:
                if not any(a.get("kind") == "regulatory" for a in alerts):
                    alerts.append({"level": "critical", "kind": "regulatory", "text": reg.text, "source": entry["source"]})
        return alerts, regulatory

    def evidence(self, tid: str, facts: dict[str, Any], src: Any = None,
                 memo: dict[Any, Any] | None = None) -> dict[str, Any] | None:
        """Pooled studies for her stratum and for all (rplnav.evidence.stratify; no NumPy, pooled results and
        summaries cached there by the pattern of row verdicts)."""
        studies = self._study_index()
        cited = self._evidence_cited.get(tid)
        if cited is None:
            record = Citations(self)
            out = studies.summary(tid, facts, record, memo)
            self._evidence_cited[tid] = dict(record.cited)
        else:
            out = studies.summary(tid, facts, None, memo)
        if src is not None:
            src.cited.update(self._evidence_cited[tid])
        return out

    def _patient_alerts(self, facts: dict[str, Any], safety: dict[str, Any], warnings: list[str],
                        src: Any) -> list[dict[str, Any]]:
        """Patient-level alerts: shown when they apply to her on the facts used for the decisions, or on the
        record as written (an assumption may add an alert, never remove one)."""
        out = []
        for a, node in self.alerts_by_therapy.get(None, ()):
            if node.evaluate(facts).value is True or (safety is not facts and node.evaluate(safety).value is True):
                out.append({"level": a.level, "kind": a.kind, "id": a.id, "text": a.text, "source": src(a.source)})
        for w in warnings:
            out.append({"level": "warning", "kind": "input", "id": "input-warning", "text": w, "source": None})
        return out

    def _prognosis(self, facts: Facts, src: Citations) -> dict[str, Any]:
        """The prognosis entry, memoised by everything it reads: age, clinical losses and the facts of the
        model's population and exclusions."""
        if self._prognosis_keys is None:
            names = {"age", "losses.clinical"}
            for table in self.kb.prognosis[:1]:
                names |= self.kb.condition(f"prognosis:{table.id}").fact_names()
                for i in range(len(table.exclusions)):
                    names |= self.kb.condition(f"prognosis:{table.id}:exclusion:{i}").fact_names()
            self._prognosis_keys = fact_getter(tuple(sorted(names)))
        key = ("prognosis", self._prognosis_keys(facts))
        return self._cached(key, lambda rec: self._prognosis_uncached(facts, rec), src)

    def _prognosis_uncached(self, facts: Facts, src: Any) -> dict[str, Any]:
        """The model's estimate for her, only inside its own population (Brigham 1999: idiopathic recurrent
        miscarriage), with her age placed between the table's age rows: the two cells around her age are both
        shown and the estimate is linear interpolation between them, never the younger cell alone. When it is not
        known whether she belongs to the population no estimate is shown, and the note says what would decide it."""
        if not self.kb.prognosis:
            return {"next_pregnancy_live_birth_percent": None, "source": None, "note": "no prognosis table"}
        table = self.kb.prognosis[0]
        base = {"table": table.id, "title": table.title, "population": table.population, "caveat": table.caveat,
                "source": src(table.source), "context": [src(c) for c in table.context]}
        none = {**base, "next_pregnancy_live_birth_percent": None}
        excluded = [x.reason for i, x in enumerate(table.exclusions)
                    if self.kb.condition(f"prognosis:{table.id}:exclusion:{i}").evaluate(facts).value is True]
        population = self.kb.condition(f"prognosis:{table.id}").evaluate(facts)
        if excluded or population.value is False:
            why = "; ".join(excluded) if excluded else "her losses are not unexplained on the work-up recorded"
            return {**none, "applies": False, "note": f"not shown: the model is for {table.population}; {why}"}
        if population.value is None:  # never a number that may not be hers: say what would decide it
            return {**none, "applies": None, "needs": list(population.needs),
                    "note": ("not shown: the model is for idiopathic (unexplained) recurrent miscarriage, and "
                             "whether her losses are unexplained is not yet known (record: "
                             + ", ".join(population.needs) + ")")}
        losses = facts["losses.clinical"]
        counts = sorted({c.losses for c in table.cells})
        if losses < counts[0]:
            return {**none, "applies": population.value,
                    "note": f"the table starts at {counts[0]} previous miscarriages; she has {losses}"}
        ages = sorted({c.age for c in table.cells})
        age = facts["age"]
        if not ages[0] <= age <= ages[-1]:
            return {**none, "applies": population.value,
                    "note": f"not shown: the table covers ages {ages[0]} to {ages[-1]}; she is {age}"}
        col = min(losses, counts[-1])
        lo = max(a for a in ages if a <= age)
        hi = min(a for a in ages if a >= age)
        cells = {c.age: c for c in table.cells if c.losses == col and c.age in (lo, hi)}
        if lo not in cells or hi not in cells:
            return {**none, "applies": population.value, "note": "no cells for her age and losses"}
        a, b = cells[lo], cells[hi]
        bracket = [{"age": c.age, "losses": col, "live_birth_percent": c.live_birth_percent, "verified": c.verified}
                   for c in dict.fromkeys((a, b))]
        if lo == hi:
            percent = a.live_birth_percent
            note = f"cell for age {lo} and {col} previous miscarriages (she is {age} with {losses})"
            method = "table cell"
        else:
            percent = round(a.live_birth_percent + (b.live_birth_percent - a.live_birth_percent)
                            * (age - lo) / (hi - lo), 1)
            note = (f"linear interpolation by age between the cells for ages {lo} ({a.live_birth_percent:g}%) and "
                    f"{hi} ({b.live_birth_percent:g}%) with {col} previous miscarriages (she is {age} with {losses})")
            method = "linear interpolation by age between the two cells shown"
        if col != losses:
            note += f"; the table stops at {col} previous miscarriages"
        verified = all(c["verified"] for c in bracket)
        if not verified:
            note += "; a cell used is not verified against the paper"
        if facts["parental_karyotype.abnormal"] is None:
            note += "; parental karyotypes are not recorded (the study excluded an abnormal parental karyotype)"
        out = {**base, "next_pregnancy_live_birth_percent": percent, "verified": verified, "method": method,
               "bracket": bracket, "applies": True, "note": note}
        if lo == hi:
            out["cell"] = {"age": lo, "losses": col}
        return out


def _differing(a: Facts, b: Facts) -> frozenset[str]:
    """The names of the facts whose values differ between two readings of a record (fact values are hashable
    scalars, as every memo key built from them requires, so the items compare as sets; a name only one side
    has counts as differing)."""
    return frozenset(n for n, _ in a.items() ^ b.items())


def _with_interpretation(entry: dict[str, Any], history: lab_results.TestHistory | None) -> dict[str, Any]:
    """The work-up entry (shared, read-only) with what her results were judged against when the laboratory's
    limit was not given (a copy only when there is something to say)."""
    if history is None or not history.bases:
        return entry
    return {**entry, "interpretation": history.bases}


def _aps_interpretation(aps: dict[str, Any], histories: dict[str, lab_results.TestHistory]) -> dict[str, Any]:
    """Each APS block with the aPL results that were judged without the laboratory's own limit."""
    bases = [b for t in aps_criteria.APL_TESTS if t in histories for b in histories[t].bases]
    if not bases:
        return aps
    return {name: {**block, "interpretation": bases} for name, block in aps.items()}


def _leaf_needs(workup: list[dict[str, Any]], options: list[dict[str, Any]], facts: Facts,
                variant: Callable[..., dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Undecided stances' ``needs`` as what a clinician can record: derived and APS facts replaced by the
    items that would decide them (Facts.why). Done on the finished document, outside every memo, because it
    depends on facts the memo keys do not name; shared parts are copied, never changed."""
    if not facts.why:
        return workup, options

    def fix(stances: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        if not any(s["applies"] is None and any(n in facts.why for n in s["needs"]) for s in stances):
            return None
        out = []
        for s in stances:
            if s["applies"] is None:
                leaves = facts.leaves(s["needs"])
                s = variant(s, "needs", leaves, tuple(leaves))
            out.append(s)
        return out

    new_workup = []
    for w in workup:
        fixed = fix(w["recommendations"])
        new_workup.append(w if fixed is None else {**w, "recommendations": fixed})
    new_options = []
    for o in options:
        fixed = fix(o["stances"])
        new_options.append(o if fixed is None else {**o, "stances": fixed})
    return new_workup, new_options




def entered_of(patient: Patient) -> dict[str, Any]:
    """The record as the engine read it (labs apart: they are the `results`), in the input's own words."""
    def ga(days: int | None) -> str | None:
        return None if days is None else format_ga(days)

    def date(d: Any) -> str | None:
        return None if d is None else d.text

    pregs = []
    for p in patient.pregnancies:
        row: dict[str, Any] = {"outcome": p.outcome, "gestational_age": ga(p.gestational_age), "date": date(p.date)}
        for k in ("fetal_heart_activity", "morphologically_normal", "severe_preeclampsia",
                  "placental_insufficiency", "conception"):
            if getattr(p, k) is not None:
                row[k] = getattr(p, k)
        if p.poc_karyotype != "unknown":
            row["poc_karyotype"] = p.poc_karyotype
        if p.treatments:
            row["treatments"] = list(p.treatments)
        pregs.append(row)
    fi = patient.findings
    findings = {k: v for k, v in fi.model_dump(exclude={"thromboses"}).items() if v is not None}
    for k, v in list(findings.items()):
        if hasattr(v, "text"):
            findings[k] = v.text
    findings = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in findings.items()}
    cur = patient.current
    current = None if cur is None else {k: v for k, v in (
        ("gestational_age", ga(cur.gestational_age)), ("intrauterine_confirmed", cur.intrauterine_confirmed),
        ("fetal_heart_activity", cur.fetal_heart_activity), ("bleeding", cur.bleeding),
        ("conception", cur.conception)) if v is not None}
    thromboses = None if fi.thromboses is None else [
        {"type": t.type, "date": date(t.date), "high_risk_profile": t.high_risk_profile, "superficial": t.superficial}
        for t in fi.thromboses]
    return {"age": patient.age, "country": patient.country, "current": current, "pregnancies": pregs,
            "findings": findings, "thromboses": thromboses,
            "conditions": None if patient.conditions is None else list(patient.conditions),
            "lifestyle": {k: v for k, v in patient.lifestyle.model_dump().items() if v is not None}}


def summarise(applying: list[dict[str, Any]], stances: list[dict[str, Any]]) -> str:
    """One line per therapy: which current guidelines speak for or against her, never hiding an 'against'.

    Statements of a superseded edition (e.g. RCOG 2011) stay in the stance list, marked `superseded_by`,
    but the summary line speaks for current guidance only.
    """
    current = [s for s in applying if "superseded_by" not in s]
    if applying and not current:
        return "only a superseded guideline edition speaks to her: " + summarise(
            [{k: v for k, v in s.items() if k != "superseded_by"} for s in applying], stances)
    applying = current
    if not stances:
        return "no guideline in the knowledge base speaks to this therapy"
    if not applying:
        undecided = [s for s in stances if s["applies"] is None]
        if undecided:
            return f"{len(undecided)} statement(s) may apply once more is known"
        return "no guideline statement applies to her"
    parts = []
    for stance in STANCE_ORDER:
        gs = sorted({s["guideline"] for s in applying if s["stance"] == stance})
        if gs:
            parts.append(f"{stance.replace('_', ' ')}: {', '.join(gs)}")
    return "; ".join(parts)


def in_play_for(stances: list[dict[str, Any]], facts: dict[str, Any], tid: str) -> bool:
    """A therapy is in play for her when a guideline statement about it applies or may apply to her (for or
    against), or when she is taking it now; then its unconditional safety cautions are shown with it."""
    meds = getattr(facts, "medications", None)
    return any(s["applies"] is not False for s in stances) or bool(meds and tid in meds)


def aps_definition_of(fact_names: tuple[str, ...]) -> str | None:
    """Which APS classification a population leans on: the aps.*/apl.* facts are computed from Sydney 2006
    (criteria/aps.py) except `aps.acr_eular_2023`; stating it lets the reader see the 2006/2023 disagreement."""
    if "aps.acr_eular_2023" in fact_names:
        return "acr-eular-2023"
    if any(n.startswith(("aps.", "apl.laboratory_criteria", "apl.positive_without_aps")) for n in fact_names):
        return "sydney-2006"
    return None


def time_point(tp: Any) -> dict[str, Any]:
    """A window bound for renderers: its anchor, and its gestational age in days when it has one."""
    out: dict[str, Any] = {"anchor": tp.anchor}
    if tp.ga:
        out["ga"] = tp.ga
        out["ga_days"] = parse_gestational_age(tp.ga)
    if tp.weeks_after is not None:
        out["weeks_after"] = tp.weeks_after
    return out


def _point_days(tp: Any) -> int | None:
    if tp.anchor == "gestational_age" and tp.ga:
        return parse_gestational_age(tp.ga)
    return None


def window_status(w: TimingWindow, current: Current, closing_days: int) -> str:
    """open / not_yet / closing / passed relative to the current gestational age (``current``: the
    ``current_of`` facts); "closing" in the last ``closing_days`` (gestation.yaml: window_closing_notice)."""
    pregnant, ga, intrauterine, heartbeat = current
    start, stop = w.start, w.stop
    if not pregnant:
        return "open" if start.anchor in ("preconception", "ovulation") else "not_yet"
    if ga is None:
        return "n/a"
    if start.anchor == "delivery" or start.anchor == "postpartum":
        return "not_yet"
    s = _point_days(start)
    if s is not None and ga < s:
        return "not_yet"
    if start.anchor == "scan_confirmed" and intrauterine is False:
        return "not_yet"
    if start.anchor == "heartbeat" and heartbeat is False:
        return "not_yet"
    e = _point_days(stop)
    if e is not None:
        if ga >= e:
            return "passed"
        if e - ga <= closing_days:
            return "closing"
    return "open"

