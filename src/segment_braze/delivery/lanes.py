"""Lanes: requests split into streams that can be sent at once without reordering a user.

Braze applies requests in the order they arrive. Requests of two users who share nothing
can go in any order, so they can be sent concurrently; requests naming a common user must
arrive in translation order. A lane is a queue sent one request at a time; requests are
placed so that a user's requests follow each other in one lane:

- each request names users: ``part.users(entry)`` for every entry of every part of its
  endpoint's declaration (both sides of an identify or a merge, every member of a cohort
  change);
- a request goes to the lane that already holds the pending requests of its users; a
  request naming no pending user goes to the least loaded lane;
- a request whose users are pending in several lanes (an identify joining an alias sent in
  one lane and a user sent in another) goes to one of them, and *waits* for the last
  pending request of each of its users in the others (``Placement.after``); its users
  then belong to its lane. Waits only ever point to earlier requests, so they never
  deadlock.

Cohorts (endpoints batched ``"once"`` and ``"latest"`` within a ``group``): a cohort's
name (``CohortName``) names no member, so nothing above would keep it ahead of the
membership changes that follow it; yet Braze must know the cohort before users join it.
So a ``"once"`` request also *writes* a key of its group (``group:cohort_id=...``) and a
``"latest"`` request *reads* it: a membership change waits for the name sent before it,
while membership changes of one cohort do not wait for each other.

What a lane does not keep: the order between two users who share nothing. If one user's
update must reach Braze before another user's (a referral credited to the referrer after
the referee signs up), the two requests must name a common user, or be sent in two runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import chain
from operator import itemgetter
from typing import Final, Literal

import attrs

from ..braze import Batching, Request, UserKey

__all__ = ["Placement", "Router", "entry_users", "request_keys", "split"]

#: How a request of each kind of batching takes part in its group's order: a ``once``
#: request (a cohort's name) writes the group's key, a ``latest`` one (a membership
#: change) reads it.
GROUP_ROLES: Final[Mapping[Batching, Literal["write", "read"] | None]] = {
    "ordered": None, "once": "write", "latest": "read"}
_LANE: Final = itemgetter(0)


def _group_key(request: Request, fields: tuple[str, ...]) -> UserKey:
    return "group:" + "\x1f".join(f"{name}={getattr(request, name)}" for name in fields)


def entry_users(request: Request) -> list[list[tuple[UserKey, ...]]]:
    """Per part of the declaration, per entry: the users it names (``part.users``). Read
    once per request: placing it and naming its entries for the journal both use it."""
    return [list(map(part.users, request.entries(part)))
            for part in type(request).ENDPOINT.parts]


def request_keys(request: Request, users: list[list[tuple[UserKey, ...]]] | None = None
                 ) -> tuple[tuple[UserKey, ...], tuple[UserKey, ...]]:
    """The keys a request writes (the users it names, and the group key of a ``once``
    request) and the keys it reads (the group key of a ``latest`` request). ``users``:
    :func:`entry_users` of the request, when already read."""
    endpoint = type(request).ENDPOINT
    if users is None:
        users = entry_users(request)
    writes = dict.fromkeys(chain.from_iterable(chain.from_iterable(users)))
    role = GROUP_ROLES[endpoint.batching] if endpoint.group else None
    if role == "write":
        writes[_group_key(request, endpoint.group)] = None
    elif role == "read":
        return tuple(writes), (_group_key(request, endpoint.group),)
    return tuple(writes), ()


@attrs.frozen
class Placement:
    """Where request number ``seq`` goes: its ``lane``, and the earlier requests (by
    number, in other lanes) it must wait for. ``keys`` are the keys it writes."""

    seq: int
    lane: int
    after: tuple[int, ...]
    keys: tuple[UserKey, ...]


class Router:
    """Places requests into ``lanes`` lanes, one at a time, in stream order.

    Only pending requests are remembered: :meth:`done` forgets a request once Braze has
    answered it for good, so memory follows what is in flight, not the stream.
    """

    __slots__ = ("_load", "_owner", "lanes")

    def __init__(self, lanes: int) -> None:
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes must be a whole number >= 1, got {lanes!r}")
        self.lanes = lanes
        #: The lane and number of the last pending request writing each key.
        self._owner: dict[UserKey, tuple[int, int]] = {}
        self._load = [0] * lanes

    def place(self, seq: int, request: Request,
              users: list[list[tuple[UserKey, ...]]] | None = None) -> Placement:
        """The placement of request ``seq`` (numbers must grow); ``users``: its
        :func:`entry_users`, when already read."""
        writes, reads = request_keys(request, users)
        owner = self._owner
        # In bulk (a request names up to a few hundred users): the pending ones, and who
        # holds them.
        held = owner.keys() & writes
        if reads:
            held |= owner.keys() & reads
        live = list(map(owner.__getitem__, held))
        load = self._load
        if not live:
            lane = min(range(self.lanes), key=load.__getitem__)
            after: tuple[int, ...] = ()
        else:
            votes = Counter(map(_LANE, live))
            lane = max(votes, key=lambda mine: (votes[mine], -load[mine], -mine))
            after = tuple(sorted({other for held_by, other in live if held_by != lane}))
        owner.update(dict.fromkeys(writes, (lane, seq)))
        load[lane] += 1
        return Placement(seq, lane, after, writes)

    def done(self, placement: Placement) -> None:
        """Request ``placement.seq`` was answered for good: its users are free again
        (those no later request holds)."""
        owner = self._owner
        mine = dict.fromkeys(placement.keys, (placement.lane, placement.seq))
        for key, _ in owner.items() & mine.items():
            del owner[key]
        self._load[placement.lane] -= 1

    @property
    def pending(self) -> int:
        """Requests placed and not yet done."""
        return sum(self._load)


def split(requests: Iterable[Request], lanes: int
          ) -> tuple[tuple[tuple[Placement, Request], ...], ...]:
    """A finite stream split into ``lanes`` lanes, each in stream order: what
    :func:`~segment_braze.delivery.deliver` does as requests come, shown whole.

    Sending the lanes concurrently, each request only after the requests its placement
    names in ``after``, delivers every user's requests in stream order.
    """
    router = Router(lanes)
    out: list[list[tuple[Placement, Request]]] = [[] for _ in range(lanes)]
    for seq, request in enumerate(requests):
        placement = router.place(seq, request)
        out[placement.lane].append((placement, request))
    return tuple(tuple(lane) for lane in out)
