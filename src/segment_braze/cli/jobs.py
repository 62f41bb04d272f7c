"""``--jobs N``: events translated in N processes, everything else here, in order.

The command reads the inputs in blocks of whole lines (unparsed), counts them and hands
each block to a pool of ``N - 1`` worker processes; each worker parses and translates its
block with its own :class:`~segment_braze.Translator`, built from the settings when it
starts, and sends back one outcome per line in the compact form of :mod:`.transfer`.
The command is the N-th: whenever every worker already has a block to go on with, it
translates the next block itself, which costs it less than taking that block's outcomes
back from a worker would. It takes the outcomes in input order and does everything that
depends on order as ``--jobs 1`` does: change tracking, batching, writing and
accounting. So the output is the same, byte for byte.

At most ``2 * N`` blocks (about half a megabyte each) are in flight, so memory stays flat
however large the input. A worker that dies stops the run with an error, never a hang;
workers ignore Ctrl-C, which stops the command, and the command stops them.
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
    """The translating processes ``--jobs`` asks for (0: one per core), this one
    included, never more than the cores there are: a process more than the cores only
    adds switching, and on one core the work is done in this process (1), the fastest
    way there."""
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
    """One outcome per line of ``unit``, each encoded as soon as it is made, so that its
    objects die young."""
    assert _translator is not None  # noqa: S101 - set by _start
    encode = transfer.encode
    return marshal.dumps([encode(outcome) for outcome in outcomes_of(_translator, unit)])


def outcomes_of(translator: Translator, unit: Unit) -> Iterator[Translation | Rejection]:
    """The outcome of each line of ``unit``: its translation, or why it was rejected
    (a line that is no event, or whose translation raised)."""
    translate = translator.translate
    for position, item in enumerate(unit.items(), unit.position):
        reason = item.reason
        if reason is not None:
            yield rejected_line(item, item.problems, reason)
            continue
        try:
            translation = translate(item.event, position=position)
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            yield failed_line(item, error)
            continue
        yield translation


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


#: What stands for a unit's outcomes until they are taken: the worker's future, the
#: outcomes translated here, or nothing (a read fault).
_Pending = tuple[Unit | ReadFailure, "Future[bytes] | list[Translation | Rejection] | None"]


class Pool:
    """``workers`` worker processes translating units of lines with ``settings``, and this
    process translating whenever they all have work; :meth:`outcomes` gives the outcomes
    back in the order the units were given. A context manager: the workers stop when it
    exits, however it exits. ``context`` is the multiprocessing context (default: the
    platform's)."""

    def __init__(self, settings: Settings, workers: int, *,
                 context: BaseContext | None = None) -> None:
        self.workers = workers
        #: Units in flight at most, with this process as one of the translating ones:
        #: enough to keep every worker busy while this process takes the outcomes of the
        #: oldest or translates one.
        self.depth = 2 * (workers + 1)
        #: This process's own translator, for the units it translates; built lazily.
        self.settings = settings
        self._translator: Translator | None = None
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
                 ) -> Iterator[tuple[Unit | ReadFailure, list[Translation | Rejection]]]:
        """Each unit with the outcome of each of its lines (a read fault with none), in
        the order given.

        Before each unit's outcomes are given, every worker is topped up to two units
        not done (one running, one waiting), so that none waits while the caller works
        on outcomes. When the oldest unit is not done yet, this process reads the next
        one and translates it itself instead of waiting. At most :attr:`depth` units
        are held at once."""
        pending: deque[_Pending] = deque()
        units = iter(work)
        more = True
        while True:
            while more and len(pending) < self.depth and self._waiting(pending) < 2 * self.workers:
                unit = next(units, None)
                if unit is None:
                    more = False
                else:
                    pending.append((unit, None if isinstance(unit, ReadFailure)
                                    else self._submit(unit)))
            if not pending:
                return
            if more and len(pending) < self.depth and not _ready(pending[0][1]):
                unit = next(units, None)
                if unit is None:
                    more = False
                else:
                    pending.append((unit, None if isinstance(unit, ReadFailure)
                                    else list(outcomes_of(self._local(), unit))))
                continue
            yield _take(*pending.popleft())

    @staticmethod
    def _waiting(pending: deque[_Pending]) -> int:
        """Units handed to workers and not done."""
        return sum(1 for _, held in pending if isinstance(held, Future) and not held.done())

    def _local(self) -> Translator:
        """This process's translator, built when it first translates."""
        if self._translator is None:
            self._translator = Translator(self.settings)
        return self._translator

    def _submit(self, unit: Unit) -> Future[bytes]:
        """``unit`` handed to a worker: its future outcome (a failed one once a worker
        has died, to be reported in order, after the units before it)."""
        try:
            return self.executor.submit(_work, unit)
        except BrokenProcessPool as error:
            future: Future[bytes] = Future()
            future.set_exception(error)
            return future


def _ready(held: Future[bytes] | list[Translation | Rejection] | None) -> bool:
    return not isinstance(held, Future) or held.done()


def _take(unit: Unit | ReadFailure,
          held: Future[bytes] | list[Translation | Rejection] | None
          ) -> tuple[Unit | ReadFailure, list[Translation | Rejection]]:
    """``unit`` with its outcomes, rebuilt from a worker's answer if it translated them.

    The cycle collector is paused while they are rebuilt: that allocates several objects
    per event, none in a cycle, and collections triggered every few hundred allocations
    would cost this process about a tenth of its time."""
    if not isinstance(held, Future) or isinstance(unit, ReadFailure):
        return unit, held if isinstance(held, list) else []
    try:
        encoded = marshal.loads(held.result())  # noqa: S302 - our own worker's
    except BrokenProcessPool:
        raise WorkerError(f"a worker process ended unexpectedly (translating "
                          f"{unit.where()}); the run was stopped") from None
    except Exception as error:  # a bug in the worker: one line, as for any error
        raise WorkerError(f"a worker process failed (translating {unit.where()}): "
                          f"{type(error).__name__}: {error}") from None
    collecting = gc.isenabled()
    gc.disable()
    try:
        decode = transfer.decode
        return unit, [decode(data) for data in encoded]
    finally:
        if collecting:
            gc.enable()


def translate(pool: Pool, sources: Sequence[Source], tracker: Tracker | None, tally: Tally,
              rejects: Rejects, progress: Progress, stdin: IO[bytes]) -> Iterator[Request]:
    """What :func:`.pipeline.translate` yields, translated in ``pool``: the requests in
    input order, every line counted as that function counts it."""
    accept = tally.accept
    for unit, outcomes in pool.outcomes(units(sources, tally, progress, stdin)):
        if isinstance(unit, ReadFailure):
            report(unit, tally, progress)
            continue
        for index, outcome in enumerate(outcomes):
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
