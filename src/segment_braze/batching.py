"""Batching: Braze-sized requests that keep each user's order; reading Braze's answers.

``batch(requests)`` (and its streaming form ``iter_batches``) merges the small requests
that :func:`~segment_braze.translate` emits, one event at a time, into requests as large as
Braze accepts: at most ``max_objects`` attributes, events and purchases per
``/users/track`` request (each array counted apart, or ``max_total`` across the three for
accounts on a combined limit), and at most 50 entries per ``/users/delete``,
``/users/identify``, ``/users/merge`` and ``/users/alias/new`` request.

Merging must not reorder what a user sees. Inside one ``/users/track`` request Braze
applies the attributes first, then the events, then the purchases; requests are applied in
the order they are sent. So an object is placed only where Braze would apply it after every
earlier object of the same user, and a request of another endpoint that names a user (a
deletion, an identify, a merge) is a barrier for that user. A user is a Braze identifier
(``external_id``, ``braze_id``, ``user_alias`` or ``email``); an identify, merge or
alias entry touches every identifier it names.

Placement is greedy and deterministic: each object goes into the earliest open request
where it is allowed and fits, else into a new request. At most :data:`WINDOW` requests are
open at once; the earliest is sent when it is full or when a new one needs the room. Only
open requests (and the last position of the users in them) are held in memory.

Engage audiences (``/partners/segment/cohorts`` and ``/partners/segment/cohorts/users``)
are batched apart: a cohort change does not touch a user's attributes, so it is a barrier
for nothing else and nothing else is one for it. Changes are merged per cohort, at most
:data:`MAX_COHORT_USERS` users per request; within one request a user appears once, with
their newest change (by event time, ties by stream order), and each change left out is
listed in the request's ``origins["superseded"]`` (its outcome is the request's outcome).
A cohort's name request goes out once per stream (per name: a rename goes out again),
before any later change of that cohort.

Every batched request keeps, for each entry, its origin (the event's ``messageId``, else
its position in the stream), so :func:`interpret_response` can turn Braze's answer into one
:class:`Outcome` per source event.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal, Protocol, TypeAlias

import attrs

from . import _json
from .braze import (
    AliasToIdentify,
    CohortChange,
    CohortName,
    CohortUsers,
    Identifier,
    NewAlias,
    Origin,
    Request,
    UserAlias,
    UsersAliasNew,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
    UsersTrack,
    _Request,
)

__all__ = [
    "COHORT_WINDOW",
    "LAG",
    "MAX_COHORT_USERS",
    "MAX_ENTRIES",
    "MAX_NAMED_COHORTS",
    "MAX_OBJECTS",
    "WINDOW",
    "ErrorDetail",
    "Headers",
    "Outcome",
    "OutcomeStatus",
    "batch",
    "interpret_response",
    "iter_batches",
]

#: Braze's limit per array of ``/users/track`` (attributes, events, purchases).
MAX_OBJECTS: Final = 75
#: Braze's limit of entries per ``/users/delete``, ``/users/identify``, ``/users/merge``.
MAX_ENTRIES: Final = 50
#: How many requests may be open at once. More fills requests better when users'
#: attribute updates and events interleave; fewer sends sooner and holds less.
WINDOW: Final = 8
#: A request with one full array is sent once this many requests are open after it
#: (a request is full when all its arrays are). More packs bursty streams a little
#: tighter; fewer holds fewer objects, and holding them costs time (see docs/performance).
LAG: Final = 1

#: Braze's limit of users (user ids, aliases and device ids together) per
#: ``/partners/segment/cohorts/users`` request; also the most superseded changes one
#: request accounts for, so a user flipping in and out cannot grow it without bound.
MAX_COHORT_USERS: Final = 1000
#: Cohort requests open at once, one per cohort; a further cohort sends the one opened
#: first. (Segment syncs at most 50 audiences per destination.)
COHORT_WINDOW: Final = 64
#: Cohort names remembered so each goes out once per stream; the least recently seen is
#: forgotten first (and sent again if it comes back, which Braze takes as a rename).
MAX_NAMED_COHORTS: Final = 10_000

_TRACK_ARRAYS: Final = UsersTrack.arrays
_COHORT_ARRAYS: Final = ("user_ids", "aliases", "device_ids")

# A user's position in the output is ``base + rank``: ``base`` is four times the request's
# sequence number; ``rank`` is 0, 1, 2 for the attributes, events and purchases of a
# ``/users/track`` request (Braze's order inside it) and 3 for an entry of any other
# endpoint. A track object may share its user's last position (same array, appended
# after it); an entry may not, so a user appears at most once per delete, identify or
# merge request (Braze processes merges in no guaranteed order).
_STEP: Final = 4
_ENTRY_RANK: Final = 3

#: How a user is known while batching (see :func:`_user_key`).
_UserKey: TypeAlias = Hashable


def _alias_key(alias: UserAlias) -> _UserKey:
    """How a user known by an alias is known while batching."""
    return ("user_alias", alias.alias_name, alias.alias_label)


def _user_key(identifier: Identifier) -> _UserKey:
    """A cheap, hashable stand-in for ``identifier``: the bare string for an external id
    (by far the most common), a tuple for the other kinds, so no two kinds collide."""
    value = identifier.value
    if isinstance(value, UserAlias):
        return _alias_key(value)
    if identifier.kind == "external_id":
        return value
    return (identifier.kind, value)


@attrs.frozen
class _EntryKind:
    """How to batch one endpoint other than ``/users/track`` (whose one array the request
    class names): the users an entry touches, and the field requests must agree on to be
    merged (identify's ``merge_behavior``), if any."""

    users: Callable[[Any], tuple[_UserKey, ...]]
    group: str | None = None


def _identify_users(entry: AliasToIdentify) -> tuple[_UserKey, ...]:
    return (entry.external_id, _alias_key(entry.user_alias))


def _new_alias_users(entry: NewAlias) -> tuple[_UserKey, ...]:
    key = _alias_key(entry.user_alias)
    return (key,) if entry.external_id is None else (key, entry.external_id)


#: Endpoints other than ``/users/track``, by request class. A request class missing here
#: is passed through unchanged as a barrier for every user.
_ENTRY_KINDS: Final[Mapping[type, _EntryKind]] = {
    UsersDelete: _EntryKind(lambda external_id: (external_id,)),
    UsersIdentify: _EntryKind(_identify_users, group="merge_behavior"),
    UsersAliasNew: _EntryKind(_new_alias_users),
    UsersMerge: _EntryKind(lambda update: (_user_key(update.merge), _user_key(update.keep))),
}


class _Open:
    """One open request: its entries and their origins, array by array."""

    __slots__ = ("base", "items", "origins", "room", "rooms", "template", "total")

    def __init__(self, base: int, template: Request | None,
                 rooms: Sequence[list[_Open]]) -> None:
        self.base = base
        self.items: list[list[Any]] = [[] for _ in rooms]
        self.origins: list[list[Origin]] = [[] for _ in rooms]
        #: Which arrays can still take an entry; ``rooms[array]`` lists the open requests
        #: whose ``array`` has room (this one too, while it has).
        self.room = [True] * len(rooms)
        self.rooms = rooms
        self.template = template
        self.total = 0

    def build(self) -> Request:
        template = self.template
        if template is None:
            attributes, events, purchases = self.items
            return UsersTrack(
                attributes=tuple(attributes), events=tuple(events), purchases=tuple(purchases),
                origins={name: tuple(origins) for name, origins
                         in zip(_TRACK_ARRAYS, self.origins, strict=True) if origins})
        (array,) = template.arrays
        changes: dict[str, Any] = {array: tuple(self.items[0]),
                                   "origins": {array: tuple(self.origins[0])}}
        return attrs.evolve(template, **changes)


class _Member:
    """A user's newest change in an open cohort request."""

    __slots__ = ("origin", "remove", "seq", "time", "value")

    def __init__(self, value: Any, remove: bool, time: str | None, seq: int,
                 origin: Origin) -> None:
        self.value = value
        self.remove = remove
        self.time = time
        self.seq = seq
        self.origin = origin

    def newer_than(self, other: _Member) -> bool:
        """By event time, then stream order; a change without a time is the older."""
        if self.time != other.time:
            if self.time is None or other.time is None:
                return other.time is None
            return self.time > other.time
        return self.seq > other.seq


class _Cohort:
    """One open ``/partners/segment/cohorts/users`` request: each user's newest change,
    by (array, identifier), and the origins of the changes those replaced."""

    __slots__ = ("cohort_id", "members", "superseded")

    def __init__(self, cohort_id: str) -> None:
        self.cohort_id = cohort_id
        self.members: dict[tuple[str, Any], _Member] = {}
        self.superseded: list[Origin] = []

    def build(self) -> CohortUsers:
        """Additions first, then removals; each change's users in the body's order."""
        changes: list[CohortChange] = []
        origins: list[Origin] = []
        times: list[str | None] = []
        for remove in (False, True):
            arrays: dict[str, list[_Member]] = {name: [] for name in _COHORT_ARRAYS}
            for (array, _), member in self.members.items():
                if member.remove is remove:
                    arrays[array].append(member)
            if not any(arrays.values()):
                continue
            for members in arrays.values():
                origins += [m.origin for m in members]
                times += [m.time for m in members]
            changes.append(CohortChange(
                user_ids=tuple(m.value for m in arrays["user_ids"]),
                aliases=tuple(m.value for m in arrays["aliases"]),
                device_ids=tuple(m.value for m in arrays["device_ids"]),
                should_remove=remove))
        named: dict[str, tuple[Origin, ...]] = {"cohort_changes": tuple(origins)}
        if self.superseded:
            named["superseded"] = tuple(self.superseded)
        return CohortUsers(cohort_id=self.cohort_id, cohort_changes=tuple(changes),
                           origins=named, times=tuple(times))


class _Batcher:
    """The placement state behind :func:`iter_batches`: open requests, the requests with
    room per array, and each user's last position. Closed requests collect in ``out``."""

    def __init__(self, max_objects: int, max_total: int | None, window: int) -> None:
        self.max_objects = max_objects
        self.max_total = max_total
        self.window = window
        self.open: deque[_Open] = deque()
        # Open /users/track requests with room in attributes, events, purchases.
        self.track_room: tuple[list[_Open], ...] = ([], [], [])
        # Open requests of other endpoints with room, by (class, group).
        self.entry_room: dict[tuple[type, Hashable], list[_Open]] = {}
        self.last: dict[_UserKey, int] = {}
        self.purge_at = 4096
        self.seq = 0
        self.out: list[Request] = []
        # Open cohort requests by cohort id, in the order opened; names sent, by id.
        self.cohorts: dict[str, _Cohort] = {}
        self.named: OrderedDict[str, str] = OrderedDict()
        self.cohort_seq = 0

    # -- input ---------------------------------------------------------------------------

    def add(self, request: Any) -> None:
        """Place every entry of a request of another endpoint than ``/users/track``
        (which :func:`_run` places itself): after every earlier object of each user it
        names, and never beside another entry of theirs."""
        kind = _ENTRY_KINDS.get(type(request))
        if kind is None:
            if type(request) is CohortUsers:
                self._cohort_users(request)
            elif type(request) is CohortName:
                self._cohort_name(request)
            else:
                self._unknown(request)
            return
        (array,) = request.arrays
        entries: tuple[Any, ...] = getattr(request, array)
        origins = request.origins.get(array)
        if origins is None or len(origins) != len(entries):
            origins = (None,) * len(entries)
        group = (type(request), None if kind.group is None else getattr(request, kind.group))
        room = self.entry_room.get(group)
        if room is None:
            room = self.entry_room[group] = []
        last = self.last
        users_of = kind.users
        for entry, origin in zip(entries, origins):  # noqa: B905 - same length, checked
            users = users_of(entry)
            # Allowed where base + 3 > the user's last position.
            floor = -1
            for user in users:
                at = last.get(user, -1)
                if at > floor:
                    floor = at
            floor -= _ENTRY_RANK - 1
            for target in room:
                if target.base >= floor:
                    break
            else:
                target = self._new(request, (room,))
            items = target.items[0]
            items.append(entry)
            target.origins[0].append(origin)
            position = target.base + _ENTRY_RANK
            for user in users:
                last[user] = position
            if len(items) >= MAX_ENTRIES:
                self._fill(target, 0)

    # -- cohorts -------------------------------------------------------------------------

    def _cohort_name(self, request: CohortName) -> None:
        """Send a cohort's name once (again when it changes), after the changes of that
        cohort already placed and before any later one."""
        named = self.named
        cohort_id = request.cohort_id
        if named.get(cohort_id) == request.name:
            named.move_to_end(cohort_id)
            return
        if cohort_id in self.cohorts:
            self._send_cohort(cohort_id)
        named[cohort_id] = request.name
        named.move_to_end(cohort_id)
        if len(named) > MAX_NAMED_COHORTS:
            named.popitem(last=False)
        self.out.append(request)

    def _cohort_users(self, request: CohortUsers) -> None:
        """Merge each user's change into the cohort's open request, the newest change of
        a user winning; a request batched before keeps its superseded origins."""
        count = request.size()
        origins = request.origins.get("cohort_changes")
        if origins is None or len(origins) != count:
            origins = (None,) * count
        times = request.times if len(request.times) == count else (None,) * count
        carried = request.origins.get("superseded", ())
        index = 0
        for change in request.cohort_changes:
            remove = change.should_remove
            for array, values in (("user_ids", change.user_ids), ("aliases", change.aliases),
                                  ("device_ids", change.device_ids)):
                for value in values:
                    key = ((value.alias_name, value.alias_label)
                           if isinstance(value, UserAlias) else value)
                    self._cohort_change(request.cohort_id, (array, key), value, remove,
                                        times[index], origins[index], carried)
                    carried = ()
                    index += 1

    def _cohort_change(self, cohort_id: str, key: tuple[str, Any], value: Any,
                       remove: bool, time: str | None, origin: Origin,
                       carried: Sequence[Origin]) -> None:
        self.cohort_seq += 1
        cohort = self.cohorts.get(cohort_id)
        if cohort is None:
            if len(self.cohorts) >= COHORT_WINDOW:
                self._send_cohort(next(iter(self.cohorts)))
            cohort = self.cohorts[cohort_id] = _Cohort(cohort_id)
        member = _Member(value, remove, time, self.cohort_seq, origin)
        members = cohort.members
        old = members.get(key)
        if old is None:
            members[key] = member
        elif member.newer_than(old):
            members[key] = member
            cohort.superseded.append(old.origin)
        else:
            cohort.superseded.append(origin)
        cohort.superseded += carried
        if len(members) >= MAX_COHORT_USERS or len(cohort.superseded) >= MAX_COHORT_USERS:
            self._send_cohort(cohort_id)

    def _send_cohort(self, cohort_id: str) -> None:
        cohort = self.cohorts.pop(cohort_id)
        if cohort.members:
            self.out.append(cohort.build())

    def _unknown(self, request: object) -> None:
        if not isinstance(request, _Request):
            hint = (" (iterate each Translation: its requests are what to batch)"
                    if hasattr(request, "requests") else "")
            raise TypeError(f"batch() takes Braze requests, got {type(request).__name__}"
                            f"{hint}")
        self._barrier(request)

    def _place(self, objects: tuple[Any, ...], origins: Sequence[Origin] | None,
               rank: int) -> None:
        """Place the objects of one array of a ``/users/track`` request (``rank``: 0
        attributes, 1 events, 2 purchases), each in the earliest open request where its
        user's order allows it and the array has room."""
        if origins is None or len(origins) != len(objects):
            origins = (None,) * len(objects)
        last = self.last
        room = self.track_room[rank]
        # With max_total, every object is counted (in _count); else only full arrays.
        limit = 0 if self.max_total is not None else self.max_objects
        for obj, origin in zip(objects, origins):  # noqa: B905 - same length, checked
            identifier = obj.identifier
            key = (identifier.value if identifier.kind == "external_id"
                   else _user_key(identifier))
            # Allowed where base + rank >= the user's last position.
            floor = last.get(key, -1) - rank
            target = room[0] if room else None
            if target is None or target.base < floor:
                target = self._later(room, floor)
            items = target.items[rank]
            items.append(obj)
            target.origins[rank].append(origin)
            last[key] = target.base + rank
            if len(items) >= limit:
                self._count(target, rank)

    def _later(self, room: list[_Open], floor: int) -> _Open:
        """The earliest request in ``room`` at or after ``floor``, else a new one."""
        for target in room:
            if target.base >= floor:
                return target
        return self._new(None, self.track_room)

    def _count(self, target: _Open, rank: int) -> None:
        """After an object is added: close its array when full, and the whole request
        when it holds ``max_total`` objects."""
        if len(target.items[rank]) >= self.max_objects:
            self._fill(target, rank)
        if self.max_total is not None:
            target.total += 1
            if target.total >= self.max_total:
                for array in range(len(_TRACK_ARRAYS)):
                    self._fill(target, array)

    def _barrier(self, request: Any) -> None:
        """A request this module cannot batch: everything open is sent before it, and
        everything after it follows it."""
        self.close()
        self.out.append(request)
        self.last.clear()

    # -- open and close ------------------------------------------------------------------

    def _new(self, template: Request | None, rooms: Sequence[list[_Open]]) -> _Open:
        """Open a request after all the others, first making room if the window is full.
        ``template`` is the first request of another endpoint (``None``: track)."""
        if len(self.open) >= self.window:
            self._send_first()
            self._send_full()
        target = _Open(self.seq * _STEP, template, rooms)
        self.seq += 1
        self.open.append(target)
        for room in rooms:
            room.append(target)
        self._send_full()
        return target

    def _fill(self, target: _Open, array: int) -> None:
        """``target`` takes no more entries in ``array``."""
        if target.room[array]:
            target.room[array] = False
            target.rooms[array].remove(target)
            if target is self.open[0]:
                self._send_full()

    def _send_full(self) -> None:
        """Send the requests at the front that are full, or that have a full array and
        :data:`LAG` requests open after them: by then the arrays that still have room
        have had their chance to fill (the busiest array sets how many requests are
        needed), and holding them longer would only keep more objects in memory."""
        open_ = self.open
        while open_ and (not any(open_[0].room)
                         or (len(open_) > LAG and not all(open_[0].room))):
            self._send_first()

    def _send_first(self) -> None:
        first = self.open.popleft()
        for array, room in enumerate(first.rooms):
            if first.room[array]:
                first.room[array] = False
                room.remove(first)
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

    def close(self) -> None:
        """Send every open request, in order, then the open cohort requests."""
        while self.open:
            self._send_first()
        for cohort_id in list(self.cohorts):
            self._send_cohort(cohort_id)


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
    with its origin. Requests without entries carry nothing and are dropped. A request
    class this module does not know is yielded unchanged, after everything before it and
    before everything after it.

    Raises ``TypeError`` for an item that is not a request (pass each Translation's
    requests), and ``TypeError``/``ValueError`` for limits that are not whole numbers >= 1.
    """
    _check_limits(max_objects, max_total)
    return _run(requests, _Batcher(max_objects, max_total, WINDOW))


def _run(requests: Iterable[Request], batcher: _Batcher) -> Iterator[Request]:
    out = batcher.out
    add = batcher.add
    place = batcher._place
    for request in requests:
        if type(request) is UsersTrack:
            # Braze's order inside a request: attributes, events, purchases. Each
            # attribute is read once: attrs' frozen dict classes are slow to read.
            origins = request.origins
            objects: tuple[Any, ...] = request.attributes
            if objects:
                place(objects, origins.get("attributes"), 0)
            objects = request.events
            if objects:
                place(objects, origins.get("events"), 1)
            objects = request.purchases
            if objects:
                place(objects, origins.get("purchases"), 2)
        else:
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


# -- responses ---------------------------------------------------------------------------

OutcomeStatus: TypeAlias = Literal["delivered", "retry", "failed"]


class Headers(Protocol):
    """Response headers: a mapping, or anything with ``items()`` such as the standard
    library's ``http.client.HTTPMessage``."""

    def items(self) -> Iterable[tuple[str, str]]: ...


@attrs.frozen
class ErrorDetail:
    """One entry of Braze's ``errors`` array: its text, and the array and index of the
    object it names when Braze says (``{"type": ..., "input_array": "events", "index":
    3}``)."""

    message: str
    array: str | None = None
    index: int | None = None


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of one source event's objects in one request.

    ``status`` is ``"delivered"`` (2xx; ``errors`` lists Braze's minor errors about this
    event, which Braze skipped while processing the rest), ``"retry"`` (429 or 5xx: send
    the request again, after ``retry_after`` seconds when Braze said how long) or
    ``"failed"`` (any other status: Braze refused the whole request; sending it again
    unchanged will fail again). ``message`` is Braze's message or the first minor error
    concerning this event, else ``None``.
    """

    origin: Origin
    status: OutcomeStatus
    http_status: int
    message: str | None = None
    retry_after: float | None = None
    errors: tuple[ErrorDetail, ...] = ()


_DECODE_ERRORS: Final[tuple[type[Exception], ...]] = (*_json.DecodeError, TypeError)

#: Longest piece of a non-JSON body kept as a message (proxies answer with HTML pages).
_BODY_EXCERPT: Final = 200


def _payload(body: bytes | str | None) -> tuple[Mapping[str, Any] | None, str | None]:
    """The JSON object in ``body``, else ``None`` and a short excerpt of the text."""
    if body is None or not isinstance(body, (bytes, str)) or not body:
        return None, None
    try:
        data = _json.loads(body)
    except _DECODE_ERRORS:
        data = None
    if isinstance(data, Mapping):
        return data, None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())[:_BODY_EXCERPT]
    return None, text or None


def _error_detail(entry: Any) -> ErrorDetail:
    """One ``errors`` entry as data, whatever its shape."""
    if isinstance(entry, str):
        return ErrorDetail(entry)
    if not isinstance(entry, Mapping):
        return ErrorDetail(_json.text(entry))
    message = next((entry[key] for key in ("type", "message", "error")
                    if isinstance(entry.get(key), str)), None)
    index = entry.get("index")
    array = next((entry[key] for key in ("input_array", "array")
                  if isinstance(entry.get(key), str)), None)
    return ErrorDetail(message if message is not None else _json.text(entry), array=array,
                       index=index if type(index) is int else None)


def _error_details(payload: Mapping[str, Any] | None) -> tuple[ErrorDetail, ...]:
    errors = payload.get("errors") if payload is not None else None
    if errors is None:
        return ()
    if not isinstance(errors, list):
        errors = [errors]
    return tuple(_error_detail(entry) for entry in errors)


def _targets(request: Request, error: ErrorDetail) -> list[Origin] | None:
    """The origins an error names, or ``None`` when it concerns the whole request (no
    index, or one that points nowhere). An index without an array name may point into
    any array that long; every such candidate is named."""
    index = error.index
    if index is None or index < 0:
        return None
    arrays = [error.array] if error.array is not None else list(request.arrays)
    found = [origins[index] for origins in (request.origins.get(name) for name in arrays)
             if origins is not None and index < len(origins)]
    return found or None


def _ordered_origins(request: Request) -> list[Origin]:
    """Each origin once, in the order Braze applies the request's entries, then the
    origins kept under other names (a cohort's name; superseded cohort changes)."""
    seen: dict[Origin, None] = {}
    origins = request.origins
    arrays = request.arrays
    for name in (*arrays, *(key for key in origins if key not in arrays)):
        for origin in origins.get(name, ()):
            seen.setdefault(origin, None)
    return list(seen)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _reset_wait(value: str | None, now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset``. Braze sends epoch seconds; a value too small
    to be one is read as seconds to wait, one too large as epoch milliseconds."""
    reset = _number(value)
    if reset is None:
        return None
    if reset < 1e9:
        return max(0.0, reset)
    if reset > 1e12:
        reset /= 1000
    return max(0.0, reset - now)


def _retry_after_wait(value: str | None, now: float) -> float | None:
    """Seconds from ``Retry-After``: a number of seconds or an HTTP date."""
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    if not value:
        return None
    from email.utils import parsedate_to_datetime  # rare: imported on first use

    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _wait(status: int, headers: Headers, now: float) -> float | None:
    """How long to wait before retrying: the longest of ``Retry-After`` and, when the
    rate limit is spent (always on a 429), the time to ``X-RateLimit-Reset``."""
    lower = {str(name).lower(): str(value) for name, value in headers.items()}
    waits = [_retry_after_wait(lower.get("retry-after"), now)]
    if status == 429 or lower.get("x-ratelimit-remaining", "").strip() == "0":
        waits.append(_reset_wait(lower.get("x-ratelimit-reset"), now))
    found = [wait for wait in waits if wait is not None]
    return max(found) if found else None


#: Statuses below 500 worth sending again: rate limited, and a cohort locked by another
#: import (423, from the cohort endpoints).
_RETRY_STATUSES: Final = frozenset({423, 429})


def _status_of(status: int) -> OutcomeStatus:
    if 200 <= status < 300:
        return "delivered"
    if status in _RETRY_STATUSES or 500 <= status < 600:
        return "retry"
    return "failed"


#: A secret quoted in an answer (the cohort endpoints' 401 names the client secret):
#: the label and separator are kept, the value masked.
_QUOTED_SECRET: Final = re.compile(
    r"(?i)((?:client|partner[ _-]?api|api|data[ _-]?import|rest[ _-]?api)[ _-]?"
    r"(?:secret|key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+")


def _masked(text: str) -> str:
    """``text`` with any quoted secret masked."""
    return _QUOTED_SECRET.sub(r"\1***", text)


def interpret_response(request: Request, status: int, headers: Headers | None,
                       body: bytes | str | None, *,
                       now: float | None = None) -> tuple[Outcome, ...]:
    """Braze's answer to ``request``, as one :class:`Outcome` per source event.

    2xx: delivered; Braze's minor ``errors`` are mapped through the request's origins by
    their ``index`` (and ``input_array`` when given), errors without a usable index go to
    every event. 429 and 5xx: retry, with ``retry_after`` from ``Retry-After`` and, when
    the rate limit is spent, ``X-RateLimit-Reset`` (epoch seconds, measured from ``now``,
    default the current time); header names in any case. 423 (a cohort locked by another
    import) is retried too. Anything else: failed, with Braze's message. A secret the
    answer quotes (the cohort endpoints' 401 names the client secret) is masked. A body
    that is not JSON, or JSON of an unexpected shape, is read as far as it makes sense; it
    never raises.
    """
    payload, excerpt = _payload(body)
    outcome = _status_of(status)
    braze_message = payload.get("message") if payload is not None else None
    message = braze_message if isinstance(braze_message, str) else excerpt
    if message is not None:
        message = _masked(message)
    errors = tuple(attrs.evolve(e, message=_masked(e.message))
                   for e in _error_details(payload))
    retry_after = None
    if outcome == "retry":
        retry_after = _wait(status, headers or {}, time.time() if now is None else now)

    whole: list[ErrorDetail] = []
    named: dict[Origin, list[ErrorDetail]] = {}
    for error in errors:
        targets = _targets(request, error)
        if targets is None:
            whole.append(error)
        else:
            for origin in dict.fromkeys(targets):
                named.setdefault(origin, []).append(error)

    results = []
    for origin in _ordered_origins(request):
        concerning = (*whole, *named.get(origin, ()))
        if outcome == "delivered":
            text = concerning[0].message if concerning else None
        elif message is not None:
            text = message
        elif concerning:
            text = concerning[0].message
        else:
            text = f"HTTP {status}"
        results.append(Outcome(origin=origin, status=outcome, http_status=status,
                               message=text, retry_after=retry_after, errors=concerning))
    return tuple(results)
