"""Settings: endpoint normalisation, Segment's classic keys, type errors, web SDK options.

The instance table below is written from Braze's documentation, not read from the
library, so that a wrong host in the library cannot agree with itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

import segment_braze as sb
from segment_braze.settings import SEGMENT_KEYS

#: Instance -> (REST host, SDK host, dashboard hosts), as Braze documents them.
INSTANCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{f"US-0{n}": (f"rest.iad-0{n}.braze.com", f"sdk.iad-0{n}.braze.com",
                    (f"dashboard-0{n}.braze.com",)) for n in range(1, 9)},
    "US-10": ("rest.us-10.braze.com", "sdk.us-10.braze.com",
              ("dashboard-10.braze.com", "dashboard.us-10.braze.com")),
    "EU-01": ("rest.fra-01.braze.eu", "sdk.fra-01.braze.eu", ("dashboard-01.braze.eu",)),
    "EU-02": ("rest.fra-02.braze.eu", "sdk.fra-02.braze.eu", ("dashboard-02.braze.eu",)),
    "AU-01": ("rest.au-01.braze.com", "sdk.au-01.braze.com", ("dashboard.au-01.braze.com",)),
    "ID-01": ("rest.id-01.braze.com", "sdk.id-01.braze.com", ("dashboard.id-01.braze.com",)),
    "JP-01": ("rest.jp-01.braze.com", "sdk.jp-01.braze.com", ("dashboard.jp-01.braze.com",)),
    "KR-01": ("rest.kr-01.braze.com", "sdk.kr-01.braze.com", ("dashboard.kr-01.braze.com",)),
}


def name_forms(name: str) -> list[str]:
    """``US-03`` as people write it: ``US-03``, ``us03``, ``us-3``, `` us-03 ``."""
    region, number = name.split("-")
    low = region.lower()
    return sorted({name, f"{low}{number}", f"{low}-{int(number)}", f" {low}-{number} ",
                   f"{low}_{number}"})


NAMES = [(form, instance) for instance in INSTANCES for form in name_forms(instance)]
REST_INPUTS = [
    (text, instance)
    for instance, (rest, _sdk, _dashboards) in INSTANCES.items()
    for text in (rest, f"https://{rest}", f"https://{rest}/", f"HTTPS://{rest.upper()}",
                 f"http://{rest}", f"  {rest}  ")
]
DASHBOARD_INPUTS = [
    (text, instance)
    for instance, (_rest, _sdk, dashboards) in INSTANCES.items()
    for dashboard in dashboards
    for text in (dashboard, f"https://{dashboard}", f"https://{dashboard}/",
                 f"https://{dashboard}/dashboard/home?locale=en")
]


class TestRestEndpoint:
    """``rest_endpoint`` accepts names, hosts and URLs and gives ``https://rest.…``."""

    @pytest.mark.parametrize(("text", "instance"), NAMES)
    def test_from_name(self, text: str, instance: str) -> None:
        """Instance names in any usual spelling give the instance's REST URL."""
        assert sb.Settings(rest_endpoint=text).rest_endpoint == f"https://{INSTANCES[instance][0]}"

    @pytest.mark.parametrize(("text", "instance"), [
        ("us", "US-01"), ("us02", "US-02"), ("us03", "US-03"), ("eu", "EU-01"),
        ("EU", "EU-01"), ("au", "AU-01")])
    def test_from_segment_datacenter_values(self, text: str, instance: str) -> None:
        """Segment's datacenter values (a region without number is its first instance)."""
        assert sb.Settings(rest_endpoint=text).rest_endpoint == f"https://{INSTANCES[instance][0]}"

    @pytest.mark.parametrize(("text", "instance"), REST_INPUTS)
    def test_from_rest_host_or_url(self, text: str, instance: str) -> None:
        """REST hosts and URLs, with or without scheme or trailing slash, normalise."""
        assert sb.Settings(rest_endpoint=text).rest_endpoint == f"https://{INSTANCES[instance][0]}"

    @pytest.mark.parametrize(("text", "instance"), DASHBOARD_INPUTS)
    def test_from_dashboard(self, text: str, instance: str) -> None:
        """A dashboard host or URL copied from the browser gives that instance's REST URL."""
        assert sb.Settings(rest_endpoint=text).rest_endpoint == f"https://{INSTANCES[instance][0]}"

    @pytest.mark.parametrize("instance", list(INSTANCES))
    @pytest.mark.parametrize("form", ["{sdk}", "https://{sdk}", "https://{sdk}/"])
    def test_sdk_host_is_an_error_naming_the_rest_host(self, instance: str, form: str) -> None:
        """An SDK host given as REST endpoint is an error that names the right REST host."""
        rest, sdk, _ = INSTANCES[instance]
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings(rest_endpoint=form.format(sdk=sdk))
        assert caught.value.key == "rest_endpoint"
        assert f"https://{rest}" in str(caught.value)

    @pytest.mark.parametrize("text", ["US-09", "us09", "us-9", "US-11", "EU-03", "AU-02"])
    def test_instances_that_do_not_exist(self, text: str) -> None:
        """There is no US-09 (nor EU-03, ...): such a name is an error, not a host."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings(rest_endpoint=text)
        assert caught.value.key == "rest_endpoint"

    @pytest.mark.parametrize("text", ["not a host", "ftp://rest.iad-01.braze.com", "https://",
                                      "://"])
    def test_garbage_is_an_error(self, text: str) -> None:
        """Text that is neither a name, a host nor an https URL is refused by name."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings(rest_endpoint=text)
        assert caught.value.key == "rest_endpoint"

    def test_unset(self) -> None:
        """None and the empty string both mean "not set"."""
        assert sb.Settings().rest_endpoint is None
        assert sb.Settings(rest_endpoint="").rest_endpoint is None

    def test_proxy_url_joins_cleanly(self) -> None:
        """Any other https URL is kept, without a trailing slash, so paths join cleanly."""
        s = sb.Settings(rest_endpoint="https://braze-proxy.example.com/v1/", rest_api_key="k")
        assert s.rest_endpoint == "https://braze-proxy.example.com/v1"
        request = sb.UsersDelete(external_ids=("u1",))
        assert request.to_http(s).url == "https://braze-proxy.example.com/v1/users/delete"

    @pytest.mark.parametrize("instance", list(INSTANCES))
    def test_to_http_url(self, instance: str) -> None:
        """to_http builds ``https://rest.…/users/track`` for every instance."""
        s = sb.Settings(rest_endpoint=instance, rest_api_key="k")
        url = sb.UsersTrack().to_http(s).url
        assert url == f"https://{INSTANCES[instance][0]}/users/track"


class TestSdkEndpoint:
    """``sdk_endpoint`` is a bare host: Segment adds ``https://`` itself."""

    @pytest.mark.parametrize("instance", list(INSTANCES))
    @pytest.mark.parametrize("form", [
        "{sdk}", "https://{sdk}", "https://{sdk}/", "https://https://{sdk}",
        "https://https://{sdk}/", "HTTPS://{sdk}", "http://{sdk}", " {sdk} "])
    def test_scheme_is_removed(self, instance: str, form: str) -> None:
        """A leading ``https://`` (even doubled, the classic mistake) is removed."""
        sdk = INSTANCES[instance][1]
        assert sb.Settings(sdk_endpoint=form.format(sdk=sdk)).sdk_endpoint == sdk

    @pytest.mark.parametrize(("text", "instance"), NAMES)
    def test_from_name(self, text: str, instance: str) -> None:
        """An instance name gives the instance's SDK host."""
        assert sb.Settings(sdk_endpoint=text).sdk_endpoint == INSTANCES[instance][1]

    def test_rest_host_is_an_error_naming_the_sdk_host(self) -> None:
        """A REST host given as SDK endpoint is an error that names the SDK host."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings(sdk_endpoint="https://rest.fra-02.braze.eu")
        assert caught.value.key == "sdk_endpoint"
        assert "sdk.fra-02.braze.eu" in str(caught.value)

    def test_custom_host_is_kept(self) -> None:
        """A custom SDK host (a CNAME of one's own) is kept, without scheme."""
        s = sb.Settings(sdk_endpoint="https://https://braze-sdk.example.com")
        assert s.sdk_endpoint == "braze-sdk.example.com"

    @pytest.mark.parametrize("text", ["US-09", "us09"])
    def test_no_us_09(self, text: str) -> None:
        """There is no US-09 SDK host either."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings(sdk_endpoint=text)
        assert caught.value.key == "sdk_endpoint"

    def test_unset(self) -> None:
        """None and the empty string both mean "not set"."""
        assert sb.Settings().sdk_endpoint is None
        assert sb.Settings(sdk_endpoint="").sdk_endpoint is None


#: Every key of Segment's classic Braze settings, with a value other than its default,
#: and what it sets.
CLASSIC: dict[str, tuple[Any, str, Any]] = {
    "apiKey": ("app-identifier", "app_id", "app-identifier"),
    "appGroupId": ("rest-key", "rest_api_key", "rest-key"),
    "datacenter": ("eu", "rest_endpoint", "https://rest.fra-01.braze.eu"),
    "customEndpoint": ("https://sdk.fra-01.braze.eu", "sdk_endpoint", "sdk.fra-01.braze.eu"),
    "updateExistingOnly": (True, "update_existing_only", True),
    "logPurchaseWhenRevenuePresent": (True, "log_purchase_when_revenue_present", True),
    "trackAllPages": (True, "track_all_pages", True),
    "trackNamedPages": (True, "track_named_pages", True),
    "allowCrawlerActivity": (True, "allow_crawler_activity", True),
    "automaticallyDisplayMessages": (False, "automatically_display_messages", False),
    "doNotLoadFontAwesome": (True, "do_not_load_font_awesome", True),
    "enableHtmlInAppMessages": (True, "enable_html_in_app_messages", True),
    "enableLogging": (True, "enable_logging", True),
    "minimumIntervalBetweenTriggerActionsInSeconds": (
        45, "minimum_interval_between_trigger_actions_in_seconds", 45),
    "openInAppMessagesInNewTab": (True, "open_in_app_messages_in_new_tab", True),
    "openNewsFeedCardsInNewTab": (True, "open_news_feed_cards_in_new_tab", True),
    "sessionTimeoutInSeconds": (1800, "session_timeout_in_seconds", 1800),
    "safariWebsitePushId": ("web.com.example", "safari_website_push_id", "web.com.example"),
    "version": ("3.1", "version", "3.1"),
    "onlyTrackKnownUsersOnWeb": (True, "only_track_known_users_on_web", True),
    "serviceWorkerLocation": ("/sw.js", "service_worker_location", "/sw.js"),
    "automatic_in_app_message_registration_enabled": (
        False, "automatic_in_app_message_registration_enabled", False),
}

#: Classic keys that hold text, which Segment sends as "" when not set.
TEXT_KEYS = ["apiKey", "appGroupId", "datacenter", "customEndpoint", "restCustomEndpoint",
             "safariWebsitePushId", "version", "serviceWorkerLocation"]


class TestFromSegment:
    """``Settings.from_segment`` reads every key of Segment's classic Braze settings."""

    def test_every_classic_key(self) -> None:
        """Every classic key sets its field, all in one configuration."""
        s = sb.Settings.from_segment({key: value for key, (value, _, _) in CLASSIC.items()})
        for key, (_value, field, expected) in CLASSIC.items():
            assert getattr(s, field) == expected, key

    @pytest.mark.parametrize("key", list(CLASSIC))
    def test_each_classic_key_alone(self, key: str) -> None:
        """Each classic key alone sets its field and leaves the others at their default."""
        value, field, expected = CLASSIC[key]
        s = sb.Settings.from_segment({key: value})
        assert getattr(s, field) == expected
        default = sb.Settings()
        for other in attrs.fields(sb.Settings):
            if other.init and other.name != field:
                assert getattr(s, other.name) == getattr(default, other.name), other.name

    def test_rest_custom_endpoint(self) -> None:
        """``restCustomEndpoint`` sets the REST endpoint."""
        s = sb.Settings.from_segment({"restCustomEndpoint": "https://rest.iad-05.braze.com/"})
        assert s.rest_endpoint == "https://rest.iad-05.braze.com"

    @pytest.mark.parametrize("config", [
        {"datacenter": "eu", "restCustomEndpoint": "https://rest.iad-05.braze.com"},
        {"restCustomEndpoint": "https://rest.iad-05.braze.com", "datacenter": "eu"},
        {"datacenter": "not-a-datacenter", "restCustomEndpoint": "rest.iad-05.braze.com"},
    ])
    def test_rest_custom_endpoint_wins_over_datacenter(self, config: dict[str, Any]) -> None:
        """``restCustomEndpoint`` wins over ``datacenter``, whatever the key order."""
        assert sb.Settings.from_segment(config).rest_endpoint == "https://rest.iad-05.braze.com"

    def test_datacenter_when_rest_custom_endpoint_is_empty(self) -> None:
        """An empty ``restCustomEndpoint`` leaves ``datacenter`` in charge."""
        s = sb.Settings.from_segment({"restCustomEndpoint": "", "datacenter": "us02"})
        assert s.rest_endpoint == "https://rest.iad-02.braze.com"

    def test_empty_strings_mean_unset(self) -> None:
        """Segment's "" for every text setting leaves the field at its default."""
        s = sb.Settings.from_segment(dict.fromkeys(TEXT_KEYS, ""))
        assert s == sb.Settings()
        assert s.app_id is None
        assert s.rest_api_key is None
        assert s.rest_endpoint is None
        assert s.sdk_endpoint is None

    def test_nulls_mean_unset(self) -> None:
        """A null setting is not set either."""
        assert sb.Settings.from_segment(dict.fromkeys(CLASSIC)) == sb.Settings()

    @pytest.mark.parametrize(("key", "hint"), [
        ("trackAllPage", "trackAllPages"), ("appGroupID", "appGroupId"),
        ("rest_endpoint", None), ("api_key", None), ("", None)])
    def test_unknown_key_is_an_error_naming_it(self, key: str, hint: str | None) -> None:
        """A key Segment's destination does not have is an error naming that key."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings.from_segment({"apiKey": "a", key: True})
        assert caught.value.key == key
        assert repr(key) in str(caught.value) or str(caught.value).startswith(f"{key}:")
        if hint is not None:
            assert hint in str(caught.value)

    @pytest.mark.parametrize(("key", "value", "field"), [
        ("trackAllPages", "yes", "track_all_pages"),
        ("updateExistingOnly", 1, "update_existing_only"),
        ("sessionTimeoutInSeconds", "half an hour", "session_timeout_in_seconds"),
        ("minimumIntervalBetweenTriggerActionsInSeconds", -1,
         "minimum_interval_between_trigger_actions_in_seconds"),
        ("apiKey", 12, "app_id"),
        ("datacenter", 3, "rest_endpoint"),
        ("customEndpoint", ["sdk.iad-01.braze.com"], "sdk_endpoint"),
    ])
    def test_type_errors_name_the_setting(self, key: str, value: Any, field: str) -> None:
        """A value of the wrong type is an error naming the setting (Segment's key or the
        field it sets)."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings.from_segment({key: value})
        assert caught.value.key in (key, field)

    def test_numbers_as_text(self) -> None:
        """Whole seconds given as text or as whole floats are read as integers."""
        s = sb.Settings.from_segment({"sessionTimeoutInSeconds": "45",
                                      "minimumIntervalBetweenTriggerActionsInSeconds": 10.0})
        assert s.session_timeout_in_seconds == 45
        assert type(s.session_timeout_in_seconds) is int
        assert s.minimum_interval_between_trigger_actions_in_seconds == 10
        assert type(s.minimum_interval_between_trigger_actions_in_seconds) is int

    def test_overrides_use_our_field_names(self) -> None:
        """Settings Segment has not are given as keyword overrides."""
        s = sb.Settings.from_segment({"appGroupId": "k", "datacenter": "us03"},
                                     anonymous_users="alias", context_traits=True)
        assert s.anonymous_users == "alias"
        assert s.context_traits is True
        assert s.rest_endpoint == "https://rest.iad-03.braze.com"


class TestFields:
    """Settings are frozen, keyword-only, default like Segment's, and checked by field."""

    def test_defaults_follow_segment(self) -> None:
        """Defaults are those of Segment's classic destination and DESIGN's table."""
        s = sb.Settings()
        assert (s.rest_api_key, s.rest_endpoint, s.sdk_endpoint, s.app_id) == (None,) * 4
        assert s.update_existing_only is False
        assert s.log_purchase_when_revenue_present is False
        assert s.track_all_pages is False
        assert s.track_named_pages is False
        assert s.purchase_events == ("Order Completed", "Completed Order")
        assert s.default_currency == "USD"
        assert s.anonymous_users == "skip"
        assert s.alias_label == "segment_anonymous_id"
        assert s.email_identifier is False
        assert s.merge_on_alias is False
        assert s.context_traits is False
        assert s.event_allowlist is None
        assert s.event_blocklist is None
        assert s.strict is False
        assert s.automatically_display_messages is True
        assert s.minimum_interval_between_trigger_actions_in_seconds == 30
        assert s.session_timeout_in_seconds == 30
        assert s.automatic_in_app_message_registration_enabled is True

    def test_feature_settings_are_off(self) -> None:
        """Every setting that changes what an event becomes is off by default."""
        s = sb.Settings()
        assert (s.ecommerce_events, s.ecommerce_purchases, s.group_subscription_groups,
                s.nested_array_operations, s.create_alias, s.cohort_device_ids) == (
                    False,) * 6
        assert s.cohort_audiences is None

    def test_feature_settings_under_our_names_beside_segments_keys(self) -> None:
        """Segment's destination has no key for them: they are read under our names, in
        either form of from_mapping and as from_segment's overrides."""
        ours = {"ecommerce_events": True, "ecommerce_purchases": True,
                "group_subscription_groups": True, "nested_array_operations": True,
                "create_alias": True}
        expected = sb.Settings(app_id="a", **ours)
        assert sb.Settings.from_mapping({"apiKey": "a", **ours}) == expected
        assert sb.Settings.from_mapping({"app_id": "a", **ours}) == expected
        assert sb.Settings.from_segment({"apiKey": "a"}, **ours) == expected
        assert not {k for k, v in SEGMENT_KEYS.items() if v in ours}

    @pytest.mark.parametrize(("field", "value"), [
        ("ecommerce_purchases", True), ("cohort_device_ids", True),
        ("cohort_audiences", ["vip"]), ("cohort_audiences", [])])
    def test_a_setting_without_the_one_it_needs_is_refused(self, field: str,
                                                          value: Any) -> None:
        """A setting that would silently do nothing without another one is named."""
        with pytest.raises(sb.InvalidSettings, match="only applies with") as caught:
            sb.Settings(**{field: value})
        assert caught.value.key == field
        secrets = {"cohort_client_secret": "c", "cohort_partner_api_key": "p"}
        assert getattr(sb.Settings(**{field: value}, ecommerce_events=True, **secrets),
                       field) == (frozenset(value) if field == "cohort_audiences" else value)

    def test_frozen_and_keyword_only(self) -> None:
        """Settings cannot be changed after creation nor built positionally."""
        s = sb.Settings()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            s.strict = True  # type: ignore[misc]
        with pytest.raises(TypeError):
            sb.Settings("key")  # type: ignore[call-arg]

    @pytest.mark.parametrize(("field", "value"), [
        ("update_existing_only", "true"), ("track_all_pages", 1), ("strict", None),
        ("email_identifier", "false"), ("context_traits", [True]),
        ("session_timeout_in_seconds", "soon"), ("session_timeout_in_seconds", True),
        ("minimum_interval_between_trigger_actions_in_seconds", 1.5),
        ("app_id", 5), ("rest_api_key", 5), ("version", 3.1),
        ("rest_endpoint", 5), ("sdk_endpoint", ["x"]),
        ("purchase_events", "Order Completed"), ("purchase_events", ["Order", ""]),
        ("purchase_events", [3]),
        ("event_allowlist", "Signed Up"), ("event_blocklist", [1, 2]),
        ("ecommerce_events", "yes"), ("group_subscription_groups", 1),
        ("nested_array_operations", None), ("create_alias", "true"),
        ("anonymous_users", "maybe"), ("alias_label", ""), ("alias_label", 3),
        ("default_currency", "XYZ"), ("default_currency", "dollars"),
        ("default_currency", None),
    ])
    def test_type_errors_name_the_field(self, field: str, value: Any) -> None:
        """A value of the wrong type or form is an InvalidSettings naming its field."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings(**{field: value})
        assert caught.value.key == field
        assert str(caught.value).startswith(f"{field}: ")

    def test_allowlist_and_blocklist_exclude_each_other(self) -> None:
        """Setting both lists is an error naming one of them."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings(event_allowlist=["a"], event_blocklist=["b"])
        assert caught.value.key in ("event_allowlist", "event_blocklist")

    def test_lists_become_frozensets_and_currency_upper_case(self) -> None:
        """Lists of names are stored as frozensets; currencies upper-cased."""
        s = sb.Settings(event_allowlist=["a", "b", "a"], default_currency=" eur ")
        assert s.event_allowlist == frozenset({"a", "b"})
        assert s.default_currency == "EUR"

    def test_invalid_settings_pickles(self) -> None:
        """InvalidSettings survives pickling with its key and message (parallel runs)."""
        import pickle

        error = sb.InvalidSettings("rest_endpoint", "bad")
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
        assert (copy.key, str(copy)) == (error.key, str(error))


class TestWebSdkOptions:
    """``web_sdk_options()`` gives the Braze Web SDK's ``initialize()`` options."""

    def test_defaults(self) -> None:
        """With default settings: the current SDK option names and Segment's defaults."""
        assert sb.Settings().web_sdk_options() == {
            "allowCrawlerActivity": False,
            "allowUserSuppliedJavascript": False,
            "doNotLoadFontAwesome": False,
            "enableLogging": False,
            "minimumIntervalBetweenTriggerActionsInSeconds": 30,
            "openInAppMessagesInNewTab": False,
            "openCardsInNewTab": False,
            "sessionTimeoutInSeconds": 30,
        }

    def test_every_option_set(self) -> None:
        """Every web setting flows to its option, baseUrl from the SDK endpoint."""
        s = sb.Settings.from_segment({key: value for key, (value, _, _) in CLASSIC.items()})
        options = s.web_sdk_options()
        assert options == {
            "baseUrl": "sdk.fra-01.braze.eu",
            "allowCrawlerActivity": True,
            "allowUserSuppliedJavascript": True,
            "doNotLoadFontAwesome": True,
            "enableLogging": True,
            "minimumIntervalBetweenTriggerActionsInSeconds": 45,
            "openInAppMessagesInNewTab": True,
            "openCardsInNewTab": True,
            "sessionTimeoutInSeconds": 1800,
            "safariWebsitePushId": "web.com.example",
            "serviceWorkerLocation": "/sw.js",
        }
        json.dumps(options)  # plain JSON, ready for a template

    def test_old_option_names_are_not_used(self) -> None:
        """The renamed options appear only under their current names."""
        options = sb.Settings(enable_html_in_app_messages=True,
                              open_news_feed_cards_in_new_tab=True).web_sdk_options()
        assert options["allowUserSuppliedJavascript"] is True
        assert options["openCardsInNewTab"] is True
        assert "enableHtmlInAppMessages" not in options
        assert "openNewsFeedCardsInNewTab" not in options

    def test_base_url_is_a_bare_host(self) -> None:
        """baseUrl is the SDK host without scheme, as the Web SDK expects."""
        options = sb.Settings(sdk_endpoint="https://https://sdk.iad-03.braze.com/")
        assert options.web_sdk_options()["baseUrl"] == "sdk.iad-03.braze.com"


#: One configuration in Segment's keys (with a setting Segment lacks) and in our names.
SEGMENT_STYLE: dict[str, Any] = {"apiKey": "app-1", "appGroupId": "k-1", "datacenter": "us03",
                                 "trackAllPages": True, "anonymous_users": "alias"}
OUR_STYLE: dict[str, Any] = {"app_id": "app-1", "rest_api_key": "k-1", "rest_endpoint": "us03",
                             "track_all_pages": True, "anonymous_users": "alias"}


class TestFromMapping:
    """``Settings.from_mapping`` reads Segment's keys or our names, never both at once."""

    def test_both_key_styles_give_the_same_settings(self) -> None:
        """Segment's keys (with our settings Segment lacks beside them) and our names
        give equal settings."""
        a = sb.Settings.from_mapping(SEGMENT_STYLE)
        assert a == sb.Settings.from_mapping(OUR_STYLE)
        assert (a.app_id, a.rest_endpoint, a.anonymous_users) == (
            "app-1", "https://rest.iad-03.braze.com", "alias")

    def test_overrides_win(self) -> None:
        """Keyword overrides (our names) win over the mapping, in both styles."""
        for config in (SEGMENT_STYLE, OUR_STYLE):
            s = sb.Settings.from_mapping(config, track_all_pages=False, app_id="app-2")
            assert (s.track_all_pages, s.app_id) == (False, "app-2")

    def test_empty_mapping_is_the_defaults(self) -> None:
        assert sb.Settings.from_mapping({}) == sb.Settings()

    def test_mixed_keys_are_refused(self) -> None:
        """A setting spelt our way beside Segment's keys is refused, saying how to write
        it."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings.from_mapping({"apiKey": "a", "track_all_pages": True})
        assert caught.value.key == "track_all_pages"
        assert "write it as 'trackAllPages'" in str(caught.value)

    @pytest.mark.parametrize(("key", "hint"), [
        ("trackAllPage", "trackAllPages"), ("track_all_page", "track_all_pages"),
        ("appGroupID", "appGroupId"), ("zzz", None)])
    def test_unknown_key_is_named_with_a_hint(self, key: str, hint: str | None) -> None:
        """An unknown key is named, with the nearest key of either style as a hint."""
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings.from_mapping({key: True})
        assert caught.value.key == key
        assert str(caught.value).startswith(f"{key}: not a setting")
        if hint is None:
            assert "did you mean" not in str(caught.value)
        else:
            assert str(caught.value).endswith(f"did you mean {hint!r}?")

    def test_from_segment_keeps_its_own_hint(self) -> None:
        """``from_segment`` shares the check but hints only Segment's keys."""
        with pytest.raises(sb.InvalidSettings, match="did you mean 'trackAllPages'") as caught:
            sb.Settings.from_segment({"track_all_pages": True})
        assert caught.value.key == "track_all_pages"

    def test_bad_value_is_named(self) -> None:
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings.from_mapping({"trackAllPages": "yes"})
        assert caught.value.key == "track_all_pages"


class TestLoad:
    """``Settings.load`` reads a JSON file; every error names the file."""

    def test_both_key_styles(self, tmp_path: Path) -> None:
        (tmp_path / "segment.json").write_text(json.dumps(SEGMENT_STYLE))
        (tmp_path / "ours.json").write_text(json.dumps(OUR_STYLE))
        a = sb.Settings.load(tmp_path / "segment.json", strict=True)
        assert a == sb.Settings.load(str(tmp_path / "ours.json"), strict=True)
        assert a == sb.Settings.from_mapping(OUR_STYLE, strict=True)

    @pytest.mark.parametrize(("text", "key", "message"), [
        ("{nope", None, "the settings file is not JSON: "),
        (b"\xff\xfe", None, "the settings file is not JSON: "),
        ("[1, 2]", None, "the settings file must hold a JSON object"),
        ('{"trackAllPage": true}', "trackAllPage", "not a setting; did you mean"),
        ('{"apiKey": "a", "app_id": "b"}', "app_id", "mixes Segment's keys"),
        ('{"strict": "yes"}', "strict", "expected true or false"),
    ])
    def test_a_bad_file_is_named(self, tmp_path: Path, text: str | bytes, key: str | None,
                                 message: str) -> None:
        """Not JSON, not an object, an unknown, mixed or bad key: InvalidSettings with
        ``source`` the file, ``key`` the setting (none for the file as a whole)."""
        path = tmp_path / "s.json"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings.load(path)
        error = caught.value
        assert (error.source, error.key) == (str(path), key)
        assert message in error.message
        where = f"{path}: {key}: " if key else f"{path}: "
        assert str(error).startswith(where + error.message[:10])

    def test_a_missing_file_is_an_os_error_naming_it(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError) as caught:
            sb.Settings.load(tmp_path / "nope.json")
        assert caught.value.filename == str(tmp_path / "nope.json")

    def test_a_secret_in_a_bad_file_is_never_shown(self, tmp_path: Path) -> None:
        path = tmp_path / "s.json"
        path.write_text(json.dumps({"appGroupId": "sk-very-secret", "datacenter": "sdk.iad-01"
                                    ".braze.com"}))
        with pytest.raises(sb.InvalidSettings) as caught:
            sb.Settings.load(path)
        assert "very-secret" not in str(caught.value)
        assert "very-secret" not in repr(caught.value)

    def test_error_with_a_source_pickles(self) -> None:
        """InvalidSettings keeps key, message and source through pickling."""
        import pickle

        for error in (sb.InvalidSettings("strict", "bad", "s.json"),
                      sb.InvalidSettings(None, "not JSON", "s.json")):
            copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
            assert (copy.key, copy.message, copy.source, str(copy)) == (
                error.key, error.message, error.source, str(error))


class TestRepr:
    """The repr shows what differs from the defaults, secrets masked: notebook-friendly."""

    def test_defaults_show_nothing(self) -> None:
        assert repr(sb.Settings()) == "Settings()"
        assert repr(sb.Settings.from_segment({"safariWebsitePushId": ""})) == "Settings()"

    def test_only_what_differs_in_field_order(self) -> None:
        s = sb.Settings(rest_endpoint="US-03", track_all_pages=True, default_currency="eur",
                        anonymous_users="skip")
        assert repr(s) == ("Settings(rest_endpoint='https://rest.iad-03.braze.com', "
                           "track_all_pages=True, default_currency='EUR')")

    def test_secrets_are_masked(self) -> None:
        s = sb.Settings(rest_api_key="k-secret", cohort_client_secret="c-secret",
                        cohort_partner_api_key="p-secret")
        assert repr(s) == ("Settings(rest_api_key='***', cohort_client_secret='***', "
                           "cohort_partner_api_key='***')")
        assert str(s) == repr(s)

    def test_repr_shows_every_changed_field(self) -> None:
        """Every init field that differs from its default appears, by name."""
        changed = {"app_id": "a", "event_blocklist": ["x"], "purchase_events": ["Bought"],
                   "session_timeout_in_seconds": 5, "automatically_display_messages": False}
        text = repr(sb.Settings(**changed))
        for name in changed:
            assert f"{name}=" in text
        assert text.count("=") == len(changed)
