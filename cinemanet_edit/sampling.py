"""Clip source ranges -> media frame indices to analyse (pure arithmetic on exact fractions).

How a source time maps to a media frame: editorial times count frames of timecode. A RationalTime whose
rate is a video frame rate (23.976, 24, 29.97, 59.94 ...) is read as a frame count on the timecode grid, so
24 and 23.976 describe the same frames (EDLs and many exports write 24 for 23.976 material). Other rates
(1, 600, 90000) are real seconds. The media's first frame sits at its start timecode: the reference's
``available_range`` start when the timeline has one, otherwise the file's embedded timecode, otherwise zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from . import timecode
from .types import ClipRef, MediaInfo, SamplePlan


@dataclass(frozen=True)
class SamplingPolicy:
    """How many frames to analyse per clip. Default: 3 evenly spaced, one more per 10 s beyond 10 s."""

    samples: int | None = None  # fixed count per clip
    every: float | None = None  # one sample per this many seconds
    base: int = 3
    extra_every: float = 10.0
    max_default: int = 30

    def count(self, seconds: Fraction) -> int:
        if self.samples:
            return self.samples
        extra = int(max(Fraction(0), seconds - Fraction(self.extra_every)) // Fraction(self.extra_every))
        return min(self.base + extra, self.max_default)


class SkipClip(Exception):
    """The clip cannot be analysed; the message says why (shown to the user)."""


@dataclass(frozen=True)
class MediaRange:
    """A clip's source range as media frames [first, end), and where that range starts in source time."""

    first: int
    end: int
    source_start: float  # the clip's first frame in its source time (units of the clip's rate)
    source_first: Fraction  # timecode frame of source_start
    origin: Fraction  # timecode frame of the media's first frame
    note: str | None = None


def media_range(ref: ClipRef, media: MediaInfo) -> MediaRange:
    """Where the clip's trimmed source range lies in the media file, in frames."""
    source = ref.source
    if source is None:
        raise SkipClip("clip has no source range")
    rate = media.rate
    start = timecode.frames_on_grid(source.start, source.rate, rate)
    length = timecode.frames_on_grid(source.duration, source.rate, rate)
    note = None
    if ref.available is not None:
        origin = timecode.frames_on_grid(ref.available.start, ref.available.rate, rate)
    else:
        origin = Fraction(media.start_frame)
        if start < origin and start + length <= media.frame_count:
            # A source range counted from zero over media that carries a start timecode.
            origin = Fraction(0)
            note = f"source range read from zero: it lies before the media's start timecode {media.start_timecode}"
    first = start - origin
    end = first + length
    lo, hi = max(Fraction(0), first), min(Fraction(media.frame_count), end)
    if hi - lo < 1 and not (hi > lo and media.frame_count == 1):
        span = f"{timecode.render(int(start), rate)}-{timecode.render(int(start + length), rate)}"
        media_tc = timecode.render(int(origin), rate)
        raise SkipClip(f"source range {span} lies outside the media ({media.frame_count} frames from {media_tc})")
    if (lo, hi) != (first, end) and note is None:
        note = "source range extends past the media; sampled the part that exists"
    return MediaRange(int(lo), max(int(lo) + 1, int(hi)), source.start, start, origin, note)


def sample_frames(first: int, end: int, rate: Fraction, policy: SamplingPolicy) -> tuple[int, ...]:
    """Evenly spaced frame indices inside [first, end), centred in equal segments (away from the cuts)."""
    length = end - first
    if policy.every:
        step = max(Fraction(1), Fraction(policy.every) * rate)  # at most every frame, however small --every is
        positions = []
        p = step / 2
        while p < length:
            positions.append(p)
            p += step
        positions = positions or [Fraction(length, 2)]
    else:
        n = max(1, min(policy.count(Fraction(length) / rate), length))  # --samples beyond the frames: each frame
        positions = [Fraction(length) * (2 * i + 1) / (2 * n) for i in range(n)]
    return tuple(sorted({first + min(length - 1, int(p)) for p in positions}))


def plan(ref: ClipRef, media: MediaInfo, policy: SamplingPolicy) -> tuple[SamplePlan, str | None]:
    """The frames to analyse for one clip, with their times in the clip's source space."""
    r = media_range(ref, media)
    frames = sample_frames(r.first, r.end, media.rate, policy)
    times = tuple(r.source_start + float(timecode.frames_on_grid(r.origin + m - r.source_first, media.rate,
                                                                 ref.source.rate)) for m in frames)
    return SamplePlan(ref.key, media.path, frames, times, ref.source.rate), r.note


def whole_media_plan(media: MediaInfo, policy: SamplingPolicy, key: str = "") -> SamplePlan:
    """Samples over a whole file (``classify`` on a video); times are media seconds."""
    frames = sample_frames(0, media.frame_count, media.rate, policy)
    times = tuple(float(m / media.rate) for m in frames)
    return SamplePlan(key or str(media.path), media.path, frames, times, 1.0)
