"""One place per endpoint: a request class declares what every later stage needs.

A toy endpoint, defined here and nowhere else, is batched, tracked and counted by the
command line's accounting without any edit outside its own definition; the library's own
declarations are checked against Braze's documented limits.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

import segment_braze as sb
from segment_braze import limits
from segment_braze.batching import batch
from segment_braze.braze import (
    REQUEST_CLASSES,
    Endpoint,
    Identifier,
    Origin,
    Part,
    Request,
    SubscriptionStatusSet,
    external_key,
)
from segment_braze.braze.endpoint import origins_field
from segment_braze.cli.accounting import Tally
from segment_braze.delivery import deliver, request_from_json
from segment_braze.limits import SUBSCRIPTION_RATE, RateLimit
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


def subscription(user: str, origin: Origin, *, group: str = "sg-1",
                 state: str = "subscribed", kind: str = "external_id") -> SubscriptionStatusSet:
    """One user's change of one subscription group, as the subscription row emits it."""
    return SubscriptionStatusSet.from_pairs(
        {"subscription_groups": [(Identifier(kind, user), origin)]},  # type: ignore[arg-type]
        subscription_group_id=group, subscription_state=state)


class TestSubscriptionEndpoint:
    """``/v2/subscription/status/set`` is batched, tracked, delivered and counted through
    its declaration alone: nothing outside ``SubscriptionStatusSet`` names it."""

    def test_batching_merges_one_group_and_state_up_to_50_users(self) -> None:
        """Requests of one group and state merge, 50 users at most; others stay apart."""
        stream = [subscription(f"u{n}", n) for n in range(51)]
        stream += [subscription("v", "x", state="unsubscribed"),
                   subscription("w", "y", group="sg-2")]
        out = batch(stream)
        assert [(r.subscription_group_id, r.subscription_state, r.size())
                for r in out] == [("sg-1", "subscribed", 50), ("sg-1", "subscribed", 1),
                                  ("sg-1", "unsubscribed", 1), ("sg-2", "subscribed", 1)]
        assert out[0].to_json()["subscription_groups"][0]["external_ids"][:2] == ["u0", "u1"]
        assert out[0].origins == {"subscription_groups": tuple(range(50))}

    def test_external_ids_before_emails_in_body_and_origins(self) -> None:
        """One entry names external ids, then emails; origins follow the body's order."""
        (merged,) = batch([subscription("a@x.io", "m1", kind="email"),
                           subscription("u1", "m2")])
        assert merged.to_json() == {"subscription_groups": [
            {"subscription_group_id": "sg-1", "subscription_state": "subscribed",
             "external_ids": ["u1"], "emails": ["a@x.io"]}]}
        assert merged.origins == {"subscription_groups": ("m2", "m1")}

    def test_batching_keeps_each_users_order(self) -> None:
        """A user's later event waits for their subscription change; a repeat of the same
        change is merged into it."""
        out = batch([subscription("u1", "s1"), event("u1", "e1"), subscription("u1", "s2"),
                     event("u2", "e2"), subscription("u1", "s3", state="unsubscribed")])
        assert [(r.endpoint, dict(r.origins)) for r in out] == [
            ("/v2/subscription/status/set", {"subscription_groups": ("s1",)}),
            ("/users/track", {"events": ("e1", "e2")}),
            ("/v2/subscription/status/set", {"subscription_groups": ("s2",)}),
            ("/v2/subscription/status/set", {"subscription_groups": ("s3",)}),
        ]
        again = batch([subscription("u1", "s1"), subscription("u1", "s2")])
        assert [dict(r.origins) for r in again] == [
            {"subscription_groups": ("s1",), "superseded": ("s2",)}]

    def test_the_tracker_passes_it_and_keeps_what_it_knows(self) -> None:
        """Its effect is none: the request goes out whole, the user's values stay known."""
        store = MemoryStore()
        store.put("external_id:u1", UserRecord(values={"plan": "pro"}))
        tracker = Tracker(store, commit="on_translate")
        request = subscription("u1", "s")
        applied = tracker.apply(sb.Translation(requests=(request,), origin="s"))
        assert applied.requests == (request,)
        record = store.get("external_id:u1")
        assert record is not None
        assert record.values == {"plan": "pro"}

    def test_the_summary_counts_it(self) -> None:
        """The command line's accounting counts the body's group entries, as for
        cohorts (the objects Braze receives)."""
        tally = Tally()
        for request in batch([subscription("a", 1), subscription("b", 2),
                              subscription("c", 3, group="sg-2")]):
            tally.count_request(request)
        assert tally.to_json()["requests"] == {
            "/v2/subscription/status/set": {"requests": 2,
                                            "objects": {"subscription_groups": 2}}}

    def test_delivery_sends_it_paced_in_its_bucket(self) -> None:
        """Delivery places it by its users, paces it in the subscription bucket and
        reads Braze's answer per user."""
        assert SubscriptionStatusSet.ENDPOINT.rate_limit == SUBSCRIPTION_RATE
        sent: list[sb.HttpRequest] = []

        def transport(request: sb.HttpRequest) -> tuple[int, dict[str, str], bytes]:
            sent.append(request)
            return 201, {}, b'{"message": "success"}'

        stream = batch([subscription("u1", "m1"), event("u1", "m2"),
                        subscription("u2", "m3", state="unsubscribed")])
        report = deliver(stream, transport, sb.Settings(rest_endpoint="US-03",
                                                        rest_api_key="k"), lanes=2)
        assert report.endpoints["/v2/subscription/status/set"].delivered == 2
        assert report.endpoints["/users/track"].delivered == 1
        paths = [r.url.removeprefix("https://rest.iad-03.braze.com") for r in sent]
        first = paths.index("/v2/subscription/status/set")
        assert first < paths.index("/users/track")  # u1's event after u1's change
        assert sorted(paths) == ["/users/track", "/v2/subscription/status/set",
                                 "/v2/subscription/status/set"]

    def test_journal_and_dead_letter(self, tmp_path: Path) -> None:
        """A restart sends nothing the journal settled; a refused change goes to the dead
        letter with each user's entry and origin."""
        calls: list[str] = []

        def refuse(request: sb.HttpRequest) -> tuple[int, dict[str, str], bytes]:
            calls.append(request.url)
            return 400, {}, b'{"message": "Invalid subscription group"}'

        settings = sb.Settings(rest_endpoint="US-03", rest_api_key="k")
        stream = batch([subscription("u1", "m1"), subscription("a@x.io", "m2",
                                                                kind="email")])
        dead = io.BytesIO()
        journal = tmp_path / "journal.db"
        report = deliver(stream, refuse, settings, lanes=1, journal=journal,
                         dead_letter=dead)
        assert report.dead_lettered == 2
        lines = [json.loads(line) for line in dead.getvalue().splitlines()]
        assert [(line["origin"], line["entry"]) for line in lines] == [
            ("m1", {"external_id": "u1"}), ("m2", {"email": "a@x.io"})]
        assert {line["array"] for line in lines} == {"subscription_groups"}
        again = deliver(stream, refuse, settings, lanes=1, journal=journal)
        assert len(calls) == 1
        assert again.endpoints["/v2/subscription/status/set"].skipped == 2

    def test_only_external_ids_and_emails(self) -> None:
        """The endpoint takes no braze_id or alias: building one with them is an error."""
        with pytest.raises(ValueError, match="braze_id"):
            subscription("b1", "m", kind="braze_id")

    def test_send_reads_it_back(self) -> None:
        """What translate writes, send reads back into the same request."""
        (request,) = batch([subscription("u1", "m1"), subscription("a@x.io", "m2",
                                                                    kind="email")])
        line = {"endpoint": request.endpoint, "body": request.to_json(),
                "origins": {k: list(v) for k, v in request.origins.items()}}
        again = request_from_json(line)
        assert again == request
        assert again.origins == request.origins


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
        assert limit["/v2/subscription/status/set"] == {"subscription_groups": 50}

    def test_rate_limits_are_brazes(self) -> None:
        rates = {cls.endpoint: cls.ENDPOINT.rate_limit for cls in REQUEST_CLASSES}
        assert rates["/users/track"] == RateLimit("users/track", 3000, 3.0)
        shared = {rates[p] for p in ("/users/delete", "/users/identify", "/users/merge",
                                     "/users/alias/new")}
        assert shared == {RateLimit("users", 20_000, 60.0)}
        assert rates["/v2/subscription/status/set"] == RateLimit("subscription/status", 5000,
                                                                 60.0)

    def test_only_the_cohort_endpoints_carry_secrets_in_the_body(self) -> None:
        body = {cls.endpoint for cls in REQUEST_CLASSES
                if cls.ENDPOINT.credentials == "body"}
        assert body == {"/partners/segment/cohorts", "/partners/segment/cohorts/users"}


class TestReadBack:
    """Each declaration reads its own bodies back (``Endpoint.read``, the inverse of
    ``body``): what ``translate`` writes, ``send`` reads as the same request."""

    @staticmethod
    def one_of_each() -> list[Request]:
        from segment_braze.braze import (
            Identifier,
            MergeUpdate,
            NewAlias,
            SubscriptionStatusSet,
            UserAlias,
            UsersAliasNew,
            UsersMerge,
        )
        from segment_braze.delivery import export_requests

        s = sb.Settings(anonymous_users="alias", cohort_client_secret="c",
                        cohort_partner_api_key="p")
        events = [
            {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "i1",
             "timestamp": T, "traits": {"plan": "pro", "n": 1.5, "tags": ["a"]}},
            {"type": "track", "userId": "u1", "event": "Order Completed", "timestamp": T,
             "properties": {"products": [{"product_id": "p", "price": 3.5}],
                            "currency": "EUR"}},
            {"type": "track", "anonymousId": "a2", "event": "Played", "timestamp": T},
            {"type": "delete", "userId": "u3", "messageId": "d3"},
            {"type": "identify", "userId": "u5", "timestamp": T,
             "context": {"personas": {"computation_class": "audience",
                                      "computation_key": "vip", "computation_id": "c9"}},
             "traits": {"vip": True}},
        ]
        translated = [r for t in sb.Translator(s).translate_many(events) for r in t]
        return [*batch(translated),
                UsersMerge(merge_updates=(MergeUpdate(merge=Identifier("external_id", "a"),
                                                      keep=Identifier("external_id", "b")),),
                           origins={"merge_updates": ("x",)}),
                UsersAliasNew(user_aliases=(
                    NewAlias(user_alias=UserAlias(alias_name="n", alias_label="l"),
                             external_id="u1"),
                    NewAlias(user_alias=UserAlias(alias_name="m", alias_label="l"))),
                    origins={"user_aliases": (3, "y")}),
                SubscriptionStatusSet(subscription_group_id="g1",
                                      subscription_state="subscribed",
                                      external_ids=("u1",), emails=("ada@example.com",),
                                      origins={"subscription_groups": ("s1", "s2")}),
                *export_requests(translated)]

    def test_every_request_class_reads_back_equal_with_its_origins(self) -> None:
        import io

        from segment_braze import _json
        from segment_braze.cli.accounting import Tally as Written
        from segment_braze.cli.pipeline import write_requests
        from segment_braze.delivery import request_from_json

        requests = self.one_of_each()
        assert {type(r) for r in requests} == set(REQUEST_CLASSES)
        out = io.BytesIO()
        write_requests(requests, out, Written(), _json.dumps)  # as ``translate`` writes
        lines = out.getvalue().splitlines()
        assert len(lines) == len(requests)
        for line, request in zip(lines, requests, strict=True):
            back = request_from_json(_json.loads(line))
            assert type(back) is type(request)
            assert back == request
            assert dict(back.origins) == dict(request.origins)

    def test_only_declared_classes_are_read(self) -> None:
        """The toy endpoint is not one of the library's classes: its lines are refused by
        name, as any unknown endpoint's."""
        from segment_braze.delivery import request_from_json

        line = {"endpoint": UsersRename.endpoint, "body": {"external_id_renames": []}}
        with pytest.raises(ValueError, match="unknown endpoint"):
            request_from_json(line)

    def test_export_requests_are_batched_tracked_and_counted(self) -> None:
        """``UsersExportIds`` is one of the library's classes: batching merges exports of
        the same fields up to 50 users, the tracker lets them through untouched, the
        summary counts their users by part."""
        from segment_braze.braze import UserAlias, UsersExportIds

        def export(user: str, fields: tuple[str, ...] = ("first_name",)) -> UsersExportIds:
            return UsersExportIds(external_ids=(user,), fields_to_export=fields,
                                  origins={"external_ids": (user,)})

        stream = [*(export(f"u{n}") for n in range(60)), export("v", ("email",)),
                  UsersExportIds(user_aliases=(UserAlias(alias_name="a", alias_label="l"),),
                                 fields_to_export=("first_name",))]
        out = batch(stream)
        assert [(r.size(), r.fields_to_export) for r in out] == [  # type: ignore[attr-defined]
            (50, ("first_name",)), (11, ("first_name",)), (1, ("email",))]
        tracker = Tracker(MemoryStore())
        for request in out:
            kept = tracker.apply(sb.Translation(requests=(request,), origin="o"))
            assert kept.requests == (request,)
        tally = Tally()
        for request in out:
            tally.count_request(request)
        assert tally.to_json()["requests"] == {"/users/export/ids": {
            "requests": 3, "objects": {"external_ids": 61, "user_aliases": 1}}}


def test_an_export_request_names_at_most_50_users_in_all() -> None:
    """Braze takes up to 50 identifiers per /users/export/ids request, external ids and
    aliases together: the declaration's total_limit holds without max_total."""
    from segment_braze.braze import UserAlias, UsersExportIds

    stream = [UsersExportIds(external_ids=(f"u{n}",), origins={"external_ids": (n,)})
              for n in range(40)]
    stream += [UsersExportIds(user_aliases=(UserAlias(f"a{n}", "l"),),
                              origins={"user_aliases": (100 + n,)}) for n in range(40)]
    out = batch(stream)
    assert [r.size() for r in out] == [50, 30]
