"""Delivery: requests into Braze at Braze's rate, in each user's order, resumable after a
crash, over a transport the caller brings.

The library still opens no connection: ``transport(HttpRequest)`` is the caller's (httpx,
urllib, aiohttp, a company's own client) and returns the status, headers and body.
Everything Braze-specific around that call is here::

    requests ──lanes──▶ N user-disjoint ordered lanes ──▶ transport(HttpRequest) ──▶ Braze
                                   │  pacing (documented limits, X-RateLimit-*), retries,
                                   │  201 errors[] split per entry, acknowledge -> tracking,
                                   └─ journal (resume), dead letter, report, progress

- :func:`deliver` (threads) and :func:`deliver_async` (asyncio): the deliverers;
- :mod:`.lanes`: :func:`split` and the :class:`Router` that places requests;
- :mod:`.pacing`: :class:`Pacer` and :class:`Retry`;
- :class:`Journal`, :class:`DeadLetter`, :class:`DeliveryReport`;
- :func:`read_requests`: the requests ``segment-braze translate`` wrote, read back;
- :mod:`.seed`: seeding change tracking from Braze's profiles (``/users/export/ids``).
"""

from __future__ import annotations

from ._core import Acknowledger, Response, Transport
from .aio import deliver_async
from .deadletter import DeadLetter
from .journal import Journal
from .lanes import Placement, Router, split
from .pacing import Pacer, Retry
from .report import DeliveryReport, EndpointReport, Latency
from .seed import export_requests, seed_store
from .threads import deliver
from .wire import read_requests, request_from_json

__all__ = [
    "Acknowledger",
    "DeadLetter",
    "DeliveryReport",
    "EndpointReport",
    "Journal",
    "Latency",
    "Pacer",
    "Placement",
    "Response",
    "Retry",
    "Router",
    "Transport",
    "deliver",
    "deliver_async",
    "export_requests",
    "read_requests",
    "request_from_json",
    "seed_store",
    "split",
]
