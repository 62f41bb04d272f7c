"""Outcomes of lines as plain data, for the trip back from a worker process (``--jobs``).

Pickling a translation costs a worker almost half as much as parsing and translating the
event, and the parent nearly as much again to unpickle it: the generic reduce protocol
runs for every object, with its class and a dict of its fields. Here
an object of the library's classes becomes a list of its fields' values in declaration
order with its class's number last (nested objects alike, tuples item by item, other
values as they are), written with :mod:`marshal`, which keeps types exactly (a tuple
stays a tuple, a bool a bool, a float bit for bit). The parent rebuilds every object the
way pickle does, without calling ``__init__`` (the worker checked the values when it
made them): equal, field for field, to what the worker made.

Which fields may hold objects is read once from the classes' type hints (the others,
strings, numbers and JSON values, are passed as they are), and each class gets an
encoder and a decoder written for its fields, as attrs writes ``__init__``: a loop over
fields, run for every object of every event, would cost as much as pickle. A value
marshal cannot carry exactly (an object of a class of one's own, a subclass of ``dict``)
makes :func:`encode` fall back to pickle for that one outcome.
"""

from __future__ import annotations

import marshal
import pickle
import types
import typing
from collections import abc
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Literal, Union

import attrs

from ..braze import REQUEST_CLASSES
from ..translate import Translation
from .accounting import Rejection

__all__ = ["CLASSES", "decode", "encode"]

#: Types a field may be declared with and still never hold an object to rebuild.
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
#: Containers passed as they are: marshal carries them exactly, or refuses.
_CONTAINERS: Final = frozenset({dict, list, abc.Mapping, abc.Sequence})


class _Unplain(Exception):
    """A value the plain form cannot hold unambiguously (a list where objects go)."""


def _plain(hint: Any) -> bool:
    """Whether a field declared ``hint`` never holds an object to rebuild."""
    if hint in _SCALARS:
        return True
    origin = typing.get_origin(hint)
    if origin is Literal:
        return True
    if origin in (Union, types.UnionType, tuple):
        return all(_plain(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)
    return origin in _CONTAINERS


def _mentioned(hint: Any) -> Iterator[type]:
    """The classes a type hint names."""
    if isinstance(hint, type):
        yield hint
    for arg in typing.get_args(hint):
        yield from _mentioned(arg)


def _classes(roots: Iterable[type]) -> tuple[type, ...]:
    """The attrs classes the roots' fields may hold, the roots first, in a stable order
    (a worker and its parent number them alike)."""
    found: list[type] = []
    todo = list(roots)
    while todo:
        cls = todo.pop(0)
        if cls in found or not attrs.has(cls):
            continue
        found.append(cls)
        hints = typing.get_type_hints(cls)
        todo += [c for f in attrs.fields(cls) for c in _mentioned(hints[f.name])
                 if attrs.has(c)]
    return tuple(found)


#: The classes sent as plain data: a translation, the library's requests and everything
#: they hold. An object of another class makes its outcome go as a pickle.
CLASSES: Final = _classes((Translation, *REQUEST_CLASSES))
_NUMBERS: Final = {cls: number for number, cls in enumerate(CLASSES)}


def _field(hint: Any) -> tuple[str, int]:
    """How a field declared ``hint`` goes: ``"plain"`` (as it is), ``"one"`` (an object
    of the class numbered, exactly), ``"many"`` (a tuple of such objects), ``"mixed"``
    (a tuple of objects of any of the classes) or ``"any"`` (whatever it holds, looked at
    value by value)."""
    if _plain(hint):
        return "plain", -1
    if hint in _NUMBERS:
        return "one", _NUMBERS[hint]
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis \
            and isinstance(args[0], type):
        return ("many", _NUMBERS[args[0]]) if args[0] in _NUMBERS else ("mixed", -1)
    return "any", -1


#: How each way a field goes is written and read back: ``{}`` is the value, ``{n}`` the
#: number of its class. A value of another type than declared (a subclass too) fails,
#: and the outcome goes as a pickle.
_ENCODE: Final = {
    "plain": "{}",
    "one": "(encode_{n}(x) if type(x := {}) is class_{n} else fail())",
    "many": "((tuple([encode_{n}(i) if type(i) is class_{n} else fail() for i in x]) "
            "if x else x) if type(x := {}) is tuple else fail())",
    "mixed": "tuple([encoders[type(i)](i) for i in x]) if type(x := {}) is tuple else fail()",
    "any": "(x if type(x := {}) in scalars else walk(x))",
}
_DECODE: Final = {
    "plain": "{}",
    "one": "decode_{n}({})",
    "many": "(tuple([decode_{n}(i) for i in x]) if (x := {}) else x)",
    "mixed": "tuple([decoders[i[-1]](i) for i in {}])",
    "any": "(unwalk(x) if type(x := {}) in rebuilt else x)",
}


def _source(cls: type, number: int) -> str:
    """The encoder and decoder of one class, as Python source."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in attrs.fields(cls)]
    fields = [_field(hints[name]) for name in names]
    slotted = not hasattr(object.__new__(cls), "__dict__")
    read = "o.{}" if slotted else "d[{!r}]"
    encoded = ", ".join(_ENCODE[how].format(read.format(name), n=n)
                        for name, (how, n) in zip(names, fields, strict=True))
    values = [_DECODE[how].format(f"v[{i}]", n=n) for i, (how, n) in enumerate(fields)]
    if slotted:
        build = "".join(f"    put(o, {name!r}, {value})\n"
                        for name, value in zip(names, values, strict=True))
    else:
        items = ", ".join(f"{name!r}: {value}"
                          for name, value in zip(names, values, strict=True))
        build = f"    put(o, '__dict__', {{{items}}})\n"
    return (f"def encode_{number}(o):\n"
            + ("" if slotted else "    d = o.__dict__\n")
            + f"    return [{encoded}, {number}]\n"
            f"def decode_{number}(v):\n"
            f"    o = new(class_{number})\n"
            + build
            + "    return o\n")


def _fail() -> Any:
    raise _Unplain


def _walk(value: Any) -> Any:
    """A value that may be an object (or a tuple of them) in plain form."""
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        return encoder(value)
    kind = type(value)
    if kind is tuple:
        return tuple([_walk(item) for item in value]) if value else value
    if kind is list:
        raise _Unplain
    return value


def _unwalk(value: Any) -> Any:
    """The value :func:`_walk` was given."""
    kind = type(value)
    if kind is list:
        return _DECODERS[value[-1]](value)
    if kind is tuple:
        return tuple([_unwalk(item) for item in value]) if value else value
    return value


def _compile() -> tuple[dict[type, Callable[[Any], list[Any]]], list[Callable[[Any], Any]]]:
    space: dict[str, Any] = {"new": object.__new__, "put": object.__setattr__,
                             "walk": _walk, "unwalk": _unwalk, "fail": _fail,
                             "scalars": _SCALARS, "rebuilt": frozenset({list, tuple})}
    for number, cls in enumerate(CLASSES):
        space[f"class_{number}"] = cls
        # Names of attrs fields (identifiers) and numbers only: nothing from input.
        exec(_source(cls, number), space)  # noqa: S102
    space["encoders"] = {cls: space[f"encode_{n}"] for n, cls in enumerate(CLASSES)}
    space["decoders"] = [space[f"decode_{n}"] for n in range(len(CLASSES))]
    return space["encoders"], space["decoders"]


_ENCODERS, _DECODERS = _compile()
_ENCODE_TRANSLATION: Final = _ENCODERS[Translation]


def encode(outcome: Translation | Rejection) -> bytes:
    """The outcome of one line (its translation, or why it was rejected) as bytes for
    :func:`decode`."""
    try:
        if type(outcome) is Translation:
            return marshal.dumps(_ENCODE_TRANSLATION(outcome))
        if type(outcome) is Rejection:
            return marshal.dumps(tuple(outcome))
    except (ValueError, KeyError, _Unplain):  # something marshal cannot carry exactly
        pass
    return marshal.dumps(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL))


def decode(data: bytes) -> Translation | Rejection:
    """The outcome :func:`encode` was given, rebuilt."""
    value = marshal.loads(data)  # noqa: S302 - our own worker's
    kind = type(value)
    if kind is list:
        return _DECODERS[value[-1]](value)  # type: ignore[no-any-return]
    if kind is tuple:
        return Rejection(*value)
    return pickle.loads(value)  # type: ignore[no-any-return]  # noqa: S301 - our own
