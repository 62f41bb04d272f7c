"""The converters: strict scalar hooks, ids, dates, wire-name paths, Braze JSON out.

cattrs' defaults would turn ``["x"]`` into ``"['x']"`` for a string field and ``"false"``
into ``True`` for a boolean; here a wrong type is an error at the wire path
(``$.userId``). Only identifiers accept numbers. Dates go through
``datetime.fromisoformat`` first and dateutil only for what it cannot read.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import segment_braze as sb
from segment_braze import converters, times
from segment_braze.events import EVENT_CLASSES, EVENT_MODELS, EVENT_TYPES

UTC = timezone.utc
T = "2024-05-01T12:00:00Z"


def problems(event: Any) -> list[tuple[str, str]]:
    with pytest.raises(sb.InvalidEvent) as caught:
        converters.structure_event(event)
    return [(p.path, p.message) for p in caught.value.problems]


def paths(event: Any) -> list[str]:
    return [path for path, _ in problems(event)]


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Signed Up", **fields}


def sent_time(event: dict[str, Any]) -> str:
    t = sb.translate(event, sb.Settings())
    return t.requests[0].to_json()["events"][0]["time"]  # type: ignore[no-any-return]


class TestStrictScalars:
    """No cattrs coercion: a wrong type is an error, never a made-up value."""

    @pytest.mark.parametrize("value", [["x"], {"a": 1}, 1, 1.5, True, None])
    def test_no_str_of_other_types(self, value: Any) -> None:
        """A string field refuses non-strings (no ``str(["x"])``)."""
        with pytest.raises((TypeError, ValueError)):
            converters.make_converter().structure(value, str)

    @pytest.mark.parametrize("value", ["false", "true", "0", 1, 0, 1.5, None, ["x"]])
    def test_no_bool_of_other_types(self, value: Any) -> None:
        """A boolean field refuses non-booleans (no ``"false"`` -> True)."""
        with pytest.raises((TypeError, ValueError)):
            converters.make_converter().structure(value, bool)

    @pytest.mark.parametrize("value", [True, False])
    def test_booleans_stay_booleans(self, value: bool) -> None:
        """Real booleans pass."""
        assert converters.make_converter().structure(value, bool) is value

    @pytest.mark.parametrize(("field", "value", "path"), [
        ("event", ["Signed Up"], "$.event"),
        ("event", 3, "$.event"),
        ("event", None, "$.event"),
        ("messageId", ["m"], "$.messageId"),
        ("properties", "props", "$.properties"),
        ("properties", ["a"], "$.properties"),
        ("integrations", "All", "$.integrations"),
        ("context", "ctx", "$.context"),
    ])
    def test_wrong_types_are_rejected_at_their_path(self, field: str, value: Any,
                                                    path: str) -> None:
        """A wrong type names the wire path and the JSON types involved."""
        ((where, message),) = problems(track(**{field: value}))
        assert where == path
        assert message.startswith("expected ") or message == "required field missing"

    def test_message_says_what_was_expected(self) -> None:
        """Messages speak JSON: ``expected a string, got an array``."""
        assert problems(track(event=["Signed Up"])) == [
            ("$.event", "expected a string, got an array")]

    def test_page_fields(self) -> None:
        """Page name and category are strict strings too."""
        assert paths({"type": "page", "userId": "u1", "name": 5, "category": ["x"]}) == [
            "$.name", "$.category"]


class TestIds:
    """Identifiers accept integers (and whole floats) and become strings."""

    @pytest.mark.parametrize(("value", "expected"), [
        (12, "12"), (-3, "-3"), (0, "0"), (10**30, str(10**30)), (12.0, "12"),
        (1e20, "100000000000000000000"), ("u-1", "u-1"), ("", "")])
    def test_user_id(self, value: Any, expected: str) -> None:
        """userId numbers become their decimal text."""
        event = converters.structure_event(track(userId=value))
        assert event.user_id == expected

    @pytest.mark.parametrize(("field", "attribute"), [
        ("anonymousId", "anonymous_id"), ("userId", "user_id")])
    def test_other_ids(self, field: str, attribute: str) -> None:
        """anonymousId takes numbers like userId."""
        event = converters.structure_event(track(**{field: 7}))
        assert getattr(event, attribute) == "7"

    def test_group_and_previous_ids(self) -> None:
        """groupId and previousId take numbers too."""
        group = converters.structure_event({"type": "group", "userId": 1, "groupId": 42})
        alias = converters.structure_event({"type": "alias", "userId": 1, "previousId": 5.0})
        assert (group.group_id, alias.previous_id) == ("42", "5")  # type: ignore[union-attr]

    @pytest.mark.parametrize("value", [1.5, float("nan"), float("inf"), True, False, ["u1"],
                                       {"id": 1}])
    @pytest.mark.parametrize("field", ["userId", "anonymousId"])
    def test_rejected_ids(self, field: str, value: Any) -> None:
        """Fractions, NaN, booleans, arrays and objects are no ids."""
        assert paths(track(**{field: value})) == [f"${'.' + field}"]

    @pytest.mark.parametrize(("event", "path"), [
        ({"type": "group", "userId": "u1", "groupId": 1.5}, "$.groupId"),
        ({"type": "alias", "userId": "u1", "previousId": True}, "$.previousId"),
    ])
    def test_rejected_required_ids(self, event: dict[str, Any], path: str) -> None:
        """Required ids are just as strict."""
        assert paths(event) == [path]

    def test_numbers_end_up_as_external_ids(self) -> None:
        """A numeric userId reaches Braze as a string external_id."""
        t = sb.translate(track(userId=12.0, timestamp=T), sb.Settings())
        assert t.requests[0].to_json()["events"][0]["external_id"] == "12"


class TestDates:
    """ISO 8601 in, aware UTC datetimes out; anything else is an error at its path."""

    @pytest.mark.parametrize(("text", "expected"), [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.123Z", datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2024-05-01T12:00:00.123456z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00",
         datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))),
        ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ])
    def test_fromisoformat_forms(self, text: str, expected: datetime,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """Common forms are read by fromisoformat alone (dateutil is never called)."""
        def forbidden(_: str) -> datetime:
            raise AssertionError("dateutil called for a form fromisoformat reads")

        monkeypatch.setattr(times, "isoparse", forbidden)
        parsed = times.parse_time(text)
        assert parsed == expected
        assert parsed.tzinfo is not None

    @pytest.mark.parametrize(("text", "expected"), [
        ("2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01T14:00:00.987654321+02:00", "2024-05-01T12:00:00.987Z"),
        ("2024-05-01T24:00:00Z", "2024-05-02T00:00:00.000Z"),
    ])
    def test_dateutil_only_as_fallback(self, text: str, expected: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
        """Nanosecond times (Go, Java) and other ISO forms are read; dateutil is called
        exactly when this Python's fromisoformat cannot read the text."""
        calls: list[str] = []
        original: Callable[[str], datetime] = times.isoparse

        def counting(value: str) -> datetime:
            calls.append(value)
            return original(value)

        monkeypatch.setattr(times, "isoparse", counting)
        assert sent_time(track(timestamp=text)) == expected
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            assert calls == [text]
        else:
            assert calls == []

    def test_naive_means_utc(self) -> None:
        """A time without zone is taken as UTC."""
        assert sent_time(track(timestamp="2024-05-01T12:00:00")) == "2024-05-01T12:00:00.000Z"

    def test_offsets_are_converted_to_utc(self) -> None:
        """A time with an offset is sent in UTC."""
        assert sent_time(track(timestamp="2024-05-01T01:30:00-05:00")) == (
            "2024-05-01T06:30:00.000Z")

    @pytest.mark.parametrize("field", ["timestamp", "originalTimestamp", "receivedAt",
                                       "sentAt"])
    @pytest.mark.parametrize("text", ["May 1, 2024", "2024/05/01", "yesterday", "",
                                      "2024-13-01T00:00:00Z", "1714564800", "x" * 200])
    def test_non_iso_is_rejected_at_the_wire_path(self, field: str, text: str) -> None:
        """A time field that is not ISO 8601 rejects the event at its own path."""
        found = problems(track(**{field: text}))
        assert [p for p, _ in found] == [f"$.{field}"]
        assert "ISO 8601" in found[0][1]

    @pytest.mark.parametrize("value", [1714564800, 1714564800.5, True, [T], {"t": T}])
    def test_numbers_are_not_times(self, value: Any) -> None:
        """Epoch numbers are not guessed at: the event is rejected."""
        assert problems(track(timestamp=value)) == [
            ("$.timestamp", f"expected an ISO 8601 date-time string, got "
                            f"{converters.json_type(value)}")]

    def test_times_are_never_shifted_to_another_field(self) -> None:
        """A bad timestamp is not replaced by a good receivedAt: it is an error."""
        assert paths(track(timestamp="soon", receivedAt=T)) == ["$.timestamp"]


class TestPaths:
    """Problems use wire names and report every bad field at once."""

    def test_wire_names_and_every_problem(self) -> None:
        """Each bad field is reported, with its camelCase wire path."""
        event = {"type": "track", "event": "E", "userId": 1.5, "anonymousId": [1],
                 "messageId": 5, "originalTimestamp": "x", "receivedAt": "x", "sentAt": 1,
                 "context": {"traits": [1], "location": "Paris", "integrations": 3},
                 "integrations": "All", "properties": "p"}
        assert sorted(paths(event)) == sorted([
            "$.userId", "$.anonymousId", "$.messageId", "$.originalTimestamp",
            "$.receivedAt", "$.sentAt", "$.context.traits", "$.context.location",
            "$.context.integrations", "$.integrations", "$.properties"])

    @pytest.mark.parametrize(("event", "expected"), [
        ({"type": "track", "userId": "u1"}, [("$.event", "required field missing")]),
        ({"type": "group", "userId": "u1"}, [("$.groupId", "required field missing")]),
        ({"type": "alias", "userId": "u1"}, [("$.previousId", "required field missing")]),
        ({"userId": "u1"}, [("$.type", "required field missing")]),
    ])
    def test_missing_required_fields(self, event: dict[str, Any],
                                     expected: list[tuple[str, str]]) -> None:
        """A missing required field is named by its wire path."""
        assert problems(event) == expected

    @pytest.mark.parametrize("kind", ["Track", "unknown", 3, ["track"], None])
    def test_bad_type(self, kind: Any) -> None:
        """An unknown type is an error at ``$.type``."""
        event = {"type": kind, "userId": "u1", "event": "E"}
        assert paths(event) == ["$.type"]

    def test_unknown_type_lists_the_known_ones(self) -> None:
        """The message lists the seven types."""
        ((_, message),) = problems({"type": "Track"})
        for kind in ("identify", "track", "page", "screen", "group", "alias", "delete"):
            assert kind in message

    @pytest.mark.parametrize("value", [3, "track", None, [], [track()]])
    def test_not_an_object(self, value: Any) -> None:
        """Anything but a JSON object is an error at ``$``."""
        assert paths(value) == ["$"]

    def test_huge_strings_are_refused_by_the_converter(self) -> None:
        """A string field longer than 1 MB is refused at its path before any work."""
        assert paths(track(event="e" * 2_000_000)) == ["$.event"]
        assert paths(track(userId="u" * 2_000_000)) == ["$.userId"]


class TestLenientStructure:
    """What real payloads carry is accepted: extra keys, ``[]`` for empty objects."""

    def test_unknown_keys_are_accepted(self) -> None:
        """Keys the models do not have are ignored, at the top and in context."""
        event = converters.structure_event(track(
            version=2, channel="server", projectId="p", writeKey="w", _metadata={"x": 1},
            context={"library": {"name": "analytics.js"}, "page": {"path": "/"},
                     "traits": {"a": 1}, "ip": "1.2.3.4"}))
        assert isinstance(event, sb.Track)
        assert event.context is not None
        assert event.context.traits == {"a": 1}

    @pytest.mark.parametrize("field", ["context", "integrations", "properties"])
    def test_empty_list_means_absent(self, field: str) -> None:
        """``[]`` (PHP's empty object) for an object field is accepted as absent."""
        event = converters.structure_event(track(**{field: []}))
        assert getattr(event, field) is None

    def test_empty_list_in_context(self) -> None:
        """``[]`` for context.traits and context.integrations is accepted too."""
        event = converters.structure_event(track(context={"traits": [], "integrations": []}))
        assert event.context is not None
        assert event.context.traits is None
        assert event.context.integrations is None

    def test_empty_list_traits(self) -> None:
        """``[]`` traits on identify are no traits."""
        event = converters.structure_event({"type": "identify", "userId": "u1", "traits": []})
        assert event.traits is None  # type: ignore[union-attr]

    def test_null_optional_fields(self) -> None:
        """null for optional fields means absent."""
        event = converters.structure_event(track(context=None, properties=None,
                                                 timestamp=None, anonymousId=None))
        assert (event.context, event.properties, event.timestamp) == (None, None, None)

    def test_models_use_python_names(self) -> None:
        """Wire names live in the converter: the models' signatures are snake_case."""
        parameters = inspect.signature(sb.Track).parameters
        assert {"user_id", "anonymous_id", "message_id", "original_timestamp",
                "received_at", "sent_at"} <= parameters.keys()
        assert "userId" not in parameters
        with pytest.raises(TypeError):
            sb.Track(event="E", userId="u1")  # type: ignore[call-arg]

    def test_traits_and_properties_are_not_copied(self) -> None:
        """Open-ended mappings are kept as given (read-only), not rebuilt."""
        properties = {"a": {"b": 1}}
        event = converters.structure_event(track(properties=properties))
        assert event.properties is properties  # type: ignore[union-attr]


class TestBrazeOut:
    """Braze models unstructure to plain JSON types."""

    def test_plain_lists_and_dicts(self) -> None:
        """Bodies are dicts and lists of plain values, never tuples."""
        t = sb.translate({"type": "identify", "userId": "u1", "anonymousId": "a",
                          "traits": {"tags": ("a", "b")}},
                         sb.Settings(anonymous_users="alias"))

        def walk(value: Any) -> None:
            assert type(value) in (dict, list, str, int, float, bool, type(None)), value
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        for request in t:
            walk(request.to_json())

    def test_absent_is_omitted_and_null_is_sent(self) -> None:
        """Unset optional fields are left out; attributes set to None are sent as null."""
        body = sb.translate({"type": "identify", "userId": "u1", "traits": {"plan": None}},
                            sb.Settings()).requests[0].to_json()
        assert body == {"attributes": [{"external_id": "u1", "plan": None}]}

    def test_requests_built_by_hand(self) -> None:
        """Request models built directly render their documented bodies."""
        assert sb.UsersDelete(external_ids=("a", "b")).to_json() == {"external_ids": ["a", "b"]}
        assert sb.UsersTrack().to_json() == {}


class TestFactory:
    """Converters are built on demand, one per translator; nothing is built on import."""

    def test_each_call_builds_a_new_converter(self) -> None:
        """make_converter() gives a fresh SegmentConverter every time."""
        first, second = converters.make_converter(), converters.make_converter()
        assert isinstance(first, converters.SegmentConverter)
        assert first is not second

    def test_a_given_converter_structures_alike(self) -> None:
        """structure_event with a converter of one's own gives the same model, and the
        same problems."""
        converter = converters.make_converter()
        event = track(timestamp=T, userId=7, properties={"a": 1})
        assert converters.structure_event(event, converter) == (
            converters.structure_event(event))
        with pytest.raises(sb.InvalidEvent) as caught:
            converter.structure_event(track(userId=True))
        assert [p.path for p in caught.value.problems] == ["$.userId"]

    def test_pickling_rebuilds_it(self) -> None:
        """A pickled converter is built again on the other side, not shipped."""
        import pickle

        data = pickle.dumps(converters.make_converter())
        assert b"structure_Track" not in data
        copy = pickle.loads(data)  # noqa: S301 - bytes this test made
        assert isinstance(copy, converters.SegmentConverter)
        assert copy.structure_event(track()).event == "Signed Up"

    def test_every_event_type_has_its_model(self) -> None:
        """The converter reads every type of the one table of models."""
        converter = converters.make_converter()
        for kind, model in EVENT_MODELS.items():
            data = {"type": kind, "event": "e", "groupId": "g", "previousId": "p"}
            assert type(converter.structure_event(data)) is model
        assert tuple(EVENT_MODELS) == EVENT_TYPES
        assert tuple(EVENT_MODELS.values()) == EVENT_CLASSES


class TestPublicHooks:
    """The strict string and identifier checks, shared with the Currents converter."""

    @pytest.mark.parametrize("value", ["", "x", "é" * 10])
    def test_strings(self, value: str) -> None:
        """A string passes as it is."""
        assert converters.structure_string(value) is value

    @pytest.mark.parametrize("value", [1, 1.0, True, None, ["x"], {"a": 1}])
    def test_not_strings(self, value: Any) -> None:
        """Anything else is a TypeError naming what came."""
        with pytest.raises(TypeError, match=r"expected a string, got"):
            converters.structure_string(value)

    @pytest.mark.parametrize(("value", "expected"), [("u1", "u1"), (7, "7"), (7.0, "7")])
    def test_identifiers(self, value: Any, expected: str) -> None:
        """Strings, integers and integral floats become strings."""
        assert converters.structure_identifier(value) == expected

    @pytest.mark.parametrize("value", [1.5, True, None, ["x"]])
    def test_not_identifiers(self, value: Any) -> None:
        """Fractions, booleans and containers are refused."""
        with pytest.raises(TypeError):
            converters.structure_identifier(value)

    def test_too_long(self) -> None:
        """More than 1 MB of text is refused outright."""
        with pytest.raises(ValueError, match="longer than 1 MB"):
            converters.structure_string("x" * 1_000_001)
