"""What we write under metadata["cinemanet"]: typed records that round-trip, hostile metadata read as nothing,
and the keyword policy each category declares."""

from __future__ import annotations

import json
import math

import opentimelineio as otio
import pytest

from cinemanet_edit import schema
from cinemanet_edit.schema import ClipRecord, MarkerRecord, MediaRecord, Samples
from cinemanet_edit.taxonomy import describe
from cinemanet_edit.types import CategoryLabel


def label(category, label_id, title, confidence, scores=None, uncertain=False):
    return CategoryLabel(category, label_id, title, confidence, scores or {label_id: confidence}, uncertain)


def record() -> ClipRecord:
    return ClipRecord("m@1", {
        "shot.framing": label("shot.framing", "shot.framing.close-up", "Close Up", 0.81),
        "shot.angle": label("shot.angle", "shot.angle.low", "Low", 0.31, uncertain=True),
        "shot.subject": label("shot.subject", "shot.subject.face", "Face", 0.9,
                              {"shot.subject.face": 0.9, "shot.subject.faces": 0.6, "shot.subject.text": 0.2}),
        "imagenet": label("imagenet", "imagenet.n02124075", "Egyptian cat", 0.42),
        "legacy.shot.mood": label("legacy.shot.mood", "legacy.shot.mood.dark", "dark", 0.99),
    }, Samples(24.0, (10.0, 20.5), 3))


def test_a_clip_record_survives_otio_and_json_unchanged(tmp_path):
    clip = otio.schema.Clip(name="c")
    schema.write_clip_record(clip, record())
    path = tmp_path / "t.otio"
    timeline = otio.schema.Timeline()
    timeline.tracks.append(otio.schema.Track(children=[clip]))
    otio.adapters.write_to_file(timeline, str(path))
    back = schema.clip_record(otio.adapters.read_from_file(str(path)).find_clips()[0])
    assert back == record()
    assert schema.record_from_metadata(json.loads(json.dumps(record().to_metadata()))) == record()
    assert back.labels["shot.angle"].uncertain and "uncertain" not in back.to_metadata()["labels"]["shot.framing"]


def test_keywords_follow_each_categorys_policy():
    # the angle is uncertain; ImageNet is below 0.5; legacy heads never give keywords; multi-label adds Faces
    assert record().keywords() == ["Close Up", "Face", "Faces"]
    sure = {"imagenet": label("imagenet", "imagenet.n02124075", "Egyptian cat", 0.5)}
    assert schema.keywords(sure) == ["Egyptian cat"]
    assert [describe(c).title for c in schema.ordered_categories(["places365", "imagenet", "x.y", "shot.angle"])] \
        == ["Shot Angle", "ImageNet", "Places365", "x.y"]


@pytest.mark.parametrize("hostile", [
    "text", 7, None, [], {"labels": "x"}, {"labels": {"shot.framing": "Close Up"}},
    {"labels": {"shot.framing": {"label": 3, "confidence": 0.5}}},
    {"labels": {"shot.framing": {"label": "shot.framing.medium", "confidence": "high"}}},
    {"labels": {"shot.framing": {"label": "shot.framing.medium", "confidence": math.nan}}},
    {"labels": {"shot.framing": {"label": "shot.framing.medium", "confidence": True}}},
    {"model": ["x"], "samples": "none", "schema": "one"},
])
def test_hostile_metadata_reads_as_no_labels_never_an_exception(hostile):
    clip = otio.schema.Clip(name="c")
    clip.metadata["cinemanet"] = hostile
    got = schema.clip_record(clip)
    assert got is None or got.labels == {}
    marker = otio.schema.Marker()
    marker.metadata["cinemanet"] = hostile
    got = schema.marker_record(marker)
    assert got is None or (got.category is None and got.label is None)
    ref = otio.schema.ExternalReference()
    ref.metadata["cinemanet"] = hostile
    got = schema.media_record(ref)
    assert got is None or (got.rate is None and got.width is None)


def test_a_good_entry_beside_a_bad_one_is_kept():
    data = {"labels": {"shot.framing": {"label": "shot.framing.medium", "title": "Medium", "confidence": 0.7,
                                        "scores": {"shot.framing.medium": 0.7, "shot.framing.long": "lots"}},
                       "shot.angle": {"confidence": 0.9}}}
    got = schema.record_from_metadata(data)
    assert list(got.labels) == ["shot.framing"] and got.labels["shot.framing"].scores == {"shot.framing.medium": 0.7}


def test_marker_media_and_timeline_records_round_trip():
    marker = otio.schema.Marker()
    schema.write_marker_record(marker, MarkerRecord("shot.type", "shot.type.master", 0.1234567))
    assert schema.marker_record(marker) == MarkerRecord("shot.type", "shot.type.master", 0.123457)
    schema.write_marker_record(marker, MarkerRecord(None, chapter=True))
    assert schema.marker_record(marker).chapter
    ref = otio.schema.ExternalReference()
    schema.write_media_record(ref, MediaRecord("/m/a.mov", 426, 240, 23.976, "h264", "01:00:00:00"))
    assert schema.media_record(ref) == MediaRecord("/m/a.mov", 426, 240, 23.976, "h264", "01:00:00:00")
    timeline = otio.schema.Timeline()
    assert schema.drop_frame(timeline) is None and schema.reader_warnings(timeline) == []
    schema.set_drop_frame(timeline, False)
    schema.set_reader_warnings(timeline, ["event 3 skipped"])
    assert schema.drop_frame(timeline) is False and schema.reader_warnings(timeline) == ["event 3 skipped"]
    timeline.metadata["cinemanet"]["drop_frame"] = "yes"  # hostile: not a bool
    assert schema.drop_frame(timeline) is None


def test_the_namespace_is_spelled_in_one_module():
    import ast
    from pathlib import Path

    root = Path(schema.__file__).resolve().parents[1]
    files = [p for folder in ("cinemanet_edit", "adapters") for p in (root / folder).rglob("*.py")]
    spelled = sorted(str(p.relative_to(root)) for p in files for node in ast.walk(ast.parse(p.read_text()))
                     if isinstance(node, ast.Constant) and node.value == schema.NAMESPACE)
    assert spelled == ["cinemanet_edit/schema.py"]
