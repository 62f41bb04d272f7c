"""Traits -> Braze user attributes; the identify, group and context-traits rules.

Braze stores a key named like one of its standard profile fields in that field, not as a
custom attribute, and rejects or misreads a value of the wrong type. So every standard
field has its rule in one table, :data:`STANDARD_FIELDS`: a trait of that name (or of
Segment's spelling of it, :data:`TRAIT_SPELLINGS`) must pass it. A value the rule can
make right by a documented rule is fixed (a date becomes ISO 8601); anything else is
dropped with a notice, never sent raw. The keys that identify the user never come from
traits. Every other trait is a custom attribute under Braze's naming and size rules
(:mod:`.values`). A trait set to ``null`` unsets its attribute (``null`` is sent); an
absent trait is not sent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from dateutil import parser as dateutil_parser

from .._makers import maker
from .._tables import LANGUAGES
from ..braze import SubscriptionStatusSet, UserAttributes
from ..errors import reject
from ..events import Group, Identify, Page, Screen, Track
from ..limits import INT64, MAX_ARRAY, MAX_NAME, MAX_STRING, MAX_YEAR
from ..times import UTC, parse_time, render_time
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
    "CONTROL_KEYS",
    "GENDERS",
    "GROUP_PREFIX",
    "IDENTITY_TRAITS",
    "RESERVED_KEYS",
    "STANDARD_FIELDS",
    "STANDARD_TRAITS",
    "SUBSCRIPTION_STATE_TRAITS",
    "TRAIT_SPELLINGS",
    "context_traits_to_attributes",
    "group_subscription_state",
    "group_to_attributes",
    "group_to_subscription",
    "identify_to_attributes",
    "traits_to_values",
]

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

#: Keys of a Braze attributes object that steer it rather than describe the user.
CONTROL_KEYS: Final = frozenset({"_update_existing_only", "push_token_import",
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


def _boolean(value: Any) -> Any:
    if type(value) is bool:
        return value
    return Dropped("expected true or false; dropped")


def _date_time(value: Any) -> Any:
    """Any date or date-time as Braze's ISO 8601 in UTC with milliseconds: a date alone
    is midnight UTC, a time without an offset is UTC (Braze reads both so)."""
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif type(value) is str and value.strip():
        moment = _parse_date_text(value.strip())
    else:
        moment = None
    if moment is None:
        return Dropped("not a date (ISO 8601 such as 2024-05-01T12:00:00Z, or another "
                       "full date); dropped")
    if moment.year > MAX_YEAR:
        return Dropped(f"a date after the year {MAX_YEAR} (Braze keeps it as text); "
                       "dropped")
    try:
        return render_time(moment)
    except OverflowError:  # its UTC time is before the year 1
        return Dropped("a date before the year 1 in UTC; dropped")


def _image_url(value: Any) -> Any:
    text = _text(value)
    if type(text) is Dropped:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc \
            or any(c.isspace() for c in text):
        return Dropped("not an absolute http(s) URL; dropped")
    return text


def _coordinate(value: Any, bound: int) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and -bound <= value <= bound)


def _integer(value: Any) -> bool:
    return type(value) is int and -INT64 <= value < INT64


def _short_text(value: Any) -> bool:
    return type(value) is str and len(value) <= MAX_STRING


def _strings(value: Any) -> bool:
    return type(value) is list and all(_short_text(item) for item in value)


#: A member rule: value -> the value to send, or ``None`` when it cannot be sent.
Member = Callable[[Any], Any]


def _as_is(check: Callable[[Any], bool]) -> Member:
    return lambda value: value if check(value) else None


def _id_text(value: Any) -> Any:
    """An id as text: ids accept integers, which become strings."""
    if _integer(value):
        return str(value)
    return value if _short_text(value) and value.strip() else None


def _id_number(value: Any) -> Any:
    """An id as an integer: a string of digits is that integer."""
    if _integer(value):
        return value
    if type(value) is str and value.strip().isdigit() and len(value.strip()) <= 19:
        number = int(value.strip())
        return number if number < INT64 else None
    return None


def _members(value: Any, members: Mapping[str, tuple[Member, str]],
             what: str) -> Any:
    """An object of documented members: the ones Braze takes, fixed by their rules;
    members of the wrong type or unknown to Braze dropped with a notice (the object is
    dropped when nothing is left)."""
    if not isinstance(value, Mapping) or not value:
        return Dropped(f"expected an object of {what}; dropped")
    out: dict[str, Any] = {}
    bad = []
    for key, item in value.items():
        rule = members.get(key)
        fixed = None if rule is None or item is None else rule[0](item)
        if fixed is None:
            bad.append(f"{key} ({rule[1] if rule is not None else 'not one of them'})")
        else:
            out[key] = fixed
    if not bad:
        return out
    if not out:
        return Dropped(f"expected an object of {what} ({', '.join(bad)}); dropped")
    return Fixed(out, f"takes {what}; dropped {', '.join(bad)}")


_FACEBOOK: Final[Mapping[str, tuple[Member, str]]] = {
    "id": (_id_text, "expected a string"),
    "likes": (_as_is(_strings), "expected an array of strings"),
    "num_friends": (_as_is(_integer), "expected an integer"),
}
_TWITTER: Final[Mapping[str, tuple[Member, str]]] = {
    "id": (_id_number, "expected an integer"),
    "screen_name": (_as_is(_short_text), "expected a string"),
    "followers_count": (_as_is(_integer), "expected an integer"),
    "friends_count": (_as_is(_integer), "expected an integer"),
    "statuses_count": (_as_is(_integer), "expected an integer"),
}


def _facebook(value: Any) -> Any:
    return _members(value, _FACEBOOK, "id, likes, num_friends")


def _twitter(value: Any) -> Any:
    return _members(value, _TWITTER, "id, screen_name, followers_count, friends_count, "
                                      "statuses_count")


def _current_location(value: Any) -> Any:
    if isinstance(value, Mapping) and _coordinate(value.get("latitude"), 90) \
            and _coordinate(value.get("longitude"), 180):
        location = {"latitude": value["latitude"], "longitude": value["longitude"]}
        if len(value) == 2:
            return location
        others = ", ".join(str(k) for k in value if k not in location)
        return Fixed(location, f"only latitude and longitude are sent; dropped: {others}")
    return Dropped("expected {latitude, longitude}: numbers within 90 and 180 degrees; "
                   "dropped")


def _push_token(entry: Any) -> dict[str, str] | None:
    if not isinstance(entry, Mapping) or not entry.keys() <= {"app_id", "token",
                                                                "device_id"}:
        return None
    token = {key: entry[key] for key in ("app_id", "token", "device_id") if key in entry}
    if not all(type(text) is str and text.strip() for text in token.values()) \
            or "app_id" not in token or "token" not in token:
        return None
    return token


def _push_tokens(value: Any) -> Any:
    """Entries are independent (one device each): bad ones are dropped, good ones sent."""
    if not isinstance(value, list) or not value:
        return Dropped("expected a non-empty array of {app_id, token, device_id}; dropped")
    tokens = [_push_token(entry) for entry in value]
    good = [token for token in tokens if token is not None]
    if len(good) == len(tokens):
        return good
    bad = [index for index, token in enumerate(tokens) if token is None]
    message = (f"entries {bad} are not {{app_id, token, device_id (optional)}} of "
               "non-blank strings; dropped")
    return Fixed(good, message) if good else Dropped(message)


#: Braze's standard user profile fields (the user attributes object) -> the rule a
#: trait's value for the field must pass: its normaliser, which fixes what a documented
#: rule can make right and drops the rest with a notice. ``None`` marks the keys that
#: identify the user: they never come from traits (a trait of that name is dropped with
#: a notice).
STANDARD_FIELDS: Final[Mapping[str, Normaliser | None]] = {
    "external_id": None,
    "braze_id": None,
    "user_alias": None,
    "alias_name": None,
    "alias_label": None,
    "country": _country,
    "current_location": _current_location,
    "date_of_first_session": _date_time,
    "date_of_last_session": _date_time,
    "dob": _dob,
    "email": _email,
    "email_click_tracking_disabled": _boolean,
    "email_open_tracking_disabled": _boolean,
    "email_subscribe": _subscription_state,
    "facebook": _facebook,
    "first_name": _text,
    "gender": _gender,
    "home_city": _text,
    "image_url": _image_url,
    "language": _language,
    "last_name": _text,
    "marked_email_as_spam_at": _date_time,
    "phone": _phone,
    "push_subscribe": _subscription_state,
    "push_tokens": _push_tokens,
    "subscription_groups": _subscription_groups,
    "time_zone": _time_zone,
    "twitter": _twitter,
}

#: Segment's spellings of standard fields (its spec's traits, camelCase), beside Braze's
#: own names, which are traits of the same name.
TRAIT_SPELLINGS: Final[Mapping[str, str]] = {
    "firstName": "first_name",
    "lastName": "last_name",
    "birthday": "dob",
    "avatar": "image_url",
    "timezone": "time_zone",
}

#: Trait -> (Braze standard field, its rule from :data:`STANDARD_FIELDS`): Segment's
#: spellings and Braze's own names. Two spellings of one field map to it; when an event
#: has both, the first one wins.
STANDARD_TRAITS: Final[Mapping[str, tuple[str, Normaliser]]] = {
    **{trait: (field, rule) for trait, field in TRAIT_SPELLINGS.items()
       if (rule := STANDARD_FIELDS[field]) is not None},
    **{field: (field, rule) for field, rule in STANDARD_FIELDS.items() if rule is not None},
}

#: Keys of a Braze attributes object that identify or steer it: a trait of that name
#: would hijack the object, so it is dropped with a notice.
RESERVED_KEYS: Final = frozenset(
    {field for field, rule in STANDARD_FIELDS.items() if rule is None} | CONTROL_KEYS)

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
