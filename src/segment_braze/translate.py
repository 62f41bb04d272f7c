"""Translation: Segment events through the rule table into Braze requests.

``translate(event, settings)`` returns a :class:`Translation` or raises
:class:`~segment_braze.InvalidEvent`. ``Translator(settings)`` is built once and
translates streams: ``translate_many`` never raises for a bad event (the translation
carries ``error`` instead), so every event that goes in comes out exactly once as
translated, skipped (with a reason) or rejected (with its problems). ``explain`` shows,
for a notebook, which rules matched, what each emitted (and each part of a combinator),
and what the translator did after the rules.

For each event the translator runs the rows of its table that can meet the event's
type; then one step of its own, :data:`ALIAS_PROFILE`: the attributes object that
creates an alias user's profile, before that user's events and purchases
(:func:`~segment_braze.mapping.identity.add_alias_profiles`). Rules never need to know
about it.

A translator holds everything it builds from its settings (its converter, its bound
table and the memo its rule bodies keep); nothing is shared between translators, and
nothing of it is pickled: an unpickled translator builds its own again.

Change tracking (leaving out the values Braze already has) is a stage of its own after
translation: :class:`~segment_braze.tracking.Tracker`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from ._makers import maker
from ._structuring import fast_structure
from .braze import (
    Event,
    Origin,
    Purchase,
    Request,
    UserAttributes,
    UsersTrack,
)
from .combinators import Trace, trace, traces
from .converters import make_converter
from .errors import InvalidEvent, Notice, Problem, Status
from .events import EVENT_CLASSES, SegmentEvent
from .mapping.identity import add_alias_profiles, resolve
from .rules import DEFAULT_RULES, Rule, bind, bind_table
from .scope import Emitter, Memo, Output, Resolver, Scope, Sink, Skip
from .settings import Settings
from .times import UTC

__all__ = ["ALIAS_PROFILE", "Explanation", "Step", "Translation", "Translator", "explain",
           "reference_translator", "translate"]

#: The name of the translator's step after the rules, as ``explain()`` shows it.
ALIAS_PROFILE: Final = "alias_profile"

#: Builds a :class:`~segment_braze.Scope` from its fields in order, without the keyword
#: handling of the named tuple's own constructor: one scope is built per event.
_new_scope: Final = tuple.__new__


def _now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen(kw_only=True, slots=False, repr=False)
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

    def __repr__(self) -> str:
        """The status and what it rests on: the requests' endpoints (never their bodies,
        so never a secret), the number of notices, the skip reason or the problems."""
        parts = [f"status={self.status!r}"]
        if self.requests:
            parts.append(f"requests={[r.endpoint for r in self.requests]!r}")
        if self.notices:
            parts.append(f"notices={len(self.notices)}")
        if self.skipped is not None:
            parts.append(f"skipped={self.skipped!r}")
        if self.error is not None:
            parts.append(f"problems={[str(p) for p in self.error.problems]!r}")
        if self.unchanged:
            parts.append(f"unchanged={len(self.unchanged)}")
        parts.append(f"origin={self.origin!r}")
        return f"Translation({', '.join(parts)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython
        printer.text(self.pretty())

    def pretty(self) -> str:
        """The translation for reading: the status, each request's endpoint with how many
        entries each part holds, and every notice, skip reason or problem."""
        lines = [f"Translation {self.status} (origin {self.origin!r})"]
        for request in self.requests:
            declared = type(request).ENDPOINT.parts
            counts = ", ".join(f"{len(request.entries(part))} {part.name}"
                               for part in declared if request.entries(part))
            lines.append(f"  {request.endpoint}: {counts}")
        lines += [f"  ! {notice}" for notice in self.notices]
        if self.skipped is not None:
            lines.append(f"  skipped: {self.skipped}")
        if self.error is not None:
            lines += [f"  rejected: {problem}" for problem in self.error.problems]
        if self.unchanged:
            lines.append(f"  unchanged, not sent: {', '.join(self.unchanged)}")
        return "\n".join(lines)


#: Translations built without ``__init__``'s keyword handling (one per event).
_translated: Final = maker(Translation, "requests", "notices", "origin")
_skipped: Final = maker(Translation, "skipped", "notices", "origin")


@attrs.frozen(kw_only=True)
class Step:
    """One row of the table (or the translator's step after the rules) as it met one
    event, for :func:`explain`."""

    rule: str
    matched: bool
    emitted: tuple[Output, ...] = ()
    notices: tuple[Notice, ...] = ()
    #: Why the row did not run: another type, a final rule stopped the table earlier, or
    #: its emitter ran inside another row.
    note: str | None = None
    #: For a row whose emitter is a combinator: what each part did.
    parts: tuple[Trace, ...] = ()


@attrs.frozen(kw_only=True)
class Explanation:
    """Which rules met an event, what each emitted, what the translator did after the
    rules (``after``: the :data:`ALIAS_PROFILE` step), and the resulting translation.
    ``str()`` renders it for reading."""

    event: SegmentEvent | None
    steps: tuple[Step, ...]
    translation: Translation
    after: tuple[Step, ...] = ()

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

    A translator pickles (for ``multiprocessing`` or Spark) when its rules, clock and
    resolver do: :data:`~segment_braze.DEFAULT_RULES` and every rule built from the
    library's matchers, combinators and module-level functions. Only those and the
    settings travel; the converter, the bound table and its memo are built again.
    """

    def __init__(self, settings: Settings, *, rules: tuple[Rule, ...] = DEFAULT_RULES,
                 clock: Callable[[], datetime] = _now, resolve: Resolver = resolve) -> None:
        if not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings, got {type(settings).__name__}")
        self.settings = settings
        # The rows each event type can meet under these settings, and the memo of the
        # rule bodies: built here, once, for this translator only.
        self._table = bind_table(rules, settings)
        self.rules = self._table.rules
        self._memo = self._table.memo
        # Per event type, each row as the loop reads it (the rule's fields read once).
        self._rows = {kind: tuple((rule.name, test, rule.emit, rule.final, rule)
                                  for rule, test in rows)
                      for kind, rows in self._table.rows.items()}
        self.clock = clock
        self.resolve = resolve
        self._converter = make_converter()
        # Plain-dict events of the usual shape skip cattrs; the converter reads the rest.
        self._structure = fast_structure(self._converter)
        # The alias-profile step never creates a profile with update_existing_only on.
        self._profiles = not settings.update_existing_only
        self._strict = settings.strict

    def __repr__(self) -> str:
        return f"Translator({self.settings!r}, rules=<{len(self.rules)} rules>)"

    def __getstate__(self) -> dict[str, Any]:
        """What a pickled translator carries: its settings, rules, clock and resolver.
        Everything built from them is built again on unpickling."""
        return {"settings": self.settings, "rules": self.rules, "clock": self.clock,
                "resolve": self.resolve}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Translator.__init__(self, state["settings"], rules=state["rules"],
                            clock=state["clock"], resolve=state["resolve"])

    def scope(self, event: Mapping[str, Any] | SegmentEvent) -> Scope:
        """The scope this translator gives ``event`` (a model, or Segment JSON, parsed
        first): to call a matcher or an emitter by hand, as a test of a custom rule."""
        model = event if isinstance(event, EVENT_CLASSES) else self._structure(event)
        return Scope(self.settings, model, self.resolve(model, self.settings), self.clock,
                     Sink(), self._memo)

    # -- one event ---------------------------------------------------------------------

    def translate(self, event: Mapping[str, Any] | SegmentEvent, *,
                  position: int | None = None) -> Translation:
        """Translate one event (a Segment JSON dict or a typed model).

        Raises :class:`~segment_braze.InvalidEvent` when it cannot be translated
        faithfully (or, with ``strict``, when anything had to be dropped or fixed).
        """
        if type(event) is dict:  # the common case: Segment JSON
            model = self._structure(event)
            message_id = event.get("messageId")
            return self._run(model, message_id if isinstance(message_id, str) and message_id
                             else position, None, None)
        model = event if isinstance(event, EVENT_CLASSES) else self._structure(event)
        return self._run(model, _origin_of(event, position), None, None)

    def _run(self, event: SegmentEvent, origin: Origin, steps: list[Step] | None,
             after: list[Step] | None) -> Translation:
        """The rows, then the alias-profile step; ``steps`` and ``after`` (for explain)
        collect what each did."""
        rows = self._rows.get(getattr(event, "type", None))  # type: ignore[arg-type]
        if rows is None:
            raise TypeError(f"not a Segment event model: {type(event).__name__}")
        settings = self.settings
        sink = Sink()
        scope = _new_scope(Scope, (settings, event, self.resolve(event, settings), self.clock,
                                   sink, self._memo))
        notices = sink.notices
        outputs: list[Output] = []
        for name, test, emit, final, rule in rows:
            sink.rule = name
            if test is not True and not test(event, scope):  # type: ignore[operator]
                if steps is not None:
                    steps.append(Step(rule=name, matched=False))
                continue
            try:
                if steps is None:
                    emitted = emit(event, scope)
                    if type(emitted) is not tuple:
                        emitted = tuple(emitted)
                else:
                    emitted = _explained(rule, event, scope, steps)
            except InvalidEvent as error:
                raise error.with_rule(name) from None
            for output in emitted:
                if type(output) is Skip:
                    return _skipped(output.reason, self._notices(notices), origin)
            outputs += emitted
            if final:
                break
        if not outputs:
            return _skipped("no rule emitted anything for this event", self._notices(notices),
                            origin)
        if self._profiles:
            outputs, added = add_alias_profiles(outputs)
            if after is not None:
                after.append(Step(rule=ALIAS_PROFILE, matched=bool(added), emitted=added,
                                  note=None if added else "nothing to add: no event or "
                                  "purchase of an alias user lacks its profile"))
        return _translated(_requests(outputs, origin),
                           self._notices(notices) if notices else (), origin)

    def _notices(self, notices: list[Notice]) -> tuple[Notice, ...]:
        """The notices of a translation; in strict mode, the problems that reject it."""
        if notices and self._strict:
            raise InvalidEvent(Problem(n.path, f"strict mode rejects what would be dropped or "
                                       f"fixed: {n.message}", n.rule)
                               for n in notices)
        return tuple(notices)

    # -- streams -----------------------------------------------------------------------

    def translate_many(self, events: Iterable[Mapping[str, Any] | SegmentEvent],
                       *, start: int = 0) -> Iterator[Translation]:
        """Translate a stream lazily, one :class:`Translation` per event, in order.

        Never raises for a bad event: a rejected event's translation carries ``error``.
        Positions (the origin of events without a ``messageId``) count from ``start``.
        """
        structure, run = self._structure, self._run
        for position, event in enumerate(events, start):
            try:
                if type(event) is dict:  # as translate() does it, without a call
                    model = structure(event)
                    message_id = event.get("messageId")
                    yield run(model, message_id if isinstance(message_id, str) and message_id
                              else position, None, None)
                else:
                    yield self.translate(event, position=position)
            except InvalidEvent as error:
                yield Translation(error=error, origin=_origin_of(event, position))

    def explain(self, event: Mapping[str, Any] | SegmentEvent) -> Explanation:
        """Which rules met ``event``, what each emitted (each part, for a combinator),
        what the translator added after the rules, and the translation (or the error).
        Never raises for a bad event."""
        steps: list[Step] = []
        after: list[Step] = []
        origin = _origin_of(event, None)
        model: SegmentEvent | None = None
        try:
            model = event if isinstance(event, EVENT_CLASSES) else self._structure(event)
            translation = self._run(model, origin, steps, after)
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
                host = _ran_inside(rule.emit, steps)
                note = ("not reached: an earlier rule ended the table" if host is None
                        else f"ran inside {host} (its emitter is one of {host}'s parts)")
                table.append(Step(rule=rule.name, matched=False, note=note))
        if model is not None and not after:
            after.append(Step(rule=ALIAS_PROFILE, matched=False,
                              note=_profile_not_run(self._profiles, translation.status)))
        return Explanation(event=model, steps=tuple(table), translation=translation,
                           after=tuple(after))


def _explained(rule: Rule, event: SegmentEvent, scope: Scope, steps: list[Step]
               ) -> tuple[Output, ...]:
    """Run a matched row for :meth:`Translator.explain`, recording its step (with the
    parts of a combinator)."""
    found = trace(rule.emit, event, scope)
    steps.append(Step(rule=rule.name, matched=True, emitted=found.emitted,
                      notices=found.notices, parts=found.parts))
    return found.emitted


def _ran_inside(emit: Emitter, steps: list[Step]) -> str | None:
    """The row inside whose combinator ``emit`` ran, if one did."""
    for step in steps:
        for part in traces(step.parts):
            if part.ran and part.emitter == emit:
                return step.rule
    return None


def _profile_not_run(enabled: bool, status: Status) -> str:
    if not enabled:
        return "off: with update_existing_only, no profile is ever created"
    return f"not run: the event was {status} before it"


def _requests(outputs: list[Output], origin: Origin) -> tuple[Request, ...]:
    """Requests of other endpoints first (in emission order), then one ``/users/track``
    with every attributes object, event and purchase."""
    kind = type(outputs[0])
    if len(outputs) == 1:  # the most common case: one object
        if kind is Event:
            return (_track((), tuple(outputs), (), {"events": (origin,)}),)
        if kind is UserAttributes:
            return (_track(tuple(outputs), (), (), {"attributes": (origin,)}),)
    part = _TRACK_PARTS.get(kind)
    if part is not None:  # the common case: objects of one part (an order's purchases)
        for output in outputs:
            if type(output) is not kind:
                break
        else:
            entries = tuple(outputs)
            origins = {part: (origin,) * len(entries)}
            if kind is Event:
                return (_track((), entries, (), origins),)
            if kind is UserAttributes:
                return (_track(entries, (), (), origins),)
            return (_track((), (), entries, origins),)
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
        others.append(_track(tuple(attributes), tuple(events), tuple(purchases), origins))
    return tuple(others)


#: The part of ``/users/track`` that takes objects of each class.
_TRACK_PARTS: Final[Mapping[type, str]] = {UserAttributes: "attributes", Event: "events",
                                           Purchase: "purchases"}

#: A ``/users/track`` request without ``__init__``: its origins are built with its
#: entries, one for one, so the check of origins given by hand has nothing to find.
_track: Final = maker(UsersTrack, "attributes", "events", "purchases", "origins")


def reference_translator(translator: Translator) -> Translator:
    """A translator like ``translator`` (its settings, rules, clock and resolver) with
    every fast path off: each event structured by the cattrs converter, each rule body
    on its general path, nothing remembered between events
    (:class:`~segment_braze.scope.Memo` with ``shortcuts=False``).

    Its translations must equal ``translator``'s byte for byte, notices and problems
    included; the differential tests hold them so. It is slower, and meant for tests
    and benchmarks (unpickled, it is an ordinary translator again).
    """
    reference = Translator(translator.settings, rules=translator.rules,
                           clock=translator.clock, resolve=translator.resolve)
    reference._structure = reference._converter.structure_event
    reference._table = attrs.evolve(reference._table, memo=Memo(shortcuts=False))
    reference._memo = reference._table.memo
    return reference


def translate(event: Mapping[str, Any] | SegmentEvent, settings: Settings) -> Translation:
    """Translate one event with ``settings`` and the default rules.

    Raises :class:`~segment_braze.InvalidEvent` when the event cannot be translated
    faithfully. For streams, build a :class:`Translator` once instead.
    """
    return Translator(settings).translate(event)


def explain(event: Mapping[str, Any] | SegmentEvent, settings: Settings) -> Explanation:
    """Which rules met ``event`` with ``settings``, what each emitted, and the result."""
    return Translator(settings).explain(event)
