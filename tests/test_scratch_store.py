"""ScratchStore: a dry run over a read-only store, which it never writes."""

from __future__ import annotations

from pathlib import Path

import segment_braze as sb
from segment_braze.state import StateStore


def _base(path: Path) -> sb.SQLiteStore:
    with sb.SQLiteStore(path) as store:
        store.put("external_id:u1", {"plan": "pro"})
        store.put("external_id:u2", {"plan": "free"})
    return sb.SQLiteStore(path, readonly=True)


def test_reads_fall_through_until_written(tmp_path: Path) -> None:
    """A user the scratch has not written is read from the base; once written (or
    deleted) the scratch's record wins."""
    scratch = sb.ScratchStore(_base(tmp_path / "state.db"))
    assert scratch.get("external_id:u1") == {"plan": "pro"}
    assert scratch.get("external_id:u9") is None
    scratch.put("external_id:u1", {"plan": "plus"})
    scratch.delete("external_id:u2")
    scratch.put("external_id:u9", {})
    assert scratch.get("external_id:u1") == {"plan": "plus"}
    assert scratch.get("external_id:u2") is None
    assert scratch.get("external_id:u9") == {}
    assert len(scratch) == 3
    scratch.close()


def test_the_base_is_never_written(tmp_path: Path) -> None:
    """Writes, deletes, flush and close leave the base file as it was."""
    path = tmp_path / "state.db"
    scratch = sb.ScratchStore(_base(path))
    scratch.put("external_id:u1", {"plan": "plus"})
    scratch.delete("external_id:u2")
    scratch.flush()
    scratch.close()
    with sb.SQLiteStore(path, readonly=True) as again:
        assert again.get("external_id:u1") == {"plan": "pro"}
        assert again.get("external_id:u2") == {"plan": "free"}


def test_nothing_is_evicted() -> None:
    """However many users it holds, a scratch forgets none (a forgotten write would let
    the base's older record show through)."""
    base = sb.MemoryStore()
    base.put("u0", {"a": "old"})
    scratch = sb.ScratchStore(base)
    for n in range(20_000):
        scratch.put(f"u{n}", {"a": n})
    assert scratch.get("u0") == {"a": 0}
    assert len(scratch) == 20_000


def test_without_a_base_it_starts_empty() -> None:
    scratch = sb.ScratchStore()
    assert scratch.get("u1") is None
    scratch.put("u1", {"a": 1})
    assert scratch.get("u1") == {"a": 1}
    scratch.close()
    assert isinstance(scratch, StateStore)
    assert repr(scratch) == "ScratchStore(None, changed=1)"


def test_a_translator_previews_over_it(tmp_path: Path) -> None:
    """Change tracking over a scratch leaves out what the base already has, and a second
    dry run over a fresh scratch sees the base again, not the first run's writes."""
    path = tmp_path / "state.db"
    event = {"type": "identify", "userId": "u1", "traits": {"plan": "pro"},
             "timestamp": "2024-05-01T12:00:00Z"}
    with sb.SQLiteStore(path) as store:
        sb.Translator(sb.Settings(), store=store, commit="on_translate").translate(event)
    for _ in range(2):
        scratch = sb.ScratchStore(sb.SQLiteStore(path, readonly=True))
        translator = sb.Translator(sb.Settings(), store=scratch, commit="on_translate")
        changed = dict(event, traits={"plan": "plus"})
        assert translator.translate(changed).unchanged == ()
        assert translator.translate(changed).skipped == "no attribute changed"
        assert translator.translate(event).unchanged == ()
        scratch.close()
