"""SMPTE timecode <-> frame counts, including drop-frame at 29.97 and 59.94.

Kept here rather than borrowed from opentimelineio because OTIO refuses rates such as 29.97 that are not
exactly 30000/1001, while media files and EDLs say "29.97" all the time.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from .errors import CinemanetError

_TC = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.,])(\d{2,3})$")


@lru_cache(maxsize=256)  # a run meets a few rates, asked about for every time it counts
def nominal_rate(rate: float | Fraction) -> int:
    """The integer frame count per timecode second: 24 for 23.976, 30 for 29.97."""
    return max(1, round(float(rate)))


@lru_cache(maxsize=256)
def is_ntsc(rate: float | Fraction) -> bool:
    """True for the x/1.001 family (23.976, 29.97, 59.94 ...), within rounding of how files write it."""
    nominal = nominal_rate(rate)
    return abs(float(rate) - nominal * 1000 / 1001) < 0.005 and abs(float(rate) - nominal) > 0.005


@lru_cache(maxsize=256)
def is_video_rate(rate: float | Fraction) -> bool:
    """A frame rate editorial times count frames at (23.976 ... 240), as opposed to 1, 600 or 90000."""
    rate = float(rate)
    return 10 <= rate <= 240 and (is_ntsc(rate) or abs(rate - round(rate)) < 1e-3)


@lru_cache(maxsize=1 << 14)  # every stage of a clip (recall, sampling, layout) asks the same few times
def frames_on_grid(value: float, rate: float, target_rate: float | Fraction) -> Fraction:
    """A time ``value`` at ``rate`` as frames on ``target_rate``'s timecode grid.

    At video rates a value counts timecode frames, so 24 and 23.976 name the same frames (EDLs and many
    exports write 24 for 23.976 material); other rates (1, 600, 90000, 12.5 fps) are real seconds."""
    if is_video_rate(rate) and is_video_rate(target_rate):
        if value == int(value):  # whole frames: integers are far cheaper than a float's exact Fraction
            return Fraction(int(value) * nominal_rate(target_rate), nominal_rate(rate))
        return Fraction(value) * nominal_rate(target_rate) / nominal_rate(rate)
    return Fraction(value) / exact_rate(rate) * exact_rate(target_rate)


@lru_cache(maxsize=256)
def exact_rate(rate: float | Fraction) -> Fraction:
    """Snap 23.976 / 29.97 / 59.94 to x*1000/1001 and near-integers to integers; keep anything else."""
    if is_ntsc(rate):
        return Fraction(nominal_rate(rate) * 1000, 1001)
    if abs(float(rate) - round(float(rate))) < 1e-3:
        return Fraction(round(float(rate)))
    return Fraction(rate).limit_denominator(100000)


def _drop_per_minute(nominal: int) -> int:
    return 2 * (nominal // 30)


def stated_drop_frame(tc: str, rate: float | Fraction) -> bool:
    """Whether a timecode string says drop-frame: ';' (or ',') before the frames, at 29.97 or 59.94 only."""
    m = _TC.match(tc.strip())
    return bool(m) and m.group(4) in ";," and is_ntsc(rate) and nominal_rate(rate) % 30 == 0


def parse(tc: str, rate: float | Fraction, drop_frame: bool | None = None) -> int:
    """Frame count of ``tc`` at ``rate``; drop-frame when the separator before the frames is ';' (or asked)."""
    m = _TC.match(tc.strip())
    if not m:
        raise CinemanetError(f"not a timecode: {tc!r}")
    h, mi, s, sep, f = m.groups()
    h, mi, s, f = int(h), int(mi), int(s), int(f)
    nominal = nominal_rate(rate)
    if drop_frame is None:
        drop_frame = stated_drop_frame(tc, rate)
    frames = ((h * 60 + mi) * 60 + s) * nominal + f
    if drop_frame:
        total_minutes = h * 60 + mi
        frames -= _drop_per_minute(nominal) * (total_minutes - total_minutes // 10)
    return frames


def render(frames: int, rate: float | Fraction, drop_frame: bool | None = None) -> str:
    """Timecode of a frame count; drop-frame by default at 29.97 and 59.94."""
    nominal = nominal_rate(rate)
    if drop_frame is None:
        drop_frame = is_ntsc(rate) and nominal % 30 == 0
    frames = int(frames)
    sign = "-" if frames < 0 else ""
    frames = abs(frames)
    if drop_frame:
        drop = _drop_per_minute(nominal)
        per_10min = nominal * 600 - drop * 9
        per_min = nominal * 60 - drop
        tens, rest = divmod(frames, per_10min)
        if rest > drop:
            frames += drop * 9 * tens + drop * ((rest - drop) // per_min)
        else:
            frames += drop * 9 * tens
    f = frames % nominal
    s = frames // nominal
    sep = ";" if drop_frame else ":"
    return f"{sign}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{sep}{f:02d}"
