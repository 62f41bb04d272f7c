"""The fast path of structuring: plain-dict events of the usual shape, without cattrs.

:func:`fast_structure` returns ``structure(data) -> SegmentEvent``. For each event type
a function is generated from the model's fields and, for each field, from the hook the
converter structures it with (:meth:`~segment_braze.converters.SegmentConverter.field_hooks`):
the usual value (a string, a plain dict) is taken as the hook would return it, any other
value is given to that same hook; the model's fields are written straight into its
instance dictionary, as attrs' ``__init__`` writes them, rather than through cattrs'
keyword dictionary and ``__init__``.

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

import functools
from collections.abc import Callable
from types import CodeType
from typing import Any, Final

import attrs

from .converters import WIRE_NAMES, SegmentConverter
from .events import EVENT_MODELS, Context, SegmentEvent
from .limits import MAX_EVENT_CHARS

__all__ = ["fast_structure"]

#: Returned by a fast function that gives up (never a model).
_GIVE_UP: Final = None


def _field_lines(name: str, wire: str, kind: str, none_ok: bool, hook: str) -> list[str]:
    """The generated lines that set the field ``name`` of the new instance (its
    dictionary ``d``) from ``o[wire]`` (with the function named ``hook`` for an unusual
    value), or give up.

    ``none_ok``: a missing or null value makes the field ``None``, as the converter
    would (the field is optional, its default is ``None``, and the hooks of the kinds
    known here return ``None`` for null); otherwise the converter decides. A hook of a
    kind not known here is left to the converter whenever its key is there."""
    if kind == "other":
        return [f"if {wire!r} in o: return _GIVE_UP",
                f"d[{name!r}] = None" if none_ok else "return _GIVE_UP"]
    usual = {
        "text": "type(v) is str and len(v) <= _MAX",
        "object": "type(v) is dict",
    }
    field = f"d[{name!r}]"
    lines = [f"v = o.get({wire!r})"]
    # The usual value first (it is the usual case), then null, then the hook.
    if kind in usual:
        lines.append(f"if {usual[kind]}: {field} = v")
    elif kind == "time":  # one time string, read once for the whole event
        lines += ["if type(v) is str:",
                  "    last = _last_time[0]",
                  f"    if last[0] == v: {field} = last[1]",
                  "    else:",
                  f"        {field} = moment = {hook}(v, None)",
                  "        _last_time[0] = (v, moment)"]
    elif kind == "context":
        lines += ["if type(v) is dict:",
                  f"    {field} = context = _context(v)",
                  "    if context is _GIVE_UP: return _GIVE_UP"]
    lines += [f"elif v is None: {f'{field} = None' if none_ok else 'return _GIVE_UP'}",
              f"else: {field} = {hook}(v, None)"]
    return lines


def _generate(model: type[Any], converter: SegmentConverter,
              namespace: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    """The fast function of one model: the model, or ``None`` to give up.

    It builds the instance as attrs' ``__init__`` does (every field written to the
    instance dictionary, in the class's order, a field without a hook (``type``) taking
    its default), without ``__init__``'s keywords.
    """
    hooks = converter.field_hooks(model)
    body: list[str] = []
    for field in attrs.fields(model):
        name = field.name
        local = f"_{model.__name__}_{name}"  # its default, or its hook
        if name not in hooks:
            namespace[local] = field.default
            body.append(f"d[{name!r}] = {local}")
            continue
        hook = hooks[name]
        namespace[local] = hook.hook
        none_ok = not hook.required and field.default is None
        body += _field_lines(name, WIRE_NAMES.get(name, name), hook.kind, none_ok, local)
    namespace[f"_class_{model.__name__}"] = model
    source = "\n".join([
        f"def fast_{model.__name__}(o):",
        f"    made = _new(_class_{model.__name__})",
        "    d = made.__dict__",
        "    try:",
        *(f"        {line}" for line in body),
        "    except Exception:",
        "        return _GIVE_UP  # the converter says what is wrong",
        "    return made",
    ])
    exec(_compiled(source, f"<fast structuring {model.__name__}>"), namespace)  # noqa: S102
    return namespace[f"fast_{model.__name__}"]  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=64)
def _compiled(source: str, name: str) -> CodeType:
    """``source`` compiled, once: each translator runs the same code with its own hooks
    and memo (compiling is most of what building the fast path costs)."""
    return compile(source, name, "exec")


def fast_structure(converter: SegmentConverter) -> Callable[[Any], SegmentEvent]:
    """``structure(data)``: ``data`` as its event model, by the fast path when it is a
    plain dict of the usual shape, else by ``converter.structure_event`` (which raises
    :class:`~segment_braze.InvalidEvent` for an invalid event)."""
    namespace: dict[str, Any] = {"_MAX": MAX_EVENT_CHARS, "_GIVE_UP": _GIVE_UP,
                                 "_new": object.__new__, "_last_time": [(object(), None)]}
    whole_context = _generate(Context, converter, namespace)
    unread = frozenset(f.name for f in attrs.fields(Context)).isdisjoint
    empty = Context()

    def context(value: dict[str, Any]) -> Context | None:
        if unread(value):
            return empty  # nothing the rules read: one shared empty context, as the converter
        return whole_context(value)  # type: ignore[no-any-return]

    namespace["_context"] = context
    by_type: dict[Any, Callable[[dict[str, Any]], Any]] = {
        kind: _generate(model, converter, namespace) for kind, model in EVENT_MODELS.items()}
    fast = by_type.get
    slow = converter.structure_event

    def structure(data: Any) -> SegmentEvent:
        if type(data) is dict:
            try:
                found = fast(data.get("type"))
            except Exception:  # an unhashable type: the converter says what is wrong
                found = None
            if found is not None:
                made = found(data)
                if made is not _GIVE_UP:
                    return made  # type: ignore[no-any-return]
        return slow(data)

    return structure
