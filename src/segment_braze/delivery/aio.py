"""``deliver_async``: the same delivery for asyncio services, one task per lane.

``asyncio`` is imported when the function is first called, not with the package: most
users of the library never start an event loop.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from ..braze import Request
from ..limits import RateLimit
from ..settings import Settings
from ._core import Acknowledger, Core, Response, Step, Ticket, Transport
from .deadletter import DeadLetter
from .journal import Journal
from .pacing import Pacer, Retry
from .report import DeliveryReport
from .threads import WINDOW_PER_LANE

if TYPE_CHECKING:
    import asyncio

__all__ = ["deliver_async"]


async def deliver_async(requests: Iterable[Request] | AsyncIterable[Request],
                        transport: Transport, settings: Settings, *, lanes: int = 4,
                        tracker: Acknowledger | None = None,
                        journal: Journal | str | os.PathLike[str] | None = None,
                        dead_letter: DeadLetter | str | os.PathLike[str] | IO[bytes] | None
                        = None,
                        retry: Retry | None = None,
                        rate_limits: Mapping[str, RateLimit] | None = None,
                        pacer: Pacer | None = None,
                        progress: Callable[[DeliveryReport], None] | None = None,
                        progress_every: float = 1.0,
                        on_response: Callable[[Request, Response], None] | None = None,
                        window: int | None = None) -> DeliveryReport:
    """:func:`~segment_braze.delivery.deliver` for asyncio: ``transport`` is awaited
    (a plain function works too), ``requests`` may be an async iterable, and each lane
    is a task. Everything else (lanes, pacing, retries, tracking, journal, dead letter,
    report) is the same code. Journal and tracker calls are short and run on the event
    loop; give a ``Pacer`` shared with other deliveries of the same REST key to pace
    them together (a long-lived service that delivers every second should)."""
    import asyncio
    core = Core(settings, lanes=lanes, tracker=tracker, journal=journal,
                dead_letter=dead_letter, retry=retry or Retry(),
                pacer=pacer or Pacer(limits=rate_limits), progress=progress,
                progress_every=progress_every, on_response=on_response)
    limit = window or WINDOW_PER_LANE * lanes
    results: asyncio.Queue[Step] = asyncio.Queue()
    queues: list[asyncio.Queue[Ticket | None]] = [asyncio.Queue() for _ in range(lanes)]
    tasks = [asyncio.create_task(_lane(core, q, results, transport),
                                 name=f"segment-braze-lane-{n}")
             for n, q in enumerate(queues)]

    def settle_ready() -> None:
        while not results.empty():
            core.settle(results.get_nowait())
        core.commit()

    async def settle_next() -> None:
        getter = asyncio.ensure_future(results.get())
        done, _ = await asyncio.wait([getter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            for task in done:  # a lane died: a bug, or a wrong transport
                task.result()
            return
        core.settle(getter.result())
        settle_ready()

    complete = False
    try:
        async for request in _each(requests):
            ticket = core.admit(request)
            if ticket is None:
                continue
            while core.in_flight >= limit:
                await settle_next()
            queues[core.place(ticket, asyncio.Event)].put_nowait(ticket)
            settle_ready()
        while core.in_flight:
            await settle_next()
        complete = True
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not complete:
            # Answers received before the stop are journaled; the first exception is the
            # one to see.
            with contextlib.suppress(Exception):
                settle_ready()
        report = core.finish(complete)
    return report


async def _each(requests: Iterable[Request] | AsyncIterable[Request]) -> Any:
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            yield request
    else:
        for request in requests:
            yield request


async def _lane(core: Core, tickets: asyncio.Queue[Ticket | None],
                results: asyncio.Queue[Step], transport: Transport) -> None:
    while (ticket := await tickets.get()) is not None:
        for earlier in ticket.after:
            await earlier.done.wait()
        try:
            await _send(core, ticket, results, transport)
            ticket.done.set()
            await ticket.released.wait()  # the owner journals the answer first
        finally:
            ticket.done.set()


async def _send(core: Core, ticket: Ticket, results: asyncio.Queue[Step],
                transport: Transport) -> None:
    import asyncio
    limit = type(ticket.request).ENDPOINT.rate_limit
    pacer = core.pacer
    prepared = ticket.prepared
    while True:
        while (wait := pacer.reserve(limit)) > 0:
            await asyncio.sleep(wait)
        start = time.perf_counter()
        try:
            answer = transport(prepared)
            if hasattr(answer, "__await__"):
                answer = await answer
            error = None
        except asyncio.CancelledError:
            raise
        except Exception as failure:  # the transport's: retried
            answer, error = None, failure
        step = core.attempt(ticket, answer, error, time.perf_counter() - start)
        results.put_nowait(step)
        if step.final:
            return
        await asyncio.sleep(step.wait)
