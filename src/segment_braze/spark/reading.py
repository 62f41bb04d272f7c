"""Reading a Segment archive into Spark: every line with its file, line number and
stream position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

#: The files :func:`read_archive` picks up in a directory tree (a Hadoop glob on the file
#: name, as the command line's walk picks them by suffix); ``glob=None`` reads every file.
INPUT_GLOB: Final = "*.{gz,json,jsonl,ndjson}"

# Bytes Python counts as whitespace (``bytes.isspace``): a line of only these is blank.
_BLANK: Final = r"^[ \t\n\r\x0B\f]*$"


# -- reading ---------------------------------------------------------------------------


def read_archive(spark: SparkSession, path: str | Sequence[str], *,
                 glob: str | None = INPUT_GLOB) -> DataFrame:
    """A Segment archive (``segment-logs/<source-id>/<day>/<file>.gz``, or any tree of
    NDJSON files, gzipped or not) as a DataFrame of its non-blank lines.

    Columns: ``source`` (the file's URI), ``line`` (its 1-based number in the file,
    blank lines counted, as the command line numbers them), ``position`` (its 0-based
    number among the non-blank lines of the whole archive, files in the order the
    command line walks them: the stream order, and the origin of an event without a
    ``messageId``) and ``value`` (the line as read).

    Gzipped files are read whole by one task each (gzip cannot be split); an
    uncompressed file is split like any Spark text input
    (``spark.sql.files.maxPartitionBytes``). Numbering does not need a file in one task:
    a line is numbered from its split's start, and each split's start from the lines of
    the splits before it, which a small aggregate over the same scan counts. Everything
    is lazy and consistent within each action (both scans of one action split the files
    the same way). See docs/scaling.md.
    """
    reader = spark.read.options(lineSep="\n", recursiveFileLookup="true")
    if glob is not None:
        reader = reader.option("pathGlobFilter", glob)
    paths = [path] if isinstance(path, str) else list(path)
    raw = reader.text(paths)
    scanned = raw.select(
        F.col("_metadata.file_path").alias("source"),
        F.col("_metadata.file_block_start").alias("block"),
        F.monotonically_increasing_id().alias("row"),
        "value",
    ).withColumn("task", F.shiftright("row", 33))
    blank = F.col("value").rlike(_BLANK)
    # One row per split: where its rows start (in its task's numbering), its lines, and
    # its non-blank lines.
    splits = scanned.groupBy("task", "source", "block").agg(
        F.min("row").alias("first_row"),
        F.count(F.lit(1)).alias("lines"),
        F.count(F.when(~blank, 1)).alias("events"),
    )
    before = Window.unboundedPreceding, -1
    in_file = Window.partitionBy("source").orderBy("block").rowsBetween(*before)
    in_archive = Window.orderBy(F.split("source", "/"), "block").rowsBetween(*before)
    in_task = Window.partitionBy("task").orderBy("first_row").rowsBetween(*before)
    splits = splits.select(
        "task", "source", "block", "first_row",
        F.coalesce(F.sum("lines").over(in_file), F.lit(0)).alias("line_base"),
        F.coalesce(F.sum("events").over(in_archive), F.lit(0)).alias("position_base"),
        (F.shiftleft("task", 33)
         + F.coalesce(F.sum("events").over(in_task), F.lit(0))).alias("first_event"),
    )
    # The non-blank lines, numbered again in their task: a second counter that skips the
    # blank lines, so positions count only lines that carry an event.
    events = scanned.where(~blank).withColumn("event_row", F.monotonically_increasing_id())
    numbered = events.join(F.broadcast(splits), ["task", "source", "block"], "left")
    return numbered.select(
        "source",
        (F.col("line_base") + F.col("row") - F.col("first_row") + 1).alias("line"),
        (F.col("position_base") + F.col("event_row") - F.col("first_event")).alias("position"),
        "value",
    )
