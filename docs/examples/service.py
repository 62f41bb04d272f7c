"""A Segment webhook receiver that sends to Braze every second, with asyncio.

    BRAZE_REST_API_KEY=... python docs/examples/service.py US-03 8080

Segment's webhook destination POSTs each event as JSON. The receiver translates it at
once (a bad event is answered 400) and buffers the requests; every second the buffer is
batched and sent with ``deliver_async`` over httpx's async client. The translator keeps
change tracking in memory and is the tracker: values still in flight are never compared,
so the data-point savings survive the buffering. Flushes run one after the other, so a
user's events of one second reach Braze before those of the next.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import segment_braze as sb
from segment_braze.batching import iter_batches
from segment_braze.braze import Request
from segment_braze.delivery import DeliveryReport, Pacer, deliver_async
from segment_braze.tracking import MemoryStore

Transport = Callable[[sb.HttpRequest], Awaitable[Any]]


class Service:
    def __init__(self, settings: sb.Settings, transport: Transport, *,
                 every: float = 1.0, lanes: int = 8) -> None:
        self.settings = settings
        self.transport = transport
        self.every = every
        self.lanes = lanes
        self.translator = sb.Translator(settings)
        self.tracker = sb.Tracker(MemoryStore())
        self.pacer = Pacer()  # one pace for every flush: they share the key's limits
        self.buffer: list[Request] = []
        self.reports: list[DeliveryReport] = []

    async def receive(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        """One HTTP request: a POST whose body is one Segment event."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            event = json.loads(await reader.readexactly(length))
            self.buffer.extend(self.tracker.apply(self.translator.translate(event)))
            status = b"200 OK"
        except (ValueError, sb.InvalidEvent, asyncio.IncompleteReadError):
            status = b"400 Bad Request"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def flush(self) -> None:
        """Send what the last second brought."""
        requests, self.buffer = self.buffer, []
        if requests:
            self.reports.append(await deliver_async(
                iter_batches(requests), self.transport, self.settings, lanes=self.lanes,
                tracker=self.tracker, pacer=self.pacer))

    async def run(self, port: int, ready: asyncio.Event | None = None) -> None:
        server = await asyncio.start_server(self.receive, "127.0.0.1", port)
        self.port = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready.set()
        async with server:
            while True:
                await asyncio.sleep(self.every)
                await self.flush()


async def main(endpoint: str, port: int) -> None:
    import httpx  # the send extra; any async client will do

    settings = sb.Settings(rest_endpoint=endpoint,
                           rest_api_key=os.environ["BRAZE_REST_API_KEY"])
    async with httpx.AsyncClient(timeout=30) as client:
        async def transport(request: sb.HttpRequest) -> httpx.Response:
            return await client.request(request.method, request.url,
                                        headers=dict(request.headers), content=request.body)

        await Service(settings, transport).run(port)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
