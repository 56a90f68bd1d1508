"""One bounded memo for everything an engine reuses between patients.

Each part of an assessment (a statement's verdict, a therapy's stances or alerts, its timing, the evidence
summary for a pattern of trial verdicts, a work-up item, a pooled result) is a function of the values of the
facts its compiled conditions name; the key is the part's name plus those values, taken by a getter built from
the compiled knowledge base, so no list of facts is kept by hand. Least-recently-used entries are dropped
beyond ``maxsize`` (one bound for the whole engine, not one per cache). Values are shared between documents
and must be treated as read-only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

# Entries. Measured unbounded on the benchmark's generated patients: 46,000 after 1,000 patients, 76,000 after
# 2,000 (55,000 of them `variant` copies), still growing. A 10,000-patient run peaks at ~495 MB (whole process)
# with 50,000 and at ~1,350 MB with 200,000, for a p99 of 11.7 against 10.7 ms (one run each): the bound stays
# where memory is modest.
MAXSIZE = 50_000


class Memo:
    def __init__(self, maxsize: int = MAXSIZE):
        self.maxsize = maxsize
        self._d: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        d = self._d
        try:
            value = d[key]
        except KeyError:
            self.misses += 1
            value = d[key] = compute()
            if len(d) > self.maxsize:
                d.popitem(last=False)
            return value
        self.hits += 1
        d.move_to_end(key)
        return value

    def variant(self, base: dict[str, Any], field: str, value: Any, key: Hashable) -> dict[str, Any]:
        """``base`` with ``field`` set to ``value`` (``key`` its hashable form), as one object for the same base and
        key: a copy of a shared part that the finished document needs (an undecided stance's leaf needs, an
        ``assumes`` list) repeats across patients, and the typed-part cache (rplnav.assessment.PartCache),
        which knows a part by identity, then validates it once instead of once per assessment."""
        k = ("variant", id(base), field, key)
        d = self._d
        entry = d.get(k)
        if entry is not None:  # the entry keeps its base alive, so a live base with this id is that base
            self.hits += 1
            d.move_to_end(k)
            return entry[1]
        self.misses += 1
        new = {**base, field: value}
        d[k] = (base, new)
        if len(d) > self.maxsize:
            d.popitem(last=False)
        return new

    def __len__(self) -> int:
        return len(self._d)
