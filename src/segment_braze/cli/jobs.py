"""``--jobs N``: events translated in worker processes, everything else here, in order.

The parent process reads the inputs in blocks of whole lines (unparsed), counts them and
hands each block to a pool of workers; each worker parses and translates its block with
its own :class:`~segment_braze.Translator`, built from the settings when it starts, and
sends back one outcome per line in the compact form of :mod:`.transfer`. The parent
takes the outcomes back in input order and does everything that depends on order as
``--jobs 1`` does: change tracking, batching, writing and accounting. So the output is
the same, byte for byte.

At most ``2 * N`` blocks (about a megabyte each) are in flight, so memory stays flat
however large the input. A worker that dies stops the run with an error, never a hang;
workers ignore Ctrl-C, which stops the parent, and the parent stops them.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from multiprocessing.context import BaseContext
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, NamedTuple

from .. import _json
from ..archive import (
    CHUNK,
    Block,
    EventLine,
    ReadFailure,
    Source,
    parse_block,
    read_blocks,
    read_source,
)
from ..braze import Request
from ..settings import Settings
from ..tracking import Tracker
from ..translate import Translation, Translator
from . import transfer
from .accounting import Rejection, Rejects, Tally, failed_line, rejected_line
from .inputs import report
from .progress import Progress

__all__ = [
    "CPU_LIMITS",
    "ITEMS",
    "UNIT_BYTES",
    "Pool",
    "Unit",
    "WorkerError",
    "translate",
    "units",
    "usable_cores",
    "workers_for",
]

#: Bytes of NDJSON lines per unit of work, at least (but at an input's end): half a
#: read of a file, so that one read of a file is one unit, of about a thousand events
#: (tens of milliseconds of a worker's time). Handing a unit over costs about as much as
#: translating a few dozen events, and a pipe gives what it holds at each read (often
#: 64 KiB), so small reads are gathered.
UNIT_BYTES: Final = CHUNK // 2
#: Items of a ``.json`` document per unit of work (a document is parsed whole, here).
ITEMS: Final = 1000


class WorkerError(Exception):
    """A worker process ended (or failed) before finishing its work: the run cannot
    account for those lines, so it stops (exit status 2)."""


class Unit(NamedTuple):
    """One unit of work: lines to translate, and the position of the first (the 0-based
    number of its line among all lines read, blank lines excepted). ``lines`` is a block
    of NDJSON lines, parsed by the worker, or items of a ``.json`` document."""

    position: int
    lines: Block | tuple[EventLine, ...]

    def items(self) -> Iterator[EventLine]:
        """Its lines, parsed."""
        lines = self.lines
        return parse_block(lines) if isinstance(lines, Block) else iter(lines)

    def line(self, index: int) -> EventLine:
        """Its non-blank line ``index`` (from 0), parsed again."""
        return next(islice(self.items(), index, None))

    def where(self) -> str:
        """Where its lines come from, for a message."""
        lines = self.lines
        if isinstance(lines, Block):
            return f"{lines.source} from line {lines.line + 1}"
        return f"{lines[0].source} from item {lines[0].line}"


#: Where a container's CPU limit is read: cgroup v2 (``"QUOTA PERIOD"`` in one file),
#: then v1 (two files); a quota of ``max`` or ``-1`` is no limit.
CPU_LIMITS: Final = (("/sys/fs/cgroup/cpu.max", ""),
                     ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                      "/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def usable_cores() -> int:
    """The cores this process may use: those it may run on (``taskset``, a CPU set), and
    no more than a container's CPU limit allows in whole cores (at least one)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        cores = os.cpu_count() or 1
    limit = _cpu_limit()
    return cores if limit is None else max(1, min(cores, limit))


def _cpu_limit() -> int | None:
    """Whole cores of the CPU quota of this process's container, if it has one."""
    for quota_file, period_file in CPU_LIMITS:
        try:
            fields = Path(quota_file).read_text().split()
            if period_file:
                fields.append(Path(period_file).read_text().strip())
            quota, period = fields[0], fields[1]
            return None if quota in ("max", "-1") else int(quota) // int(period)
        except (OSError, IndexError, ValueError, ZeroDivisionError):
            continue
    return None


def workers_for(jobs: int) -> int:
    """The worker processes ``--jobs`` asks for (0: one per core), never more than the
    cores there are: a worker more than the cores only adds switching, and on one core
    the work is done in this process (1), the fastest way there."""
    cores = usable_cores()
    return min(cores if jobs == 0 else jobs, cores)


# -- in a worker -------------------------------------------------------------------------

_translator: Translator | None = None


def _start(settings: Settings, loads: Any) -> None:
    """Set a worker up: Ctrl-C is the parent's to handle; the same JSON parser as the
    parent (the same lines are rejected, with the same messages); a translator of its
    own, built from the settings."""
    global _translator
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _json.loads = loads
    _translator = Translator(settings)
    # What the worker holds from now on lives as long as it: collections need not look
    # at it again.
    gc.freeze()


def _work(unit: Unit) -> bytes:
    """One outcome per line of ``unit`` (its translation, or why it was rejected), each
    encoded as soon as it is made, so that its objects die young."""
    assert _translator is not None  # noqa: S101 - set by _start
    translate, encode = _translator.translate, transfer.encode
    out: list[bytes] = []
    for position, item in enumerate(unit.items(), unit.position):
        reason = item.reason
        if reason is not None:
            out.append(encode(rejected_line(item, item.problems, reason)))
            continue
        try:
            translation = translate(item.event, position=position)
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            out.append(encode(failed_line(item, error)))
            continue
        out.append(encode(translation))
    return marshal.dumps(out)


# -- in the parent -----------------------------------------------------------------------


def units(sources: Sequence[Source], tally: Tally, progress: Progress,
          stdin: IO[bytes]) -> Iterator[Unit | ReadFailure]:
    """The work of a run, in input order: units of lines (each line counted as read
    here), and the read faults, each after the lines read before it."""
    for source in sources:
        tally.files += 1
        failures: list[ReadFailure] = []
        if source.document:
            items = read_source(source, failures=failures, stdin=stdin,
                                progress=progress.advance)
            while group := tuple(islice(items, ITEMS)):
                yield Unit(tally.read, group)
                tally.read += len(group)
        else:
            blocks = read_blocks(source, failures=failures, stdin=stdin,
                                 progress=progress.advance)
            for block in _gather(blocks):
                count = block.records()
                if count:
                    yield Unit(tally.read, block)
                    tally.read += count
        yield from failures


def _gather(blocks: Iterable[Block]) -> Iterator[Block]:
    """Consecutive blocks joined into blocks of at least :data:`UNIT_BYTES` (but the
    last)."""
    gathered: list[Block] = []
    size = 0
    for block in blocks:
        gathered.append(block)
        size += len(block.data)
        if size >= UNIT_BYTES:
            yield _joined(gathered)
            gathered, size = [], 0
    if gathered:
        yield _joined(gathered)


def _joined(blocks: list[Block]) -> Block:
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    return Block(first.source, first.line, b"".join(block.data for block in blocks))


class Pool:
    """Worker processes translating units of lines with ``settings``; :meth:`outcomes`
    gives the outcomes back in the order the units were given. A context manager: the
    workers stop when it exits, however it exits. ``context`` is the multiprocessing
    context (default: the platform's)."""

    def __init__(self, settings: Settings, workers: int, *,
                 context: BaseContext | None = None) -> None:
        #: Units in flight at most: enough to keep every worker busy while the parent
        #: takes the outcomes of the oldest.
        self.depth = 2 * workers
        # A forked worker flushes the standard streams it inherited when it ends: what
        # they hold now would be written twice.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.flush()
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                                            initargs=(settings, _json.loads))
        # Started now (a fork starts them all at once), while this process runs no other
        # thread: a thread holding a lock when a process forks leaves it held for good
        # in the child.
        if sys.version_info < (3, 11):  # pragma: no cover - the CI runs a newer Python
            # Python 3.10's executor, when a worker dies, waits for the thread that feeds
            # the workers' queue, which may be stuck writing a unit that no worker will
            # read: the run would hang instead of stopping. Not waiting for it is safe:
            # on a normal shutdown the workers have read every unit by then.
            self.executor._call_queue.cancel_join_thread()  # type: ignore[attr-defined]
        try:
            self.executor.submit(int).result()
        except BaseException as error:  # Ctrl-C too: the workers stop with it
            self.close()
            if isinstance(error, BrokenProcessPool):
                raise WorkerError("the worker processes could not start") from None
            raise

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers: the units not started are dropped, the running ones end."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def outcomes(self, work: Iterable[Unit | ReadFailure]
                 ) -> Iterator[tuple[Unit | ReadFailure, list[bytes]]]:
        """Each unit with the encoded outcome of each of its lines (a read fault with
        none), in the order given. Reading goes on while workers translate, until
        :attr:`depth` units are in flight."""
        pending: deque[tuple[Unit | ReadFailure, Future[bytes] | None]] = deque()
        for unit in work:
            pending.append((unit, self._submit(unit) if isinstance(unit, Unit) else None))
            while pending and (len(pending) > self.depth or _ready(pending[0][1])):
                yield _take(*pending.popleft())
        while pending:
            yield _take(*pending.popleft())

    def _submit(self, unit: Unit) -> Future[bytes]:
        """``unit`` handed to a worker: its future outcome (a failed one once a worker
        has died, to be reported in order, after the units before it)."""
        try:
            return self.executor.submit(_work, unit)
        except BrokenProcessPool as error:
            future: Future[bytes] = Future()
            future.set_exception(error)
            return future


def _ready(future: Future[bytes] | None) -> bool:
    return future is None or future.done()


def _take(unit: Unit | ReadFailure, future: Future[bytes] | None
          ) -> tuple[Unit | ReadFailure, list[bytes]]:
    if future is None or isinstance(unit, ReadFailure):
        return unit, []
    try:
        return unit, marshal.loads(future.result())  # noqa: S302 - our own worker's
    except BrokenProcessPool:
        raise WorkerError(f"a worker process ended unexpectedly (translating "
                          f"{unit.where()}); the run was stopped") from None
    except Exception as error:  # a bug in the worker: one line, as for any error
        raise WorkerError(f"a worker process failed (translating {unit.where()}): "
                          f"{type(error).__name__}: {error}") from None


def translate(pool: Pool, sources: Sequence[Source], tracker: Tracker | None, tally: Tally,
              rejects: Rejects, progress: Progress, stdin: IO[bytes]) -> Iterator[Request]:
    """What :func:`.pipeline.translate` yields, translated in ``pool``: the requests in
    input order, every line counted as that function counts it.

    The cycle collector is paused meanwhile: rebuilding the outcomes allocates several
    objects per event, none in a cycle (a run leaves the same few hundred cyclic objects
    whatever its size), and collections triggered every few hundred allocations cost this
    process about a tenth of its time.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield from _translated(pool, sources, tracker, tally, rejects, progress, stdin)
    finally:
        if collecting:
            gc.enable()


def _translated(pool: Pool, sources: Sequence[Source], tracker: Tracker | None, tally: Tally,
                rejects: Rejects, progress: Progress, stdin: IO[bytes]) -> Iterator[Request]:
    accept, decode = tally.accept, transfer.decode
    for unit, outcomes in pool.outcomes(units(sources, tally, progress, stdin)):
        if isinstance(unit, ReadFailure):
            report(unit, tally, progress)
            continue
        for index, data in enumerate(outcomes):
            outcome = decode(data)
            if type(outcome) is Rejection:
                rejects.write(outcome)
                continue
            translation: Translation = outcome  # type: ignore[assignment]
            if tracker is not None:
                try:
                    translation = tracker.apply(translation)
                except Exception as error:  # a bug: counted, the run goes on
                    rejects.failed(unit.line(index), error)
                    continue
            yield from accept(translation)
