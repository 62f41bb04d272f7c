"""The command line: Segment archives in, Braze requests out, every line accounted for.

``segment-braze translate INPUT...`` reads Segment events (NDJSON, ``.json`` documents,
gzipped or not, whole directory trees laid out like Segment's S3 archive, or standard
input), translates them with one :class:`~segment_braze.Translator`, batches the requests
into Braze-sized ones and writes one request per line::

    {"endpoint": "/users/track", "body": {...}, "origins": {"events": ["msg-1", ...]}}

``validate`` does the same reading and accounting without writing requests; ``explain``
shows, for one event, which rules matched and what each emitted. ``currents`` goes the
other way: it reads Braze Currents records in the same input forms and writes, one per
line, the Segment track messages Braze's Segment connector would send
(:mod:`segment_braze.currents`), counting converted lines where ``translate`` counts
translated ones.

Every line read ends up as exactly one of translated, skipped (counted by reason) or
rejected (counted by reason, and written with its problems to ``--rejects``), so the
summary always adds up: ``read == translated + skipped + rejected``. Blank lines carry no
event and are not counted.

The whole run is one chain of generators (read, parse, translate, batch, write): memory
stays flat however large the input. The exception is a ``.json`` document (one event or
an array), which is parsed whole; archives are NDJSON and stream.

With ``--state FILE`` the attribute values each user was last sent are kept in an SQLite
file (:class:`~segment_braze.state.SQLiteStore`), and values that did not change since
are left out; the summary says how many, and the data points saved. ``translate`` saves
the file at the end of a run without errors (an interrupted or failed run leaves it as it
was); ``validate`` and ``explain`` only read it.

Exit status: 0 when every line was accounted for; 1 with ``--fail-on-reject`` when a line
was rejected; 2 for a usage or I/O error (one line on standard error, no traceback). An
input file that cannot be read to its end (a truncated gzip, a disk error) is an I/O
error for that file only: the lines read before the fault are translated and counted as
usual, a line cut in half is rejected as not JSON, the other inputs are still read, and
the run ends with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import json
import os
import re
import sqlite3
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, ClassVar, Final, NoReturn

import attrs

from . import __version__, _json
from .braze import Request, UsersTrack
from .errors import InvalidEvent, InvalidSettings, Problem
from .limits import MAX_EVENT_CHARS
from .settings import SEGMENT_KEYS, Settings
from .state import SUBSCRIPTION_FIELDS, SQLiteStore
from .translate import Translator

__all__ = ["FREE_ATTRIBUTES", "data_points", "main"]

PROG: Final = "segment-braze"

#: Exit statuses.
OK: Final = 0
REJECTED: Final = 1
ERROR: Final = 2

#: Bytes read from an input at a time (before decompression), and the most bytes a
#: gzip member may inflate to in one step: a highly compressed file never balloons.
CHUNK: Final = 1 << 20

#: Files a directory walk picks up (by name, case-insensitive); other files are left out.
INPUT_SUFFIXES: Final = (".ndjson", ".jsonl", ".json", ".gz")

#: Distinct reasons kept per summary table; the rest are counted as "other reasons", so a
#: stream with a new reason on every line cannot grow the summary without bound.
MAX_REASONS: Final = 1000

#: Keys of an attributes object that Braze does not bill as data points: the
#: subscription fields. Identifiers and ``_update_existing_only`` / ``_merge_objects`` are
#: not attribute values at all (they live beside ``values`` in the model).
FREE_ATTRIBUTES: Final = SUBSCRIPTION_FIELDS

_GZIP_MAGIC: Final = b"\x1f\x8b"
_INDEX: Final = re.compile(r"\[\d+\]")


def data_points(request: Request) -> int:
    """The Braze data points the attribute writes of ``request`` cost: one per attribute
    key written in each attributes object, except the subscription fields
    (:data:`FREE_ATTRIBUTES`), which Braze does not bill. Identifiers and the
    ``_update_existing_only`` / ``_merge_objects`` flags are not attributes.

    An estimate from the request alone: Braze bills a write whether or not the value
    changes, and events and purchases (billed separately) are not counted here.
    """
    if type(request) is not UsersTrack:
        return 0
    total = 0
    for attributes in request.attributes:
        values = attributes.values
        total += len(values)
        for key in FREE_ATTRIBUTES:
            if key in values:
                total -= 1
    return total


class UsageError(Exception):
    """A mistake on the command line or in what it names; reported in one line, exit 2."""


# -- settings --------------------------------------------------------------------------

#: Settings fields that ``Settings(**fields)`` accepts (our snake_case names).
_FIELDS: Final = frozenset(f.name for f in attrs.fields(Settings) if f.init)
#: Our names that Segment's keys also set: a file using Segment's keys must not repeat
#: them in our spelling (which one would win?).
_MAPPED: Final = frozenset(v for v in SEGMENT_KEYS.values() if v is not None)


def settings_from_file(config: Mapping[str, Any], **overrides: Any) -> Settings:
    """Settings from a JSON object using Segment's destination keys (``appGroupId``,
    ``trackAllPages``, ...) or our field names (``rest_api_key``, ``track_all_pages``).

    Alongside Segment's keys, only our settings that Segment's destination lacks
    (``anonymous_users``, ``event_blocklist``, ...) may appear. ``overrides`` (our names,
    from the command-line flags) win over the file. Raises
    :class:`~segment_braze.InvalidSettings` naming the first unknown or mixed key.
    """
    keys = [str(k) for k in config]
    unknown = [k for k in keys if k not in SEGMENT_KEYS and k not in _FIELDS]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(key, [*SEGMENT_KEYS, *_FIELDS], n=1)
        more = f"; did you mean {hint[0]!r}?" if hint else ""
        raise InvalidSettings(key, f"not a setting{more}")
    segment = [k for k in keys if k in SEGMENT_KEYS and k not in _FIELDS]
    if segment:
        ours = [k for k in keys if k in _MAPPED and k not in SEGMENT_KEYS]
        if ours:
            spelled = next(s for s, v in SEGMENT_KEYS.items() if v == ours[0])
            raise InvalidSettings(ours[0], f"mixes Segment's keys ({segment[0]!r}) with our "
                                  f"names: write it as {spelled!r}, or use only our names")
        shared = {k: v for k, v in config.items() if k not in SEGMENT_KEYS}
        return Settings.from_segment({k: v for k, v in config.items() if k in SEGMENT_KEYS},
                                     **{**shared, **overrides})
    return Settings(**{**config, **overrides})


@attrs.frozen
class Flag:
    """A setting that has a command-line flag. ``kind``: ``"switch"`` (``--x`` /
    ``--no-x``), ``"text"``, or a tuple of choices."""

    field: str
    kind: str | tuple[str, ...]
    help: str

    @property
    def option(self) -> str:
        return "--" + self.field.replace("_", "-")


#: The common settings, as flags. The REST API key has none on purpose: a secret on a
#: command line ends up in shell history and process lists; put it in the settings file.
FLAGS: Final = (
    Flag("app_id", "text", "app identifier set on events and purchases"),
    Flag("anonymous_users", ("skip", "alias"),
         "users without userId: skipped, or sent as user aliases of their anonymousId"),
    Flag("alias_label", "text", "label of that user alias"),
    Flag("email_identifier", "switch", "identify users by email when nothing else does"),
    Flag("track_all_pages", "switch", "send page and screen calls as custom events"),
    Flag("track_named_pages", "switch", "send only named page and screen calls"),
    Flag("log_purchase_when_revenue_present", "switch",
         "any track with a numeric revenue becomes purchases"),
    Flag("default_currency", "text", "currency when neither product nor order names one"),
    Flag("update_existing_only", "switch", "only update users Braze already knows"),
    Flag("merge_on_alias", "switch", "alias calls between known ids become /users/merge"),
    Flag("context_traits", "switch", "context.traits of track/page/screen become attributes"),
    Flag("strict", "switch", "reject an event instead of dropping or fixing a value"),
)


def _load_settings(args: argparse.Namespace) -> Settings:
    """The settings of ``--settings FILE``, with the flags given on the command line."""
    path: str | None = args.settings
    overrides = {f.field: value for f in FLAGS
                 if (value := getattr(args, f.field)) is not None}
    config: Any = {}
    if path is not None:
        try:
            with open(path, "rb") as file:
                config = json.loads(file.read())
        except OSError as error:
            raise UsageError(f"{path}: cannot read the settings file: "
                             f"{_reason(error)}") from None
        except ValueError as error:
            raise UsageError(f"{path}: the settings file is not JSON: {error}") from None
        if not isinstance(config, dict):
            raise UsageError(f"{path}: the settings file must hold a JSON object")
    where = f"{path}: " if path is not None else ""
    try:
        return settings_from_file(config, **overrides)
    except InvalidSettings as error:
        raise UsageError(f"{where}bad setting {error}") from None
    except TypeError as error:  # a value of a type no converter expects
        raise UsageError(f"{where}bad settings: {error}") from None


# -- inputs ----------------------------------------------------------------------------


@attrs.frozen
class Source:
    """One input: a file (``path``), or standard input (``path`` is ``None``).

    ``document``: a ``.json`` file (gzipped or not), parsed whole as one event or an
    array of events; everything else is read as NDJSON, one event per line.
    """

    name: str
    path: str | None
    size: int | None = None
    document: bool = False


def _is_document(name: str) -> bool:
    lower = name.lower()
    return lower.endswith((".json", ".json.gz"))


def _file(path: str) -> Source:
    return Source(name=path, path=path, size=os.path.getsize(path),
                  document=_is_document(path))


def _walk(root: str) -> Iterator[Source]:
    """Input files under ``root`` in a stable order: at every level, files and folders
    sorted together by name (as ``find | sort`` lists them); hidden ones left out."""
    with os.scandir(root) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry.path)
        elif entry.is_file() and entry.name.lower().endswith(INPUT_SUFFIXES):
            yield _file(entry.path)


def expand_inputs(inputs: Sequence[str]) -> list[Source]:
    """The files named on the command line, directories walked; ``-`` is standard input.

    Raises :class:`UsageError` for a path that does not exist, or a directory without any
    input file (most likely the wrong directory).
    """
    sources: list[Source] = []
    for given in inputs:
        if given == "-":
            sources.append(Source(name="<stdin>", path=None))
            continue
        try:
            if os.path.isdir(given):
                found = list(_walk(given))
                if not found:
                    raise UsageError(f"{given}: no input files ({', '.join(INPUT_SUFFIXES)}) "
                                     "in this directory")
                sources.extend(found)
            elif os.path.exists(given):
                sources.append(_file(given))
            else:
                raise UsageError(f"{given}: no such file or directory")
        except OSError as error:
            raise UsageError(f"{error.filename or given}: {_reason(error)}") from None
    return sources


def _reason(error: BaseException) -> str:
    """An error's reason for a one-line message: the system's words for an OS error
    (``no such file or directory``), else the exception's text."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[:1].lower() + text[1:]


class _Truncated(OSError):
    """A gzip stream that ends before its end-of-stream marker."""


#: What reading an input may raise: a disk or stream error, corrupt or truncated gzip.
_READ_ERRORS: Final = (OSError, EOFError, zlib.error)


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress gzip data chunk by chunk, member after member (``cat a.gz b.gz`` is
    valid gzip). Raises :class:`_Truncated` when the data stops inside a member, after
    yielding everything decompressed up to there."""
    inflate = zlib.decompressobj(wbits=31)
    started = False
    for chunk in chunks:
        data = chunk
        while data:
            started = True
            out = inflate.decompress(data, CHUNK)
            if out:
                yield out
            if inflate.eof:
                data = inflate.unused_data
                inflate = zlib.decompressobj(wbits=31)
                started = False
                if not data.strip(b"\0"):  # zero padding after the last member
                    data = b""
            else:
                data = inflate.unconsumed_tail
    if started:
        rest = inflate.flush()
        if rest:
            yield rest
        if not inflate.eof:
            raise _Truncated("the gzip data ends early (truncated file?)")


def _raw_chunks(stream: IO[bytes], progress: Callable[[int], None]) -> Iterator[bytes]:
    """Chunks of a binary stream, reporting the bytes read; gzip is recognised by its
    magic number whatever the name. ``read1`` returns what a pipe holds without waiting
    for a whole chunk, so events from a live stream are not held back."""
    read = getattr(stream, "read1", stream.read)
    first = read(CHUNK)
    progress(len(first))

    def rest() -> Iterator[bytes]:
        yield first
        while True:
            chunk = read(CHUNK)
            if not chunk:
                return
            progress(len(chunk))
            yield chunk

    if first.startswith(_GZIP_MAGIC):
        return _gunzip(rest())
    return rest()


#: Marks a record whose event is still to be parsed from its raw line.
_UNPARSED: Final = object()

#: A record: (line number, raw line or None, event or _UNPARSED).
Record = tuple[int, "bytes | None", Any]


def _document_records(data: bytes, loads: Callable[[bytes], Any]) -> Iterator[Record]:
    """A ``.json`` document: one event, or an array of events (numbered from 1). A file
    that is not one JSON document is read as NDJSON instead, so a misnamed NDJSON file
    is not lost."""
    try:
        document = loads(data)
    except _json.DecodeError:
        yield from _line_records(iter((data,)))
        return
    if isinstance(document, list):
        for number, event in enumerate(document, 1):
            yield number, None, event
    else:
        yield 1, None, document


def _line_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    """The non-blank lines of a stream of chunks, numbered from 1 (blank lines count in
    the numbering). A last line without a newline is still a line, and so is the part of
    a line read before a read error."""
    number = 0
    rest = b""
    try:
        for chunk in chunks:
            lines = chunk.split(b"\n")
            lines[0] = rest + lines[0]
            rest = lines.pop()
            for line in lines:
                number += 1
                if line and not line.isspace():
                    yield number, line, _UNPARSED
    except _READ_ERRORS:
        if rest and not rest.isspace():
            yield number + 1, rest, _UNPARSED
        raise
    if rest and not rest.isspace():
        yield number + 1, rest, _UNPARSED


def _records(source: Source, loads: Callable[[bytes], Any], errors: list[str],
             progress: Callable[[int], None], stdin: IO[bytes]) -> Iterator[Record]:
    """The records of one input. An I/O error ends this input only: it is added to
    ``errors``; what was read before it still counts."""
    try:
        stream = stdin if source.path is None else open(source.path, "rb")  # noqa: SIM115
    except OSError as error:
        errors.append(f"{source.name}: {_reason(error)}")
        return
    try:
        chunks = _raw_chunks(stream, progress)
        if source.document:
            yield from _document_records(b"".join(chunks), loads)
        else:
            yield from _line_records(chunks)
    except _READ_ERRORS as error:
        errors.append(f"{source.name}: {_reason(error)}; the lines before it were read")
    finally:
        if stream is not stdin:
            stream.close()


# -- accounting ------------------------------------------------------------------------


class _Reasons:
    """Counts by reason, keeping at most :data:`MAX_REASONS` distinct ones, with the first
    message seen for each (a reason is a JSON path for rejected events)."""

    __slots__ = ("counts", "examples", "mixed")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.mixed: set[str] = set()

    def add(self, reason: str, example: str = "") -> None:
        counts = self.counts
        if reason not in counts and len(counts) >= MAX_REASONS:
            reason, example = "(other reasons)", ""
        counts[reason] += 1
        seen = self.examples.setdefault(reason, example)
        if seen != example:
            self.mixed.add(reason)

    def label(self, reason: str) -> str:
        example = self.examples.get(reason, "")
        if not example:
            return reason
        more = " (and other messages)" if reason in self.mixed else ""
        return f"{reason}: {example}{more}"


class _Accounts:
    """What a run read, skipped and rejected: the part of the accounting every command
    shares. A subclass names what became of the other lines (:attr:`DONE`) and counts
    them in :attr:`done`, so the summary can check ``read == done + skipped + rejected``.
    """

    #: The word for the lines that went through ("translated", "converted").
    DONE: ClassVar[str] = "done"

    def __init__(self) -> None:
        self.read = 0
        self.skipped = _Reasons()
        self.rejected = _Reasons()
        self.files = 0
        self.errors: list[str] = []

    @property
    def done(self) -> int:
        raise NotImplementedError

    @property
    def skipped_total(self) -> int:
        return self.skipped.counts.total()

    @property
    def rejected_total(self) -> int:
        return self.rejected.counts.total()

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON (``--summary``)."""
        raise NotImplementedError

    def balanced(self) -> bool:
        """Every line read is accounted for exactly once."""
        return self.read == self.done + self.skipped_total + self.rejected_total

    def _json_counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            self.DONE: self.done,
            "skipped": {"total": self.skipped_total, "by_reason": dict(self.skipped.counts)},
            "rejected": {"total": self.rejected_total,
                         "by_reason": dict(self.rejected.counts)},
        }

    def _render_counts(self, seconds: float) -> list[str]:
        """The first lines of the summary: what was read, and what became of it."""
        rate = f", {self.read / seconds:,.0f} lines/s" if seconds > 0 and self.read else ""
        files = "file" if self.files == 1 else "files"
        lines = [f"{PROG}: {self.read:,} lines read from {self.files:,} {files} in "
                 f"{seconds:.2f} s{rate}",
                 f"  {self.DONE:<10} {self.done:>12,}"]
        for title, reasons, total in (("skipped", self.skipped, self.skipped_total),
                                      ("rejected", self.rejected, self.rejected_total)):
            lines.append(f"  {title:<10} {total:>12,}")
            ranked = reasons.counts.most_common()
            for reason, count in ranked[:10]:
                lines.append(f"    {count:>10,}  {reasons.label(reason)}")
            if len(ranked) > 10:
                rest = sum(c for _, c in ranked[10:])
                lines.append(f"    {rest:>10,}  ({len(ranked) - 10} more reasons)")
        return lines


class Tally(_Accounts):
    """What a run of ``translate`` or ``validate`` read, translated, skipped, rejected
    and produced."""

    DONE = "translated"

    def __init__(self) -> None:
        super().__init__()
        self.translated = 0
        self.notices = 0
        self.data_points = 0
        #: With --state: attribute values left out as unchanged.
        self.tracking = False
        self.unchanged = 0
        self.requests: Counter[str] = Counter()
        self.objects: dict[str, Counter[str]] = {}

    @property
    def done(self) -> int:
        return self.translated

    @property
    def data_points_saved(self) -> int:
        """The data points the values left out as unchanged would have cost (the
        :func:`data_points` rule): one each, since the tracker never leaves out a
        subscription field (they are among those it always sends)."""
        return self.unchanged

    def count_unchanged(self, names: Sequence[str]) -> None:
        """Attribute values left out as unchanged."""
        self.unchanged += len(names)

    def count_request(self, request: Request) -> None:
        endpoint = request.endpoint
        self.requests[endpoint] += 1
        objects = self.objects.get(endpoint)
        if objects is None:
            objects = self.objects[endpoint] = Counter()
        arrays = request.arrays
        if not arrays:  # a request of one object: a cohort's name
            objects["cohorts"] += 1
        for name in arrays:
            size = len(getattr(request, name))
            if size:
                objects[name] += size

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON (``--summary``)."""
        return {
            **self._json_counts(),
            "notices": self.notices,
            "requests": {e: {"requests": n, "objects": dict(self.objects[e])}
                         for e, n in sorted(self.requests.items())},
            "data_points": self.data_points,
            "unchanged": self.unchanged,
            "data_points_saved": self.data_points_saved,
            "files": self.files,
            "errors": list(self.errors),
        }

    def render(self, *, seconds: float, written: bool) -> str:
        """The summary for people (standard error)."""
        lines = self._render_counts(seconds)
        if self.notices:
            lines.append(f"  notices    {self.notices:>12,}  values dropped or fixed in "
                         "translated events")
        lines.append("  requests written" if written else "  requests (not written)")
        if not self.requests:
            lines.append("    none")
        width = max((len(endpoint) for endpoint in self.requests), default=0)
        for endpoint, count in sorted(self.requests.items()):
            objects = self.objects[endpoint]
            arrays = ", ".join(f"{name} {n:,}" for name, n in objects.items())
            noun = "request" if count == 1 else "requests"
            lines.append(f"    {endpoint:<{width}} {count:>10,} {noun:<8} "
                         f"{objects.total():>10,} objects ({arrays})")
        lines.append(f"  data points of attribute writes: {self.data_points:,}")
        if self.tracking:
            lines.append(f"  attribute values dropped as unchanged: {self.unchanged:,}")
            would = self.data_points + self.data_points_saved
            share = f" ({self.data_points_saved / would:.0%} of {would:,})" if would else ""
            lines.append(f"  data points saved: {self.data_points_saved:,}{share}")
        return "\n".join(lines)


class CurrentsTally(_Accounts):
    """What a run of ``currents`` read, converted, skipped and rejected, and the Segment
    messages it wrote by event name (one per converted line; the names come from the
    export table, so the count stays small)."""

    DONE = "converted"

    def __init__(self) -> None:
        super().__init__()
        self.messages: Counter[str] = Counter()

    @property
    def done(self) -> int:
        return self.messages.total()

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON (``--summary``)."""
        return {
            **self._json_counts(),
            "messages": {"total": self.messages.total(), "by_event": dict(self.messages)},
            "files": self.files,
            "errors": list(self.errors),
        }

    def render(self, *, seconds: float) -> str:
        """The summary for people (standard error)."""
        lines = self._render_counts(seconds)
        lines.append("  messages written")
        if not self.messages:
            lines.append("    none")
        for event, count in sorted(self.messages.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {count:>10,}  {event}")
        return "\n".join(lines)


class _Rejects:
    """Counts rejected lines and writes each, with its problems, to ``--rejects``."""

    def __init__(self, tally: _Accounts, out: IO[bytes] | None,
                 dumps: Callable[[Any], bytes]) -> None:
        self.tally = tally
        self.out = out
        self.dumps = dumps

    def add(self, source: Source, line: int, raw: bytes | None, event: Any,
            problems: Sequence[Problem], reason: str, example: str) -> None:
        self.tally.rejected.add(reason, example)
        if self.out is None:
            return
        record = {
            "source": source.name,
            "line": line,
            "original": _original(raw, event),
            "problems": [{"path": p.path, "message": p.message, "rule": p.rule}
                         for p in problems],
        }
        self.out.write(self.dumps(record))
        self.out.write(b"\n")


def _original(raw: bytes | None, event: Any) -> str:
    """The line as read (invalid UTF-8 escaped), or an item of a ``.json`` array as
    compact JSON."""
    if raw is not None:
        return raw.decode("utf-8", "backslashreplace").rstrip("\r")
    return _json.text(event)


#: A line that parsed as JSON: (source, line number, raw line or None, the JSON value,
#: position: the 0-based number of the line among all lines read).
Parsed = tuple[Source, int, "bytes | None", Any, int]


def _parsed(sources: Sequence[Source], tally: _Accounts, rejects: _Rejects,
            progress: _Progress, stdin: IO[bytes]) -> Iterator[Parsed]:
    """Read every input and parse each line: the JSON values, in input order, for the
    command to convert. Each line is counted as read; a line too large or not JSON is
    rejected here, and the command accounts for every line it is given.

    An I/O error ends its input only; it is reported (above the progress line) when that
    input ends.
    """
    loads, decode_error = _json.loads, _json.DecodeError
    for source in sources:
        tally.files += 1
        records = _records(source, loads, tally.errors, progress.advance, stdin)
        errors_before = len(tally.errors)
        for line, raw, parsed in records:
            position = tally.read
            tally.read = position + 1
            value = parsed
            if value is _UNPARSED:
                assert raw is not None  # noqa: S101 - unparsed records carry their line
                # Longer than the largest event the translator accepts (a line has at
                # least as many bytes as characters); Segment caps a message at 32 KB.
                if len(raw) > MAX_EVENT_CHARS:
                    rejects.add(source, line, raw, None,
                                (Problem("$", "the event is larger than 1 MB"),),
                                "larger than 1 MB", "")
                    continue
                try:
                    value = loads(raw)
                except decode_error as error:
                    message = ("nested too deeply" if isinstance(error, RecursionError)
                               else str(error))
                    rejects.add(source, line, raw, None,
                                (Problem("$", f"not JSON: {message}"),), "not JSON", "")
                    continue
            yield source, line, raw, value, position
        for message in tally.errors[errors_before:]:
            progress.message(f"{PROG}: error: {message}")


def _reject(rejects: _Rejects, item: Parsed, error: Exception) -> None:
    """Reject a line its command could not convert: by the path of its first problem
    (array indexes folded, so one reason covers every item), or, for any other
    exception (a bug), as an internal error, so the run goes on."""
    source, line, raw, value, _ = item
    if isinstance(error, InvalidEvent):
        first = error.problems[0] if error.problems else Problem("$", "rejected")
        rejects.add(source, line, raw, value, error.problems,
                    "at " + _INDEX.sub("[*]", first.path), first.message)
        return
    rejects.add(source, line, raw, value,
                (Problem("$", f"internal error, please report it: "
                              f"{type(error).__name__}: {error}"),),
                "internal error (please report it)", "")


def _translate(sources: Sequence[Source], translator: Translator, tally: Tally,
               rejects: _Rejects, progress: _Progress, stdin: IO[bytes]) -> Iterator[Request]:
    """Read, parse and translate every input: the requests, in input order. Each line is
    counted as exactly one of translated, skipped or rejected.

    An event without a ``messageId`` is named in origins by its position: the 0-based
    number of its line among all lines read.
    """
    translate = translator.translate
    skipped = tally.skipped
    for item in _parsed(sources, tally, rejects, progress, stdin):
        try:
            translation = translate(item[3], position=item[4])
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            _reject(rejects, item, error)
            continue
        if translation.unchanged:
            tally.count_unchanged(translation.unchanged)
        reason = translation.skipped
        if reason is not None:
            skipped.add(reason)
            continue
        tally.translated += 1
        if translation.notices:
            tally.notices += len(translation.notices)
        for request in translation.requests:
            if type(request) is UsersTrack and request.attributes:
                tally.data_points += data_points(request)
            yield request


def _convert(sources: Sequence[Source], event_type: str | None, tally: CurrentsTally,
             rejects: _Rejects, progress: _Progress, stdin: IO[bytes]
             ) -> Iterator[dict[str, Any]]:
    """Read, parse and convert every input of Braze Currents records: the Segment track
    messages, in input order. Each line is counted as exactly one of converted, skipped
    or rejected. ``event_type`` is the type of records that do not carry one.

    One :func:`~segment_braze.currents.convert` per line, as
    :func:`~segment_braze.currents.convert_many` does, so each result stays tied to its
    line (a rejected one is written with its source and number).
    """
    from . import currents  # imported here: its converter is built on import

    skipped = tally.skipped
    messages = tally.messages
    for item in _parsed(sources, tally, rejects, progress, stdin):
        try:
            result = currents.convert(item[3], event_type=event_type, position=item[4])
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            _reject(rejects, item, error)
            continue
        message = result.message
        if message is None:
            skipped.add(result.skipped or "not converted")
            continue
        messages[message["event"]] += 1
        yield message


def _batched(requests: Iterator[Request], *, batch: bool,
             max_total: int | None) -> Iterator[Request]:
    if not batch:
        return requests
    from .batching import iter_batches  # imported here: --no-batch runs never need it

    return iter_batches(requests, max_total=max_total)


def _write(requests: Iterable[Request], out: IO[bytes] | None, tally: Tally,
           dumps: Callable[[Any], bytes]) -> None:
    """Count every request; write each as one NDJSON line (unless ``out`` is ``None``)."""
    count = tally.count_request
    if out is None:
        for request in requests:
            count(request)
        return
    write = out.write
    for request in requests:
        count(request)
        write(dumps({"endpoint": request.endpoint, "body": request.to_json(),
                     "origins": dict(request.origins)}))
        write(b"\n")


# -- progress --------------------------------------------------------------------------


class _Progress:
    """Progress on standard error while reading: a tqdm bar when tqdm is installed, else a
    status line redrawn at most twice a second. Silent unless standard error is a
    terminal, so logs and pipes stay clean."""

    def __init__(self, stream: IO[str], total: int | None, tally: _Accounts, *,
                 enabled: bool) -> None:
        self.stream = stream
        self.tally = tally
        self.enabled = enabled
        self.total = total
        self.done = 0
        self.start = time.perf_counter()
        self.shown = 0.0
        self.bar: Any = None
        if enabled:
            try:
                tqdm = importlib.import_module("tqdm").tqdm  # the optional "cli" extra
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                file=stream, desc="reading", leave=False)

    def advance(self, amount: int) -> None:
        self.done += amount
        if not self.enabled:
            return
        now = time.perf_counter()
        lines = self.tally.read
        rate = lines / (now - self.start) if now > self.start else 0.0
        if self.bar is not None:
            self.bar.set_postfix_str(f"{lines:,} lines, {rate:,.0f} events/s", refresh=False)
            self.bar.update(amount)
        elif now - self.shown >= 0.5:
            self.shown = now
            of = f" of {self.total / 1e6:,.1f}" if self.total else ""
            self.stream.write(f"\r{lines:,} lines, {self.done / 1e6:,.1f}{of} MB read, "
                              f"{rate:,.0f} events/s ")
            self.stream.flush()

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            if self.enabled and self.shown:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# -- commands --------------------------------------------------------------------------


@attrs.frozen
class _Streams:
    stdin: IO[bytes]
    stdout: IO[bytes]
    stderr: IO[str]


def _make_parent(path: str) -> None:
    """Create the folder a file is written to (``--output out/requests.ndjson`` works in a
    fresh checkout)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


def _open_output(path: str | None, default: IO[bytes] | None,
                 stack: contextlib.ExitStack) -> IO[bytes] | None:
    """The file at ``path`` opened for writing (closed with ``stack``), or ``default``
    for no path or ``-``."""
    if path is None or path == "-":
        return default
    try:
        _make_parent(path)
        return stack.enter_context(open(path, "wb", buffering=CHUNK))
    except OSError as error:
        raise UsageError(f"{path}: cannot write: {_reason(error)}") from None


def _sources(inputs: Sequence[str]) -> list[Source]:
    """The inputs of a run (:func:`expand_inputs`), standard input at most once."""
    sources = expand_inputs(inputs)
    if sum(s.path is None for s in sources) > 1:
        raise UsageError("standard input (-) can be read only once")
    return sources


@contextlib.contextmanager
def _session(args: argparse.Namespace, streams: _Streams, sources: Sequence[Source],
             tally: _Accounts, *, writes: bool
             ) -> Iterator[tuple[IO[bytes] | None, _Rejects, _Progress]]:
    """What a run writes to while it reads: the output (``None`` when the command writes
    none), the rejects, the progress line. All closed when the run ends, however it ends;
    standard output is flushed only after a run that went to its end."""
    sizes = [s.size for s in sources]
    total = None if None in sizes else sum(s or 0 for s in sizes)
    with contextlib.ExitStack() as stack:
        out = _open_output(args.output, streams.stdout, stack) if writes else None
        rejects = _Rejects(tally, _open_output(args.rejects, None, stack), _json.dumps)
        progress = _Progress(streams.stderr, total, tally,
                             enabled=_is_terminal(streams.stderr))
        stack.callback(progress.close)
        yield out, rejects, progress
        if out is streams.stdout:
            out.flush()


def _finish(args: argparse.Namespace, streams: _Streams, tally: _Accounts,
            summary: str) -> int:
    """End a run: the summary on standard error (and to ``--summary``), and the exit
    status."""
    assert tally.balanced(), "a line was not accounted for"  # noqa: S101
    streams.stderr.write(summary + "\n")
    if args.summary is not None:
        try:
            _make_parent(args.summary)
            with open(args.summary, "w", encoding="utf-8") as file:
                json.dump(tally.to_json(), file, indent=2)
                file.write("\n")
        except OSError as error:
            tally.errors.append(f"{args.summary}: cannot write: {_reason(error)}")
            streams.stderr.write(f"{PROG}: error: {tally.errors[-1]}\n")
    if tally.errors:
        return ERROR
    return REJECTED if args.fail_on_reject and tally.rejected_total else OK


def _run(args: argparse.Namespace, streams: _Streams) -> int:
    writes = args.command == "translate"
    if not args.batch and args.max_total is not None:
        raise UsageError("--max-total applies to batching; drop --no-batch")
    sources = _sources(args.inputs)
    settings = _load_settings(args)
    store: SQLiteStore | _Preview | None = None
    if args.state is not None:
        store = _open_state(args.state) if writes else _Preview(args.state)
    saved = False
    try:
        status = _run_with(args, streams, sources, settings, store, writes)
        # The state describes the requests written: kept only when the run wrote them all.
        saved = status != ERROR
        return status
    finally:
        if isinstance(store, SQLiteStore) and not saved:
            store.rollback()
        if store is not None:
            store.close()


def _open_state(path: str, *, readonly: bool = False) -> SQLiteStore:
    """The ``--state`` file. A run commits it once, at its end (``commit_every=None``),
    so an interrupted run leaves it as it was."""
    try:
        if not readonly:
            _make_parent(path)
        return SQLiteStore(path, readonly=readonly, commit_every=None)
    except (OSError, ValueError, sqlite3.Error) as error:
        raise UsageError(f"{path}: cannot open the state file: {_reason(error)}") from None


class _Preview:
    """The state of ``validate``: the file read-only (a missing file is an empty state)
    under this run's changes, kept in memory, so the file is never written."""

    def __init__(self, path: str) -> None:
        self.base = _open_state(path, readonly=True) if os.path.exists(path) else None
        self.changes: dict[str, Mapping[str, Any] | None] = {}

    def get(self, user: str) -> Mapping[str, Any] | None:
        if user in self.changes:
            return self.changes[user]
        return None if self.base is None else self.base.get(user)

    def put(self, user: str, record: Mapping[str, Any]) -> None:
        self.changes[user] = record

    def delete(self, user: str) -> None:
        self.changes[user] = None

    def flush(self) -> None:
        """Nothing is ever written."""

    def close(self) -> None:
        if self.base is not None:
            self.base.close()


def _run_with(args: argparse.Namespace, streams: _Streams, sources: list[Source],
              settings: Settings, store: SQLiteStore | _Preview | None, writes: bool) -> int:
    translator = Translator(settings, store=store, commit="on_translate")
    tally = Tally()
    tally.tracking = store is not None
    start = time.perf_counter()
    with _session(args, streams, sources, tally, writes=writes) as (out, rejects, progress):
        requests = _translate(sources, translator, tally, rejects, progress, streams.stdin)
        _write(_batched(requests, batch=args.batch, max_total=args.max_total), out, tally,
               _json.dumps)
    seconds = time.perf_counter() - start
    return _finish(args, streams, tally, tally.render(seconds=seconds, written=writes))


def _currents(args: argparse.Namespace, streams: _Streams) -> int:
    """``currents``: Braze Currents records in, Segment track messages out, one per
    line, with the accounting of ``translate``."""
    sources = _sources(args.inputs)
    tally = CurrentsTally()
    start = time.perf_counter()
    with _session(args, streams, sources, tally, writes=True) as (out, rejects, progress):
        assert out is not None  # noqa: S101 - a writing session always has an output
        write, dumps = out.write, _json.dumps
        for message in _convert(sources, args.event_type, tally, rejects, progress,
                                streams.stdin):
            write(dumps(message))
            write(b"\n")
    seconds = time.perf_counter() - start
    return _finish(args, streams, tally, tally.render(seconds=seconds))


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _explain(args: argparse.Namespace, streams: _Streams) -> int:
    given: str = args.event
    inline = given.lstrip().startswith(("{", "["))
    if inline:
        data = given.encode()
    elif given == "-":
        data = streams.stdin.read()
    else:
        try:
            with open(given, "rb") as file:
                data = b"".join(_raw_chunks(file, lambda _: None))
        except _READ_ERRORS as error:
            raise UsageError(f"{given}: {_reason(error)}") from None
    try:
        event = _json.loads(data)
    except _json.DecodeError as error:
        raise UsageError(f"{'the event' if inline else given} is not one JSON event: "
                         f"{_reason(error)}") from None
    if not isinstance(event, dict):
        raise UsageError("expected one event (a JSON object)")
    settings = _load_settings(args)
    store = None if args.state is None else _open_state(args.state, readonly=True)
    try:
        text = str(Translator(settings, store=store).explain(event))
    finally:
        if store is not None:
            store.close()
    streams.stdout.write(text.encode() + b"\n")
    streams.stdout.flush()
    return OK


# -- argument parsing ------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Reports usage errors in one line (with a pointer to ``--help``) and exits 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _add_settings(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "settings", "a settings file (Segment's destination keys or our names); the flags "
                    "below override it")
    group.add_argument("--settings", metavar="FILE", help="settings as a JSON object")
    for flag in FLAGS:
        if flag.kind == "switch":
            group.add_argument(flag.option, dest=flag.field, default=None,
                               action=argparse.BooleanOptionalAction, help=flag.help)
        elif isinstance(flag.kind, tuple):
            group.add_argument(flag.option, dest=flag.field, default=None,
                               choices=flag.kind, help=flag.help)
        else:
            group.add_argument(flag.option, dest=flag.field, default=None,
                               metavar=flag.field.split("_")[-1].upper(), help=flag.help)


def _add_inputs(parser: argparse.ArgumentParser, *, what: str | None) -> None:
    """The inputs, and ``--output`` when the command writes ``what`` (else none)."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="an .ndjson or .json file (or either gzipped), a directory "
                             "(walked recursively), or - for standard input")
    if what is not None:
        parser.add_argument("-o", "--output", metavar="FILE",
                            help=f"where {what} go, one JSON object per line "
                                 "(default: standard output)")
    else:
        parser.set_defaults(output=None)


def _add_accounting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rejects", metavar="FILE",
                        help="write each rejected line, with its source, line number and "
                             "problems, as NDJSON")
    parser.add_argument("--summary", metavar="FILE",
                        help="also write the summary as JSON")
    parser.add_argument("--fail-on-reject", action="store_true",
                        help="exit with status 1 when any line was rejected")


def _add_run(parser: argparse.ArgumentParser, *, writes: bool) -> None:
    _add_inputs(parser, what="requests" if writes else None)
    _add_accounting(parser)
    parser.add_argument("--no-batch", dest="batch", action="store_false",
                        help="one request per event instead of Braze-sized batches")
    parser.add_argument("--max-total", type=_positive, metavar="N",
                        help="at most N objects per /users/track request across "
                             "attributes, events and purchases (accounts on a combined "
                             "limit: 50 or 75)")
    _add_state(parser, writes=writes)
    _add_settings(parser)


def _add_currents(parser: argparse.ArgumentParser) -> None:
    _add_inputs(parser, what="Segment messages")
    parser.add_argument("--event-type", metavar="NAME",
                        help="the Currents event type of records that do not name one "
                             "(a Currents folder holds one type), e.g. "
                             "users.messages.email.Open; a record naming another type is "
                             "rejected")
    _add_accounting(parser)


def _add_state(parser: argparse.ArgumentParser, *, writes: bool | None) -> None:
    what = {True: "and saved at the end of a run without errors",
            False: "(read only: validate saves nothing)",
            None: "(read only)"}[writes]
    parser.add_argument("--state", metavar="FILE",
                        help="leave out attribute values that did not change since they "
                             "were last written: the values are kept in this SQLite file, "
                             f"created if missing, {what}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``segment-braze``."""
    parser = _Parser(prog=PROG, description="Turn Segment events into Braze REST API "
                     "requests, accounting for every line.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    translate = commands.add_parser(
        "translate", help="write Braze requests for Segment events",
        description="Translate Segment events into Braze requests (NDJSON, one request "
                    "per line) with a summary on standard error.")
    _add_run(translate, writes=True)
    validate = commands.add_parser(
        "validate", help="read and account for every line, write no requests",
        description="Read, translate and account for every line like translate, without "
                    "writing requests.")
    _add_run(validate, writes=False)
    explain = commands.add_parser(
        "explain", help="show which rules matched one event and what each emitted",
        description="Show which rules matched one event and what each emitted.")
    explain.add_argument("event", metavar="EVENT",
                         help="the event as JSON text, a .json file, or - for standard input")
    _add_state(explain, writes=None)
    _add_settings(explain)
    currents_ = commands.add_parser(
        "currents", help="turn Braze Currents events into Segment track messages",
        description="Convert Braze Currents events (NDJSON) into the Segment track "
                    "messages Braze's Segment connector sends (NDJSON, one message per "
                    "line) with a summary on standard error.")
    _add_currents(currents_)
    from .cli_delivery import add_commands  # send, replay, seed-state

    add_commands(commands)
    return parser


#: The commands that do not translate (``translate`` and ``validate`` run ``_run``).
_COMMANDS: Final[Mapping[str, Callable[[argparse.Namespace, _Streams], int]]] = {
    "explain": _explain,
    "currents": _currents,
}


def main(argv: Sequence[str] | None = None, *, stdin: IO[bytes] | None = None,
         stdout: IO[bytes] | None = None, stderr: IO[str] | None = None) -> int:
    """Run ``segment-braze`` with ``argv`` (default: the process arguments); returns the
    exit status. The streams default to the process's standard streams."""
    streams = _Streams(stdin=stdin if stdin is not None else sys.stdin.buffer,
                       stdout=stdout if stdout is not None else sys.stdout.buffer,
                       stderr=stderr if stderr is not None else sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        runner = getattr(args, "_runner", None) or _COMMANDS.get(args.command, _run)
        return runner(args, streams)
    except UsageError as error:
        streams.stderr.write(f"{PROG}: error: {error}\n")
        return ERROR
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else OK
    except BrokenPipeError:
        streams.stderr.write(f"{PROG}: error: the output was closed before the end\n")
        return ERROR
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        streams.stderr.write(f"{PROG}: error: {where}{_reason(error)}\n")
        return ERROR
    except KeyboardInterrupt:
        streams.stderr.write(f"{PROG}: interrupted\n")
        return 130
