"""What a rule works with: the :class:`Scope` of one event, the :class:`Sink` its notices
go to, and the :class:`Skip` it may emit instead of Braze objects.

A scope is read-only: the settings, the event, its Braze identifier, the clock and the
event time (computed once, on first use). What a rule reports goes to the scope's
:class:`Sink`: notices about what was dropped or fixed, and the size of the event so
far. No rule tells another anything through the scope; when the output of one row
needs another's, the table says so with a combinator
(:mod:`segment_braze.combinators`), and what the translator does after the rules (the
alias profile) is a step of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final, NamedTuple, TypeAlias

import attrs

from .braze import (
    CohortName,
    CohortUsers,
    Event,
    Identifier,
    Purchase,
    SubscriptionStatusSet,
    UserAttributes,
    UsersAliasNew,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
)
from .errors import InvalidEvent, Notice, Path, Problem, json_path
from .events import SegmentEvent
from .limits import MAX_EVENT_CHARS
from .settings import Settings
from .times import render_time

__all__ = ["MEMO_LIMIT", "Emitter", "Matcher", "Memo", "Output", "Resolver", "Scope", "Sink",
           "Skip"]


@attrs.frozen
class Skip:
    """Emitted by a rule to filter the event out, with the reason (never an error)."""

    reason: str


#: What an emitter may return: Braze objects, requests of other endpoints, or a Skip.
Output: TypeAlias = (UserAttributes | Event | Purchase | UsersDelete | UsersIdentify
                     | UsersMerge | UsersAliasNew | SubscriptionStatusSet | CohortName
                     | CohortUsers | Skip)

#: How the identifier of an event's user is chosen.
Resolver: TypeAlias = Callable[[SegmentEvent, Settings], Identifier | None]

#: ``when(event, scope) -> bool``: whether a rule applies to an event.
Matcher: TypeAlias = Callable[[Any, "Scope"], bool]

#: ``emit(event, scope) -> Iterable[Output]``: what a rule makes of an event.
Emitter: TypeAlias = Callable[[Any, "Scope"], Iterable[Output]]


class Sink:
    """Where one event's reports go while the rules run: its notices (each naming the
    rule that gave it; the translator sets :attr:`rule` before each row) and its size
    so far (past 1 MB the event is rejected). It also keeps the event time once a rule
    asked for it, so every rule sees one time and the missing-time notice is given once.

    It is the only thing in a scope that changes, and only by being added to: rules
    report through it, they never read each other's reports.
    """

    __slots__ = ("notices", "rule", "size", "time")

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        #: The rule running now: its name goes on every notice and size problem.
        self.rule: str | None = None
        #: Characters counted so far (an estimate of the event's size in Braze's JSON).
        self.size = 0
        #: The event time for Braze, once :meth:`Scope.time` computed it.
        self.time: str | None = None

    def notice(self, path: Path, message: str) -> None:
        """Record that the value at ``path`` was dropped or fixed, and why."""
        self.notices.append(Notice(json_path(path), message, self.rule))

    def count_size(self, amount: int) -> None:
        """Add to the event's size; past 1 MB the event is rejected."""
        self.size += amount
        if self.size > MAX_EVENT_CHARS:
            raise InvalidEvent((Problem("$", "the event is larger than 1 MB", self.rule),))


#: The most entries each memo of a :class:`Memo` holds, so that hostile input (a new name
#: in every event) cannot grow it without limit.
MEMO_LIMIT: Final = 50_000


class Memo:
    """What the rule bodies remember from one event to the next, for one translator:
    answers that depend only on a name and the settings, so are the same for every
    event. Built with the table bound to the settings (one per translator, never shared
    between translators, rebuilt empty when a translator is unpickled), and reachable
    from every scope as :attr:`Scope.memo`. Each memo is bounded by :data:`MEMO_LIMIT`.
    """

    __slots__ = ("property_names", "purchase_names", "shortcuts")

    def __init__(self, *, shortcuts: bool = True) -> None:
        #: Property names found valid, with their lengths (event schemas repeat).
        self.property_names: dict[str, int] = {}
        #: Event names -> whether they are purchase events under the settings.
        self.purchase_names: dict[str, bool] = {}
        #: Whether the rule bodies take their shortcuts: the common case checked inline,
        #: values checked in place rather than copied, these memos. Off, every value takes
        #: the general path and nothing is remembered: the reference translator
        #: (:func:`~segment_braze.translate.reference_translator`), whose output the
        #: tests hold equal to the fast one's, byte for byte.
        self.shortcuts = shortcuts


class Scope(NamedTuple):
    """What a rule sees beside the event: the settings, the event's Braze identifier
    (resolved once, when the scope is made), the clock, the translator's :class:`Memo`,
    and the :class:`Sink` where notices go.

    A scope is read-only (a named tuple: immutable by construction, and the cheapest
    record to build, once per event); a rule body never mutates the event either. It
    reports what it drops or fixes with :meth:`notice`.
    :meth:`~segment_braze.Translator.scope` builds the scope a translator would give an
    event, to try a matcher or an emitter by hand.
    """

    settings: Settings
    event: SegmentEvent
    #: The event's Braze identifier (see :mod:`segment_braze.mapping.identity`).
    identifier: Identifier | None
    clock: Callable[[], datetime]
    sink: Sink
    memo: Memo

    def __repr__(self) -> str:
        return f"Scope({type(self.event).__name__}, identifier={self.identifier!r})"

    @property
    def is_alias(self) -> bool:
        """Whether the event's user is identified by the anonymous user alias."""
        ident = self.identifier
        return ident is not None and ident.kind == "user_alias"

    def notice(self, path: Path, message: str) -> None:
        """Record, in the sink, that the value at ``path`` was dropped or fixed, and why."""
        self.sink.notice(path, message)

    def count_size(self, amount: int) -> None:
        """Add to the event's size, in the sink; past 1 MB the event is rejected."""
        self.sink.count_size(amount)

    def time(self) -> str:
        """The event time for Braze (``YYYY-MM-DDTHH:MM:SS.mmmZ``, UTC): ``timestamp``,
        else ``originalTimestamp``, ``receivedAt``, ``sentAt``; with none of them, the
        translation time and a notice. Computed once (the sink keeps it): later calls,
        from any rule, give the same time and no second notice."""
        sink = self.sink
        known = sink.time
        if known is None:
            event = self.event
            moment = (getattr(event, "timestamp", None)
                      or getattr(event, "original_timestamp", None)
                      or getattr(event, "received_at", None)
                      or getattr(event, "sent_at", None))
            if moment is None:
                sink.notice(("timestamp",), "the event has no timestamp, originalTimestamp, "
                            "receivedAt or sentAt; the translation time was used")
                moment = self.clock()
            known = sink.time = render_time(moment)
        return known

    def update_existing_only(self) -> bool | None:
        """``_update_existing_only`` for this event's objects: ``True`` when the setting is
        on; ``False`` for alias users (so Braze creates the alias profile); else absent."""
        if self.settings.update_existing_only:
            return True
        return False if self.is_alias else None
