"""Benchmark of ``segment-braze translate --jobs N`` against ``--jobs 1``.

On the benchmark corpus (:mod:`corpus`, about 1 KB an event) it runs the installed
command (``python -m segment_braze``) over one NDJSON file, writing the requests to
``/dev/null``, once per setting and round, the settings taking turns in every round so
that a busy spell of a shared machine touches them all alike. For each run it records:

- the wall time (what ``--jobs`` is for), and from it events per second;
- the CPU time of the command and its workers together (what the parallel run costs);
- the peak memory: of the command alone, and of the command and its workers together
  (the resident sizes, sampled every 10 ms from ``/proc``; on other systems the largest
  single process, from ``getrusage``).

- in every round, the *ceiling*: the speed-up the machine gives work that is perfectly
  parallel at that moment (``N`` processes each running the same pure-Python loop,
  against one process running it alone: ``N`` times one's wall time / the ``N``'s wall
  time). On a virtual machine whose cores share a host, two processes may get much less
  than two cores; the ceiling says how much the machine gave, so that ``--jobs`` is
  judged against it.

The ratios compare the runs of one round, so they hold however loaded the machine is
when the rounds differ; the spread of the per-round ratios says how noisy the machine
was. ``--cpus 0`` pins every run to the listed cores (as ``taskset -c 0`` does): on one
core ``--jobs 2`` translates in the parent, as ``--jobs 1`` does.

    python benchmarks/bench_jobs.py --events 200000 --repeat 5 [--jobs 1 2 0]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus

#: The settings of every run: pages are sent, so every event is translated.
FLAGS = ("--track-all-pages",)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        todo += [int(child) for child in children.split()]
    return found


def _rss(pid: int) -> int:
    """Resident bytes of one process, 0 once it is gone."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


class Sampler(threading.Thread):
    """Peak resident memory of a process and of its whole tree, sampled."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.parent = 0
        self.total = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            sizes = [_rss(pid) for pid in _tree(self.pid)]
            if sizes:
                self.parent = max(self.parent, sizes[0])
                self.total = max(self.total, sum(sizes))
            self.done.wait(0.01)


def run_once(path: Path, jobs: int) -> dict[str, float]:
    """One run of the command: wall seconds, CPU seconds, peak memory (bytes)."""
    command = [sys.executable, "-m", "segment_braze", "translate", str(path), *FLAGS,
               "--output", os.devnull, "--jobs", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE)  # noqa: S603 - ours
    sampler = Sampler(process.pid)
    if Path("/proc").is_dir():
        sampler.start()
    _, err = process.communicate()
    wall = time.perf_counter() - start
    sampler.done.set()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"--jobs {jobs} failed ({process.returncode}): {err.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    largest = after.ru_maxrss * 1024  # KiB on Linux: the largest process so far
    return {"wall": wall, "cpu": cpu, "parent": sampler.parent or largest,
            "total": sampler.total or largest}


def profile_parent(path: Path, jobs: int, top: int) -> None:
    """Where the command's own process spends its time with ``--jobs``: the functions
    with the most own CPU time in its main thread (waiting for workers is not counted;
    the workers are not profiled)."""
    from segment_braze import cli

    profiler = cProfile.Profile(time.thread_time)
    profiler.runcall(cli.main, ["translate", str(path), *FLAGS, "--output", os.devnull,
                                "--jobs", str(jobs)], stderr=io.StringIO())
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)


#: The loop of the ceiling: pure Python, no memory, about half a second.
LOOP = "x = 0\nfor i in range(12_000_000):\n    x += i * i\n"


def ceiling(processes: int) -> float:
    """The speed-up ``processes`` copies of :data:`LOOP` get now over one copy alone."""
    def wall(count: int) -> float:
        start = time.perf_counter()
        children = [subprocess.Popen([sys.executable, "-c", LOOP])  # noqa: S603
                    for _ in range(count)]
        for child in children:
            child.wait()
        return time.perf_counter() - start
    return processes * wall(1) / wall(processes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000,
                        help="corpus size (200,000)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (5)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="the --jobs settings compared, the first as the baseline "
                             "(1 2)")
    parser.add_argument("--cpus", type=int, nargs="+", metavar="CPU",
                        help="pin every run to these cores (as taskset -c does)")
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="also print the TOP functions of a profile of the command's "
                             "own process (the parent) with the last --jobs setting")
    args = parser.parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"corpus: {args.events:,} events; {args.repeat} rounds of --jobs "
          f"{', '.join(map(str, args.jobs))}; {cores} usable cores")
    runs: dict[int, list[dict[str, float]]] = {jobs: [] for jobs in args.jobs}
    ceilings: dict[int, list[float]] = {jobs: [] for jobs in args.jobs}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.ndjson"
        with path.open("wb") as file:
            file.writelines(corpus.lines(args.events))
        run_once(path, args.jobs[0])  # warm-up: the file in the page cache
        for round_ in range(1, args.repeat + 1):
            for jobs in args.jobs:
                runs[jobs].append(run_once(path, jobs))
                used = min(cores or 1, jobs or cores or 1)
                ceilings[jobs].append(ceiling(used) if used > 1 else 1.0)
            walls = "  ".join(f"--jobs {jobs}: {runs[jobs][-1]['wall']:6.2f} s "
                              f"(ceiling {ceilings[jobs][-1]:.2f})" for jobs in args.jobs)
            print(f"  round {round_}: {walls}")
        if args.profile:
            profile_parent(path, args.jobs[-1], args.profile)

    base = args.jobs[0]
    print(f"{'':10} {'events/s':>10} {'wall s':>8} {'cpu s':>8} {'memory MB':>10} "
          f"{'(all processes)':>16} {'speed-up':>9} {'(per round: min-max)':>21} "
          f"{'cpu bound':>10} {'ceiling':>8}")
    least_cpu = {jobs: min(run["cpu"] for run in runs[jobs]) for jobs in args.jobs}
    for jobs in args.jobs:
        best = min(runs[jobs], key=lambda run: run["wall"])
        ratios = [b["wall"] / r["wall"] for b, r in zip(runs[base], runs[jobs], strict=True)]
        used = min(cores or 1, jobs or cores or 1)
        bound = used * least_cpu[base] / least_cpu[jobs]
        print(f"--jobs {jobs:<3} {args.events / best['wall']:>10,.0f} {best['wall']:>8.2f} "
              f"{best['cpu']:>8.2f} {max(r['parent'] for r in runs[jobs]) / 1e6:>10.1f} "
              f"{max(r['total'] for r in runs[jobs]) / 1e6:>16.1f} "
              f"{statistics.median(ratios):>9.2f} "
              f"{min(ratios):>10.2f} - {max(ratios):.2f} {bound:>10.2f} "
              f"{statistics.median(ceilings[jobs]):>8.2f}")
    print("events/s, wall and cpu: the best round; memory: the largest peak; speed-up: the "
          f"median over rounds of --jobs {base}'s wall time over this setting's; cpu bound: "
          "the speed-up the CPU time allows on idle cores (cores used x least cpu of "
          f"--jobs {base} / least cpu of this setting); ceiling: the median over rounds "
          "of the speed-up the machine gave perfectly parallel work in that round")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
