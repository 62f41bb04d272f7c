"""A local HTTP server on 127.0.0.1 that behaves like Braze, for delivery's tests.

It checks the bearer key (401 otherwise), answers as a test's plan says (201 with and
without ``errors``, 429 with ``X-RateLimit-Reset``, 500 after applying the request, 503
without, 400), adds a latency, and records what it *applied*: for every object of every
request it accepted, the user and the object's marker (``properties.n`` of events,
``n`` of attributes), in the order Braze would apply them. Tests read those records to
check order, completeness and duplicates. It also counts arrivals per rate-limit bucket,
with their times, and can enforce a rate limit of its own (429 past it).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from segment_braze.delivery.wire import CLASSES
from segment_braze.delivery.wire import request_from_json as _read

KEY = "fake-rest-key-0d6f"

#: What the server does with one request: "ok", "errors" (201 naming one object), "429",
#: "500-applied", "503", "400".
Plan = Callable[[int, str, dict[str, Any]], str]


def always_ok(number: int, path: str, body: dict[str, Any]) -> str:
    return "ok"


def chaos(seed: int, *, refuse: bool = True) -> Plan:
    """A seeded mix of every answer Braze gives."""
    rng = random.Random(seed)
    lock = threading.Lock()
    table = [("ok", 62), ("errors", 8), ("429", 8), ("500-applied", 7), ("503", 8),
             ("400", 7 if refuse else 0)]

    def plan(number: int, path: str, body: dict[str, Any]) -> str:
        with lock:
            return rng.choices([t for t, _ in table], [w for _, w in table])[0]

    return plan


def markers(path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """(user key, marker) of every entry in Braze's order of application."""
    request = _read({"endpoint": path, "body": body, "origins": _no_origins(path, body)})
    out = []
    for part in type(request).ENDPOINT.parts:
        for entry in request.entries(part):
            users = part.users(entry)
            marker = _marker(entry)
            for user in users:
                out.append((user, marker))
    return out


def _marker(entry: Any) -> Any:
    values = getattr(entry, "values", None)
    if values is not None:
        return values.get("n")
    properties = getattr(entry, "properties", None)
    if properties is not None:
        return properties.get("n")
    return repr(entry)


def _no_origins(path: str, body: dict[str, Any]) -> dict[str, list[None]]:
    cls = CLASSES[path]
    assert cls.ENDPOINT.read is not None
    fields = cls.ENDPOINT.read(body)
    probe = cls(**fields)
    return {name: [None] * len(origins) for name, origins in probe.origins.items()}


class FakeBraze:
    def __init__(self, *, plan: Plan = always_ok, latency: float = 0.0,
                 limit: tuple[int, float] | None = None, key: str = KEY) -> None:
        self.plan = plan
        self.latency = latency
        self.limit = limit
        self.key = key
        self.lock = threading.Lock()
        self.count = 0
        #: user key -> markers in the order applied.
        self.applied: dict[str, list[Any]] = defaultdict(list)
        self.arrivals: list[tuple[float, str]] = []
        self.answers: list[str] = []
        self.answered: list[tuple[float, str]] = []
        self.unauthorized = 0
        self.url = ""
        #: What ``/users/export/ids`` returns, by external id.
        self.profiles: dict[str, dict[str, Any]] = {}
        self._server: ThreadingHTTPServer | None = None

    # -- one request -------------------------------------------------------------------

    def handle(self, path: str, authorization: str | None, raw: bytes
               ) -> tuple[int, dict[str, str], bytes]:
        if authorization != f"Bearer {self.key}":
            with self.lock:
                self.unauthorized += 1
            return 401, {}, b'{"message": "Invalid API key"}'
        body = json.loads(raw)
        now = time.time()
        with self.lock:
            self.count += 1
            number = self.count
            self.arrivals.append((time.monotonic(), path))
            over = self._over()
        if self.latency:
            time.sleep(self.latency)
        what = "429" if over else self.plan(number, path, body)
        with self.lock:
            self.answers.append(what)
            self.answered.append((time.monotonic(), what))
        reset = {"X-RateLimit-Reset": f"{now + 0.05:.3f}", "X-RateLimit-Remaining": "0"}
        if what == "429":
            return 429, reset, b'{"message": "Rate limit exceeded"}'
        if what == "503":
            return 503, {}, b"Service Unavailable"
        if what == "400":
            return 400, {}, b'{"message": "Invalid request: refused by the fake"}'
        if path == "/users/export/ids":
            users = [self.profiles[e] for e in body.get("external_ids", ())
                     if e in self.profiles]
            return 201, {}, json.dumps({"message": "success", "users": users}).encode()
        entries = markers(path, body)
        skip = None
        if what == "errors":
            arrays = [name for name in ("attributes", "events", "purchases") if body.get(name)]
            if arrays:
                array = arrays[0]
                skip = (array, random.Random(number).randrange(len(body[array])))
        with self.lock:
            self._apply(path, body, entries, skip)
        if what == "500-applied":
            return 500, {}, b"<html>Internal Server Error</html>"
        if skip is not None:
            error = {"type": "refused by the fake", "input_array": skip[0], "index": skip[1]}
            return 201, {}, json.dumps({"message": "success", "errors": [error]}).encode()
        return 201, {}, b'{"message": "success"}'

    def _over(self) -> bool:
        if self.limit is None:
            return False
        requests, seconds = self.limit
        now = self.arrivals[-1][0]
        return sum(1 for t, _ in self.arrivals if now - t < seconds) > requests

    def _apply(self, path: str, body: dict[str, Any], entries: list[tuple[str, Any]],
               skip: tuple[str, int] | None) -> None:
        if skip is None:
            for user, marker in entries:
                self.applied[user].append(marker)
            return
        skipped = _marker_of(path, body, skip)
        done = False
        for user, marker in entries:
            if not done and marker == skipped:
                done = True
                continue
            self.applied[user].append(marker)

    # -- the server --------------------------------------------------------------------

    def __enter__(self) -> FakeBraze:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per answer, sent at once: no 40 ms of Nagle and delayed ACKs.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, body = fake.handle(self.path,
                                                    self.headers.get("Authorization"), raw)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> Iterator[str]:
        return (path for _, path in self.arrivals)


def _marker_of(path: str, body: dict[str, Any], skip: tuple[str, int]) -> Any:
    array, index = skip
    item = body[array][index]
    if array == "attributes":
        return item.get("n")
    return (item.get("properties") or {}).get("n")
