"""Property-based tests over the OpenAPI spec: nothing a client sends may produce a 5xx."""

from __future__ import annotations

import copy
import tempfile

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from rplnav.service.app import create_app
from rplnav.service.config import Settings
from tests.service.conftest import example

_db = tempfile.NamedTemporaryFile(prefix="rplnav-st-", suffix=".sqlite3", delete=False)
APP = create_app(Settings(database_url=f"sqlite:///{_db.name}", insecure_dev=True))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    case.validate_response(response, checks=(not_a_server_error,))
    assert response.status_code < 500, response.text[:500]


# Deeper than random objects: a valid patient with one field replaced by arbitrary JSON must never be a 5xx.
_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=12), lambda c: st.lists(c, max_size=3) | st.dictionaries(
                         st.text(max_size=8), c, max_size=3), max_leaves=6)
_PATHS = [("age",), ("country",), ("current",), ("current", "gestational_age"), ("pregnancies",),
          ("pregnancies", 0), ("pregnancies", 0, "gestational_age"), ("pregnancies", 0, "date"),
          ("pregnancies", 1, "treatments"), ("labs",), ("labs", 0, "result"), ("labs", 2, "value"),
          ("labs", 2, "unit"), ("labs", 2, "reference_high"), ("labs", 0, "date"), ("findings",),
          ("findings", "thromboses"), ("conditions",), ("lifestyle",), ("assessed_on",), ("schema",), ("id",)]


@given(path=st.sampled_from(_PATHS), value=_json)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_mutated_patients_never_5xx(path, value):
    doc = copy.deepcopy(_BASE)
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    with TestClient(APP) as c:
        r = c.post("/api/v1/assess", json=doc)
    assert r.status_code in (200, 422), (path, value, r.status_code, r.text[:300])


_BASE = example("03")
_BASE["current"] = {"gestational_age": "6+0", "intrauterine_confirmed": True}
_BASE["pregnancies"][1]["treatments"] = ["aspirin"]
