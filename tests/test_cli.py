"""The command line, end to end: generated archives in, requests, rejects and summary out.

Most tests call ``main(argv)`` in the test process (fast); the ones that matter for the
installed command run ``python -m segment_braze`` in a child process, with the
interpreter running the tests, so they work in any fresh virtual environment.

The test archives are built here from templates whose outcome is known by construction
(translated, skipped or rejected), so the expected counts never come from the code under
test.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import json
import re
import sqlite3
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segment_braze as sb
from segment_braze import _json, cli
from segment_braze.archive import Source, find_sources
from segment_braze.braze import (
    Endpoint,
    Identifier,
    Origin,
    Part,
    Request,
    UserAttributes,
    UsersTrack,
)
from segment_braze.braze.endpoint import origins_field
from segment_braze.cli import arguments, commands
from segment_braze.cli.accounting import Rejects, Tally, objects
from segment_braze.cli.progress import Progress
from segment_braze.limits import RateLimit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SECRET = "sk-test-0123456789abcdef"

# -- running the command ------------------------------------------------------------------


@attrs.frozen
class Result:
    status: int
    out: bytes
    err: str

    def requests(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def call(*argv: object, stdin: bytes = b"") -> Result:
    """``segment-braze`` in this process."""
    out, err = io.BytesIO(), io.StringIO()
    status = cli.main([str(a) for a in argv], stdin=io.BytesIO(stdin), stdout=out,
                      stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


def run(*argv: object, stdin: bytes = b"", cwd: Path | None = None) -> Result:
    """``python -m segment_braze`` in a child process, as a user runs it."""
    command = [sys.executable, "-m", "segment_braze", *map(str, argv)]
    done = subprocess.run(command, input=stdin, capture_output=True,  # noqa: S603 - ours
                          cwd=cwd, timeout=120, check=False)
    return Result(done.returncode, done.stdout, done.stderr.decode())


def summary_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def stderr_counts(err: str) -> dict[str, int]:
    """The totals of the human summary on standard error."""
    counts = {"read": int(re.search(r"([\d,]+) lines read", err)[1].replace(",", ""))}
    for name in ("translated", "skipped", "rejected"):
        found = re.search(rf"^  {name}\s+([\d,]+)", err, re.MULTILINE)
        assert found is not None, err
        counts[name] = int(found[1].replace(",", ""))
    return counts


# -- generated archives --------------------------------------------------------------------

STAMP = "2024-05-01T12:00:00.000Z"


def _identify(tag: str, n: int) -> dict[str, Any]:
    return {"type": "identify", "userId": f"user-{n % 7}", "messageId": f"{tag}-{n}",
            "timestamp": STAMP, "traits": {"firstName": "Ada", "plan": "pro",
                                           "email_subscribe": "opted_in"}}


def _track(tag: str, n: int) -> dict[str, Any]:
    return {"type": "track", "userId": f"user-{n % 7}", "messageId": f"{tag}-{n}",
            "event": "Clicked", "timestamp": STAMP, "properties": {"n": n}}


def _order(tag: str, n: int) -> dict[str, Any]:
    return {"type": "track", "userId": f"user-{n % 7}", "messageId": f"{tag}-{n}",
            "event": "Order Completed", "timestamp": STAMP,
            "properties": {"currency": "EUR", "products": [
                {"product_id": "a", "price": 3.5}, {"product_id": "b", "price": 1, "quantity": 2}]}}


def _page(tag: str, n: int) -> dict[str, Any]:
    return {"type": "page", "userId": f"user-{n % 7}", "messageId": f"{tag}-{n}",
            "name": "Home", "timestamp": STAMP}


def _anonymous(tag: str, n: int) -> dict[str, Any]:
    return {"type": "track", "anonymousId": f"anon-{n}", "messageId": f"{tag}-{n}",
            "event": "Clicked", "timestamp": STAMP}


def _no_name(tag: str, n: int) -> dict[str, Any]:
    return {"type": "track", "userId": "user-1", "messageId": f"{tag}-{n}", "event": "",
            "timestamp": STAMP}


#: Templates and their outcome with the default settings: (kind, build, reason).
TEMPLATES: tuple[tuple[str, Any, str], ...] = (
    ("translated", _identify, ""),
    ("translated", _track, ""),
    ("translated", _order, ""),
    ("skipped", _page, "page calls are not sent"),
    ("skipped", _anonymous, "no Braze identifier"),
    ("rejected", _no_name, "at $.event"),
    ("rejected", b"this is not JSON {", "not JSON"),
    ("rejected", b"[1, 2, 3]", "at $"),
)


@attrs.frozen
class Line:
    raw: bytes
    outcome: str
    reason: str
    message_id: str | None


def make_lines(tag: str, count: int) -> list[Line]:
    """``count`` lines cycling through :data:`TEMPLATES`, with a blank line now and then
    (blank lines are not events and are not counted)."""
    lines = []
    for n in range(count):
        outcome, build, reason = TEMPLATES[n % len(TEMPLATES)]
        if isinstance(build, bytes):
            lines.append(Line(build, outcome, reason, None))
        else:
            event = build(tag, n)
            lines.append(Line(json.dumps(event).encode(), outcome, reason, event["messageId"]))
    return lines


def ndjson(lines: list[Line]) -> bytes:
    out = []
    for n, line in enumerate(lines):
        out.append(line.raw + b"\n")
        if n % 5 == 4:
            out.append(b"   \n")
    return b"".join(out)


def expected(lines: list[Line]) -> Counter[str]:
    return Counter(line.outcome for line in lines)


@attrs.frozen
class Archive:
    root: Path
    #: Lines of the input files in the order the command reads them.
    lines: list[Line]
    #: (file, line number) of each line, same order.
    places: list[tuple[Path, int]]


def _place(lines: list[Line]) -> list[int]:
    """Line numbers of ``lines`` in :func:`ndjson` output (blank lines included)."""
    numbers, number = [], 0
    for n in range(len(lines)):
        number += 1
        numbers.append(number)
        if n % 5 == 4:
            number += 1
    return numbers


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    """A Segment S3-style tree: gzipped NDJSON by received day, a nested plain NDJSON
    file, an empty file, an empty gzip, and files the walk must leave out."""
    root = tmp_path / "segment-logs" / "SRC1"
    files = {
        root / "1714521600" / "1714552800000.aaaa.gz": make_lines("d1", 40),
        root / "1714608000" / "1714639200000.bbbb.gz": make_lines("d2", 33),
        root / "1714608000" / "late" / "extra.ndjson": make_lines("d3", 9),
    }
    all_lines: list[Line] = []
    places: list[tuple[Path, int]] = []
    for path, lines in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = ndjson(lines)
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        all_lines += lines
        places += [(path, n) for n in _place(lines)]
    (root / "1714608000" / "empty.ndjson").write_bytes(b"")
    (root / "1714694400").mkdir()
    (root / "1714694400" / "empty.gz").write_bytes(gzip.compress(b""))
    (root / "1714608000" / ".partial.gz").write_bytes(b"not even gzip")
    (root / "1714608000" / "README.txt").write_text("not an input")
    return Archive(tmp_path / "segment-logs", all_lines, places)


# -- the installed command, end to end -------------------------------------------------------


def test_translate_archive_tree_end_to_end(archive: Archive, tmp_path: Path) -> None:
    """A directory tree: exit 0, every line accounted for, rejects written with their
    source, line and problems, requests well formed."""
    out, rejects, summary = tmp_path / "out.ndjson", tmp_path / "rej.ndjson", tmp_path / "s.json"
    result = run("translate", archive.root, "--output", out, "--rejects", rejects,
                 "--summary", summary)
    assert result.status == 0, result.err
    assert result.out == b""
    assert "Traceback" not in result.err
    counts = expected(archive.lines)
    data = summary_of(summary)
    assert data["read"] == len(archive.lines) == sum(counts.values())
    assert data["translated"] == counts["translated"]
    assert data["skipped"]["total"] == counts["skipped"]
    assert data["rejected"]["total"] == counts["rejected"]
    assert data["read"] == (data["translated"] + data["skipped"]["total"]
                            + data["rejected"]["total"])
    assert data["files"] == 5  # three with events, the empty file and the empty gzip
    assert stderr_counts(result.err) == {"read": data["read"], **{
        k: counts[k] for k in ("translated", "skipped", "rejected")}}

    by_reason = Counter(line.reason for line in archive.lines if line.outcome == "rejected")
    assert data["rejected"]["by_reason"] == dict(by_reason)
    for reason, count in Counter(line.reason for line in archive.lines
                                 if line.outcome == "skipped").items():
        assert sum(n for text, n in data["skipped"]["by_reason"].items()
                   if text.startswith(reason)) == count

    records = lines_of(rejects)
    want = [(str(path), number, line.raw.decode())
            for line, (path, number) in zip(archive.lines, archive.places, strict=True)
            if line.outcome == "rejected"]
    assert [(r["source"], r["line"], r["original"]) for r in records] == want
    for record in records:
        assert record["problems"]
        assert all(p["path"].startswith("$") and p["message"] for p in record["problems"])

    requests = lines_of(out)
    assert requests
    for request in requests:
        assert set(request) == {"endpoint", "body", "origins"}
        assert request["endpoint"] == "/users/track"
        for array, origins in request["origins"].items():
            assert len(origins) == len(request["body"][array])
    origins = {o for r in requests for values in r["origins"].values() for o in values}
    assert origins == {line.message_id for line in archive.lines
                       if line.outcome == "translated"}


def test_fail_on_reject_exit_status(archive: Archive, tmp_path: Path) -> None:
    """With --fail-on-reject a rejected line makes the status 1; without rejects it is 0."""
    assert run("translate", archive.root, "--fail-on-reject", "-o", tmp_path / "o").status == 1
    clean = tmp_path / "clean.ndjson"
    clean.write_bytes(ndjson([line for line in make_lines("c", 16)
                              if line.outcome != "rejected"]))
    assert call("translate", clean, "--fail-on-reject").status == 0


def test_standard_input_plain_and_gzipped() -> None:
    """``-`` reads NDJSON from standard input, gzipped or not."""
    lines = make_lines("in", 16)
    counts = expected(lines)
    for data in (ndjson(lines), gzip.compress(ndjson(lines))):
        result = run("translate", "-", "--no-batch", stdin=data)
        assert result.status == 0, result.err
        assert stderr_counts(result.err) == {"read": 16, **counts}
        assert len(result.requests()) == counts["translated"]


def test_truncated_gzip_is_an_io_error_for_that_file_only(tmp_path: Path) -> None:
    """A gzip cut short: status 2 and one error line naming the file; the lines before the
    cut are still counted; the next file is still read."""
    lines = make_lines("t", 200)
    whole = gzip.compress(ndjson(lines))
    cut = whole[: len(whole) * 2 // 3]
    (tmp_path / "a.gz").write_bytes(cut)
    (tmp_path / "b.ndjson").write_bytes(ndjson(make_lines("b", 8)))
    # What any gzip reader can recover from the cut file, and the lines in it.
    recovered = zlib.decompressobj(wbits=31).decompress(cut)
    before = [x for x in recovered.split(b"\n") if x.strip()]
    assert 0 < len(before) < 200

    summary = tmp_path / "s.json"
    result = run("translate", tmp_path / "a.gz", tmp_path / "b.ndjson", "--summary", summary,
                 "-o", tmp_path / "out")
    assert result.status == 2
    assert "Traceback" not in result.err
    errors = [x for x in result.err.splitlines() if "error" in x]
    assert len(errors) == 1
    assert str(tmp_path / "a.gz") in errors[0]
    assert "truncated" in errors[0]
    data = summary_of(summary)
    assert data["read"] == len(before) + 8
    assert data["read"] == (data["translated"] + data["skipped"]["total"]
                            + data["rejected"]["total"])
    assert len(data["errors"]) == 1
    assert "a.gz" in data["errors"][0]


def test_empty_inputs_are_fine(tmp_path: Path) -> None:
    """An empty file and an empty gzip hold no lines: exit 0, nothing written."""
    (tmp_path / "e.ndjson").write_bytes(b"")
    (tmp_path / "e.gz").write_bytes(gzip.compress(b""))
    result = call("translate", tmp_path / "e.ndjson", tmp_path / "e.gz")
    assert result.status == 0
    assert result.out == b""
    assert stderr_counts(result.err) == {"read": 0, "translated": 0, "skipped": 0,
                                         "rejected": 0}


@pytest.mark.parametrize(("argv", "message"), [
    ((), "required"),
    (("translate",), "required: INPUT"),
    (("translate", "missing.ndjson"), "missing.ndjson: no such file or directory"),
    (("translate", "in.ndjson", "--max-total", "0"), "--max-total"),
    (("translate", "in.ndjson", "--no-batch", "--max-total", "50"), "--max-total"),
    (("translate", "in.ndjson", "--bogus"), "unrecognized arguments: --bogus"),
    (("translate", "in.ndjson", "--settings", "nope.json"), "nope.json"),
    (("translate", "in.ndjson", "--anonymous-users", "maybe"), "invalid choice"),
    (("translate", "in.ndjson", "--default-currency", "XYZ"), "default_currency"),
    (("translate", "empty-dir"), "no input files"),
    (("translate", "-", "-"), "only once"),
    (("explain", "{not json"), "not one JSON event"),
    (("explain", "[1]"), "expected one event"),
    (("explain", "missing.json"), "missing.json: no such file or directory"),
])
def test_usage_errors_exit_2_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         argv: tuple[str, ...], message: str) -> None:
    """Usage errors: status 2, one line on standard error, no traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.ndjson").write_bytes(ndjson(make_lines("u", 3)))
    (tmp_path / "empty-dir").mkdir()
    result = call(*argv)
    assert result.status == 2
    assert result.out == b""
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith("segment-braze: error: ")
    assert message in result.err


def test_usage_error_from_the_installed_command(tmp_path: Path) -> None:
    """The child process prints one line and exits 2, without a traceback."""
    result = run("translate", tmp_path / "missing.gz")
    assert result.status == 2
    assert result.err.strip() == f"segment-braze: error: {tmp_path / 'missing.gz'}: no such " \
                                 "file or directory"


def test_help_and_version() -> None:
    """--help lists the three commands and exits 0; --version names the version."""
    result = run("--help")
    assert result.status == 0
    for command in ("translate", "validate", "explain"):
        assert command.encode() in result.out
    version = call("--version")
    assert version.status == 0


# -- requests and batching ---------------------------------------------------------------------


def _many_tracks(count: int) -> bytes:
    return b"".join(json.dumps(_track("m", n)).encode() + b"\n" for n in range(count))


def test_batched_requests_respect_braze_limits(tmp_path: Path) -> None:
    """Batched by default: fewer requests, at most 75 per array, nothing lost; with
    --max-total 50, at most 50 objects per request across the arrays."""
    source = tmp_path / "many.ndjson"
    source.write_bytes(_many_tracks(400))
    unbatched = call("translate", source, "--no-batch").requests()
    assert len(unbatched) == 400
    for argv, limit in (((), 75), (("--max-total", "50"), 50)):
        result = call("translate", source, *argv)
        assert result.status == 0, result.err
        requests = result.requests()
        assert len(requests) < 400
        sizes = [sum(len(v) for v in r["body"].values()) for r in requests]
        assert max(len(v) for r in requests for v in r["body"].values()) <= 75
        assert max(sizes) <= (limit if argv else 225)
        assert sum(sizes) == 400
        events = [e for r in requests for e in r["body"]["events"]]
        assert sorted(json.dumps(e, sort_keys=True) for e in events) == sorted(
            json.dumps(r["body"]["events"][0], sort_keys=True) for r in unbatched)
        origins = [int(o[2:]) for r in requests for o in r["origins"]["events"]]
        assert sorted(origins) == list(range(400))
        for user in range(7):  # each user's events in their original order
            mine = [n for n in origins if n % 7 == user]
            assert mine == sorted(mine)


def test_no_batch_keeps_input_order_and_names_origins(archive: Archive) -> None:
    """Unbatched, requests follow the inputs in walk order (names sorted at every level);
    an event without a messageId is named by its position among the lines read."""
    result = call("translate", archive.root, "--no-batch")
    origins = [o for r in result.requests() for values in r["origins"].values()
               for o in dict.fromkeys(values)]
    assert origins == [line.message_id for line in archive.lines
                       if line.outcome == "translated"]
    no_id = b'{"type":"track","userId":"u","event":"A","timestamp":"2024-05-01T00:00:00Z"}\n'
    piped = call("translate", "-", "--no-batch", stdin=b"not json\n\n" + no_id * 2)
    assert [r["origins"] for r in piped.requests()] == [{"events": [1]}, {"events": [2]}]


def test_output_is_the_same_on_every_run(archive: Archive) -> None:
    """Same input, same settings: byte-identical output."""
    first = call("translate", archive.root)
    assert first.out == call("translate", archive.root).out
    assert first.out


def test_validate_accounts_like_translate_without_output(archive: Archive,
                                                         tmp_path: Path) -> None:
    """validate reads and counts exactly as translate does, and writes no request."""
    translated = call("translate", archive.root, "--summary", tmp_path / "t.json")
    validated = call("validate", archive.root, "--summary", tmp_path / "v.json")
    assert validated.status == translated.status == 0
    assert validated.out == b""
    assert summary_of(tmp_path / "t.json") == summary_of(tmp_path / "v.json")
    assert "requests (not written)" in validated.err


def test_summary_counts_requests_objects_and_data_points(archive: Archive,
                                                         tmp_path: Path) -> None:
    """Requests and objects per endpoint, and data points, agree with the output."""
    result = call("translate", archive.root, "--summary", tmp_path / "s.json")
    data = summary_of(tmp_path / "s.json")
    requests = result.requests()
    per_endpoint = Counter(r["endpoint"] for r in requests)
    assert {e: v["requests"] for e, v in data["requests"].items()} == dict(per_endpoint)
    objects: Counter[str] = Counter()
    for request in requests:
        for array, values in request["body"].items():
            objects[array] += len(values)
    assert data["requests"]["/users/track"]["objects"] == dict(objects)
    assert data["data_points"] == _billed(requests) > 0
    assert f"data points of attribute writes: {data['data_points']:,}" in result.err


#: Keys of an attributes object that are no attribute write, or that Braze does not bill.
_NOT_BILLED = {"external_id", "braze_id", "user_alias", "_update_existing_only",
               "_merge_objects", "email_subscribe", "push_subscribe", "subscription_groups"}


def _billed(requests: list[dict[str, Any]]) -> int:
    return sum(len(set(a) - _NOT_BILLED) for r in requests
               for a in r["body"].get("attributes", ()))


def test_data_points_rule() -> None:
    """Every attribute key costs one data point, except the subscription fields."""
    who = Identifier("external_id", "u1")
    request = UsersTrack(attributes=(
        UserAttributes(identifier=who, values={"first_name": "A", "plan": None,
                                               "email_subscribe": "opted_in",
                                               "subscription_groups": []},
                       update_existing_only=True, merge_objects=True),
        UserAttributes(identifier=who, values={"score": {"inc": 1}}),
    ))
    assert cli.data_points(request) == 3
    assert cli.data_points(sb.UsersDelete(external_ids=("u1",))) == 0


def _toy_user(entry: UserAttributes) -> tuple[str, ...]:
    return (entry.identifier.key,)


@attrs.frozen(kw_only=True, slots=False)
class _ToyProfiles(Request):
    """A made-up endpoint: attribute writes under ``profiles``, notes that write none."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/toy/profiles", (Part("profiles", 10, _toy_user, "values"),
                          Part("notes", 10, _toy_user, "none")),
        body=lambda r: {}, rate_limit=RateLimit("toy", 1, 1.0))
    profiles: tuple[UserAttributes, ...] = ()
    notes: tuple[UserAttributes, ...] = ()
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


def test_accounting_reads_the_endpoint_declaration() -> None:
    """A new endpoint is counted by its declaration alone: its arrays' objects, and the
    data points of the parts whose effect is writing values."""
    who = Identifier("external_id", "u1")
    toy = _ToyProfiles(
        profiles=(UserAttributes(identifier=who, values={"a": 1, "push_subscribe": "x"}),
                  UserAttributes(identifier=who, values={"b": 2})),
        notes=(UserAttributes(identifier=who, values={"c": 3}),))
    assert cli.data_points(toy) == 2
    assert list(objects(toy)) == [("profiles", 2), ("notes", 1)]
    tally = Tally()
    tally.count_request(toy)
    tally.count_request(_ToyProfiles(notes=toy.notes))
    assert tally.to_json()["requests"] == {
        "/toy/profiles": {"requests": 2, "objects": {"profiles": 2, "notes": 2}}}
    cohort = sb.CohortName(cohort_id="c1", name="Buyers", created_at="2024-05-01T00:00:00Z")
    assert list(objects(cohort)) == [("cohorts", 1)]


# -- inputs ----------------------------------------------------------------------------------------


def test_json_documents_one_event_or_an_array(tmp_path: Path) -> None:
    """A .json file holds one event or an array (gzipped or not); rejects name the item."""
    events = [_track("j", 0), {"type": "track", "userId": "u", "event": ""}, _identify("j", 2)]
    (tmp_path / "array.json").write_text(json.dumps(events, indent=2))
    (tmp_path / "one.json.gz").write_bytes(gzip.compress(json.dumps(_order("j", 3)).encode()))
    result = call("translate", tmp_path / "array.json", tmp_path / "one.json.gz", "--no-batch",
                  "--rejects", tmp_path / "rej")
    assert stderr_counts(result.err) == {"read": 4, "translated": 3, "skipped": 0,
                                         "rejected": 1}
    [record] = lines_of(tmp_path / "rej")
    assert record["line"] == 2
    assert json.loads(record["original"]) == events[1]


def test_misnamed_ndjson_json_file_is_read_line_by_line(tmp_path: Path) -> None:
    """A .json file that is NDJSON after all is read as NDJSON, not lost."""
    (tmp_path / "events.json").write_bytes(ndjson(make_lines("x", 8)))
    result = call("translate", tmp_path / "events.json")
    assert stderr_counts(result.err) == {"read": 8, **expected(make_lines("x", 8))}


def test_concatenated_gzip_members_are_all_read(tmp_path: Path) -> None:
    """``cat a.gz b.gz`` is valid gzip: both members are read."""
    first, second = make_lines("g1", 8), make_lines("g2", 8)
    (tmp_path / "both.gz").write_bytes(gzip.compress(ndjson(first))
                                       + gzip.compress(ndjson(second)))
    result = call("translate", tmp_path / "both.gz")
    assert stderr_counts(result.err)["read"] == 16


def test_odd_lines_are_rejected_not_fatal(tmp_path: Path) -> None:
    """Invalid UTF-8, a line over 1 MB, and JSON nested too deeply for the parser are
    each one rejected line; the line after them is still translated."""
    good = json.dumps(_track("ok", 1)).encode()
    deep = b"[" * 100_000 + b"]" * 100_000
    huge = b'{"type":"track","userId":"u","event":"A","properties":{"x":"' + b"y" * 1_100_000 \
        + b'"}}'
    data = b"\n".join([b'{"type":"track","event":"\xff\xfe"}', deep, huge, good]) + b"\n"
    (tmp_path / "odd.ndjson").write_bytes(data)
    for backend in ("json", "default"):
        with pytest.MonkeyPatch.context() as patch:
            if backend == "json":  # the standard library raises RecursionError when deep
                patch.setattr(_json, "loads", _json.std_loads)
            result = call("translate", tmp_path / "odd.ndjson", "--rejects", tmp_path / "rej")
        assert result.status == 0, result.err
        assert stderr_counts(result.err) == {"read": 4, "translated": 1, "skipped": 0,
                                             "rejected": 3}
        records = lines_of(tmp_path / "rej")
        assert [r["line"] for r in records] == [1, 2, 3]
        assert "\\xff" in records[0]["original"]
        assert "1 MB" in records[2]["problems"][0]["message"]


def test_directory_walk_order_and_filter(tmp_path: Path) -> None:
    """Files are found recursively, in name order at every level; hidden files and other
    suffixes are left out."""
    for name in ("b/2.ndjson", "b/10.jsonl", "a/z.json", "a/.hidden/x.ndjson", "c.gz",
                 "notes.txt", ".x.ndjson"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    found = [s.name for s in find_sources([str(tmp_path)])]
    assert found == [str(tmp_path / n) for n in ("a/z.json", "b/10.jsonl", "b/2.ndjson",
                                                 "c.gz")]


def test_output_folders_are_created(tmp_path: Path) -> None:
    """--output and --rejects into a folder that does not exist yet (as in the README)."""
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson(make_lines("o", 8)))
    result = call("translate", source, "--output", tmp_path / "out/requests.ndjson",
                  "--rejects", tmp_path / "out/rejects.ndjson")
    assert result.status == 0
    assert lines_of(tmp_path / "out/requests.ndjson")
    assert len(lines_of(tmp_path / "out/rejects.ndjson")) == expected(
        make_lines("o", 8))["rejected"] == 3


def test_unwritable_output_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson(make_lines("w", 3)))
    (tmp_path / "file").write_text("")
    result = call("translate", source, "--output", tmp_path / "file" / "sub" / "out")
    assert result.status == 2
    assert result.err.count("\n") == 1


# -- settings ------------------------------------------------------------------------------------


def test_settings_in_segment_keys_or_our_names_and_flags(tmp_path: Path) -> None:
    """Segment's keys and our names give the same settings; flags override the file."""
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson(make_lines("s", 16)))
    segment = tmp_path / "segment.json"
    segment.write_text(json.dumps({"apiKey": "app-1", "trackAllPages": True,
                                   "appGroupId": SECRET, "datacenter": "us03",
                                   "anonymous_users": "alias"}))
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"app_id": "app-1", "track_all_pages": True,
                                "rest_api_key": SECRET, "anonymous_users": "alias"}))
    a = call("translate", source, "--settings", segment)
    b = call("translate", source, "--settings", ours)
    assert a.status == b.status == 0
    assert a.out == b.out
    assert b'"app_id":"app-1"' in a.out
    assert stderr_counts(a.err)["skipped"] == 0  # pages sent, anonymous users as aliases
    flagged = call("translate", source, "--settings", ours, "--no-track-all-pages",
                   "--app-id", "app-2")
    assert b'"app_id":"app-2"' in flagged.out
    assert stderr_counts(flagged.err)["skipped"] == 2


@pytest.mark.parametrize(("config", "message"), [
    ({"trackAllPage": True}, "did you mean 'trackAllPages'?"),
    ({"track_all_page": True}, "did you mean 'track_all_pages'?"),
    ({"apiKey": "a", "track_all_pages": True}, "write it as 'trackAllPages'"),
    ({"track_all_pages": "yes"}, "track_all_pages"),
    ([1, 2], "JSON object"),
])
def test_settings_mistakes_are_named(tmp_path: Path, config: Any, message: str) -> None:
    """A typo, a mix of Segment's keys and our names, a bad value: one line naming it."""
    (tmp_path / "in.ndjson").write_bytes(b"")
    (tmp_path / "s.json").write_text(json.dumps(config))
    result = call("translate", tmp_path / "in.ndjson", "--settings", tmp_path / "s.json")
    assert result.status == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_secrets_are_never_written(archive: Archive, tmp_path: Path) -> None:
    """The REST API key in the settings file appears in no output, reject, summary or
    error message, even when the settings are wrong."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"appGroupId": SECRET, "datacenter": "eu"}))
    outputs = [tmp_path / n for n in ("o", "r", "s")]
    result = run("translate", archive.root, "--settings", settings, "-o", outputs[0],
                 "--rejects", outputs[1], "--summary", outputs[2])
    assert result.status == 0
    written = result.err + "".join(p.read_text() for p in outputs)
    assert SECRET not in written
    settings.write_text(json.dumps({"appGroupId": SECRET, "datacenter": "sdk.iad-01.braze.com",
                                    "trackAllPages": "yes"}))
    bad = call("translate", archive.root, "--settings", settings)
    assert bad.status == 2
    assert SECRET not in bad.err


# -- explain -----------------------------------------------------------------------------------


def test_explain_text_file_and_stdin(tmp_path: Path) -> None:
    """explain takes the event as JSON text, a file (gzipped or not) or standard input and
    shows the rules that matched and the request."""
    event = json.dumps(_order("e", 1))
    (tmp_path / "event.json.gz").write_bytes(gzip.compress(event.encode()))
    for result in (call("explain", event), call("explain", tmp_path / "event.json.gz"),
                   run("explain", "-", stdin=event.encode())):
        assert result.status == 0, result.err
        text = result.out.decode()
        assert "purchase" in text
        assert "/users/track" in text
        assert "translated" in text
    rejected = call("explain", json.dumps(_no_name("e", 2)))
    assert rejected.status == 0
    assert "$.event" in rejected.out.decode()
    assert call("explain", "[1, 2]", stdin=b"").status == 2


# -- progress ------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard error that is not a terminal gets the summary only; a terminal also gets
    progress (tqdm when installed, else a plain status line)."""
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson(make_lines("p", 40)))
    quiet = call("translate", source, "-o", tmp_path / "o")
    assert quiet.err.startswith("segment-braze: 40 lines read")
    assert "\r" not in quiet.err

    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if the cli extra were not installed
    terminal = _Terminal()
    status = cli.main(["translate", str(source), "-o", str(tmp_path / "o")],
                      stderr=terminal)
    assert status == 0
    assert "\r" in terminal.getvalue()
    assert "lines, " in terminal.getvalue()


def test_progress_with_tqdm(tmp_path: Path) -> None:
    """With the cli extra (part of the test extra), the progress is a tqdm bar."""
    import tqdm  # noqa: F401 - fails loudly if the test extra lacks it
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson(make_lines("q", 40)))
    terminal = _Terminal()
    assert cli.main(["translate", str(source), "-o", str(tmp_path / "o")],
                    stderr=terminal) == 0
    assert "reading" in terminal.getvalue()
    assert "40 lines read" in terminal.getvalue()


# -- accounting, as a property ---------------------------------------------------------------


_LINES = st.lists(st.one_of(
    st.sampled_from([line.raw for line in make_lines("h", len(TEMPLATES))]),
    st.binary(max_size=40).filter(lambda b: b"\n" not in b),
    st.sampled_from([b"", b"  ", b"{}", b"null", b'"x"', b'{"type":"track"}']),
), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_LINES)
def test_every_line_is_accounted_for(lines: list[bytes]) -> None:
    """Whatever the lines: read == translated + skipped + rejected == non-blank lines, and
    the rejects file has one record per rejected line."""
    data = b"\n".join(lines)
    rejects = io.BytesIO()
    out, err = io.BytesIO(), io.StringIO()
    tally = Tally()
    source = Source(name="<stdin>", path=None)
    progress = Progress(err, None, tally, enabled=False)
    translator = sb.Translator(sb.Settings())
    requests = commands.translate([source], translator, None, tally,
                                  Rejects(tally, rejects, _json.dumps), progress,
                                  io.BytesIO(data))
    commands.write_requests(requests, out, tally, _json.dumps)
    if data.startswith(b"\x1f\x8b"):  # gzip's magic number: read as gzip, which it is not
        assert tally.errors
        assert tally.read == 0
        return
    assert tally.errors == []
    non_blank = [x for x in data.split(b"\n") if x and not x.isspace()]
    assert tally.read == len(non_blank)
    assert tally.read == tally.translated + tally.skipped_total + tally.rejected_total
    assert len(rejects.getvalue().splitlines()) == tally.rejected_total


# -- the example archive ----------------------------------------------------------------------


def load_script(path: Path) -> ModuleType:
    """A script of the repository (examples/, benchmarks/) as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _archive_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): gzip.decompress(p.read_bytes())
            for p in sorted(root.rglob("*.gz"))}


def test_example_archive_is_what_the_generator_makes(tmp_path: Path) -> None:
    """The archive in the repository is the generator's output (deterministic), small."""
    generator = load_script(EXAMPLES / "make_archive.py")
    generator.write(tmp_path)
    committed = _archive_files(EXAMPLES / "segment-logs")
    assert committed == _archive_files(tmp_path / "segment-logs")
    assert sum(data.count(b"\n") for data in committed.values()) >= 2000
    size = sum(p.stat().st_size for p in (EXAMPLES / "segment-logs").rglob("*"))
    assert size < 300_000


def _example_events() -> Iterator[dict[str, Any]]:
    for data in _archive_files(EXAMPLES / "segment-logs").values():
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


#: The rows of settings that are off by default and that examples/settings.json leaves
#: off, so that the figures the docs show for the example archive stay as they are.
FEATURE_ROWS = {"create_alias", "subscription", "ecommerce", "ecommerce_order"}


def test_example_archive_exercises_every_rule() -> None:
    """With examples/settings.json, every row of the rule table it turns on matches some
    event (all but the opt-in feature rows), and events end up translated, skipped and
    rejected."""
    settings = sb.Settings.load(EXAMPLES / "settings.json")
    translator = sb.Translator(settings)
    matched: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for event in _example_events():
        explanation = translator.explain(event)
        statuses[explanation.translation.status] += 1
        matched.update(step.rule for step in explanation.steps if step.matched)
    assert set(matched) == {rule.name for rule in sb.DEFAULT_RULES} - FEATURE_ROWS
    assert {rule.name for rule in sb.DEFAULT_RULES
            if sb.rules.bind(rule.when, settings) is False} == FEATURE_ROWS
    assert statuses["translated"] > 0
    assert statuses["skipped"] > 0
    assert statuses["rejected"] > 0


def test_example_archive_as_recommended_ecommerce_events() -> None:
    """With ecommerce_events on, the shop's ecommerce events reach both ecommerce rows,
    and every batched request the independent checker knows is one Braze accepts."""
    from brazelimits import ENDPOINTS, check

    settings = attrs.evolve(sb.Settings.load(EXAMPLES / "settings.json"),
                            ecommerce_events=True)
    translator = sb.Translator(settings)
    matched: Counter[str] = Counter()
    requests = []
    for event in _example_events():
        explanation = translator.explain(event)
        matched.update(step.rule for step in explanation.steps if step.matched)
        requests += explanation.translation.requests
    assert matched["ecommerce"] > 0
    assert matched["ecommerce_order"] > 0
    names = Counter(e.name for r in requests for e in getattr(r, "events", ()))
    assert names["ecommerce.order_placed"] > 0
    for request in sb.batch(requests):
        if request.endpoint in ENDPOINTS:  # the checker leaves the cohort endpoints out
            assert check(request) == [], check(request)


def test_example_command_from_the_readme(tmp_path: Path) -> None:
    """The README's run command works on the example archive: bad lines are rejected and
    written, every endpoint the examples need is produced."""
    result = run("translate", EXAMPLES / "segment-logs", "--settings",
                 EXAMPLES / "settings.json", "--output", tmp_path / "out/requests.ndjson",
                 "--rejects", tmp_path / "out/rejects.ndjson", cwd=tmp_path)
    assert result.status == 0, result.err
    counts = stderr_counts(result.err)
    assert counts["read"] == counts["translated"] + counts["skipped"] + counts["rejected"]
    assert counts["rejected"] == len(lines_of(tmp_path / "out/rejects.ndjson")) >= 5
    endpoints = {r["endpoint"] for r in lines_of(tmp_path / "out/requests.ndjson")}
    assert endpoints == {"/users/track", "/users/identify", "/users/delete",
                         "/partners/segment/cohorts", "/partners/segment/cohorts/users"}


def test_every_flag_and_option_is_documented() -> None:
    """docs/cli.md names every option of translate, validate and explain."""
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parser = arguments.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = {o for sub in commands.choices.values() for action in sub._actions
               for o in action.option_strings if o.startswith("--") and o != "--help"}
    assert options >= {f.option for f in arguments.FLAGS}
    assert sorted(o for o in options if o not in page) == []


# -- the benchmark and its corpus ------------------------------------------------------------


def _load_benchmark(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # the benchmark imports corpus
    return load_script(ROOT / "benchmarks" / f"{name}.py")


def test_benchmark_corpus_mix_size_and_determinism(monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus has the stated mix (exact per 100 events), about 1 KB an event, and the
    same bytes on every call."""
    corpus = _load_benchmark("corpus", monkeypatch)
    lines = list(corpus.lines(300))
    assert lines == list(corpus.lines(300))
    kinds = Counter("order" if e.get("event") == "Order Completed" else e["type"]
                    for e in map(json.loads, lines))
    assert kinds == {"identify": 90, "track": 150, "order": 30, "page": 21, "group": 9}
    assert 800 <= sum(map(len, lines)) / len(lines) <= 1300


def test_benchmark_runs_and_reports_every_ratio(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline benchmark runs end to end on a tiny corpus and prints every ratio."""
    bench = _load_benchmark("bench_pipeline", monkeypatch)
    order = bench.hand_mapping(_order("b", 1))
    assert [endpoint for endpoint, _ in order] == ["/users/track"]
    assert len(order[0][1]["purchases"]) == 2
    assert bench.main(["--events", "200", "--repeat", "1", "--memory-events", "100", "300"]) == 0
    report = capsys.readouterr().out
    for name in ("translate_many / hand-written mapping",
                 "pipeline (stdlib json) / stdlib round trip",
                 "peak memory 300 / 100 events"):
        assert name in report
    assert "pipeline, stdlib json" in report


# -- --state: change tracking ----------------------------------------------------------------


class TestState:
    """``--state FILE``: attribute values already written are left out, counted in the
    summary; the file is saved only by a translate run without errors."""

    @staticmethod
    def identifies(tag: str, count: int) -> bytes:
        """Identify calls of seven users, each with the same traits every time: the
        subscription field is always sent, first_name and plan only once per user."""
        return b"".join(json.dumps(_identify(tag, n)).encode() + b"\n"
                        for n in range(count))

    @staticmethod
    def attribute_keys(result: Result) -> int:
        return sum(len(set(a) - {"external_id"}) for r in result.requests()
                   for a in r["body"].get("attributes", ()))

    def test_second_run_leaves_out_what_the_first_wrote(self, tmp_path: Path) -> None:
        """Run 1 writes each user's values once; run 2 over the same input writes only
        the subscription fields, skips the identify calls left with nothing, and says
        what it saved."""
        events = tmp_path / "events.ndjson"
        events.write_bytes(self.identifies("s", 21))
        state = tmp_path / "state" / "braze.db"
        first = call("translate", events, "--state", state, "--summary", tmp_path / "1.json")
        assert first.status == 0
        one = summary_of(tmp_path / "1.json")
        # 7 users: 21 first_name/plan writes would be 42; 7 users x 2 are sent.
        assert one["unchanged"] == one["data_points_saved"] == 42 - 14
        assert one["data_points"] == 14
        assert "attribute values dropped as unchanged: 28" in first.err
        assert "data points saved: 28 (67% of 42)" in first.err
        assert state.exists()

        second = call("translate", events, "--state", state, "--summary",
                      tmp_path / "2.json")
        two = summary_of(tmp_path / "2.json")
        assert two["unchanged"] == two["data_points_saved"] == 42
        assert two["data_points"] == 0
        assert two["translated"] == 21  # the subscription field is still sent
        assert self.attribute_keys(second) == 21
        assert two["read"] == two["translated"] + two["skipped"]["total"]

    def test_identify_with_nothing_left_is_skipped(self, tmp_path: Path) -> None:
        """An identify whose values all drop is skipped, with its reason counted."""
        event = {"type": "identify", "userId": "u1", "timestamp": STAMP,
                 "traits": {"plan": "pro"}}
        data = json.dumps(event).encode() + b"\n"
        state = tmp_path / "s.db"
        assert call("translate", "-", "--state", state, stdin=data).status == 0
        again = call("translate", "-", "--state", state, "--summary", tmp_path / "s.json",
                     stdin=data * 2)
        summary = summary_of(tmp_path / "s.json")
        assert summary["skipped"]["by_reason"] == {"no attribute changed": 2}
        assert again.out == b""

    def test_without_state_nothing_is_left_out(self, tmp_path: Path) -> None:
        """Without --state every value is written and the summary says nothing of it."""
        events = tmp_path / "events.ndjson"
        events.write_bytes(self.identifies("n", 14))
        result = call("translate", events, "--summary", tmp_path / "s.json")
        assert self.attribute_keys(result) == 14 * 3
        assert "dropped as unchanged" not in result.err
        assert summary_of(tmp_path / "s.json")["unchanged"] == 0

    def test_validate_reads_the_state_and_never_writes_it(self, tmp_path: Path) -> None:
        """validate counts what translate would leave out, creates no file and leaves an
        existing one as it was."""
        events = tmp_path / "events.ndjson"
        events.write_bytes(self.identifies("v", 14))
        state = tmp_path / "s.db"
        preview = call("validate", events, "--state", state, "--summary", tmp_path / "v.json")
        assert preview.status == 0
        assert not state.exists()
        assert summary_of(tmp_path / "v.json")["unchanged"] == 28 - 14
        call("translate", events, "--state", state)
        before = sqlite3.connect(state).execute("SELECT * FROM users ORDER BY key").fetchall()
        call("validate", events, "--state", state, "--summary", tmp_path / "v2.json")
        after = sqlite3.connect(state).execute("SELECT * FROM users ORDER BY key").fetchall()
        assert before == after
        assert summary_of(tmp_path / "v2.json")["unchanged"] == 28

    def test_a_run_with_errors_leaves_the_state_as_it_was(self, tmp_path: Path) -> None:
        """A run that ends with an I/O error saves nothing: its output may be incomplete,
        and the values in it must be written again by the next run."""
        good = tmp_path / "good.ndjson"
        good.write_bytes(self.identifies("g", 7))
        whole = gzip.compress(self.identifies("c", 700))
        (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
        state = tmp_path / "s.db"
        failed = call("translate", good, tmp_path / "cut.gz", "--state", state)
        assert failed.status == 2
        again = call("translate", good, "--state", state, "--summary", tmp_path / "s.json")
        assert summary_of(tmp_path / "s.json")["unchanged"] == 0
        assert self.attribute_keys(again) == 7 * 3

    def test_explain_shows_unchanged_values(self, tmp_path: Path) -> None:
        """explain --state names the values it would leave out; a missing file is an
        error."""
        event = json.dumps({"type": "identify", "userId": "u1", "timestamp": STAMP,
                            "traits": {"plan": "pro", "seats": 3}})
        state = tmp_path / "s.db"
        call("translate", "-", "--state", state, stdin=event.encode())
        shown = call("explain", event.replace("3", "4"), "--state", state)
        assert shown.status == 0
        assert b"unchanged, not sent: plan" in shown.out
        missing = call("explain", event, "--state", tmp_path / "none.db")
        assert missing.status == 2
        assert "none.db" in missing.err

    def test_a_file_that_is_not_a_state_file_is_refused(self, tmp_path: Path) -> None:
        """Another SQLite database (or any other file) is a usage error, left as it was."""
        other = tmp_path / "app.db"
        db = sqlite3.connect(other)
        db.execute("CREATE TABLE users (id INTEGER)")
        db.commit()
        db.close()
        before = other.read_bytes()
        result = call("translate", "-", "--state", other, stdin=b"")
        assert result.status == 2
        assert "not a segment-braze state file" in result.err
        assert other.read_bytes() == before
