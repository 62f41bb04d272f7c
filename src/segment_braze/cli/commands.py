"""The commands: ``translate`` and ``validate`` (:func:`run`), ``explain`` and
``currents``, and :func:`main`, which parses the arguments, runs one and turns every
error into one line and an exit status."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Final

import attrs

from .. import _json
from ..archive import CHUNK, Source
from ..braze import Request
from ..errors import error_reason
from ..settings import Settings
from ..tracking import ScratchStore, SQLiteStore, StateStore, Tracker
from ..translate import Translator
from . import jobs
from .accounting import Accounts, CurrentsTally, Rejects, Tally
from .arguments import build_parser, load_settings
from .inputs import read_event, read_lines, sources
from .progress import Progress, is_terminal
from .usage import ERROR, OK, PROG, REJECTED, UsageError

__all__ = [
    "COMMANDS",
    "Streams",
    "convert",
    "currents",
    "explain",
    "main",
    "run",
    "translate",
    "write_requests",
]


@attrs.frozen
class Streams:
    """The standard streams of a run (the process's, or a caller's)."""

    stdin: IO[bytes]
    stdout: IO[bytes]
    stderr: IO[str]


# -- the pipelines -----------------------------------------------------------------------


def translate(sources: Sequence[Source], translator: Translator, tracker: Tracker | None,
              tally: Tally, rejects: Rejects, progress: Progress,
              stdin: IO[bytes]) -> Iterator[Request]:
    """Read, parse and translate every input (through the change ``tracker``, when there
    is one): the requests, in input order. Each line is counted as exactly one of
    translated, skipped or rejected.

    An event without a ``messageId`` is named in origins by its position: the 0-based
    number of its line among all lines read.
    """
    translate_one = translator.translate
    accept = tally.accept
    for item, position in read_lines(sources, tally, rejects, progress, stdin):
        try:
            translation = translate_one(item.event, position=position)
            if tracker is not None:
                translation = tracker.apply(translation)
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            rejects.failed(item, error)
            continue
        yield from accept(translation)


def convert(sources: Sequence[Source], event_type: str | None, tally: CurrentsTally,
            rejects: Rejects, progress: Progress, stdin: IO[bytes]
            ) -> Iterator[dict[str, Any]]:
    """Read, parse and convert every input of Braze Currents records: the Segment track
    messages, in input order. Each line is counted as exactly one of converted, skipped
    or rejected. ``event_type`` is the type of records that do not carry one.

    One :func:`~segment_braze.currents.convert` per line, as
    :func:`~segment_braze.currents.convert_many` does, so each result stays tied to its
    line (a rejected one is written with its source and number).
    """
    from .. import currents  # imported here: its converter is built on import

    skipped = tally.skipped
    messages = tally.messages
    for item, position in read_lines(sources, tally, rejects, progress, stdin):
        try:
            result = currents.convert(item.event, event_type=event_type, position=position)
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            rejects.failed(item, error)
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
    from ..batching import iter_batches  # imported here: --no-batch runs never need it

    return iter_batches(requests, max_total=max_total)


def write_requests(requests: Iterable[Request], out: IO[bytes] | None, tally: Tally,
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


# -- what a run writes to ----------------------------------------------------------------


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
        raise UsageError(f"{path}: cannot write: {error_reason(error)}") from None


@contextlib.contextmanager
def _session(args: argparse.Namespace, streams: Streams, inputs: Sequence[Source],
             tally: Accounts, *, writes: bool
             ) -> Iterator[tuple[IO[bytes] | None, Rejects, Progress]]:
    """What a run writes to while it reads: the output (``None`` when the command writes
    none), the rejects, the progress line. All closed when the run ends, however it ends;
    standard output is flushed only after a run that went to its end."""
    sizes = [s.size for s in inputs]
    total = None if None in sizes else sum(s or 0 for s in sizes)
    with contextlib.ExitStack() as stack:
        out = _open_output(args.output, streams.stdout, stack) if writes else None
        rejects = Rejects(tally, _open_output(args.rejects, None, stack), _json.dumps)
        progress = Progress(streams.stderr, total, tally, enabled=is_terminal(streams.stderr))
        stack.callback(progress.close)
        yield out, rejects, progress
        if out is streams.stdout:
            out.flush()


def _finish(args: argparse.Namespace, streams: Streams, tally: Accounts, summary: str) -> int:
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
            tally.errors.append(f"{args.summary}: cannot write: {error_reason(error)}")
            streams.stderr.write(f"{PROG}: error: {tally.errors[-1]}\n")
    if tally.errors:
        return ERROR
    return REJECTED if args.fail_on_reject and tally.rejected_total else OK


# -- change tracking ---------------------------------------------------------------------


def _open_state(path: str, *, readonly: bool = False) -> SQLiteStore:
    """The ``--state`` file. A run commits it once, at its end (``commit_every=None``),
    so an interrupted run leaves it as it was."""
    try:
        if not readonly:
            _make_parent(path)
        return SQLiteStore(path, readonly=readonly, commit_every=None)
    except (OSError, ValueError, sqlite3.Error) as error:
        raise UsageError(f"{path}: cannot open the state file: {error_reason(error)}") from None


def _preview_state(path: str) -> ScratchStore:
    """The state of ``validate``: the file read-only (a missing file is an empty state)
    under this run's changes, kept in memory, so the file is never written."""
    return ScratchStore(_open_state(path, readonly=True) if os.path.exists(path) else None)


def _tracker(store: StateStore | None) -> Tracker | None:
    """The change tracker of ``translate`` and ``validate``, with a store: values are
    committed as soon as translated (the run writes files; it sends nothing)."""
    return None if store is None else Tracker(store, commit="on_translate")


# -- the commands ------------------------------------------------------------------------


def run(args: argparse.Namespace, streams: Streams) -> int:
    """``translate`` (writes the requests) and ``validate`` (only counts them)."""
    writes = args.command == "translate"
    if not args.batch and args.max_total is not None:
        raise UsageError("--max-total applies to batching; drop --no-batch")
    inputs = sources(args.inputs)
    settings = load_settings(args)
    store: SQLiteStore | ScratchStore | None = None
    if args.state is not None:
        store = _open_state(args.state) if writes else _preview_state(args.state)
    saved = False
    try:
        status = _run_with(args, streams, inputs, settings, store, writes)
        # The state describes the requests written: kept only when the run wrote them all.
        saved = status != ERROR
        return status
    finally:
        if isinstance(store, SQLiteStore) and not saved:
            store.rollback()
        if store is not None:
            store.close()


def _run_with(args: argparse.Namespace, streams: Streams, inputs: list[Source], settings: Settings,
              store: StateStore | None, writes: bool) -> int:
    workers = jobs.workers_for(args.jobs)
    tracker = _tracker(store)
    tally = Tally()
    tally.tracking = store is not None
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # The workers start first, before any output file or progress bar exists.
        pool = stack.enter_context(jobs.Pool(settings, workers)) if workers > 1 else None
        out, rejects, progress = stack.enter_context(
            _session(args, streams, inputs, tally, writes=writes))
        requests = (translate(inputs, Translator(settings), tracker, tally, rejects,
                              progress, streams.stdin) if pool is None else
                    jobs.translate(pool, inputs, tracker, tally, rejects, progress,
                                   streams.stdin))
        write_requests(_batched(requests, batch=args.batch, max_total=args.max_total), out,
                       tally, _json.dumps)
    seconds = time.perf_counter() - start
    return _finish(args, streams, tally, tally.render(seconds=seconds, written=writes))


def currents(args: argparse.Namespace, streams: Streams) -> int:
    """``currents``: Braze Currents records in, Segment track messages out, one per
    line, with the accounting of ``translate``."""
    inputs = sources(args.inputs)
    tally = CurrentsTally()
    start = time.perf_counter()
    with _session(args, streams, inputs, tally, writes=True) as (out, rejects, progress):
        assert out is not None  # noqa: S101 - a writing session always has an output
        write, dumps = out.write, _json.dumps
        for message in convert(inputs, args.event_type, tally, rejects, progress,
                               streams.stdin):
            write(dumps(message))
            write(b"\n")
    seconds = time.perf_counter() - start
    return _finish(args, streams, tally, tally.render(seconds=seconds))


def explain(args: argparse.Namespace, streams: Streams) -> int:
    """``explain``: which rules matched one event, and what each emitted."""
    event = read_event(args.event, streams.stdin)
    settings = load_settings(args)
    store = None if args.state is None else _open_state(args.state, readonly=True)
    try:
        explanation = Translator(settings).explain(event)
        if store is not None:  # what the state leaves out, remembering nothing
            explanation = attrs.evolve(explanation, translation=Tracker(store).preview(
                explanation.translation))
        text = str(explanation)
    finally:
        if store is not None:
            store.close()
    streams.stdout.write(text.encode() + b"\n")
    streams.stdout.flush()
    return OK


#: Each command's function.
COMMANDS: Final[Mapping[str, Callable[[argparse.Namespace, Streams], int]]] = {
    "translate": run,
    "validate": run,
    "explain": explain,
    "currents": currents,
}


def main(argv: Sequence[str] | None = None, *, stdin: IO[bytes] | None = None,
         stdout: IO[bytes] | None = None, stderr: IO[str] | None = None) -> int:
    """Run ``segment-braze`` with ``argv`` (default: the process arguments); returns the
    exit status. The streams default to the process's standard streams."""
    streams = Streams(stdin=stdin if stdin is not None else sys.stdin.buffer,
                      stdout=stdout if stdout is not None else sys.stdout.buffer,
                      stderr=stderr if stderr is not None else sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, streams)
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
        streams.stderr.write(f"{PROG}: error: {where}{error_reason(error)}\n")
        return ERROR
    except jobs.WorkerError as error:
        streams.stderr.write(f"{PROG}: error: {error}\n")
        return ERROR
    except KeyboardInterrupt:
        streams.stderr.write(f"{PROG}: interrupted\n")
        return 130
