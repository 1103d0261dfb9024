"""The garbage collector's settings around detect's stages after ingest (issue 15)."""

import gc

import pytest

from distillguard.engines.embedded import GC_YOUNG_THRESHOLD, _fewer_collections


def test_fewer_collections_raises_then_restores_the_threshold() -> None:
    before = gc.get_threshold()
    with _fewer_collections():
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0  # what was alive is out of collections
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_callers_frozen_objects_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with _fewer_collections():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_fewer_collections_restores_after_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), _fewer_collections():
        raise RuntimeError("stage failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_are_still_collected_inside() -> None:
    import weakref

    class Node:
        pass

    with _fewer_collections():
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.collect()
        assert ref() is None
