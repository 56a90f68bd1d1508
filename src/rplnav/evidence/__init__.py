"""Meta-analysis engine: effect sizes, pooling (IV, MH, Peto, RE with tau^2 estimators), profiles
reproducing metafor / RevMan 5 / RevMan Web, subgroup/leave-one-out/cumulative analyses, a vectorised
batch path, forest plots and a CLI.  Validated against metafor 3.8-1 (tests/evidence)."""

from .analyses import SubgroupResult, batch_fit, cumulative, leave_one_out, subgroup_analysis
from .effects import EffectSizes, escalc, from_ci
from .pool import PROFILES, MetaResult, meta_analysis, revman5_mh_random, rma_mh, rma_peto, rma_uni

__all__ = [
    "PROFILES",
    "EffectSizes",
    "MetaResult",
    "SubgroupResult",
    "batch_fit",
    "cumulative",
    "escalc",
    "from_ci",
    "leave_one_out",
    "meta_analysis",
    "revman5_mh_random",
    "rma_mh",
    "rma_peto",
    "rma_uni",
    "subgroup_analysis",
]
