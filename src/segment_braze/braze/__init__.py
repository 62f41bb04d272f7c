"""Braze objects and requests, as typed frozen models.

The objects (``UserAttributes``, ``Event``, ``Purchase``) are what the rule table emits;
the requests (``UsersTrack``, ``UsersDelete``, ``UsersIdentify``, ``UsersMerge``,
``UsersAliasNew``, ``SubscriptionStatusSet``, and for Engage audiences ``CohortName``
and ``CohortUsers``) are what you send. Each request knows its ``endpoint``, renders its
JSON body with ``to_json()`` and builds a ready-to-send :class:`HttpRequest` with
``to_http(settings)``. Nothing here opens a connection.

Each request class declares its endpoint once (``UsersTrack.ENDPOINT``: parts, limits,
users, tracking effect; see :mod:`.endpoint`), and each request remembers, for every entry
of every part, where it came from: ``origin_of("events", 3)`` answers Braze's
``{"errors": [{"index": 3, ...}]}``.

- :mod:`.objects`: the objects and entries, and the user keys;
- :mod:`.endpoint`: the declaration types and what every request shares;
- :mod:`.requests`: the request classes;
- :mod:`.export`: ``UsersExportIds``, which reads profiles back (seeding change tracking).
"""

from __future__ import annotations

from .endpoint import Batching, Effect, Endpoint, HttpRequest, Origin, Part
from .export import UsersExportIds
from .objects import (
    AliasToIdentify,
    CohortChange,
    CohortMember,
    Event,
    Identifier,
    IdentifierKind,
    MergeUpdate,
    NewAlias,
    Purchase,
    UserAlias,
    UserAttributes,
    UserKey,
    alias_key,
    cohort_key,
    external_key,
    user_key,
)
from .requests import (
    REQUEST_CLASSES,
    AnyRequest,
    CohortName,
    CohortUsers,
    Request,
    SubscriptionStatusSet,
    UsersAliasNew,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
    UsersTrack,
)

__all__ = [
    "REQUEST_CLASSES",
    "AliasToIdentify",
    "AnyRequest",
    "Batching",
    "CohortChange",
    "CohortMember",
    "CohortName",
    "CohortUsers",
    "Effect",
    "Endpoint",
    "Event",
    "HttpRequest",
    "Identifier",
    "IdentifierKind",
    "MergeUpdate",
    "NewAlias",
    "Origin",
    "Part",
    "Purchase",
    "Request",
    "SubscriptionStatusSet",
    "UserAlias",
    "UserAttributes",
    "UserKey",
    "UsersAliasNew",
    "UsersDelete",
    "UsersExportIds",
    "UsersIdentify",
    "UsersMerge",
    "UsersTrack",
    "alias_key",
    "cohort_key",
    "external_key",
    "user_key",
]
