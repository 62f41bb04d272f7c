"""Rendering of :class:`~segment_braze.Explanation` as text for people."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .braze import Event, Purchase, UserAttributes
from .scope import Skip

if TYPE_CHECKING:
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


def _step(step: Step) -> list[str]:
    if not step.matched:
        return [f"  -  {step.rule:<16} {step.note or 'did not match'}"]
    lines = [f"  ✓  {step.rule:<16} matched, emitted {len(step.emitted)}"]
    lines += [f"       → {_describe(o)}" for o in step.emitted]
    lines += [f"       ! {n.path}: {n.message}" for n in step.notices]
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
        lines.extend(_step(step))
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
