"""The archive reader: ``read_events`` over every input form, bad lines, faults, order.

Each test writes its own inputs, so the expected records are known by construction:
one record per non-blank line, numbered as an editor numbers lines.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segment_braze as sb
from segment_braze import _json, archive
from segment_braze.archive import (
    INPUT_SUFFIXES,
    Source,
    find_sources,
    parse_block,
    read_blocks,
    read_file,
    read_source,
)


def event(n: int) -> dict[str, Any]:
    return {"type": "track", "userId": f"u{n}", "event": "Played", "messageId": f"m{n}"}


def ndjson(*events: Any) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def places(records: list[sb.EventLine]) -> list[tuple[str, int]]:
    return [(r.source, r.line) for r in records]


# -- input forms -----------------------------------------------------------------------------


def test_ndjson_lines_numbered_as_an_editor_numbers_them(tmp_path: Path) -> None:
    """One record per non-blank line; blank lines count in the numbering but yield
    nothing; a last line without a newline is still a line."""
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"\n".join([json.dumps(event(1)).encode(), b"", b"   ",
                                 json.dumps(event(2)).encode(), b"\r",
                                 json.dumps(event(3)).encode()]))
    records = list(sb.read_events(path))
    assert places(records) == [(str(path), 1), (str(path), 4), (str(path), 6)]
    assert [r.event for r in records] == [event(1), event(2), event(3)]
    assert all(r.ok and r.reason is None and r.message is None for r in records)
    assert records[0].raw == json.dumps(event(1)).encode()


def test_json_document_one_event_or_an_array(tmp_path: Path) -> None:
    """A ``.json`` file is one event (line 1) or an array (items numbered from 1, any
    JSON value passed on as it is); the items carry no raw line."""
    (tmp_path / "a.json").write_text(json.dumps([event(1), event(2), 7], indent=2))
    (tmp_path / "b.json").write_text(json.dumps(event(3), indent=2))
    records = list(sb.read_events([tmp_path / "a.json", tmp_path / "b.json"]))
    assert [(Path(r.source).name, r.line, r.event) for r in records] == [
        ("a.json", 1, event(1)), ("a.json", 2, event(2)), ("a.json", 3, 7),
        ("b.json", 1, event(3))]
    assert all(r.raw is None for r in records)
    assert records[1].original == _json.text(event(2))


def test_misnamed_ndjson_in_a_json_file_is_read_by_line(tmp_path: Path) -> None:
    """NDJSON under a ``.json`` name is not one document: it is read line by line."""
    path = tmp_path / "events.json"
    path.write_bytes(ndjson(event(1), event(2)))
    assert [(r.line, r.event) for r in sb.read_events(path)] == [(1, event(1)), (2, event(2))]


def test_gzip_by_magic_number_members_and_padding(tmp_path: Path) -> None:
    """gzip is recognised by its first bytes whatever the name; several members are read
    to the end, and zero padding after the last is ignored."""
    data = gzip.compress(ndjson(event(1))) + gzip.compress(ndjson(event(2))) + b"\0" * 64
    (tmp_path / "plain-name.ndjson").write_bytes(data)
    (tmp_path / "doc.json.gz").write_bytes(gzip.compress(json.dumps([event(3)]).encode()))
    records = list(sb.read_events([tmp_path / "plain-name.ndjson", tmp_path / "doc.json.gz"]))
    assert [r.event for r in records] == [event(1), event(2), event(3)]
    assert read_file(tmp_path / "doc.json.gz") == json.dumps([event(3)]).encode()


def test_standard_input_plain_and_gzipped() -> None:
    """``-`` reads the given stream (gzipped or not); its lines come from ``<stdin>``."""
    for data in (ndjson(event(1), event(2)), gzip.compress(ndjson(event(1), event(2)))):
        records = list(sb.read_events("-", stdin=io.BytesIO(data)))
        assert places(records) == [("<stdin>", 1), ("<stdin>", 2)]


def test_standard_input_named_twice_is_refused() -> None:
    """Standard input can be read once."""
    with pytest.raises(ValueError, match="only once"):
        sb.read_events(["-", "-"])


def test_one_path_alone_or_several(tmp_path: Path) -> None:
    """A string or a path alone is one input, not a sequence of characters."""
    path = tmp_path / "in.ndjson"
    path.write_bytes(ndjson(event(1)))
    for given_ in (str(path), path, [path], (str(path),)):
        assert [r.event for r in sb.read_events(given_)] == [event(1)]


# -- directories ------------------------------------------------------------------------------


def test_directory_walk_is_stable_and_filtered(tmp_path: Path) -> None:
    """Files and folders sorted together by name at every level (as ``find | sort``),
    whatever order the file system lists them in; hidden names and other suffixes left
    out."""
    names = ("b/2.ndjson", "b/10.jsonl", "a/z.json", "a/.hidden/x.ndjson", "c.gz",
             "notes.txt", ".x.ndjson", "a.ndjson", "B.JSONL")
    for name in reversed(names):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ndjson({"name": name}))
    want = ["B.JSONL", "a/z.json", "a.ndjson", "b/10.jsonl", "b/2.ndjson", "c.gz"]
    assert [s.name for s in find_sources(tmp_path)] == [str(tmp_path / n) for n in want]
    assert [r.event["name"] for r in sb.read_events(tmp_path)] == want
    assert set(INPUT_SUFFIXES) == {".ndjson", ".jsonl", ".json", ".gz"}


def test_segment_s3_layout(tmp_path: Path) -> None:
    """``segment-logs/<source>/<received-day>/<file>.gz`` is read day after day."""
    root = tmp_path / "segment-logs"
    for day, n in (("1714608000", 2), ("1714521600", 1)):
        folder = root / "SRC" / day
        folder.mkdir(parents=True)
        (folder / f"{day}000.a1.gz").write_bytes(gzip.compress(ndjson(event(n))))
    assert [r.event for r in sb.read_events(root)] == [event(1), event(2)]


@pytest.mark.parametrize("what", ["missing", "empty directory"])
def test_missing_inputs_fail_before_any_line(tmp_path: Path, what: str) -> None:
    """A missing path, or a directory without any input file, raises FileNotFoundError
    naming it when ``read_events`` is called, before a line is read."""
    good = tmp_path / "good.ndjson"
    good.write_bytes(ndjson(event(1)))
    bad = tmp_path / "bad"
    if what == "empty directory":
        bad.mkdir()
        (bad / "notes.txt").write_text("no input here")
    with pytest.raises(FileNotFoundError) as caught:
        sb.read_events([good, bad])
    assert caught.value.filename == str(bad)


# -- bad lines -------------------------------------------------------------------------------


def test_bad_lines_are_records_with_a_reason(tmp_path: Path) -> None:
    """Not JSON, invalid UTF-8, nesting too deep and a line over 1 MB are each one
    record with a reason and a message; the lines around them are read."""
    huge = b'{"x":"' + b"y" * 1_100_000 + b'"}'
    deep = b"[" * 100_000 + b"]" * 100_000
    path = tmp_path / "odd.ndjson"
    path.write_bytes(b"\n".join([b"not json {", b'{"a":"\xff"}', deep, huge,
                                 json.dumps(event(1)).encode()]))
    for loads in (_json.std_loads, _json.loads):  # std json raises RecursionError when deep
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_json, "loads", loads)
            records = list(sb.read_events(path))
        assert [r.reason for r in records] == ["not JSON", "not JSON", "not JSON",
                                               "larger than 1 MB", None]
        assert [r.line for r in records] == [1, 2, 3, 4, 5]
        assert not any(r.ok for r in records[:4])
        assert records[4].event == event(1)
        assert all(r.event is None for r in records[:4])
        assert records[0].message is not None
        assert records[0].message.startswith("not JSON: ")
        assert records[3].message == "the event is larger than 1 MB"
        assert records[3].problems == (sb.Problem("$", "the event is larger than 1 MB"),)
        assert records[4].problems == ()
        assert "\\xff" in records[1].original


def test_the_line_null_is_read(tmp_path: Path) -> None:
    """``null`` is a JSON value: ``ok`` with ``event`` None (test ``ok``, not ``event``)."""
    path = tmp_path / "n.ndjson"
    path.write_bytes(b"null\n")
    [record] = sb.read_events(path)
    assert record.ok
    assert record.event is None


# -- faults ----------------------------------------------------------------------------------


def _truncated(tmp_path: Path, count: int = 300) -> tuple[Path, list[dict[str, Any]]]:
    events = [event(n) for n in range(count)]
    whole = gzip.compress(ndjson(*events))
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    return path, events


def test_truncated_gzip_raises_after_the_lines_before_it(tmp_path: Path) -> None:
    """Without a failures list, a fault raises OSError once the lines read before it
    (and the part of a line cut by it, as not JSON) have been yielded."""
    path, events = _truncated(tmp_path)
    seen: list[sb.EventLine] = []
    with pytest.raises(OSError, match="truncated"):
        seen.extend(sb.read_events(path))
    good = [r.event for r in seen if r.ok]
    assert 0 < len(good) < len(events)
    assert good == events[: len(good)]
    assert all(r.reason == "not JSON" for r in seen if not r.ok)
    assert len(seen) - len(good) <= 1


def test_truncated_gzip_is_recorded_and_the_next_input_read(tmp_path: Path) -> None:
    """With a failures list, the fault is recorded (stage "read") and reading goes on."""
    path, _ = _truncated(tmp_path)
    after = tmp_path / "z.ndjson"
    after.write_bytes(ndjson(event(999)))
    failures: list[sb.ReadFailure] = []
    records = list(sb.read_events([path, after], failures=failures))
    assert records[-1].event == event(999)
    [failure] = failures
    assert (failure.source, failure.stage) == (str(path), "read")
    assert "truncated" in failure.message
    assert str(failure) == f"{path}: {failure.message}; the lines before it were read"
    assert failure.to_json() == {"source": str(path), "stage": "read",
                                 "message": failure.message}


def test_corrupt_gzip_is_an_os_error(tmp_path: Path) -> None:
    """gzip's magic number followed by garbage: an OSError (not zlib's own error)."""
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(OSError, match="decompressing"):
        list(sb.read_events(path))
    with pytest.raises(OSError, match="decompressing"):
        read_file(path)


def test_an_input_gone_before_it_is_opened(tmp_path: Path) -> None:
    """An input that cannot be opened is recorded (stage "open") with the system's
    reason, and the others are read."""
    gone, kept = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    gone.write_bytes(ndjson(event(1)))
    kept.write_bytes(ndjson(event(2)))
    sources = find_sources(tmp_path)
    os.remove(gone)
    failures: list[sb.ReadFailure] = []
    records = [r for s in sources for r in read_source(s, failures=failures)]
    assert [r.event for r in records] == [event(2)]
    assert failures == [sb.ReadFailure(str(gone), "open", "no such file or directory")]
    assert str(failures[0]) == f"{gone}: no such file or directory"
    with pytest.raises(FileNotFoundError):
        list(read_source(sources[0]))


def test_progress_reports_the_bytes_read(tmp_path: Path) -> None:
    """``progress`` hears every byte read, before decompression."""
    path = tmp_path / "in.gz"
    path.write_bytes(gzip.compress(ndjson(*(event(n) for n in range(100)))))
    heard: list[int] = []
    source = Source(name=str(path), path=str(path), size=path.stat().st_size)
    assert len(list(read_source(source, progress=heard.append))) == 100
    assert sum(heard) == path.stat().st_size


# -- the record ------------------------------------------------------------------------------


def test_record_json_repr_and_pickle(tmp_path: Path) -> None:
    """``to_json`` is plain JSON in both forms; the repr leaves the raw line out; a record
    pickles (to go to other processes)."""
    path = tmp_path / "in.ndjson"
    path.write_bytes(ndjson(event(1)) + b"oops\n")
    good, bad = sb.read_events(path)
    assert good.to_json() == {"source": str(path), "line": 1, "event": event(1)}
    assert bad.to_json() == {"source": str(path), "line": 2, "reason": "not JSON",
                             "message": bad.message, "original": "oops"}
    json.dumps([good.to_json(), bad.to_json()])
    assert "raw" not in repr(good)
    assert repr(bad).startswith(f"EventLine(source={str(path)!r}, line=2, reason='not JSON'")
    assert pickle.loads(pickle.dumps(good)) == good  # noqa: S301 - our own object


@given(st.lists(st.one_of(st.binary(max_size=30).filter(
                              lambda b: b"\n" not in b and not b.startswith(b"\x1f")),
                          st.sampled_from([b"", b" ", b"{}", b"[1]", b"null", b'"x"'])),
                max_size=25))
def test_every_non_blank_line_is_one_record(lines: list[bytes]) -> None:
    """Whatever the bytes: one record per non-blank line, with its number, in order."""
    data = b"\n".join(lines)  # never gzip's magic number: that is read as gzip
    records = list(read_source(Source(name="<stdin>", path=None), stdin=io.BytesIO(data)))
    want = [n for n, line in enumerate(data.split(b"\n"), 1) if line and not line.isspace()]
    assert [r.line for r in records] == want
    assert all(r.ok != (r.reason is not None) for r in records)


# -- blocks: read here, parsed elsewhere -----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.sampled_from([b'{"a": 1}', b"", b"  ", b"\r", b"not json",
                                       b'{"b": [1, 2]}\r', b"\xff"]), max_size=40),
       newline_at_end=st.booleans(), chunk=st.integers(1, 30))
def test_blocks_parse_to_the_lines_read(tmp_path_factory: pytest.TempPathFactory,
                                        lines: list[bytes], newline_at_end: bool,
                                        chunk: int) -> None:
    """Blocks of whole lines, parsed, are the records read_source yields, whatever the
    size of the reads; ``records()`` counts them."""
    path = tmp_path_factory.mktemp("blocks") / "in.ndjson"
    path.write_bytes(b"\n".join(lines) + (b"\n" if newline_at_end else b""))
    source = Source(str(path), str(path))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(archive, "CHUNK", chunk)
        blocks = list(read_blocks(source))
        records = list(read_source(source))
    assert [r for b in blocks for r in parse_block(b)] == records
    assert sum(b.records() for b in blocks) == len(records)
    assert all(b.data.endswith(b"\n") for b in blocks[:-1])


def test_documents_are_not_read_in_blocks(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[]")
    with pytest.raises(ValueError, match="not read in blocks"):
        read_blocks(Source(str(tmp_path / "a.json"), str(tmp_path / "a.json"),
                           document=True))
