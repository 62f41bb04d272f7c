"""Translating a keyed archive a lane at a time, with the command line's accounting."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import attrs
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from .. import _json
from ..archive import parse_line
from ..batching import endpoint_of, iter_batches
from ..braze import Request
from ..cli.accounting import MAX_REASONS, data_points, objects, rejection
from ..errors import Problem
from ..rules import DEFAULT_RULES, Rule
from ..settings import Settings
from ..translate import Translation, Translator
from .identity import identity_keys

#: Events per lane when :func:`translate_archive` chooses the number of lanes: batching
#: fills requests from the users that interleave in a lane, so a lane of few users sends
#: more, smaller requests (see docs/scaling.md).
EVENTS_PER_LANE: Final = 100_000

#: The ``lane`` of the cohort-name requests, which the driver sends once, before the
#: partitions' lanes.
NAMES_LANE: Final = -1


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
