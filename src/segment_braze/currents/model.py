"""The Currents event: its typed model and the strict converter that reads Braze's
raw records into it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from cattrs.gen import make_dict_structure_fn, override

from ..converters import json_type, structure_identifier, structure_string
from ..errors import InvalidEvent, Problem, json_path
from ..limits import MAX_EVENT_CHARS
from ..times import UTC

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: The last second of year 9999. A larger ``time`` is almost always milliseconds.
_MAX_SECONDS: Final = 253_402_300_799



# -- the model -------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class CurrentsEvent:
    """One Currents event: the fields Braze's Segment connector reads, typed.

    Attribute names are Currents' own field names (snake_case on the wire too). Fields
    absent from the record, or null, are ``None``. Fields this model does not name
    (``timezone``, ``sending_ip``, ...) are accepted and ignored: the connector does not
    send them, and Currents adds fields over time.
    """

    event_type: str
    id: str
    time: datetime
    user_id: str | None = None
    external_user_id: str | None = None
    app_group_id: str | None = None
    app_id: str | None = None
    # campaign and Canvas
    campaign_id: str | None = None
    campaign_name: str | None = None
    message_variation_id: str | None = None
    message_variation_name: str | None = None
    canvas_id: str | None = None
    canvas_name: str | None = None
    canvas_step_id: str | None = None
    canvas_step_name: str | None = None
    canvas_variation_id: str | None = None
    canvas_variation_name: str | None = None
    send_id: str | None = None
    dispatch_id: str | None = None
    message_extras: str | Mapping[str, Any] | None = None
    # device
    device_id: str | None = None
    platform: str | None = None
    device_model: str | None = None
    ad_id: str | None = None
    ad_id_type: str | None = None
    ad_tracking_enabled: bool | None = None
    # aborts
    abort_type: str | None = None
    abort_log: str | None = None
    # email
    email_address: str | None = None
    esp: str | None = None
    from_domain: str | None = None
    ip_pool: str | None = None
    bounce_reason: str | None = None
    is_drop: bool | None = None
    deferral_reason: str | None = None
    attempt_count: int | None = None
    recipient_domain: str | None = None
    browser: str | None = None
    device_class: str | None = None
    device_os: str | None = None
    is_amp: bool | None = None
    mailbox_provider: str | None = None
    user_agent: str | None = None
    machine_open: str | bool | None = None
    url: str | None = None
    link_id: str | None = None
    link_alias: str | None = None
    # SMS and WhatsApp
    to_phone_number: str | None = None
    from_phone_number: str | None = None
    user_phone_number: str | None = None
    inbound_phone_number: str | None = None
    subscription_group_id: str | None = None
    category: str | None = None
    error: str | None = None
    provider_error_code: str | None = None
    provider_error_title: str | None = None
    action: str | None = None
    message_body: str | None = None
    media_urls: tuple[str, ...] | None = None
    quick_reply_text: str | None = None
    short_url: str | None = None
    # in-app messages, Content Cards, News Feed
    card_id: str | None = None
    content_card_id: str | None = None
    button_id: str | None = None
    # conversions, Canvas flow, experiments, feature flags
    conversion_behavior: str | None = None
    conversion_behavior_index: int | None = None
    in_control_group: bool | None = None
    canvas_entry_id: str | None = None
    exit_reason: str | None = None
    is_canvas_entry: bool | None = None
    next_step_id: str | None = None
    progression_type: str | None = None
    experiment_split_id: str | None = None
    experiment_split_name: str | None = None
    experiment_step_id: str | None = None
    feature_flag_id_name: str | None = None
    # subscriptions
    subscription_status: str | None = None
    state_change_source: str | None = None


FIELDS: Final = frozenset(f.name for f in attrs.fields(CurrentsEvent))


# -- strict scalar hooks ---------------------------------------------------------------

#: The branch names a generic Avro-to-JSON decoder wraps union values in.
_AVRO_BRANCHES: Final = frozenset({"string", "int", "long", "float", "double", "boolean",
                                   "array", "map"})


def unwrap(value: Any) -> Any:
    """``{"string": "x"}`` -> ``"x"``: the Avro union wrapper, if it is one."""
    if type(value) is dict and len(value) == 1:
        ((branch, inner),) = value.items()
        if branch in _AVRO_BRANCHES:
            return inner
    return value


class _At(ValueError):
    """A problem below a field (``tail`` is the rest of the path, e.g. an array index)."""

    def __init__(self, tail: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.tail = tail


def _text(value: Any) -> str:
    """An unwrapped value as a string of at most 1 MB, checked as Segment JSON is."""
    return structure_string(value)


def _string(value: Any, _: Any) -> str | None:
    value = unwrap(value)
    return None if value is None else _text(value)


def _required_string(value: Any, _: Any) -> str:
    value = unwrap(value)
    if value is None:
        raise TypeError("expected a string, got null")
    return _text(value)


def _identifier(value: Any, _: Any) -> str | None:
    """Identifiers accept integers (and integral floats) and become strings; nothing
    else is turned into a string."""
    value = unwrap(value)
    return None if value is None else structure_identifier(value)


def _required_identifier(value: Any, _: Any) -> str:
    text = _identifier(value, None)
    if not text:
        raise ValueError("expected a non-empty string or an integer, got "
                         + ("an empty string" if text == "" else "null"))
    return text


def _integer(value: Any, _: Any) -> int | None:
    value = unwrap(value)
    if value is None:
        return None
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {json_type(value)}")


def _boolean(value: Any, _: Any) -> bool | None:
    value = unwrap(value)
    if value is None or type(value) is bool:
        return value
    raise TypeError(f"expected a boolean, got {json_type(value)}")


def _string_or_boolean(value: Any, _: Any) -> str | bool | None:
    """``machine_open``: Braze documents it as the string ``"true"``, some exports carry
    the boolean; either passes through as it came."""
    value = unwrap(value)
    if value is None or type(value) is bool:
        return value
    return _text(value)


def _string_or_object(value: Any, _: Any) -> str | Mapping[str, Any] | None:
    """``message_extras``: a JSON-encoded string today, an object in older exports."""
    value = unwrap(value)
    if value is None or isinstance(value, Mapping):
        return value
    return _text(value)


def _strings(value: Any, _: Any) -> tuple[str, ...] | None:
    value = unwrap(value)
    if value is None:
        return None
    if type(value) is not list:
        raise TypeError(f"expected an array of strings, got {json_type(value)}")
    for index, item in enumerate(value):
        if type(item) is not str:
            raise _At((index,), f"expected a string, got {json_type(item)}")
        if len(item) > MAX_EVENT_CHARS:
            raise _At((index,), "longer than 1 MB")
    return tuple(value)


def _epoch(value: Any, _: Any) -> datetime:
    """``time``: seconds since the epoch (an integer; fractions are kept to the
    millisecond), as an aware UTC datetime."""
    value = unwrap(value)
    kind = type(value)
    if kind is int:
        seconds: int | float = value
    elif kind is float and value == value and abs(value) != float("inf"):
        seconds = value
    else:
        raise TypeError(f"expected seconds since the epoch (a number), got {json_type(value)}")
    if seconds < 0:
        raise ValueError("before 1970")
    if seconds > _MAX_SECONDS:
        raise ValueError("after year 9999 (milliseconds instead of seconds?)")
    if kind is int:
        return _EPOCH + timedelta(seconds=seconds)
    return datetime.fromtimestamp(seconds, UTC)


_SPECIAL: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "event_type": _required_string,
    "id": _required_identifier,
    "time": _epoch,
    "machine_open": _string_or_boolean,
    "message_extras": _string_or_object,
    "media_urls": _strings,
}

_BY_TYPE: Final[Mapping[Any, Callable[[Any, Any], Any]]] = {
    str | None: _string,
    int | None: _integer,
    bool | None: _boolean,
}


class CurrentsConverter(cattrs.Converter):
    """Currents JSON -> :class:`CurrentsEvent`: a strict hook per field (identifiers
    accept integers, nothing else is coerced), no key renames (the wire names are the
    attribute names), compiled once when it is built (by :func:`make_converter`).

    Building one takes a few milliseconds: build it once per stream and pass it to
    :func:`parse`, :func:`convert` and :func:`to_segment` (:func:`convert_many` builds
    one per stream). Pickling rebuilds it rather than shipping its compiled hooks.
    """

    def __init__(self) -> None:
        super().__init__(detailed_validation=True)
        overrides: dict[str, Any] = {}
        for field in attrs.fields(attrs.resolve_types(CurrentsEvent)):
            hook = _SPECIAL.get(field.name)
            if hook is None and field.name.endswith("_id"):
                hook = _identifier
            if hook is None:
                hook = _BY_TYPE[field.type]
            overrides[field.name] = override(struct_hook=hook)
        self.register_structure_hook(
            CurrentsEvent, make_dict_structure_fn(CurrentsEvent, self, **overrides))
        self._structure: Callable[[Any, Any], CurrentsEvent] = self.get_structure_hook(
            CurrentsEvent)

    def __reduce__(self) -> tuple[type[CurrentsConverter], tuple[()]]:
        return (type(self), ())

    def structure_as(self, data: Mapping[str, Any], kind: str) -> CurrentsEvent:
        """``data`` as a :class:`CurrentsEvent` of type ``kind``, once :func:`parse` or
        :func:`convert` has checked that it is an object and settled its type."""
        if data.get("event_type") is not kind:
            data = {**data, "event_type": kind}
        try:
            return self._structure(data, CurrentsEvent)
        except ClassValidationError as group:
            raise InvalidEvent(_problems(group)) from None


def make_converter() -> CurrentsConverter:
    """A new converter of Currents JSON (see :class:`CurrentsConverter`)."""
    return CurrentsConverter()


def _problems(group: ClassValidationError) -> list[Problem]:
    problems = []
    for exc in group.exceptions:
        name = next((getattr(n, "name", None) for n in getattr(exc, "__notes__", ())
                     if getattr(n, "name", None)), None)
        path: tuple[str | int, ...] = (name,) if name else ()
        if isinstance(exc, KeyError):
            problems.append(Problem(json_path(path), "required field missing"))
        elif isinstance(exc, _At):
            problems.append(Problem(json_path((*path, *exc.tail)), str(exc)))
        else:
            problems.append(Problem(json_path(path), str(exc)))
    return problems


def event_type_of(data: Mapping[str, Any], given: str | None) -> str:
    """The record's event type: its ``event_type`` field, else the one given (records
    read from a Currents folder do not carry it). Both present and different is an
    error: the record would be filed under the wrong event."""
    found = unwrap(data.get("event_type"))
    if found is None:
        if given is None:
            raise InvalidEvent((Problem("$.event_type", "required field missing (records "
                                        "read from a Currents folder carry none: give the "
                                        "type, event_type= in Python, --event-type on the "
                                        "command line)"),))
        return given
    if type(found) is not str:
        raise InvalidEvent((Problem("$.event_type",
                                    f"expected a string, got {json_type(found)}"),))
    if given is not None and found != given:
        raise InvalidEvent((Problem("$.event_type",
                                    f"{found!r} differs from the given {given!r}"),))
    return found


def parse(data: Any, *, event_type: str | None = None,
          converter: CurrentsConverter | None = None) -> CurrentsEvent:
    """A Currents JSON record as a :class:`CurrentsEvent`, or
    :class:`~segment_braze.InvalidEvent` naming every bad field by its path. Without
    ``converter``, one is built for this call."""
    if not isinstance(data, Mapping):
        raise InvalidEvent((Problem("$", f"expected a JSON object, got {json_type(data)}"),))
    kind = event_type_of(data, event_type)
    return (CurrentsConverter() if converter is None else converter).structure_as(data, kind)
