"""What a delivery did: per endpoint, entries delivered, refused, given up on and skipped,
requests retried and rate limited, and how long Braze took to answer.

Entries are what Braze counts (objects of ``/users/track``, ids of a deletion, members of
a cohort change); ``dead_lettered`` is ``refused + gave_up``, every one of them written
to the dead letter when there is one. ``retried`` counts answers that asked for another
try (429, 423, 5xx, transport errors), ``rate_limited`` the 429s among them. Latencies
are the transport's round trips in milliseconds, every attempt counted.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

__all__ = ["COUNTS", "DeliveryReport", "EndpointReport", "Latency"]

#: The counters of an endpoint, in the order they are shown.
COUNTS: Final = ("requests", "attempts", "delivered", "refused", "gave_up", "skipped",
                 "retried", "rate_limited", "warnings")


@attrs.frozen
class Latency:
    """Percentiles of round trips, in milliseconds (``None`` without any)."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        if not seconds:
            return cls()
        ordered = sorted(seconds)

        def at(share: float) -> float:
            rank = max(math.ceil(share * len(ordered)) - 1, 0)
            return round(ordered[rank] * 1000, 3)

        return cls(count=len(ordered), p50=at(0.5), p90=at(0.9), p99=at(0.99),
                   max=round(ordered[-1] * 1000, 3))

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class EndpointReport:
    """One endpoint's figures (see the module's docstring)."""

    endpoint: str
    requests: int = 0
    attempts: int = 0
    delivered: int = 0
    refused: int = 0
    gave_up: int = 0
    skipped: int = 0
    retried: int = 0
    rate_limited: int = 0
    warnings: int = 0
    latency: Latency = Latency()

    @property
    def dead_lettered(self) -> int:
        """Entries refused or given up on."""
        return self.refused + self.gave_up

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNTS}
        out["dead_lettered"] = self.dead_lettered
        out["latency_ms"] = self.latency.to_json()
        return out


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """A delivery's figures: per endpoint, in total, and the seconds it took.
    ``complete`` is false for a snapshot taken while requests are still in flight (what
    the progress callback receives) and for a delivery stopped by an error."""

    endpoints: Mapping[str, EndpointReport]
    seconds: float
    lanes: int
    in_flight: int = 0
    complete: bool = True
    latency: Latency = Latency()
    #: A few of Braze's minor errors that named no entry (the entries were delivered).
    warnings: tuple[str, ...] = ()

    def total(self, count: str) -> int:
        """One counter (``"delivered"``, ``"dead_lettered"``, ...) over every endpoint."""
        return sum(getattr(e, count) for e in self.endpoints.values())

    @property
    def delivered(self) -> int:
        return self.total("delivered")

    @property
    def dead_lettered(self) -> int:
        return self.total("dead_lettered")

    @property
    def requests_per_second(self) -> float:
        return self.total("requests") / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the totals, each endpoint, the latencies."""
        totals: dict[str, Any] = {name: self.total(name) for name in COUNTS}
        totals["dead_lettered"] = self.dead_lettered
        return {"seconds": round(self.seconds, 3), "lanes": self.lanes,
                "complete": self.complete, "in_flight": self.in_flight,
                "requests_per_second": round(self.requests_per_second, 1),
                "totals": totals, "latency_ms": self.latency.to_json(),
                "endpoints": {path: e.to_json() for path, e in sorted(self.endpoints.items())},
                "warnings": list(self.warnings)}

    def render(self) -> str:
        """The report for people: one line per endpoint."""
        lines = [f"delivery: {self.total('requests'):,} requests in {self.seconds:.2f} s "
                 f"({self.requests_per_second:,.1f}/s) over {self.lanes} lanes"]
        for path, e in sorted(self.endpoints.items()):
            lines.append(f"  {path}: {e.delivered:,} delivered, {e.dead_lettered:,} "
                         f"dead-lettered ({e.refused:,} refused, {e.gave_up:,} given up), "
                         f"{e.skipped:,} skipped as already delivered, {e.retried:,} "
                         f"retried ({e.rate_limited:,} rate limited)")
        if self.latency.count:
            lines.append(f"  latency: p50 {self.latency.p50} ms, p90 {self.latency.p90} ms, "
                         f"p99 {self.latency.p99} ms, max {self.latency.max} ms")
        return "\n".join(lines)


#: Warnings kept word for word; the rest are only counted.
MAX_WARNINGS: Final = 20


class Tally:
    """The mutable figures a delivery keeps while it runs; :meth:`report` freezes them."""

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self.counts: dict[str, dict[str, int]] = {}
        self.latencies: dict[str, array[float]] = {}
        self.warnings: list[str] = []

    def of(self, endpoint: str) -> dict[str, int]:
        counts = self.counts.get(endpoint)
        if counts is None:
            counts = self.counts[endpoint] = dict.fromkeys(COUNTS, 0)
            self.latencies[endpoint] = array("d")
        return counts

    def warn(self, endpoint: str, message: str) -> None:
        self.of(endpoint)["warnings"] += 1
        if len(self.warnings) < MAX_WARNINGS and message not in self.warnings:
            self.warnings.append(message)

    def report(self, seconds: float, *, in_flight: int = 0, complete: bool = True,
               latencies: bool = True) -> DeliveryReport:
        """The figures so far; ``latencies=False`` leaves out the percentiles (they sort
        every round trip: fine once at the end, not for every progress report)."""
        def latency(times: Sequence[float]) -> Latency:
            return Latency.of(times) if latencies else Latency()

        endpoints = {path: EndpointReport(endpoint=path, **counts,
                                          latency=latency(self.latencies[path]))
                     for path, counts in self.counts.items()}
        every = [t for times in self.latencies.values() for t in times] if latencies else []
        return DeliveryReport(endpoints=endpoints, seconds=seconds, lanes=self.lanes,
                              in_flight=in_flight, complete=complete,
                              latency=latency(every), warnings=tuple(self.warnings))
