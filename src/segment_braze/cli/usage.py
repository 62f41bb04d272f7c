"""What the command tells its caller: its name, its exit statuses, and usage errors."""

from __future__ import annotations

from typing import Final

__all__ = ["ERROR", "OK", "PROG", "REJECTED", "UsageError"]

PROG: Final = "segment-braze"

#: Exit statuses: every line accounted for; a line rejected with ``--fail-on-reject``;
#: a usage or I/O error.
OK: Final = 0
REJECTED: Final = 1
ERROR: Final = 2


class UsageError(Exception):
    """A mistake on the command line or in what it names; reported in one line, exit 2."""
