"""Every limit the library enforces, in one place: Braze's documented limits, Segment's,
and the library's own caps on hostile input.

Braze's figures come from its REST API documentation (``/users/track``, the user
attributes, event and purchase objects, the other user-data endpoints, the partner cohort
import and the API rate limits); the tests check requests against an independent copy of
them. Nothing here is computed: each name is one number with the reason it exists.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = [
    "COHORT_RATE",
    "EXPORT_RATE",
    "INT64",
    "MAX_ARRAY",
    "MAX_COHORT_USERS",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_EVENT_CHARS",
    "MAX_MESSAGE_ID",
    "MAX_NAME",
    "MAX_OBJECTS",
    "MAX_OBJECT_BYTES",
    "MAX_PER_PURCHASE",
    "MAX_PROPERTIES_BYTES",
    "MAX_QUANTITY",
    "MAX_STRING",
    "MAX_SUBSCRIPTION_USERS",
    "SUBSCRIPTION_RATE",
    "TRACK_RATE",
    "USERS_RATE",
    "RateLimit",
]

# -- Braze: names and values -------------------------------------------------------------

#: Longest name of a custom attribute, event, property or product id (characters).
MAX_NAME: Final = 255
#: Longest string value of a custom attribute or property (characters).
MAX_STRING: Final = 255
#: Most items of a custom attribute array of scalars.
MAX_ARRAY: Final = 500
#: Largest nested custom attribute object (bytes of compact UTF-8 JSON).
MAX_OBJECT_BYTES: Final = 100 * 1024
#: Largest ``properties`` of one event or purchase (bytes of compact UTF-8 JSON).
MAX_PROPERTIES_BYTES: Final = 51_200
#: Integers Braze stores are signed 64-bit: ``-INT64 <= n < INT64``.
INT64: Final = 2**63
#: Most units one purchase object records (Braze's limit on ``quantity``).
MAX_PER_PURCHASE: Final = 100

# -- Braze: entries per request ------------------------------------------------------------

#: Objects per array of ``/users/track`` (attributes, events and purchases each).
MAX_OBJECTS: Final = 75
#: Entries per ``/users/delete``, ``/users/identify``, ``/users/merge`` and
#: ``/users/alias/new`` request.
MAX_ENTRIES: Final = 50
#: Users (external ids, aliases and device ids together) per cohort membership request.
MAX_COHORT_USERS: Final = 1000
#: Users (external ids and emails together) per ``/v2/subscription/status/set`` request:
#: Braze's page says the endpoint updates "up to 50 users", and each of its arrays takes
#: at most 50; counting them together keeps every request within both readings.
MAX_SUBSCRIPTION_USERS: Final = 50

# -- Braze: rate limits ---------------------------------------------------------------


@attrs.frozen
class RateLimit:
    """Braze's documented rate limit of an endpoint: ``requests`` per ``seconds``,
    shared by every endpoint with the same ``bucket``."""

    bucket: str
    requests: int
    seconds: float


#: ``/users/track``: 3,000 requests per 3 seconds.
TRACK_RATE: Final = RateLimit("users/track", 3000, 3.0)
#: ``/users/delete``, ``/users/alias/new``, ``/users/alias/update``, ``/users/identify``
#: and ``/users/merge``: 20,000 requests per minute, shared.
USERS_RATE: Final = RateLimit("users", 20_000, 60.0)
#: ``/subscription/status/set`` and ``/v2/subscription/status/set``: 5,000 per minute,
#: shared.
SUBSCRIPTION_RATE: Final = RateLimit("subscription/status", 5000, 60.0)
#: ``/users/export/ids``: 250 requests per minute (workspaces onboarded before 22 August
#: 2024 have 2,500; the lower figure is safe for every one).
EXPORT_RATE: Final = RateLimit("users/export/ids", 250, 60.0)
#: The partner cohort endpoints: 250,000 requests per hour.
COHORT_RATE: Final = RateLimit("partners/cohorts", 250_000, 3600.0)

# -- Segment -----------------------------------------------------------------------------

#: Longest ``messageId`` Segment accepts (characters).
MAX_MESSAGE_ID: Final = 100

# -- the library's own caps on hostile input -------------------------------------------

#: Characters of text one event may carry: a longer field, or traits and properties
#: adding up to more, reject the event without further work (Segment itself caps a
#: message at 32 KB, so no real event comes near it).
MAX_EVENT_CHARS: Final = 1_000_000
#: Nesting deeper than this is refused: no real event needs it, and it keeps every walk
#: far from Python's recursion limit.
MAX_DEPTH: Final = 32
#: A product line above this quantity would need more than 100 purchase objects.
MAX_QUANTITY: Final = 10_000
