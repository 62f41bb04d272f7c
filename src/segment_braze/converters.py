"""The cattrs converter of Segment JSON in (Braze JSON out is each request's own
``to_json()``, see :mod:`segment_braze.braze`).

:func:`make_converter` builds a :class:`SegmentConverter`, which structures Segment JSON
into the models of :mod:`segment_braze.events`. Nothing is built on import: each
:class:`~segment_braze.Translator` builds its own converter once, in ``__init__``, and a
converter is rebuilt (never shipped) when it is pickled. Its scalar hooks are strict:
cattrs' defaults would turn ``["x"]`` into ``"['x']"`` for a string field and ``"false"``
into ``True`` for a boolean; here a wrong type is an error. Only identifiers accept
numbers (and become strings). Dates are read by :func:`~segment_braze.times.parse_time`;
naive times are UTC. Unknown keys are ignored: real payloads carry many.

:meth:`SegmentConverter.structure_event` turns cattrs' exception groups into one
:class:`~segment_braze.InvalidEvent` whose problems name wire paths (``$.userId``).

The strict hooks of strings and identifiers (:func:`structure_string`,
:func:`structure_identifier`) are public: the Currents converter checks its records'
strings and identifiers the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from cattrs.gen import make_dict_structure_fn, override

from .errors import InvalidEvent, Problem, json_path
from .events import EVENT_MODELS, Context, SegmentEvent
from .limits import MAX_EVENT_CHARS
from .times import parse_time

__all__ = [
    "WIRE_NAMES",
    "FieldHook",
    "SegmentConverter",
    "json_type",
    "make_converter",
    "structure_event",
    "structure_identifier",
    "structure_string",
]


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
# Each takes cattrs' (value, type) and ignores the type; the public ones default it, so
# they can be called with the value alone.

#: A field longer than the most text an event may carry is refused outright, so a 10 MB
#: value costs nothing.
_TOO_LONG: Final = "longer than 1 MB"


def structure_string(value: Any, _: Any = None) -> str:
    """A JSON string of at most 1 MB (the most text an event may carry), as it is;
    anything else is a ``TypeError`` (``ValueError`` when too long) naming what came."""
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
    return structure_string(value)


def structure_identifier(value: Any, _: Any = None) -> str:
    """An identifier: a string of at most 1 MB, or an integer (or an integral float)
    written as a string. Nothing else becomes a string: a boolean, an object or a
    fraction is a ``TypeError``."""
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
    return structure_identifier(value)


_fromisoformat = datetime.fromisoformat


def _optional_time(value: Any, _: Any) -> datetime | None:
    """The structure hook of the event times: :func:`~segment_braze.times.parse_time`,
    with its common case (an aware time, far from the years 1 and 9999) inline, since
    every event has up to four times."""
    if type(value) is str:
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            return parse_time(value)
        if parsed.tzinfo is not None and 1 < parsed.year < 9999:
            return parsed
        return parse_time(value)  # naive, or an offset that may leave the years 1-9999
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


def _context_hook(conv: cattrs.Converter) -> Callable[[Any, Any], Context | None]:
    """The hook of ``context``: most contexts hold nothing the rules read, and share
    one empty :class:`~segment_braze.events.Context`."""
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

    return optional_context


#: The identifier fields: they accept numbers; ``group_id`` and ``previous_id`` are required.
_IDS: Final = frozenset({"user_id", "anonymous_id", "group_id", "previous_id"})
_REQUIRED_IDS: Final = frozenset({"group_id", "previous_id"})


def _identifier_hook(name: str) -> Callable[[Any, Any], Any] | None:
    """The hook of an identifier field (``None`` for any other field)."""
    if name not in _IDS:
        return None
    return structure_identifier if name in _REQUIRED_IDS else _optional_identifier


#: What a field hook does with a field's usual value, for the fast path of structuring
#: (:mod:`segment_braze._structuring`): a ``"text"`` hook returns a string of at most
#: 1 MB as it is, an ``"object"`` hook a plain dict as it is; a ``"time"`` hook parses a
#: time. (The context hook is ``"context"``.) Each returns ``None`` for null, or (a
#: required field's) refuses it.
_HOOK_KINDS: Final[Mapping[Callable[[Any, Any], Any], str]] = {
    structure_string: "text",
    _optional_string: "text",
    structure_identifier: "text",
    _optional_identifier: "text",
    _optional_object: "object",
    _optional_time: "time",
}


@attrs.frozen
class FieldHook:
    """How a converter structures one field of a model: its ``hook``, the hook's
    ``kind`` (``"text"``, ``"object"``, ``"time"``, ``"context"`` or ``"other"``),
    and whether the field is ``required``."""

    hook: Callable[[Any, Any], Any]
    kind: str
    required: bool


class SegmentConverter(cattrs.Converter):
    """Segment JSON -> event models: a cattrs converter with the strict hooks, the wire
    names and one compiled hook per event type, built once (by :func:`make_converter`).

    Building one takes a few milliseconds, so build it once per stream (each
    :class:`~segment_braze.Translator` holds one). Pickling rebuilds it rather than
    shipping its compiled hooks.
    """

    def __init__(self) -> None:
        super().__init__(detailed_validation=True)
        self.register_structure_hook(str, structure_string)
        self.register_structure_hook(bool, _boolean)
        self.register_structure_hook(int, _integer)
        self.register_structure_hook(float, _float)
        self.register_structure_hook(str | None, _optional_string)
        self.register_structure_hook(datetime | None, _optional_time)
        self.register_structure_hook(Mapping[str, Any] | None, _optional_object)
        self._context = _context_hook(self)
        self.register_structure_hook(Context | None, self._context)
        for model in EVENT_MODELS.values():
            overrides: dict[str, Any] = {"type": override(omit=True)}
            for name in {f.name for f in attrs.fields(model)} & WIRE_NAMES.keys():
                overrides[name] = override(rename=WIRE_NAMES[name],
                                           struct_hook=_identifier_hook(name))
            self.register_structure_hook(model, make_dict_structure_fn(model, self,
                                                                       **overrides))
        #: Segment ``type`` -> (model, its compiled hook).
        self._models: dict[str, tuple[type[SegmentEvent], Callable[[Any, Any], Any]]] = {
            kind: (model, self.get_structure_hook(model))
            for kind, model in EVENT_MODELS.items()
        }

    def __reduce__(self) -> tuple[type[SegmentConverter], tuple[()]]:
        return (type(self), ())

    def field_hooks(self, model: type[Any]) -> dict[str, FieldHook]:
        """Each field of ``model`` (an event model or ``Context``; ``type`` excepted) ->
        how this converter structures it, by its Python name (the wire name is in
        :data:`WIRE_NAMES`)."""
        attrs.resolve_types(model)
        out = {}
        for field in attrs.fields(model):
            if field.name == "type":
                continue
            hook = _identifier_hook(field.name) or self.get_structure_hook(field.type)
            kind = "context" if hook is self._context else _HOOK_KINDS.get(hook, "other")
            out[field.name] = FieldHook(hook, kind, field.default is attrs.NOTHING)
        return out

    def structure_event(self, data: Any) -> SegmentEvent:
        """A Segment JSON object as its event model, or :class:`InvalidEvent` naming
        every bad field by its wire path."""
        if type(data) is not dict and not isinstance(data, Mapping):
            raise InvalidEvent((Problem("$", "expected a JSON object, got "
                                             f"{json_type(data)}"),))
        kind = data.get("type")
        found = self._models.get(kind) if isinstance(kind, str) else None
        if found is None:
            if kind is None:
                message = "required field missing"
            else:
                message = (f"unknown event type {kind!r}; expected one of "
                           f"{', '.join(EVENT_MODELS)}")
            raise InvalidEvent((Problem("$.type", message),))
        model, structure = found
        try:
            return structure(data, model)  # type: ignore[no-any-return]
        except ClassValidationError as group:
            raise InvalidEvent(_problems(group, ())) from None


def make_converter() -> SegmentConverter:
    """A new converter of Segment JSON to the event models (see
    :class:`SegmentConverter`)."""
    return SegmentConverter()


def structure_event(data: Any, converter: SegmentConverter | None = None) -> SegmentEvent:
    """A Segment JSON object as its event model, or :class:`InvalidEvent` naming every
    bad field by its wire path.

    Without ``converter``, one is built for this call (a few milliseconds): for a stream,
    build one with :func:`make_converter` and pass it, or use a
    :class:`~segment_braze.Translator`.
    """
    return (SegmentConverter() if converter is None else converter).structure_event(data)


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
