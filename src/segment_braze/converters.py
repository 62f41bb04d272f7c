"""The cattrs converter of Segment JSON in (Braze JSON out is each request's own
``to_json()``, see :mod:`segment_braze.braze`).

``segment`` structures Segment JSON into the models of :mod:`segment_braze.events`. Its
scalar hooks are strict: cattrs' defaults would turn ``["x"]`` into ``"['x']"`` for a
string field and ``"false"`` into ``True`` for a boolean; here a wrong type is an error.
Only identifiers accept numbers (and become strings). Dates are parsed with
``datetime.fromisoformat`` first and dateutil's ISO parser only as a fallback; naive times
are UTC. Unknown keys are ignored: real payloads carry many.

:func:`structure_event` turns cattrs' exception groups into one
:class:`~segment_braze.InvalidEvent` whose problems name wire paths (``$.userId``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Final, cast

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from cattrs.gen import make_dict_structure_fn, override
from dateutil.parser import isoparse

from .errors import InvalidEvent, Problem, json_path
from .events import (
    Alias,
    Context,
    Delete,
    Group,
    Identify,
    Page,
    Screen,
    SegmentEvent,
    Track,
)
from .limits import MAX_EVENT_CHARS

__all__ = ["json_type", "segment", "structure_event"]

UTC = timezone.utc


#: Python attribute -> wire name, for every model field whose names differ.
WIRE_NAMES: Mapping[str, str] = {
    "message_id": "messageId",
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "original_timestamp": "originalTimestamp",
    "received_at": "receivedAt",
    "sent_at": "sentAt",
    "group_id": "groupId",
    "previous_id": "previousId",
}

#: Segment ``type`` -> model.
EVENT_TYPES: Mapping[str, type[SegmentEvent]] = {
    "identify": Identify,
    "track": Track,
    "page": Page,
    "screen": Screen,
    "group": Group,
    "alias": Alias,
    "delete": Delete,
}


def json_type(value: object) -> str:
    """The JSON name of a value's type, for messages: ``"an array"``, ``"a number"``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


# -- strict scalar hooks ---------------------------------------------------------------

#: A field longer than the most text an event may carry is refused outright, so a 10 MB
#: value costs nothing.
_TOO_LONG: Final = "longer than 1 MB"


def _string(value: Any, _: Any) -> str:
    if type(value) is str:
        if len(value) > MAX_EVENT_CHARS:
            raise ValueError(_TOO_LONG)
        return value
    raise TypeError(f"expected a string, got {json_type(value)}")


def _boolean(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected true or false, got {json_type(value)}")


def _integer(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    raise TypeError(f"expected an integer, got {json_type(value)}")


def _float(value: Any, _: Any) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    raise TypeError(f"expected a number, got {json_type(value)}")


def _optional_string(value: Any, _: Any) -> str | None:
    if value is None:
        return None
    return _string(value, None)


def _identifier(value: Any, _: Any) -> str:
    kind = type(value)
    if kind is str:
        if len(value) > MAX_EVENT_CHARS:
            raise ValueError(_TOO_LONG)
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if kind is float and value.is_integer():
        return str(int(value))
    raise TypeError(f"expected a string or an integer, got {json_type(value)}")


def _optional_identifier(value: Any, _: Any) -> str | None:
    if value is None:
        return None
    return _identifier(value, None)


def _parse_time_slowly(text: str) -> datetime:
    if len(text) > 64:
        raise ValueError("not an ISO 8601 date-time")
    try:
        # Python 3.10's fromisoformat does not read a trailing Z.
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z")
                                        else text)
    except ValueError:
        try:
            parsed = isoparse(text)
        except (ValueError, OverflowError):
            raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return _in_range(parsed, text) if parsed.year in _EDGE_YEARS else parsed


#: The years where a UTC offset can carry a time out of what a datetime holds.
_EDGE_YEARS: Final = frozenset({1, 9999})


def _in_range(parsed: datetime, text: str) -> datetime:
    """``parsed`` when it has a UTC equivalent (Braze's times are UTC), else an error."""
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None
    return parsed


_fromisoformat = datetime.fromisoformat


def parse_time(text: str) -> datetime:
    """An ISO 8601 string as an aware datetime (naive means UTC).

    ``datetime.fromisoformat`` first (fast); dateutil's strict ISO parser only for what
    it does not read (nanoseconds before Python 3.11, week dates, ...). Raises
    ``ValueError`` for anything else.
    """
    return cast(datetime, _optional_time(text, None))


def _optional_time(value: Any, _: Any) -> datetime | None:
    """The structure hook of the event times (and the body of :func:`parse_time`)."""
    if type(value) is str:
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            return _parse_time_slowly(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return _in_range(parsed, value) if parsed.year in _EDGE_YEARS else parsed
    if value is None:
        return None
    raise TypeError(f"expected an ISO 8601 date-time string, got {json_type(value)}")


def _optional_object(value: Any, _: Any) -> Mapping[str, Any] | None:
    if value is None or type(value) is dict:
        return value
    if isinstance(value, Mapping):
        return value
    if type(value) is list and not value:
        return None  # PHP encodes an empty object as []: treat it as absent
    raise TypeError(f"expected an object, got {json_type(value)}")


def _make_segment() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(str, _string)
    conv.register_structure_hook(bool, _boolean)
    conv.register_structure_hook(int, _integer)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(str | None, _optional_string)
    conv.register_structure_hook(datetime | None, _optional_time)
    conv.register_structure_hook(Mapping[str, Any] | None, _optional_object)

    context_fn = make_dict_structure_fn(Context, conv)
    empty = Context()
    read = tuple(f.name for f in attrs.fields(Context))

    def optional_context(value: Any, _: Any) -> Context | None:
        if value is None:
            return None
        if type(value) is dict:
            for key in read:
                if key in value:
                    return context_fn(value, Context)
            return empty  # nothing the rules read: one shared empty context
        if isinstance(value, Mapping):
            return context_fn(value, Context)
        # Segment's deletion examples (and PHP) send [] for an empty object.
        if type(value) is list and not value:
            return None
        raise TypeError(f"expected an object, got {json_type(value)}")

    conv.register_structure_hook(Context | None, optional_context)

    ids = {"user_id", "anonymous_id", "group_id", "previous_id"}
    for model in EVENT_TYPES.values():
        fields = {f.name for f in attrs.fields(model)}
        overrides: dict[str, Any] = {"type": override(omit=True)}
        for name in fields & WIRE_NAMES.keys():
            hook: Callable[[Any, Any], Any] | None = None
            if name in ids:
                required = name in ("group_id", "previous_id")
                hook = _identifier if required else _optional_identifier
            overrides[name] = override(rename=WIRE_NAMES[name], struct_hook=hook)
        conv.register_structure_hook(model, make_dict_structure_fn(model, conv, **overrides))
    return conv


#: Segment JSON -> event models.
segment = _make_segment()

_STRUCTURE: dict[str, Callable[[Any, Any], SegmentEvent]] = {
    name: segment.get_structure_hook(model) for name, model in EVENT_TYPES.items()
}


def structure_event(data: Any) -> SegmentEvent:
    """A Segment JSON object as its event model, or :class:`InvalidEvent` naming every
    bad field by its wire path."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise InvalidEvent((Problem("$", f"expected a JSON object, got {json_type(data)}"),))
    kind = data.get("type")
    structure = _STRUCTURE.get(kind) if isinstance(kind, str) else None
    if structure is None or not isinstance(kind, str):
        if kind is None:
            message = "required field missing"
        else:
            message = (f"unknown event type {kind!r}; expected one of "
                       f"{', '.join(EVENT_TYPES)}")
        raise InvalidEvent((Problem("$.type", message),))
    try:
        return structure(data, EVENT_TYPES[kind])
    except ClassValidationError as group:
        raise InvalidEvent(_problems(group, ())) from None


def _problems(group: ClassValidationError, prefix: tuple[str, ...]) -> list[Problem]:
    problems = []
    for exc in group.exceptions:
        name = next((getattr(n, "name", None) for n in getattr(exc, "__notes__", ())
                     if getattr(n, "name", None)), None)
        path = (*prefix, WIRE_NAMES.get(name, name)) if name else prefix
        if isinstance(exc, ClassValidationError):
            problems.extend(_problems(exc, path))
        elif isinstance(exc, KeyError):
            problems.append(Problem(json_path(path), "required field missing"))
        else:
            problems.append(Problem(json_path(path), str(exc)))
    return problems
