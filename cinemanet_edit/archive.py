"""One archive file -> its shots and their labels: the unit of work that ``index`` maps over files.

The same pipeline functions as ``tag`` on a flat file (``detect_file_shots`` cuts it into shots, ``analyse``
labels them), so a catalogue row and a tagged clip of the same shot carry the same labels.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import decode
from .catalogue import ShotRow, SkippedFile
from .errors import CinemanetError
from .pipeline import DEFAULT_POLICY, Analyzer, Reporter, analyse, detect_file_shots
from .sampling import SamplingPolicy
from .timecode import render, stated_drop_frame
from .timeline import shot_refs
from .types import MediaInfo


@dataclass(frozen=True)
class AnalyzerSpec:
    """How to build the Analyzer: sent to each Ray actor, which loads the models itself, once."""

    batch_size: int | None = None
    runtime: str | None = None

    def build(self) -> Analyzer:
        kwargs = {"batch_size": self.batch_size} if self.batch_size else {}
        # the catalogue is this job's cache: the per-frame result cache would only add writers racing on it
        return Analyzer(runtime=self.runtime, cache=False, **kwargs)


@dataclass(frozen=True)
class MediaFile:
    """A file to index, with the fingerprint the catalogue was checked against (read once, by the driver)."""

    path: Path
    fingerprint: str


@dataclass
class FileResult:
    """What indexing one file gave: its rows, or why it has none."""

    path: str
    fingerprint: str = ""
    rows: list[ShotRow] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # time spent on it
    media_seconds: float = 0.0  # its duration
    frames: int = 0  # frames it has (all of them are decoded for shot detection)
    worker: int = 0  # the process that did it
    peak_memory: int = 0  # that process's peak resident memory so far, in bytes (0 where unknown)

    def messages(self) -> list[str]:
        """Its warning lines for the user, each naming the file."""
        lines = [f"{self.path}: skipped: {self.error}"] if self.error else []
        return lines + [w if w.startswith(self.path) else f"{self.path}: {w}" for w in self.warnings]


class _Collector(Reporter):
    """Keeps the warnings of one file's run for its result (a worker has no console)."""

    def __init__(self):
        self.messages: list[str] = []

    def warn(self, message: str) -> None:
        self.messages.append(message)


def find_media(paths: Iterable[Path]) -> tuple[list[Path], list[SkippedFile]]:
    """Media files under ``paths`` (folders recursively, in path order) and everything else, skipped with a
    reason. Symbolic links to folders are not followed (no loops); hidden files are skipped."""
    found: list[Path] = []
    skipped: list[SkippedFile] = []

    def consider(p: Path) -> None:
        if p.name.startswith("."):
            skipped.append(SkippedFile(str(p), "hidden file"))
        elif p.suffix.lower() not in decode.MEDIA_SUFFIXES:
            skipped.append(SkippedFile(str(p), f"not a media file ({p.suffix or 'no extension'})"))
        elif not p.is_file():
            skipped.append(SkippedFile(str(p), "not a regular file"))
        else:
            found.append(p.resolve())

    for root in paths:
        root = Path(root)
        if root.is_dir():
            for folder, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    consider(Path(folder) / name)
        elif root.exists():
            consider(root)
        else:
            skipped.append(SkippedFile(str(root), "no such file or folder"))
    unique = sorted(set(found))
    return unique, skipped


def index_file(media: MediaFile, analyzer: Analyzer, policy: SamplingPolicy = DEFAULT_POLICY) -> FileResult:
    """Cut one media file into shots and label each shot; never raises for a bad file (it is reported)."""
    started = time.perf_counter()
    reporter = _Collector()
    path = media.path
    result = FileResult(str(path), media.fingerprint, worker=os.getpid())
    try:
        files = decode.MediaFiles()  # probed once, for every stage below
        info = files.probe(path)
        result.media_seconds = info.frame_count / float(info.rate)
        result.frames = info.frame_count
        refs = shot_refs(path, info, detect_file_shots(path, reporter, files, runtime=analyzer.runtime).shots)
        analysis = analyse(refs, analyzer, policy, reporter, files)
        result.warnings = list(dict.fromkeys(reporter.messages + [f"shot {s.name}: {s.reason}"
                                                                  for s in analysis.skipped]))
        result.rows = rows_for(path, result.fingerprint, analyzer.models.version, info, refs, analysis.labels)
        if not result.rows:
            result.error = analysis.skipped[0].reason if analysis.skipped else "no shot could be analysed"
    except CinemanetError as exc:
        result.error = str(exc)
    except (OSError, ValueError, RuntimeError) as exc:  # a hostile file must not end the whole archive run
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    result.peak_memory = _peak_memory()
    return result


def _peak_memory() -> int:
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def rows_for(path: Path, fingerprint: str, model: str, info: MediaInfo, refs, labels) -> list[ShotRow]:
    rate = float(info.rate)
    # a file's own start timecode says its mode (01:00:00:00 at 29.97 is non-drop); without one, the default
    drop = stated_drop_frame(info.start_timecode, info.rate) if info.start_timecode else None
    rows = []
    for index, ref in enumerate(refs):  # a shot that could not be analysed keeps its number free
        if ref.key not in labels or ref.source is None:
            continue
        first = round(ref.source.start)
        end = first + round(ref.source.duration)
        rows.append(ShotRow(
            path=str(path), fingerprint=fingerprint, model=model, shot=index + 1, shots=len(refs),
            start_seconds=(first - info.start_frame) / rate, end_seconds=(end - info.start_frame) / rate,
            start_frame=first, end_frame=end, rate=rate,
            start_timecode=render(first, info.rate, drop), end_timecode=render(end, info.rate, drop),
            media_start_frame=info.start_frame, media_frames=info.frame_count,
            labels=dict(labels[ref.key].labels), width=info.width or None, height=info.height or None))
    return rows
