"""One bounded memo for everything an engine reuses between patients.

Each part of an assessment (a statement's verdict, a therapy's stances or alerts, its timing, the evidence
summary for a pattern of trial verdicts, a work-up item, a pooled result) is a function of the values of the
facts its compiled conditions name; the key is the part's name plus those values, taken by a getter built from
the compiled knowledge base, so no list of facts is kept by hand. Least-recently-used entries are dropped
beyond ``maxsize`` (one bound for the whole engine, not one per cache). Values are shared between documents
and must be treated as read-only.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

# Entries. Measured unbounded on the benchmark's generated patients: 46,000 after 1,000 patients, 76,000 after
# 2,000 (55,000 of them `variant` copies), still growing. A 10,000-patient run peaks at ~495 MB (whole process)
# with 50,000 and at ~1,350 MB with 200,000, for a p99 of 11.7 against 10.7 ms (one run each): the bound stays
# where memory is modest.
MAXSIZE = 50_000


# A warm engine holds up to a million long-lived objects in its memos. CPython starts a collection when
# allocations minus deallocations pass generation 0's threshold; once the memo is full, every new part evicts an
# old one, so the count hardly moves while the young generation fills with new parts: on 12,000 generated
# patients a generation-0 collection found 1,045,843 young objects and took 784 ms (generation 1, 600 ms). So a
# warm engine collects its young generation itself after each assessment (`after_assessment`): what the
# assessment left there is its own cyclic garbage, collected at once, and the memo parts it made, which survive
# into generation 1. Generation 1 and 2 are then never collected automatically (their thresholds are out of
# reach): they hold only parts that outlived their assessment, and refcounting frees those on eviction (a full
# collection after 4,000 such assessments found 0 unreachable objects). Measured on 10,000 generated patients,
# one run each: thresholds (10000, 10, 50) alone p99 13.5 ms, p99.9 65 ms, max 833 ms; with the young collection
# after each assessment p99 7.1 ms, p99.9 12.5 ms, max 23 ms (mean 5.33 -> 4.61 ms, the collections included).
# Long-running front ends (the web service, the benchmarks) call `tune_gc_for_a_warm_engine` once; a library
# caller keeps CPython's defaults and no collection is added.
GC_THRESHOLDS = (10_000, 2**31 - 1, 2**31 - 1)
_warm = False


def tune_gc_for_a_warm_engine() -> None:
    global _warm
    gc.set_threshold(*GC_THRESHOLDS)
    _warm = True


def after_assessment() -> None:
    """In a process tuned for a warm engine, collect the youngest generation (see GC_THRESHOLDS)."""
    if _warm:
        gc.collect(0)


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
