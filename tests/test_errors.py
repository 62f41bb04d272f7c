"""Problems and notices as data: their JSON form and their text."""

from __future__ import annotations

import json

import pytest

import segment_braze as sb
from segment_braze.errors import error_reason


@pytest.mark.parametrize("kind", [sb.Problem, sb.Notice])
def test_to_json(kind: type[sb.Problem] | type[sb.Notice]) -> None:
    """``to_json`` gives path, message and rule (``null`` when none is named)."""
    named = kind("$.properties.products[1].price", "required", "purchase")
    assert named.to_json() == {"path": "$.properties.products[1].price",
                               "message": "required", "rule": "purchase"}
    assert kind("$", "not JSON").to_json() == {"path": "$", "message": "not JSON",
                                               "rule": None}
    assert json.loads(json.dumps(named.to_json())) == named.to_json()


def test_rejected_events_problems_render_as_json() -> None:
    """The problems of a real rejection render as JSON with the wire names."""
    with pytest.raises(sb.InvalidEvent) as caught:
        sb.translate({"type": "track", "userId": "u1", "event": ""}, sb.Settings())
    [problem] = [p.to_json() for p in caught.value.problems]
    assert problem["path"] == "$.event"
    assert problem["rule"] == "track"


def test_error_reason() -> None:
    """An OS error's reason is the system's words, lower case, without errno or file."""
    assert error_reason(FileNotFoundError(2, "No such file or directory", "x.gz")) == (
        "no such file or directory")
    assert error_reason(ValueError("Bad thing")) == "bad thing"
    assert error_reason(KeyError()) == "KeyError"
