"""Orders -> Braze purchases.

- One purchase per entry of ``properties.products``: ``product_id`` from ``product_id``,
  else ``productId``, ``sku``, ``id`` (a string of at most 255 characters); ``price`` a
  finite number (numeric strings accepted); ``quantity`` an integer >= 1 (default 1),
  split into purchases of at most 100 (Braze's limit) so revenue is preserved;
  ``currency`` from the product, else the order, else ``default_currency``, upper-cased
  and an ISO 4217 code; ``properties`` the product's other fields over the order's
  (``products`` removed).
- A product without an id or a valid price, a bad quantity or currency rejects the whole
  event, naming the product's path: a partly logged order would misstate revenue.
- No products but a numeric ``revenue``: one purchase of the event name at that price.
- Neither: nothing is emitted, with a notice; the ``purchase`` row sends the event as a
  plain custom event instead (``otherwise(track_to_purchases, track_to_event)``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .._makers import maker
from .._tables import CURRENCIES
from ..braze import Purchase
from ..errors import InvalidEvent, Problem, json_path
from ..events import Track
from ..limits import MAX_NAME, MAX_PER_PURCHASE, MAX_QUANTITY
from .events import check_event_name
from .identity import OPTION_KEYS, app_id_of
from .values import check_properties_size, clean_properties

if TYPE_CHECKING:
    from ..scope import Output, Scope

__all__ = ["PRODUCT_ID_KEYS", "revenue_of", "track_to_purchases"]

#: Where a product's id is read from, in order.
PRODUCT_ID_KEYS: Final = ("product_id", "productId", "sku", "id")

_USED_BY_PRODUCT: Final = frozenset({"product_id", "productId", "price", "quantity", "currency"})
_USED_BY_ORDER: Final = frozenset({"products", "currency"})
_USED_BY_REVENUE: Final = frozenset({"products", "currency", "revenue"})
_NUMBER: Final = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*\Z")

PathT = tuple[str | int, ...]


def number(value: Any) -> float | int | None:
    """A finite number, or a string that spells one; else ``None``."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str and len(value) < 64 and _NUMBER.match(value):
        parsed = float(value)
        return parsed if math.isfinite(parsed) else None
    return None


def revenue_of(properties: Mapping[str, Any] | None) -> float | int | None:
    """The order's ``revenue`` when it is a number or a numeric string."""
    if not properties:
        return None
    return number(properties.get("revenue"))


#: Purchase objects, built without ``__init__``'s keyword handling.
_purchase: Final = maker(Purchase, "identifier", "product_id", "currency", "price", "time",
                         "quantity", "properties", "app_id", "update_existing_only")


class _Order:
    """What every purchase of one event shares."""

    __slots__ = ("app_id", "currency", "currency_path", "problems", "properties",
                 "properties_bound", "scope", "time")

    def __init__(self, properties: Mapping[str, Any], used: frozenset[str],
                 scope: Scope) -> None:
        self.scope = scope
        self.problems: list[Problem] = []
        self.time = scope.time()
        source = scope.event
        integrations, context = source.integrations, source.context
        self.app_id = (app_id_of(source, scope)
                       if (integrations and not OPTION_KEYS.isdisjoint(integrations))
                       or (context is not None and context.integrations)
                       else scope.settings.app_id)
        self.currency = properties.get("currency")
        self.currency_path: PathT = ("properties", "currency")
        rest = {k: v for k, v in properties.items() if k not in used}
        # A new dict already: what clean_properties returns is never the event's own.
        self.properties, self.properties_bound = clean_properties(rest, ("properties",),
                                                                  scope)

    def problem(self, path: PathT, message: str) -> None:
        # The translator names the rule on problems that name none.
        self.problems.append(Problem(json_path(path), message))

    def currency_of(self, product: Mapping[str, Any], path: PathT) -> str | None:
        value = product.get("currency")
        own = value is not None
        if not own:
            value = self.currency
            if value is None:
                return self.scope.settings.default_currency
        code = value.strip().upper() if isinstance(value, str) else None
        if code not in CURRENCIES:
            self.problem((*path, "currency") if own else self.currency_path,
                         f"{value!r} is not an ISO 4217 currency code")
            return None
        return code

    def purchases(self, product_id: str, price: float, quantity: int, currency: str,
                  properties: Mapping[str, Any] | None) -> list[Purchase]:
        scope = self.scope
        ident = scope.identifier
        assert ident is not None  # noqa: S101 - the anonymous rule runs first
        settings = scope.settings
        update_only = True if settings.update_existing_only else None
        out = []
        while quantity > 0:
            batch = min(quantity, MAX_PER_PURCHASE)
            out.append(_purchase(ident, product_id, currency, price, self.time, batch,
                                 properties, self.app_id, update_only))
            quantity -= batch
        return out


def _product_id(product: Mapping[str, Any], path: PathT, order: _Order) -> str | None:
    first = product.get(PRODUCT_ID_KEYS[0])
    if type(first) is str and 0 < len(first) <= MAX_NAME and not first.isspace():
        return first  # the common case, as the loop below finds it
    for key in PRODUCT_ID_KEYS:
        value = product.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            order.problem((*path, key), "a product id must be a string or an integer")
            return None
        text = str(value)
        if len(text) > MAX_NAME:
            order.problem((*path, key), f"a product id must be at most {MAX_NAME} characters")
            return None
        return text
    order.problem((*path, "product_id"), "required: a product needs an id (product_id, "
                                         "productId, sku or id)")
    return None


def _quantity(product: Mapping[str, Any], path: PathT, order: _Order) -> int | None:
    value = product.get("quantity", 1)
    if type(value) is int and 1 <= value <= MAX_QUANTITY:
        return value  # the common case, as the checks below find it
    if value is None:
        return 1
    amount = number(value)
    if amount is None or isinstance(value, bool) or amount != int(amount) or amount < 1:
        order.problem((*path, "quantity"), f"a quantity must be a whole number >= 1, got "
                                           f"{value!r}")
        return None
    if amount > MAX_QUANTITY:
        order.problem((*path, "quantity"), f"a quantity above {MAX_QUANTITY:,} would need more "
                                           f"than {MAX_QUANTITY // MAX_PER_PURCHASE} purchases")
        return None
    return int(amount)


def _product(product: Any, path: PathT, order: _Order) -> list[Purchase]:
    if type(product) is not dict and not isinstance(product, Mapping):
        order.problem(path, "a product must be an object")
        return []
    product_id = _product_id(product, path, order)
    given = product.get("price")
    price = number(given)
    if price is None or isinstance(given, bool):
        message = ("required: a product needs a price" if given is None
                   else f"a price must be a finite number, got {given!r}")
        order.problem((*path, "price"), message)
    quantity = _quantity(product, path, order)
    currency = order.currency_of(product, path)
    rest = {k: v for k, v in product.items() if k not in _USED_BY_PRODUCT}
    own, bound = clean_properties(rest, path, order.scope)
    if product_id is None or price is None or quantity is None or currency is None:
        return []
    properties = {**order.properties, **own}
    check_properties_size(properties, bound + order.properties_bound, path)
    return order.purchases(product_id, price, quantity, currency, properties or None)


def track_to_purchases(event: Track, scope: Scope) -> tuple[Output, ...]:
    """An order -> one purchase per product (quantities above 100 split), or one
    revenue-only purchase; an order with neither emits nothing, with a notice (the
    ``purchase`` row then sends it as a custom event)."""
    properties = event.properties or {}
    products = properties.get("products")
    if products is None or products == []:
        revenue = revenue_of(properties)
        if revenue is None:
            scope.notice(("properties",), "a purchase event with neither products nor a "
                         "numeric revenue; sent as a custom event")
            return ()
        name = check_event_name(event.event, ("event",))
        order = _Order(properties, _USED_BY_REVENUE, scope)
        currency = order.currency_of({}, ("properties",))
        if currency is None:
            raise InvalidEvent(order.problems)
        return tuple(order.purchases(name, revenue, 1, currency, order.properties or None))
    if not isinstance(products, list):
        raise InvalidEvent((Problem("$.properties.products",
                                    "expected an array of products"),))
    order = _Order(properties, _USED_BY_ORDER, scope)
    out: list[Purchase] = []
    for index, product in enumerate(products):
        out.extend(_product(product, ("properties", "products", index), order))
    if order.problems:
        raise InvalidEvent(order.problems)
    return tuple(out)
