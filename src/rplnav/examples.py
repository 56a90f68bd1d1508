"""Where the example patients live: `examples/` at the top of the project."""

from __future__ import annotations

from pathlib import Path


def examples_dir() -> Path:
    """The project's examples folder (found next to the source tree)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "examples"
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return here.parent / "examples"


def example_files(directory: Path | None = None) -> list[Path]:
    d = directory or examples_dir()
    return sorted(d.glob("*.yaml")) + sorted(d.glob("*.json"))
