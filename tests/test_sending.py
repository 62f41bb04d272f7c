"""Sending batched requests and reading Braze's answers.

A local HTTP server, started by the tests on 127.0.0.1, plays Braze: it checks the path,
the bearer key and the JSON body (against Braze's documented limits, with the independent
checker in ``brazelimits``), then gives the answers a test scripts for it. The requests
are sent with the standard library, and ``interpret_response`` must map each answer to the
right source events. The "Sending requests" page's example runs against the same server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator, Mapping
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segment_braze as sb
from brazelimits import violations
from segment_braze.batching import batch
from segment_braze.braze import Event, Identifier, Request, UsersDelete, UsersTrack
from segment_braze.responses import ErrorDetail, Outcome, interpret_response

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "send.py"
KEY = "test-key"
NOW = 1_750_000_000.0
TIME = "2024-05-01T12:00:00.000Z"

Answer = tuple[int, Mapping[str, str], bytes]


def answer(status: int, body: Any = None, **headers: str) -> Answer:
    """A scripted answer; ``x_ratelimit_reset`` becomes ``x-ratelimit-reset``."""
    raw = body if isinstance(body, bytes) else json.dumps(body or {"message": "success"})
    return status, {k.replace("_", "-"): v for k, v in headers.items()}, (
        raw if isinstance(raw, bytes) else raw.encode())


class FakeBraze:
    """What the server received, and the answers it has left to give (then success)."""

    ENDPOINTS = ("/users/track", "/users/delete", "/users/identify", "/users/merge")

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.received: list[tuple[str, Any]] = []
        self.refused: list[str] = []

    def handle(self, path: str, headers: Mapping[str, str], raw: bytes) -> Answer:
        if path not in self.ENDPOINTS:
            return self._refuse(404, f"{path}: not a Braze endpoint")
        if headers.get("Authorization") != f"Bearer {KEY}":
            return self._refuse(401, "Invalid API key")
        if headers.get("Content-Type") != "application/json":
            return self._refuse(415, "Content-Type must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(400, "Bad Request: body is not JSON")
        problems = violations(path, body)
        if problems:
            return self._refuse(400, "; ".join(problems))
        self.received.append((path, body))
        return self.answers.popleft() if self.answers else answer(201)

    def _refuse(self, status: int, message: str) -> Answer:
        self.refused.append(message)
        return answer(status, {"message": message})


@pytest.fixture
def braze() -> Iterator[tuple[FakeBraze, str]]:
    """A fake Braze on 127.0.0.1 and its base URL; stopped after the test."""
    fake = FakeBraze()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, headers, body = fake.handle(self.path, self.headers, raw)
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert fake.refused == [], "every request reached Braze well formed"


def post(prepared: sb.HttpRequest) -> tuple[int, Mapping[str, str], bytes]:
    """Send with the standard library only, as ``to_http`` promises is enough."""
    request = urllib.request.Request(prepared.url, data=prepared.body,
                                     headers=dict(prepared.headers), method=prepared.method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def track_events(count: int, *, prefix: str = "m") -> list[dict[str, Any]]:
    return [{"type": "track", "userId": f"u{n}", "event": "Clicked", "messageId": f"{prefix}{n}",
             "timestamp": "2024-05-01T12:00:00Z"} for n in range(count)]


def requests_of(events: list[dict[str, Any]], settings_: sb.Settings) -> list[Request]:
    return [r for t in sb.Translator(settings_).translate_many(events) for r in t]


def by_origin(outcomes: tuple[Outcome, ...] | list[Outcome]) -> dict[Any, Outcome]:
    found = {o.origin: o for o in outcomes}
    assert len(found) == len(outcomes), "one outcome per source event"
    return found


class TestEndToEnd:
    def test_each_answer_maps_to_its_source_events(self, braze: tuple[FakeBraze, str]
                                                   ) -> None:
        """Success, success with errors by index, 429, 500 and 400, each read back onto
        the events of the request it answered."""
        fake, url = braze
        settings_ = sb.Settings(rest_endpoint=url, rest_api_key=KEY)
        requests = batch(requests_of(track_events(15), settings_), max_objects=3)
        assert [r.origins["events"] for r in requests] == [
            (f"m{n}", f"m{n + 1}", f"m{n + 2}") for n in range(0, 15, 3)]
        fake.answers.extend([
            answer(201, {"message": "success", "events_processed": 3}),
            answer(201, {"message": "success", "errors": [
                {"type": "'time' is not a valid time", "input_array": "events", "index": 1}]}),
            answer(429, {"message": "Rate limit exceeded"}, X_RateLimit_Limit="3000",
                   x_ratelimit_remaining="0", x_ratelimit_reset=str(int(NOW) + 3)),
            answer(500, b"<html>Internal Server Error</html>"),
            answer(400, {"message": "Invalid 'events' array", "errors": [
                {"type": "'name' is required", "input_array": "events", "index": 2}]}),
        ])
        results = [by_origin(interpret_response(r, *post(r.to_http(settings_)), now=NOW))
                   for r in requests]

        assert [(path, body) for path, body in fake.received] == [
            ("/users/track", r.to_json()) for r in requests]
        delivered, with_error, limited, broken, refused = results
        assert {o: (v.status, v.message, v.errors) for o, v in delivered.items()} == {
            f"m{n}": ("delivered", None, ()) for n in range(3)}
        error = ErrorDetail("'time' is not a valid time", array="events", index=1)
        assert {o: (v.status, v.message, v.errors) for o, v in with_error.items()} == {
            "m3": ("delivered", None, ()),
            "m4": ("delivered", "'time' is not a valid time", (error,)),
            "m5": ("delivered", None, ())}
        assert {o: (v.status, v.retry_after, v.message) for o, v in limited.items()} == {
            f"m{n}": ("retry", 3.0, "Rate limit exceeded") for n in range(6, 9)}
        assert {o: (v.status, v.retry_after, v.http_status) for o, v in broken.items()} == {
            f"m{n}": ("retry", None, 500) for n in range(9, 12)}
        assert all(v.message == "<html>Internal Server Error</html>" for v in broken.values())
        assert {o: (v.status, v.message) for o, v in refused.items()} == {
            f"m{n}": ("failed", "Invalid 'events' array") for n in range(12, 15)}
        assert [len(v.errors) for v in refused.values()] == [0, 0, 1]

    def test_other_endpoints_and_mixed_requests(self, braze: tuple[FakeBraze, str]) -> None:
        """Identify and delete requests reach the right paths; an error by index lands on
        the event whose entry it names."""
        fake, url = braze
        settings_ = sb.Settings(rest_endpoint=url, rest_api_key=KEY, anonymous_users="alias")
        events = [
            {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "id1",
             "traits": {"plan": "pro"}},
            {"type": "identify", "userId": "u2", "anonymousId": "a2", "messageId": "id2"},
            {"type": "delete", "userId": "u3", "messageId": "del3"},
            {"type": "delete", "userId": "u4", "messageId": "del4"},
        ]
        requests = batch(requests_of(events, settings_))
        assert [(r.endpoint, r.size()) for r in requests] == [
            ("/users/identify", 2), ("/users/track", 2), ("/users/delete", 2)]
        fake.answers.extend([
            answer(201, {"message": "success", "errors": [{"type": "alias taken",
                                                          "index": 1}]}),
            answer(201),
            answer(400, {"message": "The max number of ids per request was exceeded"}),
        ])
        identify, track, delete = (by_origin(interpret_response(r, *post(r.to_http(settings_))))
                                   for r in requests)
        assert [fake_path for fake_path, _ in fake.received] == [
            "/users/identify", "/users/track", "/users/delete"]
        assert {o: v.message for o, v in identify.items()} == {"id1": None,
                                                              "id2": "alias taken"}
        assert {o: v.status for o, v in delete.items()} == {"del3": "failed",
                                                           "del4": "failed"}
        assert {o: v.status for o, v in track.items()} == {"id1": "delivered",
                                                          "id2": "delivered"}

    def test_the_server_refuses_a_wrong_key(self, braze: tuple[FakeBraze, str]) -> None:
        """The fake really checks the key (so the tests above prove it was sent)."""
        fake, url = braze
        settings_ = sb.Settings(rest_endpoint=url, rest_api_key="wrong")
        (request,) = requests_of(track_events(1), settings_)
        (outcome,) = interpret_response(request, *post(request.to_http(settings_)))
        assert (outcome.status, outcome.message) == ("failed", "Invalid API key")
        assert fake.refused == ["Invalid API key"]
        fake.refused.clear()


# -- the examples of the "Sending requests" page -----------------------------------------


SERVICE = ROOT / "docs" / "examples" / "service.py"


def load_example(path: Path = EXAMPLE) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem + "_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class TestExample:
    @pytest.mark.parametrize("path", [EXAMPLE, SERVICE])
    def test_page_shows_the_tested_example(self, path: Path) -> None:
        """docs/sending.md quotes each example file in full, unchanged."""
        page = (ROOT / "docs" / "sending.md").read_text(encoding="utf-8")
        blocks = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
        assert path.read_text(encoding="utf-8") in blocks

    def test_the_urllib_transport_returns_errors_too(self, braze: tuple[FakeBraze, str]
                                                     ) -> None:
        """urllib raises for 4xx and 5xx: the transport turns them back into answers."""
        fake, url = braze
        example = load_example()
        settings_ = sb.Settings(rest_endpoint=url, rest_api_key=KEY)
        fake.answers.extend([answer(429, {"message": "Rate limit exceeded"},
                                    x_ratelimit_reset="1750000005"),
                             answer(400, {"message": "Bad Request"})])
        (request,) = requests_of(track_events(1), settings_)
        limited = example.post(request.to_http(settings_))
        refused = example.post(request.to_http(settings_))
        assert (limited[0], limited[1]["x-ratelimit-reset"]) == (429, "1750000005")
        assert (refused[0], json.loads(refused[2])) == (400, {"message": "Bad Request"})

    def test_runs_as_a_script_and_resumes(self, braze: tuple[FakeBraze, str],
                                          tmp_path: Path) -> None:
        """``python docs/examples/send.py <endpoint> <file>`` sends a file of events; run
        again, its journal sends nothing twice."""
        fake, url = braze
        events = [*track_events(3), {"type": "page", "userId": "u1"},
                  {"type": "track", "userId": "u9"}]
        path = tmp_path / "events.ndjson"
        path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        runs = [subprocess.run([sys.executable, str(EXAMPLE), url, str(path)],  # noqa: S603
                               capture_output=True, text=True, timeout=60, check=False,
                               env={**os.environ, "BRAZE_REST_API_KEY": KEY})
                for _ in range(2)]
        assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
        first, second = (json.loads(run.stdout) for run in runs)
        assert (first["delivered"], first["skipped"]) == (3, 0)
        assert (second["delivered"], second["skipped"]) == (0, 3)
        assert [path for path, _ in fake.received] == ["/users/track"]

    def test_the_service_flushes_every_tick(self, braze: tuple[FakeBraze, str]) -> None:
        """Events POSTed to the webhook receiver reach Braze at the next flush, a bad
        one is answered 400, and unchanged traits are left out across flushes."""
        import httpx

        fake, url = braze
        service_module = load_example(SERVICE)
        settings_ = sb.Settings(rest_endpoint=url, rest_api_key=KEY)

        async def post_event(port: int, event: Any) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            body = json.dumps(event).encode()
            writer.write(b"POST /segment HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n" + body)
            await writer.drain()
            status = (await reader.readline()).split()[1]
            writer.close()
            return status

        async def scenario() -> tuple[list[bytes], Any]:
            async with httpx.AsyncClient() as client:
                async def transport(request: sb.HttpRequest) -> httpx.Response:
                    return await client.request(request.method, request.url,
                                                headers=dict(request.headers),
                                                content=request.body)

                service = service_module.Service(settings_, transport, every=0.05)
                ready = asyncio.Event()
                task = asyncio.create_task(service.run(0, ready))
                await ready.wait()
                identify = {"type": "identify", "userId": "u1", "traits": {"plan": "pro"},
                            "timestamp": "2024-05-01T12:00:00Z"}
                statuses = [await post_event(service.port, {**identify, "messageId": "i1"}),
                            await post_event(service.port, {"type": "nonsense"})]
                while not service.reports:
                    await asyncio.sleep(0.01)
                statuses.append(await post_event(service.port,
                                                 {**identify, "messageId": "i2"}))
                statuses.append(await post_event(service.port, track_events(1)[0]))
                while len(service.reports) < 2:
                    await asyncio.sleep(0.01)
                task.cancel()
                return statuses, service

        statuses, service = asyncio.run(scenario())
        assert statuses == [b"200", b"400", b"200", b"200"]
        assert [body for _, body in fake.received] == [
            {"attributes": [{"external_id": "u1", "plan": "pro"}]},
            {"events": [{"external_id": "u0", "name": "Clicked",
                         "time": "2024-05-01T12:00:00.000Z"}]}]
        assert [r.delivered for r in service.reports] == [1, 1]


# -- interpret_response on its own -------------------------------------------------------


def track(events: int = 0, attributes: int = 0) -> UsersTrack:
    """A request whose event ``n`` comes from ``e<n>`` and attributes ``n`` from ``a<n>``."""
    ident = Identifier("external_id", "u")
    return UsersTrack(
        attributes=tuple(sb.translate({"type": "identify", "userId": "u",
                                       "traits": {"n": n}}, sb.Settings()).requests[0]
                         .attributes[0] for n in range(attributes)),  # type: ignore[union-attr]
        events=tuple(Event(identifier=ident, name="E", time=TIME) for _ in range(events)),
        origins={**({"attributes": tuple(f"a{n}" for n in range(attributes))}
                    if attributes else {}),
                 **({"events": tuple(f"e{n}" for n in range(events))} if events else {})})


def read(request: Request, status: int, body: Any, headers: Mapping[str, str] | None = None
         ) -> dict[Any, Outcome]:
    raw = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    return by_origin(interpret_response(request, status, headers or {}, raw, now=NOW))


class TestInterpret:
    def test_success(self) -> None:
        found = read(track(events=2), 201, {"message": "success", "events_processed": 2})
        assert [(v.status, v.message, v.errors, v.retry_after) for v in found.values()] == [
            ("delivered", None, (), None)] * 2

    def test_outcomes_follow_braze_order_with_each_origin_once(self) -> None:
        request = UsersTrack(events=track(events=3).events,
                             origins={"events": ("x", "y", "x")})
        assert [o.origin for o in interpret_response(request, 200, {}, None)] == ["x", "y"]

    def test_error_index_without_array_on_a_one_array_request(self) -> None:
        request = UsersDelete(external_ids=("a", "b"), origins={"external_ids": ("d0", "d1")})
        found = read(request, 200, {"message": "success", "errors": [{"index": 1,
                                                                    "type": "unknown"}]})
        assert (found["d0"].errors, found["d1"].message) == ((), "unknown")

    def test_error_index_without_array_names_every_candidate(self) -> None:
        """Which array Braze meant is unknown: every entry at that index is named."""
        found = read(track(events=2, attributes=1), 200,
                     {"message": "success", "errors": [{"type": "bad", "index": 1}]})
        assert {o for o, v in found.items() if v.errors} == {"e1"}
        found = read(track(events=2, attributes=2), 200,
                     {"message": "success", "errors": [{"type": "bad", "index": 0}]})
        assert {o for o, v in found.items() if v.errors} == {"a0", "e0"}

    @pytest.mark.parametrize("error", [
        {"type": "whole request"},
        {"type": "whole request", "index": 9},
        {"type": "whole request", "index": -1},
        {"type": "whole request", "index": "1"},
        {"type": "whole request", "index": True},
        {"type": "whole request", "input_array": "purchases", "index": 0},
        "whole request",
    ])
    def test_an_error_that_names_nothing_concerns_every_event(self, error: Any) -> None:
        found = read(track(events=2), 200, {"message": "success", "errors": [error]})
        assert [v.message for v in found.values()] == ["whole request"] * 2

    def test_error_entries_of_odd_shapes_keep_their_text(self) -> None:
        found = read(track(events=1), 200, {"errors": [{"message": "m", "index": 0},
                                                       {"error": "e", "array": "events"},
                                                       {"code": 7}, 42]})
        assert [e.message for e in found["e0"].errors] == ["e", '{"code":7}', "42", "m"]

    @pytest.mark.parametrize(("headers", "wait"), [
        ({"X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),
        ({"x-ratelimit-reset": str(int(NOW) + 30), "x-ratelimit-remaining": "0"}, 30.0),
        ({"X-RATELIMIT-RESET": str(int(NOW) - 30)}, 0.0),
        ({"x-ratelimit-reset": str(int(NOW * 1000) + 1500)}, 1.5),
        ({"x-ratelimit-reset": "12"}, 12.0),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": formatdate(NOW + 60, usegmt=True)}, 60.0),
        ({"retry-after": "4", "x-ratelimit-reset": str(int(NOW) + 9)}, 9.0),
        ({"retry-after": "soon", "x-ratelimit-reset": "later"}, None),
        ({}, None),
    ])
    def test_429_waits_as_braze_says(self, headers: dict[str, str],
                                     wait: float | None) -> None:
        (outcome,) = read(track(events=1), 429, {"message": "Rate limit exceeded"},
                          headers).values()
        assert (outcome.status, outcome.retry_after) == ("retry", wait)

    @pytest.mark.parametrize(("headers", "wait"), [
        ({"x-ratelimit-reset": str(int(NOW) + 30), "x-ratelimit-remaining": "120"}, None),
        ({"x-ratelimit-reset": str(int(NOW) + 30), "x-ratelimit-remaining": "0"}, 30.0),
        ({"Retry-After": "3"}, 3.0),
    ])
    def test_5xx_waits_for_the_reset_only_when_the_window_is_spent(
            self, headers: dict[str, str], wait: float | None) -> None:
        (outcome,) = read(track(events=1), 503, b"", headers).values()
        assert (outcome.status, outcome.retry_after, outcome.message) == (
            "retry", wait, "HTTP 503")

    @pytest.mark.parametrize(("status", "body", "message"), [
        (400, {"message": "Max Input Length Exceeded"}, "Max Input Length Exceeded"),
        (401, "Unauthorized\n\n", "Unauthorized"),
        (403, {"errors": ["Access Denied"]}, "Access Denied"),
        (404, None, "HTTP 404"),
        (302, None, "HTTP 302"),
    ])
    def test_other_statuses_fail_with_braze_message(self, status: int, body: Any,
                                                    message: str) -> None:
        (outcome,) = read(track(events=1), status, body).values()
        assert (outcome.status, outcome.message, outcome.retry_after) == (
            "failed", message, None)

    def test_an_html_page_is_cut_short(self) -> None:
        (outcome,) = read(track(events=1), 502, "<p>" + "x " * 500 + "</p>").values()
        assert outcome.message is not None
        assert len(outcome.message) == 200

    @settings(max_examples=200, deadline=None)
    @given(status=st.integers(0, 999),
           body=st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=40),
                          st.recursive(st.none() | st.booleans() | st.integers()
                                       | st.floats() | st.text(max_size=5),
                                       lambda inner: st.lists(inner, max_size=3)
                                       | st.dictionaries(st.sampled_from(
                                           ["message", "errors", "index", "input_array",
                                            "type", "array"]), inner, max_size=4),
                                       max_leaves=12).map(json.dumps)),
           headers=st.dictionaries(st.sampled_from(["Retry-After", "x-ratelimit-reset",
                                                    "X-RateLimit-Remaining"]),
                                   st.text(max_size=12) | st.integers().map(str)))
    def test_never_raises(self, status: int, body: str | bytes | None,
                          headers: dict[str, str]) -> None:
        """Any status, body and headers: one outcome per event, a status from the three,
        and a wait that is a finite number of seconds or none."""
        outcomes = interpret_response(track(events=2, attributes=1), status, headers, body,
                                      now=NOW)
        assert [o.origin for o in outcomes] == ["a0", "e0", "e1"]
        for outcome in outcomes:
            assert outcome.status in ("delivered", "retry", "failed")
            assert outcome.retry_after is None or 0 <= outcome.retry_after < float("inf")
            assert (outcome.retry_after is None) or outcome.status == "retry"

    def test_deep_nesting_is_not_a_crash(self) -> None:
        (outcome,) = read(track(events=1), 400, "[" * 100_000).values()
        assert outcome.status == "failed"


def test_the_clock_defaults_to_now() -> None:
    """Without ``now``, the reset time is measured from the current time."""
    import time

    (outcome,) = interpret_response(track(events=1), 429,
                                    {"X-RateLimit-Reset": str(int(time.time()) + 100)}, None)
    assert outcome.retry_after is not None
    assert 90 <= outcome.retry_after <= 100

