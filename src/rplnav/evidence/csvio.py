"""Reading and validating meta-analysis CSV files.

Accepted layouts (header row required, ``#`` lines are comments, extra columns are kept for subgroups):

* ``study,ai,n1i,ci,n2i`` -- events and totals in the experimental (1) and control (2) arms;
* ``study,yi,vi`` -- effects on the analysis scale (log for OR/RR) with sampling variances.

Every problem is reported as a :class:`CSVError` whose message names the line, the data row, the study
and the column, so the CLI can print one line and exit with code 2.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

COUNT_COLS = ("ai", "n1i", "ci", "n2i")
GENERIC_COLS = ("yi", "vi")


class CSVError(ValueError):
    """Invalid input file; the message is a single line naming row and column."""


def _where(line: int, row: int, study: str | None, col: str) -> str:
    st = f", study {study!r}" if study else ""
    return f"line {line} (data row {row}{st}), column {col!r}"


def _num(text: str, line: int, row: int, study: str | None, col: str) -> float:
    t = text.strip()
    if t == "":
        raise CSVError(f"{_where(line, row, study, col)}: empty value")
    try:
        x = float(t)
    except ValueError:
        raise CSVError(f"{_where(line, row, study, col)}: not a number: {t!r}") from None
    if not math.isfinite(x):
        raise CSVError(f"{_where(line, row, study, col)}: not a finite number: {t!r}")
    return x


def parse_csv_text(text: str, subgroup: str | None = None) -> dict[str, Any]:
    """Parse CSV text into ``{"study": [...], "ai": [...], ...}`` (plus ``"subgroup"`` if asked)."""
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise CSVError("line 1, column 'study': the file is empty (expected a header row)")
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in lines)))
    rows = list(reader)
    header = [h.strip() for h in rows[0]]
    hline = lines[0][0]
    lower = {h.lower(): j for j, h in enumerate(header)}
    if "study" not in lower:
        raise CSVError(f"line {hline} (header), column 'study': missing column (need study,ai,n1i,ci,n2i or study,yi,vi)")
    has_counts = all(c in lower for c in COUNT_COLS)
    has_generic = all(c in lower for c in GENERIC_COLS)
    if not has_counts and not has_generic:
        partial = [c for c in COUNT_COLS if c in lower]
        want = COUNT_COLS if partial else (GENERIC_COLS if any(c in lower for c in GENERIC_COLS) else COUNT_COLS)
        missing = [c for c in want if c not in lower]
        raise CSVError(f"line {hline} (header), column {missing[0]!r}: missing column (need study,ai,n1i,ci,n2i or study,yi,vi)")
    if subgroup is not None and subgroup.lower() not in lower:
        raise CSVError(f"line {hline} (header), column {subgroup!r}: subgroup column not found")
    cols = COUNT_COLS if has_counts else GENERIC_COLS
    out: dict[str, Any] = {"study": [], **{c: [] for c in cols}}
    if subgroup is not None:
        out["subgroup"] = []
    for r, (fields, (line, _)) in enumerate(zip(rows[1:], lines[1:], strict=True), start=1):
        if len(fields) < len(header):
            fields = fields + [""] * (len(header) - len(fields))
        study = fields[lower["study"]].strip()
        if not study:
            raise CSVError(f"{_where(line, r, None, 'study')}: empty study label")
        vals = {c: _num(fields[lower[c]], line, r, study, c) for c in cols}
        if has_counts:
            for c in COUNT_COLS:
                if vals[c] < 0:
                    raise CSVError(f"{_where(line, r, study, c)}: negative count {vals[c]:g}")
                if vals[c] != int(vals[c]):
                    raise CSVError(f"{_where(line, r, study, c)}: counts must be whole numbers, got {vals[c]:g}")
            if vals["ai"] > vals["n1i"]:
                raise CSVError(f"{_where(line, r, study, 'ai')}: events {vals['ai']:g} exceed total n1i {vals['n1i']:g}")
            if vals["ci"] > vals["n2i"]:
                raise CSVError(f"{_where(line, r, study, 'ci')}: events {vals['ci']:g} exceed total n2i {vals['n2i']:g}")
        else:
            if vals["vi"] <= 0:
                raise CSVError(f"{_where(line, r, study, 'vi')}: sampling variance must be positive, got {vals['vi']:g}")
        out["study"].append(study)
        for c in cols:
            out[c].append(vals[c])
        if subgroup is not None:
            g = fields[lower[subgroup.lower()]].strip()
            if not g:
                raise CSVError(f"{_where(line, r, study, subgroup)}: empty subgroup label")
            out["subgroup"].append(g)
    if not out["study"]:
        raise CSVError(f"line {hline} (header), column 'study': no data rows")
    return out


def read_csv(path: str | Path, subgroup: str | None = None) -> dict[str, Any]:
    """Read and validate a CSV file (see module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CSVError(f"line 0, column 'study': cannot read {str(p)!r}: {exc.__class__.__name__}") from None
    return parse_csv_text(text, subgroup=subgroup)
