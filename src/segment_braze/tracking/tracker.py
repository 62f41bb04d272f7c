"""The change tracker: a stage of its own between translation and sending.

``Tracker(store).apply(translation)`` leaves out of a translation the attribute values
Braze already has (``Translation.unchanged`` names them); ``acknowledge(outcomes)``
commits the values Braze is heard to have received. What each request means for the
tracker comes from its endpoint's declaration: every part declares an effect
(:data:`~segment_braze.braze.endpoint.Effect`), and a request class without one is an
error, never a silent pass (a tracker that kept trusting a value an unknown endpoint
changed would drop later writes of it as "unchanged").

The rule throughout is *when in doubt, send*: forgetting a value only costs a data point
(the value is sent again); remembering a value that is not in Braze loses it for good. So:

- values compare as JSON values (:func:`~.records.same`);
- identifiers, ``_update_existing_only`` and ``_merge_objects`` are never dropped; update
  operations (``inc``, ``add``/``remove``, ``$add``/``$remove``/``$update``), nested objects
  written with ``_merge_objects``, the subscription fields and values that are not plain
  JSON are always sent, and make the stored value unknown; the attributes object that
  creates an alias profile is always sent, even with no value left;
- a value is compared only with a *committed* one, and never while another write of it is
  in flight (that write may land after the comparison);
- with ``commit="acknowledge"`` (the default) a write is committed when
  :meth:`Tracker.acknowledge` hears it was delivered; a write that may or may not have
  landed (a retry, a failure, Braze's minor errors, an outcome that never comes) leaves the
  attribute unknown; with ``commit="on_translate"`` it is committed at once, which suits
  the command line: it only writes files, and the state describes those files;
- deleted (``forget``) and merged (``merge``) users are forgotten; an alias joined to a
  user (``join``, ``join_once``) makes both users' values unknown, and a
  ``/users/identify`` merge is sent once per (alias, user) pair;
- users identified by email or phone are not tracked: which profile such a write reaches
  can change over time.

A tracker is safe to share between threads (the delivery code acknowledges from several).
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Container, Iterable, KeysView, Mapping
from itertools import chain
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs

from ..braze import Endpoint, Origin, Part, Request, UserAttributes, UserKey
from .records import EMPTY, UserRecord, is_plain, same
from .stores import StateStore

if TYPE_CHECKING:
    from ..translate import Translation

__all__ = [
    "ALWAYS_SENT",
    "MAX_PENDING",
    "OPERATIONS",
    "SUBSCRIPTION_FIELDS",
    "TRACKED_KINDS",
    "Commit",
    "Tracker",
]

#: The subscription fields of an attributes object: Braze does not bill them, and they
#: change outside the pipeline (an unsubscribe link; a subscription group set for one
#: profile changes every profile sharing the email).
SUBSCRIPTION_FIELDS: Final = frozenset({"email_subscribe", "push_subscribe",
                                        "subscription_groups"})

#: Attributes always sent and never remembered: the subscription fields, and push tokens,
#: which Braze adds to rather than replaces.
ALWAYS_SENT: Final = SUBSCRIPTION_FIELDS | {"push_tokens"}

#: Keys of Braze's update operations: an object of only these keys changes the stored
#: value in a way the store cannot follow, so it is always sent and makes it unknown.
OPERATIONS: Final = frozenset({"inc", "add", "remove", "$add", "$remove", "$update"})

#: Identifier kinds whose users are tracked. An email (or phone) write goes to the most
#: recently updated profile with that email, which can change from one write to the next.
TRACKED_KINDS: Final = frozenset({"external_id", "braze_id", "user_alias"})

#: Translations whose writes wait for an acknowledgement, at most; beyond it the oldest
#: are forgotten (their attributes become unknown and are sent again).
MAX_PENDING: Final = 100_000

#: When writes are committed: when acknowledged as delivered, or as soon as translated.
Commit: TypeAlias = Literal["acknowledge", "on_translate"]

# -- slots: what one write of one user is about ------------------------------------------
# An attribute is a slot named by its string. The other slots are tuples, so they never
# meet an attribute name: ("alias", key) is the note that the alias ``key`` was merged
# into the user; ("field", name) a field of a named thing (a cohort's ``name``); ALL a
# write that makes all of the user's values unknown (a deletion, a merge).
Slot: TypeAlias = "str | tuple[str, str]"
ALL: Final = ("all", "")

#: A pending write that makes a slot unknown (an update operation, ...): it is never
#: committed, and while it is pending no other write of that slot is.
_FORGET: Final[Any] = object()
#: Not found (``None`` is a value).
_MISS: Final[Any] = object()
#: Types that are certainly not mappings: no need to ask ``isinstance`` (slow for ABCs).
_NOT_MAPPINGS: Final = frozenset({str, int, float, bool, type(None), list, tuple})

#: What the caller learns of a write: delivered; retry (it may have landed, and may be
#: sent again); lost (failed, or delivered with Braze's minor errors: it may have
#: landed, or not); evicted (too many pending: it may still be sent at any time).
_Fate: TypeAlias = Literal["delivered", "retry", "lost", "evicted"]
_FATES: Final[Mapping[str, _Fate]] = {"delivered": "delivered", "retry": "retry"}
_SEVERITY: Final[Mapping[_Fate, int]] = {"delivered": 0, "retry": 1, "lost": 2,
                                          "evicted": 3}


def _is_operation(value: Mapping[str, Any]) -> bool:
    return bool(value) and value.keys() <= OPERATIONS


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


class _Call:
    """What one translation has seen and done so far: user records as they now stand
    (so a later entry compares with what an earlier one changed), the slots it sends, the
    writes it makes, and the attribute names left out."""

    __slots__ = ("records", "remember", "sent", "seq", "unchanged", "writes")

    def __init__(self, seq: int, remember: bool) -> None:
        #: The translation's sequence number (0: nothing is remembered).
        self.seq = seq
        self.remember = remember
        self.records: dict[UserKey, UserRecord | None] = {}
        self.sent: dict[UserKey, set[Slot]] = {}
        self.writes: dict[UserKey, dict[Slot, Any]] = {}
        self.unchanged: list[str] = []


#: One effect: what a part's entries do, given the part, its ``(entry, origin)`` pairs and
#: the call; returns the pairs to send (the same list when nothing is left out).
_Handler: TypeAlias = Callable[["Tracker", Part, list[tuple[Any, Origin]], _Call],
                               list[tuple[Any, Origin]]]


def _declaration(request: Request) -> Endpoint:
    endpoint = getattr(type(request), "ENDPOINT", None)
    if not isinstance(endpoint, Endpoint) or not isinstance(request, Request):
        raise TypeError(f"the change tracker does not know {type(request).__name__}: a "
                        "request class must declare its ENDPOINT (parts and effects)")
    return endpoint


class Tracker:
    """Compares translations with a :class:`~.stores.StateStore` and remembers what is
    sent. :meth:`apply` leaves out of a translation the values Braze already has;
    :meth:`acknowledge` commits the delivered ones; :meth:`preview` shows what would be
    left out without remembering anything.
    """

    def __init__(self, store: StateStore, *, commit: Commit = "acknowledge") -> None:
        if not isinstance(store, StateStore):
            raise TypeError(f"store must be a StateStore (get, put, delete, flush, close), "
                            f"got {type(store).__name__}")
        if commit not in ("acknowledge", "on_translate"):
            raise ValueError(f"commit must be 'acknowledge' or 'on_translate', got {commit!r}")
        self.store = store
        self.commit = commit
        self._at_once = commit == "on_translate"
        self._seq = 0
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._by_origin: dict[Origin, list[int]] = {}
        self._flights: dict[UserKey, _Flights] = {}
        #: The store changed in a way that must be flushed before the requests are sent.
        self._dirty = False
        self._lock = threading.RLock()
        #: Per request class: its parts whose effect changes what is known.
        self._relevant: dict[type, tuple[tuple[Part, _Handler], ...]] = {}
        #: Per request class: whether it is its own one relevant entry, and the
        #: attributes holding its relevant entries.
        self._watched: dict[type, tuple[bool, tuple[str, ...]]] = {}
        #: Per request class: the fields its ``__init__`` takes.
        self._fields: dict[type, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return f"Tracker({self.store!r}, commit={self.commit!r}, pending={self.pending})"

    @property
    def pending(self) -> int:
        """Translations whose writes wait for an acknowledgement."""
        return len(self._pending)

    # -- translating -------------------------------------------------------------------

    def apply(self, translation: Translation) -> Translation:
        """``translation`` without the values Braze already has; what it sends is
        recorded for :meth:`acknowledge` (or committed at once) and the store forgets
        what its requests make unknown."""
        return self._apply(translation, remember=True)

    def preview(self, translation: Translation) -> Translation:
        """``translation`` as :meth:`apply` would leave it, remembering nothing (for
        ``explain``)."""
        return self._apply(translation, remember=False)

    def _relevant_parts(self, request: Request) -> tuple[tuple[Part, _Handler], ...]:
        """The parts of a request's class whose effect is not ``"none"``, each with its
        handler; read once per class (with the attributes :meth:`_matters` looks at)."""
        kind = type(request)
        parts = self._relevant.get(kind)
        if parts is None:
            endpoint = _declaration(request)
            found = []
            for part in endpoint.parts:
                handler = _EFFECTS.get(part.effect)
                if handler is None:
                    raise TypeError(f"{kind.__name__}.ENDPOINT: part {part.name!r} declares "
                                    f"an effect the tracker does not know: {part.effect!r}")
                if part.effect != "none":
                    found.append((part, handler))
            parts = self._relevant[kind] = tuple(found)
            self._watched[kind] = (any(part.single for part, _ in found),
                                   tuple(part.attribute for part, _ in found
                                         if not part.single))
        return parts

    def _matters(self, request: Request) -> bool:
        """Whether the request has an entry whose effect changes what is known."""
        watched = self._watched.get(type(request))
        if watched is None:
            self._relevant_parts(request)
            watched = self._watched[type(request)]
        single, attributes = watched
        if single:
            return True
        for attribute in attributes:  # noqa: SIM110 - a generator costs more, per event
            if getattr(request, attribute):
                return True
        return False

    def _apply(self, translation: Translation, *, remember: bool) -> Translation:
        requests = translation.requests
        for request in requests:
            if self._matters(request):
                break
        else:
            return translation  # the common case: events and purchases only
        with self._lock:
            if remember and not self._at_once:
                self._seq += 1
                call = _Call(self._seq, remember)
            else:
                call = _Call(0, remember)
            changed = False
            out: list[Request] = []
            for request in requests:
                kept = self._request(request, call)
                if kept is not request:
                    changed = True
                if kept is not None:
                    out.append(kept)
            if remember:
                if call.writes:
                    self._record(call.seq, translation.origin,
                                 {u: w for u, w in call.writes.items() if w}, call.records,
                                 out)
                self._durable()
        if not changed:
            return translation
        unchanged = tuple(call.unchanged)
        skipped = None
        if not out:
            skipped = ("no attribute changed" if unchanged
                       else "the alias was already merged into this user")
        return type(translation)(requests=tuple(out), skipped=skipped,
                                 notices=translation.notices, origin=translation.origin,
                                 unchanged=unchanged)

    def _request(self, request: Request, call: _Call) -> Request | None:
        """The request without what its parts' effects leave out; ``None`` when nothing
        is left."""
        changes: dict[str, tuple[Any, ...]] = {}
        origins: dict[str, tuple[Origin, ...]] | None = None
        for part, handler in self._relevant_parts(request):
            pairs = list(request.pairs(part))
            if not pairs:
                continue
            kept = handler(self, part, pairs, call)
            if kept is pairs:
                continue
            if origins is None:
                origins = dict(request.origins)
            if part.single or part.read:
                if kept:  # pragma: no cover - no effect keeps part of such a part
                    raise TypeError(f"{part.name!r}: entries of a derived part cannot be "
                                    "left out one by one")
                changes[part.attribute] = ()
            else:
                changes[part.attribute] = tuple(entry for entry, _ in kept)
            if kept:
                origins[part.name] = tuple(origin for _, origin in kept)
            else:
                origins.pop(part.name, None)
        if origins is None:
            return request
        if not any(origins.get(part.name) for part in request.ENDPOINT.parts):
            return None  # every entry was left out
        return self._rebuild(request, origins, changes)

    def _rebuild(self, request: Request, origins: dict[str, tuple[Origin, ...]],
                 changes: dict[str, tuple[Any, ...]]) -> Request:
        """``request`` with other entries and origins, its other fields as they are (as
        ``attrs.evolve`` does, with the class's fields looked up once)."""
        kind = type(request)
        names = self._fields.get(kind)
        if names is None:
            names = self._fields[kind] = tuple(f.name for f in attrs.fields(kind)  # type: ignore[arg-type]
                                               if f.init)
        fields = {name: getattr(request, name) for name in names}
        fields.update(changes)
        fields["origins"] = origins
        return kind(**fields)

    def _record_of(self, user: UserKey, call: _Call) -> UserRecord | None:
        records = call.records
        if user in records:
            return records[user]
        record = records[user] = self.store.get(user)
        return record

    # -- the effects -------------------------------------------------------------------

    def _values(self, part: Part, pairs: list[tuple[Any, Origin]],
                call: _Call) -> list[tuple[Any, Origin]]:
        """Attributes objects: each without its unchanged values."""
        kept: list[tuple[Any, Origin]] = []
        changed = False
        for obj, origin in pairs:
            new = self._attributes(obj, call)
            if new is not obj:
                changed = True
            if new is not None:
                kept.append((new, origin))
        return kept if changed else pairs

    def _forget_all(self, part: Part, pairs: list[tuple[Any, Origin]],
                    call: _Call) -> list[tuple[Any, Origin]]:
        """Deletions: every user named is gone."""
        for entry, _ in pairs:
            for user in part.users(entry):
                self._forget_user(user, call)
        return pairs

    def _merge(self, part: Part, pairs: list[tuple[Any, Origin]],
               call: _Call) -> list[tuple[Any, Origin]]:
        """Merges: the first user is gone, the second's values are unknown."""
        for entry, _ in pairs:
            merged, kept = part.users(entry)
            self._forget_user(merged, call)
            self._forget_user(kept, call, keep_notes=True)
        return pairs

    def _join_each(self, part: Part, pairs: list[tuple[Any, Origin]],
                   call: _Call) -> list[tuple[Any, Origin]]:
        """New aliases: an alias-only profile starts unknown; an alias added to a user
        joins them."""
        for entry, _ in pairs:
            users = part.users(entry)
            if len(users) == 1:
                self._forget_user(users[0], call)
            else:
                self._join(users[0], users[1], call)
        return pairs

    def _join_once(self, part: Part, pairs: list[tuple[Any, Origin]],
                   call: _Call) -> list[tuple[Any, Origin]]:
        """Identify merges: those already delivered are left out; for the others, the
        merge is noted and both users' values become unknown."""
        kept = []
        for entry, origin in pairs:
            alias, user = part.users(entry)
            note: Slot = ("alias", alias)
            record = self._record_of(user, call)
            sent = call.sent.setdefault(user, set())
            flights = self._flights.get(user)
            if (record is not None and alias in record.aliases and note not in sent
                    and (flights is None or (note not in flights and ALL not in flights))):
                continue
            kept.append((entry, origin))
            self._join(alias, user, call)
            sent.add(note)
            call.writes.setdefault(user, {})[note] = True
        return kept if len(kept) < len(pairs) else pairs

    def _name(self, part: Part, pairs: list[tuple[Any, Origin]],
              call: _Call) -> list[tuple[Any, Origin]]:
        """Named things (cohorts): left out when the store knows Braze has these values of
        the endpoint's ``distinct`` fields and no other naming is in flight."""
        kept = []
        for entry, origin in pairs:
            (key,) = part.users(entry)
            fields = {("field", name): getattr(entry, name)
                      for name in type(entry).ENDPOINT.distinct}
            record = self._record_of(key, call)
            flights: Container[Slot] = self._flights.get(key) or ()
            sent = call.sent.setdefault(key, set())
            if (record is not None
                    and all(record.values.get(slot[1], _MISS) == value
                            for slot, value in fields.items())
                    and not any(slot in flights or slot in sent for slot in fields)):
                continue
            kept.append((entry, origin))
            sent.update(fields)
            call.writes.setdefault(key, {}).update(fields)
        return kept if len(kept) < len(pairs) else pairs

    def _attributes(self, obj: UserAttributes, call: _Call) -> UserAttributes | None:
        """The object without its unchanged values; ``None`` when nothing is left."""
        values = obj.values
        identifier = obj.identifier
        if not values or identifier.kind not in TRACKED_KINDS:
            return obj
        user = identifier.key
        record = self._record_of(user, call)
        merged_into = record.merged_into if record is not None else ()
        trusted = record.values if record is not None and not merged_into else None
        flights = self._flights.get(user)
        sent = call.sent.get(user)
        if sent is None:
            sent = call.sent[user] = set()
        # Written only when Braze applies them for sure: not an update-only object (a
        # user who does not exist yet ignores it, and Braze still answers success), not
        # through an alias merged into another user.
        settable = obj.update_existing_only is not True and not merged_into
        merge_objects = obj.merge_objects is True
        dropped: list[str] = []
        if trusted and not merge_objects and not (flights and ALL in flights):
            # Most values of a re-identify are unchanged, and this runs for each of them:
            # in bulk. Python's ``==`` finds the candidates (it never misses a JSON-equal
            # pair of the types the translator emits; a stored value is never an update
            # operation); each is then confirmed as the same JSON value (``True == 1`` for
            # Python) and one that may be dropped.
            known = trusted.get
            equal = [name for name, value in values.items() if known(name, _MISS) == value]
            if equal:
                allowed = set(equal)
                allowed -= ALWAYS_SENT
                if sent:
                    allowed -= sent
                if flights:
                    allowed -= flights.keys()
                dropped = [name for name in equal if name in allowed
                           and (type(values[name]) is str or same(trusted[name], values[name]))]
        writes: dict[Slot, Any] = {}
        unknown: list[Slot] = []
        gone = set(dropped)
        if len(dropped) < len(values):
            for name, value in values.items():
                if name in gone or name in ALWAYS_SENT:
                    continue
                kind = type(value)
                if (kind is dict or (kind not in _NOT_MAPPINGS and isinstance(value, Mapping))
                        ) and (merge_objects or _is_operation(value)):
                    unknown.append(name)
                elif settable and (kind is str or is_plain(value)):
                    writes[name] = value
                else:
                    unknown.append(name)
                sent.add(name)
        if unknown:
            self._forget(user, unknown, call)
        if writes:
            call.writes.setdefault(user, {}).update(writes)
        for other in merged_into:
            self._forget(other, [*writes, *unknown], call)
        if not dropped:
            return obj
        call.unchanged += dropped
        if len(dropped) == len(values):
            left: dict[str, Any] = {}
        else:
            left = {name: value for name, value in values.items() if name not in gone}
        creates_alias = identifier.kind == "user_alias" and obj.update_existing_only is False
        if not left and not creates_alias:
            return None
        return UserAttributes(identifier=identifier, values=left,
                              update_existing_only=obj.update_existing_only,
                              merge_objects=obj.merge_objects)

    # -- changing what is known --------------------------------------------------------

    def _set(self, user: UserKey, record: UserRecord, call: _Call) -> None:
        """Replace a user's record now (a note that must hold before the request is
        sent)."""
        call.records[user] = record
        if call.remember:
            self._store(user, record)
            self._dirty = True

    def _forget(self, user: UserKey, slots: Iterable[Slot], call: _Call) -> None:
        """Make these slots of a user unknown, now: a write the store cannot follow is
        about to be sent."""
        slots = list(slots)
        writes = call.writes.setdefault(user, {})
        for slot in slots:
            writes[slot] = _FORGET  # in flight until acknowledged: it may land late
        record = self._record_of(user, call)
        if record is None or not any(slot in record.values for slot in slots):
            return
        left = UserRecord(values={k: v for k, v in record.values.items() if k not in slots},
                          aliases=record.aliases, merged_into=record.merged_into)
        call.records[user] = left or None
        if call.remember:
            self._store(user, left)
            self._dirty = True

    def _forget_user(self, user: UserKey, call: _Call, *, keep_notes: bool = False) -> None:
        """Forget a deleted or merged user (``keep_notes``: their values only)."""
        flights = self._flights.get(user)
        if call.seq and flights is not None:
            # Earlier writes still pending are overtaken: none of them is the latest now.
            latest = flights.latest
            for slot in flights.count:
                if slot != ALL and (not keep_notes or type(slot) is str):
                    latest[slot] = call.seq
                    flights.newest = max(flights.newest, call.seq)
        writes = call.writes.get(user) or {}
        notes: dict[Slot, Any] = {s: v for s, v in writes.items()
                                  if keep_notes and type(s) is tuple and s[0] == "alias"}
        call.writes[user] = {ALL: _FORGET, **notes}  # settled first when acknowledged
        record = self._record_of(user, call)
        if record is None:
            return
        left = (UserRecord(aliases=record.aliases, merged_into=record.merged_into)
                if keep_notes else EMPTY)
        if left == record:
            return
        call.records[user] = left or None
        if call.remember:
            self._store(user, left)
            self._dirty = True

    def _join(self, alias: UserKey, user: UserKey, call: _Call) -> None:
        """An alias now reaches ``user`` (an identify merge, a new alias of that user):
        both users' values become unknown, and the alias's record notes the user, so that
        later writes through the alias make the user's values unknown too."""
        alias_record = self._record_of(alias, call)
        merged = list(alias_record.merged_into) if alias_record is not None else []
        if user not in merged:
            merged.append(user)
        self._forget_user(alias, call)
        self._set(alias, UserRecord(merged_into=tuple(merged)), call)
        self._forget_user(user, call, keep_notes=True)

    def _store(self, user: UserKey, record: UserRecord) -> None:
        if record:
            self.store.put(user, record)
        else:
            self.store.delete(user)

    def _durable(self) -> None:
        """A note or a forgotten value must be in the store before the request that
        needs it reaches Braze (committed values may wait: losing one only means sending
        it again). With ``on_translate`` the caller decides when the store is committed
        (the command line commits a whole run at once), so nothing is flushed here."""
        if self._dirty:
            self._dirty = False
            if not self._at_once:
                self.store.flush()

    # -- committing --------------------------------------------------------------------

    def _record(self, seq: int, origin: Origin, writes: dict[UserKey, dict[Slot, Any]],
                call_records: Mapping[UserKey, UserRecord | None],
                requests: Iterable[Request]) -> None:
        if self._at_once:  # forgetting was done while translating
            for user, values in writes.items():
                known = {s: v for s, v in values.items() if v is not _FORGET}
                if known:  # the record as it stands, already read while translating
                    self._commit(user, known, (), call_records.get(user, _MISS))
            return
        flights = self._flights
        for user, values in writes.items():
            mine = flights.get(user)
            if mine is None:
                flights[user] = _Flights(values, seq)
            else:
                mine.add(values, seq)
        counts: dict[_PartKey, int] = {}
        for request in requests:
            kind = type(request)
            for part, _ in self._relevant_parts(request):
                carried = request.origins.get(part.name)
                number = carried.count(origin) if carried else 0
                if number:
                    key = (kind, part.name)
                    counts[key] = counts.get(key, 0) + number
        self._pending[seq] = _Pending(origin, writes, counts)
        self._by_origin.setdefault(origin, []).append(seq)
        while len(self._pending) > MAX_PENDING:
            old, pending = self._pending.popitem(last=False)
            self._unlist(pending.origin, old)
            for user, values in pending.writes.items():
                self._resolve(old, user, values, "evicted")

    def _commit(self, user: UserKey, values: Mapping[Slot, Any], forget: Iterable[Slot],
                record: UserRecord | None = _MISS) -> int:
        """Write ``values`` into a user's record and drop the slots in ``forget``
        (``record``: the user's record in the store, when the caller has just read it);
        returns how many attribute values it wrote."""
        forget = [slot for slot in forget if slot not in values] if forget else []
        # Slots that are not attribute names (notes, fields): rare, found in bulk.
        notes = [] if _STRS.issuperset(map(type, values)) else [
            slot for slot in values if type(slot) is not str]
        if record is _MISS:
            record = self.store.get(user)
        current = record if record is not None else EMPTY
        if forget and (not current.values.keys().isdisjoint(forget)  # attribute names
                       if _STRS.issuperset(map(type, forget))
                       else any(_holds(current, slot) for slot in forget)):
            self._dirty = True
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
            self._store(user, new)
        return len(values) - len(notes)

    def _resolve(self, seq: int, user: UserKey, values: dict[Slot, Any], fate: _Fate,
                 last: bool = True) -> int:
        """Settle the writes ``values`` (of the translation ``seq``) to one user (``last``:
        the last of them still pending); returns how many attribute values were
        committed. A value is committed only when delivered, when it is the user's latest
        write of that slot, no other write of it (nor of the whole user) is pending, and
        no write answered "retry" may have overtaken it; otherwise the slot is left
        unknown."""
        flights = self._flights.get(user)
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
            if len(count) == len(values):
                del self._flights[user]
            else:
                for slot in values:
                    del count[slot], latest[slot]
            if _FORGET in values.values():
                return self._commit(user, {s: v for s, v in values.items() if v is not _FORGET},
                                    [s for s, v in values.items() if v is _FORGET])
            return self._commit(user, values, ())
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
            if len(count) == len(values):
                del self._flights[user]
            else:
                for slot in values:
                    del count[slot], latest[slot]
                    taint.pop(slot, None)
            if _FORGET in values.values():
                return self._commit(user, {s: v for s, v in values.items() if v is not _FORGET},
                                    [s for s, v in values.items() if v is _FORGET])
            return self._commit(user, values, ())
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
            if delivered and pending == 1 and newest == seq and value is not _FORGET \
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
            del self._flights[user]
        if commit or forget:
            return self._commit(user, commit, forget)
        return 0

    def _unlist(self, origin: Origin, seq: int) -> None:
        seqs = self._by_origin.get(origin)
        if seqs is not None:
            seqs.remove(seq)
            if not seqs:
                del self._by_origin[origin]

    def acknowledge(self, outcomes: Iterable[Any], *, request: Request | None = None) -> int:
        """Settle the writes of the events named by ``outcomes``: the
        :class:`~segment_braze.Outcome` objects of
        :func:`~segment_braze.interpret_response`, or the origins of delivered events.
        Returns how many attribute values were committed.

        A delivered event's values are committed: later writes of the same values are
        left out. Pass every outcome, not only the delivered ones: a retry or a failure
        (or a delivery with Braze's minor errors about the event) may have left a value
        half-written, so it is sent again next time. Pass ``request`` (the request the
        outcomes answer) when one event's entries may travel in several requests (an
        identify with its ``/users/identify`` merge, batches that split an event), so
        that only what that request carried is committed.
        """
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
        with self._lock:
            if not self._pending:
                return 0
            return self._settle_all(fates, request)

    def delivered(self, request: Request) -> int:
        """Every entry of ``request`` was delivered (a 2xx answer without ``errors``):
        what :meth:`acknowledge` does with a delivered outcome for each of its events, at
        the cost of the events with writes waiting, not of every event. Delivery calls
        it for such answers."""
        with self._lock:
            if not self._pending:
                return 0
            # Only entries of parts that change what is known (and repeats merged into
            # them) carry writes: the origins of the others are not even looked at.
            origins = request.origins
            carrying = [origins.get(part.name, ()) for part, _ in self._relevant_parts(request)]
            carrying.append(origins.get("superseded", ()))
            waiting = self._by_origin.keys() & chain.from_iterable(carrying)
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
        by_origin = self._by_origin
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
        self._durable()
        return committed

    def _settle_seq(self, seq: int, origin: Origin, fate: _Fate,
                    selected: Mapping[UserKey, set[Slot]] | None) -> int:
        """Settle the writes of translation ``seq`` (those ``selected``, or all)."""
        pending = self._pending[seq]
        committed = 0
        writes = pending.writes
        if selected is None:
            for user, values in writes.items():
                committed += self._resolve(seq, user, values, fate)
            if fate != "retry":
                del self._pending[seq]
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
            del self._pending[seq]
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

        for part, _ in self._relevant_parts(request):
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

    # -- seeding -------------------------------------------------------------------------

    def seed(self, user: UserKey, values: Mapping[str, Any]) -> None:
        """Record that Braze has these attribute ``values`` for ``user`` (a key from
        :func:`~segment_braze.braze.user_key`), as read back from Braze (for example with
        ``/users/export/ids``), so that a first replay sends only what differs. Values
        that are not plain JSON are left out; the user's other known values are kept,
        and nothing is changed while a write of theirs is in flight."""
        with self._lock:
            if self._flights.get(user):
                return
            record = self.store.get(user) or EMPTY
            known = {name: value for name, value in values.items()
                     if type(name) is str and name not in ALWAYS_SENT and is_plain(value)}
            self._store(user, attrs.evolve(record, values={**record.values, **known}))


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

    __slots__ = ("_counts", "_kind", "_repeats", "_request", "_tracker")

    def __init__(self, tracker: Tracker, request: Request) -> None:
        self._tracker = tracker
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
                for part, _ in self._tracker._relevant_parts(request)]
        if len(counts) == 1:  # the common case: one such part (attributes)
            name, counter = counts[0]
            carried = counter[origin]
            if not carried:
                return _NOTHING
            if len(seqs) == 1:
                sent = self._tracker._pending[seqs[0]].counts
                if len(sent) == 1 and sent.get((self._kind, name)) == carried:
                    return None
            return _READ
        mine = {name: n for name, counter in counts if (n := counter[origin])}
        if not mine:
            return _NOTHING
        if len(seqs) == 1:
            sent = self._tracker._pending[seqs[0]].counts
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


#: What each declared effect does (see :data:`~segment_braze.braze.endpoint.Effect`).
_EFFECTS: Final[Mapping[str, _Handler]] = {
    "values": Tracker._values,
    "none": lambda tracker, part, pairs, call: pairs,
    "forget": Tracker._forget_all,
    "merge": Tracker._merge,
    "join": Tracker._join_each,
    "join_once": Tracker._join_once,
    "name": Tracker._name,
}
