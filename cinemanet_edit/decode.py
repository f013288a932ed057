"""Media files -> MediaInfo and decoded, scaled frames (PyAV).

Samples of one file are decoded in frame order in one pass: the decoder runs forward through close samples
and seeks only across long gaps, because a seek per sample costs a GOP of decoding each time. Frames are
scaled to the model's input size inside FFmpeg (swscale), not in numpy. A file that fails part-way yields
the frames it decoded and reports the error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from . import timecode
from .errors import CinemanetError
from .files import content_fingerprint
from .types import Frame, MediaInfo

# Seek only when the next sample is further ahead than this many seconds of decoding.
SEEK_GAP_SECONDS = 2.0
# A damaged file is given up after this many packets in a row fail to decode.
MAX_BAD_PACKETS = 25
LOCAL_ONLY = {"protocol_whitelist": "file"}  # FFmpeg opens nothing but local files, nested references included
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
MEDIA_SUFFIXES = {
    ".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m2ts", ".mts", ".ts",
    ".dv", ".ogv", ".wmv", ".flv", ".3gp", ".r3d", ".braw", ".mj2",
}


def check_regular_file(path: Path, what: str = "file") -> None:
    """Refuse anything that is not a regular file before reading it: a FIFO would block forever, a device
    (``/dev/zero``, also through a symlink) never ends."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CinemanetError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise CinemanetError(f"{path}: cannot read ({_reason(exc)})") from None
    if stat.S_ISDIR(mode):
        raise CinemanetError(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        raise CinemanetError(f"{path}: not a regular {what} (a pipe or a device)")


def _open(path: Path):
    """Open a local media file. FFmpeg gets it as a ``file:`` URL with only the file protocol allowed, so a
    name like ``http:/host/x.mp4`` is a file name and a playlist or reference movie cannot reach the network."""
    check_regular_file(Path(path), "media file")
    try:
        container = av.open("file:" + os.path.abspath(path), options=LOCAL_ONLY)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise CinemanetError(f"{path}: cannot open media ({_reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise CinemanetError(f"{path}: no video stream")
    if container.streams.video[0].codec_context is None:
        container.close()
        raise CinemanetError(f"{path}: no decoder for its video")
    return container


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _start_timecode(container) -> str | None:
    for source in (container.streams.video[0].metadata, container.metadata,
                   *(s.metadata for s in container.streams if s.type == "data")):
        tc = source.get("timecode")
        if tc:
            return tc
    return None


def probe(path: Path) -> MediaInfo:
    """Rate, length, size and start timecode of a media file's first video stream."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        raw_rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        rate = timecode.exact_rate(Fraction(raw_rate))
        frames = int(stream.frames or 0)
        if frames <= 0:
            if stream.duration is not None and stream.time_base:
                seconds = Fraction(stream.duration) * stream.time_base
            elif container.duration:
                seconds = Fraction(container.duration, av.time_base)
            else:
                seconds = Fraction(0)
            frames = max(1, round(seconds * rate))
        tc = _start_timecode(container)
        start = 0
        if tc:
            try:
                start = timecode.parse(tc, rate)
            except CinemanetError:
                tc = None
        return MediaInfo(path, rate, frames, stream.codec_context.width, stream.codec_context.height,
                         tc, start, stream.codec_context.name)


THREADS, DETERMINISTIC_THREADS = "AUTO", "SLICE"


class MediaFiles:
    """What one run knows of its media files, each found out once and shared by every stage: the probe (or
    why the file cannot be opened), the content fingerprint, and whether decoding met damaged data.

    FFmpeg's frame threads are bit-exact on sound data, but past damaged data what they return depends on
    timing: once a file is found damaged, every later pass decodes it on slice threads, the same every time.
    """

    def __init__(self, *known: MediaInfo):
        self._probes: dict[Path, MediaInfo | CinemanetError] = {}
        self._fingerprints: dict[Path, str] = {}
        self._damaged: set[Path] = set()
        for info in known:
            self._probes[self._key(info.path)] = info

    @staticmethod
    def _key(path: Path) -> Path:
        return Path(os.path.abspath(path))

    def probe(self, path: Path) -> MediaInfo:
        """The file's ``MediaInfo``; a file that cannot be opened raises the same one-line error every time."""
        key = self._key(path)
        if key not in self._probes:
            try:
                self._probes[key] = probe(path)
            except CinemanetError as exc:
                self._probes[key] = exc
        found = self._probes[key]
        if isinstance(found, CinemanetError):
            raise found
        return found

    def fingerprint(self, path: Path) -> str:
        """The file's content fingerprint (``files.content_fingerprint``); OSError when it cannot be read."""
        key = self._key(path)
        if key not in self._fingerprints:
            self._fingerprints[key] = content_fingerprint(path)
        return self._fingerprints[key]

    def report(self, path: Path) -> DecodeReport:
        """A fresh report for a decoding pass over ``path``, on the threads its history calls for."""
        damaged = self._key(path) in self._damaged
        return DecodeReport(Path(path), threads=DETERMINISTIC_THREADS if damaged else THREADS)

    def learn(self, report: DecodeReport) -> bool:
        """Take in what a pass found; True when it met damage on frame threads (its frames should be decoded
        again, on slice threads, to be the same every run)."""
        if not report.damaged:
            return False
        self._damaged.add(self._key(report.path))
        return report.threads != DETERMINISTIC_THREADS


def _decoded(container, stream, report: DecodeReport) -> Iterator:
    """Decoded frames of ``stream``, stepping over packets that fail to decode (damaged files decode partly)."""
    bad = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError) as exc:
            report.damaged = True
            bad += 1
            report.error = f"damaged data near {float(packet.pts or 0) * float(stream.time_base or 0):.2f} s: "\
                f"{_reason(exc)}"
            if bad >= MAX_BAD_PACKETS:
                return
            continue
        bad = 0
        yield from frames


@dataclass
class DecodeReport:
    """What happened while decoding one file: frames delivered, the error that stopped it, if any, and whether
    damaged data was met (on which threads: see ``MediaFiles``)."""

    path: Path
    delivered: int = 0
    missing: list[int] = field(default_factory=list)
    error: str | None = None
    damaged: bool = False
    threads: str = THREADS


class _Reader:
    """Walks one video stream forward, seeking only across long gaps, and finds the frame at an index."""

    def __init__(self, container, report: DecodeReport):
        self.container = container
        self.stream = container.streams.video[0]
        self.stream.thread_type = report.threads
        self.report = report
        self.tb = self.stream.time_base
        self.rate = timecode.exact_rate(Fraction(self.stream.average_rate or self.stream.guessed_rate or 25))
        start = self.stream.start_time
        self.origin = Fraction(start) * self.tb if start is not None else Fraction(0)
        self.gap = max(1, int(SEEK_GAP_SECONDS * self.rate))
        self.decoder = None
        self.last = None  # (index, av.VideoFrame) of the last frame decoded

    def _restart(self, target: int, back_seconds: float) -> None:
        """Seek to a keyframe at or before ``back_seconds`` ahead of the target (0 = from the start)."""
        if back_seconds == float("inf") or Fraction(target) / self.rate <= Fraction(back_seconds):
            self.container.seek(0)  # the container's own start
        else:
            seconds = Fraction(target) / self.rate - Fraction(back_seconds)
            self.container.seek(int((self.origin + seconds) / self.tb), stream=self.stream, backward=True)
        self.decoder = _decoded(self.container, self.stream, self.report)
        self.last = None

    def _advance(self, target: int):
        """Decode forward to the first frame at or past ``target``; (frame or None, first index decoded)."""
        first = None
        for decoded in self.decoder:
            t = Fraction(decoded.time) if decoded.time is not None else Fraction(0)
            index = round((t - self.origin) * self.rate)
            first = index if first is None else first
            self.last = (index, decoded)
            if index >= target:
                return decoded, first
        return None, first

    def frame_at(self, target: int):
        if self.last is not None and self.last[0] >= target:
            return self.last[1]
        position = self.last[0] if self.last is not None else None
        fresh = self.decoder is None
        if fresh or position is None or target - position > self.gap:
            if fresh and target <= self.gap:
                self.decoder = _decoded(self.container, self.stream, self.report)
            else:
                self._restart(target, 0)
            # Some containers (MPEG-PS, damaged files) seek past the target or onto a frame that cannot
            # decode: step further back until the decoder starts at or before the target.
            for back in (1, 4, 16, float("inf")):
                frame, first = self._advance(target)
                if first is not None and first <= target:
                    break
                self._restart(target, back)
            else:
                frame, first = self._advance(target)
        else:
            frame, _ = self._advance(target)
        if frame is None and self.last is not None and target - self.last[0] <= max(1, int(self.rate / 2)):
            # The container's frame count was an estimate: the stream ended just short of it.
            return self.last[1]
        return frame


# How a decoded frame becomes the network's input (scaling, bars cropped): part of the result cache's key, so a
# change here is never answered from results of the old input. 2: bars with a logo or text in them.
INPUT_VERSION = 2

BAR_LUMA = 24  # a letterbox or pillarbox bar: rows (or columns) whose pixels are this dark ...
BAR_SPREAD = 8  # ... and this flat (standard deviation of the dark ones), black rather than a dark scene ...
BAR_SHARE = 0.75  # ... over at least this share of the line: a distributor's logo or burned-in text may sit in it
MIN_BAR = 0.03  # at least 3% of the side each, and the picture at least half of it


def _bar_lines(lines: np.ndarray) -> np.ndarray:
    """Which lines (rows of a grey picture) belong to a bar: mostly flat black, whatever sits in the rest."""
    dark = lines < BAR_LUMA
    share = dark.mean(axis=1)
    counted = np.maximum(dark.sum(axis=1), 1)
    mean = np.where(dark, lines, 0).sum(axis=1) / counted
    spread = np.sqrt(np.maximum(np.where(dark, lines ** 2, 0).sum(axis=1) / counted - mean ** 2, 0))
    return (share >= BAR_SHARE) & (spread < BAR_SPREAD)


def picture_box(frame) -> tuple[float, float, float, float] | None:
    """The picture inside letterbox (top and bottom) or pillarbox (left and right) bars, as fractions
    (left, top, right, bottom) of the frame; None when there are no bars. Both bars of a pair must be there
    and of about the same size, so a dark sky or a dark floor is not taken for a bar."""
    grey = frame.to_ndarray(width=128, height=72, format="gray").astype(np.float32)

    def bars(lines: np.ndarray) -> tuple[int, int]:
        dark = _bar_lines(lines)
        head = int(np.argmin(dark)) if not dark.all() else len(dark)
        tail = int(np.argmin(dark[::-1])) if not dark.all() else len(dark)
        return head, tail

    top, bottom = bars(grey)
    left, right = bars(grey.T)
    h, w = grey.shape
    box = [0.0, 0.0, 1.0, 1.0]
    if top + bottom < h / 2 and min(top, bottom) >= MIN_BAR * h and abs(top - bottom) <= 0.04 * h + 1:
        box[1], box[3] = (top + 0.5) / h, 1 - (bottom + 0.5) / h
    if left + right < w / 2 and min(left, right) >= MIN_BAR * w and abs(left - right) <= 0.04 * w + 1:
        box[0], box[2] = (left + 0.5) / w, 1 - (right + 0.5) / w
    return None if box == [0.0, 0.0, 1.0, 1.0] else tuple(box)


def _scaled(frame, size: int, height: int, crop_bars: bool) -> np.ndarray:
    """The frame scaled to size x height in FFmpeg; with ``crop_bars`` the picture without its letterbox or
    pillarbox bars, as the network sees it (frames without bars take the direct path, unchanged)."""
    box = picture_box(frame) if crop_bars else None
    if box is None:
        return frame.to_ndarray(width=size, height=height, format="rgb24")
    width = min(frame.width, 960)
    full = frame.to_ndarray(width=width, height=max(2, round(frame.height * width / frame.width)), format="rgb24")
    grey = full.astype(np.float32).mean(axis=2)

    def edge(lines: np.ndarray) -> int:  # the exact bar size at this resolution
        return int(np.argmin(_bar_lines(lines)))

    top = bottom = left = right = 0
    if box[1] > 0:
        top, bottom = edge(grey), edge(grey[::-1])
    if box[0] > 0:
        left, right = edge(grey.T), edge(grey.T[::-1])
    crop = np.ascontiguousarray(full[top:full.shape[0] - bottom, left:width - right])
    return av.VideoFrame.from_ndarray(crop, format="rgb24").reformat(width=size, height=height).to_ndarray(
        format="rgb24")


def _upright(frame, image: np.ndarray) -> np.ndarray:
    """The image as it is meant to be seen: rotation metadata (phone video) and EXIF orientation (photos), both
    of which FFmpeg reports as the frame's display rotation (degrees counter-clockwise)."""
    try:
        quarter_turns = round((frame.rotation or 0) / 90) % 4
    except (AttributeError, ValueError, TypeError):
        return image
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def decode_frames(path: Path, indices: Iterable[int], size: int, report: DecodeReport | None = None, *,
                  height: int | None = None, crop_bars: bool = True) -> Iterator[Frame]:
    """Yield ``Frame``s for the given 0-based frame indices of ``path``, scaled to size x size RGB (size x
    ``height`` when given), the letterbox or pillarbox bars cropped first unless ``crop_bars`` is False (the
    model's input crops them; thumbnails and the shot detector see the whole frame).

    Indices are visited in increasing order. A frame index counts frames from the first frame's timestamp
    at the stream's rate, so containers that start at a non-zero timestamp index like any other.
    Missing frames (past the end, undecodable) are listed in ``report.missing``.
    """
    targets = sorted(set(indices))
    report = report if report is not None else DecodeReport(Path(path))
    if not targets:
        return
    try:
        container = _open(path)
    except CinemanetError as exc:
        report.error = str(exc)
        report.missing.extend(targets)
        return
    with container:
        reader = _Reader(container, report)
        for n, target in enumerate(targets):
            try:
                frame = reader.frame_at(target)
            except (av.error.FFmpegError, ValueError, OSError) as exc:
                report.error = f"decoding stopped before frame {target}: {_reason(exc)}"
                frame = None
            if frame is None:
                report.missing.extend(targets[n:])
                return
            image = _upright(frame, _scaled(frame, size, height or size, crop_bars))
            report.delivered += 1
            yield Frame(Path(path), target, image)


def every_frame(path: Path, width: int, height: int, report: DecodeReport | None = None) -> Iterator[np.ndarray]:
    """Every frame of the first video stream in decode order, scaled to width x height RGB inside FFmpeg (the
    shot detector's input). A damaged file yields the frames that decode and reports the error."""
    report = report if report is not None else DecodeReport(Path(path))
    try:
        container = _open(path)
    except CinemanetError as exc:
        report.error = str(exc)
        return
    with container:
        stream = container.streams.video[0]
        stream.thread_type = report.threads
        try:
            for frame in _decoded(container, stream, report):
                report.delivered += 1
                yield frame.to_ndarray(width=width, height=height, format="rgb24")
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            report.error = f"decoding stopped after frame {report.delivered}: {_reason(exc)}"
