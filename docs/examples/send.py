"""Send Segment events to Braze with the standard library: translate, batch, send, retry.

    BRAZE_REST_API_KEY=... python docs/examples/send.py US-03 events.ndjson

Each batched request is POSTed with ``urllib.request``; ``interpret_response`` reads
Braze's answer per source event. Delivered events are done (with Braze's minor errors, if
any), failed ones are reported, and a request that Braze asks to retry (429 or 5xx) is sent
again after the wait Braze gave, else after an exponential backoff. Requests go one at a
time, in order, so each user's updates reach Braze in the order the batches keep; and when
an answer says the rate limit window is spent, the next request waits for its reset.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping

import segment_braze as sb
from segment_braze.batching import iter_batches
from segment_braze.braze import Request
from segment_braze.responses import Outcome, interpret_response


def post(prepared: sb.HttpRequest, *,
         timeout: float = 30.0) -> tuple[int, Mapping[str, str], bytes]:
    """POST one request; return the status, headers and body, for errors too."""
    # The URL comes from Settings.rest_endpoint: https for Braze's instances.
    request = urllib.request.Request(prepared.url, data=prepared.body,  # noqa: S310
                                     headers=dict(prepared.headers), method=prepared.method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:  # 4xx and 5xx arrive as exceptions
        with error:
            return error.code, dict(error.headers.items()), error.read()


class Sender:
    """Sends requests one at a time, retrying what Braze asks to retry and pacing itself
    by Braze's rate limit headers. ``sleep`` and ``clock`` can be replaced in tests."""

    def __init__(self, settings: sb.Settings, *, max_attempts: int = 5,
                 max_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self.window_reset: float | None = None  # set when the window is spent

    def _pace(self) -> None:
        """Wait for the rate limit window to reset if the last answer spent it."""
        if self.window_reset is not None:
            wait = self.window_reset - self.clock()
            self.window_reset = None
            if wait > 0:
                self.sleep(min(wait, self.max_wait))

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        lower = {name.lower(): value for name, value in headers.items()}
        try:
            if int(lower.get("x-ratelimit-remaining", "1")) <= 0:
                self.window_reset = float(lower["x-ratelimit-reset"])
        except (KeyError, ValueError):
            pass

    def send(self, request: Request) -> tuple[Outcome, ...]:
        """Send ``request`` until Braze delivers or refuses it, or attempts run out (the
        outcomes then still say ``retry``). Network errors are retried the same way and
        raised after the last attempt."""
        prepared = request.to_http(self.settings)
        for attempt in range(1, self.max_attempts + 1):
            self._pace()
            try:
                status, headers, body = post(prepared)
            except (OSError, http.client.HTTPException):  # network: retry the same way
                if attempt == self.max_attempts:
                    raise
                wait = None
            else:
                self._note_rate_limit(headers)
                outcomes = interpret_response(request, status, headers, body,
                                              now=self.clock())
                if attempt == self.max_attempts or not any(o.status == "retry"
                                                           for o in outcomes):
                    return outcomes
                wait = outcomes[0].retry_after
            backoff = 2.0 ** (attempt - 1)
            self.sleep(min(self.max_wait, backoff if wait is None else wait))
        raise AssertionError("unreachable: the last attempt returns or raises")


def send_all(requests: Iterable[Request], sender: Sender) -> Iterator[Outcome]:
    """Batch ``requests`` and send the batches in order, one at a time; yields every
    outcome as it comes."""
    for request in iter_batches(requests):
        yield from sender.send(request)


def main(argv: list[str]) -> int:
    endpoint, path = argv
    settings = sb.Settings(rest_endpoint=endpoint,
                           rest_api_key=os.environ["BRAZE_REST_API_KEY"])
    translator = sb.Translator(settings)
    counts: dict[str, int] = {}

    def requests(lines: Iterable[str]) -> Iterator[Request]:
        for translation in translator.translate_many(json.loads(line) for line in lines):
            if translation.status != "translated":  # skipped or rejected: count it
                counts[translation.status] = counts.get(translation.status, 0) + 1
            yield from translation.requests

    with open(path, encoding="utf-8") as lines:
        for outcome in send_all(requests(lines), Sender(settings)):
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            if outcome.status != "delivered" or outcome.errors:
                print(f"{outcome.origin}: {outcome.status}: {outcome.message}",
                      file=sys.stderr)
    print(json.dumps(counts, sort_keys=True))
    return 0 if counts.get("failed", 0) == counts.get("retry", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
