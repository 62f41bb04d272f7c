"""Reading Segment archives: every event of every input, with where it came from.

:func:`read_events` takes files and directories and yields one :class:`EventLine` per
non-blank line: its source, its line number, and either the parsed JSON value or why it
could not be read. It reads what Segment's archives and exports hold:

- NDJSON files (``.ndjson``, ``.jsonl``, or any name that is not ``.json``), one event
  per line;
- ``.json`` files: one JSON document, one event or an array of events (items numbered
  from 1); a ``.json`` file that is not one document (NDJSON under a ``.json`` name) is
  read line by line instead, so nothing in it is lost;
- any of those gzipped, recognised by gzip's magic number whatever the name, several
  members (``cat a.gz b.gz``) included;
- directories laid out like Segment's S3 archive
  (``segment-logs/<source-id>/<received-day>/<file>.gz``), walked in a stable order;
- ``-``: standard input (NDJSON, gzipped or not).

Reading streams: memory stays flat however large the input (only a ``.json`` document is
held whole). Nothing here translates: the values are handed over as they were parsed,
for :class:`~segment_braze.Translator` or anything else. The command line's inputs are
built on this module; so can your own pipeline be (``docs/archives.md``).

An input that cannot be read to its end (a truncated or corrupt gzip, a disk error) does
not lose the lines read before the fault: they are yielded first, a line cut in half is
yielded as not JSON, and the fault is either raised as an ``OSError`` or, when the caller
passes a ``failures`` list, recorded there as a :class:`ReadFailure` while reading goes
on with the next input.
"""

from __future__ import annotations

import errno
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Final, Literal, NamedTuple, TypeAlias, TypeVar

import attrs

from . import _json
from .errors import Problem, error_reason
from .limits import MAX_EVENT_CHARS

__all__ = [
    "CHUNK",
    "INPUT_SUFFIXES",
    "STDIN",
    "Block",
    "EventLine",
    "ReadFailure",
    "Source",
    "Unreadable",
    "find_sources",
    "parse_block",
    "parse_line",
    "read_blocks",
    "read_events",
    "read_file",
    "read_source",
]

#: Bytes read from an input at a time (before decompression), and the most bytes a gzip
#: member may inflate to in one step: a highly compressed file never balloons.
CHUNK: Final = 1 << 20

#: Files a directory walk picks up (by name, case-insensitive); other files are left out.
INPUT_SUFFIXES: Final = (".ndjson", ".jsonl", ".json", ".gz")

#: The name that means standard input, and the source name its lines carry.
STDIN: Final = "-"
_STDIN_NAME: Final = "<stdin>"

_GZIP_MAGIC: Final = b"\x1f\x8b"

#: Why a line could not be read, as counted in summaries. (Deep nesting that the JSON
#: parser refuses is "not JSON" too.)
Unreadable: TypeAlias = Literal["not JSON", "larger than 1 MB"]

_T = TypeVar("_T")

#: A path as the functions here take it.
StrPath: TypeAlias = "str | os.PathLike[str]"


@attrs.frozen
class Source:
    """One input: a file (``path``), or standard input (``path`` is ``None``).

    ``document``: a ``.json`` file (gzipped or not), parsed whole as one event or an
    array of events; everything else is read as NDJSON, one event per line. ``size`` (in
    bytes, ``None`` for standard input) lets a caller show progress.
    """

    name: str
    path: str | None
    size: int | None = None
    document: bool = False


class EventLine(NamedTuple):
    """One non-blank line of an input (or one item of a ``.json`` array): where it came
    from and what it held.

    ``source`` is the file as named (``<stdin>`` for standard input), ``line`` its line
    number counting from 1 and counting blank lines (for a ``.json`` array, the item's
    number). When the line was read, ``event`` is the parsed JSON value (any JSON value:
    whether it is an event is the translator's call) and ``reason`` is ``None``;
    otherwise ``reason`` says why it was not (:data:`Unreadable`), ``message`` says it
    in full, and ``event`` is ``None``. Test ``reason`` (or :attr:`ok`), not ``event``:
    the line ``null`` reads as ``None``.

    ``raw`` is the line as read (``None`` for an item of a ``.json`` document), kept for
    reporting; the ``repr`` leaves it out. A named tuple rather than a class: one is
    made for every line read, so it must be cheap, and it pickles small (to ship lines
    to other processes).
    """

    source: str
    line: int
    event: Any = None
    reason: Unreadable | None = None
    message: str | None = None
    raw: bytes | None = None

    def __repr__(self) -> str:
        if self.reason is None:
            return f"EventLine(source={self.source!r}, line={self.line}, event={self.event!r})"
        return (f"EventLine(source={self.source!r}, line={self.line}, "
                f"reason={self.reason!r}, message={self.message!r})")

    @property
    def ok(self) -> bool:
        """Whether the line was read (its ``event`` is the parsed value)."""
        return self.reason is None

    @property
    def original(self) -> str:
        """The line as text: as read (bytes that are not UTF-8 escaped as ``\\xNN``), or,
        for an item of a ``.json`` array, the item as compact JSON."""
        if self.raw is not None:
            return self.raw.decode("utf-8", "backslashreplace").rstrip("\r")
        return _json.text(self.event)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Why the line could not be read, as one :class:`~segment_braze.Problem` at the
        root of the line (``$``); none when it was read."""
        return () if self.message is None else (Problem("$", self.message),)

    def to_json(self) -> dict[str, Any]:
        """``{"source", "line", "event"}`` for a line that was read; ``{"source", "line",
        "reason", "message", "original"}`` for one that was not."""
        if self.reason is None:
            return {"source": self.source, "line": self.line, "event": self.event}
        return {"source": self.source, "line": self.line, "reason": self.reason,
                "message": self.message, "original": self.original}


@attrs.frozen
class ReadFailure:
    """An input that could not be opened (``stage="open"``) or read to its end
    (``stage="read"``: the lines before the fault were yielded). A record, not an
    exception: :func:`read_events` appends it to its ``failures`` list. ``message`` is the
    system's reason (``permission denied``, ``the gzip data ends early (truncated
    file?)``). ``str()`` gives the one-line report the command line prints."""

    source: str
    stage: Literal["open", "read"]
    message: str

    def __str__(self) -> str:
        after = "; the lines before it were read" if self.stage == "read" else ""
        return f"{self.source}: {self.message}{after}"

    def to_json(self) -> dict[str, Any]:
        """``{"source", "stage", "message"}``."""
        return {"source": self.source, "stage": self.stage, "message": self.message}


# -- finding the inputs ------------------------------------------------------------------


def _is_document(name: str) -> bool:
    return name.lower().endswith((".json", ".json.gz"))


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


def _not_found(path: str, why: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, why, path)


def find_sources(paths: StrPath | Iterable[StrPath]) -> list[Source]:
    """The inputs ``paths`` name, in order: files as they are, directories walked
    (:data:`INPUT_SUFFIXES`, hidden names left out, sorted by name at every level), ``-``
    for standard input. One path may be given alone.

    Raises ``FileNotFoundError`` for a path that does not exist or a directory holding
    no input file (most likely the wrong one), another ``OSError`` for a directory that
    cannot be listed (each with ``filename`` set), and ``ValueError`` when standard input
    is named twice (it can be read once).
    """
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    sources: list[Source] = []
    for item in given:
        path = os.fspath(item)
        if path == STDIN:
            sources.append(Source(name=_STDIN_NAME, path=None))
            continue
        try:
            if os.path.isdir(path):
                found = list(_walk(path))
                if not found:
                    raise _not_found(path, f"no input files ({', '.join(INPUT_SUFFIXES)}) "
                                           "in this directory")
                sources.extend(found)
            elif os.path.exists(path):
                sources.append(_file(path))
            else:
                raise _not_found(path, "no such file or directory")
        except OSError as error:
            if error.filename is None:
                error.filename = path
            raise
    if sum(s.path is None for s in sources) > 1:
        raise ValueError("standard input (-) can be read only once")
    return sources


# -- bytes -------------------------------------------------------------------------------


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


def _ignore(_amount: int) -> None:
    """Progress nobody follows."""


def _chunks(stream: IO[bytes], progress: Callable[[int], None]) -> Iterator[bytes]:
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


def _as_os_error(error: BaseException) -> OSError:
    """A read fault as an ``OSError`` (corrupt gzip data raises ``zlib.error``)."""
    if isinstance(error, OSError):
        return error
    return OSError(str(error) or type(error).__name__)


def read_file(path: StrPath) -> bytes:
    """The whole content of a file, decompressed when it is gzip. Raises ``OSError``
    when it cannot be read to its end (a corrupt or truncated gzip too)."""
    try:
        with open(path, "rb") as file:
            return b"".join(_chunks(file, _ignore))
    except _READ_ERRORS as error:
        raise _as_os_error(error) from None


# -- lines -------------------------------------------------------------------------------


def parse_line(source: str, number: int, raw: bytes,
               loads: Callable[[bytes], Any] = _json.loads,
               decode_error: tuple[type[Exception], ...] = _json.DecodeError) -> EventLine:
    """One raw line as an :class:`EventLine`: parsed, or why it could not be (larger than
    an event may be, or not JSON). For readers of one's own (a Spark job reads its lines
    itself) that must account for lines as :func:`read_events` does."""
    # Longer than the largest event the translator accepts (a line has at least as many
    # bytes as characters); Segment caps a message at 32 KB.
    if len(raw) > MAX_EVENT_CHARS:
        return EventLine(source, number, None, "larger than 1 MB",
                         "the event is larger than 1 MB", raw)
    try:
        event = loads(raw)
    except decode_error as error:
        why = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        return EventLine(source, number, None, "not JSON", f"not JSON: {why}", raw)
    return EventLine(source, number, event, None, None, raw)


class Block(NamedTuple):
    """Whole lines of one NDJSON input, read but not parsed (:func:`read_blocks`), for
    :func:`parse_block` to parse, maybe in another process.

    ``data`` holds the lines numbered ``line + 1`` on, each ending in a newline but
    perhaps the last of the input (a last line without one, or the part of a line read
    before a read fault). A named tuple of a name, a number and bytes: cheap to send to
    another process.
    """

    source: str
    #: The number of the line before the first one of ``data`` (0 at an input's start).
    line: int
    data: bytes

    def records(self) -> int:
        """How many non-blank lines it holds: the records :func:`parse_block` yields."""
        lines = self.data.split(b"\n")
        return len(lines) - lines.count(b"") - sum(map(bytes.isspace, lines))


def _blocks(source: str, chunks: Iterable[bytes]) -> Iterator[Block]:
    """The whole lines of a stream of chunks, one block per chunk that ends a line. A
    last line without a newline is still a line, and so is the part of a line read
    before a read error (which is then raised)."""
    number = 0
    rest = b""
    try:
        for chunk in chunks:
            end = chunk.rfind(b"\n") + 1
            if not end:
                rest += chunk
                continue
            data = rest + chunk[:end] if rest else chunk[:end]
            rest = chunk[end:]
            yield Block(source, number, data)
            number += data.count(b"\n")
    except _READ_ERRORS:
        if rest:
            yield Block(source, number, rest)
        raise
    if rest:
        yield Block(source, number, rest)


def _parse(block: Block, loads: Callable[[bytes], Any],
           decode_error: tuple[type[Exception], ...]) -> Iterator[EventLine]:
    """The non-blank lines of a block, numbered on from ``block.line`` (blank lines count
    in the numbering)."""
    source = block.source
    number = block.line
    for raw in block.data.split(b"\n"):
        number += 1
        if raw and not raw.isspace():
            yield parse_line(source, number, raw, loads, decode_error)


def parse_block(block: Block) -> Iterator[EventLine]:
    """One :class:`EventLine` per non-blank line of ``block``, exactly as
    :func:`read_source` yields them for those lines."""
    return _parse(block, _json.loads, _json.DecodeError)


def _ndjson(source: str, chunks: Iterable[bytes], loads: Callable[[bytes], Any],
            decode_error: tuple[type[Exception], ...]) -> Iterator[EventLine]:
    """The non-blank lines of a stream of chunks, numbered from 1 (blank lines count in
    the numbering). A last line without a newline is still a line, and so is the part of
    a line read before a read error (which is then raised)."""
    for block in _blocks(source, chunks):
        yield from _parse(block, loads, decode_error)


def _document(source: str, data: bytes, loads: Callable[[bytes], Any],
              decode_error: tuple[type[Exception], ...]) -> Iterator[EventLine]:
    """A ``.json`` document: one event, or an array of events (numbered from 1). A file
    that is not one JSON document is read as NDJSON instead, so a misnamed NDJSON file
    is not lost."""
    try:
        document = loads(data)
    except decode_error:
        yield from _ndjson(source, (data,), loads, decode_error)
        return
    items = document if isinstance(document, list) else [document]
    for number, event in enumerate(items, 1):
        yield EventLine(source, number, event)


def read_source(source: Source, *, failures: list[ReadFailure] | None = None,
                stdin: IO[bytes] | None = None,
                progress: Callable[[int], None] | None = None) -> Iterator[EventLine]:
    """The lines of one input (see :func:`read_events`). ``stdin`` is the stream read
    for standard input (default: the process's); ``progress`` is called with the number
    of bytes read each time a chunk is read (before decompression)."""
    # Looked up per call, so a backend chosen after import (tests do) is used.
    loads, decode_error = _json.loads, _json.DecodeError

    def lines(chunks: Iterator[bytes]) -> Iterator[EventLine]:
        if source.document:
            return _document(source.name, b"".join(chunks), loads, decode_error)
        return _ndjson(source.name, chunks, loads, decode_error)

    return _read(source, lines, failures, stdin, progress)


def read_blocks(source: Source, *, failures: list[ReadFailure] | None = None,
                stdin: IO[bytes] | None = None,
                progress: Callable[[int], None] | None = None) -> Iterator[Block]:
    """The lines of one NDJSON input in :class:`Block` s of whole lines, unparsed, for a
    caller that parses them elsewhere (other processes): :func:`parse_block` of each
    block, in order, gives what :func:`read_source` gives. A block is at most what one
    read returns (:data:`CHUNK` bytes, decompressed) plus the line it ends. Faults are
    recorded or raised as by :func:`read_source`, after the block of what was read.

    A ``.json`` document is parsed whole, not in lines: ``ValueError``.
    """
    if source.document:
        raise ValueError(f"{source.name}: a JSON document is not read in blocks of lines")
    return _read(source, lambda chunks: _blocks(source.name, chunks), failures, stdin,
                 progress)


def _read(source: Source, read: Callable[[Iterator[bytes]], Iterator[_T]],
          failures: list[ReadFailure] | None, stdin: IO[bytes] | None,
          progress: Callable[[int], None] | None) -> Iterator[_T]:
    """What ``read`` makes of the chunks of one input, which is opened and closed here;
    a fault is recorded in ``failures`` (or raised)."""
    stream: IO[bytes]
    if source.path is None:
        stream = stdin if stdin is not None else sys.stdin.buffer
    else:
        try:
            stream = open(source.path, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            _fail(failures, source, "open", error)
            return
    try:
        yield from read(_chunks(stream, progress or _ignore))
    except _READ_ERRORS as error:
        _fail(failures, source, "read", error)
    finally:
        if source.path is not None:
            stream.close()


def _fail(failures: list[ReadFailure] | None, source: Source,
          stage: Literal["open", "read"], error: BaseException) -> None:
    """Record a fault in ``failures``, or raise it (as an ``OSError``) when there is no
    list to record it in."""
    if failures is None:
        raise _as_os_error(error)
    failures.append(ReadFailure(source.name, stage, error_reason(error)))


def read_events(paths: StrPath | Iterable[StrPath], *,
                failures: list[ReadFailure] | None = None,
                stdin: IO[bytes] | None = None) -> Iterator[EventLine]:
    """One :class:`EventLine` per non-blank line of every input ``paths`` names (files,
    ``.json`` documents, gzip, directories, ``-`` for standard input; one path may be
    given alone), in order.

    The paths are checked at once: a missing one raises ``FileNotFoundError`` before any
    line is read (see :func:`find_sources`). A fault while reading (a truncated gzip, a
    disk error) comes after the lines read before it; without ``failures`` it is raised
    as an ``OSError`` and reading stops; with a ``failures`` list it is appended there
    as a :class:`ReadFailure` and reading goes on with the next input, so a caller can
    account for every line and every fault::

        failures: list[ReadFailure] = []
        for item in read_events("segment-logs", failures=failures):
            if item.ok:
                translation = translator.translate(item.event)
    """
    return _read_all(find_sources(paths), failures, stdin)


def _read_all(sources: list[Source], failures: list[ReadFailure] | None,
              stdin: IO[bytes] | None) -> Iterator[EventLine]:
    for source in sources:
        yield from read_source(source, failures=failures, stdin=stdin)
