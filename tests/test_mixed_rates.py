"""A clip whose source start falls inside a media frame: every writer keeps the frame the input names, read
back by pycmx + `timecode` and OTIO's own readers (not ours)."""

from __future__ import annotations

import io
from fractions import Fraction

import opentimelineio as otio
import pycmx
import pytest
from conftest import truth_media
from timecode import Timecode

from cinemanet_edit import formats
from cinemanet_edit.layout import layout

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _cut(rate: Fraction, media_rate: Fraction, source_in: int) -> otio.schema.Timeline:
    clip = otio.schema.Clip(name="shot", media_reference=truth_media("M", media_rate),
                            source_range=TR(RT(source_in, float(rate)), RT(60, float(rate))))
    tl = otio.schema.Timeline(name="mixed", tracks=[otio.schema.Track(children=[clip])])
    tl.global_start_time = RT(0, float(rate))
    return tl


@pytest.mark.parametrize("rate,fps,media_rate,source_in,on_screen", [
    (Fraction(60000, 1001), "59.94", Fraction(10), 599, 99),  # 99.83 media frames: 99 is on screen
    (Fraction(30000, 1001), "29.97", Fraction(24000, 1001), 7, 5),  # 5.6
])
def test_edl_and_fcp7_keep_the_source_frame_the_input_names(tmp_path, rate, fps, media_rate, source_in, on_screen):
    tl = _cut(rate, media_rate, source_in)
    (placed,) = layout(tl).video[0]
    assert placed.source_in == on_screen  # the media frame sampling analyses
    _assert_written_back(tmp_path, tl, rate, fps, source_in)


@pytest.mark.parametrize("rate,fps,media_rate,source_in", [
    (Fraction(60000, 1001), "59.94", Fraction(10), 215784 + 599),  # 01:00:09;59, drop-frame an hour in
    (Fraction(30000, 1001), "29.97", Fraction(24000, 1001), 107892 + 7),  # 01:00:00;07
])
def test_drop_frame_source_an_hour_in_is_written_back_to_the_frame(tmp_path, rate, fps, media_rate, source_in):
    """Where drop-frame timecode and the frame count part (an hour in), the EDL's source timecode read by the
    `timecode` package and OTIO's readers is still the input's frame."""
    _assert_written_back(tmp_path, _cut(rate, media_rate, source_in), rate, fps, source_in)


def _assert_written_back(tmp_path, tl, rate, fps, source_in):
    edl, xml = tmp_path / "c.edl", tmp_path / "c.xml"
    formats.write_outputs(tl, [edl, xml])
    (event,) = pycmx.parse_cmx3600(io.StringIO(edl.read_text())).events
    assert ";" in event.edits[0].source_in  # drop-frame, as the timeline counts
    assert Timecode(fps, event.edits[0].source_in).frames - 1 == source_in
    back = otio.adapters.read_from_file(str(edl), "cmx_3600", rate=float(rate))
    assert round(back.find_clips()[0].source_range.start_time.value) == source_in
    fcp7 = otio.adapters.read_from_file(str(xml), "fcp_xml").find_clips()[0]
    assert round(fcp7.source_range.start_time.rescaled_to(float(rate)).value) == source_in


@pytest.mark.parametrize("source_in,on_screen", [(7, 8), (9, 11)])  # 8.75 and 11.25 media frames
def test_fcpxml_starts_on_the_media_frame_on_screen(source_in, on_screen):
    """30 fps media in a 23.976 cut: the FCPXML clip starts on the media frame sampling analysed, so a re-tag
    of our FCPXML (and FCP) sees the same frames; the DTD-free check is the start's exact time."""
    from lxml import etree

    from cinemanet_edit import sampling
    from cinemanet_edit.types import ClipRef, MediaInfo, TimeSpan

    rate = Fraction(24000, 1001)
    tl = _cut(rate, Fraction(30), source_in)
    text = otio.adapters.write_to_string(tl, "cinemanet_fcpxml")
    clip = next(e for e in etree.fromstring(text.encode()).iter("asset-clip") if e.getparent().tag == "spine")
    assert Fraction(clip.get("start")[:-1]) == Fraction(on_screen, 30)
    info = MediaInfo(None, Fraction(30), 10**5, 1920, 1080)

    def first(timeline):
        c = timeline.find_clips()[0]
        s = c.source_range
        return sampling.media_range(ClipRef("k", "k", None, TimeSpan(s.start_time.value, s.duration.value,
                                                                      s.start_time.rate), None), info).first

    again = otio.adapters.read_from_string(text, "cinemanet_fcpxml")
    assert first(tl) == first(again) == on_screen
