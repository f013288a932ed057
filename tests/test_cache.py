"""The result cache: unchanged media is not analysed again (the model is not even loaded); media rewritten
in place under the same name is."""

from __future__ import annotations

import os
from fractions import Fraction

import opentimelineio as otio
from conftest import make_video
from fakes import FrameIdBackbone, frame_id_analyzer, seen

from cinemanet_edit.pipeline import SamplingPolicy, classify_paths, tag_file

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def timeline_over(tmp_path, media):
    track = otio.schema.Track()
    for i in range(3):
        ref = otio.schema.ExternalReference(target_url=media.as_uri())
        track.append(otio.schema.Clip(name=f"c{i}", media_reference=ref,
                                      source_range=TR(RT(20 * i, 25), RT(20, 25))))
    tl = otio.schema.Timeline()
    tl.tracks.append(track)
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path


def labels(path):
    return [int(c.metadata["cinemanet"]["labels"]["test.frame"]["title"])
            for c in otio.adapters.read_from_file(str(path)).find_clips()]


def test_rerun_uses_the_cache_and_never_serves_changed_media(tmp_path):
    media = make_video(tmp_path / "shot.mov", Fraction(25), 80, codec="mjpeg")
    cut = timeline_over(tmp_path, media)
    first = frame_id_analyzer()
    tag_file(cut, tmp_path / "a.otio", analyzer=first, policy=SamplingPolicy(samples=1))
    assert first.cached_frames == 0 and seen(first) == [10, 30, 50]
    assert labels(tmp_path / "a.otio") == [10, 30, 50]

    again = frame_id_analyzer()
    report = tag_file(cut, tmp_path / "b.otio", analyzer=again, policy=SamplingPolicy(samples=1))
    # an unchanged re-run must not need the model at all
    assert again.cached_frames == 3 and not again.scorer.classifier_loaded and report.analysed == 3
    assert labels(tmp_path / "b.otio") == [10, 30, 50]

    # Rewritten in place under the same name, its modification time put back: only the content differs
    # (the new file shows frame i + 100 where the old one showed frame i).
    stat = os.stat(media)
    shifted = make_video(tmp_path / "shifted.mov", Fraction(25), 80, codec="mjpeg", first_index=100)
    media.write_bytes(shifted.read_bytes())
    os.utime(media, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    third = frame_id_analyzer()
    tag_file(cut, tmp_path / "c.otio", analyzer=third, policy=SamplingPolicy(samples=1))
    assert third.cached_frames == 0
    assert labels(tmp_path / "c.otio") == [110, 130, 150]


def test_trimmed_clip_only_analyses_new_frames(tmp_path):
    media = make_video(tmp_path / "shot.mov", Fraction(25), 80, codec="mjpeg")
    cut = timeline_over(tmp_path, media)
    tag_file(cut, tmp_path / "a.otio", analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=1))
    tl = otio.adapters.read_from_file(str(cut))
    clip = list(tl.find_clips())[1]
    clip.source_range = TR(RT(40, 25), RT(30, 25))  # the editor trims one clip
    edited = tmp_path / "edited.otio"
    otio.adapters.write_to_file(tl, str(edited))
    analyzer = frame_id_analyzer()
    tag_file(edited, tmp_path / "b.otio", analyzer=analyzer, policy=SamplingPolicy(samples=1))
    assert analyzer.cached_frames == 2 and seen(analyzer) == [55]


def test_an_interrupted_run_keeps_what_it_analysed(tmp_path, monkeypatch):
    import pytest

    from cinemanet_edit import scoring

    monkeypatch.setenv("CINEMANET_CACHE", str(tmp_path / "cache"))  # media of the same content hit a shared one
    media = make_video(tmp_path / "shot.mov", Fraction(25), 80, codec="mjpeg")
    cut = timeline_over(tmp_path, media)
    analyzer = frame_id_analyzer(batch_size=1)
    real = FrameIdBackbone.__call__
    calls = []

    def interrupted(self, images):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, images)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(FrameIdBackbone, "__call__", interrupted)
        patch.setattr(scoring, "prefetched", lambda items, depth: items)
        tag_file(cut, tmp_path / "a.otio", analyzer=analyzer, policy=SamplingPolicy(samples=1))
    assert not (tmp_path / "a.otio").exists()
    resumed = frame_id_analyzer()
    tag_file(cut, tmp_path / "b.otio", analyzer=resumed, policy=SamplingPolicy(samples=1))
    assert resumed.cached_frames == 1 and seen(resumed) == [30, 50]


def test_a_foreign_or_damaged_cache_is_never_trusted(tmp_path, monkeypatch):
    """A cache file of another schema is left alone (the run analyses without it); NaN rows are analysed again."""
    import sqlite3

    import numpy as np

    from cinemanet_edit.cache import ResultCache
    from cinemanet_edit.files import content_fingerprint as fingerprint

    media = make_video(tmp_path / "shot.mov", Fraction(25), 80, codec="mjpeg")
    cut = timeline_over(tmp_path, media)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "results.sqlite") as db:
        db.execute("CREATE TABLE frames (id INTEGER, payload TEXT)")
        db.execute("INSERT INTO frames VALUES (1, 'theirs')")
    monkeypatch.setenv("CINEMANET_CACHE", str(foreign))
    report = tag_file(cut, tmp_path / "a.otio", analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=1))
    assert report.analysed == 3 and labels(tmp_path / "a.otio") == [10, 30, 50]
    with sqlite3.connect(foreign / "results.sqlite") as db:
        assert db.execute("SELECT * FROM frames").fetchall() == [(1, "theirs")]

    monkeypatch.setenv("CINEMANET_CACHE", str(tmp_path / "ours"))
    first = frame_id_analyzer()
    tag_file(cut, tmp_path / "b.otio", analyzer=first, policy=SamplingPolicy(samples=1))
    cache = ResultCache()
    sizes = {"test.frame": 1024}
    cache.put(fingerprint(media), first.scorer.result_version(), {30: {"test.frame": np.full(1024, np.nan)}}, sizes)
    cache.close()
    again = frame_id_analyzer()
    tag_file(cut, tmp_path / "c.otio", analyzer=again, policy=SamplingPolicy(samples=1))
    assert again.cached_frames == 2 and seen(again) == [30]  # the NaN row was analysed again
    assert labels(tmp_path / "c.otio") == [10, 30, 50]


def test_results_of_an_older_model_input_are_not_reused(tmp_path, clip_25_mjpeg, monkeypatch):
    """A change to how frames become the network's input (decode.INPUT_VERSION) analyses them again."""
    from cinemanet_edit import decode

    monkeypatch.setenv("CINEMANET_CACHE", str(tmp_path / "cache"))
    first = frame_id_analyzer()
    classify_paths([clip_25_mjpeg], first, SamplingPolicy(samples=2))
    again = frame_id_analyzer()
    classify_paths([clip_25_mjpeg], again, SamplingPolicy(samples=2))
    assert again.cached_frames == 2
    monkeypatch.setattr(decode, "INPUT_VERSION", decode.INPUT_VERSION + 1)
    changed = frame_id_analyzer()
    classify_paths([clip_25_mjpeg], changed, SamplingPolicy(samples=2))
    assert changed.cached_frames == 0
