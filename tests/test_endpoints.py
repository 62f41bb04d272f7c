"""One place per endpoint: a request class declares what every later stage needs.

A toy endpoint, defined here and nowhere else, is batched, tracked and counted by the
command line's accounting without any edit outside its own definition; the library's own
declarations are checked against Braze's documented limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import pytest

import segment_braze as sb
from segment_braze import limits
from segment_braze.batching import batch
from segment_braze.braze import (
    REQUEST_CLASSES,
    EmailToIdentify,
    Endpoint,
    Origin,
    Part,
    Request,
    external_key,
)
from segment_braze.braze.endpoint import origins_field
from segment_braze.cli.accounting import Tally
from segment_braze.limits import RateLimit
from segment_braze.tracking import MemoryStore, Tracker, UserRecord

T = "2024-05-01T12:00:00Z"


def _renamed_users(entry: Renaming) -> tuple[str, ...]:
    return (external_key(entry.current), external_key(entry.new))


def _rename_body(request: UsersRename) -> dict[str, Any]:
    return {"external_id_renames": [{"current_external_id": e.current,
                                     "new_external_id": e.new}
                                    for e in request.external_id_renames]}


@attrs.frozen
class Renaming:
    current: str
    new: str


@attrs.frozen(kw_only=True, slots=False)
class UsersRename(Request):
    """A toy ``/users/external_ids/rename``: three renames per request (a small limit, to
    see it at work), naming both ids, and forgetting what is known of both."""

    ENDPOINT: ClassVar[Endpoint] = Endpoint(
        "/users/external_ids/rename",
        (Part("external_id_renames", 3, _renamed_users, "forget"),),
        body=_rename_body, rate_limit=RateLimit("rename", 1000, 60.0))
    external_id_renames: tuple[Renaming, ...]
    origins: Mapping[str, tuple[Origin, ...]] = origins_field()

    def __attrs_post_init__(self) -> None:
        self._check_origins()


def rename(current: str, new: str, origin: Origin) -> UsersRename:
    return UsersRename(external_id_renames=(Renaming(current, new),),
                       origins={"external_id_renames": (origin,)})


def event(user: str, origin: Origin) -> sb.UsersTrack:
    (request,) = sb.translate({"type": "track", "userId": user, "event": "E",
                               "timestamp": T, "messageId": str(origin)},
                              sb.Settings()).requests
    return request  # type: ignore[return-value]


class TestToyEndpoint:
    def test_batching_reads_its_limit_and_users(self) -> None:
        """Renames merge up to the declared limit (3); a user's later event waits for the
        rename that names them, while an unrelated user's event may go before it."""
        stream = [event("x", "e0"), rename("u0", "v0", "r0"), event("u0", "e1"),
                  event("y", "e2"), *(rename(f"u{n}", f"v{n}", f"r{n}") for n in (1, 2, 3))]
        out = batch(stream)
        assert [(r.endpoint, dict(r.origins)) for r in out] == [
            ("/users/track", {"events": ("e0", "e2")}),
            ("/users/external_ids/rename", {"external_id_renames": ("r0", "r1", "r2")}),
            ("/users/track", {"events": ("e1",)}),
            ("/users/external_ids/rename", {"external_id_renames": ("r3",)}),
        ]
        assert out[1].to_json()["external_id_renames"][0] == {
            "current_external_id": "u0", "new_external_id": "v0"}

    def test_the_tracker_forgets_both_users(self) -> None:
        """Its declared effect: nothing known of either id is trusted afterwards."""
        store = MemoryStore()
        store.put("external_id:u1", UserRecord(values={"plan": "pro"}))
        store.put("external_id:v1", UserRecord(values={"plan": "team"}))
        tracker = Tracker(store, commit="on_translate")
        renamed = tracker.apply(sb.Translation(requests=(rename("u1", "v1", "r"),),
                                               origin="r"))
        assert [r.endpoint for r in renamed] == ["/users/external_ids/rename"]
        assert store.get("external_id:u1") is None
        assert store.get("external_id:v1") is None

    def test_the_summary_counts_it(self) -> None:
        """The command line's accounting counts its entries by part."""
        tally = Tally()
        for request in batch([rename("a", "b", 1), rename("c", "d", 2)]):
            tally.count_request(request)
        assert tally.to_json()["requests"] == {
            "/users/external_ids/rename": {"requests": 1,
                                           "objects": {"external_id_renames": 2}}}

    def test_origins_are_built_with_the_entries(self) -> None:
        """Built from (entry, origin) pairs, the two cannot drift apart."""
        built = UsersRename.from_pairs({"external_id_renames": [(Renaming("a", "b"), 7)]})
        assert built.origins == {"external_id_renames": (7,)}
        assert built.with_origin("m").origin_of("external_id_renames", 0) == "m"


class TestDeclarations:
    """The library's own endpoints, as Braze documents them."""

    @pytest.mark.parametrize("cls", REQUEST_CLASSES, ids=lambda c: c.__name__)
    def test_every_part_has_a_limit_users_and_effect(self, cls: type[Request]) -> None:
        endpoint = cls.ENDPOINT
        assert endpoint.path.startswith("/")
        assert cls.endpoint == endpoint.path
        for part in endpoint.parts:
            assert part.limit >= 1
            assert part.effect in ("values", "none", "forget", "merge", "join",
                                   "join_once", "name")
            assert callable(part.users)

    def test_limits_are_brazes(self) -> None:
        limit = {cls.endpoint: {p.name: p.limit for p in cls.ENDPOINT.parts}
                 for cls in REQUEST_CLASSES}
        assert limit["/users/track"] == {"attributes": 75, "events": 75, "purchases": 75}
        for path in ("/users/delete", "/users/identify", "/users/merge", "/users/alias/new"):
            assert set(limit[path].values()) == {limits.MAX_ENTRIES}
        assert limit["/partners/segment/cohorts/users"] == {"cohort_changes": 1000}

    def test_identify_counts_its_arrays_together(self) -> None:
        """Braze's 50 identifiers per /users/identify hold for its arrays together."""
        assert sb.UsersIdentify.ENDPOINT.total == limits.MAX_ENTRIES
        assert [p.name for p in sb.UsersIdentify.ENDPOINT.parts] == [
            "aliases_to_identify", "emails_to_identify"]

    def test_rate_limits_are_brazes(self) -> None:
        rates = {cls.endpoint: cls.ENDPOINT.rate_limit for cls in REQUEST_CLASSES}
        assert rates["/users/track"] == RateLimit("users/track", 3000, 3.0)
        shared = {rates[p] for p in ("/users/delete", "/users/identify", "/users/merge",
                                     "/users/alias/new")}
        assert shared == {RateLimit("users", 20_000, 60.0)}

    def test_only_the_cohort_endpoints_carry_secrets_in_the_body(self) -> None:
        body = {cls.endpoint for cls in REQUEST_CLASSES
                if cls.ENDPOINT.credentials == "body"}
        assert body == {"/partners/segment/cohorts", "/partners/segment/cohorts/users"}


class TestEmailsToIdentify:
    """The identify request's email part, declared like the alias part: batching, change
    tracking and the summary read it from the declaration alone."""

    @staticmethod
    def merge(user: str, email: str, origin: Origin) -> sb.UsersIdentify:
        entry = EmailToIdentify(user, email, ("unidentified", "most_recently_updated"))
        return sb.UsersIdentify(emails_to_identify=(entry,),
                                origins={"emails_to_identify": (origin,)})

    def test_its_users_are_the_email_and_the_user(self) -> None:
        part = sb.UsersIdentify.ENDPOINT.part("emails_to_identify")
        entry = EmailToIdentify("u1", "ada@example.com", ("unidentified",))
        assert part.users(entry) == ("email:ada@example.com", external_key("u1"))
        assert (part.limit, part.effect, part.idempotent) == (limits.MAX_ENTRIES,
                                                              "join_once", True)

    def test_batching_merges_and_orders_it(self) -> None:
        """Merges fill one request up to 50; a user's event waits for their merge."""
        stream = [self.merge(f"u{n}", f"u{n}@example.com", f"i{n}") for n in range(60)]
        stream.insert(1, event("u0", "e0"))
        out = batch(stream)
        assert [(r.endpoint, r.size()) for r in out] == [
            ("/users/identify", 50), ("/users/track", 1), ("/users/identify", 10)]

    def test_the_tracker_sends_it_once_per_pair(self) -> None:
        """Delivered, the merge of an email into a user is not sent again; the user's
        values are unknown after it (the merge may fill them in)."""
        store = MemoryStore()
        store.put("external_id:u1", UserRecord(values={"plan": "pro"}))
        tracker = Tracker(store, commit="on_translate")
        first = tracker.apply(sb.Translation(
            requests=(self.merge("u1", "ada@example.com", "m1"),), origin="m1"))
        assert [r.endpoint for r in first] == ["/users/identify"]
        assert store.get("external_id:u1") == UserRecord(
            aliases=frozenset({"email:ada@example.com"}))
        again = tracker.apply(sb.Translation(
            requests=(self.merge("u1", "ada@example.com", "m2"),), origin="m2"))
        assert again.requests == ()
        other = tracker.apply(sb.Translation(
            requests=(self.merge("u1", "ada@work.example", "m3"),), origin="m3"))
        assert [r.endpoint for r in other] == ["/users/identify"]

    def test_the_summary_counts_it(self) -> None:
        tally = Tally()
        for request in batch([self.merge("a", "a@example.com", 1),
                              self.merge("b", "b@example.com", 2)]):
            tally.count_request(request)
        assert tally.to_json()["requests"] == {
            "/users/identify": {"requests": 1, "objects": {"emails_to_identify": 2}}}
