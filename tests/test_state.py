"""Change tracking: only changed attribute values are sent, and nothing is ever lost.

Unit tests pin each comparison rule (JSON values, null, operations, the objects and
fields never dropped), the identify merge once per pair, committing on acknowledgement
versus at once, and the two stores (eviction of the memory store; persistence, batching,
readers and refusals of the SQLite store).

The properties replay what a translator with a store sends over empty profiles, with an
independent model of how Braze applies attribute writes, and compare the result with
replaying everything a translator without a store sends: nothing may be lost, whether
every request is acknowledged at once, late, out of order, or never.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segment_braze as sb
from segment_braze import tracking
from segment_braze.braze import (
    Identifier,
    UserAlias,
    UserAttributes,
    UsersIdentify,
    UsersTrack,
    user_key,
)
from segment_braze.responses import interpret_response
from segment_braze.tracking import (
    MemoryStore,
    SQLiteStore,
    StateStore,
    Tracker,
    UserRecord,
    same,
)
from tracked import Pipeline

ROOT = Path(__file__).resolve().parent.parent
T = "2024-05-01T12:00:00Z"


def tracker(store: StateStore | None = None, *, commit: Any = "on_translate",
            **options: Any) -> Pipeline:
    return Pipeline(sb.Settings(**options), MemoryStore() if store is None else store, commit)


def rec(**values: Any) -> UserRecord:
    return UserRecord(values=values)


def known(store: StateStore, user: str) -> dict[str, Any] | None:
    """The attribute values the store holds for a user."""
    record = store.get(user)
    return None if record is None else dict(record.values)


_ids = iter(range(10**9))


def identify(traits: dict[str, Any], user: str = "u1", **fields: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "traits": traits, "timestamp": T,
            "messageId": f"m{next(_ids)}", **fields}


def attributes(translation: sb.Translation) -> list[dict[str, Any]]:
    """Every attributes object the translation sends, as JSON."""
    return [a for r in translation for a in r.to_json().get("attributes", ())]


def sent(translation: sb.Translation) -> dict[str, Any]:
    """The attribute values of the translation's only attributes object."""
    (only,) = attributes(translation)
    return {k: v for k, v in only.items() if k not in ("external_id", "braze_id",
                                                     "user_alias", "email")}


class TestSame:
    """Values compare as JSON values."""

    def test_key_order_does_not_matter(self) -> None:
        """Objects with the same members in another order are the same."""
        assert same({"a": 1, "b": [1, {"c": 2, "d": 3}]}, {"b": [1, {"d": 3, "c": 2}], "a": 1})

    def test_integer_and_float(self) -> None:
        """1 and 1.0 are the same number, at any depth."""
        assert same(1, 1.0)
        assert same([1, {"x": 2}], [1.0, {"x": 2.0}])
        assert not same(1, 1.5)

    def test_booleans_are_not_numbers(self) -> None:
        """true is not 1 and false is not 0, also inside arrays."""
        assert not same(True, 1)
        assert not same(1, True)
        assert not same(False, 0)
        assert not same([True], [1])
        assert same(True, True)

    def test_null_is_a_value(self) -> None:
        """null equals null only."""
        assert same(None, None)
        assert not same(None, "")
        assert not same(None, 0)
        assert not same(None, False)

    def test_arrays(self) -> None:
        """Arrays compare item by item, in order; a list equals a tuple."""
        assert same([1, "a"], (1, "a"))
        assert not same([1, "a"], ["a", 1])
        assert not same([1], [1, 1])
        assert not same("ab", ["a", "b"])

    def test_objects(self) -> None:
        """Objects need the same keys."""
        assert not same({"a": 1}, {"a": 1, "b": 2})
        assert not same({"a": None}, {})
        assert not same({"a": 1}, [("a", 1)])

    def test_not_json_is_never_the_same(self) -> None:
        """A value that is not plain JSON never equals anything, itself included."""
        marker = object()
        assert not same(marker, marker)


class TestUserKey:
    """Each Braze user gets one stable key; no two users share one."""

    def test_kinds_are_apart(self) -> None:
        """The same value under two kinds gives two keys."""
        assert (user_key(Identifier("external_id", "x"))
                != user_key(Identifier("braze_id", "x")))

    def test_alias_label_and_name_cannot_run_together(self) -> None:
        """A separator inside a label or a name cannot make two aliases collide."""
        one = Identifier("user_alias", UserAlias("b:c", "a"))
        two = Identifier("user_alias", UserAlias("c", "a:b"))
        assert user_key(one) != user_key(two)
        assert user_key(one) == user_key(Identifier("user_alias", UserAlias("b:c", "a")))


class TestComparison:
    """What is left out and what is always sent."""

    def test_unchanged_values_are_left_out(self) -> None:
        """Only the values that changed are sent; Translation.unchanged names the others."""
        t = tracker()
        first = t.translate(identify({"plan": "pro", "seats": 3}))
        assert sent(first) == {"plan": "pro", "seats": 3}
        assert first.unchanged == ()
        second = t.translate(identify({"plan": "team", "seats": 3}))
        assert sent(second) == {"plan": "team"}
        assert second.unchanged == ("seats",)

    def test_identify_with_nothing_changed_is_skipped(self) -> None:
        """An identify whose values all drop is skipped with the reason."""
        t = tracker()
        t.translate(identify({"plan": "pro"}))
        again = t.translate(identify({"plan": "pro"}))
        assert again.status == "skipped"
        assert again.skipped == "no attribute changed"
        assert again.requests == ()
        assert again.unchanged == ("plan",)

    def test_notices_survive_the_skip(self) -> None:
        """A skipped identify keeps the notices of its translation."""
        t = tracker()
        t.translate(identify({"plan": "pro"}))
        again = t.translate(identify({"plan": "pro", "timezone": "Mars/Olympus"}))
        assert again.skipped == "no attribute changed"
        assert [n.path for n in again.notices] == ["$.traits.timezone"]

    def test_standard_attributes_are_tracked_after_normalising(self) -> None:
        """Traits compare as the attributes they become (here: the same phone)."""
        t = tracker()
        t.translate(identify({"phone": "+1 (555) 010-0000", "firstName": "Ada"}))
        again = t.translate(identify({"phone": "+1 555 010 0000", "first_name": "Ada"}))
        assert again.skipped == "no attribute changed"

    def test_object_key_order(self) -> None:
        """A nested object written again with its keys in another order is left out."""
        t = tracker()
        t.translate(identify({"prefs": {"grind": "fine", "decaf": False}}))
        assert t.translate(identify({"prefs": {"decaf": False, "grind": "fine"}})).skipped

    def test_one_and_one_point_zero(self) -> None:
        """1 after 1.0 is left out."""
        t = tracker()
        t.translate(identify({"score": 1.0}))
        assert t.translate(identify({"score": 1})).skipped == "no attribute changed"

    def test_true_is_not_one(self) -> None:
        """true after 1 is sent."""
        t = tracker()
        t.translate(identify({"flag": 1}))
        assert sent(t.translate(identify({"flag": True}))) == {"flag": True}

    def test_unsetting_an_unset_attribute_is_left_out(self) -> None:
        """null after null is left out; null after a value is sent; the first null is
        sent (the store does not know the attribute yet)."""
        t = tracker()
        assert sent(t.translate(identify({"plan": None}))) == {"plan": None}
        assert t.translate(identify({"plan": None})).skipped == "no attribute changed"
        assert sent(t.translate(identify({"plan": "pro"}))) == {"plan": "pro"}
        assert sent(t.translate(identify({"plan": None}))) == {"plan": None}

    def test_each_user_has_their_own_values(self) -> None:
        """The same value for another user is sent."""
        t = tracker()
        t.translate(identify({"plan": "pro"}, user="u1"))
        assert sent(t.translate(identify({"plan": "pro"}, user="u2"))) == {"plan": "pro"}

    def test_identifier_and_flags_stay_on_a_partly_dropped_object(self) -> None:
        """The identifier and _update_existing_only stay on the object that is left."""
        t = tracker(anonymous_users="alias")
        event = {"type": "identify", "anonymousId": "a1", "traits": {"plan": "pro"},
                 "timestamp": T}
        t.translate(event)
        (obj,) = attributes(t.translate({**event, "traits": {"plan": "pro", "seats": 2}}))
        assert obj == {"user_alias": {"alias_name": "a1", "alias_label": "segment_anonymous_id"},
                       "_update_existing_only": False, "seats": 2}

    def test_the_object_creating_an_alias_profile_is_always_sent(self) -> None:
        """An alias user's object is sent with no value left: it creates the profile."""
        t = tracker(anonymous_users="alias")
        event = {"type": "identify", "anonymousId": "a1", "traits": {"plan": "pro"},
                 "timestamp": T}
        t.translate(event)
        again = t.translate(event)
        assert again.status == "translated"
        assert again.unchanged == ("plan",)
        assert attributes(again) == [{"user_alias": {"alias_name": "a1",
                                                     "alias_label": "segment_anonymous_id"},
                                      "_update_existing_only": False}]

    def test_increments_are_always_sent_and_forget_the_value(self) -> None:
        """inc is always sent; the next plain write of the attribute is sent too."""
        t = tracker()
        t.translate(identify({"logins": 5}))
        assert sent(t.translate(identify({"logins": {"inc": 1}}))) == {"logins": {"inc": 1}}
        assert sent(t.translate(identify({"logins": {"inc": 1}}))) == {"logins": {"inc": 1}}
        assert sent(t.translate(identify({"logins": 5}))) == {"logins": 5}

    @pytest.mark.parametrize("operation", [{"add": ["x"]}, {"remove": ["x"]},
                                           {"add": ["x"], "remove": ["y"]},
                                           {"$add": [{"id": 1}]},
                                           {"$remove": [{"$identifier_key": "id",
                                                         "$identifier_value": 1}]}])
    def test_array_operations_are_always_sent(self, operation: dict[str, Any]) -> None:
        """Array operations are sent every time and make the stored array unknown."""
        t = tracker()
        t.translate(identify({"tags": ["x"]}))
        for _ in range(2):
            assert sent(t.translate(identify({"tags": operation}))) == {"tags": operation}
        assert sent(t.translate(identify({"tags": ["x"]}))) == {"tags": ["x"]}

    def test_update_with_merge_objects_is_always_sent(self) -> None:
        """$update goes out in an object with _merge_objects, every time; the array is
        then unknown."""
        t = tracker()
        pets = [{"id": 1, "age": 3}]
        t.translate(identify({"pets": pets}))
        update = {"$update": [{"$identifier_key": "id", "$identifier_value": 1,
                               "$new_object": {"age": 4}}]}
        for _ in range(2):
            objects = attributes(t.translate(identify({"pets": update})))
            assert objects == [{"external_id": "u1", "_merge_objects": True, "pets": update}]
        assert sent(t.translate(identify({"pets": pets}))) == {"pets": pets}

    def test_nested_object_merged_with_merge_objects_is_forgotten(self) -> None:
        """With _merge_objects a nested object is merged, not replaced: always sent, and
        the stored value is forgotten."""
        store = MemoryStore()
        t = tracker(store)
        t.translate(identify({"prefs": {"grind": "fine"}}))
        merge = UsersTrack(attributes=(UserAttributes(
            identifier=Identifier("external_id", "u1"), values={"prefs": {"grind": "fine"}},
            merge_objects=True),))
        translation = sb.Translation(requests=(merge,), origin="m")
        assert t.tracker.apply(translation) is translation
        assert "prefs" not in (known(store, "external_id:u1") or {})
        assert sent(t.translate(identify({"prefs": {"grind": "fine"}}))) == {
            "prefs": {"grind": "fine"}}

    def test_subscription_fields_are_always_sent(self) -> None:
        """Subscription fields change outside the pipeline and cost nothing: always sent."""
        t = tracker()
        traits = {"email_subscribe": "opted_in", "plan": "pro"}
        t.translate(identify(traits))
        again = t.translate(identify(traits))
        assert sent(again) == {"email_subscribe": "opted_in"}
        assert again.unchanged == ("plan",)

    def test_group_repeated_is_skipped(self) -> None:
        """A group call already sent is skipped: its only attribute is unchanged."""
        t = tracker()
        group = {"type": "group", "userId": "u1", "groupId": "g1", "timestamp": T}
        assert t.translate(group).status == "translated"
        assert t.translate(group).skipped == "no attribute changed"

    def test_context_traits_drop_but_the_event_stays(self) -> None:
        """Unchanged context traits leave the track event alone."""
        t = tracker(context_traits=True)
        event = {"type": "track", "userId": "u1", "event": "Played", "timestamp": T,
                 "context": {"traits": {"plan": "pro"}}}
        t.translate(event)
        again = t.translate(event)
        assert again.status == "translated"
        assert again.unchanged == ("plan",)
        (request,) = again.requests
        body = request.to_json()
        assert "attributes" not in body
        assert [e["name"] for e in body["events"]] == ["Played"]
        assert request.origins == {"events": (again.origin,)}

    def test_update_existing_only_writes_are_not_remembered(self) -> None:
        """Braze ignores an update-only write for a user it does not have, and still
        answers success: such writes are never taken as known."""
        t = tracker(update_existing_only=True)
        t.translate(identify({"plan": "pro"}))
        again = t.translate(identify({"plan": "pro"}))
        assert sent(again) == {"_update_existing_only": True, "plan": "pro"}

    def test_users_identified_by_email_are_not_tracked(self) -> None:
        """Which profile an email write reaches can change: always sent."""
        t = tracker(email_identifier=True)
        event = {"type": "identify", "traits": {"email": "a@b.co", "plan": "pro"},
                 "timestamp": T}
        t.translate(event)
        assert attributes(t.translate(event)) == [{"email": "a@b.co", "plan": "pro"}]

    def test_values_that_are_not_json_are_always_sent(self) -> None:
        """A custom rule emitting a non-JSON value: it is sent, never stored."""
        store = MemoryStore()
        t = tracker(store)
        marker = object()
        obj = UserAttributes(identifier=Identifier("external_id", "u1"),
                             values={"odd": marker, "big": 2**70})
        translation = sb.Translation(requests=(UsersTrack(attributes=(obj,)),), origin=1)
        for _ in range(2):
            assert t.tracker.apply(translation) is translation
        assert known(store, "external_id:u1") is None

    def test_two_objects_of_one_user_in_one_translation(self) -> None:
        """A custom rule writing an attribute twice in one request: the second write is
        compared with the first, not with the store (Braze applies both, in order)."""
        t = tracker()
        t.translate(identify({"plan": "free"}))
        u1 = Identifier("external_id", "u1")
        request = UsersTrack(attributes=(UserAttributes(identifier=u1, values={"plan": "pro"}),
                                         UserAttributes(identifier=u1, values={"plan": "free"})))
        translation = sb.Translation(requests=(request,), origin="m")
        assert t.tracker.apply(translation) is translation
        assert t.translate(identify({"plan": "free"})).skipped == "no attribute changed"

    def test_input_is_not_changed(self) -> None:
        """Dropping values builds new objects; the translation given is left as it was."""
        t = tracker()
        t.translate(identify({"plan": "pro"}))
        plain = sb.Translator(sb.Settings()).translate(identify({"plan": "pro", "n": 1}))
        before = attrs.asdict(plain)
        tracked = t.tracker.apply(plain)
        assert sent(tracked) == {"n": 1}
        assert attrs.asdict(plain) == before


class TestIdentifyMerge:
    """The /users/identify merge of an anonymous alias, once per pair."""

    @staticmethod
    def event(anonymous: str = "a1", **traits: Any) -> dict[str, Any]:
        return identify(traits or {"plan": "pro"}, anonymousId=anonymous)

    @staticmethod
    def endpoints(translation: sb.Translation) -> list[str]:
        return [r.endpoint for r in translation]

    def test_merge_is_sent_once_per_pair(self) -> None:
        """The same (anonymousId, userId) pair merges once; a new anonymousId merges."""
        t = tracker(anonymous_users="alias")
        assert self.endpoints(t.translate(self.event())) == ["/users/identify",
                                                             "/users/track"]
        again = t.translate(self.event())
        assert again.skipped == "no attribute changed"
        assert self.endpoints(t.translate(self.event("a2"))) == ["/users/identify",
                                                                 "/users/track"]

    def test_identify_with_a_new_merge_is_not_skipped(self) -> None:
        """A new merge is sent, and the user's values are sent again with it (the merge
        may fill attributes in from the anonymous profile)."""
        t = tracker(anonymous_users="alias")
        t.translate(self.event("a1"))
        merged = t.translate(self.event("a2"))
        assert merged.status == "translated"
        assert merged.unchanged == ()
        assert sent(merged) == {"plan": "pro"}

    def test_alias_call_repeated_is_skipped(self) -> None:
        """An alias call whose merge was sent before is skipped, with its own reason."""
        t = tracker(anonymous_users="alias")
        call = {"type": "alias", "previousId": "a1", "userId": "u1", "timestamp": T}
        assert self.endpoints(t.translate(call)) == ["/users/identify"]
        assert t.translate(call).skipped == "the alias was already merged into this user"

    def test_writes_through_a_merged_alias_are_never_dropped(self) -> None:
        """After its merge, an alias may write the user's profile: its values are always
        sent, and they make the user's values unknown."""
        t = tracker(anonymous_users="alias")
        t.translate(self.event("a1"))
        t.translate(self.event("a1"))  # the user's plan is known again
        anonymous = {"type": "identify", "anonymousId": "a1", "traits": {"plan": "free"},
                     "timestamp": T}
        for _ in range(2):
            assert sent(t.translate(anonymous)) == {"_update_existing_only": False,
                                                    "plan": "free"}
        assert sent(t.translate(self.event("a1"))) == {"plan": "pro"}

    def test_merge_waits_for_its_own_request(self) -> None:
        """The /users/track request acknowledged before its merge commits nothing (the
        merge may still fill values in); the merge, acknowledged, is remembered."""
        t = tracker(commit="acknowledge", anonymous_users="alias")
        first = t.translate(self.event())
        identify_request, track_request = first.requests
        assert isinstance(identify_request, UsersIdentify)
        ok = b'{"message": "success"}'
        assert t.acknowledge(interpret_response(track_request, 201, {}, ok),
                             request=track_request) == 0
        assert t.tracker.pending == 1  # the merge
        t.acknowledge(interpret_response(identify_request, 201, {}, ok),
                      request=identify_request)
        assert t.tracker.pending == 0
        again = t.translate(self.event())
        assert self.endpoints(again) == ["/users/track"]
        assert sent(again) == {"plan": "pro"}

    def test_delivered_settles_only_what_its_request_carried(self) -> None:
        """``delivered(request)`` (a 2xx without errors, as delivery tells it): the
        /users/track request, batched with another event of the same user, settles the
        other event and not the merge; the merge, delivered on its own, is remembered."""
        t = tracker(commit="acknowledge", anonymous_users="alias")
        first = t.translate(self.event())
        other = t.translate(identify({"seats": 3}, user="u1"))
        identify_request, track_request = first.requests
        (merged_track,) = sb.batch([track_request, *other.requests])
        assert merged_track.origins["attributes"] == (first.origin, other.origin)
        # Nothing committed (the merge in flight makes u1's values unknown), but only
        # the merge is left waiting.
        assert t.tracker.delivered(merged_track) == 0
        assert t.tracker.pending == 1
        assert t.tracker.delivered(identify_request) == 0
        assert t.tracker.pending == 0
        again = t.translate(self.event())
        assert self.endpoints(again) == ["/users/track"]
        assert sent(again) == {"plan": "pro"}

    def test_an_event_split_between_requests_is_settled_part_by_part(self) -> None:
        """Two attributes objects of one event (a rule of one's own) batched into two
        requests: each request's delivery commits its own object's values only."""
        def two_users(event: Any, scope: sb.Scope) -> list[Any]:
            return [UserAttributes(identifier=Identifier("external_id", user),
                                   values={"plan": event.traits["plan"]})
                    for user in ("u1", "u2")]
        rules = (sb.Rule("both", sb.on_type("identify"), two_users, final=True),
                 *sb.DEFAULT_RULES)
        t = Pipeline(sb.Settings(), MemoryStore(), "acknowledge", rules)
        first = t.translate(identify({"plan": "pro"}))
        requests = sb.batch(first.requests, max_objects=1)
        assert [r.origins["attributes"] for r in requests] == [(first.origin,)] * 2
        assert t.tracker.delivered(requests[1]) == 1
        assert t.tracker.pending == 1
        assert known(t.tracker.store, "external_id:u2") == {"plan": "pro"}
        assert known(t.tracker.store, "external_id:u1") is None
        assert t.tracker.delivered(requests[0]) == 1
        assert t.tracker.pending == 0
        assert t.translate(identify({"plan": "pro"})).skipped == "no attribute changed"

    def test_merge_is_remembered_once_delivered(self) -> None:
        """Acknowledging both requests commits the merge too."""
        t = tracker(commit="acknowledge", anonymous_users="alias")
        first = t.translate(self.event())
        for request in first:
            t.acknowledge(interpret_response(request, 201, {}, b"{}"), request=request)
        assert t.translate(self.event()).skipped == "no attribute changed"


#: ``Create Alias`` with ``create_alias`` on adds this alias to the user.
NEW_ALIAS = {"alias_name": "crm-7", "alias_label": "crm"}


class TestNewAlias:
    """``/users/alias/new`` (the ``create_alias`` row) joins the alias to the user: the
    user's values become unknown, and writes through the alias are never dropped."""

    def translator(self) -> Pipeline:
        return Pipeline(sb.Settings(create_alias=True), MemoryStore(), "on_translate")

    def test_a_new_alias_of_the_user_forgets_their_values(self) -> None:
        t = self.translator()
        t.translate(identify({"plan": "pro"}))
        assert t.translate(identify({"plan": "pro"})).skipped == "no attribute changed"
        created = t.translate({"type": "track", "userId": "u1", "event": "Create Alias",
                               "properties": NEW_ALIAS, "timestamp": T})
        assert [r.endpoint for r in created] == ["/users/alias/new"]
        assert sent(t.translate(identify({"plan": "pro"}))) == {"plan": "pro"}

    def test_acknowledged_with_its_request(self) -> None:
        t = Pipeline(sb.Settings(create_alias=True), MemoryStore(), "acknowledge")
        first = t.translate(identify({"plan": "pro"}))
        t.acknowledge([first.origin])
        created = t.translate({"type": "track", "userId": "u1", "event": "Create Alias",
                               "messageId": "c1", "properties": NEW_ALIAS,
                               "timestamp": T})
        (request,) = created.requests
        # While the alias request is pending, nothing of the user is compared or committed.
        second = t.translate(identify({"plan": "pro"}))
        assert sent(second) == {"plan": "pro"}
        assert t.acknowledge([second.origin]) == 0
        t.acknowledge(sb.interpret_response(request, 201, {}, b'{"message": "success"}'),
                      request=request)
        third = t.translate(identify({"plan": "pro"}))
        assert sent(third) == {"plan": "pro"}
        assert t.acknowledge([third.origin]) == 1
        assert t.translate(identify({"plan": "pro"})).skipped == "no attribute changed"


class TestForgetting:
    """Deleted and merged users are forgotten."""

    def test_deleted_user_is_sent_again(self) -> None:
        """After /users/delete, the user's values are unknown."""
        t = tracker()
        t.translate(identify({"plan": "pro"}))
        t.translate({"type": "delete", "userId": "u1", "timestamp": T})
        assert sent(t.translate(identify({"plan": "pro"}))) == {"plan": "pro"}

    def test_deletion_forgets_the_merges_too(self) -> None:
        """A deleted user's alias merges are sent again."""
        t = tracker(anonymous_users="alias")
        event = identify({"plan": "pro"}, anonymousId="a1")
        t.translate(event)
        t.translate({"type": "delete", "userId": "u1", "timestamp": T})
        assert [r.endpoint for r in t.translate(event)] == ["/users/identify",
                                                            "/users/track"]

    def test_users_merge_forgets_both_users(self) -> None:
        """After /users/merge, both users' values are unknown."""
        t = tracker(merge_on_alias=True)
        t.translate(identify({"plan": "pro"}, user="old"))
        t.translate(identify({"plan": "pro"}, user="new"))
        t.translate({"type": "alias", "previousId": "old", "userId": "new", "timestamp": T})
        assert sent(t.translate(identify({"plan": "pro"}, user="new"))) == {"plan": "pro"}
        assert sent(t.translate(identify({"plan": "pro"}, user="old"))) == {"plan": "pro"}


class _Outcome:
    """An outcome as interpret_response gives it: an origin and a status."""

    def __init__(self, origin: Any, status: str, errors: tuple[Any, ...] = ()) -> None:
        self.origin = origin
        self.status = status
        self.errors = errors


class TestAcknowledge:
    """Committing on acknowledgement, and at once."""

    def test_nothing_is_known_before_the_acknowledgement(self) -> None:
        """Until delivered, a value is sent again; once delivered, it is left out."""
        t = tracker(commit="acknowledge")
        first = t.translate(identify({"plan": "pro"}))
        second = t.translate(identify({"plan": "pro"}))
        assert sent(second) == {"plan": "pro"}
        # The first alone is not the latest write: committed with the second.
        assert t.acknowledge([first.origin]) == 0
        assert t.acknowledge([second.origin]) == 1
        assert t.translate(identify({"plan": "pro"})).skipped == "no attribute changed"

    def test_on_translate_commits_at_once(self) -> None:
        """on_translate remembers a value as soon as it is translated."""
        t = tracker(commit="on_translate")
        t.translate(identify({"plan": "pro"}))
        assert t.translate(identify({"plan": "pro"})).skipped == "no attribute changed"
        assert t.acknowledge(["anything"]) == 0

    def test_outcomes_of_interpret_response(self) -> None:
        """A 2xx commits; a 5xx, a 4xx and a 2xx with Braze's minor errors about the
        event do not."""
        for status, body, committed in ((201, b'{"message": "success"}', 1),
                                         (503, b"", 0), (400, b'{"message": "bad"}', 0),
                                         (201, b'{"message": "success", "errors": '
                                               b'[{"type": "bad value", "index": 0}]}', 0)):
            t = tracker(commit="acknowledge")
            (request,) = t.translate(identify({"plan": "pro"}))
            assert t.acknowledge(interpret_response(request, status, {}, body)) == committed
            again = t.translate(identify({"plan": "pro"}))
            assert (again.skipped is not None) == bool(committed), status

    def test_a_retry_may_have_landed(self) -> None:
        """After a 5xx the stored value is unknown (Braze may have done part of the
        work); the retried request, once delivered, commits."""
        t = tracker(commit="acknowledge")
        t.acknowledge([t.translate(identify({"plan": "free"})).origin])
        pending = t.translate(identify({"plan": "pro"}))
        t.acknowledge([_Outcome(pending.origin, "retry")])
        assert sent(t.translate(identify({"plan": "free"}))) == {"plan": "free"}
        t2 = tracker(commit="acknowledge")
        first = t2.translate(identify({"plan": "pro"}))
        t2.acknowledge([_Outcome(first.origin, "retry")])
        t2.acknowledge([_Outcome(first.origin, "delivered")])
        assert t2.translate(identify({"plan": "pro"})).skipped == "no attribute changed"

    def test_no_comparison_while_a_write_is_in_flight(self) -> None:
        """Braze has "free"; "pro" is in flight: "free" is sent again, for "pro" may
        land after the comparison."""
        t = tracker(commit="acknowledge")
        t.acknowledge([t.translate(identify({"plan": "free", "seats": 1})).origin])
        t.translate(identify({"plan": "pro", "seats": 1}))
        again = t.translate(identify({"plan": "free", "seats": 1}))
        assert sent(again) == {"plan": "free"}
        assert again.unchanged == ("seats",)

    def test_acknowledged_in_order(self) -> None:
        """Two writes acknowledged in order: the latest is committed."""
        t = tracker(commit="acknowledge")
        one = t.translate(identify({"plan": "free"}))
        two = t.translate(identify({"plan": "pro"}))
        assert t.acknowledge([one.origin]) == 0
        assert t.acknowledge([two.origin]) == 1
        assert t.translate(identify({"plan": "pro"})).skipped == "no attribute changed"

    def test_acknowledged_out_of_order_forgets(self) -> None:
        """The later write acknowledged first, then the earlier: which one Braze applied
        last is not known, so the attribute is forgotten."""
        store = MemoryStore()
        t = tracker(store, commit="acknowledge")
        one = t.translate(identify({"plan": "free"}))
        two = t.translate(identify({"plan": "pro"}))
        assert t.acknowledge([two.origin]) == 0  # "free" still pending: not alone
        assert t.acknowledge([one.origin]) == 0
        assert "plan" not in (known(store, "external_id:u1") or {})
        assert sent(t.translate(identify({"plan": "pro"}))) == {"plan": "pro"}

    def test_other_attributes_commit_out_of_order(self) -> None:
        """Out-of-order acknowledgements only cost the attributes both writes touched."""
        t = tracker(commit="acknowledge")
        one = t.translate(identify({"plan": "free", "a": 1}))
        two = t.translate(identify({"plan": "pro", "b": 2}))
        t.acknowledge([two.origin])
        t.acknowledge([one.origin])
        again = t.translate(identify({"plan": "pro", "a": 1, "b": 2}))
        assert sent(again) == {"plan": "pro"}
        assert set(again.unchanged) == {"a", "b"}

    def test_a_retried_write_may_land_after_a_later_one(self) -> None:
        """A write answered "retry" is sent again, and lands, after a later write was
        sent: the later one, delivered, is not committed (Braze may hold the earlier)."""
        t = tracker(commit="acknowledge")
        one = t.translate(identify({"plan": "free"}))
        t.acknowledge([_Outcome(one.origin, "retry")])
        two = t.translate(identify({"plan": "pro"}))
        assert t.acknowledge([_Outcome(one.origin, "delivered")]) == 0
        assert t.acknowledge([_Outcome(two.origin, "delivered")]) == 0
        assert sent(t.translate(identify({"plan": "pro"}))) == {"plan": "pro"}

    def test_a_retried_write_settled_before_the_next_is_sent(self) -> None:
        """Once a retried write is settled, the writes translated after it commit."""
        t = tracker(commit="acknowledge")
        one = t.translate(identify({"plan": "free"}))
        t.acknowledge([_Outcome(one.origin, "retry")])
        t.acknowledge([_Outcome(one.origin, "delivered")])
        two = t.translate(identify({"plan": "pro"}))
        assert t.acknowledge([two.origin]) == 1

    def test_a_deletion_overtakes_earlier_writes(self) -> None:
        """A write still pending when its user is deleted is not committed, whatever the
        order of the acknowledgements."""
        for first in (0, 1):
            t = tracker(commit="acknowledge")
            write = t.translate(identify({"plan": "pro"}))
            deletion = t.translate({"type": "delete", "userId": "u1", "timestamp": T,
                                    "messageId": f"d{first}"})
            order = [write, deletion] if first == 0 else [deletion, write]
            assert sum(t.acknowledge([x.origin]) for x in order) == 0
            assert sent(t.translate(identify({"plan": "pro"}))) == {"plan": "pro"}

    def test_nothing_commits_while_a_deletion_is_pending(self) -> None:
        """Writes after a deletion wait for it: acknowledged first, they commit
        nothing; acknowledged after it, they commit."""
        t = tracker(commit="acknowledge")
        deletion = t.translate({"type": "delete", "userId": "u1", "timestamp": T,
                                "messageId": "d"})
        write = t.translate(identify({"plan": "pro"}))
        assert t.acknowledge([write.origin]) == 0
        assert t.acknowledge([deletion.origin]) == 0
        write = t.translate(identify({"plan": "pro"}))
        deletion = t.translate({"type": "delete", "userId": "u2", "timestamp": T,
                                "messageId": "d2"})
        assert t.acknowledge([write.origin]) == 1  # another user's deletion

    def test_an_operation_in_flight_overtakes_an_earlier_write(self) -> None:
        """A value written, then incremented before its acknowledgement: the value is
        not committed (Braze has the incremented one)."""
        t = tracker(commit="acknowledge")
        one = t.translate(identify({"score": 5}))
        t.translate(identify({"score": {"inc": 1}}))
        assert t.acknowledge([one.origin]) == 0
        assert sent(t.translate(identify({"score": 5}))) == {"score": 5}

    def test_acknowledging_twice_or_unknown_origins_is_harmless(self) -> None:
        """Acknowledging an origin again, or one never translated, commits nothing."""
        t = tracker(commit="acknowledge")
        first = t.translate(identify({"plan": "pro"}))
        assert t.acknowledge([first.origin, "never-seen", 42]) == 1
        assert t.acknowledge([first.origin]) == 0
        assert t.tracker.pending == 0

    def test_events_without_a_message_id(self) -> None:
        """Events named by their position in the stream are acknowledged by it."""
        t = tracker(commit="acknowledge")
        events = [{"type": "identify", "userId": f"u{n}", "traits": {"plan": "pro"},
                   "timestamp": T} for n in range(3)]
        origins = [x.origin for x in t.translate_many(events)]
        assert origins == [0, 1, 2]
        assert t.acknowledge(origins) == 3
        assert all(x.skipped for x in t.translate_many(events))

    def test_pending_writes_are_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Beyond MAX_PENDING, the oldest pending writes are forgotten: acknowledging
        them later commits nothing, and their attributes are unknown."""
        monkeypatch.setattr(tracking.tracker, "MAX_PENDING", 2)
        store = MemoryStore()
        t = tracker(store, commit="acknowledge")
        t.acknowledge([t.translate(identify({"plan": "free"}, user="u0")).origin])
        assert known(store, "external_id:u0") == {"plan": "free"}
        oldest = t.translate(identify({"plan": "pro"}, user="u0"))
        for n in range(1, 3):
            t.translate(identify({"plan": "pro"}, user=f"u{n}"))
        assert t.tracker.pending == 2
        assert known(store, "external_id:u0") is None  # "pro" may have landed
        assert t.acknowledge([oldest.origin]) == 0
        assert sent(t.translate(identify({"plan": "free"}, user="u0"))) == {"plan": "free"}

    def test_a_request_class_without_declaration_is_an_error(self) -> None:
        """A request the tracker cannot read never passes silently: trusting values an
        unknown endpoint may have changed would drop later writes as unchanged."""

        @attrs.frozen(kw_only=True, slots=False)
        class Odd:
            endpoint = "/users/odd"
            origins: Any = attrs.field(factory=dict)

        translation = sb.Translation(requests=(Odd(),), origin="m1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="does not know Odd"):
            Tracker(MemoryStore()).apply(translation)

    def test_bad_arguments(self) -> None:
        """The store must be a StateStore; commit one of the two modes."""
        with pytest.raises(TypeError, match="StateStore"):
            Tracker({})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="commit"):
            Tracker(MemoryStore(), commit="later")  # type: ignore[arg-type]


class TestExplain:
    """explain shows what change tracking leaves out, and remembers nothing."""

    def test_explain_shows_unchanged_and_remembers_nothing(self) -> None:
        """The unchanged values are listed; explaining twice changes nothing."""
        store = MemoryStore()
        t = tracker(store)
        t.translate(identify({"plan": "pro", "seats": 2}))
        before = dict(known(store, "external_id:u1") or {})
        event = identify({"plan": "team", "seats": 2})
        for _ in range(2):
            explanation = t.explain(event)
            assert explanation.translation.unchanged == ("seats",)
            assert "unchanged, not sent: seats" in str(explanation)
        assert known(store, "external_id:u1") == before

    def test_explain_of_a_new_merge(self) -> None:
        """explain takes a new merge into account without remembering it."""
        t = tracker(anonymous_users="alias")
        t.translate(identify({"plan": "pro"}, anonymousId="a1"))
        text = str(t.explain(identify({"plan": "pro"}, anonymousId="a2")))
        assert "unchanged" not in text
        assert "request /users/identify" in text
        assert [r.endpoint for r in t.translate(identify({"plan": "pro"},
                                                         anonymousId="a2"))] == [
            "/users/identify", "/users/track"]


class TestMemoryStore:
    """Bounded, least recently used users forgotten first."""

    def test_eviction_is_least_recently_used(self) -> None:
        """Reading a user keeps them; the user unused longest goes."""
        store = MemoryStore(max_users=2)
        store.put("a", rec(x=1))
        store.put("b", rec(x=2))
        assert store.get("a") == rec(x=1)
        store.put("c", rec(x=3))
        assert "b" not in store
        assert store.get("a") == rec(x=1)
        assert store.get("c") == rec(x=3)
        assert len(store) == 2

    def test_eviction_only_costs_a_resend(self) -> None:
        """A translator over a tiny store sends an evicted user's values again."""
        t = tracker(MemoryStore(max_users=1))
        t.translate(identify({"plan": "pro"}, user="u1"))
        t.translate(identify({"plan": "pro"}, user="u2"))
        assert sent(t.translate(identify({"plan": "pro"}, user="u1"))) == {"plan": "pro"}
        assert t.translate(identify({"plan": "pro"}, user="u1")).skipped

    def test_delete_and_size_check(self) -> None:
        """delete forgets; max_users must be a whole number >= 1."""
        store = MemoryStore()
        store.put("a", rec(x=1))
        store.delete("a")
        store.delete("a")
        assert store.get("a") is None
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="max_users"):
                MemoryStore(max_users=bad)  # type: ignore[arg-type]

    def test_implements_the_protocol(self) -> None:
        """Both stores are StateStores."""
        assert isinstance(MemoryStore(), StateStore)
        assert not isinstance({}, StateStore)


class TestSQLiteStore:
    """A file that survives restarts, batches its writes, and lets readers in."""

    def test_survives_a_restart(self, tmp_path: Path) -> None:
        """Values committed before closing are there after reopening."""
        path = tmp_path / "state.db"
        with SQLiteStore(path) as store:
            t = tracker(store)
            t.translate(identify({"plan": "pro", "prefs": {"a": [1, 2.5], "b": False}}))
        with SQLiteStore(path) as store:
            assert known(store, "external_id:u1") == {"plan": "pro",
                                                   "prefs": {"a": [1, 2.5], "b": False}}
            again = tracker(store).translate(identify({"plan": "pro",
                                                       "prefs": {"b": False, "a": [1.0, 2.5]}}))
            assert again.skipped == "no attribute changed"

    def test_acknowledged_values_survive_a_restart(self, tmp_path: Path) -> None:
        """In acknowledge mode, what was delivered before a restart is known after it."""
        path = tmp_path / "state.db"
        with SQLiteStore(path) as store:
            t = tracker(store, commit="acknowledge")
            t.acknowledge([t.translate(identify({"plan": "pro"})).origin])
            t.translate(identify({"seats": 3}))  # never acknowledged
        with SQLiteStore(path) as store:
            again = tracker(store, commit="acknowledge").translate(
                identify({"plan": "pro", "seats": 3}))
            assert sent(again) == {"seats": 3}

    def test_records_are_compact_json(self, tmp_path: Path) -> None:
        """One row per user: the key and the compact JSON of the record."""
        path = tmp_path / "state.db"
        with SQLiteStore(path) as store:
            store.put("external_id:u1", UserRecord(values={"plan": "pro", "n": [1, 2]}))
            store.put("external_id:u2", UserRecord(aliases=frozenset({'user_alias:["l","a"]'})))
        db = sqlite3.connect(path)
        assert db.execute("SELECT key, data FROM users ORDER BY key").fetchall() == [
            ("external_id:u1", '{"values":{"plan":"pro","n":[1,2]}}'),
            ("external_id:u2", '{"aliases":["user_alias:[\\"l\\",\\"a\\"]"]}')]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()

    def test_writes_are_committed_in_batches(self, tmp_path: Path) -> None:
        """A reader sees writes once commit_every of them are made, or on flush."""
        path = tmp_path / "state.db"
        with SQLiteStore(path, commit_every=3) as writer:
            reader = SQLiteStore(path, readonly=True)
            writer.put("a", rec(x=1))
            writer.put("b", rec(x=2))
            assert reader.get("a") is None
            writer.put("c", rec(x=3))
            assert reader.get("a") == rec(x=1)
            writer.delete("a")
            assert reader.get("a") == rec(x=1)
            writer.flush()
            assert reader.get("a") is None
            assert reader.get("c") == rec(x=3)
            reader.close()

    def test_readers_while_a_writer_holds_a_transaction(self, tmp_path: Path) -> None:
        """WAL: a reader reads the last commit while the writer has uncommitted writes
        in the file."""
        path = tmp_path / "state.db"
        writer = SQLiteStore(path, commit_every=None)
        writer.put("a", rec(x=1))
        writer.flush()
        for n in range(2500):  # more than a write batch: written, not committed
            writer.put(f"u{n}", rec(x=n))
        with SQLiteStore(path, readonly=True) as reader:
            assert reader.get("a") == rec(x=1)
            assert reader.get("u0") is None
            assert len(reader) == 1
        assert writer.get("u0") == rec(x=0)
        writer.close()
        with SQLiteStore(path, readonly=True) as reader:
            assert len(reader) == 2501

    def test_rollback_and_the_context_manager(self, tmp_path: Path) -> None:
        """rollback drops the uncommitted writes; a block that raises rolls back."""
        path = tmp_path / "state.db"
        with SQLiteStore(path, commit_every=None) as store:
            store.put("kept", rec(x=1))
            store.flush()
            store.put("dropped", rec(x=2))
            store.rollback()
            assert store.get("dropped") is None

        def fail() -> None:
            with SQLiteStore(path, commit_every=None) as store:
                store.put("also dropped", rec(x=3))
                raise RuntimeError

        with pytest.raises(RuntimeError):
            fail()
        with SQLiteStore(path) as store:
            assert list(store) == ["kept"]

    def test_without_a_read_cache(self, tmp_path: Path) -> None:
        """cache_size=0 reads every record from the file (its own writes included)."""
        with SQLiteStore(tmp_path / "s.db", cache_size=0) as store:
            t = tracker(store)
            t.translate(identify({"plan": "pro"}))
            assert t.translate(identify({"plan": "pro"})).skipped

    def test_read_only(self, tmp_path: Path) -> None:
        """A read-only store refuses writes; a missing file is an error."""
        path = tmp_path / "state.db"
        with pytest.raises(FileNotFoundError):
            SQLiteStore(path, readonly=True)
        SQLiteStore(path).close()
        with SQLiteStore(path, readonly=True) as reader, pytest.raises(PermissionError):
            reader.put("a", {})

    def test_refuses_other_files(self, tmp_path: Path) -> None:
        """Another SQLite database, or a newer layout, is refused by name."""
        other = tmp_path / "other.db"
        db = sqlite3.connect(other)
        db.execute("CREATE TABLE users (id INTEGER)")
        db.commit()
        db.close()
        before = other.read_bytes()
        with pytest.raises(ValueError, match="not a segment-braze state file"):
            SQLiteStore(other)
        assert other.read_bytes() == before  # not even switched to WAL
        newer = tmp_path / "newer.db"
        SQLiteStore(newer).close()
        db = sqlite3.connect(newer)
        db.execute("PRAGMA user_version=99")
        db.commit()
        db.close()
        with pytest.raises(ValueError, match="newer"):
            SQLiteStore(newer)

    def test_close_twice_and_bad_options(self, tmp_path: Path) -> None:
        """Closing twice is harmless; sizes must be whole numbers >= 0."""
        store = SQLiteStore(tmp_path / "s.db")
        store.close()
        store.close()
        with pytest.raises(ValueError, match="cache_size"):
            SQLiteStore(tmp_path / "s.db", cache_size=-1)
        assert "s.db" in repr(store)


# -- properties --------------------------------------------------------------------------

NAMES = ("plan", "plan", "tags")

# Few values, so that streams often write a value again, with its look-alikes (1 and 1.0
# and true, key orders, null).
plain_values = st.sampled_from([None, 1, 1.0, True, "x", {"k": 1, "j": "v"},
                                {"j": "v", "k": 1.0}])
operations = st.one_of(
    st.builds(lambda n: {"inc": n}, st.integers(-2, 3)),
    st.builds(lambda xs: {"add": xs}, st.lists(st.sampled_from(["x", "y"]), min_size=1,
                                               max_size=2)),
    st.builds(lambda xs: {"remove": xs}, st.lists(st.sampled_from(["x", "y"]), min_size=1,
                                                  max_size=2)),
    st.builds(lambda n: {"$add": [{"id": n, "v": 0}]}, st.integers(1, 2)),
    st.builds(lambda n, v: {"$update": [{"$identifier_key": "id", "$identifier_value": n,
                                         "$new_object": {"v": v}}]},
              st.integers(1, 2), st.integers(0, 2)),
)


def _weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as often as its weight (``one_of`` merges equal
    branches and flattens nested ones, so it cannot weigh)."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(
        lambda strategy: strategy)


def _streams(pool: list[Any]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Streams whose plain values come from ``pool``: a few values, written again and
    again, in between each other (A, B, A: the case where a stale store loses A)."""
    traits = st.dictionaries(st.sampled_from(NAMES),
                             _weighted((3, st.sampled_from(pool)), (1, operations)),
                             min_size=1, max_size=2)
    return st.lists(st.tuples(st.sampled_from(["u1", "u1", "u2"]),
                              _weighted((6, traits), (1, st.none()))),
                    min_size=1, max_size=14)


#: (user, traits) is an identify; (user, None) deletes the user.
streams = st.lists(plain_values, min_size=2, max_size=3,
                   unique_by=lambda value: _canonical(value)).flatmap(_streams)


def _number(value: Any) -> float:
    return value if type(value) in (int, float) else 0


def _apply(profiles: dict[str, dict[str, Any]], obj: dict[str, Any]) -> None:
    """How Braze applies one attributes object, as far as these tests need."""
    profile = profiles.setdefault(obj["external_id"], {})
    merge = obj.get("_merge_objects") is True
    for name, value in obj.items():
        if name in ("external_id", "_merge_objects", "_update_existing_only"):
            continue
        current = profile.get(name)
        if isinstance(value, dict) and value and set(value) <= tracking.OPERATIONS:
            items = list(current) if isinstance(current, list) else []
            if "inc" in value:
                profile[name] = _number(current) + value["inc"]
                continue
            items += value.get("add", []) + value.get("$add", [])
            items = [i for i in items if i not in value.get("remove", [])]
            for change in value.get("$update", []):
                for index, item in enumerate(items):
                    if (isinstance(item, dict)
                            and item.get(change["$identifier_key"])
                            == change["$identifier_value"]):
                        items[index] = {**item, **change["$new_object"]}
            profile[name] = items
        elif merge and isinstance(value, dict) and isinstance(current, dict):
            profile[name] = {**current, **value}
        else:
            profile[name] = value


def _canonical(value: Any) -> Any:
    """A value as Braze holds it: numbers as numbers (1 == 1.0), booleans apart."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, list | tuple):
        return ("array", tuple(_canonical(v) for v in value))
    return ("object", tuple(sorted((k, _canonical(v)) for k, v in value.items())))


def _send(profiles: dict[str, dict[str, Any]], translation: sb.Translation) -> None:
    """Braze applies a translation's requests."""
    for request in translation:
        if isinstance(request, sb.UsersDelete):
            for user in request.external_ids:
                profiles.pop(user, None)
        for obj in request.to_json().get("attributes", ()):
            _apply(profiles, obj)


def _replay(translations: list[sb.Translation]) -> dict[str, Any]:
    profiles: dict[str, dict[str, Any]] = {}
    for translation in translations:
        _send(profiles, translation)
    return {user: {k: _canonical(v) for k, v in p.items()} for user, p in profiles.items()}


def _events(stream: list[tuple[str, dict[str, Any] | None]],
            start: int = 0) -> Iterator[dict[str, Any]]:
    for n, (user, values) in enumerate(stream, start):
        if values is None:
            yield {"type": "delete", "userId": user, "timestamp": T, "messageId": f"m{n}"}
        else:
            yield {"type": "identify", "userId": user, "traits": values, "timestamp": T,
                   "messageId": f"m{n}"}


def _all_attributes(stream: list[tuple[str, dict[str, Any] | None]]) -> dict[str, Any]:
    return _replay(list(sb.Translator(sb.Settings()).translate_many(_events(stream))))


@settings(max_examples=300, deadline=None)
@given(stream=streams, commit=st.sampled_from(["on_translate", "acknowledge"]))
def test_sent_attributes_give_the_same_profiles(stream: list[tuple[str, dict[str, Any] | None]],
                                                commit: str) -> None:
    """Replaying what is sent over empty profiles gives the profiles that replaying
    every attribute gives, when every request is acknowledged as it is delivered."""
    t = tracker(commit=commit)
    sent_translations = []
    for event in _events(stream):
        translation = t.translate(event)
        sent_translations.append(translation)
        t.acknowledge([translation.origin])
    assert _replay(sent_translations) == _all_attributes(stream)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, data=st.data())
def test_nothing_is_lost_when_acknowledgements_are_late_or_missing(
        stream: list[tuple[str, dict[str, Any] | None]], data: st.DataObject) -> None:
    """Every request reaches Braze in order, but its acknowledgement comes at once,
    late, out of order, after a "retry" answer, or never. Replaying what is sent gives
    the profiles that replaying every attribute gives; and so it does when the stream
    comes again, once every acknowledgement that will come has come."""
    t = tracker(commit="acknowledge")
    sent_translations = []
    waiting: list[Any] = []
    for event in _events(stream):
        translation = t.translate(event)
        sent_translations.append(translation)
        fate = data.draw(st.sampled_from(["now", "later", "retry", "never"]))
        if fate == "now":
            t.acknowledge([translation.origin])
        elif fate == "retry":  # sent again at once, before anything else
            t.acknowledge([_Outcome(translation.origin, "retry")])
            if data.draw(st.booleans()):
                t.acknowledge([_Outcome(translation.origin, "delivered")])
            else:
                waiting.append(translation.origin)
        elif fate == "later":
            waiting.append(translation.origin)
        if waiting and data.draw(st.booleans()):
            late = waiting.pop(data.draw(st.integers(0, len(waiting) - 1)))
            t.acknowledge([_Outcome(late, "delivered")])
    assert _replay(sent_translations) == _all_attributes(stream)
    for late in data.draw(st.permutations(waiting)):
        t.acknowledge([late])
    for event in _events(stream, start=len(stream)):
        translation = t.translate(event)
        sent_translations.append(translation)
        t.acknowledge([translation.origin])
    assert _replay(sent_translations) == _all_attributes(stream + stream)


def _aliased(stream: list[tuple[str, dict[str, Any] | None]],
             data: st.DataObject) -> list[dict[str, Any]]:
    """The stream's events, some identifies also carrying an anonymous id: with
    ``anonymous_users="alias"`` such an event's entries travel in two requests (its
    attributes, and the ``/users/identify`` merge of the alias into the user)."""
    out = []
    for event in _events(stream):
        if event["type"] == "identify" and data.draw(st.booleans()):
            event = {**event, "anonymousId": f"a-{event['userId']}"}
        out.append(event)
    return out


def _apply_requests(profiles: dict[str, dict[str, Any]], requests: list[Any]) -> None:
    """Braze applies requests, in order (the model knows deletions and attributes of
    external ids; an alias merge into a user who already exists changes none of them)."""
    for request in requests:
        if isinstance(request, sb.UsersDelete):
            for user in request.external_ids:
                profiles.pop(user, None)
        for obj in request.to_json().get("attributes", ()):
            if "external_id" in obj:
                _apply(profiles, obj)


def _canonical_profiles(profiles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {user: {k: _canonical(v) for k, v in p.items()} for user, p in profiles.items()}


def _acknowledge(t: Pipeline, request: Any, how: str) -> int:
    """Tell the tracker what became of one request, as delivery does."""
    if how == "delivered":  # a 2xx without errors
        return t.tracker.delivered(request)
    status = {"outcomes": 201, "retry": 503, "failed": 400}[how]
    return t.acknowledge(interpret_response(request, status, {}, b"{}"), request=request)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, data=st.data())
def test_nothing_is_lost_when_batched_requests_are_acknowledged_late_or_never(
        stream: list[tuple[str, dict[str, Any] | None]], data: st.DataObject) -> None:
    """As delivery acknowledges: the translations of a few events at a time are batched
    (an event's entries may travel in two requests), every request reaches Braze in
    order, and each is acknowledged with its request, at once (``delivered``, or its
    outcomes), late, out of order, after a "retry" answer, or never. Replaying what was
    sent gives the profiles replaying every attribute gives; and so it does when the
    stream comes again, once every acknowledgement that will come has come."""
    t = tracker(commit="acknowledge", anonymous_users="alias")
    events = _aliased(stream, data)
    profiles: dict[str, dict[str, Any]] = {}
    waiting: list[Any] = []

    def send(batch_: list[Any], *, at_once: bool) -> None:
        _apply_requests(profiles, batch_)
        for request in batch_:
            fate = "now" if at_once else data.draw(
                st.sampled_from(["now", "outcomes", "later", "retry", "never"]))
            if fate in ("now", "outcomes"):
                _acknowledge(t, request, "delivered" if fate == "now" else "outcomes")
            elif fate == "retry":  # sent again at once, before anything else
                _acknowledge(t, request, "retry")
                if data.draw(st.booleans()):
                    _acknowledge(t, request, "delivered")
                else:
                    waiting.append(request)
            elif fate == "later":
                waiting.append(request)
            if waiting and not at_once and data.draw(st.booleans()):
                late = waiting.pop(data.draw(st.integers(0, len(waiting) - 1)))
                _acknowledge(t, late, data.draw(st.sampled_from(["delivered", "outcomes"])))

    def run(events_: list[dict[str, Any]], *, at_once: bool) -> None:
        position = 0
        while position < len(events_):
            size = data.draw(st.integers(1, 4))
            translated = [r for e in events_[position:position + size] for r in t.translate(e)]
            position += size
            send(list(sb.batch(translated, max_total=data.draw(st.integers(1, 3)))),
                 at_once=at_once)

    run(events, at_once=False)
    assert _canonical_profiles(profiles) == _all_attributes(stream)
    for late in data.draw(st.permutations(waiting)):
        _acknowledge(t, late, "delivered")
    run([{**e, "messageId": f"again-{e['messageId']}"} for e in events], at_once=True)
    assert _canonical_profiles(profiles) == _all_attributes(stream + stream)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, data=st.data())
def test_delivered_is_acknowledging_every_origin_delivered(
        stream: list[tuple[str, dict[str, Any] | None]], data: st.DataObject) -> None:
    """``Tracker.delivered(request)`` does what acknowledging a delivered outcome for
    each of the request's events does: the same commits, the same store, whatever the
    batching and the order of the answers."""
    events = _aliased(stream, data)
    fast = tracker(commit="acknowledge", anonymous_users="alias")
    slow = tracker(commit="acknowledge", anonymous_users="alias")
    pending: list[tuple[Any, Any]] = []
    position = 0
    while position < len(events):
        size = data.draw(st.integers(1, 5))
        chunk = events[position:position + size]
        position += size
        max_total = data.draw(st.integers(1, 3))
        pairs = zip(sb.batch([r for e in chunk for r in fast.translate(e)], max_total=max_total),
                    sb.batch([r for e in chunk for r in slow.translate(e)], max_total=max_total),
                    strict=True)
        pending.extend(pairs)
        for _ in range(data.draw(st.integers(0, len(pending)))):
            a, b = pending.pop(data.draw(st.integers(0, len(pending) - 1)))
            assert a == b
            assert fast.tracker.delivered(a) == slow.acknowledge(
                interpret_response(b, 201, {}, b'{"message": "success"}'), request=b)
    for user in ("u1", "u2"):
        key = user_key(Identifier("external_id", user))
        assert fast.tracker.store.get(key) == slow.tracker.store.get(key)
    assert fast.tracker.pending == slow.tracker.pending


def _touched(translation: sb.Translation) -> set[tuple[str, str]]:
    """The (user, attribute) pairs a translation's requests write; (user, "*") for a
    deletion."""
    touched = {(user, "*") for request in translation
               if isinstance(request, sb.UsersDelete) for user in request.external_ids}
    return touched | {(obj["external_id"], name) for obj in attributes(translation)
                      for name in obj if name not in ("external_id", "_merge_objects")}


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, data=st.data())
def test_the_store_never_holds_a_value_braze_may_not_have(
        stream: list[tuple[str, dict[str, Any] | None]], data: st.DataObject) -> None:
    """Requests answered "retry" reach Braze only when sent again, later, after requests
    translated after them; acknowledgements come late, out of order, or never. At every
    step, every value in the store is the one Braze has, for every attribute that no
    request still unacknowledged writes (a value dropped against any other would be
    lost)."""
    store = MemoryStore()
    t = tracker(store, commit="acknowledge")
    profiles: dict[str, dict[str, Any]] = {}
    unacknowledged: dict[Any, set[tuple[str, str]]] = {}
    retrying: list[sb.Translation] = []  # not applied yet

    def acknowledge(translation: sb.Translation, status: str = "delivered") -> None:
        t.acknowledge([_Outcome(translation.origin, status)])
        if status != "retry":
            unacknowledged.pop(translation.origin, None)

    def check() -> None:
        busy = set().union(*unacknowledged.values())
        for user in ("u1", "u2"):
            record = known(store, user_key(Identifier("external_id", user))) or {}
            if (user, "*") in busy:
                continue
            for name, value in record.items():
                if (user, name) not in busy:
                    assert name in profiles.get(user, {}), (user, name)
                    assert _canonical(value) == _canonical(profiles[user][name]), (user, name)

    waiting: list[sb.Translation] = []
    for event in _events(stream):
        translation = t.translate(event)
        unacknowledged[translation.origin] = _touched(translation)
        fate = data.draw(st.sampled_from(["now", "later", "retry", "never"]))
        if fate == "retry":
            acknowledge(translation, "retry")
            retrying.append(translation)
        else:
            _send(profiles, translation)
            if fate == "now":
                acknowledge(translation)
            elif fate == "later":
                waiting.append(translation)
        check()
        if (waiting or retrying) and data.draw(st.booleans()):
            late = data.draw(st.sampled_from(waiting + retrying))
            if late in retrying:  # sent again now: it lands after later requests
                retrying.remove(late)
                _send(profiles, late)
                check()
            else:
                waiting.remove(late)
            acknowledge(late)
            check()
    for late in data.draw(st.permutations(waiting + retrying)):
        if late in retrying:
            _send(profiles, late)
            check()
        acknowledge(late)
        check()


@settings(max_examples=60, deadline=None)
@given(stream=streams)
def test_sqlite_store_behaves_like_the_memory_store(
        tmp_path_factory: pytest.TempPathFactory,
        stream: list[tuple[str, dict[str, Any] | None]]) -> None:
    """Through a file (read back after every few writes) the same values are sent."""
    path = tmp_path_factory.mktemp("state") / "state.db"
    memory = tracker()
    with SQLiteStore(path, commit_every=2, cache_size=1) as store:
        on_file = tracker(store)
        for event in _events(stream):
            expected = memory.translate(event)
            got = on_file.translate(event)
            assert [r.to_json() for r in got] == [r.to_json() for r in expected]
            assert got.unchanged == expected.unchanged


# -- the benchmark -----------------------------------------------------------------------


def _load_benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_state",
                                                  ROOT / "benchmarks" / "bench_state.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_and_reports(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The benchmark runs on a tiny stream and prints the savings and every ratio."""
    bench = _load_benchmark(monkeypatch)
    stream = list(bench.reidentify_stream(400))
    users = {e["userId"] for e in stream if e["type"] == "identify"}
    assert len(users) < sum(e["type"] == "identify" for e in stream)  # users come back
    assert bench.main(["--events", "400", "--repeat", "1"]) == 0
    report = capsys.readouterr().out
    for line in ("attribute writes saved", "MemoryStore / no store",
                 "SQLiteStore / no store"):
        assert line in report


# -- threads and file layouts ----------------------------------------------------------


def _hammer(store: StateStore, threads: int = 8, rounds: int = 300) -> None:
    """Several threads reading, writing and deleting their own and shared users at once;
    afterwards every thread's own users hold exactly its last writes."""
    import threading

    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(rounds):
                store.put(f"own:{n}:{i % 7}", rec(n=n, i=i))
                store.put("shared", rec(by=n))
                found = store.get(f"own:{n}:{i % 7}")
                assert found == rec(n=n, i=i), found
                if i % 5 == 0:
                    store.delete(f"own:{n}:{(i + 3) % 7}")
                store.get("shared")
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    store.flush()
    for n in range(threads):
        for slot in range(7):
            last = max(i for i in range(rounds) if i % 7 == slot)
            deleted = [i for i in range(rounds) if i % 5 == 0 and (i + 3) % 7 == slot]
            expected = None if deleted and max(deleted) > last else rec(n=n, i=last)
            assert store.get(f"own:{n}:{slot}") == expected
    assert store.get("shared") in [rec(by=n) for n in range(threads)]


class TestThreads:
    """The stores and the tracker are shared by the delivery code's threads."""

    def test_memory_store(self) -> None:
        _hammer(MemoryStore())

    def test_sqlite_store(self, tmp_path: Path) -> None:
        with SQLiteStore(tmp_path / "state.db", commit_every=50, cache_size=3) as store:
            _hammer(store)
        with SQLiteStore(tmp_path / "state.db", readonly=True) as store:
            assert store.get("own:0:0") is not None

    def test_sqlite_store_used_from_another_thread(self, tmp_path: Path) -> None:
        """Opened in one thread, used in another (it failed there before)."""
        import threading

        store = SQLiteStore(tmp_path / "state.db")
        result: list[Any] = []
        thread = threading.Thread(target=lambda: (store.put("u", rec(x=1)),
                                                  result.append(store.get("u"))))
        thread.start()
        thread.join()
        assert result == [rec(x=1)]
        store.close()

    def test_tracker_acknowledged_from_several_threads(self) -> None:
        """Translations acknowledged from eight threads at once: every value committed
        exactly once, and the tracker left with nothing pending."""
        import threading

        t = tracker(commit="acknowledge")
        translations = [t.translate(identify({"plan": "pro"}, user=f"u{n}"))
                        for n in range(400)]
        committed: list[int] = []
        lock = threading.Lock()

        def work(part: list[sb.Translation]) -> None:
            for translation in part:
                count = t.acknowledge([translation.origin])
                with lock:
                    committed.append(count)

        workers = [threading.Thread(target=work, args=(translations[n::8],))
                   for n in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert sum(committed) == 400
        assert t.tracker.pending == 0


class TestLayouts:
    def test_a_file_of_the_first_layout_is_upgraded(self, tmp_path: Path) -> None:
        """Records whose notes were '$' keys among the values become typed records."""
        path = tmp_path / "old.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE users (key TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL) "
                   "WITHOUT ROWID")
        db.execute(f"PRAGMA application_id={tracking.stores.APPLICATION_ID}")
        db.execute("PRAGMA user_version=1")
        db.executemany("INSERT INTO users VALUES (?, ?)", [
            ("external_id:u1", '{"plan":"pro","$alias:[\\"lbl\\",\\"a1\\"]":true}'),
            ('user_alias:["lbl","a1"]', '{"$merged":["u1"]}'),
            ("cohort:c1", '{"$name":"VIP"}')])
        db.commit()
        db.close()
        with SQLiteStore(path, readonly=True) as store:  # read as it is
            assert store.get("cohort:c1") == UserRecord(values={"name": "VIP"})
        with SQLiteStore(path) as store:
            assert store.get("external_id:u1") == UserRecord(
                values={"plan": "pro"}, aliases=frozenset({'user_alias:["lbl","a1"]'}))
            assert store.get('user_alias:["lbl","a1"]') == UserRecord(
                merged_into=("external_id:u1",))
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert db.execute("SELECT data FROM users WHERE key = 'cohort:c1'").fetchone() == (
            '{"values":{"name":"VIP"}}',)
        db.close()
        with SQLiteStore(path) as store:  # the merge is still known: not sent again
            t = tracker(store, anonymous_users="alias", alias_label="lbl")
            merged = t.translate({"type": "identify", "userId": "u1", "anonymousId": "a1",
                                  "traits": {}, "timestamp": T})
            assert [r.endpoint for r in merged] == ["/users/track"]

    def test_records_round_trip_through_json(self) -> None:
        record = UserRecord(values={"a": [1, {"b": None}]}, aliases=frozenset({"k2", "k1"}),
                            merged_into=("external_id:x",))
        assert UserRecord.from_json(record.to_json()) == record
        assert record.to_json()["aliases"] == ["k1", "k2"]
        assert UserRecord().to_json() == {}
        assert not UserRecord()
