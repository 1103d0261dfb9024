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


def test_a_callers_frozen_objects_stay_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """With objects the caller froze, the stage neither freezes more nor thaws theirs; without,
    it freezes and thaws its own. Counted through the gc calls: the freeze count itself can fall
    meanwhile, when another thread frees a frozen object."""
    calls: list[str] = []
    gc.freeze()
    try:
        monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
        monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
        with _fewer_collections():
            pass
        assert calls == []
    finally:
        monkeypatch.undo()
        gc.unfreeze()
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    with _fewer_collections():
        pass
    assert calls == ["freeze", "unfreeze"]


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
