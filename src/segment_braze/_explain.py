"""Rendering of :class:`~segment_braze.Explanation` as text for people.

Each row of the table is one line: ``✓`` when it matched (then what it emitted, ``→``,
and its notices, ``!``), ``-`` when it did not (and why). A row whose emitter is a
combinator shows its parts as a tree below it, each with what it emitted. The
translator's own step after the rules follows, marked ``»``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .braze import Event, Purchase, UserAttributes
from .scope import Skip

if TYPE_CHECKING:
    from .combinators import Trace
    from .translate import Explanation, Step

__all__ = ["render"]


def _describe(output: Any) -> str:
    if isinstance(output, Skip):
        return f"skip: {output.reason}"
    kind = type(output).__name__
    body = output.to_json()
    if not isinstance(output, UserAttributes | Event | Purchase):
        kind = f"{kind} {output.endpoint}"
    return f"{kind} {json.dumps(body, ensure_ascii=False, default=str)}"


def _emitted(count: int) -> str:
    return f"emitted {count}" if count else "emitted nothing"


def _trace(trace: Trace, indent: str, last: bool) -> list[str]:
    """One part of a combinator and, below it, its own parts or its outputs."""
    branch, below = ("└─ ", "   ") if last else ("├─ ", "│  ")
    what = _emitted(len(trace.emitted)) if trace.ran else (trace.note or "not run")
    lines = [f"{indent}{branch}{trace.name}: {what}"]
    inner = indent + below
    if trace.parts:
        for index, part in enumerate(trace.parts):
            lines += _trace(part, inner, index == len(trace.parts) - 1)
    else:
        lines += [f"{inner}  → {_describe(o)}" for o in trace.emitted]
        lines += [f"{inner}  ! {n.path}: {n.message}" for n in trace.notices]
    return lines


def _row(step: Step) -> list[str]:
    """A row of the table: matched (with its outputs, or its parts), or why not."""
    if not step.matched:
        return [f"  -  {step.rule:<16} {step.note or 'did not match'}"]
    lines = [f"  ✓  {step.rule:<16} matched, emitted {len(step.emitted)}"]
    if step.parts:
        for index, part in enumerate(step.parts):
            lines += _trace(part, "       ", index == len(step.parts) - 1)
        return lines
    lines += [f"       → {_describe(o)}" for o in step.emitted]
    lines += [f"       ! {n.path}: {n.message}" for n in step.notices]
    return lines


def _after(step: Step) -> list[str]:
    """The translator's step after the rules: what it added, or why nothing."""
    if not step.matched:
        return [f"  »  {step.rule:<16} {step.note or 'added nothing'}"]
    lines = [f"  »  {step.rule:<16} added {len(step.emitted)}"]
    lines += [f"       → {_describe(o)}" for o in step.emitted]
    return lines


def render(explanation: Explanation) -> str:
    event = explanation.event
    translation = explanation.translation
    if event is None:
        head = "event (not parsed)"
    else:
        name = getattr(event, "event", None) or getattr(event, "name", None)
        head = f"{type(event).__name__}" + (f" {name!r}" if name else "")
    lines = [f"{head} -> {translation.status}"]
    for step in explanation.steps:
        lines.extend(_row(step))
    for step in explanation.after:
        lines.extend(_after(step))
    if translation.unchanged:
        lines.append(f"unchanged, not sent: {', '.join(translation.unchanged)}")
    if translation.skipped is not None:
        lines.append(f"skipped: {translation.skipped}")
    if translation.error is not None:
        lines.append("rejected:")
        lines += [f"  {p}" for p in translation.error.problems]
    for request in translation.requests:
        lines.append(f"request {request.endpoint}: "
                     f"{json.dumps(request.to_json(), ensure_ascii=False)}")
    return "\n".join(lines)
