"""Identity: which Braze identifier an event's user gets; alias calls and deletes.

Each Braze object carries exactly one identifier, chosen in this order:

1. ``external_id`` = ``userId`` (numbers become strings; blank does not count);
2. ``braze_id`` from ``integrations.Braze.braze_id`` or
   ``context.integrations.Braze.braze_id``;
3. with ``anonymous_users="alias"``: the user alias ``integrations.Braze.alias``
   (``{alias_name, alias_label}``, an override for this event), else ``{alias_name:
   anonymousId, alias_label}``;
4. with ``email_identifier``: the email (identify traits, else ``context.traits``);
5. none: the event is skipped, with a reason that says how to change that.

The per-event options (``braze_id``, ``alias``, ``app_id``) are read from the
destination's object in ``integrations``, else in ``context.integrations``: ``Braze`` as
Segment spells it, or ``braze`` / ``BRAZE`` as RudderStack's SDKs do
(:func:`braze_options`).

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
    EmailToIdentify,
    Event,
    Identifier,
    MergeUpdate,
    NewAlias,
    Purchase,
    UserAlias,
    UserAttributes,
    UsersAliasNew,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
)
from ..errors import InvalidEvent, Problem, json_path, reject
from ..events import Alias, Delete, Identify, SegmentEvent, Track
from ..scope import Skip

if TYPE_CHECKING:
    from ..scope import Output, Scope
    from ..settings import Settings

__all__ = [
    "ALIAS_PROPERTIES",
    "BRAZE_OPTIONS",
    "CREATE_ALIAS_EVENT",
    "OPTION_KEYS",
    "add_alias_profiles",
    "alias_to_identify_or_merge",
    "anonymous_alias",
    "app_id_of",
    "braze_id_of",
    "braze_options",
    "delete_to_users_delete",
    "email_of",
    "identify_email",
    "merge_anonymous",
    "resolve",
    "skip_anonymous",
    "track_to_alias_new",
]

#: The track event that creates a user alias (``create_alias``), as Segment's Braze
#: destination (Actions) subscribes its Create Alias action by default.
CREATE_ALIAS_EVENT: Final = "Create Alias"

#: The properties of that event that name the alias.
ALIAS_PROPERTIES: Final = ("alias_name", "alias_label")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def looks_like_email(text: str) -> bool:
    """A light check: something, ``@``, a domain with a dot; no spaces."""
    return len(text) <= 255 and _EMAIL.match(text) is not None


def _present(text: str | None) -> str | None:
    return text if text and not text.isspace() else None


#: The keys of the destination's object in ``integrations``: Segment's spelling, then
#: RudderStack's (its SDKs accept all three).
BRAZE_OPTIONS: Final = ("Braze", "braze", "BRAZE")
#: The same, as a set: ``OPTION_KEYS.isdisjoint(integrations)`` is the per-event test that
#: an event has no options (most have none; rule bodies inline it, it runs per event).
OPTION_KEYS: Final = frozenset(BRAZE_OPTIONS)

Where = tuple[str | int, ...]
_INTEGRATIONS: Final[Where] = ("integrations",)
_CONTEXT_INTEGRATIONS: Final[Where] = ("context", "integrations")


def _options_in(integrations: Mapping[str, Any] | None, base: Where,
                found: list[tuple[Mapping[str, Any], Where]]) -> None:
    if integrations:
        for key in BRAZE_OPTIONS:
            options = integrations.get(key)
            if options is not None:
                # ``"Braze": true`` only says that the destination is on.
                if isinstance(options, Mapping) and options:
                    found.append((options, (*base, key)))
                return


def braze_options(event: SegmentEvent) -> list[tuple[Mapping[str, Any], Where]]:
    """The destination's per-event options objects with their paths, in the order they
    are read: ``integrations.Braze`` (or ``braze``, ``BRAZE``), then
    ``context.integrations.Braze``. Empty for most events."""
    found: list[tuple[Mapping[str, Any], Where]] = []
    _options_in(event.integrations, _INTEGRATIONS, found)
    context = event.context
    if context is not None:
        _options_in(context.integrations, _CONTEXT_INTEGRATIONS, found)
    return found


def _option(event: SegmentEvent, *names: str) -> tuple[Any, Where] | None:
    """The first per-event option of these ``names`` that is set (not ``null``), and its
    path."""
    for options, where in braze_options(event):
        for name in names:
            value = options.get(name)
            if value is not None:
                return value, (*where, name)
    return None


def braze_id_of(event: SegmentEvent) -> str | None:
    """``integrations.Braze.braze_id``, else ``context.integrations.Braze.braze_id``."""
    found = _option(event, "braze_id")
    if found is not None:
        value = found[0]
        if isinstance(value, str) and value.strip():
            return value
    return None


def _alias_override(event: SegmentEvent) -> UserAlias | None:
    """``integrations.Braze.alias`` as a user alias; ``None`` when the event has none. An
    alias without both a non-blank ``alias_name`` and ``alias_label`` rejects the event:
    sending its events to another profile than it names would not be faithful."""
    found = _option(event, "alias")
    if found is None:
        return None
    value, where = found
    if not isinstance(value, Mapping):
        reject(where, "expected an object {alias_name, alias_label}")
    parts = []
    for name in ("alias_name", "alias_label"):
        part = value.get(name)
        if isinstance(part, int | float) and not isinstance(part, bool):
            part = str(part)  # ids: numbers become strings
        if not isinstance(part, str) or not part.strip():
            reject((*where, name), "required: a non-blank string (the alias needs both "
                                   "alias_name and alias_label)")
        parts.append(part)
    return UserAlias(parts[0], parts[1])


def anonymous_alias(event: SegmentEvent, settings: Settings) -> UserAlias | None:
    """The user alias of the event's user in alias mode: ``integrations.Braze.alias``
    when the event sets one, else ``{alias_name: anonymousId, alias_label}``; ``None``
    without either."""
    override = _alias_override(event)
    if override is not None:
        return override
    anonymous_id = _present(event.anonymous_id)
    return None if anonymous_id is None else UserAlias(anonymous_id, settings.alias_label)


def app_id_of(event: SegmentEvent, scope: Scope) -> str | None:
    """The app id of the event's custom events and purchases: ``integrations.Braze.app_id``
    (or ``appId``, RudderStack's spelling; numbers become strings), else the ``app_id``
    setting. A blank value counts as not set; one of another type is left out with a
    notice."""
    found = _option(event, "app_id", "appId")
    if found is not None:
        value, where = found
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            scope.notice(where, "expected a string; the app_id setting is used")
        elif value.strip():
            return value
    return scope.settings.app_id


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
        alias = anonymous_alias(event, settings)
        if alias is not None:
            return _identifier("user_alias", alias)
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


def identify_email(event: Identify, settings: Settings) -> str | None:
    """The valid email an identify sets: its traits' ``email`` (trimmed), else, with
    ``context_traits``, ``context.traits.email`` (the event's own traits win)."""
    sources = [event.traits]
    if settings.context_traits and event.context is not None:
        sources.append(event.context.traits)
    for traits in sources:
        if traits and "email" in traits:
            email = traits["email"]
            if isinstance(email, str) and looks_like_email(email.strip()):
                return email.strip()
            return None
    return None


def merge_anonymous(event: Identify, scope: Scope) -> tuple[Output, ...]:
    """An identify with a ``userId`` merges the user's anonymous profiles into them
    (``/users/identify``, merge behaviour ``merge``), so their history moves with them:
    in alias mode, the alias profile (``integrations.Braze.alias``, else the
    ``anonymousId``'s); with ``identify_by_email``, the email-only profiles of the email
    it sets (``emails_to_identify``, in the order of ``email_prioritization``)."""
    settings = scope.settings
    alias_mode = settings.anonymous_users == "alias"
    if not alias_mode and not settings.identify_by_email:
        return ()
    user_id = _present(event.user_id)
    if user_id is None:
        return ()
    aliases: tuple[AliasToIdentify, ...] = ()
    if alias_mode:
        alias = anonymous_alias(event, settings)
        if alias is not None:
            aliases = (AliasToIdentify(user_id, alias),)
    emails: tuple[EmailToIdentify, ...] = ()
    if settings.identify_by_email:
        email = identify_email(event, settings)
        if email is not None:
            emails = (EmailToIdentify(user_id, email, settings.email_prioritization),)
    if not aliases and not emails:
        return ()
    return (UsersIdentify(aliases_to_identify=aliases, emails_to_identify=emails),)


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


def track_to_alias_new(event: Track, scope: Scope) -> tuple[Output, ...]:
    """``Create Alias`` (with ``create_alias`` on) -> ``/users/alias/new``: the alias
    ``properties.alias_name`` with the label ``properties.alias_label``, added to the
    user whose external id is the event's ``userId`` when it has one, else a new
    alias-only profile. Both properties must be non-blank strings: without them the
    event says nothing Braze can act on, and it is rejected."""
    properties = event.properties or {}
    problems = [Problem(json_path(("properties", key)), "required: a non-blank string "
                        "naming the alias")
                for key in ALIAS_PROPERTIES
                if type(properties.get(key)) is not str or not properties[key].strip()]
    if problems:
        raise InvalidEvent(problems)
    alias = UserAlias(properties["alias_name"], properties["alias_label"])
    return (UsersAliasNew(user_aliases=(NewAlias(user_alias=alias,
                                                 external_id=_present(event.user_id)),)),)


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
