"""Settings: every setting of Segment's classic Braze destination, typed and checked.

``Settings(...)`` is frozen and keyword-only; ``Settings.from_segment(dict)`` reads the
classic destination's keys (``appGroupId``, ``datacenter``, ``trackAllPages``, ...),
``Settings.from_mapping(dict)`` those or our field names, and ``Settings.load(path)`` a
JSON file of either; all reject unknown keys by name, so a typo cannot pass silently.
Endpoints are normalised for every Braze instance (names, hosts or URLs in). Secrets
never appear in a ``repr`` or an error message, and the ``repr`` shows only what differs
from the defaults, so a notebook shows what was chosen.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from ._tables import CURRENCIES
from .errors import InvalidSettings

__all__ = ["INSTANCES", "SEGMENT_KEYS", "Instance", "Settings"]


@attrs.frozen
class Instance:
    """One Braze instance (cluster): its REST host, SDK host and dashboard hosts."""

    name: str
    rest: str
    sdk: str
    dashboards: tuple[str, ...]


def _instances() -> dict[str, Instance]:
    table = {}
    for n in range(1, 9):
        table[f"US-{n:02d}"] = Instance(f"US-{n:02d}", f"rest.iad-{n:02d}.braze.com",
                                        f"sdk.iad-{n:02d}.braze.com",
                                        (f"dashboard-{n:02d}.braze.com",))
    table["US-10"] = Instance("US-10", "rest.us-10.braze.com", "sdk.us-10.braze.com",
                              ("dashboard-10.braze.com", "dashboard.us-10.braze.com"))
    for n in (1, 2):
        table[f"EU-{n:02d}"] = Instance(f"EU-{n:02d}", f"rest.fra-{n:02d}.braze.eu",
                                        f"sdk.fra-{n:02d}.braze.eu",
                                        (f"dashboard-{n:02d}.braze.eu",))
    for region in ("AU", "ID", "JP", "KR"):
        low = region.lower()
        table[f"{region}-01"] = Instance(f"{region}-01", f"rest.{low}-01.braze.com",
                                         f"sdk.{low}-01.braze.com",
                                         (f"dashboard.{low}-01.braze.com",))
    return table


#: Every Braze instance by name (there is no US-09).
INSTANCES: Mapping[str, Instance] = _instances()

_BY_HOST: dict[str, tuple[str, Instance]] = {}
for _inst in INSTANCES.values():
    _BY_HOST[_inst.rest] = ("rest", _inst)
    _BY_HOST[_inst.sdk] = ("sdk", _inst)
    for _dash in _inst.dashboards:
        _BY_HOST[_dash] = ("dashboard", _inst)

_INSTANCE_NAME = re.compile(r"(us|eu|au|id|jp|kr)[-_ ]?0?(\d{1,2})?\Z", re.IGNORECASE)


def _instance_by_name(value: str, key: str) -> Instance | None:
    """The instance a name such as ``US-03``, ``us03`` or ``eu`` designates; ``None`` when
    the value is not shaped like a name; an error for a name with no instance (US-09)."""
    match = _INSTANCE_NAME.match(value.strip())
    if match is None:
        return None
    region, number = match.group(1).upper(), int(match.group(2) or 1)
    instance = INSTANCES.get(f"{region}-{number:02d}")
    if instance is None:
        raise InvalidSettings(key, f"there is no Braze instance {region}-{number:02d}; the "
                              f"instances are {', '.join(INSTANCES)}")
    return instance


def _split_host(value: str) -> tuple[str, str, str]:
    """``(scheme, host[:port], path)`` of a host or URL; scheme is empty when absent."""
    text = value.strip()
    if "://" not in text:
        text = "//" + text
    parts = urlsplit(text)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")


def normalise_rest_endpoint(value: str) -> str:
    """An instance name, host or URL as ``https://rest.<cluster>``.

    Any other https (or, for tests against a local server, http) URL is kept as given, so
    proxies work; an SDK endpoint here is an error, because it would answer 401 or 404.
    """
    instance = _instance_by_name(value, "rest_endpoint")
    if instance is not None:
        return f"https://{instance.rest}"
    scheme, host, path = _split_host(value)
    if not host or " " in host:
        raise InvalidSettings("rest_endpoint", f"{value!r} is neither a Braze instance name "
                              f"({', '.join(INSTANCES)}) nor a host or URL")
    if scheme not in ("", "https", "http"):
        raise InvalidSettings("rest_endpoint", f"unsupported scheme {scheme!r}")
    kind, known = _BY_HOST.get(host, ("", None))
    if known is not None and kind == "sdk":
        raise InvalidSettings("rest_endpoint", f"{host} is the SDK endpoint of {known.name}; "
                              f"its REST endpoint is https://{known.rest}")
    if known is not None:
        return f"https://{known.rest}"
    return f"{scheme or 'https'}://{host}{path}"


def normalise_sdk_endpoint(value: str) -> str:
    """An instance name, host or URL as a bare SDK host (``sdk.iad-01.braze.com``).

    Segment prepends ``https://`` itself, so a scheme here (even twice, the classic
    mistake) is removed.
    """
    instance = _instance_by_name(value, "sdk_endpoint")
    if instance is not None:
        return instance.sdk
    text = value.strip()
    while re.match(r"https?://", text, re.IGNORECASE):
        text = text.split("://", 1)[1]
    _, host, _path = _split_host(text)
    if not host or " " in host:
        raise InvalidSettings("sdk_endpoint", f"{value!r} is not a host name")
    kind, known = _BY_HOST.get(host, ("", None))
    if known is not None and kind == "rest":
        raise InvalidSettings("sdk_endpoint", f"{host} is the REST endpoint of {known.name}; "
                              f"its SDK endpoint is {known.sdk}")
    if known is not None:
        return known.sdk
    return host


def _blank_to_none(value: Any) -> Any:
    """Segment sends ``""`` for a setting that is not set."""
    return None if value == "" else value


def _is_flag(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidSettings(attribute.name, f"expected true or false, got {value!r}")


def _is_optional_text(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidSettings(attribute.name,
                              f"expected a string, got {type(value).__name__}")


def _flag(default: bool) -> Any:
    return attrs.field(default=default, validator=_is_flag)


def _optional_text() -> Any:
    return attrs.field(default=None, converter=_blank_to_none, validator=_is_optional_text)


def _secret() -> Any:
    """A secret: optional text, blank meaning not set, masked in every repr."""
    return attrs.field(default=None, converter=_blank_to_none, validator=_is_optional_text,
                       repr=_masked)


def _names(what: str = "event names") -> Any:
    """An optional set of names (an allow or block list of event names, audience
    keys)."""
    def validate(_instance: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, frozenset) or not all(isinstance(n, str) for n in value):
            raise InvalidSettings(attribute.name, f"expected a list of {what} (strings)")
    return attrs.field(default=None, converter=_to_names, validator=validate)


def _masked(value: object) -> str:
    return "None" if value is None else "'***'"


def _to_seconds(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def _is_seconds(_instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidSettings(attribute.name,
                              f"expected a whole number of seconds >= 0, got {value!r}")


def _seconds(default: int) -> Any:
    return attrs.field(default=default, converter=_to_seconds, validator=_is_seconds)


def _to_names(value: Any) -> Any:
    if value is None or isinstance(value, str) or not isinstance(value, Iterable):
        return value
    return frozenset(value)


def _purchase_events(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidSettings("purchase_events", "expected a list of event names")
    names = tuple(value)
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise InvalidSettings("purchase_events", "every event name must be a non-empty string")
    return names


def purchase_key(name: str) -> str:
    """How event names compare with ``purchase_events``: case-insensitive, ignoring spaces,
    ``_`` and ``-`` (``order_completed`` and ``ORDER COMPLETED`` match ``Order Completed``)."""
    return name.lower().replace(" ", "").replace("_", "").replace("-", "")


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value.strip().upper() not in CURRENCIES:
        raise InvalidSettings("default_currency", f"{value!r} is not an ISO 4217 currency code")
    return value.strip().upper()


def _rest_endpoint(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidSettings("rest_endpoint", f"expected a string, got {type(value).__name__}")
    return normalise_rest_endpoint(value)


def _sdk_endpoint(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidSettings("sdk_endpoint", f"expected a string, got {type(value).__name__}")
    return normalise_sdk_endpoint(value)


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, Any, Any], None]:
    def validate(_instance: Any, attribute: Any, value: Any) -> None:
        if value not in choices:
            expected = ", ".join(map(repr, choices))
            raise InvalidSettings(attribute.name, f"expected one of {expected}, got {value!r}")
    return validate


def _non_empty(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSettings(attribute.name, "expected a non-empty string")


@attrs.frozen(kw_only=True, repr=False)
class Settings:
    """How events are translated, and where requests go. Frozen and keyword-only.

    Defaults follow Segment's classic Braze destination. The settings page of the docs
    describes every field; ``from_segment`` reads Segment's own keys, ``from_mapping``
    those or ours, ``load`` a JSON file of either. The ``repr`` shows only the fields
    that differ from the defaults, secrets as ``'***'``.
    """

    # -- connection ------------------------------------------------------------------
    rest_api_key: str | None = _secret()
    rest_endpoint: str | None = attrs.field(default=None, converter=_rest_endpoint)
    sdk_endpoint: str | None = attrs.field(default=None, converter=_sdk_endpoint)
    app_id: str | None = _optional_text()

    # -- Engage audiences to Braze cohorts (both or neither; see docs/cohorts.md) -------
    cohort_client_secret: str | None = _secret()
    cohort_partner_api_key: str | None = _secret()
    cohort_device_ids: bool = _flag(False)
    cohort_audiences: frozenset[str] | None = _names("audience keys")

    # -- what is sent ----------------------------------------------------------------
    update_existing_only: bool = _flag(False)
    log_purchase_when_revenue_present: bool = _flag(False)
    track_all_pages: bool = _flag(False)
    track_named_pages: bool = _flag(False)
    purchase_events: tuple[str, ...] = attrs.field(
        default=("Order Completed", "Completed Order"), converter=_purchase_events)
    default_currency: str = attrs.field(default="USD", converter=_currency)
    anonymous_users: Literal["skip", "alias"] = attrs.field(
        default="skip", validator=_one_of(("skip", "alias")))
    alias_label: str = attrs.field(default="segment_anonymous_id",
                                   validator=_non_empty)
    email_identifier: bool = _flag(False)
    merge_on_alias: bool = _flag(False)
    context_traits: bool = _flag(False)
    event_allowlist: frozenset[str] | None = _names()
    event_blocklist: frozenset[str] | None = _names()
    ecommerce_events: bool = _flag(False)
    ecommerce_purchases: bool = _flag(False)
    group_subscription_groups: bool = _flag(False)
    nested_array_operations: bool = _flag(False)
    create_alias: bool = _flag(False)
    strict: bool = _flag(False)

    # -- web device mode (kept typed; see web_sdk_options) -----------------------------
    allow_crawler_activity: bool = _flag(False)
    automatically_display_messages: bool = _flag(True)
    do_not_load_font_awesome: bool = _flag(False)
    enable_html_in_app_messages: bool = _flag(False)
    enable_logging: bool = _flag(False)
    minimum_interval_between_trigger_actions_in_seconds: int = _seconds(30)
    open_in_app_messages_in_new_tab: bool = _flag(False)
    open_news_feed_cards_in_new_tab: bool = _flag(False)
    session_timeout_in_seconds: int = _seconds(30)
    safari_website_push_id: str | None = _optional_text()
    version: str | None = _optional_text()
    only_track_known_users_on_web: bool = _flag(False)
    service_worker_location: str | None = _optional_text()

    # -- mobile device mode ----------------------------------------------------------
    automatic_in_app_message_registration_enabled: bool = _flag(True)

    # -- derived once, read per event ------------------------------------------------
    purchase_keys: frozenset[str] = attrs.field(init=False, repr=False, eq=False)

    @purchase_keys.default
    def _purchase_keys(self) -> frozenset[str]:
        return frozenset(purchase_key(n) for n in self.purchase_events)

    def __attrs_post_init__(self) -> None:
        if self.event_allowlist is not None and self.event_blocklist is not None:
            raise InvalidSettings("event_blocklist",
                                  "set event_allowlist or event_blocklist, not both")
        if (self.cohort_client_secret is None) != (self.cohort_partner_api_key is None):
            missing = ("cohort_client_secret" if self.cohort_client_secret is None
                       else "cohort_partner_api_key")
            raise InvalidSettings(missing, "cohorts need both cohort_client_secret and "
                                  "cohort_partner_api_key; set both, or neither")
        # A setting that depends on another one being on would otherwise be silently off.
        for name, needs, why in _DEPENDENT:
            if getattr(self, name) not in (False, None) and not why(self):
                raise InvalidSettings(name, f"only applies with {needs}")

    def __repr__(self) -> str:
        """Only what differs from the defaults (``Settings()`` for none), so that what was
        chosen stands out; a secret that is set shows as ``'***'``."""
        default = type(self)()
        shown = []
        for field in attrs.fields(type(self)):
            if not field.init or field.repr is False:
                continue
            value = getattr(self, field.name)
            if value == getattr(default, field.name):
                continue
            text = field.repr(value) if callable(field.repr) else repr(value)
            shown.append(f"{field.name}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def cohorts_enabled(self) -> bool:
        """Whether Engage audiences become Braze cohorts (both cohort secrets are set)."""
        return self.cohort_client_secret is not None

    # -- helpers -----------------------------------------------------------------------
    def require_rest_endpoint(self) -> str:
        if self.rest_endpoint is None:
            raise InvalidSettings("rest_endpoint", "is required to build HTTP requests")
        return self.rest_endpoint

    def require_rest_api_key(self) -> str:
        if self.rest_api_key is None:
            raise InvalidSettings("rest_api_key", "is required to build HTTP requests")
        return self.rest_api_key

    def require_cohort_secrets(self) -> tuple[str, str]:
        """``(partner_api_key, client_secret)`` for the cohort endpoints' bodies."""
        if self.cohort_partner_api_key is None or self.cohort_client_secret is None:
            raise InvalidSettings("cohort_client_secret", "cohort_client_secret and "
                                  "cohort_partner_api_key are required to build cohort "
                                  "HTTP requests")
        return self.cohort_partner_api_key, self.cohort_client_secret

    @classmethod
    def from_segment(cls, config: Mapping[str, Any], **overrides: Any) -> Settings:
        """Settings from Segment's classic Braze destination keys.

        Every key of the classic settings is accepted (empty strings mean "not set");
        any other key is an :class:`~segment_braze.InvalidSettings` naming it, with the
        nearest known key as a hint. ``overrides`` are our own field names, for settings
        Segment does not have (``anonymous_users="alias"``, ...).
        """
        _refuse_unknown(config, SEGMENT_KEYS, "not a setting of Segment's Braze destination")
        fields: dict[str, Any] = {}
        for key, value in config.items():
            target = SEGMENT_KEYS[key]
            if target is None or value is None or value == "":
                continue
            if key == "datacenter" and config.get("restCustomEndpoint"):
                continue  # an explicit REST URL wins over the data centre
            fields[target] = value
        fields.update(overrides)
        return cls(**fields)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], **overrides: Any) -> Settings:
        """Settings from a mapping of Segment's destination keys (``appGroupId``,
        ``trackAllPages``, ...) or of our field names (``rest_api_key``,
        ``track_all_pages``): the form is told from the keys.

        Beside Segment's keys, only our settings that Segment's destination lacks
        (``anonymous_users``, ``event_blocklist``, ...) may appear; one that Segment's
        keys also set (``track_all_pages`` beside ``apiKey``) is refused, since which one
        would win is anyone's guess. ``overrides`` (our names) win over ``config``.
        Raises :class:`~segment_braze.InvalidSettings` naming the first unknown (with the
        nearest known key as a hint) or doubly spelt key.
        """
        _refuse_unknown(config, _KNOWN, "not a setting")
        segment = [k for k in config if k in SEGMENT_KEYS and k not in _FIELDS]
        if not segment:
            return cls(**{**config, **overrides})
        ours = [k for k in config if k in _MAPPED and k not in SEGMENT_KEYS]
        if ours:
            spelled = next(s for s, v in SEGMENT_KEYS.items() if v == ours[0])
            raise InvalidSettings(ours[0], f"mixes Segment's keys ({segment[0]!r}) with our "
                                  f"names: write it as {spelled!r}, or use only our names")
        shared = {k: v for k, v in config.items() if k not in SEGMENT_KEYS}
        return cls.from_segment({k: v for k, v in config.items() if k in SEGMENT_KEYS},
                                **{**shared, **overrides})

    @classmethod
    def load(cls, path: str | os.PathLike[str], **overrides: Any) -> Settings:
        """Settings from a JSON file holding one object, in either form of
        :meth:`from_mapping`; ``overrides`` (our names) win over the file.

        A file that cannot be read raises the ``OSError`` (its ``filename`` is ``path``);
        a file that is not a JSON object, or a bad setting in it, raises
        :class:`~segment_braze.InvalidSettings` with ``source`` set to ``path``, so the
        message names the file: ``settings.json: trackAllPage: not a setting; did you
        mean 'trackAllPages'?``.
        """
        name = os.fspath(path)
        with open(name, "rb") as file:
            data = file.read()
        try:
            config = json.loads(data)
        except (ValueError, RecursionError) as error:
            raise InvalidSettings(None, f"the settings file is not JSON: {error}",
                                  name) from None
        if not isinstance(config, dict):
            raise InvalidSettings(None, "the settings file must hold a JSON object", name)
        try:
            return cls.from_mapping(config, **overrides)
        except InvalidSettings as error:
            raise InvalidSettings(error.key, error.message, name) from None

    def web_sdk_options(self) -> dict[str, Any]:
        """The options object for the Braze Web SDK's ``initialize(app_id, options)``.

        Uses the current SDK option names (``allowUserSuppliedJavascript`` for
        ``enableHtmlInAppMessages``, ``openCardsInNewTab`` for
        ``openNewsFeedCardsInNewTab``) and ``baseUrl`` from ``sdk_endpoint``.
        ``automatically_display_messages``, ``only_track_known_users_on_web`` and
        ``version`` are not initialize options: they tell the caller what to do around
        it (call ``automaticallyShowInAppMessages()``, wait for a user id, load that SDK).
        """
        options: dict[str, Any] = {}
        if self.sdk_endpoint is not None:
            options["baseUrl"] = self.sdk_endpoint
        options.update({
            "allowCrawlerActivity": self.allow_crawler_activity,
            "allowUserSuppliedJavascript": self.enable_html_in_app_messages,
            "doNotLoadFontAwesome": self.do_not_load_font_awesome,
            "enableLogging": self.enable_logging,
            "minimumIntervalBetweenTriggerActionsInSeconds":
                self.minimum_interval_between_trigger_actions_in_seconds,
            "openInAppMessagesInNewTab": self.open_in_app_messages_in_new_tab,
            "openCardsInNewTab": self.open_news_feed_cards_in_new_tab,
            "sessionTimeoutInSeconds": self.session_timeout_in_seconds,
        })
        if self.safari_website_push_id is not None:
            options["safariWebsitePushId"] = self.safari_website_push_id
        if self.service_worker_location is not None:
            options["serviceWorkerLocation"] = self.service_worker_location
        return options


#: Settings that only mean something when another setting is on: (field, what it needs,
#: whether it has it). Set without it, they are refused by name.
_DEPENDENT: tuple[tuple[str, str, Callable[[Settings], bool]], ...] = (
    ("ecommerce_purchases", "ecommerce_events=True", lambda s: s.ecommerce_events),
    ("cohort_device_ids", "cohorts on (cohort_client_secret and cohort_partner_api_key)",
     lambda s: s.cohorts_enabled),
    ("cohort_audiences", "cohorts on (cohort_client_secret and cohort_partner_api_key)",
     lambda s: s.cohorts_enabled),
)

#: Segment's classic Braze destination keys and the field each one sets (``None``: read
#: and accepted, but nothing to set here).
SEGMENT_KEYS: Mapping[str, str | None] = {
    "apiKey": "app_id",
    "appGroupId": "rest_api_key",
    "datacenter": "rest_endpoint",
    "restCustomEndpoint": "rest_endpoint",
    "customEndpoint": "sdk_endpoint",
    "updateExistingOnly": "update_existing_only",
    "logPurchaseWhenRevenuePresent": "log_purchase_when_revenue_present",
    "trackAllPages": "track_all_pages",
    "trackNamedPages": "track_named_pages",
    "allowCrawlerActivity": "allow_crawler_activity",
    "automaticallyDisplayMessages": "automatically_display_messages",
    "doNotLoadFontAwesome": "do_not_load_font_awesome",
    "enableHtmlInAppMessages": "enable_html_in_app_messages",
    "enableLogging": "enable_logging",
    "minimumIntervalBetweenTriggerActionsInSeconds":
        "minimum_interval_between_trigger_actions_in_seconds",
    "openInAppMessagesInNewTab": "open_in_app_messages_in_new_tab",
    "openNewsFeedCardsInNewTab": "open_news_feed_cards_in_new_tab",
    "sessionTimeoutInSeconds": "session_timeout_in_seconds",
    "safariWebsitePushId": "safari_website_push_id",
    "version": "version",
    "onlyTrackKnownUsersOnWeb": "only_track_known_users_on_web",
    "serviceWorkerLocation": "service_worker_location",
    "automatic_in_app_message_registration_enabled":
        "automatic_in_app_message_registration_enabled",
}

#: Our field names: what ``Settings(**fields)`` accepts, in declaration order.
_FIELDS: tuple[str, ...] = tuple(f.name for f in attrs.fields(Settings) if f.init)
#: Every key :meth:`Settings.from_mapping` knows: Segment's and ours.
_KNOWN: frozenset[str] = frozenset(SEGMENT_KEYS) | frozenset(_FIELDS)
#: Our names that Segment's keys also set: beside Segment's keys, they must be spelt as
#: Segment spells them.
_MAPPED: frozenset[str] = frozenset(v for v in SEGMENT_KEYS.values() if v is not None)


def _refuse_unknown(config: Mapping[str, Any], known: Collection[str], what: str) -> None:
    """Refuse the first key of ``config`` that is not in ``known``, naming it, with the
    nearest known key as a hint: a misspelt setting that passed would be silently off."""
    for key in config:
        if key not in known:
            hint = difflib.get_close_matches(str(key), sorted(known), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            raise InvalidSettings(str(key), f"{what}{more}")
