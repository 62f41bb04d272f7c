"""The pipelines the commands run: read, parse and translate (with change tracking when
there is a store), or convert Currents records; batch; write and count the requests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from ..archive import Source
from ..braze import Request
from ..tracking import StateStore, Tracker
from ..translate import Translator
from .accounting import CurrentsTally, Rejects, Tally
from .inputs import read_lines
from .progress import Progress

__all__ = ["batched", "convert", "tracker_of", "translate", "write_requests"]


def translate(sources: Sequence[Source], translator: Translator, tracker: Tracker | None,
              tally: Tally, rejects: Rejects, progress: Progress,
              stdin: IO[bytes]) -> Iterator[Request]:
    """Read, parse and translate every input (through the change ``tracker``, when there
    is one): the requests, in input order. Each line is counted as exactly one of
    translated, skipped or rejected.

    An event without a ``messageId`` is named in origins by its position: the 0-based
    number of its line among all lines read.
    """
    translate_one = translator.translate
    accept = tally.accept
    for item, position in read_lines(sources, tally, rejects, progress, stdin):
        try:
            translation = translate_one(item.event, position=position)
            if tracker is not None:
                translation = tracker.apply(translation)
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            rejects.failed(item, error)
            continue
        yield from accept(translation)


def convert(sources: Sequence[Source], event_type: str | None, tally: CurrentsTally,
            rejects: Rejects, progress: Progress, stdin: IO[bytes]
            ) -> Iterator[dict[str, Any]]:
    """Read, parse and convert every input of Braze Currents records: the Segment track
    messages, in input order. Each line is counted as exactly one of converted, skipped
    or rejected. ``event_type`` is the type of records that do not carry one.

    One :func:`~segment_braze.currents.convert` per line, as
    :func:`~segment_braze.currents.convert_many` does, so each result stays tied to its
    line (a rejected one is written with its source and number).
    """
    from .. import currents  # imported here: translate runs never need it

    converter = currents.make_converter()
    skipped = tally.skipped
    messages = tally.messages
    for item, position in read_lines(sources, tally, rejects, progress, stdin):
        try:
            result = currents.convert(item.event, event_type=event_type, position=position,
                                      converter=converter)
        except Exception as error:  # InvalidEvent, or a bug: counted, the run goes on
            rejects.failed(item, error)
            continue
        message = result.message
        if message is None:
            skipped.add(result.skipped or "not converted")
            continue
        messages[message["event"]] += 1
        yield message


def batched(requests: Iterator[Request], *, batch: bool,
             max_total: int | None) -> Iterator[Request]:
    if not batch:
        return requests
    from ..batching import iter_batches  # imported here: --no-batch runs never need it

    return iter_batches(requests, max_total=max_total)


def write_requests(requests: Iterable[Request], out: IO[bytes] | None, tally: Tally,
                   dumps: Callable[[Any], bytes]) -> None:
    """Count every request; write each as one NDJSON line (unless ``out`` is ``None``)."""
    count = tally.count_request
    if out is None:
        for request in requests:
            count(request)
        return
    write = out.write
    for request in requests:
        count(request)
        write(dumps({"endpoint": request.endpoint, "body": request.to_json(),
                     "origins": dict(request.origins)}))
        write(b"\n")


def tracker_of(store: StateStore | None) -> Tracker | None:
    """The change tracker of ``translate`` and ``validate``, with a store: values are
    committed as soon as translated (the run writes files; it sends nothing)."""
    return None if store is None else Tracker(store, commit="on_translate")
