"""Make the example Segment archive: a few thousand events of a small web shop.

Laid out like Segment's S3 archive, ``segment-logs/<source-id>/<received-day>/<file>.gz``
(the day is the UTC midnight of the day received, in Unix seconds; each file is gzipped
NDJSON, one message per line), so ``segment-braze translate`` reads it as it would read a
real one::

    python examples/make_archive.py            # rewrites examples/segment-logs/
    segment-braze translate examples/segment-logs --settings examples/settings.json \\
        --output requests.ndjson --rejects rejects.ndjson

The output is deterministic (fixed seed, gzip without timestamps): running it again
rewrites the same events. The events exercise every rule of the table with
``examples/settings.json``: identifies with every reserved trait, custom events, orders
with several products, quantities (one above Braze's 100 per purchase) and currencies,
revenue-only purchases, named and unnamed pages, screens, groups, alias calls, deletions,
anonymous visitors (sent as user aliases), users known only by their ``braze_id``, events
with no identity at all, a blocked event name, values the translator drops with a notice,
Segment Engage audience changes (cohort
updates), and a few bad lines on purpose (not JSON, missing or invalid fields).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["DAYS", "SEED", "SOURCE_ID", "archive", "write"]

SEED = 4
SOURCE_ID = "Hx7vQ2mN4p"
DAYS = 3
#: Files per day: Segment copies an archive file about once an hour.
FILES_PER_DAY = 3
_START = datetime(2024, 5, 1, tzinfo=timezone.utc)
HERE = Path(__file__).resolve().parent

_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia",
          "Tim", "Margaret", "John")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
         "Perlman", "Berners-Lee", "Hamilton", "Backus")
_CITIES = (("Paris", "fr"), ("Berlin", "DE"), ("Austin", "US"), ("Osaka", "JP"),
           ("Lisbon", "PT"), ("Toronto", "CA"), ("Melbourne", "Australia"))
_GENDERS = ("female", "male", "F", "M", "non-binary", "prefer not to say", "unknown", "n/a")
_ZONES = ("Europe/Paris", "Europe/Berlin", "America/Chicago", "Asia/Tokyo",
          "Europe/Lisbon", "America/Toronto", "Mars/Olympus_Mons")
_LANGUAGES = ("fr-FR", "de", "en-US", "ja", "pt-PT", "en-CA", "klingon")
_PRODUCTS = (("sku-1001", "Espresso beans", 14.5), ("sku-1002", "Grinder", 89.0),
             ("sku-1003", "Paper filters", 3.2), ("sku-1004", "Kettle", 42.0),
             ("sku-1005", "Mug", 9.9), ("sku-1006", "Tasting course", 120.0))
_CURRENCIES = ("USD", "EUR", "eur", "GBP", "JPY")
_PAGES = (("Shop", "Coffee"), ("Shop", "Equipment"), (None, "Pricing"), (None, "About"),
          (None, None))
_SCREENS = ("Home", "Cart", "Product", None)
#: Segment Engage audiences: (key, computation id).
_AUDIENCES = (("high_value_customers", "aud_2fX8kQ1bLm"), ("lapsed_buyers", "aud_2fX9pR4cNq"))
_TRACKS = ("Product Viewed", "Product Added", "Cart Viewed", "Checkout Started",
           "Products Searched", "Coupon Applied", "Newsletter Subscribed")


class _Shop:
    """Builds the events of one day after another; every choice comes from one seeded
    random generator, so the archive is the same on every run."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)  # noqa: S311 - example data, not secrets
        self.users = [self._user(n) for n in range(36)]

    def _user(self, number: int) -> dict[str, Any]:
        rng = self.rng
        kind = "known"
        if number % 9 == 4:
            kind = "braze_id"  # a mobile user Braze knows only by its device profile
        elif number % 6 == 5:
            kind = "visitor"  # anonymous until signing up
        return {
            "number": number, "kind": kind,
            "user_id": f"user-{number:03d}", "anonymous_id": str(self._uuid()),
            "braze_id": f"5f{number:03d}c0ffee{number:04x}",
            "first": _FIRST[number % len(_FIRST)], "last": _LAST[(number * 5) % len(_LAST)],
            "city": _CITIES[number % len(_CITIES)], "zone": _ZONES[number % len(_ZONES)],
            "language": _LANGUAGES[number % len(_LANGUAGES)],
            "gender": _GENDERS[number % len(_GENDERS)],
            "mobile": rng.random() < 0.3, "signed_up": False, "deleted": False,
        }

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _base(self, user: dict[str, Any], kind: str, when: datetime) -> dict[str, Any]:
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        received = (when + timedelta(milliseconds=self.rng.randrange(40, 900)))
        event: dict[str, Any] = {
            "type": kind, "messageId": f"ajs-{self._uuid().hex}",
            "timestamp": stamp, "originalTimestamp": stamp,
            "receivedAt": received.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "context": {"library": {"name": "analytics.js" if not user["mobile"]
                                    else "analytics-ios", "version": "4.1.0"},
                        "ip": f"198.51.100.{user['number']}"},
        }
        if user["kind"] == "braze_id":
            event["anonymousId"] = user["anonymous_id"]
            event["integrations"] = {"Braze": {"braze_id": user["braze_id"]}}
        elif user["kind"] == "visitor" and not user["signed_up"]:
            event["anonymousId"] = user["anonymous_id"]
        else:
            event["userId"] = user["user_id"]
            event["anonymousId"] = user["anonymous_id"]
        return event

    # -- event kinds -------------------------------------------------------------------

    def identify(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        rng = self.rng
        event = self._base(user, "identify", when)
        city, country = user["city"]
        number = user["number"]
        traits: dict[str, Any] = {
            "email": f"{user['first'].lower()}.{number}@example.com",
            "phone": f"+1 (555) 010-{number:04d}",
            "birthday": f"19{60 + number % 40}-{1 + number % 12:02d}-{1 + number % 28:02d}",
            "gender": user["gender"],
            "avatar": f"https://img.example.com/avatars/{number}.png",
            "address": {"city": city, "country": country, "postalCode": "10115"},
            "language": user["language"],
            "timezone": user["zone"],
            "plan": rng.choice(("free", "plus", "pro")),
            "logins": {"inc": 1},
            "favourite_roasts": rng.sample(("light", "medium", "dark", "decaf"), 2),
            "preferences": {"grind": rng.choice(("fine", "coarse")), "decaf": False},
            "createdAt": "2023-11-02T09:30:00Z",
        }
        if number % 3 == 0:
            traits["firstName"], traits["lastName"] = user["first"], user["last"]
        else:
            traits["name"] = f"{user['first']} {user['last']}"
        if number % 4 == 0:
            traits["email_subscribe"] = rng.choice(("opted_in", "subscribed", "unsubscribed"))
            traits["push_subscribe"] = "subscribed"
            traits["subscription_groups"] = [{"subscription_group_id": "sg-newsletter",
                                              "subscription_state": "subscribed"}]
        if number % 5 == 0:
            traits["coupon"] = None  # unset a custom attribute
            traits["loyalty_tier"] = "gold"
        event["traits"] = traits
        event["context"]["location"] = {"latitude": 48.85 + number / 100,
                                        "longitude": 2.35 - number / 100}
        return event

    def track(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        rng = self.rng
        event = self._base(user, "track", when)
        name = rng.choice(_TRACKS)
        sku, title, price = rng.choice(_PRODUCTS)
        event["event"] = name
        event["properties"] = {"product_id": sku, "name": title, "price": price,
                               "category": "coffee", "tags": ["new", "organic"],
                               "page": {"path": "/shop", "referrer": "newsletter"}}
        if name == "Products Searched":
            event["properties"] = {"query": rng.choice(("beans", "grinder", "decaf"))}
        if rng.random() < 0.1:
            event["context"]["traits"] = {"email": f"{user['first'].lower()}@example.com",
                                          "last_seen_page": "/shop"}
        return event

    def order(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        rng = self.rng
        event = self._base(user, "track", when)
        products = []
        for sku, title, price in rng.sample(_PRODUCTS, rng.randrange(1, 4)):
            product: dict[str, Any] = {"product_id": sku, "name": title, "price": price,
                                       "quantity": rng.choice((1, 1, 2, 3))}
            if rng.random() < 0.1:
                product["currency"] = "GBP"
            products.append(product)
        if rng.random() < 0.05:
            products[0]["quantity"] = 150  # above Braze's 100: split in two purchases
        event["event"] = rng.choice(("Order Completed", "Order Completed", "order_completed"))
        event["properties"] = {
            "order_id": f"order-{rng.getrandbits(32):08x}",
            "currency": rng.choice(_CURRENCIES),
            "revenue": round(sum(p["price"] * p["quantity"] for p in products), 2),
            "coupon": rng.choice((None, "SPRING")), "products": products,
        }
        return event

    def revenue_only(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        event = self._base(user, "track", when)
        plan = self.rng.choice((("Subscription Renewed", 19.0), ("Gift Card Bought", "50")))
        event["event"], revenue = plan
        event["properties"] = {"revenue": revenue, "currency": "EUR"}
        return event

    def page(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        event = self._base(user, "page", when)
        category, name = self.rng.choice(_PAGES)
        if category:
            event["category"] = category
        if name:
            event["name"] = name
        event["properties"] = {"path": f"/{(name or '').lower()}",
                               "url": f"https://shop.example.com/{(name or '').lower()}",
                               "title": name or "Example Coffee"}
        return event

    def screen(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        event = self._base(user, "screen", when)
        name = self.rng.choice(_SCREENS)
        if name:
            event["name"] = name
        event["properties"] = {"variant": "b"}
        return event

    def group(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        event = self._base(user, "group", when)
        event["groupId"] = f"team-{user['number'] % 5}"
        event["traits"] = {"name": f"Team {user['number'] % 5}", "employees": 12}
        return event

    def debug(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        event = self._base(user, "track", when)
        event["event"] = "Debug Ping"  # in event_blocklist: skipped with its reason
        return event

    def sign_up(self, user: dict[str, Any], when: datetime) -> list[dict[str, Any]]:
        """An anonymous visitor signs up: identify (userId and anonymousId, which merges
        the visitor's alias profile) and an alias call, as analytics.js sends them."""
        user["signed_up"] = True
        identify = self.identify(user, when)
        alias = self._base(user, "alias", when + timedelta(seconds=1))
        alias["previousId"] = user["anonymous_id"]
        return [identify, alias]

    def delete(self, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        user["deleted"] = True
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"type": "delete", "userId": user["user_id"], "messageId": f"del-{user['number']}",
                "receivedAt": stamp, "context": {}}

    def audience(self, user: dict[str, Any], when: datetime, key: str, audience_id: str,
                 entered: bool, rng: random.Random) -> dict[str, Any]:
        """Segment Engage's view of an audience change: a track ``Audience Entered`` /
        ``Audience Exited`` or an identify with the audience key as a boolean trait."""
        event = self._base(user, "track" if rng.random() < 0.6 else "identify", when)
        event["messageId"] = f"engage-{rng.getrandbits(64):016x}"
        event["context"]["personas"] = {
            "computation_class": "audience", "computation_id": audience_id,
            "computation_key": key, "namespace": "spa_example", "space_id": "spa_example"}
        if event["type"] == "track":
            event["event"] = "Audience Entered" if entered else "Audience Exited"
            event["properties"] = {"audience_key": key, key: entered}
        else:
            event["traits"] = {key: entered}
        return event

    def nobody(self, when: datetime) -> dict[str, Any]:
        """A server-side event that names no user at all: skipped."""
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"type": "track", "event": "Inventory Synced", "timestamp": stamp,
                "messageId": f"srv-{self._uuid().hex}", "properties": {"items": 120}}

    # -- days ----------------------------------------------------------------------------

    def day(self, index: int) -> list[dict[str, Any]]:
        """About 900 events of one day, in time order."""
        rng = self.rng
        start = _START + timedelta(days=index)
        events: list[tuple[datetime, int, dict[str, Any]]] = []

        def add(when: datetime, event: dict[str, Any]) -> None:
            events.append((when, len(events), event))

        for user in self.users:
            if user["deleted"]:
                continue
            when = start + timedelta(seconds=rng.randrange(6 * 3600, 20 * 3600))
            if index == 0 or rng.random() < 0.3:
                add(when, self.identify(user, when))
            for _ in range(rng.randrange(12, 30)):
                when += timedelta(seconds=rng.randrange(5, 300))
                roll = rng.random()
                if roll < 0.45:
                    event = self.track(user, when)
                elif roll < 0.60:
                    event = self.screen(user, when) if user["mobile"] else self.page(user, when)
                elif roll < 0.70:
                    event = self.order(user, when)
                elif roll < 0.74:
                    event = self.revenue_only(user, when)
                elif roll < 0.78:
                    event = self.group(user, when)
                elif roll < 0.80:
                    event = self.debug(user, when)
                elif roll < 0.92:
                    event = self.page(user, when)
                else:
                    event = self.track(user, when)
                add(when, event)
            if user["kind"] == "visitor" and not user["signed_up"] and index == 1:
                when += timedelta(seconds=30)
                for event in self.sign_up(user, when):
                    add(when, event)
        for _ in range(5):
            when = start + timedelta(seconds=rng.randrange(86400))
            add(when, self.nobody(when))
        # Engage audiences, from their own generator so the other events stay as they were.
        engage = random.Random(SEED * 100 + index)  # noqa: S311 - example data, not secrets
        for key, audience_id in _AUDIENCES:
            for user in engage.sample(self.users, 6):
                if user["deleted"] or user["kind"] == "braze_id":
                    continue
                when = start + timedelta(seconds=engage.randrange(3600, 86400))
                add(when, self.audience(user, when, key, audience_id,
                                        engage.random() < 0.75, engage))
        if index == DAYS - 1:
            for user in (self.users[7], self.users[30]):
                when = start + timedelta(hours=23)
                add(when, self.delete(user, when))
        events.sort(key=lambda item: (item[0], item[1]))
        return [event for _, _, event in events]


def _bad_lines(day: int) -> list[bytes]:
    """Lines that must be rejected, each for a different reason."""
    stamp = f"2024-05-0{day + 1}T10:00:00Z"
    bad: list[Any] = [
        {"type": "track", "userId": "user-001", "event": "", "timestamp": stamp},
        {"type": "track", "userId": "user-002", "event": "Order Completed", "timestamp": stamp,
         "properties": {"products": [{"product_id": "sku-1001", "price": 14.5},
                                     {"product_id": "sku-1002"}]}},
        {"type": "track", "userId": "user-003", "event": "Product Viewed",
         "timestamp": "yesterday at noon"},
        {"type": "screenview", "userId": "user-004", "timestamp": stamp},
        {"type": "group", "userId": "user-005", "timestamp": stamp},
        {"type": "track", "userId": "user-006", "event": "Order Completed", "timestamp": stamp,
         "properties": {"currency": "DOUBLOONS", "products": [{"sku": "sku-1003",
                                                               "price": 3.2}]}},
        ["not", "an", "event"],
    ]
    lines = [json.dumps(event, separators=(",", ":")).encode() for event in bad[day::DAYS]]
    if day == 0:
        lines.append(b'{"type":"track","userId":"user-008","event":"Cut off","timest')
    if day == 1:
        lines.append(b"<html><body>502 Bad Gateway</body></html>")
    return lines


def archive() -> Iterator[tuple[str, list[bytes]]]:
    """``(relative path, lines)`` of every archive file, in order."""
    shop = _Shop()
    rng = random.Random(SEED + 1)  # noqa: S311 - example data, not secrets
    for index in range(DAYS):
        day = _START + timedelta(days=index)
        lines = [json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
                 for event in shop.day(index)]
        for bad in _bad_lines(index):
            lines.insert(rng.randrange(len(lines)), bad)
        size = -(-len(lines) // FILES_PER_DAY)
        for part in range(FILES_PER_DAY):
            copied = day + timedelta(hours=8 + part * 6, minutes=40)
            name = f"{int(copied.timestamp() * 1000)}.{rng.getrandbits(32):08x}.gz"
            path = f"segment-logs/{SOURCE_ID}/{int(day.timestamp())}/{name}"
            yield path, lines[part * size:(part + 1) * size]


def write(root: Path) -> list[Path]:
    """Write the archive under ``root`` (replacing this source's folder); the paths."""
    folder = root / "segment-logs" / SOURCE_ID
    if folder.exists():
        shutil.rmtree(folder)
    written = []
    for relative, lines in archive():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                   compresslevel=9, mtime=0) as file:
            file.write(b"".join(line + b"\n" for line in lines))
        written.append(path)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the example Segment archive.")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder that receives segment-logs/ (default: examples/)")
    paths = write(parser.parse_args().out)
    total = sum(p.stat().st_size for p in paths)
    sys.stdout.write(f"wrote {len(paths)} files, {total / 1024:.0f} KiB\n")
