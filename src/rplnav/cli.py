"""Command line: `rplnav assess | therapy | evidence | kb | demo`.

Bad input never produces a traceback: every problem is printed on stderr with its field path and the
command exits 2 (1 for an invalid knowledge base), as the contract requires.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rplnav.knowledge.load import KnowledgeError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="RPL Navigator: cited, guideline-by-guideline decision support for recurrent pregnancy loss. "
    "For clinicians; not a prescription.",
)
kb_app = typer.Typer(no_args_is_help=True, help="Check the knowledge base and show its coverage.")
app.add_typer(kb_app, name="kb")


class Format(StrEnum):
    json = "json"
    md = "md"
    text = "text"
    html = "html"
    pdf = "pdf"


class MonoFormat(StrEnum):
    json = "json"
    md = "md"
    text = "text"


def _fail(problems: list[str], code: int = 2) -> None:
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    raise typer.Exit(code)


def _engine():  # noqa: ANN202 - lazy import keeps `--help` fast
    from rplnav.assess import Engine
    from rplnav.knowledge.load import default_knowledge

    try:
        return Engine(default_knowledge())
    except KnowledgeError as e:
        _fail([f"knowledge base: {p}" for p in e.problems], 1)
        raise  # pragma: no cover


def _width(width: int | None) -> int:
    """The text width: as asked, else the terminal's (COLUMNS or the tty), else 100; never below 60."""
    import shutil

    if width is None:
        width = shutil.get_terminal_size(fallback=(100, 24)).columns
    return max(60, width)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as e:
            _fail([f"--out: cannot write {out}: {e.strerror}"])


@app.command()
def assess(
    file: Annotated[str, typer.Argument(help="patient file (YAML or JSON); '-' reads standard input")],
    format: Annotated[Format, typer.Option("--format", "-f", help="output format")] = Format.text,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write to this file")] = None,
    guidelines: Annotated[str | None, typer.Option(help="only these guideline ids, comma-separated")] = None,
    width: Annotated[int | None, typer.Option(help="text width (default: the terminal's)")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="history the record omits stays undecided instead of "
                                                         "being taken as absent (listed as assumptions)")] = False,
) -> None:
    """Assess one patient: RPL definitions, APS, work-up, every guideline's stance on every therapy."""
    from rplnav.patient import InputError, read_text

    engine = _engine()
    keep = None
    if guidelines:
        keep = [g.strip() for g in guidelines.split(",") if g.strip()]
        unknown = [g for g in keep if g not in engine.kb.guidelines]
        if unknown:
            from rplnav.patient import closest

            _fail([f"--guidelines: '{g}' is not a guideline id{closest(g, sorted(engine.kb.guidelines))}"
                   for g in unknown])
    if format is Format.pdf and out is None:
        _fail(["--format pdf: give --out FILE (a PDF is not written to the terminal)"])
    from rplnav.assessment import OutputError
    from rplnav.usecase import Options, assess_input

    try:
        text, name = read_text(file)
        doc = assess_input(text, None, Options(guidelines=keep, strict=strict, name=name), engine)
    except InputError as e:
        _fail(e.problems)
        return
    except OutputError as e:  # an engine bug, never the input's fault: say so, no traceback
        _fail([f"internal error: the assessment does not fit rplnav.assessment/v1; please report ({e})"], 1)
        return
    if format is Format.html:
        from rplnav.render.html import render_html

        _write(render_html(doc), out)
    elif format is Format.pdf:
        from rplnav.render.pdf import render_pdf

        try:
            out.write_bytes(render_pdf(doc))  # type: ignore[union-attr]
        except OSError as e:
            _fail([f"--out: cannot write {out}: {e.strerror}"])
    elif format is Format.json:
        from rplnav.render.jsonout import render_json

        _write(render_json(doc), out)
    elif format is Format.md:
        from rplnav.render.markdown import assessment_markdown

        _write(assessment_markdown(doc), out)
    else:
        from rplnav.render.terminal import render_terminal

        color = out is None and sys.stdout.isatty()
        _write(render_terminal(doc, width=_width(width), color=color), out)


@app.command()
def therapy(
    therapy_id: Annotated[str, typer.Argument(metavar="ID", help="therapy id, e.g. ivig")],
    format: Annotated[MonoFormat, typer.Option("--format", "-f")] = MonoFormat.text,
) -> None:
    """The therapy monograph: every guideline's stance, dose, timing, safety, pitfalls and references."""
    from rplnav.monograph import build_monograph, render_monograph

    engine = _engine()
    try:
        mono = build_monograph(engine.kb, therapy_id)
    except KeyError as e:
        _fail([str(e.args[0]) if e.args else f"unknown therapy '{therapy_id}'"])
        return
    _write(render_monograph(mono, format.value), None)


@app.command()
def schema(
    name: Annotated[str, typer.Argument(help="assessment (the output document) or patient (the input document)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write to this file")] = None,
) -> None:
    """Print a published JSON Schema: `assessment` (rplnav.assessment/v1) or `patient` (rplnav.patient/v1)."""
    from rplnav.schemas import SCHEMAS

    if name not in SCHEMAS:
        from rplnav.patient import closest

        _fail([f"schema: '{name}' is not a published schema{closest(name, sorted(SCHEMAS))}; "
               f"choose {' or '.join(sorted(SCHEMAS))}"])
    _write(json.dumps(SCHEMAS[name](), indent=2, ensure_ascii=False), out)


@kb_app.command("check")
def kb_check(
    directory: Annotated[Path | None, typer.Option("--dir", help="check this knowledge folder instead")] = None,
) -> None:
    """Validate every file and cross-reference; exit 1 listing the problems."""
    from rplnav.knowledge.load import KNOWLEDGE_DIR, load

    if directory is not None and not directory.is_dir():
        _fail([f"--dir: {directory} is not a folder"])
    kb, problems = load(directory or KNOWLEDGE_DIR, strict=False)
    from rplnav.knowledge.citations import unknown_citations

    problems += unknown_citations(set(kb.sources))  # source ids cited from code, criteria and card files
    if problems:
        for p in problems:
            typer.echo(f"problem: {p}", err=True)
        typer.echo(f"{len(problems)} problem(s) in the knowledge base {kb.version}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"knowledge base OK: {kb.version}\n{len(kb.sources)} sources, {len(kb.guidelines)} guidelines, "
        f"{len(kb.therapies)} therapies, {len(kb.tests)} tests, {len(kb.investigations)} investigations, "
        f"{len(kb.recommendations)} recommendations, {len(kb.alerts)} alerts"
    )


class StatsFormat(StrEnum):
    json = "json"
    text = "text"


class FactsFormat(StrEnum):
    json = "json"
    markdown = "markdown"


@kb_app.command("facts")
def kb_facts(
    format: Annotated[FactsFormat, typer.Option("--format", "-f", help="output format")] = FactsFormat.markdown,
) -> None:
    """The fact catalogue: every fact a condition may name, its type, meaning and producer."""
    from rplnav.factdoc import catalogue_rows, fact_catalogue_markdown
    from rplnav.knowledge.load import default_knowledge

    kb = default_knowledge()
    if format is FactsFormat.json:
        typer.echo(json.dumps(catalogue_rows(kb), indent=2, ensure_ascii=False))
    else:
        typer.echo(fact_catalogue_markdown(kb), nl=False)


@kb_app.command("stats")
def kb_stats(
    format: Annotated[StatsFormat, typer.Option("--format", "-f", help="output format")] = StatsFormat.text,
) -> None:
    """Coverage: therapies × guidelines, recommendations per guideline, verification by guideline and tier."""
    from rplnav.kbstats import coverage, render_stats

    engine = _engine()
    stats = coverage(engine.kb)
    if format is StatsFormat.json:
        typer.echo(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_stats(stats))


@app.command()
def demo(
    examples_dir: Annotated[Path | None, typer.Option(help="folder of patient files")] = None,
    width: Annotated[int | None, typer.Option(help="text width (default: the terminal's)")] = None,
) -> None:
    """Assess the bundled example patients and print a one-screen summary of each."""
    width = _width(width)
    from rich.console import Console
    from rich.progress import track

    from rplnav.examples import example_files
    from rplnav.patient import InputError, read_patient
    from rplnav.render.terminal import render_terminal

    engine = _engine()
    files = example_files(examples_dir)
    if not files:
        _fail([f"no example patients found in {examples_dir}"])
    console = Console(width=width, stderr=True)
    reports = []
    for path in track(files, description="assessing example patients", console=console):
        try:
            parsed = read_patient(str(path), engine.kb.tests, set(engine.kb.therapies), kb=engine.kb)
        except InputError as e:
            _fail([f"{path.name}: {p}" for p in e.problems])
            return
        reports.append(render_terminal(engine.assess(parsed), width=width, color=sys.stdout.isatty(), full=False))
    for r in reports:
        sys.stdout.write(r + "\n")
    sys.stdout.write(f"{len(files)} example patients assessed with knowledge {engine.kb.version}\n")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    insecure_dev: Annotated[bool, typer.Option("--insecure-dev", help="turn CDS Hooks JWT checks off (local "
                                               "testing only; announced in a response header and the log)")] = False,
) -> None:
    """Web app, REST API (/docs) and CDS Hooks services (/cds-services); audit log in SQLite by default."""
    import uvicorn

    from rplnav.service.app import create_app
    from rplnav.service.config import Settings
    from rplnav.service.server import uvicorn_options

    try:
        settings = Settings.from_env(insecure_dev=insecure_dev or None)
    except (OSError, ValueError) as e:
        _fail([f"configuration: {e}"], 1)
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                **uvicorn_options(settings.header_timeout, settings.max_header_bytes))


audit_app = typer.Typer(no_args_is_help=True, help="The service's audit log.")
app.add_typer(audit_app, name="audit-log")


@audit_app.command("prune")
def audit_prune(
    older_than_days: Annotated[float | None, typer.Option(help="delete rows older than this many days "
                                                          "(default: RPLNAV_AUDIT_RETENTION_DAYS)")] = None,
) -> None:
    """Delete audit rows and card feedback past the retention period (RPLNAV_DATABASE_URL's database)."""
    import datetime as dt

    from rplnav.audit import AuditLog
    from rplnav.service.config import Settings

    try:
        settings = Settings.from_env()
    except (OSError, ValueError) as e:
        _fail([f"configuration: {e}"], 1)
        return
    days = older_than_days if older_than_days is not None else settings.audit_retention_days
    if days is None or days < 0:
        _fail(["--older-than-days: give a number of days >= 0, or set RPLNAV_AUDIT_RETENTION_DAYS"])
        return
    log = AuditLog(settings.database_url)
    try:
        n = log.prune(dt.timedelta(days=days))
    finally:
        log.close()
    typer.echo(f"{n} audit row(s) older than {days:g} days deleted")


EVIDENCE_HELP = "Pooled evidence, forest plots, stratified pooling (`rplnav evidence --help`)."


def _mount_evidence(load: bool) -> None:
    """Mount `rplnav evidence` — the real sub-application only when it is asked for, because NumPy and
    SciPy double the start-up time of every other command."""
    if load:
        from rplnav.evidence.cli import app as evidence_app

        app.add_typer(evidence_app, name="evidence", help=EVIDENCE_HELP)
        return
    placeholder = typer.Typer(help=EVIDENCE_HELP)

    @placeholder.callback(invoke_without_command=True)
    def _evidence() -> None:  # pragma: no cover - replaced when invoked
        """Pooled evidence (loaded on demand)."""

    app.add_typer(placeholder, name="evidence", help=EVIDENCE_HELP)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    _mount_evidence(load=bool(args) and args[0] == "evidence")
    try:
        app(args=args, prog_name="rplnav", standalone_mode=True)
    except Exception as e:  # a defect, not bad input: one line, exit 70, traceback on request
        if os.environ.get("RPLNAV_DEBUG"):
            raise
        typer.echo(f"internal error: {type(e).__name__}: {e} (set RPLNAV_DEBUG=1 for details)", err=True)
        raise SystemExit(70) from None


if __name__ == "__main__":  # pragma: no cover
    main()
