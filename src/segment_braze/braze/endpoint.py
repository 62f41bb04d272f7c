"""What an endpoint is: one declaration per request class, read by every later stage.

Each request class carries an :class:`Endpoint` (``UsersTrack.ENDPOINT``): its path, its
parts (the arrays of the body, in the order Braze applies them) and, for each part, its
per-request limit, the users an entry names, and what a delivered entry does to what
change tracking may trust. Batching, change tracking, delivery and the command line's
accounting read this declaration and nothing else, so adding an endpoint is writing one
class (see ``docs/architecture.md``).

A request also remembers, for every entry of every part, where it came from (the event's
``messageId``, else its position in the stream): its ``origins``. Requests are built from
``(entry, origin)`` pairs (:meth:`Request.from_pairs`, :meth:`Request.with_origin`), and
a request given origins directly checks that they match its entries one for one, so the
two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import attrs

from .. import _json
from ..limits import RateLimit
from .objects import UserKey

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "Batching",
    "Effect",
    "Endpoint",
    "HttpRequest",
    "Origin",
    "Part",
    "Request",
]

#: Where an entry came from: the event's ``messageId``, else its position in the stream.
Origin: TypeAlias = str | int | None

#: What a delivered entry does to what change tracking may trust about the users it names:
#:
#: - ``"values"``: it writes attribute values (a user attributes object): they can be
#:   remembered, and equal values later left out;
#: - ``"none"``: it writes no attribute (events, purchases, cohort membership);
#: - ``"forget"``: every user it names is gone (a deletion): nothing is known of them;
#: - ``"merge"``: the first user it names is folded into the second (``/users/merge``):
#:   nothing is known of the first, and the second's values are unknown;
#: - ``"join"``: an alias (the first user named) now reaches the second user, when there
#:   is one (``/users/alias/new``): the values of both are unknown;
#: - ``"join_once"``: the same, and the pair is remembered so that it is sent once
#:   (``/users/identify``);
#: - ``"name"``: it names something (a cohort) that needs naming once per name.
#:
#: An endpoint whose entries may change attributes in any other way must say
#: ``"forget"``: change tracking then never trusts a value it might have changed.
Effect: TypeAlias = Literal["values", "none", "forget", "merge", "join", "join_once", "name"]

#: How batching merges requests of an endpoint:
#:
#: - ``"ordered"``: entries fill requests up to each part's limit, never before an
#:   earlier entry of a user they name (Braze applies the parts of a request in order,
#:   and requests in the order they are sent);
#: - ``"latest"``: one entry per user per request, the newest (by the entry's ``time``,
#:   then stream order) winning; the origins of the entries it replaced are kept under
#:   ``origins["superseded"]``. Such entries do not touch other endpoints' users
#:   (cohort membership);
#: - ``"once"``: the request goes out once per stream for each distinct value of its
#:   ``distinct`` fields within its group (a cohort's name: again when it changes),
#:   after every ``"latest"`` entry of the same group placed before it.
Batching: TypeAlias = Literal["ordered", "latest", "once"]


@attrs.frozen
class Part:
    """One part of a request body: an array of entries (or, with ``single``, the whole
    body as one entry).

    ``users(entry)`` names the users an entry touches (an identify names the alias and
    the user); ``repeat_users`` says whether one user may have several entries in one
    request (``/users/track`` objects: yes; Braze processes merges and identifies in no
    guaranteed order, so there: no). ``adjustable`` parts take a lower limit from
    ``batch(max_objects=...)`` (accounts on smaller contracts). ``read`` is the
    attribute holding the entries, when it is not ``name``. ``idempotent``: an entry
    sent again, with nothing of its users in between, does nothing more (a deletion, an
    identify merge), so batching merges such a repeat into the earlier entry and keeps
    its origin under ``origins["superseded"]``.
    """

    name: str
    limit: int
    users: Callable[[Any], tuple[UserKey, ...]]
    effect: Effect
    repeat_users: bool = False
    adjustable: bool = False
    single: bool = False
    read: str = ""
    idempotent: bool = False

    @property
    def attribute(self) -> str:
        """The request attribute holding this part's entries."""
        return self.read or self.name


@attrs.frozen
class Endpoint:
    """Everything the stages after translation need to know of one endpoint.

    ``group`` names the request fields that requests must share to be merged
    (``merge_behavior``; ``cohort_id``); for ``once`` endpoints, ``distinct`` names the
    fields whose change sends the request again (a cohort's ``name``). ``combined``:
    ``batch(max_total=...)`` caps the parts together; ``total_limit``: Braze's own cap
    on the parts together, whatever ``max_total`` says. ``credentials``: a bearer header
    with the REST API key, or the cohort secrets in the body. ``read`` is the inverse of
    ``body``: a body read back into the request's fields (``segment-braze send`` reads
    ``translate``'s output with it); ``None`` when such requests cannot be read back.
    """

    path: str
    parts: tuple[Part, ...]
    body: Callable[[Any], dict[str, Any]]
    rate_limit: RateLimit
    batching: Batching = "ordered"
    group: tuple[str, ...] = ()
    distinct: tuple[str, ...] = ()
    combined: bool = False
    total_limit: int | None = None
    credentials: Literal["bearer", "body"] = "bearer"
    read: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    def part(self, name: str) -> Part:
        """The part called ``name``; ``KeyError`` when there is none."""
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)


@attrs.frozen(repr=False)
class HttpRequest:
    """A ready-to-send HTTP request. ``headers`` holds the REST API key; ``repr`` and
    ``str`` mask it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        shown = {k: ("Bearer ***" if k.lower() == "authorization" else v)
                 for k, v in self.headers.items()}
        return (f"HttpRequest(method={self.method!r}, url={self.url!r}, headers={shown!r}, "
                f"body=<{len(self.body)} bytes>)")

    __str__ = __repr__


#: Keys of ``origins`` that are not parts: entries a batched request accounts for without
#: carrying them (see ``Batching``'s ``"latest"``).
EXTRA_ORIGINS: frozenset[str] = frozenset({"superseded"})


class Request:
    """What every request shares: its endpoint declaration, origins, JSON body and HTTP
    form. A subclass sets ``ENDPOINT``; ``endpoint`` (the path) and ``arrays`` (the
    names of the body's arrays) follow from it. Origins given directly are checked
    against the entries, after an attrs subclass's ``__init__``."""

    ENDPOINT: ClassVar[Endpoint]
    #: The endpoint's path, e.g. ``"/users/track"``.
    endpoint: ClassVar[str]
    #: The names of the body's arrays, in the order Braze applies them.
    arrays: ClassVar[tuple[str, ...]]
    #: For each part, the origin of each entry, in order.
    origins: Mapping[str, tuple[Origin, ...]]
    _origin_parts: ClassVar[tuple[tuple[str, str], ...]]
    _origin_keys: ClassVar[frozenset[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("ENDPOINT")
        if declared is not None:
            if not isinstance(declared, Endpoint):
                raise TypeError(f"{cls.__name__}.ENDPOINT must be an Endpoint")
            cls.endpoint = declared.path
            cls.arrays = tuple(p.name for p in declared.parts if not p.single)
            # What checking origins needs, read once: each part's name and the attribute
            # holding its entries ("" for a request that is its own one entry), and
            # every key origins may have.
            cls._origin_parts = tuple((p.name, "" if p.single else p.attribute)
                                      for p in declared.parts)
            cls._origin_keys = frozenset(p.name for p in declared.parts) | EXTRA_ORIGINS

    def __attrs_post_init__(self) -> None:
        self._check_origins()

    # -- entries and origins -------------------------------------------------------------

    def entries(self, part: Part) -> tuple[Any, ...]:
        """The entries of one part, in the body's order."""
        if part.single:
            return (self,)
        return getattr(self, part.attribute)  # type: ignore[no-any-return]

    def pairs(self, part: Part) -> Iterator[tuple[Any, Origin]]:
        """``(entry, origin)`` for each entry of one part."""
        entries = self.entries(part)
        return zip(entries, self.origins.get(part.name, (None,) * len(entries)), strict=True)

    def _default_origins(self) -> dict[str, tuple[Origin, ...]]:
        self._declaration()
        return self._origins_from(None)

    def _declaration(self) -> Endpoint:
        endpoint = getattr(type(self), "ENDPOINT", None)
        if not isinstance(endpoint, Endpoint):
            raise TypeError(f"{type(self).__name__} declares no ENDPOINT")
        return endpoint

    def _origins_from(self, origin: Origin) -> dict[str, tuple[Origin, ...]]:
        out = {}
        for part in self.ENDPOINT.parts:
            count = len(self.entries(part))
            if count:
                out[part.name] = (origin,) * count
        return out

    def _check_origins(self) -> None:
        """Origins given directly must match the entries one for one."""
        try:
            parts = self._origin_parts
        except AttributeError:
            self._declaration()  # raises: the class declares no ENDPOINT
            raise
        origins = self.origins
        for name, attribute in parts:
            count = len(getattr(self, attribute)) if attribute else 1
            given = origins.get(name)
            if given is None:
                if count:
                    raise ValueError(f"{type(self).__name__}: origins has no entry "
                                     f"{name!r} for its {count} entries")
            elif len(given) != count:
                raise ValueError(f"{type(self).__name__}: origins[{name!r}] has "
                                 f"{len(given)} origins for {count} entries")
        keys = self._origin_keys
        for key in origins:
            if key not in keys:
                unknown = sorted(k for k in origins if k not in keys)
                raise ValueError(f"{type(self).__name__}: origins names no part "
                                 f"{unknown!r}")

    def with_origin(self, origin: Origin) -> Any:
        """The same request with every entry marked as coming from ``origin``."""
        return attrs.evolve(self, origins=self._origins_from(origin))  # type: ignore[misc]

    @classmethod
    def from_pairs(cls, parts: Mapping[str, Sequence[tuple[Any, Origin]]], *,
                   extra_origins: Mapping[str, tuple[Origin, ...]] | None = None,
                   **fields: Any) -> Any:
        """A request whose part ``name`` holds the entries of ``parts[name]``, each with
        its origin; ``fields`` are the request's other fields (``cohort_id``, ...);
        ``extra_origins`` the origins it accounts for without carrying them
        (``superseded``)."""
        origins: dict[str, tuple[Origin, ...]] = {}
        for part in cls.ENDPOINT.parts:
            pairs = parts.get(part.name, ())
            fields[part.attribute] = tuple(entry for entry, _ in pairs)
            if pairs:
                origins[part.name] = tuple(origin for _, origin in pairs)
        if extra_origins:
            origins.update(extra_origins)
        return cls(origins=origins, **fields)  # type: ignore[call-arg]

    def origin_of(self, array: str, index: int) -> Origin:
        """Which event the entry ``index`` of ``array`` (e.g. ``"events"``) came from:
        its ``messageId``, else its position in the stream.

        Raises ``KeyError`` for an array the body does not have and ``IndexError`` for an
        index beyond it.
        """
        if index < 0:
            raise IndexError(index)
        return self.origins[array][index]

    def size(self) -> int:
        """Number of entries across the parts (what Braze's limits count)."""
        return sum(len(self.entries(part)) for part in self.ENDPOINT.parts)

    # -- wire forms ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready body: a dict of plain JSON types, without credentials."""
        return self.ENDPOINT.body(self)

    def to_http(self, settings: Settings) -> HttpRequest:
        """The request as method, URL, headers and body bytes, with its credentials: the
        REST API key as a bearer header, or (cohort endpoints) the two cohort secrets
        first in the body.

        Raises :class:`~segment_braze.InvalidSettings` when ``rest_endpoint`` or the
        credentials are not set.
        """
        url = settings.require_rest_endpoint() + self.endpoint
        body = self.to_json()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.ENDPOINT.credentials == "bearer":
            headers = {"Authorization": f"Bearer {settings.require_rest_api_key()}",
                       **headers}
        else:
            partner_api_key, client_secret = settings.require_cohort_secrets()
            body = {"partner_api_key": partner_api_key, "client_secret": client_secret,
                    **body}
        return HttpRequest(method="POST", url=url, headers=headers, body=_json.dumps(body))


def origins_field() -> Any:
    """The ``origins`` field of a request class: every entry from nowhere by default, and
    checked against the entries when given."""
    return attrs.field(default=attrs.Factory(Request._default_origins, takes_self=True),
                       eq=False, repr=False)
