"""Braze Currents -> Segment: golden cases, the table, and properties of the conversion."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import segment_braze as sb
from segment_braze import InvalidEvent
from segment_braze.currents import (
    EXPORTS,
    CurrentsConverter,
    CurrentsEvent,
    CurrentsResult,
    convert,
    convert_many,
    export,
    make_converter,
    markdown_table,
    message_id,
    parse,
    to_segment,
)
from segment_braze.limits import MAX_MESSAGE_ID

GOLDEN = Path(__file__).parent / "golden_currents"
DOCS = Path(__file__).parent.parent / "docs" / "currents.md"
CASES = sorted(GOLDEN.glob("*.json"))
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


# -- golden cases ----------------------------------------------------------------------


def test_there_are_enough_golden_cases() -> None:
    """At least 30 cases, with translated, skipped and rejected ones among them."""
    kinds = {next(k for k in ("segment", "skipped", "problems") if k in load(p)) for p in CASES}
    assert len(CASES) >= 30
    assert kinds == {"segment", "skipped", "problems"}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    """Currents in, the documented Segment message (or skip reason, or problem paths) out."""
    case = load(path)
    given_type = case.get("event_type")
    before = copy.deepcopy(case["currents"])
    if "problems" in case:
        with pytest.raises(InvalidEvent) as info:
            convert(case["currents"], event_type=given_type)
        assert sorted(p.path for p in info.value.problems) == sorted(case["problems"])
    else:
        result = convert(case["currents"], event_type=given_type)
        if "skipped" in case:
            assert result.status == "skipped"
            assert result.message is None
            assert case["skipped"] in (result.skipped or "")
        else:
            assert result.status == "translated"
            assert result.message == case["segment"]
            json.dumps(result.message, allow_nan=False)  # JSON-ready
    assert case["currents"] == before  # the input is not mutated


def test_convert_many_accounts_for_every_golden_event() -> None:
    """A stream of every golden input: each comes out once, as its case expects."""
    cases = [load(p) for p in CASES if "event_type" not in load(p)]
    results = list(convert_many(c["currents"] for c in cases))
    assert len(results) == len(cases)
    for case, result in zip(cases, results, strict=True):
        expected = ("rejected" if "problems" in case else
                    "skipped" if "skipped" in case else "translated")
        assert result.status == expected
        if expected == "translated":
            assert result.message == case["segment"]
        if expected == "rejected":
            assert result.error is not None
            assert sorted(p.path for p in result.error.problems) == sorted(case["problems"])


# -- the table -------------------------------------------------------------------------


#: The event names Braze's Segment connector documents (Braze's Segment Currents page and
#: Segment's Braze source page list the same 34).
CONNECTOR_NAMES = {
    "Push Notification Sent", "Push Notification Tapped", "Push Notification Bounced",
    "iOS Foreground Push Opened", "Email Sent", "Email Delivered", "Email Opened",
    "Email Link Clicked", "Email Bounced", "Email Soft Bounced", "Email Marked As Spam",
    "Email Unsubscribed", "SMS Sent", "SMS Sent to Carrier", "SMS Delivered",
    "SMS Delivery Failed", "SMS Rejected", "SMS Inbound Received",
    "Subscription Group State Changed", "In-App Message Viewed", "In-App Message Clicked",
    "Content Card Sent", "Content Card Viewed", "Content Card Clicked",
    "Content Card Dismissed", "News Feed Viewed", "News Feed Card Viewed",
    "News Feed Card Clicked", "Webhook Sent", "Campaign Converted", "Canvas Converted",
    "Canvas Entered", "Campaign Control Group Entered", "Application Uninstalled",
}


class TestTable:
    def test_every_documented_connector_event_is_produced(self) -> None:
        """Each of the connector's 34 documented names is the output of some event type."""
        assert {row.event for row in EXPORTS.values()} >= CONNECTOR_NAMES

    def test_event_names_are_distinct(self) -> None:
        """No two Currents types share a Segment name (downstream tables stay apart)."""
        names = [row.event for row in EXPORTS.values()]
        assert len(names) == len(set(names))

    def test_types_are_currents_names(self) -> None:
        """Keys are Currents event type names (``users.<family>.<...>.<Event>``)."""
        for kind in EXPORTS:
            assert re.fullmatch(r"users(\.[a-z]+)+\.[A-Z][A-Za-z]+", kind), kind

    def test_no_segment_key_is_filled_twice(self) -> None:
        """Within a row every property and context key appears once."""
        for row in EXPORTS.values():
            keys = [key for key, _ in row.properties]
            assert len(keys) == len(set(keys)), row.event
            paths = [path for path, _ in row.context]
            assert len(paths) == len(set(paths)), row.event

    def test_identity_fields_are_never_properties(self) -> None:
        """Ids, time and personal contact data never leak into properties."""
        private = {"id", "user_id", "external_user_id", "time", "email_address",
                   "to_phone_number", "user_phone_number", "event_type"}
        for row in EXPORTS.values():
            assert not private & {field for _, field in row.properties}, row.event

    def test_a_row_naming_an_unknown_field_is_refused(self) -> None:
        """A typo in the table fails when the row is built, not silently at run time."""
        with pytest.raises(ValueError, match="no field 'emial_address'"):
            export("Email Sent", "emial_address")

    def test_a_context_key_needs_a_section(self) -> None:
        """Context entries say where they go: ``section.key``."""
        with pytest.raises(ValueError, match=r"not 'section\.key'"):
            export("Email Sent", context=("email=email_address",))

    def test_the_table_is_read_only(self) -> None:
        """Nobody changes the mapping for everyone by accident."""
        with pytest.raises(TypeError):
            EXPORTS["users.behaviors.CustomEvent"] = export("Custom")  # type: ignore[index]

    def test_a_new_table_replaces_the_default(self) -> None:
        """A caller's own table can rename an event and add a type the default skips."""
        custom = {**EXPORTS,
                  "users.messages.email.Open": export("Mail Opened", "campaign_id"),
                  "users.behaviors.CustomEvent": export("Custom Event", "app_id")}
        base = {"id": "e", "external_user_id": "u", "time": 0, "campaign_id": "c",
                "app_id": "a", "esp": "x"}
        opened = to_segment({**base, "event_type": "users.messages.email.Open"},
                            exports=custom)
        assert opened is not None
        assert (opened["event"], opened["properties"]) == ("Mail Opened", {"campaign_id": "c"})
        custom_event = to_segment({**base, "event_type": "users.behaviors.CustomEvent"},
                                  exports=custom)
        assert custom_event is not None
        assert custom_event["properties"] == {"app_id": "a"}
        assert to_segment({**base, "event_type": "users.behaviors.CustomEvent"}) is None

    def test_docs_show_the_table_of_the_code(self) -> None:
        """docs/currents.md carries exactly the table the code defines."""
        text = DOCS.read_text()
        start = text.index("<!-- table:start -->\n") + len("<!-- table:start -->\n")
        end = text.index("<!-- table:end -->")
        assert text[start:end] == markdown_table()

    def test_markdown_has_a_row_per_type(self) -> None:
        """The rendered table lists every event type once."""
        lines = markdown_table().splitlines()
        assert len(lines) == 2 + len(EXPORTS)
        assert all(f"`{kind}`" in markdown_table() for kind in EXPORTS)


# -- units -----------------------------------------------------------------------------


class TestMessageId:
    def test_short_ids_are_kept(self) -> None:
        """An id that fits is the messageId itself, as Braze's connector sends it."""
        assert message_id("8adc1855-3392-4d58-b2e3-994299b7e024") == (
            "8adc1855-3392-4d58-b2e3-994299b7e024")
        assert message_id("x" * MAX_MESSAGE_ID) == "x" * MAX_MESSAGE_ID

    def test_long_ids_are_hashed_within_the_limit(self) -> None:
        """One character too many: a fixed-length derived id, different per input."""
        first, second = message_id("x" * 101), message_id("x" * 100 + "y")
        assert first.startswith("currents-")
        assert len(first) <= MAX_MESSAGE_ID
        assert first != second


class TestConvert:
    EVENT: ClassVar[dict[str, Any]] = {
        "id": "e-1", "user_id": "b-1", "external_user_id": "u-1", "time": 1714564800,
        "event_type": "users.messages.email.Open", "email_address": "a@example.com"}

    def test_a_parsed_model_converts_like_its_json(self) -> None:
        """convert() takes a CurrentsEvent as well as the JSON record."""
        model = parse(self.EVENT)
        assert isinstance(model, CurrentsEvent)
        assert convert(model) == convert(self.EVENT)

    def test_model_time_is_aware_utc(self) -> None:
        """The model holds the epoch seconds as an aware UTC datetime."""
        assert parse(self.EVENT).time == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)

    def test_to_segment_returns_the_message_or_none(self) -> None:
        """to_segment() is the message of convert(), None when the event is skipped."""
        assert to_segment(self.EVENT) == convert(self.EVENT).message
        assert to_segment({**self.EVENT, "external_user_id": None}) is None

    def test_to_segment_raises_for_malformed_input(self) -> None:
        """A malformed record is an InvalidEvent, a ValueError to callers who know no more."""
        with pytest.raises(ValueError, match=r"\$\.time"):
            to_segment({**self.EVENT, "time": True})

    def test_result_statuses(self) -> None:
        """The result says which of the three outcomes happened."""
        assert convert(self.EVENT).status == "translated"
        assert convert({**self.EVENT, "event_type": "users.behaviors.Purchase"}).status == (
            "skipped")
        assert CurrentsResult(error=InvalidEvent(())).status == "rejected"

    def test_event_type_wrapped_like_avro_is_accepted(self) -> None:
        """Even the event type may come in an Avro union wrapper."""
        wrapped = {**self.EVENT, "event_type": {"string": "users.messages.email.Open"}}
        assert convert(wrapped) == convert(self.EVENT)

    def test_non_string_event_type_is_rejected(self) -> None:
        """An event type that is not a string is an error at its path."""
        with pytest.raises(InvalidEvent) as info:
            convert({**self.EVENT, "event_type": 3})
        assert [p.path for p in info.value.problems] == ["$.event_type"]


class TestConvertMany:
    def test_never_raises_and_keeps_order(self) -> None:
        """Bad events become rejected results in place; the stream goes on."""
        events: list[Any] = [
            {"id": "a", "external_user_id": "u", "time": 1, "app_id": "x"},
            "not an object",
            {"id": "c", "time": 1},
            {"external_user_id": "u", "time": "soon"},
        ]
        results = list(convert_many(events, event_type="users.behaviors.Uninstall", start=10))
        assert [r.status for r in results] == ["translated", "rejected", "skipped", "rejected"]
        assert [r.origin for r in results] == ["a", 11, "c", 13]

    def test_integer_ids_name_their_origin(self) -> None:
        """An integer id is the origin too, as the string its messageId is."""
        (result,) = convert_many([{"id": 7, "time": "x"}], event_type="users.behaviors.Uninstall")
        assert result.status == "rejected"
        assert result.origin == "7"

    def test_is_lazy(self) -> None:
        """Nothing is read before a result is asked for (archives can be huge)."""
        def events() -> Any:
            yield {"id": "a", "external_user_id": "u", "time": 1}
            raise AssertionError("read too far")
        stream = convert_many(events(), event_type="users.behaviors.Uninstall")
        assert next(stream).status == "translated"


class TestConverter:
    """The Currents converter is built on demand (make_converter), never on import."""

    EVENT: ClassVar[dict[str, Any]] = TestConvert.EVENT

    def test_a_converter_of_ones_own(self) -> None:
        """parse, convert and to_segment take a converter and give what they give
        without one."""
        converter = make_converter()
        assert isinstance(converter, CurrentsConverter)
        assert converter is not make_converter()
        assert parse(self.EVENT, converter=converter) == parse(self.EVENT)
        assert convert(self.EVENT, converter=converter) == convert(self.EVENT)
        assert to_segment(self.EVENT, converter=converter) == to_segment(self.EVENT)
        with pytest.raises(InvalidEvent) as caught:
            convert({**self.EVENT, "time": "soon"}, converter=converter)
        assert [p.path for p in caught.value.problems] == ["$.time"]

    def test_convert_many_builds_one_for_the_stream(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """However many records, convert_many builds one converter."""
        import segment_braze.currents as currents

        built: list[object] = []
        original = currents.CurrentsConverter.__init__

        def counting(self: Any) -> None:
            built.append(self)
            original(self)

        monkeypatch.setattr(currents.CurrentsConverter, "__init__", counting)
        results = list(convert_many([self.EVENT] * 5))
        assert [r.status for r in results] == ["translated"] * 5
        assert len(built) == 1

    def test_pickling_rebuilds_it(self) -> None:
        """A pickled converter is built again, not shipped."""
        import pickle

        copy = pickle.loads(pickle.dumps(make_converter()))  # noqa: S301 - our own bytes
        assert convert(self.EVENT, converter=copy) == convert(self.EVENT)


# -- properties ------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)


def _field_values() -> dict[str, st.SearchStrategy[Any]]:
    """A strategy per modelled field, from the model's own types."""
    by_type: dict[Any, st.SearchStrategy[Any]] = {
        str | None: _TEXT,
        int | None: st.integers(-(2**40), 2**40),
        bool | None: st.booleans(),
        tuple[str, ...] | None: st.lists(_TEXT, max_size=3),
        str | bool | None: _TEXT | st.booleans(),
        str | Mapping[str, Any] | None: _TEXT | st.dictionaries(_TEXT, _TEXT, max_size=2),
    }
    fields = attrs.fields(attrs.resolve_types(CurrentsEvent))
    return {f.name: by_type[f.type] for f in fields if f.type in by_type}


FIELD_VALUES = _field_values()


@st.composite
def currents_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid Currents record of an exported type, with some of its row's fields set."""
    kind = draw(st.sampled_from(sorted(EXPORTS)))
    row = EXPORTS[kind]
    sources = sorted({field for _, field in (*row.properties, *row.context)})
    chosen = draw(st.lists(st.sampled_from(sources), unique=True, max_size=6))
    event: dict[str, Any] = {
        "event_type": kind,
        "id": draw(st.text(min_size=1, max_size=150)),
        "external_user_id": draw(_TEXT),
        "time": draw(st.integers(0, 4_102_444_800)
                     | st.floats(0, 4_102_444_800, allow_nan=False)),
    }
    if draw(st.booleans()):
        event["user_id"] = draw(_TEXT)
    for field in chosen:
        event[field] = draw(FIELD_VALUES[field])
    return event


def _avro_wrapped(event: dict[str, Any]) -> dict[str, Any]:
    """The record as a generic Avro-to-JSON decoder writes union values."""
    branch = {str: "string", int: "long", float: "double", bool: "boolean", list: "array"}
    return {k: ({branch[type(v)]: v} if type(v) in branch and k != "event_type" else v)
            for k, v in event.items()}


FAST = settings(max_examples=75, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


class TestProperties:
    @FAST
    @given(currents_events())
    def test_output_meets_the_segment_spec(self, event: dict[str, Any]) -> None:
        """A track with a non-empty event, an ISO 8601 UTC timestamp with milliseconds,
        a messageId of at most 100 characters, the external id as userId."""
        message = to_segment(event)
        assert message is not None
        assert message["type"] == "track"
        assert isinstance(message["event"], str)
        assert message["event"].strip()
        assert ISO_MS.match(message["timestamp"])
        assert 0 < len(message["messageId"]) <= MAX_MESSAGE_ID
        assert message["userId"] == event["external_user_id"]
        json.dumps(message, allow_nan=False)

    @FAST
    @given(currents_events())
    def test_round_trip_back_to_braze(self, event: dict[str, Any]) -> None:
        """Braze -> Segment -> Braze: the Segment message, translated with the default
        rules, is a Braze custom event of the same user, with the Segment event's name,
        the Currents time to the millisecond, and the messageId as its origin."""
        message = to_segment(event)
        assert message is not None
        translation = sb.translate(message, sb.Settings())
        if not event["external_user_id"].strip():  # a blank id names nobody for Braze
            assert translation.status == "skipped"
            return
        (request,) = translation.requests
        assert translation.notices == ()
        body = request.to_json()
        (braze_event,) = body["events"]
        assert braze_event["external_id"] == event["external_user_id"]
        assert braze_event["name"] == message["event"]
        assert braze_event["time"] == message["timestamp"]
        assert request.origins["events"] == (message["messageId"],)

    @FAST
    @given(currents_events())
    def test_deterministic_and_input_untouched(self, event: dict[str, Any]) -> None:
        """The same event twice gives the same message, messageId included; the input is
        not changed."""
        before = copy.deepcopy(event)
        assert to_segment(event) == to_segment(copy.deepcopy(event))
        assert event == before

    @FAST
    @given(currents_events(), st.text(min_size=1, max_size=150))
    def test_different_ids_give_different_message_ids(self, event: dict[str, Any],
                                                      other: str) -> None:
        """Two events that differ only by id never share a messageId."""
        assume(other != event["id"])
        first = to_segment(event)
        second = to_segment({**event, "id": other})
        assert first is not None
        assert second is not None
        assert first["messageId"] != second["messageId"]
        assert {**first, "messageId": None} == {**second, "messageId": None}

    @FAST
    @given(currents_events())
    def test_timestamp_round_trips_to_the_millisecond(self, event: dict[str, Any]) -> None:
        """Reading the timestamp back gives the Currents time, to the millisecond."""
        message = to_segment(event)
        assert message is not None
        back = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
        seconds = event["time"]
        expected = datetime.fromtimestamp(seconds, timezone.utc)
        if isinstance(seconds, int):
            assert back.timestamp() == seconds
        else:
            assert abs((back - expected).total_seconds()) < 0.001

    @FAST
    @given(currents_events())
    def test_properties_are_exactly_the_documented_ones_present(
            self, event: dict[str, Any]) -> None:
        """Every documented field that is set reaches Segment under its documented key,
        with its value; nothing else does."""
        row = EXPORTS[event["event_type"]]
        message = to_segment(event)
        assert message is not None
        expected = {key: event[field] for key, field in row.properties if field in event}
        assert message["properties"] == expected
        context: dict[str, dict[str, Any]] = {}
        for path, field in row.context:
            if field in event:
                section, _, key = path.partition(".")
                context.setdefault(section, {})[key] = event[field]
        assert message.get("context", {}) == context

    @FAST
    @given(currents_events())
    def test_avro_wrapped_records_convert_alike(self, event: dict[str, Any]) -> None:
        """Wrapping every value in its Avro union branch changes nothing."""
        assert to_segment(_avro_wrapped(event)) == to_segment(event)

    @FAST
    @given(st.sampled_from(sorted(EXPORTS)),
           st.dictionaries(st.sampled_from([*sorted(FIELD_VALUES), "id", "time"]),
                           st.recursive(st.none() | st.booleans() | st.integers()
                                        | st.floats() | st.text(max_size=5),
                                        lambda inner: st.lists(inner, max_size=3)
                                        | st.dictionaries(st.text(max_size=3), inner,
                                                          max_size=3),
                                        max_leaves=6)))
    def test_arbitrary_values_never_escape_as_other_errors(
            self, kind: str, fields: dict[str, Any]) -> None:
        """Whatever the values, the answer is a result or an InvalidEvent with paths."""
        event = {"event_type": kind, "external_user_id": "u", **fields}
        (result,) = convert_many([event])  # re-raises anything but InvalidEvent
        if result.error is not None:
            assert result.error.problems
            assert all(p.path.startswith("$.") for p in result.error.problems)
        else:
            assert result.status in ("translated", "skipped")
