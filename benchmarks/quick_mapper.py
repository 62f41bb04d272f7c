"""An independent minimal mapper: Segment events to Braze ``/users/track`` objects, the way
a quick script would do it.

Written without the library (nothing here imports it), as a baseline of what a small
hand-made integration costs: it renames the reserved traits, trims and lower-cases
emails, maps gender words, reads birthdays to ``YYYY-MM-DD``, turns an order's products
into purchases (price a float, quantity an integer, currency upper-cased), and makes
tracks and pages custom events. It checks nothing else: no name or size limits, no
nested values, no identity rules beyond ``userId``, no notices, no errors (a bad value
raises, or goes through as it is).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

__all__ = ["quick_mapping"]

TRAITS = {"firstName": "first_name", "lastName": "last_name", "email": "email",
          "phone": "phone", "birthday": "dob", "gender": "gender", "avatar": "image_url"}
GENDERS = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F",
           "o": "O", "other": "O", "non-binary": "O", "n": "N", "p": "P",
           "prefer not to say": "P"}


def _email(value: Any) -> Any:
    email = str(value).strip().lower()
    return email if "@" in email else None


def _gender(value: Any) -> Any:
    return GENDERS.get(str(value).strip().lower())


def _birthday(value: Any) -> Any:
    text = str(value)
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return datetime.fromisoformat(text).date().isoformat()


NORMALISE = {"email": _email, "gender": _gender, "dob": _birthday}


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"external_id": event["userId"]}
    for key, value in (event.get("traits") or {}).items():
        if key == "address" and isinstance(value, dict):
            out["home_city"] = value.get("city")
            out["country"] = value.get("country")
            continue
        name = TRAITS.get(key, key)
        normalise = NORMALISE.get(name)
        out[name] = normalise(value) if normalise and value is not None else value
    return out


def _purchases(event: dict[str, Any]) -> list[dict[str, Any]]:
    properties = event.get("properties") or {}
    currency = str(properties.get("currency") or "USD").upper()
    return [{"external_id": event["userId"], "product_id": str(product["product_id"]),
             "currency": str(product.get("currency") or currency).upper(),
             "price": float(product["price"]), "quantity": int(product.get("quantity", 1)),
             "time": event["timestamp"]}
            for product in properties.get("products") or ()]


def _event(event: dict[str, Any], name: str) -> dict[str, Any]:
    return {"external_id": event["userId"], "name": name, "time": event["timestamp"],
            "properties": event.get("properties") or {}}


def quick_mapping(event: dict[str, Any]) -> dict[str, Any] | None:
    """A Segment event as the body of one ``/users/track`` request (``None`` for an
    event without a ``userId``, or of a type it does not map)."""
    if not event.get("userId"):
        return None
    kind = event.get("type")
    if kind == "identify":
        return {"attributes": [_attributes(event)]}
    if kind == "track":
        if event.get("event") == "Order Completed":
            return {"purchases": _purchases(event)}
        return {"events": [_event(event, event["event"])]}
    if kind in ("page", "screen"):
        name = event.get("name")
        return {"events": [_event(event, f"Viewed {name} Page" if name else "Loaded a Page")]}
    if kind == "group":
        return {"attributes": [{"external_id": event["userId"],
                                f"ab_segment_group_{event['groupId']}": True}]}
    return None
