"""Instructions per event of one workload, counted by callgrind (valgrind).

Time on a shared machine moves by a third between runs; instruction counts do not. Each
workload runs under callgrind twice, once with one pass over the corpus and once with
two; the difference is one steady pass (imports, the corpus, the first pass's warm-up
and the interpreter's start all cancel out), divided by the number of events.

    python benchmarks/instructions.py translate pipeline-orjson --events 2000
    python benchmarks/instructions.py --list

Needs valgrind. ``PYTHONHASHSEED=0`` is set, so that two runs hash alike.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus

#: The settings of bench_pipeline.py: pages are sent, so every event is translated.
SETTINGS_FLAGS = ("--track-all-pages",)


def _settings() -> Any:
    from segment_braze import Settings

    return Settings(track_all_pages=True)


def _translator(*, reference: bool = False) -> Any:
    from segment_braze import Translator

    translator = Translator(_settings())
    if reference:
        from segment_braze.translate import reference_translator

        translator = reference_translator(translator)
    return translator


def _structure(events: list[Any], lines: list[bytes]) -> Callable[[], object]:
    structure = _translator()._structure
    return lambda: [structure(event) for event in events]


def _structure_converter(events: list[Any], lines: list[bytes]) -> Callable[[], object]:
    from segment_braze.converters import make_converter

    structure = make_converter().structure_event
    return lambda: [structure(event) for event in events]


def _translate(events: list[Any], lines: list[bytes], *, reference: bool = False,
               to_json: bool = False) -> Callable[[], object]:
    translator = _translator(reference=reference)

    def run() -> None:
        for translation in translator.translate_many(events):
            if to_json:
                for request in translation.requests:
                    request.to_json()

    return run


def _hand(events: list[Any], lines: list[bytes]) -> Callable[[], object]:
    from bench_pipeline import hand_mapping

    return lambda: [hand_mapping(event) for event in events]


def _quick(events: list[Any], lines: list[bytes]) -> Callable[[], object]:
    from quick_mapper import quick_mapping

    return lambda: [quick_mapping(event) for event in events]


def _round_trip(backend: str) -> Callable[[list[Any], list[bytes]], Callable[[], object]]:
    def make(events: list[Any], lines: list[bytes]) -> Callable[[], object]:
        if backend == "orjson":
            import orjson

            loads, dumps = orjson.loads, orjson.dumps
        else:
            from segment_braze import _json

            loads, dumps = _json.std_loads, _json.std_dumps
        return lambda: [dumps(loads(line)) for line in lines]
    return make


def _pipeline(backend: str, *extra: str) -> Callable[[list[Any], list[bytes]],
                                                      Callable[[], object]]:
    def make(events: list[Any], lines: list[bytes]) -> Callable[[], object]:
        from bench_pipeline import json_backend
        from segment_braze import cli

        folder = tempfile.mkdtemp()
        source = Path(folder) / "corpus.ndjson"
        source.write_bytes(b"".join(lines))

        def run() -> None:
            with json_backend(backend):
                cli.main(["translate", str(source), "--output", os.devnull,
                          *SETTINGS_FLAGS, *extra], stderr=io.StringIO())
        return run
    return make


#: Workload name -> a factory of the workload, given the parsed events and their lines.
WORKLOADS: dict[str, Callable[[list[Any], list[bytes]], Callable[[], object]]] = {
    "structure": _structure,
    "structure-converter": _structure_converter,
    "translate": _translate,
    "translate-json": lambda e, b: _translate(e, b, to_json=True),
    "translate-reference": lambda e, b: _translate(e, b, reference=True),
    "hand": _hand,
    "quick": _quick,
    "round-trip-json": _round_trip("json"),
    "round-trip-orjson": _round_trip("orjson"),
    "pipeline-json": _pipeline("json"),
    "pipeline-orjson": _pipeline("orjson"),
    "pipeline-orjson-no-batch": _pipeline("orjson", "--no-batch"),
}


def run_inside(workload: str, events: int, passes: int) -> None:
    """What runs under callgrind: build the workload, then run it ``passes`` times."""
    lines = list(corpus.lines(events))
    parsed = [json.loads(line) for line in lines]
    run = WORKLOADS[workload](parsed, lines)
    for _ in range(passes):
        run()


_COLLECTED = re.compile(rb"Collected : (\d+)")


def count(workload: str, events: int, passes: int) -> int:
    """Instructions of a whole run with ``passes`` passes."""
    with tempfile.TemporaryDirectory() as folder:
        command = ["valgrind", "--tool=callgrind",
                   f"--callgrind-out-file={Path(folder) / 'callgrind.out'}",
                   sys.executable, __file__, "--inside", workload, "--events", str(events),
                   "--passes", str(passes)]
        done = subprocess.run(command, capture_output=True, check=False,  # noqa: S603
                              env={**os.environ, "PYTHONHASHSEED": "0"})
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(done.stderr.decode(errors="replace")[-2000:])
    return int(found.group(1))


def per_event(workload: str, events: int) -> float:
    """Instructions of one steady pass over ``events`` events, per event."""
    return (count(workload, events, 2) - count(workload, events, 1)) / events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD")
    parser.add_argument("--events", type=int, default=2000, help="corpus size (2,000)")
    parser.add_argument("--list", action="store_true", help="list the workloads")
    parser.add_argument("--inside", metavar="WORKLOAD", help=argparse.SUPPRESS)
    parser.add_argument("--passes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        run_inside(args.inside, args.events, args.passes)
        return 0
    if args.list or not args.workloads:
        print("\n".join(WORKLOADS))
        return 0
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; see --list")
    for workload in args.workloads:
        print(f"{workload:<28} {per_event(workload, args.events):>12,.0f} instructions/event",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
