"""Sample plans -> per-frame probabilities: the one path ``tag`` and ``classify`` share.

The result cache answers first (keyed by file content, frame and model version); the frames it lacks are
decoded in one forward pass per file, in a background thread ahead of inference, and classified in batches.
The classifier (and so TensorFlow or LiteRT) is built only when a frame is missing from the cache.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import decode
from .cache import ResultCache, fingerprint
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

    def close(self) -> None:
        pass


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
              on_frame: Callable[[Path, int, np.ndarray], None] | None = None) -> Scored:
        """Probabilities of every planned frame; ``on_frame`` sees each frame this run decodes (the report
        makes its thumbnails from them)."""
        wanted: dict[Path, set[int]] = defaultdict(set)
        for plan in plans:
            wanted[plan.media_path].update(plan.frames)
        progress.start(sum(len(v) for v in wanted.values()), "frame")
        out = Scored(reports={path: decode.DecodeReport(path) for path in wanted})
        categories = {h.category.id: len(h.category.labels) for h in self.models.heads}
        cache = self._cache()
        missing: dict[Path, list[int]] = {}
        fingerprints: dict[Path, str] = {}
        for path, indices in wanted.items():
            todo = sorted(indices)
            if cache is not None:
                try:
                    fingerprints[path] = fingerprint(path)
                except OSError:
                    pass
                if path in fingerprints:
                    try:
                        hits = cache.get(fingerprints[path], todo, self.models.version, categories)
                    except sqlite3.Error:
                        hits = {}
                    for frame, scores in hits.items():
                        out.scores[(path, frame)] = scores
                    out.reports[path].delivered += len(hits)
                    out.cached += len(hits)
                    progress.advance(len(hits))
                    todo = [i for i in todo if i not in hits]
            if todo:
                missing[path] = todo

        def decoded(path: Path, indices: list[int], *tag: str) -> Iterator[tuple[tuple, np.ndarray]]:
            for frame in decode.decode_frames(path, indices, self.models.input_size, out.reports[path]):
                if on_frame is not None:
                    on_frame(path, frame.index, frame.image)
                yield (path, frame.index, *tag), frame.image

        def frames() -> Iterator[tuple[tuple, np.ndarray]]:
            for path, indices in missing.items():
                threads = decode.thread_type(path)
                yield from decoded(path, indices)
                if decode.thread_type(path) != threads:  # damage met on frame threads: again, deterministically
                    out.reports[path] = decode.DecodeReport(path)
                    yield from decoded(path, indices, "again")

        fresh: dict[Path, dict[int, dict]] = defaultdict(dict)

        def save() -> None:  # as we go, so that an interrupted run resumes where it stopped
            if cache is not None:
                for path, frames_done in fresh.items():
                    if path in fingerprints:
                        try:
                            cache.put(fingerprints[path], self.models.version, frames_done, categories)
                        except sqlite3.Error:
                            pass  # a full disk or a locked file: the results are still in this run
            fresh.clear()

        try:
            if missing:  # only now is the model loaded
                stream = self.classifier.predict_stream(prefetched(frames(), 2 * self.batch_size))
                again: set[Path] = set()
                for n, (tagged, probabilities) in enumerate(stream, start=1):
                    key = tagged[:2]  # a third element marks a damaged file's second, deterministic pass
                    if len(tagged) == 3 and key[0] not in again:  # forget the first pass's frames of that file
                        again.add(key[0])
                        for stale in [k for k in out.scores if k[0] == key[0] and k[1] in missing[key[0]]]:
                            del out.scores[stale]
                        fresh.pop(key[0], None)
                    out.scores[key] = {c: p.astype(np.float32) for c, p in probabilities.items()}
                    fresh[key[0]][key[1]] = out.scores[key]
                    if len(tagged) == 2:
                        progress.advance()
                    if n % FLUSH_EVERY == 0:
                        save()
        finally:
            save()
            if cache is not None:
                cache.close()
        return out

    def _cache(self) -> ResultCache | None:
        if not self.use_cache:
            return None
        try:
            return ResultCache()
        except (OSError, sqlite3.Error):
            return None  # a read-only home or a broken cache file: analyse without it


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
