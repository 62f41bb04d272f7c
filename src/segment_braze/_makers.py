"""Makers: generated functions that build a frozen attrs object from positional values.

The translator builds several frozen attrs objects per event (the event model, the
identifier, the Braze objects, the request, the translation). attrs' ``__init__`` takes
keywords (parsed on every call) and runs ``__attrs_post_init__``; a maker takes the
fields it is given by position and writes the instance dictionary directly, every other
field taking its default, which is about twice as fast. A maker runs no validator and no
``__attrs_post_init__``: it is only for callers whose values are right by construction
(a request's origins built with its entries); ``tests/test_differential.py`` holds
makers equal to ``__init__``.

Slotted classes were measured slower here (a frozen slotted instance is written through
``object.__setattr__``), so the classes made this way keep their ``__dict__``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from attrs import AttrsInstance

__all__ = ["maker"]

T = TypeVar("T", bound=AttrsInstance)

#: The class of ``attrs.Factory(...)`` defaults (``attrs.Factory`` itself is typed as a
#: function).
_FACTORY: type[Any] = type(attrs.Factory(list))


def maker(cls: type[T], *names: str) -> Callable[..., T]:
    """A function ``make(*values)`` building ``cls`` with ``names`` set to ``values``, in
    that order, and every other field set to its default (a factory's default is made
    anew each time), as ``cls(**dict(zip(names, values)))`` would, without
    ``__init__``."""
    fields = attrs.fields(cls)
    if "__dict__" not in getattr(cls, "__slots__", ("__dict__",)):
        raise TypeError(f"{cls.__name__} is slotted: a maker writes the instance dictionary")
    unknown = set(names) - {f.name for f in fields}
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make_{cls.__name__}({', '.join(names)}):",
             "    self = _new(_cls)",
             "    d = self.__dict__"]
    for index, field in enumerate(fields):
        default: Any = field.default
        if not field.init and default is attrs.NOTHING:
            continue
        if field.name in names:
            value = field.name
        elif isinstance(default, _FACTORY):
            if default.takes_self:
                raise TypeError(f"{cls.__name__}.{field.name}: a maker must be given it "
                                "(its default is made from the instance)")
            namespace[f"_factory{index}"] = default.factory
            value = f"_factory{index}()"
        elif default is attrs.NOTHING:
            raise TypeError(f"{cls.__name__}.{field.name} has no default: name it")
        else:
            namespace[f"_default{index}"] = default
            value = f"_default{index}"
        lines.append(f"    d[{field.name!r}] = {value}")
    lines.append("    return self")
    source = "\n".join(lines)
    exec(compile(source, f"<maker {cls.__module__}.{cls.__qualname__}>", "exec"),  # noqa: S102
         namespace)
    made: Callable[..., T] = namespace[f"make_{cls.__name__}"]
    return made
