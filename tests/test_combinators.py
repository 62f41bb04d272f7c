"""Combinators: rows made of other rows' bodies, and what ``explain()`` shows of them.

``both(a, b)`` and ``otherwise(a, b)`` (and the audience row's ``other_traits``) are
called like any emitter, print as they are written, compare by value, and explain
themselves part by part. ``explain()`` never says a row was "not reached" when its
emitter ran inside another row's combinator: it says where it ran.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, ClassVar

import attrs
import pytest

import segment_braze as sb
from segment_braze.braze import Event, UserAttributes
from segment_braze.combinators import Trace, name_of, trace, traces
from segment_braze.mapping import audiences, identity, purchases, traits
from segment_braze.mapping import events as ev
from segment_braze.rules import IDENTIFY

NOW = datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)
T = "2024-05-01T12:00:00Z"
COHORTS = {"cohort_client_secret": "secret-c", "cohort_partner_api_key": "secret-p"}
PERSONAS = {"personas": {"computation_id": "c-1", "computation_key": "vip",
                         "computation_class": "audience"}}


def clock() -> datetime:
    return NOW


def translator(**settings: Any) -> sb.Translator:
    return sb.Translator(sb.Settings(**settings), clock=clock)


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": T, **fields}


def rows(text: str) -> dict[str, str]:
    """explain()'s row lines, by rule name."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"  [✓-]  (\w+)\s+(.*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def row(name: str) -> sb.Rule:
    return next(r for r in sb.DEFAULT_RULES if r.name == name)


# -- emitters for the tests --------------------------------------------------------------


def first_event(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
    """One event named "first", with a notice."""
    scope.notice(("properties", "a"), "first noticed")
    assert scope.identifier is not None
    return (Event(identifier=scope.identifier, name="first", time=scope.time()),)


def second_event(event: Any, scope: sb.Scope) -> list[Any]:
    """One event named "second" (as a list: any iterable will do)."""
    assert scope.identifier is not None
    return [Event(identifier=scope.identifier, name="second", time=scope.time())]


def nothing(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
    """Nothing at all."""
    return ()


def skip(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
    """A skip."""
    return (sb.Skip("not today"),)


def names(t: sb.Translation) -> list[str]:
    return [e["name"] for r in t for e in r.to_json().get("events", [])]


def with_row(emit: Any) -> tuple[sb.Rule, ...]:
    """The default table with the track row's emitter replaced."""
    return tuple(attrs.evolve(r, emit=emit) if r.name == "track" else r
                 for r in sb.DEFAULT_RULES)


class TestReprs:
    """Combinators print as the table writes them, so a row reads like its source."""

    def test_both_and_otherwise(self) -> None:
        """Both parts are named, by function name or by their own repr."""
        assert repr(sb.both(first_event, second_event)) == "both(first_event, second_event)"
        assert repr(sb.otherwise(nothing, sb.both(first_event, second_event))) == (
            "otherwise(nothing, both(first_event, second_event))")

    def test_the_default_rows(self) -> None:
        """The identify, purchase and audience rows show every part."""
        assert repr(row("identify")) == (
            "Rule('identify', on_type('identify'), both(merge_anonymous, "
            "identify_to_attributes))")
        assert name_of(row("purchase").emit) == "otherwise(track_to_purchases, track_to_event)"
        assert name_of(row("audience").emit) == (
            "both(audience_to_cohort, other_traits(both(merge_anonymous, "
            "identify_to_attributes)))")

    def test_equal_by_value(self) -> None:
        """Two combinators of the same parts are equal, so explain() can find a row's
        emitter inside another row."""
        assert sb.both(first_event, nothing) == sb.both(first_event, nothing)
        assert sb.both(first_event, nothing) != sb.both(nothing, first_event)
        assert sb.otherwise(first_event, nothing) != sb.both(first_event, nothing)
        assert audiences.other_traits(IDENTIFY) == audiences.other_traits(
            sb.both(identity.merge_anonymous, traits.identify_to_attributes))
        assert row("identify").emit is IDENTIFY

    def test_parts(self) -> None:
        """Each combinator names its parts, in order."""
        assert sb.both(first_event, skip).parts == (first_event, skip)  # type: ignore[attr-defined]
        assert sb.otherwise(nothing, skip).parts == (nothing, skip)  # type: ignore[attr-defined]
        assert audiences.other_traits(IDENTIFY).parts == (IDENTIFY,)  # type: ignore[attr-defined]


class TestBoth:
    """``both(a, b)``: a's outputs, then b's."""

    def test_emits_both_in_order(self) -> None:
        """The first part's outputs come first."""
        t = sb.Translator(sb.Settings(), rules=with_row(sb.both(first_event, second_event)),
                          clock=clock)
        assert names(t.translate(track())) == ["first", "second"]

    def test_a_skip_stops_it(self) -> None:
        """When the first part skips the event, the second does not run."""
        t = sb.Translator(sb.Settings(), rules=with_row(sb.both(skip, first_event)),
                          clock=clock)
        out = t.translate(track())
        assert out.skipped == "not today"
        assert out.notices == ()  # first_event never ran

    def test_explain_shows_both_parts(self) -> None:
        """explain() lists each part under the row, with what it emitted and its notices."""
        t = sb.Translator(sb.Settings(), rules=with_row(sb.both(first_event, second_event)),
                          clock=clock)
        text = str(t.explain(track()))
        assert rows(text)["track"] == "matched, emitted 2"
        assert "├─ first_event: emitted 1" in text
        assert "└─ second_event: emitted 1" in text
        assert "! $.properties.a: first noticed" in text

    def test_explain_says_the_second_part_did_not_run(self) -> None:
        """After a skip, the second part is shown as not run, and why."""
        t = sb.Translator(sb.Settings(), rules=with_row(sb.both(skip, first_event)),
                          clock=clock)
        (step,) = [s for s in t.explain(track()).steps if s.rule == "track"]
        assert [(p.name, p.ran, p.note) for p in step.parts] == [
            ("skip", True, None), ("first_event", False, "not run: skip skipped the event")]


class TestOtherwise:
    """``otherwise(a, b)``: a's outputs, or b's when a emits nothing."""

    def test_first_wins(self) -> None:
        """When the first part emits, the fallback does not run."""
        t = sb.Translator(sb.Settings(), rules=with_row(sb.otherwise(first_event, second_event)),
                          clock=clock)
        assert names(t.translate(track())) == ["first"]

    def test_fallback_when_nothing(self) -> None:
        """When the first part emits nothing, the fallback's outputs are the row's."""
        t = sb.Translator(sb.Settings(), rules=with_row(sb.otherwise(nothing, second_event)),
                          clock=clock)
        assert names(t.translate(track())) == ["second"]

    def test_explain(self) -> None:
        """explain() shows which part emitted and that the other did not run."""
        t = sb.Translator(sb.Settings(), rules=with_row(sb.otherwise(first_event, nothing)),
                          clock=clock)
        (step,) = [s for s in t.explain(track()).steps if s.rule == "track"]
        assert [(p.name, p.ran, len(p.emitted), p.note) for p in step.parts] == [
            ("first_event", True, 1, None), ("nothing", False, 0,
                                             "not run: first_event emitted")]


class TestTrace:
    """``trace(emitter, event, scope)``: what explain() records of one part."""

    def test_plain_emitter(self) -> None:
        """A function's trace holds its outputs and its notices, and no parts."""
        scope = translator().scope(track())
        found = trace(first_event, scope.event, scope)
        assert isinstance(found, Trace)
        assert found.name == "first_event"
        assert [o.name for o in found.emitted] == ["first"]  # type: ignore[union-attr]
        assert [n.path for n in found.notices] == ["$.properties.a"]
        assert found.parts == ()

    def test_nested_parts(self) -> None:
        """A combinator's trace holds its parts' traces, depth first in ``traces``."""
        scope = translator().scope(track())
        found = trace(sb.both(nothing, sb.otherwise(nothing, second_event)), scope.event,
                      scope)
        assert [t.name for t in traces((found,))] == [
            "both(nothing, otherwise(nothing, second_event))", "nothing",
            "otherwise(nothing, second_event)", "nothing", "second_event"]


class TestPurchaseRow:
    """``otherwise(track_to_purchases, track_to_event)``: an order with neither products
    nor revenue is a custom event."""

    ORDER = track(event="Order Completed", properties={"coupon": "X"})

    def test_output(self) -> None:
        """The event is sent as a custom event, with the purchase row's notice."""
        t = translator().translate(self.ORDER)
        assert names(t) == ["Order Completed"]
        assert [(n.path, n.rule) for n in t.notices] == [("$.properties", "purchase")]

    def test_explain_says_where_the_track_body_ran(self) -> None:
        """The track row ran inside the purchase row: explain() says so instead of
        'not reached'."""
        lines = rows(str(translator().explain(self.ORDER)))
        assert lines["purchase"] == "matched, emitted 1"
        assert lines["track"] == "ran inside purchase (its emitter is one of purchase's parts)"

    def test_explain_with_products_says_not_reached(self) -> None:
        """When the purchases are sent, the track body never ran: 'not reached' is true."""
        lines = rows(str(translator().explain(track(
            event="Order Completed", properties={"products": [{"id": "p", "price": 1}]}))))
        assert lines["track"] == "not reached: an earlier rule ended the table"

    def test_bad_name_names_the_purchase_row(self) -> None:
        """A problem from the fallback names the row it ran in."""
        with pytest.raises(sb.InvalidEvent) as caught:
            translator(purchase_events=["$Order"]).translate(track(event="$Order"))
        assert [(p.path, p.rule) for p in caught.value.problems] == [("$.event", "purchase")]


class TestIdentifyRow:
    """``both(merge_anonymous, identify_to_attributes)``."""

    def test_parts_in_explain(self) -> None:
        """In alias mode, explain() shows the merge and the attributes as two parts."""
        text = str(translator(anonymous_users="alias").explain(
            {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"x": 1}}))
        assert "├─ merge_anonymous: emitted 1" in text
        assert "└─ identify_to_attributes: emitted 1" in text

    def test_merge_comes_first(self) -> None:
        """The /users/identify merge precedes the attributes request."""
        t = translator(anonymous_users="alias").translate(
            {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"x": 1}})
        assert [r.endpoint for r in t] == ["/users/identify", "/users/track"]


class TestAudienceRow:
    """``both(audience_to_cohort, other_traits(<the identify row's body>))``."""

    EVENT: ClassVar[dict[str, Any]] = {
        "type": "identify", "userId": "u1", "anonymousId": "a1", "timestamp": T,
        "context": PERSONAS, "traits": {"vip": True, "plan": "pro"}}

    def test_explain_says_the_identify_body_ran_inside(self) -> None:
        """The identify row is not 'not reached': its body ran inside the audience row."""
        explanation = translator(**COHORTS).explain(self.EVENT)
        lines = rows(str(explanation))
        assert lines["audience"] == "matched, emitted 3"
        assert lines["identify"] == (
            "ran inside audience (its emitter is one of audience's parts)")
        assert lines["anonymous"] == "not reached: an earlier rule ended the table"
        (audience,) = [s for s in explanation.steps if s.rule == "audience"]
        assert [t.name for t in traces(audience.parts)] == [
            "audience_to_cohort", "other_traits(both(merge_anonymous, identify_to_attributes))",
            "both(merge_anonymous, identify_to_attributes)", "merge_anonymous",
            "identify_to_attributes"]

    def test_other_traits_leave_out_the_audience(self) -> None:
        """The audience trait becomes the cohort change, the others attributes."""
        t = translator(**COHORTS).translate(self.EVENT)
        (attributes,) = [r for r in t if r.endpoint == "/users/track"]
        assert attributes.to_json() == {"attributes": [{"external_id": "u1", "plan": "pro"}]}

    def test_an_empty_attributes_object_is_dropped(self) -> None:
        """With no other trait, no attributes object is sent."""
        t = translator(**COHORTS).translate({**self.EVENT, "traits": {"vip": False}})
        assert [r.endpoint for r in t] == ["/partners/segment/cohorts",
                                           "/partners/segment/cohorts/users"]

    def test_without_a_member_every_trait_is_sent(self) -> None:
        """A user without a cohort identifier keeps the audience as an attribute."""
        event = {**self.EVENT, "userId": None, "anonymousId": None,
                 "integrations": {"Braze": {"braze_id": "b-1"}}}
        t = translator(**COHORTS).translate(event)
        (request,) = t.requests
        assert request.to_json() == {"attributes": [{"braze_id": "b-1", "vip": True,
                                                     "plan": "pro"}]}
        assert [n.path for n in t.notices] == ["$.traits.vip"]

    def test_the_cohort_part_runs_first(self) -> None:
        """Notices come in the order the parts ran: the cohort part's (a missing time)
        before the identify body's."""
        event = {**self.EVENT, "timestamp": None, "traits": {"vip": True, "gender": "robot"}}
        t = translator(**COHORTS).translate(event)
        assert [(n.path, n.rule) for n in t.notices] == [("$.timestamp", "audience"),
                                                         ("$.traits.gender", "audience")]

    def test_tracks_have_no_other_traits(self) -> None:
        """For a track, other_traits emits nothing and says why in explain()."""
        explanation = translator(**COHORTS).explain(track(
            event="Audience Entered", context=PERSONAS))
        (audience,) = [s for s in explanation.steps if s.rule == "audience"]
        inner = [t for t in traces(audience.parts) if not t.ran]
        assert [(t.name, t.note) for t in inner] == [
            ("both(merge_anonymous, identify_to_attributes)", "not run: not an identify")]


class TestCustomTables:
    """Combinators in a table of one's own."""

    def test_a_row_combining_library_bodies(self) -> None:
        """A custom row can send an order both as purchases and as a custom event."""
        rules = tuple(attrs.evolve(r, emit=sb.both(purchases.track_to_purchases,
                                                   ev.track_to_event))
                      if r.name == "purchase" else r for r in sb.DEFAULT_RULES)
        t = sb.Translator(sb.Settings(), rules=rules, clock=clock)
        out = t.translate(track(event="Order Completed", properties={"revenue": 5}))
        (request,) = out.requests
        body = request.to_json()
        assert [p["product_id"] for p in body["purchases"]] == ["Order Completed"]
        assert [e["name"] for e in body["events"]] == ["Order Completed"]
        lines = rows(str(t.explain(track(event="Order Completed",
                                         properties={"revenue": 5}))))
        assert lines["track"].startswith("ran inside purchase")

    def test_plain_functions_still_work(self) -> None:
        """A row whose emitter is a plain function explains as before, with no parts."""
        (step,) = [s for s in translator().explain(track()).steps if s.matched]
        assert step.rule == "track"
        assert step.parts == ()
        assert isinstance(step.emitted[0], Event)

    def test_attributes_from_a_combinator_count_for_the_alias_profile(self) -> None:
        """An attributes object a combinator emits for an alias user creates the
        profile: the step adds no second one."""
        def created(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
            assert scope.identifier is not None
            return (UserAttributes(identifier=scope.identifier, values={"seen": True},
                                   update_existing_only=scope.update_existing_only()),)

        t = sb.Translator(sb.Settings(anonymous_users="alias"),
                          rules=with_row(sb.both(created, ev.track_to_event)), clock=clock)
        out = t.translate(track(userId=None, anonymousId="a1"))
        (request,) = out.requests
        assert [a.get("seen") for a in request.to_json()["attributes"]] == [True]
