"""The journal: which entries Braze has answered for good, so a restart skips them.

An SQLite file (WAL, ``synchronous=NORMAL``: a commit survives the process being killed)
with one row per settled entry: a 16-byte digest of where the entry came from and a
status (``delivered``, or ``refused`` when Braze refused it: sending it again unchanged
would fail again, and it is in the dead letter). An entry is named by its origin (the
event's ``messageId``, else its position in the stream), its endpoint and part, the first
user it names, and how many entries of the same four came before it in the stream (an
order of 250 units is three identical purchases). Run again over the same input with the
same settings, the stream names the same entries the same way, and the journal leaves out
those already settled.

Entries without an origin (requests built by hand without ``origins``) cannot be named
and are always sent. Entries abandoned after the last retry are not settled: a restart
sends them again.

What a journal cannot prevent: a request in flight when the process dies (sent, maybe
applied by Braze, not yet written here) is sent again by the next run. Braze has no
idempotency key, so its events and purchases are then recorded twice; attribute writes
are simply written again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Final, Literal, TypeAlias

from ..braze import Origin

__all__ = ["Journal", "Settled"]

#: What the journal records of an entry.
Settled: TypeAlias = Literal["delivered", "refused"]

#: ``PRAGMA application_id`` of a journal ("SBjn"), so another SQLite file is refused.
APPLICATION_ID: Final = 0x53426A6E
LAYOUT: Final = 1
_SCHEMA: Final = ("CREATE TABLE IF NOT EXISTS entries "
                  "(key BLOB PRIMARY KEY NOT NULL, status TEXT NOT NULL) WITHOUT ROWID")
#: Entries of one origin counted at once (an origin's entries come close together in a
#: stream: one event's requests, batched within a few requests of each other).
_ORDINALS: Final = 65_536
#: Keys asked at once (SQLite's limit on parameters is far above).
_LOOKUP: Final = 500


def entry_key(origin: Origin, endpoint: str, part: str, user: str, ordinal: int) -> bytes:
    """The digest naming one entry."""
    # repr tells the message id "7" from the position 7.
    text = f"{origin!r}\x1f{endpoint}\x1f{part}\x1f{user}\x1f{ordinal}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Ordinals:
    """Counts, per (origin, endpoint, part, user), the entries seen so far in a stream, so
    that identical entries of one event get different names. Bounded: the counts of the
    least recently seen origins are forgotten first."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: OrderedDict[tuple[Origin, str, str, str], int] = OrderedDict()

    def next(self, origin: Origin, endpoint: str, part: str, user: str) -> int:
        counts = self._counts
        name = (origin, endpoint, part, user)
        seen = counts.get(name, 0)
        counts[name] = seen + 1
        if seen:
            counts.move_to_end(name)
        elif len(counts) > _ORDINALS:
            counts.popitem(last=False)
        return seen


class Journal:
    """The journal file at ``path`` (created if missing). Use it from one thread:
    :func:`~segment_braze.delivery.deliver` does."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise
        (count,) = self._db.execute("SELECT count(*) FROM entries").fetchone()
        #: Entries settled before this run: none means nothing needs looking up.
        self.before = int(count)
        self._pending: list[tuple[bytes, str]] = []

    def _prepare(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        (app,) = db.execute("PRAGMA application_id").fetchone()
        if app == 0 and db.execute("SELECT count(*) = 0 FROM sqlite_master").fetchone()[0]:
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={LAYOUT}")
        elif app != APPLICATION_ID:
            raise ValueError(f"{self.path}: not a segment-braze delivery journal")
        (layout,) = db.execute("PRAGMA user_version").fetchone()
        if layout > LAYOUT:
            raise ValueError(f"{self.path}: written by a newer segment-braze (layout "
                             f"{layout}); this one reads layout {LAYOUT}")

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __len__(self) -> int:
        self.commit()
        return int(self._db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def settled(self, keys: Sequence[bytes]) -> dict[bytes, Settled]:
        """Which of ``keys`` a previous run settled, and how."""
        if not self.before or not keys:
            return {}
        found: dict[bytes, Settled] = {}
        for start in range(0, len(keys), _LOOKUP):
            chunk = keys[start:start + _LOOKUP]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(
                f"SELECT key, status FROM entries WHERE key IN ({marks})",  # noqa: S608
                chunk).fetchall())
        return found

    def record(self, keys: Iterable[bytes], status: Settled) -> None:
        """Note entries as settled; written at the next :meth:`commit`."""
        self._pending.extend((key, status) for key in keys)

    def commit(self) -> None:
        """Write what was recorded, durably."""
        pending = self._pending
        if not pending:
            return
        db = self._db
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO entries (key, status) VALUES (?, ?)", pending)
        db.execute("COMMIT")
        pending.clear()

    def counts(self) -> dict[str, int]:
        """Settled entries by status."""
        self.commit()
        return {status: int(n) for status, n in self._db.execute(
            "SELECT status, count(*) FROM entries GROUP BY status")}

    def close(self) -> None:
        """Commit and close. Closing twice is harmless."""
        try:
            self.commit()
        except sqlite3.ProgrammingError:  # already closed
            return
        self._db.close()
