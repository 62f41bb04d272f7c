"""Where change tracking keeps what Braze is known to have: :class:`StateStore` and the two
stores that come with the library.

Forgetting a user is always safe (their values are sent again), so a store may evict
users to bound its size. Both stores are safe to share between threads: the delivery
code acknowledges from several threads at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator
from types import TracebackType
from typing import Final, Protocol, runtime_checkable

from .. import _json
from .records import UserRecord, upgrade

__all__ = ["APPLICATION_ID", "LAYOUT", "MemoryStore", "SQLiteStore", "ScratchStore", "StateStore"]


@runtime_checkable
class StateStore(Protocol):
    """Where the last values known to be in Braze are kept, one :class:`UserRecord` per
    user key.

    ``get`` returns the record of a user (``None`` for a user never seen or forgotten);
    the caller never changes it, and ``put`` replaces it whole. ``flush`` makes every
    write so far durable; ``close`` flushes and releases the store. Forgetting a user is
    always safe (their values are sent again), so a store may evict users to bound its
    size. A store used by the delivery code must be safe to call from several threads.
    """

    def get(self, user: str) -> UserRecord | None: ...

    def put(self, user: str, record: UserRecord) -> None: ...

    def delete(self, user: str) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """A store in memory, for one process: at most ``max_users`` users, the least
    recently used forgotten first. Nothing survives the process. Thread-safe."""

    def __init__(self, max_users: int = 100_000) -> None:
        if isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 1:
            raise ValueError(f"max_users must be a whole number >= 1, got {max_users!r}")
        self.max_users = max_users
        self._records: OrderedDict[str, UserRecord] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(max_users={self.max_users}, users={len(self._records)})"

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, user: object) -> bool:
        return user in self._records

    def get(self, user: str) -> UserRecord | None:
        with self._lock:
            record = self._records.get(user)
            if record is not None:
                self._records.move_to_end(user)
            return record

    def put(self, user: str, record: UserRecord) -> None:
        with self._lock:
            records = self._records
            records[user] = record
            records.move_to_end(user)
            if len(records) > self.max_users:
                records.popitem(last=False)

    def delete(self, user: str) -> None:
        with self._lock:
            self._records.pop(user, None)

    def flush(self) -> None:
        """Nothing to do: a memory store holds nothing durable."""

    def close(self) -> None:
        """Nothing to release."""


#: Marks, in the read cache of :class:`SQLiteStore`, a user known to have no record.
_ABSENT: Final = UserRecord()

#: ``PRAGMA application_id`` of a state file ("SBst"), so another SQLite file is refused.
APPLICATION_ID: Final = 0x53427374
#: ``PRAGMA user_version`` of the current layout: 2, records as ``UserRecord.to_json()``.
#: Layout 1 (notes as ``$`` keys among the values) is upgraded in place when opened for
#: writing, and read as it is when opened read-only.
LAYOUT: Final = 2
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

    One connection, shared by every thread that uses the store, under a lock. Use it as a
    context manager: it is closed at the end of the block, and rolled back first when the
    block raises.
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
        self._cache: OrderedDict[str, UserRecord] = OrderedDict()
        self._buffer: dict[str, UserRecord | None] = {}
        self._since_commit = 0
        self._lock = threading.RLock()
        self._layout = LAYOUT
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            if not os.path.exists(self.path):
                raise FileNotFoundError(f"{self.path}: no such state file")
            uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None,
                                 check_same_thread=False)
        else:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._check_layout(db)
        except BaseException:
            db.close()
            raise
        return db

    def _check_layout(self, db: sqlite3.Connection) -> None:
        """Create the table in a new file; upgrade a file of the first layout; refuse a
        file that is not a state file, or one written by a newer layout."""
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
        self._layout = layout
        if not self.readonly:
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL survives a crash of the process; a power cut
            # may lose the last commits, which only means sending those values again.
            db.execute("PRAGMA synchronous=NORMAL")
            if layout < LAYOUT:
                self._upgrade(db)

    def _upgrade(self, db: sqlite3.Connection) -> None:
        """Rewrite every record of the first layout in the current one, in one
        transaction."""
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute("SELECT key, data FROM users").fetchall()
        db.executemany("UPDATE users SET data = ? WHERE key = ?",
                       [(_json.dumps(upgrade(_json.loads(data), key).to_json()).decode(),
                         key) for key, data in rows])
        db.execute(f"PRAGMA user_version={LAYOUT}")
        db.execute("COMMIT")
        self._layout = LAYOUT

    def _decode(self, user: str, data: str) -> UserRecord:
        parsed = _json.loads(data)
        if self._layout < LAYOUT:
            return upgrade(parsed, user)
        return UserRecord.from_json(parsed)

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
        with self._lock:
            self._write()
            return int(self._db.execute("SELECT count(*) FROM users").fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        """The user keys, in key order (pending writes included)."""
        with self._lock:
            self._write()
            keys = [key for (key,) in self._db.execute("SELECT key FROM users ORDER BY key")]
        return iter(keys)

    # -- reading -------------------------------------------------------------------------

    def get(self, user: str) -> UserRecord | None:
        with self._lock:
            cache = self._cache
            record = cache.get(user)
            if record is not None:
                cache.move_to_end(user)
                return None if record is _ABSENT else record
            if user in self._buffer:
                found = self._buffer[user]
            else:
                row = self._db.execute("SELECT data FROM users WHERE key = ?",
                                       (user,)).fetchone()
                found = None if row is None else self._decode(user, row[0])
            self._remember(user, found)
            return found

    def _remember(self, user: str, record: UserRecord | None) -> None:
        if not self.cache_size:
            return
        cache = self._cache
        cache[user] = _ABSENT if record is None else record
        cache.move_to_end(user)
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    # -- writing -------------------------------------------------------------------------

    def put(self, user: str, record: UserRecord) -> None:
        self._change(user, record)

    def delete(self, user: str) -> None:
        self._change(user, None)

    def _change(self, user: str, record: UserRecord | None) -> None:
        if self.readonly:
            raise PermissionError(f"{self.path}: opened read-only")
        with self._lock:
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
                       [(k, dumps(r.to_json()).decode()) for k, r in buffer.items()
                        if r is not None])
        db.executemany("DELETE FROM users WHERE key = ?",
                       [(k,) for k, r in buffer.items() if r is None])
        buffer.clear()

    def flush(self) -> None:
        """Commit every write so far."""
        if self.readonly:
            return
        with self._lock:
            self._write()
            if self._db.in_transaction:
                self._db.execute("COMMIT")
            self._since_commit = 0

    def rollback(self) -> None:
        """Drop every write since the last commit (and the read cache with them)."""
        with self._lock:
            self._buffer.clear()
            self._cache.clear()
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._since_commit = 0

    def close(self) -> None:
        """Commit and close the file. Closing twice is harmless."""
        with self._lock:
            db = self._db
            try:
                db.total_changes  # noqa: B018 - raises ProgrammingError once closed
            except sqlite3.ProgrammingError:
                return
            self.flush()
            db.close()


#: Marks, among a :class:`ScratchStore`'s writes, a user it deleted.
_DELETED: Final = UserRecord()


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
        self._changes: dict[str, UserRecord] = {}

    def __repr__(self) -> str:
        return f"ScratchStore({self.base!r}, changed={len(self._changes)})"

    def __len__(self) -> int:
        """Users written or deleted in this scratch."""
        return len(self._changes)

    def get(self, user: str) -> UserRecord | None:
        record = self._changes.get(user)
        if record is not None:
            return None if record is _DELETED else record
        return None if self.base is None else self.base.get(user)

    def put(self, user: str, record: UserRecord) -> None:
        self._changes[user] = record

    def delete(self, user: str) -> None:
        self._changes[user] = _DELETED

    def flush(self) -> None:
        """Nothing is made durable: the scratch is the point."""

    def close(self) -> None:
        """Close the base store; the scratch writes are kept until the object goes."""
        if self.base is not None:
            self.base.close()
