"""The command line's delivery commands: ``send``, ``replay`` and ``seed-state``.

``send REQUESTS.ndjson...`` sends what ``translate`` wrote; ``replay INPUT...`` reads
Segment events, translates, batches and sends them in one streamed pipeline;
``seed-state INPUT...`` reads Braze's profiles of the users those events write into a
state file, so a first replay sends only values that differ. All three read the REST API
key from the settings file or ``BRAZE_REST_API_KEY`` (never from a flag: command lines
end up in shell histories), send with ``httpx`` (the ``send`` extra), and account for
what they read as ``translate`` does; exit statuses are the same, a dead-lettered entry
counting as a rejected line for ``--fail-on-reject``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, Final

import attrs

from ..archive import Source
from ..batching import iter_batches
from ..braze import Request
from ..delivery import DeliveryReport, deliver, export_requests, seed_store
from ..delivery.wire import request_from_json
from ..errors import InvalidSettings, Problem, error_reason
from ..settings import Settings
from ..tracking import SQLiteStore, Tracker
from ..translate import Translation, Translator
from .accounting import Accounts, Rejects, Tally
from .arguments import KEY_VARIABLE, load_settings
from .inputs import read_lines, sources
from .pipeline import translate
from .progress import Progress, is_terminal
from .session import Streams, finish, make_parent, session
from .usage import OK, REJECTED, UsageError

__all__ = ["TIMEOUT", "replay", "seed_state", "send"]

#: Seconds the transport waits for Braze before the attempt counts as failed.
TIMEOUT: Final = 30.0


# -- what every delivery command shares ---------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of ``--settings``, the key from the environment when the file has
    none; a REST endpoint and a key are required."""
    settings = load_settings(args)
    if settings.rest_api_key is None and os.environ.get(KEY_VARIABLE):
        try:
            settings = attrs.evolve(settings, rest_api_key=os.environ[KEY_VARIABLE])
        except InvalidSettings as error:
            raise UsageError(f"{KEY_VARIABLE}: {error}") from None
    try:
        settings.require_rest_endpoint()
        settings.require_rest_api_key()
    except InvalidSettings as error:
        raise UsageError(f"sending needs {error} (the REST API key may also come "
                         f"from {KEY_VARIABLE})") from None
    return settings


@contextlib.contextmanager
def _transport(lanes: int) -> Iterator[Callable[[Any], Any]]:
    """An httpx client shared by the lanes, closed at the end."""
    try:
        httpx = importlib.import_module("httpx")
    except ImportError:
        raise UsageError("sending needs httpx: pip install 'segment-braze[send]'") from None
    client = httpx.Client(timeout=TIMEOUT, limits=httpx.Limits(
        max_connections=lanes, max_keepalive_connections=lanes))

    def send(request: Any) -> Any:
        return client.request(request.method, request.url, headers=dict(request.headers),
                              content=request.body)

    try:
        yield send
    finally:
        client.close()


def _open_state(path: str | None) -> SQLiteStore | None:
    """The state file of a delivery command: committed as acknowledgements come."""
    if path is None:
        return None
    try:
        make_parent(path)
        return SQLiteStore(path)
    except (OSError, ValueError, sqlite3.Error) as error:
        raise UsageError(f"{path}: cannot open the state file: {error_reason(error)}"
                         ) from None


def _progress(stream: IO[str]) -> Callable[[DeliveryReport], None] | None:
    """A status line on a terminal, redrawn every second; nothing otherwise."""
    if not is_terminal(stream):
        return None

    def show(report: DeliveryReport) -> None:
        if report.complete:
            stream.write("\r\x1b[K")
        else:
            stream.write(f"\r{report.delivered:,} delivered, {report.dead_lettered:,} "
                         f"dead-lettered, {report.requests_per_second:,.0f} requests/s ")
        stream.flush()

    return show


def _deliver(args: argparse.Namespace, streams: Streams, settings: Settings,
             requests: Iterator[Request], tracker: Tracker | None) -> DeliveryReport:
    for path in (args.journal, args.dead_letter):
        if path is not None:
            make_parent(path)
    with _transport(args.lanes) as transport:
        try:
            return deliver(requests, transport, settings, lanes=args.lanes, tracker=tracker,
                           journal=args.journal, dead_letter=args.dead_letter,
                           progress=_progress(streams.stderr))
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{args.journal}: cannot use the journal: "
                             f"{error_reason(error)}") from None


def _status(args: argparse.Namespace, status: int, report: DeliveryReport | None) -> int:
    if status == OK and args.fail_on_reject and report is not None and report.dead_lettered:
        return REJECTED
    return status


class _Delivered:
    """The delivery report's part of a summary."""

    delivery: DeliveryReport | None = None

    def _delivery_json(self) -> dict[str, Any]:
        return {"delivery": self.delivery.to_json() if self.delivery else None}

    def _delivery_lines(self) -> list[str]:
        return [self.delivery.render()] if self.delivery is not None else []


# -- send ------------------------------------------------------------------------------


class SendTally(_Delivered, Accounts):
    """What ``send`` read: lines that were requests, and lines that were not."""

    DONE = "requests"

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    @property
    def done(self) -> int:
        return self.requests

    def to_json(self) -> dict[str, Any]:
        return {**self._json_counts(), "files": self.files, "errors": list(self.errors),
                **self._delivery_json()}

    def render(self, *, seconds: float) -> str:
        return "\n".join([*self._render_counts(seconds), *self._delivery_lines()])


def _read(inputs: Sequence[Source], tally: SendTally, rejects: Rejects, progress: Progress,
          stdin: IO[bytes]) -> Iterator[Request]:
    """The requests of the input files; a line that is not one is rejected."""
    for item, _ in read_lines(inputs, tally, rejects, progress, stdin):
        try:
            request = request_from_json(item.event)
        except ValueError as error:
            rejects.add(item, (Problem("$", str(error)),), "not a request", str(error))
            continue
        tally.requests += 1
        yield request


def _tracked(requests: Iterator[Request], tracker: Tracker) -> Iterator[Request]:
    """``send --state``: each request split by origin, the values Braze already has left
    out as they would have been at translation, and batched again."""
    def pieces() -> Iterator[Request]:
        for request in requests:
            endpoint = type(request).ENDPOINT
            by_origin: dict[Any, dict[str, list[tuple[Any, Any]]]] = {}
            for part in endpoint.parts:
                for pair in request.pairs(part):
                    by_origin.setdefault(pair[1], {}).setdefault(part.name, []).append(pair)
            fields = {name: getattr(request, name) for name in endpoint.group}
            names = {part.name for part in endpoint.parts}
            extra = {k: v for k, v in request.origins.items() if k not in names}
            for number, (origin, parts) in enumerate(by_origin.items()):
                piece = type(request).from_pairs(
                    parts, extra_origins=(extra or None) if number == 0 else None, **fields)
                yield from tracker.apply(Translation(requests=(piece,), origin=origin))

    return iter_batches(pieces())


def send(args: argparse.Namespace, streams: Streams) -> int:
    """``send``: what ``translate`` wrote, into Braze."""
    inputs = sources(args.inputs)
    settings = _settings(args)
    store = _open_state(args.state)
    tally = SendTally()
    start = time.perf_counter()
    try:
        tracker = Tracker(store) if store is not None else None
        with session(args, streams, inputs, tally, writes=False) as (_, rejects, progress):
            requests = _read(inputs, tally, rejects, progress, streams.stdin)
            if tracker is not None:
                requests = _tracked(requests, tracker)
            tally.delivery = _deliver(args, streams, settings, requests, tracker)
    finally:
        if store is not None:
            store.close()
    seconds = time.perf_counter() - start
    status = finish(args, streams, tally, tally.render(seconds=seconds))
    return _status(args, status, tally.delivery)


# -- replay ------------------------------------------------------------------------------


class ReplayTally(_Delivered, Tally):
    """``translate``'s accounting, and the delivery."""

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), **self._delivery_json()}

    def render(self, *, seconds: float, written: bool) -> str:
        return "\n".join([super().render(seconds=seconds, written=written),
                          *self._delivery_lines()])


def replay(args: argparse.Namespace, streams: Streams) -> int:
    """``replay``: Segment events translated, batched and sent, in one stream."""
    inputs = sources(args.inputs)
    settings = _settings(args)
    store = _open_state(args.state)
    tally = ReplayTally()
    tally.tracking = store is not None
    start = time.perf_counter()
    try:
        tracker = Tracker(store) if store is not None else None
        with session(args, streams, inputs, tally, writes=False) as (_, rejects, progress):
            translated = translate(inputs, Translator(settings), tracker, tally, rejects,
                                   progress, streams.stdin)

            def counted() -> Iterator[Request]:
                for request in iter_batches(translated, max_total=args.max_total):
                    tally.count_request(request)
                    yield request

            tally.delivery = _deliver(args, streams, settings, counted(), tracker)
    finally:
        if store is not None:
            store.close()
    seconds = time.perf_counter() - start
    status = finish(args, streams, tally, tally.render(seconds=seconds, written=True))
    return _status(args, status, tally.delivery)


# -- seed-state -------------------------------------------------------------------------


class SeedTally(ReplayTally):
    """``replay``'s accounting (nothing is sent but the exports), and what was seeded."""

    def __init__(self) -> None:
        super().__init__()
        self.users = 0
        self.seeded = 0

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "users": self.users, "seeded": self.seeded}

    def render(self, *, seconds: float, written: bool) -> str:
        return "\n".join([super().render(seconds=seconds, written=False),
                          f"  users asked of Braze: {self.users:,}; records seeded: "
                          f"{self.seeded:,}"])


def seed_state(args: argparse.Namespace, streams: Streams) -> int:
    """``seed-state``: the profiles of the events' users, from Braze into the state."""
    inputs = sources(args.inputs)
    settings = _settings(args)
    store = _open_state(args.state)
    assert store is not None  # noqa: S101 - --state is required
    tracker = Tracker(store)
    tally = SeedTally()
    start = time.perf_counter()
    complete = False
    try:
        with session(args, streams, inputs, tally, writes=False) as (_, rejects, progress):
            translated = translate(inputs, Translator(settings), None, tally, rejects,
                                   progress, streams.stdin)
            exports = list(export_requests(translated))
            tally.users = sum(r.size() for r in exports)

            def seed(request: Request, response: Any) -> None:
                tally.seeded += seed_store(tracker, request,  # type: ignore[arg-type]
                                           response.body)

            with _transport(args.lanes) as transport:
                tally.delivery = deliver(exports, transport, settings, lanes=args.lanes,
                                         on_response=seed, progress=_progress(streams.stderr))
        complete = True
    finally:
        if not complete:
            store.rollback()
        store.close()
    seconds = time.perf_counter() - start
    status = finish(args, streams, tally, tally.render(seconds=seconds, written=False))
    return _status(args, status, tally.delivery)
