"""Benchmark of the command-line pipeline against baselines measured in the same run.

On one deterministic corpus (:mod:`corpus`: identify 30%, track 50%, Order Completed 10%,
page 7%, group 3%, about 1 KB an event) it measures:

- the standard library's ``json.loads`` + ``json.dumps`` round trip of every line (and
  orjson's, when installed): the least any JSON-in, JSON-out tool must do;
- a minimal hand-written dict-to-dict mapping of the same events to Braze bodies: the
  least a translator must do;
- an independent minimal mapper (:mod:`quick_mapper`) that also normalises emails,
  genders, birthdays and products, as a quick script would;
- ``Translator.translate_many`` on the parsed dicts (alone, and with ``to_json()`` of
  every request, which is what the hand-written mapping produces);
- the whole ``segment-braze translate`` pipeline, bytes in (an NDJSON file) to batched
  JSON bytes out, with the standard library's json and with orjson;
- peak memory (tracemalloc) of that pipeline for 200,000 events against 20,000.

Times are the best of ``--repeat`` rounds (CPU time), in microseconds per event; ratios compare
measurements of this run only, so they hold on any machine.

    python benchmarks/bench_pipeline.py --events 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from quick_mapper import quick_mapping
from segment_braze import Settings, Translator, _json, cli

try:
    import orjson
except ImportError:  # pragma: no cover - the benchmark runs without it too
    orjson = None

#: The settings of every measurement: pages are sent, so every event is translated.
SETTINGS = Settings(track_all_pages=True)
CLI_FLAGS = ("--track-all-pages",)


# -- the hand-written mapping -----------------------------------------------------------
# What someone would write in an afternoon: renames and copies, no checks at all.

_RESERVED = {"firstName": "first_name", "lastName": "last_name", "email": "email",
             "phone": "phone", "birthday": "dob", "gender": "gender", "avatar": "image_url"}


def _hand_identify(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    attributes: dict[str, Any] = {"external_id": event["userId"]}
    for key, value in (event.get("traits") or {}).items():
        if key == "address":
            attributes["home_city"] = value.get("city")
            attributes["country"] = value.get("country")
        else:
            attributes[_RESERVED.get(key, key)] = value
    return [("/users/track", {"attributes": [attributes]})]


def _hand_track(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    properties = event.get("properties") or {}
    if event["event"] == "Order Completed":
        currency = properties.get("currency", "USD")
        purchases = [{"external_id": event["userId"], "product_id": p["product_id"],
                      "currency": currency, "price": p["price"],
                      "quantity": p.get("quantity", 1), "time": event["timestamp"]}
                     for p in properties.get("products", ())]
        return [("/users/track", {"purchases": purchases})]
    return [("/users/track", {"events": [{"external_id": event["userId"],
                                          "name": event["event"],
                                          "time": event["timestamp"],
                                          "properties": properties}]})]


def _hand_page(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    name = event.get("name")
    title = f"Viewed {name} Page" if name else "Loaded a Page"
    return [("/users/track", {"events": [{"external_id": event["userId"], "name": title,
                                          "time": event["timestamp"],
                                          "properties": event.get("properties") or {}}]})]


def _hand_group(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("/users/track", {"attributes": [{
        "external_id": event["userId"], f"ab_segment_group_{event['groupId']}": True}]})]


_HAND = {"identify": _hand_identify, "track": _hand_track, "page": _hand_page,
         "group": _hand_group}


def hand_mapping(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Segment event -> (endpoint, body) pairs, the minimal way."""
    return _HAND[event["type"]](event)


# -- measurements -----------------------------------------------------------------------


def best(repeat: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The best of ``repeat`` runs of each measurement, in seconds of CPU time of this
    process: on a shared machine, time spent waiting for a core is not counted (on an idle
    one it equals the wall time, as every measurement runs on one thread). The rounds go
    through all measurements in turn, so a slow spell of the machine touches them all
    alike and the ratios stay fair."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    return {name: min(values) for name, values in times.items()}


@contextlib.contextmanager
def json_backend(name: str) -> Iterator[None]:
    """Run the library with the standard library's json (``"json"``) or orjson."""
    saved = _json.loads, _json.dumps
    if name == "json":
        _json.loads, _json.dumps = _json.std_loads, _json.std_dumps
    else:
        assert orjson is not None
        _json.loads, _json.dumps = orjson.loads, orjson.dumps
    try:
        yield
    finally:
        _json.loads, _json.dumps = saved


def write_corpus(path: Path, count: int) -> None:
    with path.open("wb") as file:
        file.writelines(corpus.lines(count))


def run_cli(path: Path, output: str, *extra: str) -> None:
    status = cli.main(["translate", str(path), "--output", output, *CLI_FLAGS, *extra],
                      stderr=io.StringIO())
    if status != 0:
        raise SystemExit(f"the pipeline failed with status {status}")


def peak_memory(path: Path) -> int:
    """Peak traced memory, in bytes, of the whole pipeline over ``path``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run_cli(path, os.devnull)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def profile_pipeline(path: Path, top: int) -> None:
    """Where the pipeline's time goes: the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.runcall(run_cli, path, os.devnull)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="corpus size (20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--memory-events", type=int, nargs=2, default=(20_000, 200_000),
                        metavar=("SMALL", "LARGE"),
                        help="corpus sizes of the peak-memory comparison (20,000 200,000)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="also print the TOP functions of a profile of the pipeline")
    args = parser.parse_args(argv)
    count, repeat = args.events, args.repeat

    lines = list(corpus.lines(count))
    size = sum(map(len, lines))
    print(f"corpus: {count:,} events, {size / count:,.0f} bytes an event on average, "
          f"best of {repeat}; orjson {'installed' if orjson else 'not installed'}")
    events = [json.loads(line) for line in lines]
    translator = Translator(SETTINGS)
    std_loads, std_dumps = _json.std_loads, _json.std_dumps

    def std_round_trip() -> None:
        for line in lines:
            std_dumps(std_loads(line))

    def orjson_round_trip() -> None:
        assert orjson is not None
        loads, dumps = orjson.loads, orjson.dumps
        for line in lines:
            dumps(loads(line))

    def hand() -> None:
        for event in events:
            hand_mapping(event)

    def quick() -> None:
        for event in events:
            quick_mapping(event)

    def translate_many() -> None:
        for _ in translator.translate_many(events):
            pass

    def translate_many_json() -> None:
        for translation in translator.translate_many(events):
            for request in translation.requests:
                request.to_json()

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "corpus.ndjson"
        source.write_bytes(b"".join(lines))
        output = str(Path(folder) / "requests.ndjson")
        measured: list[tuple[str, Callable[[], object]]] = [
            ("json round trip (stdlib)", std_round_trip),
            ("hand-written mapping", hand),
            ("minimal mapper", quick),
            ("translate_many", translate_many),
            ("translate_many + to_json", translate_many_json),
        ]
        if orjson is not None:
            measured.insert(1, ("json round trip (orjson)", orjson_round_trip))

        def pipeline(backend: str, *extra: str) -> Callable[[], object]:
            def run() -> None:
                with json_backend(backend):
                    run_cli(source, output, *extra)
            return run

        measured.append(("pipeline, stdlib json", pipeline("json")))
        if orjson is not None:
            measured.append(("pipeline, orjson", pipeline("orjson")))
            measured.append(("pipeline, orjson, --no-batch", pipeline("orjson", "--no-batch")))
        run_cli(source, output)  # warm-up: caches filled, files in the page cache
        for name, seconds in best(repeat, dict(measured)).items():
            results[name] = seconds / count
            print(f"  {name:<32} {results[name] * 1e6:>9.1f} µs/event")

        if args.profile:
            profile_pipeline(source, args.profile)

        memory: tuple[int, int] | None = None
        if not args.no_memory:
            small, large = args.memory_events
            peaks = []
            for amount in (small, large):
                path = Path(folder) / f"memory-{amount}.ndjson"
                write_corpus(path, amount)
                peaks.append(peak_memory(path))
                path.unlink()
                print(f"  peak memory, {amount:>9,} events {peaks[-1] / 1e6:>9.2f} MB")
            memory = (peaks[0], peaks[1])

    print("ratios (targets of issue 13):")
    checks: list[tuple[str, float, float | None]] = [
        ("translate_many / hand-written mapping", results["translate_many"]
         / results["hand-written mapping"], 8.0),
        ("translate_many / minimal mapper", results["translate_many"]
         / results["minimal mapper"], 5.0),
        ("translate_many + to_json / hand-written mapping",
         results["translate_many + to_json"] / results["hand-written mapping"], None),
        ("pipeline (stdlib json) / stdlib round trip",
         results["pipeline, stdlib json"] / results["json round trip (stdlib)"], 2.0),
    ]
    if orjson is not None:
        checks.append(("pipeline (orjson) / orjson round trip",
                       results["pipeline, orjson"] / results["json round trip (orjson)"], 5.0))
        checks.append(("pipeline (orjson) / stdlib round trip",
                       results["pipeline, orjson"] / results["json round trip (stdlib)"], None))
    if memory is not None:
        checks.append((f"peak memory {args.memory_events[1]:,} / {args.memory_events[0]:,} "
                       "events", memory[1] / memory[0], 1.2))
    for name, ratio, target in checks:
        verdict = "" if target is None else (
            f"  (target <= {target}: {'met' if ratio <= target else 'NOT met'})")
        print(f"  {name:<50} {ratio:>6.2f}{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
