"""Send a file of Segment events to Braze with the standard library's urllib.

    BRAZE_REST_API_KEY=... python docs/examples/send.py US-03 events.ndjson

The transport is the one function the library does not have: ``post`` sends one
``HttpRequest`` with ``urllib.request`` and returns the status, headers and body, for
errors too. ``deliver`` does everything else: lanes, Braze's rate limits, retries,
the journal (run it again after a crash: only what was not delivered is sent), the dead
letter and the report, printed as JSON at the end.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping

import segment_braze as sb
from segment_braze.batching import iter_batches
from segment_braze.braze import Request
from segment_braze.delivery import deliver


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


def main(argv: list[str]) -> int:
    endpoint, path = argv
    settings = sb.Settings(rest_endpoint=endpoint,
                           rest_api_key=os.environ["BRAZE_REST_API_KEY"])
    translator = sb.Translator(settings)

    def requests() -> Iterator[Request]:
        with open(path, encoding="utf-8") as lines:
            for translation in translator.translate_many(json.loads(line) for line in lines):
                yield from translation.requests

    report = deliver(iter_batches(requests()), post, settings, lanes=8,
                     journal=path + ".journal", dead_letter=path + ".dead.ndjson")
    print(json.dumps(report.to_json()["totals"], sort_keys=True))
    return 0 if report.dead_lettered == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
