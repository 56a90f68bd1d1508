"""The bounded input parser (inputdoc.py) and the CLI on hostile files: refused fast, exit 2, a short message."""

from __future__ import annotations

import json
import resource
import time

import pytest
from benchmarks.alias_bomb import bomb
from typer.testing import CliRunner

from rplnav.cli import app as cli_app
from rplnav.inputdoc import MAX_BYTES, MAX_DEPTH, DocumentError, parse_document
from rplnav.patient import InputError, load_document


def refused(text: str, syntax: str = "auto") -> str:
    with pytest.raises(DocumentError) as e:
        parse_document(text, "t", syntax)
    (msg,) = e.value.problems
    return msg


def test_alias_bomb_is_refused_fast_without_expanding():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    with pytest.raises(InputError) as e:
        load_document(bomb(9), "bomb.yaml")
    took = time.perf_counter() - t
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert e.value.problems == ["bomb.yaml: line 5, column 7: invalid YAML: YAML anchors and aliases are not "
                                "accepted"]
    assert took < 0.1 and growth_kib < 10 * 1024


def test_anchor_alone_and_alias_are_refused():
    assert "anchors and aliases" in refused("schema: x\nid: &i a\n")
    assert "anchors and aliases" in refused("a: &x 1\nb: *x\n")


def test_duplicate_keys_refused_with_their_path():
    assert refused('{"age": 200, "age": 33}') == "t: age: duplicate key"
    assert refused('{"labs": [{"test": "tsh", "value": 1, "value": 9}]}') == "t: labs[0].value: duplicate key"
    assert refused("age: 200\nage: 33\n") == "t: line 2, column 1: invalid YAML: duplicate key 'age'"


@pytest.mark.parametrize("text", ["{\"v\": NaN}", "{\"v\": Infinity}", "{\"v\": -Infinity}", "{\"v\": 1e400}",
                                  "v: .nan\n", "v: .inf\n", "v: -.Inf\n", "v: 1.0e+400\n"])
def test_non_finite_numbers_refused(text):
    assert "is not a finite number" in refused(text)


def test_long_numbers_strings_and_deep_nesting_refused():
    assert "a number of 5000 characters" in refused('{"age": ' + "9" * 5000 + "}")
    assert "a number of 5000 characters" in refused("age: " + "9" * 5000 + "\n")
    assert "a value of 100001 characters" in refused('{"id": "' + "x" * 100_001 + '"}')
    assert "a value of 100001 characters" in refused("id: " + "x" * 100_001 + "\n")
    assert f"nested deeper than {MAX_DEPTH} levels" in refused("[" * 40 + "]" * 40)
    assert f"nested deeper than {MAX_DEPTH} levels" in refused("[" * 100_000 + "]" * 100_000)
    assert f"nested deeper than {MAX_DEPTH} levels" in refused("a: " + "[" * 40 + "]" * 40 + "\n", "yaml")
    assert "larger than" in refused(" " * (MAX_BYTES + 1))
    assert "entries (at most" in refused(json.dumps(list(range(10_001))))


def test_ordinary_documents_still_parse():
    assert parse_document('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert parse_document("date: 2024-01-02\nga: 6+5\nn: 0.25\n") == {"date": "2024-01-02", "ga": "6+5", "n": 0.25}


@pytest.mark.parametrize(("text", "expect"), [
    (bomb(6), "anchors and aliases"),
    ("schema: rplnav.patient/v1\nid: a\nage: " + "9" * 5000 + "\n", "a number of 5000 characters"),
    ("[" * 5000 + "]" * 5000, "nested deeper than"),
    ('{"schema": "rplnav.patient/v1", "id": "a", "age": 200, "age": 33}', "age: duplicate key"),
])
def test_cli_exits_2_with_a_short_message(tmp_path, text, expect):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    r = CliRunner().invoke(cli_app, ["assess", str(f)])
    assert r.exit_code == 2, r.output
    assert expect in r.stderr and len(r.stderr) < 500 and "Traceback" not in r.stderr


def test_cli_refuses_a_file_over_the_limit_without_reading_it(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("# " + "x" * MAX_BYTES + "\n")
    r = CliRunner().invoke(cli_app, ["assess", str(f)])
    assert r.exit_code == 2 and "larger than" in r.stderr


def test_problem_lists_are_capped(kb):
    from rplnav.patient import parse_patient

    labs = [{"test": f"nope{i}", "result": "x" * 2000} for i in range(300)]
    with pytest.raises(InputError) as e:
        parse_patient({"schema": "rplnav.patient/v1", "id": "a", "age": 33, "labs": labs}, kb.tests, set())
    assert len(e.value.problems) == 101 and e.value.problems[-1].endswith("more problem(s) not listed")
    assert max(len(p) for p in e.value.problems) <= 502


@pytest.mark.parametrize(("text", "expect"), [
    ('{"a": {"b": [["x", "' + "y" * 100_001 + '"]]}}', "t: a.b[0][1]: a value of 100001 characters (at most 100000)"),
    ('{"pregnancies": [{"k": ' + json.dumps(list(range(10_001))) + "}]}",
     "t: pregnancies[0].k: 10001 entries (at most 10000)"),
    ("[" * 40 + "]" * 40, f"t: [0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
                          f"[0][0][0]: nested deeper than {MAX_DEPTH} levels"),
])
def test_every_bound_names_the_full_path_of_the_value(text, expect):
    """Paths are written only when a message needs them, from the node's chain of parents."""
    assert refused(text) == expect


def test_a_decoded_document_names_the_path_of_a_non_finite_number():
    from rplnav.inputdoc import check_bounds

    with pytest.raises(ValueError, match=r"^labs\[1\]\.value: nan is not a finite number$"):
        check_bounds({"labs": [{"test": "tsh"}, {"value": float("nan")}]})
    with pytest.raises(ValueError, match=r"^\(document\): inf is not a finite number$"):
        check_bounds(float("inf"))
