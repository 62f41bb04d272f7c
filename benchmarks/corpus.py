"""A deterministic corpus of Segment events for the benchmarks.

The mix follows what a product's archive usually holds: identify 30%, track 50%,
``Order Completed`` 10%, page 7%, group 3%. Each event carries a realistic ``context``
(library, page, user agent, IP, ...), so a line is about 1 KB, like real Segment
messages. The same ``seed`` always gives the same events, byte for byte.

    python benchmarks/corpus.py 1000 > events.ndjson
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["MIX", "events", "lines"]

#: Event kinds and their share out of 100.
MIX: dict[str, int] = {"identify": 30, "track": 50, "order": 10, "page": 7, "group": 3}

_START = datetime(2024, 5, 1, tzinfo=timezone.utc)
_PLANS = ("free", "starter", "pro", "enterprise")
_CITIES = (("Paris", "FR"), ("Berlin", "DE"), ("Austin", "US"), ("Osaka", "JP"),
           ("Lisbon", "PT"), ("Toronto", "CA"))
_TRACKS = ("Product Viewed", "Product Added", "Checkout Started", "Search Performed",
           "Video Played", "Signed Up", "Feature Used", "Invite Sent")
_PAGES = (("Docs", "Getting Started"), ("Pricing", None), ("Blog", "Release Notes"),
          (None, "Home"), (None, None))
_AGENT = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like "
          "Gecko) Version/17.4 Safari/605.1.15")


def _time(rng: random.Random, index: int) -> str:
    moment = _START + timedelta(seconds=index * 7 + rng.randrange(7),
                                milliseconds=rng.randrange(1000))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _context(rng: random.Random, user: int, path: str) -> dict[str, Any]:
    return {
        "library": {"name": "analytics.js", "version": "4.1.0"},
        "ip": f"203.0.113.{user % 250}",
        "locale": "en-US",
        "userAgent": _AGENT,
        "page": {"path": path, "referrer": "https://www.example.com/",
                 "title": "Example Store", "url": f"https://shop.example.com{path}"},
        "timezone": "Europe/Paris",
        "campaign": {"name": "spring-sale", "source": "newsletter", "medium": "email"},
    }


def _common(rng: random.Random, index: int, kind: str, path: str) -> dict[str, Any]:
    user = rng.randrange(5000)
    time = _time(rng, index)
    return {
        "type": kind,
        "messageId": f"msg-{index:09d}-{rng.getrandbits(32):08x}",
        "userId": f"user-{user:05d}",
        "anonymousId": f"{rng.getrandbits(64):016x}-{user:05d}",
        "timestamp": time,
        "sentAt": time,
        "receivedAt": time,
        "originalTimestamp": time,
        "channel": "browser",
        "version": 2,
        "context": _context(rng, user, path),
        "integrations": {"All": True},
    }


def _identify(rng: random.Random, index: int) -> dict[str, Any]:
    event = _common(rng, index, "identify", "/account")
    city, country = rng.choice(_CITIES)
    number = int(event["userId"][5:])
    event["traits"] = {
        "firstName": rng.choice(("Ada", "Grace", "Alan", "Edsger", "Barbara")),
        "lastName": rng.choice(("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov")),
        "email": f"user{number}@example.com",
        "phone": f"+1 (555) 01{number % 100:02d}-{rng.randrange(10000):04d}",
        "birthday": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(9)}",
        "gender": rng.choice(("female", "male", "non-binary", "prefer not to say")),
        "address": {"city": city, "country": country, "postalCode": "75001"},
        "plan": rng.choice(_PLANS),
        "logins": rng.randrange(1, 500),
        "beta": rng.random() < 0.2,
        "tags": ["newsletter", "mobile"][: rng.randrange(3)],
    }
    return event


def _track(rng: random.Random, index: int) -> dict[str, Any]:
    event = _common(rng, index, "track", "/products")
    event["event"] = rng.choice(_TRACKS)
    event["properties"] = {
        "product_id": f"sku-{rng.randrange(900):04d}",
        "category": rng.choice(("books", "games", "garden")),
        "name": "A product with a name of moderate length",
        "price": round(rng.uniform(2, 90), 2),
        "position": rng.randrange(1, 20),
        "url": "https://shop.example.com/products/a-product",
        "search": {"query": "blue shoes", "results": rng.randrange(100)},
    }
    return event


def _order(rng: random.Random, index: int) -> dict[str, Any]:
    event = _common(rng, index, "track", "/checkout/done")
    products = [{"product_id": f"sku-{rng.randrange(900):04d}", "name": "Product",
                 "price": round(rng.uniform(2, 90), 2), "quantity": rng.randrange(1, 4),
                 "category": "games"} for _ in range(rng.randrange(1, 4))]
    event["event"] = "Order Completed"
    event["properties"] = {
        "order_id": f"order-{index:09d}", "currency": rng.choice(("USD", "EUR", "GBP")),
        "revenue": round(sum(p["price"] * p["quantity"] for p in products), 2),
        "coupon": "SPRING", "products": products,
    }
    return event


def _page(rng: random.Random, index: int) -> dict[str, Any]:
    event = _common(rng, index, "page", "/docs")
    category, name = rng.choice(_PAGES)
    if category is not None:
        event["category"] = category
    if name is not None:
        event["name"] = name
    event["properties"] = {"path": "/docs", "title": "Docs", "referrer": "",
                           "url": "https://shop.example.com/docs", "search": ""}
    return event


def _group(rng: random.Random, index: int) -> dict[str, Any]:
    event = _common(rng, index, "group", "/team")
    event["groupId"] = f"account-{rng.randrange(300):04d}"
    event["traits"] = {"name": "Example Inc.", "industry": "Retail", "employees": 120,
                       "plan": rng.choice(_PLANS)}
    return event


_BUILDERS = {"identify": _identify, "track": _track, "order": _order, "page": _page,
             "group": _group}


def events(count: int, *, seed: int = 20240501) -> Iterator[dict[str, Any]]:
    """``count`` events, in the :data:`MIX` proportions (exact over each block of 100)."""
    rng = random.Random(seed)
    block = [kind for kind, share in MIX.items() for _ in range(share)]
    index = 0
    while index < count:
        rng.shuffle(block)
        for kind in block[: count - index]:
            yield _BUILDERS[kind](rng, index)
            index += 1


def lines(count: int, *, seed: int = 20240501) -> Iterator[bytes]:
    """The same events as compact NDJSON lines (with their newline)."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for event in events(count, seed=seed):
        yield dumps(event).encode() + b"\n"


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    sys.stdout.buffer.writelines(lines(total))
