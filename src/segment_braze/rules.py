"""The rule table: which Segment events become which Braze objects.

A :class:`Rule` is a name, a matcher (``when``), an emitter (``emit``) and a ``final``
flag. For each event the translator runs the table top to bottom: every rule whose
matcher accepts the event emits Braze objects (or a :class:`Skip`); a final rule that
matched stops the table. Matchers come from small factories (``on_type("identify")``);
emitters are the rule bodies in :mod:`segment_braze.mapping`, named
``<source>_to_<target>``. A row that builds on another row's body says so with a
combinator (:mod:`segment_braze.combinators`): ``both(a, b)``, ``otherwise(a, b)``.

``DEFAULT_RULES`` at the end of this module is the whole mapping. To change it, build a
new tuple (add, replace or drop rows) and pass it to ``Translator(settings, rules=...)``;
nothing global is ever mutated. A translator binds its table to its settings once
(:func:`bind_table`); what the bodies remember across events lives in that bound table,
never in a module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import attrs

from .combinators import both, name_of, otherwise
from .errors import RuleTableError
from .events import EVENT_TYPES, Track
from .mapping import audiences, ecommerce, identity, purchases, traits
from .mapping import events as ev
from .scope import MEMO_LIMIT, Emitter, Matcher, Memo, Output, Scope, Skip
from .settings import Settings, purchase_key

__all__ = [
    "DEFAULT_RULES",
    "IDENTIFY",
    "PURCHASE",
    "BoundTable",
    "Emitter",
    "Matcher",
    "Output",
    "Rule",
    "Scope",
    "Skip",
    "bind",
    "bind_table",
    "both",
    "on_audience",
    "on_context_traits",
    "on_create_alias",
    "on_ecommerce",
    "on_ecommerce_order",
    "on_event",
    "on_filtered_event",
    "on_no_identifier",
    "on_purchase",
    "on_subscription_state",
    "on_type",
    "on_untracked_page",
    "otherwise",
]


# A matcher may carry ``types``, the event types it can accept, so the translator never
# offers it the others (a plain function is offered all), and ``bind(settings)``, see
# :func:`bind`.

#: What :func:`bind` returns: ``True`` (always matches), ``False`` (never, under these
#: settings) or the test to call per event.
Bound: TypeAlias = bool | Callable[[Any, Scope], bool]


def bind(matcher: Matcher, settings: Settings) -> Bound:
    """Prepare a matcher for one settings object, once, so the per-event path is short:
    a row that cannot match under these settings is left out, a row that always matches
    its types is not even called."""
    prepare = getattr(matcher, "bind", None)
    return prepare(settings) if callable(prepare) else matcher


@attrs.frozen(repr=False)
class Rule:
    """One row of the table: ``emit`` runs when ``when`` matches; a ``final`` rule that
    matched stops the table."""

    name: str
    when: Matcher
    emit: Emitter
    final: bool = False

    def __repr__(self) -> str:
        final = ", final=True" if self.final else ""
        return f"Rule({self.name!r}, {name_of(self.when)}, {name_of(self.emit)}{final})"

    @property
    def types(self) -> frozenset[str]:
        """The event types this rule can match."""
        declared = getattr(self.when, "types", None)
        return frozenset(EVENT_TYPES) if declared is None else frozenset(declared)


def check_rules(rules: object) -> tuple[Rule, ...]:
    """``rules`` as a valid table, or :class:`RuleTableError` saying what is wrong."""
    if not isinstance(rules, tuple):
        raise RuleTableError(f"rules must be a tuple of Rule, got {type(rules).__name__}")
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if not isinstance(rule, Rule):
            raise RuleTableError(f"rules[{index}] is {type(rule).__name__}, not a Rule")
        if not isinstance(rule.name, str) or not rule.name:
            raise RuleTableError(f"rules[{index}] has no name")
        if rule.name in seen:
            raise RuleTableError(f"two rules are named {rule.name!r}")
        seen.add(rule.name)
        if not callable(rule.when) or not callable(rule.emit):
            raise RuleTableError(f"rule {rule.name!r}: when and emit must be callable")
        unknown = rule.types - set(EVENT_TYPES)
        if unknown:
            raise RuleTableError(f"rule {rule.name!r} names unknown event types {sorted(unknown)}")
    return rules


@attrs.frozen
class BoundTable:
    """A checked rule table bound to one settings object, once per translator (see
    :func:`bind_table`): for each event type, the rows it can meet under the settings,
    in table order, each with its bound matcher; and the :class:`~segment_braze.scope.Memo`
    the rule bodies keep across events, which every scope of the translator reaches as
    ``scope.memo``.

    It is never pickled: a translator rebuilds it, empty memo included, when unpickled.
    """

    rules: tuple[Rule, ...]
    settings: Settings
    #: Event type -> ``(rule, bound matcher)`` for each row it can meet (``True``:
    #: always matches).
    rows: Mapping[str, tuple[tuple[Rule, Bound], ...]]
    memo: Memo = attrs.field(factory=Memo, eq=False)


def bind_table(rules: tuple[Rule, ...], settings: Settings) -> BoundTable:
    """``rules`` (checked) bound to ``settings``: a row that cannot match under these
    settings is left out, every matcher is bound once (:func:`bind`)."""
    rules = check_rules(rules)
    bound = [(rule, bind(rule.when, settings)) for rule in rules]
    rows = {kind: tuple((r, test) for r, test in bound if test is not False and kind in r.types)
            for kind in EVENT_TYPES}
    return BoundTable(rules, settings, rows)


# -- matchers --------------------------------------------------------------------------
# Small callable classes behind factory functions, so that rules print readably, compare
# by value and pickle (their tests are module functions, never closures).


@attrs.frozen
class _OnType:
    types: frozenset[str]

    def __call__(self, event: Any, scope: Scope) -> bool:
        return event.type in self.types

    def bind(self, settings: Settings) -> Bound:
        return True  # the translator only offers it events of its types

    def __repr__(self) -> str:
        return f"on_type({', '.join(repr(t) for t in sorted(self.types))})"


def on_type(*types: str) -> Matcher:
    """Matches events of these Segment types."""
    return _OnType(frozenset(types))


def _always(settings: Settings) -> bool:
    return True


@attrs.frozen
class _Predicate:
    """A matcher from a named predicate, the event types it applies to, and whether the
    settings can make it match at all."""

    factory: str
    test: Callable[[Any, Scope], bool]
    types: frozenset[str]
    enabled: Callable[[Settings], bool] = _always

    def __call__(self, event: Any, scope: Scope) -> bool:
        return self.enabled(scope.settings) and self.test(event, scope)

    def bind(self, settings: Settings) -> Bound:
        return self.test if self.enabled(settings) else False

    def __repr__(self) -> str:
        return f"{self.factory}()"


@attrs.frozen
class _OnEvent:
    names: frozenset[str]
    types: frozenset[str] = frozenset({"track"})

    def __call__(self, event: Any, scope: Scope) -> bool:
        return event.type == "track" and event.event in self.names

    def __repr__(self) -> str:
        return f"on_event({', '.join(repr(n) for n in sorted(self.names))})"


def on_event(*names: str) -> Matcher:
    """Matches track events with one of these exact names."""
    return _OnEvent(frozenset(names))


def _is_purchase(event: Track, scope: Scope) -> bool:
    if _is_purchase_name(event.event, scope):
        return True
    return (scope.settings.log_purchase_when_revenue_present
            and purchases.revenue_of(event.properties) is not None)


def _is_purchase_name(name: str, scope: Scope) -> bool:
    """Whether ``name`` is in ``purchase_events``; remembered in the translator's memo
    (event names repeat)."""
    memo = scope.memo
    known = memo.purchase_names
    found = known.get(name)
    if found is None:
        found = purchase_key(name) in scope.settings.purchase_keys
        if len(known) < MEMO_LIMIT and memo.shortcuts:
            known[name] = found
    return found


def on_purchase() -> Matcher:
    """Track events named like an entry of ``purchase_events`` (ignoring case, spaces,
    ``_`` and ``-``), or carrying a numeric ``revenue`` when
    ``log_purchase_when_revenue_present`` is on."""
    return _Predicate("on_purchase", _is_purchase, frozenset({"track"}))


def _is_filtered(event: Any, scope: Scope) -> bool:
    return ev.filtered_reason(event, scope.settings) is not None


def _has_lists(settings: Settings) -> bool:
    return settings.event_allowlist is not None or settings.event_blocklist is not None


def on_filtered_event() -> Matcher:
    """Track, page and screen events whose custom event name ``event_allowlist`` leaves
    out or ``event_blocklist`` names."""
    return _Predicate("on_filtered_event", _is_filtered, frozenset({"track", "page", "screen"}),
                      _has_lists)


def _is_untracked(event: Any, scope: Scope) -> bool:
    return ev.untracked_reason(event, scope.settings) is not None


def on_untracked_page() -> Matcher:
    """Page and screen calls that the page settings (``track_all_pages``,
    ``track_named_pages``) do not send."""
    return _Predicate("on_untracked_page", _is_untracked, frozenset({"page", "screen"}))


def _has_no_identifier(event: Any, scope: Scope) -> bool:
    return scope.identifier is None


def on_no_identifier() -> Matcher:
    """Events whose user has no Braze identifier under the identity settings."""
    return _Predicate("on_no_identifier", _has_no_identifier,
                      frozenset({"identify", "track", "page", "screen", "group"}))


def _cohorts_on(settings: Settings) -> bool:
    return settings.cohorts_enabled


def on_audience() -> Matcher:
    """Engage audience changes, when cohorts are on (``cohort_client_secret`` and
    ``cohort_partner_api_key`` set): ``Audience Entered`` / ``Audience Exited`` tracks
    carrying ``context.personas``, and identify calls whose ``context.personas`` names an
    audience (``computation_key``) that their traits hold as a boolean; with
    ``cohort_audiences``, only the audiences it names."""
    return _Predicate("on_audience", audiences.is_audience_change,
                      frozenset({"identify", "track"}), _cohorts_on)


def _has_context_traits(event: Any, scope: Scope) -> bool:
    return event.context is not None and bool(event.context.traits)


def _context_traits_on(settings: Settings) -> bool:
    return settings.context_traits


def on_context_traits() -> Matcher:
    """Track, page and screen events carrying ``context.traits`` when ``context_traits``
    is on."""
    return _Predicate("on_context_traits", _has_context_traits,
                      frozenset({"track", "page", "screen"}), _context_traits_on)


def _is_create_alias(event: Track, scope: Scope) -> bool:
    return event.event == identity.CREATE_ALIAS_EVENT


def _create_alias_on(settings: Settings) -> bool:
    return settings.create_alias


def on_create_alias() -> Matcher:
    """Track events named ``Create Alias`` (exactly, as Segment's Braze destination
    subscribes its Create Alias action), when ``create_alias`` is on."""
    return _Predicate("on_create_alias", _is_create_alias, frozenset({"track"}),
                      _create_alias_on)


def _has_subscription_state(event: Any, scope: Scope) -> bool:
    return traits.group_subscription_state(event) is not None


def _subscription_groups_on(settings: Settings) -> bool:
    return settings.group_subscription_groups


def on_subscription_state() -> Matcher:
    """Group calls whose traits hold ``subscription_state`` (or ``subscriptionState``),
    when ``group_subscription_groups`` is on."""
    return _Predicate("on_subscription_state", _has_subscription_state,
                      frozenset({"group"}), _subscription_groups_on)


def _ecommerce_on(settings: Settings) -> bool:
    return settings.ecommerce_events


def _is_ecommerce(event: Track, scope: Scope) -> bool:
    return (ecommerce.ecommerce_event_of(event.event) is not None
            and not _is_purchase(event, scope))


def _is_ecommerce_order(event: Track, scope: Scope) -> bool:
    return (ecommerce.ecommerce_event_of(event.event) is not None
            and _is_purchase(event, scope))


def on_ecommerce() -> Matcher:
    """Track events of Segment's ecommerce spec that Braze has a recommended event for
    (``Product Viewed``, ``Product Added``, ``Product Removed``, ``Checkout Started``,
    ``Order Refunded``, ``Order Cancelled``, ... compared as ``purchase_events`` are),
    when ``ecommerce_events`` is on; not those the ``purchase`` row would take (see
    ``on_ecommerce_order``)."""
    return _Predicate("on_ecommerce", _is_ecommerce, frozenset({"track"}), _ecommerce_on)


def on_ecommerce_order() -> Matcher:
    """Those ecommerce track events that the ``purchase`` row would take (by
    ``purchase_events``, ``Order Completed`` by default, or by revenue with
    ``log_purchase_when_revenue_present``), when ``ecommerce_events`` is on."""
    return _Predicate("on_ecommerce_order", _is_ecommerce_order, frozenset({"track"}),
                      _ecommerce_on)


# -- the table -------------------------------------------------------------------------

#: The identify row's body, which the audience row also runs on an identify's other
#: traits: in alias mode the anonymous alias is merged first, then the traits are sent.
IDENTIFY: Final = both(identity.merge_anonymous, traits.identify_to_attributes)

#: The purchase row's body, which the ecommerce order row falls back on (or adds, with
#: ``ecommerce_purchases``).
PURCHASE: Final = otherwise(purchases.track_to_purchases, ev.track_to_event)

DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    Rule("delete", on_type("delete"), identity.delete_to_users_delete, final=True),
    Rule("alias", on_type("alias"), identity.alias_to_identify_or_merge, final=True),
    Rule("audience", on_audience(),
         both(audiences.audience_to_cohort, audiences.other_traits(IDENTIFY)), final=True),
    Rule("create_alias", on_create_alias(), identity.track_to_alias_new, final=True),
    Rule("event_filter", on_filtered_event(), ev.skip_filtered_event, final=True),
    Rule("page_filter", on_untracked_page(), ev.skip_untracked_page, final=True),
    Rule("anonymous", on_no_identifier(), identity.skip_anonymous, final=True),
    Rule("identify", on_type("identify"), IDENTIFY),
    Rule("subscription", on_subscription_state(),
         otherwise(traits.group_to_subscription, traits.group_to_attributes), final=True),
    Rule("group", on_type("group"), traits.group_to_attributes),
    Rule("context_traits", on_context_traits(), traits.context_traits_to_attributes),
    Rule("ecommerce", on_ecommerce(),
         otherwise(ecommerce.track_to_ecommerce, ev.track_to_event), final=True),
    Rule("ecommerce_order", on_ecommerce_order(), ecommerce.ecommerce_order(PURCHASE),
         final=True),
    Rule("purchase", on_purchase(), PURCHASE, final=True),
    Rule("page", on_type("page", "screen"), ev.page_to_event),
    Rule("track", on_type("track"), ev.track_to_event),
)
"""The default mapping, in order. Reads top to bottom; the docs' rules page is generated
from it."""

#: Matchers by factory name, for the docs.
MATCHERS: Final[Mapping[str, Callable[..., Matcher]]] = {
    "on_type": on_type,
    "on_event": on_event,
    "on_purchase": on_purchase,
    "on_audience": on_audience,
    "on_filtered_event": on_filtered_event,
    "on_untracked_page": on_untracked_page,
    "on_no_identifier": on_no_identifier,
    "on_context_traits": on_context_traits,
    "on_create_alias": on_create_alias,
    "on_subscription_state": on_subscription_state,
    "on_ecommerce": on_ecommerce,
    "on_ecommerce_order": on_ecommerce_order,
}

#: Combinators by factory name, for the docs.
COMBINATORS: Final[Mapping[str, Callable[..., Emitter]]] = {
    "both": both,
    "otherwise": otherwise,
    "other_traits": audiences.other_traits,
    "ecommerce_order": ecommerce.ecommerce_order,
}
