"""Segment events as typed, frozen models.

One class per Segment call type (``Identify``, ``Track``, ``Page``, ``Screen``, ``Group``,
``Alias``) plus ``Delete``, the deletion message Segment forwards to destinations. Python
attributes are snake_case; the camelCase wire names (``userId``, ``messageId``) live in
the converter (:mod:`segment_braze.converters`), never in these signatures.

Only the fields the rule table reads are modelled. Everything else a real payload carries
(``context.library``, ``context.page``, ``version``, ...) is accepted and ignored, so
unmodelled keys cost nothing. ``traits`` and ``properties`` stay plain mappings: they are
open-ended by nature, and the rule bodies check them value by value.

Models built from a dict share that dict's nested ``traits`` and ``properties``; treat both
as read-only.

The models are frozen but not slotted: they are built for every message, and frozen
classes without slots set their fields through the instance dict, about twice as fast as
the slotted frozen ``__init__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

import attrs

__all__ = [
    "EVENT_CLASSES",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "Alias",
    "Context",
    "Delete",
    "Group",
    "Identify",
    "Page",
    "Screen",
    "SegmentEvent",
    "Track",
]

JSONObject: TypeAlias = Mapping[str, Any]



@attrs.frozen(kw_only=True, slots=False)
class Context:
    """The parts of ``context`` that the rules read."""

    traits: JSONObject | None = None
    location: JSONObject | None = None
    integrations: JSONObject | None = None
    personas: JSONObject | None = None
    #: ``context.device``: its ``id`` names an anonymous device in a cohort change
    #: (``cohort_device_ids``), its ``type`` the source of an ecommerce event. Read when
    #: it is an object and ignored otherwise (nothing requires it, so a malformed one
    #: rejects nothing).
    device: Any = None


@attrs.frozen(kw_only=True, slots=False)
class _Message:
    message_id: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    context: Context | None = None
    integrations: JSONObject | None = None


@attrs.frozen(kw_only=True, slots=False)
class _Timed(_Message):
    timestamp: datetime | None = None
    original_timestamp: datetime | None = None
    received_at: datetime | None = None
    sent_at: datetime | None = None


@attrs.frozen(kw_only=True, slots=False)
class Identify(_Timed):
    """``identify``: who the user is, and their traits."""

    type: Literal["identify"] = "identify"
    traits: JSONObject | None = None


@attrs.frozen(kw_only=True, slots=False)
class Track(_Timed):
    """``track``: something the user did. ``event`` is required."""

    type: Literal["track"] = "track"
    event: str
    properties: JSONObject | None = None


@attrs.frozen(kw_only=True, slots=False)
class Page(_Timed):
    """``page``: a web page view."""

    type: Literal["page"] = "page"
    name: str | None = None
    category: str | None = None
    properties: JSONObject | None = None


@attrs.frozen(kw_only=True, slots=False)
class Screen(_Timed):
    """``screen``: a mobile screen view."""

    type: Literal["screen"] = "screen"
    name: str | None = None
    category: str | None = None
    properties: JSONObject | None = None


@attrs.frozen(kw_only=True, slots=False)
class Group(_Timed):
    """``group``: the user belongs to an account. ``group_id`` is required."""

    type: Literal["group"] = "group"
    group_id: str
    traits: JSONObject | None = None


@attrs.frozen(kw_only=True, slots=False)
class Alias(_Timed):
    """``alias``: ``previous_id`` and ``user_id`` are the same person. ``previous_id`` is
    required."""

    type: Literal["alias"] = "alias"
    previous_id: str


@attrs.frozen(kw_only=True, slots=False)
class Delete(_Message):
    """A user deletion forwarded by Segment (regulation ``DELETE_ONLY`` and friends).

    Deletion messages carry free-form timestamps (Segment's own examples are not ISO 8601)
    and Braze deletes ignore time, so this model carries none.
    """

    type: Literal["delete"] = "delete"


SegmentEvent: TypeAlias = Identify | Track | Page | Screen | Group | Alias | Delete
"""Any Segment event model."""

#: The one table of Segment ``type`` -> event model. The converter structures each type
#: into its model; the rule table offers each type the rows that can match it.
EVENT_MODELS: Final[Mapping[str, type[SegmentEvent]]] = MappingProxyType({
    "identify": Identify,
    "track": Track,
    "page": Page,
    "screen": Screen,
    "group": Group,
    "alias": Alias,
    "delete": Delete,
})

#: The Segment event types, in the table's order (a view of :data:`EVENT_MODELS`).
EVENT_TYPES: Final[tuple[str, ...]] = tuple(EVENT_MODELS)

#: The event model classes, for ``isinstance`` (a view of :data:`EVENT_MODELS`).
EVENT_CLASSES: Final[tuple[type[SegmentEvent], ...]] = tuple(EVENT_MODELS.values())
