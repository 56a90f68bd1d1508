"""Meta-analysis engine: effect sizes, pooling (IV, MH, Peto, RE with tau^2 estimators), profiles
reproducing metafor / RevMan 5 / RevMan Web, subgroup/leave-one-out/cumulative analyses, a vectorised
batch path, forest plots, stratified pooling of the knowledge base's studies, and a CLI.  Validated against
metafor 3.8-1 (tests/evidence).

Names are loaded on first use, so ``rplnav.evidence.stratify`` and ``rplnav.evidence.plain_reml`` (used by the
assessment) can be imported without NumPy or SciPy."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PROFILES": "pool",
    "EffectSizes": "effects",
    "MetaResult": "pool",
    "SubgroupResult": "analyses",
    "batch_fit": "analyses",
    "cumulative": "analyses",
    "escalc": "effects",
    "from_ci": "effects",
    "leave_one_out": "analyses",
    "meta_analysis": "pool",
    "revman5_mh_random": "pool",
    "rma_mh": "pool",
    "rma_peto": "pool",
    "rma_uni": "pool",
    "subgroup_analysis": "analyses",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
