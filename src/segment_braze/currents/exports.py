"""The export table: which Currents event types Braze's Segment connector sends, under
which Segment event name, with which properties and context."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import attrs

from .model import FIELDS

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
    if field not in FIELDS:
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
