"""Accounting: every line read ends up translated (or converted), skipped or rejected.

:class:`Tally` (``translate``, ``validate``) and :class:`CurrentsTally` (``currents``)
count what a run read and what became of each line, render the summary for people and as
JSON, and check that it adds up (``read == done + skipped + rejected``). :class:`Rejects`
counts rejected lines and writes them to ``--rejects``. What a request holds and what
its attribute writes cost (:func:`data_points`) are read from its endpoint's declaration
(``type(request).ENDPOINT``), so a new endpoint is counted without an edit here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar, Final, NamedTuple

from ..archive import EventLine
from ..braze import Request
from ..errors import InvalidEvent, Problem
from ..tracking import SUBSCRIPTION_FIELDS
from .usage import PROG

if TYPE_CHECKING:
    from ..translate import Translation

__all__ = [
    "FREE_ATTRIBUTES",
    "MAX_REASONS",
    "Accounts",
    "CurrentsTally",
    "Reasons",
    "Rejection",
    "Rejects",
    "Tally",
    "data_points",
    "failed_line",
    "objects",
    "rejected_line",
    "rejection",
]

#: Distinct reasons kept per summary table; the rest are counted as "other reasons", so a
#: stream with a new reason on every line cannot grow the summary without bound.
MAX_REASONS: Final = 1000

#: Keys of an attributes object that Braze does not bill as data points: the
#: subscription fields. Identifiers and ``_update_existing_only`` / ``_merge_objects`` are
#: not attribute values at all (they live beside ``values`` in the model).
FREE_ATTRIBUTES: Final = SUBSCRIPTION_FIELDS

_INDEX: Final = re.compile(r"\[\d+\]")


def data_points(request: Request) -> int:
    """The Braze data points the attribute writes of ``request`` cost: one per attribute
    key written in each entry of a part whose declared effect is ``"values"`` (a user
    attributes object), except the subscription fields (:data:`FREE_ATTRIBUTES`), which
    Braze does not bill. Identifiers and the ``_update_existing_only`` /
    ``_merge_objects`` flags are not attributes.

    An estimate from the request alone: Braze bills a write whether or not the value
    changes, and events and purchases (billed separately) are not counted here.
    """
    total = 0
    for part in type(request).ENDPOINT.parts:
        if part.effect != "values":
            continue
        for entry in request.entries(part):
            values = entry.values
            total += len(values)
            for key in FREE_ATTRIBUTES:
                if key in values:
                    total -= 1
    return total


def objects(request: Request) -> Iterator[tuple[str, int]]:
    """``(array, count)`` for each non-empty array of the request's body, in the
    declaration's order: the objects Braze receives. (For the cohort membership endpoint
    that is the ``cohort_changes`` objects, not the users they name.) A request whose
    body is one entry (``single``: a cohort's name) is one object, called after its
    endpoint (``/partners/segment/cohorts``: ``cohorts``)."""
    endpoint = type(request).ENDPOINT
    for part in endpoint.parts:
        if part.single:
            yield endpoint.path.rsplit("/", 1)[-1], 1
            continue
        count = len(getattr(request, part.name))
        if count:
            yield part.name, count


class Reasons:
    """Counts by reason, keeping at most :data:`MAX_REASONS` distinct ones, with the first
    message seen for each (a reason is a JSON path for rejected events)."""

    __slots__ = ("counts", "examples", "mixed")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.mixed: set[str] = set()

    def add(self, reason: str, example: str = "") -> None:
        counts = self.counts
        if reason not in counts and len(counts) >= MAX_REASONS:
            reason, example = "(other reasons)", ""
        counts[reason] += 1
        seen = self.examples.setdefault(reason, example)
        if seen != example:
            self.mixed.add(reason)

    def label(self, reason: str) -> str:
        example = self.examples.get(reason, "")
        if not example:
            return reason
        more = " (and other messages)" if reason in self.mixed else ""
        return f"{reason}: {example}{more}"


class Accounts:
    """What a run read, skipped and rejected: the part of the accounting every command
    shares. A subclass names what became of the other lines (:attr:`DONE`) and counts
    them in :attr:`done`, so the summary can check ``read == done + skipped + rejected``.
    """

    #: The word for the lines that went through ("translated", "converted").
    DONE: ClassVar[str] = "done"

    def __init__(self) -> None:
        self.read = 0
        self.skipped = Reasons()
        self.rejected = Reasons()
        self.files = 0
        self.errors: list[str] = []

    @property
    def done(self) -> int:
        raise NotImplementedError

    @property
    def skipped_total(self) -> int:
        return self.skipped.counts.total()

    @property
    def rejected_total(self) -> int:
        return self.rejected.counts.total()

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON (``--summary``)."""
        raise NotImplementedError

    def balanced(self) -> bool:
        """Every line read is accounted for exactly once."""
        return self.read == self.done + self.skipped_total + self.rejected_total

    def _json_counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            self.DONE: self.done,
            "skipped": {"total": self.skipped_total, "by_reason": dict(self.skipped.counts)},
            "rejected": {"total": self.rejected_total,
                         "by_reason": dict(self.rejected.counts)},
        }

    def _render_counts(self, seconds: float) -> list[str]:
        """The first lines of the summary: what was read, and what became of it."""
        rate = f", {self.read / seconds:,.0f} lines/s" if seconds > 0 and self.read else ""
        files = "file" if self.files == 1 else "files"
        lines = [f"{PROG}: {self.read:,} lines read from {self.files:,} {files} in "
                 f"{seconds:.2f} s{rate}",
                 f"  {self.DONE:<10} {self.done:>12,}"]
        for title, reasons, total in (("skipped", self.skipped, self.skipped_total),
                                      ("rejected", self.rejected, self.rejected_total)):
            lines.append(f"  {title:<10} {total:>12,}")
            ranked = reasons.counts.most_common()
            for reason, count in ranked[:10]:
                lines.append(f"    {count:>10,}  {reasons.label(reason)}")
            if len(ranked) > 10:
                rest = sum(c for _, c in ranked[10:])
                lines.append(f"    {rest:>10,}  ({len(ranked) - 10} more reasons)")
        return lines


class Tally(Accounts):
    """What a run of ``translate`` or ``validate`` read, translated, skipped, rejected
    and produced."""

    DONE = "translated"

    def __init__(self) -> None:
        super().__init__()
        self.translated = 0
        self.notices = 0
        self.data_points = 0
        #: With --state: attribute values left out as unchanged.
        self.tracking = False
        self.unchanged = 0
        self.requests: Counter[str] = Counter()
        self.objects: dict[str, Counter[str]] = {}

    @property
    def done(self) -> int:
        return self.translated

    @property
    def data_points_saved(self) -> int:
        """The data points the values left out as unchanged would have cost (the
        :func:`data_points` rule): one each, since the tracker never leaves out a
        subscription field (they are among those it always sends)."""
        return self.unchanged

    def count_unchanged(self, names: Sequence[str]) -> None:
        """Attribute values left out as unchanged."""
        self.unchanged += len(names)

    def accept(self, translation: Translation) -> tuple[Request, ...]:
        """Count one translation, translated or skipped (with its notices, the data
        points of its requests and the values left out as unchanged): the requests to
        write, none when it was skipped."""
        if translation.unchanged:
            self.count_unchanged(translation.unchanged)
        reason = translation.skipped
        if reason is not None:
            self.skipped.add(reason)
            return ()
        self.translated += 1
        if translation.notices:
            self.notices += len(translation.notices)
        requests = translation.requests
        for request in requests:
            self.data_points += data_points(request)
        return requests

    def count_request(self, request: Request) -> None:
        """A request written (or, for ``validate``, that would be): its objects."""
        endpoint = request.endpoint
        self.requests[endpoint] += 1
        counts = self.objects.get(endpoint)
        if counts is None:
            counts = self.objects[endpoint] = Counter()
        for name, count in objects(request):
            counts[name] += count

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON (``--summary``)."""
        return {
            **self._json_counts(),
            "notices": self.notices,
            "requests": {e: {"requests": n, "objects": dict(self.objects[e])}
                         for e, n in sorted(self.requests.items())},
            "data_points": self.data_points,
            "unchanged": self.unchanged,
            "data_points_saved": self.data_points_saved,
            "files": self.files,
            "errors": list(self.errors),
        }

    def render(self, *, seconds: float, written: bool) -> str:
        """The summary for people (standard error)."""
        lines = self._render_counts(seconds)
        if self.notices:
            lines.append(f"  notices    {self.notices:>12,}  values dropped or fixed in "
                         "translated events")
        lines.append("  requests written" if written else "  requests (not written)")
        if not self.requests:
            lines.append("    none")
        width = max((len(endpoint) for endpoint in self.requests), default=0)
        for endpoint, count in sorted(self.requests.items()):
            counts = self.objects[endpoint]
            arrays = ", ".join(f"{name} {n:,}" for name, n in counts.items())
            noun = "request" if count == 1 else "requests"
            lines.append(f"    {endpoint:<{width}} {count:>10,} {noun:<8} "
                         f"{counts.total():>10,} objects ({arrays})")
        lines.append(f"  data points of attribute writes: {self.data_points:,}")
        if self.tracking:
            lines.append(f"  attribute values dropped as unchanged: {self.unchanged:,}")
            would = self.data_points + self.data_points_saved
            share = f" ({self.data_points_saved / would:.0%} of {would:,})" if would else ""
            lines.append(f"  data points saved: {self.data_points_saved:,}{share}")
        return "\n".join(lines)


class CurrentsTally(Accounts):
    """What a run of ``currents`` read, converted, skipped and rejected, and the Segment
    messages it wrote by event name (one per converted line; the names come from the
    export table, so the count stays small)."""

    DONE = "converted"

    def __init__(self) -> None:
        super().__init__()
        self.messages: Counter[str] = Counter()

    @property
    def done(self) -> int:
        return self.messages.total()

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON (``--summary``)."""
        return {
            **self._json_counts(),
            "messages": {"total": self.messages.total(), "by_event": dict(self.messages)},
            "files": self.files,
            "errors": list(self.errors),
        }

    def render(self, *, seconds: float) -> str:
        """The summary for people (standard error)."""
        lines = self._render_counts(seconds)
        lines.append("  messages written")
        if not self.messages:
            lines.append("    none")
        for event, count in sorted(self.messages.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {count:>10,}  {event}")
        return "\n".join(lines)


class Rejection(NamedTuple):
    """One rejected line, as counted and written: the ``reason`` it is counted under,
    the ``example`` message shown beside it, and the ``record`` written to ``--rejects``
    (source, line, original, problems). Plain data, so that a worker process can make it
    and send it back (``--jobs``)."""

    reason: str
    example: str
    record: dict[str, Any]


def rejected_line(item: EventLine, problems: Sequence[Problem], reason: str,
                  example: str = "") -> Rejection:
    """``item`` rejected for ``problems``, counted under ``reason`` (with ``example`` as
    the message shown beside it)."""
    return Rejection(reason, example, {
        "source": item.source,
        "line": item.line,
        "original": item.original,
        "problems": [p.to_json() for p in problems],
    })


def failed_line(item: EventLine, error: Exception) -> Rejection:
    """``item`` rejected because its command could not convert it (see
    :func:`rejection`)."""
    return rejected_line(item, *rejection(error))


def rejection(error: Exception) -> tuple[tuple[Problem, ...], str, str]:
    """A line that could not be converted, as the summary counts it: its problems, the
    reason (the path of its first problem, array indexes folded, so one reason covers
    every item) and the message shown beside the reason; any exception other than
    :class:`~segment_braze.InvalidEvent` (a bug) is an internal error, so the run goes
    on."""
    if isinstance(error, InvalidEvent):
        first = error.problems[0] if error.problems else Problem("$", "rejected")
        return error.problems, "at " + _INDEX.sub("[*]", first.path), first.message
    return ((Problem("$", f"internal error, please report it: "
                          f"{type(error).__name__}: {error}"),),
            "internal error (please report it)", "")


class Rejects:
    """Counts rejected lines and writes each, with its source, line number and
    problems, to ``--rejects`` (when ``out`` is not ``None``)."""

    def __init__(self, tally: Accounts, out: IO[bytes] | None,
                 dumps: Callable[[Any], bytes]) -> None:
        self.tally = tally
        self.out = out
        self.dumps = dumps

    def add(self, item: EventLine, problems: Sequence[Problem], reason: str,
            example: str = "") -> None:
        """Reject ``item``: counted under ``reason`` (with ``example`` as the message
        shown beside it) and written with every problem."""
        self.write(rejected_line(item, problems, reason, example))

    def failed(self, item: EventLine, error: Exception) -> None:
        """Reject a line its command could not convert (see :func:`rejection`)."""
        self.write(failed_line(item, error))

    def write(self, rejected: Rejection) -> None:
        """Count a rejected line and write its record."""
        self.tally.rejected.add(rejected.reason, rejected.example)
        if self.out is None:
            return
        self.out.write(self.dumps(rejected.record))
        self.out.write(b"\n")
