"""Errors, problems and notices.

Every error is a :class:`SegmentBrazeError` and also a built-in exception, so callers who
know nothing of this library can still catch it::

    SegmentBrazeError
    ├── InvalidEvent (ValueError)      the input cannot be translated faithfully
    ├── InvalidSettings (ValueError)   bad settings, named by key
    └── RuleTableError (TypeError)     a malformed custom rule table

Problems (why an event was rejected) and notices (what was dropped or fixed on the way)
are data: each carries a JSON path into the input, written with the wire names
(``$.properties.products[1].price``), a message and the rule that raised it. They are
rendered to text only at the edge. No secret ever appears in any of them.

:data:`Status` names what became of one input: translated, skipped (with a reason) or
rejected (with its problems); a Segment translation and a Currents conversion share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal, NoReturn, TypeAlias

import attrs

__all__ = [
    "InvalidEvent",
    "InvalidSettings",
    "Notice",
    "Problem",
    "RuleTableError",
    "SegmentBrazeError",
    "Status",
    "json_path",
]

#: What became of one input event: exactly one of these.
Status: TypeAlias = Literal["translated", "skipped", "rejected"]

#: A path into a JSON document: object keys and array indexes, outermost first.
Path = Sequence[str | int]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(segments: Path) -> str:
    """Render path segments as a JSON path: ``$.properties.products[1].price``.

    Keys that are not plain identifiers are quoted, as in ``$.traits['first name']``.
    """
    parts = ["$"]
    for segment in segments:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _PLAIN_KEY.match(segment):
            parts.append(f".{segment}")
        else:
            escaped = segment.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


@attrs.frozen
class Problem:
    """Why an event cannot be translated: where (a JSON path), what, and which rule."""

    path: str
    message: str
    rule: str | None = None

    def __str__(self) -> str:
        where = f" (rule {self.rule})" if self.rule else ""
        return f"{self.path}: {self.message}{where}"

    def to_json(self) -> dict[str, Any]:
        """``{"path", "message", "rule"}`` (``rule`` is ``null`` when none is named), as
        the command line's rejects file writes it."""
        return {"path": self.path, "message": self.message, "rule": self.rule}


@attrs.frozen
class Notice:
    """A value that was dropped or fixed during translation, with its JSON path and why.

    With ``Settings(strict=True)`` every notice becomes a :class:`Problem` instead.
    """

    path: str
    message: str
    rule: str | None = None

    def __str__(self) -> str:
        where = f" (rule {self.rule})" if self.rule else ""
        return f"{self.path}: {self.message}{where}"

    def to_json(self) -> dict[str, Any]:
        """``{"path", "message", "rule"}`` (``rule`` is ``null`` when none is named), as
        the command line's rejects file writes it."""
        return {"path": self.path, "message": self.message, "rule": self.rule}


class SegmentBrazeError(Exception):
    """Base class of every error raised by segment-braze."""


class InvalidEvent(SegmentBrazeError, ValueError):
    """The input cannot be translated faithfully.

    ``problems`` lists every problem found, each with a JSON path into the input. The
    message never contains a secret; it may quote short parts of the event.
    """

    problems: tuple[Problem, ...]

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        return f"{head}: " + "; ".join(str(p) for p in self.problems)

    def __reduce__(self) -> tuple[type[InvalidEvent], tuple[tuple[Problem, ...]]]:
        # Survives pickling, so errors cross process boundaries in parallel pipelines.
        return (type(self), (self.problems,))

    def with_rule(self, rule: str) -> InvalidEvent:
        """The same error with ``rule`` filled in on problems that name none."""
        if all(p.rule is not None for p in self.problems):
            return self
        return InvalidEvent(
            p if p.rule is not None else attrs.evolve(p, rule=rule) for p in self.problems
        )


class InvalidSettings(SegmentBrazeError, ValueError):
    """A setting is missing, unknown or malformed. ``key`` names it; its value is never shown
    for secret settings.

    ``source`` is the settings file the setting was read from
    (:meth:`~segment_braze.Settings.load`), when there is one; a file that is wrong as a
    whole (not JSON, not a JSON object) has no ``key``. The message names both:
    ``settings.json: trackAllPage: not a setting; did you mean 'trackAllPages'?``.
    """

    key: str | None
    message: str
    source: str | None

    def __init__(self, key: str | None, message: str, source: str | None = None) -> None:
        self.key = key
        self.message = message
        self.source = source
        where = [part for part in (source, key) if part is not None]
        super().__init__(": ".join([*where, message]))

    def __reduce__(self) -> tuple[type[InvalidSettings], tuple[str | None, str, str | None]]:
        return (type(self), (self.key, self.message, self.source))


class RuleTableError(SegmentBrazeError, TypeError):
    """A custom rule table is malformed (not a tuple of :class:`~segment_braze.Rule`,
    duplicate names, a matcher or emitter that is not callable)."""


def error_reason(error: BaseException) -> str:
    """An exception's reason for a one-line message: the system's words for an OS error
    (``no such file or directory``, without the errno and file name, which the message
    gives itself), else the exception's text, starting lower case."""
    text = getattr(error, "strerror", None) or str(error)
    return text[:1].lower() + text[1:] if text else type(error).__name__


def reject(path: Path, message: str) -> NoReturn:
    """Raise :class:`InvalidEvent` with one problem at ``path``."""
    raise InvalidEvent((Problem(json_path(path), message),))
