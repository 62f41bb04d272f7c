"""What change tracking knows of one user: a typed record, and how values compare.

A :class:`UserRecord` holds the attribute values Braze is known to have for a user, the
aliases known to be merged into them, and (for an alias) the users it was merged into or
joined to, whose profiles its later writes may reach. Stores keep records; the tracker
reads and replaces them whole. ``to_json``/``from_json`` give the compact JSON form the
SQLite store writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..braze import UserKey

__all__ = ["EMPTY", "UserRecord", "is_plain", "same"]


@attrs.frozen(slots=False)  # built on every commit: dict classes are faster to build
class UserRecord:
    """What Braze is known to have for one user (or, under a ``cohort:`` key, one cohort:
    its ``name``).

    ``values``: attribute name -> JSON value. ``aliases``: the keys of the aliases whose
    ``/users/identify`` merge into this user was delivered (sent once per pair).
    ``merged_into``: for an alias, the keys of the users it was merged into or joined
    (its later writes may reach their profiles, so those are never trusted).
    """

    values: Mapping[str, Any] = attrs.field(factory=dict)
    aliases: frozenset[UserKey] = frozenset()
    merged_into: tuple[UserKey, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.values or self.aliases or self.merged_into)

    def to_json(self) -> dict[str, Any]:
        """Compact JSON: empty parts left out."""
        out: dict[str, Any] = {}
        if self.values:
            out["values"] = dict(self.values)
        if self.aliases:
            out["aliases"] = sorted(self.aliases)
        if self.merged_into:
            out["merged_into"] = list(self.merged_into)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserRecord:
        return cls(values=data.get("values", {}),
                   aliases=frozenset(data.get("aliases", ())),
                   merged_into=tuple(data.get("merged_into", ())))


#: A user of whom nothing is known.
EMPTY: Final = UserRecord()

_INT_RANGE: Final = range(-(2**63), 2**64)  # what every JSON backend here can write


def same(a: Any, b: Any) -> bool:
    """Whether two attribute values are the same JSON value: key order does not matter,
    ``1`` equals ``1.0``, ``True`` is not ``1``, and a list equals a tuple. A value that is
    not plain JSON is never the same as anything (so it is always sent)."""
    kind, other = type(a), type(b)
    if kind is str:
        return other is str and a == b
    if kind is bool or a is None:
        return kind is other and a == b
    if kind is int or kind is float:
        return (other is int or other is float) and a == b
    if kind is list or kind is tuple:
        return ((other is list or other is tuple) and len(a) == len(b)
                and all(map(same, a, b)))
    if kind is dict or isinstance(a, Mapping):
        return (isinstance(b, Mapping) and len(a) == len(b)
                and all(key in b and same(value, b[key]) for key, value in a.items()))
    return False


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain JSON that every backend writes and reads back equal:
    strings, booleans, null, 64-bit integers, finite floats, arrays, string-keyed
    objects."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return value in _INT_RANGE
    if kind is float:
        return bool(value - value == 0.0)
    if kind is list or kind is tuple:
        return all(map(is_plain, value))
    if isinstance(value, Mapping):
        return all(type(key) is str and is_plain(item) for key, item in value.items())
    return False


def upgrade(record: Mapping[str, Any], user: str) -> UserRecord:
    """A record of the first layout of the SQLite store, where the tracker's notes were
    ``$``-prefixed keys among the values (``$alias:<json>`` in a user's record, ``$merged``
    in an alias's, ``$name`` in a cohort's), as a :class:`UserRecord`."""
    values = {k: v for k, v in record.items() if k[:1] != "$"}
    if user.startswith("cohort:") and "$name" in record:
        values["name"] = record["$name"]
    aliases = ["user_alias:" + k[len("$alias:"):] for k, v in record.items()
               if k.startswith("$alias:") and v is True]
    merged = ["external_id:" + e for e in record.get("$merged", ())
              if isinstance(e, str)]
    return UserRecord(values=values, aliases=frozenset(aliases), merged_into=tuple(merged))
