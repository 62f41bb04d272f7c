"""Pacing and retrying: Braze's rate limits kept from the sending side.

**Pacing.** Each endpoint declares Braze's documented limit (``ENDPOINT.rate_limit``:
``requests`` per ``seconds``, shared by every endpoint of the same ``bucket``: delete,
identify, merge and alias share 20,000 a minute). The :class:`Pacer` spaces the requests
of a bucket evenly, ``seconds / requests`` apart (times ``1 / headroom``), across all
lanes: no burst, so no window of ``seconds`` ever holds more than ``requests``. Braze's
answers tighten it: ``X-RateLimit-Remaining`` spread over the time to
``X-RateLimit-Reset`` slows the bucket down when another client shares the key, a spent
window (``Remaining: 0``) and a 429 pause the whole bucket until the reset (or
``Retry-After``).

**Retrying.** :class:`Retry` says how often and how long: 429, 423 (a cohort locked by
another import), 5xx and exceptions of the transport are retried; a wait Braze gives is
kept (up to ``max_wait``), otherwise the wait grows exponentially from ``base`` up to
``cap`` with full jitter (a random fraction of it), so lanes that failed together do not
retry together. A 429 is Braze asking to slow down, not a failure: it counts against
``rate_limited``, not ``attempts``.

No retry library: a retry here is not "call this function again". The wait comes from
Braze's answer, a 429 pauses a bucket shared by every lane rather than one call, each
attempt's outcome must reach change tracking and the report, and the same policy drives
threads and asyncio. ``stamina`` and ``tenacity`` retry a call on exceptions; fitting
them would mean raising an exception per answer and keeping the pacing beside them, for
a few lines of arithmetic they would replace.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final

import attrs

from ..limits import RateLimit
from ..responses import RateLimitState

__all__ = ["HEADROOM", "Pacer", "Retry"]

#: The share of a documented rate the pacer uses: a little room for clocks that differ
#: and for requests that travel at different speeds.
HEADROOM: Final = 0.9


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a whole number >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class Retry:
    """How a request Braze asks to retry is sent again.

    ``attempts``: tries in all, 429s aside; ``rate_limited``: 429s tolerated for one
    request; ``base`` and ``cap``: the first and the longest backoff (seconds) when Braze
    gives no wait; ``max_wait``: the longest wait taken from Braze's answer.
    """

    attempts: int = attrs.field(default=6, validator=_count)
    rate_limited: int = attrs.field(default=30, validator=_count)
    base: float = attrs.field(default=0.5, validator=_positive)
    cap: float = attrs.field(default=30.0, validator=_positive)
    max_wait: float = attrs.field(default=300.0, validator=_positive)

    def backoff(self, failures: int, told: float | None, draw: Callable[[], float]) -> float:
        """Seconds before the next try after ``failures`` failed tries in a row (429s
        aside): Braze's wait ``told`` when given, plus up to a tenth for spread; else a
        random fraction of ``base * 2 ** (failures - 1)``, at most ``cap``."""
        if told is not None:
            wait = min(told, self.max_wait)
            return wait + draw() * min(wait / 10 + 0.01, 1.0)
        return draw() * min(self.cap, self.base * 2.0 ** max(failures - 1, 0))


class _Bucket:
    __slots__ = ("interval", "next", "paused", "tight", "tight_until")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next = 0.0
        self.paused = 0.0
        self.tight = 0.0
        self.tight_until = 0.0


class Pacer:
    """Spaces requests per rate-limit bucket, for every lane at once (thread-safe).

    ``limits`` replaces the documented limit of a bucket (by name: ``"users/track"``), for
    accounts whose contract sets another; ``clock`` is monotonic seconds.
    """

    def __init__(self, *, limits: Mapping[str, RateLimit] | None = None,
                 headroom: float = HEADROOM,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom!r}")
        self.limits = dict(limits or {})
        self.headroom = headroom
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def limit(self, declared: RateLimit) -> RateLimit:
        """The limit in force for a declared one."""
        return self.limits.get(declared.bucket, declared)

    def _bucket(self, declared: RateLimit) -> _Bucket:
        bucket = self._buckets.get(declared.bucket)
        if bucket is None:
            limit = self.limit(declared)
            interval = limit.seconds / (limit.requests * self.headroom)
            bucket = self._buckets[declared.bucket] = _Bucket(interval)
        return bucket

    def reserve(self, declared: RateLimit) -> float:
        """Take the bucket's next moment if it has come (``0.0``: send now), else the
        seconds to wait before asking again. Nothing is held while waiting, so a lane
        that wakes late never sends on a moment that has passed, and a pause declared
        meanwhile is seen."""
        with self._lock:
            bucket = self._bucket(declared)
            now = self.clock()
            at = max(bucket.next, bucket.paused)
            if at > now:
                return at - now
            interval = bucket.interval
            if now < bucket.tight_until and bucket.tight > interval:
                interval = bucket.tight
            bucket.next = now + interval
            return 0.0

    def pause(self, declared: RateLimit, seconds: float) -> None:
        """Nothing goes to the bucket for ``seconds`` (a 429, a spent window)."""
        with self._lock:
            bucket = self._bucket(declared)
            bucket.paused = max(bucket.paused, self.clock() + seconds)

    def observe(self, declared: RateLimit, state: RateLimitState) -> None:
        """Tighten the bucket by what an answer's rate-limit headers say: the requests
        left spread over the time left, or a pause until the reset when none is left."""
        left, remaining = state.reset_after, state.remaining
        if left is None or remaining is None or left <= 0:
            return
        if remaining == 0:
            self.pause(declared, left)
            return
        with self._lock:
            bucket = self._bucket(declared)
            bucket.tight = left / (remaining * self.headroom)
            bucket.tight_until = self.clock() + left


def jitter() -> float:
    """A random fraction in [0, 1) for spreading retries (not for secrets)."""
    return random.random()  # noqa: S311
