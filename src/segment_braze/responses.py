"""Reading Braze's answers: one :class:`Outcome` per source event of a request.

``interpret_response(request, status, headers, body)`` classifies Braze's answer to one
request for each event whose entries it carried: delivered (maybe with Braze's minor
errors about that event), retry (429 and 5xx, with how long to wait) or failed (Braze
refused the whole request).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any, Final, Literal, Protocol, TypeAlias

import attrs

from . import _json
from .braze import Origin, Request

__all__ = [
    "ErrorDetail",
    "Headers",
    "Outcome",
    "OutcomeStatus",
    "RateLimitState",
    "interpret_response",
    "rate_limit_state",
]

OutcomeStatus: TypeAlias = Literal["delivered", "retry", "failed"]


class Headers(Protocol):
    """Response headers: a mapping, or anything with ``items()`` such as the standard
    library's ``http.client.HTTPMessage``."""

    def items(self) -> Iterable[tuple[str, str]]: ...


@attrs.frozen
class ErrorDetail:
    """One entry of Braze's ``errors`` array: its text, and the array and index of the
    object it names when Braze says (``{"type": ..., "input_array": "events", "index":
    3}``)."""

    message: str
    array: str | None = None
    index: int | None = None

    def to_json(self) -> dict[str, Any]:
        """As a JSON object: ``message``, and ``array`` and ``index`` when known."""
        out: dict[str, Any] = {"message": self.message}
        if self.array is not None:
            out["array"] = self.array
        if self.index is not None:
            out["index"] = self.index
        return out


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of one source event's objects in one request.

    ``status`` is ``"delivered"`` (2xx; ``errors`` lists Braze's minor errors about this
    event, which Braze skipped while processing the rest), ``"retry"`` (429 or 5xx: send
    the request again, after ``retry_after`` seconds when Braze said how long) or
    ``"failed"`` (any other status: Braze refused the whole request; sending it again
    unchanged will fail again). ``message`` is Braze's message or the first minor error
    concerning this event, else ``None``.
    """

    origin: Origin
    status: OutcomeStatus
    http_status: int
    message: str | None = None
    retry_after: float | None = None
    errors: tuple[ErrorDetail, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As a JSON object (for logs and dead-letter files): every field, the errors as
        objects."""
        return {"origin": self.origin, "status": self.status,
                "http_status": self.http_status, "message": self.message,
                "retry_after": self.retry_after,
                "errors": [error.to_json() for error in self.errors]}


_DECODE_ERRORS: Final[tuple[type[Exception], ...]] = (*_json.DecodeError, TypeError)

#: Longest piece of a non-JSON body kept as a message (proxies answer with HTML pages).
_BODY_EXCERPT: Final = 200


def _payload(body: bytes | str | None) -> tuple[Mapping[str, Any] | None, str | None]:
    """The JSON object in ``body``, else ``None`` and a short excerpt of the text."""
    if body is None or not isinstance(body, (bytes, str)) or not body:
        return None, None
    try:
        data = _json.loads(body)
    except _DECODE_ERRORS:
        data = None
    if isinstance(data, Mapping):
        return data, None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())[:_BODY_EXCERPT]
    return None, text or None


def _error_detail(entry: Any) -> ErrorDetail:
    """One ``errors`` entry as data, whatever its shape."""
    if isinstance(entry, str):
        return ErrorDetail(entry)
    if not isinstance(entry, Mapping):
        return ErrorDetail(_json.text(entry))
    message = next((entry[key] for key in ("type", "message", "error")
                    if isinstance(entry.get(key), str)), None)
    index = entry.get("index")
    array = next((entry[key] for key in ("input_array", "array")
                  if isinstance(entry.get(key), str)), None)
    return ErrorDetail(message if message is not None else _json.text(entry), array=array,
                       index=index if type(index) is int else None)


def _error_details(payload: Mapping[str, Any] | None) -> tuple[ErrorDetail, ...]:
    errors = payload.get("errors") if payload is not None else None
    if errors is None:
        return ()
    if not isinstance(errors, list):
        errors = [errors]
    return tuple(_error_detail(entry) for entry in errors)


def _targets(request: Request, error: ErrorDetail) -> list[Origin] | None:
    """The origins an error names, or ``None`` when it concerns the whole request (no
    index, or one that points nowhere). An index without an array name may point into
    any array that long; every such candidate is named."""
    index = error.index
    if index is None or index < 0:
        return None
    arrays = [error.array] if error.array is not None else list(request.arrays)
    found = [origins[index] for origins in (request.origins.get(name) for name in arrays)
             if origins is not None and index < len(origins)]
    return found or None


def _ordered_origins(request: Request) -> list[Origin]:
    """Each origin once, in the order Braze applies the request's entries, then the
    origins kept under other names (a cohort's name; superseded cohort changes)."""
    origins = request.origins
    arrays = request.arrays
    names = (*arrays, *(key for key in origins if key not in arrays))
    return list(dict.fromkeys(chain.from_iterable(origins.get(name, ()) for name in names)))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _reset_wait(value: str | None, now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset``. Braze sends epoch seconds; a value too small
    to be one is read as seconds to wait, one too large as epoch milliseconds."""
    reset = _number(value)
    if reset is None:
        return None
    if reset < 1e9:
        return max(0.0, reset)
    if reset > 1e12:
        reset /= 1000
    return max(0.0, reset - now)


def _retry_after_wait(value: str | None, now: float) -> float | None:
    """Seconds from ``Retry-After``: a number of seconds or an HTTP date."""
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    if not value:
        return None
    from email.utils import parsedate_to_datetime  # rare: imported on first use

    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _wait(status: int, headers: Headers, now: float) -> float | None:
    """How long to wait before retrying: the longest of ``Retry-After`` and, when the
    rate limit is spent (always on a 429), the time to ``X-RateLimit-Reset``."""
    lower = {str(name).lower(): str(value) for name, value in headers.items()}
    waits = [_retry_after_wait(lower.get("retry-after"), now)]
    if status == 429 or lower.get("x-ratelimit-remaining", "").strip() == "0":
        waits.append(_reset_wait(lower.get("x-ratelimit-reset"), now))
    found = [wait for wait in waits if wait is not None]
    return max(found) if found else None


@attrs.frozen
class RateLimitState:
    """What Braze's ``X-RateLimit-*`` headers say of the window an answer was counted in:
    its size (``limit``), what is left of it (``remaining``) and the seconds until it
    resets (``reset_after``); ``None`` for what an answer does not say."""

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None


def _count(text: str | None) -> int | None:
    value = _number(text)
    return None if value is None or value < 0 else int(value)


def rate_limit_state(headers: Headers | None, *, now: float | None = None) -> RateLimitState:
    """The ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` headers of an answer (names
    in any case; the reset read as :func:`interpret_response` reads it, measured from
    ``now``, default the current time). Delivery paces itself by them."""
    lower = {str(name).lower(): str(value) for name, value in (headers or {}).items()}
    reset = _reset_wait(lower.get("x-ratelimit-reset"), time.time() if now is None else now)
    return RateLimitState(limit=_count(lower.get("x-ratelimit-limit")),
                          remaining=_count(lower.get("x-ratelimit-remaining")),
                          reset_after=reset)


#: Statuses below 500 worth sending again: rate limited, and a cohort locked by another
#: import (423, from the cohort endpoints).
_RETRY_STATUSES: Final = frozenset({423, 429})


def _status_of(status: int) -> OutcomeStatus:
    if 200 <= status < 300:
        return "delivered"
    if status in _RETRY_STATUSES or 500 <= status < 600:
        return "retry"
    return "failed"


#: A secret quoted in an answer (the cohort endpoints' 401 names the client secret):
#: the label and separator are kept, the value masked.
_QUOTED_SECRET: Final = re.compile(
    r"(?i)((?:client|partner[ _-]?api|api|data[ _-]?import|rest[ _-]?api)[ _-]?"
    r"(?:secret|key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+")


def _masked(text: str) -> str:
    """``text`` with any quoted secret masked."""
    return _QUOTED_SECRET.sub(r"\1***", text)


def interpret_response(request: Request, status: int, headers: Headers | None,
                       body: bytes | str | None, *,
                       now: float | None = None) -> tuple[Outcome, ...]:
    """Braze's answer to ``request``, as one :class:`Outcome` per source event.

    2xx: delivered; Braze's minor ``errors`` are mapped through the request's origins by
    their ``index`` (and ``input_array`` when given), errors without a usable index go to
    every event. 429 and 5xx: retry, with ``retry_after`` from ``Retry-After`` and, when
    the rate limit is spent, ``X-RateLimit-Reset`` (epoch seconds, measured from ``now``,
    default the current time); header names in any case. 423 (a cohort locked by another
    import) is retried too. Anything else: failed, with Braze's message. A secret the
    answer quotes (the cohort endpoints' 401 names the client secret) is masked. A body
    that is not JSON, or JSON of an unexpected shape, is read as far as it makes sense; it
    never raises.
    """
    payload, excerpt = _payload(body)
    outcome = _status_of(status)
    braze_message = payload.get("message") if payload is not None else None
    message = braze_message if isinstance(braze_message, str) else excerpt
    if message is not None:
        message = _masked(message)
    errors = tuple(attrs.evolve(e, message=_masked(e.message))
                   for e in _error_details(payload))
    retry_after = None
    if outcome == "retry":
        retry_after = _wait(status, headers or {}, time.time() if now is None else now)

    whole: list[ErrorDetail] = []
    named: dict[Origin, list[ErrorDetail]] = {}
    for error in errors:
        targets = _targets(request, error)
        if targets is None:
            whole.append(error)
        else:
            for origin in dict.fromkeys(targets):
                named.setdefault(origin, []).append(error)

    # What most events share (all of them, when no error names one): built once.
    common = tuple(whole)
    common_text = _text(outcome, message, common, status)
    return tuple(
        Outcome(origin=origin, status=outcome, http_status=status, message=common_text,
                retry_after=retry_after, errors=common)
        if origin not in named else
        Outcome(origin=origin, status=outcome, http_status=status,
                message=_text(outcome, message, (*common, *named[origin]), status),
                retry_after=retry_after, errors=(*common, *named[origin]))
        for origin in _ordered_origins(request))


def _text(outcome: OutcomeStatus, message: str | None, concerning: tuple[ErrorDetail, ...],
          status: int) -> str | None:
    """An outcome's message: the first error about its event when delivered; else Braze's
    message, the first error, or the status."""
    if outcome == "delivered":
        return concerning[0].message if concerning else None
    if message is not None:
        return message
    if concerning:
        return concerning[0].message
    return f"HTTP {status}"
