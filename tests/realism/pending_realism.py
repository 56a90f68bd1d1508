"""Realism checks waiting for a reviewer (see UNDER_REVIEW in test_realism.py): the file name keeps them out of
the default run; run them with `pytest tests/realism/pending_realism.py`."""

from __future__ import annotations

import pytest

from tests.realism.test_realism import UNDER_REVIEW, test_aps_status, test_stances


@pytest.mark.parametrize("name", sorted(UNDER_REVIEW))
def test_under_review_aps_status(name: str):
    test_aps_status(name)


@pytest.mark.parametrize("name", sorted(UNDER_REVIEW))
def test_under_review_stances(name: str):
    test_stances(name)
