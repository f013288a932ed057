"""Source ranges -> media frames: pure arithmetic, no media needed."""

from fractions import Fraction
from pathlib import Path

import pytest

from cinemanet_edit.sampling import SamplingPolicy, SkipClip, media_range, sample_frames
from cinemanet_edit.timecode import frames_on_grid
from cinemanet_edit.types import ClipRef, MediaInfo, TimeSpan

R23, R2997 = Fraction(24000, 1001), Fraction(30000, 1001)


def media(rate=R23, frames=1000, tc=None, start=0):
    return MediaInfo(Path("m.mov"), rate, frames, 1920, 1080, tc, start)


def clip(start, duration, rate, available=None):
    return ClipRef("V1.1", "c", Path("m.mov"), TimeSpan(start, duration, rate), available)


def test_24_and_23976_are_the_same_timecode_grid():
    assert frames_on_grid(86400, 24, R23) == frames_on_grid(86400, float(R23), R23) == 86400


def test_real_time_rates_are_seconds():
    assert frames_on_grid(600 * 10, 600, Fraction(25)) == 250
    assert frames_on_grid(5, 1, R23) == 5 * R23
    assert frames_on_grid(25, 12.5, Fraction(25)) == 50  # 12.5 fps is no timecode rate: real seconds


def test_file_timecode_origin():
    r = media_range(clip(86400 + 100, 48, float(R23)), media(tc="01:00:00:00", start=86400))
    assert (r.first, r.end, r.note) == (100, 148, None)


def test_available_range_origin_wins_over_file():
    available = TimeSpan(90000, 1000, 25)
    r = media_range(clip(90010, 25, 25, available), media(Fraction(25), tc="00:00:00:00"))
    assert (r.first, r.end) == (10, 35)


def test_drop_frame_source_over_drop_frame_media():
    # media starts 01:00:00;00 (107892); clip from 01:00:10;00 (107892 + 300)
    r = media_range(clip(107892 + 300, 30, float(R2997)), media(R2997, 2000, "01:00:00;00", 107892))
    assert (r.first, r.end) == (300, 330)


def test_zero_based_range_over_timecoded_media_is_read_from_zero():
    r = media_range(clip(10, 20, float(R23)), media(tc="01:00:00:00", start=86400))
    assert (r.first, r.end) == (10, 30) and "read from zero" in r.note


def test_range_outside_media_is_skipped():
    with pytest.raises(SkipClip, match="lies outside the media"):
        media_range(clip(86400 + 5000, 48, float(R23)), media(tc="01:00:00:00", start=86400))


def test_range_past_the_end_is_clamped_with_a_note():
    r = media_range(clip(980, 48, float(R23)), media())
    assert (r.first, r.end) == (980, 1000) and "past the media" in r.note


def test_even_centred_samples():
    assert sample_frames(100, 160, R23, SamplingPolicy()) == (110, 130, 150)
    assert sample_frames(0, 2, R23, SamplingPolicy()) == (0, 1)
    assert sample_frames(0, 10, Fraction(25), SamplingPolicy(samples=1)) == (5,)


def test_longer_clips_get_more_samples():
    policy = SamplingPolicy()
    assert [policy.count(Fraction(s)) for s in (2, 10, 19, 20, 35, 600)] == [3, 3, 3, 4, 5, 30]


def test_every_seconds():
    assert sample_frames(0, 250, Fraction(25), SamplingPolicy(every=2)) == (25, 75, 125, 175, 225)
    assert sample_frames(0, 10, Fraction(25), SamplingPolicy(every=60)) == (5,)
