"""The requests: one class per Braze endpoint, each with its whole declaration.

``UsersTrack``, ``UsersDelete``, ``UsersIdentify``, ``UsersMerge``, ``UsersAliasNew``,
``SubscriptionStatusSet`` and, for Engage audiences, ``CohortName`` and ``CohortUsers``.
Each class's ``ENDPOINT`` (:class:`~segment_braze.braze.endpoint.Endpoint`) says
everything batching, change tracking, delivery and the command line need to know of it;
its body function says how it looks on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final, Literal, TypeAlias

import attrs

from ..limits import (
    COHORT_RATE,
    MAX_COHORT_USERS,
    MAX_ENTRIES,
    MAX_OBJECTS,
    MAX_SUBSCRIPTION_USERS,
    SUBSCRIPTION_RATE,
    TRACK_RATE,
    USERS_RATE,
)
from .endpoint import Endpoint, Origin, Part, Request, origins_field
from .export import UsersExportIds
from .objects import (
    COHORT_ARRAYS,
    AliasToIdentify,
    CohortChange,
    CohortMember,
    Event,
    Identifier,
    MergeUpdate,
    NewAlias,
    Purchase,
    UserAlias,
    UserAttributes,
    UserKey,
    alias_key,
    cohort_key,
    external_key,
)

__all__ = [
    "IDENTIFIERS",
    "REQUEST_CLASSES",
    "CohortName",
    "CohortUsers",
    "Request",
    "SubscriptionStatusSet",
    "UsersAliasNew",
    "UsersDelete",
    "UsersIdentify",
    "UsersMerge",
    "UsersTrack",
]


# -- who an entry names (module-level functions, so that declarations pickle) -------------


def _object_user(obj: UserAttributes | Event | Purchase) -> tuple[UserKey, ...]:
    return (obj.identifier.key,)


def _deleted_user(external_id: str) -> tuple[UserKey, ...]:
    return (external_key(external_id),)


def _identify_users(entry: AliasToIdentify) -> tuple[UserKey, ...]:
    return (alias_key(entry.user_alias), external_key(entry.external_id))


def _merge_users(update: MergeUpdate) -> tuple[UserKey, ...]:
    return (update.merge.key, update.keep.key)


def _new_alias_users(entry: NewAlias) -> tuple[UserKey, ...]:
    alias = alias_key(entry.user_alias)
    return (alias,) if entry.external_id is None else (alias, external_key(entry.external_id))


def _subscriber(user: Identifier) -> tuple[UserKey, ...]:
    return (user.key,)


def _cohort_named(request: CohortName) -> tuple[UserKey, ...]:
    return (cohort_key(request.cohort_id),)


def _cohort_member(member: CohortMember) -> tuple[UserKey, ...]:
    return (member.key(),)


# -- bodies ------------------------------------------------------------------------------


def _track_body(request: UsersTrack) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if request.attributes:
        out["attributes"] = [a.to_json() for a in request.attributes]
    if request.events:
        out["events"] = [e.to_json() for e in request.events]
    if request.purchases:
        out["purchases"] = [p.to_json() for p in request.purchases]
    return out


def _delete_body(request: UsersDelete) -> dict[str, Any]:
    return {"external_ids": list(request.external_ids)}


def _identify_body(request: UsersIdentify) -> dict[str, Any]:
    return {"aliases_to_identify": [a.to_json() for a in request.aliases_to_identify],
            "merge_behavior": request.merge_behavior}


def _merge_body(request: UsersMerge) -> dict[str, Any]:
    return {"merge_updates": [u.to_json() for u in request.merge_updates]}


def _alias_new_body(request: UsersAliasNew) -> dict[str, Any]:
    return {"user_aliases": [a.to_json() for a in request.user_aliases]}


def _subscription_body(request: SubscriptionStatusSet) -> dict[str, Any]:
    entry: dict[str, Any] = {"subscription_group_id": request.subscription_group_id,
                             "subscription_state": request.subscription_state}
    if request.external_ids:
        entry["external_ids"] = list(request.external_ids)
    if request.emails:
        entry["emails"] = list(request.emails)
    return {"subscription_groups": [entry]}


def _subscription_read(body: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of the body: a ``/v2/subscription/status/set`` body (one group entry,
    as this library writes it) read back into the request's fields."""
    (entry,) = body["subscription_groups"]
    return {"subscription_group_id": entry["subscription_group_id"],
            "subscription_state": entry["subscription_state"],
            "external_ids": tuple(entry.get("external_ids", ())),
            "emails": tuple(entry.get("emails", ()))}


def _cohort_name_body(request: CohortName) -> dict[str, Any]:
    return {"cohort_id": request.cohort_id, "name": request.name,
            "created_at": request.created_at}


def _cohort_users_body(request: CohortUsers) -> dict[str, Any]:
    return {"cohort_id": request.cohort_id,
            "cohort_changes": [c.to_json() for c in request.cohort_changes]}


# -- bodies read back (each the inverse of the body above it) ------------------------------
# A reader raises KeyError, TypeError, AttributeError or ValueError on a body of the
# wrong shape; ``request_from_json`` names the endpoint.

#: Identifier keys in Braze's order of precedence: the first present names the user
#: (``email`` before ``phone``, as Braze documents), the rest are attribute values.
IDENTIFIERS: Final = ("external_id", "user_alias", "braze_id", "email", "phone")
_FLAGS: Final = {"_update_existing_only": "update_existing_only",
                 "_merge_objects": "merge_objects"}


def _identifier(data: Mapping[str, Any]) -> tuple[Identifier, str]:
    for kind in IDENTIFIERS:
        if kind in data:
            value = data[kind]
            return Identifier(kind, UserAlias.from_json(value) if kind == "user_alias"
                              else value), kind
    raise ValueError("an object without an identifier")


def _attributes(data: Mapping[str, Any]) -> UserAttributes:
    identifier, kind = _identifier(data)
    flags = {_FLAGS[k]: v for k, v in data.items() if k in _FLAGS}
    values = {k: v for k, v in data.items() if k != kind and k not in _FLAGS}
    return UserAttributes(identifier=identifier, values=values, **flags)


def _event(data: Mapping[str, Any]) -> Event:
    identifier, _ = _identifier(data)
    return Event(identifier=identifier, name=data["name"], time=data["time"],
                 properties=data.get("properties"), app_id=data.get("app_id"),
                 update_existing_only=data.get("_update_existing_only"))


def _purchase(data: Mapping[str, Any]) -> Purchase:
    identifier, _ = _identifier(data)
    return Purchase(identifier=identifier, product_id=data["product_id"],
                    currency=data["currency"], price=data["price"], time=data["time"],
                    quantity=data.get("quantity", 1), properties=data.get("properties"),
                    app_id=data.get("app_id"),
                    update_existing_only=data.get("_update_existing_only"))


def _track_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"attributes": tuple(map(_attributes, body.get("attributes", ()))),
            "events": tuple(map(_event, body.get("events", ()))),
            "purchases": tuple(map(_purchase, body.get("purchases", ())))}


def _delete_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"external_ids": tuple(body["external_ids"])}


def _identify_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"aliases_to_identify": tuple(
                AliasToIdentify(external_id=e["external_id"],
                                user_alias=UserAlias.from_json(e["user_alias"]))
                for e in body["aliases_to_identify"]),
            "merge_behavior": body.get("merge_behavior", "merge")}


def _merge_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"merge_updates": tuple(
        MergeUpdate(merge=_identifier(u["identifier_to_merge"])[0],
                    keep=_identifier(u["identifier_to_keep"])[0])
        for u in body["merge_updates"])}


def _alias_new_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"user_aliases": tuple(NewAlias(user_alias=UserAlias.from_json(a),
                                           external_id=a.get("external_id"))
                                  for a in body["user_aliases"])}


def _cohort_name_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"cohort_id": body["cohort_id"], "name": body["name"],
            "created_at": body["created_at"]}


def _cohort_users_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"cohort_id": body["cohort_id"], "cohort_changes": tuple(
        CohortChange(user_ids=tuple(c.get("user_ids", ())),
                     aliases=tuple(map(UserAlias.from_json, c.get("aliases", ()))),
                     device_ids=tuple(c.get("device_ids", ())),
                     should_remove=bool(c.get("should_remove", False)))
        for c in body["cohort_changes"])}


# -- the requests ------------------------------------------------------------------------


def _track_part(name: str, effect: Literal["values", "none"]) -> Part:
    return Part(name, MAX_OBJECTS, _object_user, effect, repeat_users=True, adjustable=True)


@attrs.frozen(kw_only=True, slots=False)
class UsersTrack(Request):
    """``POST /users/track``: attributes, events and purchases."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/track",
        (_track_part("attributes", "values"), _track_part("events", "none"),
         _track_part("purchases", "none")),
        body=_track_body, read=_track_read, rate_limit=TRACK_RATE, combined=True)
    attributes: tuple[UserAttributes, ...] = ()
    events: tuple[Event, ...] = ()
    purchases: tuple[Purchase, ...] = ()
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


@attrs.frozen(kw_only=True, slots=False)
class UsersDelete(Request):
    """``POST /users/delete`` by external ids."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/delete",
        (Part("external_ids", MAX_ENTRIES, _deleted_user, "forget", idempotent=True),),
        body=_delete_body, read=_delete_read, rate_limit=USERS_RATE)
    external_ids: tuple[str, ...]
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


@attrs.frozen(kw_only=True, slots=False)
class UsersIdentify(Request):
    """``POST /users/identify``: alias-only profiles merged into identified users."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/identify",
        (Part("aliases_to_identify", MAX_ENTRIES, _identify_users, "join_once",
              idempotent=True),),
        body=_identify_body, read=_identify_read, rate_limit=USERS_RATE,
        group=("merge_behavior",))
    aliases_to_identify: tuple[AliasToIdentify, ...]
    merge_behavior: Literal["none", "merge"] = "merge"
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


@attrs.frozen(kw_only=True, slots=False)
class UsersMerge(Request):
    """``POST /users/merge``: destructive, only emitted with ``merge_on_alias``."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/merge", (Part("merge_updates", MAX_ENTRIES, _merge_users, "merge"),),
        body=_merge_body, read=_merge_read, rate_limit=USERS_RATE)
    merge_updates: tuple[MergeUpdate, ...]
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


@attrs.frozen(kw_only=True, slots=False)
class UsersAliasNew(Request):
    """``POST /users/alias/new``: new user aliases. The ``create_alias`` row emits it
    for a ``Create Alias`` track (with ``create_alias`` on); alias profiles of anonymous
    users are created through ``/users/track`` instead."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/alias/new", (Part("user_aliases", MAX_ENTRIES, _new_alias_users, "join"),),
        body=_alias_new_body, read=_alias_new_read, rate_limit=USERS_RATE)
    user_aliases: tuple[NewAlias, ...]
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


#: The identifier kinds a subscription request names users by, in the body's order.
SUBSCRIBER_KINDS: tuple[Literal["external_id", "email"], ...] = ("external_id", "email")


@attrs.frozen(kw_only=True, slots=False)
class SubscriptionStatusSet(Request):
    """``POST /v2/subscription/status/set``: users entering (``subscribed``) or leaving
    (``unsubscribed``) one subscription group, named by external id or email.

    One request is one entry of the body's ``subscription_groups``; batching merges the
    requests of one group and state (its ``group`` fields), up to 50 users in all.
    The part's entries are the users (:attr:`users`: each an
    :class:`~segment_braze.braze.objects.Identifier`), in the body's order: the external
    ids, then the emails. The effect is ``"none"``: the subscription fields are never
    remembered by change tracking (they change outside the pipeline, and a group set by
    email reaches every profile with that email), so nothing it may trust changes.
    """

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/v2/subscription/status/set",
        (Part("subscription_groups", MAX_SUBSCRIPTION_USERS, _subscriber, "none",
              read="users", idempotent=True),),
        body=_subscription_body, read=_subscription_read, rate_limit=SUBSCRIPTION_RATE,
        group=("subscription_group_id", "subscription_state"))
    subscription_group_id: str
    subscription_state: Literal["subscribed", "unsubscribed"]
    external_ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()

    @property
    def subscription_groups(self) -> tuple[dict[str, Any], ...]:
        """The body's ``subscription_groups`` array: the one group entry."""
        return tuple(_subscription_body(self)["subscription_groups"])

    @property
    def users(self) -> tuple[Identifier, ...]:
        """Each user named, in the body's order: external ids, then emails."""
        return (*(Identifier("external_id", u) for u in self.external_ids),
                *(Identifier("email", e) for e in self.emails))

    @classmethod
    def from_pairs(cls, parts: Mapping[str, Sequence[tuple[Any, Origin]]], *,
                   extra_origins: Mapping[str, tuple[Origin, ...]] | None = None,
                   **fields: Any) -> SubscriptionStatusSet:
        """A request of these users (identifiers of kind ``external_id`` or ``email``),
        external ids first, then emails, each in the order given."""
        pairs = parts.get("subscription_groups", ())
        for user, _ in pairs:
            if user.kind not in SUBSCRIBER_KINDS:
                raise ValueError(f"SubscriptionStatusSet names users by external_id or "
                                 f"email, not by {user.kind}")
        ordered = sorted(pairs, key=lambda pair: SUBSCRIBER_KINDS.index(pair[0].kind))
        origins: dict[str, tuple[Origin, ...]] = {}
        if ordered:
            origins["subscription_groups"] = tuple(origin for _, origin in ordered)
        origins.update(extra_origins or {})
        return cls(external_ids=tuple(u.value for u, _ in ordered if u.kind == "external_id"),
                   emails=tuple(u.value for u, _ in ordered if u.kind == "email"),
                   origins=origins, **fields)


# -- Engage audiences: Braze's partner cohort import -----------------------------------
# The cohort endpoints authenticate in the body, not with a bearer header: the request
# objects hold no secret (``to_json()`` is safe to write to files and logs), and
# ``to_http`` adds ``partner_api_key`` and ``client_secret`` to the bytes it sends.


@attrs.frozen(kw_only=True, slots=False)
class CohortName(Request):
    """``POST /partners/segment/cohorts``: names the cohort ``cohort_id`` (Braze's
    dashboard shows ``name``). Sent before the cohort's first membership change, and
    again when it is renamed. Its origin (the event that first named the cohort) is kept
    under ``"cohort_id"``."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/partners/segment/cohorts",
        (Part("cohort_id", 1, _cohort_named, "name", single=True),),
        body=_cohort_name_body, read=_cohort_name_read, rate_limit=COHORT_RATE, batching="once",
        group=("cohort_id",), distinct=("name",), credentials="body")
    cohort_id: str
    name: str
    #: ISO 8601.
    created_at: str
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


def _no_times(request: CohortUsers) -> tuple[str | None, ...]:
    return (None,) * sum(change.size() for change in request.cohort_changes)


@attrs.frozen(kw_only=True, slots=False)
class CohortUsers(Request):
    """``POST /partners/segment/cohorts/users``: users entering or leaving the cohort
    ``cohort_id``.

    Origins and times are per user, in the body's order (each change's ``user_ids``, then
    its ``aliases``, then its ``device_ids``): ``origins["cohort_changes"][i]`` and
    ``times[i]`` belong to the i-th user named, ``members[i]``. ``times`` (ISO 8601 UTC,
    as the translator writes them; ``None`` when unknown) are not sent: batching reads
    them so that the newest change of a user wins. A batched request may also carry
    ``origins["superseded"]``: the changes it left out because a newer change of the same
    user replaced them.
    """

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/partners/segment/cohorts/users",
        (Part("cohort_changes", MAX_COHORT_USERS, _cohort_member, "none", read="members"),),
        body=_cohort_users_body, read=_cohort_users_read, rate_limit=COHORT_RATE, batching="latest",
        group=("cohort_id",), credentials="body")
    cohort_id: str
    cohort_changes: tuple[CohortChange, ...]
    times: tuple[str | None, ...] = attrs.field(
        default=attrs.Factory(_no_times, takes_self=True), eq=False, repr=False)
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()

    def __attrs_post_init__(self) -> None:
        count = sum(change.size() for change in self.cohort_changes)
        if len(self.times) != count:
            raise ValueError(f"CohortUsers: {len(self.times)} times for {count} users")
        super().__attrs_post_init__()

    @property
    def members(self) -> tuple[CohortMember, ...]:
        """Each user named, in the body's order, with their change and time."""
        times = iter(self.times)
        return tuple(CohortMember(array=array, user=user, remove=change.should_remove,
                                  time=next(times))
                     for change in self.cohort_changes
                     for array in COHORT_ARRAYS
                     for user in getattr(change, array))

    @classmethod
    def from_pairs(cls, parts: Mapping[str, Sequence[tuple[Any, Origin]]], *,
                   extra_origins: Mapping[str, tuple[Origin, ...]] | None = None,
                   **fields: Any) -> CohortUsers:
        """A request of these members: additions first, then removals; within each,
        external ids, then aliases, then device ids (each in the order given)."""
        ordered = sorted(parts.get("cohort_changes", ()),
                         key=lambda pair: (pair[0].remove, COHORT_ARRAYS.index(pair[0].array)))
        changes = []
        for remove in (False, True):
            members = [m for m, _ in ordered if m.remove is remove]
            if members:
                changes.append(CohortChange(
                    should_remove=remove,
                    **{array: tuple(m.user for m in members if m.array == array)
                       for array in COHORT_ARRAYS}))
        origins: dict[str, tuple[Origin, ...]] = {}
        if ordered:
            origins["cohort_changes"] = tuple(origin for _, origin in ordered)
        origins.update(extra_origins or {})
        return cls(cohort_changes=tuple(changes), times=tuple(m.time for m, _ in ordered),
                   origins=origins, **fields)

    def size(self) -> int:
        """Users named across ``cohort_changes`` (Braze's limit: 1,000 per request)."""
        return len(self.times)


#: Any request the library builds.
AnyRequest: TypeAlias = (UsersTrack | UsersDelete | UsersIdentify | UsersMerge
                         | UsersAliasNew | SubscriptionStatusSet | CohortName | CohortUsers
                         | UsersExportIds)

#: The library's request classes, in the order the docs list them (``UsersExportIds``,
#: which reads profiles back, is declared in :mod:`.export`).
REQUEST_CLASSES: tuple[type[Request], ...] = (
    UsersTrack, UsersDelete, UsersIdentify, UsersMerge, UsersAliasNew,
    SubscriptionStatusSet, CohortName, CohortUsers, UsersExportIds)
