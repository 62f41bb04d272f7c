"""An independent check of request bodies against Braze's documented limits and formats.

Written from Braze's API documentation (the facts are collected in the project's
reference notes), deliberately without importing anything from ``segment_braze``: the
library's own constants cannot vouch for themselves. ``violations(endpoint, body)``
returns one ``"<json path>: <what is wrong>"`` line per broken rule, and an empty list for
a body Braze accepts.

What is checked:

- the body is plain JSON (dicts with string keys, lists, strings, finite numbers,
  booleans, null), so it serialises without NaN or infinities;
- ``/users/track``: up to 75 objects per array; each object carries exactly one identifier
  (``external_id``, ``braze_id``, ``user_alias`` or ``email``); attribute names, standard
  attribute formats, custom attribute values (strings, scalar arrays, nested objects,
  update operations), event names and times, purchase fields, and property names, values
  and size;
- ``/users/delete``, ``/users/identify``, ``/users/merge``, ``/users/alias/new``: their
  shapes and at most 50 entries;
- ``/v2/subscription/status/set``: group entries with an id, a state Braze knows, users
  by external id, email or phone (emails and phones never together), 50 users at most;
- Braze's recommended ecommerce events (``ecommerce.*`` custom events): the properties
  and product fields their schema requires, with their types.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

__all__ = ["check", "violations"]

MAX_TRACK_OBJECTS = 75
MAX_OTHER_ENTRIES = 50
MAX_NAME = 255
MAX_STRING = 255
MAX_SCALAR_ARRAY = 500
MAX_NESTED_BYTES = 100 * 1024
MAX_PROPERTIES_BYTES = 51_200
MAX_QUANTITY = 100

IDENTIFIERS = ("external_id", "braze_id", "user_alias", "email")
#: Keys of an attributes object that steer it rather than set an attribute.
CONTROL_KEYS = frozenset({"_update_existing_only", "_merge_objects", "push_token_import"})
EVENT_KEYS = frozenset({*IDENTIFIERS, "app_id", "name", "time", "properties",
                        "_update_existing_only"})
PURCHASE_KEYS = frozenset({*IDENTIFIERS, "app_id", "product_id", "currency", "price",
                           "quantity", "time", "properties", "_update_existing_only"})
RESERVED_PROPERTIES = frozenset({"time", "event_name"})
GENDERS = frozenset({"M", "F", "O", "N", "P"})
SUBSCRIBE_STATES = frozenset({"opted_in", "unsubscribed", "subscribed"})
GROUP_STATES = frozenset({"subscribed", "unsubscribed"})
PRIORITIZATION = frozenset({"identified", "unidentified", "most_recently_updated",
                            "least_recently_updated"})

_DOB = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?\Z")
_CURRENCY = re.compile(r"[A-Z]{3}\Z")
_LANGUAGE = re.compile(r"[a-z]{2}\Z")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")

Path = str
Found = list[str]


# -- small helpers ----------------------------------------------------------------------


def _key(path: Path, key: str) -> Path:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and (type(value) is int or math.isfinite(value))


def _is_text(value: Any) -> bool:
    return type(value) is str


def _non_empty_text(value: Any) -> bool:
    return type(value) is str and value.strip() != ""


def _size(value: Any) -> int:
    """Bytes of compact UTF-8 JSON, as Braze measures payloads."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _plain_json(value: Any, path: Path, found: Found) -> None:
    """Only JSON's own types, and finite numbers (iteratively: bodies can be deep)."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, sub in item.items():
                if type(key) is not str:
                    found.append(f"{where}: key {key!r} is not a string")
                    continue
                stack.append((sub, _key(where, key)))
        elif kind is list:
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
        elif kind is float:
            if not math.isfinite(item):
                found.append(f"{where}: {item!r} is not a JSON number")
        elif item is not None and kind not in (str, int, bool):
            found.append(f"{where}: {kind.__name__} is not a JSON type")


def _name_problem(name: str) -> str | None:
    if name == "":
        return "empty name"
    if len(name) > MAX_NAME:
        return f"name longer than {MAX_NAME} characters"
    if name.startswith("$"):
        return "name starts with '$'"
    return None


def _iso_datetime(value: Any) -> bool:
    if not _is_text(value) or not _ISO_DATETIME.match(value):
        return False
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_string(value: Any, path: Path, found: Found) -> None:
    if _is_text(value) and len(value) > MAX_STRING:
        found.append(f"{path}: string longer than {MAX_STRING} characters")


# -- identifiers ------------------------------------------------------------------------


def _alias(value: Any, path: Path, found: Found) -> None:
    if type(value) is not dict or set(value) != {"alias_name", "alias_label"}:
        found.append(f"{path}: a user alias is exactly {{alias_name, alias_label}}")
        return
    for part in ("alias_name", "alias_label"):
        if not _non_empty_text(value[part]):
            found.append(f"{path}.{part}: expected a non-empty string")


def _identifier_value(kind: str, value: Any, path: Path, found: Found) -> None:
    if kind == "user_alias":
        _alias(value, path, found)
    elif kind == "email":
        if not _is_text(value) or not _EMAIL.match(value.strip()):
            found.append(f"{path}: not an email address")
    elif not _non_empty_text(value):
        found.append(f"{path}: expected a non-empty string")


def _one_identifier(obj: dict[str, Any], path: Path, found: Found, *,
                    email_is_attribute: bool) -> None:
    """Exactly one identifier. In attributes objects ``email`` is also a standard
    attribute, so it identifies the user only when no other identifier is present."""
    strong: list[str] = [k for k in ("external_id", "braze_id", "user_alias") if k in obj]
    if email_is_attribute:
        chosen = strong or (["email"] if "email" in obj else [])
    else:
        chosen = [k for k in IDENTIFIERS if k in obj]
    if len(chosen) != 1:
        what = ", ".join(chosen) if chosen else "none"
        found.append(f"{path}: expected exactly one identifier ({', '.join(IDENTIFIERS)}), "
                     f"found {what}")
        return
    kind = chosen[0]
    _identifier_value(kind, obj[kind], _key(path, kind), found)


def _flag(obj: dict[str, Any], key: str, path: Path, found: Found) -> None:
    if key in obj and type(obj[key]) is not bool:
        found.append(f"{_key(path, key)}: expected true or false")


# -- attributes -------------------------------------------------------------------------


def _optional(check: Callable[[Any], bool], message: str) -> Callable[[Any, Path, Found], None]:
    """A standard attribute check where ``null`` (unset) is always accepted."""
    def run(value: Any, path: Path, found: Found) -> None:
        if value is not None and not check(value):
            found.append(f"{path}: {message}")
    return run


def _short_text(value: Any) -> bool:
    return _is_text(value) and len(value) <= MAX_STRING


def _dob(value: Any) -> bool:
    if not _is_text(value) or not _DOB.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _location(value: Any) -> bool:
    return (type(value) is dict and set(value) == {"latitude", "longitude"}
            and _is_number(value["latitude"]) and _is_number(value["longitude"])
            and -90 <= value["latitude"] <= 90 and -180 <= value["longitude"] <= 180)


def _groups(value: Any) -> bool:
    return (type(value) is list and all(
        type(g) is dict and set(g) == {"subscription_group_id", "subscription_state"}
        and _non_empty_text(g["subscription_group_id"])
        and g["subscription_state"] in GROUP_STATES for g in value))


def _email(value: Any) -> bool:
    return _short_text(value) and _EMAIL.match(value) is not None


#: Standard attribute -> its format check.
STANDARD: dict[str, Callable[[Any, Path, Found], None]] = {
    "first_name": _optional(_short_text, "expected a string of at most 255 characters"),
    "last_name": _optional(_short_text, "expected a string of at most 255 characters"),
    "home_city": _optional(_short_text, "expected a string of at most 255 characters"),
    "image_url": _optional(_short_text, "expected a string of at most 255 characters"),
    "phone": _optional(_short_text, "expected a string of at most 255 characters"),
    "country": _optional(_short_text, "expected a string of at most 255 characters"),
    "time_zone": _optional(_short_text, "expected a string"),
    "language": _optional(lambda v: _is_text(v) and bool(_LANGUAGE.match(v)),
                          "expected an ISO 639-1 code"),
    "email": _optional(_email, "expected an email address"),
    "dob": _optional(_dob, "expected a date as YYYY-MM-DD"),
    "gender": _optional(lambda v: v in GENDERS, "expected M, F, O, N, P or null"),
    "email_subscribe": _optional(lambda v: v in SUBSCRIBE_STATES,
                                 "expected opted_in, unsubscribed or subscribed"),
    "push_subscribe": _optional(lambda v: v in SUBSCRIBE_STATES,
                                "expected opted_in, unsubscribed or subscribed"),
    "current_location": _optional(_location, "expected {latitude, longitude} numbers"),
    "subscription_groups": _optional(
        _groups, "expected [{subscription_group_id, subscription_state}]"),
}


def _scalar(value: Any) -> bool:
    return value is None or type(value) in (str, bool) or _is_number(value)


def _is_time_wrapper(value: Any) -> bool:
    return type(value) is dict and set(value) == {"$time"}


def _nested(value: Any, path: Path, found: Found) -> None:
    """A nested custom attribute: keys without a leading ``$``, ``.`` or spaces, no
    ``null`` inside, strings within 255 characters; ``{"$time": ...}`` wraps dates."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if item is None:
            found.append(f"{where}: null inside a nested attribute")
        elif _is_time_wrapper(item):
            if not _is_text(item["$time"]) or not item["$time"]:
                found.append(f"{where}.$time: expected a date string")
        elif type(item) is dict:
            for key, sub in item.items():
                problem = _name_problem(key)
                if problem is None and ("." in key or " " in key):
                    problem = "nested keys must not contain '.' or spaces"
                if problem is not None:
                    found.append(f"{_key(where, key)}: {problem}")
                stack.append((sub, _key(where, key)))
        elif type(item) is list:
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
        else:
            _check_string(item, where, found)


def _scalar_array(value: Any, path: Path, found: Found) -> None:
    if type(value) is not list:
        found.append(f"{path}: expected an array")
        return
    if len(value) > MAX_SCALAR_ARRAY:
        found.append(f"{path}: array longer than {MAX_SCALAR_ARRAY} items")
    for index, item in enumerate(value):
        if item is None or not _scalar(item):
            found.append(f"{path}[{index}]: arrays of scalars hold strings, numbers or "
                         "booleans")
        else:
            _check_string(item, f"{path}[{index}]", found)


def _identified(entry: Any, path: Path, found: Found, update: bool) -> None:
    expected = {"$identifier_key", "$identifier_value"} | ({"$new_object"} if update else set())
    if type(entry) is not dict or set(entry) != expected:
        found.append(f"{path}: expected exactly {', '.join(sorted(expected))}")
        return
    if not _non_empty_text(entry["$identifier_key"]):
        found.append(f"{path}.$identifier_key: expected a non-empty string")
    if not _scalar(entry["$identifier_value"]) or entry["$identifier_value"] is None:
        found.append(f"{path}.$identifier_value: expected a scalar")
    if update:
        if type(entry["$new_object"]) is not dict:
            found.append(f"{path}.$new_object: expected an object")
        else:
            _nested(entry["$new_object"], f"{path}.$new_object", found)


def _operation(value: dict[str, Any], path: Path, found: Found, merge_objects: bool) -> bool:
    """Checks an update operation; ``False`` when ``value`` is not one."""
    keys = set(value)
    if keys == {"inc"}:
        if type(value["inc"]) is not int:
            found.append(f"{path}.inc: expected an integer")
        return True
    if keys and keys <= {"add", "remove"}:
        for op in keys:
            _scalar_array(value[op], f"{path}.{op}", found)
        return True
    if keys and keys <= {"$add", "$remove", "$update"}:
        for op in sorted(keys):
            items = value[op]
            where = f"{path}.{op}"
            if type(items) is not list or not all(type(i) is dict for i in items):
                found.append(f"{where}: expected an array of objects")
                continue
            for index, item in enumerate(items):
                if op == "$add":
                    _nested(item, f"{where}[{index}]", found)
                else:
                    _identified(item, f"{where}[{index}]", found, op == "$update")
        if "$update" in keys and not merge_objects:
            found.append(f"{path}.$update: needs _merge_objects: true in the same object")
        return True
    return False


def _custom(value: Any, path: Path, found: Found, merge_objects: bool) -> None:
    if value is None or type(value) is bool or _is_number(value):
        return
    if _is_text(value):
        _check_string(value, path, found)
        return
    if type(value) is list:
        if value and all(type(i) is dict for i in value):
            _nested(value, path, found)  # an array of objects
        else:
            _scalar_array(value, path, found)
    elif type(value) is dict:
        if not _operation(value, path, found, merge_objects):
            _nested(value, path, found)
    else:
        found.append(f"{path}: not a Braze attribute value")
        return
    if type(value) in (list, dict) and _size(value) > MAX_NESTED_BYTES:
        found.append(f"{path}: larger than {MAX_NESTED_BYTES:,} bytes")


def _attributes(obj: Any, path: Path, found: Found) -> None:
    if type(obj) is not dict:
        found.append(f"{path}: expected an object")
        return
    _one_identifier(obj, path, found, email_is_attribute=True)
    for key in CONTROL_KEYS:
        _flag(obj, key, path, found)
    merge_objects = obj.get("_merge_objects") is True
    identified_by_email = not any(k in obj for k in ("external_id", "braze_id", "user_alias"))
    for name, value in obj.items():
        where = _key(path, name)
        if name in CONTROL_KEYS or name in ("external_id", "braze_id", "user_alias"):
            continue
        if name == "email" and identified_by_email:
            continue
        problem = _name_problem(name)
        if problem is not None:
            found.append(f"{where}: {problem}")
            continue
        standard = STANDARD.get(name)
        if standard is not None:
            standard(value, where, found)
        else:
            _custom(value, where, found, merge_objects)


# -- events and purchases ---------------------------------------------------------------


def _properties(value: Any, path: Path, found: Found) -> None:
    if type(value) is not dict:
        found.append(f"{path}: expected an object")
        return
    for key in value:
        problem = _name_problem(key)
        if problem is not None:
            found.append(f"{_key(path, key)}: {problem}")
        if key in RESERVED_PROPERTIES:
            found.append(f"{_key(path, key)}: reserved by Braze")
    stack = [(v, _key(path, k)) for k, v in value.items()]
    while stack:
        item, where = stack.pop()
        if type(item) is dict:
            for key, sub in item.items():
                problem = _name_problem(key)
                if problem is not None:
                    found.append(f"{_key(where, key)}: {problem}")
                stack.append((sub, _key(where, key)))
        elif type(item) is list:
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
        else:
            _check_string(item, where, found)
    if _size(value) > MAX_PROPERTIES_BYTES:
        found.append(f"{path}: larger than {MAX_PROPERTIES_BYTES:,} bytes")


def _common(obj: dict[str, Any], allowed: frozenset[str], path: Path, found: Found) -> None:
    _one_identifier(obj, path, found, email_is_attribute=False)
    for key in sorted(set(obj) - allowed):
        found.append(f"{_key(path, key)}: not a field of this object")
    if "app_id" in obj and not _non_empty_text(obj["app_id"]):
        found.append(f"{path}.app_id: expected a non-empty string")
    if not _iso_datetime(obj.get("time")):
        found.append(f"{path}.time: expected an ISO 8601 date-time")
    _flag(obj, "_update_existing_only", path, found)
    if "properties" in obj:
        _properties(obj["properties"], f"{path}.properties", found)


def _event(obj: Any, path: Path, found: Found) -> None:
    if type(obj) is not dict:
        found.append(f"{path}: expected an object")
        return
    _common(obj, EVENT_KEYS, path, found)
    name = obj.get("name")
    if not isinstance(name, str):
        found.append(f"{path}.name: expected a string")
    else:
        problem = _name_problem(name) or (None if name.strip() else "blank name")
        if problem is not None:
            found.append(f"{path}.name: {problem}")
        elif name.startswith("ecommerce."):
            _ecommerce(name, obj.get("properties"), path, found)


#: Braze's recommended ecommerce events: the event-level properties each requires (its
#: "eCommerce recommended events" page), beside ``currency`` and ``source``, and whether
#: its product is the event itself (``product_viewed``) or a ``products`` array.
ECOMMERCE_REQUIRED: dict[str, tuple[frozenset[str], bool]] = {
    "ecommerce.product_viewed": (frozenset({"product_id", "product_name", "variant_id",
                                            "price"}), True),
    "ecommerce.cart_updated": (frozenset({"cart_id"}), False),
    "ecommerce.checkout_started": (frozenset({"checkout_id", "total_value"}), False),
    "ecommerce.order_placed": (frozenset({"order_id", "total_value"}), False),
    "ecommerce.order_refunded": (frozenset({"order_id", "total_value"}), False),
    "ecommerce.order_cancelled": (frozenset({"order_id", "cancel_reason", "total_value"}),
                                  False),
}
ECOMMERCE_NUMBERS = frozenset({"price", "total_value", "subtotal_value", "tax", "shipping",
                               "total_discounts"})
PRODUCT_REQUIRED = frozenset({"product_id", "product_name", "variant_id", "quantity",
                              "price"})


def _ecommerce_fields(values: dict[str, Any], required: frozenset[str], path: Path,
                      found: Found) -> None:
    for key in sorted(required - set(values)):
        found.append(f"{path}.{key}: required by the recommended event's schema")
    for key, value in values.items():
        if key in ECOMMERCE_NUMBERS and (type(value) is bool or not _is_number(value)):
            found.append(f"{path}.{key}: expected a number")
        elif key == "quantity" and (type(value) is not int or value < 1):
            found.append(f"{path}.{key}: expected a whole number >= 1")
        elif key in ("product_id", "product_name", "variant_id", "order_id", "cart_id",
                     "checkout_id", "cancel_reason", "source") and not _non_empty_text(value):
            found.append(f"{path}.{key}: expected a non-empty string")


def _ecommerce(name: str, properties: Any, path: Path, found: Found) -> None:
    if name not in ECOMMERCE_REQUIRED:
        found.append(f"{path}.name: not one of Braze's recommended ecommerce events")
        return
    if type(properties) is not dict:
        found.append(f"{path}.properties: a recommended event needs its properties")
        return
    required, single = ECOMMERCE_REQUIRED[name]
    where = f"{path}.properties"
    _ecommerce_fields(properties, required | {"currency", "source"}, where, found)
    if not isinstance(properties.get("currency"), str) or not _CURRENCY.match(
            properties["currency"]):
        found.append(f"{where}.currency: expected a three-letter upper-case code")
    if "metadata" in properties and type(properties["metadata"]) is not dict:
        found.append(f"{where}.metadata: expected an object")
    if single:
        return
    products = properties.get("products")
    if type(products) is not list or not products:
        found.append(f"{where}.products: expected a non-empty array of products")
        return
    for index, product in enumerate(products):
        if type(product) is not dict:
            found.append(f"{where}.products[{index}]: expected an object")
            continue
        _ecommerce_fields(product, PRODUCT_REQUIRED, f"{where}.products[{index}]", found)


def _purchase(obj: Any, path: Path, found: Found) -> None:
    if type(obj) is not dict:
        found.append(f"{path}: expected an object")
        return
    _common(obj, PURCHASE_KEYS, path, found)
    product_id = obj.get("product_id")
    if not isinstance(product_id, str) or not product_id.strip() or len(product_id) > MAX_NAME:
        found.append(f"{path}.product_id: expected a non-empty string of at most "
                     f"{MAX_NAME} characters")
    currency = obj.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        found.append(f"{path}.currency: expected a three-letter upper-case code")
    price = obj.get("price")
    if type(price) is bool or not _is_number(price):
        found.append(f"{path}.price: expected a finite number")
    if "quantity" in obj:
        quantity = obj["quantity"]
        if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
            found.append(f"{path}.quantity: expected an integer from 1 to {MAX_QUANTITY}")


# -- endpoints --------------------------------------------------------------------------


def _array(body: dict[str, Any], name: str, limit: int, found: Found) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if type(value) is not list:
        found.append(f"$.{name}: expected an array")
        return []
    if len(value) > limit:
        found.append(f"$.{name}: {len(value)} entries; at most {limit} per request")
    return value


def _only_keys(body: dict[str, Any], allowed: set[str], found: Found) -> None:
    for key in sorted(set(body) - allowed):
        found.append(f"{_key('$', key)}: not a field of this request")


def _users_track(body: dict[str, Any], found: Found) -> None:
    _only_keys(body, {"attributes", "events", "purchases"}, found)
    checks = (("attributes", _attributes), ("events", _event), ("purchases", _purchase))
    total = 0
    for name, check_one in checks:
        entries = _array(body, name, MAX_TRACK_OBJECTS, found)
        total += len(entries)
        for index, obj in enumerate(entries):
            check_one(obj, f"$.{name}[{index}]", found)
    if total == 0:
        found.append("$: a /users/track request needs attributes, events or purchases")


def _users_delete(body: dict[str, Any], found: Found) -> None:
    kinds = {"external_ids", "braze_ids", "user_aliases", "email_addresses", "phone_numbers"}
    _only_keys(body, kinds, found)
    total = 0
    for name in sorted(kinds & set(body)):
        entries = _array(body, name, MAX_OTHER_ENTRIES, found)
        total += len(entries)
        for index, entry in enumerate(entries):
            where = f"$.{name}[{index}]"
            if name in ("external_ids", "braze_ids"):
                if not _non_empty_text(entry):
                    found.append(f"{where}: expected a non-empty string")
            elif name == "user_aliases":
                _alias(entry, where, found)
            else:
                _prioritised(entry, "email" if name == "email_addresses" else "phone",
                             where, found)
    if total == 0:
        found.append("$: a /users/delete request needs at least one identifier")
    elif total > MAX_OTHER_ENTRIES:
        found.append(f"$: {total} identifiers; at most {MAX_OTHER_ENTRIES} per request")


def _prioritised(entry: Any, kind: str, path: Path, found: Found) -> None:
    if type(entry) is not dict or set(entry) != {kind, "prioritization"}:
        found.append(f"{path}: expected exactly {{{kind}, prioritization}}")
        return
    if not _non_empty_text(entry[kind]):
        found.append(f"{path}.{kind}: expected a non-empty string")
    order = entry["prioritization"]
    if type(order) is not list or not order or not all(p in PRIORITIZATION for p in order):
        found.append(f"{path}.prioritization: expected an array of "
                     f"{', '.join(sorted(PRIORITIZATION))}")


def _users_identify(body: dict[str, Any], found: Found) -> None:
    arrays = {"aliases_to_identify", "emails_to_identify", "phone_numbers_to_identify"}
    _only_keys(body, arrays | {"merge_behavior"}, found)
    if "merge_behavior" in body and body["merge_behavior"] not in ("none", "merge"):
        found.append("$.merge_behavior: expected 'none' or 'merge'")
    total = 0
    for index, entry in enumerate(_array(body, "aliases_to_identify", MAX_OTHER_ENTRIES,
                                         found)):
        where = f"$.aliases_to_identify[{index}]"
        total += 1
        if type(entry) is not dict or set(entry) != {"external_id", "user_alias"}:
            found.append(f"{where}: expected exactly {{external_id, user_alias}}")
            continue
        if not _non_empty_text(entry["external_id"]):
            found.append(f"{where}.external_id: expected a non-empty string")
        _alias(entry["user_alias"], f"{where}.user_alias", found)
    for name, kind in (("emails_to_identify", "email"), ("phone_numbers_to_identify", "phone")):
        for index, entry in enumerate(_array(body, name, MAX_OTHER_ENTRIES, found)):
            where = f"$.{name}[{index}]"
            total += 1
            if type(entry) is not dict or set(entry) != {"external_id", kind, "prioritization"}:
                found.append(f"{where}: expected exactly {{external_id, {kind}, "
                             "prioritization}")
                continue
            if not _non_empty_text(entry["external_id"]):
                found.append(f"{where}.external_id: expected a non-empty string")
    if total == 0:
        found.append("$: a /users/identify request needs at least one entry")


def _merge_identifier(value: Any, path: Path, found: Found) -> None:
    if type(value) is not dict:
        found.append(f"{path}: expected an object")
        return
    kinds = [k for k in ("external_id", "user_alias", "email", "phone") if k in value]
    if len(kinds) != 1:
        found.append(f"{path}: expected exactly one of external_id, user_alias, email, phone")
        return
    kind = kinds[0]
    allowed = {kind, "prioritization"} if kind in ("email", "phone") else {kind}
    if kind in ("email", "phone") and "prioritization" not in value:
        found.append(f"{path}: {kind} needs a prioritization")
    for key in sorted(set(value) - allowed):
        found.append(f"{_key(path, key)}: not a field of an identifier")
    if kind == "user_alias":
        _alias(value[kind], f"{path}.user_alias", found)
    elif not _non_empty_text(value[kind]):
        found.append(f"{path}.{kind}: expected a non-empty string")


def _users_merge(body: dict[str, Any], found: Found) -> None:
    _only_keys(body, {"merge_updates"}, found)
    entries = _array(body, "merge_updates", MAX_OTHER_ENTRIES, found)
    if not entries:
        found.append("$.merge_updates: at least one merge update is needed")
    for index, entry in enumerate(entries):
        where = f"$.merge_updates[{index}]"
        if type(entry) is not dict or set(entry) != {"identifier_to_merge",
                                                     "identifier_to_keep"}:
            found.append(f"{where}: expected exactly identifier_to_merge and "
                         "identifier_to_keep")
            continue
        _merge_identifier(entry["identifier_to_merge"], f"{where}.identifier_to_merge", found)
        _merge_identifier(entry["identifier_to_keep"], f"{where}.identifier_to_keep", found)
        if entry["identifier_to_merge"] == entry["identifier_to_keep"]:
            found.append(f"{where}: a user cannot be merged into itself")


def _users_alias_new(body: dict[str, Any], found: Found) -> None:
    _only_keys(body, {"user_aliases"}, found)
    entries = _array(body, "user_aliases", MAX_OTHER_ENTRIES, found)
    if not entries:
        found.append("$.user_aliases: at least one alias is needed")
    for index, entry in enumerate(entries):
        where = f"$.user_aliases[{index}]"
        if type(entry) is not dict or not {"alias_name", "alias_label"} <= set(entry) or (
                set(entry) - {"alias_name", "alias_label", "external_id"}):
            found.append(f"{where}: expected alias_name, alias_label and maybe external_id")
            continue
        for key in sorted(entry):
            if not _non_empty_text(entry[key]):
                found.append(f"{where}.{key}: expected a non-empty string")


MAX_SUBSCRIPTION_USERS = 50


def _subscription_status(body: dict[str, Any], found: Found) -> None:
    _only_keys(body, {"subscription_groups"}, found)
    groups = body.get("subscription_groups")
    if type(groups) is not list or not groups:
        found.append("$.subscription_groups: expected a non-empty array")
        return
    users = 0
    for index, entry in enumerate(groups):
        where = f"$.subscription_groups[{index}]"
        if type(entry) is not dict:
            found.append(f"{where}: expected an object")
            continue
        _only_keys(entry, {"subscription_group_id", "subscription_state", "external_ids",
                           "emails", "phones", "use_double_opt_in_logic"}, found)
        if not _non_empty_text(entry.get("subscription_group_id")):
            found.append(f"{where}.subscription_group_id: expected a non-empty string")
        if entry.get("subscription_state") not in GROUP_STATES:
            found.append(f"{where}.subscription_state: expected subscribed or unsubscribed")
        if "emails" in entry and "phones" in entry:
            found.append(f"{where}: emails and phones cannot go together")
        named = 0
        for array in ("external_ids", "emails", "phones"):
            if array not in entry:
                continue
            values = entry[array]
            if type(values) is not list or not values:
                found.append(f"{where}.{array}: expected a non-empty array")
                continue
            named += len(values)
            for position, value in enumerate(values):
                if not _non_empty_text(value):
                    found.append(f"{where}.{array}[{position}]: expected a non-empty string")
                elif array == "emails" and not _EMAIL.match(value):
                    found.append(f"{where}.{array}[{position}]: not an email address")
        if named == 0:
            found.append(f"{where}: names no user")
        users += named
    if users > MAX_SUBSCRIPTION_USERS:
        found.append(f"$.subscription_groups: {users} users; at most "
                     f"{MAX_SUBSCRIPTION_USERS} per request")


ENDPOINTS: dict[str, Callable[[dict[str, Any], Found], None]] = {
    "/users/track": _users_track,
    "/users/delete": _users_delete,
    "/users/identify": _users_identify,
    "/users/merge": _users_merge,
    "/users/alias/new": _users_alias_new,
    "/v2/subscription/status/set": _subscription_status,
}


def violations(endpoint: str, body: Any) -> list[str]:
    """Every documented Braze rule ``body`` breaks for ``endpoint``, as
    ``"<path>: <problem>"`` lines; empty when Braze accepts it."""
    found: Found = []
    check_endpoint = ENDPOINTS.get(endpoint)
    if check_endpoint is None:
        return [f"{endpoint}: not an endpoint this checker knows"]
    if type(body) is not dict:
        return ["$: the body must be a JSON object"]
    _plain_json(body, "$", found)
    if found:
        return found  # the rest assumes plain JSON
    check_endpoint(body, found)
    return found


def check(request: Any) -> list[str]:
    """:func:`violations` of a request object (anything with ``endpoint`` and
    ``to_json()``)."""
    return violations(request.endpoint, request.to_json())
