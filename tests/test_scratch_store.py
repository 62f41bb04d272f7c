"""ScratchStore: a dry run over a read-only store, which it never writes."""

from __future__ import annotations

from pathlib import Path

import segment_braze as sb
from segment_braze.tracking import StateStore, UserRecord


def _base(path: Path) -> sb.SQLiteStore:
    with sb.SQLiteStore(path) as store:
        store.put("external_id:u1", UserRecord(values={"plan": "pro"}))
        store.put("external_id:u2", UserRecord(values={"plan": "free"}))
    return sb.SQLiteStore(path, readonly=True)


def test_reads_fall_through_until_written(tmp_path: Path) -> None:
    """A user the scratch has not written is read from the base; once written (or
    deleted) the scratch's record wins."""
    scratch = sb.ScratchStore(_base(tmp_path / "state.db"))
    assert scratch.get("external_id:u1") == UserRecord(values={"plan": "pro"})
    assert scratch.get("external_id:u9") is None
    scratch.put("external_id:u1", UserRecord(values={"plan": "plus"}))
    scratch.delete("external_id:u2")
    scratch.put("external_id:u9", UserRecord())
    assert scratch.get("external_id:u1") == UserRecord(values={"plan": "plus"})
    assert scratch.get("external_id:u2") is None
    assert scratch.get("external_id:u9") == UserRecord()
    assert len(scratch) == 3
    scratch.close()


def test_the_base_is_never_written(tmp_path: Path) -> None:
    """Writes, deletes, flush and close leave the base file as it was."""
    path = tmp_path / "state.db"
    scratch = sb.ScratchStore(_base(path))
    scratch.put("external_id:u1", UserRecord(values={"plan": "plus"}))
    scratch.delete("external_id:u2")
    scratch.flush()
    scratch.close()
    with sb.SQLiteStore(path, readonly=True) as again:
        assert again.get("external_id:u1") == UserRecord(values={"plan": "pro"})
        assert again.get("external_id:u2") == UserRecord(values={"plan": "free"})


def test_nothing_is_evicted() -> None:
    """However many users it holds, a scratch forgets none (a forgotten write would let
    the base's older record show through)."""
    base = sb.MemoryStore()
    base.put("u0", UserRecord(values={"a": "old"}))
    scratch = sb.ScratchStore(base)
    for n in range(20_000):
        scratch.put(f"u{n}", UserRecord(values={"a": n}))
    assert scratch.get("u0") == UserRecord(values={"a": 0})
    assert len(scratch) == 20_000


def test_without_a_base_it_starts_empty() -> None:
    scratch = sb.ScratchStore()
    assert scratch.get("u1") is None
    scratch.put("u1", UserRecord(values={"a": 1}))
    assert scratch.get("u1") == UserRecord(values={"a": 1})
    scratch.close()
    assert isinstance(scratch, StateStore)
    assert repr(scratch) == "ScratchStore(None, changed=1)"


def test_a_tracker_previews_over_it(tmp_path: Path) -> None:
    """Change tracking over a scratch leaves out what the base already has, and a second
    dry run over a fresh scratch sees the base again, not the first run's writes."""
    path = tmp_path / "state.db"
    event = {"type": "identify", "userId": "u1", "traits": {"plan": "pro"},
             "timestamp": "2024-05-01T12:00:00Z"}
    translator = sb.Translator(sb.Settings())
    with sb.SQLiteStore(path) as store:
        sb.Tracker(store, commit="on_translate").apply(translator.translate(event))
    for _ in range(2):
        scratch = sb.ScratchStore(sb.SQLiteStore(path, readonly=True))
        tracker = sb.Tracker(scratch, commit="on_translate")
        changed = dict(event, traits={"plan": "plus"})
        assert tracker.apply(translator.translate(changed)).unchanged == ()
        assert tracker.apply(translator.translate(changed)).skipped == "no attribute changed"
        assert tracker.apply(translator.translate(event)).unchanged == ()
        scratch.close()
