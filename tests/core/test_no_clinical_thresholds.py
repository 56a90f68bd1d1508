"""No clinical threshold lives in the Python that decides clinical facts.

Gestational limits, titres, counts, windows and weights come from the knowledge base (aps-criteria.yaml,
rpl-definitions.yaml, gestation.yaml, lab-limits.yaml …). This scan reads every number literal in the modules
that turn a record into facts and decisions and fails on any that is not plainly arithmetic or bookkeeping:
0, 1, 2 and -1; 7 (and 6) converting weeks to days; sort ranks; memo bounds; and the named entries below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rplnav.knowledge.citations import PACKAGE_DIR

DECIDING = ("criteria/aps.py", "criteria/rpl_definitions.py", "facts.py", "labs.py", "assumptions.py", "rules.py",
            "assess.py", "plan.py", "gestation.py")
TRIVIAL = {0, 1, 2, -1}

# Named numbers that are not clinical, each with the reason.
NAMED_ALLOWED = {
    ("gestation.py", "MAX_WEEKS"): "input plausibility bound of the patient contract (a gestational age over 44 "
                                   "weeks is a typing error), not a clinical threshold",
    ("plan.py", "DECIDE_FIRST_MAX"): "how many items the plan lists (display)",
    ("plan.py", "WOULD_CHANGE_MAX"): "how many items the plan lists (display)",
}


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}


def _allowed(node: ast.Constant, parents: dict[int, ast.AST], rel: str) -> bool:
    v = node.value
    if v in TRIVIAL:
        return True
    parent = parents.get(id(node))
    if v in (6, 7) and isinstance(parent, ast.BinOp | ast.Compare) and rel in ("gestation.py",):
        return True  # weeks+days arithmetic
    if v == 7 and isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult | ast.Div | ast.FloorDiv | ast.Mod):
        return True  # days per week
    if isinstance(parent, ast.Dict) and any(x is node for x in parent.values):
        return True  # a rank in a sort-order table
    if isinstance(parent, ast.keyword) and parent.arg in ("maxsize", "ndigits"):
        return True
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.attr == "get":
        return True  # a default rank for unknown keys
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "round":
        return True  # rounding precision
    if isinstance(parent, ast.Compare) and isinstance(parent.left, ast.Call) and getattr(parent.left.func, "id", "") == "len":
        return True  # a memo bound
    if isinstance(parent, ast.Slice):
        return True  # how many items to show
    if isinstance(parent, ast.Assign) and any(
            isinstance(t, ast.Name) and (rel, t.id) in NAMED_ALLOWED for t in parent.targets):
        return True
    return False


def findings(root: Path = PACKAGE_DIR) -> list[str]:
    out = []
    for rel in DECIDING:
        path = root / rel
        if not path.exists():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = _parents(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float) and not _allowed(node, parents, rel):
                out.append(f"{rel}:{node.lineno}: the number {node.value!r} (a clinical threshold belongs in the "
                           "knowledge base, with its source)")
    return out


def test_no_clinical_threshold_in_the_deciding_code():
    assert findings() == []


@pytest.mark.parametrize("code", [
    "W10 = 10 * 7\n",                                   # a gestational limit
    "def f(p):\n    return p.value > 40.0\n",           # a titre
    "def f(n):\n    return n >= 3\n",                   # a count of losses
    "YEARS = 5\n",                                      # a window
])
def test_the_scan_finds_what_it_forbids(tmp_path, code):
    (tmp_path / "criteria").mkdir()
    (tmp_path / "criteria" / "aps.py").write_text(code)
    (problem,) = findings(tmp_path)
    assert problem.startswith("criteria/aps.py:")


def test_the_scan_lets_arithmetic_and_bookkeeping_pass(tmp_path):
    (tmp_path / "facts.py").write_text(
        "ORDER = {'a': 0, 'b': 3}\n"
        "def f(days, memo, xs):\n"
        "    if len(memo) > 4096:\n        memo.clear()\n"
        "    return days // 7, ORDER.get('c', 99), xs[:3]\n")
    assert findings(tmp_path) == []
