"""The journal: which entries Braze has answered for good, so a restart skips them.

An SQLite file (WAL, ``synchronous=NORMAL``: a commit survives the process being killed)
with one row per settled entry: its name and a status (``delivered``, or ``refused``
when Braze refused it: sending it again unchanged would fail again, and it is in the
dead letter). An entry is named by its origin (the
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

import os
import sqlite3
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Final, Literal, TypeAlias

from ..braze import Request

__all__ = ["Journal", "Namer", "Settled"]

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


class Namer:
    """Names entries for the journal: ``origin``, endpoint, part and first user as text,
    and, for the second and later identical names in a stream, their rank (an order of
    250 units is three purchases, two of them identical). The counts are bounded: the
    names seen longest ago are forgotten first (one event's entries come close together
    in a stream). Plain text, not a digest: hashing cost more than the bytes it saves."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def keys(self, request: Request) -> list[list[bytes | None]]:
        """Per part, per entry: its name, or ``None`` for an entry without origin."""
        seen = self._seen
        path = request.endpoint
        out = []
        for part in type(request).ENDPOINT.parts:
            users, prefix = part.users, f"\x1f{path}\x1f{part.name}\x1f"
            keys: list[bytes | None] = []
            for entry, origin in request.pairs(part):
                if origin is None:
                    keys.append(None)
                    continue
                named = users(entry)
                # repr tells the message id "7" from the position 7.
                name = f"{origin!r}{prefix}{named[0] if named else ''}"
                rank = seen.get(name, 0)
                seen[name] = rank + 1
                if rank:
                    name = f"{name}\x1f{rank}"
                elif len(seen) > _ORDINALS:
                    del seen[next(iter(seen))]
                keys.append(name.encode("utf-8", "surrogatepass"))
            out.append(keys)
        return out


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
