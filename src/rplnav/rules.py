"""The population-condition language: YAML -> AST -> three-valued (Kleene) evaluation.

A recommendation's population is written in the knowledge base as data, e.g.::

    all:
      - losses.total >= 4
      - aps.any_met == false
      - any: [lab.nk_cells_peripheral.positive == true, not: {fact: condition.sle, eq: true}]

Leaves are either strings ``"<fact> <op> <literal>"`` (ops: == != < <= > >= in, not in, is known,
is unknown) or mappings ``{fact: name, <op>: literal}`` (ops: eq ne lt le gt ge in not_in known).
Literals are parsed with YAML's safe loader (numbers, true/false, strings, [lists]) — nothing is ever
evaluated as code. A fact whose value is unknown (None) makes its comparison unknown; ``all``/``any``/``not``
follow Kleene's strong three-valued logic (rplnav.logic), so an undecided population reports the facts
(`needs`) that would decide it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from rplnav.logic import FALSE, TRUE, Result, all_of, any_of, not_


class ConditionError(ValueError):
    """A condition that does not follow the language."""


FactGetter = Callable[[Mapping[str, Any]], tuple[Any, ...]]


def fact_getter(names: tuple[str, ...]) -> FactGetter:
    """A function returning the values of the named facts as a tuple, at C speed: the memo key of anything
    (a condition's verdict, a block of the assessment) that depends on those facts only."""
    if not names:
        return lambda facts: ()
    if len(names) == 1:
        name = names[0]
        return lambda facts: (facts[name],)
    return operator.itemgetter(*names)


class Node:
    def evaluate(self, facts: Mapping[str, Any]) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError

    def fact_names(self) -> set[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_text(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Const(Node):
    value: bool

    def evaluate(self, facts: Mapping[str, Any]) -> Result:
        return _TRUE if self.value else _FALSE

    def fact_names(self) -> set[str]:
        return set()

    def to_text(self) -> str:
        return "everyone" if self.value else "no one"


_TRUE, _FALSE = TRUE, FALSE
_COMPARE = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "in": lambda v, lit: v in lit, "not_in": lambda v, lit: v not in lit,
}
_OPS = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "in": "in", "not in": "not_in"}
_SYMBOL = {v: k for k, v in _OPS.items()}


@dataclass(frozen=True)
class Compare(Node):
    fact: str
    op: str  # eq ne lt le gt ge in not_in known unknown
    literal: Any = None

    def evaluate(self, facts: Mapping[str, Any]) -> Result:
        v = facts[self.fact]  # an unknown fact *name* is a KeyError: `kb check` guarantees it never happens
        op = self.op
        if op == "known":
            return _TRUE if v is not None else _FALSE
        if op == "unknown":
            return _TRUE if v is None else _FALSE
        if v is None:
            return Result(None, (self.fact,))
        try:
            return _TRUE if _COMPARE[op](v, self.literal) else _FALSE
        except TypeError as e:
            raise ConditionError(f"cannot compare {self.fact}={v!r} with {self.literal!r}: {e}") from None

    def fact_names(self) -> set[str]:
        return {self.fact}

    def to_text(self) -> str:
        if self.op in ("known", "unknown"):
            return f"{self.fact} is {self.op}"
        lit = self.literal
        if isinstance(lit, bool):
            lit = str(lit).lower()
        return f"{self.fact} {_SYMBOL[self.op]} {lit}"


@dataclass(frozen=True)
class All(Node):
    items: tuple[Node, ...]

    def evaluate(self, facts: Mapping[str, Any]) -> Result:
        return all_of(item.evaluate(facts) for item in self.items)

    def fact_names(self) -> set[str]:
        return set().union(*(i.fact_names() for i in self.items)) if self.items else set()

    def to_text(self) -> str:
        return "(" + " and ".join(i.to_text() for i in self.items) + ")"


@dataclass(frozen=True)
class Any_(Node):
    items: tuple[Node, ...]

    def evaluate(self, facts: Mapping[str, Any]) -> Result:
        return any_of(item.evaluate(facts) for item in self.items)

    def fact_names(self) -> set[str]:
        return set().union(*(i.fact_names() for i in self.items)) if self.items else set()

    def to_text(self) -> str:
        return "(" + " or ".join(i.to_text() for i in self.items) + ")"


@dataclass(frozen=True)
class Not(Node):
    item: Node

    def evaluate(self, facts: Mapping[str, Any]) -> Result:
        return not_(self.item.evaluate(facts))

    def fact_names(self) -> set[str]:
        return self.item.fact_names()

    def to_text(self) -> str:
        return f"not {self.item.to_text()}"


_LEAF = re.compile(
    r"^\s*(?P<fact>[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*)\s*"
    r"(?:(?P<known>is\s+(?:known|unknown))|(?P<op>==|!=|<=|>=|<|>|not\s+in|in)\s*(?P<lit>.+?))\s*$"
)


def _literal(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConditionError(f"cannot read literal {text!r}: {e}") from None
    if isinstance(value, dict):
        raise ConditionError(f"literal {text!r} must be a number, true/false, a string or a [list]")
    return value


def _check_literal(op: str, lit: Any, where: str) -> Any:
    if op in ("in", "not_in"):
        if not isinstance(lit, list):
            raise ConditionError(f"{where}: '{op}' needs a [list]")
        return tuple(lit)
    if op in ("lt", "le", "gt", "ge") and (not isinstance(lit, int | float) or isinstance(lit, bool)):
        raise ConditionError(f"{where}: '{_SYMBOL[op]}' needs a number, got {lit!r}")
    return lit


def parse(spec: Any, where: str = "condition") -> Node:
    """Parse a condition written in YAML into an AST; raise ConditionError naming the place."""
    if spec is True or spec is None:
        return Const(True)
    if spec is False:
        return Const(False)
    if isinstance(spec, str):
        m = _LEAF.match(spec)
        if not m:
            raise ConditionError(f"{where}: cannot read {spec!r}; expected '<fact> <op> <value>'")
        if m.group("known"):
            return Compare(m.group("fact"), "unknown" if "unknown" in m.group("known") else "known")
        op = _OPS[re.sub(r"\s+", " ", m.group("op"))]
        return Compare(m.group("fact"), op, _check_literal(op, _literal(m.group("lit")), where))
    if isinstance(spec, list):
        return All(tuple(parse(s, f"{where}[{i}]") for i, s in enumerate(spec)))
    if isinstance(spec, dict):
        keys = set(spec)
        if keys == {"all"}:
            items = spec["all"]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{where}.all: needs a non-empty list")
            return All(tuple(parse(s, f"{where}.all[{i}]") for i, s in enumerate(items)))
        if keys == {"any"}:
            items = spec["any"]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{where}.any: needs a non-empty list")
            return Any_(tuple(parse(s, f"{where}.any[{i}]") for i, s in enumerate(items)))
        if keys == {"not"}:
            return Not(parse(spec["not"], f"{where}.not"))
        if "fact" in keys and len(keys) == 2:
            (op,) = keys - {"fact"}
            fact = spec["fact"]
            if not isinstance(fact, str):
                raise ConditionError(f"{where}.fact: must be a fact name")
            if op == "known":
                return Compare(fact, "known" if spec[op] else "unknown")
            if op not in _SYMBOL:
                raise ConditionError(f"{where}: unknown operator '{op}'; expected one of {', '.join(_SYMBOL)}, known")
            return Compare(fact, op, _check_literal(op, spec[op], where))
        raise ConditionError(f"{where}: expected all/any/not or {{fact: ..., <op>: ...}}, got keys {sorted(keys)}")
    raise ConditionError(f"{where}: cannot read {spec!r}")

