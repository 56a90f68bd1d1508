"""Terminal view: readable at 80 columns (per-therapy lines instead of the matrix), full matrix when wide."""

from __future__ import annotations

from rplnav.examples import examples_dir
from rplnav.patient import read_patient
from rplnav.render.common import stance_label
from rplnav.render.terminal import matrix_width, render_terminal


def _doc(kb, engine, prefix: str):
    path = next(examples_dir().glob(f"{prefix}*.yaml"))
    return engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))


def test_narrow_terminal_lists_stances_in_words_per_therapy(kb, engine):
    doc = _doc(kb, engine, "03")
    assert matrix_width(doc) > 80
    text = render_terminal(doc, width=80, color=False)
    lines = text.splitlines()
    assert max(len(x) for x in lines) <= 80
    assert "┏" not in text and "ESH…" not in text  # no squeezed matrix with truncated headers
    flat = " ".join(x.strip("│ ") for x in lines)
    for o in doc["options"]:
        for s in o["stances"]:
            if s["applies"] is True:  # every statement that applies to her is named with its stance in words
                assert o["name"] in text, o["therapy"]
                assert f"{s['guideline']} {stance_label(s['stance'])}" in flat, (o["therapy"], s["id"])
    assert "for her" in text and "may apply" in text


def test_wide_terminal_keeps_the_matrix_with_a_legend(kb, engine):
    doc = _doc(kb, engine, "03")
    width = matrix_width(doc) + 10
    text = render_terminal(doc, width=width, color=False)
    assert "┏" in text and "ACR-2020".split("-")[0] in text
    assert "legend:" in text and "(X) = other populations" in text
    assert max(len(x) for x in text.splitlines()) <= width


def test_wrapped_plan_lines_keep_a_hanging_indent(kb, engine):
    lines = render_terminal(_doc(kb, engine, "03"), width=80, color=False).splitlines()
    start = next(i for i, x in enumerate(lines) if "Supported for her" in x)
    assert lines[start + 1].startswith("│  • ")
    assert lines[start + 2].startswith("│    ") or lines[start + 2].startswith("│  • ")
