"""A translator and a change tracker composed, as the command line and the delivery code
compose them: the tests of change tracking drive both through this one object."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

import segment_braze as sb
from segment_braze.tracking import StateStore, Tracker


class Pipeline:
    """A translator and a tracker composed, as the command line and the delivery code
    compose them."""

    def __init__(self, settings: sb.Settings, store: StateStore, commit: Any,
                 rules: tuple[sb.Rule, ...] = sb.DEFAULT_RULES) -> None:
        self.translator = sb.Translator(settings, rules=rules)
        self.tracker = Tracker(store, commit=commit)

    def translate(self, event: Any) -> sb.Translation:
        return self.tracker.apply(self.translator.translate(event))

    def acknowledge(self, outcomes: Any, *, request: Any = None) -> int:
        return self.tracker.acknowledge(outcomes, request=request)

    def translate_many(self, events: Any) -> Iterator[sb.Translation]:
        for translation in self.translator.translate_many(events):
            yield self.tracker.apply(translation)

    def explain(self, event: Any) -> sb.Explanation:
        explanation = self.translator.explain(event)
        return attrs.evolve(explanation,
                            translation=self.tracker.preview(explanation.translation))
