"""Braze Currents engagement events back to Segment track messages.

Braze Currents exports what happened to the messages Braze sent (sends, deliveries, opens,
clicks, bounces, conversions, Canvas entries, subscription changes, uninstalls). Braze's
own Segment connector turns each of those events into a Segment ``track`` call. This module
does the same offline, from Currents' raw event format, so archives can be replayed into
Segment (or inspected) without the live connector:

    Currents JSON ──parse──▶ CurrentsEvent ──EXPORTS──▶ Segment track message
      (cattrs, strict)        (attrs model)    (the table)   (a JSON-ready dict)

The Currents record is the Avro-derived JSON Braze writes to cloud storage: snake_case
fields such as ``id``, ``user_id``, ``external_user_id`` and ``time`` (seconds since the
epoch). JSON decoded from Avro with a generic tool wraps optional values in their type
branch (``{"string": "abc"}``); those wrappers are accepted. The record does not name its
own event type (Braze files records by event type), so the type comes from an
``event_type`` field or the ``event_type=`` argument.

What comes out, per event, is exactly one of (:class:`CurrentsResult`):

* translated: the track message (``event`` from :data:`EXPORTS`, ``userId`` = the external
  user id, ``anonymousId`` = the Braze user id, ``messageId`` derived from the Currents
  ``id`` so a replay never duplicates, ``timestamp`` in ISO 8601 UTC with milliseconds,
  the documented ``properties`` and ``context``);
* skipped, with a reason: users without an external user id (Braze does not export them
  to Segment) and event types Braze's Segment connector does not send;
* rejected: malformed input raises :class:`~segment_braze.InvalidEvent` naming every bad
  field by its JSON path (``$.time``); :func:`convert_many` records it instead of raising.
"""

from __future__ import annotations

from .exports import EXPORTS, Export, export, markdown_table
from .model import CurrentsConverter, CurrentsEvent, make_converter, parse
from .segment import CurrentsResult, convert, convert_many, message_id, to_segment

__all__ = [
    "EXPORTS",
    "CurrentsConverter",
    "CurrentsEvent",
    "CurrentsResult",
    "Export",
    "convert",
    "convert_many",
    "export",
    "make_converter",
    "markdown_table",
    "message_id",
    "parse",
    "to_segment",
]
