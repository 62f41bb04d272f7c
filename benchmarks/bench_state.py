"""Benchmark of change tracking: data points saved, and what the store costs per event.

The stream is the benchmark corpus (:mod:`corpus`: identify 30%, track 50%, Order
Completed 10%, page 7%, group 3%) folded onto fewer users, so that they come back, and
re-identified the way an application does it, with its whole set of traits at every
session: each user keeps the traits of their first identify, and at a later one their
``logins`` count has moved with probability ``--logins`` and their ``plan`` with
probability ``--plan``. A user's group calls go to their own account most of the time.

It measures, on that stream:

- the share of attribute writes saved: values left out as unchanged, against every value
  that translation without a store sends (data points, by the command line's rule);
- the CPU time per event of ``translate_many`` with a ``MemoryStore`` and with a
  ``SQLiteStore`` (each committing on translation, as the command line does, and on
  acknowledgement, one acknowledgement per event), as ratios to ``translate_many``
  without a store. Each round starts from an empty store.

    python benchmarks/bench_state.py --events 20000 --users 500 --repeat 3
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from bench_pipeline import best
from segment_braze import Settings, Translator, cli
from segment_braze.tracking import MemoryStore, SQLiteStore, StateStore, Tracker

#: The settings of every measurement: pages are sent, so every event is translated.
SETTINGS = Settings(track_all_pages=True)

#: The SQLite store may add at most this much to the time per event.
SQLITE_TARGET = 1.5


def reidentify_stream(count: int, *, users: int = 500, logins: float = 0.3,
                      plan: float = 0.05, seed: int = 20240501) -> Iterator[dict[str, Any]]:
    """``count`` corpus events over ``users`` users who are re-identified with mostly
    unchanged traits (see the module docstring)."""
    rng = random.Random(seed)
    profiles: dict[str, dict[str, Any]] = {}
    accounts: dict[str, str] = {}
    for event in corpus.events(count, seed=seed):
        user = f"user-{int(event['userId'][5:]) % users:05d}"
        event["userId"] = user
        event["anonymousId"] = f"anon-{user}"
        if event["type"] == "identify":
            known = profiles.get(user)
            if known is None:
                known = profiles[user] = event["traits"]
            else:
                known = dict(known)
                if rng.random() < logins:
                    known["logins"] += 1
                if rng.random() < plan:
                    known["plan"] = rng.choice([p for p in ("free", "starter", "pro",
                                                            "enterprise")
                                                if p != known["plan"]])
                profiles[user] = known
            event["traits"] = dict(known)
        elif event["type"] == "group":
            account = accounts.setdefault(user, event["groupId"])
            if rng.random() < 0.9:
                event["groupId"] = account
        yield event


def savings(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(data points sent without a store, data points saved with one)."""
    translator = Translator(SETTINGS)
    tracker = Tracker(MemoryStore(), commit="on_translate")
    sent = saved = 0
    for translation in map(tracker.apply, translator.translate_many(events)):
        sent += sum(cli.data_points(request) for request in translation)
        saved += len(translation.unchanged)  # the tracker never leaves out a free one
    return sent + saved, saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="stream size (20,000)")
    parser.add_argument("--users", type=int, default=500, help="distinct users (500)")
    parser.add_argument("--logins", type=float, default=0.3,
                        help="chance that a re-identify has a new logins count (0.3)")
    parser.add_argument("--plan", type=float, default=0.05,
                        help="chance that a re-identify has a new plan (0.05)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    args = parser.parse_args(argv)
    events = list(reidentify_stream(args.events, users=args.users, logins=args.logins,
                                    plan=args.plan))
    identifies = sum(e["type"] == "identify" for e in events)
    print(f"stream: {len(events):,} events, {identifies:,} identify calls of "
          f"{args.users:,} users; best of {args.repeat}")

    total, saved = savings(events)
    print(f"attribute writes saved: {saved:,} of {total:,} data points "
          f"({saved / total if total else 0:.1%})")

    folder = Path(tempfile.mkdtemp(prefix="bench-state-"))
    rounds = iter(range(10**9))

    def run(make: Callable[[], StateStore | None], commit: str) -> Callable[[], None]:
        def measured() -> None:
            store = make()
            translations = Translator(SETTINGS).translate_many(events)
            if store is None:
                for _ in translations:
                    pass
            elif commit == "acknowledge":
                tracker = Tracker(store)
                acknowledge = tracker.acknowledge
                for translation in map(tracker.apply, translations):
                    acknowledge((translation.origin,))
            else:
                for _ in map(Tracker(store, commit="on_translate").apply, translations):
                    pass
            if store is not None:
                store.close()
        return measured

    def sqlite(**options: Any) -> Callable[[], StateStore]:
        return lambda: SQLiteStore(folder / f"state-{next(rounds)}.db", **options)

    results = best(args.repeat, {
        "no store": run(lambda: None, "on_translate"),
        "MemoryStore, on_translate": run(MemoryStore, "on_translate"),
        "MemoryStore, acknowledge": run(MemoryStore, "acknowledge"),
        "SQLiteStore, on_translate": run(sqlite(), "on_translate"),
        "SQLiteStore, acknowledge": run(sqlite(), "acknowledge"),
        "SQLiteStore without read cache, on_translate": run(sqlite(cache_size=0),
                                                            "on_translate"),
    })
    base = results["no store"]
    print(f"\n{'translate_many':<46} {'µs/event':>9} {'/ no store':>10}")
    for name, seconds in results.items():
        print(f"{name:<46} {seconds / len(events) * 1e6:>9.1f} {seconds / base:>10.2f}")
    print()
    for name in ("MemoryStore", "SQLiteStore"):
        worst = max(v for k, v in results.items() if k.startswith(name) and "without" not in k)
        print(f"{name} / no store: {worst / base:.2f} (the slower commit mode)")
    worst = max(v for k, v in results.items() if k.startswith("SQLiteStore, "))
    held = worst / base <= SQLITE_TARGET
    print(f"target: SQLiteStore at most {SQLITE_TARGET:.2f} x no store: "
          f"{'met' if held else 'NOT MET'}")
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
