"""Engage audiences -> Braze cohorts: the ``audience`` rule.

Segment Engage tells a destination that a user entered or left an audience in two ways:
a track event ``Audience Entered`` / ``Audience Exited``, or an identify whose traits hold
a boolean named after the audience. Both carry ``context.personas``: ``computation_id``
(the audience's id, which becomes the Braze cohort id) and ``computation_key`` (its key,
which becomes the cohort's name).

With both cohort settings set (``cohort_client_secret``, ``cohort_partner_api_key``), such
an event becomes a :class:`~segment_braze.braze.CohortName` request (batching and the
state store make sure Braze hears it once per cohort) and a
:class:`~segment_braze.braze.CohortUsers` change for the user: added on ``Audience
Entered`` or ``true``, removed on ``Audience Exited`` or ``false``. An identify's other
traits still become attributes, exactly as the identify row makes them: the ``audience``
row is ``both(audience_to_cohort, other_traits(<the identify row's body>))``.

A cohort change names the user by external id (``userId``), else, in alias mode, by the
anonymous user alias, else, with ``cohort_device_ids``, by the device id
(``context.device.id``): Braze's cohort import knows no ``braze_id`` or email. With
``cohort_audiences``, only the audiences it names become cohorts; the others stay the
custom events and attributes they are without cohorts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, cast

import attrs

from ..braze import CohortChange, CohortName, CohortUsers, UserAlias, UserAttributes
from ..braze.objects import CohortArray
from ..combinators import Trace, name_of, trace
from ..converters import json_type
from ..errors import reject
from ..events import Identify, Track
from ..scope import Skip

if TYPE_CHECKING:
    from ..scope import Emitter, Output, Scope
    from ..settings import Settings

__all__ = [
    "AUDIENCE_EVENTS",
    "AUDIENCE_KEY_PROPERTY",
    "audience_to_cohort",
    "cohort_member",
    "device_id_of",
    "is_audience_change",
    "other_traits",
]

#: Engage's audience track events -> whether the user leaves the cohort
#: (``should_remove``).
AUDIENCE_EVENTS: Final[Mapping[str, bool]] = {
    "Audience Entered": False,
    "Audience Exited": True,
}

#: The property in which Engage repeats the audience key on its track events; when
#: present it must agree with ``context.personas.computation_key``.
AUDIENCE_KEY_PROPERTY: Final = "audience_key"

_PERSONAS: Final = ("context", "personas")


def _personas(event: Track | Identify) -> Mapping[str, Any] | None:
    context = event.context
    personas = context.personas if context is not None else None
    return personas if isinstance(personas, Mapping) else None


def is_audience_change(event: Track | Identify, scope: Scope) -> bool:
    """An ``Audience Entered`` / ``Audience Exited`` track with ``context.personas``; or an
    identify with ``context.personas`` of an audience (``computation_class`` absent or
    ``audience``) whose traits hold a boolean under its ``computation_key``, for a user
    with a Braze identifier (the others are skipped by the ``anonymous`` rule). With
    ``cohort_audiences``, only when it names the audience's ``computation_key``."""
    if event.type == "track":
        if event.event not in AUDIENCE_EVENTS:
            return False
        personas = _personas(event)
        return personas is not None and _synced(personas, scope.settings)
    traits = event.traits
    if not traits:
        return False
    personas = _personas(event)
    if personas is None:
        return False
    key = personas.get("computation_key")
    return (type(key) is str and type(traits.get(key)) is bool
            and personas.get("computation_class", "audience") == "audience"
            and scope.identifier is not None and _synced(personas, scope.settings))


def _synced(personas: Mapping[str, Any], settings: Settings) -> bool:
    """Whether the audience is one ``cohort_audiences`` names (all, when it is unset)."""
    names = settings.cohort_audiences
    if names is None:
        return True
    key = personas.get("computation_key")
    return type(key) is str and key in names


def device_id_of(event: Track | Identify) -> str | None:
    """``context.device.id``, when it is a non-blank string."""
    context = event.context
    device = context.device if context is not None else None
    if not isinstance(device, Mapping):
        return None
    found = device.get("id")
    return found if type(found) is str and found.strip() else None


def cohort_member(event: Track | Identify,
                  settings: Settings) -> tuple[CohortArray, str | UserAlias] | None:
    """Who the cohort change is about, and the array of ``cohort_changes`` that names
    them: the external id (``userId``), else, with ``anonymous_users="alias"``, the
    anonymous user alias, else, with ``cohort_device_ids``, the device id
    (``context.device.id``: Braze matches device ids to anonymous users only); ``None``
    when none of them."""
    user_id = event.user_id
    if user_id and not user_id.isspace():
        return ("user_ids", user_id)
    anonymous_id = event.anonymous_id
    if settings.anonymous_users == "alias" and anonymous_id and not anonymous_id.isspace():
        return ("aliases", UserAlias(anonymous_id, settings.alias_label))
    if settings.cohort_device_ids:
        device_id = device_id_of(event)
        if device_id is not None:
            return ("device_ids", device_id)
    return None


def _text(personas: Mapping[str, Any], key: str) -> str:
    """``context.personas[key]``: the audience's id or key, which Braze needs as a
    non-empty string."""
    value = personas.get(key)
    if value is None:
        reject((*_PERSONAS, key), "required: the cohort's id and name come from "
                                  "computation_id and computation_key")
    if type(value) is not str or not value.strip():
        shown = "a blank string" if type(value) is str else json_type(value)
        reject((*_PERSONAS, key), f"expected a non-empty string, got {shown}")
    return value


def _check_track(event: Track, name: str, remove: bool) -> None:
    """Engage repeats the audience on the event: a disagreement means the event cannot be
    read faithfully."""
    properties = event.properties or {}
    key = properties.get(AUDIENCE_KEY_PROPERTY)
    if key is not None and key != name:
        reject(("properties", AUDIENCE_KEY_PROPERTY),
               f"names the audience {key!r}, but context.personas.computation_key is "
               f"{name!r}")
    member = properties.get(name)
    if type(member) is bool and member == remove:
        reject(("properties", name), f"is {str(member).lower()}, but the event is "
                                     f"{event.event!r}")


def _no_member_reason(settings: Settings) -> str:
    hints = []
    if settings.anonymous_users != "alias":
        hints.append(", or set anonymous_users='alias' to add anonymous users by user alias")
    if not settings.cohort_device_ids:
        hints.append(", or cohort_device_ids=True to add them by context.device.id")
    return ("no cohort identifier: a cohort change names the user by userId or, in alias "
            "mode, by anonymousId (Braze's cohort import takes no braze_id or email)"
            f"{''.join(hints)}")


def audience_to_cohort(event: Track | Identify, scope: Scope) -> tuple[Output, ...]:
    """An audience change -> the cohort's name (``/partners/segment/cohorts``) and the
    user's membership change (``/partners/segment/cohorts/users``: added on ``Audience
    Entered`` or ``true``, removed on ``Audience Exited`` or ``false``). The user is
    named by userId, else in alias mode by anonymousId, else with ``cohort_device_ids``
    by ``context.device.id``; a user with none of them is skipped (a track), or keeps
    the audience as a custom attribute with a notice (an identify: nothing is emitted
    here, and :func:`other_traits` sends every trait)."""
    personas = cast("Mapping[str, Any]", _personas(event))  # the matcher checked it
    cohort_id = _text(personas, "computation_id")
    name = _text(personas, "computation_key")
    settings = scope.settings
    member = cohort_member(event, settings)
    if type(event) is Track:
        remove = AUDIENCE_EVENTS[event.event]
        _check_track(event, name, remove)
        if member is None:
            return (Skip(_no_member_reason(settings)),)
    else:
        identify = cast("Identify", event)
        if member is None:
            scope.notice(("traits", name), f"{_no_member_reason(settings)}; sent as a custom "
                         "attribute instead")
            return ()
        remove = not (identify.traits or {})[name]
    time = scope.time()
    array, user = member
    change = CohortChange(**{array: (user,)}, should_remove=remove)  # type: ignore[arg-type]
    return (CohortName(cohort_id=cohort_id, name=name, created_at=time),
            CohortUsers(cohort_id=cohort_id, cohort_changes=(change,), times=(time,)))


def _kept(emitted: tuple[Output, ...], other_traits: bool) -> tuple[Output, ...]:
    """What the identify body emitted on the other traits, without an attributes object
    left with nothing to write (unless it creates an alias profile)."""
    if not other_traits:
        return emitted
    return tuple(out for out in emitted
                 if not (type(out) is UserAttributes and not out.values
                         and out.update_existing_only is not False))


@attrs.frozen(repr=False)
class _OtherTraits:
    emit: Emitter

    @property
    def parts(self) -> tuple[Emitter, ...]:
        return (self.emit,)

    def _event(self, event: Track | Identify, scope: Scope) -> Identify | None:
        """The identify ``emit`` sees: without the audience's trait when the user has a
        cohort identifier; the event itself when not (the audience stays an attribute);
        ``None`` for a track (its audience is all it says)."""
        if type(event) is not Identify:
            return None
        if cohort_member(event, scope.settings) is None:
            return event  # the audience stays a custom attribute
        name = cast("Mapping[str, Any]", _personas(event))["computation_key"]
        return attrs.evolve(event, traits={k: v for k, v in (event.traits or {}).items()
                                           if k != name})

    def __call__(self, event: Track | Identify, scope: Scope) -> tuple[Output, ...]:
        given = self._event(event, scope)
        if given is None:
            return ()
        return _kept(tuple(self.emit(given, scope)), given is not event)

    def explain(self, event: Track | Identify,
                scope: Scope) -> tuple[tuple[Output, ...], tuple[Trace, ...]]:
        given = self._event(event, scope)
        if given is None:
            return (), (Trace(emitter=self.emit, ran=False, note="not run: not an identify"),)
        inner = trace(self.emit, given, scope)
        return _kept(inner.emitted, given is not event), (inner,)

    def __repr__(self) -> str:
        return f"other_traits({name_of(self.emit)})"


def other_traits(emit: Emitter) -> Emitter:
    """For an identify that changes an audience: ``emit`` (the identify row's body) on
    the traits other than the audience's, with an attributes object left empty dropped
    (unless it creates an alias profile). When the user has no cohort identifier, on
    every trait: the audience stays a custom attribute. Nothing for a track."""
    return _OtherTraits(emit)
