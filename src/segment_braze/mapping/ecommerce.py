"""Segment's ecommerce events -> Braze's recommended ecommerce events (``ecommerce_events``).

Braze validates these custom events against a schema of its own (its "eCommerce
recommended events" page) and builds carts, order totals and revenue fields from them;
Braze says it will phase out the purchase object in their favour. With
``ecommerce_events`` on, the tracks of :data:`ECOMMERCE_EVENTS` become those events:

- the event-level fields come from the properties named in :data:`ORDER_FIELDS` (the
  first present wins), the fields of each product from :data:`PRODUCT_FIELDS`;
  ``currency`` from ``properties.currency``, else ``default_currency``; ``source`` from
  ``properties.source``, else ``context.device.type`` when it is ``ios`` or ``android``,
  else ``web``;
- what has no field of its own goes into ``metadata``: the product's other keys into the
  product's, the event's other properties into the event's (beside what the event's own
  ``metadata`` object holds);
- an event that cannot meet the schema (a required field missing or of the wrong type,
  see :data:`SCHEMAS`) is not sent as a recommended event: a notice names each field,
  and the row sends what it would send without ``ecommerce_events``.

Orders (the events the ``purchase`` row takes) become ``ecommerce.order_placed`` instead
of purchases, or beside them with ``ecommerce_purchases``: see :func:`ecommerce_order`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs

from .._tables import CURRENCIES
from ..combinators import Trace, name_of, trace
from ..events import Track
from ..limits import MAX_NAME, MAX_STRING
from ..settings import purchase_key
from .events import custom_event
from .purchases import PRODUCT_ID_KEYS, number
from .values import clean_properties

if TYPE_CHECKING:
    from ..scope import Emitter, Output, Scope

__all__ = [
    "DEFAULT_SOURCE",
    "ECOMMERCE_EVENTS",
    "ORDER_FIELDS",
    "PRODUCT_FIELDS",
    "SCHEMAS",
    "SOURCES",
    "Schema",
    "ecommerce_event_of",
    "ecommerce_order",
    "track_to_ecommerce",
]

PathT = tuple[str | int, ...]

#: How a field's value is read: ``id`` a non-blank string or an integer (sent as a
#: string) of at most 255 characters; ``text`` a non-blank string of at most 255
#: characters; ``number`` a finite number or a numeric string; ``quantity`` a whole
#: number >= 1 (1 when absent); ``objects`` an array of objects.
Kind: TypeAlias = Literal["id", "text", "number", "quantity", "objects"]

#: Segment track event -> (Braze recommended event, the cart ``action``). Names compare as
#: ``purchase_events`` do: ignoring case, spaces, ``_`` and ``-``. The v1 names Segment's
#: spec still lists (``Viewed Product``, ``Added Product``, ``Completed Order``) are
#: included.
ECOMMERCE_EVENTS: Final[Mapping[str, tuple[str, str | None]]] = {
    "Product Viewed": ("ecommerce.product_viewed", None),
    "Viewed Product": ("ecommerce.product_viewed", None),
    "Product Added": ("ecommerce.cart_updated", "add"),
    "Added Product": ("ecommerce.cart_updated", "add"),
    "Product Removed": ("ecommerce.cart_updated", "remove"),
    "Checkout Started": ("ecommerce.checkout_started", None),
    "Order Completed": ("ecommerce.order_placed", None),
    "Completed Order": ("ecommerce.order_placed", None),
    "Order Refunded": ("ecommerce.order_refunded", None),
    "Order Cancelled": ("ecommerce.order_cancelled", None),
}

_BY_KEY: Final = {purchase_key(name): braze for name, braze in ECOMMERCE_EVENTS.items()}

#: Braze's event-level fields: field -> (the Segment properties read, first present wins;
#: how the value is read).
ORDER_FIELDS: Final[Mapping[str, tuple[tuple[str, ...], Kind]]] = {
    "order_id": (("order_id",), "id"),
    "checkout_id": (("checkout_id", "order_id"), "id"),
    "cart_id": (("cart_id",), "id"),
    "cancel_reason": (("cancel_reason", "reason"), "text"),
    "total_value": (("total", "revenue", "value"), "number"),
    "subtotal_value": (("subtotal",), "number"),
    "tax": (("tax",), "number"),
    "shipping": (("shipping",), "number"),
    "total_discounts": (("discount", "total_discounts"), "number"),
    "discounts": (("discounts",), "objects"),
}

#: Braze's product fields: field -> (the product's keys read, first present wins; how the
#: value is read). A product without a variant is its own: ``variant_id`` falls back to
#: the product id.
PRODUCT_FIELDS: Final[Mapping[str, tuple[tuple[str, ...], Kind]]] = {
    "product_id": (PRODUCT_ID_KEYS, "id"),
    "product_name": (("name", "product_name"), "text"),
    "variant_id": (("variant", "variant_id", "sku"), "id"),
    "image_url": (("image_url",), "text"),
    "product_url": (("url", "product_url"), "text"),
    "quantity": (("quantity",), "quantity"),
    "price": (("price",), "number"),
}

#: Where ``source`` comes from when ``properties.source`` is not given: the device types
#: that name it, else :data:`DEFAULT_SOURCE`.
SOURCES: Final = frozenset({"ios", "android"})
#: The ``source`` of an event that says nothing of where it comes from.
DEFAULT_SOURCE: Final = "web"


@attrs.frozen
class Schema:
    """What one Braze recommended event holds, as its page documents it: the event-level
    fields (of :data:`ORDER_FIELDS`) in Braze's order and those required, whether its
    product is the event itself (``product_viewed``) or a ``products`` array, and the
    product fields it takes."""

    fields: tuple[str, ...]
    required: frozenset[str]
    single_product: bool = False
    product_fields: tuple[str, ...] = ("product_id", "product_name", "variant_id",
                                       "image_url", "product_url", "quantity", "price")

    @property
    def product_required(self) -> frozenset[str]:
        """The product fields Braze requires."""
        return frozenset(self.product_fields) - {"image_url", "product_url"}


#: Braze recommended event -> its schema. ``total_value`` of ``cart_updated`` is
#: optional: a cart change carries its ``action`` (as Segment's destination sends it).
SCHEMAS: Final[Mapping[str, Schema]] = {
    "ecommerce.product_viewed": Schema(
        (), frozenset(), single_product=True,
        product_fields=("product_id", "product_name", "variant_id", "image_url",
                        "product_url", "price")),
    "ecommerce.cart_updated": Schema(
        ("cart_id", "total_value", "subtotal_value", "tax", "shipping"),
        frozenset({"cart_id"})),
    "ecommerce.checkout_started": Schema(
        ("checkout_id", "cart_id", "total_value", "subtotal_value", "tax", "shipping"),
        frozenset({"checkout_id", "total_value"})),
    "ecommerce.order_placed": Schema(
        ("order_id", "cart_id", "total_value", "subtotal_value", "tax", "shipping",
         "total_discounts", "discounts"),
        frozenset({"order_id", "total_value"})),
    "ecommerce.order_refunded": Schema(
        ("order_id", "total_value", "total_discounts", "discounts"),
        frozenset({"order_id", "total_value"})),
    "ecommerce.order_cancelled": Schema(
        ("order_id", "cancel_reason", "total_value", "subtotal_value", "tax", "shipping",
         "total_discounts", "discounts"),
        frozenset({"order_id", "cancel_reason", "total_value"})),
}


def ecommerce_event_of(name: str) -> tuple[str, str | None] | None:
    """The Braze recommended event (and cart action) of a Segment event name, or
    ``None``."""
    return _BY_KEY.get(purchase_key(name))


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Final = _Missing()


class _Wrong:
    """A value present under ``key`` that the field's kind refuses, and why."""

    __slots__ = ("key", "why")

    def __init__(self, key: str, why: str) -> None:
        self.key = key
        self.why = why


_EXPECTED: Final[Mapping[Kind, str]] = {
    "id": f"a string or an integer of at most {MAX_NAME} characters",
    "text": f"a non-blank string of at most {MAX_STRING} characters",
    "number": "a finite number",
    "quantity": "a whole number >= 1",
    "objects": "an array of objects",
}


def _read(value: Any, kind: Kind) -> Any:
    """``value`` as the field's kind takes it, or ``_MISSING`` when it refuses it."""
    if kind == "number":
        return _MISSING if isinstance(value, bool) else _or_missing(number(value))
    if kind == "quantity":
        amount = None if isinstance(value, bool) else number(value)
        return int(amount) if amount is not None and amount == int(amount) \
            and amount >= 1 else _MISSING
    if kind == "objects":
        return value if isinstance(value, list) and value \
            and all(isinstance(i, Mapping) for i in value) else _MISSING
    if kind == "id" and type(value) is int:
        value = str(value)
    if type(value) is str and value.strip() and len(value) <= MAX_STRING:
        return value
    return _MISSING


def _or_missing(value: Any) -> Any:
    return _MISSING if value is None else value


def _field(source: Mapping[str, Any], keys: tuple[str, ...], kind: Kind,
           used: set[str]) -> Any:
    """The first of ``keys`` present in ``source`` (not ``null``), read as ``kind``:
    the value, ``_MISSING`` when none is present, or a :class:`_Wrong`."""
    for key in keys:
        value = source.get(key)
        if value is None:
            continue
        read = _read(value, kind)
        if read is _MISSING:
            return _Wrong(key, _EXPECTED[kind])
        used.add(key)
        return read
    return _MISSING


class _Build:
    """One event under construction: the problems that keep it from Braze's schema (each
    a path and what the schema needs there), and what is given only once the event is
    known to fit: the notices of optional fields, and the ``metadata`` objects to fill
    (whose cleaning gives notices of its own). An event that does not fit gives only its
    problems, so the notices of what it is sent as instead are not doubled."""

    __slots__ = ("braze", "notes", "pending", "problems", "scope")

    def __init__(self, braze: str, scope: Scope) -> None:
        self.braze = braze
        self.scope = scope
        self.problems: list[tuple[PathT, str]] = []
        self.notes: list[tuple[PathT, str]] = []
        #: (the object to fill, its source, the keys its fields used, the source's path)
        self.pending: list[tuple[dict[str, Any], Mapping[str, Any], set[str], PathT]] = []

    def fields(self, source: Mapping[str, Any], names: tuple[str, ...],
               table: Mapping[str, tuple[tuple[str, ...], Kind]], required: frozenset[str],
               path: PathT, used: set[str]) -> dict[str, Any]:
        """The fields ``names`` read from ``source``: a required one missing or wrong is a
        problem; an optional one of the wrong type is left where it is (it goes into
        ``metadata`` with the other keys), with a notice."""
        out: dict[str, Any] = {}
        for name in names:
            keys, kind = table[name]
            value = _field(source, keys, kind, used)
            if type(value) is _Wrong:
                if name in required:
                    self.problems.append(((*path, value.key), f"{name} as {value.why}"))
                else:
                    self.notes.append(((*path, value.key), f"not {value.why}, as {name} "
                                       "takes; kept in metadata"))
            elif value is _MISSING:
                if name in required:
                    self.problems.append(((*path, keys[0]), name))
            else:
                out[name] = value
        return out

    def product(self, product: Mapping[str, Any], schema: Schema, path: PathT,
                used: set[str]) -> dict[str, Any]:
        """A product: its fields, with ``variant_id`` the product id when it names no
        variant and ``quantity`` 1 when it says none; what is left goes into its
        ``metadata`` (unless the product is the event's own, whose rest is the
        event's)."""
        own: set[str] = set()
        names = tuple(name for name in schema.product_fields if name != "quantity")
        required = schema.product_required - {"variant_id", "quantity"}
        out = self.fields(product, names, PRODUCT_FIELDS, required, path, own)
        if "variant_id" in names and "variant_id" not in out and "product_id" in out:
            out["variant_id"] = out["product_id"]
        if "quantity" in schema.product_fields:
            keys, kind = PRODUCT_FIELDS["quantity"]
            quantity = _field(product, keys, kind, own)
            if type(quantity) is _Wrong:
                self.problems.append(((*path, quantity.key), f"quantity as "
                                      f"{quantity.why}"))
            else:
                out["quantity"] = 1 if quantity is _MISSING else quantity
        ordered = {name: out[name] for name in schema.product_fields if name in out}
        used |= own
        if not schema.single_product:
            self.pending.append((ordered, product, own, path))
        return ordered

    def finish(self) -> None:
        """Give the notes and fill each ``metadata``: what its source holds beside its
        fields (the keys of its own ``metadata`` object, then its other keys), under
        Braze's value rules (a value Braze would refuse is dropped with a notice at its
        path)."""
        scope = self.scope
        for path, message in self.notes:
            scope.notice(path, message)
        for target, source, used, path in self.pending:
            metadata: dict[str, Any] = {}
            inner = source.get("metadata")
            if isinstance(inner, Mapping):
                metadata.update(clean_properties(inner, (*path, "metadata"), scope)[0])
            rest = {k: v for k, v in source.items()
                    if k not in used and (k != "metadata" or not isinstance(inner, Mapping))}
            if rest:
                metadata.update(clean_properties(rest, path, scope)[0])
            if metadata:
                target["metadata"] = metadata


def _currency(properties: Mapping[str, Any], build: _Build, used: set[str]) -> str | None:
    used.add("currency")
    value = properties.get("currency")
    if value is None:
        return build.scope.settings.default_currency
    code = value.strip().upper() if isinstance(value, str) else None
    if code not in CURRENCIES:
        build.problems.append((("properties", "currency"),
                               f"currency as an ISO 4217 code, not {value!r}"))
        return None
    return code


def _source(event: Track, used: set[str]) -> str:
    value = (event.properties or {}).get("source")
    if type(value) is str and value.strip() and len(value) <= MAX_STRING:
        used.add("source")
        return value
    device = event.context.device if event.context is not None else None
    kind = device.get("type") if isinstance(device, Mapping) else None
    if type(kind) is str and kind.lower() in SOURCES:
        return kind.lower()
    return DEFAULT_SOURCE


def _products(properties: Mapping[str, Any], schema: Schema, build: _Build,
              used: set[str]) -> list[dict[str, Any]]:
    """The ``products`` array; for a cart change without one, the event's own product
    (Segment's ``Product Added`` and ``Product Removed`` describe one product)."""
    products = properties.get("products")
    if products is None and build.braze == "ecommerce.cart_updated":
        return [build.product(properties, attrs.evolve(schema, single_product=True),
                              ("properties",), used)]
    if not isinstance(products, list) or not products:
        build.problems.append((("properties", "products"), "products as a non-empty array "
                               "of products"))
        return []
    used.add("products")
    out = []
    for index, product in enumerate(products):
        path: PathT = ("properties", "products", index)
        if not isinstance(product, Mapping):
            build.problems.append((path, "each product as an object"))
            continue
        out.append(build.product(product, schema, path, set()))
    return out


def _properties(event: Track, braze: str, action: str | None,
                build: _Build) -> dict[str, Any]:
    """The event's properties in Braze's schema (their ``metadata`` still to fill), with
    ``build.problems`` saying what keeps them from it."""
    schema = SCHEMAS[braze]
    properties = event.properties or {}
    used: set[str] = set()
    out: dict[str, Any] = {}
    if schema.single_product:
        out.update(build.product(properties, schema, ("properties",), used))
    else:
        out.update(build.fields(properties, schema.fields, ORDER_FIELDS, schema.required,
                                ("properties",), used))
        if action is not None:
            out["action"] = action
        out["products"] = _products(properties, schema, build, used)
    out["currency"] = _currency(properties, build, used)
    out["source"] = _source(event, used)
    build.pending.append((out, properties, used, ("properties",)))
    return out


def _ordered(out: dict[str, Any], schema: Schema) -> list[tuple[str, Any]]:
    """The properties in the order of Braze's page."""
    order = ("product_id", "product_name", "variant_id", "image_url", "product_url",
             "price", *schema.fields, "action", "currency", "products", "source",
             "metadata")
    return [(key, out[key]) for key in order if key in out]


def track_to_ecommerce(event: Track, scope: Scope) -> tuple[Output, ...]:
    """An ecommerce track (with ``ecommerce_events`` on) -> Braze's recommended event
    (``ecommerce.product_viewed``, ``cart_updated`` with ``action`` ``add`` or
    ``remove``, ``checkout_started``, ``order_placed``, ``order_refunded``,
    ``order_cancelled``) in the schema Braze validates: the fields of the data tables,
    ``currency``, ``source``, and ``metadata`` for the rest. An event that cannot meet
    the schema emits nothing, with a notice for each field that keeps it from it."""
    found = ecommerce_event_of(event.event)
    assert found is not None  # noqa: S101 - the matcher checked it
    braze, action = found
    build = _Build(braze, scope)
    properties = _properties(event, braze, action, build)
    if build.problems:
        for path, message in build.problems:
            scope.notice(path, f"{braze} needs {message}; not sent as {braze}")
        return ()
    build.finish()
    return custom_event(braze, dict(_ordered(properties, SCHEMAS[braze])), scope)


@attrs.frozen(repr=False)
class _EcommerceOrder:
    """The ``ecommerce_order`` row's body: see :func:`ecommerce_order`."""

    purchase: Emitter

    @property
    def parts(self) -> tuple[Emitter, ...]:
        return (track_to_ecommerce, self.purchase)

    def __call__(self, event: Track, scope: Scope) -> tuple[Output, ...]:
        first = tuple(track_to_ecommerce(event, scope))
        if first and not scope.settings.ecommerce_purchases:
            return first
        return first + tuple(self.purchase(event, scope))

    def explain(self, event: Track,
                scope: Scope) -> tuple[tuple[Output, ...], tuple[Trace, ...]]:
        first = trace(track_to_ecommerce, event, scope)
        if first.emitted and not scope.settings.ecommerce_purchases:
            second = Trace(emitter=self.purchase, ran=False,
                           note="not run: track_to_ecommerce emitted and "
                                "ecommerce_purchases is off")
            return first.emitted, (first, second)
        second = trace(self.purchase, event, scope)
        return first.emitted + second.emitted, (first, second)

    def __repr__(self) -> str:
        return f"ecommerce_order({name_of(self.purchase)})"


def ecommerce_order(purchase: Emitter) -> Emitter:
    """For an ecommerce event the purchase row would take (an order): Braze's
    recommended event (``track_to_ecommerce``) instead of ``purchase``'s output (the
    purchase row's body), or with it when ``ecommerce_purchases`` is on; ``purchase``'s
    output alone when the event cannot meet the recommended event's schema."""
    return _EcommerceOrder(purchase)

