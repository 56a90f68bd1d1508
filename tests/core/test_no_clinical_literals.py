"""Clinical content is data: no dose, drug or test code, or card wording naming a drug lives in a .py file.

Scans every string constant (docstrings excepted) of the Python files under src/rplnav, the evidence maths
excepted, and checks that every source id the code or non-knowledge YAML cites is in sources.yaml.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rplnav.knowledge.citations import PACKAGE_DIR, cited_sources, unknown_citations

DOSE = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:mg|mcg|µg|ug|IU|mL|g/kg|mg/kg|mmol)\b", re.I)
LOINC = re.compile(r"(?<![\d.-])\d{3,6}-\d(?![\d-])")
NUMERIC_CODE = re.compile(r"^\d{4,18}$")     # RxNorm RxCUI / SNOMED CT concept id
NOT_LOINC = ("ISO 3166-1",)

# Prose that names a drug but is not card or report wording: each with the reason it may stay in code.
PROSE_ALLOWED = {
    ("cli.py", "therapy id, e.g. ivig"): "command-line help text naming an id",
    ("facts.py", "a pregnancy lost while taking aspirin and heparin/LMWH"): "fact-catalogue description of an id",
    ("knowledge/model.py", "how the card names it, e.g. 'low-dose aspirin'"): "schema field description",
    ("service/cds.py", "Warns when a selected medication"): "CDS Hooks service description (discovery)",
}


def _python_files() -> list[Path]:
    return [p for p in sorted(PACKAGE_DIR.rglob("*.py")) if "evidence" not in p.relative_to(PACKAGE_DIR).parts]


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def _drug_names(kb) -> re.Pattern[str]:
    names = {n.lower() for d in kb.drugs.values() for n in d.names if len(n) >= 4} | {"lmwh", "ivig"}
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9_])(?:{alternation})(?![a-z0-9_])", re.I)


def findings(kb) -> list[str]:
    drug = _drug_names(kb)
    out = []
    for path in _python_files():
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        for line, s in _strings(path):
            plain = s
            for ok in NOT_LOINC:
                plain = plain.replace(ok, "")
            where = f"{rel}:{line}: {s[:70]!r}"
            if DOSE.search(s):
                out.append(f"{where}: a dose")
            if LOINC.search(plain) or NUMERIC_CODE.match(s.strip()):
                out.append(f"{where}: a code")
            if " " in s.strip() and drug.search(s) and not any(
                    rel == f and s.startswith(snippet) for f, snippet in PROSE_ALLOWED):
                out.append(f"{where}: wording that names a drug")
    return out


def test_no_dose_code_or_drug_wording_in_python(kb):
    assert findings(kb) == []


def test_the_scan_finds_what_it_forbids(kb, monkeypatch, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('PROPOSAL = {"code": "243670", "dosage": "81 mg by mouth once daily"}\n'
                   'TSH = "3016-3"\nCARD = "Obstetric APS: low-dose aspirin + prophylactic LMWH"\n')
    monkeypatch.setattr("tests.core.test_no_clinical_literals.PACKAGE_DIR", tmp_path)
    found = findings(kb)
    assert sum("a dose" in f for f in found) == 1
    assert sum("a code" in f for f in found) == 2
    assert sum("names a drug" in f for f in found) == 1


def test_every_source_cited_from_code_exists(kb):
    assert unknown_citations(set(kb.sources)) == []
    # the criteria cite their papers from aps-criteria.yaml and rpl-definitions.yaml, not from code
    assert not [c for c in cited_sources() if c.file.startswith("criteria/") and c.file.endswith(".py")]
    assert kb.aps_criteria["sydney-2006"].source.document in kb.sources


@pytest.mark.parametrize("code", [
    'def _src(document, locator):\n    return {}\nX = _src("nowhere-2020", "p. 1")\n',
    'REF = {"document": "no-such-source", "locator": "x"}\n',
    'MIY = "miyakis-2066"\n',
])
def test_kb_check_rejects_an_unknown_source_cited_from_code(kb, tmp_path, code):
    (tmp_path / "mod.py").write_text(code)
    (problem,) = unknown_citations(set(kb.sources), root=tmp_path)
    assert problem.startswith("mod.py:") and "not in sources.yaml" in problem


def test_kb_check_reads_criteria_yaml_citations(kb, tmp_path):
    (tmp_path / "criteria").mkdir()
    (tmp_path / "criteria" / "x.yaml").write_text("rules:\n  - {id: a, source: {document: made-up-1999, locator: t}}\n")
    (problem,) = unknown_citations(set(kb.sources), root=tmp_path)
    assert "criteria/x.yaml" in problem and "made-up-1999" in problem
