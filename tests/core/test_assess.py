"""The assessment document: contract keys, stances that apply, timing windows and alerts."""

import json
import subprocess
import sys

from rplnav.assess import current_of, window_status
from rplnav.examples import example_files

CONTRACT_KEYS = {"schema", "knowledge_version", "patient_id", "losses", "rpl", "aps", "workup", "options", "alerts",
                 "prognosis", "sources"}


def test_contract_shape(engine, make):
    a = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 3))
    assert CONTRACT_KEYS <= set(a)
    assert a["schema"] == "rplnav.assessment/v1"
    assert {"total", "clinical", "biochemical", "consecutive_max", "early_lt10w", "fetal_ge10w", "primary"} <= set(a["losses"])
    assert set(a["aps"]) == {"sydney-2006", "acr-eular-2023"}
    assert {o["therapy"] for o in a["options"]} == set(engine.kb.therapies)
    for o in a["options"]:
        assert {"therapy", "stances", "timing", "alerts"} <= set(o)
        assert o["timing"]["status"] in {"open", "not_yet", "closing", "passed", "n/a"}
        for s in o["stances"]:
            assert {"guideline", "stance", "certainty", "applies", "needs", "because", "source"} <= set(s)
            assert s["applies"] in (True, False, None)
            assert {"document", "locator", "verified"} <= set(s["source"])
    cited = {s["id"] for s in a["sources"]}
    for o in a["options"]:
        for s in o["stances"]:
            assert s["source"]["document"] in cited


def test_nice_progesterone_applies_when_bleeding(engine, make):
    """NICE NG126: offer progesterone with a scan-confirmed IUP, bleeding and >=1 previous miscarriage."""
    a = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 8}],
                           current={"gestational_age": "7+0", "intrauterine_confirmed": True, "bleeding": True}))
    prog = next(o for o in a["options"] if o["therapy"] == "progesterone")
    nice = next(s for s in prog["stances"] if s["id"] == "nice-progesterone-bleeding")
    assert nice["applies"] is True
    assert prog["timing"]["status"] == "open"
    b = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 8}],
                           current={"gestational_age": "15+0", "intrauterine_confirmed": True, "bleeding": True}))
    prog = next(o for o in b["options"] if o["therapy"] == "progesterone")
    nice_window = next(w for w in prog["timing"]["windows"] if w["label"] == "NICE NG126")
    assert nice_window["status"] == "closing"  # 16 completed weeks is 7 days away


def test_undecided_population_names_the_missing_fact(engine, make):
    """ESHRE's IVIG statement needs 'unexplained': with no work-up at all it cannot be decided."""
    a = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 4))
    ivig = next(o for o in a["options"] if o["therapy"] == "ivig")
    s = next(s for s in ivig["stances"] if s["id"] == "eshre-ivig-4losses")
    assert s["applies"] is None and s["needs"]


def test_guideline_filter(engine, make):
    a = engine.assess(make(), ["ACR-2020"])
    assert set(a["rpl"]) == set()
    assert all(s["guideline"] == "ACR-2020" for o in a["options"] for s in o["stances"])


def test_us_patient_sees_lit_ban(engine, make):
    a = engine.assess(make(country="US"))
    lit = next(o for o in a["options"] if o["therapy"] == "lymphocyte_immunotherapy")
    assert any(al["level"] == "critical" and al["kind"] == "regulatory" for al in lit["alerts"])
    b = engine.assess(make(country="GB"))
    lit = next(o for o in b["options"] if o["therapy"] == "lymphocyte_immunotherapy")
    assert not any(al["kind"] == "regulatory" and al["level"] == "critical" for al in lit["alerts"])


def test_window_status_not_pregnant(engine):
    ivig = engine.kb.therapies["ivig"]
    asri = next(w for w in ivig.timing if w.label == "ASRI 2025")
    trial = next(w for w in ivig.timing if w.label.startswith("Yamada"))
    facts = {"current.pregnant": False, "current.ga_days": None, "current.intrauterine_confirmed": None,
             "current.fetal_heart_activity": None}
    assert window_status(asri, current_of(facts), 14) == "open"
    assert window_status(trial, current_of(facts), 14) == "not_yet"
    assert window_status(trial, (True, 6 * 7 + 3, None, None), 14) == "closing"
    assert window_status(trial, (True, 8 * 7, None, None), 14) == "passed"


def test_every_example_assesses_in_every_format():
    for f in example_files():
        for fmt in ("json", "md", "text"):
            r = subprocess.run([sys.executable, "-m", "rplnav.cli", "assess", str(f), "-f", fmt],
                               capture_output=True, text=True)
            assert r.returncode == 0, (f, fmt, r.stderr)
            if fmt == "json":
                doc = json.loads(r.stdout)  # exactly one JSON document
                assert doc["patient_id"].startswith("demo-")


def test_stdin_input():
    f = example_files()[0]
    r = subprocess.run([sys.executable, "-m", "rplnav.cli", "assess", "-", "-f", "json"], input=f.read_text(),
                       capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["schema"] == "rplnav.assessment/v1"


def test_demo_runs():
    r = subprocess.run([sys.executable, "-m", "rplnav.cli", "demo"], capture_output=True, text=True)
    assert r.returncode == 0
    assert "10 example patients assessed" in r.stdout


def test_contraindication_fires_from_conditions(engine, make):
    """A recorded soy/egg allergy makes the intralipid contraindication critical; unknown -> a check."""
    a = engine.assess(make(conditions=["soy_or_egg_allergy", "heparin_induced_thrombocytopenia"]))
    il = next(o for o in a["options"] if o["therapy"] == "intralipid")
    assert any(al["level"] == "critical" and "egg" in al["text"] for al in il["alerts"])
    lm = next(o for o in a["options"] if o["therapy"] == "aspirin_lmwh")
    assert any(al["level"] == "critical" and "heparin-induced" in al["text"] for al in lm["alerts"])
    b = engine.assess(make())  # no conditions list: the allergy is unknown
    il = next(o for o in b["options"] if o["therapy"] == "intralipid")
    check = [al for al in il["alerts"] if al["kind"] == "check" and "egg" in al["text"]]
    assert check and check[0]["level"] == "info" and check[0]["needs"] == ["condition.soy_or_egg_allergy"]
    c = engine.assess(make(conditions=[]))
    il = next(o for o in c["options"] if o["therapy"] == "intralipid")
    assert not any("egg" in al["text"] for al in il["alerts"])


def test_renderers_show_evidence_and_stay_consistent(engine, make):
    """Markdown and terminal views read the same evidence summary as the JSON document."""
    from rplnav.render.markdown import assessment_markdown
    from rplnav.render.terminal import render_terminal

    a = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 4))
    ivig = next(o for o in a["options"] if o["therapy"] == "ivig")
    assert ivig["evidence"] and ivig["evidence"]["all"]["k"] >= 1
    md = assessment_markdown(a)
    assert "**Evidence:**" in md and f"k={ivig['evidence']['all']['k']}" in md
    txt = render_terminal(a, color=False)
    assert "Evidence: pooled trials" in txt and a["knowledge_version"][:19] in txt


def test_every_aps_stance_says_which_definition_it_assumes(engine, make):
    a = engine.assess(make())
    for o in a["options"]:
        for s in o["stances"]:
            if any(b.startswith(("aps.", "apl.laboratory_criteria")) for b in s["because"][1:]):
                assert s.get("aps_definition") in ("sydney-2006", "acr-eular-2023"), s["id"]


def test_the_engine_keeps_one_bounded_memo(kb, make):
    """Every part reused between patients sits in one least-recently-used memo with one bound: a small bound
    is honoured and the documents are the same as with room to spare."""
    from rplnav.assess import Engine
    from rplnav.memo import Memo

    patients = [make(age=a, pregnancies=[{"outcome": "miscarriage", "gestational_age": g}] * n)
                for a, g, n in ((30, 7, 2), (41, 9, 3), (35, 12, 4))]
    roomy = Engine(kb)
    tight = Engine(kb)
    tight.memo = Memo(maxsize=50)
    tight._studies = None  # the evidence index takes the engine's memo when first built
    for p in patients * 2:
        assert tight.assess(p) == roomy.assess(p)
        assert len(tight.memo) <= 50
    assert roomy.memo.hits > 0 and len(roomy.memo) > 50


def test_each_statement_gives_its_population_facts_as_data_and_in_words(kb, engine):
    """``facts`` (what the plan reads) and ``because`` (what a reader sees) name the same facts with the same
    values, in the same order, for every statement of every example."""
    from rplnav.examples import example_files
    from rplnav.patient import read_patient

    def word(v):
        return "unknown" if v is None else ("true" if v else "false") if isinstance(v, bool) else str(v)

    for path in example_files():
        doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies))).to_dict()
        for s in [s for o in doc["options"] for s in o["stances"]] + \
                 [s for w in doc["workup"] for s in w["recommendations"]]:
            assert [f"{f['name']} = {word(f['value'])}" for f in s["facts"]] == s["because"][1:], s["id"]
