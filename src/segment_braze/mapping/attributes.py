"""Custom attribute values: Braze's rules for a trait's value (see :mod:`.values` for the
rules shared with event properties), arrays of scalars with ``add`` / ``remove``, nested
objects, and array-of-object operations (``$add``, ``$update``, ``$remove``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

from .. import _json
from ..limits import INT64, MAX_ARRAY, MAX_OBJECT_BYTES, MAX_STRING
from ..times import render_time
from .values import DROP, Unsendable, Walk, raise_if_too_large

if TYPE_CHECKING:
    from ..scope import Scope

__all__ = ["NESTED_OPERATIONS", "Attribute", "custom_attribute", "plain_scalars"]

_SCALAR_OPS: Final = frozenset({"add", "remove"})
_OBJECT_OPS: Final = frozenset({"$add", "$remove", "$update"})
_IDENTIFIER_KEYS: Final = frozenset({"$identifier_key", "$identifier_value"})


class Attribute:
    """A cleaned custom attribute value holding array-of-object operations; ``merge``
    says whether it needs ``_merge_objects`` (``$update`` does)."""

    __slots__ = ("merge", "value")

    def __init__(self, value: Any, merge: bool = False) -> None:
        self.value = value
        self.merge = merge


def custom_attribute(name: str, value: Any, base: tuple[str | int, ...],
                     scope: Scope) -> Any:
    """A custom attribute value as Braze accepts it; :data:`DROP` (after a notice at
    ``base + (name,)``) when it cannot be sent; or an :class:`Attribute` for
    array-of-object operations."""
    kind = type(value)
    if kind is str:
        size = len(value)
        if size <= MAX_STRING:
            # Counted without the check: the caller (traits_to_values) checks the total.
            scope.sink.size += size
            return value
        scope.sink.count_size(size)
        scope.notice((*base, name), f"string longer than {MAX_STRING} characters; "
                     "attribute dropped")
        return DROP
    if value is None or kind is bool or (kind is int and -INT64 <= value < INT64) or (
            kind is float and value - value == 0.0):
        return value
    if kind is list and 0 < len(value) <= MAX_ARRAY and plain_scalars(value):
        return value
    walk = Walk(attribute=True)
    try:
        if isinstance(value, list | tuple):
            cleaned: Any = _array_attribute(value, walk)
        elif isinstance(value, Mapping):
            if scope.settings.nested_array_operations and _nested_shape(value):
                cleaned = _nested_operations(walk.mapping(value, (), 1))
            else:
                cleaned = _object_attribute(value, walk)
        elif isinstance(value, datetime):
            return render_time(value)
        elif isinstance(value, date):
            return value.isoformat()
        else:
            cleaned = walk.scalar(value, ())
    except Unsendable as bad:
        raise_if_too_large(bad, (*base, name))
        scope.notice((*base, name, *bad.path), f"{bad.message}; attribute {name!r} dropped")
        return DROP
    for relative, message in walk.fixes:
        scope.notice((*base, name, *relative), message)
    scope.sink.count_size(walk.upper // 6)
    if walk.upper > MAX_OBJECT_BYTES:
        plain = cleaned.value if isinstance(cleaned, Attribute) else cleaned
        size = len(_json.dumps(plain))
        if size > MAX_OBJECT_BYTES:
            scope.notice((*base, name), f"{size:,} bytes of JSON; Braze accepts at most "
                         f"{MAX_OBJECT_BYTES:,}; attribute {name!r} dropped")
            return DROP
    return cleaned


def plain_scalars(items: list[Any]) -> bool:
    """Whether every item is a short string, a boolean or a plain number (the common
    array, sent as it is)."""
    for item in items:
        kind = type(item)
        if kind is str:
            if len(item) > MAX_STRING:
                return False
        elif not (kind is bool or (kind is int and -INT64 <= item < INT64)
                  or (kind is float and item - item == 0.0)):
            return False
    return True


def _objects(items: list[Any] | tuple[Any, ...]) -> bool:
    """Whether ``items`` holds objects and nothing else but ``null``s."""
    return any(isinstance(item, Mapping) for item in items) and all(
        item is None or isinstance(item, Mapping) for item in items)


def _array_attribute(value: list[Any] | tuple[Any, ...], walk: Walk) -> Any:
    if _objects(value):
        return walk.array(value, (), 0)  # an array of objects (nulls removed)
    if len(value) > MAX_ARRAY:
        raise Unsendable((), f"array longer than {MAX_ARRAY} items")
    return _scalars(value, (), walk)


def _not_scalars(items: list[Any] | tuple[Any, ...], index: int, op: str | None) -> str:
    """Why an array of scalars holding an object or an array at ``index`` cannot be
    sent."""
    if op is not None and _objects(items):
        return f"{op!r} takes strings, numbers and booleans; objects take '${op}'"
    if isinstance(items[index], list | tuple):
        return "arrays of arrays are not supported (Braze's arrays are one-dimensional)"
    return "arrays mix objects and other values"


def _scalars(value: Any, path: tuple[str | int, ...], walk: Walk,
             op: str | None = None) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise Unsendable(path, "expected an array")
    out = []
    for index, item in enumerate(value):
        if isinstance(item, Mapping | list | tuple):
            walk.value(item, (*path, index), 1)  # a hostile depth rejects the event
            raise Unsendable((*path, index), _not_scalars(value, index, op))
        if item is None:
            walk.fixes.append(((*path, index), "null removed from an array"))
            continue
        cleaned = walk.scalar(item, (*path, index))
        out.append(cleaned["$time"] if isinstance(cleaned, dict) else cleaned)
    return out


def _object_attribute(value: Mapping[str, Any], walk: Walk) -> Any:
    keys = value.keys()
    if keys and keys <= {"inc"}:
        amount = value["inc"]
        if type(amount) is not int or not -INT64 <= amount < INT64:
            raise Unsendable(("inc",), "'inc' takes an integer")
        return {"inc": amount}
    if keys and keys <= _SCALAR_OPS:
        return {op: _scalars(items, (op,), walk, op) for op, items in value.items()}
    if keys and keys <= _OBJECT_OPS:
        out = {}
        for op, items in value.items():
            if not isinstance(items, list | tuple) or not all(
                    isinstance(i, Mapping) for i in items):
                raise Unsendable((op,), f"{op!r} takes an array of objects")
            if op == "$add":
                out[op] = walk.array(items, (op,), 0)
            else:
                out[op] = [_identified(item, (op, index), op, walk)
                           for index, item in enumerate(items)]
        return Attribute(out, merge="$update" in out)
    return walk.mapping(value, (), 1)


#: The peers' spelling of array-of-object operations, read with
#: ``nested_array_operations``: a trait whose value is an object of these lists. ``add``
#: holds the objects to add; each entry of ``update`` and ``remove`` names, under
#: ``identifier``, the key that identifies the object (``{"identifier": "id", "id": 2,
#: "age": 27}``), and an ``update`` entry's other keys are the fields to merge into it.
NESTED_OPERATIONS: Final[Mapping[str, str]] = {"add": "$add", "remove": "$remove",
                                               "update": "$update"}


def _nested_shape(value: Mapping[str, Any]) -> bool:
    """Whether ``value`` is written in the peers' spelling: only ``add``, ``update`` and
    ``remove`` lists, with ``update`` or some object among them (``add`` and ``remove``
    of scalars alone are Braze's own simple-array operations, sent as they are)."""
    keys = value.keys()
    if not keys or not keys <= NESTED_OPERATIONS.keys():
        return False
    if "update" in keys:
        return True
    return any(isinstance(items, list | tuple) and any(isinstance(i, Mapping) for i in items)
               for items in value.values())


def _nested_operations(value: Mapping[str, Any]) -> Attribute:
    """The peers' ``add`` / ``update`` / ``remove`` (already walked as a nested value) as
    Braze's ``$add``, ``$remove`` and ``$update`` (in the order Braze applies them);
    ``$update`` needs ``_merge_objects``."""
    out: dict[str, list[Any]] = {}
    for op, braze in NESTED_OPERATIONS.items():
        if op not in value:
            continue
        items = value[op]
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise Unsendable((op,), f"{op!r} takes an array of objects")
        if op == "add":
            out[braze] = items
            continue
        entries = []
        for index, item in enumerate(items):
            key = item.get("identifier")
            if type(key) is not str or not key or key not in item:
                raise Unsendable((op, index, "identifier"), "expected the name of the key "
                                  "that identifies the object, present in the entry")
            identity = item[key]
            if isinstance(identity, Mapping | list):
                raise Unsendable((op, index, key), "an identifying value must be a scalar")
            entry: dict[str, Any] = {"$identifier_key": key, "$identifier_value": identity}
            if op == "update":
                entry["$new_object"] = {k: v for k, v in item.items()
                                        if k != "identifier" and k != key}
            entries.append(entry)
        out[braze] = entries
    return Attribute({op: out[op] for op in ("$add", "$remove", "$update") if op in out},
                     merge="$update" in out)


def _identified(item: Mapping[str, Any], path: tuple[str | int, ...], op: str,
                walk: Walk) -> dict[str, Any]:
    expected = _IDENTIFIER_KEYS | {"$new_object"} if op == "$update" else _IDENTIFIER_KEYS
    if item.keys() != expected:
        raise Unsendable(path, f"{op!r} entries take exactly {', '.join(sorted(expected))}")
    key = item["$identifier_key"]
    if type(key) is not str or not key:
        raise Unsendable((*path, "$identifier_key"), "expected a non-empty string")
    out = {"$identifier_key": key,
           "$identifier_value": walk.scalar(item["$identifier_value"],
                                            (*path, "$identifier_value"))}
    if op == "$update":
        new = item["$new_object"]
        if not isinstance(new, Mapping):
            raise Unsendable((*path, "$new_object"), "expected an object")
        out["$new_object"] = walk.mapping(new, (*path, "$new_object"), 2)
    return out
