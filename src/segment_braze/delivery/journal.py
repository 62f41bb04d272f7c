"""The journal: which entries Braze has answered for good, so a restart skips them.

An SQLite file (WAL, ``synchronous=NORMAL``: a commit survives the process being killed).
An entry is named by its origin (the event's ``messageId``, else its position in the
stream), its endpoint and part, the first user it names, and how many entries of the same
four came before it in the stream (an order of 250 units is three identical purchases).
Run again over the same input with the same settings, the stream names the same entries
the same way, whatever the batching (change tracking with ``--state`` leaves out values
the first run delivered, so requests differ between runs; entries do not), and the
journal leaves out those already settled: ``delivered``, or ``refused`` (Braze refused
it: sending it again unchanged would fail again, and it is in the dead letter).

**Writing costs one row per answer, not one per entry.** Each answered request adds one
row (two when Braze refused some of its entries): its endpoint, and per part the
entries' origins, first users and (only when one is not 0) ranks, as one JSON blob the
JSON encoder writes in C. About 50 bytes per entry on disk; nothing per entry in memory
but the :class:`Namer`'s window of recent names.

**Looking up is done by a later run, against an index it builds.** The first look-up of
a run that finds answers not yet indexed (those of the runs before it) writes their
entries' names into an index table (``entries``: name -> status, the layout-1 table),
a few hundred answers per transaction, and notes how far it went; each answer is indexed
once, by the first run that needs it. Look-ups then ask the index for a request's names
at once. So a first run pays only for its rows; a resumed run pays, once, about
2 µs per entry the runs before it settled (naming it again and inserting it), and about
2 µs per entry it looks up; memory stays flat whatever the journal's size (the index is
on disk, read through SQLite's page cache), which a 100-million-entry replay needs: an
in-memory set of its names would take about 10 GB.

Entries without an origin (requests built by hand without ``origins``) cannot be named
and are always sent. Entries abandoned after the last retry are not settled: a restart
sends them again.

What a journal cannot prevent: a request in flight when the process dies (sent, maybe
applied by Braze, not yet written here) is sent again by the next run. Braze has no
idempotency key, so its events and purchases are then recorded twice; attribute writes
are simply written again.

A journal of the first layout (one row per entry, the index alone) is upgraded in place
when opened: its rows are the index, already complete.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from types import TracebackType
from typing import Final, Literal, TypeAlias

from .. import _json
from ..braze import Origin, Request, UserKey

__all__ = ["Journal", "Namer", "Names", "Settled"]

#: What the journal records of an entry.
Settled: TypeAlias = Literal["delivered", "refused"]

#: ``PRAGMA application_id`` of a journal ("SBjn"), so another SQLite file is refused.
APPLICATION_ID: Final = 0x53426A6E
#: ``PRAGMA user_version``: 2, one row per answer and an index built by later runs.
#: Layout 1 (one row per entry) is upgraded in place.
LAYOUT: Final = 2
_INDEX: Final = ("CREATE TABLE IF NOT EXISTS entries "
                 "(key BLOB PRIMARY KEY NOT NULL, status TEXT NOT NULL) WITHOUT ROWID")
_SCHEMA: Final = (
    _INDEX,
    "CREATE TABLE answers (id INTEGER PRIMARY KEY, status TEXT NOT NULL, "
    "names BLOB NOT NULL)",
    # Answers up to this id have their entries in the index.
    "CREATE TABLE indexed (through INTEGER NOT NULL)",
    "INSERT INTO indexed (through) VALUES (0)",
)
#: Names asked of the index at once (SQLite's limit on parameters is far above).
_LOOKUP: Final = 500
#: Answers indexed per transaction: memory and a transaction's size stay small.
_INDEX_BATCH: Final = 256
_FIRST: Final = itemgetter(0)

#: One part's names: the part, each entry's origin and first user, and each entry's
#: rank among identical names (``None``: every rank is 0).
PartNames: TypeAlias = tuple[str, Sequence[Origin], Sequence[UserKey], "Sequence[int] | None"]


class Names:
    """The journal's names of one request's entries, part by part (parts without entries
    left out): kept with the request from admission to answer, and written as they are."""

    __slots__ = ("parts", "path")

    def __init__(self, path: str, parts: Sequence[PartNames]) -> None:
        self.path = path
        self.parts = tuple(parts)

    def __repr__(self) -> str:
        return f"Names({self.path!r}, {self.named} named entries)"

    @property
    def named(self) -> int:
        """Entries with an origin: those the journal can name."""
        return sum(len(origins) - origins.count(None) for _, origins, _, _ in self.parts)

    def select(self, keep: Iterable[Iterable[int]]) -> Names:
        """The names of the entries at the positions ``keep`` says, part by part (in the
        order of :attr:`parts`), their ranks kept: a request rebuilt without some of its
        entries is named as its entries were."""
        parts: list[PartNames] = []
        for (name, origins, users, ranks), indices in zip(self.parts, keep, strict=True):
            chosen = list(indices)
            if chosen:
                parts.append((name, [origins[i] for i in chosen], [users[i] for i in chosen],
                              None if ranks is None else [ranks[i] for i in chosen]))
        return Names(self.path, parts)

    def keys(self) -> list[list[bytes | None]]:
        """Per part, per entry: its key in the index, or ``None`` for an entry without
        origin."""
        return [_keys(self.path, part) for part in self.parts]

    def to_blob(self) -> bytes:
        """The compact form written in one row: ``[path, [[part, origins, users,
        ranks], ...]]`` as JSON."""
        data = [self.path, [list(part) if part[3] is not None else list(part[:3])
                            for part in self.parts]]
        try:
            return _json.dumps(data)
        except (TypeError, ValueError):  # a lone surrogate: escaped by the standard library
            return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_blob(cls, blob: bytes) -> Names:
        try:
            path, parts = _json.loads(blob)
        except _json.DecodeError:
            path, parts = json.loads(blob)
        return cls(path, [(p[0], p[1], p[2], p[3] if len(p) > 3 else None) for p in parts])


def _keys(path: str, part: PartNames) -> list[bytes | None]:
    """Index keys of one part's entries: origin (as ``repr``, which tells the message id
    ``"7"`` from the position 7), endpoint, part and first user, and the rank when not 0."""
    name, origins, users, ranks = part
    middle = f"\x1f{path}\x1f{name}\x1f"
    out: list[bytes | None] = []
    for index, (origin, user) in enumerate(zip(origins, users, strict=True)):
        if origin is None:
            out.append(None)
            continue
        text = f"{origin!r}{middle}{user}"
        if ranks is not None and ranks[index]:
            text = f"{text}\x1f{ranks[index]}"
        out.append(text.encode("utf-8", "surrogatepass"))
    return out


class Namer:
    """Names a stream's entries for the journal. A rank counts the identical names that
    came before in the stream; only the last ``window`` to ``2 * window`` names of each
    part are remembered, so memory stays flat over any stream (a few MB). That is plenty:
    identical names are entries of one event (an order's identical purchases), which
    batching places in the same request or the next (a request holds at most a thousand
    entries). The common request (no name seen before, none twice) is named in bulk,
    without Python code per entry."""

    __slots__ = ("_seen", "window")

    #: Names of each part remembered at least.
    WINDOW: Final = 8_192

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        #: Per (endpoint, part): the current and the previous generation of
        #: (origin, user) -> how many were seen.
        self._seen: dict[tuple[str, str], list[dict[tuple[Origin, UserKey], int]]] = {}

    def __len__(self) -> int:
        """Names remembered, all parts together."""
        return sum(len(new) + len(old) for new, old in self._seen.values())

    def names(self, request: Request,
              users: Sequence[Sequence[tuple[UserKey, ...]]]) -> Names:
        """The names of ``request``'s entries, given the users of each entry of each part
        (``part.users(entry)``, read once by the caller for the lanes too)."""
        path = request.endpoint
        request_origins = request.origins
        parts: list[PartNames] = []
        for part, part_users in zip(type(request).ENDPOINT.parts, users, strict=True):
            if not part_users:
                continue
            origins = request_origins.get(part.name) or (None,) * len(part_users)
            try:
                firsts = list(map(_FIRST, part_users))
            except IndexError:  # an entry naming nobody
                firsts = [found[0] if found else "" for found in part_users]
            parts.append((part.name, origins, firsts,
                          self._ranks((path, part.name), origins, firsts)))
        return Names(path, parts)

    def _ranks(self, part: tuple[str, str], origins: Sequence[Origin],
               users: Sequence[UserKey]) -> list[int] | None:
        generations = self._seen.get(part)
        if generations is None:
            generations = self._seen[part] = [{}, {}]
        new, old = generations
        pairs = list(zip(origins, users, strict=True))
        fresh = dict.fromkeys(pairs, 1)
        ranks: list[int] | None = None
        if len(fresh) == len(pairs) and new.keys().isdisjoint(fresh) and \
                old.keys().isdisjoint(fresh):
            new.update(fresh)
        else:
            ranks = []
            for pair in pairs:
                seen = new.get(pair)
                if seen is None:
                    seen = old.get(pair, 0)
                new[pair] = seen + 1
                ranks.append(seen)
        if len(new) > self.window:
            generations[1] = new
            generations[0] = {}
        return ranks if ranks is not None and any(ranks) else None


class Journal:
    """The journal file at ``path`` (created if missing). Safe to share between threads
    (one connection, under a lock): a lane writes the answer it got when every entry was
    delivered, the calling thread the others (after their dead letter)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise
        #: Whether runs before this one settled anything: if not, nothing is looked up.
        self.resumed = bool(self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM answers) OR EXISTS (SELECT 1 FROM entries)"
        ).fetchone()[0])
        self._pending: list[tuple[Settled, bytes]] = []
        self._indexed = False

    def _prepare(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        (app,) = db.execute("PRAGMA application_id").fetchone()
        if app == 0 and db.execute("SELECT count(*) = 0 FROM sqlite_master").fetchone()[0]:
            self._upgrade(0)
        elif app != APPLICATION_ID:
            raise ValueError(f"{self.path}: not a segment-braze delivery journal")
        (layout,) = db.execute("PRAGMA user_version").fetchone()
        if layout > LAYOUT:
            raise ValueError(f"{self.path}: written by a newer segment-braze (layout "
                             f"{layout}); this one reads layout {LAYOUT}")
        if layout < LAYOUT:
            self._upgrade(layout)

    def _upgrade(self, layout: int) -> None:
        """Create the tables (layout 0: a new file), or add to a layout-1 journal what
        layout 2 has beside its index: its rows are the complete index already."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:  # the index is there already in layout 1
                db.execute(statement)
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={LAYOUT}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __len__(self) -> int:
        """Entries settled (every answer indexed first)."""
        with self._lock:
            self.commit()
            self._index()
            return int(self._db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def settled(self, names: Names) -> list[list[Settled | None]] | None:
        """Per part, per entry: how a previous run settled it (``None``: not settled, or
        no origin); ``None`` when no entry was."""
        if not self.resumed:
            return None
        keys = names.keys()
        flat = [key for key in chain.from_iterable(keys) if key is not None]
        if not flat:
            return None
        found: dict[bytes, Settled] = {}
        with self._lock:
            if not self._indexed:
                self._index()
            for start in range(0, len(flat), _LOOKUP):
                chunk = flat[start:start + _LOOKUP]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(
                    f"SELECT key, status FROM entries WHERE key IN ({marks})",  # noqa: S608
                    chunk).fetchall())
        if not found:
            return None
        return [[found.get(key) if key is not None else None for key in part]
                for part in keys]

    def record(self, names: Names, status: Settled) -> None:
        """Note the named entries as settled; written at the next :meth:`commit`."""
        if names.parts:
            with self._lock:
                self._pending.append((status, names.to_blob()))

    def commit(self) -> None:
        """Write what was recorded, durably."""
        with self._lock:
            pending = self._pending
            if not pending:
                return
            db = self._db
            db.execute("BEGIN")
            db.executemany("INSERT INTO answers (status, names) VALUES (?, ?)", pending)
            db.execute("COMMIT")
            pending.clear()

    def write(self, names: Names, status: Settled) -> None:
        """Write the named entries as settled, durably, now, in a transaction of their
        own (what :meth:`record` noted waits for :meth:`commit`)."""
        if not names.parts:
            return
        blob = names.to_blob()
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            db.execute("INSERT INTO answers (status, names) VALUES (?, ?)", (status, blob))
            db.execute("COMMIT")

    def _index(self) -> None:
        """Put the entries of every answer not yet indexed into the index, a few hundred
        answers per transaction, each with the note of how far it went (a crash half-way
        loses nothing: the rest is indexed next time)."""
        db = self._db
        (through,) = db.execute("SELECT through FROM indexed").fetchone()
        while True:
            rows = db.execute("SELECT id, status, names FROM answers WHERE id > ? "
                              "ORDER BY id LIMIT ?", (through, _INDEX_BATCH)).fetchall()
            if not rows:
                break
            through = rows[-1][0]
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO entries (key, status) VALUES (?, ?)",
                           _entries(rows))
            db.execute("UPDATE indexed SET through = ?", (through,))
            db.execute("COMMIT")
        self._indexed = True

    def counts(self) -> dict[str, int]:
        """Settled entries by status (every answer indexed first)."""
        with self._lock:
            self.commit()
            self._index()
            return {status: int(n) for status, n in self._db.execute(
                "SELECT status, count(*) FROM entries GROUP BY status")}

    def close(self) -> None:
        """Commit and close. Closing twice is harmless."""
        with self._lock:
            try:
                self.commit()
            except sqlite3.ProgrammingError:  # already closed
                return
            self._db.close()


def _entries(rows: Iterable[tuple[int, str, bytes]]) -> Iterator[tuple[bytes, str]]:
    """(key, status) of every named entry of some answers, in the order answered (a
    later answer of the same entry replaces an earlier one)."""
    for _, status, blob in rows:
        names = Names.from_blob(blob)
        for key in chain.from_iterable(names.keys()):
            if key is not None:
                yield key, status
