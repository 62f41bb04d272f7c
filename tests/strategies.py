"""Hypothesis strategies: arbitrary JSON, Segment-ish events and settings.

The events mix valid and invalid fields on purpose (numbers as ids, odd timestamps,
reserved and malformed traits, products lists with good and bad entries), so that the
properties see every outcome: translated, skipped and rejected.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

import segment_braze as sb

__all__ = [
    "EVENT_TYPES",
    "every_setting",
    "field_values",
    "json_objects",
    "json_values",
    "segment_events",
    "settings",
]

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias", "delete")

# -- JSON ---------------------------------------------------------------------------------

#: Keys that break one of Braze's naming rules, beside ordinary ones.
odd_keys = st.sampled_from(["", "$set", "a.b", "a b", "time", "event_name", "x" * 256,
                            "products", "revenue", "currency", "inc", "add", "$add",
                            "$time", "_update_existing_only", "external_id", "user_alias"])
keys = st.one_of(st.text(max_size=8), odd_keys)

strings = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "2024-05-01T12:00:00Z", "1990-05-10", "u1", "Order Completed",
                     "12.5", "NaN", "false", "USD", "eur", "male", "en-US", "a@b.co"]),
    st.integers(min_value=250, max_value=300).map(lambda n: "s" * n),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    strings,
)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value (NaN and infinities included: Python's ``json`` reads them)."""
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4),
                                   st.dictionaries(keys, children, max_size=4)),
        max_leaves=max_leaves,
    )


def json_objects(max_leaves: int = 12) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object of arbitrary values."""
    return st.dictionaries(keys, json_values(max_leaves), max_size=5)


# -- pieces of events -------------------------------------------------------------------
# Each field has good values (some of them odd but valid) and bad ones. An event is built
# from good values, then now and then one or two fields are overwritten with bad ones, so
# every outcome (translated, skipped, rejected) is common.

good_ids = st.one_of(
    st.sampled_from(["u1", "u2", "user-3", "  padded  "]),
    st.integers(min_value=-5, max_value=10**20),
    st.just(12.0),
    st.text(min_size=1, max_size=6),
)
bad_ids = st.sampled_from(["", "   ", 1.5, float("nan"), True, ["u1"], {"id": 1}])
ids = st.one_of(good_ids, good_ids, bad_ids)

good_timestamps = st.one_of(
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from([
        "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00.123456789Z",
        "2024-05-01T14:00:00+02:00", "2024-05-01 12:00:00", "2024-05-01", "20240501",
        "2024-W18-3", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    ]),
)
bad_timestamps = st.sampled_from([
    "yesterday", "May 1, 2024", "2024/05/01", "", "Z", "2024-02-30T00:00:00Z",
    "2020-05-09 23:54:49.209808489 +0000 UTC m=+70366.298768264",
    1714564800, 1714564800000, 1.5, [], {},
])
timestamps = st.one_of(good_timestamps, good_timestamps, bad_timestamps)

trait_values: dict[str, st.SearchStrategy[Any]] = {
    "email": st.sampled_from(["a@b.co", " A@B.CO ", "not-an-email", "", None, 7]),
    "firstName": st.one_of(strings, st.none(), st.integers()),
    "first_name": strings,
    "lastName": strings,
    "name": st.sampled_from(["Ada Lovelace", "Ada", "  ", "Ada  King Lovelace", None, 3]),
    "phone": st.sampled_from(["+1 (415) 555-2671", "555.1234", "call me", 14155552671, None]),
    "birthday": st.one_of(timestamps, st.sampled_from(["10/05/1990", "May 1990", None])),
    "dob": st.sampled_from(["1990-05-10", "1990-05-10T23:30:00-05:00", "tomorrow", None]),
    "gender": st.sampled_from(["male", "F", "Woman", "non-binary", "prefer not to say",
                               "unknown", "u", "robot", "", None, 1]),
    "avatar": st.one_of(strings, st.none()),
    "address": st.one_of(
        st.none(), st.just("Paris"),
        st.fixed_dictionaries({}, optional={"city": st.one_of(strings, st.none()),
                                            "country": st.sampled_from(["fr", "France",
                                                                        "", None, 3]),
                                            "street": strings})),
    "language": st.sampled_from(["en", "en-US", "EN_gb", "klingon", "", None]),
    "timezone": st.sampled_from(["Europe/Paris", "America/New_York", "Mars/Olympus", None]),
    "email_subscribe": st.sampled_from(["opted_in", "Subscribed", "maybe", None]),
    "push_subscribe": st.sampled_from(["unsubscribed", "yes", None]),
    "subscription_groups": st.one_of(
        st.none(), st.just("all"),
        st.lists(st.one_of(
            st.fixed_dictionaries({"subscription_group_id": st.sampled_from(["g1", "", 4]),
                                   "subscription_state": st.sampled_from(
                                       ["subscribed", "unsubscribed", "opted_in"])}),
            scalars), max_size=3)),
    "twitter": st.sampled_from([{"id": 12, "screen_name": "ada"}, {"id": "12", "x": 1},
                                "@ada", {}, None]),
    "facebook": st.sampled_from([{"id": "fb", "likes": ["a"], "num_friends": 3},
                                 {"id": 12, "likes": [1]}, "ada", None]),
    "push_tokens": st.sampled_from([[{"app_id": "a", "token": "t", "device_id": "d"}],
                                    [{"app_id": "a", "token": "t"}, {"token": "t"}],
                                    "t", [], None]),
    "current_location": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "latitude": st.one_of(st.floats(), st.sampled_from([48.85, "48.85", 91])),
        "longitude": st.one_of(st.floats(), st.sampled_from([2.35, -200])),
        "altitude": st.just(35)})),
    "date_of_first_session": st.one_of(timestamps, st.none()),
    "marked_email_as_spam_at": st.sampled_from(["2024-02-29", "3024-01-01", 7, None]),
    "email_open_tracking_disabled": st.sampled_from([True, "true", None]),
    "image_url": st.sampled_from(["https://x.example/a.png", "/a.png", None]),
    "id": ids,
    "score": st.one_of(st.integers(), st.floats()),
    "tags": st.lists(st.one_of(strings, st.none(), st.integers()), max_size=6),
    "pets": st.sampled_from([
        {"add": [{"id": 1, "name": "Rex"}], "remove": [{"identifier": "id", "id": 3}],
         "update": [{"identifier": "id", "id": 2, "age": 7}]},
        {"update": [{"id": 2}]}, {"add": [{"id": 1}, 2]}, {"remove": [{"identifier": "k"}]},
        {"update": [{"identifier": "id", "id": [1]}]}, {"add": "x"}]),
    "subscription_state": st.sampled_from(["subscribed", "Unsubscribed", "opted_in", 3]),
    "visits": st.sampled_from([{"inc": 1}, {"inc": 1.5}, {"add": ["a"], "remove": ["b"]},
                               {"$add": [{"k": 1}]},
                               {"$update": [{"$identifier_key": "k", "$identifier_value": 1,
                                             "$new_object": {"v": 2}}]},
                               {"$remove": [{"$identifier_key": "k"}]}]),
    "created": st.datetimes().map(lambda d: d.isoformat()),
    "prefs": json_objects(6),
    "external_id": strings,
}


def traits() -> st.SearchStrategy[Any]:
    """Identify-like traits: reserved traits with good and bad values, plus arbitrary
    keys."""
    known = st.fixed_dictionaries({}, optional=trait_values)
    return st.one_of(known, st.builds(lambda a, b: {**a, **b}, known, json_objects(6)))


good_products = st.fixed_dictionaries(
    {"product_id": st.one_of(st.sampled_from(["p1", "p2"]), st.integers(0, 99)),
     "price": st.one_of(st.sampled_from([9.99, 0, "12.50"]), st.integers(0, 10**6))},
    optional={
        "quantity": st.sampled_from([1, 2, 100, 101, 250, "3", None]),
        "currency": st.sampled_from(["usd", "EUR", None]),
        "sku": st.sampled_from(["SKU-1", 42]),
        "name": strings,
        "time": strings,
        "nested": json_values(4),
    })
bad_products = st.one_of(
    st.fixed_dictionaries(
        {"product_id": st.sampled_from(["", "x" * 256, None, True, 1.5])},
        optional={
            "price": st.sampled_from([-1, "free", True, float("inf"), None]),
            "quantity": st.sampled_from([0, -1, 1.5, True, 10**5]),
            "currency": st.sampled_from(["XYZ", "", 3]),
        }),
    json_values(3),
)
products = st.lists(st.one_of(good_products, good_products, bad_products), max_size=4)


def orders() -> st.SearchStrategy[dict[str, Any]]:
    """Track calls named like a purchase event, mostly with well-formed products."""
    return st.fixed_dictionaries(
        {"type": st.just("track"), "userId": good_ids,
         "event": st.sampled_from(["Order Completed", "order_completed", "Completed Order",
                                   "Checkout Finished", "Upgraded"]),
         "timestamp": good_timestamps,
         "properties": st.fixed_dictionaries({}, optional={
             "products": st.lists(good_products, min_size=1, max_size=3),
             "revenue": st.sampled_from([25, "12.5", None]),
             "currency": st.sampled_from(["eur", "JPY"]),
             "order_id": strings,
         })},
        optional={"messageId": st.sampled_from(["o-1", "o-2"])})


_ECOMMERCE_NAMES = ("Product Viewed", "Product Added", "Product Removed", "Checkout Started",
                    "Order Completed", "Completed Order", "Order Refunded", "Order Cancelled")
_named_products = st.fixed_dictionaries(
    {"product_id": st.one_of(st.sampled_from(["p1", "p2"]), st.integers(0, 99)),
     "name": st.sampled_from(["Mug", "Shirt", " "]),
     "price": st.sampled_from([9.99, 0, "12.50", "free"])},
    optional={"variant": st.sampled_from(["red", 7, ""]),
              "quantity": st.sampled_from([1, 2, "3", 0, 1.5, None]),
              "url": st.sampled_from(["https://shop/p", "x" * 300, 3]),
              "image_url": strings, "nested": json_values(3), "metadata": json_values(2)})


def ecommerce_tracks() -> st.SearchStrategy[dict[str, Any]]:
    """Tracks of Segment's ecommerce events, mostly with the fields Braze's recommended
    events need, now and then without or with wrong ones."""
    return st.fixed_dictionaries(
        {"type": st.just("track"), "userId": good_ids,
         "event": st.sampled_from(_ECOMMERCE_NAMES),
         "timestamp": good_timestamps,
         "properties": st.fixed_dictionaries(
             {"order_id": st.sampled_from(["o-1", 77, ""]),
              "cart_id": st.sampled_from(["c-1", None]),
              "total": st.sampled_from([27.5, "30", "n/a"]),
              "reason": st.sampled_from(["changed mind", None]),
              "product_id": st.sampled_from(["p1", None]),
              "name": st.sampled_from(["Mug", None]),
              "price": st.sampled_from([9.5, None]),
              "products": st.one_of(st.lists(_named_products, min_size=1, max_size=3),
                                    st.sampled_from([None, [], "none"]))},
             optional={"currency": st.sampled_from(["eur", "XYZ", 3]),
                       "tax": st.sampled_from([2, "included"]),
                       "discounts": st.sampled_from([[{"code": "X", "amount": 1}], "X"]),
                       "source": st.sampled_from(["web", "", 4]),
                       "metadata": json_values(3), "extra": json_values(3)})},
        optional={"messageId": st.sampled_from(["e-1", "e-2"]),
                  "context": st.sampled_from([{"device": {"type": "android", "id": "d"}},
                                              {"device": "phone"}])})


def subscription_groups_calls() -> st.SearchStrategy[dict[str, Any]]:
    """Group calls carrying a subscription state, for users of every identity."""
    return st.fixed_dictionaries(
        {"type": st.just("group"), "groupId": st.sampled_from(["sg-1", "sg-2", 5]),
         "traits": st.fixed_dictionaries({}, optional={
             "subscription_state": st.sampled_from(["subscribed", "UNSUBSCRIBED", "maybe"]),
             "subscriptionState": st.sampled_from(["unsubscribed", None])})},
        optional={"userId": st.sampled_from(["u1", "u2", ""]),
                  "anonymousId": st.sampled_from(["a1"]),
                  "integrations": st.just({"Braze": {"braze_id": "b1"}}),
                  "context": st.just({"traits": {"email": "ada@example.com"}})})


def properties() -> st.SearchStrategy[Any]:
    """Track, page and screen properties; orders with products and revenue now and then."""
    order = st.fixed_dictionaries({}, optional={
        "products": st.one_of(products, products, st.sampled_from([[], "none", None,
                                                                   {"p": 1}])),
        "revenue": st.sampled_from([25, 9.99, "12.5", "n/a", None, float("nan"), True]),
        "currency": st.sampled_from(["usd", "EUR", "EUR", "XYZ", None, 3]),
        "order_id": strings,
        "total": st.sampled_from([27.5, "30", "n/a", None]),
        "cart_id": strings,
        "reason": strings,
        "product_id": ids,
        "name": strings,
        "price": st.sampled_from([9.99, "5", "free", None]),
        "source": st.sampled_from(["web", "", 4]),
        "metadata": st.one_of(json_objects(3), st.just("none")),
        "alias_name": strings,
        "alias_label": st.sampled_from(["email", "", None]),
    })
    return st.one_of(order, st.builds(lambda a, b: {**b, **a}, order, json_objects(8)),
                     json_objects(8))


good_event_names = st.one_of(
    st.sampled_from(["Signed Up", "Order Completed", "order_completed", " ORDER-COMPLETED ",
                     "Completed Order", "Checkout Finished", "Product Viewed",
                     "Viewed Home Page", "Loaded a Page", "Product Added", "Product Removed",
                     "Checkout Started", "Order Refunded", "Order Cancelled",
                     "Create Alias"]),
    st.text(min_size=1, max_size=10),
)
bad_event_names = st.sampled_from(["", "   ", "$purchase", "x" * 256, 3, None, ["Signed Up"]])

page_names = st.one_of(st.sampled_from(["Home", "Docs", "", "  ", None]),
                       st.text(max_size=6))
bad_page_names = st.sampled_from(["x" * 260, "$x", 5, ["Home"]])

location = st.fixed_dictionaries({}, optional={
    "latitude": st.one_of(st.floats(), st.sampled_from([48.85, "48.85", 91, None])),
    "longitude": st.one_of(st.floats(), st.sampled_from([2.35, -200, None])),
    "country": st.sampled_from(["FR", "fr", "France", "", None, 1]),
})

#: The destination's per-event options, good and bad.
braze_options = st.fixed_dictionaries({}, optional={
    "braze_id": st.sampled_from(["bz-1", "", 7, None]),
    "alias": st.sampled_from([{"alias_name": "a@b.co", "alias_label": "email"},
                              {"alias_name": None, "alias_label": "email"}, "a", None]),
    "app_id": st.sampled_from(["ios-app", "", 12, [1], None]),
    "appId": st.sampled_from(["android-app", 7]),
})

integrations: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.just([]),
    st.fixed_dictionaries({}, optional={
        "All": st.booleans(),
        "Braze": st.one_of(st.booleans(), braze_options),
        "braze": braze_options,
    }),
)

contexts = st.one_of(
    st.none(), st.just([]),
    st.fixed_dictionaries({}, optional={
        "traits": traits(),
        "location": location,
        "integrations": integrations,
        "library": json_values(4),
        "ip": strings,
        "personas": json_objects(3),
    }),
)

#: Fields every type has, with good values.
common: dict[str, st.SearchStrategy[Any]] = {
    "anonymousId": good_ids,
    "messageId": st.one_of(st.sampled_from(["m-1", "m-2"]), st.text(min_size=1, max_size=5)),
    "timestamp": good_timestamps,
    "originalTimestamp": good_timestamps,
    "receivedAt": good_timestamps,
    "sentAt": good_timestamps,
    "context": contexts,
    "integrations": integrations,
    "version": st.sampled_from([2, "1.1"]),
    "channel": st.sampled_from(["server", "browser"]),
}

#: Per type: required fields, then optional ones, with good values.
per_type: dict[str, tuple[dict[str, st.SearchStrategy[Any]],
                          dict[str, st.SearchStrategy[Any]]]] = {
    "identify": ({}, {"traits": traits()}),
    "track": ({"event": good_event_names}, {"properties": properties()}),
    "page": ({}, {"name": page_names, "category": page_names, "properties": properties()}),
    "screen": ({}, {"name": page_names, "category": page_names,
                    "properties": properties()}),
    "group": ({"groupId": good_ids}, {"traits": traits()}),
    "alias": ({"previousId": good_ids}, {}),
    "delete": ({}, {"projectId": strings}),
}

#: Bad values, any of which may overwrite a field of a good event.
bad: dict[str, st.SearchStrategy[Any]] = {
    "userId": bad_ids,
    "anonymousId": bad_ids,
    "messageId": st.sampled_from(["", 7, None, ["m"]]),
    "timestamp": bad_timestamps,
    "originalTimestamp": bad_timestamps,
    "receivedAt": bad_timestamps,
    "sentAt": bad_timestamps,
    "context": st.sampled_from(["ctx", 3, ["x"], {"traits": "t"}, {"location": "Paris"},
                                {"integrations": "All"}]),
    "integrations": st.sampled_from(["All", 3, [1]]),
    "traits": st.sampled_from(["traits", 3, [1], {"": 1}]),
    "properties": st.sampled_from(["props", 3, [1], {"": 1}]),
    "event": bad_event_names,
    "name": bad_page_names,
    "category": bad_page_names,
    "groupId": bad_ids,
    "previousId": bad_ids,
}

#: Who the user is: the identity rules see each of these often.
who = st.one_of(
    st.fixed_dictionaries({"userId": good_ids}),
    st.fixed_dictionaries({"userId": good_ids, "anonymousId": good_ids}),
    st.fixed_dictionaries({"anonymousId": good_ids}),
    st.fixed_dictionaries({"anonymousId": good_ids, "integrations": st.just(
        {"Braze": {"braze_id": "bz-1"}})}),
    st.fixed_dictionaries({"anonymousId": good_ids, "context": st.just(
        {"traits": {"email": "a@b.co"}})}),
    st.just({}),
)


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


def segment_event(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """An event of one type: good values, sometimes one or two fields made bad."""
    required, optional = per_type[kind]
    good = st.fixed_dictionaries({"type": st.just(kind), **required},
                                 optional={**common, **optional})
    fields = sorted({"userId", *common, *required, *optional} & bad.keys())
    spoiled = st.sampled_from(fields).flatmap(
        lambda f: st.fixed_dictionaries({f: bad[f]}))
    missing = st.sampled_from(sorted(required) or ["type"]).map(lambda f: {f: None})
    damage = st.one_of(st.just({}), st.just({}), st.just({}), st.just({}), spoiled,
                       spoiled, missing)
    return st.builds(_merge, good, who, damage).map(
        lambda e: {k: v for k, v in e.items() if v is not None or k not in ("type",)})


def segment_events() -> st.SearchStrategy[dict[str, Any]]:
    """Segment-ish events of all seven types (plus the odd unknown or missing type)."""
    typed = st.one_of(*(segment_event(kind) for kind in EVENT_TYPES))
    odd_type = st.builds(lambda e, t: {**e, "type": t}, segment_event("track"),
                         st.sampled_from(["Track", "unknown", 3, None]))
    return st.one_of(typed, typed, typed, typed, typed, orders(), orders(), odd_type)


# -- settings -----------------------------------------------------------------------------

names = st.lists(st.sampled_from(["Signed Up", "Order Completed", "Loaded a Page",
                                  "Viewed Home Page", "Product Viewed"]), max_size=3)


@st.composite
def settings(draw: st.DrawFn, *, strict: bool | None = False) -> sb.Settings:
    """Arbitrary valid settings: identity, page, purchase and context-traits settings,
    allow or block lists, and the feature settings (ecommerce events, subscription groups,
    array-of-object operations, Create Alias). ``strict=None`` draws that too."""
    lists = draw(st.sampled_from(["none", "allow", "block"]))
    ecommerce = draw(st.booleans())
    anonymous = draw(st.sampled_from(["skip", "alias"]))
    return sb.Settings(
        rest_api_key=draw(st.sampled_from([None, "key-for-tests"])),
        rest_endpoint=draw(st.sampled_from([None, "US-03", "eu"])),
        app_id=draw(st.sampled_from([None, "app-1"])),
        update_existing_only=draw(st.booleans()),
        log_purchase_when_revenue_present=draw(st.booleans()),
        track_all_pages=draw(st.booleans()),
        track_named_pages=draw(st.booleans()),
        purchase_events=draw(st.sampled_from([("Order Completed", "Completed Order"),
                                              ("Checkout Finished",), ()])),
        default_currency=draw(st.sampled_from(["USD", "eur", "JPY"])),
        anonymous_users=anonymous,
        alias_label=draw(st.sampled_from(["segment_anonymous_id", "anon"])),
        email_identifier=draw(st.booleans()),
        identify_by_email=draw(st.booleans()),
        email_prioritization=draw(st.sampled_from([("unidentified", "most_recently_updated"),
                                                   ("least_recently_updated",)])),
        merge_on_alias=draw(st.booleans()) if anonymous == "skip" else False,
        context_traits=draw(st.booleans()),
        event_allowlist=draw(names) if lists == "allow" else None,
        event_blocklist=draw(names) if lists == "block" else None,
        ecommerce_events=ecommerce,
        ecommerce_purchases=ecommerce and draw(st.booleans()),
        group_subscription_groups=draw(st.booleans()),
        nested_array_operations=draw(st.booleans()),
        create_alias=draw(st.booleans()),
        strict=draw(st.booleans()) if strict is None else strict,
    )


# -- settings from Settings' own fields ---------------------------------------------------
# The differential tests draw every field of Settings, so that a setting added later is
# varied there without an edit here: its values come from its type (a flag, a choice of
# literals, optional text, ...), or from FIELD_VALUES when its type says too little.

#: Values for fields whose type admits values the field refuses (a currency, an instance
#: name) or says too little about (event names).
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "rest_endpoint": st.sampled_from([None, "US-03", "eu", "https://braze.example.com"]),
    "sdk_endpoint": st.sampled_from([None, "US-01", "sdk.example.com"]),
    "default_currency": st.sampled_from(["USD", "eur", "JPY"]),
    "alias_label": st.sampled_from(["segment_anonymous_id", "anon"]),
    "purchase_events": st.sampled_from([("Order Completed", "Completed Order"),
                                        ("Checkout Finished",), ("Signed Up",)]),
    "event_allowlist": st.one_of(st.none(), names),
    "event_blocklist": st.one_of(st.none(), names),
}


def _type_values(annotation: Any, default: Any) -> st.SearchStrategy[Any] | None:
    """Values of a field from its type alone; ``None`` for a type this does not know."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is bool:
        return st.booleans()
    if origin is typing.Literal:
        return st.sampled_from(args)
    if annotation is int:
        return st.sampled_from(sorted({0, 1, 3600, default}))
    if annotation is str:
        return st.sampled_from([default, "some-text"] if isinstance(default, str)
                               else ["some-text"])
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner, *more) = [a for a in args if a is not type(None)]
        if more:
            return None
        present = _type_values(inner, None)
        return None if present is None else st.one_of(st.none(), present)
    if origin in (tuple, frozenset) and args and args[0] is str:
        return names.map(origin)
    return None


def field_values() -> dict[str, st.SearchStrategy[Any]]:
    """A strategy for each init field of Settings: :data:`FIELD_VALUES`, else from its
    type. A field of a type nothing here knows fails loudly, naming it, so that it
    cannot go untested."""
    import typing

    import attrs

    hints = typing.get_type_hints(sb.Settings)
    out = {}
    for field in attrs.fields(sb.Settings):
        if not field.init:
            continue
        found = (FIELD_VALUES[field.name] if field.name in FIELD_VALUES
                 else _type_values(hints[field.name], field.default))
        if found is None:
            raise TypeError(f"no values for Settings.{field.name}: add them to "
                            "strategies.FIELD_VALUES")
        out[field.name] = found
    return out


@st.composite
def every_setting(draw: st.DrawFn) -> sb.Settings:
    """Settings with every field drawn (see :func:`field_values`). Combinations that
    Settings refuses (an allow list with a block list, one cohort secret without the
    other) are mended by leaving drawn fields at their defaults, one at a time, until
    Settings accepts them."""
    chosen = {name: draw(values) for name, values in field_values().items()}
    while True:
        try:
            return sb.Settings(**chosen)
        except sb.InvalidSettings:
            dropped = draw(st.sampled_from(sorted(chosen)))
            del chosen[dropped]
