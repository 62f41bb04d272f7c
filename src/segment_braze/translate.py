"""Translation: Segment events through the rule table into Braze requests.

``translate(event, settings)`` returns a :class:`Translation` or raises
:class:`~segment_braze.InvalidEvent`. ``Translator(settings)`` is built once and
translates streams: ``translate_many`` never raises for a bad event (the translation
carries ``error`` instead), so every event that goes in comes out exactly once as
translated, skipped (with a reason) or rejected (with its problems). ``explain`` shows,
for a notebook, which rules matched and what each emitted.

Change tracking (leaving out the values Braze already has) is a stage of its own after
translation: :class:`~segment_braze.tracking.Tracker`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import attrs

from .braze import (
    Event,
    Origin,
    Purchase,
    Request,
    UserAttributes,
    UsersTrack,
)
from .converters import EVENT_TYPES as MODEL_TYPES
from .converters import structure_event
from .errors import InvalidEvent, Notice, Problem
from .events import SegmentEvent
from .mapping.identity import resolve
from .rules import DEFAULT_RULES, EVENT_TYPES, Bound, Rule, bind, check_rules
from .scope import Output, Resolver, Scope, Skip
from .settings import Settings

__all__ = ["Explanation", "Step", "Translation", "Translator", "explain", "translate"]

UTC = timezone.utc
Status = Literal["translated", "skipped", "rejected"]


#: The event model classes: anything else is parsed as Segment JSON.
MODELS = tuple(MODEL_TYPES.values())


def _now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen(kw_only=True, slots=False)
class Translation:
    """The outcome of one event: exactly one of translated (``requests``, maybe with
    ``notices``), skipped (``skipped`` holds the reason) or rejected (``error``).

    Iterating a translation iterates its requests.
    """

    requests: tuple[Request, ...] = ()
    skipped: str | None = None
    notices: tuple[Notice, ...] = ()
    error: InvalidEvent | None = None
    #: The event's ``messageId``, else its position in the stream.
    origin: Origin = None
    #: Attribute names left out because Braze already has their values (with a store).
    unchanged: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        """``"translated"``, ``"skipped"`` or ``"rejected"``."""
        if self.error is not None:
            return "rejected"
        return "skipped" if self.skipped is not None else "translated"

    def __iter__(self) -> Iterator[Request]:
        return iter(self.requests)

    def __len__(self) -> int:
        return len(self.requests)


@attrs.frozen(kw_only=True)
class Step:
    """One row of the table as it met one event, for :func:`explain`."""

    rule: str
    matched: bool
    emitted: tuple[Output, ...] = ()
    notices: tuple[Notice, ...] = ()
    #: Why the row did not run: another type, or a final rule stopped the table earlier.
    note: str | None = None


@attrs.frozen(kw_only=True)
class Explanation:
    """Which rules met an event, what each emitted, and the resulting translation.
    ``str()`` renders it for reading."""

    event: SegmentEvent | None
    steps: tuple[Step, ...]
    translation: Translation

    def __str__(self) -> str:
        from ._explain import render

        return render(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython
        printer.text(str(self))


def _origin_of(event: Any, position: int | None) -> Origin:
    message_id = (event.get("messageId") if isinstance(event, Mapping)
                  else getattr(event, "message_id", None))
    if isinstance(message_id, str) and message_id:
        return message_id
    return position



class Translator:
    """Translates events with one settings object and one rule table, both checked once.

    ``rules`` replaces :data:`~segment_braze.DEFAULT_RULES` (build a new tuple to add,
    replace or drop rows). ``clock`` gives the translation time, used for events with no
    time at all; pass a fixed one for reproducible output.

    The translator keeps no state between events: to leave out the values Braze
    already has, pass each translation through a
    :class:`~segment_braze.tracking.Tracker`.
    """

    def __init__(self, settings: Settings, *, rules: tuple[Rule, ...] = DEFAULT_RULES,
                 clock: Callable[[], datetime] = _now, resolve: Resolver = resolve) -> None:
        if not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings, got {type(settings).__name__}")
        self.settings = settings
        self.rules = check_rules(rules)
        self.clock = clock
        self.resolve = resolve
        # For each event type, the rows it can meet under these settings, in table order,
        # each with its bound matcher (True: always matches).
        bound = [(rule, bind(rule.when, settings)) for rule in self.rules]
        self._table: dict[str, tuple[tuple[Rule, Bound], ...]] = {
            kind: tuple((r, test) for r, test in bound if test is not False and kind in r.types)
            for kind in EVENT_TYPES
        }

    def __repr__(self) -> str:
        return f"Translator({self.settings!r}, rules=<{len(self.rules)} rules>)"

    # -- one event ---------------------------------------------------------------------

    def translate(self, event: Mapping[str, Any] | SegmentEvent, *,
                  position: int | None = None) -> Translation:
        """Translate one event (a Segment JSON dict or a typed model).

        Raises :class:`~segment_braze.InvalidEvent` when it cannot be translated
        faithfully (or, with ``strict``, when anything had to be dropped or fixed).
        """
        model = event if isinstance(event, MODELS) else structure_event(event)
        return self._run(model, _origin_of(event, position), None)

    def _run(self, event: SegmentEvent, origin: Origin,
             steps: list[Step] | None) -> Translation:
        rows = self._table.get(getattr(event, "type", None))  # type: ignore[arg-type]
        if rows is None:
            raise TypeError(f"not a Segment event model: {type(event).__name__}")
        scope = Scope(self.settings, event, self.clock, self.resolve)
        notices = scope.notices
        outputs: list[Output] = []
        for rule, test in rows:
            scope.rule = rule.name
            if test is not True and not test(event, scope):  # type: ignore[operator]
                if steps is not None:
                    steps.append(Step(rule=rule.name, matched=False))
                continue
            before = len(notices)
            try:
                emitted = tuple(rule.emit(event, scope))
            except InvalidEvent as error:
                raise error.with_rule(rule.name) from None
            if steps is not None:
                steps.append(Step(rule=rule.name, matched=True, emitted=emitted,
                                  notices=tuple(notices[before:])))
            for output in emitted:
                if type(output) is Skip:
                    return self._finish(Translation(skipped=output.reason, origin=origin,
                                                    notices=tuple(notices)))
            outputs += emitted
            if rule.final:
                break
        if not outputs:
            return self._finish(Translation(skipped="no rule emitted anything for this event",
                                            origin=origin, notices=tuple(notices)))
        return self._finish(Translation(requests=_requests(outputs, origin),
                                        notices=tuple(notices), origin=origin))

    def _finish(self, translation: Translation) -> Translation:
        if translation.notices and self.settings.strict:
            raise InvalidEvent(Problem(n.path, f"strict mode rejects what would be dropped or "
                                       f"fixed: {n.message}", n.rule)
                               for n in translation.notices)
        return translation

    # -- streams -----------------------------------------------------------------------

    def translate_many(self, events: Iterable[Mapping[str, Any] | SegmentEvent],
                       *, start: int = 0) -> Iterator[Translation]:
        """Translate a stream lazily, one :class:`Translation` per event, in order.

        Never raises for a bad event: a rejected event's translation carries ``error``.
        Positions (the origin of events without a ``messageId``) count from ``start``.
        """
        translate = self.translate
        for position, event in enumerate(events, start):
            try:
                yield translate(event, position=position)
            except InvalidEvent as error:
                yield Translation(error=error, origin=_origin_of(event, position))

    def explain(self, event: Mapping[str, Any] | SegmentEvent) -> Explanation:
        """Which rules met ``event``, what each emitted, and the translation (or the
        error). Never raises for a bad event."""
        steps: list[Step] = []
        origin = _origin_of(event, None)
        model: SegmentEvent | None = None
        try:
            model = event if isinstance(event, MODELS) else structure_event(event)
            translation = self._run(model, origin, steps)
        except InvalidEvent as error:
            translation = Translation(error=error, origin=origin)
        ran = {s.rule for s in steps}
        kind = getattr(model, "type", None)
        table = []
        for rule in self.rules:
            found = next((s for s in steps if s.rule == rule.name), None)
            if found is not None:
                table.append(found)
            elif model is None:
                table.append(Step(rule=rule.name, matched=False, note="event not parsed"))
            elif kind not in rule.types:
                table.append(Step(rule=rule.name, matched=False, note=f"not for {kind}"))
            elif bind(rule.when, self.settings) is False:
                table.append(Step(rule=rule.name, matched=False,
                                  note="cannot match under these settings"))
            elif ran:
                table.append(Step(rule=rule.name, matched=False,
                                  note="not reached: an earlier rule ended the table"))
        return Explanation(event=model, steps=tuple(table), translation=translation)


def _requests(outputs: list[Output], origin: Origin) -> tuple[Request, ...]:
    """Requests of other endpoints first (in emission order), then one ``/users/track``
    with every attributes object, event and purchase."""
    if len(outputs) == 1:  # the common case: one object
        only = outputs[0]
        if isinstance(only, Event):
            return (UsersTrack(events=(only,), origins={"events": (origin,)}),)
        if isinstance(only, UserAttributes):
            return (UsersTrack(attributes=(only,), origins={"attributes": (origin,)}),)
    others: list[Request] = []
    attributes: list[UserAttributes] = []
    events: list[Event] = []
    purchases: list[Purchase] = []
    for output in outputs:
        if isinstance(output, UserAttributes):
            attributes.append(output)
        elif isinstance(output, Event):
            events.append(output)
        elif isinstance(output, Purchase):
            purchases.append(output)
        elif not isinstance(output, Skip):  # a Skip ended the translation earlier
            others.append(output.with_origin(origin))
    if attributes or events or purchases:
        origins = {}
        if attributes:
            origins["attributes"] = (origin,) * len(attributes)
        if events:
            origins["events"] = (origin,) * len(events)
        if purchases:
            origins["purchases"] = (origin,) * len(purchases)
        others.append(UsersTrack(attributes=tuple(attributes), events=tuple(events),
                                 purchases=tuple(purchases), origins=origins))
    return tuple(others)


def translate(event: Mapping[str, Any] | SegmentEvent, settings: Settings) -> Translation:
    """Translate one event with ``settings`` and the default rules.

    Raises :class:`~segment_braze.InvalidEvent` when the event cannot be translated
    faithfully. For streams, build a :class:`Translator` once instead.
    """
    return Translator(settings).translate(event)


def explain(event: Mapping[str, Any] | SegmentEvent, settings: Settings) -> Explanation:
    """Which rules met ``event`` with ``settings``, what each emitted, and the result."""
    return Translator(settings).explain(event)
