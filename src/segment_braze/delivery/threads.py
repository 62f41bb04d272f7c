"""``deliver``: requests into Braze over a synchronous transport, one thread per lane."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO

from ..braze import Request
from ..limits import RateLimit
from ..settings import Settings
from ._core import Acknowledger, Core, Response, Step, Ticket, Transport
from .deadletter import DeadLetter
from .journal import Journal
from .pacing import Pacer, Retry
from .report import DeliveryReport

__all__ = ["deliver"]

#: Requests admitted but not yet answered for good, per lane, by default.
WINDOW_PER_LANE = 4


def deliver(requests: Iterable[Request], transport: Transport, settings: Settings, *,
            lanes: int = 4, tracker: Acknowledger | None = None,
            journal: Journal | str | os.PathLike[str] | None = None,
            dead_letter: DeadLetter | str | os.PathLike[str] | IO[bytes] | None = None,
            retry: Retry | None = None, rate_limits: Mapping[str, RateLimit] | None = None,
            pacer: Pacer | None = None,
            progress: Callable[[DeliveryReport], None] | None = None,
            progress_every: float = 1.0,
            on_response: Callable[[Request, Response], None] | None = None,
            window: int | None = None) -> DeliveryReport:
    """Send ``requests`` to Braze with ``transport``, ``lanes`` at a time, each user's in
    order; returns the :class:`~segment_braze.delivery.DeliveryReport`.

    ``requests`` is consumed as it goes (a generator of batched requests streams):
    at most ``window`` (default 4 per lane) are held at once. Each request goes to a
    lane (see :mod:`~segment_braze.delivery.lanes`); each lane is a thread that paces
    itself with the others (``rate_limits`` replaces documented limits by bucket name),
    calls ``transport(request.to_http(settings))`` (encoded by the calling thread), and
    retries as ``retry`` says.

    The calling thread does the rest, so the objects given are used from it alone:
    ``tracker.acknowledge(outcomes, request=...)`` for every outcome of every attempt
    (``tracker.delivered(request)``, when the tracker has it, for a 2xx without
    ``errors``); ``journal`` (a :class:`Journal` or a path) skips entries a previous run
    settled and records those settled now (a lane writes an answer that delivered every
    entry itself: the journal is thread-safe); ``dead_letter`` (a :class:`DeadLetter`, a path, or a
    binary stream) receives every entry refused or given up on; ``progress(report)``
    every ``progress_every`` seconds and at the end; ``on_response(request, response)``
    for each request delivered (2xx). What it opens from a path it closes.

    An exception from ``requests`` or from one of those callbacks stops the delivery:
    requests not yet sent are not sent, answers already received are settled, and the
    exception propagates. A transport's exception is an attempt that failed, retried
    like a 5xx.
    """
    core = Core(settings, lanes=lanes, tracker=tracker, journal=journal,
                dead_letter=dead_letter, retry=retry or Retry(),
                pacer=pacer or Pacer(limits=rate_limits), progress=progress,
                progress_every=progress_every, on_response=on_response)
    limit = window or WINDOW_PER_LANE * lanes
    results: queue.SimpleQueue[Step | BaseException] = queue.SimpleQueue()
    stop = threading.Event()
    queues: list[queue.SimpleQueue[Ticket | None]] = [queue.SimpleQueue() for _ in range(lanes)]
    threads = [threading.Thread(target=_lane, args=(core, q, results, stop, transport),
                                name=f"segment-braze-lane-{n}", daemon=True)
               for n, q in enumerate(queues)]
    for thread in threads:
        thread.start()

    def settle(item: Step | BaseException) -> None:
        if isinstance(item, BaseException):  # a lane died: a bug, or a wrong transport
            raise item
        core.settle(item)

    def settle_ready() -> None:
        while not results.empty():  # only this thread takes from it
            settle(results.get())
        core.commit()

    complete = False
    try:
        for request in requests:
            ticket = core.admit(request)
            if ticket is None:
                continue
            while core.in_flight >= limit:
                settle(results.get())
                settle_ready()
            queues[core.place(ticket, threading.Event)].put(ticket)
            settle_ready()
        while core.in_flight:
            settle(results.get())
            settle_ready()
        complete = True
    finally:
        if not complete:
            stop.set()
            for ticket in [*core.live.values(), *core.settled]:
                ticket.done.set()  # wake lanes waiting on another lane
                ticket.released.set()
        for q in queues:
            q.put(None)
        for thread in threads:
            thread.join()
        if not complete:
            # Answers received before the stop are journaled; the first exception is the
            # one to see.
            with contextlib.suppress(Exception):
                settle_ready()
        report = core.finish(complete)
    return report


def _lane(core: Core, tickets: queue.SimpleQueue[Ticket | None],
          results: queue.SimpleQueue[Step | BaseException], stop: threading.Event,
          transport: Transport) -> None:
    """One lane: its tickets in order, each after the tickets it waits for, each attempt
    paced and reported. Anything unexpected is handed to the calling thread, which
    stops the delivery."""
    while (ticket := tickets.get()) is not None:
        for earlier in ticket.after:
            earlier.done.wait()
        try:
            if not stop.is_set() and _send(core, ticket, results, stop, transport):
                ticket.done.set()
                while not ticket.released.wait(0.05) and not stop.is_set():
                    pass  # the calling thread journals the answer first
        except BaseException as error:  # raised again by the caller
            results.put(error)
            stop.set()
        finally:
            ticket.done.set()


def _send(core: Core, ticket: Ticket, results: queue.SimpleQueue[Step | BaseException],
          stop: threading.Event, transport: Transport) -> bool:
    """Send until Braze answers for good; ``False`` when stopped before."""
    limit = type(ticket.request).ENDPOINT.rate_limit
    pacer = core.pacer
    prepared = ticket.prepared
    while not stop.is_set():
        while (wait := pacer.reserve(limit)) > 0:
            if stop.wait(wait):
                return False
        start = time.perf_counter()
        try:
            answer, error = transport(prepared), None
        except Exception as failure:  # the transport's: retried
            answer, error = None, failure
        if hasattr(answer, "__await__"):
            close = getattr(answer, "close", None)
            if close is not None:
                close()  # a coroutine never awaited would warn
            raise TypeError("deliver() needs a synchronous transport; use deliver_async() "
                            "with an async one")
        step = core.attempt(ticket, answer, error, time.perf_counter() - start)
        results.put(step)
        if step.final:
            return True
        if stop.wait(step.wait):
            return False
    return False
