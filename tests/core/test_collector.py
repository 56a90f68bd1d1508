"""The paced collector (rplnav.collector): what a unit leaves young is freed after it, survivors are frozen
every few units, and the periodic full collection frees what became garbage after it was frozen."""

from __future__ import annotations

import gc
import weakref

import pytest

from rplnav.collector import Pacer


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


@pytest.fixture
def no_automatic_collection():
    """Only the pacer collects while the test runs; frozen objects go back to the collector afterwards."""
    was = gc.isenabled()
    gc.disable()
    gc.collect()
    try:
        yield
    finally:
        gc.unfreeze()
        if was:
            gc.enable()


def test_a_cycle_a_unit_leaves_behind_is_freed_after_the_unit(no_automatic_collection):
    pacer = Pacer(middle_every=10, full_every=100)
    a, ref = cycle()
    del a
    assert ref() is not None  # refcounting alone cannot free a cycle
    pacer.after_unit()
    assert ref() is None


def test_survivors_are_frozen_every_few_units(no_automatic_collection):
    pacer = Pacer(middle_every=3, full_every=100)
    kept, _ = cycle()
    before = gc.get_freeze_count()
    pacer.after_unit()
    pacer.after_unit()
    assert gc.get_freeze_count() == before
    pacer.after_unit()
    assert gc.get_freeze_count() > before
    assert kept.other is not None


def test_garbage_made_of_frozen_objects_waits_for_the_full_collection(no_automatic_collection):
    pacer = Pacer(middle_every=2, full_every=6)
    a, ref = cycle()
    pacer.after_unit()
    pacer.after_unit()  # unit 2: `a` is alive and frozen
    del a
    for _ in range(3):  # units 3-5: young and middle collections never look at frozen objects
        pacer.after_unit()
        assert ref() is not None
    pacer.after_unit()  # unit 6: everything is unfrozen and collected once
    assert ref() is None
    assert pacer.full_collections == 1
    assert gc.get_freeze_count() > 0  # and the survivors are frozen again
