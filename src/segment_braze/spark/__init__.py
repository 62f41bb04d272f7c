"""Apache Spark: Segment archives that outgrow one machine, translated by the library itself.

Three steps, each a function of DataFrames (see ``docs/scaling.md``)::

    lines = read_archive(spark, "s3a://bucket/segment-logs/<source-id>/")
    result = translate_archive(lines, settings)          # identity keys computed inside
    write_requests(result.requests, "s3a://bucket/braze/requests")
    write_rejects(result.rejects, "s3a://bucket/braze/rejects")
    summary = summary_json(result.summary)               # the command line's --summary

:func:`read_archive` keeps every line with its file and line number, so nothing is lost
before translation and a reject names its line. :func:`identity_keys` gives each event a
key shared by every event of the same Braze user and of every id ever linked to them
(connected components of the id graph), so one user's events never split across
partitions. :func:`translate_archive` partitions by that key, orders each partition by
stream position (batching fills requests from the users that interleave there, so never
by user first), and runs the library's own :class:`~segment_braze.Translator` and
:func:`~segment_braze.iter_batches` in each partition. Each partition is a *lane*: a
stream of requests whose users no other lane names, in the order they must be sent.

Everything runs on the classic (RDD-capable) Spark API, in PySpark 3.5 or later; Spark
Connect (Databricks serverless and shared clusters) exposes no RDDs and is not supported.
"""

from __future__ import annotations

from .identity import MAX_ITERATIONS, IdentityGraphNotConverged, identity_keys
from .reading import INPUT_GLOB, read_archive
from .translation import (
    EVENTS_PER_LANE,
    NAMES_LANE,
    ArchiveTranslation,
    summary_json,
    translate_archive,
)
from .writing import write_rejects, write_requests, write_summary

__all__ = [
    "EVENTS_PER_LANE",
    "INPUT_GLOB",
    "MAX_ITERATIONS",
    "NAMES_LANE",
    "ArchiveTranslation",
    "IdentityGraphNotConverged",
    "identity_keys",
    "read_archive",
    "summary_json",
    "translate_archive",
    "write_rejects",
    "write_requests",
    "write_summary",
]
