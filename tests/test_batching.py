"""Batching: Braze-sized requests, each user's order kept, nothing lost or duplicated.

The properties translate random streams of Segment events for a few dozen users and
check, independently of how ``batching`` places objects, what Braze would see: every
limit respected, every object exactly once with its origin, and for every user the order
in which Braze would apply that user's objects (request order, then attributes, events,
purchases inside a ``/users/track`` request) equal to the input order.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segment_braze as sb
from brazelimits import check
from segment_braze import batching
from segment_braze.batching import LAG, MAX_ENTRIES, WINDOW, batch, iter_batches
from segment_braze.braze import (
    AliasToIdentify,
    EmailToIdentify,
    Event,
    Identifier,
    MergeUpdate,
    NewAlias,
    Origin,
    Request,
    UserAlias,
    UserAttributes,
    UsersAliasNew,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
    UsersTrack,
)

TIME = "2024-05-01T12:00:00.000Z"
TRACK_ARRAYS = ("attributes", "events", "purchases")

# -- what Braze sees, computed without the batching module -----------------------------


def users_of(request: Request, array: str, entry: Any) -> tuple[Identifier, ...]:
    """The Braze users an entry touches."""
    if isinstance(request, UsersTrack):
        return (entry.identifier,)
    if isinstance(request, UsersDelete):
        return (Identifier("external_id", entry),)
    if isinstance(request, UsersIdentify) and array == "emails_to_identify":
        return (Identifier("external_id", entry.external_id),
                Identifier("email", entry.email))
    if isinstance(request, UsersIdentify):
        return (Identifier("external_id", entry.external_id),
                Identifier("user_alias", entry.user_alias))
    if isinstance(request, UsersAliasNew):
        alias = (Identifier("user_alias", entry.user_alias),)
        if entry.external_id is None:
            return alias
        return (*alias, Identifier("external_id", entry.external_id))
    assert isinstance(request, UsersMerge)
    return (entry.merge, entry.keep)


def entries(request: Request) -> Iterator[tuple[str, Any, Origin]]:
    """``(array, entry, origin)`` in the order Braze applies them."""
    for array in request.arrays:
        items = getattr(request, array)
        origins = request.origins.get(array, ())
        assert len(origins) == len(items), f"{array}: one origin per entry"
        yield from ((array, item, origin) for item, origin in zip(items, origins, strict=True))


def token(array: str, entry: Any, origin: Origin) -> tuple[Any, ...]:
    """An entry as a comparable value: where it came from and what it is."""
    return (origin, array, repr(entry))


def applied(requests: Sequence[Request]) -> dict[Identifier, list[tuple[Any, ...]]]:
    """For every user, their entries in the order Braze would apply them."""
    seen: dict[Identifier, list[tuple[Any, ...]]] = {}
    for request in requests:
        for array, entry, origin in entries(request):
            for user in dict.fromkeys(users_of(request, array, entry)):
                seen.setdefault(user, []).append(token(array, entry, origin))
    return seen


def all_tokens(requests: Sequence[Request]) -> Counter[tuple[Any, ...]]:
    return Counter(token(a, e, o) for r in requests for a, e, o in entries(r))


def assert_well_formed(before: Sequence[Request], after: Sequence[Request], *,
                       max_objects: int = 75, max_total: int | None = None) -> None:
    """The batching contract, checked on the output alone and against the input."""
    for request in after:
        assert request.size() > 0, "no empty request"
        if isinstance(request, UsersTrack):
            for array in TRACK_ARRAYS:
                assert len(getattr(request, array)) <= max_objects, array
            if max_total is not None:
                assert request.size() <= max_total
        else:
            # A user at most once per part; across parts, in the declared order Braze
            # applies them (an identify's alias merge, then its email merge).
            assert request.size() <= MAX_ENTRIES
            for part in request.arrays:
                touched = [u for a, e, _ in entries(request) if a == part
                           for u in set(users_of(request, a, e))]
                assert len(touched) == len(set(touched)), "a user twice in one part"
        if max_objects <= 75 and (max_total is None or max_total <= 75):
            assert check(request) == [], "Braze accepts the body"
    repeats = merged_repeats(before, after)
    kept = all_tokens(before)
    kept.subtract(repeats)
    assert all_tokens(after) == +kept, "every entry exactly once, with its origin"
    expected = {user: [t for t in tokens if t not in repeats]
                for user, tokens in applied(before).items()}
    assert applied(after) == {u: t for u, t in expected.items() if t}, (
        "each user's order as Braze applies it")


#: The arrays whose entries Braze applies once however often they are repeated in a row.
IDEMPOTENT = ("external_ids", "aliases_to_identify", "emails_to_identify")


def merged_repeats(before: Sequence[Request], after: Sequence[Request]) -> Counter[Any]:
    """The input entries that batching merged into an equal earlier entry (their origins
    listed under ``superseded``), each checked to be a repeat: for every user it names,
    the entry right before it in that user's input order is an equal entry."""
    superseded = Counter(o for r in after for o in r.origins.get("superseded", ())
                         if not isinstance(r, sb.CohortUsers))
    repeats: Counter[Any] = Counter()
    previous: dict[Identifier, tuple[Any, ...]] = {}
    for request in before:
        for array, entry, origin in entries(request):
            t = token(array, entry, origin)
            users = list(dict.fromkeys(users_of(request, array, entry)))
            if (superseded[origin] and array in IDEMPOTENT
                    and all(previous.get(u, ())[1:] == t[1:] for u in users)):
                superseded[origin] -= 1
                repeats[t] += 1
            for user in users:
                previous[user] = t
    assert +superseded == Counter(), "every superseded origin is a repeated entry"
    return repeats


# -- random streams of translated events -------------------------------------------------

USERS = [f"u{n}" for n in range(30)]
ANONYMOUS = [f"anon-{n}" for n in range(12)]

ALIAS_MODE = sb.Settings(anonymous_users="alias", context_traits=True, track_named_pages=True)
MERGE_MODE = sb.Settings(merge_on_alias=True, context_traits=True, track_all_pages=True)


@st.composite
def segment_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["identify", "track", "track", "purchase", "group", "page",
                                 "delete", "alias"]))
    user = draw(st.none() | st.sampled_from(USERS))
    event: dict[str, Any] = {"type": kind, "timestamp": "2024-05-01T12:00:00Z",
                             "anonymousId": draw(st.sampled_from(ANONYMOUS))}
    if user is not None:
        event["userId"] = user
    if kind == "identify":
        event["traits"] = {"plan": draw(st.sampled_from(["free", "pro"])),
                           "logins": draw(st.integers(0, 9))}
    elif kind in ("track", "purchase"):
        event["type"] = "track"
        event["event"] = draw(st.sampled_from(["Clicked", "Viewed"]))
        event["properties"] = {"n": draw(st.integers(0, 9))}
        if draw(st.booleans()):
            event["context"] = {"traits": {"seen": draw(st.integers(0, 9))}}
        if kind == "purchase":
            event["event"] = "Order Completed"
            count = draw(st.integers(1, 3))
            event["properties"] = {"products": [{"product_id": f"p{n}", "price": 1.5}
                                                for n in range(count)]}
    elif kind == "group":
        event["groupId"] = draw(st.sampled_from(["g1", "g2"]))
    elif kind == "page":
        event["name"] = "Home"
    elif kind == "delete":
        event["userId"] = user or USERS[0]
    else:
        event["userId"] = user or USERS[0]
        event["previousId"] = draw(st.sampled_from(USERS + ANONYMOUS))
    return event


@st.composite
def translated_stream(draw: st.DrawFn) -> list[Request]:
    """The requests of a random stream of events (some with a messageId, the others known
    by their position), translated with alias mode or merge-on-alias."""
    settings_ = draw(st.sampled_from([ALIAS_MODE, MERGE_MODE]))
    events = draw(st.lists(segment_event(), max_size=80))
    for index, event in enumerate(events):
        if draw(st.booleans()):
            event["messageId"] = f"m{index}"
    translator = sb.Translator(settings_)
    requests = [r for t in translator.translate_many(events) if t.error is None for r in t]
    # A custom rule's /users/alias/new requests, here and there in the stream.
    for number in range(draw(st.integers(0, 4))):
        alias = UserAlias(draw(st.sampled_from(ANONYMOUS)), "segment_anonymous_id")
        owner = draw(st.none() | st.sampled_from(USERS))
        new = UsersAliasNew(user_aliases=(NewAlias(user_alias=alias, external_id=owner),))
        requests.insert(draw(st.integers(0, len(requests))), new.with_origin(f"a{number}"))
    return requests


limits = st.one_of(
    st.tuples(st.sampled_from([1, 2, 3, 75]), st.none()),
    st.tuples(st.sampled_from([2, 75]), st.sampled_from([1, 2, 5, 50, 75])),
)


class TestProperties:
    @settings(max_examples=150, deadline=None)
    @given(requests=translated_stream(), limit=limits)
    def test_limits_exactly_once_and_per_user_order(
            self, requests: list[Request], limit: tuple[int, int | None]) -> None:
        """Every limit holds, every entry comes out once with its origin, and each user's
        objects are applied in input order."""
        max_objects, max_total = limit
        out = batch(requests, max_objects=max_objects, max_total=max_total)
        assert_well_formed(requests, out, max_objects=max_objects, max_total=max_total)

    @settings(max_examples=60, deadline=None)
    @given(requests=translated_stream())
    def test_streaming_equals_batch_and_is_deterministic(self,
                                                         requests: list[Request]) -> None:
        """The generator gives the same requests as ``batch``, run after run."""
        first = [(r.to_json(), dict(r.origins)) for r in batch(requests)]
        again = [(r.to_json(), dict(r.origins)) for r in iter_batches(iter(requests))]
        assert first == again

    @settings(max_examples=60, deadline=None)
    @given(requests=translated_stream())
    def test_never_more_requests_than_input(self, requests: list[Request]) -> None:
        """Batching only merges and splits to the limits: with the default limits it never
        sends more requests than it was given."""
        assert len(batch(requests)) <= len(requests)


# -- hand-made streams -------------------------------------------------------------------


def attrs_of(user: str, origin: Origin, **values: Any) -> UsersTrack:
    obj = UserAttributes(identifier=Identifier("external_id", user), values=values)
    return UsersTrack(attributes=(obj,)).with_origin(origin)  # type: ignore[no-any-return]


def event_of(user: str, origin: Origin, name: str = "Clicked") -> UsersTrack:
    obj = Event(identifier=Identifier("external_id", user), name=name, time=TIME)
    return UsersTrack(events=(obj,)).with_origin(origin)  # type: ignore[no-any-return]


def delete_of(user: str, origin: Origin) -> UsersDelete:
    return UsersDelete(external_ids=(user,)).with_origin(origin)  # type: ignore[no-any-return]


def merge_of(merged: str, kept: str, origin: Origin) -> UsersMerge:
    update = MergeUpdate(merge=Identifier("external_id", merged),
                         keep=Identifier("external_id", kept))
    return UsersMerge(merge_updates=(update,)).with_origin(origin)  # type: ignore[no-any-return]


def identify_of(user: str, alias: str, origin: Origin,
                behavior: str = "merge") -> UsersIdentify:
    entry = AliasToIdentify(user, UserAlias(alias, "segment_anonymous_id"))
    request = UsersIdentify(aliases_to_identify=(entry,),
                            merge_behavior=behavior)  # type: ignore[arg-type]
    return request.with_origin(origin)  # type: ignore[no-any-return]


def shape(requests: Sequence[Request]) -> list[tuple[str, dict[str, tuple[Origin, ...]]]]:
    """Each request as its endpoint and origins by array: what the tests compare."""
    return [(r.endpoint, dict(r.origins)) for r in requests]


class TestOrder:
    def test_attributes_then_event_of_a_user_share_a_request(self) -> None:
        """Braze applies attributes before events, so that order fits in one request."""
        out = batch([attrs_of("u1", 0, plan="pro"), event_of("u1", 1)])
        assert shape(out) == [("/users/track", {"attributes": (0,), "events": (1,)})]

    def test_event_then_attributes_of_a_user_are_split(self) -> None:
        """An attribute update after an event must not jump ahead of it."""
        out = batch([event_of("u1", 0), attrs_of("u1", 1, plan="pro")])
        assert shape(out) == [("/users/track", {"events": (0,)}),
                              ("/users/track", {"attributes": (1,)})]

    def test_other_users_still_fill_the_earlier_request(self) -> None:
        """Holding one user back does not hold back the others."""
        out = batch([event_of("u1", 0), attrs_of("u1", 1), attrs_of("u2", 2),
                     event_of("u3", 3)])
        assert shape(out) == [("/users/track", {"attributes": (2,), "events": (0, 3)}),
                              ("/users/track", {"attributes": (1,)})]

    def test_purchases_come_after_events_of_the_same_request(self) -> None:
        """A purchase then an event of the same user: the event needs a later request."""
        purchase = sb.translate({"type": "track", "userId": "u1", "event": "Order Completed",
                                 "properties": {"revenue": 3}, "messageId": "p"},
                                sb.Settings()).requests
        out = batch([*purchase, event_of("u1", "e")])
        assert shape(out) == [("/users/track", {"purchases": ("p",)}),
                              ("/users/track", {"events": ("e",)})]

    def test_a_delete_is_a_barrier_for_its_user_only(self) -> None:
        """Nothing of a deleted user crosses the deletion; other users are not held."""
        out = batch([event_of("u1", 0), delete_of("u1", 1), event_of("u1", 2),
                     event_of("u2", 3)])
        assert shape(out) == [("/users/track", {"events": (0, 3)}),
                              ("/users/delete", {"external_ids": (1,)}),
                              ("/users/track", {"events": (2,)})]

    def test_an_identify_touches_both_users(self) -> None:
        """The alias and the external id are both held behind an identify."""
        alias = UserAlias("a1", "segment_anonymous_id")
        alias_event = UsersTrack(events=(Event(identifier=Identifier("user_alias", alias),
                                               name="Clicked", time=TIME),)).with_origin(3)
        out = batch([event_of("u1", 0), identify_of("u1", "a1", 1), event_of("u1", 2),
                     alias_event, event_of("u2", 4)])
        assert shape(out) == [("/users/track", {"events": (0, 4)}),
                              ("/users/identify", {"aliases_to_identify": (1,)}),
                              ("/users/track", {"events": (2, 3)})]

    def test_a_user_appears_once_per_request_of_other_endpoints(self) -> None:
        """Braze gives no order inside a delete, identify or merge request: a merge
        naming a user already in an open merge request goes into a later one."""
        out = batch([merge_of("u1", "u9", 0), merge_of("u2", "u8", 1),
                     merge_of("u1", "u7", 2)])
        assert shape(out) == [("/users/merge", {"merge_updates": (0, 1)}),
                              ("/users/merge", {"merge_updates": (2,)})]

    def test_identify_requests_merge_only_with_the_same_merge_behavior(self) -> None:
        out = batch([identify_of("u1", "a1", 0), identify_of("u2", "a2", 1, "none"),
                     identify_of("u3", "a3", 2)])
        assert [(r.endpoint, r.merge_behavior, dict(r.origins))  # type: ignore[union-attr]
                for r in out] == [
            ("/users/identify", "merge", {"aliases_to_identify": (0, 2)}),
            ("/users/identify", "none", {"aliases_to_identify": (1,)})]

    def test_merge_entries_touch_both_users(self) -> None:
        merge = UsersMerge(merge_updates=(MergeUpdate(Identifier("external_id", "old"),
                                                      Identifier("external_id", "new")),))
        out = batch([event_of("new", 0), merge.with_origin(1), event_of("old", 2),
                     event_of("new", 3)])
        assert shape(out) == [("/users/track", {"events": (0,)}),
                              ("/users/merge", {"merge_updates": (1,)}),
                              ("/users/track", {"events": (2, 3)})]

    def test_new_aliases_take_fifty_and_touch_both_users(self) -> None:
        def alias_of(name: str, owner: str | None, origin: Origin) -> UsersAliasNew:
            entry = NewAlias(user_alias=UserAlias(name, "label"), external_id=owner)
            return UsersAliasNew(user_aliases=(entry,)).with_origin(origin)

        out = batch([event_of("u1", 0), alias_of("a", "u1", 1), event_of("u1", 2),
                     alias_of("b", None, 3)])
        assert shape(out) == [("/users/track", {"events": (0,)}),
                              ("/users/alias/new", {"user_aliases": (1, 3)}),
                              ("/users/track", {"events": (2,)})]
        many = batch(alias_of(f"a{n}", f"u{n}", n) for n in range(60))
        assert [r.size() for r in many] == [50, 10]
        assert many[0].to_json()["user_aliases"][0] == {
            "alias_name": "a0", "alias_label": "label", "external_id": "u0"}
        assert all(check(r) == [] for r in many)

    def test_users_are_told_apart_by_identifier_kind(self) -> None:
        """An email that looks like an external id is another user."""
        email = UsersTrack(events=(Event(identifier=Identifier("email", "u1"), name="E",
                                         time=TIME),)).with_origin(1)
        out = batch([event_of("u1", 0), email, attrs_of("u1", 2)])
        assert shape(out) == [("/users/track", {"events": (0, 1)}),
                              ("/users/track", {"attributes": (2,)})]


class TestSizes:
    def test_distinct_users_fill_requests_to_the_limit(self) -> None:
        out = batch(event_of(f"u{n}", n) for n in range(1000))
        assert [r.size() for r in out] == [75] * 13 + [25]

    def test_all_three_arrays_fill_independently(self) -> None:
        stream = []
        for n in range(150):
            stream += [attrs_of(f"u{n}", n, x=1), event_of(f"v{n}", n)]
        out = batch(stream)
        assert [(len(r.attributes), len(r.events)) for r in out] == [  # type: ignore[union-attr]
            (75, 75), (75, 75)]

    def test_max_total_counts_the_three_arrays_together(self) -> None:
        stream = []
        for n in range(60):
            stream += [attrs_of(f"u{n}", n, x=1), event_of(f"u{n}", n)]
        out = batch(stream, max_total=50)
        assert [r.size() for r in out] == [50, 50, 20]
        assert_well_formed(stream, out, max_total=50)

    def test_identify_counts_its_arrays_together(self) -> None:
        """Braze takes 50 identifiers per /users/identify, whichever arrays hold them: 40
        alias merges and 40 email merges make two requests, not one of 80."""
        stream = [UsersIdentify(
            aliases_to_identify=(AliasToIdentify(f"u{n}", UserAlias(f"a{n}", "anon")),),
            emails_to_identify=(EmailToIdentify(f"u{n}", f"u{n}@example.com",
                                                ("unidentified",)),)).with_origin(n)
            for n in range(40)]
        out = batch(stream)
        assert [r.size() for r in out] == [50, 30]
        assert [check(r) for r in out] == [[], []]
        assert_well_formed(stream, out)

    def test_max_objects_below_braze_limit(self) -> None:
        out = batch((event_of(f"u{n}", n) for n in range(10)), max_objects=4)
        assert [r.size() for r in out] == [4, 4, 2]

    def test_a_request_over_the_limit_is_split(self) -> None:
        big = UsersTrack(events=tuple(Event(identifier=Identifier("external_id", f"u{n}"),
                                            name="E", time=TIME) for n in range(100)))
        out = batch([big.with_origin("m")])
        assert [r.size() for r in out] == [75, 25]
        assert out[1].origin_of("events", 24) == "m"

    def test_other_endpoints_take_fifty_entries(self) -> None:
        out = batch(delete_of(f"u{n}", n) for n in range(120))
        assert [r.size() for r in out] == [50, 50, 20]
        assert out[1].origin_of("external_ids", 0) == 50

    def test_a_single_users_alternation_needs_a_request_per_turn(self) -> None:
        """Event, attributes, event, attributes of one user: each attribute update opens
        a request, and the event after it shares that request (the fewest possible)."""
        out = batch([event_of("u1", 0), attrs_of("u1", 1), event_of("u1", 2),
                     attrs_of("u1", 3)])
        assert shape(out) == [("/users/track", {"events": (0,)}),
                              ("/users/track", {"attributes": (1,), "events": (2,)}),
                              ("/users/track", {"attributes": (3,)})]

    def test_requests_without_entries_are_dropped(self) -> None:
        assert batch([UsersTrack(), UsersDelete(external_ids=())]) == []

    def test_origins_answer_braze_indexes(self) -> None:
        translator = sb.Translator(sb.Settings())
        events = [{"type": "track", "userId": f"u{n}", "event": "E", "messageId": f"m{n}",
                   "timestamp": "2024-05-01T12:00:00Z"} for n in range(5)]
        events[2].pop("messageId")
        (out,) = batch(r for t in translator.translate_many(events) for r in t)
        assert [out.origin_of("events", n) for n in range(5)] == ["m0", "m1", 2, "m3", "m4"]

    def test_hand_built_requests_without_origins(self) -> None:
        obj = Event(identifier=Identifier("external_id", "u1"), name="E", time=TIME)
        (out,) = batch([UsersTrack(events=(obj,)), UsersTrack(events=(obj,))])
        assert out.origins == {"events": (None, None)}

    @pytest.mark.parametrize(("origins", "message"), [
        ({}, "origins has no entry 'events' for its 1 entries"),
        ({"events": ("a", "b")}, r"origins\['events'\] has 2 origins for 1 entries"),
        ({"events": ("a",), "attributes": ("b",)},
         r"origins\['attributes'\] has 1 origins for 0 entries"),
        ({"events": ("a",), "things": ("b",)}, r"origins names no part \['things'\]"),
    ])
    def test_origins_that_do_not_match_the_entries_are_refused(
            self, origins: dict[str, tuple[Origin, ...]], message: str) -> None:
        """Origins given by hand must name each entry once: never padded or cut."""
        obj = Event(identifier=Identifier("external_id", "u1"), name="E", time=TIME)
        with pytest.raises(ValueError, match=message):
            UsersTrack(events=(obj,), origins=origins)


class TestStreaming:
    def test_first_request_comes_before_the_input_ends(self) -> None:
        """Only the open requests are held: a request whose events are full stays open
        for attributes and purchases until LAG requests are open after it, no longer."""
        consumed = itertools.count()

        def endless() -> Iterator[Request]:
            for n in consumed:
                yield event_of(f"u{n}", n)

        first = next(iter_batches(endless()))
        assert first.origins == {"events": tuple(range(75))}
        assert next(consumed) == LAG * 75 + 1

    def test_a_full_request_is_sent_at_once(self) -> None:
        """With ``max_total`` a request is full as soon as it holds that many objects."""
        consumed = itertools.count()

        def endless() -> Iterator[Request]:
            for n in consumed:
                yield event_of(f"u{n}", n)

        first = next(iter_batches(endless(), max_total=50))
        assert first.size() == 50
        assert next(consumed) == 50

    def test_window_bounds_what_is_held(self) -> None:
        """A user held back by their own order opens requests; at most WINDOW are open,
        so the earliest is sent when another is needed."""
        stream = []
        for n in range(WINDOW + 1):
            stream += [event_of("u1", 2 * n), attrs_of("u1", 2 * n + 1)]
        seen = 0
        batches = iter_batches(iter(stream))
        first = next(batches)
        for _request in batches:
            seen += 1
        assert first.origins == {"events": (0,)}
        assert seen == WINDOW + 1

    def test_memory_of_users_is_bounded(self) -> None:
        """Users whose requests are sent are forgotten: state stays bounded on a long
        stream of distinct users."""
        batcher = batching._Batcher(75, None, WINDOW)
        sent = batching._run((event_of(f"u{n}", n) for n in range(40_000)), batcher)
        for _request in itertools.islice(sent, 500):
            assert len(batcher.last) <= 2 * 4096
            assert len(batcher.open) <= WINDOW

    def test_a_request_class_without_endpoint_is_refused(self) -> None:
        """A request class that declares no endpoint cannot even be built: nothing would
        say its parts, limits or users to batching and tracking."""

        @attrs.frozen(kw_only=True, slots=False)
        class Undeclared(Request):
            things: tuple[Any, ...] = ()
            origins: Any = attrs.field(factory=dict, eq=False)

        with pytest.raises(TypeError, match="Undeclared declares no ENDPOINT"):
            Undeclared()


class TestArguments:
    def test_a_translation_is_not_a_request(self) -> None:
        translation = sb.translate({"type": "track", "userId": "u", "event": "E"},
                                   sb.Settings())
        with pytest.raises(TypeError, match="iterate each Translation"):
            batch([translation])  # type: ignore[list-item]

    @pytest.mark.parametrize(("kwargs", "error"), [
        ({"max_objects": 0}, ValueError),
        ({"max_objects": True}, TypeError),
        ({"max_objects": 7.5}, TypeError),
        ({"max_total": 0}, ValueError),
        ({"max_total": "50"}, TypeError),
    ])
    def test_limits_must_be_whole_numbers_from_one(self, kwargs: dict[str, Any],
                                                   error: type[Exception]) -> None:
        """Checked when called, not when the first request is drawn."""
        with pytest.raises(error, match=next(iter(kwargs))):
            iter_batches([], **kwargs)


class TestRepeats:
    """A repeated deletion or identify merge, with nothing of its users in between, does
    nothing more: it joins the earlier entry, its origin kept as superseded."""

    @staticmethod
    def delete(user: str, origin: Origin) -> UsersDelete:
        return UsersDelete(external_ids=(user,), origins={"external_ids": (origin,)})

    def test_repeated_deletes_collapse(self) -> None:
        """51 deletions of two users: one request of two entries, accounting for all."""
        stream = [self.delete(f"u{n % 2}", n) for n in range(51)]
        (out,) = batch(stream)
        assert out.to_json() == {"external_ids": ["u0", "u1"]}
        assert out.origins["external_ids"] == (0, 1)
        assert sorted(out.origins["superseded"]) == list(range(2, 51))

    def test_a_delete_after_other_writes_is_sent_again(self) -> None:
        """Between the two deletions the user came back: both are sent, in order."""
        out = batch([self.delete("u1", "d1"), event_of("u1", "e1"), self.delete("u1", "d2")])
        assert shape(out) == [("/users/delete", {"external_ids": ("d1",)}),
                              ("/users/track", {"events": ("e1",)}),
                              ("/users/delete", {"external_ids": ("d2",)})]

    def test_repeated_identify_merges_collapse(self) -> None:
        alias = UserAlias("anon-1", "segment_anonymous_id")
        stream = [UsersIdentify(aliases_to_identify=(AliasToIdentify("u1", alias),),
                                origins={"aliases_to_identify": (n,)}) for n in range(3)]
        (out,) = batch(stream)
        assert len(out.to_json()["aliases_to_identify"]) == 1
        assert out.origins == {"aliases_to_identify": (0,), "superseded": (1, 2)}

    def test_repeated_email_merges_collapse(self) -> None:
        """An email merge repeated with nothing of its users in between joins the first."""
        entry = EmailToIdentify("u1", "ada@example.com", ("unidentified",))
        stream = [UsersIdentify(emails_to_identify=(entry,),
                                origins={"emails_to_identify": (n,)}) for n in range(3)]
        (out,) = batch(stream)
        assert out.to_json() == {"emails_to_identify": [entry.to_json()],
                                 "merge_behavior": "merge"}
        assert out.origins == {"emails_to_identify": (0,), "superseded": (1, 2)}

    def test_superseded_outcomes_are_read_from_the_answer(self) -> None:
        """Braze's answer reaches every event, the merged repeats too."""
        (out,) = batch([self.delete("u1", "a"), self.delete("u1", "b")])
        outcomes = sb.interpret_response(out, 202, {}, b'{"deleted": 1}')
        assert [(o.origin, o.status) for o in outcomes] == [("a", "delivered"),
                                                           ("b", "delivered")]
