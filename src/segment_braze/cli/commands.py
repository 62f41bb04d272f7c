"""The commands: ``translate`` and ``validate`` (:func:`run`), ``explain`` and
``currents``, the delivery commands (:mod:`.delivery`), and :func:`main`, which parses
the arguments, runs one and turns every error into one line and an exit status."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Final

import attrs

from .. import _json
from ..archive import Source
from ..errors import error_reason
from ..settings import Settings
from ..tracking import ScratchStore, SQLiteStore, StateStore, Tracker
from ..translate import Translator
from . import delivery, jobs
from .accounting import CurrentsTally, Tally
from .arguments import build_parser, load_settings
from .inputs import read_event, sources
from .pipeline import batched, convert, tracker_of, translate, write_requests
from .session import Streams, finish, open_state, preview_state, session
from .usage import ERROR, OK, PROG, UsageError

__all__ = ["COMMANDS", "currents", "explain", "main", "run"]


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
        store = open_state(args.state) if writes else preview_state(args.state)
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
    tracker = tracker_of(store)
    tally = Tally()
    tally.tracking = store is not None
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # The workers start first, before any output file or progress bar exists.
        pool = stack.enter_context(jobs.Pool(settings, workers)) if workers > 1 else None
        out, rejects, progress = stack.enter_context(
            session(args, streams, inputs, tally, writes=writes))
        requests = (translate(inputs, Translator(settings), tracker, tally, rejects,
                              progress, streams.stdin) if pool is None else
                    jobs.translate(pool, inputs, tracker, tally, rejects, progress,
                                   streams.stdin))
        write_requests(batched(requests, batch=args.batch, max_total=args.max_total), out,
                       tally, _json.dumps)
    seconds = time.perf_counter() - start
    return finish(args, streams, tally, tally.render(seconds=seconds, written=writes))


def currents(args: argparse.Namespace, streams: Streams) -> int:
    """``currents``: Braze Currents records in, Segment track messages out, one per
    line, with the accounting of ``translate``."""
    inputs = sources(args.inputs)
    tally = CurrentsTally()
    start = time.perf_counter()
    with session(args, streams, inputs, tally, writes=True) as (out, rejects, progress):
        assert out is not None  # noqa: S101 - a writing session always has an output
        write, dumps = out.write, _json.dumps
        for message in convert(inputs, args.event_type, tally, rejects, progress,
                               streams.stdin):
            write(dumps(message))
            write(b"\n")
    seconds = time.perf_counter() - start
    return finish(args, streams, tally, tally.render(seconds=seconds))


def explain(args: argparse.Namespace, streams: Streams) -> int:
    """``explain``: which rules matched one event, and what each emitted."""
    event = read_event(args.event, streams.stdin)
    settings = load_settings(args)
    store = None if args.state is None else open_state(args.state, readonly=True)
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
    "send": delivery.send,
    "replay": delivery.replay,
    "seed-state": delivery.seed_state,
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
