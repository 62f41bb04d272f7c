"""``POST /users/export/ids``: read users' profiles back from Braze.

Delivery never needs it; change tracking does, once, up front: a first replay into a
workspace that already has profiles can leave out every attribute value Braze already
holds, if the state store is seeded with those profiles first
(:mod:`segment_braze.delivery.seed`). The request names users by external id or alias
(at most 50 in all per request, Braze's limit) and the profile fields to return.

Its effect is ``"none"``: reading a profile changes nothing change tracking may trust.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from ..limits import EXPORT_RATE, MAX_ENTRIES
from .endpoint import Endpoint, Origin, Part, Request, origins_field
from .objects import UserAlias, UserKey, alias_key, external_key

__all__ = ["UsersExportIds"]


def _external_user(external_id: str) -> tuple[UserKey, ...]:
    return (external_key(external_id),)


def _alias_user(alias: UserAlias) -> tuple[UserKey, ...]:
    return (alias_key(alias),)


def _export_body(request: UsersExportIds) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if request.external_ids:
        out["external_ids"] = list(request.external_ids)
    if request.user_aliases:
        out["user_aliases"] = [alias.to_json() for alias in request.user_aliases]
    if request.fields_to_export:
        out["fields_to_export"] = list(request.fields_to_export)
    return out


def _export_read(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"external_ids": tuple(body.get("external_ids", ())),
            "user_aliases": tuple(map(UserAlias.from_json, body.get("user_aliases", ()))),
            "fields_to_export": tuple(body.get("fields_to_export", ()))}


@attrs.frozen(kw_only=True, slots=False)
class UsersExportIds(Request):
    """``POST /users/export/ids``: the profiles of up to 50 users (external ids and
    aliases together), limited to ``fields_to_export`` when given (Braze bills the
    export by the fields it returns; ask only for what will be compared)."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/export/ids",
        (Part("external_ids", MAX_ENTRIES, _external_user, "none"),
         Part("user_aliases", MAX_ENTRIES, _alias_user, "none")),
        body=_export_body, read=_export_read, rate_limit=EXPORT_RATE,
        group=("fields_to_export",), total_limit=MAX_ENTRIES)
    external_ids: tuple[str, ...] = ()
    user_aliases: tuple[UserAlias, ...] = ()
    fields_to_export: tuple[str, ...] = ()
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()
