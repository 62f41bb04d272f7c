"""Delivery: lanes, pacing, retries, journal, dead letter and report, end to end.

Most tests send to :class:`fakebraze.FakeBraze`, a real HTTP server on 127.0.0.1 that
checks the key and answers as Braze does (201 with and without ``errors``, 429 with
``X-RateLimit-Reset``, 500 after applying the request, 503, 400). Every object the tests
send carries a marker ``n`` (its position in translation order), and the server records
the markers it applied per user, so order, completeness and duplicates are read from what
"Braze" applied, not from what the sender believes.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segment_braze as sb
from fakebraze import KEY, FakeBraze, chaos
from segment_braze.batching import iter_batches
from segment_braze.braze import (
    AliasToIdentify,
    CohortChange,
    CohortName,
    CohortUsers,
    Event,
    Identifier,
    MergeUpdate,
    NewAlias,
    Request,
    UserAlias,
    UsersAliasNew,
    UsersIdentify,
    UsersMerge,
    UsersTrack,
)
from segment_braze.delivery import (
    DeadLetter,
    DeliveryReport,
    Journal,
    Pacer,
    Retry,
    deliver,
    deliver_async,
    export_requests,
    read_requests,
    seed_store,
    split,
)
from segment_braze.delivery.lanes import request_keys
from segment_braze.limits import RateLimit
from segment_braze.responses import Outcome
from segment_braze.tracking import MemoryStore, UserRecord

ROOT = Path(__file__).resolve().parent.parent
T = "2024-05-01T12:00:00Z"
FAST = Retry(base=0.001, cap=0.01, max_wait=0.2)


def client_transport(client: httpx.Client) -> Any:
    def send(request: sb.HttpRequest) -> httpx.Response:
        return client.request(request.method, request.url, headers=dict(request.headers),
                              content=request.body)
    return send


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64)) as client:
        yield client


def events(count: int, users: int, *, seed: int = 0, alias: bool = False
           ) -> list[dict[str, Any]]:
    """Track and identify calls of ``users`` users, each carrying its position ``n``;
    with ``alias``, some users first act anonymously, then identify (the identify joins
    the alias and the user, sent in different lanes)."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        user = f"u{rng.randrange(users)}"
        base: dict[str, Any] = {"userId": user, "messageId": f"m{n}", "timestamp": T}
        if alias and rng.random() < 0.15:
            base["anonymousId"] = f"a{user}"
            if rng.random() < 0.5:
                del base["userId"]
        if rng.random() < 0.3 and "userId" in base:
            out.append({"type": "identify", **base, "traits": {"n": n}})
        else:
            out.append({"type": "track", **base, "event": "Played", "properties": {"n": n}})
    return out


def translated(evs: list[dict[str, Any]], settings_: sb.Settings) -> list[Request]:
    return [r for t in sb.Translator(settings_).translate_many(evs) for r in t]


def settings_for(fake: FakeBraze, **more: Any) -> sb.Settings:
    return sb.Settings(rest_endpoint=fake.url, rest_api_key=KEY, **more)


def expected(requests: list[Request]) -> dict[str, list[Any]]:
    """Per user, the markers in translation order."""
    from fakebraze import markers

    out: dict[str, list[Any]] = {}
    for request in requests:
        for user, marker in markers(request.endpoint, request.to_json()):
            out.setdefault(user, []).append(marker)
    return out


def first_seen(markers: list[Any]) -> list[Any]:
    return list(dict.fromkeys(markers))


def in_order(applied: list[Any], wanted: list[Any]) -> bool:
    """Each marker's first application follows translation order."""
    rank = {m: i for i, m in enumerate(dict.fromkeys(wanted))}
    firsts = [rank[m] for m in first_seen(applied)]
    return firsts == sorted(firsts)


class Recorder:
    """A tracker that records every acknowledgement."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Outcome, ...], Request | None]] = []

    def acknowledge(self, outcomes: Any, *, request: Request | None = None) -> int:
        self.calls.append((tuple(outcomes), request))
        return 0


class Stopped(BaseException):
    """A run stopped on purpose (as a kill would stop it)."""


class InProcessBraze:
    """A transport that plays Braze in process: records the markers it applies per user
    (as :class:`fakebraze.FakeBraze` does) and stops the run after ``stop_after``
    requests."""

    def __init__(self, settings_: sb.Settings, stop_after: int | None = None) -> None:
        self.base = settings_.require_rest_endpoint()
        self.stop_after = stop_after
        self.calls = 0
        self.applied: dict[str, list[Any]] = {}

    def __call__(self, prepared: sb.HttpRequest) -> tuple[int, dict[str, str], bytes]:
        from fakebraze import markers

        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            raise Stopped
        for user, marker in markers(prepared.url[len(self.base):], json.loads(prepared.body)):
            self.applied.setdefault(user, []).append(marker)
        return 201, {}, b'{"message": "success"}'


# -- lanes ---------------------------------------------------------------------------------

ALIAS = "anon"


def _ident(user: str) -> Identifier:
    if user.startswith("a"):
        return Identifier("user_alias", UserAlias(alias_name=user, alias_label=ALIAS))
    return Identifier("external_id", user)


@st.composite
def streams(draw: st.DrawFn) -> list[Request]:
    """Requests over a few users: events of one or several users, identifies and merges
    joining two, cohort names and membership changes."""
    people = [f"u{n}" for n in range(6)] + [f"a{n}" for n in range(3)]
    out: list[Request] = []
    for n in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["track", "track", "track", "identify", "merge",
                                     "cohort", "name"]))
        if kind == "track":
            users = draw(st.lists(st.sampled_from(people), min_size=1, max_size=3))
            out.append(UsersTrack(events=tuple(
                Event(identifier=_ident(u), name="E", time=T, properties={"n": n})
                for u in users)))
        elif kind == "identify":
            alias = draw(st.sampled_from(people[6:]))
            user = draw(st.sampled_from(people[:6]))
            out.append(UsersIdentify(aliases_to_identify=(AliasToIdentify(
                external_id=user, user_alias=UserAlias(alias_name=alias, alias_label=ALIAS)),)))
        elif kind == "merge":
            a, b = draw(st.lists(st.sampled_from(people[:6]), min_size=2, max_size=2,
                                 unique=True))
            out.append(UsersMerge(merge_updates=(MergeUpdate(merge=_ident(a),
                                                             keep=_ident(b)),)))
        elif kind == "name":
            out.append(CohortName(cohort_id=draw(st.sampled_from("xy")), name=f"n{n}",
                                  created_at=T))
        else:
            users = draw(st.lists(st.sampled_from(people[:6]), min_size=1, max_size=3,
                                  unique=True))
            out.append(CohortUsers(cohort_id=draw(st.sampled_from("xy")), cohort_changes=(
                CohortChange(user_ids=tuple(users)),)))
    return out


class TestLanes:
    @settings(max_examples=150, deadline=None)
    @given(requests=streams(), lanes=st.integers(1, 6), data=st.data())
    def test_any_interleaving_keeps_each_users_order(self, requests: list[Request],
                                                     lanes: int, data: st.DataObject) -> None:
        """Send the lanes in any interleaving that honours the waits: every key's
        requests (users, and a cohort's name before its later membership changes) arrive
        in stream order."""
        placed = split(requests, lanes)
        heads = [0] * lanes
        done: set[int] = set()
        arrived: list[int] = []
        while len(arrived) < len(requests):
            ready = [n for n in range(lanes) if heads[n] < len(placed[n])
                     and set(placed[n][heads[n]][0].after) <= done]
            assert ready, "the waits never deadlock"
            lane = data.draw(st.sampled_from(ready))
            placement, _ = placed[lane][heads[lane]]
            heads[lane] += 1
            done.add(placement.seq)
            arrived.append(placement.seq)
        keys = [request_keys(r) for r in requests]
        seen: dict[str, int] = {}
        for seq in arrived:
            writes, reads = keys[seq]
            for key in writes:
                assert seen.get(key, -1) < seq, f"{key}: request {seq} overtook an earlier one"
                seen[key] = seq
            for key in reads:  # a membership change after the names sent before it
                earlier = {n for n in range(seq) if key in keys[n][0]}
                assert earlier <= set(arrived[:arrived.index(seq)])

    def test_unrelated_users_spread_over_the_lanes(self) -> None:
        requests = [UsersTrack(events=(Event(identifier=_ident(f"u{n}"), name="E", time=T),))
                    for n in range(8)]
        assert [len(lane) for lane in split(requests, 4)] == [2, 2, 2, 2]

    def test_a_cohorts_name_goes_before_its_membership_changes(self) -> None:
        """The name names no member, yet the change waits for it (or shares its lane)."""
        name = CohortName(cohort_id="c1", name="VIP", created_at=T)
        busy = UsersTrack(events=(Event(identifier=_ident("u1"), name="E", time=T),))
        change = CohortUsers(cohort_id="c1", cohort_changes=(CohortChange(user_ids=("u1",)),))
        lanes = split([name, busy, change], 2)
        (where,) = [(n, p) for n, lane in enumerate(lanes) for p, r in lane if r is change]
        lane, placement = where
        assert placement.after == (0,) or any(p.seq == 0 for p, _ in lanes[lane])

    def test_an_identify_waits_for_both_sides(self) -> None:
        alias = UsersTrack(events=(Event(identifier=_ident("a1"), name="E", time=T),))
        user = UsersTrack(events=(Event(identifier=_ident("u1"), name="E", time=T),))
        identify = UsersIdentify(aliases_to_identify=(AliasToIdentify(
            external_id="u1", user_alias=UserAlias(alias_name="a1", alias_label=ALIAS)),))
        lanes = split([alias, user, identify], 2)
        assert [len(lane) for lane in lanes] == [2, 1]
        assert lanes[0][1][0].after == (1,)


# -- pacing and retrying -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestPacing:
    @staticmethod
    def sends(pacer: Pacer, rate: RateLimit, clock: Clock, count: int) -> list[float]:
        """When ``count`` requests of one lane go, waiting as the pacer says."""
        out = []
        for _ in range(count):
            while (wait := pacer.reserve(rate)) > 0:
                clock.now += wait
            out.append(round(clock.now - 100.0, 6))
        return out

    def test_requests_are_spaced_evenly_per_bucket(self) -> None:
        clock = Clock()
        pacer = Pacer(clock=clock, headroom=1.0)
        rate = RateLimit("b", 10, 1.0)
        assert self.sends(pacer, rate, clock, 4) == pytest.approx([0.0, 0.1, 0.2, 0.3])
        assert pacer.reserve(RateLimit("other", 10, 1.0)) == 0.0, "buckets are independent"

    def test_a_late_lane_does_not_send_on_a_passed_moment(self) -> None:
        """Nothing is reserved while waiting: two lanes told to wait, one waking late,
        still send a full interval apart."""
        clock = Clock()
        pacer = Pacer(clock=clock, headroom=1.0)
        rate = RateLimit("b", 10, 1.0)
        assert pacer.reserve(rate) == 0.0
        assert pacer.reserve(rate) == pytest.approx(0.1)  # lane 2
        clock.now += 0.25  # lane 2 wakes late, lane 3 asks at the same moment
        assert pacer.reserve(rate) == 0.0
        assert pacer.reserve(rate) == pytest.approx(0.1)

    def test_a_pause_holds_the_bucket(self) -> None:
        clock = Clock()
        pacer = Pacer(clock=clock, headroom=1.0)
        rate = RateLimit("b", 100, 1.0)
        pacer.pause(rate, 2.0)
        assert pacer.reserve(rate) == pytest.approx(2.0)
        clock.now += 2.0
        assert pacer.reserve(rate) == 0.0

    def test_headers_tighten_the_pace(self) -> None:
        """10 left for the next 5 seconds: one every half second, not every 10 ms."""
        from segment_braze.responses import RateLimitState

        clock = Clock()
        pacer = Pacer(clock=clock, headroom=1.0)
        rate = RateLimit("b", 100, 1.0)
        pacer.observe(rate, RateLimitState(remaining=10, reset_after=5.0))
        assert self.sends(pacer, rate, clock, 3) == pytest.approx([0.0, 0.5, 1.0])
        clock.now += 6  # the window reset: back to the documented pace
        start = clock.now - 100.0
        assert [t - start for t in self.sends(pacer, rate, clock, 2)] == pytest.approx(
            [0.0, 0.01])

    def test_backoff_is_capped_exponential_with_jitter(self) -> None:
        retry = Retry(base=1.0, cap=8.0)
        assert [retry.backoff(n, None, lambda: 1.0) for n in range(1, 7)] == [
            1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
        assert retry.backoff(3, None, lambda: 0.25) == 1.0
        assert retry.backoff(1, 5.0, lambda: 0.0) == 5.0
        assert retry.backoff(1, 9999.0, lambda: 0.0) == retry.max_wait

    @pytest.mark.parametrize("bad", [{"attempts": 0}, {"base": -1.0}, {"cap": float("nan")}])
    def test_retry_checks_its_numbers(self, bad: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match=next(iter(bad))):
            Retry(**bad)

    def test_never_above_the_configured_rate(self, http: httpx.Client) -> None:
        """Eight lanes, a limit of 20 requests per half second: no window of half a second
        ever sees more than 20 arrivals, and the pace is close to the limit."""
        with FakeBraze(latency=0.002) as fake:
            s = settings_for(fake)
            requests = translated(events(60, 60), s)
            report = deliver(requests, client_transport(http), s, lanes=8,
                             rate_limits={"users/track": RateLimit("users/track", 20, 0.5)})
        times = sorted(t for t, _ in fake.arrivals)
        worst = max(sum(1 for u in times if t <= u < t + 0.5) for t in times)
        assert worst <= 20
        assert report.delivered == 60
        assert 1.2 < times[-1] - times[0] < 2.5  # 60 at 36 a second, not all at once

    def test_a_429_pauses_every_lane_until_the_reset(self, http: httpx.Client) -> None:
        """One 429 with X-RateLimit-Reset 50 ms ahead: from the moment the sender has the
        429 until the reset, no lane starts another request (timed in the sender, so a
        slow machine cannot blur it); then everything is delivered."""
        answers = iter(["ok", "429"])
        starts: list[float] = []
        limited: list[tuple[float, float]] = []  # (when the 429 was had, its reset)
        send = client_transport(http)

        def timed(request: sb.HttpRequest) -> httpx.Response:
            starts.append(time.time())
            response = send(request)
            if response.status_code == 429:
                limited.append((time.time(), float(response.headers["X-RateLimit-Reset"])))
            return response

        with FakeBraze(plan=lambda *_: next(answers, "ok")) as fake:
            s = settings_for(fake)
            report = deliver(translated(events(30, 30), s), timed, s,
                             lanes=4, retry=FAST, window=4)
        assert report.total("rate_limited") == 1
        assert report.delivered == 30
        [(had, reset)] = limited
        # A lane may be past its pause check when the 429 arrives: allow it 5 ms.
        assert [t for t in starts if had + 0.005 < t < reset - 0.001] == []
        assert max(starts) >= reset - 0.001
        assert len(fake.arrivals) == 31


# -- end to end --------------------------------------------------------------------------


def dead_marker(line: dict[str, Any]) -> Any:
    """The marker of a dead-lettered entry (as :func:`fakebraze.markers` reads it)."""
    entry = line["entry"]
    if line["array"] in ("events", "purchases"):
        return entry["properties"]["n"]
    if line["array"] == "attributes":
        return entry.get("n")
    from fakebraze import markers
    from segment_braze.delivery.wire import CLASSES

    return markers(line["endpoint"], {"aliases_to_identify": [entry]})[0][1] if (
        line["endpoint"] in CLASSES and line["array"] == "aliases_to_identify") else None


def dead_lines(buffer: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


class TestEndToEnd:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_every_entry_delivered_or_dead_lettered_each_user_in_order(
            self, http: httpx.Client, seed: int) -> None:
        """A chaotic Braze (every kind of answer), 6 lanes: each entry is delivered or in
        the dead letter (never both, never neither), every user's markers were applied in
        translation order, and the tracker heard every attempt."""
        with FakeBraze(plan=chaos(seed), latency=0.001) as fake:
            s = settings_for(fake, anonymous_users="alias")
            requests = list(iter_batches(translated(events(600, 40, seed=seed, alias=True), s),
                                         max_total=12))
            dead = io.BytesIO()
            tracker = Recorder()
            report = deliver(requests, client_transport(http), s, lanes=6, retry=FAST,
                             dead_letter=dead, tracker=tracker)
        entries = sum(r.size() for r in requests)
        lines = dead_lines(dead)
        assert report.complete
        assert report.in_flight == 0
        assert report.delivered + report.dead_lettered == entries
        assert len(lines) == report.dead_lettered > 0
        assert fake.unauthorized == 0
        wanted = expected(requests)
        for user, applied in fake.applied.items():
            assert in_order(applied, wanted[user]), user
        dead = {dead_marker(line) for line in lines}
        applied_markers = {m for markers in fake.applied.values() for m in markers}
        every = {m for markers in wanted.values() for m in markers}
        assert every <= applied_markers | dead, "nothing lost"
        attempts = report.total("attempts")
        assert attempts <= len(tracker.calls) <= attempts + report.total("requests")
        assert report.total("retried") > 0
        assert report.total("rate_limited") > 0
        assert report.latency.count == attempts

    def test_a_201_with_errors_splits_the_request(self, http: httpx.Client) -> None:
        """The object Braze names goes to the dead letter with Braze's message; the others
        are delivered and acknowledged."""
        plan = iter(["errors"])
        with FakeBraze(plan=lambda *_: next(plan, "ok")) as fake:
            s = settings_for(fake)
            (request,) = list(iter_batches(translated(events(5, 5, seed=4), s)))
            dead = io.BytesIO()
            report = deliver([request], client_transport(http), s, lanes=1, dead_letter=dead)
        (line,) = dead_lines(dead)
        assert (report.delivered, report.dead_lettered) == (request.size() - 1, 1)
        assert line["status"] == "refused"
        assert line["message"] == "refused by the fake"
        assert line["origin"] == request.origin_of(line["array"], line["index"])
        assert line["problems"] == [{"path": f"$.{line['array']}[{line['index']}]",
                                     "message": "refused by the fake", "rule": None}]
        assert set(line) >= {"source", "line", "original", "problems"}, "the rejects' shape"
        assert json.loads(line["original"]) == line["entry"]
        assert line["attempts"] == 1

    def test_given_up_after_the_last_attempt(self, http: httpx.Client) -> None:
        with FakeBraze(plan=lambda *_: "503") as fake:
            s = settings_for(fake)
            dead = io.BytesIO()
            report = deliver(translated(events(2, 2), s), client_transport(http), s,
                             retry=Retry(attempts=3, base=0.001, cap=0.001), dead_letter=dead)
        assert [(line["status"], line["attempts"], line["http_status"])
                for line in dead_lines(dead)] == [("gave_up", 3, 503)] * 2
        assert report.total("gave_up") == 2
        assert report.total("attempts") == 6

    def test_transport_exceptions_are_retried(self) -> None:
        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        calls: list[int] = []

        def flaky(request: sb.HttpRequest) -> tuple[int, dict[str, str], bytes]:
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionResetError("peer went away")
            return 201, {}, b'{"message": "success"}'

        report = deliver(translated(events(1, 1), s), flaky, s, retry=FAST)
        assert (report.delivered, report.total("retried"), len(calls)) == (1, 2, 3)

    def test_an_async_transport_is_refused_by_the_sync_deliverer(self) -> None:
        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)

        async def transport(request: sb.HttpRequest) -> Any:
            return 201, {}, b""

        with pytest.raises(TypeError, match="deliver_async"):
            deliver(translated(events(1, 1), s), transport, s)

    def test_a_failing_input_stops_and_settles_what_was_answered(
            self, http: httpx.Client, tmp_path: Path) -> None:
        with FakeBraze(latency=0.002) as fake:
            s = settings_for(fake)
            requests = translated(events(40, 40), s)

            def broken() -> Iterator[Request]:
                yield from requests[:20]
                raise RuntimeError("the input broke")

            with pytest.raises(RuntimeError, match="the input broke"):
                deliver(broken(), client_transport(http), s, lanes=4,
                        journal=tmp_path / "j.db")
            with Journal(tmp_path / "j.db") as journal:
                assert journal.counts() == {"delivered": sum(
                    len(markers) for markers in fake.applied.values())}

    def test_async_twin(self) -> None:
        """deliver_async with httpx's AsyncClient: the same guarantees."""
        async def run(fake: FakeBraze) -> tuple[DeliveryReport, list[Request]]:
            s = settings_for(fake, anonymous_users="alias")
            requests = list(iter_batches(translated(events(300, 30, seed=9, alias=True), s),
                                         max_total=10))

            async def aiter() -> Any:
                for request in requests:
                    yield request

            async with httpx.AsyncClient(timeout=10) as client:
                async def transport(request: sb.HttpRequest) -> httpx.Response:
                    return await client.request(request.method, request.url,
                                                headers=dict(request.headers),
                                                content=request.body)
                return await deliver_async(aiter(), transport, s, lanes=5, retry=FAST,
                                           dead_letter=io.BytesIO()), requests

        with FakeBraze(plan=chaos(5, refuse=False), latency=0.001) as fake:
            report, requests = asyncio.run(run(fake))
        assert report.delivered + report.dead_lettered == sum(r.size() for r in requests)
        wanted = expected(requests)
        for user, applied in fake.applied.items():
            assert in_order(applied, wanted[user]), user

    def test_progress_and_report_are_json(self, http: httpx.Client) -> None:
        seen: list[DeliveryReport] = []
        with FakeBraze() as fake:
            s = settings_for(fake)
            report = deliver(translated(events(10, 10), s), client_transport(http), s,
                             progress=seen.append, progress_every=0.0)
        assert seen[-1] == report
        assert report.complete
        assert not seen[0].complete
        data = json.loads(json.dumps(report.to_json()))
        assert data["totals"]["delivered"] == 10
        assert data["endpoints"]["/users/track"]["latency_ms"]["count"] == 10
        assert "10 delivered" in report.render()


# -- the journal -----------------------------------------------------------------------


class TestJournal:
    def test_a_second_run_sends_nothing_delivered(self, http: httpx.Client,
                                                  tmp_path: Path) -> None:
        with FakeBraze() as fake:
            s = settings_for(fake)
            requests = translated(events(50, 10), s)
            first = deliver(requests, client_transport(http), s, journal=tmp_path / "j")
            again = deliver(translated(events(50, 10), s), client_transport(http), s,
                            journal=tmp_path / "j")
        assert first.delivered == 50
        assert (again.delivered, again.total("skipped"), again.total("requests")) == (0, 50, 0)
        assert sum(len(m) for m in fake.applied.values()) == 50

    def test_skipped_entries_are_acknowledged(self, http: httpx.Client,
                                              tmp_path: Path) -> None:
        """What a previous run delivered is committed to change tracking on resume."""
        with FakeBraze() as fake:
            s = settings_for(fake)
            evs = [{"type": "identify", "userId": "u1", "messageId": "i1", "timestamp": T,
                    "traits": {"plan": "pro"}}]
            deliver(translated(evs, s), client_transport(http), s, journal=tmp_path / "j")
            tracker = sb.Tracker(MemoryStore())
            requests = [r for t in sb.Translator(s).translate_many(evs)
                        for r in tracker.apply(t)]
            deliver(requests, client_transport(http), s, journal=tmp_path / "j",
                    tracker=tracker)
            again = tracker.apply(sb.Translator(s).translate(evs[0]))
            assert again.skipped == "no attribute changed"

    def test_identical_entries_of_one_event_are_told_apart(self, tmp_path: Path) -> None:
        """An order of 250 units is three purchases, two of them identical: each is
        journaled on its own."""
        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        order = {"type": "track", "userId": "u1", "event": "Order Completed",
                 "messageId": "o1", "timestamp": T,
                 "properties": {"products": [{"product_id": "p", "price": 1,
                                              "quantity": 250}]}}
        (request,) = translated([order], s)
        assert len(request.purchases) == 3  # type: ignore[attr-defined]
        calls: list[bytes] = []

        def ok(prepared: sb.HttpRequest) -> tuple[int, dict[str, str], bytes]:
            calls.append(prepared.body)
            return 201, {}, b"{}"

        deliver([request.from_pairs({"purchases": list(request.pairs(  # first two only
            type(request).ENDPOINT.part("purchases")))[:2]})], ok, s, journal=tmp_path / "j")
        deliver([request], ok, s, journal=tmp_path / "j")
        assert [len(json.loads(body)["purchases"]) for body in calls] == [2, 1]

    def test_a_resumed_run_with_state_batches_differently_and_still_skips(
            self, tmp_path: Path) -> None:
        """Stopped after five requests, then run again over the same input with the same
        state store, as ``replay --state`` does: change tracking now leaves out the
        values the first run delivered (whole identifies disappear), so the requests
        differ; the journal still knows the entries, and each is applied exactly once."""
        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        evs = events(120, 12, seed=3)
        store = MemoryStore()
        braze = InProcessBraze(s, stop_after=5)

        def requests(max_total: int) -> tuple[sb.Tracker, list[Request]]:
            tracker = sb.Tracker(store)
            out = [r for t in sb.Translator(s).translate_many(evs) for r in tracker.apply(t)]
            return tracker, list(iter_batches(out, max_total=max_total))

        tracker, first = requests(4)
        with pytest.raises(Stopped):
            deliver(first, braze, s, lanes=1, journal=tmp_path / "j", tracker=tracker)
        tracker, second = requests(6)
        assert sum(r.size() for r in second) < sum(r.size() for r in first)
        braze.stop_after = None
        report = deliver(second, braze, s, lanes=1, journal=tmp_path / "j", tracker=tracker)
        assert report.total("skipped") > 0
        wanted = expected(translated(evs, s))
        assert {u: sorted(m) for u, m in braze.applied.items()} == {
            u: sorted(m) for u, m in wanted.items()}

    def test_a_refused_entry_is_remembered_as_refused(self, tmp_path: Path) -> None:
        """Braze refused the first request (400): its entries are in the dead letter and
        the journal; the next run does not send them again, and tells the tracker they
        failed."""
        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        evs = events(20, 20)
        answers = iter([(400, {}, b'{"message": "Invalid"}')])

        def transport(prepared: sb.HttpRequest) -> Any:
            return next(answers, (201, {}, b"{}"))

        requests = list(iter_batches(translated(evs, s), max_total=5))
        dead = io.BytesIO()
        first = deliver(requests, transport, s, lanes=1, journal=tmp_path / "j",
                        dead_letter=dead)
        assert first.total("refused") == 5
        with Journal(tmp_path / "j") as journal:
            assert journal.counts() == {"refused": 5, "delivered": 15}
        sent: list[bytes] = []
        tracker = Recorder()
        again = deliver(requests, lambda p: sent.append(p.body) or (201, {}, b"{}"), s,
                        journal=tmp_path / "j", tracker=tracker)
        assert (again.total("skipped"), again.total("requests"), sent) == (20, 0, [])
        told = {o.origin: o.status for outcomes, _ in tracker.calls for o in outcomes}
        assert sorted(o for o, status in told.items() if status == "failed") == sorted(
            requests[0].origins["events"] + requests[0].origins.get("attributes", ()))

    def test_a_first_layout_journal_is_read_and_upgraded(self, tmp_path: Path) -> None:
        """A journal of the first layout (one row per entry, named as
        ``'origin'<US>endpoint<US>part<US>first user``) is upgraded in place: its entries
        are skipped, and what this run settles is added."""
        import sqlite3

        path = tmp_path / "old.journal"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE entries (key BLOB PRIMARY KEY NOT NULL, "
                   "status TEXT NOT NULL) WITHOUT ROWID")
        db.execute(f"PRAGMA application_id={0x53426A6E}")  # "SBjn"
        db.execute("PRAGMA user_version=1")
        db.executemany("INSERT INTO entries VALUES (?, ?)", [
            (f"'m{n}'\x1f/users/track\x1fevents\x1fexternal_id:u{n}".encode(), status)
            for n, status in ((0, "delivered"), (1, "delivered"), (2, "refused"))])
        db.commit()
        db.close()
        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        evs = [{"type": "track", "userId": f"u{n}", "event": "Played", "messageId": f"m{n}",
                "timestamp": T} for n in range(5)]
        sent: list[str] = []

        def transport(prepared: sb.HttpRequest) -> Any:
            sent.extend(e["external_id"] for e in json.loads(prepared.body)["events"])
            return 201, {}, b"{}"

        report = deliver(iter_batches(translated(evs, s)), transport, s, journal=path)
        assert sent == ["u3", "u4"]
        assert report.total("skipped") == 3
        with Journal(path) as journal:
            assert journal.counts() == {"delivered": 4, "refused": 1}
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (2,)

    def test_a_newer_layout_is_refused(self, tmp_path: Path) -> None:
        Journal(tmp_path / "j").close()
        import sqlite3

        db = sqlite3.connect(tmp_path / "j")
        db.execute("PRAGMA user_version=3")
        db.close()
        with pytest.raises(ValueError, match="newer segment-braze"):
            Journal(tmp_path / "j")

    def test_writing_costs_one_row_per_answer_and_about_fifty_bytes_per_entry(
            self, tmp_path: Path) -> None:
        """The first run writes one row per answered request (not one per entry) and no
        index; names take about 50 bytes per entry with message ids and user ids as long
        as Segment's (20 to 40 characters)."""
        import sqlite3

        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        evs = [{"type": "track", "userId": f"user-{n % 500:05d}", "event": "Played",
                "messageId": f"msg-{n:09d}-{random.Random(n).getrandbits(32):08x}",
                "timestamp": T} for n in range(3000)]
        requests = list(iter_batches(translated(evs, s)))
        deliver(requests, lambda p: (201, {}, b"{}"), s, journal=tmp_path / "j")
        db = sqlite3.connect(tmp_path / "j")
        (rows, size), = db.execute("SELECT count(*), sum(length(names)) FROM answers")
        assert rows == len(requests) == 40
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (0,)
        assert 40 <= size / len(evs) <= 56

    def test_memory_stays_flat_whatever_the_journal_size(self, tmp_path: Path) -> None:
        """Resuming builds the index on disk, a few hundred answers at a time: the memory
        it takes does not grow with the journal (a set of 180,000 names would take about
        20 MB; SQLite's own page cache, a few MB at most, is not counted here)."""
        import tracemalloc

        from segment_braze.delivery.journal import Names

        def peak(entries: int) -> int:
            path = tmp_path / f"{entries}.journal"
            with Journal(path) as journal:
                for start in range(0, entries, 100):
                    origins = [f"msg-{n:09d}-abcdef12" for n in range(start, start + 100)]
                    users = [f"external_id:user-{n:05d}" for n in range(start, start + 100)]
                    journal.record(Names("/users/track", [("events", origins, users, None)]),
                                   "delivered")
            probe = Names("/users/track", [("events", ["msg-000000007-abcdef12"],
                                            ["external_id:user-00007"], None)])
            tracemalloc.start()
            try:
                with Journal(path) as journal:
                    assert journal.settled(probe) == [["delivered"]]
                _, top = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            return top

        small, large = peak(60_000), peak(180_000)  # 600 and 1,800 answers
        assert large < small * 1.1
        assert large < 4_000_000

    def test_the_namer_remembers_a_bounded_window(self) -> None:
        """Ranks count identical names over the last ``window`` to ``2 * window`` names of
        each part: memory stays flat over any stream, and identical entries close
        together are still told apart."""
        from segment_braze.delivery.journal import Namer
        from segment_braze.delivery.lanes import entry_users

        namer = Namer(window=100)
        for n in range(5_000):
            request = UsersTrack(events=(
                Event(identifier=Identifier("external_id", f"u{n}"), name="E", time=T),
            ) * 2, origins={"events": (f"m{n}", f"m{n}")})
            names = namer.names(request, entry_users(request))
            assert names.parts[0][3] == [0, 1]
            assert len(namer) <= 2 * 100 + 2

    def test_the_index_is_built_once_by_the_run_that_needs_it(self, tmp_path: Path) -> None:
        """Each answer is indexed once, by the first later run that looks something up;
        a run on a new journal indexes nothing."""
        import sqlite3

        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        ok = lambda p: (201, {}, b"{}")  # noqa: E731
        evs = events(30, 30)

        def state() -> tuple[int, int, int]:
            db = sqlite3.connect(tmp_path / "j")
            return (db.execute("SELECT count(*) FROM answers").fetchone()[0],
                    db.execute("SELECT count(*) FROM entries").fetchone()[0],
                    db.execute("SELECT through FROM indexed").fetchone()[0])

        deliver(iter_batches(translated(evs[:10], s)), ok, s, journal=tmp_path / "j")
        first, _, _ = state()
        assert state() == (first, 0, 0)
        deliver(iter_batches(translated(evs[:20], s)), ok, s, journal=tmp_path / "j")
        second, _, _ = state()
        assert state() == (second, 10, first)
        deliver(iter_batches(translated(evs, s)), ok, s, journal=tmp_path / "j")
        assert state()[1:] == (20, second)

    def test_the_async_deliverer_journals_too(self, tmp_path: Path) -> None:
        """deliver_async writes the same journal (its lanes write delivered answers on the
        event loop): a second run sends nothing."""
        s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=KEY)
        sent: list[bytes] = []

        async def transport(prepared: sb.HttpRequest) -> Any:
            sent.append(prepared.body)
            return 201, {}, b"{}"

        requests = list(iter_batches(translated(events(40, 8), s), max_total=7))
        first = asyncio.run(deliver_async(requests, transport, s, lanes=3,
                                          journal=tmp_path / "j"))
        calls = len(sent)
        again = asyncio.run(deliver_async(requests, transport, s, lanes=3,
                                          journal=tmp_path / "j"))
        assert (first.delivered, calls) == (40, len(requests))
        assert (again.total("skipped"), len(sent)) == (40, calls)

    def test_names_that_are_not_valid_unicode_are_journaled(self, tmp_path: Path) -> None:
        """A message id or user id holding a lone surrogate (a Python caller may build
        one) is written and recognised like any other."""
        from segment_braze.delivery.journal import Names

        names = Names("/users/track", [("events", ["m\ud800", 7, None],
                                        ["external_id:u\udfff", "external_id:v", ""],
                                        [0, 1, 0])])
        assert Names.from_blob(names.to_blob()).parts == names.parts
        with Journal(tmp_path / "j") as journal:
            journal.record(names, "refused")
        with Journal(tmp_path / "j") as journal:
            assert journal.settled(names) == [["refused", "refused", None]]

    def test_refuses_another_sqlite_file(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        sb.SQLiteStore(path).close()
        with pytest.raises(ValueError, match="not a segment-braze delivery journal"):
            Journal(path)

    @pytest.mark.parametrize("run", range(3))
    def test_killed_with_sigkill_then_resumed(self, tmp_path: Path, run: int) -> None:
        """``segment-braze send`` killed with SIGKILL at random moments, twice, then run to
        the end: every entry applied, and applied twice only if it was in flight at a
        kill (at most one request per lane)."""
        lanes = 4
        rng = random.Random(run)
        with FakeBraze(latency=0.004) as fake:
            s = settings_for(fake)
            requests = list(iter_batches(translated(events(900, 120, seed=run), s),
                                         max_total=6))
            lines = [json.dumps({"endpoint": r.endpoint, "body": r.to_json(),
                                 "origins": {k: list(v) for k, v in r.origins.items()}})
                     for r in requests]
            (tmp_path / "requests.ndjson").write_text("\n".join(lines) + "\n")
            (tmp_path / "settings.json").write_text(json.dumps(
                {"rest_endpoint": fake.url}))
            command = [sys.executable, "-m", "segment_braze", "send",
                       str(tmp_path / "requests.ndjson"), "--settings",
                       str(tmp_path / "settings.json"), "--lanes", str(lanes),
                       "--journal", str(tmp_path / "journal.db"),
                       "--summary", str(tmp_path / "summary.json")]
            env = {**os.environ, "BRAZE_REST_API_KEY": KEY}
            kills = 0
            for _ in range(2):
                before = len(fake.arrivals)
                process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)  # noqa: S603
                deadline = time.monotonic() + 20
                wanted = before + rng.randrange(5, 40)
                while len(fake.arrivals) < wanted and process.poll() is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.002)
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills += 1
                process.wait()
                process.stderr.close()  # type: ignore[union-attr]
            done = subprocess.run(command, env=env, capture_output=True, text=True,  # noqa: S603
                                  timeout=60, check=False)
            assert done.returncode == 0, done.stderr
        assert kills == 2
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["delivery"]["totals"]["skipped"] > 0
        wanted_markers = expected(requests)
        twice = 0
        for user, markers in wanted_markers.items():
            applied = fake.applied[user]
            assert set(applied) == set(markers), user
            twice += len(applied) - len(set(applied))
            assert in_order(applied, markers)
        per_request = max(r.size() for r in requests)
        assert twice <= kills * lanes * per_request


# -- reading requests back, seeding ----------------------------------------------------------


class TestWireAndSeed:
    def test_translate_output_reads_back_the_same(self) -> None:
        s = sb.Settings(anonymous_users="alias", identify_by_email=True,
                        cohort_client_secret="c", cohort_partner_api_key="p")
        evs = [*events(200, 20, alias=True),
               {"type": "identify", "userId": "u6", "anonymousId": "a6", "timestamp": T,
                "traits": {"email": "u6@example.com"}},
               {"type": "alias", "userId": "u1", "previousId": "u2", "timestamp": T},
               {"type": "delete", "userId": "u3", "messageId": "d3"},
               {"type": "track", "userId": "u4", "event": "Order Completed", "timestamp": T,
                "properties": {"products": [{"product_id": "p", "price": 3.5}],
                               "currency": "EUR"}},
               {"type": "identify", "userId": "u5", "timestamp": T,
                "context": {"personas": {"computation_class": "audience",
                                         "computation_key": "vip", "computation_id": "c9"}},
                "traits": {"vip": True}}]
        requests = [*iter_batches(translated(evs, s)),
                    UsersMerge(merge_updates=(MergeUpdate(merge=_ident("a1"),
                                                          keep=_ident("u1")),),
                               origins={"merge_updates": ("x",)}),
                    UsersAliasNew(user_aliases=(NewAlias(user_alias=UserAlias(
                        alias_name="n", alias_label="l"), external_id="u1"),)),
                    *export_requests(translated(evs[:30], s))]
        assert {r.endpoint for r in requests} == {
            "/users/track", "/users/identify", "/users/merge", "/users/delete",
            "/users/alias/new", "/users/export/ids", "/partners/segment/cohorts",
            "/partners/segment/cohorts/users"}
        lines = [json.dumps({"endpoint": r.endpoint, "body": r.to_json(),
                             "origins": {k: list(v) for k, v in r.origins.items()}})
                 for r in requests]
        assert any("emails_to_identify" in r.to_json() for r in requests)
        back = list(read_requests(lines))
        assert [b.to_json() for b in back] == [r.to_json() for r in requests]
        assert [dict(b.origins) for b in back] == [dict(r.origins) for r in requests]

    @pytest.mark.parametrize(("line", "message"), [
        ("[]", "not a JSON object"),
        ('{"endpoint": "/users/nope", "body": {}}', "unknown endpoint"),
        ('{"endpoint": "/users/track", "body": {"events": [{"name": "x"}]}}', "wrong shape"),
        ("{", "line 1"),
    ])
    def test_bad_lines_are_named(self, line: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            list(read_requests([line]))

    def test_export_requests_name_the_written_users_and_fields(self) -> None:
        s = sb.Settings(anonymous_users="alias")
        evs = [{"type": "identify", "userId": f"u{n}", "timestamp": T,
                "traits": {"firstName": "A", "plan": "pro"}} for n in range(120)]
        evs.append({"type": "identify", "anonymousId": "x", "timestamp": T,
                    "traits": {"plan": "free"}})
        exports = list(export_requests(translated(evs, s)))
        assert [r.size() for r in exports] == [50, 50, 21]
        assert exports[0].fields_to_export == ("external_id", "user_aliases", "first_name",
                                               "custom_attributes")
        assert exports[-1].user_aliases == (UserAlias(alias_name="x",
                                                      alias_label="segment_anonymous_id"),)
        assert exports[0].to_json()["external_ids"][:2] == ["u0", "u1"]

    def test_seed_then_replay_sends_only_what_differs(self, http: httpx.Client) -> None:
        with FakeBraze() as fake:
            s = settings_for(fake)
            fake.profiles = {"u1": {"external_id": "u1", "first_name": "Ada",
                                    "custom_attributes": {"plan": "pro"}}}
            evs = [{"type": "identify", "userId": "u1", "messageId": "s1", "timestamp": T,
                    "traits": {"firstName": "Ada", "plan": "team", "n": 1}}]
            store = MemoryStore()
            alias = 'user_alias:["segment_anonymous_id","a1"]'
            store.put("external_id:u1", UserRecord(values={"plan": "old"},
                                                   aliases=frozenset({alias})))
            tracker = sb.Tracker(store)
            written: list[int] = []
            deliver(export_requests(translated(evs, s)), client_transport(http), s,
                    on_response=lambda r, a: written.append(seed_store(tracker, r, a.body)))
            assert written == [1]
            assert store.get("external_id:u1") == UserRecord(
                values={"plan": "pro", "first_name": "Ada"}, aliases=frozenset({alias}))
            (t,) = [tracker.apply(sb.Translator(s).translate(e)) for e in evs]
            assert t.unchanged == ("first_name",)


# -- the command line ------------------------------------------------------------------------


def run_cli(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    from segment_braze.cli import main

    out, err = io.BytesIO(), io.StringIO()
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        status = main(argv, stdin=io.BytesIO(), stdout=out, stderr=err)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return status, err.getvalue(), out.getvalue()


class TestCommandLine:
    def test_replay_translates_and_sends(self, tmp_path: Path) -> None:
        evs = events(80, 10, alias=True)
        (tmp_path / "in.ndjson").write_text("".join(json.dumps(e) + "\n" for e in evs)
                                            + "not json\n")
        with FakeBraze(plan=chaos(7, refuse=False)) as fake:
            (tmp_path / "s.json").write_text(json.dumps({"rest_endpoint": fake.url,
                                                         "rest_api_key": KEY,
                                                         "anonymous_users": "alias"}))
            status, err, out = run_cli(["replay", str(tmp_path / "in.ndjson"), "--settings",
                                        str(tmp_path / "s.json"), "--lanes", "3",
                                        "--state", str(tmp_path / "state.db"),
                                        "--dead-letter", str(tmp_path / "dead.ndjson"),
                                        "--summary", str(tmp_path / "sum.json"),
                                        "--fail-on-reject"])
        summary = json.loads((tmp_path / "sum.json").read_text())
        assert status == 1, err  # the line that is not JSON
        assert summary["read"] == 81
        assert summary["rejected"]["total"] == 1
        delivery = summary["delivery"]["totals"]
        assert delivery["delivered"] + delivery["dead_lettered"] == sum(
            r["objects"][k] for r in summary["requests"].values() for k in r["objects"])
        assert "delivery:" in err
        assert out == b""

    def test_send_reads_what_translate_wrote(self, tmp_path: Path) -> None:
        evs = events(40, 8)
        (tmp_path / "in.ndjson").write_text("".join(json.dumps(e) + "\n" for e in evs))
        status, err, _ = run_cli(["translate", str(tmp_path / "in.ndjson"), "-o",
                                  str(tmp_path / "req.ndjson")])
        assert status == 0, err
        with open(tmp_path / "req.ndjson", "a") as file:
            file.write('{"endpoint": "/nope"}\n')
        with FakeBraze() as fake:
            (tmp_path / "s.json").write_text(json.dumps({"rest_endpoint": fake.url}))
            status, err, _ = run_cli(["send", str(tmp_path / "req.ndjson"), "--settings",
                                      str(tmp_path / "s.json"), "--rejects",
                                      str(tmp_path / "rej.ndjson"), "--state",
                                      str(tmp_path / "state.db")],
                                     env={"BRAZE_REST_API_KEY": KEY})
            assert status == 0, err
            assert sum(len(m) for m in fake.applied.values()) == 40
        (reject,) = [json.loads(x) for x in (tmp_path / "rej.ndjson").read_text().splitlines()]
        assert reject["problems"][0]["message"] == "unknown endpoint '/nope'"

    def test_seed_state(self, tmp_path: Path) -> None:
        evs = [{"type": "identify", "userId": f"u{n}", "timestamp": T,
                "traits": {"firstName": "Ada", "plan": "pro"}} for n in range(3)]
        (tmp_path / "in.ndjson").write_text("".join(json.dumps(e) + "\n" for e in evs))
        with FakeBraze() as fake:
            fake.profiles = {"u1": {"external_id": "u1", "first_name": "Ada"}}
            (tmp_path / "s.json").write_text(json.dumps({"rest_endpoint": fake.url,
                                                         "rest_api_key": KEY}))
            status, err, _ = run_cli(["seed-state", str(tmp_path / "in.ndjson"), "--settings",
                                      str(tmp_path / "s.json"), "--state",
                                      str(tmp_path / "state.db")])
            assert status == 0, err
            assert list(fake.paths()) == ["/users/export/ids"]
        assert "records seeded: 1" in err
        with sb.SQLiteStore(tmp_path / "state.db") as store:
            assert store.get("external_id:u1") == UserRecord(values={"first_name": "Ada"})

    def test_without_a_key_or_httpx_one_line(self, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "r.ndjson").write_text("")
        (tmp_path / "s.json").write_text(json.dumps({"rest_endpoint": "US-03"}))
        monkeypatch.delenv("BRAZE_REST_API_KEY", raising=False)
        status, err, _ = run_cli(["send", str(tmp_path / "r.ndjson"), "--settings",
                                  str(tmp_path / "s.json")])
        assert status == 2
        assert "rest_api_key" in err
        assert "BRAZE_REST_API_KEY" in err
        monkeypatch.setitem(sys.modules, "httpx", None)
        status, err, _ = run_cli(["send", str(tmp_path / "r.ndjson"), "--settings",
                                  str(tmp_path / "s.json")], env={"BRAZE_REST_API_KEY": "k"})
        assert (status, err) == (2, "segment-braze: error: sending needs httpx: pip install "
                                    "'segment-braze[send]'\n")


# -- secrets ---------------------------------------------------------------------------


SECRET = "sbk-delivery-9c1e-secretvalue"


def test_no_output_of_delivery_shows_the_key(tmp_path: Path) -> None:
    """The dead letter, the report, its JSON and rendering, the progress, the journal,
    the command line's summary and standard error: no key, even when the transport's
    exception quotes it and Braze's answer echoes it."""
    s = sb.Settings(rest_endpoint="https://rest.iad-01.braze.com", rest_api_key=SECRET,
                    cohort_client_secret=SECRET + "-c", cohort_partner_api_key=SECRET + "-p")
    answers = iter([ConnectionError(f"refused with Authorization: Bearer {SECRET}"),
                    (400, {}, json.dumps({"message": f"bad key {SECRET}"}).encode()),
                    (201, {}, json.dumps({"message": "success",
                                          "errors": [f"minor: {SECRET}"]}).encode())])

    def transport(request: sb.HttpRequest) -> Any:
        answer = next(answers, (201, {}, b"{}"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    dead = io.BytesIO()
    seen: list[DeliveryReport] = []
    journal = Journal(tmp_path / "j.db")
    report = deliver(translated(events(3, 1), s), transport, s, lanes=1, retry=FAST,
                     dead_letter=DeadLetter(dead), journal=journal, progress=seen.append,
                     progress_every=0.0)
    texts = [dead.getvalue().decode(), json.dumps(report.to_json()), report.render(),
             repr(report), repr(journal), *map(repr, seen)]
    assert report.dead_lettered
    assert report.total("warnings")
    for text in texts:
        assert "secretvalue" not in text
    assert "***" in dead.getvalue().decode()

    identify = {"type": "identify", "userId": "u1", "timestamp": T, "traits": {"a": 1}}
    (tmp_path / "in.ndjson").write_text(json.dumps(identify) + "\n")
    with FakeBraze() as fake:  # it expects another key: every request is refused (401)
        (tmp_path / "s.json").write_text(json.dumps({"rest_endpoint": fake.url,
                                                     "rest_api_key": SECRET}))
        for command in ("replay", "seed-state"):
            status, err, out = run_cli([command, str(tmp_path / "in.ndjson"), "--settings",
                                        str(tmp_path / "s.json"), "--state",
                                        str(tmp_path / f"{command}.db"), "--summary",
                                        str(tmp_path / "sum.json"), "--lanes", "1",
                                        "--dead-letter", str(tmp_path / "dead.ndjson")]
                                       [:-2 if command == "seed-state" else None])
            assert status == 0, err
            for text in (err, out.decode(), (tmp_path / "sum.json").read_text(),
                         (tmp_path / "dead.ndjson").read_text()):
                assert "secretvalue" not in text
        status, err, _ = run_cli(["translate", str(tmp_path / "in.ndjson"), "-o",
                                  str(tmp_path / "req.ndjson")])
        status, err, out = run_cli(["send", str(tmp_path / "req.ndjson"), "--settings",
                                    str(tmp_path / "s.json"), "--summary",
                                    str(tmp_path / "sum.json"), "--dead-letter",
                                    str(tmp_path / "dead.ndjson")])
        assert status == 0, err
        for text in (err, out.decode(), (tmp_path / "sum.json").read_text(),
                     (tmp_path / "dead.ndjson").read_text()):
            assert "secretvalue" not in text
        assert fake.unauthorized == 3
