"""Traits -> Braze user attributes; the identify, group and context-traits rules.

Reserved traits (camelCase or snake_case, and Braze's own names) become standard
attributes through :data:`STANDARD_TRAITS`, each with its normaliser; every other trait
is a custom attribute under Braze's naming and size rules (:mod:`.values`). A trait set
to ``null`` unsets its attribute (``null`` is sent); an absent trait is not sent. A value
that cannot be normalised is dropped with a notice, never sent raw.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from dateutil import parser as dateutil_parser

from .._makers import maker
from .._tables import LANGUAGES
from ..braze import UserAttributes
from ..errors import reject
from ..events import Group, Identify, Page, Screen, Track
from ..limits import INT64, MAX_ARRAY, MAX_NAME, MAX_STRING
from ..times import parse_time
from .identity import looks_like_email
from .values import (
    DROP,
    Attribute,
    Dropped,
    Fixed,
    custom_attribute,
    name_problem,
    plain_scalars,
)

if TYPE_CHECKING:
    from ..scope import Output, Scope

__all__ = [
    "GENDERS",
    "GROUP_PREFIX",
    "IDENTITY_TRAITS",
    "RESERVED_KEYS",
    "STANDARD_TRAITS",
    "context_traits_to_attributes",
    "group_to_attributes",
    "identify_to_attributes",
    "traits_to_values",
]

UTC = timezone.utc
Normaliser = Callable[[Any], Any]
PathT = tuple[str | int, ...]

#: Group calls set this attribute, suffixed with the groupId, to ``true``.
GROUP_PREFIX: Final = "ab_segment_group_"

#: Gender words (compared case-insensitively) -> Braze's gender values. Braze accepts only
#: M, F, O, N, P or null ("unknown").
GENDERS: Final[Mapping[str, str | None]] = {
    "m": "M", "male": "M", "man": "M",
    "f": "F", "female": "F", "woman": "F", "w": "F",
    "o": "O", "other": "O", "non-binary": "O", "nonbinary": "O",
    "n": "N", "not applicable": "N", "na": "N",
    "p": "P", "prefer not to say": "P",
    "u": None, "unknown": None,
}

SUBSCRIPTION_STATES: Final = frozenset({"opted_in", "subscribed", "unsubscribed"})
GROUP_STATES: Final = frozenset({"subscribed", "unsubscribed"})

#: Traits that identify the user; they are identity, not attributes.
IDENTITY_TRAITS: Final = frozenset({"id", "userId", "user_id", "anonymousId", "anonymous_id"})

#: Keys of a Braze attributes object that identify or steer it: a trait of that name
#: would hijack the object, so it is dropped with a notice.
RESERVED_KEYS: Final = frozenset({"external_id", "braze_id", "user_alias", "alias_name",
                                  "alias_label", "_update_existing_only", "push_token_import",
                                  "_merge_objects"})


# -- normalisers: value -> value, or Dropped(why) -----------------------------------


def _text(value: Any) -> Any:
    if type(value) is str:
        if len(value) <= MAX_STRING:
            return value
        return Dropped(f"longer than {MAX_STRING} characters; dropped")
    return Dropped(f"expected a string, got {type(value).__name__}; dropped")


def _email(value: Any) -> Any:
    if type(value) is str:
        text = value.strip()
        if looks_like_email(text):
            return text
    return Dropped("not an email address; dropped")


_PHONE_FORMATTING = str.maketrans("", "", " -.()\t")
_PHONE = re.compile(r"\+?[0-9]{3,20}\Z")


def _phone(value: Any) -> Any:
    if type(value) is int:
        value = str(value)
    if type(value) is str:
        digits = value.strip().translate(_PHONE_FORMATTING)
        if _PHONE.match(digits):
            return digits
    return Dropped("not a phone number (digits with an optional leading '+'); dropped")


_FIRST = datetime(2000, 1, 1)  # dateutil's defaults, never returned
_SECOND = datetime(2001, 2, 2)


def _parse_date_text(text: str) -> datetime | None:
    """ISO 8601 (as the event times are read), then any full date dateutil reads;
    ``None`` when no full date is there."""
    try:
        return parse_time(text)
    except ValueError:
        pass
    try:
        # Parsed with two different defaults, a missing part shows as a difference.
        first = dateutil_parser.parse(text, default=_FIRST)
        second = dateutil_parser.parse(text, default=_SECOND)
    except (ValueError, OverflowError):
        return None
    return first if first.date() == second.date() else None


def _calendar_date(value: Any) -> date | None:
    """The calendar date (in UTC) of an ISO 8601 date or date-time, or of another full
    date dateutil reads; ``None`` when there is no full date in it."""
    if isinstance(value, datetime):
        moment: datetime | None = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
        moment = _parse_date_text(text)
    else:
        return None
    if moment is None:
        return None
    if moment.tzinfo is not None and moment.utcoffset():
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # its UTC day is before year 1 or after 9999
            return None
    return moment.date()


def _dob(value: Any) -> Any:
    day = _calendar_date(value)
    if day is None:
        return Dropped("not a date (ISO 8601 such as 1990-05-10, or another full date); "
                       "dropped")
    return day.isoformat()


def _gender(value: Any) -> Any:
    if type(value) is str:
        word = value.lower()
        if word in GENDERS:
            return GENDERS[word]
        word = " ".join(word.split())
        if word in GENDERS:
            return GENDERS[word]
    return Dropped(f"{value!r} is not a known gender word (M, F, O, N, P or unknown, and "
                   "their spellings); dropped")


def _language(value: Any) -> Any:
    if isinstance(value, str):
        code = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
        if code in LANGUAGES:
            return code
    return Dropped(f"{value!r} is not an ISO 639-1 language code; dropped")


@functools.cache
def time_zones() -> frozenset[str]:
    """IANA time zone names known to the system or to dateutil's bundled database."""
    import zoneinfo

    names = set(zoneinfo.available_timezones())
    try:
        from dateutil.zoneinfo import get_zonefile_instance

        names.update(get_zonefile_instance().zones)
    except Exception:  # noqa: S110 - dateutil's bundled data is optional
        pass
    return frozenset(names)


def _time_zone(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in time_zones():
        return value.strip()
    return Dropped(f"{value!r} is not an IANA time zone name; dropped")


def _country(value: Any) -> Any:
    text = _text(value)
    if type(text) is Dropped:
        return text
    stripped = text.strip()
    if len(stripped) == 2 and stripped.isalpha():
        return stripped.upper()
    return text  # Braze maps country names best-effort


def _subscription_state(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in SUBSCRIPTION_STATES:
        return value.strip().lower()
    return Dropped("expected opted_in, subscribed or unsubscribed; dropped")


def _group_entry(entry: Any) -> dict[str, str] | None:
    if not isinstance(entry, Mapping):
        return None
    group, state = entry.get("subscription_group_id"), entry.get("subscription_state")
    if not isinstance(group, str) or not group.strip() or not isinstance(state, str):
        return None
    if state.strip().lower() not in GROUP_STATES:
        return None
    return {"subscription_group_id": group.strip(),
            "subscription_state": state.strip().lower()}


def _subscription_groups(value: Any) -> Any:
    """Entries are independent (one group each): bad ones are dropped, good ones sent."""
    if not isinstance(value, list) or not value:
        return Dropped("expected a non-empty array of {subscription_group_id, "
                       "subscription_state}; dropped")
    groups = [_group_entry(entry) for entry in value]
    good = [group for group in groups if group is not None]
    if len(good) == len(groups):
        return good
    bad = [index for index, group in enumerate(groups) if group is None]
    message = (f"entries {bad} are not {{subscription_group_id, subscription_state: "
               "subscribed or unsubscribed}")
    return Fixed(good, f"{message}; dropped") if good else Dropped(f"{message}; dropped")


#: Reserved trait -> (Braze standard attribute, normaliser). Both spellings of a trait
#: map to one attribute; when an event has both, the first one wins.
STANDARD_TRAITS: Final[Mapping[str, tuple[str, Normaliser]]] = {
    "firstName": ("first_name", _text),
    "first_name": ("first_name", _text),
    "lastName": ("last_name", _text),
    "last_name": ("last_name", _text),
    "email": ("email", _email),
    "phone": ("phone", _phone),
    "birthday": ("dob", _dob),
    "dob": ("dob", _dob),
    "gender": ("gender", _gender),
    "avatar": ("image_url", _text),
    "image_url": ("image_url", _text),
    "home_city": ("home_city", _text),
    "country": ("country", _country),
    "language": ("language", _language),
    "timezone": ("time_zone", _time_zone),
    "time_zone": ("time_zone", _time_zone),
    "email_subscribe": ("email_subscribe", _subscription_state),
    "push_subscribe": ("push_subscribe", _subscription_state),
    "subscription_groups": ("subscription_groups", _subscription_groups),
}

#: Parts of the ``address`` trait that become standard attributes; the rest is not sent.
ADDRESS: Final[Mapping[str, tuple[str, Normaliser]]] = {
    "city": ("home_city", _text),
    "country": ("country", _country),
}

#: Traits handled apart from the custom attributes.
_SPECIAL: Final = IDENTITY_TRAITS | RESERVED_KEYS | {"address"}

_NAME_PARTS: Final = frozenset({"firstName", "first_name", "lastName", "last_name"})

#: What a normaliser returns for a value it drops or fixes, with the notice to give.
_NOTED: Final = frozenset({Dropped, Fixed})


class _Values:
    """Attributes under construction: standard ones remember which trait set them."""

    __slots__ = ("base", "custom", "merged", "scope", "source", "standard")

    def __init__(self, base: PathT, scope: Scope) -> None:
        self.base = base
        self.scope = scope
        self.standard: dict[str, Any] = {}
        self.source: dict[str, str] = {}
        self.custom: dict[str, Any] = {}
        self.merged: dict[str, Any] = {}

    def set_standard(self, attribute: str, value: Any, source: str, path: PathT) -> None:
        if attribute in self.source:
            self.scope.notice((*self.base, *path), f"{attribute} is already set from "
                              f"{self.source[attribute]!r}; dropped")
            return
        self.source[attribute] = source
        kind = type(value)
        if kind is Dropped:
            self.scope.notice((*self.base, *path), value.message)
        elif kind is Fixed:
            self.scope.notice((*self.base, *path), value.message)
            self.standard[attribute] = value.value
        else:
            self.standard[attribute] = value


def traits_to_values(traits: Mapping[str, Any], base: PathT, scope: Scope, *,
                     location: Mapping[str, Any] | None = None,
                     current_location: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Traits as Braze attribute values: ``(values, merged)`` where ``merged`` holds the
    ``$update`` operations that need ``_merge_objects`` (sent in an object of their own).

    ``location`` is ``context.location``: its ``country`` stands in for a missing
    ``address.country``; with ``current_location`` its latitude and longitude become
    ``current_location``.
    """
    values = _Values(base, scope)
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
            scope.notice((*base, key), f"would overwrite the standard attribute {key} set from "
                         f"{values.source[key]!r}; dropped")
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
    scope, base = values.scope, values.base
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
        values.scope.notice((*values.base, "address"), "expected an object; dropped")
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
        values.set_standard(attribute, _text(part), "name", ("name",))


def _location(location: Mapping[str, Any], values: _Values, current_location: bool) -> None:
    scope = values.scope
    base: PathT = ("context", "location")
    if "country" not in values.source and location.get("country") is not None:
        result = _country(location["country"])
        if type(result) is Dropped:
            scope.notice((*base, "country"), result.message)
        else:
            values.standard["country"] = result
            values.source["country"] = "context.location.country"
    if not current_location:
        return
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if latitude is None and longitude is None:
        return
    if _coordinate(latitude, 90) and _coordinate(longitude, 180):
        values.standard["current_location"] = {"latitude": latitude, "longitude": longitude}
    else:
        scope.notice(base, "latitude and longitude must both be numbers within range; "
                     "current_location not sent")


def _coordinate(value: Any, bound: int) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and -bound <= value <= bound)


# -- rule bodies -----------------------------------------------------------------------


#: Attributes objects, built without ``__init__``'s keyword handling.
_attributes_object: Final = maker(UserAttributes, "identifier", "values",
                                  "update_existing_only", "merge_objects")


def _attributes(values: dict[str, Any], merged: dict[str, Any],
                scope: Scope) -> tuple[Output, ...]:
    ident = scope.identifier
    assert ident is not None  # noqa: S101 - the anonymous rule runs first
    update_only = scope.update_existing_only()  # False creates an alias profile
    if not merged:
        return (_attributes_object(ident, values, update_only, None),)
    return (_attributes_object(ident, values, update_only, None),
            _attributes_object(ident, merged, update_only, True))


def identify_to_attributes(event: Identify, scope: Scope) -> tuple[Output, ...]:
    """Identify -> one attributes object: reserved traits to standard attributes, the
    rest custom. (In alias mode the ``identify`` row first merges the anonymous alias,
    ``both(merge_anonymous, identify_to_attributes)``.)"""
    location = event.context.location if event.context is not None else None
    values, merged = traits_to_values(event.traits or {}, ("traits",), scope,
                                      location=location, current_location=True)
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
