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

from .._tables import LANGUAGES
from ..braze import UserAttributes
from ..errors import reject
from ..events import Group, Identify, Page, Screen, Track
from .identity import looks_like_email, merge_anonymous
from .values import DROP, MAX_NAME, MAX_STRING, Attribute, custom_attribute, name_problem

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
Normaliser = Callable[[Any, tuple[str | int, ...], "Scope"], Any]
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


# -- normalisers: (value, path, scope) -> value, or DROP after a notice ----------------


def _text(value: Any, path: PathT, scope: Scope) -> Any:
    if not isinstance(value, str):
        scope.notice(path, f"expected a string, got {type(value).__name__}; dropped")
        return DROP
    if len(value) > MAX_STRING:
        scope.notice(path, f"longer than {MAX_STRING} characters; dropped")
        return DROP
    return value


def _email(value: Any, path: PathT, scope: Scope) -> Any:
    if isinstance(value, str) and looks_like_email(value.strip()):
        return value.strip()
    scope.notice(path, "not an email address; dropped")
    return DROP


_PHONE_FORMATTING = str.maketrans("", "", " -.()\t")
_PHONE = re.compile(r"\+?[0-9]{3,20}\Z")


def _phone(value: Any, path: PathT, scope: Scope) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        digits = value.strip().translate(_PHONE_FORMATTING)
        if _PHONE.match(digits):
            return digits
    scope.notice(path, "not a phone number (digits with an optional leading '+'); dropped")
    return DROP


_FIRST = datetime(2000, 1, 1)
_SECOND = datetime(2001, 2, 2)


def _calendar_date(value: Any) -> date | None:
    """The calendar date (in UTC) of an ISO 8601 date or date-time, or of another full
    date dateutil reads; ``None`` when there is no full date in it."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
        except ValueError:
            try:
                # Parsed with two different defaults, a missing part shows as a difference.
                moment = dateutil_parser.parse(text, default=_FIRST)
                second = dateutil_parser.parse(text, default=_SECOND)
            except (ValueError, OverflowError):
                return None
            if moment.date() != second.date():
                return None
    else:
        return None
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.date()


def _dob(value: Any, path: PathT, scope: Scope) -> Any:
    day = _calendar_date(value)
    if day is None:
        scope.notice(path, "not a date (ISO 8601 such as 1990-05-10, or another full date); "
                     "dropped")
        return DROP
    return day.isoformat()


def _gender(value: Any, path: PathT, scope: Scope) -> Any:
    if isinstance(value, str):
        word = " ".join(value.lower().split())
        if word in GENDERS:
            return GENDERS[word]
    scope.notice(path, f"{value!r} is not a known gender word (M, F, O, N, P or unknown, and "
                 "their spellings); dropped")
    return DROP


def _language(value: Any, path: PathT, scope: Scope) -> Any:
    if isinstance(value, str):
        code = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
        if code in LANGUAGES:
            return code
    scope.notice(path, f"{value!r} is not an ISO 639-1 language code; dropped")
    return DROP


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


def _time_zone(value: Any, path: PathT, scope: Scope) -> Any:
    if isinstance(value, str) and value.strip() in time_zones():
        return value.strip()
    scope.notice(path, f"{value!r} is not an IANA time zone name; dropped")
    return DROP


def _country(value: Any, path: PathT, scope: Scope) -> Any:
    text = _text(value, path, scope)
    if text is DROP:
        return DROP
    stripped = text.strip()
    if len(stripped) == 2 and stripped.isalpha():
        return stripped.upper()
    return text  # Braze maps country names best-effort


def _subscription_state(value: Any, path: PathT, scope: Scope) -> Any:
    if isinstance(value, str) and value.strip().lower() in SUBSCRIPTION_STATES:
        return value.strip().lower()
    scope.notice(path, "expected opted_in, subscribed or unsubscribed; dropped")
    return DROP


def _subscription_groups(value: Any, path: PathT, scope: Scope) -> Any:
    if not isinstance(value, list):
        scope.notice(path, "expected an array of {subscription_group_id, subscription_state}; "
                     "dropped")
        return DROP
    groups = []
    for index, entry in enumerate(value):
        ok = (isinstance(entry, Mapping)
              and isinstance(entry.get("subscription_group_id"), str)
              and entry["subscription_group_id"].strip()
              and isinstance(entry.get("subscription_state"), str)
              and entry["subscription_state"].strip().lower() in GROUP_STATES)
        if not ok:
            scope.notice((*path, index), "expected {subscription_group_id, subscription_state: "
                         "subscribed or unsubscribed}; entry dropped")
            continue
        groups.append({"subscription_group_id": entry["subscription_group_id"].strip(),
                       "subscription_state": entry["subscription_state"].strip().lower()})
    if not groups:
        if value:
            scope.notice(path, "no valid subscription group left; dropped")
        return DROP
    return groups


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

_NAME_PARTS: Final = frozenset({"firstName", "first_name", "lastName", "last_name"})


class _Values:
    """Attributes under construction: standard ones remember which trait set them."""

    __slots__ = ("custom", "merged", "source", "standard")

    def __init__(self) -> None:
        self.standard: dict[str, Any] = {}
        self.source: dict[str, str] = {}
        self.custom: dict[str, Any] = {}
        self.merged: dict[str, Any] = {}

    def set_standard(self, attribute: str, value: Any, source: str, path: PathT,
                     scope: Scope) -> None:
        if attribute in self.source:
            scope.notice(path, f"{attribute} is already set from {self.source[attribute]!r}; "
                         "dropped")
            return
        self.source[attribute] = source
        if value is not DROP:
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
    values = _Values()
    for key, value in traits.items():
        entry = STANDARD_TRAITS.get(key)
        if entry is not None:
            attribute, normalise = entry
            path = (*base, key)
            result = value if value is None else normalise(value, path, scope)
            values.set_standard(attribute, result, key, path, scope)
        elif key == "address":
            _address(value, (*base, key), values, scope)
        elif key in IDENTITY_TRAITS:
            continue
        elif key in RESERVED_KEYS:
            scope.notice((*base, key), f"{key!r} is reserved by Braze for identifying the "
                         "user; dropped")
        else:
            problem = name_problem(key)
            if problem is not None:
                scope.notice((*base, str(key)), f"{problem}; attribute dropped")
                continue
            result = custom_attribute(key, value, (*base, key), scope)
            if isinstance(result, Attribute):
                (values.merged if result.merge else values.custom)[key] = result.value
            elif result is not DROP:
                values.custom[key] = result
    _split_name(traits, base, values, scope)
    if location:
        _location(location, values, scope, current_location)
    out = values.standard
    for key, value in values.custom.items():
        if key in out:
            scope.notice((*base, key), f"would overwrite the standard attribute {key} set from "
                         f"{values.source[key]!r}; dropped")
        else:
            out[key] = value
    return out, values.merged


def _address(value: Any, path: PathT, values: _Values, scope: Scope) -> None:
    if value is None:
        for attribute, _ in ADDRESS.values():
            values.set_standard(attribute, None, "address", path, scope)
        return
    if not isinstance(value, Mapping):
        scope.notice(path, "expected an object; dropped")
        return
    for part, (attribute, normalise) in ADDRESS.items():
        if part in value:
            item = value[part]
            result = item if item is None else normalise(item, (*path, part), scope)
            values.set_standard(attribute, result, f"address.{part}", (*path, part), scope)


def _split_name(traits: Mapping[str, Any], base: PathT, values: _Values, scope: Scope) -> None:
    """``name`` fills first and last name (split at the first space) when neither is
    given; it also stays a custom attribute."""
    name = traits.get("name")
    if not isinstance(name, str) or _NAME_PARTS & traits.keys():
        return
    parts = name.strip().split(None, 1)
    path = (*base, "name")
    for attribute, part in zip(("first_name", "last_name"), parts, strict=False):
        result = _text(part, path, scope)
        values.set_standard(attribute, result, "name", path, scope)


def _location(location: Mapping[str, Any], values: _Values, scope: Scope,
              current_location: bool) -> None:
    base: PathT = ("context", "location")
    if "country" not in values.source and location.get("country") is not None:
        result = _country(location["country"], (*base, "country"), scope)
        values.set_standard("country", result, "context.location.country",
                            (*base, "country"), scope)
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


def _attributes(values: dict[str, Any], merged: dict[str, Any],
                scope: Scope) -> tuple[Output, ...]:
    ident = scope.identifier
    assert ident is not None  # noqa: S101 - the anonymous rule runs first
    update_only = scope.update_existing_only()
    scope.profile_sent = scope.profile_sent or scope.is_alias
    out: tuple[Output, ...] = (UserAttributes(identifier=ident, values=values,
                                              update_existing_only=update_only),)
    if merged:
        out += (UserAttributes(identifier=ident, values=merged,
                               update_existing_only=update_only, merge_objects=True),)
    return out


def identify_to_attributes(event: Identify, scope: Scope) -> tuple[Output, ...]:
    """Identify -> one attributes object (reserved traits to standard attributes, the rest
    custom), after the ``/users/identify`` merge of the anonymous alias in alias mode."""
    location = event.context.location if event.context is not None else None
    values, merged = traits_to_values(event.traits or {}, ("traits",), scope,
                                      location=location, current_location=True)
    return merge_anonymous(event, scope) + _attributes(values, merged, scope)


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
