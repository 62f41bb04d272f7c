"""Identity: which Braze identifier an event's user gets; alias calls and deletes.

Each Braze object carries exactly one identifier, chosen in this order:

1. ``external_id`` = ``userId`` (numbers become strings; blank does not count);
2. ``braze_id`` from ``integrations.Braze.braze_id`` or
   ``context.integrations.Braze.braze_id``;
3. with ``anonymous_users="alias"``: the user alias ``{alias_name: anonymousId,
   alias_label}``;
4. with ``email_identifier``: the email (identify traits, else ``context.traits``);
5. none: the event is skipped, with a reason that says how to change that.

Braze keeps the events and purchases of a user alias only once the alias has a profile,
which an attributes object with ``_update_existing_only: false`` creates. Rather than
every rule that emits an event remembering that, the translator runs
:func:`add_alias_profiles` after the rules, as a step of its own (``alias_profile`` in
``explain()``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .._makers import maker
from ..braze import (
    AliasToIdentify,
    Event,
    Identifier,
    MergeUpdate,
    Purchase,
    UserAlias,
    UserAttributes,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
)
from ..errors import reject
from ..events import Alias, Delete, Identify, SegmentEvent
from ..scope import Skip

if TYPE_CHECKING:
    from ..scope import Output, Scope
    from ..settings import Settings

__all__ = [
    "add_alias_profiles",
    "alias_to_identify_or_merge",
    "braze_id_of",
    "delete_to_users_delete",
    "email_of",
    "merge_anonymous",
    "resolve",
    "skip_anonymous",
]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def looks_like_email(text: str) -> bool:
    """A light check: something, ``@``, a domain with a dot; no spaces."""
    return len(text) <= 255 and _EMAIL.match(text) is not None


def _present(text: str | None) -> str | None:
    return text if text and not text.isspace() else None


def _braze_id_in(integrations: Mapping[str, Any] | None) -> str | None:
    if not integrations:
        return None
    options = integrations.get("Braze")
    if isinstance(options, Mapping):
        value = options.get("braze_id")
        if isinstance(value, str) and value.strip():
            return value
    return None


def braze_id_of(event: SegmentEvent) -> str | None:
    """``integrations.Braze.braze_id``, else ``context.integrations.Braze.braze_id``."""
    found = _braze_id_in(event.integrations)
    if found is None and event.context is not None:
        found = _braze_id_in(event.context.integrations)
    return found


def email_of(event: SegmentEvent) -> str | None:
    """The user's email: identify traits, else ``context.traits`` (never group traits,
    which describe the account)."""
    sources = []
    if isinstance(event, Identify):
        sources.append(event.traits)
    if event.context is not None:
        sources.append(event.context.traits)
    for traits in sources:
        if traits:
            email = traits.get("email")
            if isinstance(email, str) and looks_like_email(email.strip()):
                return email.strip()
    return None


#: One identifier per event: built without ``__init__``.
_identifier: Final = maker(Identifier, "kind", "value")


def resolve(event: SegmentEvent, settings: Settings) -> Identifier | None:
    """The event's Braze identifier in the identity order, or ``None``."""
    user_id = event.user_id
    if user_id and not user_id.isspace():
        return _identifier("external_id", user_id)
    braze_id = braze_id_of(event)
    if braze_id is not None:
        return _identifier("braze_id", braze_id)
    if settings.anonymous_users == "alias":
        anonymous_id = _present(event.anonymous_id)
        if anonymous_id is not None:
            return _identifier("user_alias", UserAlias(anonymous_id, settings.alias_label))
    if settings.email_identifier:
        email = email_of(event)
        if email is not None:
            return _identifier("email", email)
    return None


def skip_anonymous(event: SegmentEvent, scope: Scope) -> tuple[Output, ...]:
    """The reason an event without a Braze identifier is skipped, and how to change it."""
    settings = scope.settings
    has = "no userId or integrations.Braze.braze_id"
    hints = []
    if settings.anonymous_users != "alias":
        hints.append("anonymous_users='alias' to send anonymous users as user aliases")
    else:
        has += ", and no anonymousId"
    if not settings.email_identifier:
        hints.append("email_identifier=True to identify them by email")
    else:
        has += ", and no valid email in traits"
    how = f"; set {' or '.join(hints)}" if hints else ""
    return (Skip(f"no Braze identifier: the event has {has}{how}"),)


def merge_anonymous(event: Identify, scope: Scope) -> tuple[Output, ...]:
    """In alias mode, an identify with both ``userId`` and ``anonymousId`` merges the
    anonymous alias profile into the known user (``/users/identify``, merge behaviour
    ``merge``), so the anonymous history moves with them."""
    settings = scope.settings
    if settings.anonymous_users != "alias":
        return ()
    user_id, anonymous_id = _present(event.user_id), _present(event.anonymous_id)
    if user_id is None or anonymous_id is None:
        return ()
    alias = UserAlias(anonymous_id, settings.alias_label)
    return (UsersIdentify(aliases_to_identify=(AliasToIdentify(user_id, alias),)),)


def alias_to_identify_or_merge(event: Alias, scope: Scope) -> tuple[Output, ...]:
    """``previousId`` -> ``userId``: in alias mode the previous id's alias profile is
    merged into the user (``/users/identify``); with ``merge_on_alias`` two known users
    are merged (``/users/merge``, destructive); otherwise the call is skipped."""
    user_id = _present(event.user_id)
    if user_id is None:
        reject(("userId",), "required: an alias call names the user that previousId becomes")
    previous = _present(event.previous_id)
    if previous is None:
        reject(("previousId",), "must not be blank")
    if previous == user_id:
        return (Skip("previousId and userId are the same user"),)
    settings = scope.settings
    if settings.anonymous_users == "alias":
        alias = UserAlias(previous, settings.alias_label)
        return (UsersIdentify(aliases_to_identify=(AliasToIdentify(user_id, alias),)),)
    if settings.merge_on_alias:
        update = MergeUpdate(merge=Identifier("external_id", previous),
                             keep=Identifier("external_id", user_id))
        return (UsersMerge(merge_updates=(update,)),)
    return (Skip("alias calls are not sent: set anonymous_users='alias' to merge previousId's "
                 "alias profile into the user, or merge_on_alias=True to merge two known "
                 "users with /users/merge (destructive)"),)


def delete_to_users_delete(event: Delete, scope: Scope) -> tuple[Output, ...]:
    """A deletion becomes ``/users/delete`` by external id (Segment deletes by userId)."""
    user_id = _present(event.user_id)
    if user_id is None:
        reject(("userId",), "required: Segment deletes users by userId")
    return (UsersDelete(external_ids=(user_id,)),)


def add_alias_profiles(outputs: list[Output]) -> tuple[list[Output], tuple[Output, ...]]:
    """Creates the profiles of alias users: for each user alias whose events or
    purchases are in ``outputs`` and who has no attributes object with
    ``_update_existing_only: false`` there, adds one such object (with no values) before
    that user's first event or purchase, so that Braze creates the profile and keeps
    them. With ``update_existing_only`` on, the translator does not run it: then no
    profile is ever created.

    Returns the outputs with those objects, and the objects added (none: ``outputs``
    itself).
    """
    for output in outputs:
        kind = type(output)
        if (kind is Event or kind is Purchase) \
                and output.identifier.kind == "user_alias":  # type: ignore[union-attr]
            break
    else:
        return outputs, ()  # the common case: no alias user's event or purchase
    created = {output.identifier for output in outputs
               if type(output) is UserAttributes and output.update_existing_only is False}
    out: list[Output] = []
    added: list[Output] = []
    for output in outputs:
        kind = type(output)
        if kind is Event or kind is Purchase:
            ident: Identifier = output.identifier  # type: ignore[union-attr]
            if ident.kind == "user_alias" and ident not in created:
                created.add(ident)
                profile = UserAttributes(identifier=ident, update_existing_only=False)
                out.append(profile)
                added.append(profile)
        out.append(output)
    return out, tuple(added)
