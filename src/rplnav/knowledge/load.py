"""Load the knowledge base, validate it, cross-check its references and fingerprint it.

The version printed in every output is a SHA-256 over every YAML file (path and bytes), so two outputs that
show the same version were produced from exactly the same clinical content.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rplnav import rules
from rplnav.knowledge.criteria_model import ApsCriteriaSet, GestationBand, GestationLimit, RplDefinition
from rplnav.knowledge.model import (
    Alert,
    CdsSuggestion,
    CodeMap,
    Country,
    DerivedFact,
    Drug,
    Guideline,
    Investigation,
    PrognosisTable,
    Recommendation,
    Reproduction,
    Source,
    SourceRef,
    Study,
    TestSpec,
    Therapy,
    Topic,
    UsualLimits,
    normal_name,
)

KNOWLEDGE_DIR = Path(__file__).parent
# libyaml's C parser is ~20x faster than the pure-Python one; the result is identical.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SECTIONS: dict[str, type] = {
    "sources": Source,
    "guidelines": Guideline,
    "topics": Topic,
    "therapies": Therapy,
    "tests": TestSpec,
    "investigations": Investigation,
    "derived_facts": DerivedFact,
    "recommendations": Recommendation,
    "alerts": Alert,
    "prognosis": PrognosisTable,
    "studies": Study,
    "drugs": Drug,
    "countries": Country,
    "code_maps": CodeMap,
    "cds_suggestions": CdsSuggestion,
    "usual_limits": UsualLimits,
    "reproductions": Reproduction,
    "rpl_definitions": RplDefinition,
    "aps_criteria": ApsCriteriaSet,
    "gestation_bands": GestationBand,
    "gestation_limits": GestationLimit,
}


class KnowledgeError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Knowledge:
    version: str
    sources: dict[str, Source]
    guidelines: dict[str, Guideline]
    therapies: dict[str, Therapy]
    tests: dict[str, TestSpec]
    investigations: dict[str, Investigation]
    derived: list[DerivedFact]
    recommendations: list[Recommendation]
    alerts: list[Alert]
    prognosis: list[PrognosisTable]
    studies: list[Study] = field(default_factory=list)
    reproductions: list[Reproduction] = field(default_factory=list)
    topics: dict[str, Topic] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    conditions: dict[str, rules.Node] = field(default_factory=dict)
    drugs: dict[str, Drug] = field(default_factory=dict)
    countries: dict[str, Country] = field(default_factory=dict)
    code_maps: dict[str, CodeMap] = field(default_factory=dict)
    cds_suggestions: dict[str, CdsSuggestion] = field(default_factory=dict)
    rpl_definitions: dict[str, RplDefinition] = field(default_factory=dict)
    aps_criteria: dict[str, ApsCriteriaSet] = field(default_factory=dict)
    gestation_bands: dict[str, GestationBand] = field(default_factory=dict)
    gestation_limits: dict[str, GestationLimit] = field(default_factory=dict)

    @functools.cached_property
    def drug_names(self) -> dict[str, str]:
        """Every accepted spelling of a drug (lower case) -> therapy id; therapy ids map to themselves."""
        out = {t: t for t in self.therapies}
        for d in self.drugs.values():
            for n in d.names:
                out.setdefault(normal_name(n), d.therapy)
        return out

    def condition(self, key: str) -> rules.Node:
        return self.conditions[key]

    def workup_ids(self) -> list[str]:
        return list(self.tests) + list(self.investigations)


def _read_all(directory: Path) -> tuple[dict[str, list[tuple[str, Any]]], list[str], str, list[str]]:
    """Read every YAML file; return items per section (with their origin), problems, hash, file list."""
    items: dict[str, list[tuple[str, Any]]] = {k: [] for k in SECTIONS}
    problems: list[str] = []
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*.yaml"))
    for path in files:
        rel = path.relative_to(directory).as_posix()
        raw = path.read_bytes()
        digest.update(rel.encode() + b"\0" + raw + b"\0")
        try:
            doc = yaml.load(raw.decode("utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError as e:
            problems.append(f"{rel}: invalid YAML: {e}")
            continue
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.append(f"{rel}: expected a mapping of sections ({', '.join(SECTIONS)})")
            continue
        for section, entries in doc.items():
            if section not in SECTIONS:
                problems.append(f"{rel}: unknown section '{section}'")
                continue
            if not isinstance(entries, list):
                problems.append(f"{rel}: section '{section}' must be a list")
                continue
            for i, entry in enumerate(entries):
                items[section].append((f"{rel}:{section}[{i}]", entry))
    return items, problems, "sha256:" + digest.hexdigest(), [p.relative_to(directory).as_posix() for p in files]


def _validate(items: dict[str, list[tuple[str, Any]]], problems: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {k: {} for k in SECTIONS}
    for section, model in SECTIONS.items():
        for where, entry in items[section]:
            try:
                obj = model.model_validate(entry)
            except ValidationError as e:
                for err in e.errors():
                    loc = ".".join(str(p) for p in err["loc"])
                    problems.append(f"{where}.{loc}: {err['msg']}")
                continue
            key = obj.id
            if key in out[section]:
                problems.append(f"{where}: duplicate {section} id '{key}'")
            out[section][key] = (where, obj)
    return out


def check_references(kb: Knowledge, where: dict[str, str]) -> list[str]:
    """Every referenced fact, therapy, test, guideline and source must exist."""
    from rplnav.facts import catalogue_of

    problems: list[str] = []
    catalogue = catalogue_of(kb)

    def check_source(ref: SourceRef | None, at: str) -> None:
        if ref is None:
            problems.append(f"{at}: no source")
        elif ref.document not in kb.sources:
            problems.append(f"{at}: source document '{ref.document}' is not in sources.yaml")
        if ref is not None and ref.secondary is not None:
            if ref.secondary.document not in kb.sources:
                problems.append(f"{at}: secondary source '{ref.secondary.document}' is not in sources.yaml")
            elif ref.secondary.document == ref.document:
                problems.append(f"{at}: the secondary source must differ from the document it reports")

    def check_condition(spec: Any, at: str, key: str) -> None:
        try:
            node = rules.parse(spec, at)
        except rules.ConditionError as e:
            problems.append(str(e))
            return
        for name in sorted(node.fact_names()):
            if name not in catalogue:
                problems.append(f"{at}: unknown fact '{name}'")
        kb.conditions[key] = node

    for g in kb.guidelines.values():
        check_source(g.source, where[f"guidelines:{g.id}"])
        if g.supersedes and g.supersedes not in kb.guidelines:
            problems.append(f"{where[f'guidelines:{g.id}']}: supersedes unknown guideline '{g.supersedes}'")
        if g.definition_algorithm and g.definition_algorithm not in kb.rpl_definitions:
            problems.append(f"{where[f'guidelines:{g.id}']}: definition_algorithm '{g.definition_algorithm}' "
                            "is not in rpl-definitions.yaml")
        if g.covers is not None:
            check_source(g.covers.source, where[f"guidelines:{g.id}"] + ".covers")
            for tp in g.covers.topics:
                if tp not in kb.topics:
                    problems.append(f"{where[f'guidelines:{g.id}']}.covers: unknown topic '{tp}'")
    in_topic: set[str] = set()
    for tp in kb.topics.values():
        for x in tp.therapies:
            if x not in kb.therapies:
                problems.append(f"{where[f'topics:{tp.id}']}: unknown therapy '{x}'")
        for x in tp.tests:
            if x not in kb.tests and x not in kb.investigations:
                problems.append(f"{where[f'topics:{tp.id}']}: unknown test '{x}'")
        in_topic.update(tp.therapies, tp.tests)
    if kb.topics:
        for x in [*kb.therapies, *kb.tests, *kb.investigations]:
            if x not in in_topic:
                problems.append(f"topics: '{x}' belongs to no topic, so coverage cannot be told from silence")
    for t in kb.therapies.values():
        at = where[f"therapies:{t.id}"]
        check_source(t.source, at)
        for r in t.regimens:
            check_source(r.source, f"{at}.regimens")
        for w in t.timing:
            check_source(w.source, f"{at}.timing")
        for i, c in enumerate(t.cautions):
            check_source(c.source, f"{at}.cautions[{i}]")
            if c.when is not None:
                check_condition(c.when, f"{at}.cautions[{i}].when", f"caution:{t.id}:{i}")
        for r in t.regulatory:
            check_source(r.source, f"{at}.regulatory")
    for s in kb.tests.values():
        check_source(s.source, where[f"tests:{s.id}"])
        if s.positive:
            check_source(s.positive.source, where[f"tests:{s.id}"] + ".positive")
        if s.kind != "qualitative" and not s.units:
            problems.append(f"{where[f'tests:{s.id}']}: a {s.kind} test needs units")
        if s.unit and s.units and s.unit not in s.units:
            problems.append(f"{where[f'tests:{s.id}']}: canonical unit '{s.unit}' is not among its units")
    for s in kb.tests.values():
        for u in s.usual_limits:
            at = where[f"usual_limits:{u.id}"]
            for end in (u.lowest, u.highest):
                check_source(end.source, at)
            if s.kind == "qualitative":
                problems.append(f"{at}: {s.id} is a qualitative test; usual limits need a number")
            if (u.side == "lower") != (u.means == "lower_reference_limit"):
                problems.append(f"{at}: side '{u.side}' does not match '{u.means}'")
            if s.positive is not None and s.positive.research_cutoff:
                problems.append(f"{at}: {s.id} is read against a research cut-off; it has no usual range")
    for inv in kb.investigations.values():
        at = where[f"investigations:{inv.id}"]
        check_source(inv.source, at)
        check_condition(inv.done_when, f"{at}.done_when", f"investigation:{inv.id}")
        if inv.id in kb.tests:
            problems.append(f"{at}: id '{inv.id}' is also a lab test")
    for d in kb.derived:
        at = where[f"derived_facts:{d.id}"]
        check_source(d.source, at)
        check_condition(d.condition, f"{at}.condition", f"derived:{d.id}")
    for r in kb.recommendations:
        at = where[f"recommendations:{r.id}"]
        check_source(r.source, at)
        if r.guideline not in kb.guidelines:
            problems.append(f"{at}: unknown guideline '{r.guideline}'")
        if (r.therapy is None) == (r.test is None):
            problems.append(f"{at}: give exactly one of 'therapy' or 'test'")
        if r.therapy is not None and r.therapy not in kb.therapies:
            problems.append(f"{at}: unknown therapy '{r.therapy}'")
        if r.test is not None and r.test not in kb.tests and r.test not in kb.investigations:
            problems.append(f"{at}: unknown test '{r.test}'")
        check_condition(r.population, f"{at}.population", f"rec:{r.id}")
    for a in kb.alerts:
        at = where[f"alerts:{a.id}"]
        check_source(a.source, at)
        if a.therapy is not None and a.therapy not in kb.therapies:
            problems.append(f"{at}: unknown therapy '{a.therapy}'")
        # every alert speaks to a population: it shows only when she is in it and its trigger (if any) holds
        check_condition(a.population, f"{at}.population", f"alert-population:{a.id}")
        pop = kb.conditions.get(f"alert-population:{a.id}")
        if pop is not None and not pop.fact_names():
            problems.append(f"{at}.population: an alert needs a population condition over her facts")
        spec = a.population if a.trigger is None else {"all": [a.population, a.trigger]}
        check_condition(spec, f"{at}.trigger", f"alert:{a.id}")
    for st in kb.studies:
        at = where[f"studies:{st.id}"]
        check_source(st.source, at)
        if st.therapy not in kb.therapies:
            problems.append(f"{at}: unknown therapy '{st.therapy}'")
        if st.counts is None and st.estimate is None:
            problems.append(f"{at}: give arm counts or an estimate with its CI")
        if st.counts is not None and (st.counts.ai > st.counts.n1i or st.counts.ci > st.counts.n2i):
            problems.append(f"{at}: events exceed totals")
        if st.counts is not None and st.randomised is not None and (
            st.counts.n1i > st.randomised.n1i or st.counts.n2i > st.randomised.n2i
        ):
            problems.append(f"{at}: more women analysed than randomised")
        if st.estimate is not None and not st.estimate.ci_lower <= st.estimate.value <= st.estimate.ci_upper:
            problems.append(f"{at}: estimate lies outside its confidence interval")
        for inc in st.includes:
            if inc not in {x.id for x in kb.studies}:
                problems.append(f"{at}: includes unknown study '{inc}'")
        check_condition(st.enrolment, f"{at}.enrolment", f"study:{st.id}")
    seen: dict[str, str] = {t: t for t in kb.therapies}
    for d in kb.drugs.values():
        at = where[f"drugs:{d.id}"]
        check_source(d.source, at)
        if d.therapy not in kb.therapies:
            problems.append(f"{at}: unknown therapy '{d.therapy}'")
        for c in d.rxnorm:
            check_source(c.source, f"{at}.rxnorm[{c.code}]")
        for n in d.names:
            key = normal_name(n)
            if seen.get(key, d.therapy) != d.therapy:
                problems.append(f"{at}: name '{n}' already maps to '{seen[key]}'")
            seen.setdefault(key, d.therapy)
    codes: dict[str, str] = {}
    for d in kb.drugs.values():
        for c in d.rxnorm:
            if codes.get(c.code, d.therapy) != d.therapy:
                problems.append(f"{where[f'drugs:{d.id}']}: RxNorm {c.code} already maps to '{codes[c.code]}'")
            codes.setdefault(c.code, d.therapy)
    problems += _check_codes(kb, where, check_source)
    ids = {x.id: x for x in kb.studies}
    for rp in kb.reproductions:
        at = where[f"reproductions:{rp.id}"]
        check_source(rp.source, at)
        if rp.review not in kb.sources:
            problems.append(f"{at}: unknown review '{rp.review}'")
        if rp.therapy not in kb.therapies:
            problems.append(f"{at}: unknown therapy '{rp.therapy}'")
        for sid in rp.studies:
            st = ids.get(sid)
            if st is None:
                problems.append(f"{at}: unknown study '{sid}'")
            elif st.counts is None or st.design == "meta_analysis":
                problems.append(f"{at}: study '{sid}' has no arm counts to pool (or is itself a meta-analysis)")
            elif st.outcome != rp.outcome:
                problems.append(f"{at}: study '{sid}' reports {st.outcome}, the reproduction pools {rp.outcome}")
        if len(rp.studies) + len(rp.not_encoded) != rp.k_printed:
            problems.append(f"{at}: {len(rp.studies)} encoded + {len(rp.not_encoded)} not encoded trials "
                            f"!= k_printed {rp.k_printed}")
        if rp.not_encoded and not rp.discrepancy:
            problems.append(f"{at}: trials are missing (not_encoded), so a `discrepancy` must say so")
    for p in kb.prognosis:
        at = where[f"prognosis:{p.id}"]
        check_source(p.source, at)
        for c in p.context:
            check_source(c, f"{at}.context")
        check_condition(p.population_condition, f"{at}.population_condition", f"prognosis:{p.id}")
        for i, x in enumerate(p.exclusions):
            check_condition(x.when, f"{at}.exclusions[{i}].when", f"prognosis:{p.id}:exclusion:{i}")
    # and every other source reference, wherever it sits (the walk covers every section the loader reads)
    from rplnav.knowledge.refs import source_refs

    reported = {p.split(": ", 1)[-1] for p in problems}
    for site in source_refs(kb):
        for doc in (site.ref.document, site.ref.secondary.document if site.ref.secondary else None):
            msg = f"source document '{doc}' is not in sources.yaml"
            if doc is not None and doc not in kb.sources and msg not in reported:
                problems.append(f"{site.section}:{site.owner}.{site.path}: {msg}")
    return problems


def _check_codes(kb: Knowledge, where: dict[str, str], check_source: Any) -> list[str]:
    """Every code cited, each code meaning one thing per terminology, and `reads_as` naming a real target."""
    from rplnav.patient import CONDITION_IDS, LOSS_OUTCOMES, Findings

    problems: list[str] = []
    outcomes = set(LOSS_OUTCOMES) | {"ectopic", "molar", "live_birth", "termination"}
    meaning: dict[tuple[str, str], str] = {}

    def claim(system: str, code: str, what: str, at: str) -> None:
        prior = meaning.setdefault((system, code), what)
        if prior != what:
            problems.append(f"{at}: {system} {code} means both '{prior}' and '{what}'")

    for t in kb.tests.values():
        for c in t.loinc:
            check_source(c.source, f"{where[f'tests:{t.id}']}.loinc[{c.code}]")
            claim("loinc", c.code, f"test:{t.id}", where[f"tests:{t.id}"])
    for d in kb.drugs.values():
        for c in d.rxnorm:
            claim("rxnorm", c.code, f"therapy:{d.therapy}", where[f"drugs:{d.id}"])
    for m in kb.code_maps.values():
        at = where[f"code_maps:{m.id}"]
        kind, _, target = m.reads_as.partition(":")
        if kind == "outcome" and target not in outcomes:
            problems.append(f"{at}: unknown pregnancy outcome '{target}'")
        if kind == "result" and target not in {r for t in kb.tests.values() for r in t.results}:
            problems.append(f"{at}: no test has the result '{target}'")
        if kind == "condition" and target not in CONDITION_IDS:
            problems.append(f"{at}: unknown condition '{target}'")
        if kind == "finding" and target.split("=")[0] not in Findings.model_fields:
            problems.append(f"{at}: unknown findings field '{target.split('=')[0]}'")
        for c in m.codes:
            check_source(c.source, f"{at}[{c.code}]")
            claim(m.system, c.code, m.reads_as, at)
    for sg in kb.cds_suggestions.values():
        at = where[f"cds_suggestions:{sg.id}"]
        check_source(sg.source, at)
        if sg.therapy not in kb.therapies:
            problems.append(f"{at}: unknown therapy '{sg.therapy}'")
        for pr in sg.proposals:
            check_source(pr.source, f"{at}.proposals[{pr.therapy}]")
            if pr.start_source is not None:
                check_source(pr.start_source, f"{at}.proposals[{pr.therapy}].start_source")
            if meaning.get(("rxnorm", pr.rxnorm)) != f"therapy:{pr.therapy}":
                problems.append(f"{at}: RxNorm {pr.rxnorm} is not listed for therapy '{pr.therapy}' in drugs.yaml")
    return problems


def _with_limits(validated: dict[str, dict[str, Any]], problems: list[str]) -> dict[str, TestSpec]:
    """The tests, each carrying the usual limits (lab-limits.yaml) that name it."""
    tests: dict[str, TestSpec] = {k: v for k, (_, v) in validated["tests"].items()}
    per: dict[str, list[UsualLimits]] = {}
    for where, u in validated["usual_limits"].values():
        if u.test not in tests:
            problems.append(f"{where}: unknown test '{u.test}'")
            continue
        if any(x.side == u.side for x in per.get(u.test, [])):
            problems.append(f"{where}: a second '{u.side}' span for {u.test}")
            continue
        per.setdefault(u.test, []).append(u)
    for t, spans in per.items():
        tests[t] = tests[t].model_copy(update={"usual_limits": tuple(spans)})
    return tests


def load(directory: Path = KNOWLEDGE_DIR, strict: bool = True) -> tuple[Knowledge, list[str]]:
    """Load and check the base; with ``strict`` raise KnowledgeError on any problem."""
    items, problems, version, files = _read_all(directory)
    validated = _validate(items, problems)
    where = {f"{sec}:{key}": w for sec, entries in validated.items() for key, (w, _) in entries.items()}
    # recommendations and alerts are lists but keyed by id too
    kb = Knowledge(
        version=version,
        sources={k: v for k, (_, v) in validated["sources"].items()},
        guidelines={k: v for k, (_, v) in validated["guidelines"].items()},
        therapies={k: v for k, (_, v) in validated["therapies"].items()},
        tests=_with_limits(validated, problems),
        investigations={k: v for k, (_, v) in validated["investigations"].items()},
        derived=[v for _, v in validated["derived_facts"].values()],
        recommendations=[v for _, v in validated["recommendations"].values()],
        alerts=[v for _, v in validated["alerts"].values()],
        prognosis=[v for _, v in validated["prognosis"].values()],
        studies=[v for _, v in validated["studies"].values()],
        reproductions=[v for _, v in validated["reproductions"].values()],
        topics={k: v for k, (_, v) in validated["topics"].items()},
        files=files,
        drugs={k: v for k, (_, v) in validated["drugs"].items()},
        countries={k: v for k, (_, v) in validated["countries"].items()},
        code_maps={k: v for k, (_, v) in validated["code_maps"].items()},
        cds_suggestions={k: v for k, (_, v) in validated["cds_suggestions"].items()},
        rpl_definitions={k: v for k, (_, v) in validated["rpl_definitions"].items()},
        aps_criteria={k: v for k, (_, v) in validated["aps_criteria"].items()},
        gestation_bands={k: v for k, (_, v) in validated["gestation_bands"].items()},
        gestation_limits={k: v for k, (_, v) in validated["gestation_limits"].items()},
    )
    problems += check_references(kb, where)
    problems += _check_aps(kb)
    if strict and problems:
        raise KnowledgeError(problems)
    return kb, problems


GESTATION_LIMITS_READ = ("viability", "second_trimester_from", "third_trimester_from", "preeclampsia_from",
                         "window_closing_notice")


def _check_aps(kb: Knowledge) -> list[str]:
    """The APS rule sets hold every number, text and criterion the classifier reads, and gestation.yaml every
    limit the fact layer and the timing windows read."""
    from rplnav.criteria.aps import ApsRules

    problems = [f"gestation.yaml: gestation_limits lacks '{k}'" for k in GESTATION_LIMITS_READ
                if k not in kb.gestation_limits]
    try:
        ApsRules.from_sets(kb.aps_criteria)
    except ValueError as e:
        problems.append(f"aps-criteria.yaml: {e}")
    return problems


@functools.lru_cache(maxsize=4)
def default_knowledge() -> Knowledge:
    """The bundled knowledge base (cached: it is immutable for the life of the process; across processes the
    checked base is kept in a per-user cache keyed by its files' bytes, see rplnav.knowledge.cache)."""
    from rplnav.knowledge.cache import load_cached

    return load_cached(KNOWLEDGE_DIR)
