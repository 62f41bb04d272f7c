"""The requests: one class per Braze endpoint, each with its whole declaration.

``UsersTrack``, ``UsersDelete``, ``UsersIdentify``, ``UsersMerge``, ``UsersAliasNew``
and, for Engage audiences, ``CohortName`` and ``CohortUsers``. Each class's ``ENDPOINT``
(:class:`~segment_braze.braze.endpoint.Endpoint`) says everything batching, change
tracking, delivery and the command line need to know of it; its body function says how
it looks on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeAlias

import attrs

from ..limits import (
    COHORT_RATE,
    MAX_COHORT_USERS,
    MAX_ENTRIES,
    MAX_OBJECTS,
    TRACK_RATE,
    USERS_RATE,
)
from .endpoint import Endpoint, Origin, Part, origins_field
from .endpoint import Request as _Request
from .objects import (
    COHORT_ARRAYS,
    AliasToIdentify,
    CohortChange,
    CohortMember,
    EmailToIdentify,
    Event,
    MergeUpdate,
    NewAlias,
    Purchase,
    UserAttributes,
    UserKey,
    alias_key,
    cohort_key,
    email_key,
    external_key,
)

__all__ = [
    "REQUEST_CLASSES",
    "CohortName",
    "CohortUsers",
    "Request",
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


def _email_identify_users(entry: EmailToIdentify) -> tuple[UserKey, ...]:
    return (email_key(entry.email), external_key(entry.external_id))


def _merge_users(update: MergeUpdate) -> tuple[UserKey, ...]:
    return (update.merge.key, update.keep.key)


def _new_alias_users(entry: NewAlias) -> tuple[UserKey, ...]:
    alias = alias_key(entry.user_alias)
    return (alias,) if entry.external_id is None else (alias, external_key(entry.external_id))


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
    """The arrays that have entries (Braze wants at least one), then the behaviour."""
    out: dict[str, Any] = {}
    if request.aliases_to_identify:
        out["aliases_to_identify"] = [a.to_json() for a in request.aliases_to_identify]
    if request.emails_to_identify:
        out["emails_to_identify"] = [e.to_json() for e in request.emails_to_identify]
    out["merge_behavior"] = request.merge_behavior
    return out


def _merge_body(request: UsersMerge) -> dict[str, Any]:
    return {"merge_updates": [u.to_json() for u in request.merge_updates]}


def _alias_new_body(request: UsersAliasNew) -> dict[str, Any]:
    return {"user_aliases": [a.to_json() for a in request.user_aliases]}


def _cohort_name_body(request: CohortName) -> dict[str, Any]:
    return {"cohort_id": request.cohort_id, "name": request.name,
            "created_at": request.created_at}


def _cohort_users_body(request: CohortUsers) -> dict[str, Any]:
    return {"cohort_id": request.cohort_id,
            "cohort_changes": [c.to_json() for c in request.cohort_changes]}


# -- the requests ------------------------------------------------------------------------


class Request(_Request):
    """Base of the request classes: origins given directly are checked."""

    def __attrs_post_init__(self) -> None:
        self._check_origins()


def _track_part(name: str, effect: Literal["values", "none"]) -> Part:
    return Part(name, MAX_OBJECTS, _object_user, effect, repeat_users=True, adjustable=True)


@attrs.frozen(kw_only=True, slots=False)
class UsersTrack(Request):
    """``POST /users/track``: attributes, events and purchases."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/track",
        (_track_part("attributes", "values"), _track_part("events", "none"),
         _track_part("purchases", "none")),
        body=_track_body, rate_limit=TRACK_RATE, combined=True)
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
        body=_delete_body, rate_limit=USERS_RATE)
    external_ids: tuple[str, ...]
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


@attrs.frozen(kw_only=True, slots=False)
class UsersIdentify(Request):
    """``POST /users/identify``: alias-only and email-only profiles merged into
    identified users. Braze takes at most 50 identifiers per request, whichever arrays
    hold them (``total``). A merge repeated with nothing of its users in between is
    folded into the earlier one."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/identify",
        (Part("aliases_to_identify", MAX_ENTRIES, _identify_users, "join_once",
              idempotent=True),
         Part("emails_to_identify", MAX_ENTRIES, _email_identify_users, "join_once",
              idempotent=True)),
        body=_identify_body, rate_limit=USERS_RATE, group=("merge_behavior",),
        total=MAX_ENTRIES)
    aliases_to_identify: tuple[AliasToIdentify, ...] = ()
    emails_to_identify: tuple[EmailToIdentify, ...] = ()
    merge_behavior: Literal["none", "merge"] = "merge"
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


@attrs.frozen(kw_only=True, slots=False)
class UsersMerge(Request):
    """``POST /users/merge``: destructive, only emitted with ``merge_on_alias``."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/merge", (Part("merge_updates", MAX_ENTRIES, _merge_users, "merge"),),
        body=_merge_body, rate_limit=USERS_RATE)
    merge_updates: tuple[MergeUpdate, ...]
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


@attrs.frozen(kw_only=True, slots=False)
class UsersAliasNew(Request):
    """``POST /users/alias/new``: new user aliases. The default rules never emit it (they
    create alias profiles through ``/users/track``); it is here for rules of your own."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/alias/new", (Part("user_aliases", MAX_ENTRIES, _new_alias_users, "join"),),
        body=_alias_new_body, rate_limit=USERS_RATE)
    user_aliases: tuple[NewAlias, ...]
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()


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
        body=_cohort_name_body, rate_limit=COHORT_RATE, batching="once",
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
        body=_cohort_users_body, rate_limit=COHORT_RATE, batching="latest",
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
                         | UsersAliasNew | CohortName | CohortUsers)

#: The library's request classes, in the order the docs list them.
REQUEST_CLASSES: tuple[type[Request], ...] = (
    UsersTrack, UsersDelete, UsersIdentify, UsersMerge, UsersAliasNew, CohortName,
    CohortUsers)
