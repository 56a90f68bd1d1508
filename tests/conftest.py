"""Shared fixtures: the bundled knowledge base, an engine, and a patient builder with a fixed date."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

import pytest

from rplnav.assess import Engine
from rplnav.knowledge.load import default_knowledge
from rplnav.patient import Parsed, parse_patient

# The suite keeps its knowledge-base cache to itself (subprocesses inherit it): a new folder per run, removed at
# exit, so tests never write into the user's ~/.cache/rplnav nor read a file an earlier checkout left there.
if "RPLNAV_CACHE_DIR" not in os.environ:
    os.environ["RPLNAV_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="rplnav-test-cache-")
    atexit.register(shutil.rmtree, _CACHE, True)

ASSESSED_ON = "2026-11-01"


@pytest.fixture(scope="session")
def kb():
    return default_knowledge()


@pytest.fixture(scope="session")
def engine(kb):
    return Engine(kb)


def base_patient(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"schema": "rplnav.patient/v1", "id": "t1", "age": 32, "assessed_on": ASSESSED_ON}
    d.update(over)
    return d


@pytest.fixture(scope="session")
def make(kb):
    def _make(**over: Any) -> Parsed:
        return parse_patient(base_patient(**over), kb.tests, set(kb.therapies))

    return _make
