"""Track, page and screen -> Braze custom events; the event and page filters.

- ``name``: the track's ``event``; for pages ``Viewed {category} {name} Page``,
  ``Viewed {name} Page`` or ``Loaded a Page`` (``Screen`` for screens). It must be
  non-empty, at most 255 characters and not start with ``$``; a name cannot be fixed up,
  so anything else rejects the event.
- ``time``: ``timestamp``, else ``originalTimestamp``, ``receivedAt``, ``sentAt``, in UTC
  with milliseconds.
- ``properties``: the event's properties under Braze's rules (:mod:`.values`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .._makers import maker
from ..braze import Event
from ..errors import reject
from ..events import Page, Screen, Track
from ..limits import MAX_NAME
from ..scope import Skip
from .identity import OPTION_KEYS, app_id_of
from .values import clean_properties

if TYPE_CHECKING:
    from ..scope import Output, Scope
    from ..settings import Settings

__all__ = [
    "check_event_name",
    "custom_event_name",
    "filtered_reason",
    "page_name",
    "page_to_event",
    "skip_filtered_event",
    "skip_untracked_page",
    "track_to_event",
    "untracked_reason",
]


def page_name(event: Page | Screen) -> str:
    """The custom event name of a page or screen call."""
    noun = "Page" if event.type == "page" else "Screen"
    name = event.name.strip() if event.name else ""
    if not name:
        return f"Loaded a {noun}"
    category = event.category.strip() if event.category else ""
    if category:
        return f"Viewed {category} {name} {noun}"
    return f"Viewed {name} {noun}"


def custom_event_name(event: Track | Page | Screen) -> str:
    """The name the event's custom event (or purchase) is filed under in the filters."""
    return event.event if isinstance(event, Track) else page_name(event)


def check_event_name(name: str, path: tuple[str | int, ...]) -> str:
    """``name`` if Braze accepts it as an event name; otherwise the event is rejected."""
    if not name.strip():
        reject(path, "an event name must not be empty")
    if len(name) > MAX_NAME:
        reject(path, f"an event name must be at most {MAX_NAME} characters, this one has "
                     f"{len(name)}")
    if name[0] == "$":
        reject(path, "an event name must not start with '$'")
    return name


def filtered_reason(event: Track | Page | Screen, settings: Settings) -> str | None:
    """Why ``event_allowlist`` / ``event_blocklist`` drop this event, or ``None``."""
    allow, block = settings.event_allowlist, settings.event_blocklist
    if allow is None and block is None:
        return None
    name = custom_event_name(event)
    if allow is not None and name not in allow:
        return f"event {name!r} is not in event_allowlist"
    if block is not None and name in block:
        return f"event {name!r} is in event_blocklist"
    return None


def untracked_reason(event: Page | Screen, settings: Settings) -> str | None:
    """Why the page settings leave this page or screen call out, or ``None``."""
    noun = event.type
    named = bool(event.name and event.name.strip())
    if settings.track_named_pages:
        return None if named else (f"unnamed {noun} calls are not sent: track_named_pages is "
                                   "on (only named ones are sent)")
    if settings.track_all_pages:
        return None
    return (f"{noun} calls are not sent: set track_all_pages=True (all of them) or "
            "track_named_pages=True (named ones)")


def skip_filtered_event(event: Track | Page | Screen, scope: Scope) -> tuple[Output, ...]:
    """Events left out by the allow or block list are skipped with the reason."""
    return (Skip(filtered_reason(event, scope.settings) or "filtered"),)


def skip_untracked_page(event: Page | Screen, scope: Scope) -> tuple[Output, ...]:
    """Page and screen calls left out by the page settings are skipped with the reason."""
    return (Skip(untracked_reason(event, scope.settings) or "not tracked"),)


def _properties(properties: Mapping[str, Any] | None,
                scope: Scope) -> Mapping[str, Any] | None:
    if not properties:
        return None
    return clean_properties(properties, ("properties",), scope)[0] or None


#: One custom event object per event: built without ``__init__``'s keyword handling.
_event: Final = maker(Event, "identifier", "name", "time", "properties", "app_id",
                      "update_existing_only")


def custom_event(name: str, properties: Mapping[str, Any] | None,
                 scope: Scope) -> tuple[Output, ...]:
    """A custom event of the event's user, with the event's app id (see
    :func:`~.identity.app_id_of`). (An alias user's profile is created by the
    translator's alias-profile step, after the rules.)"""
    ident = scope.identifier
    assert ident is not None  # noqa: S101 - the anonymous rule runs first
    settings = scope.settings
    source = scope.event
    integrations, context = source.integrations, source.context
    if (integrations and not OPTION_KEYS.isdisjoint(integrations)) or (
            context is not None and context.integrations):
        app_id = app_id_of(source, scope)
    else:  # the common case, inline: no per-event options
        app_id = settings.app_id
    return (_event(ident, name, scope.time(), _properties(properties, scope), app_id,
                   True if settings.update_existing_only else None),)


def track_to_event(event: Track, scope: Scope) -> tuple[Output, ...]:
    """Track -> a custom event named after ``event``, with its properties."""
    return custom_event(check_event_name(event.event, ("event",)), event.properties, scope)


def page_to_event(event: Page | Screen, scope: Scope) -> tuple[Output, ...]:
    """Page or screen -> a custom event ``Viewed {category} {name} Page``,
    ``Viewed {name} Page`` or ``Loaded a Page`` (``Screen`` for screens)."""
    return custom_event(check_event_name(page_name(event), ("name",)), event.properties, scope)
