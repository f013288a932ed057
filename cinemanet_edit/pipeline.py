"""The stages composed: what the CLI, the Resolve bridge and the tests call.

tag:      timeline -> ClipRefs -> SamplePlans -> frames (one decode pass per media file) -> backbone + heads
          in batches -> per-clip labels -> markers and metadata -> output file.
classify: image or video files -> frames -> labels per file (and per sample).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import opentimelineio as otio

from . import aggregate, annotate, decode, sampling
from .cache import ResultCache, fingerprint
from .errors import CinemanetError
from .formats import check_formats, planned_outputs, write_outputs
from .layout import set_drop_frame
from .models import ModelSet, load_model_set
from .sampling import SamplingPolicy, SkipClip
from .timeline import MediaResolver, clip_refs, read_timeline
from .types import CategoryLabel, ClipLabels, ClipRef, MediaInfo, SamplePlan

DEFAULT_POLICY = SamplingPolicy()


class Reporter:
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
class Skipped:
    key: str
    name: str
    reason: str
    path: str | None = None

    def to_json(self) -> dict:
        return {"clip": self.name, "position": self.key, "reason": self.reason, "path": self.path}


@dataclass
class TagReport:
    """What a tag run did, for the summary line and ``--json``."""

    input: str = ""
    output: str = ""
    model: str = ""
    clips: int = 0
    analysed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    frames_planned: int = 0
    frames_analysed: int = 0
    frames_cached: int = 0  # of frames_analysed, served by the result cache
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames_analysed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {
            "input": self.input, "output": self.output, "model": self.model, "clips": self.clips,
            "analysed": self.analysed, "skipped": [s.to_json() for s in self.skipped],
            "frames_planned": self.frames_planned, "frames_analysed": self.frames_analysed,
            "frames_cached": self.frames_cached,
            "seconds": round(self.seconds, 3), "frames_per_second": round(self.frames_per_second, 2),
            "warnings": self.warnings,
        }


def _describe(ref: ClipRef) -> str:
    return f"clip '{ref.name}' ({ref.key})"


class Analyzer:
    """Decodes and classifies frames; the classifier is built on first use (TensorFlow is slow to load)."""

    def __init__(self, models: ModelSet | None = None, batch_size: int = 32, runtime: str | None = None,
                 cache: bool = True):
        self.models = models or load_model_set()
        self.batch_size = batch_size
        self.runtime = runtime
        self.use_cache = cache and not os.environ.get("CINEMANET_NO_CACHE")
        self.cached_frames = 0  # frames the last run took from the result cache
        self._classifier = None
        self.categories = {h.category.id: h.category for h in self.models.heads}

    @property
    def classifier(self):
        if self._classifier is None:
            from .classify import Classifier

            self._classifier = Classifier(self.models, self.batch_size, self.runtime)
        return self._classifier

    def scores(self, wanted: dict[Path, set[int]], reporter: Reporter
               ) -> tuple[dict[tuple[Path, int], dict[str, np.ndarray]], dict[Path, decode.DecodeReport]]:
        """Probabilities for every wanted (file, frame index); each file decoded once, in frame order."""
        reports = {path: decode.DecodeReport(path) for path in wanted}
        size = self.models.input_size
        self.cached_frames = 0
        results: dict[tuple[Path, int], dict[str, np.ndarray]] = {}
        missing: dict[Path, list[int]] = {}
        cache = self._cache()
        sizes = {cid: len(cat.labels) for cid, cat in self.categories.items()}
        fingerprints: dict[Path, str] = {}
        for path, indices in wanted.items():
            todo = sorted(indices)
            if cache is not None:
                try:
                    fingerprints[path] = fingerprint(path)
                except OSError:
                    pass
                if path in fingerprints:
                    hits = cache.get(fingerprints[path], todo, self.models.version, sizes)
                    for frame, scores in hits.items():
                        results[(path, frame)] = scores
                    reports[path].delivered += len(hits)
                    self.cached_frames += len(hits)
                    reporter.advance(len(hits))
                    todo = [i for i in todo if i not in hits]
            if todo:
                missing[path] = todo

        def frames() -> Iterator[tuple[tuple[Path, int], np.ndarray]]:
            for path, indices in missing.items():
                for frame in decode.decode_frames(path, indices, size, reports[path]):
                    yield (path, frame.index), frame.image

        fresh: dict[Path, dict[int, dict]] = defaultdict(dict)

        def save() -> None:  # as we go, so that an interrupted run resumes where it stopped
            if cache is not None:
                for path, frames_done in fresh.items():
                    if path in fingerprints:
                        cache.put(fingerprints[path], self.models.version, frames_done, sizes)
            fresh.clear()

        try:
            if missing:  # only now is the model loaded
                stream = self.classifier.predict_stream(_prefetched(frames(), 2 * self.batch_size))
                for n, (key, probabilities) in enumerate(stream, start=1):
                    results[key] = {c: p.astype(np.float32) for c, p in probabilities.items()}
                    fresh[key[0]][key[1]] = results[key]
                    reporter.advance()
                    if n % 256 == 0:
                        save()
        finally:
            save()
            if cache is not None:
                cache.close()
        return results, reports

    def _cache(self) -> ResultCache | None:
        if not self.use_cache:
            return None
        try:
            return ResultCache()
        except (OSError, sqlite3.Error):
            return None  # a read-only home or a broken cache file: analyse without it


def _prefetched(items: Iterator, depth: int) -> Iterator:
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


def analyse(refs: list[ClipRef], analyzer: Analyzer, policy: SamplingPolicy, reporter: Reporter,
            report: TagReport, media: dict[Path, MediaInfo | CinemanetError]) -> dict[str, ClipLabels]:
    """Labels for every analysable clip; skipped clips and warnings are recorded in ``report``.

    ``media`` caches what each file is (or why it cannot be opened); it is filled here.
    """
    plans: list[tuple[ClipRef, SamplePlan]] = []
    for ref in refs:
        if ref.skip_reason:
            report.skipped.append(Skipped(ref.key, ref.name, ref.skip_reason, None))
            continue
        path = ref.media_path
        if path not in media:
            try:
                media[path] = decode.probe(path)
            except CinemanetError as exc:
                media[path] = exc
        info = media[path]
        if isinstance(info, CinemanetError):
            report.skipped.append(Skipped(ref.key, ref.name, str(info), str(path)))
            continue
        try:
            plan, note = sampling.plan(ref, info, policy)
        except SkipClip as exc:
            report.skipped.append(Skipped(ref.key, ref.name, str(exc), str(path)))
            continue
        if note:
            report.warnings.append(f"{_describe(ref)}: {note}")
            reporter.warn(f"{_describe(ref)}: {note}")
        plans.append((ref, plan))

    for skipped in report.skipped:
        message = f"skipping clip '{skipped.name}' ({skipped.key}): {skipped.reason}"
        reporter.warn(message)

    wanted: dict[Path, set[int]] = defaultdict(set)
    for _, plan in plans:
        wanted[plan.media_path].update(plan.frames)
    report.frames_planned = sum(len(v) for v in wanted.values())
    reporter.start(report.frames_planned, "frame")
    scores, decode_reports = analyzer.scores(dict(wanted), reporter)
    report.frames_analysed = len(scores)
    report.frames_cached = analyzer.cached_frames
    for path, dr in decode_reports.items():
        if dr.error or dr.missing:
            message = f"{path}: {len(dr.missing)} of {dr.delivered + len(dr.missing)} frames not decoded"
            message += f" ({dr.error})" if dr.error else " (past the end of the file)"
            report.warnings.append(message)
            reporter.warn(message)

    results: dict[str, ClipLabels] = {}
    for ref, plan in plans:
        got = [(t, scores[(plan.media_path, m)]) for m, t in zip(plan.frames, plan.source_times, strict=True)
               if (plan.media_path, m) in scores]
        if not got:
            reason = decode_reports[plan.media_path].error or "no frame could be decoded"
            report.skipped.append(Skipped(ref.key, ref.name, reason, str(plan.media_path)))
            reporter.warn(f"skipping {_describe(ref)}: {reason}")
            continue
        labels = {cid: aggregate.aggregate(cat, [s[cid] for _, s in got])
                  for cid, cat in analyzer.categories.items()}
        results[ref.key] = ClipLabels(ref.key, labels, tuple(t for t, _ in got), len(plan.frames))
    report.analysed = len(results)
    return results


def tag_timeline(timeline: otio.schema.Timeline, resolver: MediaResolver, analyzer: Analyzer,
                 policy: SamplingPolicy = DEFAULT_POLICY, reporter: Reporter | None = None) -> TagReport:
    """Analyse every video clip of ``timeline`` and annotate it in place."""
    reporter = reporter or Reporter()
    started = time.perf_counter()
    report = TagReport(model=analyzer.models.version)
    refs = clip_refs(timeline, resolver)
    report.clips = len(refs)
    media: dict[Path, MediaInfo | CinemanetError] = {}
    try:
        results = analyse(refs, analyzer, policy, reporter, report, media)
    finally:
        reporter.close()
    for ref in refs:
        if ref.key in results:
            annotate.annotate(ref.clip, results[ref.key], analyzer.categories, analyzer.models.version)
            annotate.describe_media(ref.clip, media.get(ref.media_path))
    report.seconds = time.perf_counter() - started
    return report


def tag_file(input_path: Path, output_path: Path | list[Path], *, analyzer: Analyzer | None = None,
             policy: SamplingPolicy = DEFAULT_POLICY, media_roots: Iterable[Path] = (),
             input_format: str | None = None, output_format: str | None = None, force: bool = False,
             reporter: Reporter | None = None, writer_args: dict[str, dict] | None = None,
             input_args: dict | None = None, drop_frame: bool | None = None) -> TagReport:
    """Read a timeline, tag it and write it to ``output_path`` (one path or several formats at once; never
    over the input). ``drop_frame`` overrides the timecode mode the input had (29.97 / 59.94 only)."""
    input_path = Path(input_path)
    outputs = [Path(p) for p in (output_path if isinstance(output_path, (list, tuple)) else [output_path])]
    for output in outputs:
        check_output(input_path, output, force)
    check_formats(outputs, output_format)
    timeline = read_timeline(input_path, input_format, **(input_args or {}))
    if drop_frame is not None:
        set_drop_frame(timeline, drop_frame)
    for target, _name, _args in planned_outputs(timeline, outputs, output_format, writer_args):
        if target not in outputs:  # an EDL's extra track files: the same rules before any analysis
            check_output(input_path, target, force)
    resolver = MediaResolver(input_path.resolve().parent, tuple(Path(p) for p in media_roots))
    analyzer = analyzer or Analyzer()
    report = tag_timeline(timeline, resolver, analyzer, policy, reporter)
    written = write_outputs(timeline, outputs, output_format, writer_args or {})
    report.input, report.output = str(input_path), ", ".join(str(p) for p in written)
    return report


def check_output(input_path: Path, output_path: Path, force: bool) -> None:
    """Refuse to overwrite the input (ever) or an existing output (without ``force``)."""
    if output_path.exists() and input_path.exists() and output_path.resolve() == input_path.resolve():
        raise CinemanetError(f"{output_path}: the output would overwrite the input; choose another name")
    if output_path.exists() and not force:
        raise CinemanetError(f"{output_path}: already exists (use --force to replace it)")
    if output_path.is_dir():
        raise CinemanetError(f"{output_path}: is a folder")
    if not output_path.parent.resolve().is_dir():
        raise CinemanetError(f"{output_path.parent}: no such folder")


@dataclass
class Classification:
    """``classify``'s answer for one file."""

    path: str
    labels: dict[str, CategoryLabel] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, CategoryLabel]]] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    def to_json(self, per_sample: bool = False) -> dict:
        if self.error:
            return {"path": self.path, "error": self.error}
        out: dict = {"path": self.path, "labels": {c: lab.to_json() for c, lab in self.labels.items()}}
        if per_sample:
            out["samples"] = [{"time": round(t, 6), "labels": {c: lab.to_json() for c, lab in labels.items()}}
                              for t, labels in self.samples]
        if self.warning:
            out["warning"] = self.warning
        return out


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the images and videos inside folders (recursively, sorted)."""
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file()
                          and p.suffix.lower() in decode.IMAGE_SUFFIXES | decode.MEDIA_SUFFIXES)
        else:
            out.append(path)
    return out


def classify_paths(paths: Iterable[Path], analyzer: Analyzer | None = None,
                   policy: SamplingPolicy = DEFAULT_POLICY,
                   on_result: Callable[[Classification], None] | None = None,
                   chunk: int = 256, reporter: Reporter | None = None) -> list[Classification]:
    """Labels of images (one frame each) and videos (samples over the whole file, aggregated), folders
    expanded. Files are analysed ``chunk`` at a time through the same batched, cached path as ``tag``, and
    ``on_result`` hears about each file in order as its chunk completes."""
    analyzer = analyzer or Analyzer()
    reporter = reporter or Reporter()
    files = expand_paths(paths)
    out = []
    for start in range(0, len(files), chunk):
        results, plans = [], {}
        for path in files[start:start + chunk]:
            result = Classification(str(path))
            results.append(result)
            try:
                info = decode.probe(path)
            except CinemanetError as exc:
                result.error = str(exc)
                continue
            is_image = path.suffix.lower() in decode.IMAGE_SUFFIXES or info.frame_count == 1
            plans[path] = sampling.whole_media_plan(info, SamplingPolicy(samples=1) if is_image else policy)
        wanted: dict[Path, set[int]] = defaultdict(set)
        for path, plan in plans.items():
            wanted[path].update(plan.frames)
        reporter.start(sum(len(v) for v in wanted.values()), "frame")
        try:
            scores, reports = analyzer.scores(dict(wanted), reporter) if wanted else ({}, {})
        finally:
            reporter.close()  # before the results are printed
        for result in results:
            path = Path(result.path)
            if result.error:
                pass
            elif path in plans:
                _fill(result, plans[path], scores, reports[path], analyzer)
            if on_result:
                on_result(result)
            out.append(result)
    return out


def _fill(result: Classification, plan: SamplePlan, scores, report: decode.DecodeReport, analyzer: Analyzer
          ) -> None:
    got = [(t, scores[(plan.media_path, m)]) for m, t in zip(plan.frames, plan.source_times, strict=True)
           if (plan.media_path, m) in scores]
    if not got:
        result.error = f"{result.path}: no frame could be decoded" + (f" ({report.error})" if report.error else "")
        return
    if len(got) < len(plan.frames):
        result.warning = f"{len(plan.frames) - len(got)} of {len(plan.frames)} samples not decoded" + \
            (f" ({report.error})" if report.error else "")
    for t, per in got:
        result.samples.append((t.to_seconds(), {cid: aggregate.label_for(cat, per[cid])
                                                for cid, cat in analyzer.categories.items()}))
    result.labels = {cid: aggregate.aggregate(cat, [per[cid] for _, per in got])
                     for cid, cat in analyzer.categories.items()}
