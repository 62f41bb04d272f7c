"""JSON in and out: orjson when it is installed, the standard library otherwise.

Both produce compact UTF-8 and refuse NaN and infinities, which are not JSON and which
Braze would reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["BACKEND", "dumps", "loads", "std_dumps", "std_loads", "text"]


def std_dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON by the standard library, whichever backend is in use."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def std_loads(data: bytes | str) -> Any:
    """JSON read by the standard library, whichever backend is in use."""
    return json.loads(data)


def text(obj: Any) -> str:
    """``obj`` as compact JSON text, for messages, which must never fail: NaN and the
    infinities spelled as in JavaScript (a value the standard library read may hold
    them: it is shown as it was written); its ``repr`` when it cannot be JSON (a value of
    another type, a cycle, nesting too deep)."""
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(obj)


#: Exceptions that mean "not JSON" (deep nesting included) for both backends.
DecodeError: tuple[type[Exception], ...] = (ValueError, RecursionError)

dumps: Callable[[Any], bytes]
loads: Callable[[bytes | str], Any]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised when the extra is not installed
    BACKEND = "json"
    dumps = std_dumps
    loads = std_loads
else:
    BACKEND = "orjson"
    dumps = orjson.dumps
    loads = orjson.loads
