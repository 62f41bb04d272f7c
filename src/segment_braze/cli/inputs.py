"""The inputs of a run, read with :mod:`segment_braze.archive`, every line counted.

The command line adds to the archive reader only what a run needs: usage errors for
inputs that are not there, the count of lines and files, unreadable lines rejected, and
read faults reported (above the progress line) when their input ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

from .. import _json
from ..archive import EventLine, ReadFailure, Source, find_sources, read_file, read_source
from ..errors import error_reason
from .accounting import Accounts, Rejects
from .progress import Progress
from .usage import PROG, UsageError

__all__ = ["read_event", "read_lines", "report", "sources"]


def sources(inputs: Sequence[str]) -> list[Source]:
    """The inputs named on the command line (:func:`~segment_braze.archive.find_sources`),
    or a :class:`UsageError` naming the first that is missing, a directory without any
    input file (most likely the wrong directory), or standard input named twice."""
    try:
        return find_sources(inputs)
    except OSError as error:
        raise UsageError(f"{error.filename}: {error_reason(error)}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None


def read_lines(sources: Sequence[Source], tally: Accounts, rejects: Rejects,
               progress: Progress, stdin: IO[bytes]) -> Iterator[tuple[EventLine, int]]:
    """Every line of every input that holds JSON, with its position (the 0-based number
    of the line among all lines read), for the command to convert. Each line is counted
    as read; a line too large or not JSON is rejected here, and the command accounts for
    every line it is given.

    A read fault ends its input only; it is counted in ``tally.errors`` and reported when
    that input ends.
    """
    for source in sources:
        tally.files += 1
        failures: list[ReadFailure] = []
        for item in read_source(source, failures=failures, stdin=stdin,
                                progress=progress.advance):
            position = tally.read
            tally.read = position + 1
            reason = item.reason
            if reason is not None:
                rejects.add(item, item.problems, reason)
                continue
            yield item, position
        for failure in failures:
            report(failure, tally, progress)


def report(failure: ReadFailure, tally: Accounts, progress: Progress) -> None:
    """A read fault, once its input has ended: counted in ``tally.errors`` and shown
    above the progress line."""
    tally.errors.append(str(failure))
    progress.message(f"{PROG}: error: {failure}")


def read_event(given: str, stdin: IO[bytes]) -> Any:
    """The one event ``explain`` is given: JSON text, a file (gzipped or not), or ``-``
    for standard input."""
    inline = given.lstrip().startswith(("{", "["))
    if inline:
        data = given.encode()
    elif given == "-":
        data = stdin.read()
    else:
        try:
            data = read_file(given)
        except OSError as error:
            raise UsageError(f"{given}: {error_reason(error)}") from None
    try:
        event = _json.loads(data)
    except _json.DecodeError as error:
        raise UsageError(f"{'the event' if inline else given} is not one JSON event: "
                         f"{error_reason(error)}") from None
    if not isinstance(event, dict):
        raise UsageError("expected one event (a JSON object)")
    return event
