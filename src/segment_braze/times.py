"""Times as Segment writes them and as Braze reads them.

Segment sends ISO 8601 strings (``2024-05-01T12:00:00.123Z``, sometimes with an offset or
nanoseconds); Braze wants ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC. :func:`parse_time` reads
the first, :func:`render_time` writes the second. Both sit at the bottom of the layers:
the converters, the rule bodies, the scope of a rule and the Currents converter all use
them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Final

from dateutil.parser import isoparse

__all__ = ["UTC", "parse_time", "render_time"]

UTC: Final = timezone.utc

#: The years where a UTC offset can carry a time out of what a datetime holds.
_EDGE_YEARS: Final = frozenset({1, 9999})

_fromisoformat = datetime.fromisoformat


def _in_range(parsed: datetime, text: str) -> datetime:
    """``parsed`` when it has a UTC equivalent (Braze's times are UTC), else an error."""
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None
    return parsed


def _parse_slowly(text: str) -> datetime:
    if len(text) > 64:
        raise ValueError("not an ISO 8601 date-time")
    try:
        # Python 3.10's fromisoformat does not read a trailing Z.
        parsed = _fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        try:
            parsed = isoparse(text)
        except (ValueError, OverflowError):
            raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return _in_range(parsed, text) if parsed.year in _EDGE_YEARS else parsed


def parse_time(text: str) -> datetime:
    """An ISO 8601 string as an aware datetime (naive means UTC).

    ``datetime.fromisoformat`` first (fast); dateutil's strict ISO parser only for what
    it does not read (nanoseconds before Python 3.11, week dates, ...). Raises
    ``ValueError`` for anything else, and for a time whose UTC equivalent leaves the
    years 1 to 9999.
    """
    try:
        parsed = _fromisoformat(text)
    except ValueError:
        return _parse_slowly(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return _in_range(parsed, text) if parsed.year in _EDGE_YEARS else parsed


_TWO: Final = tuple(f"{n:02d}" for n in range(100))
_THREE: Final = tuple(f"{n:03d}" for n in range(1000))


def render_time(moment: datetime) -> str:
    """A datetime as Braze wants it: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC (naive is UTC)."""
    zone = moment.tzinfo
    if zone is not UTC and zone is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    year = moment.year
    return (f"{year if year >= 1000 else f'{year:04d}'}-{_TWO[moment.month]}-"
            f"{_TWO[moment.day]}T{_TWO[moment.hour]}:{_TWO[moment.minute]}:"
            f"{_TWO[moment.second]}.{_THREE[moment.microsecond // 1000]}Z")
