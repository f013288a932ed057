"""Reading timelines: formats through OTIO, the clip walk, media resolution."""

from __future__ import annotations

import opentimelineio as otio
import pytest
from fakes import frame_id_analyzer

from cinemanet_edit.errors import CinemanetError
from cinemanet_edit.pipeline import SamplingPolicy, tag_file
from cinemanet_edit.timeline import MediaResolver, clip_refs, read_timeline

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def test_url_forms():
    from cinemanet_edit.files import url_to_path as to_path

    assert str(to_path("file:///Volumes/Media/A%20Cam/clip%231.mov")) == "/Volumes/Media/A Cam/clip#1.mov"
    assert str(to_path("file://localhost/tmp/x.mov")) == "/tmp/x.mov"
    assert str(to_path("/plain/path.mov")) == "/plain/path.mov"
    assert str(to_path("media/rel.mov")) == "media/rel.mov"
    assert str(to_path(r"D:\Footage\A001.MOV")) == r"D:\Footage\A001.MOV"
    # media are local files only: other schemes are not paths (http://host/x.mov is not /x.mov)
    assert [to_path(u) for u in ("http://host/x.mov", "https://h/y.mp4", "http:/host/x.mov", "ftp://h/z")] \
        == [None] * 4
    found, reason = MediaResolver(None).resolve("http://host/x.mov")
    assert found is None and reason == "not a local file: http://host/x.mov"


def test_windows_path_relinks_by_name(tmp_path):
    (tmp_path / "A001.mov").write_bytes(b"x")
    found, _ = MediaResolver(None, (tmp_path,)).resolve(r"D:\Footage\Day 1\A001.MOV")
    assert found == tmp_path / "A001.mov"


def test_walk_keys_and_skips(tmp_path):
    def c(name):
        return otio.schema.Clip(name=name, media_reference=otio.schema.ExternalReference(target_url=f"{name}.mov"),
                                source_range=TR(RT(0, 24), RT(10, 24)))

    v1 = otio.schema.Track(children=[c("a"), otio.schema.Gap(duration=RT(5, 24)), c("b")])
    inner = otio.schema.Stack(children=[otio.schema.Track(children=[c("n1"), c("n2")])])
    v2 = otio.schema.Track(children=[otio.schema.Gap(duration=RT(5, 24)), inner, c("d")])
    a1 = otio.schema.Track(kind=otio.schema.TrackKind.Audio, children=[c("audio")])
    tl = otio.schema.Timeline()
    for t in (v1, a1, v2):
        tl.tracks.append(t)
    refs = clip_refs(tl, MediaResolver(tmp_path))
    assert [(r.key, r.name) for r in refs] == [("V1.1", "a"), ("V1.2", "b"), ("V2.1/V1.1", "n1"),
                                               ("V2.1/V1.2", "n2"), ("V2.2", "d")]
    assert all(r.skip_reason.startswith("media not found") for r in refs)


def test_edl_input_relinks_through_source_file_and_clip_name(tmp_path, clip_23976_tc, clip_25_mjpeg):
    edl = tmp_path / "cut.edl"
    edl.write_text(
        "TITLE: test\nFCM: NON-DROP FRAME\n\n"
        "001  ATC      V     C        01:00:00:10 01:00:00:14 01:00:00:00 01:00:00:04\n"
        f"* FROM CLIP NAME: {clip_23976_tc.name}\n\n"
        "002  BBB      V     C        00:00:01:06 00:00:01:10 01:00:00:04 01:00:00:08\n"
        f"* SOURCE FILE: {clip_25_mjpeg}\n")
    out = tmp_path / "out.otio"
    report = tag_file(edl, out, analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=1),
                      media_roots=[clip_23976_tc.parent])
    assert report.analysed == 2
    got = [int(c.metadata["cinemanet"]["labels"]["test.frame"]["title"])
           for c in otio.adapters.read_from_file(str(out)).find_clips()]
    # EDL times are read at 24 (the cmx adapter's default): frames on the timecode grid.
    assert got == [12, 33]


@pytest.mark.parametrize("adapter,suffix", [("fcp_xml", ".xml"), ("cinemanet_fcpxml", ".fcpxml")])
def test_nle_xml_inputs(tmp_path, clip_25_mjpeg, adapter, suffix):
    ref = otio.schema.ExternalReference(target_url=clip_25_mjpeg.as_uri(),
                                        available_range=TR(RT(0, 25), RT(100, 25)))
    clip = otio.schema.Clip(name="b", media_reference=ref, source_range=TR(RT(40, 25), RT(20, 25)))
    tl = otio.schema.Timeline(name="xml")
    tl.tracks.append(otio.schema.Track(children=[clip]))
    path = tmp_path / f"cut{suffix}"
    otio.adapters.write_to_file(tl, str(path), adapter_name=adapter)
    out = tmp_path / "out.otio"
    report = tag_file(path, out, analyzer=frame_id_analyzer(), policy=SamplingPolicy(samples=1))
    assert report.analysed == 1
    (c,) = list(otio.adapters.read_from_file(str(out)).find_clips())
    assert c.metadata["cinemanet"]["labels"]["test.frame"]["title"] == "50"


def test_reading_errors(tmp_path):
    with pytest.raises(CinemanetError, match="no such file"):
        read_timeline(tmp_path / "x.otio")
    empty = tmp_path / "empty.edl"
    empty.write_text("")
    with pytest.raises(CinemanetError, match="no events"):  # not "tagged 0 of 0 clips" and exit 0
        read_timeline(empty)
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"junk")
    with pytest.raises(CinemanetError, match="cannot open media"):
        read_timeline(junk)


@pytest.mark.parametrize("suffix", [".edl", ".xml", ".fcpxml", ".otio", ".aaf"])
def test_garbage_timelines_are_one_line_errors_or_empty(tmp_path, suffix):
    bad = tmp_path / f"garbage{suffix}"
    bad.write_bytes(bytes(range(256)) * 64)
    try:
        tl = read_timeline(bad)
    except CinemanetError as exc:
        assert "\n" not in str(exc)
    else:
        assert list(tl.find_clips()) == []


def test_oversized_timeline_is_refused(tmp_path, monkeypatch):
    from cinemanet_edit import timeline

    monkeypatch.setattr(timeline, "MAX_TIMELINE_BYTES", 100)
    big = tmp_path / "big.edl"
    big.write_text("TITLE: x\n" * 50)
    with pytest.raises(CinemanetError, match="too large"):
        read_timeline(big)


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    """mkstemp makes 0600 files; a tagged timeline must be readable by the rest of the edit suite."""
    import os

    from cinemanet_edit.files import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "out.otio", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "out.otio").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.otio"]
