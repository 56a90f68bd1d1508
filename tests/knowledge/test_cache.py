"""The per-user cache of the checked knowledge base: read when its key matches, never stale, optional."""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import pytest

from rplnav.assess import Engine
from rplnav.examples import examples_dir
from rplnav.knowledge import cache
from rplnav.knowledge.load import KNOWLEDGE_DIR, load
from rplnav.render.jsonout import render_json
from rplnav.usecase import Options, assess_input


@pytest.fixture()
def kdir(tmp_path: Path) -> Path:
    """A copy of the bundled knowledge base that a test may edit."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


@pytest.fixture()
def cdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RPLNAV_CACHE_DIR", str(folder))
    return folder


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise AssertionError("the knowledge base was parsed although the cache holds it")

    monkeypatch.setattr("rplnav.knowledge.load.load", fail)


def test_second_load_comes_from_the_cache_and_equals_a_parse(kdir, cdir, monkeypatch):
    first = cache.load_cached(kdir)
    assert [p.name for p in cdir.iterdir()] == [f"knowledge-{cache.cache_key(kdir)[1]}.pickle"]
    parsed, problems = load(kdir)
    assert problems == []
    _no_parsing(monkeypatch)
    again = cache.load_cached(kdir)
    assert again.version == first.version == parsed.version == cache.yaml_fingerprint(kdir)
    assert again.therapies == parsed.therapies and again.recommendations == parsed.recommendations
    assert again.conditions == parsed.conditions and again.aps_criteria == parsed.aps_criteria


def test_a_changed_yaml_file_is_parsed_again(kdir, cdir):
    before = cache.load_cached(kdir)
    path = kdir / "guidelines.yaml"
    text = path.read_text(encoding="utf-8")
    gid = next(iter(before.guidelines))
    old = before.guidelines[gid].title
    assert text.count(old) >= 1
    path.write_text(text.replace(old, old + " (edited)", 1), encoding="utf-8")
    after = cache.load_cached(kdir)
    assert after.version != before.version
    assert after.guidelines[gid].title == old + " (edited)"


def test_a_changed_python_file_changes_the_key(tmp_path, kdir, monkeypatch):
    code = tmp_path / "pkg"
    code.mkdir()
    (code / "model.py").write_text("LIMIT = 1\n")
    monkeypatch.setattr(cache, "_PACKAGE_DIR", code)
    one = cache.cache_key(kdir)
    (code / "model.py").write_text("LIMIT = 2\n")
    two = cache.cache_key(kdir)
    assert one[0] == two[0] and one[1] != two[1]


def test_an_unwritable_cache_folder_falls_back_to_parsing(tmp_path, kdir, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RPLNAV_CACHE_DIR", str(blocker / "rplnav"))
    kb = cache.load_cached(kdir)
    assert kb.version == cache.yaml_fingerprint(kdir) and kb.therapies


def test_a_damaged_cache_file_is_ignored_and_replaced(kdir, cdir):
    cdir.mkdir()
    path = cdir / f"knowledge-{cache.cache_key(kdir)[1]}.pickle"
    path.write_bytes(b"\x80\x05not a pickle")
    kb = cache.load_cached(kdir)
    assert kb.therapies
    assert pickle.loads(path.read_bytes()).version == kb.version


def test_a_cache_file_others_can_write_is_never_unpickled(kdir, cdir, monkeypatch):
    """Unpickling runs code: a file that group or others may write (a shared cache folder) is parsed around."""
    cache.load_cached(kdir)
    path = cdir / f"knowledge-{cache.cache_key(kdir)[1]}.pickle"
    assert path.stat().st_mode & 0o777 == 0o600  # written private
    path.chmod(0o666)
    read = []
    monkeypatch.setattr(cache.pickle, "load", lambda f: read.append(f) or pytest.fail("unpickled a shared file"))
    kb = cache.load_cached(kdir)
    assert kb.therapies and read == []


def test_cache_off_stores_nothing(tmp_path, kdir, monkeypatch):
    monkeypatch.setenv("RPLNAV_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.load_cached(kdir).therapies
    assert not (tmp_path / "xdg").exists()


def test_a_cached_base_gives_the_same_assessment(cdir):
    text = (examples_dir() / "03-obstetric-aps.yaml").read_text(encoding="utf-8")
    opts = Options(guidelines=None, strict=False, name="03")
    cache.load_cached(KNOWLEDGE_DIR)  # stores
    cached = cache.load_cached(KNOWLEDGE_DIR)  # reads
    parsed = load(KNOWLEDGE_DIR)[0]
    a = render_json(assess_input(text, None, opts, Engine(cached)))
    b = render_json(assess_input(text, None, opts, Engine(parsed)))
    day = re.compile(r'"generated_on": "[^"]*"')
    assert day.sub("", a) == day.sub("", b)
