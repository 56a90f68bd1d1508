#!/usr/bin/env python3
"""Share of guideline stances the engine leaves undecided (`applies: null`), per record and in total.

Usage: python scripts/undecided_share.py [GLOB ...]   (default: tests/realism/records/*.yaml)

A stance is undecided when the engine cannot tell whether the guideline's population includes her; its
`needs` say which facts would decide it. The figure is the yardstick for "decide from records as clinicians
write them": records that the engine cannot read at all are counted separately, not as zero undecided.
"""

from __future__ import annotations

import glob
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GLOB = "tests/realism/records/*.yaml"


def stance_counts(doc: dict[str, Any]) -> tuple[int, int, Counter[str]]:
    """(stances, undecided, needs of the undecided) over every option of one assessment."""
    total = undecided = 0
    needs: Counter[str] = Counter()
    for option in doc.get("options", []):
        for stance in option.get("stances", []):
            total += 1
            if stance.get("applies") is None:
                undecided += 1
                needs.update(stance.get("needs") or ["(no needs given)"])
    return total, undecided, needs


def main(argv: list[str]) -> int:
    from rplnav.assess import Engine
    from rplnav.interop.fhir import FhirIntake
    from rplnav.knowledge.load import default_knowledge
    from rplnav.patient import InputError, read_patient

    patterns = argv or [DEFAULT_GLOB]
    files = sorted({f for p in patterns for f in glob.glob(p if Path(p).is_absolute() else str(ROOT / p))})
    if not files:
        print(f"no files match {' '.join(patterns)}", file=sys.stderr)
        return 2
    engine = Engine(default_knowledge())
    therapies = set(engine.kb.therapies)
    all_needs: Counter[str] = Counter()
    total = undecided = 0
    failed: list[tuple[str, str]] = []
    print(f"{'record':48} {'stances':>7} {'undecided':>9} {'share':>6}")
    for f in files:
        name = Path(f).name
        intake = FhirIntake(engine.kb.tests, therapies)
        try:
            parsed = read_patient(f, engine.kb.tests, therapies, converter=intake.convert)
        except InputError as e:
            failed.append((name, e.problems[0] if e.problems else "invalid input"))
            print(f"{name:48} {'-':>7} {'-':>9} {'input error':>6}")
            continue
        n, u, needs = stance_counts(engine.assess(parsed))
        total += n
        undecided += u
        all_needs.update(needs)
        print(f"{name:48} {n:7d} {u:9d} {u / n if n else 0:6.1%}")
    share = undecided / total if total else 0.0
    assessed = len(files) - len(failed)
    print(f"\nTOTAL over {assessed} assessed records: {total} stances, {undecided} undecided ({share:.1%})")
    print(f"records not assessed (input rejected): {len(failed)} of {len(files)}")
    for name, problem in failed:
        print(f"  {name}: {problem}")
    if all_needs:
        print("\nmost common needs of undecided stances:")
        for fact, count in all_needs.most_common(12):
            print(f"  {count:4d}  {fact}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
