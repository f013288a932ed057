"""Tag a timeline over the real files in ../shared/media (many codecs) with the shipped model.

The damaged Theora file decodes partly and is analysed on the frames that decode.

Skips when ../shared is absent. One 23.976 clip is declared by the timeline to start at 01:00:00:00
(its reference's available_range), so its source range is in timecode space.
"""

from __future__ import annotations

import json

import opentimelineio as otio
from conftest import shared_media

from cinemanet_edit import cli, decode
from cinemanet_edit.schema import is_our_marker

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def build(tmp_path):
    media = shared_media()
    track = otio.schema.Track(name="V1")
    expected = {}
    for path in sorted(media.iterdir()):
        if path.suffix == ".md":
            continue
        info = decode.probe(path)
        rate = float(info.rate)
        length = max(1, info.frame_count // 2)
        start = info.frame_count // 4
        available = None
        if path.name == "pexels_face_h264.mp4":  # 23.976 material that starts at 01:00:00:00
            available = TR(RT(86400, rate), RT(info.frame_count, rate))
            start += 86400
        ref = otio.schema.ExternalReference(target_url=path.as_uri(), available_range=available)
        track.append(otio.schema.Clip(name=path.stem, media_reference=ref,
                                      source_range=TR(RT(start, rate), RT(length, rate))))
        expected[path.stem] = (start, length)
    ref = otio.schema.ExternalReference(target_url=(media / "not_here.mov").as_uri())
    track.append(otio.schema.Clip(name="not_here", media_reference=ref, source_range=TR(RT(0, 24), RT(24, 24))))
    timeline = otio.schema.Timeline(name="shared media")
    timeline.global_start_time = RT(86400, 24000 / 1001)
    timeline.tracks.append(track)
    path = tmp_path / "shared.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path, expected


def test_tag_shared_media_twice(tmp_path, capsys):
    path, expected = build(tmp_path)
    first, second = tmp_path / "first.otio", tmp_path / "second.otio"
    assert cli.main(["tag", str(path), "-o", str(first), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["analysed"] == len(expected)
    assert [s["clip"] for s in summary["skipped"]] == ["not_here"]
    clips = {c.name: c for c in otio.adapters.read_from_file(str(first)).find_clips()}
    for name, (start, length) in expected.items():
        c = clips[name]
        ours = [m for m in c.markers if is_our_marker(m)]
        labels = c.metadata["cinemanet"]["labels"]
        written = sorted(k for k, v in labels.items() if not v.get("uncertain"))
        assert len(labels) == 5 and sorted(m.metadata["cinemanet"]["category"] for m in ours) == written
        assert all(m.marked_range == c.trimmed_range() for m in ours)
        frames = c.metadata["cinemanet"]["samples"]["source_frames"]
        assert frames and all(start <= f < start + length for f in frames), name
    assert not clips["not_here"].markers
    assert cli.main(["tag", str(first), "-o", str(second), "-q"]) == 0
    again = {c.name: c for c in otio.adapters.read_from_file(str(second)).find_clips()}
    for name in expected:
        assert len(again[name].markers) == len(clips[name].markers)
        assert again[name].metadata["cinemanet"]["labels"]["imagenet"]["label"] == \
            clips[name].metadata["cinemanet"]["labels"]["imagenet"]["label"]


def test_a_damaged_file_gives_the_same_frames_and_shots_every_time():
    """Past damaged data FFmpeg's frame threads return what timing gives them (the Theora file gave four
    different sets of probabilities in four runs): a file found damaged is decoded again on slice threads."""
    from cinemanet_edit import shots
    from cinemanet_edit.pipeline import Analyzer
    from cinemanet_edit.sampling import SamplingPolicy, whole_media_plan
    from cinemanet_edit.scoring import Progress

    path = shared_media() / "iscc_demo_theora_broken.ogv"
    analyzer = Analyzer(cache=False)
    plan = whole_media_plan(decode.probe(path), SamplingPolicy(samples=30))
    results, cuts = [], []
    for _ in range(3):
        scored = analyzer.score([plan], Progress())
        assert scored.reports[path].error
        results.append({k: v["shot.framing"].tolist() for k, v in scored.scores.items()})
    for _ in range(2):
        cuts.append([(s.first, s.end) for s in shots.detect_shots(path).shots])
    assert results[0] == results[1] == results[2] and len(results[0]) == 30
    assert cuts[0] == cuts[1] and len(cuts[0]) > 1
