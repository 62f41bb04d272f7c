"""Traits -> Braze user attributes; the identify, group and context-traits rules.

The walk (:func:`traits_to_values`) sends a trait named like one of Braze's standard
profile fields, or as Segment spells one, through that field's rule (:mod:`.fields`);
the keys that identify the user never come from traits. Every other trait is a custom
attribute under Braze's naming and size rules (:mod:`.values`). A trait set to ``null``
unsets its attribute (``null`` is sent); an absent trait is not sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .._makers import maker
from ..braze import SubscriptionStatusSet, UserAttributes
from ..errors import reject
from ..events import Group, Identify, Page, Screen, Track
from ..limits import INT64, MAX_ARRAY, MAX_NAME, MAX_STRING
from .attributes import Attribute, custom_attribute, plain_scalars
from .fields import ADDRESS, GROUP_STATES, RESERVED_KEYS, STANDARD_TRAITS
from .values import DROP, Dropped, Fixed, name_problem

if TYPE_CHECKING:
    from ..scope import Output, Scope

__all__ = [
    "GROUP_PREFIX",
    "IDENTITY_TRAITS",
    "SUBSCRIPTION_STATE_TRAITS",
    "context_traits_to_attributes",
    "group_subscription_state",
    "group_to_attributes",
    "group_to_subscription",
    "identify_to_attributes",
    "traits_to_values",
]

PathT = tuple[str | int, ...]

#: Group calls set this attribute, suffixed with the groupId, to ``true``.
GROUP_PREFIX: Final = "ab_segment_group_"

#: Traits that identify the user; they are identity, not attributes.
IDENTITY_TRAITS: Final = frozenset({"id", "userId", "user_id", "anonymousId", "anonymous_id"})

#: Traits handled apart from the custom attributes.
_SPECIAL: Final = IDENTITY_TRAITS | RESERVED_KEYS | {"address"}

_NAME_PARTS: Final = frozenset({"firstName", "first_name", "lastName", "last_name"})

#: What a normaliser returns for a value it drops or fixes, with the notice to give.
_NOTED: Final = frozenset({Dropped, Fixed})


class _Values:
    """Attributes under construction: standard ones remember which trait set them."""

    __slots__ = ("base", "bases", "custom", "merged", "scope", "source", "standard")

    def __init__(self, base: PathT, scope: Scope,
                 bases: Mapping[str, PathT] | None = None) -> None:
        self.base = base
        #: The traits that came from elsewhere (``context.traits``) -> their base path.
        self.bases = bases
        self.scope = scope
        self.standard: dict[str, Any] = {}
        self.source: dict[str, str] = {}
        self.custom: dict[str, Any] = {}
        self.merged: dict[str, Any] = {}

    def base_of(self, trait: Any) -> PathT:
        """Where the trait ``trait`` is in the event (for notices)."""
        bases = self.bases
        return self.base if bases is None else bases.get(trait, self.base)

    def set_standard(self, attribute: str, value: Any, source: str, path: PathT) -> None:
        if attribute in self.source:
            self.scope.notice((*self.base_of(path[0]), *path), f"{attribute} is already set "
                              f"from {self.source[attribute]!r}; dropped")
            return
        self.source[attribute] = source
        kind = type(value)
        if kind is Dropped:
            self.scope.notice((*self.base_of(path[0]), *path), value.message)
        elif kind is Fixed:
            self.scope.notice((*self.base_of(path[0]), *path), value.message)
            self.standard[attribute] = value.value
        else:
            self.standard[attribute] = value


def traits_to_values(traits: Mapping[str, Any], base: PathT, scope: Scope, *,
                     location: Mapping[str, Any] | None = None,
                     current_location: bool = False,
                     bases: Mapping[str, PathT] | None = None,
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Traits as Braze attribute values: ``(values, merged)`` where ``merged`` holds the
    ``$update`` operations that need ``_merge_objects`` (sent in an object of their own).

    ``location`` is ``context.location``: its ``country`` stands in for a missing
    ``address.country``; with ``current_location`` its latitude and longitude become
    ``current_location`` (unless a trait set it). ``bases`` names the traits found
    elsewhere than at ``base`` (``context.traits``), for the paths of notices.
    """
    values = _Values(base, scope, bases)
    standard, source, custom = values.standard, values.source, values.custom
    standard_traits = STANDARD_TRAITS
    # Off (the reference translator), every trait takes the general path below.
    shortcuts = scope.memo.shortcuts
    size = 0
    for key, value in traits.items():
        entry = standard_traits.get(key)
        if entry is not None:
            attribute, normalise = entry
            if value is None:
                result = None
            else:
                if type(value) is str and len(value) > MAX_STRING:
                    scope.sink.count_size(len(value))
                result = normalise(value)
            if shortcuts and attribute not in source and type(result) not in _NOTED:
                standard[attribute] = result
                source[attribute] = key
            else:
                values.set_standard(attribute, result, key, (key,))
            continue
        kind = type(value)
        if key in _SPECIAL:
            if key not in IDENTITY_TRAITS:
                _odd_trait(key, value, values)
        elif shortcuts and type(key) is str and 0 < len(key) <= MAX_NAME and key[0] != "$" and (
                (kind is str and len(value) <= MAX_STRING) or kind is bool or value is None
                or (kind is int and -INT64 <= value < INT64)
                or (kind is float and value - value == 0.0)
                or (kind is list and 0 < len(value) <= MAX_ARRAY and plain_scalars(value))):
            custom[key] = value  # the common case, checked inline (as custom_attribute does)
            if kind is str:
                size += len(value)
        else:
            _odd_trait(key, value, values)
    scope.sink.count_size(size)
    if "name" in traits:
        _split_name(traits, values)
    if location:
        _location(location, values, current_location)
    out = values.standard
    for key, value in custom.items():
        if key in out:
            scope.notice((*values.base_of(key), key), f"would overwrite the standard "
                         f"attribute {key} set from {values.source[key]!r}; dropped")
        else:
            out[key] = value
    _keep_identifier(values)
    return out, values.merged


def _keep_identifier(values: _Values) -> None:
    """An attribute named like the identifier's kind (``email``) is written over the
    identifier in the object: one that would change it (``email: null`` in the traits
    while the email in ``context.traits`` identifies the user) would leave the object
    without its identifier, so it is dropped with a notice."""
    ident = values.scope.identifier
    if ident is None:
        return
    kind = ident.kind
    standard = values.standard
    if kind in standard and standard[kind] != ident.value:
        del standard[kind]
        values.scope.notice((*values.base, values.source.get(kind, kind)),
                            f"the user is identified by the {kind} found elsewhere in the "
                            f"event, which this value would replace; dropped")


def _odd_trait(key: Any, value: Any, values: _Values) -> None:
    """A trait off the common path: ``address``, a reserved key, a bad name, a long string
    or a structured value."""
    scope, base = values.scope, values.base_of(key)
    if key == "address":
        _address(value, values)
        return
    if key in RESERVED_KEYS:
        scope.notice((*base, key), f"{key!r} is reserved by Braze for identifying the user; "
                     "dropped")
        return
    problem = name_problem(key)
    if problem is not None:
        scope.notice((*base, str(key)), f"{problem}; attribute dropped")
        return
    result = custom_attribute(key, value, base, scope)
    if type(result) is Attribute:
        (values.merged if result.merge else values.custom)[key] = result.value
    elif result is not DROP:
        values.custom[key] = result


def _address(value: Any, values: _Values) -> None:
    if value is None:
        for attribute, _ in ADDRESS.values():
            values.set_standard(attribute, None, "address", ("address",))
        return
    if type(value) is not dict and not isinstance(value, Mapping):
        values.scope.notice((*values.base_of("address"), "address"),
                            "expected an object; dropped")
        return
    for part, (attribute, normalise) in ADDRESS.items():
        if part in value:
            item = value[part]
            values.set_standard(attribute, item if item is None else normalise(item),
                                f"address.{part}", ("address", part))


def _split_name(traits: Mapping[str, Any], values: _Values) -> None:
    """``name`` fills first and last name (split at the first space) when neither is
    given; it also stays a custom attribute."""
    name = traits.get("name")
    if not isinstance(name, str) or _NAME_PARTS & traits.keys():
        return
    parts = name.strip().split(None, 1)
    for attribute, part in zip(("first_name", "last_name"), parts, strict=False):
        values.set_standard(attribute, STANDARD_TRAITS[attribute][1](part), "name", ("name",))


def _location(location: Mapping[str, Any], values: _Values, current_location: bool) -> None:
    """``context.location`` stands in for fields the traits leave unset: its ``country``
    for ``country`` and, with ``current_location``, its latitude and longitude for
    ``current_location``; each passes that field's own rule."""
    scope = values.scope
    base: PathT = ("context", "location")
    if "country" not in values.source and location.get("country") is not None:
        result = STANDARD_TRAITS["country"][1](location["country"])
        if type(result) is Dropped:
            scope.notice((*base, "country"), result.message)
        else:
            values.standard["country"] = result
            values.source["country"] = "context.location.country"
    if not current_location or "current_location" in values.source:
        return
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if latitude is None and longitude is None:
        return
    point = {"latitude": latitude, "longitude": longitude}
    result = STANDARD_TRAITS["current_location"][1](point)
    if type(result) is Dropped:
        scope.notice(base, "latitude and longitude must both be numbers within range; "
                     "current_location not sent")
    else:
        values.standard["current_location"] = result


# -- rule bodies -----------------------------------------------------------------------


#: Attributes objects, built without ``__init__``'s keyword handling.
_attributes_object: Final = maker(UserAttributes, "identifier", "values",
                                  "update_existing_only", "merge_objects")


def _attributes(values: dict[str, Any], merged: dict[str, Any],
                scope: Scope) -> tuple[Output, ...]:
    ident = scope.identifier
    assert ident is not None  # noqa: S101 - the anonymous rule runs first
    update_only = scope.update_existing_only()  # False creates an alias profile
    out: tuple[Output, ...] = ()
    if values or not merged:  # the merge object alone carries the same identifier
        out = (_attributes_object(ident, values, update_only, None),)
    if merged:
        out += (_attributes_object(ident, merged, update_only, True),)
    return out


_CONTEXT_TRAITS: Final[PathT] = ("context", "traits")


def _context_only(context_traits: Mapping[str, Any],
                  traits: Mapping[str, Any]) -> dict[str, Any]:
    """The ``context.traits`` an identify's own traits do not set: neither the same key
    nor another spelling of the same standard field (``firstName`` beside
    ``first_name``)."""
    standard = STANDARD_TRAITS
    fields = {standard[key][0] for key in traits if key in standard}
    return {key: value for key, value in context_traits.items()
            if key not in traits and (key not in standard or standard[key][0] not in fields)}


def identify_to_attributes(event: Identify, scope: Scope) -> tuple[Output, ...]:
    """Identify -> one attributes object: standard fields checked by their rules, the
    other traits custom; ``context.location`` gives ``current_location``. With
    ``context_traits``, ``context.traits`` too (RudderStack's SDKs put identify traits
    there), the event's own traits winning on conflict. (The ``identify`` row first
    merges the user's anonymous profiles, ``both(merge_anonymous,
    identify_to_attributes)``.)"""
    context = event.context
    traits = event.traits or {}
    bases = None
    if context is not None:
        location = context.location
        if context.traits and scope.settings.context_traits:
            extra = _context_only(context.traits, traits)
            if extra:
                traits = {**traits, **extra}
                bases = dict.fromkeys(extra, _CONTEXT_TRAITS)
    else:
        location = None
    values, merged = traits_to_values(traits, ("traits",), scope, location=location,
                                      current_location=True, bases=bases)
    return _attributes(values, merged, scope)


def group_to_attributes(event: Group, scope: Scope) -> tuple[Output, ...]:
    """Group -> the custom attribute ``ab_segment_group_<groupId>: true``; the group's
    traits describe the account, not the user, and are not sent."""
    group_id = event.group_id
    if not group_id.strip():
        reject(("groupId",), "must not be blank")
    name = GROUP_PREFIX + group_id
    if len(name) > MAX_NAME:
        reject(("groupId",), f"too long: {GROUP_PREFIX}<groupId> must fit in {MAX_NAME} "
                             "characters")
    return _attributes({name: True}, {}, scope)


#: Group traits that hold the user's state in the subscription group the ``groupId`` names
#: (``group_subscription_groups``), in the order they are read.
SUBSCRIPTION_STATE_TRAITS: Final = ("subscription_state", "subscriptionState")


def group_subscription_state(event: Group) -> tuple[str, Any] | None:
    """The first of :data:`SUBSCRIPTION_STATE_TRAITS` the group's traits hold, and its
    value; ``None`` when they hold neither."""
    traits = event.traits
    if traits:
        for key in SUBSCRIPTION_STATE_TRAITS:
            if key in traits:
                return key, traits[key]
    return None


def group_to_subscription(event: Group, scope: Scope) -> tuple[Output, ...]:
    """Group with ``traits.subscription_state`` (or ``subscriptionState``) ``subscribed``
    or ``unsubscribed`` (any case) -> ``/v2/subscription/status/set``: the user enters or
    leaves the subscription group whose id is the ``groupId``, named by external id, or
    by email for a user identified by email. Any other state, or a user the endpoint
    cannot name (by ``braze_id`` or user alias), emits nothing, with a notice; the
    ``group`` row's attribute is sent instead."""
    group_id = event.group_id
    if not group_id.strip():
        reject(("groupId",), "must not be blank")
    found = group_subscription_state(event)
    assert found is not None  # noqa: S101 - the matcher checked it
    key, value = found
    state = value.strip().lower() if type(value) is str else None
    fallback = f"; sent as {GROUP_PREFIX}<groupId> instead"
    if state not in GROUP_STATES:
        scope.notice(("traits", key), f"expected subscribed or unsubscribed, got "
                     f"{value!r}{fallback}")
        return ()
    ident = scope.identifier
    assert ident is not None  # noqa: S101 - the anonymous rule runs first
    if ident.kind not in ("external_id", "email"):
        scope.notice(("traits", key), f"the subscription endpoint names users by external "
                     f"id or email, and this user is identified by {ident.kind}{fallback}")
        return ()
    return (SubscriptionStatusSet.from_pairs({"subscription_groups": [(ident, None)]},
                                             subscription_group_id=group_id,
                                             subscription_state=state),)


def context_traits_to_attributes(event: Track | Page | Screen,
                                 scope: Scope) -> tuple[Output, ...]:
    """``context.traits`` of a track, page or screen -> an attributes object in the same
    request (with ``context_traits`` on)."""
    context = event.context
    assert context is not None  # noqa: S101 - the matcher checked it
    values, merged = traits_to_values(context.traits or {}, ("context", "traits"), scope,
                                      location=context.location)
    if not values and not merged:
        return ()
    return _attributes(values, merged, scope)
