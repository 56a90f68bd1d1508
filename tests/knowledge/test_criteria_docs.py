"""The clinician-facing pages stay true to the code: the fact catalogue is generated, the criteria guide names
every criteria file and rule set."""

from __future__ import annotations

from pathlib import Path

from rplnav.factdoc import catalogue_rows, fact_catalogue_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_fact_catalogue_page_equals_the_code(kb):
    page = (DOCS / "fact-catalogue.md").read_text(encoding="utf-8")
    assert page == fact_catalogue_markdown(kb), "regenerate with: rplnav kb facts --format markdown > docs/fact-catalogue.md"


def test_every_fact_has_one_producer_named(kb):
    rows = catalogue_rows(kb)
    assert len({r["name"] for r in rows}) == len(rows)
    assert all(r["producer"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["losses.early_lt10w"]["producer"].startswith("gestation.yaml")
    assert by_name["aps.sydney_2006"]["producer"].startswith("aps-criteria.yaml")
    assert by_name["rpl.rcog_2023"]["producer"].startswith("rpl-definitions.yaml")


def test_criteria_guide_covers_every_file_and_rule_set(kb):
    guide = (DOCS / "criteria.md").read_text(encoding="utf-8")
    for name in ("rpl-definitions.yaml", "aps-criteria.yaml", "gestation.yaml", "derived.yaml"):
        assert f"`{name}`" in guide
    for d in kb.rpl_definitions.values():
        body, year = d.id.split("-")
        assert body in guide and year in guide
