"""FHIR R4 <-> RPL Navigator.

In: a Bundle (Patient, Condition, Observation, MedicationRequest/MedicationStatement, Procedure) becomes a
`rplnav.patient/v1` document. Resources are read as plain JSON (only the fields used here are checked), so an
R4 payload from any EHR is accepted. Every resource, coding or value that is not understood is listed in
`FhirIntake.not_used` ("Observation/123, LOINC 1234-5: …"), which the assessment carries as `not_used`: nothing
is dropped silently.

Out: the assessment as a GuidanceResponse + RequestGroup (the CDS Hooks <-> Clinical Reasoning mapping:
card -> action, suggestion -> nested action, source -> relatedArtifact, indicator -> priority).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from rplnav.gestation import parse_gestational_age
from rplnav.interop import codes as C
from rplnav.knowledge.load import Knowledge, default_knowledge
from rplnav.knowledge.model import TestSpec, normal_name
from rplnav.patient import BOUND_SYMBOL, SCHEMA, parse_censored

PRIORITY = {"info": "routine", "warning": "urgent", "critical": "stat"}
_ID_OK = re.compile(r"[^A-Za-z0-9._-]")


def is_bundle(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("resourceType") == "Bundle"


def _ref(res: dict[str, Any]) -> str:
    return f"{res.get('resourceType', '?')}/{res.get('id', '?')}"


def _codings(cc: Any) -> list[dict[str, Any]]:
    if not isinstance(cc, dict):
        return []
    return [c for c in cc.get("coding") or [] if isinstance(c, dict)]


def _coding_label(c: dict[str, Any]) -> str:
    system = c.get("system", "")
    name = {C.LOINC: "LOINC", C.SNOMED: "SNOMED", C.RXNORM: "RxNorm"}.get(system)
    if name is None and system in C.ICD10:
        name = "ICD-10"
    if name is None:
        name = system or "no system"
    return f"{name} {c.get('code', '?')}"


def _codes_text(cc: Any) -> str:
    labels = [_coding_label(c) for c in _codings(cc)]
    if not labels and isinstance(cc, dict) and cc.get("text"):
        return f"text '{cc['text']}'"
    return ", ".join(labels) or "no code"


def _date(res: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = res.get(k)
        if isinstance(v, str) and re.match(r"^\d{4}(-\d{2}(-\d{2})?)?", v):
            return v[:10]
        if isinstance(v, dict):  # Period
            s = v.get("start") or v.get("end")
            if isinstance(s, str) and re.match(r"^\d{4}", s):
                return s[:10]
    return None


def _ga_value(holder: dict[str, Any]) -> Any:
    """A gestational age from valueString ('6+5') or valueQuantity in weeks or days (UCUM wk / d)."""
    if isinstance(holder.get("valueString"), str):
        return holder["valueString"]
    q = holder.get("valueQuantity")
    if isinstance(q, dict) and isinstance(q.get("value"), int | float) and not isinstance(q.get("value"), bool):
        unit = str(q.get("code") or q.get("unit") or "wk").lower().strip("{}")
        if unit in ("d", "day", "days"):
            return f"{int(q['value']) // 7}+{int(q['value']) % 7}"
        if unit in ("wk", "week", "weeks", "w"):
            return q["value"]
    return None


def _ga_from(res: dict[str, Any]) -> Any:
    for ext in res.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == C.EXT_GA:
            return _ga_value(ext)
    return None


def _references(res: dict[str, Any]) -> list[str]:
    """The resources an Observation points at (focus, partOf, derivedFrom, hasMember), as 'Type/id'."""
    out = []
    for key in ("focus", "partOf", "derivedFrom", "hasMember"):
        for ref in res.get(key) or []:
            if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
                out.append(ref["reference"].split("/_history")[0].removeprefix("#"))
    return out


def _note_text(res: dict[str, Any]) -> str | None:
    texts = [n["text"].strip() for n in res.get("note") or [] if isinstance(n, dict) and isinstance(n.get("text"), str)]
    return " / ".join(t for t in texts if t) or None


def _details(res: dict[str, Any]) -> dict[str, Any]:
    """Fields carried in the local detail extension: {field: value}."""
    out: dict[str, Any] = {}
    for ext in res.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == C.EXT_DETAIL:
            for sub in ext.get("extension") or []:
                if not isinstance(sub, dict) or not isinstance(sub.get("url"), str):
                    continue
                for k, v in sub.items():
                    if k.startswith("value"):
                        out[sub["url"]] = v
    return out


def _detail_ext(fields: dict[str, Any]) -> list[dict[str, Any]]:
    subs = []
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, bool):
            subs.append({"url": k, "valueBoolean": v})
        elif isinstance(v, int):
            subs.append({"url": k, "valueInteger": v})
        elif isinstance(v, float):
            subs.append({"url": k, "valueDecimal": v})
        else:
            subs.append({"url": k, "valueString": str(v)})
    return [{"url": C.EXT_DETAIL, "extension": subs}] if subs else []


# A referenceRange whose text says it is the 99th percentile (e.g. "99th percentile", "99th centile", "P99").
P99_TEXT = re.compile(r"\b(?:99(?:th)?\s*(?:percentile|centile)|p\s?99)\b", re.I)


class FhirIntake:
    """Converts one Bundle; `not_used` lists what was not understood or deliberately not taken."""

    def __init__(self, tests: dict[str, TestSpec], therapy_ids: set[str], today: dt.date | None = None,
                 kb: Knowledge | None = None):
        kb = kb or default_knowledge()
        self.tests = tests
        self.therapy_ids = therapy_ids
        self.today = today or dt.date.today()
        self.assessed_on = today
        self.converted = False
        self.codes = C.CodeTables.for_kb(kb)
        self.names = kb.drug_names
        self.loinc = self.codes.loinc_tests
        self.not_used: list[str] = []
        self.used: list[str] = []

    def skip(self, what: str, why: str) -> None:
        self.not_used.append(f"{what}: {why}")

    # ------------------------------------------------------------------ entry point
    def convert(self, bundle: Any) -> Any:
        """Bundle -> patient document (other documents are returned unchanged)."""
        if not is_bundle(bundle):
            return bundle
        self.not_used = []
        self.converted = True
        resources: list[dict[str, Any]] = []
        for i, e in enumerate(bundle.get("entry") or []):
            res = e.get("resource") if isinstance(e, dict) else None
            if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                self.skip(f"entry[{i}]", "no resource")
                continue
            resources.append(res)
        doc: dict[str, Any] = {"schema": SCHEMA}
        if self.assessed_on is not None:
            doc["assessed_on"] = self.assessed_on.isoformat()
        patients = [r for r in resources if r["resourceType"] == "Patient"]
        if not patients:
            doc["id"] = "fhir-" + (str(bundle.get("id") or "bundle"))
        for k, p in enumerate(patients):
            if k == 0:
                self._patient(p, doc)
            else:
                self.skip(_ref(p), "more than one Patient in the Bundle; the first one was used")
        pregnancies: list[tuple[str | None, int, dict[str, Any], str]] = []
        labs: list[dict[str, Any]] = []
        meds: list[tuple[str | None, str, str, str | None]] = []
        self._ga_obs: list[tuple[dict[str, Any], Any]] = []
        self._status_obs: list[tuple[str | None, str, str]] = []
        self._current_meds: list[str] = []
        conditions: list[str] = []
        findings: dict[str, Any] = {}
        thromboses: list[dict[str, Any]] = []
        handlers = {
            "Condition": lambda r: self._condition(r, pregnancies, conditions, findings, thromboses),
            "Observation": lambda r: self._observation(r, pregnancies, labs, doc, findings, thromboses),
            "MedicationRequest": lambda r: self._medication(r, meds),
            "MedicationStatement": lambda r: self._medication(r, meds),
            "Procedure": self._procedure,
        }
        for r in resources:
            if r["resourceType"] == "Patient":
                continue
            status = r.get("status")
            vstatus = [c.get("code") for c in _codings(r.get("verificationStatus"))]
            if status == "entered-in-error" or "entered-in-error" in vstatus or "refuted" in vstatus:
                self.skip(_ref(r), "entered in error or refuted")
                continue
            h = handlers.get(r["resourceType"])
            if h is None:
                self.skip(_ref(r), f"resource type {r['resourceType']} is not used")
                continue
            h(r)
        self._pregnancy_status(pregnancies, doc)
        self._link_gestational_ages(pregnancies, doc)
        pregnancies.sort(key=lambda p: (p[0] is None, p[0] or "", p[1]))  # (date, order, doc, ref)
        pregs = [p[2] for p in pregnancies]
        by_ref = {p[3]: p[2] for p in pregnancies}
        for date, therapy, ref, link in meds:
            target = by_ref.get(link) if link else self._pregnancy_for(date, pregs)
            if target is None:
                if ref not in self.used:  # an active medication is already read as a current one
                    self.skip(ref, f"{therapy} is not dated within a recorded pregnancy, so it is not counted "
                                   "as a treatment of a pregnancy")
            elif therapy not in target.setdefault("treatments", []):
                target["treatments"].append(therapy)
        if self._current_meds:
            doc["medications"] = list(dict.fromkeys(self._current_meds))
        if pregs:
            doc["pregnancies"] = pregs
        if labs:
            doc["labs"] = labs
        if conditions:
            doc["conditions"] = sorted(set(conditions))
        if thromboses or findings.pop("_no_thromboses", False):
            findings["thromboses"] = thromboses
        if findings.pop("_no_conditions", False) and not conditions:
            doc["conditions"] = []
        if findings.pop("_no_medications", False) and not self._current_meds:
            doc["medications"] = []
        lifestyle = findings.pop("_lifestyle", None)
        if lifestyle:
            doc["lifestyle"] = lifestyle
        if findings:
            doc["findings"] = findings
        return doc

    # ------------------------------------------------------------------ resources
    def _patient(self, p: dict[str, Any], doc: dict[str, Any]) -> None:
        pid = _ID_OK.sub("-", str(p.get("id") or "fhir-patient"))[:64] or "fhir-patient"
        doc["id"] = pid
        bd = p.get("birthDate")
        if isinstance(bd, str) and re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", bd):
            try:
                b = dt.date.fromisoformat(bd)
            except ValueError:  # 2024-02-30: named, and her age stays unknown
                self.skip(f"{_ref(p)} birthDate", f"'{bd}' is not a calendar date, so her age is unknown")
            else:
                t = self.today
                doc["age"] = t.year - b.year - ((t.month, t.day) < (b.month, b.day))
        elif isinstance(bd, str) and re.match(r"^[0-9]{4}(-[0-9]{2})?$", bd):
            y = int(bd[:4])
            m = int(bd[5:7]) if len(bd) >= 7 else 7
            doc["age"] = self.today.year - y - (1 if (self.today.month < m) else 0)
            self.skip(f"{_ref(p)} birthDate", f"'{bd}' is a partial date; the age is approximate")
        else:
            self.skip(_ref(p), "no birthDate, so her age is unknown")
        for a in p.get("address") or []:
            c = a.get("country") if isinstance(a, dict) else None
            if isinstance(c, str) and re.match(r"^[A-Z]{2}$", c):
                doc["country"] = c
                break
            if isinstance(c, str):
                self.skip(f"{_ref(p)} address.country", f"'{c}' is not an ISO 3166-1 alpha-2 code")

    def _outcome_code(self, cc: Any) -> str | None:
        for c in _codings(cc):
            if c.get("system") == C.SNOMED and c.get("code") in self.codes.snomed_outcomes:
                return self.codes.snomed_outcomes[c["code"]]
            if c.get("system") == C.LOCAL_OUTCOME and isinstance(c.get("code"), str):
                return c["code"]
        return None

    def _add_pregnancy(self, r: dict[str, Any], outcome: str, pregnancies: list[Any]) -> None:
        preg: dict[str, Any] = {"outcome": outcome}
        for k, v in _details(r).items():
            if k in ("fetal_heart_activity", "poc_karyotype", "morphologically_normal", "severe_preeclampsia",
                     "placental_insufficiency", "conception", "partner"):
                preg[k] = v
            else:
                self.skip(f"{_ref(r)} detail {k}", "not a pregnancy field")
        ga = _ga_from(r)
        for comp in r.get("component") or []:
            if ga is None and isinstance(comp, dict) and self._is_ga(comp.get("code")):
                ga = _ga_value(comp)
        if ga is not None:
            preg["gestational_age"] = ga
        date = _date(r, "onsetDateTime", "effectiveDateTime", "onsetPeriod", "effectivePeriod", "recordedDate")
        if date:
            preg["date"] = date
        pregnancies.append((date, len(pregnancies), preg, _ref(r)))
        self.used.append(_ref(r))

    def _condition(self, r: dict[str, Any], pregnancies: list[Any], conditions: list[str],
                   findings: dict[str, Any], thromboses: list[dict[str, Any]]) -> None:
        code = r.get("code")
        outcome = self._outcome_code(code)
        if outcome:
            self._add_pregnancy(r, outcome, pregnancies)
            return
        clinical = [c.get("code") for c in _codings(r.get("clinicalStatus"))]
        for c in _codings(code):
            system, value = c.get("system"), c.get("code")
            if system == C.LOCAL_CONDITION and isinstance(value, str):
                if clinical and clinical[0] in ("resolved", "inactive", "remission"):
                    self.skip(_ref(r), f"condition {value} is {clinical[0]}")
                else:
                    conditions.append(value)
                return
            if system == C.LOCAL_FINDING and isinstance(value, str):
                self._finding(value, r, findings, thromboses)
                return
            if system in C.ICD10 and value in self.codes.icd10:
                path, v = self.codes.icd10[value]
                if path == "conditions":
                    conditions.append(str(v))
                else:
                    findings[path.split(".", 1)[1]] = v
                return
            key = ("icd10", value) if system in C.ICD10 else (system, value)
            if key in self.codes.recomputed:
                self.skip(f"{_ref(r)}, {_coding_label(c)}", self.codes.recomputed[key])  # type: ignore[index]
                return
        self.skip(f"{_ref(r)}, {_codes_text(code)}", "condition code not recognised")

    def _finding(self, value: str, r: dict[str, Any], findings: dict[str, Any],
                 thromboses: list[dict[str, Any]]) -> None:
        key, _, v = value.partition("=")
        details = _details(r)
        if key == "lifestyle":
            findings.setdefault("_lifestyle", {}).update(details)
            self.used.append(_ref(r))
            return
        if value == "thromboses=none":
            findings["_no_thromboses"] = True
        elif value == "conditions=none":
            findings["_no_conditions"] = True
        elif value == "medications=none":
            findings["_no_medications"] = True
        elif key == "thrombosis" and v:
            t: dict[str, Any] = {"type": v, **{k: x for k, x in details.items()
                                               if k in ("high_risk_profile", "superficial")}}
            d = _date(r, "onsetDateTime", "effectiveDateTime", "recordedDate")
            if d:
                t["date"] = d
            thromboses.append(t)
        elif key in ("uterus", "parental_karyotype", "parental_karyotype_carrier", "cardiac_valve",
                     "microvascular") and v:
            findings[key] = v
        elif key == "thrombocytopenia_lowest" and isinstance(details.get("value"), int | float):
            findings[key] = details["value"]
        elif key == "chronic_endometritis" and v in ("true", "false"):
            findings[key] = v == "true"
        else:
            self.skip(f"{_ref(r)}, {C.LOCAL_FINDING} {value}", "finding code not recognised")
            return
        self.used.append(_ref(r))

    def _observation(self, r: dict[str, Any], pregnancies: list[Any], labs: list[dict[str, Any]],
                     doc: dict[str, Any], findings: dict[str, Any], thromboses: list[dict[str, Any]]) -> None:
        code = r.get("code")
        outcome = self._outcome_code(code)
        if outcome == "current":
            self._current(r, doc)
            return
        if outcome:
            self._add_pregnancy(r, outcome, pregnancies)
            return
        for c in _codings(code):
            if c.get("system") == C.LOCAL_FINDING and isinstance(c.get("code"), str):
                self._finding(c["code"], r, findings, thromboses)
                return
        if any(c.get("system") == C.LOINC and c.get("code") in self.codes.pregnancy_status for c in _codings(code)):
            vcc = r.get("valueCodeableConcept")
            status = next((self.codes.pregnancy_values[c["code"]] for c in _codings(vcc) if c.get("system") == C.SNOMED
                           and c.get("code") in self.codes.pregnancy_values), None)
            if status is None:
                self.skip(f"{_ref(r)}, {_codes_text(code)}", "pregnancy status value not recognised")
            else:
                self._status_obs.append((_date(r, "effectiveDateTime", "effectivePeriod", "issued"), status, _ref(r)))
            return
        if self._is_ga(code):
            value = _ga_value(r)
            if value is None:
                self.skip(f"{_ref(r)}, {_codes_text(code)}", "gestational age without a value in weeks or days")
            else:
                self._ga_obs.append((r, value))
            return
        test: str | None = None
        how = ""
        for c in _codings(code):
            if c.get("system") == C.LOINC and c.get("code") in self.loinc:
                test, how = self.loinc[c["code"]], f"LOINC {c['code']}"
                break
            if c.get("system") == C.LOCAL_TEST and c.get("code") in self.tests:
                test, how = c["code"], f"local test {c['code']}"
                break
        if test is None:
            known = [f"{_coding_label(c)} ({self.codes.unread[(c.get('system'), c.get('code'))]})" for c in _codings(code)
                     if (c.get("system"), c.get("code")) in self.codes.unread]
            why = (f"the code is in the knowledge base but not verified: {', '.join(known)}" if known else
                   "observation code not recognised (only checked codes and local test codes are read)")
            self.skip(f"{_ref(r)}, {_codes_text(code)}", why)
            return
        spec = self.tests[test]
        where = f"{_ref(r)}, {how}"
        lab: dict[str, Any] = {"test": test}
        date = _date(r, "effectiveDateTime", "effectivePeriod", "issued")
        if date:
            lab["date"] = date
        notes = [n for n in (_note_text(r),) if n]
        q = r.get("valueQuantity")
        if isinstance(q, dict) and isinstance(q.get("value"), int | float) and not isinstance(q.get("value"), bool):
            if spec.kind == "qualitative":
                result = self._qualitative(r, spec)
                if result is None:
                    self.skip(where, f"{test} is read as positive/negative; a number alone does not say which "
                                     "(give the laboratory's interpretation)")
                    return
                lab["result"] = result
            else:
                unit = self._unit(q, spec)
                if unit is None:
                    self.skip(where, f"unit '{q.get('unit') or q.get('code')}' is not understood for {test}")
                    return
                lab["value"], lab["unit"] = q["value"], unit
                if q.get("comparator") in ("<", "<=", ">", ">="):
                    lab["value"] = f"{q['comparator']}{q['value']:g}"  # censored: a bound, never a number
                self._reference_ranges(r, spec, unit, lab, where)
                flags = self._flags(r)
                if flags:
                    notes.insert(0, f"laboratory flag: {', '.join(flags)}")
        else:
            result = self._qualitative(r, spec)
            if result is None:
                self.skip(where, "no value or interpretation that could be read")
                return
            if spec.kind == "quantitative":  # the patient model takes this test as a number only
                self.skip(where, f"{test} needs a number with a unit; only '{result}' was given")
                return
            lab["result"] = result
        if notes:
            lab["note"] = "; ".join(notes)
        labs.append(lab)
        self.used.append(_ref(r))

    def _pregnancy_status(self, pregnancies: list[Any], doc: dict[str, Any]) -> None:
        """The latest pregnancy-status Observation: 'pregnant', with no outcome recorded since, is a current pregnancy."""
        if not self._status_obs:
            return
        dated = [s for s in self._status_obs if s[0]]
        for date, _, ref in self._status_obs:
            if not date:
                self.skip(ref, "pregnancy status without a date")
        if not dated:
            return
        date, status, ref = max(dated, key=lambda s: s[0])
        for _d, _, other in dated:
            if other != ref:
                self.skip(other, f"an earlier pregnancy status; the latest ({ref}, {date}) is used")
        if status != "pregnant" or "current" in doc:
            self.used.append(ref)
            return
        ended = [p[3] for p in pregnancies if p[0] and p[0] >= date]
        if ended:
            self.skip(ref, f"'pregnant' on {date}, but {', '.join(ended)} records an outcome on or after it; "
                           "no current pregnancy")
            return
        doc["current"] = {"_ref": ref, "_since": date}
        self.used.append(ref)

    def _is_ga(self, cc: Any) -> bool:
        return any(c.get("system") == C.LOINC and c.get("code") in self.codes.gestational_age for c in _codings(cc))

    def _link_gestational_ages(self, pregnancies: list[Any], doc: dict[str, Any]) -> None:
        """Gestational-age Observations join the pregnancy they point at (focus/partOf/...) or share a date with."""
        by_ref = {p[3]: p[2] for p in pregnancies}
        by_date: dict[str, list[dict[str, Any]]] = {}
        for p in pregnancies:
            if p[0]:
                by_date.setdefault(p[0], []).append(p[2])
        for r, value in self._ga_obs:
            linked = [by_ref[x] for x in _references(r) if x in by_ref]
            date = _date(r, "effectiveDateTime", "effectivePeriod", "issued")
            current = doc.get("current")
            if not linked and current is not None and (current.get("_ref") in _references(r)
                                                       or date == self.today.isoformat()
                                                       or (date and date >= current.get("_since", date)
                                                           and not by_date.get(date)
                                                           and all(p[0] and date > p[0] for p in pregnancies))):
                linked = [current]
            if not linked and date and len(by_date.get(date, [])) == 1:
                linked = by_date[date]
            if len(linked) != 1:
                self.skip(f"{_ref(r)}, gestational age", "not linked to one recorded pregnancy (by focus, partOf "
                                                          "or the same date), so it is not used")
                continue
            target = linked[0]
            if target.get("gestational_age") is not None and str(target["gestational_age"]) != str(value):
                self.skip(f"{_ref(r)}, gestational age", f"{value} differs from the {target['gestational_age']} "
                                                          "already recorded for that pregnancy; the first is kept")
                continue
            if target is current and date and date != self.today.isoformat():
                try:  # measured on an earlier day: she is that many days further on today
                    days = parse_gestational_age(value) + (self.today - dt.date.fromisoformat(date)).days
                    value = f"{days // 7}+{days % 7}"
                    parse_gestational_age(value)
                except ValueError:
                    self.skip(f"{_ref(r)}, gestational age", f"'{value}' on {date} could not be carried to today")
                    continue
            target["gestational_age"] = value
            self.used.append(_ref(r))
        if doc.get("current") is not None:
            doc["current"].pop("_ref", None)
            doc["current"].pop("_since", None)

    @staticmethod
    def _flags(r: dict[str, Any]) -> list[str]:
        """The laboratory's interpretation flags (H, L, N, POS ...), shown with the result, never interpreted."""
        names = {"H": "high", "HH": "critically high", "L": "low", "LL": "critically low", "N": "normal",
                 "A": "abnormal", "AA": "critically abnormal", "POS": "positive", "NEG": "negative"}
        out = []
        for interp in r.get("interpretation") or []:
            for c in _codings(interp):
                if c.get("system") == C.INTERPRETATION and isinstance(c.get("code"), str):
                    out.append(f"{c['code']} ({names.get(c['code'], c.get('display') or 'as coded')})")
        return out

    def _reference_ranges(self, r: dict[str, Any], spec: TestSpec, unit: str, lab: dict[str, Any],
                          where: str) -> None:
        """The laboratory's limits: the first range's low and high (its reference range), and a range whose
        text names the 99th percentile as Sydney 2006's ``cutoff_p99`` (never read from an ordinary range)."""
        taken = False
        for rr in r.get("referenceRange") or []:
            if not isinstance(rr, dict):
                continue
            p99 = P99_TEXT.search(str(rr.get("text") or ""))
            keys = (("high", "cutoff_p99"),) if p99 else (("low", "reference_low"), ("high", "reference_high"))
            if not p99 and taken:
                continue
            for side, key in keys:
                q = rr.get(side)
                if not (isinstance(q, dict) and isinstance(q.get("value"), int | float)):
                    continue
                if self._unit(q, spec) in (None, unit) or not (q.get("unit") or q.get("code")):
                    lab[key] = q["value"]
                else:
                    self.skip(f"{where} referenceRange", "reference range in a different unit")
            taken = taken or not p99

    def _qualitative(self, r: dict[str, Any], spec: TestSpec) -> str | None:
        words = {"positive": "positive", "detected": "positive", "present": "positive", "reactive": "positive",
                 "negative": "negative", "not detected": "negative", "absent": "negative",
                 "non-reactive": "negative", "nonreactive": "negative", "low positive": "low_positive",
                 "weakly positive": "low_positive", "weak positive": "low_positive",
                 "moderate positive": "moderate_positive", "high positive": "high_positive",
                 "strongly positive": "high_positive"}
        snomed = self.codes.snomed_results  # SNOMED CT qualifier values sent as valueCodeableConcept

        def pick(text: Any) -> str | None:
            if not isinstance(text, str):
                return None
            t = " ".join(text.strip().lower().replace("_", " ").split())
            if t.replace(" ", "_") in spec.results:
                return t.replace(" ", "_")
            w = words.get(t)
            return w if w in spec.results else None

        got = pick(r.get("valueString"))
        vcc = r.get("valueCodeableConcept")
        if got is None and isinstance(vcc, dict):
            for c in _codings(vcc):
                if c.get("system") == C.SNOMED and c.get("code") in snomed and snomed[c["code"]] in spec.results:
                    got = got or snomed[c["code"]]
                got = got or pick(c.get("display")) or (pick(c.get("code")) if c.get("system") != C.SNOMED else None)
            got = got or pick(vcc.get("text"))
        if got is None:
            for interp in r.get("interpretation") or []:
                for c in _codings(interp):
                    if c.get("system") == C.INTERPRETATION:
                        got = got or {"POS": pick("positive"), "NEG": pick("negative"), "DET": pick("positive"),
                                      "ND": pick("negative")}.get(str(c.get("code")))
        return got

    def _unit(self, q: dict[str, Any], spec: TestSpec) -> str | None:
        for u in (q.get("unit"), q.get("code")):
            if not isinstance(u, str):
                continue
            if u in spec.units:
                return u
            alias = C.UNIT_ALIASES.get(u)
            if alias in spec.units:
                return alias
        return None

    def _current(self, r: dict[str, Any], doc: dict[str, Any]) -> None:
        cur: dict[str, Any] = {}
        ga = _ga_from(r)
        if ga is None and isinstance(r.get("valueQuantity"), dict):
            ga = _ga_from({"extension": [{"url": C.EXT_GA, "valueQuantity": r["valueQuantity"]}]})
        if ga is not None:
            cur["gestational_age"] = ga
        for comp in r.get("component") or []:
            if isinstance(comp, dict) and self._is_ga(comp.get("code")):
                if cur.get("gestational_age") is None and _ga_value(comp) is not None:
                    cur["gestational_age"] = _ga_value(comp)
                continue
            for c in _codings(comp.get("code") if isinstance(comp, dict) else None):
                if c.get("system") != C.LOCAL_CURRENT:
                    self.skip(f"{_ref(r)} component {_coding_label(c)}", "not recognised")
                    continue
                k = c.get("code")
                if k in ("intrauterine_confirmed", "fetal_heart_activity", "bleeding") and \
                        isinstance(comp.get("valueBoolean"), bool):
                    cur[k] = comp["valueBoolean"]
                elif k == "conception" and isinstance(comp.get("valueString"), str):
                    cur[k] = comp["valueString"]
                else:
                    self.skip(f"{_ref(r)} component {k}", "value not recognised")
        doc["current"] = {**cur, "_ref": _ref(r)}
        self.used.append(_ref(r))

    def _medication(self, r: dict[str, Any], meds: list[tuple[str | None, str, str, str | None]]) -> None:
        therapy, how = therapy_of(r, self.therapy_ids, codes=self.codes, names=self.names, explain=True)
        cc = r.get("medicationCodeableConcept")
        what = _codes_text(cc) if cc else "medicationReference"
        if therapy is None:
            self.skip(f"{_ref(r)}, {what}", how or "medication not recognised (read by checked RxNorm code, local "
                                                   "therapy code or a drug/brand name in the synonym table)")
            return
        status = r.get("status")
        date = _date(r, "effectiveDateTime", "effectivePeriod", "authoredOn", "dateAsserted")
        link = None
        for ext in r.get("extension") or []:
            if isinstance(ext, dict) and ext.get("url") == C.EXT_PREGNANCY:
                link = (ext.get("valueReference") or {}).get("reference")
        if status in ("active", "intended", "on-hold") and link is None:
            self._current_meds.append(therapy)
            self.used.append(_ref(r))
            if date is None:
                return
        meds.append((date, therapy, _ref(r), link))

    def _procedure(self, r: dict[str, Any]) -> None:
        code = r.get("code")
        for c in _codings(code):
            key = (c.get("system"), c.get("code"))
            if key in self.codes.recomputed:
                self.skip(f"{_ref(r)}, {_coding_label(c)}", self.codes.recomputed[key])  # type: ignore[index]
                return
        self.skip(f"{_ref(r)}, {_codes_text(code)}", "procedure not used")

    @staticmethod
    def _pregnancy_for(date: str | None, pregs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The pregnancy whose span (end date minus its gestational age, to the end date) holds the date."""
        if date is None:
            return None
        try:
            d = dt.date.fromisoformat(date) if len(date) == 10 else dt.date(int(date[:4]), int(date[5:7] or 1), 1)
        except ValueError:
            return None
        for p in pregs:
            pd = p.get("date")
            if not isinstance(pd, str):
                continue
            try:
                end = dt.date.fromisoformat(pd) if len(pd) == 10 else dt.date(int(pd[:4]), int(pd[5:7] or 12), 28)
                days = parse_gestational_age(p["gestational_age"]) if "gestational_age" in p else 20 * 7
            except (ValueError, TypeError):
                continue
            if end - dt.timedelta(days=days + 28) <= d <= end:
                return p
        return None


_WORDS = re.compile(r"[^0-9a-z%/+.-]+")
_NAME_KEYS: dict[int, tuple[dict[str, str], list[tuple[str, str]]]] = {}


def _words(text: str) -> str:
    return " ".join(_WORDS.sub(" ", normal_name(text)).split())


def name_match(text: str, names: dict[str, str]) -> set[str]:
    """Therapy ids of the synonym-table names that occur as whole words in a medication's text."""
    hit = _NAME_KEYS.get(id(names))
    if hit is None or hit[0] is not names:  # the table is built once per knowledge base
        if len(_NAME_KEYS) > 8:
            _NAME_KEYS.clear()
        hit = _NAME_KEYS[id(names)] = (names, [(f" {k} ", tid) for n, tid in names.items() if (k := _words(n))])
    blob = f" {_words(text)} "
    return {tid for key, tid in hit[1] if key in blob}


def therapy_of(r: dict[str, Any], therapy_ids: set[str], by_name: bool = True, *,
               codes: C.CodeTables | None = None, names: dict[str, str] | None = None,
               explain: bool = False) -> Any:
    """The therapy id of a medication resource: checked RxNorm code, local code, or a drug/brand name.

    A name is matched only through the knowledge base's synonym table, as whole words in the coding displays and
    text (so an order coded by brand, 'Gammagard Liquid 10%', reads as IVIG); names of two different therapies
    in one resource are ambiguous and not read. With `explain`, returns (therapy, reason when None).
    """
    if codes is None or names is None:
        kb = default_knowledge()
        codes = codes or C.CodeTables.for_kb(kb)
        names = names or kb.drug_names
    cc = r.get("medicationCodeableConcept")
    why = None
    for c in _codings(cc):
        if c.get("system") == C.RXNORM and c.get("code") in codes.rxnorm and codes.rxnorm[c["code"]] in therapy_ids:
            return (codes.rxnorm[c["code"]], None) if explain else codes.rxnorm[c["code"]]
        if c.get("system") == C.LOCAL_THERAPY and c.get("code") in therapy_ids:
            return (c["code"], None) if explain else c["code"]
        if (c.get("system"), c.get("code")) in codes.unread:
            why = f"RxNorm {c.get('code')} is in the knowledge base but its code is not verified"
    found: set[str] = set()
    if by_name and isinstance(cc, dict):
        for t in [cc.get("text")] + [c.get("display") for c in _codings(cc)]:
            if isinstance(t, str):
                found |= name_match(t, names)
        found &= therapy_ids
        if len(found) > 1:
            why = f"names of more than one therapy ({', '.join(sorted(found))}); not read"
    tid = next(iter(found)) if len(found) == 1 else None
    return (tid, None if tid else why) if explain else tid


def patient_to_bundle(doc: dict[str, Any], today: dt.date | None = None) -> dict[str, Any]:
    """A patient document as a FHIR R4 Bundle (local codes where no verified standard code exists)."""
    today = today or dt.date.today()
    pid = str(doc.get("id", "patient"))
    kb = default_knowledge()
    names = kb.drug_names

    def snomed_for(outcome: str) -> list[Any]:
        return [c for m in kb.code_maps.values() if m.system == "snomed" and m.reads_as == f"outcome:{outcome}"
                for c in m.codes if C.readable(c)]

    def therapy_id(name: Any) -> Any:
        return names.get(normal_name(name), name) if isinstance(name, str) else name

    entries: list[dict[str, Any]] = []
    n = 0

    def add(res: dict[str, Any]) -> str:
        nonlocal n
        n += 1
        res.setdefault("id", f"r{n}")
        res["subject" if res["resourceType"] != "Patient" else "id"] = (
            {"reference": f"Patient/{pid}"} if res["resourceType"] != "Patient" else pid)
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": res})
        return f"{res['resourceType']}/{res['id']}"

    age = int(doc["age"])
    try:
        birth = today.replace(year=today.year - age) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        birth = dt.date(today.year - age, 2, 28)
    patient: dict[str, Any] = {"resourceType": "Patient", "birthDate": birth.isoformat(), "gender": "female"}
    if doc.get("country"):
        patient["address"] = [{"country": doc["country"]}]
    add(patient)

    def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
        c = {"system": system, "code": code}
        if display:
            c["display"] = display
        return {"coding": [c]}

    for i, p in enumerate(doc.get("pregnancies") or []):
        fields = {k: v for k, v in p.items() if k not in ("outcome", "gestational_age", "date", "treatments")}
        res: dict[str, Any] = {"id": f"preg{i + 1}", "extension": _detail_ext(fields)}
        if p.get("gestational_age") is not None:
            res["extension"].append({"url": C.EXT_GA, "valueString": str(p["gestational_age"])})
        if not res["extension"]:
            del res["extension"]
        if p["outcome"] == "miscarriage":
            standard = [{"system": C.SNOMED, "code": c.code, "display": c.display} for c in snomed_for("miscarriage")]
            res.update({"resourceType": "Condition", "code": {"coding": [
                *standard[:1], {"system": C.LOCAL_OUTCOME, "code": "miscarriage"}]}})
            if p.get("date"):
                res["onsetDateTime"] = str(p["date"])
        else:
            res.update({"resourceType": "Observation", "status": "final",
                        "code": cc(C.LOCAL_OUTCOME, p["outcome"])})
            if p.get("date"):
                res["effectiveDateTime"] = str(p["date"])
        ref = add(res)
        for t in p.get("treatments") or []:
            med: dict[str, Any] = {"resourceType": "MedicationRequest", "status": "completed", "intent": "order",
                                   "medicationCodeableConcept": cc(C.LOCAL_THERAPY, therapy_id(t)),
                                   "extension": [{"url": C.EXT_PREGNANCY, "valueReference": {"reference": ref}}]}
            add(med)
    for lab in doc.get("labs") or []:
        obs: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                               "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category",
                                               "laboratory")],
                               "code": cc(C.LOCAL_TEST, lab["test"])}
        if lab.get("date"):
            obs["effectiveDateTime"] = str(lab["date"])
        if lab.get("value") is not None:
            censored = parse_censored(lab["value"]) if isinstance(lab["value"], str) else None
            obs["valueQuantity"] = {"value": lab["value"], "unit": lab.get("unit")} if censored is None else \
                {"value": censored[1], "comparator": BOUND_SYMBOL[censored[0]], "unit": lab.get("unit")}
            ranges = []
            if lab.get("reference_high") is not None or lab.get("reference_low") is not None:
                rr: dict[str, Any] = {}
                for side, key in (("low", "reference_low"), ("high", "reference_high")):
                    if lab.get(key) is not None:
                        rr[side] = {"value": lab[key], "unit": lab.get("unit")}
                ranges.append(rr)
            if lab.get("cutoff_p99") is not None:
                ranges.append({"high": {"value": lab["cutoff_p99"], "unit": lab.get("unit")},
                               "text": "99th percentile"})
            if ranges:
                obs["referenceRange"] = ranges
        elif lab.get("result") is not None:
            obs["valueString"] = lab["result"]
        if lab.get("note"):
            obs["note"] = [{"text": str(lab["note"])}]
        add(obs)
    for t in doc.get("medications") or []:
        add({"resourceType": "MedicationStatement", "status": "active",
             "medicationCodeableConcept": cc(C.LOCAL_THERAPY, therapy_id(t))})
    if doc.get("medications") == []:
        add({"resourceType": "Condition", "code": cc(C.LOCAL_FINDING, "medications=none")})
    for c in doc.get("conditions") or []:
        add({"resourceType": "Condition", "code": cc(C.LOCAL_CONDITION, c)})
    if doc.get("conditions") == []:
        add({"resourceType": "Condition", "code": cc(C.LOCAL_FINDING, "conditions=none")})
    if (doc.get("findings") or {}).get("thromboses") == []:
        add({"resourceType": "Condition", "code": cc(C.LOCAL_FINDING, "thromboses=none")})
    f = doc.get("findings") or {}
    for key in ("uterus", "parental_karyotype", "parental_karyotype_carrier", "cardiac_valve", "microvascular"):
        if f.get(key) is not None:
            add({"resourceType": "Condition", "code": cc(C.LOCAL_FINDING, f"{key}={f[key]}")})
    if f.get("chronic_endometritis") is not None:
        add({"resourceType": "Condition",
             "code": cc(C.LOCAL_FINDING, f"chronic_endometritis={str(f['chronic_endometritis']).lower()}")})
    if f.get("thrombocytopenia_lowest") is not None:
        add({"resourceType": "Observation", "status": "final", "code": cc(C.LOCAL_FINDING, "thrombocytopenia_lowest"),
             "extension": _detail_ext({"value": float(f["thrombocytopenia_lowest"])})})
    for t in f.get("thromboses") or []:
        res = {"resourceType": "Condition", "code": cc(C.LOCAL_FINDING, f"thrombosis={t['type']}"),
               "extension": _detail_ext({k: v for k, v in t.items() if k in ("high_risk_profile", "superficial")})}
        if not res["extension"]:
            del res["extension"]
        if t.get("date"):
            res["onsetDateTime"] = str(t["date"])
        add(res)
    if doc.get("lifestyle"):
        add({"resourceType": "Observation", "status": "final", "code": cc(C.LOCAL_FINDING, "lifestyle"),
             "extension": _detail_ext(doc["lifestyle"])})
    cur = doc.get("current")
    if cur:
        obs = {"resourceType": "Observation", "status": "final", "code": cc(C.LOCAL_OUTCOME, "current"),
               "component": []}
        if cur.get("gestational_age") is not None:
            obs["extension"] = [{"url": C.EXT_GA, "valueString": str(cur["gestational_age"])}]
        for k in ("intrauterine_confirmed", "fetal_heart_activity", "bleeding"):
            if cur.get(k) is not None:
                obs["component"].append({"code": cc(C.LOCAL_CURRENT, k), "valueBoolean": cur[k]})
        if cur.get("conception"):
            obs["component"].append({"code": cc(C.LOCAL_CURRENT, "conception"), "valueString": cur["conception"]})
        if not obs["component"]:
            del obs["component"]
        add(obs)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# ---------------------------------------------------------------------- output
def guidance_response(assessment: dict[str, Any], cards: list[dict[str, Any]], *, module_uri: str,
                      request_id: str | None = None) -> dict[str, Any]:
    """The assessment as a FHIR R4 Bundle (collection) of GuidanceResponse + RequestGroup."""
    rid = request_id or str(uuid.uuid4())
    gr_id, rg_id = f"gr-{rid}"[:64], f"rg-{rid}"[:64]
    gr_full, rg_full = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    subject = {"reference": f"Patient/{assessment['patient_id']}"}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    contained: list[dict[str, Any]] = []
    actions = []
    for card in cards:
        action: dict[str, Any] = {
            "id": card.get("uuid"),
            "title": card["summary"],
            "priority": PRIORITY.get(card["indicator"], "routine"),
        }
        if card.get("detail"):
            action["description"] = card["detail"]
        src = card["source"]
        art: dict[str, Any] = {"type": "documentation", "display": src["label"]}
        if src.get("url"):
            art["url"] = src["url"]
        action["documentation"] = [art]
        if card.get("suggestions"):
            action["selectionBehavior"] = card.get("selectionBehavior", "at-most-one")
            sub = []
            for s in card["suggestions"]:
                inner = []
                for a in s.get("actions", []):
                    res = dict(a.get("resource") or {})
                    entry: dict[str, Any] = {"title": a.get("description", ""),
                                             "type": {"coding": [{
                                                 "system": "http://terminology.hl7.org/CodeSystem/action-type",
                                                 "code": a.get("type", "create")}]}}
                    if res:
                        res["id"] = res.get("id") or f"s{len(contained) + 1}"
                        contained.append(res)
                        entry["resource"] = {"reference": f"#{res['id']}"}
                    inner.append(entry)
                sub.append({"id": s.get("uuid"), "title": s["label"], "action": inner})
            action["action"] = sub
        actions.append({k: v for k, v in action.items() if v not in (None, "", [], {})})
    rg: dict[str, Any] = {
        "resourceType": "RequestGroup", "id": rg_id,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{rid}"}],
        "instantiatesUri": [module_uri], "status": "draft", "intent": "proposal", "subject": subject,
        "authoredOn": now,
    }
    if contained:
        rg["contained"] = contained
    if actions:
        rg["action"] = actions
    params: dict[str, Any] = {
        "resourceType": "Parameters", "id": "out",
        "parameter": [
            {"name": "knowledge_version", "valueString": assessment["knowledge_version"]},
            {"name": "tool_version", "valueString": str(assessment.get("tool_version", ""))},
            {"name": "assessed_on", "valueString": assessment.get("assessed_on", "")},
        ] + [{"name": "not_used", "valueString": s} for s in assessment.get("not_used", [])],
    }
    gr: dict[str, Any] = {
        "resourceType": "GuidanceResponse", "id": gr_id,
        "requestIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{rid}"},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}],
        "moduleUri": module_uri, "status": "success", "subject": subject, "occurrenceDateTime": now,
        "contained": [params], "outputParameters": {"reference": "#out"},
        "result": {"reference": rg_full},
        "note": [{"text": assessment.get("intended_use", "")}],
    }
    return {
        "resourceType": "Bundle", "type": "collection", "timestamp": now,
        "entry": [{"fullUrl": gr_full, "resource": gr}, {"fullUrl": rg_full, "resource": rg}],
    }
