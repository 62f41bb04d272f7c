"""Write docs/rules.md from the rule table and the data tables its bodies read.

The rules page is generated so that it cannot drift from the code: the rows, their
matchers and emitters (with their docstrings, and the parts of each combinator), the
event types each row can meet, and the constants of ``segment_braze.mapping`` all come
from the modules themselves. Run

    python docs/gen_rules.py            # rewrite docs/rules.md
    python docs/gen_rules.py --check    # exit 1 when docs/rules.md is out of date

``tests/test_docs.py`` runs the check, so a change to the table or to a table it reads
fails the tests until the page is regenerated.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from segment_braze import _tables, events, limits, rules
from segment_braze.combinators import name_of
from segment_braze.mapping import (
    attributes,
    ecommerce,
    fields,
    identity,
    purchases,
    traits,
    values,
)

PAGE = Path(__file__).with_name("rules.md")

#: What each normaliser of a standard attribute does. The normalisers are private
#: functions without docstrings; a normaliser missing here stops the generator, so a new
#: one cannot reach the page undescribed.
NORMALISERS: Mapping[str, str] = {
    "_text": "a string of at most 255 characters",
    "_email": "trimmed; must look like an address (`name@domain.tld`, no spaces)",
    "_phone": "integers become strings; spaces, tabs, `-`, `.`, `(` and `)` removed; then 3 "
              "to 20 digits with an optional leading `+`",
    "_dob": "`YYYY-MM-DD`: the calendar date, in UTC, of an ISO 8601 date or date-time; "
            "other spellings of a full date through dateutil (a date without its day or "
            "year is dropped)",
    "_gender": "looked up, ignoring case, in the gender table below",
    "_country": "a string of at most 255 characters; two-letter codes upper-cased, other "
                "values passed as given (Braze maps country names best-effort)",
    "_language": "the part before `-` or `_`, lower-cased; must be an ISO 639-1 code "
                 "(`en-US` becomes `en`)",
    "_time_zone": "a valid IANA time zone name (`Europe/Paris`)",
    "_subscription_state": "`opted_in`, `subscribed` or `unsubscribed` (any case)",
    "_subscription_groups": "an array of `{subscription_group_id, subscription_state}`, "
                            "the state `subscribed` or `unsubscribed`; bad entries are "
                            "dropped one by one",
    "_boolean": "`true` or `false` (a string such as `\"true\"` is dropped, never guessed)",
    "_date_time": "`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC: any ISO 8601 date or date-time (a "
                  "date alone is midnight UTC, no offset means UTC), other spellings of a "
                  "full date through dateutil; numbers (seconds or milliseconds: no rule "
                  "says) and years after 3000 are dropped",
    "_image_url": "an absolute `http` or `https` URL of at most 255 characters",
    "_facebook": "an object of `id` (a string; an integer becomes one), `likes` (an array "
                 "of strings) and `num_friends` (an integer); other members are dropped "
                 "one by one",
    "_twitter": "an object of `id` (an integer; a string of digits becomes one), "
                "`screen_name` (a string), `followers_count`, `friends_count` and "
                "`statuses_count` (integers); other members are dropped one by one",
    "_current_location": "an object of `latitude` (-90 to 90) and `longitude` (-180 to "
                         "180), both numbers; other members are dropped",
    "_push_tokens": "an array of `{app_id, token, device_id}` (`device_id` optional) of "
                    "non-blank strings; bad entries are dropped one by one",
}

#: What the table says of the fields that identify the user.
IDENTIFYING = ("identifies the user: never taken from traits (a trait of this name is "
               "dropped with a notice)")

#: Descriptions of the limits that carry no ``#:`` comment in their module.
LIMITS: Mapping[str, str] = {
    "MAX_NAME": "characters in an attribute, property or event name, and in a product id",
    "MAX_STRING": "characters in a string value (longer strings are dropped, never cut: "
                  "a cut string is a different value)",
    "MAX_ARRAY": "items in an array of scalars (custom attributes)",
    "MAX_OBJECT_BYTES": "bytes of compact JSON in one nested custom attribute",
    "MAX_PROPERTIES_BYTES": "bytes of compact JSON in the properties of one event or "
                            "purchase; more rejects the event",
}


# -- reading the code ------------------------------------------------------------------


@functools.cache
def _parsed(module: ModuleType) -> tuple[list[str], list[ast.stmt]]:
    source = inspect.getsource(module)
    return source.splitlines(), ast.parse(source).body


def constant_doc(module: ModuleType, name: str) -> str | None:
    """The ``#:`` comment above the module-level assignment of ``name``, or the string
    literal right below it, joined into one line; ``None`` when there is neither."""
    lines, body = _parsed(module)
    for index, node in enumerate(body):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
            continue
        comment: list[str] = []
        line = node.lineno - 2
        while line >= 0 and lines[line].lstrip().startswith("#:"):
            comment.insert(0, lines[line].lstrip()[2:].strip())
            line -= 1
        if comment:
            return " ".join(comment)
        following = body[index + 1] if index + 1 < len(body) else None
        if (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            return " ".join(following.value.value.split())
        return None
    raise LookupError(f"{module.__name__} assigns no {name}")


def docstring(obj: object) -> str:
    """``obj``'s docstring as one Markdown paragraph; an object without one stops the
    generator (every rule body and matcher factory must say what it does)."""
    text = inspect.getdoc(obj)
    if not text:
        raise LookupError(f"{obj!r} has no docstring")
    return markdown(" ".join(text.split()))


def markdown(text: str) -> str:
    """reStructuredText inline markup as Markdown: ``x`` -> `x`, :role:`~a.B` -> `B`."""
    def role(match: re.Match[str]) -> str:
        target = match.group(2)
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    return re.sub(r":[a-z]+:`(~?)([^`]+)`", role, text.replace("``", "`"))


def matcher_factory(matcher: object) -> Callable[..., Any] | None:
    """The public factory that built ``matcher`` (``on_type`` for ``on_type('page')``)."""
    name = repr(matcher).split("(", 1)[0]
    return rules.MATCHERS.get(name)


def combinator_factory(emitter: object) -> Callable[..., Any] | None:
    """The public factory that built a combinator (``both`` for ``both(a, b)``), or
    ``None`` for a plain emitter."""
    if not hasattr(emitter, "parts"):
        return None
    name = repr(emitter).split("(", 1)[0]
    factory = rules.COMBINATORS.get(name)
    if factory is None:
        raise LookupError(f"{emitter!r}: a combinator from no factory in rules.COMBINATORS")
    return factory


def emitter_lines(emitter: Any, rows: Mapping[object, str], depth: int = 0) -> list[str]:
    """The parts of combinator ``emitter`` as Markdown list items, ``depth`` levels in: a
    function with its docstring; a combinator with its factory's docstring, then its own
    parts; a part that is a row's emitter refers to that row instead of repeating it."""
    lines = []
    for part in emitter.parts:
        indent = "  " * depth
        if part in rows:
            lines.append(f"{indent}- `{name_of(part)}`: the emitter of row {rows[part]}.")
        elif combinator_factory(part) is None:
            lines.append(f"{indent}- `{part.__module__}.{part.__name__}`: {docstring(part)}")
        else:
            lines.append(f"{indent}- `{name_of(part)}`: "
                         f"{docstring(combinator_factory(part))}")
            lines += emitter_lines(part, rows, depth + 1)
    return lines


def emits(rule: rules.Rule, rows: Mapping[object, str]) -> list[str]:
    """What a row emits: its emitter's module, name and docstring; for a combinator, the
    combinator's docstring and, below, each part's."""
    emit: Any = rule.emit
    factory = combinator_factory(emit)
    if factory is None:
        return [f"- **emits** (`{emit.__module__}.{emit.__name__}`): {docstring(emit)}"]
    return [f"- **emits** (`{name_of(emit)}`): {docstring(factory)}",
            *emitter_lines(emit, rows, 1)]


def event_types(rule: rules.Rule) -> list[str]:
    """The event types ``rule`` can meet, in the order of ``EVENT_TYPES``."""
    return [t for t in events.EVENT_TYPES if t in rule.types]


def code(value: object) -> str:
    return f"`{value}`"


def codes(items: Iterable[object]) -> str:
    return ", ".join(code(i) for i in items)


def number(value: int) -> str:
    return f"{value:,}"


def cell(text: str) -> str:
    """Text that is safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


# -- the page --------------------------------------------------------------------------


HEAD = """\
# The rule table

<!-- Generated by `python docs/gen_rules.py` from src/segment_braze/rules.py and
src/segment_braze/mapping/. Do not edit by hand: tests/test_docs.py fails when this page
differs from what the script writes. -->

Every Segment event goes through one ordered table, `segment_braze.DEFAULT_RULES`. A row
is a `Rule(name, when, emit, final=False)`: for each event the translator runs the rows
top to bottom; a row whose matcher (`when`) accepts the event runs its emitter (`emit`),
which returns Braze objects, requests of other endpoints, or a `Skip` with a reason. A
`Skip` ends the table and the event is counted as skipped; a *final* row that matched
ends the table after emitting. Attributes, events and purchases of one event are then
gathered into a single `/users/track` request, after any request of another endpoint
(`/users/identify`, `/users/delete`, `/users/merge`, `/users/alias/new`,
`/v2/subscription/status/set`, the cohort endpoints) the rows emitted.

A row that builds on another row's body says so with a combinator: `both(a, b)` emits
`a`'s outputs then `b`'s, `otherwise(a, b)` emits `b`'s when `a` emits nothing, the
audience row's `other_traits(...)` hands an identify's other traits to the identify
row's body, and the ecommerce order row's `ecommerce_order(...)` puts the purchase row's
body beside (or, for an order that does not fit, in place of) the recommended event.
`explain()` shows each part of a combinator, and says where a row's emitter ran when it
ran inside another row.

After the rows, the translator runs one step of its own, shown by `explain()` on its
own line as `alias_profile` (`mapping.identity.add_alias_profiles`). It {alias_profile}

Why a table: the whole mapping reads on one screen, `explain()` can show which row did
what, and a pipeline changes the mapping by building a new tuple (add, replace or drop
rows) instead of patching code. Filters come first (as final rows that skip), so that
no body ever runs for an event that will not be sent.
"""


def rows_section() -> list[str]:
    out = ["## The rows", "",
           "| # | rule | matcher | event types | emitter | final |",
           "|---|---|---|---|---|---|"]
    for index, rule in enumerate(rules.DEFAULT_RULES, 1):
        out.append(f"| {index} | `{rule.name}` | `{rule.when!r}` | "
                   f"{codes(event_types(rule))} | `{name_of(rule.emit)}` | "
                   f"{'yes' if rule.final else ''} |")
    out.append("")
    rows = {rule.emit: f"{index} (`{rule.name}`)"
            for index, rule in enumerate(rules.DEFAULT_RULES, 1)}
    for index, rule in enumerate(rules.DEFAULT_RULES, 1):
        factory = matcher_factory(rule.when)
        if factory is None:
            raise LookupError(f"rule {rule.name!r}: its matcher comes from no factory in "
                              "rules.MATCHERS")
        final = " (final)" if rule.final else ""
        out += [f"### {index}. `{rule.name}`{final}", "",
                f"- **matches** (`{rule.when!r}`, for {codes(event_types(rule))}): "
                f"{docstring(factory)}",
                *emits(rule, rows), ""]
    return out


def paths_section() -> list[str]:
    out = ["## The rows each event type meets", "",
           "The translator only calls the rows whose matcher can accept an event's type, "
           "in table order:", "",
           "| event type | rows |", "|---|---|"]
    for kind in events.EVENT_TYPES:
        names = [r.name for r in rules.DEFAULT_RULES if kind in r.types]
        out.append(f"| `{kind}` | {' → '.join(code(n) for n in names)} |")
    out.append("")
    return out


def traits_section() -> list[str]:
    spellings: dict[str, list[str]] = {}
    for trait, (field, _) in fields.STANDARD_TRAITS.items():
        spellings.setdefault(field, []).append(trait)
    for part, (field, _) in fields.ADDRESS.items():
        spellings.setdefault(field, []).append(f"address.{part}")
    out = ["## Data tables", "",
           "The rule bodies read these constants; to change what a trait becomes, change "
           "the table, not the code that reads it.", "",
           "### Braze's standard fields (`mapping.fields.STANDARD_FIELDS`)", "",
           f"{markdown(constant_doc(fields, 'STANDARD_FIELDS') or '')} A trait of a "
           "field's own name sets it, and so does Segment's spelling of it "
           f"(`mapping.fields.TRAIT_SPELLINGS`: {codes(fields.TRAIT_SPELLINGS)}). A trait "
           "set to `null` unsets its field (`null` is sent). Every other trait is a custom "
           "attribute (see the limits below).", "",
           "| Braze field | traits | value |", "|---|---|---|"]
    for field, rule in fields.STANDARD_FIELDS.items():
        names = codes(spellings.get(field, ())) or "—"
        value = IDENTIFYING if rule is None else NORMALISERS[rule.__name__]
        out.append(f"| `{field}` | {names} | {cell(value)} |")
    out += ["", "### The address (`mapping.fields.ADDRESS`)", "",
            markdown(constant_doc(fields, "ADDRESS") or ""), "",
            "| `address.` part | Braze attribute | value |", "|---|---|---|"]
    for part, (attribute, normaliser) in fields.ADDRESS.items():
        out.append(f"| `{part}` | `{attribute}` | {cell(NORMALISERS[normaliser.__name__])} |")
    out += ["", "Without `address.country`, `context.location.country` is used. On identify "
            "calls without a `current_location` trait, `context.location.latitude` and "
            "`longitude` become `current_location` when both are numbers within range.", ""]
    return out


def genders_section() -> list[str]:
    by_value: dict[str | None, list[str]] = {}
    for word, value in fields.GENDERS.items():
        by_value.setdefault(value, []).append(word)
    out = ["### Genders (`mapping.fields.GENDERS`)", "",
           markdown(constant_doc(fields, "GENDERS") or ""), "",
           "| Braze value | words |", "|---|---|"]
    for value, words in by_value.items():
        shown = "`null`" if value is None else f"`{value}`"
        out.append(f"| {shown} | {codes(words)} |")
    out += ["", "Any other word is dropped with a notice.", ""]
    return out


def identity_section() -> list[str]:
    return [
        "### Identity traits (`mapping.traits.IDENTITY_TRAITS`)", "",
        f"{markdown(constant_doc(traits, 'IDENTITY_TRAITS') or '')} They are left out "
        f"silently: {codes(sorted(traits.IDENTITY_TRAITS))}.", "",
        "### Reserved keys (`mapping.fields.RESERVED_KEYS`)", "",
        f"{markdown(constant_doc(fields, 'RESERVED_KEYS') or '')} The keys: the fields "
        "that identify the user, and those that steer the object "
        f"(`mapping.fields.CONTROL_KEYS`): {codes(sorted(fields.RESERVED_KEYS))}.", "",
        "### Group attribute (`mapping.traits.GROUP_PREFIX`)", "",
        f"{markdown(constant_doc(traits, 'GROUP_PREFIX') or '')} "
        f"`{traits.GROUP_PREFIX}<groupId>`: the whole name must fit in "
        f"{limits.MAX_NAME} characters.", "",
        "### Reserved property keys (`mapping.values.RESERVED_PROPERTIES`)", "",
        f"Braze reserves {codes(sorted(values.RESERVED_PROPERTIES))} in event and purchase "
        "properties; they are dropped with a notice.", "",
    ]


def purchases_section() -> list[str]:
    return [
        "### Purchases (`mapping.purchases`)", "",
        f"- `PRODUCT_ID_KEYS`: {markdown(constant_doc(purchases, 'PRODUCT_ID_KEYS') or '')} "
        f"{' → '.join(code(k) for k in purchases.PRODUCT_ID_KEYS)}.",
        f"- `MAX_PER_PURCHASE` = {number(limits.MAX_PER_PURCHASE)}: "
        f"{markdown(constant_doc(limits, 'MAX_PER_PURCHASE') or '')} A larger quantity "
        "is split into several purchases, so the revenue is kept.",
        f"- `MAX_QUANTITY` = {number(limits.MAX_QUANTITY)}: "
        f"{markdown(constant_doc(limits, 'MAX_QUANTITY') or '')}",
        f"- Currencies (`_tables.CURRENCIES`, for purchase currencies and "
        f"`default_currency`): {len(_tables.CURRENCIES)} codes. "
        f"{markdown(constant_doc(_tables, 'CURRENCIES') or '')}",
        f"- Languages (`_tables.LANGUAGES`, for the `language` trait): "
        f"{len(_tables.LANGUAGES)} codes. "
        f"{markdown(constant_doc(_tables, 'LANGUAGES') or '')}", "",
    ]


def ecommerce_section() -> list[str]:
    """The tables of the ``ecommerce`` and ``ecommerce_order`` rows."""
    out = ["### Recommended ecommerce events (`mapping.ecommerce`)", "",
           "With `ecommerce_events`, these tracks become Braze's recommended ecommerce "
           "events (`ECOMMERCE_EVENTS`). "
           f"{markdown(constant_doc(ecommerce, 'ECOMMERCE_EVENTS') or '')}", "",
           "| Segment event | Braze event | `action` |", "|---|---|---|"]
    for name, (braze, action) in ecommerce.ECOMMERCE_EVENTS.items():
        out.append(f"| `{name}` | `{braze}` | {code(action) if action else ''} |")
    out += ["", "Each Braze event's fields (`SCHEMAS`), in the order Braze's page lists them; "
            "**bold** ones are required, and an event without them is not sent as the "
            "recommended event (a notice names each, and the row sends what it would send "
            "without `ecommerce_events`). Every event also takes `currency` (required: "
            "`properties.currency`, else `default_currency`; an ISO 4217 code), `source` "
            "(required) and `metadata`.", "",
            "| Braze event | event-level fields | product fields |", "|---|---|---|"]
    for braze, schema in ecommerce.SCHEMAS.items():
        fields = ", ".join(f"**`{f}`**" if f in schema.required else f"`{f}`"
                           for f in schema.fields)
        products = ", ".join(f"**`{f}`**" if f in schema.product_required else f"`{f}`"
                             for f in schema.product_fields)
        where = "the event's own, at its level" if schema.single_product else "`products[]`"
        out.append(f"| `{braze}` | {fields or '—'} | {where}: {products} |")
    out += ["", f"Where each field comes from (`ORDER_FIELDS`, `PRODUCT_FIELDS`): "
            f"{markdown(constant_doc(ecommerce, 'ORDER_FIELDS') or '')} "
            f"{markdown(constant_doc(ecommerce, 'PRODUCT_FIELDS') or '')}", "",
            "| Braze field | read from | as |", "|---|---|---|"]
    kinds = {"id": "a string, or an integer as a string", "text": "a non-blank string",
             "number": "a number (numeric strings accepted)",
             "quantity": "a whole number >= 1; 1 when absent",
             "objects": "an array of objects"}
    for table, where in ((ecommerce.ORDER_FIELDS, "`properties.`"),
                         (ecommerce.PRODUCT_FIELDS, "the product's")):
        for name, (keys, kind) in table.items():
            out.append(f"| `{name}` | {where} {' → '.join(code(k) for k in keys)} | "
                       f"{kinds[kind]} |")
    out += ["", f"`source`: `properties.source`, else `context.device.type` when it is "
            f"{codes(sorted(ecommerce.SOURCES))}, else `{ecommerce.DEFAULT_SOURCE}`. What "
            "has no field of its own goes into `metadata`: a product's other keys into the "
            "product's, the event's other properties (and the keys of its own `metadata` "
            "object) into the event's. A product that is the event's own (`Product Viewed`, "
            "or a cart change without `products`) keeps its other keys in the event's "
            "`metadata`.", ""]
    return out


def features_section() -> list[str]:
    return [
        "### Subscription groups from group calls (`mapping.traits`)", "",
        f"`SUBSCRIPTION_STATE_TRAITS`: "
        f"{markdown(constant_doc(traits, 'SUBSCRIPTION_STATE_TRAITS') or '')} "
        f"{' → '.join(code(k) for k in traits.SUBSCRIPTION_STATE_TRAITS)}; the state "
        "`subscribed` or `unsubscribed`, in any case.", "",
        "### Array-of-object operations (`mapping.attributes.NESTED_OPERATIONS`)", "",
        f"{markdown(constant_doc(attributes, 'NESTED_OPERATIONS') or '')}", "",
        "| trait key | Braze operation |", "|---|---|",
        *(f"| `{key}` | `{op}` |" for key, op in attributes.NESTED_OPERATIONS.items()), "",
        "### Create Alias (`mapping.identity`)", "",
        f"`CREATE_ALIAS_EVENT` = `{identity.CREATE_ALIAS_EVENT}`: "
        f"{markdown(constant_doc(identity, 'CREATE_ALIAS_EVENT') or '')} "
        f"`ALIAS_PROPERTIES`: {markdown(constant_doc(identity, 'ALIAS_PROPERTIES') or '')} "
        f"{codes(identity.ALIAS_PROPERTIES)}.", "",
    ]


def limits_section() -> list[str]:
    out = ["### Limits (`limits`)", "",
           "Braze's documented limits, as the rule bodies apply them. A value that breaks "
           "one is dropped with a notice (a nested value drops its whole top-level entry, "
           "since a partial object would replace the stored one); an event name or "
           "properties that break one reject the event.", "",
           "| constant | value | limit on |", "|---|---|---|"]
    for name in ("MAX_NAME", "MAX_STRING", "MAX_ARRAY", "MAX_OBJECT_BYTES",
                 "MAX_PROPERTIES_BYTES", "MAX_DEPTH", "MAX_EVENT_CHARS"):
        value = getattr(limits, name)
        text = LIMITS.get(name) or constant_doc(limits, name)
        if not text:
            raise LookupError(f"limits.{name} has no description")
        out.append(f"| `{name}` | {number(value)} | {cell(markdown(text))} |")
    out.append("")
    return out


def render() -> str:
    """The whole rules page."""
    step = docstring(identity.add_alias_profiles).split(" Returns ")[0]
    alias_profile = step[0].lower() + step[1:]  # "It creates the profiles ..."
    lines = [HEAD.format(alias_profile=alias_profile), *rows_section(), *paths_section(),
             *traits_section(), *genders_section(), *identity_section(), *purchases_section(),
             *ecommerce_section(), *features_section(), *limits_section()]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the page differs from the generated one")
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != page:
            print(f"{PAGE} is out of date: run python docs/gen_rules.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
