"""What a rule works with: the :class:`Scope` of one event, and the :class:`Skip` it may
emit instead of Braze objects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeAlias

import attrs

from .braze import (
    CohortName,
    CohortUsers,
    Event,
    Identifier,
    Purchase,
    UserAttributes,
    UsersAliasNew,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
)
from .errors import InvalidEvent, Notice, Path, Problem, json_path
from .events import SegmentEvent
from .limits import MAX_EVENT_CHARS
from .mapping.values import render_time
from .settings import Settings

__all__ = ["Output", "Resolver", "Scope", "Skip"]


@attrs.frozen
class Skip:
    """Emitted by a rule to filter the event out, with the reason (never an error)."""

    reason: str


#: What an emitter may return: Braze objects, requests of other endpoints, or a Skip.
Output: TypeAlias = (UserAttributes | Event | Purchase | UsersDelete | UsersIdentify
                     | UsersMerge | UsersAliasNew | CohortName | CohortUsers | Skip)

#: How the identifier of an event's user is chosen.
Resolver: TypeAlias = Callable[[SegmentEvent, Settings], Identifier | None]


class Scope:
    """What a rule sees beside the event: the settings, the event's Braze identifier
    (resolved once, when the scope is made), the event time, and where notices go.

    A rule body never mutates the event; it reports what it drops or fixes with
    :meth:`notice`.
    """

    __slots__ = ("_time", "clock", "event", "identifier", "notices", "profile_sent", "rule",
                 "settings", "size")

    def __init__(self, settings: Settings, event: SegmentEvent, clock: Callable[[], datetime],
                 resolve: Resolver) -> None:
        self.settings = settings
        self.event = event
        self.clock = clock
        self.notices: list[Notice] = []
        self.rule: str | None = None
        self.size = 0
        self.profile_sent = False
        self._time: str | None = None
        #: The event's Braze identifier (see :mod:`segment_braze.mapping.identity`).
        self.identifier: Identifier | None = resolve(event, settings)

    @property
    def is_alias(self) -> bool:
        """Whether the event's user is identified by the anonymous user alias."""
        ident = self.identifier
        return ident is not None and ident.kind == "user_alias"

    def notice(self, path: Path, message: str) -> None:
        """Record that the value at ``path`` was dropped or fixed, and why."""
        self.notices.append(Notice(json_path(path), message, self.rule))

    def count_size(self, amount: int) -> None:
        """Add to the event's size; past 1 MB the event is rejected."""
        self.size += amount
        if self.size > MAX_EVENT_CHARS:
            raise InvalidEvent((Problem("$", "the event is larger than 1 MB", self.rule),))

    def time(self) -> str:
        """The event time for Braze (``YYYY-MM-DDTHH:MM:SS.mmmZ``, UTC): ``timestamp``,
        else ``originalTimestamp``, ``receivedAt``, ``sentAt``; with none of them, the
        translation time and a notice."""
        if self._time is None:
            event = self.event
            moment = (getattr(event, "timestamp", None)
                      or getattr(event, "original_timestamp", None)
                      or getattr(event, "received_at", None)
                      or getattr(event, "sent_at", None))
            if moment is None:
                self.notice(("timestamp",), "the event has no timestamp, originalTimestamp, "
                            "receivedAt or sentAt; the translation time was used")
                moment = self.clock()
            self._time = render_time(moment)
        return self._time

    def update_existing_only(self) -> bool | None:
        """``_update_existing_only`` for this event's objects: ``True`` when the setting is
        on; ``False`` for alias users (so Braze creates the alias profile); else absent."""
        if self.settings.update_existing_only:
            return True
        return False if self.is_alias else None

    def profile(self) -> tuple[UserAttributes, ...]:
        """For an alias user, once per event: the attributes object that creates the
        alias profile, so that events and purchases in the same request find it."""
        ident = self.identifier
        if (self.profile_sent or ident is None or ident.kind != "user_alias"
                or self.settings.update_existing_only):
            return ()
        self.profile_sent = True
        return (UserAttributes(identifier=ident, update_existing_only=False),)
