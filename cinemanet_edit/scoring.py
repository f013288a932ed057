"""Sample plans -> per-frame probabilities: the one path ``tag`` and ``classify`` share.

The result cache answers first (keyed by the file's content fingerprint, frame and model version); the frames
it lacks are decoded in one forward pass per file, in a background thread ahead of inference, and classified in batches.
The classifier (and so TensorFlow or LiteRT) is built only when a frame is missing from the cache.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import decode
from .cache import ResultCache
from .classify import BATCH_SIZE, Classifier
from .models import ModelSet
from .types import SamplePlan

FLUSH_EVERY = 32  # frames between cache writes: a kill loses at most this many analysed frames


class Progress:
    """Progress and warnings; the CLI shows a bar, tests and the Resolve bridge pass their own."""

    def start(self, total: int, unit: str) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def note(self, message: str) -> None:
        """Something worth knowing that is not a problem (a one-time preparation that takes a while)."""

    def close(self) -> None:
        pass


class _Decoded(NamedTuple):
    """Which frame a decoded image is: ``again`` marks a damaged file's second, deterministic pass."""

    path: Path
    frame: int
    again: bool


@dataclass
class Scored:
    """Probabilities of every (file, frame) that decoded, and what each file's decoding reported."""

    scores: dict[tuple[Path, int], dict[str, np.ndarray]] = field(default_factory=dict)
    reports: dict[Path, decode.DecodeReport] = field(default_factory=dict)
    cached: int = 0  # of the scores, how many the result cache served

    def samples(self, plan: SamplePlan) -> list[tuple[float, dict[str, np.ndarray]]]:
        """(source time, probabilities) of the plan's frames that decoded, in plan order."""
        return [(t, self.scores[(plan.media_path, m)]) for m, t in zip(plan.frames, plan.source_times, strict=True)
                if (plan.media_path, m) in self.scores]


class FrameScorer:
    """Cache, decoder and classifier together; the classifier is built on first need."""

    def __init__(self, models: ModelSet, classifier_factory: Callable[[], Classifier], batch_size: int = BATCH_SIZE,
                 use_cache: bool = True):
        self.models = models
        self.batch_size = batch_size
        self.use_cache = use_cache
        self._factory = classifier_factory
        self._classifier: Classifier | None = None

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            self._classifier = self._factory()
        return self._classifier

    @property
    def classifier_loaded(self) -> bool:
        return self._classifier is not None

    def score(self, plans: Iterable[SamplePlan], progress: Progress,
              on_frame: Callable[[Path, int, np.ndarray], None] | None = None,
              files: decode.MediaFiles | None = None) -> Scored:
        """Probabilities of every planned frame; ``on_frame`` sees each frame this run decodes (the report
        makes its thumbnails from them). ``files``: the run's knowledge of its files (probes, fingerprints,
        damage), so that nothing is found out twice."""
        media = files or decode.MediaFiles()
        wanted: dict[Path, set[int]] = defaultdict(set)
        for plan in plans:
            wanted[plan.media_path].update(plan.frames)
        progress.start(sum(len(v) for v in wanted.values()), "frame")
        out = Scored(reports={path: media.report(path) for path in wanted})
        cache = self._cache()
        try:
            missing = self._from_cache(cache, wanted, out, progress, media)
            if missing:  # only now is the model loaded
                self._classify(self._decoded(missing, out, media, on_frame), cache, out, progress, media, missing)
        finally:
            if cache is not None:
                cache.close()
        return out

    def result_version(self) -> str:
        """The cache's model key: the model set and how frames become its input."""
        return f"{self.models.version}/input{decode.INPUT_VERSION}"

    def _sizes(self) -> dict[str, int]:
        return {h.category.id: len(h.category.labels) for h in self.models.heads}

    def _from_cache(self, cache: ResultCache | None, wanted: dict[Path, set[int]], out: Scored, progress: Progress,
                    media: decode.MediaFiles) -> dict[Path, list[int]]:
        """Fill ``out`` with what the result cache holds; returns the frames still to analyse, per file."""
        missing: dict[Path, list[int]] = {}
        for path, indices in wanted.items():
            todo = sorted(indices)
            key = _fingerprint(media, path) if cache is not None else None
            if key is not None:
                try:
                    hits = cache.get(key, todo, self.result_version(), self._sizes())
                except sqlite3.Error:
                    hits = {}
                out.scores.update({(path, frame): scores for frame, scores in hits.items()})
                out.reports[path].delivered += len(hits)
                out.cached += len(hits)
                progress.advance(len(hits))
                todo = [i for i in todo if i not in hits]
            if todo:
                missing[path] = todo
        return missing

    def _decoded(self, missing: dict[Path, list[int]], out: Scored, media: decode.MediaFiles,
                 on_frame) -> Iterator[tuple[_Decoded, np.ndarray]]:
        """(which frame, image) of every missing frame, file by file. A file that meets damage on frame threads
        is decoded again on slice threads, its frames marked ``again``: those replace the first pass's."""
        def one_pass(path: Path, indices: list[int], again: bool):
            for frame in decode.decode_frames(path, indices, self.models.input_size, out.reports[path]):
                if on_frame is not None:
                    on_frame(path, frame.index, frame.image)
                yield _Decoded(path, frame.index, again), frame.image

        for path, indices in missing.items():
            yield from one_pass(path, indices, False)
            if media.learn(out.reports[path]):
                out.reports[path] = media.report(path)
                yield from one_pass(path, indices, True)

    def _classify(self, frames: Iterator, cache: ResultCache | None, out: Scored, progress: Progress,
                  media: decode.MediaFiles, missing: dict[Path, list[int]]) -> None:
        """Run the classifier over ``frames`` in batches, saving to the cache as it goes (an interrupted run
        resumes where it stopped)."""
        fresh: dict[Path, dict[int, dict]] = defaultdict(dict)
        again: set[Path] = set()
        stream = self.classifier.predict_stream(prefetched(frames, 2 * self.batch_size))
        try:
            for n, (which, probabilities) in enumerate(stream, start=1):
                path, frame = which.path, which.frame
                if which.again and path not in again:  # forget the first pass's frames of that file
                    again.add(path)
                    for stale in [k for k in out.scores if k[0] == path and k[1] in missing[path]]:
                        del out.scores[stale]
                    fresh.pop(path, None)
                out.scores[(path, frame)] = {c: p.astype(np.float32) for c, p in probabilities.items()}
                fresh[path][frame] = out.scores[(path, frame)]
                if not which.again:
                    progress.advance()
                if n % FLUSH_EVERY == 0:
                    self._save(cache, fresh, media)
        finally:
            self._save(cache, fresh, media)

    def _save(self, cache: ResultCache | None, fresh: dict[Path, dict[int, dict]], media: decode.MediaFiles) -> None:
        if cache is not None:
            for path, frames_done in fresh.items():
                key = _fingerprint(media, path)
                if key is not None:
                    try:
                        cache.put(key, self.result_version(), frames_done, self._sizes())
                    except sqlite3.Error:
                        pass  # a full disk or a locked file: the results are still in this run
        fresh.clear()

    def _cache(self) -> ResultCache | None:
        if not self.use_cache:
            return None
        try:
            return ResultCache()
        except (OSError, sqlite3.Error):
            return None  # a read-only home or a broken cache file: analyse without it


def _fingerprint(media: decode.MediaFiles, path: Path) -> str | None:
    try:
        return media.fingerprint(path)
    except OSError:
        return None  # unreadable now: analysed without the cache


def prefetched(items: Iterator, depth: int) -> Iterator:
    """Run a generator in a background thread, ``depth`` items ahead: decoding (FFmpeg, GIL released)
    overlaps inference. Exceptions are re-raised in the consumer."""
    import queue
    import threading

    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            buffer.put(exc)

    thread = threading.Thread(target=produce, name="cinemanet-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
