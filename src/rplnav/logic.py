"""Three-valued (Kleene) logic, the one implementation the whole engine uses.

A fact, a population condition or a classification criterion is true, false or undecided (``None``) when the
record cannot settle it. Undecided is never silently false: a :class:`Result` carries what would decide it —
the fact names a condition is waiting for (``rules.py``), or the concrete next steps a criterion is waiting for
("repeat lupus anticoagulant on or after …", criteria/aps.py).

Combinations follow Kleene's strong logic: AND is false as soon as one operand is false, OR is true as soon as
one is true, otherwise undecided with every operand's ``needs`` in order of first appearance, each once.
"""

from __future__ import annotations

from collections.abc import Iterable

Tri = bool | None
"""A three-valued truth value: True, False, or None (undecided)."""


class Result:
    """A three-valued verdict and, while undecided, what would decide it.

    Combinations keep references to their undecided operands and flatten ``needs`` only when it is read: most
    intermediate verdicts are never reported, so merging eagerly would cost more than deciding them.
    """

    __slots__ = ("value", "_own", "_parts", "_flat")

    def __init__(self, value: Tri, needs: tuple[str, ...] = (), parts: tuple[Result, ...] = ()):
        self.value = value
        self._own = needs
        self._parts = parts
        self._flat: tuple[str, ...] | None = None if parts else needs

    @property
    def needs(self) -> tuple[str, ...]:
        """What would decide an undecided verdict, in order of first appearance, each once."""
        if self._flat is None:
            out: dict[str, None] = dict.fromkeys(self._own)
            for x in self._parts:
                out.update(dict.fromkeys(x.needs))
            self._flat = tuple(out)
        return self._flat

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and self.value == other.value and self.needs == other.needs

    def __hash__(self) -> int:
        return hash((self.value, self.needs))

    def __repr__(self) -> str:
        return f"Result({self.value!r}, {self.needs!r})"


TRUE, FALSE = Result(True), Result(False)


def known(value: bool) -> Result:
    """A decided verdict (shared instances: verdicts are read-only)."""
    return TRUE if value else FALSE


def unknown(*needs: str) -> Result:
    """An undecided verdict waiting for ``needs``."""
    return Result(None, needs)


def of(value: Tri, need: str) -> Result:
    """A recorded yes/no/unknown flag: decided when recorded, else undecided waiting for ``need``."""
    return Result(None, (need,)) if value is None else known(value)


def all_of(xs: Iterable[Result]) -> Result:
    """Kleene AND: false if any is false (the rest are not looked at), true if all are true, else undecided."""
    undecided: list[Result] = []
    for x in xs:
        v = x.value
        if v is False:
            return FALSE
        if v is None:
            undecided.append(x)
    if not undecided:
        return TRUE
    if len(undecided) == 1:
        return undecided[0]
    return Result(None, (), tuple(undecided))


def any_of(xs: Iterable[Result]) -> Result:
    """Kleene OR: true if any is true (the rest are not looked at), false if all are false, else undecided."""
    undecided: list[Result] = []
    for x in xs:
        v = x.value
        if v is True:
            return TRUE
        if v is None:
            undecided.append(x)
    if not undecided:
        return FALSE
    if len(undecided) == 1:
        return undecided[0]
    return Result(None, (), tuple(undecided))


def not_(x: Result) -> Result:
    """Kleene NOT: undecided stays undecided, waiting for the same things."""
    if x.value is None:
        return x
    return FALSE if x.value else TRUE


def at_least(n: int, xs: Iterable[Result]) -> Result:
    """True if at least ``n`` are true, false if fewer than ``n`` could still be, else undecided."""
    xs = list(xs)
    sure = sum(x.value is True for x in xs)
    maybe = [x for x in xs if x.value is None]
    if sure >= n:
        return TRUE
    if sure + len(maybe) < n:
        return FALSE
    return Result(None, (), tuple(maybe))


def tri_all(values: Iterable[Tri]) -> Tri:
    """Kleene AND over bare truth values."""
    out: Tri = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def tri_any(values: Iterable[Tri]) -> Tri:
    """Kleene OR over bare truth values."""
    out: Tri = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out
