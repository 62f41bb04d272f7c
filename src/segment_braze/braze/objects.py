"""Braze objects: what the rule table emits and the requests carry, with their wire form.

``UserAttributes``, ``Event`` and ``Purchase`` are the three kinds of ``/users/track``
object; the small records below them are the entries of the other endpoints. Each has a
``to_json()`` giving its wire form (plain JSON types only: absent values are omitted, a
value set to ``None`` is sent as ``null`` so Braze unsets it).

A Braze user is named by a :data:`UserKey`: one string per identifier, the same
everywhere (batching, change tracking, delivery lanes, the state store's keys):
``external_id:u1``, ``braze_id:…``, ``email:…``, ``phone:…``, ``device_id:…`` and
``user_alias:["label","name"]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import attrs

__all__ = [
    "AliasToIdentify",
    "CohortChange",
    "CohortMember",
    "Event",
    "Identifier",
    "IdentifierKind",
    "MergeUpdate",
    "NewAlias",
    "Purchase",
    "UserAlias",
    "UserAttributes",
    "UserKey",
    "alias_key",
    "cohort_key",
    "external_key",
    "user_key",
]

#: One Braze user (or, for cohort names, one cohort), as a string that never names two.
UserKey: TypeAlias = str


@attrs.frozen
class UserAlias:
    """A Braze user alias: ``alias_name`` within ``alias_label``."""

    alias_name: str
    alias_label: str

    def to_json(self) -> dict[str, str]:
        return {"alias_name": self.alias_name, "alias_label": self.alias_label}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserAlias:
        """The alias of a body read back (``KeyError`` when a field is missing)."""
        return cls(alias_name=data["alias_name"], alias_label=data["alias_label"])


IdentifierKind: TypeAlias = Literal["external_id", "braze_id", "user_alias", "email", "phone"]


@attrs.frozen(slots=False)
class Identifier:
    """The one identifier a Braze object carries: ``kind`` is its wire key."""

    kind: IdentifierKind
    value: str | UserAlias

    @property
    def key(self) -> UserKey:
        """The key of the user it names (see :func:`user_key`), computed once."""
        cached: UserKey | None = self.__dict__.get("_key")
        if cached is None:
            value = self.value
            cached = (alias_key(value) if isinstance(value, UserAlias)
                      else self.kind + ":" + value)
            self.__dict__["_key"] = cached
        return cached

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, UserAlias):
            return {"user_alias": value.to_json()}
        return {self.kind: value}


# -- user keys ---------------------------------------------------------------------------


def external_key(external_id: str) -> UserKey:
    """The key of the user with this external id."""
    return "external_id:" + external_id


def alias_key(alias: UserAlias) -> UserKey:
    """The key of the user with this alias: label and name as a JSON array, so that no
    two aliases share a key. (Text, not bytes: a name holding a lone surrogate, which a
    Python caller may pass, has a key all the same.)"""
    return "user_alias:" + json.dumps([alias.alias_label, alias.alias_name],
                                      ensure_ascii=False, separators=(",", ":"))


def cohort_key(cohort_id: str) -> UserKey:
    """The key under which a cohort's name is known (cohorts are not users, but their
    names are tracked beside them)."""
    return "cohort:" + cohort_id


def user_key(identifier: Identifier) -> UserKey:
    """The key of the user an identifier names."""
    return identifier.key


# -- /users/track objects ----------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class UserAttributes:
    """A user attributes object: standard and custom attributes of one user.

    ``values`` maps attribute names to JSON values (``None`` unsets). ``merge_objects``
    asks Braze to deep-merge nested objects (needed by ``$update``).
    """

    identifier: Identifier
    values: Mapping[str, Any] = attrs.field(factory=dict)
    update_existing_only: bool | None = None
    merge_objects: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.identifier.to_json()
        if self.update_existing_only is not None:
            out["_update_existing_only"] = self.update_existing_only
        if self.merge_objects is not None:
            out["_merge_objects"] = self.merge_objects
        out.update(self.values)
        return out


@attrs.frozen(kw_only=True, slots=False)
class Event:
    """A custom event object. ``time`` is ISO 8601 in UTC with milliseconds."""

    identifier: Identifier
    name: str
    time: str
    properties: Mapping[str, Any] | None = None
    app_id: str | None = None
    update_existing_only: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.identifier.to_json()
        if self.app_id is not None:
            out["app_id"] = self.app_id
        out["name"] = self.name
        out["time"] = self.time
        if self.properties is not None:
            out["properties"] = self.properties
        if self.update_existing_only is not None:
            out["_update_existing_only"] = self.update_existing_only
        return out


@attrs.frozen(kw_only=True, slots=False)
class Purchase:
    """A purchase object: one product bought ``quantity`` times (1 to 100)."""

    identifier: Identifier
    product_id: str
    currency: str
    price: float
    time: str
    quantity: int = 1
    properties: Mapping[str, Any] | None = None
    app_id: str | None = None
    update_existing_only: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.identifier.to_json()
        if self.app_id is not None:
            out["app_id"] = self.app_id
        out["product_id"] = self.product_id
        out["currency"] = self.currency
        out["price"] = self.price
        out["quantity"] = self.quantity
        out["time"] = self.time
        if self.properties is not None:
            out["properties"] = self.properties
        if self.update_existing_only is not None:
            out["_update_existing_only"] = self.update_existing_only
        return out


# -- entries of the other endpoints ------------------------------------------------------


@attrs.frozen
class MergeUpdate:
    """One entry of ``/users/merge``: ``merge`` is folded into ``keep``."""

    merge: Identifier
    keep: Identifier

    def to_json(self) -> dict[str, Any]:
        return {"identifier_to_merge": self.merge.to_json(),
                "identifier_to_keep": self.keep.to_json()}


@attrs.frozen
class AliasToIdentify:
    """One entry of ``/users/identify``: the alias profile ``user_alias`` becomes
    ``external_id``."""

    external_id: str
    user_alias: UserAlias

    def to_json(self) -> dict[str, Any]:
        return {"external_id": self.external_id, "user_alias": self.user_alias.to_json()}


@attrs.frozen(kw_only=True)
class NewAlias:
    """One entry of ``/users/alias/new``: the alias ``user_alias``, added to the user
    ``external_id`` when given (Braze does nothing if it does not know that user), else
    a new alias-only profile."""

    user_alias: UserAlias
    external_id: str | None = None

    def to_json(self) -> dict[str, str]:
        """Braze's flat shape: the alias's two fields beside an optional
        ``external_id``."""
        out = self.user_alias.to_json()
        if self.external_id is not None:
            out["external_id"] = self.external_id
        return out


#: The arrays of a cohort change, in the order Braze's body lists them.
CohortArray: TypeAlias = Literal["user_ids", "aliases", "device_ids"]
COHORT_ARRAYS: tuple[CohortArray, ...] = ("user_ids", "aliases", "device_ids")


@attrs.frozen(kw_only=True)
class CohortChange:
    """One entry of ``cohort_changes``: these users enter the cohort or, with
    ``should_remove``, leave it. ``device_ids`` are Braze device ids (they only reach
    users without an external id)."""

    user_ids: tuple[str, ...] = ()
    aliases: tuple[UserAlias, ...] = ()
    device_ids: tuple[str, ...] = ()
    should_remove: bool = False

    def size(self) -> int:
        """How many users it names (what Braze's limit of 1,000 counts)."""
        return len(self.user_ids) + len(self.aliases) + len(self.device_ids)

    def to_json(self) -> dict[str, Any]:
        """All three arrays always, as Segment's cohort destination sends them;
        ``should_remove`` only when true (Braze's default is to add)."""
        out: dict[str, Any] = {"user_ids": list(self.user_ids),
                               "aliases": [a.to_json() for a in self.aliases],
                               "device_ids": list(self.device_ids)}
        if self.should_remove:
            out["should_remove"] = True
        return out


@attrs.frozen(kw_only=True)
class CohortMember:
    """One user of a cohort change, as batching and tracking see it: which array names
    them, who, whether they leave, and the time of the event that said so (not sent;
    batching keeps the newest change of a user)."""

    array: CohortArray
    user: str | UserAlias
    remove: bool = False
    time: str | None = None

    def key(self) -> UserKey:
        """The user's key (a device id names a device's anonymous user)."""
        user = self.user
        if isinstance(user, UserAlias):
            return alias_key(user)
        return ("external_id:" if self.array == "user_ids" else "device_id:") + user
