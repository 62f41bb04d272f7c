"""Benchmark of delivery: requests per second by lanes, and the library's own CPU cost.

**Throughput.** A local HTTP server on 127.0.0.1 answers like Braze after ``--latency``
seconds (50 ms by default). ``deliver`` sends one-event ``/users/track`` requests of
distinct users with httpx over 1, 4, 16 and 64 lanes; the documented rate limit is
lifted for the measurement (``rate_limits``), so what is measured is lanes against
latency, not Braze's limit (1,000 requests a second for ``/users/track`` at the
pacer's 90%). Target: 16 lanes at least 12 times one lane.

**CPU cost.** The benchmark corpus (:mod:`corpus`) is translated, passed through a
change tracker over a ``MemoryStore`` and batched; those requests are then delivered over
4 lanes to a transport that answers 201 at once, with a journal (an SQLite file) and that
tracker acknowledging. The library's own cost is the CPU time of that delivery (lanes, threads,
pacing, reading answers, acknowledgement, journal) less the CPU time of ``to_http`` of
every request (the JSON encoding of the bodies, which any sender pays); it is reported
per delivered request and as a ratio to the CPU time of translating the events those
requests carry. Target: under 10%.

    python benchmarks/bench_delivery.py [--latency 0.05] [--events 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

import corpus
from segment_braze import HttpRequest, Settings, Translator, UsersTrack
from segment_braze.batching import iter_batches
from segment_braze.braze import Event, Identifier
from segment_braze.delivery import deliver
from segment_braze.limits import RateLimit
from segment_braze.tracking import MemoryStore, Tracker

KEY = "bench-key"
UNLIMITED = {"users/track": RateLimit("users/track", 1_000_000, 1.0)}


def serve(latency: float) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(latency)
            body = b'{"message":"success"}'
            self.send_response(201 if self.headers["Authorization"] == f"Bearer {KEY}"
                               else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def one_event_requests(count: int) -> Iterator[UsersTrack]:
    for n in range(count):
        yield UsersTrack(events=(Event(identifier=Identifier("external_id", f"u{n}"),
                                       name="Played", time="2024-05-01T12:00:00.000Z"),),
                         origins={"events": (f"m{n}",)})


def serve_elsewhere(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The server in a process of its own, as Braze is: it must not share the
    interpreter lock with the lanes it answers."""
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(latency)],  # noqa: S603
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def throughput(latency: float, lanes_list: list[int]) -> dict[int, float]:
    server, url = serve_elsewhere(latency)
    settings = Settings(rest_endpoint=url, rest_api_key=KEY)
    out = {}
    try:
        for lanes in lanes_list:
            count = max(60, 25 * lanes)
            with httpx.Client(timeout=30, limits=httpx.Limits(
                    max_connections=lanes, max_keepalive_connections=lanes)) as client:
                def send(prepared: HttpRequest, client: httpx.Client = client) -> Any:
                    return client.post(prepared.url, content=prepared.body,
                                       headers=prepared.headers)

                send(next(iter(one_event_requests(1))).to_http(settings))  # connect once
                report = deliver(one_event_requests(count), send, settings, lanes=lanes,
                                 rate_limits=UNLIMITED)
            assert report.delivered == count, report.render()
            out[lanes] = report.requests_per_second
    finally:
        server.terminate()
        server.wait()
    return out


def instant(prepared: HttpRequest) -> tuple[int, dict[str, str], bytes]:
    return 201, {}, b'{"message":"success"}'


def cpu_cost(events: int, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` rounds of each measurement, CPU seconds of the process."""
    settings = Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY,
                        track_all_pages=True)
    stream = list(corpus.events(events))
    translate_t, http_t, deliver_t, bare_t, lean_t = [], [], [], [], []
    requests_count = 0
    for _ in range(repeat):
        start = time.process_time()
        for _t in Translator(settings).translate_many(stream):
            pass
        translate_t.append(time.process_time() - start)

        tracker = Tracker(MemoryStore(max_users=1_000_000))
        batched = list(iter_batches(r for t in Translator(settings).translate_many(stream)
                                    for r in tracker.apply(t)))
        requests_count = len(batched)

        start = time.process_time()
        for request in batched:
            request.to_http(settings)
        http_t.append(time.process_time() - start)

        with tempfile.TemporaryDirectory() as folder:
            journal = os.path.join(folder, "journal.db")
            start = time.process_time()
            report = deliver(batched, instant, settings, lanes=4, tracker=tracker,
                             journal=journal, rate_limits=UNLIMITED | {
                                 "users": RateLimit("users", 1_000_000, 1.0)})
            deliver_t.append(time.process_time() - start)
        assert report.total("requests") == requests_count
        with tempfile.TemporaryDirectory() as folder:
            start = time.process_time()
            deliver(batched, instant, settings, lanes=4,
                    journal=os.path.join(folder, "journal.db"), rate_limits=UNLIMITED | {
                        "users": RateLimit("users", 1_000_000, 1.0)})
            bare_t.append(time.process_time() - start)
        start = time.process_time()
        deliver(batched, instant, settings, lanes=4, rate_limits=UNLIMITED | {
            "users": RateLimit("users", 1_000_000, 1.0)})
        lean_t.append(time.process_time() - start)
    library = min(deliver_t) - min(http_t)
    bare = min(bare_t) - min(http_t)
    return {"events": events, "requests": requests_count,
            "translate_s": min(translate_t), "to_http_s": min(http_t),
            "deliver_s": min(deliver_t), "library_s": library,
            "library_us_per_request": library / requests_count * 1e6,
            "translate_us_per_request": min(translate_t) / requests_count * 1e6,
            "ratio": library / min(translate_t), "bare_s": min(bare_t), "bare": bare,
            "bare_ratio": bare / min(translate_t), "lean_s": min(lean_t),
            "lean": min(lean_t) - min(http_t),
            "lean_ratio": (min(lean_t) - min(http_t)) / min(translate_t)}


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--serve"]:
        _, url = serve(float(sys.argv[2]))
        print(url, flush=True)
        threading.Event().wait()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    rates = throughput(args.latency, args.lanes)
    print(f"throughput, {args.latency * 1000:.0f} ms of latency:")
    print("| lanes | requests/s | x one lane |")
    print("|---:|---:|---:|")
    for lanes, rate in rates.items():
        print(f"| {lanes} | {rate:,.1f} | {rate / rates[args.lanes[0]]:.1f} |")

    cost = cpu_cost(args.events, args.repeat)
    print(f"\nCPU cost, {cost['events']:,} events in {cost['requests']:,} requests "
          f"(best of {args.repeat}):")
    print("| measurement | CPU s | µs per request |")
    print("|---|---:|---:|")
    for name, key in (("translating the events", "translate_s"),
                      ("to_http of every request (excluded)", "to_http_s"),
                      ("deliver, 4 lanes, journal, tracker", "deliver_s"),
                      ("the library's own cost", "library_s"),
                      ("deliver, 4 lanes, journal, no tracker", "bare_s"),
                      ("the library's own cost without the tracker", "bare"),
                      ("deliver, 4 lanes, no journal, no tracker", "lean_s"),
                      ("the library's own cost without either", "lean")):
        print(f"| {name} | {cost[key]:.3f} | {cost[key] / cost['requests'] * 1e6:,.1f} |")
    print(f"\nlibrary / translation: {cost['ratio']:.1%} (target < 10%); without the "
          f"tracker's acknowledgements: {cost['bare_ratio']:.1%}; without journal and "
          f"tracker: {cost['lean_ratio']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
