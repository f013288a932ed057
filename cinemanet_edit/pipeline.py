"""The stages composed: what the CLI, the Resolve bridge and the tests call.

tag:      timeline -> ClipRefs -> SamplePlans -> frames (one decode pass per media file) -> backbone + heads
          in batches -> per-clip labels -> markers and metadata -> output file.
classify: image or video files -> frames -> labels per file (and per sample).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import opentimelineio as otio

from . import aggregate, annotate, decode, sampling, schema
from .classify import BATCH_SIZE, Classifier
from .errors import CinemanetError
from .formats import check_formats, planned_outputs, reader_for, write_outputs
from .models import ModelSet, load_model_set
from .sampling import SamplingPolicy, SkipClip
from .scoring import FrameScorer, Progress, Scored
from .timeline import MediaResolver, clip_refs, media_timeline, read_timeline, video_clips
from .types import CategoryLabel, ClipLabels, ClipRef, MediaInfo, SamplePlan

DEFAULT_POLICY = SamplingPolicy()
URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")  # http://host/x as a Path reads http:/host/x


Reporter = Progress  # the name the CLI and the Resolve bridge know


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
    labels: dict[str, ClipLabels] = field(default_factory=dict)  # what was written, by clip key

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
    """What to run: the model set, batch size, runtime and cache setting, and the frame scorer built from them.

    ``classifier_factory`` replaces the classifier (tests pass one around a fake backbone)."""

    def __init__(self, models: ModelSet | None = None, batch_size: int = BATCH_SIZE, runtime: str | None = None,
                 cache: bool = True, classifier_factory: Callable[[], Classifier] | None = None):
        self.models = models or load_model_set()
        self.batch_size = batch_size
        self.runtime = runtime
        self.categories = {h.category.id: h.category for h in self.models.heads}
        factory = classifier_factory or (lambda: Classifier(self.models, self.batch_size, self.runtime))
        self.scorer = FrameScorer(self.models, factory, batch_size,
                                  use_cache=cache and not os.environ.get("CINEMANET_NO_CACHE"))
        self.cached_frames = 0  # frames the last run took from the result cache

    @property
    def classifier(self) -> Classifier:
        return self.scorer.classifier

    def score(self, plans: list[SamplePlan], reporter: Reporter, on_frame=None) -> Scored:
        scored = self.scorer.score(plans, reporter, on_frame)
        self.cached_frames = scored.cached
        return scored

    def labels(self, samples: list[tuple[float, dict[str, np.ndarray]]]) -> dict[str, CategoryLabel]:
        """Each category's label from the probabilities of a clip's (or a file's) samples."""
        return {cid: aggregate.aggregate(cat, [per[cid] for _, per in samples])
                for cid, cat in self.categories.items()}


def analyse(refs: list[ClipRef], analyzer: Analyzer, policy: SamplingPolicy, reporter: Reporter,
            report: TagReport, media: dict[Path, MediaInfo | CinemanetError], on_frame=None) -> dict[str, ClipLabels]:
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

    scored = analyzer.score([plan for _, plan in plans], reporter, on_frame)
    wanted: dict[Path, set[int]] = defaultdict(set)
    for _, plan in plans:
        wanted[plan.media_path].update(plan.frames)
    report.frames_planned = sum(len(frames) for frames in wanted.values())
    report.frames_analysed = len(scored.scores)
    report.frames_cached = scored.cached
    for path, dr in scored.reports.items():
        if not (dr.error or dr.missing):
            continue
        if dr.missing:
            message = f"{path}: {len(dr.missing)} of {dr.delivered + len(dr.missing)} frames not decoded"
            message += f" ({dr.error})" if dr.error else " (past the end of the file)"
        else:
            message = f"{path}: all {dr.delivered} sampled frames decoded, around damaged data ({dr.error})"
        report.warnings.append(message)
        reporter.warn(message)

    results: dict[str, ClipLabels] = {}
    for ref, plan in plans:
        got = scored.samples(plan)
        if not got:
            reason = scored.reports[plan.media_path].error or "no frame could be decoded"
            report.skipped.append(Skipped(ref.key, ref.name, reason, str(plan.media_path)))
            reporter.warn(f"skipping {_describe(ref)}: {reason}")
            continue
        results[ref.key] = ClipLabels(ref.key, analyzer.labels(got), tuple(t for t, _ in got), plan.rate,
                                      len(plan.frames))
    report.analysed = len(results)
    return results


def tag_timeline(timeline: otio.schema.Timeline, resolver: MediaResolver, analyzer: Analyzer,
                 policy: SamplingPolicy = DEFAULT_POLICY, reporter: Reporter | None = None,
                 on_frame=None, min_confidence: float = 0.0) -> TagReport:
    """Analyse every video clip of ``timeline`` and annotate it in place; the report holds the labels written
    (``report.labels``, by clip key)."""
    reporter = reporter or Reporter()
    started = time.perf_counter()
    report = TagReport(model=analyzer.models.version)
    for warning in schema.reader_warnings(timeline):
        report.warnings.append(warning)
        reporter.warn(warning)
    refs = clip_refs(timeline, resolver)
    clips = dict(video_clips(timeline))
    report.clips = len(refs)
    media: dict[Path, MediaInfo | CinemanetError] = {}
    try:
        report.labels = analyse(refs, analyzer, policy, reporter, report, media, on_frame)
    finally:
        reporter.close()
    for ref in refs:
        if ref.key in report.labels:
            annotate.annotate(clips[ref.key], report.labels[ref.key], analyzer.categories, analyzer.models.version,
                              min_confidence)
            annotate.describe_media(clips[ref.key], media.get(ref.media_path))
    report.seconds = time.perf_counter() - started
    return report


def tag_file(input_path: Path, output_path: Path | list[Path], *, analyzer: Analyzer | None = None,
             policy: SamplingPolicy = DEFAULT_POLICY, media_roots: Iterable[Path] = (),
             input_format: str | None = None, output_format: str | None = None, force: bool = False,
             reporter: Reporter | None = None, writer_args: dict[str, dict] | None = None,
             input_args: dict | None = None, drop_frame: bool | None = None, shots: bool = True,
             split_shots: bool = False, min_confidence: float = 0.0) -> TagReport:
    """Read a timeline, tag it and write it to ``output_path`` (one path or several formats at once; never
    over the input). ``drop_frame`` overrides the timecode mode the input had (29.97 / 59.94 only). A bare
    media file becomes one clip per shot (``shots``), or one clip over the whole file; ``split_shots`` splits a
    timeline's clips that hold several shots."""
    input_path = Path(input_path)
    outputs = [Path(p) for p in (output_path if isinstance(output_path, (list, tuple)) else [output_path])]
    for output in outputs:
        check_output(input_path, output, force)
    check_formats(outputs, output_format)
    timeline = read_timeline(input_path, input_format, **(input_args or {}))
    if shots and is_media_file(input_path, input_format):
        timeline = shot_timeline(input_path, reporter or Reporter())
    if drop_frame is not None:
        schema.set_drop_frame(timeline, drop_frame)
    planned = planned_outputs(timeline, outputs, output_format, writer_args)
    for target, _name, _args in planned:
        if target not in outputs:  # an EDL's extra track files: the same rules before any analysis
            check_output(input_path, target, force)
    resolver = MediaResolver(input_path.resolve().parent, tuple(Path(p) for p in media_roots))
    if split_shots and not is_media_file(input_path, input_format):
        split_into_shots(timeline, resolver, reporter or Reporter())
    analyzer = analyzer or Analyzer()
    writer_args = dict(writer_args or {})
    on_frame = None
    if any(name == "cinemanet_html" for _t, name, _a in planned):
        from .report import ThumbnailCollector

        collector = ThumbnailCollector()  # the report's pictures come from the frames the analysis decodes
        on_frame = collector
        writer_args["cinemanet_html"] = {**writer_args.get("cinemanet_html", {}), "thumbnails": collector.thumbs}
    report = tag_timeline(timeline, resolver, analyzer, policy, reporter, on_frame, min_confidence)
    written = write_outputs(timeline, outputs, output_format, writer_args)
    report.input, report.output = str(input_path), ", ".join(str(p) for p in written)
    return report


def is_media_file(path: Path, input_format: str | None = None) -> bool:
    return input_format is None and reader_for(path) is None and path.suffix.lower() in decode.MEDIA_SUFFIXES


def shot_timeline(path: Path, reporter: Reporter, media: MediaInfo | None = None) -> otio.schema.Timeline:
    """A flat file cut into its shots (TransNetV2), one clip per shot. ``media``: the file's probe, if known."""
    from . import shots

    media = media or decode.probe(path)
    reporter.start(media.frame_count, "frame")
    try:
        found = shots.detect_shots(path, media.frame_count, progress=reporter.advance)
    finally:
        reporter.close()
    if found.error:
        reporter.warn(f"{path}: shot detection stopped early ({found.error}); the last shot runs to the end")
    return media_timeline(path, found.shots, media)


def split_into_shots(timeline: otio.schema.Timeline, resolver: MediaResolver, reporter: Reporter) -> int:
    """Split every video clip that holds several shots (a long take, a reel cut in as one clip) into one clip
    per shot, in place; returns how many clips were added. Clips whose media cannot be read stay whole."""
    from . import shots
    from .timecode import frames_on_grid

    added = 0
    clips = dict(video_clips(timeline))
    for ref in clip_refs(timeline, resolver):
        if ref.skip_reason or ref.source is None:
            continue
        try:
            media = decode.probe(ref.media_path)
            span = sampling.media_range(ref, media)
            found = shots.detect_shots(ref.media_path, span.end - span.first, frames=range(span.first, span.end))
        except (CinemanetError, SkipClip) as exc:
            reporter.warn(f"{_describe(ref)}: not split into shots ({exc})")
            continue
        if len(found.shots) < 2:
            continue
        clip = clips[ref.key]
        source = clip.trimmed_range()
        rate = source.start_time.rate
        end = source.end_time_exclusive()
        pieces = []
        for shot in found.shots:
            start = source.start_time + otio.opentime.RationalTime(
                float(frames_on_grid(shot.first, media.rate, rate)), rate)
            stop = end if shot.index == len(found.shots) - 1 else source.start_time + otio.opentime.RationalTime(
                float(frames_on_grid(shot.end, media.rate, rate)), rate)
            piece = clip.deepcopy()
            piece.name = f"{clip.name} ({shot.index + 1})"
            piece.source_range = otio.opentime.TimeRange(start, stop - start)
            for marker in list(piece.markers):
                at = marker.marked_range.start_time
                if not (start <= at < stop):
                    piece.markers.remove(marker)
            pieces.append(piece)
        parent = clip.parent()
        index = list(parent).index(clip)
        del parent[index]
        for offset, piece in enumerate(pieces):
            parent.insert(index + offset, piece)
        added += len(pieces) - 1
    return added


def check_output(input_path: Path, output_path: Path, force: bool) -> None:
    """Refuse to overwrite the input (ever) or an existing output (without ``force``)."""
    if output_path.exists() and input_path.exists() and output_path.resolve() == input_path.resolve():
        raise CinemanetError(f"{output_path}: the output would overwrite the input; choose another name")
    if output_path.exists() and not force:
        raise CinemanetError(f"{output_path}: already exists (use --force to replace it)")
    if output_path.is_dir():
        raise CinemanetError(f"{output_path}: is a folder")
    folder = output_path.parent.resolve()
    if not folder.is_dir():
        raise CinemanetError(f"{output_path.parent}: no such folder")
    try:  # a read-only or full disk shows now, not after the analysis
        with tempfile.NamedTemporaryFile(prefix=".cinemanet-check.", dir=folder) as probe:
            probe.write(b"x" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise CinemanetError(f"{output_path.parent}: cannot write here ({exc.strerror or exc})") from None


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
            if URL_LIKE.match(str(path)) and not path.exists():
                result.error = f"{path}: not a local file (media are read from local files only)"
                continue
            try:
                info = decode.probe(path)
            except CinemanetError as exc:
                result.error = str(exc)
                continue
            is_image = path.suffix.lower() in decode.IMAGE_SUFFIXES or info.frame_count == 1
            plans[path] = sampling.whole_media_plan(info, SamplingPolicy(samples=1) if is_image else policy)
        try:
            scored = analyzer.score(list(plans.values()), reporter) if plans else Scored()
        finally:
            reporter.close()  # before the results are printed
        for result in results:
            path = Path(result.path)
            if result.error:
                pass
            elif path in plans:
                _fill(result, plans[path], scored, analyzer)
            if on_result:
                on_result(result)
            out.append(result)
    return out


def _fill(result: Classification, plan: SamplePlan, scored: Scored, analyzer: Analyzer) -> None:
    got = scored.samples(plan)
    report = scored.reports[plan.media_path]
    if not got:
        result.error = f"{result.path}: no frame could be decoded" + (f" ({report.error})" if report.error else "")
        return
    if len(got) < len(plan.frames):
        result.warning = f"{len(plan.frames) - len(got)} of {len(plan.frames)} samples not decoded" + \
            (f" ({report.error})" if report.error else "")
    for t, per in got:
        result.samples.append((t / plan.rate, {cid: aggregate.label_for(cat, per[cid])
                                               for cid, cat in analyzer.categories.items()}))
    result.labels = analyzer.labels(got)
