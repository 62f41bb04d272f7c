"""Braze's value rules, shared by custom attributes and event / purchase properties.

What Braze documents, and what happens here when a value breaks it:

- names (attributes, properties): non-empty, at most 255 characters, not starting with
  ``$``; otherwise the entry is dropped with a notice;
- strings at most 255 characters; longer ones are dropped with a notice (never cut:
  a cut string is a different value);
- numbers finite (NaN and infinities are not JSON) and integers within 64 bits;
- arrays of scalars at most 500 items (custom attributes);
- nested custom attribute objects: keys without a leading ``$``, ``.`` or spaces, at most
  100 KB; a ``null`` inside one is removed (Braze drops every nested update of a request
  that holds one), times inside one become ``{"$time": ...}``;
- event and purchase properties at most 51,200 bytes of compact JSON, nested objects and
  arrays kept; the reserved keys ``time`` and ``event_name`` are dropped.

A nested value that breaks a rule drops its whole top-level entry (a partial object would
replace the stored one in Braze), with a notice naming the exact nested path.

These functions run for every value of every event, so the common cases (short strings,
numbers, flat objects) take the shortest path and paths for notices are only built when
a notice is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from .. import _json
from ..errors import reject
from ..limits import (
    INT64,
    MAX_DEPTH,
    MAX_EVENT_CHARS,
    MAX_NAME,
    MAX_PROPERTIES_BYTES,
    MAX_STRING,
)
from ..scope import MEMO_LIMIT
from ..times import render_time

if TYPE_CHECKING:
    from ..scope import Scope

__all__ = [
    "DROP",
    "RESERVED_PROPERTIES",
    "Dropped",
    "Fixed",
    "TooLarge",
    "Unsendable",
    "Walk",
    "check_properties_size",
    "clean_properties",
    "name_problem",
    "raise_if_too_large",
]

_ABORT: Final = 6 * MAX_EVENT_CHARS
RESERVED_PROPERTIES: Final = frozenset({"time", "event_name"})


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Returned for a value that must not be sent, after its notice was given.
DROP: Final = _Drop()


class Dropped:
    """A value that must not be sent, and why (for the notice)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Dropped({self.message!r})"


class Fixed:
    """A value that is sent after a fix (part of it dropped), and the notice to give."""

    __slots__ = ("message", "value")

    def __init__(self, value: Any, message: str) -> None:
        self.value = value
        self.message = message


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name an attribute or a property, or ``None``."""
    if type(name) is not str:
        return "names must be strings"
    if not name:
        return "empty name"
    if len(name) > MAX_NAME:
        return f"name longer than {MAX_NAME} characters"
    if name[0] == "$":
        return "names must not start with '$'"
    return None


class Unsendable(Exception):
    """A nested value breaks a rule: ``path`` is relative to the walk's start."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class TooLarge(Unsendable):
    """The input is hostile rather than unsendable: the event is rejected."""


def raise_if_too_large(bad: Unsendable, base: tuple[str | int, ...]) -> None:
    if isinstance(bad, TooLarge):
        reject((*base, *bad.path), bad.message)


class Walk:
    """One walk over nested values, with a running upper bound of their JSON size."""

    __slots__ = ("attribute", "fixes", "upper")

    def __init__(self, attribute: bool) -> None:
        self.attribute = attribute  # nested custom attribute rules (else event properties)
        self.upper = 0  # an upper bound of the compact UTF-8 JSON size
        self.fixes: list[tuple[tuple[str | int, ...], str]] = []

    def scalar(self, value: Any, path: tuple[str | int, ...]) -> Any:
        kind = type(value)
        if kind is str:
            if len(value) > MAX_STRING:
                if len(value) > MAX_EVENT_CHARS:
                    raise TooLarge(path, "string larger than 1 MB")
                raise Unsendable(path, f"string longer than {MAX_STRING} characters")
            self.upper += 6 * len(value) + 2
            return value
        if kind is bool or value is None:
            self.upper += 5
            return value
        if kind is int:
            if not -INT64 <= value < INT64:
                raise Unsendable(path, "integer outside the 64-bit range")
            self.upper += 21
            return value
        if kind is float:
            if value - value != 0.0:
                raise Unsendable(path, "not a finite number")
            self.upper += 25
            return value
        if isinstance(value, datetime):
            self.upper += 40
            return {"$time": render_time(value)} if self.attribute else render_time(value)
        if isinstance(value, date):
            self.upper += 40
            text = value.isoformat()
            return {"$time": text} if self.attribute else text
        raise Unsendable(path, f"unsupported value of type {type(value).__name__}")

    def value(self, value: Any, path: tuple[str | int, ...], depth: int) -> Any:
        kind = type(value)
        if kind is dict:
            return self.mapping(value, path, depth + 1)
        if kind is list or kind is tuple:
            return self.array(value, path, depth + 1)
        if isinstance(value, Mapping):
            return self.mapping(value, path, depth + 1)
        return self.scalar(value, path)

    def _enter(self, path: tuple[str | int, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise TooLarge(path, f"nested deeper than {MAX_DEPTH} levels")
        if self.upper > _ABORT:
            raise TooLarge(path, "larger than 1 MB")

    def mapping(self, value: Mapping[str, Any], path: tuple[str | int, ...],
                depth: int) -> Mapping[str, Any]:
        """``value`` itself when nothing in it changes (it is checked in place); else a
        new dict, begun at the first change (another mapping is always copied). Plain
        scalars are checked here as :meth:`scalar` checks them."""
        self._enter(path, depth)
        attribute = self.attribute
        out: dict[str, Any] | None = None if type(value) is dict else {}
        for index, (key, item) in enumerate(value.items()):
            if not (type(key) is str and 0 < len(key) <= MAX_NAME and key[0] != "$") or (
                    attribute and ("." in key or " " in key)):
                problem = name_problem(key) or "keys of nested attributes must not contain " \
                                               "'.' or spaces"
                raise Unsendable((*path, str(key)), problem)
            kind = type(item)
            if kind is str and len(item) <= MAX_STRING:
                self.upper += 6 * len(item) + 2
                cleaned = item
            elif kind is int and -INT64 <= item < INT64:
                self.upper += 21
                cleaned = item
            elif kind is float and item - item == 0.0:
                self.upper += 25
                cleaned = item
            elif kind is bool:
                self.upper += 5
                cleaned = item
            elif item is None and attribute:
                self.fixes.append(((*path, key), "null removed from a nested attribute (Braze "
                                   "drops every nested update of a request holding one)"))
                if out is None:
                    out = dict(islice(value.items(), index))
                continue
            else:
                cleaned = self.value(item, (*path, key), depth)
                if out is None and cleaned is not item:
                    out = dict(islice(value.items(), index))
            if out is not None:
                out[key] = cleaned
            self.upper += 6 * len(key) + 4
        return value if out is None else out

    def array(self, value: list[Any] | tuple[Any, ...], path: tuple[str | int, ...],
              depth: int) -> list[Any]:
        """``value`` itself when nothing in it changes; else a new list (a tuple is always
        copied)."""
        self._enter(path, depth)
        out: list[Any] | None = None if type(value) is list else []
        for index, item in enumerate(value):
            kind = type(item)
            if kind is str and len(item) <= MAX_STRING:
                self.upper += 6 * len(item) + 3  # and its comma
                if out is not None:
                    out.append(item)
                continue
            if item is None and self.attribute:
                self.fixes.append(((*path, index), "null removed from a nested attribute"))
                if out is None:
                    out = list(value[:index])
                continue
            cleaned = self.value(item, (*path, index), depth)
            if out is None and cleaned is not item:
                out = list(value[:index])
            if out is not None:
                out.append(cleaned)
            self.upper += 1
        self.upper += 2
        return value if out is None else out  # type: ignore[return-value]


def _name_length(name: Any, known: dict[str, int]) -> int:
    """The length of a valid property name (remembered in ``known``, the translator's
    memo of property names: event schemas repeat, so most names are checked once), or
    -1."""
    if type(name) is not str or not 0 < len(name) <= MAX_NAME or name[0] == "$" \
            or name in RESERVED_PROPERTIES:
        return -1
    if len(known) < MEMO_LIMIT:
        known[name] = len(name)
    return len(name)


def clean_properties(properties: Mapping[str, Any], path: tuple[str | int, ...],
                     scope: Scope) -> tuple[Mapping[str, Any], int]:
    """Event or purchase properties as Braze accepts them (see the module docstring), and
    an upper bound of their JSON size. Properties that need no change, nested values
    included, are checked in place and returned as they are, not copied.

    Raises :class:`~segment_braze.InvalidEvent` when they are larger than 51,200 bytes.
    """
    memo = scope.memo
    if type(properties) is not dict or not memo.shortcuts:
        return _clean_properties_slowly(properties, path, scope)
    chars = 0  # characters of names and short strings: at most 6 bytes each in JSON
    walk: Walk | None = None  # nested values, checked in place
    known = memo.property_names
    for key, value in properties.items():
        length = known.get(key)
        if length is None:
            length = _name_length(key, known)
            if length < 0:
                break
        kind = type(value)
        if kind is str:
            size = len(value)
            if size > MAX_STRING:
                break
            chars += length + size + 3
        elif (kind is int and -INT64 <= value < INT64) or (
                kind is float and value - value == 0.0) or kind is bool or value is None:
            chars += length + 5
        elif kind is dict or kind is list:
            if walk is None:
                walk = Walk(attribute=False)
            try:
                if walk.value(value, (key,), 0) is not value:
                    break  # something in it must change: copied below
            except Unsendable:
                break  # dropped with a notice (or the event rejected) below
            chars += length + 3
        else:
            break
    else:
        bound = 6 * chars + (0 if walk is None else walk.upper)
        scope.sink.count_size(bound // 6)
        check_properties_size(properties, bound, path)
        return properties, bound
    # The general path, from the start: the same walk, with copies, notices and problems.
    return _clean_properties_slowly(properties, path, scope)


def _clean_properties_slowly(properties: Mapping[str, Any], path: tuple[str | int, ...],
                             scope: Scope) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    chars = 0
    walk = Walk(attribute=False)
    memo = scope.memo
    known = memo.property_names if memo.shortcuts else {}  # the reference keeps no memo
    for key, value in properties.items():
        length = known.get(key)
        if length is None:
            length = _name_length(key, known)
        kind = type(value)
        if length >= 0:
            if kind is str and len(value) <= MAX_STRING:
                out[key] = value
                chars += length + len(value) + 3
                continue
            if kind is bool or value is None or (kind is int and -INT64 <= value < INT64) \
                    or (kind is float and value - value == 0.0):
                out[key] = value
                chars += length + 5
                continue
        cleaned = _odd_property(key, value, path, walk, scope)
        if cleaned is not DROP:
            out[key] = cleaned
            chars += len(key) + 3
    bound = 6 * chars + walk.upper
    scope.sink.count_size(bound // 6)
    check_properties_size(out, bound, path)
    return out, bound


def _odd_property(key: Any, value: Any, path: tuple[str | int, ...], walk: Walk,
                  scope: Scope) -> Any:
    """A property off the common path: a bad or reserved name, a long string, a nested
    value; :data:`DROP` after a notice when it cannot be sent."""
    problem = name_problem(key)
    if problem is None and key in RESERVED_PROPERTIES:
        problem = f"{key!r} is reserved by Braze"
    if problem is not None:
        scope.notice((*path, str(key)), f"{problem}; property dropped")
        return DROP
    if type(value) is str:  # longer than MAX_STRING, or it would not be here
        scope.sink.count_size(len(value))
        scope.notice((*path, key), f"string longer than {MAX_STRING} characters; "
                     "property dropped")
        return DROP
    try:
        return walk.value(value, (key,), 0)
    except Unsendable as bad:
        raise_if_too_large(bad, path)
        scope.notice((*path, *bad.path), f"{bad.message}; property {key!r} dropped")
        return DROP


def check_properties_size(properties: Mapping[str, Any], bound: int,
                          path: tuple[str | int, ...]) -> None:
    """Reject properties over 51,200 bytes of compact JSON; ``bound`` is an upper bound of
    their size, so the exact size is only measured when it might be over."""
    if bound > MAX_PROPERTIES_BYTES:
        size = len(_json.dumps(properties))
        if size > MAX_PROPERTIES_BYTES:
            reject(path, f"properties are {size:,} bytes of JSON; Braze accepts at most "
                         f"{MAX_PROPERTIES_BYTES:,}")
