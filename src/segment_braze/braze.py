"""Braze objects and requests, as typed frozen models.

The objects (``UserAttributes``, ``Event``, ``Purchase``) are what the rule table emits;
the requests (``UsersTrack``, ``UsersDelete``, ``UsersIdentify``, ``UsersMerge``, and for
Engage audiences ``CohortName`` and ``CohortUsers``) are what you send. Each request
knows its ``endpoint``, renders its JSON body with ``to_json()``
(plain JSON types only: absent values are omitted, a value set to ``None`` is sent as
``null`` so Braze unsets it) and builds a ready-to-send :class:`HttpRequest` with
``to_http(settings)``. Nothing here opens a connection.

Each request also remembers, for every entry of every array, where it came from (the
event's ``messageId``, or its position in the stream): ``origin_of("events", 3)`` answers
Braze's ``{"errors": [{"index": 3, ...}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import attrs

from . import _json

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "AliasToIdentify",
    "CohortChange",
    "CohortName",
    "CohortUsers",
    "Event",
    "HttpRequest",
    "Identifier",
    "MergeUpdate",
    "NewAlias",
    "Origin",
    "Purchase",
    "Request",
    "UserAlias",
    "UserAttributes",
    "UsersAliasNew",
    "UsersDelete",
    "UsersIdentify",
    "UsersMerge",
    "UsersTrack",
]

#: Where an object came from: the event's ``messageId``, else its position in the stream.
Origin: TypeAlias = str | int | None



@attrs.frozen
class UserAlias:
    """A Braze user alias: ``alias_name`` within ``alias_label``."""

    alias_name: str
    alias_label: str


IdentifierKind: TypeAlias = Literal["external_id", "braze_id", "user_alias", "email"]


@attrs.frozen(slots=False)
class Identifier:
    """The one identifier a Braze object carries: ``kind`` is its wire key."""

    kind: IdentifierKind
    value: str | UserAlias

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, UserAlias):
            return {"user_alias": {"alias_name": value.alias_name,
                                   "alias_label": value.alias_label}}
        return {self.kind: value}


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


@attrs.frozen(kw_only=True, slots=False)
class Event:
    """A custom event object. ``time`` is ISO 8601 in UTC with milliseconds."""

    identifier: Identifier
    name: str
    time: str
    properties: Mapping[str, Any] | None = None
    app_id: str | None = None
    update_existing_only: bool | None = None


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


@attrs.frozen
class MergeUpdate:
    """One entry of ``/users/merge``: ``merge`` is folded into ``keep``."""

    merge: Identifier
    keep: Identifier


@attrs.frozen(repr=False)
class HttpRequest:
    """A ready-to-send HTTP request. ``headers`` holds the REST API key; ``repr`` and
    ``str`` mask it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        shown = {k: ("Bearer ***" if k.lower() == "authorization" else v)
                 for k, v in self.headers.items()}
        return (f"HttpRequest(method={self.method!r}, url={self.url!r}, headers={shown!r}, "
                f"body=<{len(self.body)} bytes>)")

    __str__ = __repr__


class _Request:
    """What every request shares: endpoint, origins, JSON body and HTTP form."""

    endpoint: ClassVar[str]
    #: The body's arrays, by wire name.
    arrays: ClassVar[tuple[str, ...]]
    #: For each array of the body, the origin of each entry, in order.
    origins: Mapping[str, tuple[Origin, ...]]

    def _no_origins(self) -> dict[str, tuple[Origin, ...]]:
        return self._origins_from(None)

    def _origins_from(self, origin: Origin) -> dict[str, tuple[Origin, ...]]:
        out = {}
        for name in self.arrays:
            count = len(getattr(self, name))
            if count:
                out[name] = (origin,) * count
        return out

    def with_origin(self, origin: Origin) -> Any:
        """The same request with every entry marked as coming from ``origin``."""
        return attrs.evolve(self, origins=self._origins_from(origin))  # type: ignore[misc]

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready body: a dict of plain JSON types."""
        return converters.unstructure_request(self)

    def to_http(self, settings: Settings) -> HttpRequest:
        """The request as method, URL, headers (with the bearer key) and body bytes.

        Raises :class:`~segment_braze.InvalidSettings` when ``rest_endpoint`` or
        ``rest_api_key`` is not set (the cohort requests: their two secrets).
        """
        url = settings.require_rest_endpoint() + self.endpoint
        headers, body = self._credentials(settings)
        return HttpRequest(
            method="POST", url=url,
            headers={**headers, "Content-Type": "application/json",
                     "Accept": "application/json"},
            body=_json.dumps(body),
        )

    def _credentials(self, settings: Settings) -> tuple[dict[str, str], dict[str, Any]]:
        """Headers and body with the credentials: the REST API key as a bearer header."""
        return {"Authorization": f"Bearer {settings.require_rest_api_key()}"}, self.to_json()

    def origin_of(self, array: str, index: int) -> Origin:
        """Which event the entry ``index`` of ``array`` (e.g. ``"events"``) came from:
        its ``messageId``, else its position in the stream.

        Raises ``KeyError`` for an array the body does not have and ``IndexError`` for an
        index beyond it.
        """
        if index < 0:
            raise IndexError(index)
        return self.origins[array][index]

    def size(self) -> int:
        """Number of entries across the body's arrays (what Braze's limits count)."""
        return sum(len(getattr(self, name)) for name in self.arrays)


def _origins() -> Any:
    return attrs.field(default=attrs.Factory(_Request._no_origins, takes_self=True),
                       eq=False, repr=False)


@attrs.frozen(kw_only=True, slots=False)
class UsersTrack(_Request):
    """``POST /users/track``: attributes, events and purchases."""

    endpoint: ClassVar[str] = "/users/track"
    arrays: ClassVar[tuple[str, ...]] = ("attributes", "events", "purchases")
    attributes: tuple[UserAttributes, ...] = ()
    events: tuple[Event, ...] = ()
    purchases: tuple[Purchase, ...] = ()
    origins: Mapping[str, tuple[Origin, ...]] = _origins()


@attrs.frozen(kw_only=True, slots=False)
class UsersDelete(_Request):
    """``POST /users/delete`` by external ids."""

    endpoint: ClassVar[str] = "/users/delete"
    arrays: ClassVar[tuple[str, ...]] = ("external_ids",)
    external_ids: tuple[str, ...]
    origins: Mapping[str, tuple[Origin, ...]] = _origins()


@attrs.frozen
class AliasToIdentify:
    """One entry of ``/users/identify``: the alias profile ``user_alias`` becomes
    ``external_id``."""

    external_id: str
    user_alias: UserAlias


@attrs.frozen(kw_only=True, slots=False)
class UsersIdentify(_Request):
    """``POST /users/identify``: alias-only profiles merged into identified users."""

    endpoint: ClassVar[str] = "/users/identify"
    arrays: ClassVar[tuple[str, ...]] = ("aliases_to_identify",)
    aliases_to_identify: tuple[AliasToIdentify, ...]
    merge_behavior: Literal["none", "merge"] = "merge"
    origins: Mapping[str, tuple[Origin, ...]] = _origins()


@attrs.frozen(kw_only=True, slots=False)
class UsersMerge(_Request):
    """``POST /users/merge``: destructive, only emitted with ``merge_on_alias``."""

    endpoint: ClassVar[str] = "/users/merge"
    arrays: ClassVar[tuple[str, ...]] = ("merge_updates",)
    merge_updates: tuple[MergeUpdate, ...]
    origins: Mapping[str, tuple[Origin, ...]] = _origins()


@attrs.frozen(kw_only=True)
class NewAlias:
    """One entry of ``/users/alias/new``: the alias ``user_alias``, added to the user
    ``external_id`` when given (Braze does nothing if it does not know that user), else
    a new alias-only profile."""

    user_alias: UserAlias
    external_id: str | None = None


@attrs.frozen(kw_only=True, slots=False)
class UsersAliasNew(_Request):
    """``POST /users/alias/new``: new user aliases. The default rules never emit it (they
    create alias profiles through ``/users/track``); it is here for rules of your own,
    and batching takes it like the other endpoints (50 entries per request)."""

    endpoint: ClassVar[str] = "/users/alias/new"
    arrays: ClassVar[tuple[str, ...]] = ("user_aliases",)
    user_aliases: tuple[NewAlias, ...]
    origins: Mapping[str, tuple[Origin, ...]] = _origins()


# -- Engage audiences: Braze's partner cohort import ----------------------------------


class _CohortRequest(_Request):
    """The cohort endpoints authenticate in the body, not with a bearer header: the
    request objects hold no secret (``to_json()`` is safe to write to files and logs), and
    ``to_http`` adds ``partner_api_key`` and ``client_secret`` to the bytes it sends."""

    def _credentials(self, settings: Settings) -> tuple[dict[str, str], dict[str, Any]]:
        """No bearer header: the two cohort secrets go first in the body."""
        partner_api_key, client_secret = settings.require_cohort_secrets()
        return {}, {"partner_api_key": partner_api_key, "client_secret": client_secret,
                    **self.to_json()}


@attrs.frozen(kw_only=True, slots=False)
class CohortName(_CohortRequest):
    """``POST /partners/segment/cohorts``: names the cohort ``cohort_id`` (Braze's
    dashboard shows ``name``). Sent before the cohort's first membership change, and
    again when it is renamed.

    Its origin (the event that first named the cohort) is kept under ``"cohort_id"``.
    """

    endpoint: ClassVar[str] = "/partners/segment/cohorts"
    arrays: ClassVar[tuple[str, ...]] = ()
    cohort_id: str
    name: str
    #: ISO 8601.
    created_at: str
    origins: Mapping[str, tuple[Origin, ...]] = _origins()

    def _origins_from(self, origin: Origin) -> dict[str, tuple[Origin, ...]]:
        return {"cohort_id": (origin,)}

    def size(self) -> int:
        """One: the cohort it names."""
        return 1


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


def _no_times(request: CohortUsers) -> tuple[str | None, ...]:
    return (None,) * request.size()


@attrs.frozen(kw_only=True, slots=False)
class CohortUsers(_CohortRequest):
    """``POST /partners/segment/cohorts/users``: users entering or leaving the cohort
    ``cohort_id``.

    Origins and times are per user, in the body's order (each change's ``user_ids``, then
    its ``aliases``, then its ``device_ids``): ``origins["cohort_changes"][i]`` and
    ``times[i]`` belong to the i-th user named. ``times`` (ISO 8601 UTC, as the translator
    writes them; ``None`` when unknown) are not sent: batching reads them so that the
    newest change of a user wins. A batched request may also carry
    ``origins["superseded"]``: the changes it left out because a newer change of the same
    user replaced them (see :mod:`segment_braze.batching`).
    """

    endpoint: ClassVar[str] = "/partners/segment/cohorts/users"
    arrays: ClassVar[tuple[str, ...]] = ("cohort_changes",)
    cohort_id: str
    cohort_changes: tuple[CohortChange, ...]
    origins: Mapping[str, tuple[Origin, ...]] = _origins()
    times: tuple[str | None, ...] = attrs.field(
        default=attrs.Factory(_no_times, takes_self=True), eq=False, repr=False)

    def _origins_from(self, origin: Origin) -> dict[str, tuple[Origin, ...]]:
        count = self.size()
        return {"cohort_changes": (origin,) * count} if count else {}

    def size(self) -> int:
        """Users named across ``cohort_changes`` (Braze's limit: 1,000 per request)."""
        return sum(change.size() for change in self.cohort_changes)


Request: TypeAlias = (UsersTrack | UsersDelete | UsersIdentify | UsersMerge | UsersAliasNew
                      | CohortName | CohortUsers)
"""Any request the library builds."""

# Late import: the converter registers hooks for the classes above.
from . import converters  # noqa: E402
