"""Spark in local mode against one process, on the benchmark corpus.

    python benchmarks/bench_spark.py --events 20000 200000 [2000000] [--repeat 2]

For each size, the corpus (``benchmarks/corpus.py``, about 1 KB a line) is written as
gzipped NDJSON files of 50,000 events (like an archive's hourly files), then:

- **one process**: ``segment-braze translate`` in this process, requests written to a
  file;
- **Spark** ``local[1]`` and ``local[2]``: :func:`~segment_braze.spark.read_archive`,
  :func:`~segment_braze.spark.translate_archive` (identity keys included, the default
  number of lanes) and the summary collected, timed from the first call to the summary:
  the JVM is started and warmed up on a small archive before the clock starts;
- **requests per 1,000 events**: one process, Spark's default lanes, and 8 lanes.

Times are wall-clock seconds, best of ``--repeat`` runs (the machine may be shared, so
only the best run says what the code costs); events per second are events read over that
time. Spark is measured with the settings of a default run (``spark.sql.shuffle.partitions``
set to twice the cores) and the default driver memory raised to 4 GB.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
import segment_braze as sb
from segment_braze import cli

#: Events per file, as an archive holds them (one gzipped file per hour or so).
PER_FILE = 50_000


def write_archive(folder: Path, count: int) -> Path:
    """``count`` corpus events as gzipped NDJSON files of :data:`PER_FILE` events."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = corpus.lines(count)
    number = 0
    while True:
        chunk = [line for _, line in zip(range(PER_FILE), lines, strict=False)]
        if not chunk:
            return folder
        (folder / f"{number:04d}.ndjson.gz").write_bytes(
            gzip.compress(b"".join(chunk), compresslevel=1, mtime=0))
        number += 1


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest wall time of ``repeat`` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def one_process(archive: Path, out: Path) -> int:
    """``segment-braze translate`` in this process; the number of requests written."""
    status = cli.main(["translate", str(archive), "-o", str(out)],
                      stdout=io.BytesIO(), stderr=io.StringIO())
    assert status == 0
    with out.open("rb") as file:
        return sum(1 for _ in file)


def session(master: str) -> Any:
    from pyspark.sql import SparkSession

    cores = 1 if master == "local[1]" else 2
    spark = (SparkSession.builder.master(master).appName("bench-spark")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g")
             .config("spark.sql.shuffle.partitions", str(2 * cores))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_run(spark: Any, archive: Path, partitions: int | None = None) -> dict[str, Any]:
    """The whole Spark translation, up to the summary collected on the driver."""
    from segment_braze import spark as sb_spark

    lines = sb_spark.read_archive(spark, str(archive))
    result = sb_spark.translate_archive(lines, sb.Settings(), partitions=partitions)
    summary = sb_spark.summary_json(result.summary)
    lanes = result.requests.where("lane >= 0").select("lane").distinct().count()
    result.unpersist()
    return {"summary": summary, "lanes": lanes}


def requests_of(summary: dict[str, Any]) -> int:
    return sum(counts["requests"] for counts in summary["requests"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        root = Path(tmp)
        warm = write_archive(root / "warm", 2_000)
        archives = {n: write_archive(root / f"events-{n}", n) for n in args.events}
        rows: dict[int, dict[str, Any]] = {n: {} for n in args.events}
        for n, archive in archives.items():
            seconds, requests = best(args.repeat, lambda a=archive: one_process(
                a, root / "requests.ndjson"))
            rows[n]["one process"] = (seconds, requests)
            print(f"{n:>9,} one process   {seconds:7.2f} s {n / seconds:9,.0f} events/s "
                  f"{requests:6,} requests", flush=True)
        for master in ("local[1]", "local[2]"):
            spark = session(master)
            spark_run(spark, warm)
            for n, archive in archives.items():
                seconds, run = best(args.repeat, lambda a=archive, s=spark: spark_run(s, a))
                rows[n][master] = (seconds, requests_of(run["summary"]))
                print(f"{n:>9,} {master:<13} {seconds:7.2f} s {n / seconds:9,.0f} events/s "
                      f"{requests_of(run['summary']):6,} requests in {run['lanes']} lanes",
                      flush=True)
                if master == "local[2]":
                    eight = spark_run(spark, archive, partitions=8)
                    rows[n]["8 lanes"] = (None, requests_of(eight["summary"]))
                    print(f"{n:>9,} 8 lanes       {requests_of(eight['summary']):6,} "
                          "requests", flush=True)
            spark.stop()
        print()
        print("| events | one process | Spark local[1] | Spark local[2] | local[2] / "
              "local[1] | requests per 1,000 events: one process / Spark default / "
              "Spark 8 lanes |")
        print("|---:|---:|---:|---:|---:|---|")
        for n, row in rows.items():
            rates = {k: n / v[0] for k, v in row.items() if v[0]}
            per = " / ".join(f"{1000 * row[k][1] / n:.2f}"
                             for k in ("one process", "local[2]", "8 lanes"))
            print(f"| {n:,} | {rates['one process']:,.0f}/s | {rates['local[1]']:,.0f}/s | "
                  f"{rates['local[2]']:,.0f}/s | "
                  f"{rates['local[2]'] / rates['local[1]']:.2f} | {per} |")
        print(json.dumps({str(n): {k: list(v) for k, v in row.items()}
                          for n, row in rows.items()}))


if __name__ == "__main__":
    main()
