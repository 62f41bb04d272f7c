"""Writing what a translation made, as the command line writes it."""

from __future__ import annotations

import json
import re
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .translation import summary_json

# -- writing ---------------------------------------------------------------------------


def write_requests(requests: DataFrame, path: str, *, single_file: bool = False,
                   compression: str | None = None, mode: str = "errorifexists") -> None:
    """Write ``requests`` as the command line's requests NDJSON, one request a line:
    ``{"endpoint": ..., "body": {...}, "origins": {...}}``.

    One file per lane (``part-NNNNN-....ndjson``; with ``compression="gzip"``,
    ``.ndjson.gz``), each in the lane's order; read in name order, the files make one
    valid stream (the cohort names first), and each file after the names can be sent
    alongside the others, since no two name the same user. ``single_file`` writes that
    stream as one file.
    """
    line = F.concat(F.lit('{"endpoint":"'), F.col("endpoint"), F.lit('","body":'),
                    F.col("body"), F.lit(',"origins":'), F.col("origins"), F.lit("}"))
    frame = requests.coalesce(1) if single_file else requests
    (frame.sortWithinPartitions("lane", "seq").select(line.alias("value"))
     .write.mode(mode).option("compression", compression or "none").text(path))
    _rename(requests.sparkSession, path)


def write_rejects(rejects: DataFrame, path: str, *, mode: str = "errorifexists") -> None:
    """Write ``rejects`` as the command line's ``--rejects`` NDJSON (``source``,
    ``line``, ``original``, ``problems``, a ``rule`` of ``null`` included), ordered by
    file and line, in ``part-NNNNN-....ndjson`` files that read in name order."""
    ordered = rejects.orderBy(F.split("source", "/"), "line")
    ordered.write.mode(mode).option("ignoreNullFields", "false").json(path)
    _rename(rejects.sparkSession, path)


def write_summary(summary: DataFrame, path: str, *, mode: str = "errorifexists"
                  ) -> dict[str, Any]:
    """Write :func:`summary_json` as one JSON file at ``path`` (any Hadoop path, like
    the command line's ``--summary``; an existing file only with ``mode="overwrite"``)
    and return it."""
    data = summary_json(summary)
    text = json.dumps(data, indent=2) + "\n"
    spark = summary.sparkSession
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # noqa: S101 - a classic session has a JVM
    target = jvm.org.apache.hadoop.fs.Path(path)
    files = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = files.create(target, mode == "overwrite")
    try:
        stream.write(bytearray(text.encode()))
    finally:
        stream.close()
    return data


def _rename(spark: SparkSession, path: str) -> None:
    """Name the part files Spark wrote ``.ndjson`` (or ``.ndjson.gz``), as the command
    line names NDJSON, so that a directory of them reads as input."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # noqa: S101 - a classic session has a JVM
    folder = jvm.org.apache.hadoop.fs.Path(path)
    files = folder.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    for status in files.listStatus(folder):
        name = status.getPath().getName()
        renamed = re.sub(r"\.(txt|json)(\.gz)?$", r".ndjson\2", name)
        if name.startswith("part-") and renamed != name:
            files.rename(status.getPath(), jvm.org.apache.hadoop.fs.Path(folder, renamed))
