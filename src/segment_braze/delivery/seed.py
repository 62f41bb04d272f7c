"""Seeding change tracking from Braze: the live profiles of a stream's users, read once,
up front, so a first replay into a workspace that already has them sends only values
that differ.

RudderStack's "deduplicate traits" asks ``/users/export/ids`` before every batch; here it
is done once: :func:`export_requests` names every user whose attributes a stream writes
(by external id or alias; users named by ``braze_id``, email or phone are not tracked or
not exportable by list) and asks only for the fields the stream writes;
:func:`seed_store` writes each answer into a state store. Send the export requests with
:func:`~segment_braze.delivery.deliver` and ``on_response``; ``segment-braze seed-state``
does all three. Braze allows 250 exports a minute on workspaces made since August 2024
(2,500 before): about 200 users a second at most.

A value Braze exports in another spelling than the one the translator sends (a date, a
number written as text) compares unequal and is sent once more: *when in doubt, send*.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from .. import _json
from ..braze import Request, UserAlias, UsersExportIds, alias_key, external_key
from ..limits import MAX_ENTRIES
from ..tracking import Tracker

__all__ = ["EXPORTED_STANDARD", "export_requests", "seed_store"]

#: Standard attributes Braze's export returns at the top level of a user, under the
#: name the translator writes them with. Other standard attributes are not seeded.
EXPORTED_STANDARD: Final = frozenset({
    "first_name", "last_name", "email", "phone", "dob", "gender", "home_city", "country",
    "language", "time_zone"})
#: Fields always asked for: how an answer's user is matched to the users asked about.
_IDENTITY_FIELDS: Final = ("external_id", "user_aliases")
_EXTERNAL: Final = "external_id:"
_ALIAS: Final = "user_alias:"


def _user(key: str) -> tuple[str, str | UserAlias] | None:
    """An exportable user key as (array, value)."""
    if key.startswith(_EXTERNAL):
        return "external_ids", key[len(_EXTERNAL):]
    if key.startswith(_ALIAS):
        label, name = _json.std_loads(key[len(_ALIAS):])
        return "user_aliases", UserAlias(alias_name=name, alias_label=label)
    return None


def export_requests(requests: Iterable[Request], *, fields: Iterable[str] | None = None,
                    per_request: int = MAX_ENTRIES) -> Iterator[UsersExportIds]:
    """``/users/export/ids`` requests for every user whose attribute values ``requests``
    write (parts whose effect is ``"values"``), at most ``per_request`` users each, in
    the order the users first appear. ``fields_to_export`` is ``fields`` when given,
    else the standard attributes written that the export returns, and
    ``custom_attributes`` when any custom one is written.

    The whole stream is read before the first request is made (the fields depend on it);
    memory holds each user once.
    """
    users: dict[str, None] = {}
    standard: set[str] = set()
    custom = False
    for request in requests:
        for part in type(request).ENDPOINT.parts:
            if part.effect != "values":
                continue
            for entry in request.entries(part):
                names = getattr(entry, "values", {})
                if not names:
                    continue
                for key in part.users(entry):
                    users[key] = None
                for name in names:
                    if name in EXPORTED_STANDARD:
                        standard.add(name)
                    else:
                        custom = True
    wanted = (tuple(fields) if fields is not None else
              (*_IDENTITY_FIELDS, *sorted(standard), *(("custom_attributes",) if custom else ())))
    batch: dict[str, list[Any]] = {"external_ids": [], "user_aliases": []}
    count = 0
    for key in users:
        found = _user(key)
        if found is None:
            continue
        batch[found[0]].append(found[1])
        count += 1
        if count == per_request:
            yield _export(batch, wanted)
            batch = {"external_ids": [], "user_aliases": []}
            count = 0
    if count:
        yield _export(batch, wanted)


def _export(batch: Mapping[str, list[Any]], fields: tuple[str, ...]) -> UsersExportIds:
    return UsersExportIds(external_ids=tuple(batch["external_ids"]),
                          user_aliases=tuple(batch["user_aliases"]),
                          fields_to_export=fields)


def seed_store(tracker: Tracker, request: UsersExportIds, body: bytes | str) -> int:
    """Write Braze's answer to one export request through ``tracker``
    (:meth:`~segment_braze.Tracker.seed`): for each user it returns, under each key the
    request asked about (its external id, its aliases), the exported standard attributes
    and custom attributes. Returns the records written."""
    answer = _json.loads(body) if body else {}
    exported = answer.get("users") if isinstance(answer, Mapping) else None
    if not isinstance(exported, list):
        return 0
    asked = {external_key(e) for e in request.external_ids}
    asked.update(alias_key(a) for a in request.user_aliases)
    written = 0
    for user in exported:
        if not isinstance(user, Mapping):
            continue
        values = {name: user[name] for name in EXPORTED_STANDARD if name in user}
        custom = user.get("custom_attributes")
        if isinstance(custom, Mapping):
            values.update(custom)
        keys = []
        external_id = user.get("external_id")
        if isinstance(external_id, str):
            keys.append(external_key(external_id))
        for alias in user.get("user_aliases") or ():
            if isinstance(alias, Mapping) and {"alias_name", "alias_label"} <= alias.keys():
                keys.append(alias_key(UserAlias(alias_name=alias["alias_name"],
                                                alias_label=alias["alias_label"])))
        for key in keys:
            if key in asked and values:
                tracker.seed(key, values)
                written += 1
    return written
