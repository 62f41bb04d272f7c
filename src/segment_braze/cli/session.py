"""What a run of a command shares: its streams, the files it writes to (output,
rejects, summary), its progress line, its end (the summary and the exit status), and the
``--state`` file."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import IO

import attrs

from .. import _json
from ..archive import CHUNK, Source
from ..errors import error_reason
from ..tracking import ScratchStore, SQLiteStore
from .accounting import Accounts, Rejects
from .progress import Progress, is_terminal
from .usage import ERROR, OK, PROG, REJECTED, UsageError

__all__ = [
    "Streams",
    "finish",
    "make_parent",
    "open_output",
    "open_state",
    "preview_state",
    "session",
]


@attrs.frozen
class Streams:
    """The standard streams of a run (the process's, or a caller's)."""

    stdin: IO[bytes]
    stdout: IO[bytes]
    stderr: IO[str]


# -- what a run writes to ----------------------------------------------------------------


def make_parent(path: str) -> None:
    """Create the folder a file is written to (``--output out/requests.ndjson`` works in a
    fresh checkout)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


def open_output(path: str | None, default: IO[bytes] | None,
                 stack: contextlib.ExitStack) -> IO[bytes] | None:
    """The file at ``path`` opened for writing (closed with ``stack``), or ``default``
    for no path or ``-``."""
    if path is None or path == "-":
        return default
    try:
        make_parent(path)
        return stack.enter_context(open(path, "wb", buffering=CHUNK))
    except OSError as error:
        raise UsageError(f"{path}: cannot write: {error_reason(error)}") from None


@contextlib.contextmanager
def session(args: argparse.Namespace, streams: Streams, inputs: Sequence[Source],
             tally: Accounts, *, writes: bool
             ) -> Iterator[tuple[IO[bytes] | None, Rejects, Progress]]:
    """What a run writes to while it reads: the output (``None`` when the command writes
    none), the rejects, the progress line. All closed when the run ends, however it ends;
    standard output is flushed only after a run that went to its end."""
    sizes = [s.size for s in inputs]
    total = None if None in sizes else sum(s or 0 for s in sizes)
    with contextlib.ExitStack() as stack:
        out = open_output(args.output, streams.stdout, stack) if writes else None
        rejects = Rejects(tally, open_output(args.rejects, None, stack), _json.dumps)
        progress = Progress(streams.stderr, total, tally, enabled=is_terminal(streams.stderr))
        stack.callback(progress.close)
        yield out, rejects, progress
        if out is streams.stdout:
            out.flush()


def finish(args: argparse.Namespace, streams: Streams, tally: Accounts, summary: str) -> int:
    """End a run: the summary on standard error (and to ``--summary``), and the exit
    status."""
    assert tally.balanced(), "a line was not accounted for"  # noqa: S101
    streams.stderr.write(summary + "\n")
    if args.summary is not None:
        try:
            make_parent(args.summary)
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


def open_state(path: str, *, readonly: bool = False) -> SQLiteStore:
    """The ``--state`` file. A run commits it once, at its end (``commit_every=None``),
    so an interrupted run leaves it as it was."""
    try:
        if not readonly:
            make_parent(path)
        return SQLiteStore(path, readonly=readonly, commit_every=None)
    except (OSError, ValueError, sqlite3.Error) as error:
        raise UsageError(f"{path}: cannot open the state file: {error_reason(error)}") from None


def preview_state(path: str) -> ScratchStore:
    """The state of ``validate``: the file read-only (a missing file is an empty state)
    under this run's changes, kept in memory, so the file is never written."""
    return ScratchStore(open_state(path, readonly=True) if os.path.exists(path) else None)
