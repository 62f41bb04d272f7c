"""The fast paths change nothing: differential tests against the full path.

Two pairs are held equal, over the golden cases, the benchmark corpus and
Hypothesis-generated events (good ones, broken ones and arbitrary JSON objects) with
settings drawn from every field of ``Settings`` (:func:`strategies.every_setting`, so a
setting added later is varied here too):

- the fast structuring (:mod:`segment_braze._structuring`) against the cattrs converter:
  the same model, field for field (times with their offsets), or the same problems;
- the translator against :func:`~segment_braze.translate.reference_translator`, which
  has every fast path off (the converter for every event, every rule body on its general
  path, no memo): the same status, request bodies byte for byte (key order, ``1`` vs
  ``1.0`` and ``true`` vs ``1`` included), origins, notices and problems with their
  paths and rules.

Makers (:mod:`segment_braze._makers`), which build objects without ``__init__``, are
held equal to ``__init__`` for every class they build.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import segment_braze as sb
from segment_braze._makers import maker
from segment_braze._structuring import fast_structure
from segment_braze.braze import (
    Event,
    Identifier,
    Purchase,
    UserAlias,
    UserAttributes,
    UsersTrack,
)
from segment_braze.converters import make_converter
from segment_braze.events import EVENT_MODELS, Context
from segment_braze.translate import Translation, reference_translator
from strategies import every_setting, json_objects, orders, segment_events

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS.parent / "benchmarks"))
import corpus  # noqa: E402 - the benchmark corpus, beside the benchmarks

CLOCK = datetime(2024, 1, 1, tzinfo=timezone.utc)

#: Enough examples to find a difference, few enough for two cores.
differential = settings(max_examples=150, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow])

#: Values only a Python caller passes (JSON has none of them): the general path must
#: convert them, so a fast path that took them as they are would show.
python_values = st.recursive(
    st.one_of(st.datetimes(timezones=st.none() | st.just(timezone.utc)), st.dates(),
              st.sampled_from([1, "x", None, 2.5])),
    lambda inner: st.one_of(st.tuples(inner, inner),
                            st.builds(MappingProxyType, st.dictionaries(
                                st.sampled_from(["a", "b", "$c"]), inner, max_size=2)),
                            st.lists(inner, max_size=2),
                            st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2)),
    max_leaves=4)


def _event_with(kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    """A good event of ``kind`` whose properties or traits hold ``extra``."""
    event: dict[str, Any] = {"type": kind, "userId": "u1", "anonymousId": "a1",
                             "timestamp": "2024-05-01T12:00:00Z",
                             "context": {"traits": {"plan": "pro", **extra}}}
    if kind in ("identify", "group"):
        event["traits"] = {"email": "a@b.co", **extra}
        event["groupId"] = "g1"
    else:
        event["event"] = "Order Completed"
        event["properties"] = {"revenue": 5, "products": [{"product_id": "p1", "price": 2,
                                                           **extra}], **extra}
    return event


python_events = st.builds(_event_with, st.sampled_from(["track", "page", "identify"]),
                          st.dictionaries(st.sampled_from(["p", "q", "tags", "when"]),
                                          python_values, min_size=1, max_size=2))

#: Events and other objects, many of them of the shapes the fast paths take.
inputs = st.lists(st.one_of(segment_events(), segment_events(), orders(), json_objects(6),
                            python_events),
                  max_size=5)


def clock() -> datetime:
    return CLOCK


# -- what is compared ----------------------------------------------------------------------


def structured(structure: Callable[[Any], Any], data: Any) -> tuple[Any, ...]:
    """A structuring's outcome, comparable with ``==``: the model's class and repr (a
    time's repr shows its offset, which ``==`` of aware times ignores), or the
    problems."""
    try:
        model = structure(data)
    except sb.InvalidEvent as error:
        return ("rejected", [(p.path, p.message, p.rule) for p in error.problems])
    return (type(model).__name__, repr(model))


def _bytes(value: Any) -> str:
    """JSON text of a body; a value that is not JSON shows as its type and repr."""
    return json.dumps(value, allow_nan=True, default=lambda v: f"<{type(v).__name__} {v!r}>")


def observed(translation: Translation) -> tuple[Any, ...]:
    """Everything a translation shows, as text where types and key order matter."""
    problems = None if translation.error is None else [
        (p.path, p.message, p.rule) for p in translation.error.problems]
    return (translation.status, translation.skipped, repr(translation.origin),
            translation.unchanged,
            [(type(r).__name__, r.endpoint, _bytes(r.to_json()), _bytes(dict(r.origins)))
             for r in translation.requests],
            [(n.path, n.message, n.rule) for n in translation.notices], problems)


@functools.lru_cache(maxsize=64)
def translators(chosen: sb.Settings) -> tuple[sb.Translator, sb.Translator]:
    """A translator with ``chosen`` and its reference, kept for the next events with the
    same settings (building one takes milliseconds; their memos fill across events)."""
    translator = sb.Translator(chosen, clock=clock)
    return translator, reference_translator(translator)


def assert_same(events: Iterable[Any], chosen: sb.Settings) -> None:
    """A translator with ``chosen`` settings and its reference translate ``events``
    alike."""
    events = list(events)
    translator, reference = translators(chosen)
    fast = [observed(t) for t in translator.translate_many(events)]
    slow = [observed(t) for t in reference.translate_many(events)]
    for position, (event, one, other) in enumerate(zip(events, fast, slow, strict=True)):
        assert one == other, (position, event)


# -- structuring ---------------------------------------------------------------------------


@differential
@given(events=inputs)
@example(events=[{"type": "track", "event": "E", "timestamp": "2024-05-01T12:00:00+02:00",
                  "sentAt": "2024-05-01T12:00:00+02:00"},
                 {"type": "track", "event": "E", "timestamp": "2024-05-01T12:00:00Z"}])
def test_fast_structuring_is_the_converters(events: list[Any]) -> None:
    """The fast path gives the model the converter gives, or the same problems."""
    converter, fast = structurers()
    for event in events:
        assert structured(fast, event) == structured(converter.structure_event, event)


@functools.cache
def structurers() -> tuple[Any, Callable[[Any], Any]]:
    """A converter and the fast path over it (one for the module: its memo of the last
    time carries from one example to the next, as it does from event to event)."""
    converter = make_converter()
    return converter, fast_structure(converter)


def golden_events() -> list[tuple[str, dict[str, Any], Any]]:
    """``(name, settings, event)`` of every golden case, valid or not."""
    cases = []
    for folder in ("golden", "golden/invalid", "golden_cohorts", "golden_cohorts/invalid"):
        for path in sorted((TESTS / folder).glob("*.json")):
            case = json.loads(path.read_text(encoding="utf-8"))
            cases.append((f"{folder}/{path.name}", case["settings"], case["event"]))
    return cases


GOLDEN = golden_events()


def test_golden_cases_are_found() -> None:
    """The golden folders are read (an empty list would prove nothing)."""
    assert len(GOLDEN) > 150


def test_fast_structuring_of_the_golden_events() -> None:
    """Every golden event, valid or not, is structured as the converter does."""
    converter = make_converter()
    fast = fast_structure(converter)
    for name, _, event in GOLDEN:
        assert structured(fast, event) == structured(converter.structure_event, event), name


def test_fast_structuring_takes_the_usual_events() -> None:
    """The fast path really is taken for the usual events (and so is tested here): the
    corpus goes through without the converter."""
    converter = make_converter()
    fast = fast_structure(converter)

    def refuse(data: Any) -> Any:
        raise AssertionError(f"the converter was asked: {data!r}")

    converter.structure_event = refuse  # type: ignore[method-assign]
    for event in corpus.events(300):
        fast(event)


def test_fast_structuring_leaves_unknown_hooks_to_the_converter() -> None:
    """A field whose hook the fast path does not know (``"other"``) is left to the
    converter whenever it is there; without it, the fast path still builds the model."""
    converter = make_converter()
    known = converter.field_hooks

    def with_other(model: type[Any]) -> dict[str, Any]:
        hooks = known(model)
        if "user_id" in hooks:
            hooks["user_id"] = attrs.evolve(hooks["user_id"], kind="other")
        return hooks

    converter.field_hooks = with_other  # type: ignore[method-assign]
    asked: list[Any] = []
    slow = converter.structure_event

    def counted(data: Any) -> Any:
        asked.append(data)
        return slow(data)

    converter.structure_event = counted  # type: ignore[method-assign]
    fast = fast_structure(converter)
    with_user = {"type": "track", "event": "E", "userId": 7}
    without = {"type": "track", "event": "E", "anonymousId": "a1"}
    assert structured(fast, with_user) == structured(slow, with_user)
    assert structured(fast, without) == structured(slow, without)
    assert asked == [with_user]


# -- the whole translator ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "config", "event"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_cases_translate_as_the_reference(name: str, config: dict[str, Any],
                                                 event: Any) -> None:
    """Every golden case, with its settings, translates as the reference does."""
    assert_same([event], sb.Settings(**config))


@pytest.mark.parametrize("config", [
    {"track_all_pages": True},
    {"track_all_pages": True, "anonymous_users": "alias", "context_traits": True},
    {"update_existing_only": True, "log_purchase_when_revenue_present": True,
     "email_identifier": True, "app_id": "app-1"},
], ids=["pages", "alias-context", "update-only"])
def test_corpus_translates_as_the_reference(config: dict[str, Any]) -> None:
    """The benchmark corpus (the usual shapes: every fast path taken) translates as the
    reference does."""
    assert_same(corpus.events(1000), sb.Settings(**config))


@differential
@given(events=inputs, chosen=every_setting())
def test_events_translate_as_the_reference(events: list[Any], chosen: sb.Settings) -> None:
    """Generated events (good, broken and arbitrary), under settings drawn from every
    field of Settings, translate as the reference does."""
    assert_same(events, chosen)


@differential
@given(event=python_events, chosen=every_setting())
@example(event=_event_with("track", {"p": {"a": date(2024, 5, 1)}}), chosen=sb.Settings())
def test_python_values_translate_as_the_reference(event: dict[str, Any],
                                                  chosen: sb.Settings) -> None:
    """Values only a Python caller passes (times, tuples, read-only mappings), which the
    general path converts, translate as the reference does."""
    assert_same([event], chosen)


def _nested_properties(count: int) -> dict[str, Any]:
    """Properties of nested objects of 200-character strings, about 210 bytes each."""
    return {f"k{n}": {"v": "x" * 200} for n in range(count)}


def _custom_traits(count: int) -> dict[str, Any]:
    """Custom traits of 255-character strings (the longest Braze takes)."""
    return {f"t{n}": "y" * 255 for n in range(count)}


@pytest.mark.parametrize("event", [
    *({"type": "track", "userId": "u1", "event": "E", "properties": _nested_properties(n)}
      for n in (230, 236, 240, 250)),
    *({"type": "identify", "userId": "u1", "traits": _custom_traits(n)}
      for n in (3900, 3921, 3922, 3950)),
], ids=["props-230", "props-236", "props-240", "props-250",
        "traits-3900", "traits-3921", "traits-3922", "traits-3950"])
def test_sizes_near_the_limits_as_the_reference(event: dict[str, Any]) -> None:
    """Near Braze's 51,200 bytes of properties and the 1 MB of an event, where the
    size bounds the fast paths keep decide, the outcome is the reference's."""
    assert_same([event], sb.Settings())


def test_reference_has_every_fast_path_off() -> None:
    """The reference structures with the converter and its rule bodies keep no memo."""
    translator = sb.Translator(sb.Settings())
    reference = reference_translator(translator)
    assert reference._structure == reference._converter.structure_event
    assert reference._table.memo.shortcuts is False
    assert translator._table.memo.shortcuts is True
    reference.translate({"type": "track", "userId": "u1", "event": "Signed Up",
                         "properties": {"plan": "pro"}})
    assert reference._table.memo.property_names == {}
    assert reference._table.memo.purchase_names == {}
    assert (reference.settings, reference.rules, reference.clock, reference.resolve) == (
        translator.settings, translator.rules, translator.clock, translator.resolve)


# -- makers --------------------------------------------------------------------------------

ALIAS = UserAlias("a1", "anon")
USER = Identifier("external_id", "u1")

#: Each class a maker builds, with values of every field (consistent where
#: ``__attrs_post_init__`` checks them).
MADE: list[tuple[type[Any], dict[str, Any]]] = [
    *((model, {f.name: f"<{f.name}>" for f in attrs.fields(model)})
      for model in (*EVENT_MODELS.values(), Context)),
    (Identifier, {"kind": "user_alias", "value": ALIAS}),
    (Event, {"identifier": USER, "name": "E", "time": "t", "properties": {"a": 1},
             "app_id": "app", "update_existing_only": True}),
    (UserAttributes, {"identifier": USER, "values": {"a": 1}, "update_existing_only": False,
                      "merge_objects": True}),
    (Purchase, {"identifier": USER, "product_id": "p", "currency": "EUR", "price": 1.5,
                "time": "t", "quantity": 2, "properties": {}, "app_id": "app",
                "update_existing_only": True}),
    (UsersTrack, {"attributes": (UserAttributes(identifier=USER),), "events": (),
                  "purchases": (), "origins": {"attributes": ("m1",)}}),
    (Translation, {"requests": (), "skipped": "why", "notices": (), "error": None,
                   "origin": 3, "unchanged": ("a",)}),
]


@pytest.mark.parametrize(("cls", "values"), MADE, ids=[m[0].__name__ for m in MADE])
def test_maker_is_init(cls: type[Any], values: dict[str, Any]) -> None:
    """A maker given every field builds what ``__init__`` builds, field for field and in
    the same order; given some, the others take their defaults (a factory's anew)."""
    whole = maker(cls, *values)(*values.values())
    assert type(whole) is cls
    assert list(vars(whole).items()) == list(vars(cls(**values)).items())
    required = {f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING}
    # Origins are made from the instance by default: a maker is given them (here none,
    # as the entries are left at their defaults).
    given = {k: {} if k == "origins" else v for k, v in values.items()
             if k in required or k == "origins"}
    some = maker(cls, *given)
    assert list(vars(some(*given.values())).items()) == list(vars(cls(**given)).items())
    for field in attrs.fields(cls):
        if isinstance(field.default, attrs.Factory) and field.name not in given:  # type: ignore[arg-type]
            assert getattr(some(*given.values()), field.name) is not getattr(
                some(*given.values()), field.name)


def test_maker_refuses_what_it_cannot_build() -> None:
    """Unknown fields, a field without a default left out, and a default made from the
    instance are refused when the maker is built, not when it runs."""
    with pytest.raises(TypeError, match="no fields"):
        maker(Event, "nope")
    with pytest.raises(TypeError, match="no default"):
        maker(Event, "identifier", "name")
    with pytest.raises(TypeError, match="made from the instance"):
        maker(UsersTrack, "events")
