"""What the sync and the async deliverer share: everything but threads and tasks.

The calling thread (or task) owns the state: it admits requests (encoding the body,
reading the users, naming the entries, journal look-up, lanes), and it settles each
attempt a lane reports (change tracking, report, journal, dead letter). Lanes only wait,
pace, call the transport and read the answer (:meth:`Core.attempt`, which touches the
ticket, the thread-safe pacer and, for an answer delivering every entry, the
thread-safe journal: the lane writes that one itself and sends on, without waiting for
the calling thread). So the tracker's store and the dead letter are used from one
thread, as they require.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, TypeAlias

import attrs

from ..batching import endpoint_of
from ..braze import HttpRequest, Origin, Request
from ..responses import ErrorDetail, Outcome, interpret_response, rate_limit_state
from ..settings import Settings
from .deadletter import DeadLetter, DeadStatus, record
from .journal import Journal, Namer, Names, Settled
from .lanes import Placement, Router, entry_users
from .pacing import Pacer, Retry, jitter
from .report import DeliveryReport, Tally

__all__ = ["Acknowledger", "Core", "Response", "Ticket", "Transport"]

#: The caller's HTTP call: an :class:`~segment_braze.HttpRequest` in; out, a
#: ``(status, headers, body)`` tuple, a :class:`Response`, or any object with a status
#: (``status_code`` or ``status``), ``headers`` and a body (``content`` or ``body``), as
#: httpx's and most clients' responses have. The async deliverer awaits it.
Transport: TypeAlias = Callable[[HttpRequest], Any]


class Acknowledger(Protocol):
    """Change tracking as delivery sees it: told every outcome of every attempt.

    A tracker that also has ``delivered(request)`` (as :class:`~segment_braze.Tracker`
    has) is told a 2xx answer without ``errors`` that way: every entry of the request
    delivered, without an outcome built per event."""

    def acknowledge(self, outcomes: Iterable[Outcome], *,
                    request: Request | None = ...) -> object: ...


@attrs.frozen
class Response:
    """An answer, for transports that have no response object of their own."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def unpack(answer: Any) -> Response:
    """The status, headers and body of whatever the transport returned."""
    if isinstance(answer, Response):
        return answer
    if isinstance(answer, tuple):
        status, headers, body = answer
    else:
        status = getattr(answer, "status_code", None)
        if status is None:
            status = answer.status
        headers = answer.headers
        body = getattr(answer, "content", None)
        if body is None:
            body = answer.body
    if isinstance(body, str):
        body = body.encode()
    return Response(int(status), headers if headers is not None else {}, body or b"")


Verdict: TypeAlias = Literal["delivered", "failed", "retry", "gave_up"]


class Ticket:
    """One request on its way: where it goes, whom it waits for, how it went."""

    __slots__ = ("after", "attempts", "done", "failures", "journaled", "limited", "names",
                 "placement", "prepared", "released", "request", "seq", "users")

    def __init__(self, seq: int, request: Request, prepared: HttpRequest,
                 names: Names | None, users: list[list[tuple[str, ...]]] | None) -> None:
        self.seq = seq
        self.request = request
        #: The request as sent (its body encoded once, whatever the retries).
        self.prepared = prepared
        #: The journal's names of its entries (without a journal: ``None``).
        self.names = names
        #: Per part, per entry: the users it names, until the ticket is placed.
        self.users = users
        self.placement: Placement | None = None
        self.after: tuple[Ticket, ...] = ()
        #: Set once Braze answered it for good (later requests of its users may go).
        self.done: Any = None  # a threading.Event or an asyncio.Event
        #: Set once what it settled is in the journal (its lane may send the next one).
        self.released: Any = None
        self.attempts = 0
        self.failures = 0
        self.limited = 0
        #: Written to the journal by its lane (every entry delivered).
        self.journaled = False


@attrs.frozen
class Step:
    """One attempt, as a lane reports it to the owner of the state."""

    ticket: Ticket
    outcomes: tuple[Outcome, ...]
    verdict: Verdict
    response: Response | None
    latency: float
    wait: float = 0.0
    #: A 2xx without ``errors``: every entry delivered, no outcome built per event.
    clean: bool = False

    @property
    def final(self) -> bool:
        return self.verdict != "retry"


def _status_verdict(status: int) -> Verdict:
    if 200 <= status < 300:
        return "delivered"
    if status in (423, 429) or 500 <= status < 600:
        return "retry"
    return "failed"


class Core:
    """The state of one delivery, and the steps both deliverers take."""

    def __init__(self, settings: Settings, *, lanes: int, tracker: Acknowledger | None,
                 journal: Journal | str | Any | None, dead_letter: DeadLetter | str | Any | None,
                 retry: Retry, pacer: Pacer,
                 progress: Callable[[DeliveryReport], None] | None, progress_every: float,
                 on_response: Callable[[Request, Response], None] | None) -> None:
        if not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings, got {type(settings).__name__}")
        self.settings = settings
        self.router = Router(lanes)
        self.tracker = tracker
        self.retry = retry
        self.pacer = pacer
        self.progress = progress
        self.progress_every = progress_every
        self.on_response = on_response
        self.tally = Tally(lanes)
        self.secrets = tuple(s for s in (settings.rest_api_key, settings.cohort_client_secret,
                                         settings.cohort_partner_api_key) if s)
        self._opened: list[Any] = []
        self.journal = self._open(journal, Journal)
        self.dead_letter = self._open(dead_letter, DeadLetter)
        self.namer = Namer() if self.journal is not None else None
        #: The tracker's way of hearing that a whole request was delivered, if it has one.
        self.delivered: Callable[[Request], object] | None = getattr(tracker, "delivered",
                                                                      None)
        self.live: dict[int, Ticket] = {}
        #: Tickets settled since the last commit: their lanes wait for it.
        self.settled: list[Ticket] = []
        self.seq = 0
        self.start = time.monotonic()
        self.shown = self.start

    def _open(self, given: Any, kind: type[Any]) -> Any:
        if given is None or isinstance(given, kind):
            return given
        opened = kind(given)
        self._opened.append(opened)
        return opened

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    # -- admitting -----------------------------------------------------------------------

    def admit(self, request: Request) -> Ticket | None:
        """A ticket for ``request``, less what the journal says was settled; ``None``
        when nothing of it is left to send. The users of its entries are read here, once:
        the lanes and the journal's names both need them."""
        endpoint_of(request)  # TypeError for anything that is not a request
        self.seq += 1
        journal = self.journal
        # The body is encoded first, unless a journal may leave entries out: reading every
        # entry for it brings the request into the CPU's caches, where reading its users
        # next costs a quarter of what it costs on a request read long ago.
        prepared = request.to_http(self.settings) if journal is None or not journal.resumed \
            else None
        users = entry_users(request)
        if journal is None:
            assert prepared is not None  # noqa: S101
            return Ticket(self.seq, request, prepared, None, users)
        assert self.namer is not None  # noqa: S101 - made with the journal
        names = self.namer.names(request, users)
        settled = journal.settled(names)
        if settled is None:
            return Ticket(self.seq, request, prepared or request.to_http(self.settings),
                          names, users)
        return self._skip(request, names, settled)

    def _skip(self, request: Request, names: Names, settled: list[list[Settled | None]]
              ) -> Ticket | None:
        """A ticket for the request without its settled entries (tracking is told what
        became of them); ``None`` when none is left."""
        endpoint = type(request).ENDPOINT
        statuses = {part[0]: found for part, found in zip(names.parts, settled, strict=True)}
        kept: dict[str, list[tuple[Any, Origin]]] = {}
        gone: dict[str, list[tuple[Any, Origin]]] = {}
        keep: list[list[int]] = []
        fates: dict[Origin, str] = {}
        whole = False
        for part in endpoint.parts:
            found = statuses.get(part.name)
            if found is None:
                continue
            mine: list[int] = []
            for index, (pair, status) in enumerate(zip(request.pairs(part), found,
                                                       strict=True)):
                if status is None:
                    kept.setdefault(part.name, []).append(pair)
                    mine.append(index)
                else:
                    gone.setdefault(part.name, []).append(pair)
                    fates[pair[1]] = "delivered" if status == "delivered" else "failed"
                    whole = whole or part.single
            keep.append(mine)
        counts = self.tally.of(request.endpoint)
        counts["skipped"] += sum(map(len, gone.values()))
        fields = {name: getattr(request, name) for name in endpoint.group}
        if self.tracker is not None:
            done = request if whole or not kept else type(request).from_pairs(gone, **fields)
            self.tracker.acknowledge(
                [Outcome(origin=o, status=s, http_status=0)  # type: ignore[arg-type]
                 for o, s in fates.items()], request=done)
        if whole or not kept:
            return None
        names_of = {part.name for part in endpoint.parts}
        extra = {k: v for k, v in request.origins.items() if k not in names_of}
        rebuilt = type(request).from_pairs(kept, extra_origins=extra or None, **fields)
        return Ticket(self.seq, rebuilt, rebuilt.to_http(self.settings), names.select(keep),
                      entry_users(rebuilt))

    def place(self, ticket: Ticket, make_event: Callable[[], Any]) -> int:
        """Put the ticket in a lane; the lane's number."""
        placement = self.router.place(ticket.seq, ticket.request, ticket.users)
        ticket.placement = placement
        ticket.users = None
        live = self.live
        ticket.after = tuple(live[seq] for seq in placement.after if seq in live)
        ticket.done = make_event()
        ticket.released = make_event()
        if self.journal is None:  # nothing to write first: the lane need not wait
            ticket.released.set()
        live[ticket.seq] = ticket
        return placement.lane

    @property
    def in_flight(self) -> int:
        return len(self.live)

    # -- one attempt (in a lane) ---------------------------------------------------------

    def attempt(self, ticket: Ticket, answer: Any, error: BaseException | None,
                latency: float) -> Step:
        """Read one answer (or the transport's exception) and decide what comes next.
        Touches only the ticket and the pacer: safe in any lane."""
        request = ticket.request
        limit = type(request).ENDPOINT.rate_limit
        ticket.attempts += 1
        now = time.time()
        response: Response | None = None
        outcomes: tuple[Outcome, ...]
        clean = False
        if error is not None:
            message = self.mask(f"transport error: {type(error).__name__}: {error}"[:300])
            outcomes = tuple(
                Outcome(origin=o.origin, status="retry", http_status=0, message=message)
                for o in interpret_response(request, 503, None, None))
            verdict: Verdict = "retry"
            told = None
            status = 0
        else:
            try:
                response = unpack(answer)
            except Exception as bad:  # a transport returning nonsense
                return self.attempt(ticket, None, TypeError(
                    f"the transport returned {type(bad).__name__}, not (status, headers, "
                    f"body)"), latency)
            status = response.status
            verdict = _status_verdict(status)
            if verdict == "delivered" and (self.tracker is None or self.delivered) and \
                    b"errors" not in (response.body if isinstance(response.body, bytes)
                                      else b"errors"):
                # Every entry was delivered: nobody needs an outcome per event.
                outcomes = ()
                clean = True
            else:
                outcomes = interpret_response(request, status, response.headers,
                                              response.body, now=now)
            told = outcomes[0].retry_after if outcomes else None
            self.pacer.observe(limit, rate_limit_state(response.headers, now=now))
        if clean and self.journal is not None and ticket.names is not None:
            # Every entry delivered: the lane writes it at once and need not wait for the
            # calling thread (which journals the other answers after their dead letter).
            self.journal.write(ticket.names, "delivered")
            ticket.journaled = True
            ticket.released.set()
        wait = 0.0
        if verdict == "retry":
            retry = self.retry
            if status == 429:
                ticket.limited += 1
                over = ticket.limited > retry.rate_limited
                wait = retry.backoff(ticket.limited, told, jitter)
                self.pacer.pause(limit, wait)
            else:
                ticket.failures += 1
                over = ticket.failures >= retry.attempts
                wait = retry.backoff(ticket.failures, told, jitter)
            if over:
                verdict = "gave_up"
        return Step(ticket, outcomes, verdict, response, latency, wait, clean)

    # -- settling (in the owner) ---------------------------------------------------------

    def settle(self, step: Step) -> None:
        """Account for one attempt: tracking, report; when final, journal, dead letter
        and the lanes."""
        ticket = step.ticket
        request = ticket.request
        counts = self.tally.of(request.endpoint)
        counts["attempts"] += 1
        self.tally.latencies[request.endpoint].append(step.latency)
        if step.verdict in ("retry", "gave_up"):
            counts["retried"] += 1
            if step.response is not None and step.response.status == 429:
                counts["rate_limited"] += 1
        tracker = self.tracker
        if tracker is not None:
            if step.clean and self.delivered is not None:
                self.delivered(request)
            else:
                tracker.acknowledge(step.outcomes, request=request)
            if step.verdict == "gave_up":  # settled for good: maybe landed, maybe not
                tracker.acknowledge([attrs.evolve(o, status="failed") for o in step.outcomes],
                                    request=request)
        if step.final:
            counts["requests"] += 1
            self._final(step, counts)
            assert ticket.placement is not None  # noqa: S101
            self.router.done(ticket.placement)
            self.live.pop(ticket.seq, None)
            self.settled.append(ticket)
            if step.verdict == "delivered" and self.on_response is not None:
                assert step.response is not None  # noqa: S101
                self.on_response(request, step.response)
        self._maybe_progress()

    def _final(self, step: Step, counts: dict[str, int]) -> None:
        ticket = step.ticket
        request = ticket.request
        verdict = step.verdict
        journal, names = self.journal, ticket.names
        refused: dict[tuple[str, int], str] = {}
        if verdict == "delivered":
            refused = self._named_errors(request, step.outcomes)
            if not refused:  # the common case: every entry delivered
                counts["delivered"] += request.size()
                if journal is not None and names is not None and not ticket.journaled:
                    journal.record(names, "delivered")
                return
            message = ""
        else:
            first = step.outcomes[0].message if step.outcomes else None
            message = self.mask(first or f"HTTP {step.response.status if step.response else 0}")
        dead: DeadStatus | None = {"failed": "refused", "gave_up": "gave_up"}.get(
            verdict)  # type: ignore[assignment]
        letter = self.dead_letter
        status = step.response.status if step.response is not None else 0
        named = {part[0] for part in names.parts} if names is not None else set()
        delivered: list[list[int]] = []
        refusals: list[list[int]] = []
        for part in type(request).ENDPOINT.parts:
            mine: tuple[list[int], list[int]] = ([], [])
            for index, (entry, origin) in enumerate(request.pairs(part)):
                why = refused.get((part.name, index)) if dead is None else message
                fate: DeadStatus | None = dead if dead is not None else (
                    "refused" if why is not None else None)
                if fate is None:
                    counts["delivered"] += 1
                    mine[0].append(index)
                    continue
                counts[fate] += 1
                if fate == "refused":
                    mine[1].append(index)
                if letter is not None:
                    letter.write(record(endpoint=request.endpoint, array=part.name,
                                        index=index, entry=entry, origin=origin,
                                        status=fate, http_status=status,
                                        message=self.mask(why or ""),
                                        attempts=ticket.attempts))
            if part.name in named:
                delivered.append(mine[0])
                refusals.append(mine[1])
        if journal is not None and names is not None:
            journal.record(names.select(delivered), "delivered")
            journal.record(names.select(refusals), "refused")

    def _named_errors(self, request: Request, outcomes: tuple[Outcome, ...]
                      ) -> dict[tuple[str, int], str]:
        """Braze's minor errors of a 2xx, by the entry each names; the others are
        warnings (the entries were processed)."""
        errors: dict[ErrorDetail, None] = {}
        for outcome in outcomes:
            for error in outcome.errors:
                errors[error] = None
        if not errors:
            return {}
        named: dict[tuple[str, int], str] = {}
        sizes = {part.name: len(request.entries(part))
                 for part in type(request).ENDPOINT.parts if not part.single}
        for error in errors:
            index = error.index
            arrays = [error.array] if error.array is not None else list(sizes)
            hits = [(name, index) for name in arrays
                    if index is not None and 0 <= index < sizes.get(name, 0)]
            for hit in hits:
                named.setdefault(hit, error.message)
            if not hits:
                self.tally.warn(request.endpoint, self.mask(error.message))
        return named

    def _maybe_progress(self) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self.shown >= self.progress_every:
            self.shown = now
            self.progress(self.report(complete=False, latencies=False))

    def commit(self) -> None:
        """Make what was settled durable (after each batch of settled steps), then let
        the lanes of those requests go on: a lane never sends while its last answer is
        not in the journal, so a crash resends at most one request per lane. The dead
        letter first: an entry the journal says was refused is in it."""
        if self.dead_letter is not None:
            self.dead_letter.flush()
        if self.journal is not None:
            self.journal.commit()
        self.release()

    def release(self) -> None:
        for ticket in self.settled:
            ticket.released.set()
        self.settled.clear()

    def report(self, *, complete: bool = True, latencies: bool = True) -> DeliveryReport:
        return self.tally.report(time.monotonic() - self.start, in_flight=len(self.live),
                                 complete=complete, latencies=latencies)

    def close(self) -> None:
        """Commit, and close what this delivery opened itself."""
        try:
            self.commit()
        finally:
            for opened in self._opened:
                opened.close()

    def finish(self, complete: bool) -> DeliveryReport:
        self.close()
        report = self.report(complete=complete)
        if self.progress is not None:
            self.progress(report)
        return report

