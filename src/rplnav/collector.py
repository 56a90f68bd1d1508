"""Paced garbage collection for a long-running engine (the web service, the benchmarks).

Why: a warm engine keeps about a million long-lived objects in its memo (rplnav.memo). CPython starts a
collection when allocations minus deallocations pass generation 0's threshold; once the memo is full every new
part evicts an old one, so that count hardly moves while the young generation fills, and the collection that
finally runs scans it all (on 12,000 generated patients one generation-0 collection found 1,045,843 young
objects and took 784 ms). Scanning the long-lived parts again and again buys nothing: refcounting frees them on
eviction (a full collection after 6,000 assessments found none unreachable).

So after each unit of work (one request, one assessment) the process collects what that unit left young, and
every ``MIDDLE_EVERY`` units it collects the middle generation too and moves the survivors out of the
collector's reach (``gc.freeze``): no later collection re-scans them. Objects that were alive at a freeze and
became cyclic garbage afterwards would stay, so every ``FULL_EVERY`` units everything is unfrozen and collected
once (1.1 s for the 1.6 million objects of a full memo). The interval is fixed because counting the frozen
objects, to collect only when they have grown, costs nearly as much as collecting them (190 ms). A unit must end before ``after_unit`` is called: what it still holds then
is frozen with the rest.

A library caller that never calls ``after_unit`` keeps CPython's collector as it is.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

# CPython's automatic collections stay on: inside one large unit (a PDF, a batch) they run as usual, and they
# only ever see what is not frozen. Generation 1 after 10 generation-0 collections, as CPython does.
GC_THRESHOLDS = (10_000, 10, 50)
MIDDLE_EVERY = 10
FULL_EVERY = 100_000


@dataclass
class Pacer:
    """Counts units of work and decides which collection follows each (see the module docstring)."""

    middle_every: int = MIDDLE_EVERY
    full_every: int = FULL_EVERY
    units: int = 0
    full_collections: int = 0

    def after_unit(self) -> None:
        self.units += 1
        if self.units % self.middle_every:
            gc.collect(0)
            return
        if self.units % self.full_every == 0:
            gc.unfreeze()
            gc.collect()
            self.full_collections += 1
        else:
            gc.collect(1)
        gc.freeze()


def pace_for_a_warm_engine() -> Pacer:
    """Set the thresholds above and return the pacer a long-running front end calls after each unit."""
    gc.set_threshold(*GC_THRESHOLDS)
    return Pacer()
