"""Rich terminal view: summary panels and the therapy × guideline stance matrix."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rplnav.assessment import Assessment, plain
from rplnav.render.common import (
    GUIDELINE_ORDER,
    STANCE_SHORT,
    STANCE_STYLE,
    fmt_tri,
    medications_text,
    plan_sections,
    pooled_text,
    result_text,
    source_text,
    stance_label,
)

STATUS_STYLE = {"missing": "bold red", "repeat_needed": "yellow", "done": "green",
                "not_indicated": "dim"}
LEVEL_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def stance_matrix(a: dict[str, Any]) -> Table:
    """Therapies × guidelines, coloured by stance, dimmed where the population does not apply to her."""
    guidelines = sorted({s["guideline"] for o in a["options"] for s in o["stances"]},
                        key=lambda g: GUIDELINE_ORDER.get(g, 99))
    t = Table(title="What each guideline says — X applies to her, X? undecided, (X) other populations",
              title_justify="left", show_lines=False, header_style="bold")
    t.add_column("therapy")
    for g in guidelines:
        t.add_column(g.replace("-", "\n", 1), justify="center")
    for o in a["options"]:
        if not o["stances"]:
            continue
        row: list[Text] = [Text(o["therapy"])]
        for g in guidelines:
            cells = [s for s in o["stances"] if s["guideline"] == g]
            if not cells:
                row.append(Text("·", style="dim"))
                continue
            txt = Text()
            for i, s in enumerate(cells):
                if i:
                    txt.append(" ")
                style = STANCE_STYLE.get(s["stance"], "")
                label = STANCE_SHORT.get(s["stance"], s["stance"])
                if s["applies"] is True:
                    txt.append(label, style=style)
                elif s["applies"] is None:
                    txt.append(label + "?", style=style + " italic")
                else:
                    txt.append(f"({label})", style="dim")
            row.append(txt)
        t.add_row(*row)
    return t


def matrix_width(a: dict[str, Any]) -> int:
    """Columns the full matrix needs to stay legible (a therapy column and about eight per guideline)."""
    n = len({s["guideline"] for o in a["options"] for s in o["stances"]})
    return 28 + 9 * n


def _stance_words(stances: list[dict[str, Any]]) -> Text:
    txt = Text()
    for i, s in enumerate(sorted(stances, key=lambda s: GUIDELINE_ORDER.get(s["guideline"], 99))):
        if i:
            txt.append(", ")
        txt.append(f"{s['guideline']} ")
        txt.append(stance_label(s["stance"]), style=STANCE_STYLE.get(s["stance"], ""))
    return txt


def stance_lines(a: dict[str, Any]) -> Group:
    """The matrix for narrow terminals: one block per therapy with the statements that apply to her or may
    apply, in words; therapies whose statements all concern other populations are named on one line."""
    parts: list[Any] = [Text("What each guideline says, per therapy (statements for other populations counted, "
                             "not listed)", style="bold")]
    others = []
    for o in a["options"]:
        yes = [s for s in o["stances"] if s["applies"] is True]
        maybe = [s for s in o["stances"] if s["applies"] is None]
        n_other = sum(s["applies"] is False for s in o["stances"])
        if not (yes or maybe):
            if o["stances"]:
                others.append(o["name"])
            continue
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=10, style="dim")
        grid.add_column(ratio=1)
        if yes:
            grid.add_row("for her", _stance_words(yes))
        if maybe:
            grid.add_row("may apply", _stance_words(maybe))
        if n_other:
            grid.add_row("other pop.", Text(f"{n_other} statement(s) for other populations", style="dim"))
        parts += [Text(o["name"], style="bold"), Padding(grid, (0, 0, 0, 2))]
    if others:
        parts.append(Text("Only statements for other populations: " + "; ".join(others), style="dim"))
    return Group(*parts)


def evidence_lines_narrow(a: dict[str, Any]) -> Group:
    """Pooled evidence as one block per therapy (the table wraps numbers mid-figure at 80 columns)."""
    parts: list[Any] = [Text("Evidence: pooled trials, all vs those that enrolled women like her", style="bold")]
    for o in a["options"]:
        ev = o.get("evidence")
        if not ev:
            continue
        outcome = (ev.get("outcome") or "outcome not stated").replace("_", " ")
        assoc = " (association)" if "not a treatment" in (ev.get("comparison") or "") else ""
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=12, style="dim")
        grid.add_column(ratio=1)
        grid.add_row("all studies", pooled_text(ev.get("all")))
        grid.add_row("like her", pooled_text(ev.get("stratum")))
        if ev.get("unmatched"):
            grid.add_row("unmatched", f"{len(ev['unmatched'])} stud(ies) could not be matched to her")
        parts += [Text(f"{o['name']}{assoc}: {outcome}", style="bold"), Padding(grid, (0, 0, 0, 2))]
    return Group(*parts)


def legend(narrow: bool = False) -> Text:
    """What the matrix symbols mean; in the narrow view stances are words, so only the markers are left."""
    if narrow:
        return Text("for her = her facts match the statement's population; may apply = facts still missing "
                    "(see Next: record or test)", style="dim")
    txt = Text("legend: ")
    for k, v in STANCE_SHORT.items():
        txt.append(f"{v}", style=STANCE_STYLE[k])
        txt.append(f"={stance_label(k)}  ")
    txt.append("X? = may apply (facts missing)  (X) = other populations  · = no statement in the knowledge base")
    return txt


def summary_renderables(a: dict[str, Any], full: bool = True, width: int = 140) -> list[Any]:
    lo = a["losses"]
    head = Text()
    head.append(f"{a['patient_id']}", style="bold")
    if width < 100:  # one line at 80 columns: the plan starts on the next
        nv = f", {lo['biochemical']} non-visualised" if lo["biochemical"] else ""
        head.append(f" · {lo['total']} losses ({lo['clinical']} clinical{nv}, {lo['consecutive_max']} in a row) · "
                    f"{lo['live_births']} live births")
    else:
        head.append(f" · losses {lo['total']} (clinical {lo['clinical']}, non-visualised {lo['biochemical']}, "
                    f"consecutive {lo['consecutive_max']}) · live births {lo['live_births']}")
    rpl = Table(show_header=True, header_style="bold", box=None)
    rpl.add_column("RPL definition")
    rpl.add_column("meets")
    rpl.add_column("why")
    for gid, r in a["rpl"].items():
        style = {True: "green", False: "red", None: "yellow"}[r["meets"]]
        scope = "; inside its scope" if r.get("in_scope") and r["meets"] is not True else ""
        rpl.add_row(gid, Text(fmt_tri(r["meets"]) + scope, style=style), r["reason"])
    aps = Text()
    for name, block in a["aps"].items():
        aps.append(f"APS {name}: ", style="bold")
        st = block.get("status", "?")
        aps.append(st, style={"met": "bold red", "not_met": "green"}.get(st, "yellow"))
        if "clinical_points" in block:
            aps.append(f" (clinical {block['clinical_points']}, laboratory {block['laboratory_points']} points)")
        aps.append("\n")
        for m in block.get("missing", [])[:4 if not full else 20]:
            aps.append(f"   to decide: {m}\n", style="dim")
        for b in block.get("interpretation", [])[:2 if not full else 20]:
            aps.append(f"   {b}\n", style="dim")
    work = Table(show_header=True, header_style="bold", box=None)
    work.add_column("work-up")
    work.add_column("status")
    work.add_column("guidelines")
    for item in a["workup"]:
        if not full and item["status"] in ("not_indicated", "done"):
            continue
        gl = ", ".join(f"{r['guideline']} {stance_label(r['stance'])}" for r in item["recommendations"]
                       if r["applies"] is not False)
        label = item["status"] if item["status"] != "missing" else f"missing ({item['priority'].replace('_', ' ')})"
        work.add_row(item["name"], Text(label, style=STATUS_STYLE.get(item["status"], "")), gl)
    results = Table(show_header=True, header_style="bold", box=None)
    results.add_column("result")
    results.add_column("date")
    results.add_column("as reported")
    for r in a.get("results") or []:
        if full or r.get("note"):
            results.add_row(r["name"], r.get("date") or "undated", result_text(r))
    meds = Text("current medications: ", style="bold")
    meds.append(medications_text(a.get("medications")))
    alerts = Table.grid(padding=(0, 1))  # level in its own column: a wrapped alert keeps its indent
    alerts.add_column(width=8)
    alerts.add_column(ratio=1)
    all_alerts = list(a["alerts"]) + [dict(al, therapy=o["name"]) for o in a["options"] for al in o["alerts"]
                                      if al["level"] != "info"]
    for al in all_alerts:
        body = Text()
        if al.get("therapy"):
            body.append(f"{al['therapy']}: ", style="bold")
        body.append(al["text"])
        if al.get("source"):
            body.append(f"  ({source_text(al['source'])})", style="dim")
        alerts.add_row(Text(al["level"].upper(), style=LEVEL_STYLE.get(al["level"], "")), body)
    p = a["prognosis"]
    prog = Text("prognosis: ", style="bold")
    if p.get("next_pregnancy_live_birth_percent") is not None:
        prog.append(f"{p['next_pregnancy_live_birth_percent']:g}% next-pregnancy success — {p['note']}")
        if p.get("source"):
            prog.append(f" ({source_text(p['source'])})", style="dim")
    else:
        prog.append(f"no estimate ({p.get('note', 'n/a')})")
    evid = Table(title="Evidence: pooled trials, all vs those that enrolled women like her", title_justify="left",
                 header_style="bold", box=None)
    evid.add_column("therapy")
    evid.add_column("outcome")
    evid.add_column("all studies")
    evid.add_column("matching her")
    evid.add_column("unmatched", justify="right")
    for o in a["options"]:
        ev = o.get("evidence")
        if ev:
            label = o["therapy"] + (" (association)" if "not a treatment" in (ev.get("comparison") or "") else "")
            evid.add_row(label, (ev.get("outcome") or "").replace("_", " "), pooled_text(ev.get("all")),
                         pooled_text(ev.get("stratum")), str(len(ev.get("unmatched") or [])))
    parts: list[Any] = [head, plan_text(a, width), rpl, aps, work]  # the assumptions are in the plan
    if results.row_count:
        parts.append(results)
    narrow = width < matrix_width(a)
    parts += [meds, stance_lines(a) if narrow else stance_matrix(a), legend(narrow)]
    if evid.row_count and full:
        parts.append(evidence_lines_narrow(a) if narrow else evid)
    if all_alerts:
        parts.append(alerts)
    parts.append(prog)
    if full:
        parts.append(Text(f"knowledge {a['knowledge_version'][:19]}… · {a['intended_use']}", style="dim"))
    return parts


SECTION_STYLE = {"Supported for her": "bold green", "Advised against for her": "bold red", "Safety": "bold red",
                 "Assumed (record to confirm)": "bold yellow"}


def plan_text(a: dict[str, Any], width: int = 136) -> Group:
    """The plan for her, first: the same sections as every other view, bullets with a hanging indent so a
    wrapped line does not read as a new item."""
    parts: list[Any] = []
    if a.get("plan"):
        parts.append(Text(f"PLAN: {a['plan']['headline']}", style="bold"))
    for title, lines in plan_sections(a, limit=3, compact=True):
        if len(lines) == 1 and len(title) + 2 + len(lines[0]) <= width:  # one short item shares its heading's line
            line = Text(f"{title}: ", style=SECTION_STYLE.get(title, "bold"))
            line.append(lines[0])
            parts.append(line)
            continue
        parts.append(Text(title, style=SECTION_STYLE.get(title, "bold")))
        grid = Table.grid()
        grid.add_column(width=3)
        grid.add_column(ratio=1)
        for line in lines:
            grid.add_row(" •", line)
        parts.append(grid)
    parts.append(Text(""))
    return Group(*parts)


def render_terminal(a: Assessment | dict[str, Any], width: int = 140, color: bool = True, full: bool = True) -> str:
    a = plain(a)
    console = Console(width=width, record=True, force_terminal=color, color_system="truecolor" if color else None,
                      file=_Null())
    console.print(Panel(Group(*summary_renderables(a, full, width - 4)), title="RPL Navigator",
                        subtitle=a["assessed_on"]))
    return console.export_text(styles=color)


class _Null:
    def write(self, _s: str) -> int:
        return 0

    def flush(self) -> None:
        pass
