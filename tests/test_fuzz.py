"""Fuzzing the parsers a stranger's file reaches first: the EDL and FCPXML readers and the timecode parser.

Each reader either returns a timeline or raises its own typed error, whatever the bytes. It runs briefly by
default; ``CINEMANET_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py`` runs it longer.
"""

from __future__ import annotations

import os

import opentimelineio as otio
from cinemanet_edit_adapters import AdapterError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinemanet_edit import timecode
from cinemanet_edit.errors import CinemanetError

EXAMPLES = int(os.environ.get("CINEMANET_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TC = st.builds(lambda h, m, s, sep, f: f"{h:02d}:{m:02d}:{s:02d}{sep}{f:02d}", st.integers(0, 99),
               st.integers(0, 99), st.integers(0, 99), st.sampled_from([":", ";", ".", ","]), st.integers(0, 99))
EDL_LINE = st.one_of(
    st.builds(lambda n, reel, ch, tr, a, b, c, d: f"{n:03d}  {reel} {ch} {tr} {a} {b} {c} {d}",
              st.integers(0, 1200), st.sampled_from(["AX", "BL", "A001", "001", "x" * 40]),
              st.sampled_from(["V", "A", "A2", "B", "AA/V", "NONE"]),
              st.sampled_from(["C", "D 030", "W001 010", "K B"]),
              TC, TC, TC, TC),
    st.sampled_from(["TITLE: t", "FCM: DROP FRAME", "FCM: NON-DROP FRAME", "* FROM CLIP NAME: x.mov",
                     "* SOURCE FILE: /m/x.mov", "* LOC: 01:00:00:00 RED note", " |C:ResolveColorBlue |M:m |D:5",
                     "* TO CLIP NAME: y", "M2   AX       050.0                01:00:00:00"]),
    st.text(max_size=60),
)


@FUZZ
@given(st.lists(EDL_LINE, max_size=30), st.sampled_from([23.976, 24, 25, 29.97, 30, 59.94, 60]),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_edl_reader_returns_a_timeline_or_its_error(lines, rate, newline):
    text = newline.join(lines)
    try:
        result = otio.adapters.read_from_string(text, "cinemanet_edl", rate=rate)
    except (AdapterError, CinemanetError):
        return
    assert isinstance(result, otio.schema.Timeline)
    for clip in result.find_clips():
        assert clip.source_range.duration.value >= 0


TIME = st.one_of(st.sampled_from(["0s", "1/24s", "1001/24000s", "NaNs", "-5s", "1/0s", "abc", "", "3600s",
                                  "100/3s", "1e309s"]),
                 st.builds(lambda a, b: f"{a}/{b}s", st.integers(-10**6, 10**6), st.integers(-5, 10**6)))
ATTRS = st.dictionaries(st.sampled_from(["offset", "start", "duration", "ref", "lane", "name", "format",
                                         "tcStart", "frameDuration", "srcEnable"]),
                        st.one_of(TIME, st.sampled_from(["r1", "r2", "r9", "1", "-1", "0", "audio", "x"])),
                        max_size=6)
ELEMENT = st.tuples(st.sampled_from(["asset-clip", "clip", "gap", "title", "ref-clip", "mc-clip", "sync-clip",
                                     "transition", "video", "marker", "spine"]), ATTRS)


def _attrs(attrs: dict) -> str:
    return " ".join(f'{k}="{v}"' for k, v in attrs.items())


@FUZZ
@given(st.lists(ELEMENT, max_size=12), ATTRS, st.sampled_from(["1.5", "1.8", "1.10", "1.13", "2.0", "x"]))
def test_fcpxml_reader_returns_a_timeline_or_its_error(elements, format_attrs, version):
    items = "".join(f"<{tag} {_attrs(attrs)}/>" for tag, attrs in elements)
    doc = (f'<?xml version="1.0"?><fcpxml version="{version}"><resources><format id="r1" {_attrs(format_attrs)}/>'
           '<asset id="r2" start="0s" duration="100s" hasVideo="1" format="r1"><media-rep src="file:///m/x.mov"/>'
           f'</asset></resources><library><event><project name="p"><sequence format="r1" tcStart="0s"><spine>'
           f"{items}</spine></sequence></project></event></library></fcpxml>")
    try:
        result = otio.adapters.read_from_string(doc, "cinemanet_fcpxml")
    except (AdapterError, CinemanetError):
        return
    assert isinstance(result, otio.schema.Timeline)


@FUZZ
@given(st.text(max_size=20), st.sampled_from([23.976, 24, 25, 29.97, 30, 50, 59.94, 60, 12.5, 10]))
def test_timecode_parser_takes_any_text(text, rate):
    try:
        frames = timecode.parse(text, rate)
    except CinemanetError:
        return
    assert isinstance(frames, int)


@FUZZ
@given(st.integers(0, 24 * 3600 * 60), st.sampled_from([23.976, 24, 25, 29.97, 30, 50, 59.94, 60]),
       st.booleans())
def test_timecode_round_trips(frames, rate, drop):
    drop = drop and round(rate) in (30, 60) and round(rate) != rate
    assert timecode.parse(timecode.render(frames, rate, drop_frame=drop), rate, drop_frame=drop) == frames
