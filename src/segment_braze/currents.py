"""Braze Currents engagement events back to Segment track messages.

Braze Currents exports what happened to the messages Braze sent (sends, deliveries, opens,
clicks, bounces, conversions, Canvas entries, subscription changes, uninstalls). Braze's
own Segment connector turns each of those events into a Segment ``track`` call. This module
does the same offline, from Currents' raw event format, so archives can be replayed into
Segment (or inspected) without the live connector:

    Currents JSON ──parse──▶ CurrentsEvent ──EXPORTS──▶ Segment track message
      (cattrs, strict)        (attrs model)    (the table)   (a JSON-ready dict)

The Currents record is the Avro-derived JSON Braze writes to cloud storage: snake_case
fields such as ``id``, ``user_id``, ``external_user_id`` and ``time`` (seconds since the
epoch). JSON decoded from Avro with a generic tool wraps optional values in their type
branch (``{"string": "abc"}``); those wrappers are accepted. The record does not name its
own event type (Braze files records by event type), so the type comes from an
``event_type`` field or the ``event_type=`` argument.

What comes out, per event, is exactly one of (:class:`CurrentsResult`):

* translated: the track message (``event`` from :data:`EXPORTS`, ``userId`` = the external
  user id, ``anonymousId`` = the Braze user id, ``messageId`` derived from the Currents
  ``id`` so a replay never duplicates, ``timestamp`` in ISO 8601 UTC with milliseconds,
  the documented ``properties`` and ``context``);
* skipped, with a reason: users without an external user id (Braze does not export them
  to Segment) and event types Braze's Segment connector does not send;
* rejected: malformed input raises :class:`~segment_braze.InvalidEvent` naming every bad
  field by its JSON path (``$.time``); :func:`convert_many` records it instead of raising.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from cattrs.gen import make_dict_structure_fn, override

from .converters import json_type, structure_identifier, structure_string
from .errors import InvalidEvent, Problem, Status, json_path
from .limits import MAX_EVENT_CHARS, MAX_MESSAGE_ID
from .times import UTC, render_time

__all__ = [
    "EXPORTS",
    "CurrentsConverter",
    "CurrentsEvent",
    "CurrentsResult",
    "Export",
    "convert",
    "convert_many",
    "export",
    "make_converter",
    "markdown_table",
    "message_id",
    "parse",
    "to_segment",
]

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


_FIELDS: Final = frozenset(f.name for f in attrs.fields(CurrentsEvent))


# -- the table -------------------------------------------------------------------------


@attrs.frozen
class Export:
    """How one Currents event type reaches Segment: the event name, and which Currents
    fields become which ``properties`` and ``context`` entries.

    ``properties`` and ``context`` are ``(Segment key, Currents field)`` pairs; a context
    key is a dotted path (``traits.email``). Build rows with :func:`export`.
    """

    event: str
    properties: tuple[tuple[str, str], ...]
    context: tuple[tuple[str, str], ...] = ()


def _pair(spec: str) -> tuple[str, str]:
    key, _, field = spec.partition("=")
    field = field or key
    if field not in _FIELDS:
        raise ValueError(f"{spec!r}: CurrentsEvent has no field {field!r}")
    return key, field


def export(event: str, *properties: str, context: tuple[str, ...] = ()) -> Export:
    """A table row. Each property is ``"name"`` (the Currents field of the same name) or
    ``"name=field"``; each context entry is ``"section.key=field"``."""
    pairs = tuple(_pair(c) for c in context)
    for path, _ in pairs:
        if path.count(".") != 1:
            raise ValueError(f"context key {path!r} is not 'section.key'")
    return Export(event, tuple(_pair(p) for p in properties), pairs)


# Property groups, in the order Braze documents them.
CAMPAIGN = ("campaign_id", "campaign_name", "message_variation_id", "message_variation_name")
CANVAS = ("canvas_id", "canvas_name", "canvas_step_id", "canvas_step_name",
          "canvas_variation_id", "canvas_variation_name")
MESSAGE = ("app_group_id", *CAMPAIGN, *CANVAS, "device_id", "dispatch_id")
SENT = (*MESSAGE, "send_id")
AD = ("ad_id", "ad_id_type", "ad_tracking_enabled")
ABORT = ("abort_log", "abort_type")
EMAIL = (*SENT, "esp", "from_domain", "ip_pool")
READ = ("browser", "device_class", "device_os", "is_amp", "mailbox_provider", "user_agent")
SMS = (*SENT, "subscription_group_id")
WHATSAPP = (*MESSAGE, "subscription_group_id")
INBOUND = ("action", "app_group_id", *CAMPAIGN, *CANVAS, "inbound_phone_number",
           "media_urls", "message_body", "subscription_group_id")
CARD = (*SENT, *AD, "app_id", "card_id=content_card_id")
CONVERSION = ("conversion_behavior", "conversion_behavior_index")
EXPERIMENT = ("experiment_split_id", "experiment_split_name", "experiment_step_id")
SUBSCRIPTION = ("app_group_id", "app_id", *CAMPAIGN, *CANVAS, "send_id",
                "state_change_source", "subscription_status")
# Context groups.
TO_EMAIL = ("traits.email=email_address",)
TO_PHONE = ("traits.phone=to_phone_number",)
FROM_PHONE = ("traits.phone=user_phone_number",)
MODEL = ("device.model=device_model",)
DEVICE = (*MODEL, "device.type=platform")

_P, _M, _S, _W = ("users.messages.pushnotification.", "users.messages.email.",
                  "users.messages.sms.", "users.messages.whatsapp.")
_I, _C, _N = ("users.messages.inappmessage.", "users.messages.contentcard.",
              "users.messages.newsfeedcard.")

#: Currents event type -> what Braze's Segment connector sends. The whole mapping; read
#: only. To change it, build a new mapping (``{**EXPORTS, kind: export(...)}``) and pass
#: it as ``exports=``.
EXPORTS: Final[Mapping[str, Export]] = MappingProxyType({
    _P + "Send": export("Push Notification Sent", *SENT, *AD, "app_id", "message_extras",
                        "platform"),
    _P + "Open": export("Push Notification Tapped", *SENT, *AD, "app_id", context=DEVICE),
    _P + "IosForeground": export("iOS Foreground Push Opened", *SENT, *AD, "app_id",
                                 context=DEVICE),
    _P + "Bounce": export("Push Notification Bounced", *SENT, *AD, "app_id", "platform"),
    _P + "Abort": export("Push Notification Aborted", *SENT, *ABORT, "app_id", "platform"),
    _M + "Send": export("Email Sent", *EMAIL, "message_extras", context=TO_EMAIL),
    _M + "Delivery": export("Email Delivered", *EMAIL, context=TO_EMAIL),
    _M + "Open": export("Email Opened", *EMAIL, *READ, "machine_open", context=TO_EMAIL + MODEL),
    _M + "Click": export("Email Link Clicked", *EMAIL, *READ, "link_alias", "link_id",
                         "link_url=url", context=TO_EMAIL + MODEL),
    _M + "Bounce": export("Email Bounced", *EMAIL, "bounce_reason", "is_drop", context=TO_EMAIL),
    _M + "SoftBounce": export("Email Soft Bounced", *EMAIL, "bounce_reason", context=TO_EMAIL),
    _M + "Deferral": export("Email Deferred", "app_group_id", *CAMPAIGN, *CANVAS,
                            "dispatch_id", "send_id", "esp", "from_domain", "ip_pool",
                            "attempt_count", "deferral_reason", "recipient_domain",
                            context=TO_EMAIL),
    _M + "MarkAsSpam": export("Email Marked As Spam", *EMAIL, "user_agent", context=TO_EMAIL),
    _M + "Unsubscribe": export("Email Unsubscribed", *SENT, "ip_pool", context=TO_EMAIL),
    _M + "Abort": export("Email Aborted", *SENT, *ABORT, "ip_pool", context=TO_EMAIL),
    _S + "Send": export("SMS Sent", *SMS, "category", "message_extras", context=TO_PHONE),
    _S + "CarrierSend": export("SMS Sent to Carrier", *SMS, "from_phone_number", context=TO_PHONE),
    _S + "Delivery": export("SMS Delivered", *SMS, "from_phone_number", context=TO_PHONE),
    _S + "DeliveryFailure": export("SMS Delivery Failed", *SMS, "error",
                                   "provider_error_code", context=TO_PHONE),
    _S + "Rejection": export("SMS Rejected", *SMS, "error", "from_phone_number",
                             "provider_error_code", context=TO_PHONE),
    _S + "InboundReceive": export("SMS Inbound Received", *INBOUND, context=FROM_PHONE),
    _S + "ShortLinkClick": export("SMS Short Link Clicked", "app_group_id", *CAMPAIGN,
                                  *CANVAS, "device_id", "short_url", "url", "user_agent",
                                  context=FROM_PHONE),
    _S + "Abort": export("SMS Aborted", "app_group_id", *CAMPAIGN, *CANVAS,
                         "subscription_group_id", *ABORT),
    _W + "Send": export("WhatsApp Sent", *WHATSAPP, "from_phone_number", "message_extras",
                        context=TO_PHONE),
    _W + "Delivery": export("WhatsApp Delivered", *WHATSAPP, "from_phone_number", context=TO_PHONE),
    _W + "Read": export("WhatsApp Read", *WHATSAPP, "from_phone_number", context=TO_PHONE),
    _W + "Failure": export("WhatsApp Failed", *WHATSAPP, "from_phone_number",
                           "provider_error_code", "provider_error_title", context=TO_PHONE),
    _W + "InboundReceive": export("WhatsApp Inbound Received", *INBOUND, "device_id",
                                  "quick_reply_text", context=FROM_PHONE),
    _W + "Abort": export("WhatsApp Aborted", *WHATSAPP, *ABORT, context=TO_PHONE),
    _I + "Impression": export("In-App Message Viewed", *SENT, *AD, "app_id", "card_id",
                              "message_extras", context=DEVICE),
    _I + "Click": export("In-App Message Clicked", *SENT, *AD, "app_id", "button_id",
                         "card_id", context=DEVICE),
    _C + "Send": export("Content Card Sent", *SENT, "card_id=content_card_id",
                        "message_extras"),
    _C + "Impression": export("Content Card Viewed", *CARD, context=DEVICE),
    _C + "Click": export("Content Card Clicked", *CARD, context=DEVICE),
    _C + "Dismiss": export("Content Card Dismissed", *CARD, context=DEVICE),
    _C + "Abort": export("Content Card Aborted", *SENT, *ABORT),
    "users.behaviors.app.NewsFeedImpression": export("News Feed Viewed", "app_id"),
    _N + "Impression": export("News Feed Card Viewed", "app_id", "card_id"),
    _N + "Click": export("News Feed Card Clicked", "app_id", "card_id"),
    "users.messages.webhook.Send": export("Webhook Sent", *SENT, "message_extras"),
    "users.messages.webhook.Abort": export("Webhook Aborted", *SENT, *ABORT),
    "users.messages.featureflag.Impression": export(
        "Feature Flag Experiment Impressed", "app_group_id", "app_id", "browser", *CAMPAIGN,
        *CANVAS, "device_id", "feature_flag_id_name", context=DEVICE),
    "users.campaigns.Conversion": export("Campaign Converted", "app_group_id", "app_id",
                                         *CAMPAIGN, *CONVERSION, "device_id", "dispatch_id",
                                         "send_id"),
    "users.campaigns.EnrollInControl": export("Campaign Control Group Entered",
                                              "app_group_id", "app_id", *CAMPAIGN,
                                              "device_id", "dispatch_id", "send_id"),
    "users.canvas.Conversion": export("Canvas Converted", "app_group_id", "app_id", *CANVAS,
                                      *CONVERSION, "device_id"),
    "users.canvas.Entry": export("Canvas Entered", "app_group_id", *CANVAS, "device_id",
                                 "in_control_group"),
    "users.canvas.exit.MatchedAudience": export("Exit Matched Audience", "app_group_id",
                                                *CANVAS),
    "users.canvas.exit.PerformedEvent": export("Exit Performed Event", "app_group_id",
                                               *CANVAS),
    "users.canvas.experimentstep.Conversion": export("Experiment Step Converted", "app_id",
                                                     *CANVAS, *CONVERSION, *EXPERIMENT),
    "users.canvas.experimentstep.SplitEntry": export("Experiment Split Entered", *CANVAS,
                                                     *EXPERIMENT, "in_control_group"),
    "users.canvasstep.Progression": export("Canvas Step Progression", "app_group_id",
                                           "canvas_entry_id", *CANVAS, "device_id",
                                           "exit_reason", "is_canvas_entry", "next_step_id",
                                           "progression_type"),
    "users.behaviors.Uninstall": export("Application Uninstalled", "app_group_id", "app_id",
                                        "device_id"),
    "users.behaviors.subscriptiongroup.StateChange": export(
        "Subscription Group State Changed", *SUBSCRIPTION, "device_id",
        "subscription_group_id", context=TO_EMAIL),
    "users.behaviors.subscription.GlobalStateChange": export(
        "Global Subscription State Changed", *SUBSCRIPTION, context=TO_EMAIL),
})


# -- strict scalar hooks ---------------------------------------------------------------

#: The branch names a generic Avro-to-JSON decoder wraps union values in.
_AVRO_BRANCHES: Final = frozenset({"string", "int", "long", "float", "double", "boolean",
                                   "array", "map"})


def _unwrap(value: Any) -> Any:
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
    value = _unwrap(value)
    return None if value is None else _text(value)


def _required_string(value: Any, _: Any) -> str:
    value = _unwrap(value)
    if value is None:
        raise TypeError("expected a string, got null")
    return _text(value)


def _identifier(value: Any, _: Any) -> str | None:
    """Identifiers accept integers (and integral floats) and become strings; nothing
    else is turned into a string."""
    value = _unwrap(value)
    return None if value is None else structure_identifier(value)


def _required_identifier(value: Any, _: Any) -> str:
    text = _identifier(value, None)
    if not text:
        raise ValueError("expected a non-empty string or an integer, got "
                         + ("an empty string" if text == "" else "null"))
    return text


def _integer(value: Any, _: Any) -> int | None:
    value = _unwrap(value)
    if value is None:
        return None
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {json_type(value)}")


def _boolean(value: Any, _: Any) -> bool | None:
    value = _unwrap(value)
    if value is None or type(value) is bool:
        return value
    raise TypeError(f"expected a boolean, got {json_type(value)}")


def _string_or_boolean(value: Any, _: Any) -> str | bool | None:
    """``machine_open``: Braze documents it as the string ``"true"``, some exports carry
    the boolean; either passes through as it came."""
    value = _unwrap(value)
    if value is None or type(value) is bool:
        return value
    return _text(value)


def _string_or_object(value: Any, _: Any) -> str | Mapping[str, Any] | None:
    """``message_extras``: a JSON-encoded string today, an object in older exports."""
    value = _unwrap(value)
    if value is None or isinstance(value, Mapping):
        return value
    return _text(value)


def _strings(value: Any, _: Any) -> tuple[str, ...] | None:
    value = _unwrap(value)
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
    value = _unwrap(value)
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


def _event_type(data: Mapping[str, Any], given: str | None) -> str:
    """The record's event type: its ``event_type`` field, else the one given (records
    read from a Currents folder do not carry it). Both present and different is an
    error: the record would be filed under the wrong event."""
    found = _unwrap(data.get("event_type"))
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
    kind = _event_type(data, event_type)
    return (CurrentsConverter() if converter is None else converter).structure_as(data, kind)


# -- Segment out -----------------------------------------------------------------------


def message_id(event_id: str) -> str:
    """The Segment ``messageId`` of a Currents event: its ``id`` itself (the value Braze's
    connector sends, so a replay and the live connector deduplicate alike), or, for an id
    longer than Segment's 100 characters, ``currents-`` and the id's SHA-256."""
    if len(event_id) <= MAX_MESSAGE_ID:
        return event_id
    return "currents-" + hashlib.sha256(event_id.encode()).hexdigest()


def _value(value: Any) -> Any:
    return list(value) if type(value) is tuple else value


def _message(event: CurrentsEvent, row: Export) -> dict[str, Any]:
    properties = {}
    for key, field in row.properties:
        value = getattr(event, field)
        if value is not None:
            properties[key] = _value(value)
    context: dict[str, dict[str, Any]] = {}
    for path, field in row.context:
        value = getattr(event, field)
        if value is not None:
            section, _, key = path.partition(".")
            context.setdefault(section, {})[key] = value
    message: dict[str, Any] = {"type": "track", "event": row.event,
                               "userId": event.external_user_id}
    if event.user_id:
        message["anonymousId"] = event.user_id
    message["messageId"] = message_id(event.id)
    message["timestamp"] = render_time(event.time)
    message["properties"] = properties
    if context:
        message["context"] = context
    return message


@attrs.frozen(kw_only=True)
class CurrentsResult:
    """The outcome of one Currents event: exactly one of translated (``message``),
    skipped (``skipped`` holds the reason) or rejected (``error``, only from
    :func:`convert_many`)."""

    message: dict[str, Any] | None = None
    skipped: str | None = None
    error: InvalidEvent | None = None
    #: The Currents ``id``, else the event's position in the stream.
    origin: str | int | None = None

    @property
    def status(self) -> Status:
        """``"translated"``, ``"skipped"`` or ``"rejected"``."""
        if self.error is not None:
            return "rejected"
        return "skipped" if self.skipped is not None else "translated"


def _origin(event: Any, position: int | None) -> str | int | None:
    found = (_unwrap(event.get("id")) if isinstance(event, Mapping)
             else getattr(event, "id", None))
    if type(found) is str and found:
        return found
    if type(found) is int:
        return str(found)
    return position


def convert(event: Mapping[str, Any] | CurrentsEvent, *, event_type: str | None = None,
            exports: Mapping[str, Export] = EXPORTS, position: int | None = None,
            converter: CurrentsConverter | None = None) -> CurrentsResult:
    """Convert one Currents event (a JSON record or a parsed :class:`CurrentsEvent`).

    Returns a translated or skipped :class:`CurrentsResult`; raises
    :class:`~segment_braze.InvalidEvent` for malformed input. Event types the table does
    not name are skipped before the record is checked field by field: Currents exports
    far more than engagement events, and their fields are not modelled here. ``exports``
    replaces the table. Pass a ``converter`` (:func:`make_converter`) when converting
    many records one by one: without it, one is built for the record, when the record
    needs it.
    """
    origin = _origin(event, position)
    if isinstance(event, CurrentsEvent):
        kind = event.event_type
    elif isinstance(event, Mapping):
        kind = _event_type(event, event_type)
    else:
        raise InvalidEvent((Problem("$", f"expected a JSON object, got {json_type(event)}"),))
    row = exports.get(kind)
    if row is None:
        return CurrentsResult(skipped=f"Braze's Segment connector does not export Currents "
                                      f"event type {kind!r}", origin=origin)
    if isinstance(event, CurrentsEvent):
        model = event
    else:
        model = (CurrentsConverter() if converter is None else converter).structure_as(
            event, kind)
    if not model.external_user_id:
        return CurrentsResult(skipped="no external_user_id: Braze exports to Segment only "
                                      "users with an external ID", origin=origin)
    return CurrentsResult(message=_message(model, row), origin=origin)


def to_segment(event: Mapping[str, Any] | CurrentsEvent, *, event_type: str | None = None,
               exports: Mapping[str, Export] = EXPORTS,
               converter: CurrentsConverter | None = None) -> dict[str, Any] | None:
    """The Segment track message for one Currents event, or ``None`` when Braze would not
    send one (:func:`convert` says why). Raises :class:`~segment_braze.InvalidEvent` for
    malformed input."""
    return convert(event, event_type=event_type, exports=exports,
                   converter=converter).message


def convert_many(events: Iterable[Mapping[str, Any] | CurrentsEvent], *,
                 event_type: str | None = None, exports: Mapping[str, Export] = EXPORTS,
                 start: int = 0) -> Iterator[CurrentsResult]:
    """Convert a stream lazily, one :class:`CurrentsResult` per event, in order, with
    one converter built for the stream.

    Never raises for a bad event: a rejected event's result carries ``error``. Positions
    (the origin of events without an ``id``) count from ``start``. ``event_type`` names
    the type of records that do not carry one (a Currents folder holds one type).
    """
    converter = CurrentsConverter()
    for position, event in enumerate(events, start):
        try:
            yield convert(event, event_type=event_type, exports=exports, position=position,
                          converter=converter)
        except InvalidEvent as error:
            yield CurrentsResult(error=error, origin=_origin(event, position))


# -- documentation ---------------------------------------------------------------------

_HEADER: Final = ("| Currents event type | Segment event | properties | context |\n"
                  "|---|---|---|---|\n")


def _cell(pairs: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"`{key}`" if key == field else f"`{key}` (from `{field}`)"
                     for key, field in pairs) or "—"


def markdown_table(exports: Mapping[str, Export] = EXPORTS) -> str:
    """The table as Markdown, for the documentation (a test keeps them equal)."""
    rows = [f"| `{kind}` | {row.event} | {_cell(row.properties)} | {_cell(row.context)} |\n"
            for kind, row in exports.items()]
    return _HEADER + "".join(rows)

