"""segment-braze: Segment events to Braze REST API requests, as a library.

Typed Segment event models flow through one rule table that emits typed Braze request
objects. Nothing here opens a network connection: send the requests with the HTTP client
you like (``request.to_http(settings)`` gives method, URL, headers and body).

    >>> import segment_braze as sb
    >>> settings = sb.Settings(rest_endpoint="US-03")
    >>> t = sb.translate({"type": "track", "userId": "u1", "event": "Signed Up",
    ...                   "timestamp": "2024-05-01T12:00:00Z"}, settings)
    >>> [r.endpoint for r in t]
    ['/users/track']
"""

from __future__ import annotations

from .archive import EventLine, ReadFailure, read_events
from .batching import batch, iter_batches
from .braze import (
    CohortName,
    CohortUsers,
    HttpRequest,
    SubscriptionStatusSet,
    UsersAliasNew,
    UsersDelete,
    UsersIdentify,
    UsersMerge,
    UsersTrack,
)
from .delivery import DeliveryReport, deliver, deliver_async
from .errors import (
    InvalidEvent,
    InvalidSettings,
    Notice,
    Problem,
    RuleTableError,
    SegmentBrazeError,
)
from .events import Alias, Context, Delete, Group, Identify, Page, Screen, Track
from .responses import ErrorDetail, Outcome, interpret_response
from .rules import (
    DEFAULT_RULES,
    Rule,
    both,
    on_audience,
    on_context_traits,
    on_create_alias,
    on_ecommerce,
    on_ecommerce_order,
    on_event,
    on_filtered_event,
    on_no_identifier,
    on_purchase,
    on_subscription_state,
    on_type,
    on_untracked_page,
    otherwise,
)
from .scope import Scope, Skip
from .settings import Settings
from .tracking import MemoryStore, ScratchStore, SQLiteStore, StateStore, Tracker
from .translate import Explanation, Translation, Translator, explain, translate

__all__ = [
    "DEFAULT_RULES",
    "Alias",
    "CohortName",
    "CohortUsers",
    "Context",
    "Delete",
    "DeliveryReport",
    "ErrorDetail",
    "EventLine",
    "Explanation",
    "Group",
    "HttpRequest",
    "Identify",
    "InvalidEvent",
    "InvalidSettings",
    "MemoryStore",
    "Notice",
    "Outcome",
    "Page",
    "Problem",
    "ReadFailure",
    "Rule",
    "RuleTableError",
    "SQLiteStore",
    "Scope",
    "ScratchStore",
    "Screen",
    "SegmentBrazeError",
    "Settings",
    "Skip",
    "StateStore",
    "SubscriptionStatusSet",
    "Track",
    "Tracker",
    "Translation",
    "Translator",
    "UsersAliasNew",
    "UsersDelete",
    "UsersIdentify",
    "UsersMerge",
    "UsersTrack",
    "batch",
    "both",
    "deliver",
    "deliver_async",
    "explain",
    "interpret_response",
    "iter_batches",
    "on_audience",
    "on_context_traits",
    "on_create_alias",
    "on_ecommerce",
    "on_ecommerce_order",
    "on_event",
    "on_filtered_event",
    "on_no_identifier",
    "on_purchase",
    "on_subscription_state",
    "on_type",
    "on_untracked_page",
    "otherwise",
    "read_events",
    "translate",
]

__version__ = "0.1.0.dev0"
