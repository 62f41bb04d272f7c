"""The requests ``segment-braze translate`` writes, read back into request objects.

Each line is ``{"endpoint": ..., "body": ..., "origins": {...}}``; ``body`` is what
``to_json()`` gave. Reading it back gives the same request (``to_json()`` equal, origins
equal), so ``send`` can place it in lanes by its users, journal its entries and split
Braze's answer per entry. The class is found by path among the library's request
classes (``REQUEST_CLASSES``), and each declaration's ``read`` (the inverse of its
``body``) reads the body; an endpoint without one is refused by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from .. import _json
from ..braze import REQUEST_CLASSES, Request

__all__ = ["CLASSES", "read_requests", "request_from_json"]

#: Endpoint path -> the request class whose declaration can read its bodies.
CLASSES: Final[Mapping[str, type[Request]]] = {
    cls.endpoint: cls for cls in REQUEST_CLASSES if cls.ENDPOINT.read is not None}


def request_from_json(line: Mapping[str, Any]) -> Request:
    """One line of ``translate``'s output as a request. Raises ``ValueError`` (naming
    what is wrong) for a line that is not one."""
    if not isinstance(line, Mapping):
        raise ValueError("not a JSON object")
    endpoint = line.get("endpoint")
    cls = CLASSES.get(endpoint) if isinstance(endpoint, str) else None
    if cls is None:
        raise ValueError(f"unknown endpoint {endpoint!r}")
    read = cls.ENDPOINT.read
    assert read is not None  # noqa: S101 - CLASSES holds only readable endpoints
    body, origins = line.get("body"), line.get("origins", {})
    if not isinstance(body, Mapping) or not isinstance(origins, Mapping):
        raise ValueError("body and origins must be JSON objects")
    try:
        fields = read(body)
        return cls(origins={str(k): tuple(v) for k, v in origins.items()},  # type: ignore[call-arg]
                   **fields)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"{endpoint}: a body of the wrong shape ({type(error).__name__}: "
                         f"{error})") from None


_READ_ERRORS: Final[tuple[type[Exception], ...]] = (*_json.DecodeError, ValueError)


def read_requests(lines: Iterable[bytes | str]) -> Iterator[Request]:
    """The requests of an NDJSON stream (blank lines skipped). Raises ``ValueError``
    naming the line (from 1) of the first line that is not a request."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield request_from_json(_json.loads(line))
        except _READ_ERRORS as error:
            raise ValueError(f"line {number}: {error}") from None
