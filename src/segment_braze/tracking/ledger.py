"""The ledger of change tracking: the writes in flight, and how each settles.

A translation's attribute writes are *pending* until an acknowledgement says what became
of them (:meth:`Ledger.acknowledge`, :meth:`Ledger.delivered`); the ledger keeps, per
user and slot, how many writes are pending, which is the latest, and which may have been
overtaken by a retried one, and commits a delivered value only when it is surely the one
Braze holds: the latest write of its slot, the only one pending, untainted. Everything
else leaves the slot unknown (*when in doubt, send*). The :class:`~.tracker.Tracker`
decides what a translation writes; the ledger decides what becomes known.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Container, Iterable, KeysView, Mapping
from itertools import chain
from typing import Any, Final, Literal, TypeAlias

from ..braze import Origin, Part, Request, UserKey
from .records import EMPTY, UserRecord
from .stores import StateStore

__all__ = ["ALL", "FORGET", "MAX_PENDING", "TRACKED_KINDS", "Ledger", "Slot"]

#: Translations whose writes wait for an acknowledgement, at most; beyond it the oldest
#: are forgotten (their attributes become unknown and are sent again).
MAX_PENDING: Final = 100_000

#: Identifier kinds whose users are tracked. An email (or phone) write goes to the most
#: recently updated profile with that email, which can change from one write to the next.
TRACKED_KINDS: Final = frozenset({"external_id", "braze_id", "user_alias"})

# -- slots: what one write of one user is about ------------------------------------------
# An attribute is a slot named by its string. The other slots are tuples, so they never
# meet an attribute name: ("alias", key) is the note that the alias ``key`` was merged
# into the user; ("field", name) a field of a named thing (a cohort's ``name``); ALL a
# write that makes all of the user's values unknown (a deletion, a merge).
Slot: TypeAlias = "str | tuple[str, str]"
ALL: Final = ("all", "")

#: A pending write that makes a slot unknown (an update operation, ...): it is never
#: committed, and while it is pending no other write of that slot is.
FORGET: Final[Any] = object()
#: Not found (``None`` is a value).
MISS: Final[Any] = object()

#: What the caller learns of a write: delivered; retry (it may have landed, and may be
#: sent again); lost (failed, or delivered with Braze's minor errors: it may have
#: landed, or not); evicted (too many pending: it may still be sent at any time).
_Fate: TypeAlias = Literal["delivered", "retry", "lost", "evicted"]
_FATES: Final[Mapping[str, _Fate]] = {"delivered": "delivered", "retry": "retry"}
_SEVERITY: Final[Mapping[_Fate, int]] = {"delivered": 0, "retry": 1, "lost": 2,
                                          "evicted": 3}


class _Flights:
    """The writes of one user not settled yet, slot by slot.

    ``count[slot]``: how many writes of the slot are pending (only slots with some);
    ``latest[slot]``: the sequence number of the latest write of each such slot
    translated (pending or not); ``taint[slot]``: the latest write that a write answered
    "retry" (or evicted) may have overtaken: it cannot be committed; ``retried``: the
    translations whose writes to this user were answered "retry" (they may land at any
    time until settled); ``open``: the translations with writes to the user pending;
    ``newest``: the greatest of ``latest``.

    Kept per user, not per slot: an identify writes a dozen slots of one user, and most
    of what settling does (count down, compare with the latest) is done on the user's
    dicts at once.
    """

    __slots__ = ("count", "latest", "newest", "open", "retried", "taint")

    def __init__(self, slots: Iterable[Slot], seq: int) -> None:
        self.count: dict[Slot, int] = dict.fromkeys(slots, 1)
        self.latest: dict[Slot, int] = dict.fromkeys(self.count, seq)
        self.retried: set[int] = set()
        self.taint: dict[Slot, int] = {}
        self.open = 1
        self.newest = seq

    def add(self, slots: Iterable[Slot], seq: int) -> None:
        """Writes of ``slots`` by translation ``seq`` are now pending."""
        count = self.count
        for slot in slots:
            count[slot] = count.get(slot, 0) + 1
        self.latest.update(dict.fromkeys(slots, seq))
        self.open += 1
        self.newest = max(self.newest, seq)

    def __contains__(self, slot: object) -> bool:
        """Whether a write of ``slot`` is pending."""
        return slot in self.count

    def __bool__(self) -> bool:
        return bool(self.count)

    def keys(self) -> KeysView[Slot]:
        """The slots with a write pending."""
        return self.count.keys()


#: Per request class, per part that changes what is known: (class, part name).
_PartKey: TypeAlias = "tuple[type, str]"


class _Pending:
    """The writes of one translation waiting for their acknowledgement, by user, and how
    many entries of each part that changes what is known its requests carry (an
    acknowledgement of a request carrying all of them settles every write at once)."""

    __slots__ = ("counts", "origin", "writes")

    def __init__(self, origin: Origin, writes: dict[UserKey, dict[Slot, Any]],
                 counts: dict[_PartKey, int]) -> None:
        self.origin = origin
        self.writes = writes
        self.counts = counts


class Ledger:
    """The writes in flight of one tracker, over its store. ``relevant(request)`` gives
    the parts of a request's class that change what is known (the tracker reads them
    from the declaration). Not locked itself: the tracker holds its lock around every
    call."""

    def __init__(self, store: StateStore, *, at_once: bool,
                 relevant: Callable[[Request], tuple[Part, ...]]) -> None:
        self.store = store
        self.at_once = at_once
        self._relevant = relevant
        self.pending: OrderedDict[int, _Pending] = OrderedDict()
        self.by_origin: dict[Origin, list[int]] = {}
        self.flights: dict[UserKey, _Flights] = {}
        #: The store changed in a way that must be flushed before the requests are sent.
        self.dirty = False

    def store_record(self, user: UserKey, record: UserRecord) -> None:
        if record:
            self.store.put(user, record)
        else:
            self.store.delete(user)

    def durable(self) -> None:
        """A note or a forgotten value must be in the store before the request that
        needs it reaches Braze (committed values may wait: losing one only means sending
        it again). With ``on_translate`` the caller decides when the store is committed
        (the command line commits a whole run at once), so nothing is flushed here."""
        if self.dirty:
            self.dirty = False
            if not self.at_once:
                self.store.flush()

    def record(self, seq: int, origin: Origin, writes: dict[UserKey, dict[Slot, Any]],
               call_records: Mapping[UserKey, UserRecord | None],
               requests: Iterable[Request]) -> None:
        """Note the writes of translation ``seq`` as pending (or, committing on
        translation, commit them now)."""
        if self.at_once:  # forgetting was done while translating
            for user, values in writes.items():
                known = {s: v for s, v in values.items() if v is not FORGET}
                if known:  # the record as it stands, already read while translating
                    self._commit(user, known, (), call_records.get(user, MISS))
            return
        flights = self.flights
        for user, values in writes.items():
            mine = flights.get(user)
            if mine is None:
                flights[user] = _Flights(values, seq)
            else:
                mine.add(values, seq)
        counts: dict[_PartKey, int] = {}
        for request in requests:
            kind = type(request)
            for part in self._relevant(request):
                carried = request.origins.get(part.name)
                number = carried.count(origin) if carried else 0
                if number:
                    key = (kind, part.name)
                    counts[key] = counts.get(key, 0) + number
        self.pending[seq] = _Pending(origin, writes, counts)
        self.by_origin.setdefault(origin, []).append(seq)
        while len(self.pending) > MAX_PENDING:
            old, pending = self.pending.popitem(last=False)
            self._unlist(pending.origin, old)
            for user, values in pending.writes.items():
                self._resolve(old, user, values, "evicted")

    def _commit(self, user: UserKey, values: Mapping[Slot, Any], forget: Iterable[Slot],
                record: UserRecord | None = MISS) -> int:
        """Write ``values`` into a user's record and drop the slots in ``forget``
        (``record``: the user's record in the store, when the caller has just read it);
        returns how many attribute values it wrote."""
        forget = [slot for slot in forget if slot not in values] if forget else []
        # Slots that are not attribute names (notes, fields): rare, found in bulk.
        notes = [] if _STRS.issuperset(map(type, values)) else [
            slot for slot in values if type(slot) is not str]
        if record is MISS:
            record = self.store.get(user)
        current = record if record is not None else EMPTY
        if forget and (not current.values.keys().isdisjoint(forget)  # attribute names
                       if _STRS.issuperset(map(type, forget))
                       else any(_holds(current, slot) for slot in forget)):
            self.dirty = True
        elif not values:
            return 0
        if not forget and not notes:  # the common case: attribute values only
            self.store.put(user, UserRecord({**current.values, **values},  # type: ignore[dict-item]
                                            current.aliases, current.merged_into))
            return len(values)
        new_values: dict[Any, Any] = dict(current.values)
        new_values.update(values)  # attribute slots (nearly all): their names are keys
        aliases = set(current.aliases)
        for slot in notes:
            value = new_values.pop(slot)
            if slot[0] == "alias":
                aliases.add(slot[1])
            else:
                new_values[slot[1]] = value
        for slot in forget:
            if type(slot) is str:
                new_values.pop(slot, None)
            elif slot[0] == "alias":
                aliases.discard(slot[1])
            elif slot != ALL:
                new_values.pop(slot[1], None)
        new = UserRecord(new_values,
                         current.aliases if len(aliases) == len(current.aliases)
                         and aliases == current.aliases else frozenset(aliases),
                         current.merged_into)
        if record is not None or new:
            self.store_record(user, new)
        return len(values) - len(notes)

    def _resolve(self, seq: int, user: UserKey, values: dict[Slot, Any], fate: _Fate,
                 last: bool = True) -> int:
        """Settle the writes ``values`` (of the translation ``seq``) to one user (``last``:
        the last of them still pending); returns how many attribute values were
        committed. A value is committed only when delivered, when it is the user's latest
        write of that slot, no other write of it (nor of the whole user) is pending, and
        no write answered "retry" may have overtaken it; otherwise the slot is left
        unknown."""
        flights = self.flights.get(user)
        if fate == "retry":  # it may land at any time from now on: nothing is settled
            if flights is not None:
                flights.retried.add(seq)
            self._commit(user, {}, [slot for slot in values if slot != ALL])
            return 0
        if flights is None:  # nothing of it is pending any more (evicted meanwhile)
            return self._commit(user, {}, [slot for slot in values if slot != ALL])
        count, latest, taint = flights.count, flights.latest, flights.taint
        # It may have landed after later writes: answered "retry" before, or evicted.
        late = fate == "evicted" or seq in flights.retried
        if last:
            flights.retried.discard(seq)
            flights.open -= 1
        if (fate == "delivered" and flights.open == 0 and flights.newest == seq and not late
                and not taint and ALL not in values):
            # The common case, in bulk: this translation's are the user's only writes
            # pending, and the latest of each slot (the latest of all).
            return self._commit_alone(user, values, flights)
        if ALL in values:
            _count_down(flights, ALL, seq, late)
            if late:  # it may have landed after any later write of the user
                for slot, newest in latest.items():
                    if newest > seq:
                        taint[slot] = max(taint.get(slot, 0), newest)
        blocked = ALL in count
        if fate == "delivered" and not late and not blocked and ALL not in values \
                and latest.items() >= dict.fromkeys(values, seq).items() \
                and count.items() >= dict.fromkeys(values, 1).items() \
                and not (taint and any(taint.get(slot, 0) >= seq for slot in values)):
            # The common case, in bulk: the one pending write of each slot is this one,
            # and the latest.
            return self._commit_alone(user, values, flights)
        delivered = fate == "delivered" and not blocked
        commit: dict[Slot, Any] = {}
        forget: list[Slot] = []
        for slot, value in values.items():
            if slot == ALL:
                continue
            pending = count.get(slot)
            if pending is None:  # not pending (its flights were dropped): unknown
                forget.append(slot)
                continue
            newest = latest[slot]
            if delivered and pending == 1 and newest == seq and value is not FORGET \
                    and taint.get(slot, 0) < seq:
                commit[slot] = value
            else:
                forget.append(slot)
            if pending == 1:
                del count[slot], latest[slot]
                taint.pop(slot, None)
            else:
                count[slot] = pending - 1
                if late and newest > seq:
                    taint[slot] = max(taint.get(slot, 0), newest)
        if not count:
            del self.flights[user]
        if commit or forget:
            return self._commit(user, commit, forget)
        return 0

    def _commit_alone(self, user: UserKey, values: dict[Slot, Any],
                      flights: _Flights) -> int:
        """Commit ``values``, each the one pending write of its slot and the latest: the
        slots leave the user's flights, and what they write (or forget) is committed."""
        count = flights.count
        if len(count) == len(values):
            del self.flights[user]
        else:
            latest, taint = flights.latest, flights.taint
            for slot in values:
                del count[slot], latest[slot]
                taint.pop(slot, None)
        if FORGET in values.values():
            return self._commit(user, {s: v for s, v in values.items() if v is not FORGET},
                                [s for s, v in values.items() if v is FORGET])
        return self._commit(user, values, ())

    def _unlist(self, origin: Origin, seq: int) -> None:
        seqs = self.by_origin.get(origin)
        if seqs is not None:
            seqs.remove(seq)
            if not seqs:
                del self.by_origin[origin]

    def acknowledge(self, outcomes: Iterable[Any], request: Request | None) -> int:
        """What :meth:`Tracker.acknowledge <segment_braze.tracking.Tracker.acknowledge>`
        does (see there), under the tracker's lock: the number of values committed."""
        fates: dict[Origin, _Fate] = {}
        fate: _Fate
        for item in outcomes:
            if item is None or isinstance(item, str | int):
                origin, fate = item, "delivered"
            else:
                origin = item.origin
                fate = _FATES.get(item.status, "lost")
                if fate == "delivered" and getattr(item, "errors", None):
                    fate = "lost"  # Braze skipped something of this event: maybe ours
            known = fates.get(origin)
            if known is None or _SEVERITY[fate] > _SEVERITY[known]:
                fates[origin] = fate
        if not self.pending:
            return 0
        return self._settle_all(fates, request)

    def delivered(self, request: Request) -> int:
        """Every entry of ``request`` was delivered (a 2xx answer without ``errors``):
        what :meth:`acknowledge` does with a delivered outcome for each of its events, at
        the cost of the events with writes waiting, not of every event. Delivery calls
        it for such answers."""
        if not self.pending:
            return 0
        # Only entries of parts that change what is known (and repeats merged into
        # them) carry writes: the origins of the others are not even looked at.
        origins = request.origins
        carrying = [origins.get(part.name, ()) for part in self._relevant(request)]
        carrying.append(origins.get("superseded", ()))
        waiting = self.by_origin.keys() & chain.from_iterable(carrying)
        if not waiting:
            return 0
        # In the order Braze applied them.
        return self._settle_all({origin: "delivered"
                                 for origin in dict.fromkeys(chain.from_iterable(carrying))
                                 if origin in waiting}, request)

    def _settle_all(self, fates: Mapping[Origin, _Fate], request: Request | None) -> int:
        """Settle what ``request`` (``None``: anything) carried of each origin's writes.

        Which of an origin's writes a request carried: all of them when the request
        carries every entry (of the parts that change what is known) that the origin's
        translation sent, as counted when it was translated; the common case, read from
        the origins alone. Otherwise (an event split between requests, an identify with
        its merge sent apart, the same message id twice) the request's entries are read
        (:meth:`_parts`), for those origins only."""
        by_origin = self.by_origin
        choices: dict[Origin, Any] = {}
        unsure: list[Origin] = []
        carried = None if request is None else _Carried(self, request)
        for origin in fates:
            seqs = by_origin.get(origin)
            if not seqs:
                continue
            choice = None if carried is None else carried.choice(origin, seqs)
            if choice is _NOTHING:
                continue
            if choice is _READ:
                unsure.append(origin)
            choices[origin] = choice
        if unsure:
            assert request is not None  # noqa: S101 - only a request makes one unsure
            read = self._parts(request, set(unsure))
            for origin in unsure:
                choices[origin] = read.get(origin, _NOTHING)
        committed = 0
        for origin, choice in choices.items():
            if choice is _NOTHING:
                continue
            fate = fates[origin]
            for seq in list(by_origin.get(origin, ())):
                committed += self._settle_seq(seq, origin, fate, choice)
        self.durable()
        return committed

    def _settle_seq(self, seq: int, origin: Origin, fate: _Fate,
                    selected: Mapping[UserKey, set[Slot]] | None) -> int:
        """Settle the writes of translation ``seq`` (those ``selected``, or all)."""
        pending = self.pending[seq]
        committed = 0
        writes = pending.writes
        if selected is None:
            for user, values in writes.items():
                committed += self._resolve(seq, user, values, fate)
            if fate != "retry":
                del self.pending[seq]
                self._unlist(origin, seq)
            return committed
        for user, values in list(writes.items()):
            slots = selected.get(user)
            if not slots:
                continue
            chosen = {s: v for s, v in values.items() if s in slots}
            if not chosen:
                continue
            committed += self._resolve(seq, user, chosen, fate, len(chosen) == len(values))
            if fate == "retry":
                continue
            if len(chosen) == len(values):
                del writes[user]
            else:
                for slot in chosen:
                    del values[slot]
        if not writes:
            del self.pending[seq]
            self._unlist(origin, seq)
        return committed

    def _parts(self, request: Request, only: Container[Origin]
               ) -> dict[Origin, dict[UserKey, set[Slot]]]:
        """Which pending writes a request carries, per origin (of those in ``only``) and
        user, read from its declaration: the attribute names of its attributes objects
        (also for the users a merged alias may write), the notes and fields of what it
        joins or names, and the users it deletes, merges or joins."""
        parts: dict[Origin, dict[UserKey, set[Slot]]] = {}

        def add(origin: Origin, user: UserKey, slots: Iterable[Slot]) -> None:
            parts.setdefault(origin, {}).setdefault(user, set()).update(slots)

        for part in self._relevant(request):
            effect = part.effect
            for entry, origin in request.pairs(part):
                if origin not in only:
                    continue
                if effect == "values":
                    if entry.identifier.kind not in TRACKED_KINDS:
                        continue
                    user = entry.identifier.key
                    add(origin, user, entry.values)
                    record = self.store.get(user) if entry.identifier.kind == "user_alias" \
                        else None
                    for other in record.merged_into if record is not None else ():
                        add(origin, other, entry.values)
                elif effect == "name":
                    (key,) = part.users(entry)
                    add(origin, key, (("field", name) for name in entry.ENDPOINT.distinct))
                else:
                    users = part.users(entry)
                    for user in users:
                        add(origin, user, (ALL,))
                    if effect == "join_once":  # and the note that the alias was merged
                        alias, user = users
                        add(origin, user, (("alias", alias),))
        return parts



def _holds(record: UserRecord, slot: Slot) -> bool:
    """Whether the record knows something of ``slot``."""
    if type(slot) is str:
        return slot in record.values
    if slot[0] == "alias":
        return slot[1] in record.aliases
    return slot != ALL and slot[1] in record.values


#: What a request carried of an origin's writes: nothing, or (not known from its origins
#: alone) what reading its entries says.
_NOTHING: Final[Any] = object()
_READ: Final[Any] = object()
_STRS: Final = frozenset({str})


class _Carried:
    """How many entries of each origin one request carries, per part that changes what
    is known: counted from its origins (in C) the first time it is asked."""

    __slots__ = ("_counts", "_kind", "_ledger", "_repeats", "_request")

    def __init__(self, ledger: Ledger, request: Request) -> None:
        self._ledger = ledger
        self._request = request
        self._kind = type(request)
        #: Origins of repeats merged into an equal entry: they carried all its writes.
        self._repeats = request.origins.get("superseded", ())
        self._counts: list[tuple[str, Counter[Origin]]] | None = None

    def choice(self, origin: Origin, seqs: list[int]) -> Any:
        """``None`` (every write of the origin), :data:`_NOTHING`, or :data:`_READ`."""
        if origin in self._repeats:
            return None
        counts = self._counts
        if counts is None:
            request = self._request
            counts = self._counts = [
                (part.name, Counter(request.origins.get(part.name, ())))
                for part in self._ledger._relevant(request)]
        if len(counts) == 1:  # the common case: one such part (attributes)
            name, counter = counts[0]
            carried = counter[origin]
            if not carried:
                return _NOTHING
            if len(seqs) == 1:
                sent = self._ledger.pending[seqs[0]].counts
                if len(sent) == 1 and sent.get((self._kind, name)) == carried:
                    return None
            return _READ
        mine = {name: n for name, counter in counts if (n := counter[origin])}
        if not mine:
            return _NOTHING
        if len(seqs) == 1:
            sent = self._ledger.pending[seqs[0]].counts
            kind = self._kind
            if len(sent) == len(mine) and all(
                    cls is kind and mine.get(name) == n for (cls, name), n in sent.items()):
                return None
        return _READ


def _count_down(flights: _Flights, slot: Slot, seq: int, late: bool) -> None:
    """The write ``seq`` of ``slot`` is no longer pending. When it may have landed after
    later writes (``late``), those are tainted."""
    count = flights.count
    pending = count.get(slot)
    if pending is None:
        return
    if pending == 1:
        del count[slot], flights.latest[slot]
        flights.taint.pop(slot, None)
        return
    count[slot] = pending - 1
    newest = flights.latest[slot]
    if late and newest > seq:
        flights.taint[slot] = max(flights.taint.get(slot, 0), newest)


