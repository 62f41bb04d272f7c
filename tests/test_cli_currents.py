"""``segment-braze currents``, end to end: Currents archives in, Segment messages, rejects
and summary out.

The end-to-end tests run ``python -m segment_braze`` in a child process, as a user runs
it; the rest call ``main(argv)`` in the test process (fast). The records are built here
from templates whose outcome is known by construction (converted, and to which Segment
event; skipped; or rejected, and at which path), so the expected counts and names never
come from the code under test.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segment_braze as sb
from segment_braze import cli
from segment_braze.archive import CHUNK, Source
from segment_braze.braze import UsersTrack
from segment_braze.cli import commands
from segment_braze.cli.accounting import CurrentsTally, Rejects
from segment_braze.cli.progress import Progress
from segment_braze.converters import structure_event
from segment_braze.events import Track

OPEN = "users.messages.email.Open"
T0 = 1714564800  # 2024-05-01T12:00:00Z


# -- running the command ------------------------------------------------------------------


@attrs.frozen
class Result:
    status: int
    out: bytes
    err: str

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def run(*argv: object, stdin: bytes = b"", cwd: Path | None = None) -> Result:
    """``python -m segment_braze currents ...`` in a child process."""
    command = [sys.executable, "-m", "segment_braze", "currents", *map(str, argv)]
    done = subprocess.run(command, input=stdin, capture_output=True,  # noqa: S603 - ours
                          cwd=cwd, timeout=120, check=False)
    return Result(done.returncode, done.stdout, done.stderr.decode())


def call(*argv: object, stdin: bytes = b"") -> Result:
    """``segment-braze currents ...`` in this process."""
    out, err = io.BytesIO(), io.StringIO()
    status = cli.main(["currents", *map(str, argv)], stdin=io.BytesIO(stdin), stdout=out,
                      stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def human_counts(err: str) -> dict[str, int]:
    """The totals of the summary on standard error."""
    counts = {}
    for name in ("converted", "skipped", "rejected"):
        found = [line for line in err.splitlines() if line.startswith(f"  {name} ")]
        assert len(found) == 1, err
        counts[name] = int(found[0].split()[-1].replace(",", ""))
    counts["read"] = int(err.split(" lines read")[0].split()[-1].replace(",", ""))
    return counts


# -- records of known outcome -------------------------------------------------------------


@attrs.frozen
class Line:
    """One input line and what must become of it."""

    raw: bytes
    outcome: str  # "converted", "skipped" or "rejected"
    #: converted: the Segment event name; skipped: a word of the reason; rejected: the
    #: reason as counted in the summary.
    detail: str
    id: str | None = None
    user: str | None = None


def _opened(tag: str, n: int) -> tuple[dict[str, Any], str, str]:
    return ({"event_type": OPEN, "id": f"{tag}-{n}", "user_id": f"braze-{n}",
             "external_user_id": f"user-{n % 5}", "time": T0 + n,
             "email_address": f"u{n}@example.com", "campaign_id": "c-1",
             "timezone": "Europe/Paris"}, "converted", "Email Opened")


def _push_sent(tag: str, n: int) -> tuple[dict[str, Any], str, str]:
    return ({"event_type": "users.messages.pushnotification.Send", "id": f"{tag}-{n}",
             "external_user_id": f"user-{n % 5}", "time": T0 + n, "platform": "ios",
             "app_id": "app-1"}, "converted", "Push Notification Sent")


def _canvas_entry(tag: str, n: int) -> tuple[dict[str, Any], str, str]:
    """Avro-wrapped values, as a generic Avro-to-JSON decoder writes them."""
    return ({"event_type": "users.canvas.Entry", "id": {"string": f"{tag}-{n}"},
             "external_user_id": {"string": f"user-{n % 5}"}, "time": {"long": T0 + n},
             "canvas_id": "cv-1", "in_control_group": False}, "converted", "Canvas Entered")


def _no_external_id(tag: str, n: int) -> tuple[dict[str, Any], str, str]:
    return ({"event_type": OPEN, "id": f"{tag}-{n}", "user_id": f"braze-{n}",
             "external_user_id": None, "time": T0 + n}, "skipped", "external_user_id")


def _not_exported(tag: str, n: int) -> tuple[dict[str, Any], str, str]:
    return ({"event_type": "users.behaviors.CustomEvent", "id": f"{tag}-{n}",
             "external_user_id": "user-1", "time": T0 + n}, "skipped", "CustomEvent")


def _date_for_time(tag: str, n: int) -> tuple[dict[str, Any], str, str]:
    return ({"event_type": OPEN, "id": f"{tag}-{n}", "external_user_id": "user-1",
             "time": "2024-05-01"}, "rejected", "at $.time")


def _no_event_type(tag: str, n: int) -> tuple[dict[str, Any], str, str]:
    return ({"id": f"{tag}-{n}", "external_user_id": "user-1", "time": T0},
            "rejected", "at $.event_type")


def _cut_short(tag: str, n: int) -> tuple[bytes, str, str]:
    return f'{{"id": "{tag}-{n}", "time": 17'.encode(), "rejected", "not JSON"


Template = Callable[[str, int], tuple["dict[str, Any] | bytes", str, str]]

#: Every file of eight lines or more holds each outcome at least once.
TEMPLATES: tuple[Template, ...] = (
    _opened, _no_external_id, _canvas_entry, _cut_short, _push_sent, _not_exported,
    _date_for_time, _opened, _no_event_type, _push_sent, _opened,
)


def make_lines(tag: str, count: int) -> list[Line]:
    """``count`` lines cycling through the templates; ids are ``<tag>-<n>``."""
    lines = []
    for n in range(count):
        record, outcome, detail = TEMPLATES[n % len(TEMPLATES)](tag, n)
        if isinstance(record, bytes):
            lines.append(Line(record, outcome, detail, f"{tag}-{n}"))
            continue
        user = record["external_user_id"]
        lines.append(Line(json.dumps(record).encode(), outcome, detail, f"{tag}-{n}",
                          user["string"] if isinstance(user, dict) else user))
    return lines


def ndjson(lines: list[Line], *, blank: bool = False) -> bytes:
    """The lines as NDJSON; with ``blank``, a blank line after the first (not counted)."""
    raws = [line.raw for line in lines]
    if blank:
        raws.insert(1, b"   ")
    return b"\n".join(raws) + b"\n"


@attrs.frozen
class Archive:
    """Inputs on disk and on standard input, and every line in the order it is read."""

    tree: Path
    gz: Path
    stdin: bytes
    #: (source name as the command reports it, line number, line) in reading order.
    expected: list[tuple[str, int, Line]]

    @property
    def lines(self) -> list[Line]:
        return [line for _, _, line in self.expected]


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    """A folder tree (plain NDJSON with a blank line, gzipped NDJSON, a hidden file and a
    file of another kind left out), a gzipped file named on its own, and standard input."""
    tree = tmp_path / "currents"
    day1, day2 = tree / "2024-05-01", tree / "2024-05-02"
    day1.mkdir(parents=True)
    day2.mkdir()
    plain, zipped = make_lines("a", 12), make_lines("b", 10)
    (day1 / "part-0.ndjson").write_bytes(ndjson(plain, blank=True))
    (day2 / "part-1.ndjson.gz").write_bytes(gzip.compress(ndjson(zipped)))
    (tree / ".hidden.ndjson").write_bytes(ndjson(make_lines("h", 3)))
    (tree / "README.txt").write_text("not an input\n")
    alone, piped = make_lines("c", 8), make_lines("d", 9)
    gz = tmp_path / "extra.gz"
    gz.write_bytes(gzip.compress(ndjson(alone)))
    expected = [(str(day1 / "part-0.ndjson"), n + (1 if n == 0 else 2), line)
                for n, line in enumerate(plain)]
    expected += [(str(day2 / "part-1.ndjson.gz"), n + 1, line) for n, line in enumerate(zipped)]
    expected += [(str(gz), n + 1, line) for n, line in enumerate(alone)]
    expected += [("<stdin>", n + 1, line) for n, line in enumerate(piped)]
    return Archive(tree, gz, ndjson(piped), expected)


# -- end to end ---------------------------------------------------------------------------


def test_archive_end_to_end(archive: Archive, tmp_path: Path) -> None:
    """A tree, a .gz file and standard input: every converted line is one track message in
    input order, every rejected line is in the rejects file with its source and number,
    and read == converted + skipped + rejected in both summaries."""
    out = tmp_path / "out"
    result = run(archive.tree, archive.gz, "-", "--output", out / "segment.ndjson",
                 "--rejects", out / "rejects.ndjson", "--summary", out / "summary.json",
                 stdin=archive.stdin)
    assert result.status == 0, result.err
    assert result.out == b""
    assert "Traceback" not in result.err

    converted = [line for line in archive.lines if line.outcome == "converted"]
    messages = lines_of(out / "segment.ndjson")
    assert [m["messageId"] for m in messages] == [line.id for line in converted]
    assert [m["event"] for m in messages] == [line.detail for line in converted]
    assert [m["userId"] for m in messages] == [line.user for line in converted]
    assert {m["type"] for m in messages} == {"track"}

    rejected = [(s, n, line) for s, n, line in archive.expected if line.outcome == "rejected"]
    rejects = lines_of(out / "rejects.ndjson")
    assert [(r["source"], r["line"], r["original"]) for r in rejects] == [
        (s, n, line.raw.decode()) for s, n, line in rejected]
    for record, (_, _, line) in zip(rejects, rejected, strict=True):
        first = record["problems"][0]
        if line.detail == "not JSON":
            assert first["path"] == "$"
            assert first["message"].startswith("not JSON")
        else:
            assert "at " + first["path"] == line.detail

    outcomes = Counter(line.outcome for line in archive.lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["read"] == len(archive.lines) == 39
    assert summary["converted"] == outcomes["converted"]
    assert summary["skipped"]["total"] == outcomes["skipped"]
    assert summary["rejected"]["total"] == outcomes["rejected"]
    assert summary["read"] == (summary["converted"] + summary["skipped"]["total"]
                               + summary["rejected"]["total"])
    assert summary["messages"] == {
        "total": len(converted),
        "by_event": dict(Counter(line.detail for line in converted))}
    assert summary["rejected"]["by_reason"] == dict(
        Counter(line.detail for line in archive.lines if line.outcome == "rejected"))
    skipped_reasons = summary["skipped"]["by_reason"]
    assert sum(skipped_reasons.values()) == outcomes["skipped"]
    for word in ("external_user_id", "CustomEvent"):
        assert sum(n for reason, n in skipped_reasons.items() if word in reason) == sum(
            1 for line in archive.lines if line.outcome == "skipped" and line.detail == word)
    assert summary["files"] == 4
    assert summary["errors"] == []

    counts = human_counts(result.err)
    assert counts == {"read": summary["read"], "converted": summary["converted"],
                      "skipped": outcomes["skipped"], "rejected": outcomes["rejected"]}
    for event, n in summary["messages"]["by_event"].items():
        assert f"{n:>10,}  {event}" in result.err


def test_messages_are_segment_tracks_that_translate_back(archive: Archive,
                                                         tmp_path: Path) -> None:
    """Each message parses as a Segment track and translates into a Braze custom event of
    the same name, user and time, named in origins by its messageId."""
    result = run(archive.tree)
    assert result.status == 0, result.err
    messages = result.messages()
    assert messages
    translator = sb.Translator(sb.Settings())
    for message in messages:
        event = structure_event(message)
        assert isinstance(event, Track)
        assert (event.event, event.user_id, event.message_id) == (
            message["event"], message["userId"], message["messageId"])
        assert message["timestamp"].endswith("Z")
        translation = translator.translate(message)
        assert translation.status == "translated", translation
        (request,) = translation.requests
        assert isinstance(request, UsersTrack)
        (braze_event,) = request.events
        assert braze_event.name == message["event"]
        assert list(request.origins["events"]) == [message["messageId"]]


def test_output_is_deterministic(archive: Archive) -> None:
    """The same inputs give the same bytes on every run (messageId is the Currents id)."""
    first = run(archive.tree, archive.gz)
    second = run(archive.tree, archive.gz)
    assert first.status == second.status == 0
    assert first.out == second.out != b""


def test_a_record_is_converted_as_documented() -> None:
    """One email open, field by field: the message the connector sends."""
    record = {"event_type": OPEN, "id": "8adc1855", "user_id": "594925ec",
              "external_user_id": "user-42", "time": T0, "email_address": "ada@example.com",
              "campaign_id": "c-1", "canvas_id": None}
    result = call("-", stdin=json.dumps(record).encode())
    assert result.status == 0, result.err
    assert result.messages() == [{
        "type": "track", "event": "Email Opened", "userId": "user-42",
        "anonymousId": "594925ec", "messageId": "8adc1855",
        "timestamp": "2024-05-01T12:00:00.000Z", "properties": {"campaign_id": "c-1"},
        "context": {"traits": {"email": "ada@example.com"}}}]


# -- --event-type ----------------------------------------------------------------------------


def _folder_record(n: int, **extra: Any) -> bytes:
    return json.dumps({"id": f"f-{n}", "external_user_id": "user-1", "time": T0 + n,
                       **extra}).encode()


def test_event_type_names_records_that_do_not_carry_one(tmp_path: Path) -> None:
    """A folder of one type: --event-type gives the type; a record naming the same type is
    converted too, one naming another is rejected at $.event_type."""
    folder = tmp_path / "event_type=users.messages.email.Open"
    folder.mkdir()
    (folder / "part.ndjson").write_bytes(b"\n".join([
        _folder_record(1), _folder_record(2, event_type=OPEN),
        _folder_record(3, event_type="users.messages.email.Click"), _folder_record(4)]))
    result = run(folder, "--event-type", OPEN, "--rejects", tmp_path / "rejects.ndjson")
    assert result.status == 0, result.err
    assert [(m["event"], m["messageId"]) for m in result.messages()] == [
        ("Email Opened", "f-1"), ("Email Opened", "f-2"), ("Email Opened", "f-4")]
    (reject,) = lines_of(tmp_path / "rejects.ndjson")
    assert reject["line"] == 3
    assert [p["path"] for p in reject["problems"]] == ["$.event_type"]
    assert human_counts(result.err) == {"read": 4, "converted": 3, "skipped": 0,
                                        "rejected": 1}


def test_without_event_type_a_record_without_one_is_rejected() -> None:
    """No --event-type and no event_type field: rejected, not guessed."""
    result = call("-", "--fail-on-reject", stdin=_folder_record(1) + b"\n")
    assert result.status == 1
    assert result.out == b""
    assert "at $.event_type" in result.err


def test_a_type_the_connector_does_not_send_is_skipped() -> None:
    """--event-type of a type outside the export table: every record skipped, by reason."""
    result = call("-", "--event-type", "users.behaviors.CustomEvent",
                  stdin=_folder_record(1) + b"\n" + _folder_record(2) + b"\n")
    assert result.status == 0
    assert result.out == b""
    assert human_counts(result.err) == {"read": 2, "converted": 0, "skipped": 2,
                                        "rejected": 0}
    assert "users.behaviors.CustomEvent" in result.err


# -- exit statuses ----------------------------------------------------------------------------


def test_fail_on_reject(archive: Archive, tmp_path: Path) -> None:
    """--fail-on-reject: status 1 when a line was rejected (the messages are still written),
    0 when none was."""
    failed = run("-", "--fail-on-reject", stdin=archive.stdin)
    assert failed.status == 1, failed.err
    assert len(failed.messages()) == sum(
        1 for line in make_lines("d", 9) if line.outcome == "converted")
    good = b"\n".join(line.raw for line in make_lines("g", 10) if line.outcome != "rejected")
    assert run("-", "--fail-on-reject", stdin=good).status == 0


@pytest.mark.parametrize(("argv", "words"), [
    (["missing.ndjson"], "missing.ndjson: no such file or directory"),
    (["-", "-"], "standard input (-) can be read only once"),
    (["-", "--batch-size", "3"], "unrecognized arguments: --batch-size"),
    ([], "required: INPUT"),
])
def test_usage_errors_are_one_line(argv: list[str], words: str, tmp_path: Path) -> None:
    """A usage error: status 2, one line on standard error naming the problem, no
    traceback, nothing written."""
    result = run(*argv, cwd=tmp_path)
    assert result.status == 2
    assert result.out == b""
    assert result.err.count("\n") == 1
    assert result.err.startswith("segment-braze: error: ")
    assert words in result.err


def test_a_truncated_gzip_is_an_io_error_for_that_file_only(tmp_path: Path) -> None:
    """The lines before the fault are converted and counted, the other inputs are read, and
    the run ends with status 2."""
    lines = make_lines("t", 10)
    data = gzip.compress(ndjson(lines))
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(data[: len(data) // 2])
    whole = tmp_path / "whole.ndjson"
    whole.write_bytes(ndjson(lines))
    result = call(cut, whole, "--summary", tmp_path / "summary.json")
    assert result.status == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["errors"]) == 1
    assert "cut.ndjson.gz" in summary["errors"][0]
    assert summary["read"] > len(lines)
    assert summary["read"] == (summary["converted"] + summary["skipped"]["total"]
                               + summary["rejected"]["total"])


def test_output_folder_is_created(tmp_path: Path) -> None:
    """--output, --rejects and --summary may name folders that do not exist yet."""
    stdin = ndjson(make_lines("o", 5))
    result = call("-", "-o", tmp_path / "a/b/segment.ndjson", "--rejects",
                  tmp_path / "c/rejects.ndjson", "--summary", tmp_path / "d/summary.json",
                  stdin=stdin)
    assert result.status == 0, result.err
    assert len(lines_of(tmp_path / "a/b/segment.ndjson")) == 3
    assert len(lines_of(tmp_path / "c/rejects.ndjson")) == 1
    assert json.loads((tmp_path / "d/summary.json").read_text())["read"] == 5


# -- accounting and streaming --------------------------------------------------------------


_LINES = st.lists(st.one_of(
    st.sampled_from([line.raw for line in make_lines("h", len(TEMPLATES))]),
    st.binary(max_size=30).filter(lambda b: b"\n" not in b and not b.startswith(b"\x1f")),
    st.sampled_from([b"", b" ", b"{}", b"null", b"[]", b'{"event_type":7}',
                     b'{"event_type":"users.messages.email.Open","id":"x","time":1}']),
), max_size=25)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_LINES)
def test_every_line_is_accounted_for(lines: list[bytes]) -> None:
    """Whatever the lines: read == converted + skipped + rejected == non-blank lines, one
    message per converted line and one rejects record per rejected line."""
    rejects = io.BytesIO()
    tally = CurrentsTally()
    progress = Progress(io.StringIO(), None, tally, enabled=False)
    source = Source(name="<stdin>", path=None)
    messages = list(commands.convert([source], None, tally, Rejects(
        tally, rejects, lambda v: json.dumps(v).encode()), progress,
        io.BytesIO(b"\n".join(lines))))
    non_blank = [x for x in b"\n".join(lines).split(b"\n") if x and not x.isspace()]
    assert tally.errors == []
    assert tally.read == len(non_blank)
    assert tally.read == tally.done + tally.skipped_total + tally.rejected_total
    assert len(messages) == tally.done == tally.messages.total()
    assert len(rejects.getvalue().splitlines()) == tally.rejected_total


class _Endless(io.RawIOBase):
    """An input that never ends: the same Currents line over and over."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        data = (self.line * (size // len(self.line) + 1))[:size]
        buffer[:size] = data
        self.given += size
        return size


def test_messages_stream_out_before_the_input_ends() -> None:
    """The conversion is a generator: the first messages come out of an endless input
    after about one chunk is read, so memory does not grow with the input."""
    line = make_lines("s", 1)[0].raw + b"\n"
    stream = _Endless(line)
    tally = CurrentsTally()
    progress = Progress(io.StringIO(), None, tally, enabled=False)
    rejects = Rejects(tally, None, lambda v: b"")
    messages = commands.convert([Source(name="<stdin>", path=None)], None, tally, rejects,
                            progress, io.BufferedReader(stream))
    first = [next(messages) for _ in range(1000)]
    assert {m["messageId"] for m in first} == {"s-0"}
    assert stream.given <= 2 * CHUNK
    assert tally.read == 1000
