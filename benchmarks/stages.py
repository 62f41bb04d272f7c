"""Where ``translate_many`` + ``to_json`` spends its time, stage by stage.

A profile (cProfile) of one pass over the corpus gives each function's own time; each
function belongs to one stage (:data:`STAGES`, by module and name), and the time of
built-in calls (``len``, ``dict.get``, ``isinstance``, ...) goes to the functions that
made them. The shares are then applied to the time of a pass measured without the
profiler (best of ``--repeat``, CPU time), so the table adds up to what the pipeline
really costs; the profiler's own overhead, larger for many small calls, still tilts the
shares a little towards the stages made of small functions.

    python benchmarks/stages.py --events 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from segment_braze import Settings, Translator

#: A profiled function: (file, line, name), as pstats keys them.
Function = tuple[str, int, str]

STRUCTURING = "structuring into models"
VALIDATION = "validation and normalisation (traits, properties, names, products)"
MAPPING = "per-rule mapping (objects, names, times)"
GLUE = "translate glue (translate, scope, accounting)"
REQUESTS = "request objects, Translation"
TO_JSON = "to_json"
OTHER = "other"

#: The rule bodies of the traits module (the rest of it walks and checks the traits).
_TRAIT_RULES = frozenset({"identify_to_attributes", "group_to_attributes",
                          "context_traits_to_attributes", "_attributes"})
#: The functions of the purchases module that check and normalise a product.
_PRODUCT_CHECKS = frozenset({"number", "revenue_of", "_product_id", "_quantity",
                             "currency_of", "_product", "problem"})
_BODIES = frozenset({"to_json", "_track_body", "_delete_body", "_identify_body",
                     "_merge_body", "_alias_new_body"})


def stage_of(function: Function) -> str:
    """The stage a profiled function belongs to."""
    path, _, name = function
    # A file, or generated code: "<attrs generated methods CLASS>", "<maker CLASS>",
    # "<fast structuring MODEL>".
    module = path.replace("\\", "/")
    if module.startswith("<maker "):
        module = module.replace("<maker ", "<attrs generated methods ")
    if module.startswith("<fast structuring "):
        return STRUCTURING
    if "cattrs generated structure" in module or module.endswith((
            "/converters.py", "/_structuring.py", "segment_braze/events.py")) \
            or "segment_braze.events." in module \
            or (module.endswith("/times.py") and name != "render_time"):
        return STRUCTURING
    if any(part in module for part in ("/mapping/values.py", "/mapping/attributes.py",
                                       "/mapping/fields.py")) \
            or "/dateutil/" in module \
            or name == "looks_like_email" \
            or ("/mapping/traits.py" in module and name not in _TRAIT_RULES) \
            or ("/mapping/purchases.py" in module and name in _PRODUCT_CHECKS) \
            or name.startswith("<method 'match' of 're.Pattern"):
        return VALIDATION
    if "/braze/" in module and name in _BODIES:
        return TO_JSON
    if "segment_braze.braze.requests." in module or "segment_braze.translate." in module \
            or module.endswith(("/braze/endpoint.py", "/braze/requests.py")) \
            or (module.endswith("/translate.py") and name == "_requests"):
        return REQUESTS
    if "/mapping/" in module or "segment_braze.braze." in module or "/braze/" in module \
            or module.endswith(("/rules.py", "/combinators.py")) \
            or (module.endswith("/scope.py") and name not in ("__init__", "notice")) \
            or name == "render_time":
        return MAPPING
    if "/segment_braze/" in module or "segment_braze." in module:
        return GLUE
    return OTHER


def _is_builtin(function: Function) -> bool:
    return function[0] == "~"


def stage_shares(stats: pstats.Stats) -> dict[str, float]:
    """Each stage's share of the profiled time; built-in calls count for their callers."""
    totals: dict[str, float] = defaultdict(float)
    table: dict[Function, Any] = stats.stats  # type: ignore[attr-defined]
    for function, (_, _, own, _, callers) in table.items():
        if not _is_builtin(function):
            totals[stage_of(function)] += own
            continue
        spent = sum(entry[2] for entry in callers.values()) or 1.0
        for caller, entry in callers.items():
            # A built-in called by a built-in (rare) goes to "other".
            stage = OTHER if _is_builtin(caller) else stage_of(caller)
            totals[stage] += own * entry[2] / spent
    whole = sum(totals.values())
    return {stage: amount / whole for stage, amount in totals.items()}


def measure(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="corpus size (20,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (5)")
    parser.add_argument("--top", type=int, default=0, help="also print the TOP functions")
    args = parser.parse_args(argv)
    events = [json.loads(line) for line in corpus.lines(args.events)]
    translator = Translator(Settings(track_all_pages=True))

    def run() -> None:
        for translation in translator.translate_many(events):
            for request in translation.requests:
                request.to_json()

    run()  # warm-up: memos filled
    seconds = measure(run, args.repeat)
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    shares = stage_shares(stats)
    per_event = seconds / args.events * 1e6
    print(f"translate_many + to_json: {per_event:.1f} µs/event "
          f"({args.events:,} events, best of {args.repeat})")
    print("| stage | µs | share |\n|---|---:|---:|")
    order = (STRUCTURING, VALIDATION, MAPPING, GLUE, REQUESTS, TO_JSON, OTHER)
    for stage in order:
        share = shares.get(stage, 0.0)
        print(f"| {stage} | {share * per_event:.1f} | {share:.0%} |")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
