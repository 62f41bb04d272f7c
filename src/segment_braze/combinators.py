"""Combinators: emitters made of other emitters, so a row of the table that builds on
another row's body says so in the table, and ``explain()`` shows both.

- ``both(a, b)`` emits ``a``'s outputs, then ``b``'s (``b`` does not run once ``a``
  skipped the event);
- ``otherwise(a, b)`` emits ``a``'s outputs, or ``b``'s when ``a`` emits nothing.

Like the matchers, each is a small frozen callable class behind a factory function, so a
row prints as it is written (``both(merge_anonymous, identify_to_attributes)``), compares
by value and pickles. A combinator also has ``explain(event, scope)``, which runs it and
returns a :class:`Trace` of each part; the translator's ``explain()`` uses it to show the
parts of a row, and to say where a row's body ran when it ran inside another row.

A transform that changes the event before an emitter sees it (the audience row's
:func:`~segment_braze.mapping.audiences.other_traits`) is built the same way: callable,
with ``parts``, ``explain`` and a readable ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import attrs

from .errors import Notice
from .scope import Emitter, Output, Scope, Skip

__all__ = ["Combinator", "Trace", "both", "name_of", "otherwise", "trace", "traces"]


def name_of(function: object) -> str:
    """How a matcher, an emitter or a combinator prints: a function by its name, a
    callable object by its repr."""
    name = getattr(function, "__name__", None)
    return name if isinstance(name, str) else repr(function)


@attrs.frozen(kw_only=True)
class Trace:
    """What one part of a combinator did with one event, for ``explain()``: whether it
    ran, what it emitted, the notices it gave, and the traces of its own parts."""

    emitter: Emitter
    ran: bool = True
    emitted: tuple[Output, ...] = ()
    notices: tuple[Notice, ...] = ()
    parts: tuple[Trace, ...] = ()
    #: Why the part did not run.
    note: str | None = None

    @property
    def name(self) -> str:
        """The part as the table writes it."""
        return name_of(self.emitter)


class Combinator(Protocol):
    """An emitter made of other emitters (``parts``) that can explain itself."""

    parts: tuple[Emitter, ...]

    def __call__(self, event: Any, scope: Scope) -> tuple[Output, ...]: ...

    def explain(self, event: Any,
                scope: Scope) -> tuple[tuple[Output, ...], tuple[Trace, ...]]: ...


def trace(emitter: Emitter, event: Any, scope: Scope) -> Trace:
    """Run ``emitter`` as :meth:`~Combinator.explain` does: what it emitted, the notices
    it gave (read from the scope's sink) and, for a combinator, its parts' traces."""
    notices = scope.sink.notices
    before = len(notices)
    explain = getattr(emitter, "explain", None)
    if callable(explain):
        emitted, parts = explain(event, scope)
    else:
        emitted, parts = tuple(emitter(event, scope)), ()
    return Trace(emitter=emitter, emitted=emitted, notices=tuple(notices[before:]),
                 parts=parts)


def traces(found: Iterable[Trace]) -> Iterator[Trace]:
    """Every trace in ``found`` and, depth first, in their parts."""
    for one in found:
        yield one
        yield from traces(one.parts)


def _skips(outputs: tuple[Output, ...]) -> bool:
    return any(type(output) is Skip for output in outputs)


@attrs.frozen(repr=False)
class _Both:
    first: Emitter
    second: Emitter

    @property
    def parts(self) -> tuple[Emitter, ...]:
        return (self.first, self.second)

    def __call__(self, event: Any, scope: Scope) -> tuple[Output, ...]:
        first = tuple(self.first(event, scope))
        for output in first:
            if type(output) is Skip:
                return first
        return first + tuple(self.second(event, scope))

    def explain(self, event: Any,
                scope: Scope) -> tuple[tuple[Output, ...], tuple[Trace, ...]]:
        first = trace(self.first, event, scope)
        if _skips(first.emitted):
            second = Trace(emitter=self.second, ran=False,
                           note=f"not run: {first.name} skipped the event")
            return first.emitted, (first, second)
        second = trace(self.second, event, scope)
        return first.emitted + second.emitted, (first, second)

    def __repr__(self) -> str:
        return f"both({name_of(self.first)}, {name_of(self.second)})"


def both(first: Emitter, second: Emitter) -> Emitter:
    """Emits what ``first`` emits, then what ``second`` emits, for the same event. When
    ``first`` skips the event, ``second`` does not run (a skip ends the table)."""
    return _Both(first, second)


@attrs.frozen(repr=False)
class _Otherwise:
    first: Emitter
    fallback: Emitter

    @property
    def parts(self) -> tuple[Emitter, ...]:
        return (self.first, self.fallback)

    def __call__(self, event: Any, scope: Scope) -> tuple[Output, ...]:
        first = tuple(self.first(event, scope))
        return first if first else tuple(self.fallback(event, scope))

    def explain(self, event: Any,
                scope: Scope) -> tuple[tuple[Output, ...], tuple[Trace, ...]]:
        first = trace(self.first, event, scope)
        if first.emitted:
            fallback = Trace(emitter=self.fallback, ran=False,
                             note=f"not run: {first.name} emitted")
            return first.emitted, (first, fallback)
        fallback = trace(self.fallback, event, scope)
        return fallback.emitted, (first, fallback)

    def __repr__(self) -> str:
        return f"otherwise({name_of(self.first)}, {name_of(self.fallback)})"


def otherwise(first: Emitter, fallback: Emitter) -> Emitter:
    """Emits what ``first`` emits; when that is nothing at all, what ``fallback`` emits
    for the same event."""
    return _Otherwise(first, fallback)
