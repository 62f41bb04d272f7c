"""The requests ``segment-braze translate`` writes, read back into request objects.

Each line is ``{"endpoint": ..., "body": ..., "origins": {...}}``; ``body`` is what
``to_json()`` gave. Reading it back gives the same request (``to_json()`` equal, origins
equal), so ``send`` can place it in lanes by its users, journal its entries and split
Braze's answer per entry. One reader per endpoint, the inverse of each declaration's
body function; an endpoint without one is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from .. import _json
from ..braze import (
    AliasToIdentify,
    CohortChange,
    CohortName,
    CohortUsers,
    EmailToIdentify,
    Event,
    Identifier,
    MergeUpdate,
    NewAlias,
    Purchase,
    Request,
    UserAlias,
    UserAttributes,
    UsersAliasNew,
    UsersDelete,
    UsersExportIds,
    UsersIdentify,
    UsersMerge,
    UsersTrack,
)

__all__ = ["read_requests", "request_from_json"]

#: Identifier keys in Braze's order of precedence: the first present names the user
#: (``email`` before ``phone``, as Braze documents), the rest are attribute values.
IDENTIFIERS: Final = ("external_id", "user_alias", "braze_id", "email", "phone")
_FLAGS: Final = {"_update_existing_only": "update_existing_only",
                 "_merge_objects": "merge_objects"}


def _alias(data: Mapping[str, Any]) -> UserAlias:
    return UserAlias(alias_name=data["alias_name"], alias_label=data["alias_label"])


def _identifier(data: Mapping[str, Any]) -> tuple[Identifier, str]:
    for kind in IDENTIFIERS:
        if kind in data:
            value = data[kind]
            return Identifier(kind, _alias(value) if kind == "user_alias" else value), kind
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


def _track(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"attributes": tuple(map(_attributes, body.get("attributes", ()))),
            "events": tuple(map(_event, body.get("events", ()))),
            "purchases": tuple(map(_purchase, body.get("purchases", ())))}


def _delete(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"external_ids": tuple(body["external_ids"])}


def _identify(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"aliases_to_identify": tuple(
                AliasToIdentify(external_id=e["external_id"], user_alias=_alias(e["user_alias"]))
                for e in body.get("aliases_to_identify", ())),
            "emails_to_identify": tuple(
                EmailToIdentify(external_id=e["external_id"], email=e["email"],
                                prioritization=tuple(e["prioritization"]))
                for e in body.get("emails_to_identify", ())),
            "merge_behavior": body.get("merge_behavior", "merge")}


def _merge(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"merge_updates": tuple(
        MergeUpdate(merge=_identifier(u["identifier_to_merge"])[0],
                    keep=_identifier(u["identifier_to_keep"])[0])
        for u in body["merge_updates"])}


def _alias_new(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"user_aliases": tuple(NewAlias(user_alias=_alias(a),
                                           external_id=a.get("external_id"))
                                  for a in body["user_aliases"])}


def _cohort_name(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"cohort_id": body["cohort_id"], "name": body["name"],
            "created_at": body["created_at"]}


def _cohort_users(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"cohort_id": body["cohort_id"], "cohort_changes": tuple(
        CohortChange(user_ids=tuple(c.get("user_ids", ())),
                     aliases=tuple(map(_alias, c.get("aliases", ()))),
                     device_ids=tuple(c.get("device_ids", ())),
                     should_remove=bool(c.get("should_remove", False)))
        for c in body["cohort_changes"])}


def _export(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"external_ids": tuple(body.get("external_ids", ())),
            "user_aliases": tuple(map(_alias, body.get("user_aliases", ()))),
            "fields_to_export": tuple(body.get("fields_to_export", ()))}


#: Endpoint path -> (request class, the body read into its fields).
READERS: Final[Mapping[str, tuple[type[Request], Callable[[Mapping[str, Any]],
                                                           dict[str, Any]]]]] = {
    cls.endpoint: (cls, reader) for cls, reader in (
        (UsersTrack, _track), (UsersDelete, _delete), (UsersIdentify, _identify),
        (UsersMerge, _merge), (UsersAliasNew, _alias_new), (CohortName, _cohort_name),
        (CohortUsers, _cohort_users), (UsersExportIds, _export))}


def request_from_json(line: Mapping[str, Any]) -> Request:
    """One line of ``translate``'s output as a request. Raises ``ValueError`` (naming
    what is wrong) for a line that is not one."""
    if not isinstance(line, Mapping):
        raise ValueError("not a JSON object")
    endpoint = line.get("endpoint")
    found = READERS.get(endpoint) if isinstance(endpoint, str) else None
    if found is None:
        raise ValueError(f"unknown endpoint {endpoint!r}")
    cls, reader = found
    body, origins = line.get("body"), line.get("origins", {})
    if not isinstance(body, Mapping) or not isinstance(origins, Mapping):
        raise ValueError("body and origins must be JSON objects")
    try:
        fields = reader(body)
        return cls(origins={str(k): tuple(v) for k, v in origins.items()},  # type: ignore[call-arg]
                   **fields)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"{endpoint}: a body of the wrong shape ({type(error).__name__}: "
                         f"{error})") from None


_READ_ERRORS: Final[tuple[type[Exception], ...]] = (*_json.DecodeError, ValueError)


def read_requests(lines: Iterable[bytes | str]) -> Iterator[Request]:
    """The requests of an NDJSON stream (blank lines skipped). Raises ``ValueError``
    naming the line (from 1) of the first line that is not a request."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield request_from_json(_json.loads(line))
        except _READ_ERRORS as error:
            raise ValueError(f"line {number}: {error}") from None
