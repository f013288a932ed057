"""Every output format read back by readers nobody on this project wrote (pycmx and the ``timecode`` package for
EDL, OTIO's own ``fcp_xml`` adapter and lxml for FCP7 XML, Apple's DTDs and the documented timing rules for
FCPXML, Python's csv module), compared with the source timeline clip by clip and marker by marker, to the
frame, at 23.976, 24, 25, 29.97 DF and NDF and 59.94, with a 01:00:00:00 start, a trimmed nested stack, media
with start timecodes and media at 10, 12.5, 15 and 30 fps.

The expected frames are written down from how the test timeline is built (whole seconds of timecode), not
computed by the code under test.
"""

from __future__ import annotations

import csv
import io
import re
from fractions import Fraction

import opentimelineio as otio
import pycmx
import pytest
from conftest import EDITORIAL_RATES, SHARED, Expect, frames_of, per_second, source_cut
from lxml import etree

from cinemanet_edit.formats import write_outputs
from cinemanet_edit.timeline import read_timeline

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange

def edl_source_frames(e: Expect, rate: Fraction) -> int:
    """Where the clip's first frame is in source timecode counted at the EDL's rate."""
    return round((Fraction(e.media_start) / per_second(e.media_rate) + e.source_offset) * round(rate))


@pytest.fixture(scope="module", params=EDITORIAL_RATES, ids=[r[0] for r in EDITORIAL_RATES])
def written(request, tmp_path_factory):
    rid, rate, drop, fps = request.param
    tl, expected, sound = source_cut(rate, drop, fps)
    folder = tmp_path_factory.mktemp(f"truth{rid}")
    outs = [folder / n for n in ("cut.edl", "cut.xml", "cut.fcpxml", "cut.csv", "cut.otio")]
    written = write_outputs(tl, outs)
    return {"rate": rate, "drop": drop, "fps": fps, "folder": folder, "expected": expected, "sound": sound,
            "written": written, "timeline": tl}


def test_every_format_written_with_every_track(written):
    names = sorted(p.name for p in written["written"])
    assert names == ["cut.V2.edl", "cut.V3.edl", "cut.csv", "cut.edl", "cut.fcpxml", "cut.otio", "cut.xml"]


# ----------------------------------------------------------------------------------------------- EDL


def _loc_frames(event, fps, drop):
    out = []
    for statement in event.statements:
        text = getattr(statement, "text", "")
        m = re.match(r"LOC:\s+(\S+)\s+\w+\s+(.*)$", text or "")
        if m:
            out.append((m.group(2).strip(), frames_of(m.group(1), fps, drop)))
    return out


def test_edl_read_by_pycmx_and_timecode(written):
    rate, drop, fps, folder = written["rate"], written["drop"], written["fps"], written["folder"]
    by_track = {"V1": "cut.edl", "V2": "cut.V2.edl", "V3": "cut.V3.edl"}
    for track, file in by_track.items():
        text = (folder / file).read_text()
        assert ("FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME") in text
        edl = pycmx.parse_cmx3600(io.StringIO(text))
        video = [e for e in edl.events if e.edits[0].channels.video]
        expected = [x for x in written["expected"] if x.track == track]
        assert [e.edits[0].clip_name for e in video] == [x.name for x in expected]
        for event, x in zip(video, expected, strict=True):
            edit = event.edits[0]
            assert (";" in edit.record_in + edit.source_in) == drop
            r_in, r_out = frames_of(edit.record_in, fps, drop), frames_of(edit.record_out, fps, drop)
            s_in, s_out = frames_of(edit.source_in, fps, drop), frames_of(edit.source_out, fps, drop)
            assert (r_in, r_out) == (x.record_in, x.record_out), x.name
            assert s_in == edl_source_frames(x, rate), x.name
            assert s_out - s_in == r_out - r_in, x.name
            assert edit.source_file == x.path
            assert sorted(_loc_frames(event, fps, drop), key=lambda m: m[1]) == _avid_locators(x), x.name
        if track == "V1":  # the audio track rides in the first file
            audio = [e for e in edl.events if not e.edits[0].channels.video]
            (sound,) = audio
            s = written["sound"]
            assert sound.edits[0].channels.a1
            assert (frames_of(sound.edits[0].record_in, fps, drop), frames_of(sound.edits[0].record_out, fps, drop)) \
                == (s.record_in, s.record_out)
            assert frames_of(sound.edits[0].source_in, fps, drop) == edl_source_frames(s, rate)


def test_edl_read_by_otio_cmx_3600(written):
    """OTIO's own EDL reader: it places each file's first event at zero (no record start) and drops LOCs at
    drop-frame rates (upstream), so it checks names, lengths, source timecodes and the spacing of events."""
    rate, folder = written["rate"], written["folder"]
    for track, file in {"V1": "cut.edl", "V2": "cut.V2.edl", "V3": "cut.V3.edl"}.items():
        back = otio.adapters.read_from_file(str(folder / file), "cmx_3600", rate=float(rate))
        clips = list(back.video_tracks()[0].find_clips())
        expected = [x for x in written["expected"] if x.track == track]
        assert [c.name for c in clips] == [x.name for x in expected]
        first = expected[0].record_in
        for c, x in zip(clips, expected, strict=True):
            placed = c.range_in_parent()
            assert round(placed.start_time.value) == x.record_in - first, x.name
            assert round(placed.duration.value) == x.record_out - x.record_in, x.name
            assert round(c.source_range.start_time.value) == edl_source_frames(x, rate), x.name
        if track == "V1":
            (sound,) = back.audio_tracks()[0].find_clips()
            assert round(sound.source_range.start_time.value) == edl_source_frames(written["sound"], rate)


def _avid_locators(x: Expect):
    """Our locators sit on successive frames from the clip's first; other markers on their own frame."""
    ours = [(name, x.record_in + i) for i, (name, _) in enumerate(m for m in x.markers if not m[0].startswith("note"))]
    return sorted(ours + [m for m in x.markers if m[0].startswith("note")], key=lambda m: m[1])


# ----------------------------------------------------------------------------------------------- FCP7 XML


def test_fcp7_xml_read_by_otio_and_lxml(written):
    rate, drop, folder = written["rate"], written["drop"], written["folder"]
    n = round(rate)
    root = etree.parse(str(folder / "cut.xml")).getroot()
    assert root.findtext("sequence/timecode/displayformat") == ("DF" if drop else "NDF")
    items = root.findall(".//clipitem")
    assert len({i.get("id") for i in items}) == len(items) == 7
    assert all(len(i.findall("rate")) == 1 for i in items)
    tl = otio.adapters.read_from_file(str(folder / "cut.xml"), "fcp_xml")  # OTIO's reader, not ours
    start = round(tl.global_start_time.value)
    assert start == written["expected"][0].record_in
    tracks = {f"V{i}": t for i, t in enumerate(tl.video_tracks(), start=1)}
    tracks["A1"] = tl.audio_tracks()[0]
    for x in written["expected"] + [written["sound"]]:
        clips = [c for c in tracks[x.track].find_clips() if c.name == x.name]
        assert len(clips) == 1, (x.track, x.name)
        c = clips[0]
        placed = c.range_in_parent()
        r_in = start + round(placed.start_time.value)
        assert (r_in, r_in + round(placed.duration.value)) == (x.record_in, x.record_out), x.name
        # <in> counts sequence-rate frames from the media's first frame
        clip_in = round((c.source_range.start_time - c.media_reference.available_range.start_time)
                        .rescaled_to(c.source_range.start_time.rate).value)
        assert clip_in == round(x.source_offset * n), x.name
        assert otio.url_utils.filepath_from_url(c.media_reference.target_url) == x.path
        got = sorted(((m.name, r_in + round(m.marked_range.start_time.value) - clip_in) for m in c.markers),
                     key=lambda m: (m[1], m[0]))
        assert got == sorted(x.markers, key=lambda m: (m[1], m[0])), x.name


# ----------------------------------------------------------------------------------------------- FCPXML


def _t(text: str | None) -> Fraction:
    if not text:
        return Fraction(0)
    text = text.rstrip("s")
    if "/" in text:
        a, b = text.split("/")
        return Fraction(int(a), int(b))
    return Fraction(text)


def test_fcpxml_valid_and_placed_as_documented(written):
    rate, drop, folder = written["rate"], written["drop"], written["folder"]
    doc = etree.parse(str(folder / "cut.fcpxml"))
    dtd_path = SHARED / "dtd" / "FCPXMLv1_10.dtd"
    if dtd_path.exists():
        dtd = etree.DTD(str(dtd_path))
        assert dtd.validate(doc), dtd.error_log.filter_from_errors()
    root = doc.getroot()
    formats = {f.get("id"): 1 / _t(f.get("frameDuration")) for f in root.iter("format")}
    assets = {a.get("id"): a for a in root.iter("asset")}
    seq = root.find(".//sequence")
    assert seq.get("tcFormat") == ("DF" if drop else "NDF")
    assert formats[seq.get("format")] == rate
    found = {}

    def visit(el, record_start: Fraction, lane: str):
        asset = assets[el.get("ref")]
        url = (asset.find("media-rep").get("src") if asset.find("media-rep") is not None else asset.get("src"))
        m_rate = formats.get(asset.get("format"))
        local = _t(el.get("start"))
        markers = [(m.get("value"), round((record_start + _t(m.get("start")) - local) * rate))
                   for m in el.findall("marker")]
        found[(lane, el.get("name"))] = (round(record_start * rate), round((record_start + _t(el.get("duration")))
                                                                           * rate), url, local - _t(asset.get("start")),
                                         m_rate, markers)
        for child in el:
            if child.tag == "asset-clip":
                visit(child, record_start + _t(child.get("offset")) - local, child.get("lane"))

    for item in seq.find("spine"):
        if item.tag == "asset-clip":
            visit(item, _t(item.get("offset")), "0")
        for child in item:
            if child.tag == "asset-clip":
                visit(child, _t(item.get("offset")) + _t(child.get("offset")) - _t(item.get("start")),
                      child.get("lane"))
    lanes = {"V1": "0", "V2": "1", "V3": "2", "A1": "-1"}
    for x in written["expected"] + [written["sound"]]:
        r_in, r_out, url, offset, m_rate, markers = found[(lanes[x.track], x.name)]
        assert (r_in, r_out) == (x.record_in, x.record_out), x.name
        assert url == "file://" + x.path
        # asset-relative source time in real seconds, counted in media frames
        media_frames = offset * (m_rate or x.media_rate)
        assert media_frames == x.source_offset * per_second(x.media_rate), x.name
        if x.track != "A1":
            assert sorted(markers, key=lambda m: (m[1], m[0])) == sorted(x.markers, key=lambda m: (m[1], m[0]))


# ----------------------------------------------------------------------------------------------- CSV and OTIO


def test_csv_report_rows(written):
    fps, drop = written["fps"], written["drop"]
    rows = list(csv.DictReader((written["folder"] / "cut.csv").open()))
    got = {(r["track"], r["clip"]): (frames_of(r["record_in"], fps, drop), frames_of(r["record_out"], fps, drop),
                                     r["source_file"]) for r in rows}
    assert got == {(x.track, x.name): (x.record_in, x.record_out, x.path) for x in written["expected"]}


def test_our_readers_restore_the_same_frames(written):
    """EDL, FCP7 XML and FCPXML read back by our own readers: every clip on the same record frames, and the same
    source frames once counted at the media's rate."""
    rate, folder = written["rate"], written["folder"]
    from cinemanet_edit.layout import layout
    from cinemanet_edit.timecode import frames_on_grid

    def placed(tl):
        cut = layout(tl)
        return cut, {(c.name, c.record_in, c.record_out): c for c in cut.all_clips() if c.kind == "video"}

    original_cut, original = placed(written["timeline"])
    for file, args in (("cut.fcpxml", {}), ("cut.xml", {})):
        cut, back = placed(read_timeline(folder / file, **args))
        assert cut.drop_frame == written["drop"] and cut.start == original_cut.start, file
        assert set(back) == set(original), file
    tracks = [read_timeline(folder / f, rate=float(rate)) for f in ("cut.edl", "cut.V2.edl", "cut.V3.edl")]
    for tl in tracks:
        cut, back = placed(tl)
        assert cut.drop_frame == written["drop"]
        for key, c in back.items():
            x = original[key]
            media_rate = x.media.rate
            assert round(frames_on_grid(c.source_in, c.media.rate, media_rate)) == x.source_in, key
            assert [(m.name, m.offset) for m in c.markers if m.name.startswith("note")] == \
                [(m.name, m.offset) for m in x.markers if m.name.startswith("note")]
    assert sum(len(placed(t)[1]) for t in tracks) == len(original)
