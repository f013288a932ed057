"""End to end through the library with real generated media: which frames get analysed for each clip,
at 23.976 / 25 / 29.97 DF / 59.94, timeline start 01:00:00:00, media start timecodes, nested tracks,
gaps, transitions, missing media and generators; markers and metadata written back; re-tagging."""

from __future__ import annotations

import os

import opentimelineio as otio
import pytest
from conftest import one_clip_otio
from fakes import frame_id_analyzer

from cinemanet_edit import schema
from cinemanet_edit.pipeline import SamplingPolicy, tag_file, tag_timeline
from cinemanet_edit.schema import is_our_marker
from cinemanet_edit.timeline import MediaResolver

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
R23 = 24000 / 1001


def clip(name, url, start, duration, rate, available=None):
    ref = otio.schema.ExternalReference(target_url=url, available_range=available)
    return otio.schema.Clip(name=name, media_reference=ref, source_range=TR(RT(start, rate), RT(duration, rate)))


@pytest.fixture
def timeline(tmp_path, clip_23976_tc, clip_25_mjpeg, clip_2997_df, clip_5994):
    """Clips and the media frame (conftest pattern index) that one centred sample must hit."""
    v1 = otio.schema.Track(name="V1")
    # Media timecode 01:00:00:00 from the file (no available_range): 01:00:00:10 is media frame 10.
    v1.append(clip("A", clip_23976_tc.as_uri(), 86410, 20, R23))  # frames 10..30 -> sample 20
    v1.append(otio.schema.Gap(duration=RT(10, R23)))
    # Relative path, 25 fps material on a 23.976 timeline; OTIO times in the media's own rate.
    rel = os.path.relpath(clip_25_mjpeg, tmp_path)  # "../media0/b_25_mjpeg.mov"
    v1.append(clip("B", rel, 30, 25, 25))  # frames 30..55 -> sample 42
    v1.append(otio.schema.Transition(in_offset=RT(2, R23), out_offset=RT(2, R23)))
    # 29.97 drop-frame media starting 00:59:59;00 (107862); source from 00:59:59;10.
    v1.append(clip("C", clip_2997_df.as_uri(), 107872, 30, 30000 / 1001))  # frames 10..40 -> sample 25
    v1.append(clip("D missing", (tmp_path / "gone.mov").as_uri(), 0, 24, R23))
    gen = otio.schema.Clip(name="E title", media_reference=otio.schema.GeneratorReference(generator_kind="SolidColor"),
                           source_range=TR(RT(0, R23), RT(24, R23)))
    v1.append(gen)
    # EDL style: 24 written for 23.976 material; still frames on the timecode grid.
    v1.append(clip("I", clip_23976_tc.as_uri(), 86450, 20, 24))  # frames 50..70 -> sample 60
    # Zero-based source range over media that has a start timecode (read from zero, with a note).
    v1.append(clip("H", clip_23976_tc.as_uri(), 5, 10, R23))  # frames 5..15 -> sample 10
    # Nested: a stack inside V2 holding a track with 59.94 DF media (10:00:00;00), times at nominal 60.
    inner_track = otio.schema.Track(name="inner")
    inner_track.append(clip("F nested", clip_5994.as_uri(), 2157840 + 60, 60, 60))  # frames 60..120 -> 90
    nested = otio.schema.Stack(name="compound")
    nested.append(inner_track)
    v2 = otio.schema.Track(name="V2")
    v2.append(otio.schema.Gap(duration=RT(24, R23)))
    v2.append(nested)
    # available_range given by the timeline (start 01:00:00:00) wins over anything else.
    v2.append(clip("G", clip_23976_tc.as_uri(), 86400 + 100, 10, R23,
                   available=TR(RT(86400, R23), RT(120, R23))))  # frames 100..110 -> sample 105
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    audio.append(clip("audio", clip_25_mjpeg.as_uri(), 0, 50, 25))
    tl = otio.schema.Timeline(name="mapping")
    tl.global_start_time = RT(86400, R23)
    for track in (v1, v2, audio):
        tl.tracks.append(track)
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    expected = {"A": 20, "B": 42, "C": 25, "I": 60, "H": 10, "F nested": 90, "G": 105}
    return path, expected, clip_25_mjpeg.parent


def labelled(tl):
    return {c.name: c for c in tl.find_clips() if schema.NAMESPACE in c.metadata}


def test_each_clip_analyses_its_own_frames(timeline, tmp_path):
    path, expected, media_dir = timeline
    out = tmp_path / "tagged.otio"
    report = tag_file(path, out, analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=1),
                      media_roots=[])
    tagged = otio.adapters.read_from_file(str(out))
    clips = labelled(tagged)
    got = {name: int(c.metadata["cinemanet"]["labels"]["test.frame"]["title"]) for name, c in clips.items()}
    assert got == expected
    assert report.clips == 9 and report.analysed == 7
    assert {s.name: s.reason.split(":")[0] for s in report.skipped} == {
        "D missing": "media not found", "E title": "generator (no media)"}
    assert any("read from zero" in w for w in report.warnings)


def test_markers_sit_inside_each_clip_at_its_source_times(timeline, tmp_path):
    path, expected, _ = timeline
    out = tmp_path / "tagged.otio"
    tag_file(path, out, analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=3))
    for name, c in labelled(otio.adapters.read_from_file(str(out))).items():
        source = c.trimmed_range()
        ours = [m for m in c.markers if is_our_marker(m)]
        assert len(ours) == 1
        assert ours[0].marked_range == source
        assert ours[0].color == "ORANGE" and ours[0].name.startswith("Frame: ")
        samples = c.metadata["cinemanet"]["samples"]
        frames = samples["source_frames"]
        assert len(frames) == 3
        start = source.start_time.value
        assert all(start <= f < start + source.duration.value for f in frames), name
        # The sampled frames' labels: their source offsets equal their media offsets.
        scores = c.metadata["cinemanet"]["labels"]["test.frame"]["scores"]
        centre = min(expected[name] - 1, expected[name]), expected[name]
        assert any(f"test.frame.{f}" in scores for f in centre), name


def test_retag_replaces_only_our_markers(timeline, tmp_path):
    path, _, _ = timeline
    first = tmp_path / "first.otio"
    tag_file(path, first, analyzer=frame_id_analyzer())
    tl = otio.adapters.read_from_file(str(first))
    a = labelled(tl)["A"]
    a.markers.append(otio.schema.Marker(name="editor note", marked_range=TR(a.trimmed_range().start_time,
                                                                             RT(1, R23))))
    a.metadata["editor"] = {"keep": True}
    otio.adapters.write_to_file(tl, str(first))
    before = first.read_bytes()
    second = tmp_path / "second.otio"
    tag_file(first, second, analyzer=frame_id_analyzer())
    assert first.read_bytes() == before  # the input is never modified
    a2 = labelled(otio.adapters.read_from_file(str(second)))["A"]
    names = [m.name for m in a2.markers]
    assert names.count("editor note") == 1 and len([m for m in a2.markers if is_our_marker(m)]) == 1
    assert a2.metadata["editor"]["keep"] is True
    third = tmp_path / "third.otio"
    tag_file(second, third, analyzer=frame_id_analyzer())
    assert otio.adapters.read_from_file(str(third)).to_json_string() == \
        otio.adapters.read_from_file(str(second)).to_json_string()


def test_media_root_relinks_by_file_name(timeline, tmp_path):
    path, expected, media_dir = timeline
    tl = otio.adapters.read_from_file(str(path))
    for c in tl.find_clips():
        ref = c.media_reference
        if isinstance(ref, otio.schema.ExternalReference):
            name = ref.target_url.rsplit("/", 1)[-1]
            ref.target_url = f"file:///Volumes/OldDrive/Project/{name}"
    moved = tmp_path / "moved.otio"
    otio.adapters.write_to_file(tl, str(moved))
    report = tag_timeline(otio.adapters.read_from_file(str(moved)), MediaResolver(tmp_path, (media_dir,)),
                          frame_id_analyzer(), SamplingPolicy(samples=1))
    assert report.analysed == 7  # "a 23976 tc.mov" is found though its URL is percent-encoded


def test_bare_media_file_is_a_one_clip_timeline(clip_23976_tc, tmp_path):
    """With shot detection off (--no-shots): one clip over the whole file, from its start timecode."""
    out = tmp_path / "single.otio"
    report = tag_file(clip_23976_tc, out, analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=4),
                      shots=False)
    assert report.analysed == 1
    tl = otio.adapters.read_from_file(str(out))
    (c,) = list(tl.find_clips())
    assert c.media_reference.available_range.start_time.to_timecode() == "01:00:00:00"
    assert list(c.metadata["cinemanet"]["samples"]["source_frames"]) == [86415, 86445, 86475, 86505]


def test_min_confidence_writes_no_marker_for_an_unsure_label(tmp_path, clip_25_mjpeg, monkeypatch):
    """Three samples showing three different frames: the stand-in category is a third sure of each. Below
    --min-confidence it gets no marker and no keyword, and its metadata says so; one sample is sure."""
    from cinemanet_edit import cli

    src = one_clip_otio(tmp_path, clip_25_mjpeg, "c", 10, 60)
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    for samples, out in (("3", "unsure.otio"), ("1", "sure.otio")):
        assert cli.main(["tag", str(src), "-q", "--samples", samples, "--min-confidence", "0.5",
                         "-o", str(tmp_path / out), "-o", str(tmp_path / out.replace(".otio", ".fcpxml"))]) == 0
    unsure = next(iter(otio.adapters.read_from_file(str(tmp_path / "unsure.otio")).find_clips()))
    assert unsure.metadata["cinemanet"]["labels"]["test.frame"]["uncertain"] is True
    assert not [m for m in unsure.markers if "cinemanet" in m.metadata]
    assert "<keyword" not in (tmp_path / "unsure.fcpxml").read_text()
    sure = next(iter(otio.adapters.read_from_file(str(tmp_path / "sure.otio")).find_clips()))
    assert "uncertain" not in sure.metadata["cinemanet"]["labels"]["test.frame"]
    assert len([m for m in sure.markers if "cinemanet" in m.metadata]) == 1


def test_a_flat_file_is_probed_once_by_every_stage(clip_25_mjpeg, tmp_path, monkeypatch):
    """Reading it, shot detection, sampling, the report's thumbnails and the media description share one probe."""
    from cinemanet_edit import decode

    calls = []
    real = decode.probe
    monkeypatch.setattr(decode, "probe", lambda path: calls.append(path) or real(path))
    outputs = [tmp_path / "shots.otio", tmp_path / "shots.html", tmp_path / "shots.fcpxml"]
    report = tag_file(clip_25_mjpeg, outputs, analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=2))
    assert report.analysed >= 1 and all(p.exists() for p in outputs)
    assert len(calls) == 1
    calls.clear()
    report = tag_file(one_clip_otio(tmp_path, clip_25_mjpeg, "cut", 10, 40), [tmp_path / "cut.otio"],
                      analyzer=frame_id_analyzer(), split_shots=True)
    assert report.analysed >= 1 and len(calls) == 1  # --split-shots too
