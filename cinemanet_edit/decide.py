"""Per-clip scores -> the labels an editor sees: each label only at its threshold, and only where it applies.

The heads score every category on every frame; not every score is worth a marker. A label is written when its
score reaches its threshold (chosen per label on validation so that written labels are right at least 9 times
in 10, stored with the head; ``--min-confidence`` replaces them all). A multi-label category writes each label
that reaches its own threshold, and none when none does. Shot Type describes how people are covered, so with
nobody in frame it does not apply. What is not written stays in metadata with its scores and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .taxonomy import KEYWORD_CONFIDENCE, describe
from .types import CategoryLabel

# Heads that carry no thresholds of their own (the ImageNet classifier, legacy and older user heads):
# a large vocabulary's label needs KEYWORD_CONFIDENCE, a multi-label head's label 0.5, any other top label is
# written as before.
MULTI_LABEL_THRESHOLD = 0.5
PEOPLE = ("shot.subject.face", "shot.subject.faces", "shot.subject.person", "shot.subject.people")
PEOPLE_SCORE = 0.5  # below this for every people label of Shot Subject, nobody is in frame
# a threshold of 1 (or above): on validation this label, when written, was right less than 9 times in 10
NEVER_REASON = "never written by default: right less than 9 times in 10 on validation"


def _default_threshold(category_id: str, multi_label: bool) -> float:
    if multi_label:
        return MULTI_LABEL_THRESHOLD
    return KEYWORD_CONFIDENCE if describe(category_id).keywords == "confident" else 0.0


@dataclass(frozen=True)
class LabelPolicy:
    """Thresholds per category and label (from the heads), which categories are multi-label, and the user's
    ``--min-confidence`` when given (it replaces every threshold)."""

    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    multi_label: frozenset[str] = frozenset()
    min_confidence: float | None = None
    titles: Mapping[str, str] = field(default_factory=dict)  # label id -> display name

    @classmethod
    def for_heads(cls, heads, min_confidence: float | None = None) -> LabelPolicy:
        thresholds = {h.category.id: dict(zip((lab.id for lab in h.category.labels), h.thresholds, strict=True))
                      for h in heads if h.thresholds is not None}
        titles = {lab.id: lab.title for h in heads for lab in h.category.labels}
        return cls(thresholds, frozenset(h.category.id for h in heads if h.category.multi_label), min_confidence,
                   titles)

    def threshold(self, category_id: str, label_id: str) -> float:
        if self.min_confidence is not None:
            return self.min_confidence
        known = self.thresholds.get(category_id, {})
        if label_id in known:
            return float(known[label_id])
        return _default_threshold(category_id, category_id in self.multi_label)

    def decide(self, labels: Mapping[str, CategoryLabel]) -> dict[str, CategoryLabel]:
        """Every category's label, marked uncertain (with the reason) where it is not to be written."""
        out = {c: self._multi(label) if c in self.multi_label else self._single(label) for c, label in labels.items()}
        return {c: _not_applicable(label, out) for c, label in out.items()}

    def _single(self, label: CategoryLabel) -> CategoryLabel:
        limit = self.threshold(label.category, label.label)
        if label.confidence >= limit:
            return replace(label, threshold=limit)
        why = NEVER_REASON if limit > 1 - 1e-6 else f"below its threshold {limit:.2f}"
        return replace(label, threshold=limit, uncertain=True, reason=why)

    def _multi(self, label: CategoryLabel) -> CategoryLabel:
        holding = sorted((s, i) for i, s in label.scores.items() if s >= self.threshold(label.category, i))
        if not holding:
            limit = self.threshold(label.category, label.label)
            return replace(label, threshold=limit, uncertain=True, holds=(), reason="no label at its threshold")
        best = [i for _, i in reversed(holding)]
        title = label.title if best[0] == label.label else self.titles.get(best[0], best[0])
        return replace(label, label=best[0], title=title, confidence=label.scores[best[0]],
                       threshold=self.threshold(label.category, best[0]), holds=tuple(best[1:]))


def _not_applicable(label: CategoryLabel, labels: Mapping[str, CategoryLabel]) -> CategoryLabel:
    """Shot Type with nobody in frame (by Shot Subject's people scores) does not apply."""
    subject = labels.get("shot.subject")
    if label.category != "shot.type" or subject is None:
        return label
    people = max((subject.scores.get(i, 0.0) for i in PEOPLE), default=0.0)
    if people >= PEOPLE_SCORE:
        return label
    return replace(label, uncertain=True, not_applicable=True,
                   reason=f"not applicable: nobody in frame (Shot Subject's people scores peak at {people:.2f})")
