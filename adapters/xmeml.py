"""FCP7 XML (xmeml version 4) for Premiere Pro, DaVinci Resolve and Final Cut Pro 7: our writer, and OTIO's
``fcp_xml`` reader with clip markers moved into source time.

Why our own writer instead of OTIO's: OTIO's writes clip markers in absolute source time (an hour away from
the clip in Premiere when media has a start timecode), cannot write media at rates without SMPTE timecode
(10, 12.5, 15 fps), drops clips inside nested stacks, repeats ``<rate>`` and merges repeated uses of a clip.

What is written, by the documented xmeml rules:
- one ``<sequence>`` at the timeline's rate with its start ``<timecode>`` and ``displayformat`` (DF / NDF as
  the input had it); one video ``<track>`` per track of ``cinemanet_edit.layout`` (nested stacks flattened),
  the audio tracks untouched;
- a ``<clipitem>`` per clip with a unique id: ``start``/``end`` on the sequence, ``in``/``out`` in frames from
  the media's first frame, counted at the SEQUENCE rate (what Premiere and Resolve read, whatever the
  media's rate), and ``<file>`` written in full once then referenced by id;
- the file's own ``<rate>`` and ``<timecode>`` where the rate is an integer or NTSC timebase; other rates
  (12.5 fps) are conformed to the sequence rate;
- ``<marker>``s with name, comment and ``in``/``out`` in the clip's ``in`` space (``out`` -1 for a point),
  so they sit on the clip in every NLE.
"""

from __future__ import annotations

from fractions import Fraction

from lxml import etree

from cinemanet_edit import timecode
from cinemanet_edit.layout import Layout, Media, PlacedClip, layout
from cinemanet_edit.sanitize import xml_text
from cinemanet_edit.timecode import frames_on_grid, is_ntsc


def _rate(parent, rate: Fraction) -> None:
    el = etree.SubElement(parent, "rate")
    etree.SubElement(el, "timebase").text = str(round(rate))
    etree.SubElement(el, "ntsc").text = "TRUE" if is_ntsc(rate) else "FALSE"


def _expressible(rate: Fraction) -> bool:
    """xmeml rates are an integer timebase, optionally NTSC (x 1000/1001)."""
    return is_ntsc(rate) or rate.denominator == 1


def _timecode(parent, frames: int, rate: Fraction, drop: bool) -> None:
    el = etree.SubElement(parent, "timecode")
    _rate(el, rate)
    drop = drop and is_ntsc(rate) and round(rate) % 30 == 0
    etree.SubElement(el, "string").text = timecode.render(frames, rate, drop_frame=drop)
    etree.SubElement(el, "frame").text = str(frames)
    etree.SubElement(el, "displayformat").text = "DF" if drop else "NDF"


def _sub(parent, tag: str, text) -> None:
    etree.SubElement(parent, tag).text = xml_text(text)


class _Writer:
    def __init__(self, cut: Layout):
        self.cut = cut
        self.files: dict[str, str] = {}
        self.clip_ids = 0

    def file(self, parent, media: Media | None, placed: PlacedClip) -> None:
        key = (media.url or media.path or media.name) if media is not None else f"missing:{placed.name}"
        if key in self.files:
            etree.SubElement(parent, "file", id=self.files[key])
            return
        fid = f"file-{len(self.files) + 1}"
        self.files[key] = fid
        el = etree.SubElement(parent, "file", id=fid)
        seq = self.cut.rate
        name = media.name if media is not None and media.name else placed.name
        _sub(el, "name", name)
        if media is not None and media.url:
            _sub(el, "pathurl", media.url)
        rate = media.rate if media is not None and _expressible(media.rate) else seq
        if media is not None:
            start = round(frames_on_grid(media.start, media.rate, rate))
            length = media.duration if media.duration is not None else placed.source_out - media.start
            duration = round(frames_on_grid(length, media.rate, rate))
        else:
            start, duration = 0, placed.duration
        _rate(el, rate)
        _sub(el, "duration", max(duration, 1))
        _timecode(el, start, rate, self.cut.drop_frame and rate == seq)
        media_el = etree.SubElement(el, "media")
        if placed.kind == "video":
            video = etree.SubElement(media_el, "video")
            chars = etree.SubElement(video, "samplecharacteristics")
            _rate(chars, rate)
            _sub(chars, "width", (media.width if media is not None and media.width else 1920))
            _sub(chars, "height", (media.height if media is not None and media.height else 1080))
        else:
            audio = etree.SubElement(media_el, "audio")
            _sub(audio, "channelcount", 2)

    def clipitem(self, track_el, placed: PlacedClip) -> None:
        seq = self.cut.rate
        self.clip_ids += 1
        item = etree.SubElement(track_el, "clipitem", id=f"clipitem-{self.clip_ids}")
        _sub(item, "name", placed.name)
        _sub(item, "enabled", "TRUE")
        media = placed.media
        media_start = media.start if media is not None else placed.source_in
        media_rate = media.rate if media is not None else seq
        # in/out: frames from the media's first frame, at the sequence rate (Premiere's and Resolve's reading)
        clip_in = round(frames_on_grid(placed.source_exact - media_start, media_rate, seq))  # the input's frame
        if media is not None and media.duration is not None:
            duration = round(frames_on_grid(media.duration, media_rate, seq))
        else:
            duration = clip_in + placed.duration
        _sub(item, "duration", max(duration, clip_in + placed.duration))
        _rate(item, seq)
        _sub(item, "start", placed.record_in - self.cut.start)
        _sub(item, "end", placed.record_out - self.cut.start)
        _sub(item, "in", clip_in)
        _sub(item, "out", clip_in + placed.duration)
        self.file(item, media, placed)
        if placed.kind == "audio":
            source = etree.SubElement(item, "sourcetrack")
            _sub(source, "mediatype", "audio")
            _sub(source, "trackindex", 1)
        for marker in placed.markers:
            el = etree.SubElement(item, "marker")
            _sub(el, "comment", marker.comment)
            _sub(el, "name", marker.name)
            _sub(el, "in", clip_in + marker.offset)
            _sub(el, "out", clip_in + marker.offset + marker.duration if marker.duration > 0 else -1)

    def build(self) -> bytes:
        cut = self.cut
        root = etree.Element("xmeml", version="4")
        sequence = etree.SubElement(root, "sequence", id="sequence-1")
        _sub(sequence, "name", cut.name or "cinemanet-edit")
        _sub(sequence, "duration", cut.end - cut.start)
        _rate(sequence, cut.rate)
        _timecode(sequence, cut.start, cut.rate, cut.drop_frame)
        media = etree.SubElement(sequence, "media")
        video = etree.SubElement(media, "video")
        first = next((c.media for c in cut.all_clips() if c.media is not None and c.media.width), None)
        fmt = etree.SubElement(video, "format")
        chars = etree.SubElement(fmt, "samplecharacteristics")
        _rate(chars, cut.rate)
        _sub(chars, "width", first.width if first is not None else 1920)
        _sub(chars, "height", first.height if first is not None else 1080)
        for track in cut.video or ((),):
            track_el = etree.SubElement(video, "track")
            for placed in track:
                if placed.media is not None:  # generators are left out (they have no file)
                    self.clipitem(track_el, placed)
        if cut.audio:
            audio = etree.SubElement(media, "audio")
            for track in cut.audio:
                track_el = etree.SubElement(audio, "track")
                for placed in track:
                    if placed.media is not None:
                        self.clipitem(track_el, placed)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True,
                              doctype="<!DOCTYPE xmeml>")


def render(cut: Layout, drop_frame: bool | None = None) -> str:
    """The cut as FCP7 XML (xmeml 4); ``drop_frame`` overrides its timecode mode."""
    if drop_frame is not None:
        cut = cut.with_drop_frame(str(drop_frame).lower() in ("1", "true", "yes"))
    return _Writer(cut).build().decode("utf-8")


def write_to_string(input_otio, drop_frame: bool | None = None) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout."""
    return render(layout(input_otio), drop_frame)


def read_from_string(input_str):
    """OTIO's ``fcp_xml`` reader, then clip markers moved from xmeml's media-relative frames (the ``<in>`` space)
    into the clip's source time, where OTIO keeps markers, and the sequence's DF / NDF kept."""
    import opentimelineio as otio

    result = otio.adapters.read_from_string(input_str, "fcp_xml")
    for clip in result.find_clips():
        available = getattr(clip.media_reference, "available_range", None)
        if available is None or available.start_time.value == 0:
            continue
        for marker in clip.markers:
            marked = marker.marked_range
            marker.marked_range = otio.opentime.TimeRange(
                marked.start_time + available.start_time.rescaled_to(marked.start_time.rate), marked.duration)
    return result
