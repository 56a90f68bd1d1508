"""The one parser for input documents (CLI files, API bodies, web uploads, CDS Hooks requests), with bounds.

Every path that turns text into a document comes here, so the limits are the same everywhere:

- at most `MAX_BYTES` of UTF-8 text;
- YAML anchors and aliases are refused (a few hundred bytes of nested aliases expand to gigabytes: the
  "billion laughs" attack), as are duplicate keys in YAML and JSON (the last value would silently win);
- at most `MAX_DEPTH` levels of nesting, `MAX_NODES` values in all, `MAX_ITEMS` entries in one list or mapping,
  `MAX_STRING` characters in one string and `MAX_NUMBER` characters in one number;
- numbers are finite: NaN, Infinity and literals that overflow a float (1e400) are refused.

A violation raises `DocumentError` with one message naming where it is (a field path or a line and column).
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_ITEMS = 10_000
MAX_STRING = 100_000
MAX_NUMBER = 50


class DocumentError(ValueError):
    """The text is not an acceptable document; `problems` has one message, prefixed with the input's name."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Dups(dict):  # type: ignore[type-arg]
    """A JSON object that repeated a key: kept so the bounds walk can report it with its path."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    seen: set[str] = set()
    out = _Dups(d)
    out.duplicates = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return out


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER:
        raise ValueError(f"a number of {len(text)} characters (at most {MAX_NUMBER})")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER:
        raise ValueError(f"a number of {len(text)} characters (at most {MAX_NUMBER})")
    f = float(text)
    if not math.isfinite(f):
        raise ValueError(f"'{text}' is not a finite number")
    return f


def _constant(text: str) -> Any:
    raise ValueError(f"'{text}' is not a finite number")


def _json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object, parse_int=_int, parse_float=_float,
                          parse_constant=_constant)
    except json.JSONDecodeError as e:
        raise DocumentError([f"line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}"]) from None
    except RecursionError:
        raise DocumentError([f"nested deeper than {MAX_DEPTH} levels"]) from None
    except ValueError as e:
        raise DocumentError([f"invalid JSON: {e}"]) from None


class _Loader(yaml.SafeLoader):
    """SafeLoader without anchors, aliases or duplicate keys, with bounded depth; dates stay text (so
    YYYY-MM and YYYY-MM-DD are read the same way); numbers finite and short."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.MarkedYAMLError(problem="YAML anchors and aliases are not accepted",
                                       problem_mark=event.start_mark)
        if isinstance(event, CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_DEPTH} levels",
                                           problem_mark=event.start_mark)
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        if isinstance(event, ScalarEvent) and len(event.value) > MAX_STRING:
            raise yaml.MarkedYAMLError(problem=f"a value of {len(event.value)} characters (at most {MAX_STRING})",
                                       problem_mark=event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            if key in seen:
                raise yaml.MarkedYAMLError(problem=f"duplicate key '{key}'", problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: Any) -> int:
        self._short(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Any) -> float:
        self._short(node)
        f = super().construct_yaml_float(node)
        if not math.isfinite(f):
            raise yaml.MarkedYAMLError(problem=f"'{node.value}' is not a finite number", problem_mark=node.start_mark)
        return f

    @staticmethod
    def _short(node: Any) -> None:
        if len(node.value) > MAX_NUMBER:
            raise yaml.MarkedYAMLError(problem=f"a number of {len(node.value)} characters (at most {MAX_NUMBER})",
                                       problem_mark=node.start_mark)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DocumentError([f"{where}invalid YAML: {e.problem or e}"]) from None
    except yaml.YAMLError as e:  # other YAML errors carry no mark
        raise DocumentError([f"invalid YAML: {e}"]) from None
    except RecursionError:
        raise DocumentError([f"nested deeper than {MAX_DEPTH} levels"]) from None


def _at(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def check_bounds(doc: Any) -> None:
    """Walk a decoded document (iteratively) and raise ValueError at the first value outside the bounds.

    A node's path is written only when a message needs it (from the chain of its parents): building every path
    cost about as much as the rest of the walk on a CDS hook request."""
    nodes = 0
    stack: list[tuple[Any, Any, Any, int]] = [(doc, None, None, 0)]  # (value, parent entry, key, depth)
    while stack:
        entry = stack.pop()
        obj, _, _, depth = entry
        nodes += 1
        if nodes > MAX_NODES:
            raise ValueError(f"more than {MAX_NODES} values in the document")
        if isinstance(obj, dict | list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"{_where(entry)}: nested deeper than {MAX_DEPTH} levels")
            if len(obj) > MAX_ITEMS:
                raise ValueError(f"{_where(entry)}: {len(obj)} entries (at most {MAX_ITEMS})")
            if isinstance(obj, _Dups):
                raise ValueError(f"{_at(_path(entry), obj.duplicates[0])}: duplicate key")
            items = obj.items() if isinstance(obj, dict) else enumerate(obj)
            below = depth + 1
            for k, v in items:
                if isinstance(k, str) and len(k) > MAX_STRING:
                    raise ValueError(f"{_where(entry)}: a key of {len(k)} characters (at most {MAX_STRING})")
                stack.append((v, entry, k, below))
        elif isinstance(obj, str) and len(obj) > MAX_STRING:
            raise ValueError(f"{_where(entry)}: a value of {len(obj)} characters (at most {MAX_STRING})")
        elif isinstance(obj, float) and not math.isfinite(obj):
            raise ValueError(f"{_where(entry)}: {obj} is not a finite number")


def _path(entry: tuple[Any, Any, Any, int]) -> str:
    """The path of a walked node ("" for the document itself), e.g. ``labs[2].value``."""
    keys = []
    while entry[1] is not None:
        keys.append(entry[2])
        entry = entry[1]
    path = ""
    for k in reversed(keys):
        path = _at(path, k)
    return path


def _where(entry: tuple[Any, Any, Any, int]) -> str:
    return _path(entry) or "(document)"


def parse_document(text: str, name: str = "<input>", syntax: str = "auto") -> Any:
    """YAML or JSON text -> a document within the bounds; `syntax` is "json", "yaml" or "auto" (JSON when the
    text starts with '{' or '['). Messages start with `name: ` unless `name` is empty."""
    prefix = f"{name}: " if name else ""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise DocumentError([f"{prefix}larger than {MAX_BYTES} bytes"])
    if syntax == "auto":
        syntax = "json" if text.lstrip()[:1] in ("{", "[") else "yaml"
    try:
        doc = _json(text) if syntax == "json" else _yaml(text)
        check_bounds(doc)
    except DocumentError as e:
        raise DocumentError([prefix + p for p in e.problems]) from None
    except ValueError as e:
        raise DocumentError([prefix + str(e)]) from None
    return doc
