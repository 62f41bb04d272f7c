"""Translation, Translator.translate_many and explain.

A Translation is exactly one of translated, skipped or rejected; iterating it iterates
its requests; every request remembers where its entries came from (the event's
``messageId``, else its position in the stream). ``translate_many`` accepts dicts and
typed models and never raises for a bad event; ``explain`` shows every row of the table.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import attrs
import pytest

import segment_braze as sb

NOW = datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)
T = "2024-05-01T12:00:00Z"


def clock() -> datetime:
    return NOW


def translator(**settings: Any) -> sb.Translator:
    return sb.Translator(sb.Settings(**settings), clock=clock)


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": T, **fields}


GOOD = track(messageId="m-good")
SKIPPED = {"type": "page", "userId": "u1", "name": "Home", "timestamp": T}
BAD = track(event="$bad")


class TestTranslation:
    """The outcome of one event."""

    def test_translated(self) -> None:
        """A translated event has requests, no skip reason and no error."""
        t = translator().translate(GOOD)
        assert t.status == "translated"
        assert t.requests
        assert t.skipped is None
        assert t.error is None

    def test_skipped(self) -> None:
        """A skipped event has a reason and no requests."""
        t = translator().translate(SKIPPED)
        assert t.status == "skipped"
        assert t.skipped
        assert t.requests == ()
        assert t.error is None

    def test_rejected(self) -> None:
        """A rejected event (from translate_many) has an error and nothing else."""
        (t,) = translator().translate_many([BAD])
        assert t.status == "rejected"
        assert isinstance(t.error, sb.InvalidEvent)
        assert t.requests == ()
        assert t.skipped is None

    def test_iterating_iterates_requests(self) -> None:
        """``for r in t`` walks the requests; ``len(t)`` counts them."""
        t = translator(anonymous_users="alias").translate(
            {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"a": 1}})
        assert list(t) == list(t.requests)
        assert len(t) == 2
        assert [r.endpoint for r in t] == ["/users/identify", "/users/track"]
        assert list(translator().translate(SKIPPED)) == []

    def test_frozen(self) -> None:
        """A Translation cannot be changed."""
        t = translator().translate(GOOD)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            t.skipped = "no"  # type: ignore[misc]

    def test_translate_raises_invalid_event(self) -> None:
        """translate() raises InvalidEvent, a ValueError, for a bad event."""
        with pytest.raises(sb.InvalidEvent) as caught:
            sb.translate(BAD, sb.Settings())
        assert isinstance(caught.value, ValueError)
        assert [(p.path, p.rule) for p in caught.value.problems] == [("$.event", "track")]
        assert str(caught.value).startswith("1 problem: $.event: ")

    def test_notices_name_path_and_rule(self) -> None:
        """Notices carry a wire path, a message and the rule that wrote them."""
        t = translator().translate(track(properties={"time": 1}))
        assert [(n.path, n.rule) for n in t.notices] == [("$.properties.time", "track")]
        assert "reserved" in t.notices[0].message

    def test_strict_raises_on_notices(self) -> None:
        """With strict=True the same event is rejected, naming the notice's path."""
        with pytest.raises(sb.InvalidEvent) as caught:
            translator(strict=True).translate(track(properties={"time": 1}))
        (problem,) = caught.value.problems
        assert problem.path == "$.properties.time"
        assert problem.message.startswith("strict mode rejects")

    def test_translate_matches_translator(self) -> None:
        """The translate() shortcut gives what a Translator gives."""
        settings = sb.Settings(app_id="app-1")
        assert [r.to_json() for r in sb.translate(GOOD, settings)] == [
            r.to_json() for r in sb.Translator(settings).translate(GOOD)]


class TestOrigins:
    """Every entry of every request knows which event it came from."""

    def test_message_id(self) -> None:
        """An event's messageId is its origin, on the translation and on each entry."""
        t = translator().translate(GOOD)
        assert t.origin == "m-good"
        assert t.requests[0].origin_of("events", 0) == "m-good"

    def test_position_without_message_id(self) -> None:
        """Without a messageId, the position in the stream (counted from start)."""
        events = [track(), track(messageId=""), GOOD, BAD, SKIPPED]
        out = list(translator().translate_many(events, start=100))
        assert [t.origin for t in out] == [100, 101, "m-good", 103, 104]
        assert out[1].requests[0].origin_of("events", 0) == 101

    def test_single_translate_has_no_position(self) -> None:
        """translate() alone knows no position: the origin is None without messageId."""
        assert translator().translate(track()).origin is None

    def test_every_array_and_entry(self) -> None:
        """Attributes, events and purchases all map back to the event."""
        order = track(event="Order Completed", messageId="m-order",
                      context={"traits": {"plan": "pro"}},
                      properties={"products": [{"product_id": "p", "price": 1,
                                                "quantity": 150}]})
        t = translator(context_traits=True).translate(order)
        request = t.requests[0]
        assert dict(request.origins) == {"attributes": ("m-order",),
                                         "purchases": ("m-order", "m-order")}
        with pytest.raises(IndexError):
            request.origin_of("purchases", 2)
        with pytest.raises(IndexError):
            request.origin_of("purchases", -1)
        with pytest.raises(KeyError):
            request.origin_of("events", 0)

    def test_other_endpoints(self) -> None:
        """Requests of other endpoints carry origins too."""
        t = translator().translate({"type": "delete", "userId": "u1", "messageId": "d-1"})
        assert t.requests[0].origin_of("external_ids", 0) == "d-1"

    def test_origins_are_not_sent(self) -> None:
        """Origins are bookkeeping: they never appear in the JSON body."""
        body = translator().translate(GOOD).requests[0].to_json()
        assert "m-good" not in repr(body)


class TestOtherMappings:
    """Events built by hand may hold any mapping, not only dicts: what is sent is still
    plain JSON."""

    def test_read_only_properties_and_context(self) -> None:
        settings = sb.Settings(rest_api_key="k", rest_endpoint="US-01", context_traits=True)
        event = {"type": "track", "userId": "u1", "event": "Clicked",
                 "timestamp": "2024-05-01T12:00:00Z",
                 "properties": MappingProxyType({"plan": "pro", "n": 2}),
                 "context": MappingProxyType({"traits": {"seen": 1}})}
        translation = sb.translate(event, settings)
        (request,) = translation.requests
        body = request.to_json()
        assert body["events"][0]["properties"] == {"plan": "pro", "n": 2}
        assert type(body["events"][0]["properties"]) is dict
        assert body["attributes"][0]["seen"] == 1
        assert request.to_http(settings).body.startswith(b"{")


class TestTimesAtTheEdges:
    """A time whose UTC equivalent falls outside the years 1 to 9999 is rejected (an
    event time) or dropped with a notice (a birthday), never an OverflowError."""

    @pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+02:34:48",
                                       "9999-12-31T23:59:59-05:00"])
    def test_event_time(self, stamp: str) -> None:
        (result,) = sb.Translator(sb.Settings()).translate_many(
            [{"type": "track", "event": "A", "userId": "u", "timestamp": stamp}])
        assert result.error is not None
        assert result.error.problems[0].path == "$.timestamp"
        assert "outside the years 1 to 9999" in result.error.problems[0].message

    def test_an_edge_time_that_stays_in_range(self) -> None:
        (result,) = sb.Translator(sb.Settings()).translate_many(
            [{"type": "track", "event": "A", "userId": "u",
              "timestamp": "0001-01-01T05:00:00+02:00"}])
        assert [r.to_json()["events"][0]["time"] for r in result] == [
            "0001-01-01T03:00:00.000Z"]

    @pytest.mark.parametrize("birthday", ["0001-01-01T00:00:00+02:34:48",
                                          "0001-01-01 00:00 +0300"])
    def test_birthday(self, birthday: str) -> None:
        (result,) = sb.Translator(sb.Settings()).translate_many(
            [{"type": "identify", "userId": "u", "traits": {"birthday": birthday},
              "timestamp": "2024-01-01T00:00:00Z"}])
        assert result.status == "translated"
        assert [n.path for n in result.notices] == ["$.traits.birthday"]


class TestTranslateMany:
    """Streams: dicts and typed models in, one Translation per event out, no raising."""

    def test_dicts_and_models(self) -> None:
        """Dicts and typed models mix in one stream and translate alike."""
        model = sb.Track(event="Signed Up", user_id="u1", message_id="m-model",
                         timestamp=datetime(2024, 5, 1, 12, tzinfo=timezone.utc))
        out = list(translator().translate_many([track(), model]))
        assert [t.requests[0].to_json() for t in out] == [
            {"events": [{"external_id": "u1", "name": "Signed Up",
                         "time": "2024-05-01T12:00:00.000Z"}]}] * 2
        assert out[1].origin == "m-model"

    @pytest.mark.parametrize("model", [
        sb.Identify(user_id="u1", traits={"plan": "pro"}),
        sb.Page(user_id="u1", name="Home"),
        sb.Screen(user_id="u1", name="Home"),
        sb.Group(user_id="u1", group_id="g"),
        sb.Alias(user_id="u1", previous_id="a"),
        sb.Delete(user_id="u1"),
    ])
    def test_every_model_type(self, model: Any) -> None:
        """Every typed model is accepted."""
        (t,) = translator(track_all_pages=True, merge_on_alias=True).translate_many([model])
        assert t.status == "translated"

    def test_never_raises(self) -> None:
        """Bad events become rejected translations; the stream goes on."""
        events = [BAD, {"type": "nope"}, {}, {"type": "track"}, GOOD,
                  track(userId=[1]), track(timestamp="yesterday")]
        out = list(translator().translate_many(events))
        assert [t.status for t in out] == ["rejected"] * 4 + ["translated"] + ["rejected"] * 2

    @pytest.mark.parametrize("value", [3, "track", None, [], [GOOD]])
    def test_never_raises_for_json_that_is_not_an_object(self, value: Any) -> None:
        """A JSON line that is not an object is rejected at ``$``, not raised."""
        out = list(translator().translate_many([value, GOOD]))
        assert [t.status for t in out] == ["rejected", "translated"]

    def test_lazy(self) -> None:
        """The stream is consumed lazily: an endless source works."""
        def endless() -> Iterator[dict[str, Any]]:
            while True:
                yield track()

        out = list(itertools.islice(translator().translate_many(endless()), 3))
        assert [t.origin for t in out] == [0, 1, 2]

    def test_empty(self) -> None:
        """No events, no translations."""
        assert list(translator().translate_many([])) == []


RULES = [r.name for r in sb.DEFAULT_RULES]


def explain_lines(event: Any, **settings: Any) -> dict[str, str]:
    text = str(translator(**settings).explain(event))
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("✓", "-") and parts[1] in RULES:
            assert parts[1] not in found, text
            found[parts[1]] = parts[2]
    return found


class TestExplain:
    """explain() shows every row of the table as matched, not for the type, or not
    reached."""

    def test_every_rule_is_rendered(self) -> None:
        """Each rule appears once, in table order, for every kind of outcome."""
        for event in (GOOD, SKIPPED, BAD, {"type": "identify", "userId": "u1"}):
            assert list(explain_lines(event)) == RULES

    def test_matched_not_for_type_and_not_reached(self) -> None:
        """The three states a row can be in are all shown."""
        lines = explain_lines(track(event="Order Completed", properties={"revenue": 3}))
        assert lines["purchase"] == "matched, emitted 1"
        assert lines["identify"] == "not for track"
        assert lines["track"] == "not reached: an earlier rule ended the table"
        assert lines["anonymous"] == "did not match"

    def test_emitted_objects_and_requests(self) -> None:
        """The text shows what each row emitted and the requests."""
        text = str(translator().explain(GOOD))
        assert text.splitlines()[0] == "Track 'Signed Up' -> translated"
        assert '→ Event {"external_id": "u1", "name": "Signed Up"' in text
        assert 'request /users/track: {"events": [' in text

    def test_skipped_and_rejected(self) -> None:
        """A skip shows its reason; a rejection shows its problems."""
        assert "skipped: page calls are not sent" in str(translator().explain(SKIPPED))
        text = str(translator().explain(BAD))
        assert "rejected:" in text
        assert "$.event: an event name must not start with '$' (rule track)" in text

    def test_unparsed_event(self) -> None:
        """An event that does not parse shows every row as not parsed, and the problem."""
        explanation = translator().explain({"type": "nope"})
        assert explanation.event is None
        assert explanation.translation.status == "rejected"
        assert [s.note for s in explanation.steps] == ["event not parsed"] * len(RULES)
        assert "$.type: unknown event type 'nope'" in str(explanation)

    def test_steps_are_data(self) -> None:
        """Steps are one per rule, in order, with what each emitted."""
        explanation = translator().explain(GOOD)
        assert [s.rule for s in explanation.steps] == RULES
        (matched,) = [s for s in explanation.steps if s.matched]
        assert matched.rule == "track"
        assert len(matched.emitted) == 1
        assert explanation.translation.requests[0].to_json() == (
            translator().translate(GOOD).requests[0].to_json())

    @pytest.mark.parametrize("value", [3, None, "track", [GOOD]])
    def test_never_raises(self, value: Any) -> None:
        """explain() of anything that is not an event explains a rejection."""
        explanation = translator().explain(value)
        assert explanation.translation.status == "rejected"

    def test_module_function(self) -> None:
        """sb.explain(event, settings) is the Translator's explain."""
        assert str(sb.explain(SKIPPED, sb.Settings())) == str(translator().explain(SKIPPED))
