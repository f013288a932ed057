"""The cut laid flat: where every clip and marker sits, in whole frames, by one exact mapping.

The writers that place clips by frame counts (EDL, FCP7 XML, FCPXML, the sidecar reports) read a ``Layout``
instead of walking OTIO themselves, so no two formats can disagree about a clip or a marker. The rules:

- Record times are frames of the timeline's rate, its start timecode included. Source times are frames of the
  media's own rate, its start timecode included. Values at a video rate count timecode frames
  (``timecode.frames_on_grid``), other rates (1, 600, 48000) are real seconds.
- Nested stacks are flattened with every clip kept: a nested stack's first video track stays on the track
  that holds the stack, its other tracks become new tracks after the top-level ones (``V3``, ``V4`` ...).
  A clip is cut to the part its parents show (a trimmed nested stack shows only part of its clips).
- Transitions are written as cuts (OTIO places the clips around a transition back to back anyway).
- Markers are placed by their offset from the clip's first visible frame; a range marker partly hidden keeps
  its visible part, markers wholly outside the visible part are dropped.
- Drop-frame comes from the input (``schema.drop_frame``, set by our readers, or an FCP7
  sequence's ``displayformat``), else from the rate: drop-frame at 29.97 and 59.94.

Only OTIO and the standard library here: OTIO imports the adapters, which import this, whenever it lists plugins.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import opentimelineio as otio

from . import schema
from .files import url_to_path
from .timecode import exact_rate, frames_on_grid, is_ntsc, is_video_rate

DEFAULT_RATE = Fraction(24)


@dataclass(frozen=True)
class Media:
    """A clip's media file as the writers need it."""

    url: str | None  # absolute file URL (or the reference's target as written, when not a local path)
    path: str | None  # local path: the file we analysed, else the URL's path
    name: str  # file name without folder, or the clip's name for missing media
    rate: Fraction  # the media's frame rate
    start: int  # the media's first frame as a frame count at ``rate`` (its start timecode)
    duration: int | None  # length in frames at ``rate``, when known
    width: int | None = None
    height: int | None = None
    reel: str | None = None  # the reel or tape name the timeline gives the clip (EDL reel, FCP7 <reel>, ALE Tape)


@dataclass(frozen=True)
class PlacedMarker:
    name: str
    comment: str
    color: str  # OTIO marker colour name ("RED")
    offset: int  # timeline frames from the clip's first visible frame
    duration: int  # timeline frames (0 for a point marker)
    category: str | None  # our category id for our markers, None for everyone else's


@dataclass(frozen=True)
class PlacedClip:
    """One clip where it is seen: record frames on the timeline, source frames in its media."""

    kind: str  # "video" or "audio"
    track: int  # 1-based output track of its kind
    name: str
    record_in: int  # timeline frames, the timeline's start timecode included
    record_out: int
    source_in: int  # media frames at ``media.rate``, the media's start timecode included
    source_out: int
    media: Media | None  # None for generators (titles, colour mattes)
    markers: tuple[PlacedMarker, ...]
    clip: otio.schema.Clip = field(compare=False, repr=False)  # for other formats' metadata (reel names)
    record: schema.ClipRecord | None = field(default=None, compare=False, repr=False)  # our labels, if any
    # the source start exactly as the input names it, in (fractional) media frames: ``source_in`` is the media
    # frame on screen then; a writer counting at another rate keeps the input's frame from this
    source_at: Fraction | None = field(default=None, compare=False, repr=False)

    @property
    def duration(self) -> int:
        return self.record_out - self.record_in

    def source_on(self, rate: Fraction) -> tuple[int, int]:
        """Source in and out as frames of another rate (an EDL's), same length as the record range: the frame
        the input names (10 fps media cut in at 59.94 frame 599 stays 599, not the next media frame's 600)."""
        start = round(frames_on_grid(self.source_exact, self.media.rate if self.media else rate, rate))
        return start, start + self.duration

    @property
    def source_exact(self) -> Fraction:
        return self.source_at if self.source_at is not None else Fraction(self.source_in)

    def media_frame(self, offset: int, rate: Fraction) -> int:
        """The media frame ``offset`` frames of ``rate`` after the clip's first visible frame."""
        media_rate = self.media.rate if self.media else rate
        return self.source_in + round(frames_on_grid(offset, rate, media_rate))


@dataclass(frozen=True)
class Layout:
    name: str
    rate: Fraction  # the timeline's frame rate
    drop_frame: bool  # timecodes are written drop-frame (29.97 / 59.94 only)
    start: int  # the timeline's first frame (its start timecode) in frames
    end: int  # the last record frame of any clip, exclusive (at least ``start``)
    video: tuple[tuple[PlacedClip, ...], ...]  # per output track, in record order
    audio: tuple[tuple[PlacedClip, ...], ...]

    @property
    def tracks(self) -> tuple[tuple[PlacedClip, ...], ...]:
        return self.video

    def all_clips(self):
        for track in self.video + self.audio:
            yield from track

    def with_drop_frame(self, value: bool) -> Layout:
        """The same cut with its timecode written drop-frame or not (only 29.97 and 59.94 have drop-frame)."""
        return replace(self, drop_frame=bool(value) and _drop_frame_rate(self.rate))


# ----------------------------------------------------------------------------------------------- rates


def timeline_rate(timeline: otio.schema.Timeline) -> Fraction:
    """The timeline's frame rate: its start time's, else the first clip's media rate, else 24."""
    start = timeline.global_start_time
    if start is not None and is_video_rate(start.rate):
        return exact_rate(start.rate)
    for clip in timeline.find_clips():
        rate = _media_rate(clip, None)
        if rate is not None:
            return rate
    return DEFAULT_RATE


def drop_frame(timeline: otio.schema.Timeline, rate: Fraction | None = None) -> bool:
    """Whether the timeline's timecode counts drop-frame: as the input said, else by the rate."""
    rate = timeline_rate(timeline) if rate is None else rate
    if not _drop_frame_rate(rate):
        return False
    stated = schema.drop_frame(timeline)
    if stated is not None:
        return stated
    fcp = timeline.metadata.get("fcp_xml")
    tc = fcp.get("timecode") if hasattr(fcp, "get") else None
    display = tc.get("displayformat") if hasattr(tc, "get") else None
    if isinstance(display, str) and display.upper() in ("DF", "NDF"):
        return display.upper() == "DF"
    return True


def _drop_frame_rate(rate: Fraction) -> bool:
    return is_ntsc(rate) and round(rate) % 30 == 0


def _media_rate(clip: otio.schema.Clip, fallback: Fraction | None) -> Fraction | None:
    """The rate of the clip's media: as measured when analysed, else its available range's, else its source's."""
    ref = clip.media_reference
    measured = schema.media_record(ref)
    if measured is not None and measured.rate:
        return exact_rate(measured.rate)
    available = getattr(ref, "available_range", None)
    if available is not None and is_video_rate(available.start_time.rate):
        return exact_rate(available.start_time.rate)
    try:
        source = clip.trimmed_range()
    except Exception:  # noqa: BLE001 - a clip with no range at all
        return fallback
    return exact_rate(source.start_time.rate) if is_video_rate(source.start_time.rate) else fallback


def on_screen(frames: Fraction) -> int:
    """The media frame on screen at a fractional frame count: the last one started (a millionth of a frame of
    float noise forgiven), as ``sampling.media_range`` counts it."""
    return math.floor(frames + Fraction(1, 10**6))


class Unplaceable(ValueError):
    """A time no frame count can hold (NaN, infinite, a rate of 0): the item is left out of the layout."""


def _on(t: otio.opentime.RationalTime, rate: Fraction) -> Fraction:
    """A time as an exact (unrounded) frame count of ``rate``."""
    if not (math.isfinite(t.value) and math.isfinite(t.rate) and t.rate > 0):
        raise Unplaceable(f"{t.value} at rate {t.rate}")
    return frames_on_grid(t.value, t.rate, rate)


# ----------------------------------------------------------------------------------------------- media


def media_of(clip: otio.schema.Clip, timeline_rate_: Fraction) -> Media | None:
    """The clip's media as writers need it; None for generators."""
    ref = clip.media_reference
    if isinstance(ref, otio.schema.GeneratorReference):
        return None
    rate = _media_rate(clip, timeline_rate_) or timeline_rate_
    measured = schema.media_record(ref) or schema.MediaRecord(None)
    url = getattr(ref, "target_url", None) or None
    local = url_to_path(url) if url else None
    path = measured.path if measured.path else (str(local) if local is not None else None)
    if measured.path:
        url = _file_uri(measured.path)
    elif url and not url.startswith("file:") and "://" not in url:
        url = Path(url).resolve().as_uri()  # a plain path
    available = getattr(ref, "available_range", None)
    try:
        start = round(_on(available.start_time, rate)) if available is not None else 0
        duration = round(_on(available.duration, rate)) if available is not None else None
    except Unplaceable:
        start, duration = 0, None
    name = Path(path).name if path else (getattr(ref, "name", "") or clip.name or "")
    return Media(url=url, path=path, name=name, rate=rate, start=start, duration=duration,
                 width=measured.width, height=measured.height, reel=reel_of(clip))


@lru_cache(maxsize=1024)
def _uri(path: str, cwd: str) -> str:
    return Path(cwd, path).resolve().as_uri()


def _file_uri(path: str) -> str:
    """A measured media path as a file URL; resolved once per path (a cut names few files, many times)."""
    return _uri(path, os.getcwd())


NOT_REELS = {"", "AX", "BL", "BLACK", "BARS"}  # an EDL's stand-ins for "no tape" and its generators


def _text_at(metadata, *keys) -> str | None:
    for key in keys:
        metadata = metadata.get(key) if hasattr(metadata, "get") else None
    return metadata.strip() if isinstance(metadata, str) else None


def reel_of(clip: otio.schema.Clip) -> str | None:
    """The reel or tape name the input timeline gives the clip, wherever its reader kept it: an EDL's reel
    (OTIO's and our reader), FCP7 XML's ``<file><reel><name>``, an ALE's Tape column; None when it names none."""
    ref = clip.media_reference
    found = (_text_at(clip.metadata, "cmx_3600", "reel"), _text_at(ref.metadata, "fcp_xml", "reel", "name"),
             _text_at(clip.metadata, "ALE", "Tape"), _text_at(ref.metadata, "ALE", "Tape"))
    return next((r for r in found if r and r.upper() not in NOT_REELS), None)


# ----------------------------------------------------------------------------------------------- walk


class _Builder:
    def __init__(self, rate: Fraction, records: Mapping | None = None):
        self.rate = rate
        self.records = records or {}  # clip -> ClipRecord already known (just written), not read back
        self.video: list[list[PlacedClip]] = []
        self.audio: list[list[PlacedClip]] = []

    def new_track(self, kind: str) -> int:
        tracks = self.video if kind == "video" else self.audio
        tracks.append([])
        return len(tracks)

    def item(self, item, kind: str, track: int, base: Fraction, window: tuple[Fraction, Fraction]) -> None:
        """Place ``item`` whose own first visible frame lands on record frame ``base``, seen inside ``window``.
        An item whose times cannot be counted (NaN, infinite) is left out; the rest of the cut is not."""
        try:
            self._item(item, kind, track, base, window)
        except Unplaceable:
            pass

    def _item(self, item, kind: str, track: int, base: Fraction, window: tuple[Fraction, Fraction]) -> None:
        if isinstance(item, otio.schema.Clip):
            self.clip(item, kind, track, base, window)
        elif isinstance(item, otio.schema.Track):
            self.track(item, kind, track, base, window)
        elif isinstance(item, otio.schema.Stack):
            self.stack(item, kind, track, base, window)

    def _child_window(self, base: Fraction, length: Fraction, window) -> tuple[Fraction, Fraction]:
        return max(base, window[0]), min(base + length, window[1])

    def _own(self, composition, base: Fraction, window):
        """(record frame of the composition's internal time zero, the window it shows). A composition whose
        length cannot be counted (one child with a NaN range) shows what its children place."""
        try:
            own = composition.trimmed_range()
            return base - _on(own.start_time, self.rate), self._child_window(base, _on(own.duration, self.rate),
                                                                             window)
        except Unplaceable:
            return base, window

    def track(self, track: otio.schema.Track, kind: str, number: int, base: Fraction, window) -> None:
        origin, window = self._own(track, base, window)
        position = origin  # transitions take no time: OTIO places their neighbours back to back
        for child in track:
            if isinstance(child, otio.schema.Transition):
                continue
            try:
                length = max(Fraction(0), _on(child.trimmed_range().duration, self.rate))
            except Unplaceable:
                continue  # no length: nothing of it can be placed, and it moves nothing after it
            if not isinstance(child, otio.schema.Gap):
                child_window = self._child_window(position, length, window)
                if child_window[0] < child_window[1]:
                    self.item(child, kind, number, position, child_window)
            position += length

    def stack(self, stack: otio.schema.Stack, kind: str, number: int, base: Fraction, window) -> None:
        origin, window = self._own(stack, base, window)
        first = True
        for child in stack:
            if isinstance(child, otio.schema.Track) and child.kind != (
                    otio.schema.TrackKind.Video if kind == "video" else otio.schema.TrackKind.Audio):
                continue
            if isinstance(child, (otio.schema.Gap, otio.schema.Transition)):
                continue
            target = number if first else self.new_track(kind)
            first = False
            self.item(child, kind, target, origin, window)  # every child starts at the stack's time zero

    def clip(self, clip: otio.schema.Clip, kind: str, number: int, base: Fraction, window) -> None:
        source = clip.trimmed_range()
        length = _on(source.duration, self.rate)
        lo, hi = self._child_window(base, length, window)
        record_in, record_out = round(lo), round(hi)
        if record_out <= record_in:
            return
        media = media_of(clip, self.rate)
        media_rate = media.rate if media is not None else self.rate
        trim = lo - base  # timeline frames hidden at the clip's head by a parent
        source_at = _on(source.start_time, media_rate) + frames_on_grid(trim, self.rate, media_rate)
        source_in = on_screen(source_at)  # as sampling counts it
        source_out = source_in + round(frames_on_grid(record_out - record_in, self.rate, media_rate))
        markers = []
        head = _on(source.start_time, self.rate) + trim  # the first visible frame, in source time on our grid
        for marker in clip.markers:
            marked = marker.marked_range
            try:
                offset = round(_on(marked.start_time, self.rate) - head)
                length = max(0, round(_on(marked.duration, self.rate)))
            except Unplaceable:
                continue
            if length and offset < 0 < offset + length:  # a range marker whose head a parent hides
                offset, length = 0, offset + length
            if not 0 <= offset < record_out - record_in:
                continue
            length = min(length, record_out - record_in - offset)
            ours = schema.marker_record(marker)
            if ours is not None and ours.chapter:
                continue  # our FCPXML chapter marker: the writer makes it again from the labels
            markers.append(PlacedMarker(name=marker.name or "", comment=marker.comment or "",
                                        color=str(marker.color or "RED"), offset=offset, duration=length,
                                        category=ours.category if ours is not None else None))
        tracks = self.video if kind == "video" else self.audio
        tracks[number - 1].append(PlacedClip(kind, number, clip.name or "", record_in, record_out, source_in,
                                             source_out, media, tuple(markers), clip, self._record(clip),
                                             source_at))

    def _record(self, clip: otio.schema.Clip) -> schema.ClipRecord | None:
        return self.records[clip] if clip in self.records else schema.clip_record(clip)


def layout(timeline: otio.schema.Timeline, records: Mapping | None = None) -> Layout:
    """Lay the timeline flat: every clip of every video and audio track, nested stacks included. A caller that
    writes several files computes it once and hands the same ``Layout`` to every writer. ``records``: the
    ``ClipRecord`` each clip was just given (``annotate``), by clip, spares reading them back."""
    rate = timeline_rate(timeline)
    try:
        start = round(_on(timeline.global_start_time, rate)) if timeline.global_start_time is not None else 0
    except Unplaceable:
        start = 0
    builder = _Builder(rate, records)
    everything = (Fraction(-10**12), Fraction(10**12))
    for kind, tracks in (("video", timeline.video_tracks()), ("audio", timeline.audio_tracks())):
        numbers = [builder.new_track(kind) for _ in tracks]
        for number, track in zip(numbers, tracks, strict=True):
            builder.track(track, kind, number, Fraction(start), everything)
    video = tuple(tuple(sorted(t, key=lambda c: c.record_in)) for t in builder.video)
    audio = tuple(tuple(sorted(t, key=lambda c: c.record_in)) for t in builder.audio)
    end = max([c.record_out for t in video + audio for c in t], default=start)
    return Layout(timeline.name or "", rate, drop_frame(timeline, rate), start, max(start, end), video, audio)
