"""Loading, validating and cross-checking the knowledge base; the version hash."""

import shutil
import subprocess
import sys
from pathlib import Path

from rplnav.knowledge.load import KNOWLEDGE_DIR, load


def copy_kb(tmp_path: Path) -> Path:
    dst = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE_DIR, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst


def test_bundled_base_is_valid(kb):
    _, problems = load()
    assert problems == []
    assert kb.version.startswith("sha256:") and len(kb.version) == 71


def test_version_changes_with_content(tmp_path):
    d = copy_kb(tmp_path)
    v1 = load(d, strict=False)[0].version
    (d / "alerts.yaml").write_text((d / "alerts.yaml").read_text() + "\n# comment\n")
    assert load(d, strict=False)[0].version != v1


def test_cross_references_are_checked(tmp_path):
    d = copy_kb(tmp_path)
    (d / "recommendations" / "zz-broken.yaml").write_text(
        "recommendations:\n"
        "  - id: broken-1\n    guideline: NOPE-2020\n    therapy: unobtainium\n    stance: strong_for\n"
        "    strength: strong\n    certainty: high\n    population: 'losses.totl >= 2'\n"
        "    population_text: x\n    statement: x\n"
        "    source: {document: no-such-doc, locator: x, verified: false}\n"
        "  - id: broken-2\n    guideline: ESHRE-2022\n    test: tsh\n    stance: maybe\n    strength: s\n"
        "    certainty: high\n    population_text: x\n    statement: x\n"
        "    source: {document: eshre-2022, locator: x, verified: false}\n"
    )
    _, problems = load(d, strict=False)
    text = "\n".join(problems)
    assert "unknown guideline 'NOPE-2020'" in text
    assert "unknown therapy 'unobtainium'" in text
    assert "unknown fact 'losses.totl'" in text
    assert "source document 'no-such-doc'" in text
    assert "broken-2" not in text or "stance" in text  # invalid stance reported by the schema
    assert any("stance" in p for p in problems)


def test_unknown_keys_rejected(tmp_path):
    d = copy_kb(tmp_path)
    (d / "extra.yaml").write_text("alerts:\n  - {id: a1, level: info, text: t, trigger: true, colour: red,\n"
                                  "     source: {document: eshre-2022, locator: x, verified: false}}\n")
    _, problems = load(d, strict=False)
    assert any("colour" in p for p in problems)


def test_kb_check_cli_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "rplnav.cli", "kb", "check"], capture_output=True, text=True)
    assert ok.returncode == 0 and "knowledge base OK" in ok.stdout


def test_kb_check_cli_reports_problems_with_exit_1(tmp_path):
    d = copy_kb(tmp_path)
    (d / "alerts.yaml").write_text("alerts:\n  - {id: a1, level: info, text: t, trigger: 'no.such.fact == 1',\n"
                                   "     population: 'losses.total >= 2', population_text: RPL,\n"
                                   "     source: {document: eshre-2022, locator: x, verified: false}}\n")
    r = subprocess.run([sys.executable, "-m", "rplnav.cli", "kb", "check", "--dir", str(d)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "unknown fact 'no.such.fact'" in r.stderr and "Traceback" not in r.stderr
