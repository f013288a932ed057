"""What gets written: thresholds per label, multi-label sets, Shot Type only with people in frame."""

from __future__ import annotations

import opentimelineio as otio

from cinemanet_edit import schema
from cinemanet_edit.decide import LabelPolicy
from cinemanet_edit.select import matches, parse_query
from cinemanet_edit.taxonomy import SHOT_FRAMING, SHOT_SUBJECT, SHOT_TYPE, describe
from cinemanet_edit.types import CategoryLabel

POLICY = LabelPolicy({"shot.framing": {"shot.framing.close-up": 0.6, "shot.framing.medium": 0.8},
                      "shot.subject": {lab.id: 0.5 for lab in SHOT_SUBJECT.labels} | {"shot.subject.text": 0.9},
                      "shot.type": {lab.id: 0.7 for lab in SHOT_TYPE.labels}},
                     frozenset({"shot.subject"}), titles={lab.id: lab.title for lab in SHOT_SUBJECT.labels})


def top(category, scores: dict[str, float]) -> CategoryLabel:
    """The undecided label of ``scores`` (short ids), as aggregation gives it."""
    full = {f"{category.id}.{k}": v for k, v in scores.items()}
    best = max(full, key=full.get)
    return CategoryLabel(category.id, best, category.label(best).title, full[best], full)


def people(score: float) -> CategoryLabel:
    return top(SHOT_SUBJECT, {"face": score, "faces": 0.05, "person": 0.1, "people": 0.02, "animal": 0.1,
                              "text": 0.01})


def test_a_label_below_its_own_threshold_is_kept_but_not_written():
    decided = POLICY.decide({"shot.framing": top(SHOT_FRAMING, {"close-up": 0.2, "medium": 0.75, "long": 0.05})})
    medium = decided["shot.framing"]
    assert medium.uncertain and medium.threshold == 0.8 and "0.80" in medium.reason
    assert medium.label == "shot.framing.medium" and medium.scores["shot.framing.close-up"] == 0.2
    close = POLICY.decide({"shot.framing": top(SHOT_FRAMING, {"close-up": 0.65, "medium": 0.3})})["shot.framing"]
    assert not close.uncertain and close.threshold == 0.6 and close.reason is None


def test_a_label_never_written_by_default_says_so_whatever_its_score():
    policy = LabelPolicy({"shot.framing": {"shot.framing.long": 1.0}})
    long = policy.decide({"shot.framing": top(SHOT_FRAMING, {"long": 0.998, "medium": 0.002})})["shot.framing"]
    assert long.uncertain and long.reason.startswith("never written by default")


def test_min_confidence_replaces_every_threshold():
    label = top(SHOT_FRAMING, {"close-up": 0.2, "medium": 0.75})
    assert not LabelPolicy(POLICY.thresholds, POLICY.multi_label, 0.7).decide({"shot.framing": label})[
        "shot.framing"].uncertain
    assert LabelPolicy(POLICY.thresholds, POLICY.multi_label, 0.9).decide({"shot.framing": label})[
        "shot.framing"].uncertain


def test_a_multi_label_category_writes_what_holds_and_nothing_when_nothing_does():
    none = POLICY.decide({"shot.subject": top(SHOT_SUBJECT, {"animal": 0.39, "text": 0.2, "face": 0.1})})
    assert none["shot.subject"].uncertain and none["shot.subject"].reason == "no label at its threshold"
    assert schema.keywords(none) == []
    two = POLICY.decide({"shot.subject": top(SHOT_SUBJECT, {"face": 0.55, "person": 0.8, "text": 0.85})})
    subject = two["shot.subject"]
    assert (subject.label, subject.title, subject.holds) == ("shot.subject.person", "Person", ("shot.subject.face",))
    assert schema.keywords(two) == ["Person", "Face"]  # text (0.85) is below its own 0.9


def test_shot_type_does_not_apply_with_nobody_in_frame():
    portrait = top(SHOT_TYPE, {"portrait": 0.97, "master": 0.03})
    empty = POLICY.decide({"shot.type": portrait, "shot.subject": people(0.3)})["shot.type"]
    assert empty.uncertain and empty.not_applicable and "nobody in frame" in empty.reason
    assert not POLICY.decide({"shot.type": portrait, "shot.subject": people(0.6)})["shot.type"].uncertain
    assert not POLICY.decide({"shot.type": portrait})["shot.type"].uncertain  # no subject head: no evidence


def test_heads_without_thresholds_keep_their_old_rule():
    bare = LabelPolicy(multi_label=frozenset({"shot.subject"}))
    assert bare.threshold("shot.framing", "shot.framing.medium") == 0.0
    assert bare.threshold("shot.subject", "shot.subject.face") == 0.5
    assert bare.threshold("imagenet", "imagenet.stopwatch") == 0.5 and describe("imagenet").keywords == "confident"


def test_decisions_survive_metadata_and_drive_select():
    decided = POLICY.decide({"shot.subject": top(SHOT_SUBJECT, {"person": 0.08, "animal": 0.3}),
                             "shot.type": top(SHOT_TYPE, {"portrait": 0.97}),
                             "shot.framing": top(SHOT_FRAMING, {"close-up": 0.9})})
    clip = otio.schema.Clip(name="cup")
    clip.metadata[schema.NAMESPACE] = {"labels": {c: lab.to_json() for c, lab in decided.items()}}
    back = schema.labels_from_json(clip.metadata[schema.NAMESPACE]["labels"])
    assert back == decided
    assert not matches(parse_query("shot.subject = person"), back)
    assert not matches(parse_query("shot.subject has person"), back)
    assert matches(parse_query("shot.type not in (portrait)"), back)
    assert matches(parse_query("shot.framing = close-up"), back)
    written = POLICY.decide({"shot.subject": top(SHOT_SUBJECT, {"person": 0.7, "face": 0.6})})
    assert matches(parse_query("shot.subject has face"), written)  # the second label written
    assert matches(parse_query("shot.subject = face"), written)
    assert not matches(parse_query("shot.subject has animal"), written)
