"""The REST API key never shows: not in a repr or str, an error, explain output or logs.

Requests hold the key only where it must be, the ``Authorization`` header of
``to_http``; everything that prints masks it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import segment_braze as sb

KEY = "sbk-7f3a9c1e-5d2b-4e8f-a6c0-secretvalue"
FRAGMENT = "secretvalue"  # any part of the key is a leak too

EVENTS: list[dict[str, Any]] = [
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "m-1",
     "traits": {"email": "ada@example.com", "gender": "robot"},
     "timestamp": "2024-05-01T12:00:00Z"},
    {"type": "track", "userId": "u1", "event": "Order Completed",
     "properties": {"products": [{"product_id": "p1", "price": 5, "quantity": 150}]},
     "timestamp": "2024-05-01T12:00:00Z"},
    {"type": "track", "userId": "u1", "event": "Signed Up"},
    {"type": "page", "anonymousId": "a1", "name": "Home"},
    {"type": "group", "userId": "u1", "groupId": "acme"},
    {"type": "alias", "userId": "u1", "previousId": "a1"},
    {"type": "delete", "userId": "u1"},
    {"type": "track", "userId": "u1", "event": "$bad"},
    {"type": "screen"},
]


def settings(**overrides: Any) -> sb.Settings:
    return sb.Settings(rest_api_key=KEY, rest_endpoint="US-03", app_id="app-1",
                       anonymous_users="alias", track_all_pages=True, **overrides)


def assert_hidden(text: str) -> None:
    assert KEY not in text
    assert FRAGMENT not in text


def renderings(value: object) -> list[str]:
    return [repr(value), str(value), f"{value}", f"{value!r}", repr([value]),
            repr({"value": value})]


def test_settings_never_show_the_key() -> None:
    """repr and str of Settings mask the key but say that one is set."""
    s = settings()
    for text in renderings(s):
        assert_hidden(text)
    assert "rest_api_key='***'" in repr(s)
    assert "rest_api_key" not in repr(sb.Settings())  # not set: a default, not shown


def test_settings_from_segment_never_show_the_key() -> None:
    """Settings read from Segment's keys mask appGroupId as well."""
    s = sb.Settings.from_segment({"appGroupId": KEY, "datacenter": "us03"})
    assert s.rest_api_key == KEY
    for text in renderings(s):
        assert_hidden(text)


def test_translator_never_shows_the_key() -> None:
    """A translator's repr shows its settings masked."""
    for text in renderings(sb.Translator(settings())):
        assert_hidden(text)


def test_http_request_holds_the_key_but_never_shows_it() -> None:
    """to_http puts the bearer key in the header, and nowhere that prints."""
    s = settings()
    t = sb.translate(EVENTS[0], s)
    for request in t:
        http = request.to_http(s)
        assert http.headers["Authorization"] == f"Bearer {KEY}"
        assert KEY.encode() not in http.body
        for text in renderings(http):
            assert_hidden(text)
        assert "Bearer ***" in repr(http)


def test_requests_and_translations_never_show_the_key() -> None:
    """Requests, their JSON and translations of every kind of event carry no key."""
    translator = sb.Translator(settings(identify_by_email=True))
    for t in translator.translate_many(EVENTS):
        for text in renderings(t):
            assert_hidden(text)
        for request in t:
            assert_hidden(repr(request))
            assert_hidden(repr(request.to_json()))


def test_explain_never_shows_the_key() -> None:
    """explain's text and repr, for translated, skipped and rejected events, carry no
    key."""
    s = settings()
    for event in EVENTS:
        explanation = sb.explain(event, s)
        assert_hidden(str(explanation))
        assert_hidden(repr(explanation))


def test_invalid_event_never_shows_the_key() -> None:
    """A rejected event's error carries no key, in any rendering."""
    with pytest.raises(sb.InvalidEvent) as caught:
        sb.translate({"type": "track", "userId": ["u1"], "event": "$x"}, settings())
    for text in [*renderings(caught.value), *map(str, caught.value.problems),
                 "".join(traceback.format_exception(caught.value))]:
        assert_hidden(text)


BAD_SETTINGS: dict[str, Callable[[], object]] = {
    "SDK host as REST endpoint": lambda: sb.Settings(rest_api_key=KEY,
                                                     rest_endpoint="sdk.iad-03.braze.com"),
    "unknown instance": lambda: sb.Settings(rest_api_key=KEY, rest_endpoint="not a host"),
    "bad anonymous_users": lambda: sb.Settings(rest_api_key=KEY, anonymous_users="maybe"),
    "bad currency": lambda: sb.Settings(rest_api_key=KEY, default_currency="dollars"),
    "allowlist and blocklist": lambda: sb.Settings(rest_api_key=KEY, event_allowlist=["a"],
                                                   event_blocklist=["b"]),
    "flag of the wrong type": lambda: sb.Settings(rest_api_key=KEY, strict="yes"),
    "key of the wrong type": lambda: sb.Settings(rest_api_key=[KEY]),
    "key as bytes": lambda: sb.Settings(rest_api_key=KEY.encode()),
    "unknown Segment key": lambda: sb.Settings.from_segment({"appGroupId": KEY,
                                                             "trackAllPage": True}),
    "typo in the key's own Segment name": lambda: sb.Settings.from_segment(
        {"appGroupID": KEY}),
    "key under the app id's name": lambda: sb.Settings.from_segment(
        {"appGroupId": KEY, "apiKey": 12}),
    "bad Segment value": lambda: sb.Settings.from_segment({"appGroupId": KEY,
                                                           "trackAllPages": "yes"}),
    "no endpoint for to_http": lambda: sb.translate(EVENTS[0], sb.Settings(
        rest_api_key=KEY)).requests[0].to_http(sb.Settings(rest_api_key=KEY)),
}


@pytest.mark.parametrize("make", [pytest.param(m, id=i) for i, m in BAD_SETTINGS.items()])
def test_invalid_settings_never_show_the_key(make: Callable[[], object]) -> None:
    """InvalidSettings for bad settings built with the key present never quote it, nor
    does its traceback."""
    with pytest.raises(sb.InvalidSettings) as caught:
        make()
    error = caught.value
    assert error.key
    for text in [*renderings(error), *map(str, error.args),
                 "".join(traceback.format_exception(error))]:
        assert_hidden(text)


def test_logging_never_shows_the_key(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing the library logs, and nothing a caller logs of its objects (%s, %r,
    exceptions with tracebacks), shows the key."""
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("tests.secrets")
    s = settings()
    translator = sb.Translator(s)
    for t in translator.translate_many(EVENTS):
        log.info("translation %s / %r", t, t)
        for request in t:
            log.info("request %s %r", request, request.to_http(s))
    log.info("settings %s %r", s, s)
    log.info("explain\n%s", translator.explain(EVENTS[0]))
    try:
        sb.Settings(rest_api_key=KEY, rest_endpoint="sdk.iad-01.braze.com")
    except sb.InvalidSettings:
        log.exception("bad settings")
    try:
        translator.translate(EVENTS[-2])
    except sb.InvalidEvent:
        log.exception("bad event")
    assert caplog.records
    assert_hidden(caplog.text)
    for record in caplog.records:
        assert_hidden(record.getMessage())
