"""Frames of a flat file -> shots: the transition probabilities of ``transnetv2`` turned into boundaries.

Each run of frames above the threshold is one transition, cut in its middle (one frame for a cut, several for a
dissolve or fade), so the shots cover the file without holes. Small steps filter the runs, each testable on its
own: flashes and light changes that leave the picture's structure in place are no transition
(``drop_same_scene``); a fade through black is one transition (``fade_runs``, ``merge_fades``); runs touching
the file's first or last frame start no shot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import transnetv2
from .errors import CinemanetError
from .runtimes import TRUNK_PRECISION, detector
from .transnetv2 import FRAME_HEIGHT, FRAME_WIDTH, LONG_WINDOW, TransNetV2

if TYPE_CHECKING:
    from .decode import MediaFiles

THRESHOLD = 0.5  # the authors' default
SAME_SCENE = 0.8  # normalised luma correlation above which the frames around a transition are one scene
SURE = 0.9  # transitions scored at least this high are kept whatever the frames around them look like
DARK = 16  # mean luma (0-255) of a black frame in a fade
FADE_GAP = 20  # frames between the two halves of a fade through black


@dataclass(frozen=True)
class Shot:
    """A shot of a flat file: media frames [first, end)."""

    index: int
    first: int
    end: int


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of True."""
    runs, i, n = [], 0, len(flags)
    while i < n:
        if flags[i]:
            j = i
            while j + 1 < n and flags[j + 1]:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    return runs


def same_scene(a: np.ndarray, b: np.ndarray) -> bool:
    """Two small luma pictures show the same scene, whatever the exposure: their normalised correlation is
    high (a flash or a brightness change leaves the picture's structure in place; a new shot does not)."""
    a, b = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return norm > 1e-3 and float(a @ b) / norm > SAME_SCENE


def boundaries(probabilities: np.ndarray, threshold: float = THRESHOLD, luma: np.ndarray | None = None) -> list[int]:
    """Frames where a new shot starts. Each run of frames above ``threshold`` is one transition, cut in its
    middle (after it for a one-frame cut). With ``luma`` (small grey pictures of every frame) the runs are
    filtered first: ``drop_same_scene``, then fades through black merged (``fade_runs``, ``merge_fades``) and
    cut in the middle of their black. Runs touching the file's first or last frame (a fade-in at the head, a
    fade-out at the tail) start no shot."""
    probabilities = np.asarray(probabilities)
    runs = _runs(probabilities > threshold)
    if luma is None or len(luma) != len(probabilities):
        return cut_points(runs, np.zeros(len(probabilities), bool))
    dark = dark_frames(luma)
    runs = drop_same_scene(runs, probabilities, luma)
    return cut_points(merge_fades(runs + fade_runs(dark), dark), dark)


def drop_same_scene(runs: list[tuple[int, int]], probabilities: np.ndarray, luma: np.ndarray) -> list[tuple[int, int]]:
    """Runs scored below SURE whose frames just before and after show the same scene are no transition: a
    camera flash or a change of light, which the network sometimes scores above the threshold (cuts score above
    0.95)."""
    n = len(probabilities)
    kept = []
    for i, j in runs:
        before, after = max(0, i - 2), min(n - 1, j + 2)
        sure = probabilities[i:j + 1].max() >= SURE
        if i > 0 and j < n - 1 and not sure and same_scene(luma[before], luma[after]):
            continue
        kept.append((i, j))
    return kept


def dark_frames(luma: np.ndarray) -> np.ndarray:
    """Which frames are (near-)black: dark and flat, not a night scene."""
    flat = luma.reshape(len(luma), -1).astype(np.float32)
    return (flat.mean(axis=1) < DARK) & (flat.std(axis=1) < DARK / 2)


def fade_runs(dark: np.ndarray) -> list[tuple[int, int]]:
    """Runs of black frames between two shots: transitions of their own (the network scores fades weakly)."""
    return [(i, j) for i, j in _runs(dark) if i > 0 and j < len(dark) - 1]


def merge_fades(runs: list[tuple[int, int]], dark: np.ndarray) -> list[tuple[int, int]]:
    """Transitions that touch one fade through black (black frames in or between them, at most FADE_GAP frames
    apart) become one."""
    merged: list[tuple[int, int]] = []
    for i, j in sorted(runs):
        if merged and i <= merged[-1][1] + FADE_GAP and _dark_between(dark, merged[-1], (i, j)):
            merged[-1] = (merged[-1][0], max(merged[-1][1], j))
        else:
            merged.append((i, j))
    return merged


def cut_points(runs: list[tuple[int, int]], dark: np.ndarray) -> list[int]:
    """Each transition's cut: the middle of its black frames if it has any, else its own middle; a run that
    touches the file's first or last frame starts no shot."""
    starts = []
    for i, j in runs:
        black = [k for k in range(i, j + 1) if dark[k]]
        if i > 0 and j < len(dark) - 1:
            starts.append((black[0] + black[-1]) // 2 + 1 if black else (i + j) // 2 + 1)
    return starts


def _dark_between(dark: np.ndarray, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Two transitions belong to one fade when black frames lie in or between them."""
    return bool(dark[first[0]:second[1] + 1].any())


def shots_from_boundaries(starts: list[int], frame_count: int) -> list[Shot]:
    edges = [0, *[s for s in starts if 0 < s < frame_count], frame_count]
    return [Shot(i, a, b) for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False)) if b > a]


@dataclass
class Detection:
    """The shots of one file, with what it took."""

    shots: list[Shot]
    probabilities: np.ndarray  # per frame (empty when the detection came from the cache)
    frames: int
    seconds: float
    error: str | None = None  # decoding stopped early: the shots cover the frames that decoded
    cached: bool = False
    skipped: int = 0  # frames in still windows, where the network did not run

    def to_cache(self) -> dict:
        return {"shots": [[s.first, s.end] for s in self.shots], "frames": self.frames, "error": self.error}

    @classmethod
    def from_cache(cls, found: dict) -> Detection | None:
        """A detection as ``to_cache`` stored it; None when it is not one (a damaged cache row)."""
        try:
            spans = [(int(a), int(b)) for a, b in found["shots"]]
            frames = int(found["frames"])
        except (KeyError, TypeError, ValueError):
            return None
        error = found.get("error")
        shots = [Shot(i, a, b) for i, (a, b) in enumerate(spans)]
        return cls(shots, np.zeros(0, np.float32), frames, 0.0, error if isinstance(error, str) else None, True)


def detector_version() -> str:
    """Names what decides the shots: the weights, the windowing, the threshold and the post-processing."""
    from .models import sha256, shot_detector_file

    settings = (LONG_WINDOW, TRUNK_PRECISION, transnetv2.STILL_LEVEL, THRESHOLD, SAME_SCENE, SURE, DARK,
                FADE_GAP)
    return f"transnetv2-{sha256(shot_detector_file())[:12]}-" + "-".join(str(v) for v in settings)


def detect_shots(path: Path, frame_count: int | None = None, threshold: float = THRESHOLD,
                 net: TransNetV2 | None = None, progress=None, frames: range | None = None,
                 files: MediaFiles | None = None, long_window: int | None = LONG_WINDOW,
                 runtime: str | None = None) -> Detection:
    """Decode every frame of ``path`` at 48x27 in one pass, score it, and cut the file into shots. The
    shots cover [0, frame_count) when given (the probe's count), else the frames that decoded. With ``frames``
    only that range of the file is read (a clip's source range), and the shots count from its first frame.
    ``files``: the run's knowledge of its media files (a file found damaged is read on deterministic threads)."""
    import time

    from .decode import MediaFiles

    started = time.perf_counter()
    net = net or detector(runtime)
    media = files or MediaFiles()
    report = media.report(Path(path))
    detection = _detect(path, frame_count, threshold, net, progress, frames, report, long_window)
    if media.learn(report):  # damage met on frame threads: again, the same every run
        detection = _detect(path, frame_count, threshold, net, None, frames, media.report(Path(path)), long_window)
    detection.seconds = time.perf_counter() - started
    return detection


def _detect(path: Path, frame_count: int | None, threshold: float, net: TransNetV2, progress,
            frames: range | None, report, long_window: int | None) -> Detection:
    from .decode import decode_frames, every_frame

    lumas: list[np.ndarray] = []

    def small_frames():
        if frames is None:
            yield from every_frame(path, FRAME_WIDTH, FRAME_HEIGHT, report)
            return
        for frame in decode_frames(path, frames, FRAME_WIDTH, report, height=FRAME_HEIGHT, crop_bars=False):
            yield frame.image

    def frames_and_luma():
        for frame in small_frames():
            grey = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            lumas.append(grey[:26].reshape(13, 2, 24, 2).mean(axis=(1, 3)).astype(np.uint8))  # 24x13: 312 bytes
            yield frame

    parts = []
    stats: dict = {}
    for part in net.stream(frames_and_luma(), long_window, stats):
        parts.append(part)
        if progress is not None:
            progress(len(part))
    probabilities = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    total = frame_count if frame_count else len(probabilities)
    if report.error and not len(probabilities):
        raise CinemanetError(report.error)
    luma = np.stack(lumas) if lumas else None
    shots = shots_from_boundaries(boundaries(probabilities, threshold, luma), max(total, 1))
    return Detection(shots, probabilities, len(probabilities), 0.0, report.error, skipped=stats.get("skipped", 0))
