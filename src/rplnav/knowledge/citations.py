"""Source ids cited outside the knowledge base's own references: in Python code and in YAML anywhere in the package.

`kb check` resolves each against sources.yaml, so a citation cannot point at a document the knowledge base does
not describe. In Python an id is recognised where code cites: the first argument of a function whose name says
it builds a source (`_src`, `cite`, `source`), a `document=` keyword, a `"document": ...` dict entry, a name
bound to such a string at module level, and any lower-case string ending in a year (`miyakis-2006`), except
the APS criteria block ids of the output contract. In YAML outside the knowledge folder (criteria, cards), every
value of a `document` key.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent.parent
YEAR_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*-(?:19|20)\d\d[a-z]?$")
# Keys of the assessment's `aps` block (CONTRACT §3): criteria set names, not documents.
NOT_SOURCES = frozenset({"sydney-2006", "acr-eular-2023"})
CITING_CALLS = ("src", "cite", "source")


@dataclass(frozen=True)
class Citation:
    file: str
    line: int
    source_id: str


def _call_name(node: ast.Call) -> str:
    f = node.func
    return (f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else "").lower()


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "text" (and NAME, OTHER = "a", "b") bindings."""
    out: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for t, v in pairs:
                if isinstance(t, ast.Name) and isinstance(v, ast.Constant) and isinstance(v.value, str):
                    out[t.id] = v.value
    return out


def _python(path: Path, rel: str) -> Iterator[Citation]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = _module_strings(tree)

    def value(node: ast.expr | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return names.get(node.id)
        return None

    seen: set[tuple[int, str]] = set()

    def emit(node: ast.AST, sid: str | None) -> Iterator[Citation]:
        if sid and sid not in NOT_SOURCES and (node.lineno, sid) not in seen:  # type: ignore[attr-defined]
            seen.add((node.lineno, sid))  # type: ignore[attr-defined]
            yield Citation(rel, node.lineno, sid)  # type: ignore[attr-defined]

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if any(w in _call_name(node) for w in CITING_CALLS) and node.args:
                yield from emit(node, value(node.args[0]))
            for kw in node.keywords:
                if kw.arg == "document":
                    yield from emit(node, value(kw.value))
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=False):
                if isinstance(k, ast.Constant) and k.value == "document":
                    yield from emit(node, value(v))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and YEAR_ID.match(node.value):
            yield from emit(node, node.value)


def _yaml_documents(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "document" and isinstance(v, str):
                yield v
            else:
                yield from _yaml_documents(v)
    elif isinstance(obj, list):
        for x in obj:
            yield from _yaml_documents(x)


def cited_sources(root: Path = PACKAGE_DIR) -> list[Citation]:
    """Every source id the package's Python files and YAML files cite (evidence maths included)."""
    out: list[Citation] = []
    for path in sorted(root.rglob("*.py")):
        out.extend(_python(path, path.relative_to(root).as_posix()))
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("knowledge/"):
            continue  # the knowledge base's own references are checked by its loader
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue  # the knowledge loader reports invalid YAML
        out.extend(Citation(rel, 0, sid) for sid in dict.fromkeys(_yaml_documents(doc)))
    return out


def unknown_citations(source_ids: set[str] | frozenset[str], root: Path = PACKAGE_DIR) -> list[str]:
    """Problems for every cited source id that sources.yaml does not hold."""
    return [f"{c.file}{f':{c.line}' if c.line else ''}: cites source '{c.source_id}', which is not in sources.yaml"
            for c in cited_sources(root) if c.source_id not in source_ids]
