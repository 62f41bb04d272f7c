"""Currents events as the Segment track messages Braze's connector sends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..converters import json_type
from ..errors import InvalidEvent, Problem, Status
from ..limits import MAX_MESSAGE_ID
from ..times import render_time
from .exports import EXPORTS, Export
from .model import CurrentsConverter, CurrentsEvent, event_type_of, unwrap

# -- Segment out -----------------------------------------------------------------------


def message_id(event_id: str) -> str:
    """The Segment ``messageId`` of a Currents event: its ``id`` itself (the value Braze's
    connector sends, so a replay and the live connector deduplicate alike), or, for an id
    longer than Segment's 100 characters, ``currents-`` and the id's SHA-256."""
    if len(event_id) <= MAX_MESSAGE_ID:
        return event_id
    return "currents-" + hashlib.sha256(event_id.encode()).hexdigest()


def _value(value: Any) -> Any:
    return list(value) if type(value) is tuple else value


def _message(event: CurrentsEvent, row: Export) -> dict[str, Any]:
    properties = {}
    for key, field in row.properties:
        value = getattr(event, field)
        if value is not None:
            properties[key] = _value(value)
    context: dict[str, dict[str, Any]] = {}
    for path, field in row.context:
        value = getattr(event, field)
        if value is not None:
            section, _, key = path.partition(".")
            context.setdefault(section, {})[key] = value
    message: dict[str, Any] = {"type": "track", "event": row.event,
                               "userId": event.external_user_id}
    if event.user_id:
        message["anonymousId"] = event.user_id
    message["messageId"] = message_id(event.id)
    message["timestamp"] = render_time(event.time)
    message["properties"] = properties
    if context:
        message["context"] = context
    return message


@attrs.frozen(kw_only=True)
class CurrentsResult:
    """The outcome of one Currents event: exactly one of translated (``message``),
    skipped (``skipped`` holds the reason) or rejected (``error``, only from
    :func:`convert_many`)."""

    message: dict[str, Any] | None = None
    skipped: str | None = None
    error: InvalidEvent | None = None
    #: The Currents ``id``, else the event's position in the stream.
    origin: str | int | None = None

    @property
    def status(self) -> Status:
        """``"translated"``, ``"skipped"`` or ``"rejected"``."""
        if self.error is not None:
            return "rejected"
        return "skipped" if self.skipped is not None else "translated"


def _origin(event: Any, position: int | None) -> str | int | None:
    found = (unwrap(event.get("id")) if isinstance(event, Mapping)
             else getattr(event, "id", None))
    if type(found) is str and found:
        return found
    if type(found) is int:
        return str(found)
    return position


def convert(event: Mapping[str, Any] | CurrentsEvent, *, event_type: str | None = None,
            exports: Mapping[str, Export] = EXPORTS, position: int | None = None,
            converter: CurrentsConverter | None = None) -> CurrentsResult:
    """Convert one Currents event (a JSON record or a parsed :class:`CurrentsEvent`).

    Returns a translated or skipped :class:`CurrentsResult`; raises
    :class:`~segment_braze.InvalidEvent` for malformed input. Event types the table does
    not name are skipped before the record is checked field by field: Currents exports
    far more than engagement events, and their fields are not modelled here. ``exports``
    replaces the table. Pass a ``converter`` (:func:`make_converter`) when converting
    many records one by one: without it, one is built for the record, when the record
    needs it.
    """
    origin = _origin(event, position)
    if isinstance(event, CurrentsEvent):
        kind = event.event_type
    elif isinstance(event, Mapping):
        kind = event_type_of(event, event_type)
    else:
        raise InvalidEvent((Problem("$", f"expected a JSON object, got {json_type(event)}"),))
    row = exports.get(kind)
    if row is None:
        return CurrentsResult(skipped=f"Braze's Segment connector does not export Currents "
                                      f"event type {kind!r}", origin=origin)
    if isinstance(event, CurrentsEvent):
        model = event
    else:
        model = (CurrentsConverter() if converter is None else converter).structure_as(
            event, kind)
    if not model.external_user_id:
        return CurrentsResult(skipped="no external_user_id: Braze exports to Segment only "
                                      "users with an external ID", origin=origin)
    return CurrentsResult(message=_message(model, row), origin=origin)


def to_segment(event: Mapping[str, Any] | CurrentsEvent, *, event_type: str | None = None,
               exports: Mapping[str, Export] = EXPORTS,
               converter: CurrentsConverter | None = None) -> dict[str, Any] | None:
    """The Segment track message for one Currents event, or ``None`` when Braze would not
    send one (:func:`convert` says why). Raises :class:`~segment_braze.InvalidEvent` for
    malformed input."""
    return convert(event, event_type=event_type, exports=exports,
                   converter=converter).message


def convert_many(events: Iterable[Mapping[str, Any] | CurrentsEvent], *,
                 event_type: str | None = None, exports: Mapping[str, Export] = EXPORTS,
                 start: int = 0) -> Iterator[CurrentsResult]:
    """Convert a stream lazily, one :class:`CurrentsResult` per event, in order, with
    one converter built for the stream.

    Never raises for a bad event: a rejected event's result carries ``error``. Positions
    (the origin of events without an ``id``) count from ``start``. ``event_type`` names
    the type of records that do not carry one (a Currents folder holds one type).
    """
    converter = CurrentsConverter()
    for position, event in enumerate(events, start):
        try:
            yield convert(event, event_type=event_type, exports=exports, position=position,
                          converter=converter)
        except InvalidEvent as error:
            yield CurrentsResult(error=error, origin=_origin(event, position))
