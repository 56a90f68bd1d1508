"""Patient input (`rplnav.patient/v1`): parsing, unit normalisation and validation.

Clinical input is unforgiving of guesses, so the models are strict: unknown keys are rejected with the closest
known key suggested, numbers must be numbers, and every problem in a file is reported at once with its field
path. Implausible-but-possible combinations become warnings that travel with the assessment.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rplnav.gestation import format_ga, parse_gestational_age
from rplnav.inputdoc import MAX_BYTES, DocumentError, parse_document
from rplnav.knowledge.model import TestSpec, normal_name
from rplnav.partial_date import PartialDate
from rplnav.problems import problems_of

if TYPE_CHECKING:
    from rplnav.knowledge.load import Knowledge

SCHEMA = "rplnav.patient/v1"

Outcome = Literal[
    "miscarriage", "biochemical", "pul_resolved", "ectopic", "molar", "stillbirth", "live_birth", "termination"
]
Karyotype = Literal["euploid", "aneuploid", "unbalanced_structural", "unknown"]
Uterus = Literal[
    "normal", "septate", "subseptate", "bicornuate", "unicornuate", "didelphys", "arcuate", "submucosal_fibroid",
    "polyp", "adhesions", "adenomyosis", "unknown",
]
ParentalKaryotype = Literal["normal", "balanced_translocation", "inversion", "other_abnormal", "unknown"]
KaryotypeCarrier = Literal["female", "male", "both", "unknown"]
ConditionId = Literal[
    "sle", "rheumatoid_arthritis", "other_autoimmune", "hypothyroidism", "hyperthyroidism", "diabetes", "pcos",
    "hyperprolactinaemia", "iga_deficiency", "latent_tb", "thrombophilia_inherited", "renal_disease", "hypertension",
    # extensions to the contract's list: safety checks in the knowledge base depend on them
    "soy_or_egg_allergy", "heparin_induced_thrombocytopenia", "bleeding_disorder",
]
CONDITION_IDS: tuple[str, ...] = ConditionId.__args__  # type: ignore[attr-defined]
LOSS_OUTCOMES = frozenset({"miscarriage", "biochemical", "pul_resolved", "stillbirth"})
NON_VISUALISED = frozenset({"biochemical", "pul_resolved"})

# Bounds on what is physically possible in an input, not clinical thresholds.
AGE_MIN, AGE_MAX = 12, 65
MAX_PROBLEMS, MAX_PROBLEM = 100, 500  # problems listed, characters per problem


class InputError(Exception):
    """Invalid patient input: every problem, each naming its field path."""

    def __init__(self, problems: list[str]):
        # bounded whatever the input: a long list or an echoed value must not become a huge response or log row
        problems = [p if len(p) <= MAX_PROBLEM else p[:MAX_PROBLEM] + " …" for p in problems[:MAX_PROBLEMS]] + (
            [f"(document): {len(problems) - MAX_PROBLEMS} more problem(s) not listed"]
            if len(problems) > MAX_PROBLEMS else [])
        super().__init__("\n".join(problems))
        self.problems = problems
        self.items = problems_of(problems)  # the same problems as objects (path, message, hint)


class _Model(BaseModel):
    # allow_inf_nan=False: NaN and infinities are refused with the field's path (subclasses inherit it)
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _today() -> dt.date:
    return dt.date.today()


def _date(value: object) -> PartialDate:
    d = PartialDate.parse(value)
    if d.earliest > _today():
        raise ValueError(f"'{d.text}' is in the future")
    return d


def _ga(value: object) -> int:
    return parse_gestational_age(value)


class Current(_Model):
    gestational_age: int | None = Field(None, description="days")
    intrauterine_confirmed: bool | None = None
    fetal_heart_activity: bool | None = None
    bleeding: bool | None = None
    conception: Literal["natural", "ivf"] | None = None

    @field_validator("gestational_age", mode="before")
    @classmethod
    def _parse_ga(cls, v: object) -> int | None:
        return None if v is None else _ga(v)


class Pregnancy(_Model):
    outcome: Outcome
    gestational_age: int | None = Field(None, description="days")
    date: PartialDate | None = None
    fetal_heart_activity: bool | None = None
    poc_karyotype: Karyotype = "unknown"
    morphologically_normal: bool | None = None
    severe_preeclampsia: bool | None = None
    placental_insufficiency: bool | None = None
    conception: Literal["natural", "ivf"] | None = None
    treatments: list[str] = []
    partner: str | None = Field(None, description="pseudonymous partner label, when partners differ")

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True)

    @field_validator("gestational_age", mode="before")
    @classmethod
    def _parse_ga(cls, v: object) -> int | None:
        return None if v is None else _ga(v)

    @field_validator("date", mode="before")
    @classmethod
    def _parse_date(cls, v: object) -> PartialDate | None:
        return None if v is None else _date(v)

    @property
    def is_loss(self) -> bool:
        return self.outcome in LOSS_OUTCOMES


QUALITATIVE_LEVELS = ("low_positive", "moderate_positive", "high_positive")
# Qualitative readings every test accepts, whatever its own result list (CONTRACT: "any test may be reported
# qualitatively").
ANY_TEST_RESULTS = ("negative", "positive", *QUALITATIVE_LEVELS)
_CENSORED = re.compile(r"^\s*([<>]=?|[≤≥])\s*([0-9]+(?:\.[0-9]+)?)\s*$")
BoundSide = Literal["below", "at_or_below", "above", "at_or_above"]
BOUND_SIDES: dict[str, BoundSide] = {"<": "below", "<=": "at_or_below", "≤": "at_or_below", ">": "above",
                                     ">=": "at_or_above", "≥": "at_or_above"}
BOUND_SYMBOL = {"below": "<", "at_or_below": "<=", "above": ">", "at_or_above": ">="}


def parse_censored(text: str) -> tuple[BoundSide, float] | None:
    """``"<2"`` -> ("below", 2.0), ``">150"`` -> ("above", 150.0), ``"<=2"`` -> ("at_or_below", 2.0); None when
    the text is not a censored value."""
    m = _CENSORED.match(text)
    if m is None:
        return None
    return BOUND_SIDES[m.group(1)], float(m.group(2))


class Lab(_Model):
    """One result. A censored value (``value: "<2"``) is kept as its bound and direction (``bound``,
    ``bound_side``), never as a number: ``value`` stays empty, so nothing can read the bound as a result."""

    test: str
    result: str | None = None
    value: float | None = None
    bound: float | None = None
    bound_side: BoundSide | None = None
    unit: str | None = None
    reference_high: float | None = None
    reference_low: float | None = None
    cutoff_p99: float | None = None
    date: PartialDate | None = None
    note: str | None = None

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _censored(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("value"), str):
            parsed = parse_censored(data["value"])
            if parsed is None:
                raise ValueError(f"value '{data['value']}' is neither a number nor a censored value ('<x' or '>x')")
            if data.get("bound") is not None or data.get("bound_side") is not None:
                raise ValueError("give a censored value as value: '<x' or '>x' only")
            data = {**data, "value": None, "bound_side": parsed[0], "bound": parsed[1]}
        return data

    @field_validator("value", "reference_high", "reference_low", "cutoff_p99", "bound", mode="before")
    @classmethod
    def _number(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v

    @property
    def shown_value(self) -> str | None:
        """The value as the report gave it ("<2" for a censored one), in the canonical unit."""
        if self.value is not None:
            return f"{self.value:g}"
        if self.bound is not None:
            return f"{BOUND_SYMBOL[self.bound_side or 'below']}{self.bound:g}"
        return None

    @field_validator("date", mode="before")
    @classmethod
    def _parse_date(cls, v: object) -> PartialDate | None:
        return None if v is None else _date(v)


class Thrombosis(_Model):
    type: Literal["venous", "arterial", "small_vessel"]
    date: PartialDate | None = None
    high_risk_profile: bool | None = None
    superficial: bool = False

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True)

    @field_validator("date", mode="before")
    @classmethod
    def _parse_date(cls, v: object) -> PartialDate | None:
        return None if v is None else _date(v)


class Findings(_Model):
    uterus: Uterus | None = None
    chronic_endometritis: bool | None = None
    luteal_phase_insufficiency: bool | None = Field(
        None, description="luteal-phase insufficiency diagnosed (true) or excluded (false); omitted = not assessed")
    parental_karyotype: ParentalKaryotype | None = None
    parental_karyotype_carrier: KaryotypeCarrier | None = Field(
        None, description="which partner carries the abnormal karyotype (female = the patient, male = her partner)")
    thromboses: list[Thrombosis] | None = None
    thrombocytopenia_lowest: float | None = Field(None, description="lowest platelet count, x10^9/L")
    thrombocytopenia_date: PartialDate | None = None
    cardiac_valve: Literal["none", "thickening", "vegetation"] | None = None
    cardiac_valve_date: PartialDate | None = None
    microvascular: Literal["none", "suspected", "established"] | None = None
    microvascular_date: PartialDate | None = None

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True)

    @field_validator("thrombocytopenia_date", "cardiac_valve_date", "microvascular_date", mode="before")
    @classmethod
    def _parse_date(cls, v: object) -> PartialDate | None:
        return None if v is None else _date(v)

    @field_validator("thrombocytopenia_lowest", mode="before")
    @classmethod
    def _number(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v


class Lifestyle(_Model):
    smoking: bool | None = None
    bmi: float | None = Field(None, gt=10, lt=90)
    alcohol: bool | None = None
    caffeine_mg_per_day: float | None = Field(None, ge=0, le=3000)

    @field_validator("bmi", "caffeine_mg_per_day", mode="before")
    @classmethod
    def _number(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v


class Patient(_Model):
    schema_: Literal["rplnav.patient/v1"] = Field(alias="schema")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    age: int = Field(ge=AGE_MIN, le=AGE_MAX)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    current: Current | None = None
    pregnancies: list[Pregnancy] = []
    labs: list[Lab] = []
    findings: Findings = Findings()
    conditions: list[ConditionId] | None = None
    medications: list[str] | None = Field(
        None, description="current medications as therapy ids (names mapped); None = not documented, [] = none")
    lifestyle: Lifestyle = Lifestyle()
    assessed_on: PartialDate | None = Field(None, description="date of assessment; defaults to today")

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=True, arbitrary_types_allowed=True
    )

    @field_validator("assessed_on", mode="before")
    @classmethod
    def _parse_date(cls, v: object) -> PartialDate | None:
        return None if v is None else _date(v)

    @model_validator(mode="after")
    def _contradictions(self) -> Patient:
        problems: list[str] = []
        for i, p in enumerate(self.pregnancies):
            if p.outcome in NON_VISUALISED and p.fetal_heart_activity:
                problems.append(
                    f"pregnancies[{i}]: a {p.outcome} loss was never seen on scan, so fetal_heart_activity "
                    "cannot be true"
                )
        if self.current and self.current.fetal_heart_activity and self.current.intrauterine_confirmed is False:
            problems.append("current: fetal_heart_activity is true but intrauterine_confirmed is false")
        carrier, karyotype = self.findings.parental_karyotype_carrier, self.findings.parental_karyotype
        if carrier not in (None, "unknown") and karyotype in (None, "unknown", "normal"):
            problems.append(f"findings.parental_karyotype_carrier: '{carrier}' carries an abnormal karyotype, but "
                            f"findings.parental_karyotype is {karyotype or 'not given'}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def today(self) -> dt.date:
        return self.assessed_on.latest if self.assessed_on else _today()


class Parsed(BaseModel):
    """A validated patient with the warnings raised while reading it."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    patient: Patient
    warnings: list[str] = []


# ---------------------------------------------------------------- reading files

def load_document(text: str, name: str = "<input>") -> Any:
    """Parse YAML or JSON text within the input bounds (inputdoc.py); a syntax error names its line and column."""
    try:
        return parse_document(text, name)
    except DocumentError as e:
        raise InputError(e.problems) from None


def read_text(path: str) -> tuple[str, str]:
    """Read a file, or standard input for '-'. Returns (text, display name)."""
    import sys

    if path == "-":
        return sys.stdin.read(MAX_BYTES + 1), "<stdin>"
    p = Path(path)
    if not p.exists():
        raise InputError([f"{path}: no such file"])
    if p.is_dir():
        raise InputError([f"{path}: is a directory, expected a patient file"])
    if p.stat().st_size > MAX_BYTES:
        raise InputError([f"{path}: larger than {MAX_BYTES} bytes"])
    try:
        return p.read_text(encoding="utf-8"), path
    except UnicodeDecodeError:
        raise InputError([f"{path}: not UTF-8 text"]) from None


# ---------------------------------------------------------------- validation

def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


def _field_names(model: type[BaseModel]) -> list[str]:
    names = []
    for n, f in model.model_fields.items():
        names.append(f.alias or n)
    return names


_MODEL_AT: dict[str, type[BaseModel]] = {
    "": Patient, "current": Current, "pregnancies": Pregnancy, "labs": Lab, "findings": Findings,
    "findings.thromboses": Thrombosis, "lifestyle": Lifestyle,
}


def _model_for(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    key = ".".join(str(p) for p in loc if not isinstance(p, int))
    return _MODEL_AT.get(key)


def closest(word: str, options: list[str] | tuple[str, ...]) -> str:
    """' (did you mean 'x'?)' for the closest option, or ''."""
    m = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{m[0]}'?)" if m else ""


def _describe(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    typ = err["type"]
    inp = err.get("input")
    if typ == "extra_forbidden":
        parent = _model_for(loc[:-1])
        hint = closest(str(loc[-1]), _field_names(parent)) if parent else ""
        return f"{_path(loc)}: unknown key{hint}"
    if typ == "missing":
        return f"{_path(loc)}: required"
    if typ == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        hint = closest(str(inp), [s.strip().strip("'") for s in expected.replace(" or ", ", ").split(", ")])
        return f"{_path(loc)}: {inp!r} is not allowed{hint}; expected {expected}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif typ in {"int_type", "float_type", "bool_type", "string_type", "list_type", "dict_type", "model_type"}:
        msg = f"{inp!r} is not {msg.split('valid ')[-1] if 'valid' in msg else msg}"
    elif inp is not None and typ not in {"model_attributes_type"}:
        msg = f"{inp!r}: {msg}"
    return f"{_path(loc)}: {msg}"


FINDINGS_HINT = {
    "uterine_imaging": "findings.uterus",
    "parental_karyotype": "findings.parental_karyotype",
    "poc_genetics": "pregnancies[].poc_karyotype",
}


def _check_labs(raw_labs: list[Any], tests: dict[str, TestSpec]) -> tuple[list[str], list[dict[str, Any]]]:
    """Check test ids, results, units and ranges; return problems and labs normalised to canonical units."""
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], tuple[int, Any]] = {}
    for i, lab in enumerate(raw_labs):
        if not isinstance(lab, dict):
            out.append(lab)
            continue
        lab = dict(lab)
        test = lab.get("test")
        where = f"labs[{i}]"
        if not isinstance(test, str):
            out.append(lab)
            continue
        spec = tests.get(test)
        if spec is None and test in FINDINGS_HINT:
            problems.append(f"{where}.test: '{test}' is recorded under {FINDINGS_HINT[test]}, not as a lab result")
            out.append(lab)
            continue
        if spec is None:
            problems.append(f"{where}.test: '{test}' is not a known test id{closest(test, sorted(tests))}")
            out.append(lab)
            continue
        result, value, unit = lab.get("result"), lab.get("value"), lab.get("unit")
        day = lab.get("date")
        if isinstance(day, str) and len(day) == 10 and isinstance(result, str):
            prior = seen.get((test, day))
            if prior is not None and prior[1] != result:
                problems.append(f"{where}: {test} on {day} is '{result}' but labs[{prior[0]}] on the same day is "
                                f"'{prior[1]}'; give one result per test and day")
            seen.setdefault((test, day), (i, result))
        if result is None and value is None:
            problems.append(f"{where}: give 'result' (qualitative) or 'value' with 'unit' for {test}")
        for key in ("bound", "bound_side"):
            if key in lab:
                problems.append(f"{where}.{key}: not an input field; give a censored value as value: '<x' or '>x'")
        if result is not None:
            allowed = list(dict.fromkeys([*spec.results, *ANY_TEST_RESULTS]))
            if isinstance(result, str) and result not in allowed:
                problems.append(
                    f"{where}.result: '{result}' is not a result for {test}{closest(result, allowed)}; "
                    f"expected one of {', '.join(allowed)}"
                )
        censored = parse_censored(value) if isinstance(value, str) else None
        if isinstance(value, str) and censored is None:
            problems.append(f"{where}.value: '{value}' is neither a number nor a censored value ('<x' or '>x')")
        elif censored is not None and value is not None:
            if spec.kind == "qualitative":
                problems.append(f"{where}.value: {test} is reported as a result (e.g. positive/negative), not a number")
            elif unit is None:
                problems.append(f"{where}.unit: required with a value for {test}; expected {'/'.join(spec.units)}")
            elif not isinstance(unit, str) or unit not in spec.units:
                problems.append(
                    f"{where}.unit: '{unit}' is not a unit for {test}{closest(str(unit), list(spec.units))}; "
                    f"expected {' or '.join(spec.units)}"
                )
            else:
                side, bound = censored
                canonical = spec.to_canonical(bound, unit)
                if spec.min is not None and canonical < spec.min or spec.max is not None and canonical > spec.max:
                    problems.append(f"{where}.value: bound {value} {unit} is impossible for {test}")
                else:
                    lab["value"] = f"{BOUND_SYMBOL[side]}{canonical!r}"
                    problems += _limits_to_canonical(lab, spec, unit, where)
                    lab["unit"] = spec.unit
        elif value is not None:
            if spec.kind == "qualitative":
                problems.append(f"{where}.value: {test} is reported as a result (e.g. positive/negative), not a number")
            elif unit is None:
                problems.append(f"{where}.unit: required with a value for {test}; expected {'/'.join(spec.units)}")
            elif not isinstance(unit, str) or unit not in spec.units:
                problems.append(
                    f"{where}.unit: '{unit}' is not a unit for {test}{closest(str(unit), list(spec.units))}; "
                    f"expected {' or '.join(spec.units)}"
                )
            elif isinstance(value, int | float) and not isinstance(value, bool):
                canonical = spec.to_canonical(float(value), unit)
                if spec.min is not None and canonical < spec.min:
                    problems.append(f"{where}.value: {value} {unit} is impossible for {test} (below {spec.min} {spec.unit})")
                elif spec.max is not None and canonical > spec.max:
                    problems.append(f"{where}.value: {value} {unit} is impossible for {test} (above {spec.max} {spec.unit})")
                else:
                    lab["value"] = canonical
                    problems += _limits_to_canonical(lab, spec, unit, where)
                    lab["unit"] = spec.unit
        out.append(lab)
    return problems, out


def _drug_problem(where: str, name: object, names: Mapping[str, str], spellings: list[str]) -> str:
    if not isinstance(name, str) or not name.strip():
        return f"{where}: expected a drug name or therapy id, got {name!r}"
    close = difflib.get_close_matches(normal_name(name), list(names), n=3, cutoff=0.6)
    shown = {normal_name(s): s for s in spellings}
    hint = f" (did you mean {', '.join(repr(shown.get(c, c)) for c in close)}?)" if close else ""
    return f"{where}: '{name}' is not a known drug name or therapy id{hint}"


def _map_drugs(items: Any, where: str, names: Mapping[str, str], spellings: list[str],
               problems: list[str]) -> Any:
    """Drug and brand names -> therapy ids (case-insensitive), each once; unknown names are problems."""
    if not isinstance(items, list):
        return items
    out: list[str] = []
    for j, name in enumerate(items):
        tid = names.get(normal_name(name)) if isinstance(name, str) else None
        if tid is None:
            problems.append(_drug_problem(f"{where}[{j}]", name, names, spellings))
        elif tid not in out:
            out.append(tid)
    return out


def _check_drugs(data: dict[str, Any], kb: Knowledge) -> list[str]:
    """Map `pregnancies[].treatments` and `medications` through the knowledge base's drug-name table."""
    problems: list[str] = []
    names = kb.drug_names
    spellings = [n for d in kb.drugs.values() for n in d.names] + list(kb.therapies)
    pregs = data.get("pregnancies")
    if isinstance(pregs, list):
        data["pregnancies"] = [
            {**p, "treatments": _map_drugs(p["treatments"], f"pregnancies[{i}].treatments", names, spellings,
                                           problems)} if isinstance(p, dict) and "treatments" in p else p
            for i, p in enumerate(pregs)]
    if "medications" in data and data["medications"] is not None:
        data["medications"] = _map_drugs(data["medications"], "medications", names, spellings, problems)
    return problems


def _limits_to_canonical(lab: dict[str, Any], spec: TestSpec, unit: str, where: str) -> list[str]:
    """The laboratory's printed limits (``reference_high``, ``reference_low``, ``cutoff_p99``) in the test's
    canonical unit; a lower limit at or above the upper one is a transcription error."""
    problems = []
    for key in ("reference_high", "reference_low", "cutoff_p99"):
        ref = lab.get(key)
        if isinstance(ref, int | float) and not isinstance(ref, bool):
            if ref <= 0 and not (key == "reference_low" and ref == 0):
                problems.append(f"{where}.{key}: must be above 0")
            else:
                lab[key] = spec.to_canonical(float(ref), unit)
    lo, hi = lab.get("reference_low"), lab.get("reference_high")
    if isinstance(lo, float) and isinstance(hi, float) and lo >= hi:
        problems.append(f"{where}.reference_low: {lo:g} is not below reference_high ({hi:g})")
    return problems


def _check_country(data: dict[str, Any], kb: Knowledge) -> list[str]:
    """ISO 3166-1 alpha-2 only; a common non-code (UK) names the code it stands for."""
    c = data.get("country")
    if c is None or not isinstance(c, str):
        return []
    if c in kb.countries:
        return []
    data.pop("country")
    for code in kb.countries.values():
        if c.upper() in code.not_codes:
            return [f"country: '{c}' is not an ISO 3166-1 alpha-2 code; use '{code.id}'"]
    if c.upper() in kb.countries:
        return [f"country: '{c}' must be upper case: '{c.upper()}'"]
    return [f"country: '{c}' is not an ISO 3166-1 alpha-2 country code"]


def _warnings(p: Patient) -> list[str]:
    """Implausible but possible combinations: reported, never rejected."""
    w: list[str] = []
    for i, preg in enumerate(p.pregnancies):
        ga = preg.gestational_age
        if ga is None:
            continue
        if preg.outcome == "live_birth" and ga < 22 * 7:
            w.append(f"pregnancies[{i}]: a live birth at {format_ga(ga)} weeks is unusual; please check the gestational age")
        if preg.outcome == "miscarriage" and ga >= 24 * 7:
            w.append(f"pregnancies[{i}]: a miscarriage at {format_ga(ga)} weeks is usually recorded as a stillbirth")
        if preg.outcome == "stillbirth" and ga < 20 * 7:
            w.append(f"pregnancies[{i}]: a stillbirth at {format_ga(ga)} weeks is usually recorded as a miscarriage")
        if preg.outcome in NON_VISUALISED and ga > 10 * 7:
            w.append(f"pregnancies[{i}]: a {preg.outcome} loss at {format_ga(ga)} weeks is unusual; check the outcome")
    dated = [(i, preg.date) for i, preg in enumerate(p.pregnancies) if preg.date is not None]
    for (i, a), (j, b) in zip(dated, dated[1:], strict=False):
        if b.latest < a.earliest:
            w.append(f"pregnancies[{j}]: dated {b} but listed after pregnancies[{i}] ({a}); list pregnancies oldest first")
    if p.current and p.current.gestational_age is not None and p.current.gestational_age > 24 * 7:
        w.append("current.gestational_age: beyond 24 weeks; this tool's advice concerns early pregnancy")
    if p.current and p.current.fetal_heart_activity and p.current.gestational_age is not None \
            and p.current.gestational_age < 5 * 7:
        w.append("current: fetal heart activity before 5 weeks is unusual; check the gestational age")
    return w


def parse_patient(
    data: Any,
    tests: dict[str, TestSpec],
    therapy_ids: set[str],
    name: str = "<input>",
    kb: Knowledge | None = None,
) -> Parsed:
    """Validate a decoded document; raise InputError listing every problem.

    `kb` gives the drug-name and country tables (the bundled knowledge base when not given).
    """
    if kb is None:
        from rplnav.knowledge.load import default_knowledge

        kb = default_knowledge()
    if not isinstance(data, dict):
        raise InputError([f"{name}: expected a mapping with 'schema: {SCHEMA}' at the top level"])
    problems: list[str] = []
    if data.get("schema") != SCHEMA and "schema" in data:
        problems.append(f"schema: '{data.get('schema')}' is not supported; expected {SCHEMA}")
    data = dict(data)
    labs = data.get("labs")
    if isinstance(labs, list):
        lab_problems, data["labs"] = _check_labs(labs, tests)
        problems += lab_problems
    problems += _check_drugs(data, kb)
    problems += _check_country(data, kb)
    patient: Patient | None = None
    try:
        patient = Patient.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            msg = _describe(err)
            if not (msg.startswith("schema:") and any(p.startswith("schema:") for p in problems)):
                problems.append(msg)
    if problems or patient is None:
        raise InputError(sorted(set(problems), key=problems.index))
    return Parsed(patient=patient, warnings=_warnings(patient))


def read_patient(path: str, tests: dict[str, TestSpec], therapy_ids: set[str],
                 converter: Callable[[Any], Any] | None = None, kb: Knowledge | None = None) -> Parsed:
    """Read and validate a patient file ('-' for stdin)."""
    text, name = read_text(path)
    data = load_document(text, name)
    if converter is not None:
        data = converter(data)
    return parse_patient(data, tests, therapy_ids, name, kb=kb)
