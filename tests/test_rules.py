"""One test class per row of ``DEFAULT_RULES``, and one for the table itself.

Matchers are called directly with a :class:`~segment_braze.Scope`; skip reasons are read
for the hint they give (which setting to change); ``explain`` is read for what it shows.
The golden files pin whole outputs; these tests pin the behaviour behind each row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, ClassVar

import attrs
import pytest

import segment_braze as sb

NOW = datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)
T = "2024-05-01T12:00:00Z"
T_OUT = "2024-05-01T12:00:00.000Z"

#: The table as it was when this module was imported, to prove nothing mutates it.
ORIGINAL = tuple(sb.DEFAULT_RULES)
ORIGINAL_REPR = repr(sb.DEFAULT_RULES)


def clock() -> datetime:
    return NOW


def rule(name: str) -> sb.Rule:
    return next(r for r in sb.DEFAULT_RULES if r.name == name)


def scope(event: Any, **settings: Any) -> sb.Scope:
    return sb.Translator(sb.Settings(**settings), clock=clock).scope(event)


def matches(name: str, event: Any, **settings: Any) -> bool:
    """Calls the row's matcher directly."""
    return rule(name).when(event, scope(event, **settings))


def run(event: dict[str, Any], **settings: Any) -> sb.Translation:
    return sb.Translator(sb.Settings(**settings), clock=clock).translate(event)


def bodies(t: sb.Translation) -> list[tuple[str, dict[str, Any]]]:
    return [(r.endpoint, r.to_json()) for r in t]


def rejected(event: dict[str, Any], **settings: Any) -> list[tuple[str, str | None]]:
    with pytest.raises(sb.InvalidEvent) as caught:
        run(event, **settings)
    return [(p.path, p.rule) for p in caught.value.problems]


def notices(t: sb.Translation) -> list[str]:
    return [n.path for n in t.notices]


def explained(event: dict[str, Any], **settings: Any) -> dict[str, str]:
    """explain()'s text, one line per rule, by rule name."""
    text = str(sb.Translator(sb.Settings(**settings), clock=clock).explain(event))
    lines = {}
    for line in text.splitlines():
        found = re.match(r"\s+[✓-]\s+(\w+)\s+(.*)", line)
        if found:
            lines[found.group(1)] = found.group(2)
    return lines


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": T, **fields}


def identify(**traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": "u1", "timestamp": T, "traits": traits}


def attributes_of(t: sb.Translation) -> dict[str, Any]:
    """The single attributes object of a translation."""
    (request,) = [r for r in t if r.endpoint == "/users/track"]
    (obj,) = request.to_json()["attributes"]
    return obj  # type: ignore[no-any-return]


def names(rows: Iterable[sb.Rule]) -> list[str]:
    return [r.name for r in rows]


# -- the table ----------------------------------------------------------------------------


class TestRuleTable:
    """The table's order, names and finals; custom tables; malformed tables."""

    def test_names_in_order(self) -> None:
        """The rows, top to bottom."""
        assert names(sb.DEFAULT_RULES) == [
            "delete", "alias", "audience", "create_alias", "event_filter", "page_filter",
            "anonymous", "identify", "subscription", "group", "context_traits", "ecommerce",
            "ecommerce_order", "purchase", "page", "track"]

    def test_design_rows_keep_their_order(self) -> None:
        """The rows DESIGN lists keep DESIGN's order."""
        order = names(sb.DEFAULT_RULES)
        design = ["delete", "alias", "identify", "group", "purchase", "page", "track"]
        assert [n for n in order if n in design] == design

    def test_filters_come_before_every_emitting_row(self) -> None:
        """Filters and the identity check run before any row that emits Braze objects."""
        order = names(sb.DEFAULT_RULES)
        for gate in ("event_filter", "page_filter", "anonymous"):
            for body in ("identify", "subscription", "group", "context_traits", "ecommerce",
                         "ecommerce_order", "purchase", "page", "track"):
                assert order.index(gate) < order.index(body)

    def test_context_traits_runs_before_the_final_purchase_row(self) -> None:
        """context_traits precedes the final order rows, so orders keep their traits."""
        order = names(sb.DEFAULT_RULES)
        for final in ("ecommerce", "ecommerce_order", "purchase"):
            assert order.index("context_traits") < order.index(final)
            assert rule(final).final

    def test_finals(self) -> None:
        """Exactly the gatekeeping rows and the rows that replace a later one are final."""
        assert [r.name for r in sb.DEFAULT_RULES if r.final] == [
            "delete", "alias", "audience", "create_alias", "event_filter", "page_filter",
            "anonymous", "subscription", "ecommerce", "ecommerce_order", "purchase"]

    def test_rows_print_readably(self) -> None:
        """A row's repr names its matcher and emitter, like the table's source."""
        assert repr(rule("purchase")) == (
            "Rule('purchase', on_purchase(), otherwise(track_to_purchases, track_to_event), "
            "final=True)")
        assert repr(rule("page")) == "Rule('page', on_type('page', 'screen'), page_to_event)"

    def test_rule_types(self) -> None:
        """A row's types come from its matcher; a plain function matches every type."""
        assert rule("page").types == frozenset({"page", "screen"})
        assert rule("purchase").types == frozenset({"track"})
        plain = sb.Rule("any", lambda event, scope: True, lambda event, scope: ())
        assert plain.types == frozenset(
            {"identify", "track", "page", "screen", "group", "alias", "delete"})

    def test_custom_table_without_a_row(self) -> None:
        """A new tuple without the group row leaves group calls unsent, with a reason."""
        rules = tuple(r for r in sb.DEFAULT_RULES if r.name != "group")
        t = sb.Translator(sb.Settings(), rules=rules).translate(
            {"type": "group", "userId": "u1", "groupId": "g"})
        assert t.status == "skipped"
        assert t.skipped == "no rule emitted anything for this event"

    def test_custom_table_with_a_replaced_row(self) -> None:
        """A row replaced in a new tuple emits what the new emitter returns."""
        from segment_braze.braze import Event

        def shout(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
            """Track -> an event named in capitals."""
            assert scope.identifier is not None
            return (Event(identifier=scope.identifier, name=event.event.upper(),
                          time=scope.time()),)

        rules = tuple(attrs.evolve(r, emit=shout) if r.name == "track" else r
                      for r in sb.DEFAULT_RULES)
        t = sb.Translator(sb.Settings(), rules=rules, clock=clock).translate(track())
        assert bodies(t) == [("/users/track", {"events": [
            {"external_id": "u1", "name": "SIGNED UP", "time": T_OUT}]})]

    def test_custom_table_with_an_added_row(self) -> None:
        """A row added in front can skip events before the defaults see them."""
        def is_test_user(event: Any, scope: sb.Scope) -> bool:
            return event.user_id is not None and event.user_id.startswith("test-")

        def skip(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
            return (sb.Skip("test users are not sent"),)

        rules = (sb.Rule("test_users", is_test_user, skip, final=True), *sb.DEFAULT_RULES)
        translator = sb.Translator(sb.Settings(), rules=rules, clock=clock)
        assert translator.translate(track(userId="test-1")).skipped == "test users are not sent"
        assert translator.translate(track()).status == "translated"

    def test_emitter_errors_name_their_rule(self) -> None:
        """An InvalidEvent raised by a custom emitter is tagged with the row's name."""
        from segment_braze.errors import Problem

        def refuse(event: Any, scope: sb.Scope) -> tuple[Any, ...]:
            raise sb.InvalidEvent([Problem("$.event", "not today")])

        rules = (sb.Rule("refuse", sb.on_type("track"), refuse), *sb.DEFAULT_RULES)
        with pytest.raises(sb.InvalidEvent) as caught:
            sb.Translator(sb.Settings(), rules=rules).translate(track())
        assert [(p.path, p.rule) for p in caught.value.problems] == [("$.event", "refuse")]

    @pytest.mark.parametrize(("rules", "says"), [
        (list(sb.DEFAULT_RULES), "tuple"),
        ((*sb.DEFAULT_RULES, "track"), f"rules[{len(sb.DEFAULT_RULES)}]"),
        ((sb.DEFAULT_RULES[0], sb.DEFAULT_RULES[0]), "two rules are named 'delete'"),
        ((sb.Rule("", sb.on_type("track"), lambda e, s: ()),), "no name"),
        ((sb.Rule("x", sb.on_type("track"), "emit"),), "callable"),  # type: ignore[arg-type]
        ((sb.Rule("x", "when", lambda e, s: ()),), "callable"),  # type: ignore[arg-type]
        ((sb.Rule("x", sb.on_type("tarck"), lambda e, s: ()),), "tarck"),
        (None, "tuple"),
    ])
    def test_malformed_tables(self, rules: Any, says: str) -> None:
        """A malformed table is a RuleTableError (a TypeError) that says what is wrong."""
        with pytest.raises(sb.RuleTableError, match=re.escape(says)):
            sb.Translator(sb.Settings(), rules=rules)
        assert issubclass(sb.RuleTableError, TypeError)

    def test_default_rules_are_never_mutated(self) -> None:
        """Custom tables leave DEFAULT_RULES as it was: same frozen rows, same order."""
        rules = (*sb.DEFAULT_RULES[:3], *sb.DEFAULT_RULES[4:])
        list(sb.Translator(sb.Settings(), rules=rules).translate_many([track(), identify()]))
        list(sb.Translator(sb.Settings()).translate_many([track(), identify()]))
        assert isinstance(sb.DEFAULT_RULES, tuple)
        assert len(sb.DEFAULT_RULES) == len(ORIGINAL)
        assert all(a is b for a, b in zip(sb.DEFAULT_RULES, ORIGINAL, strict=True))
        assert repr(sb.DEFAULT_RULES) == ORIGINAL_REPR
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            sb.DEFAULT_RULES[0].final = False  # type: ignore[misc]

    def test_every_row_has_a_test_class(self) -> None:
        """Each row of the table has its own test class in this module."""
        def class_name(name: str) -> str:
            return "Test" + "".join(p.title() for p in name.split("_")) + "Rule"

        missing = [r.name for r in sb.DEFAULT_RULES if class_name(r.name) not in globals()]
        assert missing == []

    def test_every_test_has_a_one_line_docstring(self) -> None:
        """Each test here says in one line what it checks."""
        import ast
        import inspect
        import sys

        tree = ast.parse(inspect.getsource(sys.modules[__name__]))
        bad = [node.name for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
               and "\n" in (ast.get_docstring(node) or "\n")]
        assert bad == []

    def test_translator_wants_settings(self) -> None:
        """A Translator is built from a Settings object, not a dict."""
        with pytest.raises(TypeError, match="Settings"):
            sb.Translator({"trackAllPages": True})  # type: ignore[arg-type]


# -- one class per row --------------------------------------------------------------------


class TestDeleteRule:
    """``delete``: a Segment deletion becomes ``/users/delete`` by external id."""

    def test_matcher(self) -> None:
        """The matcher accepts deletions only."""
        assert matches("delete", sb.Delete(user_id="u1"))
        assert not matches("delete", sb.Track(event="x", user_id="u1"))
        assert rule("delete").types == frozenset({"delete"})

    def test_emits_users_delete(self) -> None:
        """A deletion becomes ``{external_ids: [userId]}``; a number id becomes a string."""
        t = run({"type": "delete", "userId": 5678, "messageId": "delete-1"})
        assert bodies(t) == [("/users/delete", {"external_ids": ["5678"]})]
        assert t.requests[0].origin_of("external_ids", 0) == "delete-1"

    def test_tolerates_segment_deletion_payloads(self) -> None:
        """Deletion payloads carry ``[]`` contexts and non-ISO timestamps; both are fine."""
        t = run({"type": "delete", "userId": "u1", "context": [], "integrations": [],
                 "originalTimestamp": "2020-05-09 23:54:49.209808489 +0000 UTC m=+70366.2",
                 "projectId": "p"})
        assert bodies(t) == [("/users/delete", {"external_ids": ["u1"]})]

    @pytest.mark.parametrize("user_id", [None, "", "   "])
    def test_needs_a_user_id(self, user_id: Any) -> None:
        """Without a userId the deletion is rejected at ``$.userId``."""
        event = {"type": "delete", "userId": user_id, "anonymousId": "a1"}
        assert rejected(event) == [("$.userId", "delete")]

    def test_ends_the_table(self) -> None:
        """explain shows the delete row matched and every other row as not for delete."""
        lines = explained({"type": "delete", "userId": "u1"})
        assert lines["delete"].startswith("matched, emitted 1")
        assert all(text == "not for delete" for n, text in lines.items() if n != "delete")


class TestAliasRule:
    """``alias``: previousId -> userId, as an alias merge, a user merge or a skip."""

    EVENT: ClassVar[dict[str, Any]] = {"type": "alias", "previousId": "anon-7",
                                       "userId": "u1"}

    def test_matcher(self) -> None:
        """The matcher accepts alias calls only."""
        assert matches("alias", sb.Alias(previous_id="a", user_id="u1"))
        assert not matches("alias", sb.Identify(user_id="u1"))

    def test_alias_mode_identifies_the_previous_alias(self) -> None:
        """With anonymous_users='alias', previousId's alias profile merges into userId."""
        t = run(self.EVENT, anonymous_users="alias", alias_label="anon")
        assert bodies(t) == [("/users/identify", {
            "aliases_to_identify": [{"external_id": "u1", "user_alias": {
                "alias_name": "anon-7", "alias_label": "anon"}}],
            "merge_behavior": "merge"})]

    def test_merge_on_alias_merges_known_users(self) -> None:
        """With merge_on_alias (and no alias mode), two known users are merged."""
        t = run(self.EVENT, merge_on_alias=True)
        assert bodies(t) == [("/users/merge", {"merge_updates": [{
            "identifier_to_merge": {"external_id": "anon-7"},
            "identifier_to_keep": {"external_id": "u1"}}]})]

    def test_alias_mode_wins_over_merge(self) -> None:
        """Alias mode takes precedence: the non-destructive identify is used."""
        t = run(self.EVENT, anonymous_users="alias", merge_on_alias=True)
        assert [r.endpoint for r in t] == ["/users/identify"]

    def test_skip_reason_names_both_settings(self) -> None:
        """Without either setting the call is skipped, saying which settings send it."""
        t = run(self.EVENT)
        assert t.skipped is not None
        assert "anonymous_users='alias'" in t.skipped
        assert "merge_on_alias=True" in t.skipped

    def test_same_user_is_skipped(self) -> None:
        """previousId equal to userId is nothing to merge."""
        t = run({**self.EVENT, "previousId": "u1"}, merge_on_alias=True)
        assert t.skipped is not None
        assert "same" in t.skipped

    @pytest.mark.parametrize(("event", "path"), [
        ({"type": "alias", "previousId": "a"}, "$.userId"),
        ({"type": "alias", "previousId": "a", "userId": " "}, "$.userId"),
        ({"type": "alias", "previousId": " ", "userId": "u1"}, "$.previousId"),
    ])
    def test_needs_both_ids(self, event: dict[str, Any], path: str) -> None:
        """A missing or blank id rejects the call at its path."""
        assert rejected(event, merge_on_alias=True) == [(path, "alias")]

    def test_missing_previous_id_is_a_parse_error(self) -> None:
        """previousId is required by the model itself."""
        with pytest.raises(sb.InvalidEvent) as caught:
            run({"type": "alias", "userId": "u1"})
        assert [p.path for p in caught.value.problems] == ["$.previousId"]


class TestAudienceRule:
    """``audience``: with cohort settings, Engage audience changes become cohort changes
    (golden cases: ``tests/golden_cohorts``)."""

    SECRETS: ClassVar[dict[str, str]] = {"cohort_client_secret": "c",
                                         "cohort_partner_api_key": "p"}
    PERSONAS: ClassVar[dict[str, Any]] = {"personas": {"computation_id": "aud_1",
                                                       "computation_key": "vip"}}

    def test_matcher(self) -> None:
        """Audience tracks with personas and boolean audience traits, with cohorts on."""
        entered = sb.Track(event="Audience Entered", user_id="u1",
                           context=sb.Context(personas=self.PERSONAS["personas"]))
        member = sb.Identify(user_id="u1", traits={"vip": False},
                             context=sb.Context(personas=self.PERSONAS["personas"]))
        assert matches("audience", entered, **self.SECRETS)
        assert matches("audience", member, **self.SECRETS)
        assert not matches("audience", entered)
        assert not matches("audience", sb.Track(event="Audience Entered", user_id="u1"),
                           **self.SECRETS)
        assert not matches("audience", sb.Identify(user_id="u1", traits={"vip": "yes"},
                                                   context=member.context), **self.SECRETS)
        assert rule("audience").types == frozenset({"identify", "track"})

    def test_emits_cohort_name_and_change(self) -> None:
        """Audience Exited: the cohort's name, then the user removed."""
        t = run(track(event="Audience Exited", context=self.PERSONAS), **self.SECRETS)
        assert bodies(t) == [
            ("/partners/segment/cohorts", {"cohort_id": "aud_1", "name": "vip",
                                           "created_at": T_OUT}),
            ("/partners/segment/cohorts/users", {"cohort_id": "aud_1", "cohort_changes": [
                {"user_ids": ["u1"], "aliases": [], "device_ids": [], "should_remove": True}]})]

    def test_rejects_an_audience_without_its_id(self) -> None:
        """A missing computation_id is rejected at its path, by this row."""
        event = track(event="Audience Entered", context={"personas": {"computation_key": "v"}})
        assert rejected(event, **self.SECRETS) == [("$.context.personas.computation_id",
                                                    "audience")]

    def test_ends_the_table(self) -> None:
        """The track row never sees an audience event when cohorts are on."""
        lines = explained(track(event="Audience Entered", context=self.PERSONAS),
                          **self.SECRETS)
        assert lines["audience"].startswith("matched, emitted 2")
        assert lines["track"].startswith("not reached")


class TestCreateAliasRule:
    """``create_alias``: a ``Create Alias`` track becomes ``/users/alias/new``."""

    ALIAS: ClassVar[dict[str, Any]] = {"alias_name": "ada@example.com", "alias_label": "email"}

    def test_matcher(self) -> None:
        """The matcher needs the setting and the exact name Segment's destination uses."""
        event = sb.Track(event="Create Alias", user_id="u1", properties=self.ALIAS)
        assert not matches("create_alias", event)
        assert matches("create_alias", event, create_alias=True)
        assert not matches("create_alias", sb.Track(event="create alias", user_id="u1"),
                           create_alias=True)

    def test_off_by_default_it_is_a_custom_event(self) -> None:
        """Without the setting the event stays what it always was: a custom event."""
        t = run(track(event="Create Alias", properties=self.ALIAS))
        assert [endpoint for endpoint, _ in bodies(t)] == ["/users/track"]

    def test_adds_the_alias_to_the_known_user(self) -> None:
        """With a userId the alias is added to that user."""
        t = run(track(event="Create Alias", properties={**self.ALIAS, "extra": 1}),
                create_alias=True)
        assert bodies(t) == [("/users/alias/new", {"user_aliases": [
            {"alias_name": "ada@example.com", "alias_label": "email", "external_id": "u1"}]})]

    def test_without_a_user_id_creates_an_alias_only_profile(self) -> None:
        """Without one (no Braze identifier needed), Braze makes an alias-only profile."""
        t = run({"type": "track", "anonymousId": "a1", "event": "Create Alias",
                 "properties": self.ALIAS, "timestamp": T}, create_alias=True)
        assert bodies(t) == [("/users/alias/new", {"user_aliases": [
            {"alias_name": "ada@example.com", "alias_label": "email"}]})]

    def test_runs_before_the_event_filters(self) -> None:
        """The allow and block lists govern custom events, which this is not."""
        t = run(track(event="Create Alias", properties=self.ALIAS), create_alias=True,
                event_blocklist=["Create Alias"])
        assert t.status == "translated"

    @pytest.mark.parametrize("properties", [{}, {"alias_name": "a"}, {"alias_label": " "},
                                            {"alias_name": 7, "alias_label": "l"}])
    def test_both_properties_are_required(self, properties: dict[str, Any]) -> None:
        """A missing or blank alias_name or alias_label rejects the event, by path."""
        paths = [path for path, _ in rejected(track(event="Create Alias",
                                                    properties=properties),
                                              create_alias=True)]
        assert paths == [f"$.properties.{key}" for key in ("alias_name", "alias_label")
                         if type(properties.get(key)) is not str
                         or not properties[key].strip()]


class TestEventFilterRule:
    """``event_filter``: allow and block lists skip events by their custom event name."""

    def test_matcher(self) -> None:
        """The matcher accepts events the lists leave out, and nothing without lists."""
        event = sb.Track(event="Signed Up", user_id="u1")
        assert not matches("event_filter", event)
        assert matches("event_filter", event, event_allowlist=["Logged In"])
        assert not matches("event_filter", event, event_allowlist=["Signed Up"])
        assert matches("event_filter", event, event_blocklist=["Signed Up"])
        assert not matches("event_filter", event, event_blocklist=["signed up"])
        assert rule("event_filter").types == frozenset({"track", "page", "screen"})

    def test_allowlist_reason(self) -> None:
        """The skip reason names the event and the allowlist."""
        t = run(track(), event_allowlist=["Logged In"])
        assert t.skipped == "event 'Signed Up' is not in event_allowlist"

    def test_blocklist_reason(self) -> None:
        """The skip reason names the event and the blocklist."""
        t = run(track(), event_blocklist=["Signed Up"])
        assert t.skipped == "event 'Signed Up' is in event_blocklist"

    def test_pages_are_filtered_by_their_event_name(self) -> None:
        """Page calls are filtered under the name their custom event gets."""
        page = {"type": "page", "userId": "u1", "name": "Home", "timestamp": T}
        assert run(page, track_all_pages=True, event_blocklist=["Viewed Home Page"]).skipped
        assert run(page, track_all_pages=True, event_allowlist=["Viewed Home Page"]).requests

    def test_orders_are_filtered_too(self) -> None:
        """A purchase event left out by the allowlist is skipped, not logged."""
        order = track(event="Order Completed", properties={"revenue": 5})
        assert run(order, event_allowlist=["Signed Up"]).status == "skipped"

    def test_filters_before_identity(self) -> None:
        """An anonymous event in the blocklist is skipped for the list, not for identity."""
        t = run(track(userId=None, anonymousId="a1"), event_blocklist=["Signed Up"])
        assert t.skipped == "event 'Signed Up' is in event_blocklist"

    def test_identify_is_never_filtered(self) -> None:
        """The lists concern custom events: identify calls pass."""
        assert run(identify(plan="pro"), event_allowlist=["Other"]).status == "translated"


class TestPageFilterRule:
    """``page_filter``: the page settings decide which page and screen calls are sent."""

    @staticmethod
    def page(name: str | None = "Home", kind: str = "page") -> dict[str, Any]:
        return {"type": kind, "userId": "u1", "name": name, "timestamp": T}

    def test_matcher(self) -> None:
        """The matcher accepts page calls the settings leave out."""
        named, unnamed = sb.Page(name="Home", user_id="u1"), sb.Page(user_id="u1")
        assert matches("page_filter", named)
        assert not matches("page_filter", named, track_all_pages=True)
        assert not matches("page_filter", named, track_named_pages=True)
        assert matches("page_filter", unnamed, track_named_pages=True)
        assert matches("page_filter", unnamed, track_named_pages=True, track_all_pages=True)
        assert not matches("page_filter", unnamed, track_all_pages=True)

    def test_reason_when_both_are_off(self) -> None:
        """The reason says how to send them: track_all_pages or track_named_pages."""
        t = run(self.page())
        assert t.skipped is not None
        assert "track_all_pages=True" in t.skipped
        assert "track_named_pages=True" in t.skipped

    def test_reason_for_unnamed_pages(self) -> None:
        """With track_named_pages, unnamed pages are skipped saying why."""
        t = run(self.page(None), track_named_pages=True)
        assert t.skipped is not None
        assert "unnamed" in t.skipped
        assert "track_named_pages" in t.skipped

    def test_both_on_skips_unnamed(self) -> None:
        """With both settings on, unnamed pages are skipped (the named check wins)."""
        assert run(self.page("  "), track_named_pages=True, track_all_pages=True).skipped

    def test_screens_say_screen(self) -> None:
        """Screen calls are filtered the same way, and the reason says screen."""
        t = run(self.page(kind="screen"))
        assert t.skipped is not None
        assert t.skipped.startswith("screen calls")

    def test_explain_shows_the_rest_not_reached(self) -> None:
        """explain shows the filter matched and later page rows not reached."""
        lines = explained(self.page())
        assert lines["page_filter"].startswith("matched, emitted 1")
        assert lines["page"] == "not reached: an earlier rule ended the table"
        assert lines["track"] == "not for page"


class TestAnonymousRule:
    """``anonymous``: events whose user has no Braze identifier are skipped, with a hint."""

    def test_matcher(self) -> None:
        """The matcher accepts events without an identifier under the settings."""
        anonymous = sb.Track(event="x", anonymous_id="a1")
        assert matches("anonymous", anonymous)
        assert not matches("anonymous", anonymous, anonymous_users="alias")
        assert not matches("anonymous", sb.Track(event="x", user_id="u1"))
        assert "delete" not in rule("anonymous").types
        assert "alias" not in rule("anonymous").types

    def test_reason_names_the_settings(self) -> None:
        """The reason says which settings would identify the user."""
        t = run(track(userId=None, anonymousId="a1"))
        assert t.skipped is not None
        assert t.skipped.startswith("no Braze identifier")
        assert "anonymous_users='alias'" in t.skipped
        assert "email_identifier=True" in t.skipped

    def test_reason_in_alias_mode_without_anonymous_id(self) -> None:
        """In alias mode, the reason says the anonymousId is missing too."""
        t = run(track(userId=None), anonymous_users="alias", email_identifier=True)
        assert t.skipped is not None
        assert "no anonymousId" in t.skipped
        assert "no valid email" in t.skipped

    @pytest.mark.parametrize(("event", "expected"), [
        (track(userId=42), {"external_id": "42"}),
        (track(userId="  ", integrations={"Braze": {"braze_id": "bz-1"}}),
         {"braze_id": "bz-1"}),
        (track(userId=None, context={"integrations": {"Braze": {"braze_id": "bz-2"}}}),
         {"braze_id": "bz-2"}),
        (track(userId=None, anonymousId="a1"),
         {"user_alias": {"alias_name": "a1", "alias_label": "anon"}}),
        (track(userId=None, context={"traits": {"email": " ada@example.com "}}),
         {"email": "ada@example.com"}),
        (track(userId="u1", anonymousId="a1", integrations={"Braze": {"braze_id": "b"}}),
         {"external_id": "u1"}),
        (track(userId=None, anonymousId="a1", integrations={"Braze": {"braze_id": "b"}}),
         {"braze_id": "b"}),
    ])
    def test_identity_order(self, event: dict[str, Any], expected: dict[str, Any]) -> None:
        """userId, then braze_id, then the anonymous alias, then the email."""
        t = run(event, anonymous_users="alias", alias_label="anon", email_identifier=True)
        sent = t.requests[-1].to_json()["events"][0]
        assert {k: sent[k] for k in expected} == expected
        others = {"external_id", "braze_id", "user_alias", "email"} - set(expected)
        assert not others & sent.keys()

    def test_invalid_email_is_no_identifier(self) -> None:
        """An email that does not look like one identifies nobody."""
        t = run(track(userId=None, context={"traits": {"email": "nobody"}}),
                email_identifier=True)
        assert t.status == "skipped"

    def test_alias_user_profile_is_created_first(self) -> None:
        """An alias user's event is preceded by an attributes object creating the profile."""
        t = run(track(userId=None, anonymousId="a1"), anonymous_users="alias")
        alias = {"alias_name": "a1", "alias_label": "segment_anonymous_id"}
        assert bodies(t) == [("/users/track", {
            "attributes": [{"user_alias": alias, "_update_existing_only": False}],
            "events": [{"user_alias": alias, "name": "Signed Up", "time": T_OUT}]})]


class TestIdentifyRule:
    """``identify``: traits become one attributes object (and, in alias mode, a merge)."""

    def test_matcher(self) -> None:
        """The matcher accepts identify calls only."""
        assert matches("identify", sb.Identify(user_id="u1"))
        assert not matches("identify", sb.Group(group_id="g", user_id="u1"))

    def test_reserved_traits_become_standard_attributes(self) -> None:
        """Reserved traits map to standard attributes and are not repeated as custom."""
        t = run(identify(firstName="Ada", last_name="Lovelace", email=" ada@example.com ",
                         phone="+1 (415) 555-2671", birthday="1990-05-10T23:30:00-05:00",
                         avatar="https://img/ada.png", language="en-US",
                         timezone="Europe/London", email_subscribe="Opted_In",
                         address={"city": "London", "country": "gb", "street": "1 St"},
                         plan="pro"))
        assert attributes_of(t) == {
            "external_id": "u1", "first_name": "Ada", "last_name": "Lovelace",
            "email": "ada@example.com", "phone": "+14155552671", "dob": "1990-05-11",
            "image_url": "https://img/ada.png", "language": "en", "time_zone": "Europe/London",
            "email_subscribe": "opted_in", "home_city": "London", "country": "GB",
            "plan": "pro"}

    @pytest.mark.parametrize(("word", "value"), [
        ("m", "M"), ("male", "M"), ("man", "M"), ("MALE", "M"),
        ("f", "F"), ("female", "F"), ("woman", "F"), ("w", "F"), ("Female", "F"),
        ("o", "O"), ("other", "O"), ("non-binary", "O"), ("nonbinary", "O"),
        ("n", "N"), ("not applicable", "N"), ("na", "N"),
        ("p", "P"), ("prefer not to say", "P"), ("Prefer Not To Say", "P"),
        ("u", None), ("unknown", None),
    ])
    def test_gender_table(self, word: str, value: str | None) -> None:
        """Gender words map case-insensitively to M, F, O, N, P or null."""
        assert attributes_of(run(identify(gender=word)))["gender"] == value

    @pytest.mark.parametrize("word", ["robot", "", "mal", "x", 1, True])
    def test_unknown_gender_is_dropped_with_a_notice(self, word: Any) -> None:
        """Any other gender is not sent, and a notice names ``$.traits.gender``."""
        t = run(identify(gender=word))
        assert "gender" not in attributes_of(t)
        assert notices(t) == ["$.traits.gender"]

    def test_name_is_split_when_no_first_or_last_name(self) -> None:
        """``name`` fills first and last name at the first space and stays custom."""
        assert attributes_of(run(identify(name="Ada King Lovelace"))) == {
            "external_id": "u1", "first_name": "Ada", "last_name": "King Lovelace",
            "name": "Ada King Lovelace"}
        assert attributes_of(run(identify(name="Ada Lovelace", firstName="Augusta"))) == {
            "external_id": "u1", "first_name": "Augusta", "name": "Ada Lovelace"}

    def test_null_unsets_and_absent_is_not_sent(self) -> None:
        """A null trait is sent as null (unset); an absent one is not sent."""
        assert attributes_of(run(identify(firstName=None, plan=None))) == {
            "external_id": "u1", "first_name": None, "plan": None}

    def test_identity_traits_are_not_attributes(self) -> None:
        """id, userId and anonymousId traits are identity, not attributes."""
        assert attributes_of(run(identify(id="u1", userId="u1", anonymousId="a"))) == {
            "external_id": "u1"}

    def test_identifier_keys_cannot_be_hijacked(self) -> None:
        """A trait named like an identifier key is dropped with a notice."""
        t = run(identify(external_id="someone-else", braze_id="b"))
        assert attributes_of(t) == {"external_id": "u1"}
        assert notices(t) == ["$.traits.external_id", "$.traits.braze_id"]

    @pytest.mark.parametrize(("traits", "path"), [
        ({"$plan": "x"}, "$.traits['$plan']"),
        ({"": "x"}, "$.traits['']"),
        ({"bio": "b" * 256}, "$.traits.bio"),
        ({"tags": list(range(501))}, "$.traits.tags"),
        ({"prefs": {"a.b": 1}}, "$.traits.prefs['a.b']"),
        ({"email": "nobody"}, "$.traits.email"),
        ({"timezone": "Mars/Olympus"}, "$.traits.timezone"),
        ({"language": "klingon"}, "$.traits.language"),
        ({"birthday": "someday"}, "$.traits.birthday"),
        ({"score": float("nan")}, "$.traits.score"),
    ])
    def test_unsendable_traits_are_dropped_with_a_notice(self, traits: dict[str, Any],
                                                         path: str) -> None:
        """A trait Braze cannot take is dropped, with a notice at its wire path."""
        t = run({"type": "identify", "userId": "u1", "timestamp": T, "traits": traits})
        assert attributes_of(t) == {"external_id": "u1"}
        assert notices(t) == [path]

    def test_current_location_from_context(self) -> None:
        """context.location's latitude and longitude become current_location."""
        event = {**identify(), "context": {"location": {"latitude": 48.85, "longitude": 2.35,
                                                         "country": "fr"}}}
        assert attributes_of(run(event)) == {
            "external_id": "u1", "country": "FR",
            "current_location": {"latitude": 48.85, "longitude": 2.35}}

    def test_update_operations_pass_through(self) -> None:
        """Braze's update operations are sent as such; $update asks for _merge_objects."""
        t = run(identify(visits={"inc": 2}, pets={"add": ["cat"]}, orders={"$update": [
            {"$identifier_key": "id", "$identifier_value": 1, "$new_object": {"n": 2}}]}))
        (request,) = t.requests
        assert request.to_json()["attributes"] == [
            {"external_id": "u1", "visits": {"inc": 2}, "pets": {"add": ["cat"]}},
            {"external_id": "u1", "_merge_objects": True, "orders": {"$update": [
                {"$identifier_key": "id", "$identifier_value": 1, "$new_object": {"n": 2}}]}}]

    def test_alias_mode_merges_the_anonymous_profile_first(self) -> None:
        """In alias mode, /users/identify comes before the attributes request."""
        t = run({**identify(plan="pro"), "anonymousId": "a1"}, anonymous_users="alias")
        assert bodies(t) == [
            ("/users/identify", {"aliases_to_identify": [{"external_id": "u1", "user_alias": {
                "alias_name": "a1", "alias_label": "segment_anonymous_id"}}],
                "merge_behavior": "merge"}),
            ("/users/track", {"attributes": [{"external_id": "u1", "plan": "pro"}]})]

    def test_alias_user_attributes_create_the_profile(self) -> None:
        """An anonymous identify in alias mode sends _update_existing_only: false."""
        t = run({"type": "identify", "anonymousId": "a1", "traits": {"plan": "pro"}},
                anonymous_users="alias")
        assert attributes_of(t) == {
            "user_alias": {"alias_name": "a1", "alias_label": "segment_anonymous_id"},
            "_update_existing_only": False, "plan": "pro"}

    def test_explain_lists_notices_under_the_row(self) -> None:
        """explain shows the identify row matched, with its notice."""
        text = str(sb.explain(identify(gender="robot"), sb.Settings()))
        assert "✓  identify" in text
        assert "! $.traits.gender" in text


class TestSubscriptionRule:
    """``subscription``: a group call's subscription state sets the subscription group."""

    def group(self, **traits: Any) -> dict[str, Any]:
        return {"type": "group", "userId": "u1", "groupId": "sg-1", "traits": traits,
                "timestamp": T}

    def test_matcher(self) -> None:
        """The matcher needs the setting and a subscription state trait, either spelling."""
        for key in ("subscription_state", "subscriptionState"):
            event = sb.Group(group_id="g", user_id="u1", traits={key: "subscribed"})
            assert not matches("subscription", event)
            assert matches("subscription", event, group_subscription_groups=True)
        assert not matches("subscription", sb.Group(group_id="g", user_id="u1"),
                           group_subscription_groups=True)

    @pytest.mark.parametrize(("given", "state"), [("subscribed", "subscribed"),
                                                  (" Unsubscribed ", "unsubscribed")])
    def test_sets_the_group_state_by_external_id(self, given: str, state: str) -> None:
        """The state (any case) goes to /v2/subscription/status/set, not to an attribute."""
        t = run(self.group(subscriptionState=given), group_subscription_groups=True)
        assert bodies(t) == [("/v2/subscription/status/set", {"subscription_groups": [
            {"subscription_group_id": "sg-1", "subscription_state": state,
             "external_ids": ["u1"]}]})]

    def test_by_email_for_a_user_identified_by_email(self) -> None:
        """A user identified by email is named by that email."""
        t = run({**self.group(subscription_state="unsubscribed"), "userId": None,
                 "context": {"traits": {"email": "ada@example.com"}}},
                group_subscription_groups=True, email_identifier=True)
        assert bodies(t)[0][1]["subscription_groups"][0]["emails"] == ["ada@example.com"]

    def test_other_states_keep_the_group_attribute(self) -> None:
        """A state Braze does not know is noticed; the membership attribute is sent."""
        t = run(self.group(subscription_state="pending"), group_subscription_groups=True)
        assert attributes_of(t) == {"external_id": "u1", "ab_segment_group_sg-1": True}
        assert notices(t) == ["$.traits.subscription_state"]

    def test_a_user_the_endpoint_cannot_name_keeps_the_group_attribute(self) -> None:
        """The endpoint takes external ids and emails, not braze_ids or aliases."""
        t = run({**self.group(subscription_state="subscribed"), "userId": None,
                 "integrations": {"Braze": {"braze_id": "b1"}}},
                group_subscription_groups=True)
        assert attributes_of(t) == {"braze_id": "b1", "ab_segment_group_sg-1": True}
        assert notices(t) == ["$.traits.subscription_state"]

    def test_blank_group_id_is_rejected(self) -> None:
        """The group id names the subscription group: a blank one rejects the event."""
        assert rejected({**self.group(subscription_state="subscribed"), "groupId": " "},
                        group_subscription_groups=True) == [("$.groupId", "subscription")]


class TestGroupRule:
    """``group``: membership becomes ``ab_segment_group_<groupId>: true``."""

    def test_matcher(self) -> None:
        """The matcher accepts group calls only."""
        assert matches("group", sb.Group(group_id="g", user_id="u1"))
        assert not matches("group", sb.Identify(user_id="u1"))

    def test_emits_the_membership_attribute_only(self) -> None:
        """The group's traits describe the account and are not sent."""
        t = run({"type": "group", "userId": "u1", "groupId": 42,
                 "traits": {"name": "Acme", "plan": "gold"}})
        assert attributes_of(t) == {"external_id": "u1", "ab_segment_group_42": True}

    @pytest.mark.parametrize("group_id", ["", "   ", "g" * 240])
    def test_bad_group_id(self, group_id: str) -> None:
        """A blank group id, or one too long for an attribute name, is rejected."""
        assert rejected({"type": "group", "userId": "u1", "groupId": group_id}) == [
            ("$.groupId", "group")]

    def test_missing_group_id(self) -> None:
        """groupId is required."""
        with pytest.raises(sb.InvalidEvent) as caught:
            run({"type": "group", "userId": "u1"})
        assert [p.path for p in caught.value.problems] == ["$.groupId"]

    def test_anonymous_member_is_skipped(self) -> None:
        """Without an identifier the membership is skipped like any event."""
        assert run({"type": "group", "anonymousId": "a", "groupId": "g"}).status == "skipped"


class TestContextTraitsRule:
    """``context_traits``: context.traits on track, page and screen become attributes."""

    def test_matcher(self) -> None:
        """The matcher needs the setting on and non-empty context.traits."""
        with_traits = sb.Track(event="x", user_id="u1",
                               context=sb.Context(traits={"plan": "pro"}))
        assert not matches("context_traits", with_traits)
        assert matches("context_traits", with_traits, context_traits=True)
        empty = sb.Track(event="x", user_id="u1", context=sb.Context(traits={}))
        assert not matches("context_traits", empty, context_traits=True)
        assert not matches("context_traits", sb.Track(event="x", user_id="u1"),
                           context_traits=True)
        assert rule("context_traits").types == frozenset({"track", "page", "screen"})

    def test_attributes_in_the_same_request(self) -> None:
        """The attributes ride in the event's request, under trait rules."""
        t = run(track(context={"traits": {"plan": "pro", "gender": "female"}}),
                context_traits=True)
        assert bodies(t) == [("/users/track", {
            "attributes": [{"external_id": "u1", "plan": "pro", "gender": "F"}],
            "events": [{"external_id": "u1", "name": "Signed Up", "time": T_OUT}]})]

    def test_notices_use_the_context_path(self) -> None:
        """A dropped context trait is reported at ``$.context.traits.…``."""
        t = run(track(context={"traits": {"gender": "robot"}}), context_traits=True)
        assert notices(t) == ["$.context.traits.gender"]

    def test_orders_keep_their_context_traits(self) -> None:
        """A purchase event also sends its context traits."""
        order = track(event="Order Completed", properties={"revenue": 5},
                      context={"traits": {"plan": "pro"}})
        body = run(order, context_traits=True).requests[0].to_json()
        assert body["attributes"] == [{"external_id": "u1", "plan": "pro"}]
        assert len(body["purchases"]) == 1

    def test_alias_user_gets_one_profile_object(self) -> None:
        """For an alias user, the context-traits object also creates the profile."""
        t = run(track(userId=None, anonymousId="a1", context={"traits": {"plan": "pro"}}),
                context_traits=True, anonymous_users="alias")
        attributes = t.requests[0].to_json()["attributes"]
        assert attributes == [{"user_alias": {"alias_name": "a1",
                                              "alias_label": "segment_anonymous_id"},
                               "_update_existing_only": False, "plan": "pro"}]

    def test_not_for_identify(self) -> None:
        """Identify calls use their own traits; explain says the row is not for them."""
        lines = explained({**identify(), "context": {"traits": {"a": 1}}}, context_traits=True)
        assert lines["context_traits"] == "not for identify"


class TestEcommerceRule:
    """``ecommerce``: ecommerce tracks become Braze's recommended ecommerce events."""

    VIEWED: ClassVar[dict[str, Any]] = {
        "product_id": "p1", "sku": "S-1", "name": "Shirt", "variant": "red", "price": "19.5",
        "currency": "eur", "url": "https://shop/p1", "image_url": "https://shop/p1.png",
        "category": "tops", "value": 19.5}

    @pytest.mark.parametrize("name", ["Product Viewed", "product_viewed", "Viewed Product",
                                      "Product Added", "Product Removed", "Checkout Started",
                                      "Order Refunded", "ORDER CANCELLED"])
    def test_matcher(self, name: str) -> None:
        """The matcher needs the setting and a name of the table, compared loosely."""
        event = sb.Track(event=name, user_id="u1")
        assert not matches("ecommerce", event)
        assert matches("ecommerce", event, ecommerce_events=True)

    def test_matcher_leaves_orders_to_the_order_row(self) -> None:
        """What the purchase row would take is the ecommerce_order row's."""
        order = sb.Track(event="Order Completed", user_id="u1")
        assert not matches("ecommerce", order, ecommerce_events=True)
        viewed = sb.Track(event="Product Viewed", user_id="u1", properties={"revenue": 1})
        assert not matches("ecommerce", viewed, ecommerce_events=True,
                           log_purchase_when_revenue_present=True)

    def test_product_viewed(self) -> None:
        """The product's fields at the event's level; the rest in metadata."""
        t = run(track(event="Product Viewed", properties=self.VIEWED), ecommerce_events=True)
        ((_, body),) = bodies(t)
        assert body["events"][0]["name"] == "ecommerce.product_viewed"
        assert body["events"][0]["properties"] == {
            "product_id": "p1", "product_name": "Shirt", "variant_id": "red",
            "image_url": "https://shop/p1.png", "product_url": "https://shop/p1",
            "price": 19.5, "currency": "EUR", "source": "web",
            "metadata": {"sku": "S-1", "category": "tops", "value": 19.5}}

    @pytest.mark.parametrize(("name", "action"), [("Product Added", "add"),
                                                  ("Product Removed", "remove")])
    def test_cart_updated_wraps_the_events_product(self, name: str, action: str) -> None:
        """A cart change without products describes one product: the event's own."""
        t = run(track(event=name, properties={"cart_id": "c1", "product_id": "p1",
                                              "name": "Shirt", "price": 5, "brand": "B"}),
                ecommerce_events=True)
        event = bodies(t)[0][1]["events"][0]
        assert event["name"] == "ecommerce.cart_updated"
        assert event["properties"] == {
            "cart_id": "c1", "action": action, "currency": "USD",
            "products": [{"product_id": "p1", "product_name": "Shirt", "variant_id": "p1",
                          "quantity": 1, "price": 5}],
            "source": "web", "metadata": {"brand": "B"}}

    def test_source_from_the_device(self) -> None:
        """Without properties.source, an iOS or Android device names the source."""
        t = run({**track(event="Product Viewed", properties=self.VIEWED),
                 "context": {"device": {"type": "iOS", "id": "d1"}}}, ecommerce_events=True)
        assert bodies(t)[0][1]["events"][0]["properties"]["source"] == "ios"

    @pytest.mark.parametrize("device", ["iPhone", 3, {"type": 7}, {"type": "web"}])
    def test_a_device_that_names_no_source_is_ignored(self, device: Any) -> None:
        """A context.device that is no object, or names no mobile type, rejects nothing."""
        t = run({**track(event="Product Viewed", properties=self.VIEWED),
                 "context": {"device": device}}, ecommerce_events=True)
        assert bodies(t)[0][1]["events"][0]["properties"]["source"] == "web"

    def test_an_event_that_cannot_meet_the_schema_stays_a_custom_event(self) -> None:
        """A missing required field is noticed, and the event is sent as before."""
        t = run(track(event="Order Cancelled", properties={"order_id": "o1", "total": 3}),
                ecommerce_events=True)
        event = bodies(t)[0][1]["events"][0]
        assert event["name"] == "Order Cancelled"
        assert notices(t) == ["$.properties.cancel_reason", "$.properties.products"]

    def test_a_fallen_back_event_gives_its_value_notices_once(self) -> None:
        """The notices of what the event is sent as instead are not doubled."""
        t = run(track(event="Order Cancelled", properties={
            "order_id": "o1", "total": 3, "tax": "included", "note": "x" * 300}),
                ecommerce_events=True)
        assert notices(t) == ["$.properties.cancel_reason", "$.properties.products",
                              "$.properties.note"]

    def test_explain_shows_the_fallback(self) -> None:
        """explain() shows both parts of the row."""
        lines = explained(track(event="Checkout Started"), ecommerce_events=True)
        assert lines["ecommerce"] == "matched, emitted 1"


class TestEcommerceOrderRule:
    """``ecommerce_order``: an order becomes ecommerce.order_placed instead of purchases."""

    ORDER: ClassVar[dict[str, Any]] = {
        "order_id": "o1", "total": 27.5, "revenue": 22.5, "currency": "USD",
        "products": [{"product_id": "p1", "name": "Shirt", "price": 19, "quantity": 1},
                     {"product_id": "p2", "name": "Hat", "price": 3, "quantity": 2,
                      "color": "red"}]}

    def test_matcher(self) -> None:
        """The matcher takes the ecommerce events the purchase row would take."""
        order = sb.Track(event="Order Completed", user_id="u1")
        assert not matches("ecommerce_order", order)
        assert matches("ecommerce_order", order, ecommerce_events=True)
        assert not matches("ecommerce_order", order, ecommerce_events=True,
                           purchase_events=["Checkout"])
        assert not matches("ecommerce_order", sb.Track(event="Checkout", user_id="u1"),
                           ecommerce_events=True, purchase_events=["Checkout"])

    def test_order_placed_instead_of_purchases(self) -> None:
        """By default the order is one ecommerce.order_placed, and no purchase."""
        t = run(track(event="Order Completed", properties=self.ORDER), ecommerce_events=True)
        ((_, body),) = bodies(t)
        assert list(body) == ["events"]
        properties = body["events"][0]["properties"]
        assert body["events"][0]["name"] == "ecommerce.order_placed"
        assert properties["total_value"] == 27.5
        assert properties["metadata"] == {"revenue": 22.5}
        assert properties["products"][1] == {"product_id": "p2", "product_name": "Hat",
                                             "variant_id": "p2", "quantity": 2, "price": 3,
                                             "metadata": {"color": "red"}}

    def test_with_purchases_too(self) -> None:
        """With ecommerce_purchases the purchases are logged beside the event."""
        t = run(track(event="Order Completed", properties=self.ORDER), ecommerce_events=True,
                ecommerce_purchases=True)
        ((_, body),) = bodies(t)
        assert [e["name"] for e in body["events"]] == ["ecommerce.order_placed"]
        assert [p["product_id"] for p in body["purchases"]] == ["p1", "p2"]

    def test_an_order_that_cannot_meet_the_schema_becomes_purchases(self) -> None:
        """A revenue-only order has no products: it is the purchase row's, as before."""
        t = run(track(event="Order Completed", properties={"revenue": 5}),
                ecommerce_events=True)
        ((_, body),) = bodies(t)
        assert list(body) == ["purchases"]
        assert notices(t) == ["$.properties.order_id", "$.properties.products"]

    def test_explain_says_why_the_purchases_did_not_run(self) -> None:
        """The purchase body's trace says it did not run, and why."""
        text = str(sb.Translator(sb.Settings(ecommerce_events=True), clock=clock).explain(
            track(event="Order Completed", properties=self.ORDER)))
        assert "ecommerce_purchases is off" in text


class TestPurchaseRule:
    """``purchase``: orders become purchases, one per product, or one for the revenue."""

    @pytest.mark.parametrize("name", ["Order Completed", "order_completed", "ORDER COMPLETED",
                                      "Order-Completed", " Completed Order ", "ordercompleted"])
    def test_matcher_ignores_case_spaces_and_separators(self, name: str) -> None:
        """Names compare ignoring case, spaces, ``_`` and ``-``."""
        assert matches("purchase", sb.Track(event=name, user_id="u1"))

    def test_matcher_with_custom_purchase_events(self) -> None:
        """A custom purchase_events list replaces the default names."""
        event = sb.Track(event="checkout_finished", user_id="u1")
        assert matches("purchase", event, purchase_events=["Checkout Finished"])
        assert not matches("purchase", sb.Track(event="Order Completed", user_id="u1"),
                           purchase_events=["Checkout Finished"])

    @pytest.mark.parametrize(("revenue", "expected"), [
        (9.99, True), ("9.99", True), (0, True), ("n/a", False), (True, False),
        (None, False), (float("nan"), False)])
    def test_matcher_with_revenue(self, revenue: Any, expected: bool) -> None:
        """With log_purchase_when_revenue_present, a numeric revenue makes a purchase."""
        event = sb.Track(event="Upgraded", user_id="u1", properties={"revenue": revenue})
        assert matches("purchase", event, log_purchase_when_revenue_present=True) is expected
        assert not matches("purchase", event)

    def test_one_purchase_per_product(self) -> None:
        """Each product is a purchase: id, price, quantity, currency and properties."""
        t = run(track(event="Order Completed", properties={
            "order_id": "o1", "currency": "eur", "coupon": "X",
            "products": [
                {"product_id": "p1", "price": "12.50", "quantity": 2, "coupon": "Y"},
                {"product_id": 42, "price": 3, "currency": "usd"},
            ]}), app_id="app-1")
        assert t.requests[0].to_json() == {"purchases": [
            {"external_id": "u1", "app_id": "app-1", "product_id": "p1", "currency": "EUR",
             "price": 12.5, "quantity": 2, "time": T_OUT,
             "properties": {"order_id": "o1", "coupon": "Y"}},
            {"external_id": "u1", "app_id": "app-1", "product_id": "42", "currency": "USD",
             "price": 3, "quantity": 1, "time": T_OUT,
             "properties": {"order_id": "o1", "coupon": "X"}},
        ]}

    def test_product_id_order(self) -> None:
        """The id is product_id, else productId, sku, id."""
        products = [{"product_id": "a", "productId": "b", "sku": "c", "id": "d", "price": 1},
                    {"productId": "b", "sku": "c", "id": "d", "price": 1},
                    {"sku": "c", "id": "d", "price": 1}, {"id": "d", "price": 1}]
        t = run(track(event="Order Completed", properties={"products": products}))
        ids = [p["product_id"] for p in t.requests[0].to_json()["purchases"]]
        assert ids == ["a", "b", "c", "d"]

    def test_large_quantities_are_split(self) -> None:
        """Quantities above 100 are split into purchases of at most 100."""
        t = run(track(event="Order Completed", properties={
            "products": [{"product_id": "p", "price": 2, "quantity": 250}]}))
        purchases = t.requests[0].to_json()["purchases"]
        assert [p["quantity"] for p in purchases] == [100, 100, 50]
        assert sum(p["quantity"] * p["price"] for p in purchases) == 500

    def test_revenue_without_products(self) -> None:
        """No products but a revenue: one purchase named after the event."""
        t = run(track(event="Order Completed", properties={"revenue": "25", "currency": "EUR",
                                                           "order_id": "o1"}))
        assert t.requests[0].to_json() == {"purchases": [{
            "external_id": "u1", "product_id": "Order Completed", "currency": "EUR",
            "price": 25.0, "quantity": 1, "time": T_OUT, "properties": {"order_id": "o1"}}]}

    def test_neither_products_nor_revenue(self) -> None:
        """Without products or revenue the order is a custom event, with a notice."""
        t = run(track(event="Order Completed", properties={"order_id": "o1"}))
        assert t.requests[0].to_json() == {"events": [{
            "external_id": "u1", "name": "Order Completed", "time": T_OUT,
            "properties": {"order_id": "o1"}}]}
        assert notices(t) == ["$.properties"]

    @pytest.mark.parametrize(("product", "path"), [
        ({"product_id": "p"}, "$.properties.products[1].price"),
        ({"product_id": "p", "price": "free"}, "$.properties.products[1].price"),
        ({"product_id": "p", "price": float("inf")}, "$.properties.products[1].price"),
        ({"price": 1}, "$.properties.products[1].product_id"),
        ({"product_id": "p" * 256, "price": 1}, "$.properties.products[1].product_id"),
        ({"product_id": "p", "price": 1, "quantity": 0}, "$.properties.products[1].quantity"),
        ({"product_id": "p", "price": 1, "quantity": 1.5}, "$.properties.products[1].quantity"),
        ({"product_id": "p", "price": 1, "currency": "XYZ"},
         "$.properties.products[1].currency"),
        ("p", "$.properties.products[1]"),
    ])
    def test_a_bad_product_rejects_the_order(self, product: Any, path: str) -> None:
        """One bad product rejects the whole order, at that product's path."""
        event = track(event="Order Completed", properties={
            "products": [{"product_id": "ok", "price": 1}, product]})
        assert rejected(event) == [(path, "purchase")]

    def test_bad_order_currency(self) -> None:
        """An order currency that is not ISO 4217 is rejected at ``$.properties.currency``."""
        event = track(event="Order Completed", properties={
            "currency": "dollars", "products": [{"product_id": "p", "price": 1}]})
        assert rejected(event) == [("$.properties.currency", "purchase")]

    def test_products_not_a_list(self) -> None:
        """products must be an array."""
        event = track(event="Order Completed", properties={"products": {"p": 1}})
        assert rejected(event) == [("$.properties.products", "purchase")]

    def test_ends_the_table(self) -> None:
        """explain shows the purchase row matched and the track row not reached."""
        lines = explained(track(event="Order Completed", properties={"revenue": 1}))
        assert lines["purchase"].startswith("matched, emitted 1")
        assert lines["track"] == "not reached: an earlier rule ended the table"


class TestPageRule:
    """``page``: page and screen calls become custom events named after the page."""

    @pytest.mark.parametrize(("kind", "name", "category", "expected"), [
        ("page", "Home", None, "Viewed Home Page"),
        ("page", "Setup", "Docs", "Viewed Docs Setup Page"),
        ("page", None, "Docs", "Loaded a Page"),
        ("page", "  ", None, "Loaded a Page"),
        ("screen", "Home", None, "Viewed Home Screen"),
        ("screen", "Home", "Main", "Viewed Main Home Screen"),
        ("screen", None, None, "Loaded a Screen"),
    ])
    def test_names(self, kind: str, name: str | None, category: str | None,
                   expected: str) -> None:
        """``Viewed {category} {name} Page``, ``Viewed {name} Page`` or ``Loaded a Page``."""
        event = {"type": kind, "userId": "u1", "name": name, "category": category,
                 "timestamp": T, "properties": {"path": "/"}}
        t = run(event, track_all_pages=True)
        assert t.requests[0].to_json() == {"events": [{
            "external_id": "u1", "name": expected, "time": T_OUT,
            "properties": {"path": "/"}}]}

    def test_matcher(self) -> None:
        """The matcher accepts page and screen calls (the filter ran before)."""
        assert matches("page", sb.Page(user_id="u1"))
        assert matches("page", sb.Screen(user_id="u1"))
        assert not matches("page", sb.Track(event="x", user_id="u1"))

    def test_too_long_name_is_rejected(self) -> None:
        """A page name that makes the event name longer than 255 is rejected at $.name."""
        event = {"type": "page", "userId": "u1", "name": "n" * 250}
        assert rejected(event, track_all_pages=True) == [("$.name", "page")]


class TestTrackRule:
    """``track``: any other track becomes a custom event."""

    def test_matcher(self) -> None:
        """The matcher accepts track calls."""
        assert matches("track", sb.Track(event="x", user_id="u1"))
        assert not matches("track", sb.Page(user_id="u1"))

    def test_custom_event(self) -> None:
        """Name, time, properties (nested kept) and app_id."""
        t = run(track(properties={"plan": "pro", "cart": {"items": [1, 2]}}), app_id="app-1",
                update_existing_only=True)
        assert t.requests[0].to_json() == {"events": [{
            "external_id": "u1", "app_id": "app-1", "name": "Signed Up", "time": T_OUT,
            "properties": {"plan": "pro", "cart": {"items": [1, 2]}},
            "_update_existing_only": True}]}

    @pytest.mark.parametrize("name", ["", "   ", "$purchase", "e" * 256])
    def test_bad_names_are_rejected(self, name: str) -> None:
        """An event name Braze refuses cannot be fixed up: the event is rejected."""
        assert rejected(track(event=name)) == [("$.event", "track")]

    def test_reserved_properties_are_dropped(self) -> None:
        """``time`` and ``event_name`` are Braze's: dropped with notices."""
        t = run(track(properties={"time": 1, "event_name": "x", "ok": True}))
        assert t.requests[0].to_json()["events"][0]["properties"] == {"ok": True}
        assert notices(t) == ["$.properties.time", "$.properties.event_name"]

    @pytest.mark.parametrize(("fields", "expected"), [
        ({"timestamp": "2024-05-01T14:00:00+02:00", "originalTimestamp": "2020-01-01"},
         "2024-05-01T12:00:00.000Z"),
        ({"originalTimestamp": "2024-05-02T00:00:00Z", "receivedAt": "2020-01-01"},
         "2024-05-02T00:00:00.000Z"),
        ({"receivedAt": "2024-05-03T00:00:00.5Z", "sentAt": "2020-01-01"},
         "2024-05-03T00:00:00.500Z"),
        ({"sentAt": "2024-05-04T00:00:00"}, "2024-05-04T00:00:00.000Z"),
    ])
    def test_time_fallbacks(self, fields: dict[str, str], expected: str) -> None:
        """timestamp, else originalTimestamp, receivedAt, sentAt, in UTC."""
        event = {"type": "track", "userId": "u1", "event": "E", **fields}
        assert run(event).requests[0].to_json()["events"][0]["time"] == expected

    def test_no_time_uses_the_clock_with_a_notice(self) -> None:
        """Without any time field the translation time is used, and said."""
        t = run({"type": "track", "userId": "u1", "event": "E"})
        assert t.requests[0].to_json()["events"][0]["time"] == "2024-06-01T08:30:00.000Z"
        assert notices(t) == ["$.timestamp"]

    def test_large_properties_are_rejected(self) -> None:
        """Properties over 51,200 bytes of JSON reject the event."""
        big = {f"k{i}": "v" * 250 for i in range(210)}
        assert rejected(track(properties=big)) == [("$.properties", "track")]

    def test_properties_just_under_the_limit(self) -> None:
        """Properties of about 50 KB are still sent."""
        props = {f"k{i:03d}": "v" * 240 for i in range(200)}
        assert run(track(properties=props)).status == "translated"
