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

import importlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import attrs
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from . import _json
from .archive import parse_line
from .batching import endpoint_of, iter_batches
from .braze import Request
from .cli.accounting import MAX_REASONS, data_points, objects, rejection
from .errors import Problem
from .rules import DEFAULT_RULES, Rule
from .settings import Settings
from .translate import Translation, Translator

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

#: The files :func:`read_archive` picks up in a directory tree (a Hadoop glob on the file
#: name, as the command line's walk picks them by suffix); ``glob=None`` reads every file.
INPUT_GLOB: Final = "*.{gz,json,jsonl,ndjson}"

#: Rounds of the identity graph's label propagation before :func:`identity_keys` gives up
#: (each round at least squares how far a label reaches along a chain of linked ids, so
#: this bound is only ever met by a graph built to defeat it; see docs/scaling.md).
MAX_ITERATIONS: Final = 30

#: Events per lane when :func:`translate_archive` chooses the number of lanes: batching
#: fills requests from the users that interleave in a lane, so a lane of few users sends
#: more, smaller requests (see docs/scaling.md).
EVENTS_PER_LANE: Final = 100_000

#: The ``lane`` of the cohort-name requests, which the driver sends once, before the
#: partitions' lanes.
NAMES_LANE: Final = -1

# Bytes Python counts as whitespace (``bytes.isspace``): a line of only these is blank.
_BLANK: Final = r"^[ \t\n\r\x0B\f]*$"
# A JSON number with a fraction or an exponent: the translator turns an integral one into
# its digits.
_FLOAT: Final = r"^-?[0-9]+(\.[0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)$"


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


# -- identity --------------------------------------------------------------------------


class IdentityGraphNotConverged(RuntimeError):
    """The identity graph's label propagation did not settle within its bound: some
    linked ids may still carry different keys, so their users' events could be split
    across partitions. Nothing is returned rather than that."""

    def __init__(self, iterations: int, unsettled: int) -> None:
        super().__init__(
            f"the identity graph did not settle in {iterations} rounds ({unsettled:,} ids "
            "still linked to more than one key); pass a larger max_iterations")
        self.iterations = iterations
        self.unsettled = unsettled


def _vertex(text: Column) -> Column:
    """An id as the translator compares it: a number with a fraction or an exponent
    (``1.0``, ``1e3``) becomes the digits of its integer value and ``-0`` becomes ``0``,
    as the translator writes integral numbers; a blank id is none. Ids that end up equal
    here merely share a key, which is harmless."""
    number = text.cast("double")
    digits = F.when(F.abs(number) < 1e37, number.cast("decimal(38,0)").cast("string"))
    rendered = (F.when(text.rlike(_FLOAT), F.coalesce(digits, text))
                .when(text == "-0", F.lit("0")).otherwise(text))
    return F.when(~text.rlike(r"(?U)^\s*$"), rendered)


#: The top-level fields that hold an event's ids (read once per line, as JSON text), and
#: those that hold its email.
_ID_FIELDS: Final = ("userId", "anonymousId", "previousId", "integrations", "context")
_EMAIL_FIELDS: Final = ("type", "traits")


def _with_ids(lines: DataFrame, *, emails: bool) -> DataFrame:
    """``lines`` with ``_ids``: the ids of each line that name a Braze user, as 64-bit
    hashes: ``userId``, ``anonymousId``, ``previousId`` (an alias call links it to
    ``userId``), the ``braze_id`` of ``integrations.Braze`` and of
    ``context.integrations.Braze``, and with ``emails`` the email the translator would
    identify the user by. A line that is not a JSON object has none."""
    names = [*_ID_FIELDS, *(_EMAIL_FIELDS if emails else ())]
    hidden = [f"_{name}" for name in names]
    top = lines.select("*", F.json_tuple("value", *names).alias(*hidden))
    fields = {name: F.col(column) for name, column in zip(names, hidden, strict=True)}
    return top.withColumn("_ids", _vertices(fields, emails=emails)).drop(*hidden)


def _strip(text: Column) -> Column:
    """Whitespace removed at both ends, as Python's ``str.strip`` does."""
    return F.regexp_replace(text, r"(?U)^\s+|\s+$", "")


def _vertices(fields: dict[str, Column], *, emails: bool) -> Column:
    """The hashed ids of one event, from its top-level fields (JSON text)."""
    found = [fields["userId"], fields["anonymousId"], fields["previousId"],
             F.get_json_object(fields["integrations"], "$.Braze.braze_id"),
             F.get_json_object(fields["context"], "$.integrations.Braze.braze_id")]
    if emails:
        email = F.get_json_object(fields["traits"], "$.email")
        found += [F.when(fields["type"] == "identify", _strip(email)),
                  _strip(F.get_json_object(fields["context"], "$.traits.email"))]
    vertices = F.filter(F.array(*[_vertex(text) for text in found]), lambda v: v.isNotNull())
    return F.array_distinct(F.transform(vertices, lambda v: F.xxhash64(v)))


def identity_keys(lines: DataFrame, *, emails: bool = False,
                  max_iterations: int = MAX_ITERATIONS) -> DataFrame:
    """``lines`` (from :func:`read_archive`) with a column ``identity``: a key that every
    event of one Braze user shares with the events of every id ever linked to that user.

    The ids of an event (``userId``, ``anonymousId``, ``previousId``, the ``braze_id``s,
    and with ``emails`` the email; see :func:`_with_ids`) are vertices; an event that carries
    several links them. The key is the smallest vertex of the connected component, found
    by alternating large-star and small-star rounds (Kiveris et al., "Connected
    Components in MapReduce and Beyond", 2014): a few rounds settle even long chains of
    anonymous ids. An event without any id gets a key of its own, from its file and line.

    The graph is computed now (each round checkpointed: a checkpoint directory if the
    context has one, else a local checkpoint); the keys are joined to ``lines`` lazily.
    Raises :class:`IdentityGraphNotConverged` when ``max_iterations`` rounds do not
    settle it, rather than return keys that could split a user.
    """
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    ids = _with_ids(lines, emails=emails)
    first = F.when(F.size("_ids") > 0, F.col("_ids")[0])
    edges = (ids.where(F.size("_ids") > 1)
             .select(first.alias("a"), F.explode(F.slice("_ids", 2, 1 << 20)).alias("b"))
             .select(F.greatest("a", "b").alias("src"), F.least("a", "b").alias("dst"))
             .distinct())
    labels = _components(_materialise(edges), max_iterations)
    keyed = ids.withColumn("_first", first).join(
        labels.withColumnRenamed("src", "_first").withColumnRenamed("dst", "_label"),
        "_first", "left")
    own = F.xxhash64(F.col("source"), F.col("line"))
    return keyed.withColumn("identity", F.coalesce("_label", "_first", own)).drop(
        "_first", "_label", "_ids")


def _components(edges: DataFrame, max_iterations: int) -> DataFrame:
    """Large-star and small-star rounds until the edges (``src`` > ``dst``) form stars,
    each leaf pointing at its component's smallest vertex: then ``src -> dst`` labels
    every vertex that is not itself a component's smallest."""
    unsettled = 0
    for _ in range(max_iterations):
        edges = _materialise(_small_star(_large_star(edges)))
        unsettled = _unsettled(edges)
        if unsettled == 0:
            return edges
    raise IdentityGraphNotConverged(max_iterations, unsettled)


def _large_star(edges: DataFrame) -> DataFrame:
    """Each vertex's larger neighbours are linked to the smallest of its neighbourhood
    (itself included). May repeat an edge."""
    both = edges.select(F.col("src").alias("u"), F.col("dst").alias("v")).union(
        edges.select(F.col("dst").alias("u"), F.col("src").alias("v")))
    smallest = F.least(F.min("v").over(Window.partitionBy("u")), F.col("u"))
    return both.select("u", "v", smallest.alias("m")).where(F.col("v") > F.col("u")).select(
        F.col("v").alias("src"), F.col("m").alias("dst"))


def _small_star(edges: DataFrame) -> DataFrame:
    """Each vertex and its smaller neighbours are linked to the smallest of them."""
    smallest = F.min("dst").over(Window.partitionBy("src")).alias("m")
    pairs = F.array(F.struct(F.col("dst").alias("src"), F.col("m").alias("dst")),
                    F.struct(F.col("src").alias("src"), F.col("m").alias("dst")))
    linked = edges.select("src", "dst", smallest).select(F.explode(pairs).alias("e")).select(
        "e.src", "e.dst")
    return linked.where(F.col("src") != F.col("dst")).distinct()


def _unsettled(edges: DataFrame) -> int:
    """Vertices that keep the edges from being stars: one linked to two smaller vertices,
    or one that is both a leaf and a centre."""
    ends = edges.select(F.col("src").alias("v"), F.lit(1).alias("out"), F.lit(0).alias("in")
                        ).union(
        edges.select(F.col("dst").alias("v"), F.lit(0).alias("out"), F.lit(1).alias("in")))
    per = ends.groupBy("v").agg(F.sum("out").alias("out"), F.sum("in").alias("in"))
    return per.where((F.col("out") > 1) | ((F.col("out") > 0) & (F.col("in") > 0))).count()


def _materialise(frame: DataFrame) -> DataFrame:
    """Compute ``frame`` now and cut its lineage, so that rounds do not pile up plans: a
    reliable checkpoint when the context has a directory for them, else a local one."""
    context = frame.sparkSession.sparkContext
    if context.getCheckpointDir() is not None:
        return frame.checkpoint(eager=True)
    return frame.localCheckpoint(eager=True)


# -- what the command line writes ------------------------------------------------------
#
# What one line becomes is decided by the command line's own definitions (the archive
# reader's parse_line, the accounting's rejection); the summary's shape is the command
# line's Tally.to_json, rebuilt from Spark's counts by summary_json (the tests hold the
# two equal on the example archive).

#: A problem of a rejected line, as the command line writes it.
PROBLEM: Final = StructType([StructField("path", StringType()),
                             StructField("message", StringType()),
                             StructField("rule", StringType())])

#: A rejected line as ``--rejects`` writes it: source, line, original, problems.
RejectRecord = tuple[str, int, str, list[tuple[str, str, "str | None"]]]


def _line_outcome(translate: Callable[..., Translation], source: str, line: int,
                  raw: bytes, position: int
                  ) -> tuple[Translation | None, str | None, RejectRecord | None]:
    """What the command line makes of one non-blank line: its translation, or the reason
    it was rejected and its ``--rejects`` record, by the command line's own definitions
    (:func:`~segment_braze.archive.parse_line`, :func:`~segment_braze.cli.accounting.
    rejection`)."""
    item = parse_line(source, line, raw)
    problems: Sequence[Problem]
    reason: str
    if item.reason is not None:
        reason, problems = item.reason, item.problems
    else:
        try:
            return translate(item.event, position=position), None, None
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            problems, reason, _ = rejection(error)
    return None, reason, (source, line, item.original,
                          [(p.path, p.message, p.rule) for p in problems])


def summary_json(summary: DataFrame) -> dict[str, Any]:
    """The summary of :func:`translate_archive` as the command line's ``--summary``
    writes it (``read == translated + skipped + rejected``). Reasons beyond the command
    line's 1,000 distinct ones are counted as ``"(other reasons)"``; ``errors`` is always
    empty (a file Spark cannot read fails the job)."""
    counts: dict[tuple[str, str, str], int] = {
        (row["measure"], row["key"], row["part"]): row["count"] for row in summary.collect()}

    def total(measure: str) -> int:
        return sum(n for (m, _, _), n in counts.items() if m == measure)

    def reasons(measure: str) -> dict[str, Any]:
        ranked = sorted(((k, n) for (m, k, _), n in counts.items() if m == measure),
                        key=lambda item: -item[1])
        kept = dict(ranked[:MAX_REASONS])
        rest = sum(n for _, n in ranked[MAX_REASONS:])
        if rest:
            kept["(other reasons)"] = kept.get("(other reasons)", 0) + rest
        return {"total": total(measure), "by_reason": kept}

    endpoints = sorted({k for (m, k, _) in counts if m == "requests"})
    return {
        "read": total("read"),
        "translated": total("translated"),
        "skipped": reasons("skipped"),
        "rejected": reasons("rejected"),
        "notices": total("notices"),
        "requests": {e: {"requests": counts[("requests", e, "")],
                         "objects": {p: n for (m, k, p), n in counts.items()
                                     if m == "objects" and k == e}}
                     for e in endpoints},
        "data_points": total("data_points"),
        "unchanged": 0,
        "data_points_saved": 0,
        "files": total("files"),
        "errors": [],
    }


# -- translating -----------------------------------------------------------------------

#: The rows a partition produces, one kind at a time: ``request`` (a batched request of
#: the lane, ``seq`` its place in it), ``reject``, ``once`` (a request the stream sends
#: once, e.g. a cohort's name: collected by the driver) and ``count`` (accounting).
_OUT: Final = StructType([
    StructField("kind", StringType(), False),
    StructField("lane", IntegerType()),
    StructField("seq", LongType()),
    StructField("endpoint", StringType()),
    StructField("body", StringType()),
    StructField("origins", StringType()),
    StructField("objects", StringType()),
    StructField("source", StringType()),
    StructField("line", LongType()),
    StructField("original", StringType()),
    StructField("problems", ArrayType(PROBLEM)),
    StructField("position", LongType()),
    StructField("measure", StringType()),
    StructField("key", StringType()),
    StructField("part", StringType()),
    StructField("count", LongType()),
])
_FIELDS: Final = tuple(field.name for field in _OUT.fields)

#: The columns of the three results.
REQUEST_COLUMNS: Final = ("lane", "seq", "endpoint", "body", "origins")
REJECT_COLUMNS: Final = ("source", "line", "original", "problems")
SUMMARY_COLUMNS: Final = ("measure", "key", "part", "count")


@attrs.frozen
class ArchiveTranslation:
    """What :func:`translate_archive` returns; unpacks as ``requests, rejects, summary``.
    The three are computed once and kept (memory, then disk) until :meth:`unpersist`."""

    #: ``lane``, ``seq``, ``endpoint``, ``body`` (JSON), ``origins`` (JSON): each lane's
    #: requests in the order to send them; lane -1 (the cohort names) goes first, and no
    #: two other lanes name the same user.
    requests: DataFrame
    #: ``source``, ``line``, ``original``, ``problems``: the command line's rejects.
    rejects: DataFrame
    #: ``measure``, ``key``, ``part``, ``count``: the accounting; :func:`summary_json`
    #: turns it into the command line's summary.
    summary: DataFrame
    #: The partitions' output the three are read from (kept until :meth:`unpersist`).
    kept: DataFrame = attrs.field(repr=False)

    def __iter__(self) -> Iterator[DataFrame]:
        return iter((self.requests, self.rejects, self.summary))

    def unpersist(self) -> None:
        """Free what the translation keeps in memory and on disk."""
        self.kept.unpersist()


def _row(kind: str, **values: Any) -> tuple[Any, ...]:
    return tuple(values.get(name, kind if name == "kind" else None) for name in _FIELDS)


def _request_fields(request: Request) -> dict[str, Any]:
    return {"endpoint": request.endpoint,
            "body": _json.dumps(request.to_json()).decode(),
            "origins": _json.dumps(dict(request.origins)).decode()}


@attrs.frozen
class _Job:
    """What each partition needs to translate: shipped to the executors, where the
    translator is built (the translator itself need not be picklable). The settings
    travel without their secrets, which translation never reads."""

    settings: Settings
    rules: tuple[Rule, ...] | str | None
    clock: Callable[[], datetime] | None
    max_total: int | None

    def translator(self) -> Translator:
        extra: dict[str, Any] = {} if self.clock is None else {"clock": self.clock}
        return Translator(self.settings, rules=_resolve(self.rules), **extra)


def _resolve(rules: tuple[Rule, ...] | str | None) -> tuple[Rule, ...]:
    """The rule table: the default, a tuple, or ``"module:NAME"`` imported where it runs."""
    if rules is None:
        return DEFAULT_RULES
    if isinstance(rules, str):
        module, _, name = rules.partition(":")
        if not module or not name:
            raise ValueError(f"rules must be given as 'module:NAME', got {rules!r}")
        return tuple(getattr(importlib.import_module(module), name))
    return rules


def _without_secrets(settings: Settings) -> Settings:
    """The settings with the REST API key removed and the cohort secrets replaced by a
    stand-in: translation only asks whether cohorts are on."""
    stand_in = "(kept on the driver)" if settings.cohorts_enabled else None
    return attrs.evolve(settings, rest_api_key=None, cohort_client_secret=stand_in,
                        cohort_partner_api_key=stand_in)


class _Counts:
    """A lane's accounting: (measure, key, part) -> count, at most the command line's
    number of distinct reasons per measure."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.reasons: Counter[str] = Counter()

    def add(self, measure: str, key: str = "", part: str = "", count: int = 1) -> None:
        entry = (measure, key, part)
        if key and measure in ("skipped", "rejected") and entry not in self.counts:
            if self.reasons[measure] >= MAX_REASONS:
                entry = (measure, "(other reasons)", part)
            else:
                self.reasons[measure] += 1
        self.counts[entry] += count

    def rows(self) -> Iterator[tuple[Any, ...]]:
        for (measure, key, part), count in self.counts.items():
            yield _row("count", measure=measure, key=key, part=part, count=count)


class _Runs:
    """The requests sent once per stream (a cohort's name), as runs of one body per group
    and where each run starts and ends, for the driver to merge across lanes."""

    def __init__(self) -> None:
        #: Per (endpoint, group): the body, the request, and where the run starts and
        #: ends, each as (position, order seen).
        self.open: dict[tuple[str, str], list[Any]] = {}
        self.done: list[tuple[Any, ...]] = []
        self.seen = 0

    def add(self, request: Request, position: int) -> None:
        endpoint = endpoint_of(request)
        key = (request.endpoint, _json.text([getattr(request, f) for f in endpoint.group]))
        body = _json.text([getattr(request, f) for f in endpoint.distinct])
        self.seen += 1
        at = (position, self.seen)
        run = self.open.get(key)
        if run is not None and run[0] == body:
            run[3] = at
            return
        if run is not None:
            self.done += self._rows(key, run)
        self.open[key] = [body, request, at, at]

    def rows(self) -> Iterator[tuple[Any, ...]]:
        yield from self.done
        for key, run in self.open.items():
            yield from self._rows(key, run)

    @staticmethod
    def _rows(key: tuple[str, str], run: list[Any]) -> list[tuple[Any, ...]]:
        body, request, first, last = run
        counted = _json.text(dict(objects(request)))
        return [_row("once", position=position, seq=seen, key=key[1], part=body,
                     objects=counted, **_request_fields(request))
                for position, seen in sorted({first, last})]


def _lane(lane: int, rows: Iterable[Any], job: _Job) -> Iterator[tuple[Any, ...]]:
    """Translate and batch one partition, in its order: its requests (numbered), its
    rejects, its once-per-stream requests and its accounting."""
    translate = job.translator().translate
    counts = _Counts()
    runs = _Runs()
    rejects: list[tuple[Any, ...]] = []

    def requests() -> Iterator[Request]:
        for source, line, position, raw in rows:
            counts.add("read")
            translation, reason, record = _line_outcome(translate, source, line, bytes(raw),
                                                        position)
            if translation is None:
                counts.add("rejected", reason or "")
                rejects.append(_row("reject", **dict(zip(REJECT_COLUMNS, record or (),
                                                         strict=True))))
                continue
            if translation.skipped is not None:
                counts.add("skipped", translation.skipped)
                continue
            counts.add("translated")
            if translation.notices:
                counts.add("notices", count=len(translation.notices))
            for request in translation.requests:
                counts.add("data_points", count=data_points(request))
                if endpoint_of(request).batching == "once":
                    runs.add(request, position)
                else:
                    yield request

    for seq, request in enumerate(iter_batches(requests(), max_total=job.max_total)):
        counts.add("requests", request.endpoint)
        for name, size in objects(request):
            counts.add("objects", request.endpoint, name, size)
        if rejects:
            yield from rejects
            rejects.clear()
        yield _row("request", lane=lane, seq=seq, **_request_fields(request))
    yield from rejects
    yield from runs.rows()
    yield from counts.rows()


def translate_archive(lines: DataFrame, settings: Settings, *,
                      rules: Sequence[Rule] | str | None = None,
                      partitions: int | None = None, max_total: int | None = None,
                      clock: Callable[[], datetime] | None = None,
                      emails: bool | None = None) -> ArchiveTranslation:
    """Translate and batch ``lines`` (from :func:`read_archive`, or from
    :func:`identity_keys`) as the command line would, a partition at a time.

    Lines are partitioned by their ``identity`` key (computed here if the column is
    missing, with ``emails`` defaulting to ``settings.email_identifier``) into
    ``partitions`` lanes (default: one per :data:`EVENTS_PER_LANE` events, counted first,
    at most the context's default parallelism), ordered in each by ``position``, and
    translated and batched there with :class:`~segment_braze.Translator` (built on each
    executor from ``settings`` and ``rules``: the default table, a tuple, or
    ``"module:NAME"`` importable on the executors) and
    :func:`~segment_braze.iter_batches` (``max_total`` as on the command line). A
    request sent once per stream (a cohort's name) is collected by the driver and goes
    out once, in lane -1.

    Runs the translation now, keeps its output (memory, then disk) and returns it as
    :class:`ArchiveTranslation`: ``requests``, ``rejects`` and ``summary``.
    """
    spark = lines.sparkSession
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a Settings, got {type(settings).__name__}")
    table = tuple(rules) if rules is not None and not isinstance(rules, str) else rules
    Translator(settings, rules=_resolve(table))  # settings and rules checked here, once
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    job = _Job(_without_secrets(settings), table, clock, max_total)
    lanes = partitions or _lanes(lines)
    if "identity" not in lines.columns:
        lines = identity_keys(
            lines, emails=settings.email_identifier if emails is None else emails)
    ordered = (lines.repartition(lanes, "identity").sortWithinPartitions("position")
               .select("source", "line", "position", F.col("value").cast("binary")))
    out = ordered.rdd.mapPartitionsWithIndex(
        lambda lane, rows: _lane(lane, rows, job))
    kept = spark.createDataFrame(out, _OUT, verifySchema=False).persist(
        StorageLevel.MEMORY_AND_DISK)
    once = kept.where(F.col("kind") == "once").collect()  # runs the translation
    names = _once(once)
    requests = kept.where(F.col("kind") == "request").select(*REQUEST_COLUMNS)
    if names:
        requests = spark.createDataFrame(
            [(NAMES_LANE, seq, row["endpoint"], row["body"], row["origins"])
             for seq, row in enumerate(names)],
            StructType([_OUT[c] for c in REQUEST_COLUMNS]),
        ).coalesce(1).union(requests)
    named = [("requests", row["endpoint"], "", 1) for row in names] + [
        ("objects", row["endpoint"], part, count)
        for row in names for part, count in _json.loads(row["objects"]).items()]
    named.append(("files", "", "", len(lines.inputFiles())))
    counted = kept.where(F.col("kind") == "count").select(*SUMMARY_COLUMNS).union(
        spark.createDataFrame(named, StructType([_OUT[c] for c in SUMMARY_COLUMNS])))
    summary = counted.groupBy("measure", "key", "part").agg(F.sum("count").alias("count"))
    rejects = kept.where(F.col("kind") == "reject").select(*REJECT_COLUMNS)
    return ArchiveTranslation(requests, rejects, summary, kept)


def _lanes(lines: DataFrame) -> int:
    """One lane per :data:`EVENTS_PER_LANE` events (counted now), at most the context's
    default parallelism, at least one."""
    most = lines.sparkSession.sparkContext.defaultParallelism
    return max(1, min(most, -(-lines.count() // EVENTS_PER_LANE)))


def _once(rows: Sequence[Any]) -> list[Any]:
    """The once-per-stream requests of every lane, merged in stream order: one per run of
    a body in a group, again when the body changes (a rename), so the last one wins as
    it would in one stream."""
    sent: dict[tuple[str, str], str] = {}
    out = []
    for row in sorted(rows, key=lambda r: (r["position"], r["seq"])):
        group = (row["endpoint"], row["key"])
        if sent.get(group) != row["part"]:
            sent[group] = row["part"]
            out.append(row)
    return out


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
