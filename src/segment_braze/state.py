"""Change tracking: send each user's attribute values only when they change.

Braze bills every attribute write as a data point, changed or not. A :class:`StateStore`
remembers, per Braze user, the last attribute values known to be in Braze; a translator
built with one (``Translator(settings, store=...)``) leaves out of its attributes objects
the values equal to them, and says which in ``Translation.unchanged``.

The rule throughout is *when in doubt, send*: forgetting a value only costs a data point
(the value is sent again); remembering a value that is not in Braze loses it for good
(every later write of it would be left out). So:

- values compare as JSON values: object key order does not matter, ``1`` equals ``1.0``,
  ``true`` is not ``1``, and ``null`` is a value (unsetting an attribute already unset is
  left out);
- identifiers, ``_update_existing_only`` and ``_merge_objects`` are never dropped; update
  operations (``inc``, ``add``/``remove``, ``$add``/``$remove``/``$update``), nested objects
  written with ``_merge_objects``, the subscription fields (:data:`ALWAYS_SENT`) and values
  that are not plain JSON are always sent, and they make the stored value unknown; the
  attributes object that creates an alias profile is always sent, even with no value left;
- a value is compared only with a *committed* one, and never while another write of it is
  in flight (that write may land after the comparison);
- with ``commit="acknowledge"`` (the default) a write is committed when
  :meth:`Tracker.acknowledge` hears it was delivered; a write that may or may not have
  landed (a retry, a failure, Braze's minor errors, an outcome that never comes) leaves the
  attribute unknown; with ``commit="on_translate"`` it is committed at once, which suits
  the command line: it only writes files, and the state describes those files;
- users are forgotten when they are deleted (``/users/delete``) or merged
  (``/users/merge``); a ``/users/identify`` merge of an anonymous alias is emitted once per
  (alias, user) pair, and it makes the user's values unknown (the merge may fill them in);
- users identified by email are not tracked: which profile an email write reaches can
  change over time.

The store records are plain dicts from attribute name to JSON value. Names starting with
``$`` (never an attribute name Braze accepts) hold the tracker's own notes: ``$alias:...``
in a user's record (that alias was merged into the user) and ``$merged`` in an alias's
record (the users it was merged into: its later writes may reach their profiles).
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

import attrs

from . import _json
from .braze import (
    CohortName,
    Identifier,
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

if TYPE_CHECKING:
    from .translate import Translation

__all__ = [
    "ALWAYS_SENT",
    "COHORT_KEY",
    "MAX_PENDING",
    "OPERATIONS",
    "SUBSCRIPTION_FIELDS",
    "TRACKED_KINDS",
    "Commit",
    "MemoryStore",
    "SQLiteStore",
    "StateStore",
    "Tracker",
    "same",
    "user_key",
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

#: Identifier kinds whose users are tracked. An email write goes to the most recently
#: updated profile with that email, which can change from one write to the next.
TRACKED_KINDS: Final = frozenset({"external_id", "braze_id", "user_alias"})

#: Translations whose writes wait for an acknowledgement, at most; beyond it the oldest
#: are forgotten (their attributes become unknown and are sent again).
MAX_PENDING: Final = 100_000

#: When writes are committed: when acknowledged as delivered, or as soon as translated.
Commit: TypeAlias = Literal["acknowledge", "on_translate"]

#: A user's record: attribute name -> JSON value, plus the tracker's ``$`` notes.
Record: TypeAlias = Mapping[str, Any]

_MERGED: Final = "$merged"
#: A pending write that makes a value unknown (an update operation, ...): it is never
#: committed, and while it is pending no other write of that attribute is.
_FORGET: Final[Any] = object()
#: The name of a pending write that makes all of a user's values unknown (a deletion, a
#: merge): while it is pending, none of the user's values is committed or compared.
_ALL: Final = "$all"
#: Not found (``None`` is a value).
_MISS: Final[Any] = object()
_ALIAS_NOTE: Final = "$alias:"
#: Cohorts are kept beside users, under their own kind of key, with the name Braze has.
COHORT_KEY: Final = "cohort:"
_COHORT_NAME: Final = "$name"


def user_key(identifier: Identifier) -> str:
    """A stable string for a Braze user: the identifier's kind and value (an alias's
    label and name, as a JSON array so that no two aliases share a key)."""
    value = identifier.value
    if isinstance(value, UserAlias):
        return _alias_key(value)
    if identifier.kind == "external_id":
        return _external_key(value)
    return f"{identifier.kind}:{value}"


def _external_key(external_id: str) -> str:
    return f"external_id:{external_id}"


def _alias_key(alias: UserAlias) -> str:
    return "user_alias:" + _alias_json(alias)


def _alias_json(alias: UserAlias) -> str:
    # Text, not ``_json.std_dumps``: a name holding a lone surrogate (a Python caller may
    # pass one) has a key all the same, where encoding it to UTF-8 would fail.
    return json.dumps([alias.alias_label, alias.alias_name], ensure_ascii=False,
                      separators=(",", ":"))


# -- comparing ---------------------------------------------------------------------------

_INT_RANGE: Final = range(-(2**63), 2**64)  # what every JSON backend here can write


def same(a: Any, b: Any) -> bool:
    """Whether two attribute values are the same JSON value: key order does not matter,
    ``1`` equals ``1.0``, ``True`` is not ``1``, and a list equals a tuple. A value that is
    not plain JSON is never the same as anything (so it is always sent)."""
    kind, other = type(a), type(b)
    if kind is str:
        return other is str and a == b
    if kind is bool or a is None:
        return kind is other and a == b
    if kind is int or kind is float:
        return (other is int or other is float) and a == b
    if kind is list or kind is tuple:
        return ((other is list or other is tuple) and len(a) == len(b)
                and all(map(same, a, b)))
    if kind is dict or isinstance(a, Mapping):
        return (isinstance(b, Mapping) and len(a) == len(b)
                and all(key in b and same(value, b[key]) for key, value in a.items()))
    return False


def _plain(value: Any) -> bool:
    """Whether ``value`` is plain JSON that every backend writes and reads back equal:
    strings, booleans, null, 64-bit integers, finite floats, arrays, string-keyed
    objects."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return value in _INT_RANGE
    if kind is float:
        return bool(value - value == 0.0)
    if kind is list or kind is tuple:
        return all(map(_plain, value))
    if isinstance(value, Mapping):
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False


#: Types that are certainly not mappings: no need to ask ``isinstance`` (slow for ABCs).
_NOT_MAPPINGS: Final = frozenset({str, int, float, bool, type(None), list, tuple})


def _is_operation(value: Mapping[str, Any]) -> bool:
    return bool(value) and value.keys() <= OPERATIONS


# -- stores ------------------------------------------------------------------------------


@runtime_checkable
class StateStore(Protocol):
    """Where the last attribute values known to be in Braze are kept, per user.

    A record maps attribute names to JSON values. ``get`` returns the record of a user
    (``None`` for a user never seen or forgotten); the caller never changes it, and
    ``put`` replaces it whole. ``flush`` makes every write so far durable; ``close``
    flushes and releases the store. Forgetting a user is always safe (their values are
    sent again), so a store may evict users to bound its size.
    """

    def get(self, user: str) -> Record | None: ...

    def put(self, user: str, record: Record) -> None: ...

    def delete(self, user: str) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """A store in memory, for one process: at most ``max_users`` users, the least
    recently used forgotten first. Nothing survives the process."""

    def __init__(self, max_users: int = 100_000) -> None:
        if isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 1:
            raise ValueError(f"max_users must be a whole number >= 1, got {max_users!r}")
        self.max_users = max_users
        self._records: OrderedDict[str, Record] = OrderedDict()

    def __repr__(self) -> str:
        return f"MemoryStore(max_users={self.max_users}, users={len(self._records)})"

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, user: object) -> bool:
        return user in self._records

    def get(self, user: str) -> Record | None:
        record = self._records.get(user)
        if record is not None:
            self._records.move_to_end(user)
        return record

    def put(self, user: str, record: Record) -> None:
        records = self._records
        records[user] = record
        records.move_to_end(user)
        if len(records) > self.max_users:
            records.popitem(last=False)

    def delete(self, user: str) -> None:
        self._records.pop(user, None)

    def flush(self) -> None:
        """Nothing to do: a memory store holds nothing durable."""

    def close(self) -> None:
        """Nothing to release."""


#: Marks, in the read cache of :class:`SQLiteStore`, a user known to have no record.
_ABSENT: Final[Mapping[str, Any]] = {}

#: ``PRAGMA application_id`` of a state file ("SBst"), so another SQLite file is refused.
APPLICATION_ID: Final = 0x53427374
#: ``PRAGMA user_version`` of the current layout.
LAYOUT: Final = 1
#: Writes held in memory before they go to SQLite (inside the open transaction).
_WRITE_BATCH: Final = 1000

_SCHEMA: Final = ("CREATE TABLE IF NOT EXISTS users "
                  "(key TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL) WITHOUT ROWID")


class SQLiteStore:
    """A store in an SQLite file: one table from user key to the compact JSON of their
    record, in WAL mode, so one writer and any number of readers
    (``SQLiteStore(path, readonly=True)``, or any SQLite client) can use it at once.

    Writes are batched: held in memory, written to the file inside a transaction, and
    committed every ``commit_every`` writes (``None``: only on :meth:`flush` and
    :meth:`close`), so a run that stops half-way loses at most the writes since the last
    commit, which only means sending those values again. :meth:`rollback` drops them
    on purpose. Reads go through a cache of the ``cache_size`` most recently used records
    (the writer is the only one changing them, so its cache is never stale).

    Use it as a context manager: it is closed at the end of the block, and rolled back
    first when the block raises. It is not thread-safe: use it from one thread.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False,
                 cache_size: int = 10_000, commit_every: int | None = 1000) -> None:
        for name, number in (("cache_size", cache_size), ("commit_every", commit_every)):
            if number is None and name == "commit_every":
                continue
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {number!r}")
        self.path = os.fspath(path)
        self.readonly = readonly
        self.cache_size = 0 if readonly else cache_size
        self.commit_every = commit_every or None
        self._cache: OrderedDict[str, Record] = OrderedDict()
        self._buffer: dict[str, Record | None] = {}
        self._since_commit = 0
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            if not os.path.exists(self.path):
                raise FileNotFoundError(f"{self.path}: no such state file")
            uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None)
        else:
            db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._check_layout(db)
        except BaseException:
            db.close()
            raise
        return db

    def _check_layout(self, db: sqlite3.Connection) -> None:
        """Create the table in a new file; refuse a file that is not a state file, or
        one written by a newer layout."""
        (app,) = db.execute("PRAGMA application_id").fetchone()
        empty = "SELECT count(*) = 0 FROM sqlite_master"
        if app == 0 and not self.readonly and db.execute(empty).fetchone()[0]:
            # A new file (nothing else is ever changed before it is recognised).
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            if db.execute(empty).fetchone()[0]:  # no other writer created it meanwhile
                db.execute(_SCHEMA)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={LAYOUT}")
            db.execute("COMMIT")
            (app,) = db.execute("PRAGMA application_id").fetchone()
        if app != APPLICATION_ID:
            raise ValueError(f"{self.path}: not a segment-braze state file")
        (layout,) = db.execute("PRAGMA user_version").fetchone()
        if layout > LAYOUT:
            raise ValueError(f"{self.path}: written by a newer segment-braze (layout "
                             f"{layout}); this one reads layout {LAYOUT}")
        if not self.readonly:
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL survives a crash of the process; a power cut
            # may lose the last commits, which only means sending those values again.
            db.execute("PRAGMA synchronous=NORMAL")

    def __repr__(self) -> str:
        mode = ", readonly=True" if self.readonly else ""
        return f"SQLiteStore({self.path!r}{mode})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is not None and not self.readonly:
            self.rollback()
        self.close()

    def __len__(self) -> int:
        """Number of users with a record (pending writes included)."""
        self._write()
        return int(self._db.execute("SELECT count(*) FROM users").fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        """The user keys, in key order (pending writes included)."""
        self._write()
        return (key for (key,) in self._db.execute("SELECT key FROM users ORDER BY key"))

    # -- reading -------------------------------------------------------------------------

    def get(self, user: str) -> Record | None:
        cache = self._cache
        record = cache.get(user, _MISS)
        if record is not _MISS:
            cache.move_to_end(user)
            return None if record is _ABSENT else record
        if user in self._buffer:
            found = self._buffer[user]
        else:
            row = self._db.execute("SELECT data FROM users WHERE key = ?", (user,)).fetchone()
            found = None if row is None else _json.loads(row[0])
        self._remember(user, found)
        return found

    def _remember(self, user: str, record: Record | None) -> None:
        if not self.cache_size:
            return
        cache = self._cache
        cache[user] = _ABSENT if record is None else record
        cache.move_to_end(user)
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    # -- writing -------------------------------------------------------------------------

    def put(self, user: str, record: Record) -> None:
        self._change(user, record)

    def delete(self, user: str) -> None:
        self._change(user, None)

    def _change(self, user: str, record: Record | None) -> None:
        if self.readonly:
            raise PermissionError(f"{self.path}: opened read-only")
        self._remember(user, record)
        buffer = self._buffer
        buffer[user] = record
        self._since_commit += 1
        if self.commit_every is not None and self._since_commit >= self.commit_every:
            self.flush()
        elif len(buffer) >= _WRITE_BATCH:
            self._write()

    def _write(self) -> None:
        """Write the held changes to the file, inside the open transaction."""
        buffer = self._buffer
        if not buffer:
            return
        db = self._db
        if not db.in_transaction:
            db.execute("BEGIN")
        dumps = _json.dumps
        db.executemany("INSERT OR REPLACE INTO users (key, data) VALUES (?, ?)",
                       [(k, dumps(r).decode()) for k, r in buffer.items() if r is not None])
        db.executemany("DELETE FROM users WHERE key = ?",
                       [(k,) for k, r in buffer.items() if r is None])
        buffer.clear()

    def flush(self) -> None:
        """Commit every write so far."""
        if self.readonly:
            return
        self._write()
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._since_commit = 0

    def rollback(self) -> None:
        """Drop every write since the last commit (and the read cache with them)."""
        self._buffer.clear()
        self._cache.clear()
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._since_commit = 0

    def close(self) -> None:
        """Commit and close the file. Closing twice is harmless."""
        db = self._db
        try:
            db.total_changes  # noqa: B018 - raises ProgrammingError once closed
        except sqlite3.ProgrammingError:
            return
        self.flush()
        db.close()


# -- the tracker -------------------------------------------------------------------------

#: What the caller learns of a write: delivered; retry (it may have landed, and may be
#: sent again); given up (failed, or delivered with Braze's minor errors: it may have
#: landed, or not, and will not be sent again).
_Fate: TypeAlias = Literal["delivered", "retry", "lost", "evicted"]
_FATES: Final[Mapping[str, _Fate]] = {"delivered": "delivered", "retry": "retry"}
_SEVERITY: Final[Mapping[_Fate, int]] = {"delivered": 0, "retry": 1, "lost": 2,
                                          "evicted": 3}


class _Flight:
    """The writes of one user's attribute not settled yet.

    ``latest`` is the sequence number of the latest write translated (pending or not),
    ``pending`` those not settled, ``retried`` those answered "retry" (they may land at
    any time until settled), and ``taint`` the latest write that one of those may have
    overtaken: it cannot be committed. By far the most common case, one write pending
    and it the latest, is kept as its bare sequence number instead.
    """

    __slots__ = ("latest", "pending", "retried", "taint")

    def __init__(self, latest: int, pending: set[int]) -> None:
        self.latest = latest
        self.pending = pending
        self.retried: set[int] = set()
        self.taint = 0


#: A :class:`_Flight`, or the sequence number of the one write pending, the latest.
_InFlight: TypeAlias = "int | _Flight"


class _Pending:
    """The writes of one translation waiting for their acknowledgement, by user."""

    __slots__ = ("origin", "writes")

    def __init__(self, origin: Origin, writes: dict[str, dict[str, Any]]) -> None:
        self.origin = origin
        self.writes = writes


class _Call:
    """What one translation has seen and done so far: user records as they now stand
    (so a later object compares with what an earlier one changed), the attributes it
    sends, and the names left out."""

    __slots__ = ("records", "sent", "seq", "unchanged", "writes")

    def __init__(self, seq: int) -> None:
        #: The translation's sequence number (0: nothing is remembered).
        self.seq = seq
        self.records: dict[str, Record | None] = {}
        self.sent: dict[str, set[str]] = {}
        self.writes: dict[str, dict[str, Any]] = {}
        self.unchanged: list[str] = []


class Tracker:
    """Compares translations with a :class:`StateStore` and remembers what is sent.

    Built by :class:`~segment_braze.Translator` when given a ``store``; not used on its
    own. :meth:`apply` leaves out of a translation the values Braze already has;
    :meth:`acknowledge` commits the delivered ones.
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
        self._flights: dict[str, dict[str, _InFlight]] = {}
        #: The store changed in a way that must be flushed before the requests are sent.
        self._dirty = False

    @property
    def pending(self) -> int:
        """Translations whose writes wait for an acknowledgement."""
        return len(self._pending)

    # -- translating -------------------------------------------------------------------

    def apply(self, translation: Translation, *, remember: bool = True) -> Translation:
        """``translation`` without the values Braze already has. With ``remember``
        (``explain`` passes ``False``), what is sent is recorded for :meth:`acknowledge`
        (or committed at once) and the store forgets what the requests make unknown."""
        requests = translation.requests
        if len(requests) == 1:  # the common case: one /users/track, maybe no attributes
            only = requests[0]
            if type(only) is UsersTrack and not only.attributes:
                return translation
        elif not requests:
            return translation
        if remember and not self._at_once:
            self._seq += 1
            call = _Call(self._seq)
        else:
            call = _Call(0)
        changed = False
        out: list[Request] = []
        for request in requests:
            kept: Request | None = request
            if type(request) is UsersTrack:
                kept = self._track(request, translation.origin, call, remember)
            elif type(request) is UsersIdentify:
                kept = self._identify(request, translation.origin, call, remember)
            elif type(request) is UsersDelete:
                for external_id in request.external_ids:
                    self._forget_user(_external_key(external_id), call, remember)
            elif type(request) is UsersMerge:
                for update in request.merge_updates:
                    self._forget_user(user_key(update.merge), call, remember)
                    self._forget_user(user_key(update.keep), call, remember,
                                      keep_notes=True)
            elif type(request) is UsersAliasNew:
                self._alias_new(request, call, remember)
            elif type(request) is CohortName:
                kept = self._cohort_name(request, call)
            if kept is not request:
                changed = True
            if kept is not None:
                out.append(kept)
        if remember:
            if call.writes:
                self._record(call.seq, translation.origin,
                             {u: w for u, w in call.writes.items() if w}, call.records)
            self._durable()
        if not changed:
            return translation
        unchanged = tuple(call.unchanged)
        if not out:
            reason = ("no attribute changed" if unchanged
                      else "the alias was already merged into this user")
            return attrs.evolve(translation, requests=(), skipped=reason,
                                unchanged=unchanged)
        return attrs.evolve(translation, requests=tuple(out), unchanged=unchanged)

    def _record_of(self, user: str, call: _Call) -> Record | None:
        records = call.records
        if user in records:
            return records[user]
        record = records[user] = self.store.get(user)
        return record

    def _track(self, request: UsersTrack, origin: Origin, call: _Call,
               remember: bool) -> UsersTrack | None:
        attributes = request.attributes
        if not attributes:
            return request
        kept: list[UserAttributes] = []
        changed = False
        for obj in attributes:
            new = self._attributes(obj, call, remember)
            if new is not obj:
                changed = True
            if new is not None:
                kept.append(new)
        if not changed:
            return request
        if not kept and not request.events and not request.purchases:
            return None
        origins = dict(request.origins)
        if kept:
            origins["attributes"] = (origin,) * len(kept)
        else:
            origins.pop("attributes", None)
        return UsersTrack(attributes=tuple(kept), events=request.events,
                          purchases=request.purchases, origins=origins)

    def _attributes(self, obj: UserAttributes, call: _Call,
                    remember: bool) -> UserAttributes | None:
        """The object without its unchanged values; ``None`` when nothing is left."""
        values = obj.values
        identifier = obj.identifier
        if not values or identifier.kind not in TRACKED_KINDS:
            return obj
        user = user_key(identifier)
        record = self._record_of(user, call)
        merged_into = record.get(_MERGED) if record is not None else None
        trusted = record if merged_into is None else None
        flights = self._flights.get(user)
        sent = call.sent.get(user)
        if sent is None:
            sent = call.sent[user] = set()
        # Written only when Braze applies them for sure: not an update-only object (a
        # user who does not exist yet ignores it, and Braze still answers success), not
        # through an alias merged into another user.
        settable = obj.update_existing_only is not True and merged_into is None
        merge_objects = obj.merge_objects is True
        dropped: list[str] = []
        if trusted is not None and not merge_objects and not (flights and _ALL in flights):
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
                dropped = [name for name in equal if name in allowed and name[:1] != "$"
                           and (type(values[name]) is str
                                or same(trusted[name], values[name]))]
        writes: dict[str, Any] = {}
        unknown: list[str] = []
        if len(dropped) < len(values):
            gone = set(dropped)
            for name, value in values.items():
                if name in gone or name in ALWAYS_SENT or name[:1] == "$":
                    continue
                kind = type(value)
                if (kind is dict or (kind not in _NOT_MAPPINGS and isinstance(value, Mapping))
                        ) and (merge_objects or _is_operation(value)):
                    unknown.append(name)
                elif settable and (kind is str or _plain(value)):
                    writes[name] = value
                else:
                    unknown.append(name)
                sent.add(name)
        if unknown:
            self._forget(user, unknown, call, remember)
        if writes:
            call.writes.setdefault(user, {}).update(writes)
        if merged_into:
            for external_id in merged_into:
                self._forget(_external_key(external_id), [*writes, *unknown], call, remember)
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

    def _identify(self, request: UsersIdentify, origin: Origin, call: _Call,
                  remember: bool) -> UsersIdentify | None:
        """Leave out the merges already delivered; for the others, note the merge and
        make both users' values unknown."""
        entries = request.aliases_to_identify
        kept = []
        for entry in entries:
            user = _external_key(entry.external_id)
            note = _ALIAS_NOTE + _alias_json(entry.user_alias)
            record = self._record_of(user, call)
            sent = call.sent.setdefault(user, set())
            flights = self._flights.get(user)
            if (record is not None and record.get(note) is True and note not in sent
                    and (flights is None or (note not in flights and _ALL not in flights))):
                continue
            kept.append(entry)
            self._join(entry.user_alias, entry.external_id, call, remember)
            sent.add(note)
            call.writes.setdefault(user, {})[note] = True
        if len(kept) == len(entries):
            return request
        if not kept:
            return None
        return UsersIdentify(aliases_to_identify=tuple(kept),
                             merge_behavior=request.merge_behavior,
                             origins={"aliases_to_identify": (origin,) * len(kept)})

    def _cohort_name(self, request: CohortName, call: _Call) -> CohortName | None:
        """Name a cohort once: the name request is left out when the store knows Braze
        has this name for this cohort and no other naming of it is in flight."""
        key = COHORT_KEY + request.cohort_id
        record = self._record_of(key, call)
        flights = self._flights.get(key)
        if (record is not None and record.get(_COHORT_NAME) == request.name
                and not (flights and _COHORT_NAME in flights)
                and _COHORT_NAME not in call.sent.get(key, ())):
            return None
        call.sent.setdefault(key, set()).add(_COHORT_NAME)
        call.writes.setdefault(key, {})[_COHORT_NAME] = request.name
        return request

    def _join(self, user_alias: UserAlias, external_id: str, call: _Call,
              remember: bool) -> None:
        """An alias now reaches the user ``external_id`` (an identify merge, a new alias
        of that user): both users' values become unknown, and the alias's record notes
        the user, so that later writes through the alias make the user's values unknown
        too."""
        alias = _alias_key(user_alias)
        alias_record = self._record_of(alias, call)
        merged = list(alias_record.get(_MERGED, ())) if alias_record is not None else []
        if external_id not in merged:
            merged.append(external_id)
        self._forget_user(alias, call, remember)
        self._set(alias, {_MERGED: merged}, call, remember)
        self._forget_user(_external_key(external_id), call, remember, keep_notes=True)

    def _alias_new(self, request: UsersAliasNew, call: _Call, remember: bool) -> None:
        """New aliases: an alias-only profile starts unknown; an alias added to a user
        joins them."""
        for entry in request.user_aliases:
            if entry.external_id is None:
                self._forget_user(_alias_key(entry.user_alias), call, remember)
            else:
                self._join(entry.user_alias, entry.external_id, call, remember)

    # -- changing the store ------------------------------------------------------------

    def _set(self, user: str, record: Record, call: _Call, remember: bool) -> None:
        """Replace a user's record now (a note that must hold before the request is
        sent)."""
        call.records[user] = record
        if remember:
            self.store.put(user, record)
            self._dirty = True

    def _forget(self, user: str, names: Iterable[str], call: _Call, remember: bool) -> None:
        """Make these attributes of a user unknown, now: a write the store cannot
        follow is about to be sent."""
        names = list(names)
        writes = call.writes.setdefault(user, {})
        for name in names:
            writes[name] = _FORGET  # in flight until acknowledged: it may land late
        record = self._record_of(user, call)
        if record is None or not any(name in record for name in names):
            return
        left = {k: v for k, v in record.items() if k not in names}
        call.records[user] = left or None
        if remember:
            self._store(user, left)
            self._dirty = True

    def _forget_user(self, user: str, call: _Call, remember: bool, *,
                     keep_notes: bool = False) -> None:
        """Forget a deleted or merged user (``keep_notes``: their values only)."""
        flights = self._flights.get(user)
        if call.seq and flights is not None:
            # Earlier writes still pending are overtaken: none of them is the latest now.
            for name, flight in list(flights.items()):
                if name != _ALL and (not keep_notes or name[:1] != "$"):
                    _as_flight(flights, name, flight).latest = call.seq
        writes = call.writes.get(user) or {}
        notes = {n: v for n, v in writes.items() if keep_notes and n[:1] == "$" and n != _ALL}
        call.writes[user] = {_ALL: _FORGET, **notes}  # settled first when acknowledged
        record = self._record_of(user, call)
        if record is None:
            return
        left = {k: v for k, v in record.items() if k[:1] == "$"} if keep_notes else {}
        if len(left) == len(record):
            return
        call.records[user] = left or None
        if remember:
            self._store(user, left)
            self._dirty = True

    def _store(self, user: str, record: Record) -> None:
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

    def _record(self, seq: int, origin: Origin, writes: dict[str, dict[str, Any]],
                call_records: Mapping[str, Record | None]) -> None:
        if self._at_once:  # forgetting was done while translating
            for user, values in writes.items():
                known = {n: v for n, v in values.items() if v is not _FORGET}
                if known:  # the record as it stands, already read while translating
                    self._commit(user, known, (), call_records.get(user, _MISS))
            return
        flights = self._flights
        for user, values in writes.items():
            mine = flights.get(user)
            if mine is None:
                mine = flights[user] = {}
            for name in values:
                flight = mine.get(name)
                if flight is None:
                    mine[name] = seq
                elif isinstance(flight, int):
                    mine[name] = _Flight(seq, {flight, seq})
                else:
                    flight.latest = seq
                    flight.pending.add(seq)
        self._pending[seq] = _Pending(origin, writes)
        self._by_origin.setdefault(origin, []).append(seq)
        while len(self._pending) > MAX_PENDING:
            old, pending = self._pending.popitem(last=False)
            self._unlist(pending.origin, old)
            for user, values in pending.writes.items():
                self._resolve(old, user, values, "evicted")

    def _commit(self, user: str, values: Mapping[str, Any], forget: Iterable[str],
                record: Record | None = _MISS) -> None:
        """Write ``values`` into a user's record and drop the names in ``forget``
        (``record``: the user's record in the store, when the caller has just read it)."""
        forget = [name for name in forget if name not in values]
        if record is _MISS:
            record = self.store.get(user)
        if record is None:
            if values:
                self.store.put(user, dict(values))
            return
        if not any(name in record for name in forget):
            if not values:
                return
        else:
            self._dirty = True
        new = dict(record)
        new.update(values)
        for name in forget:
            new.pop(name, None)
        self._store(user, new)

    def _resolve(self, seq: int, user: str, values: dict[str, Any], fate: _Fate) -> int:
        """Settle the writes ``values`` (of the translation ``seq``) to one user; returns
        how many were committed. A value is committed only when delivered, when it is
        the user's latest write of that attribute, no other write of it (nor of the whole
        user) is pending, and no write answered "retry" may have overtaken it; otherwise
        the attribute is left unknown."""
        flights = self._flights.get(user)
        if fate == "retry":  # it may land at any time from now on: nothing is settled
            if flights is not None:
                for name in values:
                    flight = flights.get(name)
                    if flight is not None:
                        flight = _as_flight(flights, name, flight)
                        if seq in flight.pending:
                            flight.retried.add(seq)
            self._commit(user, {}, [name for name in values if name != _ALL])
            return 0
        uncertain = fate == "evicted"  # it may still be sent, at any time
        if flights is not None and _ALL in values:
            whole = flights.get(_ALL)
            late = uncertain or (isinstance(whole, _Flight) and seq in whole.retried)
            _settle(flights, _ALL, seq, uncertain)
            if late:  # it may have landed after any later write of the user
                for name, flight in list(flights.items()):
                    if (flight if isinstance(flight, int) else flight.latest) > seq:
                        overtaken = _as_flight(flights, name, flight)
                        overtaken.taint = max(overtaken.taint, overtaken.latest)
        blocked = flights is not None and _ALL in flights
        commit: dict[str, Any] = {}
        forget: list[str] = []
        for name, value in values.items():
            if name == _ALL:
                continue
            flight = flights.get(name) if flights is not None else None
            if (fate == "delivered" and value is not _FORGET and not blocked
                    and flight is not None
                    and (flight == seq if isinstance(flight, int)
                         else flight.latest == seq and flight.taint < seq
                         and len(flight.pending) == 1 and seq in flight.pending)):
                commit[name] = value
            else:
                forget.append(name)
            if flight is not None:
                _settle(flights, name, seq, uncertain)  # type: ignore[arg-type]
        if flights is not None and not flights:
            del self._flights[user]
        if commit or forget:
            self._commit(user, commit, forget)
        return sum(1 for name in commit if name[:1] != "$")

    def _unlist(self, origin: Origin, seq: int) -> None:
        seqs = self._by_origin.get(origin)
        if seqs is not None:
            seqs.remove(seq)
            if not seqs:
                del self._by_origin[origin]

    def acknowledge(self, outcomes: Iterable[Any], request: Request | None = None) -> int:
        """Settle the writes of the events named by ``outcomes``; see
        :meth:`segment_braze.Translator.acknowledge`. Returns how many attribute values
        were committed."""
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
        if not self._pending:
            return 0
        parts = None if request is None else self._parts(request)
        committed = 0
        for origin, fate in fates.items():
            seqs = self._by_origin.get(origin)
            if not seqs:
                continue
            selected = None if parts is None else parts.get(origin)
            if parts is not None and selected is None:
                continue
            for seq in list(seqs):
                pending = self._pending[seq]
                for user, values in list(pending.writes.items()):
                    names = None if selected is None else selected.get(user)
                    if selected is not None and not names:
                        continue
                    chosen = values if names is None else {
                        n: v for n, v in values.items() if n in names}
                    if not chosen:
                        continue
                    committed += self._resolve(seq, user, chosen, fate)
                    if fate == "retry":
                        continue
                    if chosen is values:
                        values.clear()
                    else:
                        for name in chosen:
                            del values[name]
                    if not values:
                        del pending.writes[user]
                if not pending.writes:
                    del self._pending[seq]
                    self._unlist(origin, seq)
        self._durable()
        return committed

    def _parts(self, request: Request) -> dict[Origin, dict[str, set[str]]]:
        """Which pending writes a request carries, per origin and user: the attribute
        names of its attributes objects (also for the users a merged alias may write),
        the merge notes of its identify entries, and the users it deletes or merges."""
        parts: dict[Origin, dict[str, set[str]]] = {}

        def add(origin: Origin, user: str, names: Iterable[str]) -> None:
            parts.setdefault(origin, {}).setdefault(user, set()).update(names)

        origins = request.origins
        if type(request) is UsersTrack:
            for obj, origin in zip(request.attributes, origins.get("attributes", ()),
                                   strict=False):
                if obj.identifier.kind in TRACKED_KINDS:
                    user = user_key(obj.identifier)
                    add(origin, user, obj.values)
                    record = self.store.get(user) if obj.identifier.kind == "user_alias" \
                        else None
                    for external_id in (record or {}).get(_MERGED, ()):
                        add(origin, _external_key(external_id), obj.values)
        elif type(request) is CohortName:
            for origin in origins.get("cohort_id", ()):
                add(origin, COHORT_KEY + request.cohort_id, (_COHORT_NAME,))
        elif type(request) in _TOUCHED:
            array, touched = _TOUCHED[type(request)]
            identify = type(request) is UsersIdentify
            for entry, origin in zip(getattr(request, array), origins.get(array, ()),
                                     strict=False):
                for user in touched(entry):
                    add(origin, user, (_ALL,))
                if identify:  # and the note that the alias was merged into the user
                    add(origin, _external_key(entry.external_id),
                        (_ALIAS_NOTE + _alias_json(entry.user_alias),))
        return parts


def _alias_new_users(new: NewAlias) -> tuple[str, ...]:
    alias = _alias_key(new.user_alias)
    return (alias,) if new.external_id is None else (alias, _external_key(new.external_id))


#: The users whose every value each entry of these requests makes unknown (deleted,
#: merged, or joined by an alias), per request class: the entries' array, and the users'
#: keys for one entry.
_TOUCHED: Final[Mapping[type, tuple[str, Callable[[Any], tuple[str, ...]]]]] = {
    UsersDelete: ("external_ids", lambda external_id: (_external_key(external_id),)),
    UsersMerge: ("merge_updates",
                 lambda update: (user_key(update.merge), user_key(update.keep))),
    UsersIdentify: ("aliases_to_identify",
                    lambda entry: (_external_key(entry.external_id),
                                   _alias_key(entry.user_alias))),
    UsersAliasNew: ("user_aliases", _alias_new_users),
}


def _as_flight(flights: dict[str, _InFlight], name: str, flight: _InFlight) -> _Flight:
    """``flights[name]`` as a :class:`_Flight` (a bare sequence number is expanded)."""
    if isinstance(flight, int):
        flight = flights[name] = _Flight(flight, {flight})
    return flight


def _settle(flights: dict[str, _InFlight], name: str, seq: int, uncertain: bool) -> None:
    """The write ``seq`` of ``name`` is no longer pending. When it may have landed after
    later writes (it was answered "retry", or ``uncertain``), those are tainted."""
    flight = flights.get(name)
    if isinstance(flight, int):
        if flight == seq:
            del flights[name]
        return
    if flight is None or seq not in flight.pending:
        return
    flight.pending.discard(seq)
    late = (uncertain or seq in flight.retried) and flight.latest > seq
    flight.retried.discard(seq)
    if late:
        flight.taint = max(flight.taint, flight.latest)
    if not flight.pending:
        del flights[name]


# -- a scratch overlay -------------------------------------------------------------------

#: Marks, in a :class:`ScratchStore`, a user deleted in this scratch (hiding the base).
_DELETED: Final[Mapping[str, Any]] = {}


class ScratchStore:
    """A store for a dry run: reads fall through to ``base`` (opened read-only, or
    ``None`` for an empty state) until this store writes the user; writes stay in
    memory and are never evicted, and the base is never written.

    What a run *would* leave out, without changing what the next real run sees: the
    command line's ``validate --state FILE`` translates over
    ``ScratchStore(SQLiteStore(FILE, readonly=True))``. Nothing is ever evicted because
    forgetting a scratch write would let the base's older record show through, which
    is not "unknown" but wrong. Memory grows with the users written: use it for one
    run. ``close`` closes the base too (the scratch store owns it). Each of its own
    operations is one dictionary operation, so it is as safe to share between threads
    as its base is.
    """

    def __init__(self, base: StateStore | None = None) -> None:
        self.base = base
        self._changes: dict[str, Record] = {}

    def __repr__(self) -> str:
        return f"ScratchStore({self.base!r}, changed={len(self._changes)})"

    def __len__(self) -> int:
        """Users written or deleted in this scratch."""
        return len(self._changes)

    def get(self, user: str) -> Record | None:
        record = self._changes.get(user)
        if record is not None:
            return None if record is _DELETED else record
        return None if self.base is None else self.base.get(user)

    def put(self, user: str, record: Record) -> None:
        self._changes[user] = record

    def delete(self, user: str) -> None:
        self._changes[user] = _DELETED

    def flush(self) -> None:
        """Nothing is made durable: the scratch is the point."""

    def close(self) -> None:
        """Close the base store; the scratch writes are kept until the object goes."""
        if self.base is not None:
            self.base.close()
