"""Braze's standard profile fields: every one has its rule, and golden cases show it.

Braze stores a key named like a standard field in that field, so a trait of that name is
checked against the field's documented type and format (``STANDARD_FIELDS``). This test
walks Braze's whole list of fields, written here from Braze's documentation of the user
attributes object (independently of the library's table), so that a field missing from
the table, or added to it without golden cases, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import segment_braze as sb
from segment_braze.mapping.fields import (
    RESERVED_KEYS,
    STANDARD_FIELDS,
    STANDARD_TRAITS,
    TRAIT_SPELLINGS,
)

GOLDEN = Path(__file__).parent / "golden"

#: The user attributes object's standard fields, as Braze documents them.
BRAZE_FIELDS = frozenset({
    "alias_label", "alias_name", "braze_id", "country", "current_location",
    "date_of_first_session", "date_of_last_session", "dob", "email",
    "email_click_tracking_disabled", "email_open_tracking_disabled", "email_subscribe",
    "external_id", "facebook", "first_name", "gender", "home_city", "image_url", "language",
    "last_name", "marked_email_as_spam_at", "phone", "push_subscribe", "push_tokens",
    "subscription_groups", "time_zone", "twitter", "user_alias",
})

#: The keys that identify the user: never taken from traits.
IDENTIFYING = frozenset({"external_id", "braze_id", "user_alias", "alias_name", "alias_label"})

#: Fields with no documented rule that makes a wrong value right: free text (a cut or
#: changed string is another value), booleans (a string is never guessed as one), a URL.
NO_FIX = frozenset({"first_name", "last_name", "home_city", "image_url",
                    "email_click_tracking_disabled", "email_open_tracking_disabled"})


def cases(field: str) -> dict[str, Path]:
    """The golden cases of one field, by kind."""
    return {kind: path for kind in ("valid", "fixed", "dropped")
            if (path := GOLDEN / f"identify_standard_{field}_{kind}.json").exists()}


def load(path: Path) -> tuple[Any, dict[str, Any], list[str]]:
    """The trait's value, the attributes object expected, and the notice paths."""
    case = json.loads(path.read_text(encoding="utf-8"))
    field = path.stem.removeprefix("identify_standard_").rsplit("_", 1)[0]
    (request,) = case["expect"]["requests"]
    (attributes,) = request["body"]["attributes"]
    return case["event"]["traits"][field], attributes, case["expect"]["notices"]


def test_the_table_holds_every_standard_field() -> None:
    """STANDARD_FIELDS is Braze's list: none missing, none invented."""
    assert set(STANDARD_FIELDS) == BRAZE_FIELDS


def test_identifying_fields_never_come_from_traits() -> None:
    """The identifying keys have no rule and are reserved; every other field has one."""
    assert {f for f, rule in STANDARD_FIELDS.items() if rule is None} == IDENTIFYING
    assert IDENTIFYING <= RESERVED_KEYS
    assert not IDENTIFYING & STANDARD_TRAITS.keys()


def test_every_field_is_a_trait_of_its_own_name() -> None:
    """A trait named like a field (other than the identifying ones) is checked by the
    field's rule, not sent raw as a custom attribute."""
    for field, rule in STANDARD_FIELDS.items():
        if rule is not None:
            assert STANDARD_TRAITS[field] == (field, rule)
    for trait, field in TRAIT_SPELLINGS.items():
        assert STANDARD_TRAITS[trait][0] == field


@pytest.mark.parametrize("field", sorted(BRAZE_FIELDS))
def test_every_field_has_its_golden_cases(field: str) -> None:
    """valid, fixed (where a documented rule fixes anything) and dropped."""
    expected = ({"dropped"} if field in IDENTIFYING
                else {"valid", "dropped"} if field in NO_FIX
                else {"valid", "fixed", "dropped"})
    assert set(cases(field)) == expected


@pytest.mark.parametrize("field", sorted(BRAZE_FIELDS))
def test_the_golden_cases_show_what_they_say(field: str) -> None:
    """valid: sent as given, no notice; fixed: sent changed; dropped: not sent, with a
    notice at the trait's path."""
    for kind, path in cases(field).items():
        value, attributes, notices = load(path)
        if kind == "valid":
            assert attributes[field] == value, path.name
            assert notices == [], path.name
        elif kind == "fixed":
            assert field in attributes, path.name
            assert attributes[field] != value, path.name
        else:
            assert field not in attributes or field == "external_id", path.name
            assert f"$.traits.{field}" in notices, path.name


class TestRules:
    """The rules beyond what the golden cases show."""

    @staticmethod
    def sent(traits_: dict[str, Any], **settings: Any) -> tuple[dict[str, Any], list[str]]:
        t = sb.translate({"type": "identify", "userId": "u1", "traits": traits_},
                         sb.Settings(**settings))
        (request,) = t.requests
        (attributes,) = request.to_json()["attributes"]
        return attributes, [str(n) for n in t.notices]

    def test_null_unsets_every_field(self) -> None:
        """A standard field set to null is sent as null: Braze unsets it."""
        fields = [f for f, rule in STANDARD_FIELDS.items() if rule is not None]
        attributes, notices = self.sent(dict.fromkeys(fields))
        assert attributes == {"external_id": "u1", **dict.fromkeys(fields)}
        assert notices == []

    @pytest.mark.parametrize(("value", "out"), [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T12:00:00.123456+00:00", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01 12:00:00", "2024-05-01T12:00:00.000Z"),
        ("2024-W18-3", "2024-05-01T00:00:00.000Z"),
        ("Wed May 01 12:00:00 +0200 2024", "2024-05-01T10:00:00.000Z"),
    ])
    def test_dates_become_iso_8601_in_utc(self, value: str, out: str) -> None:
        """Any ISO 8601 form, and other full dates, become Braze's form in UTC."""
        attributes, notices = self.sent({"date_of_last_session": value})
        assert (attributes["date_of_last_session"], notices) == (out, [])

    @pytest.mark.parametrize("value", ["May 2024", "12:00", "", 1714564800, True,
                                       "0001-01-01T00:00:00+01:00"])
    def test_what_is_not_a_full_date_is_dropped(self, value: Any) -> None:
        """A date without its day, a time alone, a number, a boolean, a date before the
        year 1 in UTC: dropped with a notice."""
        attributes, notices = self.sent({"date_of_first_session": value})
        assert "date_of_first_session" not in attributes
        assert [n.split(":")[0] for n in notices] == ["$.traits.date_of_first_session"]

    def test_twitter_members_are_checked_one_by_one(self) -> None:
        """Good members are sent; the others are named in the notice."""
        attributes, notices = self.sent({"twitter": {"screen_name": "ada",
                                                     "followers_count": "many",
                                                     "id": True}})
        assert attributes["twitter"] == {"screen_name": "ada"}
        (notice,) = notices
        assert notice.startswith("$.traits.twitter: takes id, screen_name")
        assert "followers_count (expected an integer)" in notice
        assert "id (expected an integer)" in notice

    def test_an_empty_object_is_dropped(self) -> None:
        """An empty object sets nothing Braze documents."""
        attributes, notices = self.sent({"facebook": {}, "twitter": {}})
        assert attributes == {"external_id": "u1"}
        assert len(notices) == 2

    def test_current_location_trait_beats_context_location(self) -> None:
        """A trait is more specific than the device's location, as address.country is."""
        t = sb.translate({"type": "identify", "userId": "u1",
                          "traits": {"current_location": {"latitude": 1, "longitude": 2}},
                          "context": {"location": {"latitude": 3, "longitude": 4}}},
                         sb.Settings())
        (attributes,) = t.requests[0].to_json()["attributes"]
        assert attributes["current_location"] == {"latitude": 1, "longitude": 2}

    def test_segment_spellings_keep_their_rules(self) -> None:
        """avatar is image_url, so it must be an absolute URL too."""
        attributes, notices = self.sent({"avatar": "ada.png"})
        assert attributes == {"external_id": "u1"}
        assert notices == ["$.traits.avatar: not an absolute http(s) URL; dropped "
                           "(rule identify)"]
