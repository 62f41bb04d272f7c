"""The dead letter: every entry Braze refused or that was given up on, one NDJSON line
each, in the shape of the command line's ``--rejects`` file, extended.

The ``--rejects`` keys say what and why: ``source`` (here the endpoint), ``line``
(``null``: a request has no line), ``original`` (the entry as compact JSON text) and
``problems`` (``path`` into the request body, ``message``, ``rule``: ``null``). The
other keys say enough to send the entry again once fixed: ``endpoint``, ``array`` and
``index`` (where it was in the request), ``entry`` (its wire form), ``origin`` (the
event's ``messageId``, else its position), ``status`` (``refused``: Braze said no;
``gave_up``: still failing after the last retry), ``http_status`` (0 when the transport
itself failed), ``message`` (Braze's message) and ``attempts``. No line holds a secret:
credentials are added by ``to_http`` and never kept, and messages are masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any, Literal, TypeAlias

import attrs

from .. import _json
from ..braze import Origin

__all__ = ["DeadLetter", "DeadStatus", "entry_json"]

DeadStatus: TypeAlias = Literal["refused", "gave_up"]


def entry_json(entry: Any) -> Any:
    """An entry's wire form: its ``to_json()``, its fields for a record without one (a
    cohort member), else the value itself (an external id)."""
    to_json = getattr(entry, "to_json", None)
    if to_json is not None:
        return to_json()
    if attrs.has(type(entry)):
        return attrs.asdict(entry)
    return entry


def record(*, endpoint: str, array: str, index: int, entry: Any, origin: Origin,
           status: DeadStatus, http_status: int, message: str, attempts: int
           ) -> dict[str, Any]:
    """One dead-letter line."""
    wire = entry_json(entry)
    return {"source": endpoint, "line": None, "original": _json.text(wire),
            "problems": [{"path": f"$.{array}[{index}]", "message": message, "rule": None}],
            "endpoint": endpoint, "array": array, "index": index, "entry": wire,
            "origin": origin, "status": status, "http_status": http_status,
            "message": message, "attempts": attempts}


class DeadLetter:
    """Appends dead-letter lines to a file (created with its folder if missing; a
    restart adds to it) or to a binary stream given open."""

    def __init__(self, target: str | os.PathLike[str] | IO[bytes]) -> None:
        if isinstance(target, str | os.PathLike):
            path = os.fspath(target)
            folder = os.path.dirname(path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            self._out: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by close()
            self._owned = True
            self.name = path
        else:
            self._out = target
            self._owned = False
            self.name = getattr(target, "name", "<stream>")
        self.written = 0

    def __repr__(self) -> str:
        return f"DeadLetter({self.name!r})"

    def write(self, line: Mapping[str, Any]) -> None:
        self._out.write(_json.dumps(line) + b"\n")
        self.written += 1

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self.flush()
        if self._owned:
            self._out.close()
