"""Change tracking: send each user's attribute values only when they change.

Braze bills every attribute write as a data point, changed or not. A
:class:`~.stores.StateStore` remembers, per Braze user, the values known to be in Braze;
a :class:`~.tracker.Tracker` over it is a stage between translation and sending::

    tracker = Tracker(SQLiteStore("state.db"))
    translation = tracker.apply(translator.translate(event))   # unchanged values left out
    ...                                                        # send the requests
    tracker.acknowledge(outcomes, request=request)             # what Braze received

The translator knows nothing of stores; whoever sends composes the two (the command
line, the delivery code).

- :mod:`.records`: the typed record of one user, and how values compare;
- :mod:`.stores`: the store protocol, the memory and SQLite stores, and the scratch
  store of dry runs;
- :mod:`.tracker`: the tracker.
"""

from __future__ import annotations

from .records import UserRecord, same
from .stores import MemoryStore, ScratchStore, SQLiteStore, StateStore
from .tracker import (
    ALWAYS_SENT,
    MAX_PENDING,
    OPERATIONS,
    SUBSCRIPTION_FIELDS,
    TRACKED_KINDS,
    Commit,
    Tracker,
)

__all__ = [
    "ALWAYS_SENT",
    "MAX_PENDING",
    "OPERATIONS",
    "SUBSCRIPTION_FIELDS",
    "TRACKED_KINDS",
    "Commit",
    "MemoryStore",
    "SQLiteStore",
    "ScratchStore",
    "StateStore",
    "Tracker",
    "UserRecord",
    "same",
]
