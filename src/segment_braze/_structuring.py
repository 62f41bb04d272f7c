"""The fast path of structuring: plain-dict events of the usual shape, without cattrs.

:func:`fast_structure` returns ``structure(data) -> SegmentEvent``. For each event type
a function is generated from the model's fields and, for each field, from the hook the
converter structures it with (:meth:`~segment_braze.converters.SegmentConverter.field_hooks`):
the usual value (a string, a plain dict) is taken as the hook would return it, any other
value is given to that same hook; the model is built by a maker
(:mod:`segment_braze._makers`) rather than through cattrs' keyword dictionary and
``__init__``.

Anything else gives up and goes to the converter, which stays the reference and the
source of every error message: a value a hook refuses, a missing required field, a
mapping that is not a plain ``dict``, an unknown type. The fast path returns the model
the converter returns, or nothing.

Event times repeat within an event (``timestamp``, ``originalTimestamp``, ``sentAt``,
``receivedAt`` are often one string): the last time string read and its value are
remembered, per ``structure`` function (one per translator).

``tests/test_differential.py`` holds the fast path equal to the converter over the
golden cases and generated events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

from ._makers import maker
from .converters import WIRE_NAMES, SegmentConverter
from .events import EVENT_MODELS, Context, SegmentEvent
from .limits import MAX_EVENT_CHARS

__all__ = ["fast_structure"]

#: Returned by a fast function that gives up (never a model).
_GIVE_UP: Final = None


def _field_lines(name: str, wire: str, kind: str, required: bool) -> list[str]:
    """The generated lines that set the local ``name`` from ``o[wire]``, or give up."""
    usual = {
        "text": "type(v) is str and len(v) <= _MAX",
        "object": "type(v) is dict",
    }
    lines = [f"v = o.get({wire!r})",
             f"if v is None: {'return _GIVE_UP' if required else f'{name} = None'}"]
    if kind in usual:
        lines.append(f"elif {usual[kind]}: {name} = v")
    elif kind == "time":  # one time string, read once for the whole event
        lines += ["elif type(v) is str:",
                  "    last = _last_time[0]",
                  f"    if last[0] == v: {name} = last[1]",
                  "    else:",
                  f"        {name} = _hook_{name}(v, None)",
                  f"        _last_time[0] = (v, {name})"]
    elif kind == "context":
        lines += ["elif type(v) is dict:",
                  f"    {name} = _context(v)",
                  f"    if {name} is _GIVE_UP: return _GIVE_UP"]
    lines.append(f"else: {name} = _hook_{name}(v, None)")
    return lines


def _generate(model: type[Any], converter: SegmentConverter,
              namespace: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    """The fast function of one model: the model, or ``None`` to give up."""
    hooks = converter.field_hooks(model)
    names = [f.name for f in attrs.fields(model) if f.name in hooks]
    body: list[str] = []
    for name in names:
        field = hooks[name]
        namespace[f"_hook_{name}"] = field.hook
        body += _field_lines(name, WIRE_NAMES.get(name, name), field.kind, field.required)
    namespace[f"_make_{model.__name__}"] = maker(model, *names)
    source = "\n".join([
        f"def fast_{model.__name__}(o):",
        "    try:",
        *(f"        {line}" for line in body),
        "    except Exception:",
        "        return _GIVE_UP  # the converter says what is wrong",
        f"    return _make_{model.__name__}({', '.join(names)})",
    ])
    exec(compile(source, f"<fast structuring {model.__name__}>", "exec"),  # noqa: S102
         namespace)
    return namespace[f"fast_{model.__name__}"]  # type: ignore[no-any-return]


def fast_structure(converter: SegmentConverter) -> Callable[[Any], SegmentEvent]:
    """``structure(data)``: ``data`` as its event model, by the fast path when it is a
    plain dict of the usual shape, else by ``converter.structure_event`` (which raises
    :class:`~segment_braze.InvalidEvent` for an invalid event)."""
    namespace: dict[str, Any] = {"_MAX": MAX_EVENT_CHARS, "_GIVE_UP": _GIVE_UP,
                                 "_last_time": [(object(), None)]}
    whole_context = _generate(Context, converter, namespace)
    read = tuple(f.name for f in attrs.fields(Context))
    empty = Context()

    def context(value: dict[str, Any]) -> Context | None:
        for key in read:
            if key in value:
                return whole_context(value)  # type: ignore[no-any-return]
        return empty  # nothing the rules read: one shared empty context, as the converter

    namespace["_context"] = context
    fast = {kind: _generate(model, converter, namespace)
            for kind, model in EVENT_MODELS.items()}.get
    slow = converter.structure_event

    def structure(data: Any) -> SegmentEvent:
        if type(data) is dict:
            kind = data.get("type")
            found = fast(kind) if type(kind) is str else None
            if found is not None:
                made = found(data)
                if made is not _GIVE_UP:
                    return made  # type: ignore[no-any-return]
        return slow(data)

    return structure
