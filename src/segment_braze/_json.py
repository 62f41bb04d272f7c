"""JSON in and out: orjson when it is installed, the standard library otherwise.

Both produce compact UTF-8 and refuse NaN and infinities, which are not JSON and which
Braze would reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["BACKEND", "dumps", "loads"]

def _std_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _std_loads(data: bytes | str) -> Any:
    return json.loads(data)


#: Exceptions that mean "not JSON" (deep nesting included) for both backends.
DecodeError: tuple[type[Exception], ...] = (ValueError, RecursionError)

dumps: Callable[[Any], bytes]
loads: Callable[[bytes | str], Any]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised when the extra is not installed
    BACKEND = "json"
    dumps = _std_dumps
    loads = _std_loads
else:
    BACKEND = "orjson"
    dumps = orjson.dumps
    loads = orjson.loads

std_dumps = _std_dumps
std_loads = _std_loads
