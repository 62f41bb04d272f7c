"""Translation, Translator.translate_many and explain.

A Translation is exactly one of translated, skipped or rejected; iterating it iterates
its requests; every request remembers where its entries came from (the event's
``messageId``, else its position in the stream). ``translate_many`` accepts dicts and
typed models and never raises for a bad event; ``explain`` shows every row of the table.
"""

from __future__ import annotations

import itertools
import pickle
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


# -- the alias-profile step ---------------------------------------------------------------

ALIAS = {"alias_name": "a1", "alias_label": "segment_anonymous_id"}


def anonymous_track(**fields: Any) -> dict[str, Any]:
    return track(userId=None, anonymousId="a1", **fields)


def after_lines(text: str) -> list[str]:
    """explain()'s lines of the translator's own steps (marked »), and what follows."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  »"))
    return [line for line in lines[start:] if not line.startswith("request ")]


def two_alias_events(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
    """An event for each of two user aliases (a rule of one's own that knows nothing of
    alias profiles)."""
    from segment_braze.braze import Event, Identifier, UserAlias

    time = scope.time()
    return tuple(Event(identifier=Identifier("user_alias", UserAlias(name, "crm")),
                       name=event.event, time=time) for name in ("x", "y", "x"))


class TestAliasProfileStep:
    """After the rules, the translator creates the profile of an alias user whose events
    or purchases it sends: a step of its own, shown by explain()."""

    def test_explain_shows_it_on_its_own_line(self) -> None:
        """The track row emits the event alone; the alias_profile step adds the object
        that creates the profile."""
        explanation = translator(anonymous_users="alias").explain(anonymous_track())
        (track_row,) = [s for s in explanation.steps if s.matched]
        assert [type(o).__name__ for o in track_row.emitted] == ["Event"]
        (step,) = explanation.after
        assert (step.rule, step.matched) == ("alias_profile", True)
        assert [o.to_json() for o in step.emitted] == [  # type: ignore[union-attr]
            {"user_alias": ALIAS, "_update_existing_only": False}]
        assert after_lines(str(explanation)) == [
            "  »  alias_profile    added 1",
            '       → UserAttributes {"user_alias": {"alias_name": "a1", "alias_label": '
            '"segment_anonymous_id"}, "_update_existing_only": false}']

    def test_the_request_is_unchanged(self) -> None:
        """The profile comes first in the attributes, before the event, as always."""
        t = translator(anonymous_users="alias").translate(anonymous_track())
        assert [r.to_json() for r in t] == [{
            "attributes": [{"user_alias": ALIAS, "_update_existing_only": False}],
            "events": [{"user_alias": ALIAS, "name": "Signed Up",
                        "time": "2024-05-01T12:00:00.000Z"}]}]

    def test_nothing_to_add_when_a_rule_created_the_profile(self) -> None:
        """An attributes object with _update_existing_only false already creates it."""
        explanation = translator(anonymous_users="alias", context_traits=True).explain(
            anonymous_track(context={"traits": {"plan": "pro"}}))
        (step,) = explanation.after
        assert not step.matched
        assert step.note == ("nothing to add: no event or purchase of an alias user lacks "
                             "its profile")
        (request,) = explanation.translation.requests
        assert len(request.to_json()["attributes"]) == 1

    def test_off_with_update_existing_only(self) -> None:
        """With update_existing_only no profile is created, and explain() says so."""
        explanation = translator(anonymous_users="alias", update_existing_only=True).explain(
            anonymous_track())
        assert [s.note for s in explanation.after] == [
            "off: with update_existing_only, no profile is ever created"]
        (request,) = explanation.translation.requests
        assert "attributes" not in request.to_json()

    def test_not_run_for_a_skipped_event(self) -> None:
        """A skipped event never reaches the step."""
        explanation = translator().explain(SKIPPED)
        assert [s.note for s in explanation.after] == [
            "not run: the event was skipped before it"]
        assert translator().explain({"type": "nope"}).after == ()

    def test_rules_of_ones_own_need_not_know(self) -> None:
        """Events a custom rule emits for alias users get one profile per user, before
        that user's first event."""
        rules = (sb.Rule("aliases", sb.on_event("Two"), two_alias_events, final=True),
                 *sb.DEFAULT_RULES)
        t = sb.Translator(sb.Settings(), rules=rules, clock=clock)
        (request,) = t.translate(track(event="Two"))
        pairs = request.pairs(type(request).ENDPOINT.parts[0])  # attributes
        assert [entry.to_json() for entry, _ in pairs] == [
            {"user_alias": {"alias_name": name, "alias_label": "crm"},
             "_update_existing_only": False} for name in ("x", "y")]
        assert [e["user_alias"]["alias_name"] for e in request.to_json()["events"]] == [
            "x", "y", "x"]


# -- the scope ----------------------------------------------------------------------------


def noticing(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
    """Reports one notice and emits nothing."""
    scope.notice(("properties", "x"), "looked at")
    return ()


class TestScope:
    """A rule's scope is read-only; what a rule reports goes to its sink."""

    @pytest.mark.parametrize("name", ["settings", "event", "identifier", "clock", "sink",
                                      "memo"])
    def test_read_only(self, name: str) -> None:
        """No field of a scope can be set."""
        scope = translator().scope(GOOD)
        with pytest.raises(AttributeError):
            setattr(scope, name, None)
        with pytest.raises(AttributeError):
            scope.extra = 1  # type: ignore[attr-defined]

    def test_no_coordination_between_rules(self) -> None:
        """The scope carries nothing one rule could leave for another."""
        scope = translator().scope(GOOD)
        for gone in ("profile", "profile_sent", "rule", "size", "notices"):
            assert not hasattr(scope, gone), gone

    def test_time_is_computed_once(self) -> None:
        """Without any time, the clock is read once and the notice given once."""
        calls: list[int] = []

        def counting() -> datetime:
            calls.append(1)
            return NOW

        scope = sb.Translator(sb.Settings(), clock=counting).scope(
            {"type": "track", "userId": "u1", "event": "e"})
        assert scope.time() == scope.time() == "2024-06-01T08:30:00.000Z"
        assert len(calls) == 1
        assert [n.path for n in scope.sink.notices] == ["$.timestamp"]

    def test_the_sink_names_the_rule(self) -> None:
        """Notices carry the name of the row that gave them (set by the translator)."""
        rules = (sb.Rule("looker", sb.on_type("track"), noticing), *sb.DEFAULT_RULES)
        t = sb.Translator(sb.Settings(), rules=rules, clock=clock).translate(GOOD)
        assert [(n.path, n.rule) for n in t.notices] == [("$.properties.x", "looker")]

    def test_the_sink_counts_the_size(self) -> None:
        """Past 1 MB of counted size, the event is rejected, naming the rule."""
        scope = translator().scope(GOOD)
        scope.sink.rule = "mine"
        scope.count_size(1_000_000)
        with pytest.raises(sb.InvalidEvent) as caught:
            scope.count_size(1)
        assert [(p.path, p.rule) for p in caught.value.problems] == [("$", "mine")]

    def test_scope_of_a_model_or_json(self) -> None:
        """Translator.scope takes a model or Segment JSON and resolves the identifier."""
        scope = translator(anonymous_users="alias").scope(anonymous_track())
        assert scope.is_alias
        assert scope.update_existing_only() is False
        model = sb.Track(event="e", user_id="u1")
        assert translator().scope(model).event is model


# -- no globals ---------------------------------------------------------------------------


def _module_state() -> dict[str, int]:
    """The size of every module-level dict, list and set of the library."""
    import importlib
    import pkgutil

    sizes = {}
    for info in pkgutil.walk_packages(sb.__path__, "segment_braze."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if type(value) in (dict, list, set):
                sizes[f"{info.name}.{name}"] = len(value)
    return sizes


class TestNoGlobals:
    """Converters are built per translator; what the rule bodies remember lives in the
    translator's bound table, never in a module."""

    def test_no_converter_is_built_on_import(self) -> None:
        """No module of the library holds a cattrs converter."""
        import importlib
        import pkgutil

        import cattrs

        for info in pkgutil.walk_packages(sb.__path__, "segment_braze."):
            module = importlib.import_module(info.name)
            held = [n for n, v in vars(module).items() if isinstance(v, cattrs.BaseConverter)]
            assert held == [], info.name

    def test_translating_grows_no_module_state(self) -> None:
        """Translating events with new names changes no module-level container."""
        before = _module_state()
        events = [track(event=f"Order {n}", properties={f"p{n}": 1, f"q{n}": "x"})
                  for n in range(50)]
        t = translator(purchase_events=["Order 7"])
        assert len([x for x in t.translate_many(events) if x.status == "translated"]) == 50
        assert _module_state() == before

    def test_each_translator_has_its_own(self) -> None:
        """Two translators share neither their converter nor their memo."""
        first, second = translator(), translator()
        assert first._converter is not second._converter
        assert first._table.memo is not second._table.memo
        first.translate(track(properties={"plan": "pro"}))
        assert first._table.memo.property_names == {"plan": 4}
        assert first._table.memo.purchase_names == {"Signed Up": False}
        assert second._table.memo.property_names == {}
        assert first.scope(GOOD).memo is first._table.memo

    def test_memos_are_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A memo stops growing at its limit (hostile input cannot grow it)."""
        from segment_braze import rules
        from segment_braze.mapping import values

        monkeypatch.setattr(values, "MEMO_LIMIT", 3)
        monkeypatch.setattr(rules, "MEMO_LIMIT", 2)
        t = translator()
        for n in range(5):
            t.translate(track(event=f"E{n}", properties={f"p{n}": 1}))
        assert len(t._table.memo.property_names) == 3
        assert len(t._table.memo.purchase_names) == 2


# -- pickling -----------------------------------------------------------------------------


def shout(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
    """A module-level emitter of one's own: the event name in capitals."""
    from segment_braze.braze import Event

    assert scope.identifier is not None
    return (Event(identifier=scope.identifier, name=event.event.upper(), time=scope.time()),)


def custom_rules() -> tuple[sb.Rule, ...]:
    """A table of one's own from the library's factories and combinators, and one
    module-level function."""
    from segment_braze.mapping import events as ev
    from segment_braze.mapping import purchases

    return (
        sb.Rule("shout", sb.on_event("Signed Up"), sb.both(ev.track_to_event, shout),
                final=True),
        sb.Rule("orders", sb.on_purchase(),
                sb.otherwise(purchases.track_to_purchases, shout), final=True),
        *[r for r in sb.DEFAULT_RULES if r.name not in ("purchase",)],
    )


def summary(t: sb.Translation) -> tuple[Any, ...]:
    problems = None if t.error is None else [(p.path, p.message, p.rule)
                                             for p in t.error.problems]
    return (t.status, t.skipped, t.origin, [(r.endpoint, r.to_json()) for r in t],
            [(n.path, n.message, n.rule) for n in t.notices], problems)


def unpickled(data: bytes) -> Any:
    """What this test pickled, read back."""
    return pickle.loads(data)  # noqa: S301 - bytes this test made


def golden_cases() -> list[dict[str, Any]]:
    import json
    from pathlib import Path

    here = Path(__file__).parent
    return [json.loads(p.read_text(encoding="utf-8"))
            for folder in ("golden", "golden/invalid", "golden_cohorts")
            for p in sorted((here / folder).glob("*.json"))]


class TestPickle:
    """A translator pickles (multiprocessing and Spark ship it) and translates the same
    afterwards; what it builds from its settings is built again, not shipped."""

    def test_every_default_row_round_trips(self) -> None:
        """Matchers, emitters and combinators of DEFAULT_RULES pickle by value."""
        assert unpickled(pickle.dumps(sb.DEFAULT_RULES)) == sb.DEFAULT_RULES

    def test_golden_cases_translate_the_same(self) -> None:
        """Every golden event translates identically with an unpickled translator."""
        for case in golden_cases():
            original = sb.Translator(sb.Settings(**case["settings"]), clock=clock)
            copy = unpickled(pickle.dumps(original))
            assert copy is not original
            assert summary(next(copy.translate_many([case["event"]]))) == summary(
                next(original.translate_many([case["event"]]))), case["description"]

    def test_a_custom_table(self) -> None:
        """A table of library factories, combinators and a function of one's own."""
        original = sb.Translator(sb.Settings(), rules=custom_rules(), clock=clock)
        copy = unpickled(pickle.dumps(original))
        assert copy.rules == original.rules
        assert repr(copy.rules) == repr(original.rules)
        events = [track(), track(event="Order Completed", properties={"coupon": "x"}),
                  track(event="Order Completed", properties={"revenue": 3})]
        assert [summary(t) for t in copy.translate_many(events)] == [
            summary(t) for t in original.translate_many(events)]
        names = [e["name"] for e in copy.translate(track()).requests[0].to_json()["events"]]
        assert names == ["Signed Up", "SIGNED UP"]

    def test_only_the_recipe_travels(self) -> None:
        """The pickle holds no converter, bound table or memo: they are rebuilt."""
        t = translator()
        t.translate(track(properties={"plan": "pro"}))
        data = pickle.dumps(t)
        for built in (b"cattrs", b"BoundTable", b"Memo", b"plan"):
            assert built not in data
        copy = unpickled(data)
        assert copy._table.memo.property_names == {}
        assert copy._converter is not t._converter

    def test_in_another_process(self) -> None:
        """A process started from scratch (spawn) translates what this one does."""
        import multiprocessing

        t = sb.Translator(sb.Settings(anonymous_users="alias"), clock=clock)
        events = [GOOD, SKIPPED, anonymous_track(),
                  {"type": "identify", "userId": "u1", "traits": {"gender": "robot"}}]
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            remote = pool.map(t.translate, events)
        assert [summary(r) for r in remote] == [summary(t.translate(e)) for e in events]


# -- reprs --------------------------------------------------------------------------------


class _Printer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, value: str) -> None:
        self.parts.append(value)


class TestTranslationRepr:
    """A translation reads well in a notebook: status, endpoints, notices, reason or
    problems; never a request body."""

    def test_translated(self) -> None:
        """Endpoints and the number of notices."""
        t = translator().translate({"type": "identify", "userId": "u1", "messageId": "m-1",
                                    "traits": {"gender": "robot", "plan": "pro"}})
        assert repr(t) == ("Translation(status='translated', requests=['/users/track'], "
                           "notices=1, origin='m-1')")

    def test_skipped_and_rejected(self) -> None:
        """The skip reason, or the problems."""
        assert repr(translator().translate(SKIPPED)).startswith(
            "Translation(status='skipped', skipped='page calls are not sent: ")
        (rejected,) = translator().translate_many([BAD])
        assert repr(rejected) == (
            "Translation(status='rejected', problems=[\"$.event: an event name must not "
            "start with '$' (rule track)\"], origin=0)")

    def test_no_body_and_no_secret(self) -> None:
        """Request bodies (and so secrets and personal data) never show."""
        secrets = {"rest_api_key": "secret-key", "cohort_client_secret": "secret-c",
                   "cohort_partner_api_key": "secret-p"}
        t = translator(**secrets).translate(track(
            event="Audience Entered", properties={"email": "ada@example.com"},
            context={"personas": {"computation_id": "c1", "computation_key": "k"}}))
        for shown in (repr(t), t.pretty()):
            assert "secret" not in shown
            assert "ada@example.com" not in shown
            assert "/partners/segment/cohorts/users" in shown

    def test_pretty_for_ipython(self) -> None:
        """_repr_pretty_ prints each request's parts and every notice."""
        t = translator(anonymous_users="alias").translate(
            {"type": "identify", "userId": "u1", "anonymousId": "a1",
             "traits": {"gender": "robot"}}, position=4)
        printer = _Printer()
        t._repr_pretty_(printer, False)
        assert printer.parts == [
            "Translation translated (origin 4)\n"
            "  /users/identify: 1 aliases_to_identify\n"
            "  /users/track: 1 attributes\n"
            "  ! $.traits.gender: 'robot' is not a known gender word (M, F, O, N, P or "
            "unknown, and their spellings); dropped (rule identify)"]
