"""Braze's standard profile fields: one normaliser per field, and the table naming them.

Braze stores a key named like one of its standard profile fields in that field, not as a
custom attribute, and rejects or misreads a value of the wrong type. So every standard
field has its rule in one table, :data:`STANDARD_FIELDS`: a trait of that name (or of
Segment's spelling of it, :data:`TRAIT_SPELLINGS`) must pass it. A value the rule can
make right by a documented rule is fixed (a date becomes ISO 8601); anything else is
dropped with a notice, never sent raw. The keys that identify the user never come from
traits (:data:`RESERVED_KEYS`).

A normaliser takes a value other than ``None`` (a trait set to ``null`` unsets its field
without one) and returns the value to send, a :class:`~.values.Fixed` (sent, with a
notice) or a :class:`~.values.Dropped` (not sent, with a notice). The trait walk that
calls them is in :mod:`.traits`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from dateutil import parser as dateutil_parser

from .._tables import LANGUAGES
from ..limits import INT64, MAX_STRING, MAX_YEAR
from ..times import UTC, parse_time, render_time
from .identity import looks_like_email
from .values import Dropped, Fixed

__all__ = [
    "ADDRESS",
    "CONTROL_KEYS",
    "GENDERS",
    "GROUP_STATES",
    "RESERVED_KEYS",
    "STANDARD_FIELDS",
    "STANDARD_TRAITS",
    "TRAIT_SPELLINGS",
    "Normaliser",
]

#: A field's rule: value -> the value to send, or Fixed(value, why), or Dropped(why).
Normaliser = Callable[[Any], Any]

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

#: The states of ``email_subscribe`` and ``push_subscribe``.
SUBSCRIPTION_STATES: Final = frozenset({"opted_in", "subscribed", "unsubscribed"})
#: The states of a user in a subscription group (``subscription_groups``, group calls).
GROUP_STATES: Final = frozenset({"subscribed", "unsubscribed"})


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


def _entries(value: Any, entry: Callable[[Any], dict[str, str] | None], expected: str,
             bad_entries: str) -> Any:
    """An array of independent entries (one group, one device each), each checked by
    ``entry`` (``None`` for a bad one): bad ones are dropped with a notice naming their
    indexes, good ones sent."""
    if not isinstance(value, list) or not value:
        return Dropped(f"expected a non-empty array of {expected}; dropped")
    checked = [entry(item) for item in value]
    good = [item for item in checked if item is not None]
    if len(good) == len(checked):
        return good
    bad = [index for index, item in enumerate(checked) if item is None]
    message = f"entries {bad} are not {bad_entries}; dropped"
    return Fixed(good, message) if good else Dropped(message)


def _subscription_groups(value: Any) -> Any:
    return _entries(value, _group_entry, "{subscription_group_id, subscription_state}",
                    "{subscription_group_id, subscription_state: subscribed or "
                    "unsubscribed}")


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
    return _entries(value, _push_token, "{app_id, token, device_id}",
                    "{app_id, token, device_id (optional)} of non-blank strings")


# -- the table ----------------------------------------------------------------------


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

#: Keys of a Braze attributes object that steer it rather than describe the user.
CONTROL_KEYS: Final = frozenset({"_update_existing_only", "push_token_import",
                                 "_merge_objects"})

#: Keys of a Braze attributes object that identify or steer it: a trait of that name
#: would hijack the object, so it is dropped with a notice.
RESERVED_KEYS: Final = frozenset(
    {field for field, rule in STANDARD_FIELDS.items() if rule is None} | CONTROL_KEYS)

#: Parts of the ``address`` trait that become standard attributes; the rest is not sent.
ADDRESS: Final[Mapping[str, tuple[str, Normaliser]]] = {
    "city": ("home_city", _text),
    "country": ("country", _country),
}
