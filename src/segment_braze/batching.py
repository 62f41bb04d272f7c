"""Batching: Braze-sized requests that keep each user's order.

``batch(requests)`` (and its streaming form ``iter_batches``) merges the small requests
that :func:`~segment_braze.translate` emits, one event at a time, into requests as large as
Braze accepts. Everything it knows of an endpoint comes from the request class's
declaration (``UsersTrack.ENDPOINT``, see :mod:`segment_braze.braze.endpoint`): each
part's limit (75 objects per array of ``/users/track``, 50 entries per delete, identify,
merge and alias request, 1,000 users per cohort change), the users an entry names, the
fields requests must share to merge, and how the endpoint merges (``ordered``,
``latest``, ``once``).

Merging must not reorder what a user sees. Braze applies the parts of a request in order
(inside ``/users/track``: attributes, then events, then purchases) and requests in the
order they are sent. So an entry is placed only where Braze would apply it after every
earlier entry naming one of its users; where a part does not allow a user twice in one
request (identify, merge, delete), strictly after. A request of another endpoint that
names a user is thereby a barrier for that user alone.

Placement is greedy and deterministic: each entry goes into the earliest open request
where it is allowed and fits, else into a new request. At most :data:`WINDOW` requests are
open at once; the earliest is sent when it is full or when a new one needs the room. Only
open requests (and the last position of the users in them) are held in memory.

``latest`` endpoints (cohort membership) are batched apart: a cohort change does not touch
a user's attributes, so it is a barrier for nothing else and nothing else is one for it.
Changes are merged per group (cohort), up to the part's limit, and within one request a
user appears once, with their newest change (by event time, ties by stream order); each
change left out is listed in the request's ``origins["superseded"]`` (its outcome is the
request's outcome). A ``once`` request (a cohort's name) goes out once per stream per
distinct body (a rename goes out again), before any later change of its group.

Every batched request keeps, for each entry, its origin (the event's ``messageId``, else
its position in the stream), so :func:`~segment_braze.responses.interpret_response` can
turn Braze's answer into one outcome per source event.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from .braze import Endpoint, Origin, Request, UserKey
from .limits import MAX_COHORT_USERS, MAX_ENTRIES, MAX_OBJECTS

__all__ = [
    "COHORT_WINDOW",
    "LAG",
    "MAX_COHORT_USERS",
    "MAX_ENTRIES",
    "MAX_NAMED_COHORTS",
    "MAX_OBJECTS",
    "WINDOW",
    "batch",
    "endpoint_of",
    "iter_batches",
]

#: How many requests may be open at once. More fills requests better when users'
#: attribute updates and events interleave; fewer sends sooner and holds less.
WINDOW: Final = 8
#: A request with one full part is sent once this many requests are open after it
#: (a request is full when all its parts are). More packs bursty streams a little
#: tighter; fewer holds fewer objects, and holding them costs time (see docs/performance).
LAG: Final = 1
#: ``latest`` requests open at once, one per group (cohort); a further group sends the one
#: opened first. (Segment syncs at most 50 audiences per destination.)
COHORT_WINDOW: Final = 64
#: ``once`` bodies remembered so each goes out once per stream; the least recently seen
#: is forgotten first (and sent again if it comes back, which Braze takes as a rename).
MAX_NAMED_COHORTS: Final = 10_000

# A user's position in the output is ``base + rank``: ``base`` is ``_STEP`` times the
# request's sequence number, ``rank`` the index of the part (Braze's order inside the
# request). An entry is allowed at a position at or after (``repeat_users``), or strictly
# after, the last position of every user it names.
_STEP: Final = 16


def endpoint_of(request: object) -> Endpoint:
    """The declaration of a request's endpoint; ``TypeError`` for anything that is not a
    request with one."""
    endpoint = getattr(type(request), "ENDPOINT", None)
    if isinstance(endpoint, Endpoint) and isinstance(request, Request):
        return endpoint
    if isinstance(request, Request):
        raise TypeError(f"{type(request).__name__} declares no ENDPOINT")
    hint = (" (iterate each Translation: its requests are what to batch)"
            if hasattr(request, "requests") else "")
    raise TypeError(f"batch() takes Braze requests, got {type(request).__name__}{hint}")


class _Open:
    """One open ``ordered`` request: its entries and their origins, part by part."""

    __slots__ = ("base", "cls", "fields", "items", "origins", "room", "rooms", "superseded",
                 "total")

    def __init__(self, base: int, cls: type[Request], fields: dict[str, Any],
                 rooms: Sequence[list[_Open]]) -> None:
        self.base = base
        self.cls = cls
        self.fields = fields
        self.items: list[list[Any]] = [[] for _ in rooms]
        self.origins: list[list[Origin]] = [[] for _ in rooms]
        #: Which parts can still take an entry; ``rooms[rank]`` lists the open requests
        #: of this kind whose part ``rank`` has room (this one too, while it has).
        self.room = [True] * len(rooms)
        self.rooms = rooms
        self.total = 0
        #: Origins of repeated idempotent entries merged into this request's entries.
        self.superseded: list[Origin] = []

    def build(self) -> Request:
        parts = self.cls.ENDPOINT.parts
        pairs = {part.name: list(zip(items, origins, strict=True))
                 for part, items, origins in zip(parts, self.items, self.origins, strict=True)}
        extra = {"superseded": tuple(self.superseded)} if self.superseded else None
        return self.cls.from_pairs(  # type: ignore[no-any-return]
            pairs, extra_origins=extra, **self.fields)


class _Member:
    """A user's newest entry in an open ``latest`` request."""

    __slots__ = ("entry", "origin", "seq", "time")

    def __init__(self, entry: Any, seq: int, origin: Origin) -> None:
        self.entry = entry
        self.time: str | None = getattr(entry, "time", None)
        self.seq = seq
        self.origin = origin

    def newer_than(self, other: _Member) -> bool:
        """By event time, then stream order; an entry without a time is the older."""
        if self.time != other.time:
            if self.time is None or other.time is None:
                return other.time is None
            return self.time > other.time
        return self.seq > other.seq


class _Latest:
    """One open ``latest`` request: each user's newest entry, and the origins of the
    entries those replaced."""

    __slots__ = ("cls", "fields", "members", "superseded")

    def __init__(self, cls: type[Request], fields: dict[str, Any]) -> None:
        self.cls = cls
        self.fields = fields
        self.members: dict[UserKey, _Member] = {}
        self.superseded: list[Origin] = []

    def build(self) -> Request:
        (part,) = self.cls.ENDPOINT.parts
        extra = {"superseded": tuple(self.superseded)} if self.superseded else {}
        return self.cls.from_pairs(  # type: ignore[no-any-return]
            {part.name: [(m.entry, m.origin) for m in self.members.values()]},
            extra_origins=extra, **self.fields)


class _Kind:
    """What placing the requests of one class needs, read once from its declaration:
    its endpoint, how it is batched, and per part: its rank, name, the attribute holding
    its entries (empty for a request that is its own one entry), who an entry names, how
    far a user's last position shifts where the entry may go, and the part's limit."""

    __slots__ = ("batching", "cls", "combined", "endpoint", "parts", "rooms")

    def __init__(self, cls: type[Request], endpoint: Endpoint, max_objects: int,
                 max_total: int | None) -> None:
        if len(endpoint.parts) >= _STEP:
            raise TypeError(f"{cls.__name__} declares more than {_STEP - 1} parts")
        self.cls = cls
        self.endpoint = endpoint
        self.batching = endpoint.batching
        #: The combined limit of the parts: ``max_total`` where it applies, and the
        #: endpoint's own ``total_limit``, the lower of the two.
        limits = [n for n in (max_total if endpoint.combined else None, endpoint.total_limit)
                  if n is not None]
        self.combined = min(limits) if limits else None
        self.parts = tuple(
            (rank, part.name, "" if part.single else part.attribute, part.users,
             (0 if part.repeat_users else 1) - rank,
             min(part.limit, max_objects) if part.adjustable else part.limit,
             part.idempotent)
            for rank, part in enumerate(endpoint.parts))
        #: Open requests with room, per part, of an endpoint without ``group``.
        self.rooms: tuple[list[_Open], ...] = tuple([] for _ in endpoint.parts)


def _group(request: Request, endpoint: Endpoint) -> tuple[Any, ...]:
    return tuple(getattr(request, name) for name in endpoint.group)


class _Batcher:
    """The placement state behind :func:`iter_batches`: open requests, the requests with
    room per part, and each user's last position. Closed requests collect in ``out``."""

    def __init__(self, max_objects: int, max_total: int | None, window: int) -> None:
        self.max_objects = max_objects
        self.max_total = max_total
        self.window = window
        self.open: deque[_Open] = deque()
        # Open requests with room, per (class, group) and part.
        self.rooms: dict[tuple[type, tuple[Any, ...]], tuple[list[_Open], ...]] = {}
        self.last: dict[UserKey, int] = {}
        self.purge_at = 4096
        self.seq = 0
        self.out: list[Request] = []
        # Open ``latest`` requests by (class, group), in the order opened; the ``once``
        # bodies sent, by (class, group).
        self.latest: dict[tuple[type, tuple[Any, ...]], _Latest] = {}
        self.sent_once: OrderedDict[tuple[type, tuple[Any, ...]], tuple[Any, ...]] = (
            OrderedDict())
        self.latest_seq = 0
        self.kinds: dict[type, _Kind] = {}
        #: The open request holding each idempotent entry placed, by (class, group, part
        #: rank, entry).
        self.placed: dict[tuple[type, tuple[Any, ...], int, Any], _Open] = {}

    def add(self, request: Request) -> None:
        cls = type(request)
        kind = self.kinds.get(cls)
        if kind is None:
            kind = self.kinds[cls] = _Kind(cls, endpoint_of(request), self.max_objects,
                                          self.max_total)
        batching = kind.batching
        if batching == "ordered":
            self._ordered(request, kind)
        elif batching == "latest":
            self._latest(request, kind.endpoint)
        elif batching == "once":
            self._once(request, kind.endpoint)
        else:  # pragma: no cover - Endpoint's type allows no other value
            raise TypeError(f"{cls.__name__}: unknown batching {batching!r}")

    # -- ordered -------------------------------------------------------------------------

    def _ordered(self, request: Request, kind: _Kind) -> None:
        """Place every entry of every part, in Braze's order, each in the earliest open
        request of its kind where its users' order allows it and the part has room."""
        endpoint = kind.endpoint
        if endpoint.group:
            group = _group(request, endpoint)
            rooms = self.rooms.get((kind.cls, group))
            if rooms is None:
                rooms = self.rooms[(kind.cls, group)] = tuple([] for _ in endpoint.parts)
        else:
            group, rooms = (), kind.rooms
        last = self.last
        combined = kind.combined
        origins = request.origins
        for rank, name, attribute, users_of, shift, limit, idempotent in kind.parts:
            entries = getattr(request, attribute) if attribute else (request,)
            if not entries:
                continue
            room = rooms[rank]
            for entry, origin in zip(entries, origins[name]):  # noqa: B905 - checked
                users = users_of(entry)
                if idempotent and self._repeat(kind.cls, group, rank, entry, users, origin):
                    continue
                if len(users) == 1:  # the common case
                    floor = last.get(users[0], -1) + shift
                else:
                    floor = max([last.get(user, -1) for user in users], default=-1) + shift
                target = room[0] if room else None
                if target is None or target.base < floor:
                    target = self._later(room, floor, kind, group, rooms)
                items = target.items[rank]
                items.append(entry)
                target.origins[rank].append(origin)
                position = target.base + rank
                if idempotent:
                    self.placed[(kind.cls, group, rank, entry)] = target
                for user in users:
                    last[user] = position
                if len(items) >= limit:
                    self._fill(target, rank)
                if combined is not None:
                    target.total += 1
                    if target.total >= combined:
                        for other in range(len(kind.parts)):
                            self._fill(target, other)

    def _repeat(self, cls: type[Request], group: tuple[Any, ...], rank: int, entry: Any,
                users: tuple[UserKey, ...], origin: Origin) -> bool:
        """Merge a repeat of an idempotent entry into the same entry of an open request,
        when nothing of its users was placed after it; ``False`` when it cannot be."""
        target = self.placed.get((cls, group, rank, entry))
        if target is None:
            return False
        position = target.base + rank
        last = self.last
        if any(last.get(user) != position for user in users):
            return False
        target.superseded.append(origin)
        return True

    def _later(self, room: list[_Open], floor: int, kind: _Kind, group: tuple[Any, ...],
               rooms: tuple[list[_Open], ...]) -> _Open:
        """The earliest request in ``room`` at or after ``floor``, else a new one."""
        for target in room:
            if target.base >= floor:
                return target
        return self._new(kind.cls, dict(zip(kind.endpoint.group, group, strict=True)), rooms)

    def _new(self, cls: type[Request], fields: dict[str, Any],
             rooms: Sequence[list[_Open]]) -> _Open:
        """Open a request after all the others, first making room if the window is
        full."""
        if len(self.open) >= self.window:
            self._send_first()
            self._send_full()
        target = _Open(self.seq * _STEP, cls, fields, rooms)
        self.seq += 1
        self.open.append(target)
        for room in rooms:
            room.append(target)
        self._send_full()
        return target

    def _fill(self, target: _Open, rank: int) -> None:
        """``target`` takes no more entries in part ``rank``."""
        if target.room[rank]:
            target.room[rank] = False
            target.rooms[rank].remove(target)
            if target is self.open[0]:
                self._send_full()

    def _send_full(self) -> None:
        """Send the requests at the front that are full, or that have a full part and
        :data:`LAG` requests open after them: by then the parts that still have room have
        had their chance to fill (the busiest part sets how many requests are needed),
        and holding them longer would only keep more entries in memory."""
        open_ = self.open
        while open_ and (not any(open_[0].room)
                         or (len(open_) > LAG and not all(open_[0].room))):
            self._send_first()

    def _send_first(self) -> None:
        first = self.open.popleft()
        for rank, room in enumerate(first.rooms):
            if first.room[rank]:
                first.room[rank] = False
                room.remove(first)
        if self.placed:
            group = tuple(first.fields.values())
            for rank, *_, idempotent in self.kinds[first.cls].parts:
                if not idempotent:
                    continue
                for entry in first.items[rank]:
                    key = (first.cls, group, rank, entry)
                    if self.placed.get(key) is first:
                        del self.placed[key]
        self.out.append(first.build())
        if len(self.last) > self.purge_at:
            self._purge()

    def _purge(self) -> None:
        """Forget users whose last position was in a request already sent: every open
        request comes after it, so nothing constrains them any more."""
        floor = self.open[0].base if self.open else self.seq * _STEP
        last = self.last  # changed in place: the placement loops hold it
        for user in [user for user, at in last.items() if at < floor]:
            del last[user]
        self.purge_at = max(4096, 2 * len(last))

    # -- latest and once -------------------------------------------------------------------

    def _latest(self, request: Request, endpoint: Endpoint) -> None:
        """Merge each user's entry into the group's open request, the newest entry of a
        user winning; a request batched before keeps its superseded origins."""
        (part,) = endpoint.parts
        cls = type(request)
        key = (cls, _group(request, endpoint))
        carried = list(request.origins.get("superseded", ()))
        for entry, origin in request.pairs(part):
            self.latest_seq += 1
            open_ = self.latest.get(key)
            if open_ is None:
                if len(self.latest) >= COHORT_WINDOW:
                    self._send_latest(next(iter(self.latest)))
                fields = dict(zip(endpoint.group, key[1], strict=True))
                open_ = self.latest[key] = _Latest(cls, fields)
            member = _Member(entry, self.latest_seq, origin)
            (user,) = part.users(entry)
            members = open_.members
            old = members.get(user)
            if old is None:
                members[user] = member
            elif member.newer_than(old):
                members[user] = member
                open_.superseded.append(old.origin)
            else:
                open_.superseded.append(origin)
            open_.superseded += carried
            carried = []
            if len(members) >= part.limit or len(open_.superseded) >= part.limit:
                self._send_latest(key)

    def _send_latest(self, key: tuple[type, tuple[Any, ...]]) -> None:
        open_ = self.latest.pop(key)
        if open_.members:
            self.out.append(open_.build())

    def _once(self, request: Request, endpoint: Endpoint) -> None:
        """Send a request once per distinct value of its ``distinct`` fields in its group
        (again when they change), after the group's ``latest`` entries placed so far."""
        group = _group(request, endpoint)
        key = (type(request), group)
        body = tuple(getattr(request, name) for name in endpoint.distinct)
        sent = self.sent_once
        if sent.get(key) == body:
            sent.move_to_end(key)
            return
        for open_key in [k for k in self.latest if k[1] == group]:
            self._send_latest(open_key)
        sent[key] = body
        sent.move_to_end(key)
        if len(sent) > MAX_NAMED_COHORTS:
            sent.popitem(last=False)
        self.out.append(request)

    def close(self) -> None:
        """Send every open request, in order, then the open ``latest`` requests."""
        while self.open:
            self._send_first()
        for key in list(self.latest):
            self._send_latest(key)


def _check_limits(max_objects: int, max_total: int | None) -> None:
    for name, value in (("max_objects", max_objects), ("max_total", max_total)):
        if value is None and name == "max_total":
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def iter_batches(requests: Iterable[Request], *, max_objects: int = MAX_OBJECTS,
                 max_total: int | None = None) -> Iterator[Request]:
    """Merge ``requests`` into Braze-sized requests, lazily, keeping each user's order.

    A request is yielded as soon as it is full or needs to make room (at most
    :data:`WINDOW` are open), the rest when the input ends; only the open requests are
    held in memory, so this suits unbounded streams. Every entry comes out exactly once,
    with its origin. Requests without entries carry nothing and are dropped.

    Raises ``TypeError`` for an item that is not a request (pass each Translation's
    requests) or whose class declares no endpoint, and ``TypeError``/``ValueError`` for
    limits that are not whole numbers >= 1.
    """
    _check_limits(max_objects, max_total)
    return _run(requests, _Batcher(max_objects, max_total, WINDOW))


def _run(requests: Iterable[Request], batcher: _Batcher) -> Iterator[Request]:
    out = batcher.out
    add = batcher.add
    for request in requests:
        add(request)
        if out:
            yield from out
            out.clear()
    batcher.close()
    yield from out
    out.clear()


def batch(requests: Iterable[Request], *, max_objects: int = MAX_OBJECTS,
          max_total: int | None = None) -> list[Request]:
    """Merge ``requests`` into Braze-sized requests, keeping each user's order.

    ``max_objects`` caps each array of ``/users/track`` (Braze: 75); ``max_total`` caps
    the three arrays together, for accounts whose contract counts them combined (50 or
    75). Delete, identify, merge and alias requests take up to 50 entries; identify requests
    merge only with the same ``merge_behavior``. Cohort changes merge per cohort, up to
    1,000 users, the newest change of a user winning; a cohort's name goes out once. See
    :func:`iter_batches` for the streaming form.
    """
    return list(iter_batches(requests, max_objects=max_objects, max_total=max_total))
