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
  creates an alias profile is always sent, even with no value left; any other object
  with no value (an identify without traits) is left out when the store has a record of
  the user (Braze has them: the object would change nothing), and sent when not (it may
  create the profile);
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
from collections.abc import Callable, Container, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs

from ..braze import Endpoint, Origin, Part, Request, UserAttributes, UserKey
from .ledger import ALL, FORGET, MAX_PENDING, MISS, TRACKED_KINDS, Ledger, Slot
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

#: When writes are committed: when acknowledged as delivered, or as soon as translated.
Commit: TypeAlias = Literal["acknowledge", "on_translate"]

#: Types that are certainly not mappings: no need to ask ``isinstance`` (slow for ABCs).
_NOT_MAPPINGS: Final = frozenset({str, int, float, bool, type(None), list, tuple})

def _is_operation(value: Mapping[str, Any]) -> bool:
    return bool(value) and value.keys() <= OPERATIONS


class _Call:
    """What one translation has seen and done so far: user records as they now stand
    (so a later entry compares with what an earlier one changed), the slots it sends, the
    writes it makes, and the attribute names left out."""

    __slots__ = ("bare", "records", "remember", "sent", "seq", "unchanged", "writes")

    def __init__(self, seq: int, remember: bool) -> None:
        #: The translation's sequence number (0: nothing is remembered).
        self.seq = seq
        self.remember = remember
        self.records: dict[UserKey, UserRecord | None] = {}
        self.sent: dict[UserKey, set[Slot]] = {}
        self.writes: dict[UserKey, dict[Slot, Any]] = {}
        self.unchanged: list[str] = []
        #: Whether an attributes object with no value was left out.
        self.bare = False


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
        #: The writes in flight, and how each settles.
        self._ledger = Ledger(store, at_once=self._at_once, relevant=self._relevant_only)
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
        return len(self._ledger.pending)

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

    def _relevant_only(self, request: Request) -> tuple[Part, ...]:
        """The parts of a request's class whose effect is not ``"none"`` (what the
        ledger needs to know of them)."""
        return tuple(part for part, _ in self._relevant_parts(request))

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
                    self._ledger.record(call.seq, translation.origin,
                                 {u: w for u, w in call.writes.items() if w}, call.records,
                                 out)
                self._ledger.durable()
        if not changed:
            return translation
        unchanged = tuple(call.unchanged)
        skipped = None
        if not out:
            skipped = ("no attribute changed" if unchanged or call.bare
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
            flights = self._ledger.flights.get(user)
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
            flights: Container[Slot] = self._ledger.flights.get(key) or ()
            sent = call.sent.setdefault(key, set())
            if (record is not None
                    and all(record.values.get(slot[1], MISS) == value
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
        if identifier.kind not in TRACKED_KINDS:
            return obj
        user = identifier.key
        if not values:
            return self._bare(obj, user, call)
        record = self._record_of(user, call)
        merged_into = record.merged_into if record is not None else ()
        trusted = record.values if record is not None and not merged_into else None
        flights = self._ledger.flights.get(user)
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
            equal = [name for name, value in values.items() if known(name, MISS) == value]
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

    def _bare(self, obj: UserAttributes, user: UserKey, call: _Call) -> UserAttributes | None:
        """An object with no value to write (an identify without traits, or whose traits
        were all dropped): ``None`` when it changes nothing, as the user is known to
        Braze (the store has a record of them, and no deletion or merge of them is in
        flight). It is sent when it may create the profile: a user the store does not
        know, and the object that creates an alias profile, always."""
        if obj.update_existing_only is False and obj.identifier.kind == "user_alias":
            return obj
        record = self._record_of(user, call)
        flights = self._ledger.flights.get(user)
        if record is None or (flights is not None and ALL in flights):
            return obj
        call.bare = True
        return None

    # -- changing what is known --------------------------------------------------------

    def _set(self, user: UserKey, record: UserRecord, call: _Call) -> None:
        """Replace a user's record now (a note that must hold before the request is
        sent)."""
        call.records[user] = record
        if call.remember:
            self._ledger.store_record(user, record)
            self._ledger.dirty = True

    def _forget(self, user: UserKey, slots: Iterable[Slot], call: _Call) -> None:
        """Make these slots of a user unknown, now: a write the store cannot follow is
        about to be sent."""
        slots = list(slots)
        writes = call.writes.setdefault(user, {})
        for slot in slots:
            writes[slot] = FORGET  # in flight until acknowledged: it may land late
        record = self._record_of(user, call)
        if record is None or not any(slot in record.values for slot in slots):
            return
        left = UserRecord(values={k: v for k, v in record.values.items() if k not in slots},
                          aliases=record.aliases, merged_into=record.merged_into)
        call.records[user] = left or None
        if call.remember:
            self._ledger.store_record(user, left)
            self._ledger.dirty = True

    def _forget_user(self, user: UserKey, call: _Call, *, keep_notes: bool = False) -> None:
        """Forget a deleted or merged user (``keep_notes``: their values only)."""
        flights = self._ledger.flights.get(user)
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
        call.writes[user] = {ALL: FORGET, **notes}  # settled first when acknowledged
        record = self._record_of(user, call)
        if record is None:
            return
        left = (UserRecord(aliases=record.aliases, merged_into=record.merged_into)
                if keep_notes else EMPTY)
        if left == record:
            return
        call.records[user] = left or None
        if call.remember:
            self._ledger.store_record(user, left)
            self._ledger.dirty = True

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

    # -- acknowledging -------------------------------------------------------------------

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
        with self._lock:
            return self._ledger.acknowledge(outcomes, request)

    def delivered(self, request: Request) -> int:
        """Every entry of ``request`` was delivered (a 2xx answer without ``errors``):
        what :meth:`acknowledge` does with a delivered outcome for each of its events, at
        the cost of the events with writes waiting, not of every event. Delivery calls
        it for such answers."""
        with self._lock:
            return self._ledger.delivered(request)

    # -- seeding -------------------------------------------------------------------------

    def seed(self, user: UserKey, values: Mapping[str, Any]) -> None:
        """Record that Braze has these attribute ``values`` for ``user`` (a key from
        :func:`~segment_braze.braze.user_key`), as read back from Braze (for example with
        ``/users/export/ids``), so that a first replay sends only what differs. Values
        that are not plain JSON are left out; the user's other known values are kept,
        and nothing is changed while a write of theirs is in flight."""
        with self._lock:
            if self._ledger.flights.get(user):
                return
            record = self.store.get(user) or EMPTY
            known = {name: value for name, value in values.items()
                     if type(name) is str and name not in ALWAYS_SENT and is_plain(value)}
            self._ledger.store_record(user, attrs.evolve(record, values={**record.values, **known}))


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
