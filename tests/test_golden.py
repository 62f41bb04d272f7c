"""Golden cases: Segment events in, Braze requests out, one JSON file per behaviour.

``tests/golden/*.json`` are valid cases::

    {"description": "what this case pins and why",
     "settings": {...},                 # keyword arguments of Settings
     "event": {...},                    # the Segment message, as sent on the wire
     "expect": {"requests": [{"endpoint": "/users/track", "body": {...}}],
                "skipped": null,        # or a substring of the skip reason
                "notices": ["$.traits.gender"]}}   # JSON paths of the notices, in order

``tests/golden/invalid/*.json`` are events that must be rejected::

    {"description": ..., "settings": {...}, "event": {...},
     "problems": ["$.event"],           # JSON paths of InvalidEvent.problems, in order
     "messages": ["required"]}          # optional: messages[i] is in problems[i]'s message

Every case runs with a fixed clock (2024-01-01T00:00:00Z), so events without any time
translate the same way every time. Request bodies are compared exactly and with their
JSON types (``true`` is not ``1``); numbers compare by value (``19`` equals ``19.0``).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from segment_braze import InvalidEvent, Settings, Translator

GOLDEN = Path(__file__).parent / "golden"
VALID = sorted(GOLDEN.glob("*.json"))
INVALID = sorted((GOLDEN / "invalid").glob("*.json"))

#: The translation time of every case: what an event with no time at all gets.
CLOCK = datetime(2024, 1, 1, tzinfo=timezone.utc)

#: The keys a case file may have, so that a misspelt key cannot silently pass.
VALID_KEYS = {"description", "settings", "event", "expect"}
EXPECT_KEYS = {"requests", "skipped", "notices"}
INVALID_KEYS = {"description", "settings", "event", "problems", "messages"}
MIN_VALID, MIN_INVALID = 80, 15


def load(path: Path, keys: set[str]) -> dict[str, Any]:
    """A case file, checked for its shape and for a one-line description."""
    case = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), f"{path.name}: a case is a JSON object"
    unknown = case.keys() - keys
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}"
    description = case.get("description")
    assert isinstance(description, str), f"{path.name}: a description is required"
    assert description.strip(), f"{path.name}: the description is empty"
    assert "\n" not in description, f"{path.name}: the description is one line"
    assert isinstance(case.get("settings"), dict), f"{path.name}: settings is an object"
    assert "event" in case, f"{path.name}: event is required"
    return case


def translator(case: dict[str, Any]) -> Translator:
    return Translator(Settings(**case["settings"]), clock=lambda: CLOCK)


def typed(value: Any, where: str = "$") -> Any:
    """``value`` with every scalar tagged by its JSON type, so ``true != 1`` while
    ``1 == 1.0``; anything that is not a plain JSON type fails the test."""
    if type(value) is dict:
        for key in value:
            assert type(key) is str, f"{where}: key {key!r} is not a string"
        return {key: typed(item, f"{where}.{key}") for key, item in value.items()}
    if type(value) is list:
        return [typed(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if value is None or type(value) is str:
        return value
    if type(value) is bool:
        return ("boolean", value)
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return ("number", value)
    raise AssertionError(f"{where}: {value!r} is not a plain JSON value")


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_case(path: Path) -> None:
    """The event translates to exactly the expected requests, skip and notices."""
    case = load(path, VALID_KEYS)
    expect = case["expect"]
    assert isinstance(expect, dict), f"{path.name}: expect is an object"
    assert expect.keys() == EXPECT_KEYS, f"{path.name}: expect has {sorted(EXPECT_KEYS)}"

    translation = translator(case).translate(case["event"])

    actual = [{"endpoint": r.endpoint, "body": r.to_json()} for r in translation]
    assert typed(actual) == typed(expect["requests"])
    if expect["skipped"] is None:
        assert translation.skipped is None
    else:
        assert translation.skipped is not None, "expected the event to be skipped"
        assert expect["skipped"] in translation.skipped
    assert [n.path for n in translation.notices] == expect["notices"]


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(path: Path) -> None:
    """The event is rejected with exactly the expected problem paths."""
    case = load(path, INVALID_KEYS)
    assert case.get("problems"), f"{path.name}: problems must list at least one path"

    with pytest.raises(InvalidEvent) as raised:
        translator(case).translate(case["event"])

    problems = raised.value.problems
    assert [p.path for p in problems] == case["problems"]
    messages = case.get("messages", [])
    assert len(messages) <= len(problems)
    for expected, problem in zip(messages, problems, strict=False):
        assert expected in problem.message, f"{expected!r} not in {problem.message!r}"


def test_golden_folders_are_populated() -> None:
    """The folders cannot silently empty: a lost case shows up here."""
    assert len(VALID) >= MIN_VALID, f"only {len(VALID)} valid golden cases"
    assert len(INVALID) >= MIN_INVALID, f"only {len(INVALID)} invalid golden cases"
