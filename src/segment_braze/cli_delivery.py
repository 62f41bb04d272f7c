"""The command line's delivery commands: ``send``, ``replay`` and ``seed-state``.

``send REQUESTS.ndjson...`` sends what ``translate`` wrote; ``replay INPUT...`` reads
Segment events, translates, batches and sends them in one streamed pipeline;
``seed-state INPUT...`` reads Braze's profiles of the users those events write into a
state file, so a first replay sends only values that differ. All three read the REST API
key from the settings file or ``BRAZE_REST_API_KEY`` (never from a flag: command lines
end up in shell histories), send with ``httpx`` (the ``send`` extra), and account for
what they read as ``translate`` does; exit statuses are the same, a dead-lettered entry
counting as a rejected line for ``--fail-on-reject``.

:func:`add_commands` adds the subcommands to the ``segment-braze`` parser; each sets
``_runner`` to the function that runs it.
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

from . import _json, cli
from .batching import iter_batches
from .braze import Request
from .delivery import DeliveryReport, deliver, export_requests, read_requests, seed_store
from .errors import InvalidSettings, Problem
from .settings import Settings
from .state import SQLiteStore, Tracker
from .translate import Translation, Translator

__all__ = ["DEFAULT_LANES", "KEY_VARIABLE", "add_commands"]

#: The environment variable holding the REST API key when the settings file has none.
KEY_VARIABLE: Final = "BRAZE_REST_API_KEY"
DEFAULT_LANES: Final = 8
#: Seconds the transport waits for Braze before the attempt counts as failed.
TIMEOUT: Final = 30.0

_Streams = Any  # cli._Streams


# -- what every delivery command shares ---------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of ``--settings``, the key from the environment when the file has
    none; a REST endpoint and a key are required."""
    settings = cli._load_settings(args)
    if settings.rest_api_key is None and os.environ.get(KEY_VARIABLE):
        try:
            settings = attrs.evolve(settings, rest_api_key=os.environ[KEY_VARIABLE])
        except InvalidSettings as error:
            raise cli.UsageError(f"{KEY_VARIABLE}: {error}") from None
    try:
        settings.require_rest_endpoint()
        settings.require_rest_api_key()
    except InvalidSettings as error:
        raise cli.UsageError(f"sending needs {error} (the REST API key may also come "
                             f"from {KEY_VARIABLE})") from None
    return settings


@contextlib.contextmanager
def _transport(lanes: int) -> Iterator[Callable[[Any], Any]]:
    """An httpx client shared by the lanes, closed at the end."""
    try:
        httpx = importlib.import_module("httpx")
    except ImportError:
        raise cli.UsageError("sending needs httpx: pip install 'segment-braze[send]'"
                             ) from None
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
    if path is None:
        return None
    try:
        cli._make_parent(path)
        return SQLiteStore(path)
    except (OSError, ValueError, sqlite3.Error) as error:
        raise cli.UsageError(f"{path}: cannot open the state file: {cli._reason(error)}"
                             ) from None


def _progress(stream: IO[str]) -> Callable[[DeliveryReport], None] | None:
    """A status line on a terminal, redrawn every second; nothing otherwise."""
    if not cli._is_terminal(stream):
        return None

    def show(report: DeliveryReport) -> None:
        if report.complete:
            stream.write("\r\x1b[K")
        else:
            stream.write(f"\r{report.delivered:,} delivered, {report.dead_lettered:,} "
                         f"dead-lettered, {report.requests_per_second:,.0f} requests/s ")
        stream.flush()

    return show


def _deliver(args: argparse.Namespace, streams: _Streams, settings: Settings,
             requests: Iterator[Request], tracker: Any) -> DeliveryReport:
    for path in (args.journal, args.dead_letter):
        if path is not None:
            cli._make_parent(path)
    with _transport(args.lanes) as transport:
        try:
            return deliver(requests, transport, settings, lanes=args.lanes, tracker=tracker,
                           journal=args.journal, dead_letter=args.dead_letter,
                           progress=_progress(streams.stderr))
        except sqlite3.DatabaseError as error:
            raise cli.UsageError(f"{args.journal}: cannot use the journal: "
                                 f"{cli._reason(error)}") from None


def _status(args: argparse.Namespace, status: int, report: DeliveryReport | None) -> int:
    if (status == cli.OK and args.fail_on_reject and report is not None
            and report.dead_lettered):
        return cli.REJECTED
    return status


class _Delivered:
    """The delivery report's part of a summary."""

    delivery: DeliveryReport | None = None

    def _delivery_json(self) -> dict[str, Any]:
        return {"delivery": self.delivery.to_json() if self.delivery else None}

    def _delivery_lines(self) -> list[str]:
        return [self.delivery.render()] if self.delivery is not None else []


# -- send ------------------------------------------------------------------------------


class SendTally(_Delivered, cli._Accounts):
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


def _read(sources: Sequence[cli.Source], tally: SendTally, rejects: Any, progress: Any,
          stdin: IO[bytes]) -> Iterator[Request]:
    """The requests of the input files; a line that is not one is rejected."""
    for item in cli._parsed(sources, tally, rejects, progress, stdin):
        source, line, raw, value, _ = item
        try:
            (request,) = read_requests((_json.dumps(value),))
        except ValueError as error:
            message = str(error).removeprefix("line 1: ")
            rejects.add(source, line, raw, value, (Problem("$", message),),
                        "not a request", message)
            continue
        tally.requests += 1
        yield request


def _tracked(requests: Iterator[Request], tracker: Tracker) -> Iterator[Request]:
    """``send --state``: each request split by origin, the values Braze already has left
    out as the translator would have, and batched again."""
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


def _send(args: argparse.Namespace, streams: _Streams) -> int:
    sources = cli._sources(args.inputs)
    settings = _settings(args)
    store = _open_state(args.state)
    tally = SendTally()
    start = time.perf_counter()
    try:
        tracker = Tracker(store) if store is not None else None
        with cli._session(args, streams, sources, tally, writes=False) as (_, rejects,
                                                                            progress):
            requests = _read(sources, tally, rejects, progress, streams.stdin)
            if tracker is not None:
                requests = _tracked(requests, tracker)
            tally.delivery = _deliver(args, streams, settings, requests, tracker)
    finally:
        if store is not None:
            store.close()
    seconds = time.perf_counter() - start
    status = cli._finish(args, streams, tally, tally.render(seconds=seconds))
    return _status(args, status, tally.delivery)


# -- replay ------------------------------------------------------------------------------


class ReplayTally(_Delivered, cli.Tally):
    """``translate``'s accounting, and the delivery."""

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), **self._delivery_json()}

    def render(self, *, seconds: float, written: bool) -> str:
        return "\n".join([super().render(seconds=seconds, written=written),
                          *self._delivery_lines()])


def _replay(args: argparse.Namespace, streams: _Streams) -> int:
    sources = cli._sources(args.inputs)
    settings = _settings(args)
    store = _open_state(args.state)
    tally = ReplayTally()
    tally.tracking = store is not None
    start = time.perf_counter()
    try:
        translator = Translator(settings, store=store)
        with cli._session(args, streams, sources, tally, writes=False) as (_, rejects,
                                                                            progress):
            translated = cli._translate(sources, translator, tally, rejects, progress,
                                        streams.stdin)

            def counted() -> Iterator[Request]:
                for request in iter_batches(translated, max_total=args.max_total):
                    tally.count_request(request)
                    yield request

            tally.delivery = _deliver(args, streams, settings, counted(),
                                      translator if store is not None else None)
    finally:
        if store is not None:
            store.close()
    seconds = time.perf_counter() - start
    status = cli._finish(args, streams, tally, tally.render(seconds=seconds, written=True))
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


def _seed(args: argparse.Namespace, streams: _Streams) -> int:
    sources = cli._sources(args.inputs)
    settings = _settings(args)
    store = _open_state(args.state)
    assert store is not None  # noqa: S101 - --state is required
    tally = SeedTally()
    start = time.perf_counter()
    complete = False
    try:
        translator = Translator(settings)
        with cli._session(args, streams, sources, tally, writes=False) as (_, rejects,
                                                                            progress):
            translated = cli._translate(sources, translator, tally, rejects, progress,
                                        streams.stdin)
            exports = list(export_requests(translated))
            tally.users = sum(r.size() for r in exports)

            def seed(request: Request, response: Any) -> None:
                tally.seeded += seed_store(store, request,  # type: ignore[arg-type]
                                           response.body)

            args.journal = args.dead_letter = None
            with _transport(args.lanes) as transport:
                tally.delivery = deliver(exports, transport, settings, lanes=args.lanes,
                                         on_response=seed, progress=_progress(streams.stderr))
        complete = True
    finally:
        if not complete:
            store.rollback()
        store.close()
    seconds = time.perf_counter() - start
    status = cli._finish(args, streams, tally, tally.render(seconds=seconds, written=False))
    return _status(args, status, tally.delivery)


# -- the parser --------------------------------------------------------------------------


def _add_delivery(parser: argparse.ArgumentParser, *, resumable: bool = True) -> None:
    parser.add_argument("--lanes", type=cli._positive, default=DEFAULT_LANES, metavar="N",
                        help=f"requests sent at once, each user's in order (default "
                             f"{DEFAULT_LANES})")
    if resumable:
        parser.add_argument("--journal", metavar="FILE",
                            help="an SQLite file of the entries Braze settled: a run "
                                 "after a crash or a kill sends only the others")
        parser.add_argument("--dead-letter", metavar="FILE",
                            help="append each entry Braze refused or that was given up "
                                 "on, with its origin and Braze's message, as NDJSON")


def add_commands(commands: Any) -> None:
    """Add ``send``, ``replay`` and ``seed-state`` to the subcommands of the parser."""
    send = commands.add_parser(
        "send", help="send the requests translate wrote to Braze",
        description="Send Braze requests (what translate writes, NDJSON) to Braze, each "
                    "user's in order, at Braze's rate, with a summary on standard error. "
                    f"The REST API key comes from the settings file or {KEY_VARIABLE}.")
    send.add_argument("inputs", nargs="+", metavar="REQUESTS",
                      help="an NDJSON file of requests (gzipped or not), a directory, or "
                           "- for standard input")
    cli._add_accounting(send)
    _add_delivery(send)
    send.add_argument("--state", metavar="FILE",
                      help="leave out attribute values Braze already has by this state "
                           "file, and record those delivered")
    cli._add_settings(send)
    send.set_defaults(_runner=_send, output=None)

    replay = commands.add_parser(
        "replay", help="translate Segment events and send them to Braze, streamed",
        description="Translate Segment events, batch them and send them to Braze in one "
                    "streamed pipeline, with translate's accounting and the delivery's "
                    "report on standard error.")
    cli._add_inputs(replay, what=None)
    cli._add_accounting(replay)
    _add_delivery(replay)
    replay.add_argument("--max-total", type=cli._positive, metavar="N",
                        help="at most N objects per /users/track request across arrays")
    cli._add_state(replay, writes=True)
    cli._add_settings(replay)
    replay.set_defaults(_runner=_replay)

    seed = commands.add_parser(
        "seed-state", help="read the profiles of the events' users from Braze into a "
                           "state file",
        description="Ask Braze (/users/export/ids) for the profiles of every user whose "
                    "attributes the events write, and store them in the state file, so a "
                    "first replay with --state sends only values that differ.")
    cli._add_inputs(seed, what=None)
    cli._add_accounting(seed)
    _add_delivery(seed, resumable=False)
    seed.add_argument("--state", metavar="FILE", required=True,
                      help="the state file to seed (created if missing)")
    cli._add_settings(seed)
    seed.set_defaults(_runner=_seed, max_total=None)
