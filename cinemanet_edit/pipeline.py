"""The stages composed: what the CLI, the Resolve bridge and the tests call.

tag:      timeline -> ClipRefs -> SamplePlans -> frames (one decode pass per media file) -> backbone + heads
          in batches -> per-clip labels -> markers and metadata -> output file.
classify: image or video files -> frames -> labels per file (and per sample).
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import opentimelineio as otio

from . import aggregate, annotate, corrections, decode, sampling, schema
from .classify import BATCH_SIZE, Classifier
from .corrections import CorrectionStore
from .decide import LabelPolicy
from .errors import CinemanetError
from .formats import by_name, check_formats, planned_outputs, reader_for, write_outputs
from .layout import layout
from .models import ModelSet, load_model_set
from .sampling import SamplingPolicy, SkipClip
from .scoring import FrameScorer, Progress, Scored
from .taxonomy import describe
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
class Analysis:
    """What ``analyse`` made: each analysed clip's labels (by clip key, with the media frames they came from),
    the clips it skipped and why, warnings, and frame counts."""

    labels: dict[str, ClipLabels] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    frames_planned: int = 0
    frames_analysed: int = 0
    frames_cached: int = 0  # of frames_analysed, served by the result cache


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
    seconds: float = 0.0  # the whole run: reading, shot detection, analysis, writing
    reading_seconds: float = 0.0  # of that, reading the input and cutting it into shots
    warnings: list[str] = field(default_factory=list)
    labels: dict[str, ClipLabels] = field(default_factory=dict)  # what was written, by clip key
    from_catalogue: int = 0  # clips labelled from an archive catalogue (not analysed)
    # the record written on each clip, by clip object: the writers' layout takes it instead of reading it back
    records: dict = field(default_factory=dict, repr=False)

    @property
    def frames_per_second(self) -> float:
        return self.frames_analysed / self.seconds if self.seconds > 0 else 0.0

    def add(self, analysis: Analysis) -> None:
        """Take in what an analysis made (after the reader's warnings)."""
        self.labels = dict(analysis.labels)
        self.analysed = len(analysis.labels)
        self.skipped += analysis.skipped
        self.warnings += analysis.warnings
        self.frames_planned = analysis.frames_planned
        self.frames_analysed = analysis.frames_analysed
        self.frames_cached = analysis.frames_cached

    def to_json(self) -> dict:
        return {
            "input": self.input, "output": self.output, "model": self.model, "clips": self.clips,
            "analysed": self.analysed, "skipped": [s.to_json() for s in self.skipped],
            "frames_planned": self.frames_planned, "frames_analysed": self.frames_analysed,
            "frames_cached": self.frames_cached,
            "seconds": round(self.seconds, 3), "reading_seconds": round(self.reading_seconds, 3),
            "frames_per_second": round(self.frames_per_second, 2), "warnings": self.warnings,
            "from_catalogue": self.from_catalogue,
        }

    def summary(self) -> str:
        """The one line ``tag`` prints when it is done."""
        tagged = self.analysed + self.from_catalogue
        line = (f"tagged {tagged} of {self.clips} clips -> {self.output} "
                f"({self.frames_analysed} frames in {self.seconds:.1f} s, {self.frames_per_second:.1f} frames/s"
                + (f", {self.frames_cached} from the cache" if self.frames_cached else "")
                + (f"; {self.reading_seconds:.1f} s of it reading and finding shots)" if self.reading_seconds >= 0.5
                   else ")"))
        if self.from_catalogue:
            line += f"; {self.from_catalogue} clips from the catalogue, {self.analysed} analysed"
        if self.skipped:
            counts = count_reasons((s.reason, s.path) for s in self.skipped)
            line += "; skipped " + ", ".join(f"{n} ({reason})" for reason, n in counts.items())
        return line


def count_reasons(skipped: Iterable[tuple[str, str | None]]) -> dict[str, int]:
    """How often each kind of reason occurs among (reason, path) pairs, by kind: the reason without the file it
    names and its details ("media not found: /x.mov" -> "media not found"); the one grouping of tag's and
    index's summaries, in the order of the kinds."""
    counts: dict[str, int] = {}
    for reason, path in skipped:
        if path and reason.startswith(f"{path}: "):
            reason = reason[len(path) + 2:]
        kind = reason.split(":")[0].strip()
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def _describe(ref: ClipRef) -> str:
    return f"clip '{ref.name}' ({ref.key})"


class Analyzer:
    """What to run: the model set, batch size, runtime and cache setting, and the frame scorer built from them.

    ``classifier_factory`` replaces the classifier (tests pass one around a fake backbone)."""

    def __init__(self, models: ModelSet | None = None, batch_size: int = BATCH_SIZE, runtime: str | None = None,
                 cache: bool = True, classifier_factory: Callable[[], Classifier] | None = None,
                 corrections: CorrectionStore | None = None):
        self.models = models or load_model_set()
        self.corrections = corrections or CorrectionStore()  # editors' labels, given back where they apply
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

    def score(self, plans: list[SamplePlan], reporter: Reporter, on_frame=None,
              files: decode.MediaFiles | None = None) -> Scored:
        scored = self.scorer.score(plans, reporter, on_frame, files)
        self.cached_frames = scored.cached
        return scored

    def label_policy(self, min_confidence: float | None = None) -> LabelPolicy:
        """What gets written: the heads' thresholds, or ``min_confidence`` for every label."""
        return LabelPolicy.for_heads(self.models.heads, min_confidence)

    def labels(self, samples: list[tuple[float, dict[str, np.ndarray]]],
               policy: LabelPolicy | None = None) -> dict[str, CategoryLabel]:
        """Each category's label from the probabilities of a clip's (or a file's) samples, decided by
        ``policy`` (default: the heads' thresholds)."""
        policy = policy or self.label_policy()
        return policy.decide({cid: aggregate.aggregate(cat, [per[cid] for _, per in samples])
                              for cid, cat in self.categories.items()})


def analyse(refs: list[ClipRef], analyzer: Analyzer, policy: SamplingPolicy, reporter: Reporter,
            files: decode.MediaFiles | None = None, on_frame=None, min_confidence: float | None = None) -> Analysis:
    """Labels for every analysable clip, and what was skipped or went wrong. ``files``: the run's knowledge of
    its media files (each probed once, whichever stage asks first); ``min_confidence`` replaces the heads'
    thresholds."""
    decided = analyzer.label_policy(min_confidence)
    files = files or decode.MediaFiles()
    result = Analysis()
    plans = _plans(refs, files, policy, result, reporter)
    for skipped in result.skipped:
        reporter.warn(f"skipping clip '{skipped.name}' ({skipped.key}): {skipped.reason}")
    scored = analyzer.score([plan for _, plan in plans], reporter, on_frame, files)
    result.frames_planned = len({(plan.media_path, m) for _, plan in plans for m in plan.frames})
    result.frames_analysed, result.frames_cached = len(scored.scores), scored.cached
    for message in _decode_warnings(scored):
        result.warnings.append(message)
        reporter.warn(message)
    for ref, plan in plans:
        got = scored.samples(plan)
        if not got:
            reason = scored.reports[plan.media_path].error or "no frame could be decoded"
            result.skipped.append(Skipped(ref.key, ref.name, reason, str(plan.media_path)))
            reporter.warn(f"skipping {_describe(ref)}: {reason}")
            continue
        decoded = tuple(m for m in plan.frames if (plan.media_path, m) in scored.scores)
        labels = _corrected(analyzer.labels(got, decided), ref, files, analyzer.corrections)
        result.labels[ref.key] = ClipLabels(ref.key, labels, tuple(t for t, _ in got), plan.rate, len(plan.frames),
                                            decoded)
    return result


def _corrected(labels: dict[str, CategoryLabel], ref: ClipRef, files: decode.MediaFiles,
               store: CorrectionStore) -> dict[str, CategoryLabel]:
    """The clip's labels with any editor's correction of its media range in place of the model's."""
    r = sampling.media_range(ref, files.probe(ref.media_path))
    try:
        fingerprint = files.fingerprint(ref.media_path)
    except OSError:
        return labels
    found = store.for_range(fingerprint, r.first, r.end)
    return corrections.apply(labels, found) if found else labels


@dataclass
class LearnReport:
    """What ``learn`` found in edited timelines: the corrections kept, and the changed clips it could not use."""

    timelines: int = 0
    corrections: list[corrections.Correction] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.corrections:
            out[c.category] = out.get(c.category, 0) + 1
        return out

    def to_json(self) -> dict:
        return {"timelines": self.timelines, "corrections": self.counts(), "skipped": self.skipped}

    def summary(self) -> str:
        if not self.corrections:
            return f"no corrections found in {self.timelines} timeline(s)"
        counts = ", ".join(f"{describe(c).title} {n}" for c, n in self.counts().items())
        return f"learned {len(self.corrections)} correction(s) from {self.timelines} timeline(s): {counts}"


def learn(paths: Iterable[Path], media_roots: Iterable[Path] = (), input_format: str | None = None,
          store: CorrectionStore | None = None, models: ModelSet | None = None) -> LearnReport:
    """Read timelines an editor corrected after ``tag``, keep each changed label (``corrections``) for its
    media range, in ``store`` (the user's corrections by default), and report what was learned."""
    categories = {h.category.id: h.category for h in (models or load_model_set()).heads}
    report, files, store = LearnReport(), decode.MediaFiles(), store or CorrectionStore()
    for path in map(Path, paths):
        timeline = read_timeline(path, input_format, files=files)
        report.timelines += 1
        clips = dict(video_clips(timeline))
        for ref in clip_refs(timeline, MediaResolver(path.resolve().parent, tuple(map(Path, media_roots)))):
            clip = clips[ref.key]
            if schema.clip_record(clip) is not None:
                changed = corrections.edited_labels(clip, categories)
            else:  # an EDL or ALE: compare with what tag noted it wrote for this media range
                changed = _ledger_changes(ref, clip, categories, files, store)
            if changed:
                learn_clip(ref, changed, categories, files, str(path), report)
    store.add(report.corrections)
    return report


def _ledger_changes(ref: ClipRef, clip, categories, files: decode.MediaFiles, store: CorrectionStore) -> dict:
    shown = corrections.shown_labels(clip, categories)
    if not shown or ref.skip_reason:
        return {}
    try:
        r = sampling.media_range(ref, files.probe(ref.media_path))
        written = store.written_for(files.fingerprint(ref.media_path), r.first, r.end)
    except (CinemanetError, SkipClip, OSError):
        return {}
    return corrections.ledger_changes(shown, written) if written is not None else {}


def learn_clip(ref: ClipRef, changed: dict[str, str], categories, files: decode.MediaFiles, source: str,
               report: LearnReport) -> None:
    """Keep the editor's labels (``changed``: {category: label id}) for the media range the clip shows."""
    try:
        if ref.skip_reason:
            raise SkipClip(ref.skip_reason)
        r = sampling.media_range(ref, files.probe(ref.media_path))
        fingerprint = files.fingerprint(ref.media_path)
    except (CinemanetError, SkipClip, OSError) as exc:
        report.skipped.append(f"{ref.name} ({ref.key}): {exc}")
        return
    for category, label in changed.items():
        report.corrections.append(corrections.Correction(fingerprint, r.first, r.end, category, label,
                                                         corrections.titled(categories[category], label), source,
                                                         str(ref.media_path)))


def _plans(refs: list[ClipRef], files: decode.MediaFiles, policy: SamplingPolicy, result: Analysis,
           reporter: Reporter) -> list[tuple[ClipRef, SamplePlan]]:
    """The sample plan of every clip that can be analysed; the others go to ``result.skipped``."""
    plans = []
    for ref in refs:
        if ref.skip_reason:
            result.skipped.append(Skipped(ref.key, ref.name, ref.skip_reason, None))
            continue
        try:
            plan, note = sampling.plan(ref, files.probe(ref.media_path), policy)
        except (CinemanetError, SkipClip) as exc:
            result.skipped.append(Skipped(ref.key, ref.name, str(exc), str(ref.media_path)))
            continue
        if note:
            result.warnings.append(f"{_describe(ref)}: {note}")
            reporter.warn(f"{_describe(ref)}: {note}")
        plans.append((ref, plan))
    return plans


def _decode_warnings(scored: Scored) -> list[str]:
    """A line per file whose decoding lost frames or met damaged data."""
    out = []
    for path, dr in scored.reports.items():
        if dr.missing:
            message = f"{path}: {len(dr.missing)} of {dr.delivered + len(dr.missing)} frames not decoded"
            out.append(message + (f" ({dr.error})" if dr.error else " (past the end of the file)"))
        elif dr.error:
            out.append(f"{path}: all {dr.delivered} sampled frames decoded, around damaged data ({dr.error})")
    return out


def tag_timeline(timeline: otio.schema.Timeline, resolver: MediaResolver, analyzer: Analyzer,
                 policy: SamplingPolicy = DEFAULT_POLICY, reporter: Reporter | None = None,
                 on_frame=None, min_confidence: float | None = None,
                 files: decode.MediaFiles | None = None, catalogue: CatalogueSource | None = None) -> TagReport:
    """Analyse every video clip of ``timeline`` and annotate it in place; the report holds the labels written
    (``report.labels``, by clip key). With ``catalogue``, clips it covers take its labels and are not analysed."""
    reporter = reporter or Reporter()
    files = files or decode.MediaFiles()
    started = time.perf_counter()
    report = TagReport(model=analyzer.models.version)
    for warning in schema.reader_warnings(timeline):
        report.warnings.append(warning)
        reporter.warn(warning)
    refs = clip_refs(timeline, resolver)
    clips = dict(video_clips(timeline))
    report.clips = len(refs)
    recalled = _recall(refs, catalogue, files, analyzer, report, reporter)
    try:
        report.add(analyse([r for r in refs if r.key not in recalled], analyzer, policy, reporter, files, on_frame,
                           min_confidence))
    finally:
        reporter.close()
    models = {}
    for ref in refs:
        if ref.key in recalled:
            labels = recalled[ref.key].labels
            labels = replace(labels, labels=_corrected(labels.labels, ref, files, analyzer.corrections))
            report.labels[ref.key], models[ref.key] = labels, recalled[ref.key].model
    for ref in refs:
        if ref.key in report.labels:
            clip = clips[ref.key]
            report.records[clip] = annotate.annotate(clip, report.labels[ref.key], analyzer.categories,
                                                     models.get(ref.key, analyzer.models.version))
            annotate.describe_media(clip, files.probe(ref.media_path))
    _note_written(refs, report, files, analyzer.corrections, reporter)
    report.seconds = time.perf_counter() - started
    return report


def _note_written(refs: list[ClipRef], report: TagReport, files: decode.MediaFiles, store: CorrectionStore,
                  reporter: Reporter) -> None:
    """Keep what was written per media range, for ``learn`` from formats that keep no record (EDL, ALE)."""
    entries = []
    for ref in refs:
        labels = report.labels.get(ref.key)
        if labels is None:
            continue
        try:
            r = sampling.media_range(ref, files.probe(ref.media_path))
            fingerprint = files.fingerprint(ref.media_path)
        except (CinemanetError, SkipClip, OSError):
            continue
        entries.append((fingerprint, r.first, r.end,
                        {c: label.label for c, label in labels.labels.items() if not label.uncertain}))
    try:
        store.record_written(entries)
    except CinemanetError as exc:  # the labels are written all the same; only learning from EDL/ALE suffers
        reporter.warn(f"{exc}: learn will not see what this run wrote into EDLs and ALEs")


@dataclass(frozen=True)
class CatalogueSource:
    """Where ``tag --catalogue`` takes labels from, and how clips' media are matched to its files."""

    folder: Path
    match: str = "content"  # or "name": file name and timecode (proxies, copies that differ in content)


def _recall(refs, catalogue: CatalogueSource | None, files: decode.MediaFiles, analyzer: Analyzer,
            report: TagReport, reporter: Reporter) -> dict:
    if catalogue is None:
        return {}
    from .recall import recall

    found = recall(refs, catalogue.folder, files.probe, files.fingerprint, catalogue.match, analyzer.categories)
    for damaged in found.skipped:
        message = f"{damaged.path}: left out of the catalogue: {damaged.reason}"
        report.warnings.append(message)
        reporter.warn(message)
    report.from_catalogue = len(found.clips)
    return found.clips


def tag_file(input_path: Path, output_path: Path | list[Path], *, analyzer: Analyzer | None = None,
             policy: SamplingPolicy = DEFAULT_POLICY, media_roots: Iterable[Path] = (),
             input_format: str | None = None, output_format: str | None = None, force: bool = False,
             reporter: Reporter | None = None, writer_args: dict[str, dict] | None = None,
             input_args: dict | None = None, drop_frame: bool | None = None, shots: bool = True,
             split_shots: bool = False, min_confidence: float | None = None,
             catalogue: CatalogueSource | None = None) -> TagReport:
    """Read a timeline, tag it and write it to ``output_path`` (one path or several formats at once; never
    over the input). ``drop_frame`` overrides the timecode mode the input had (29.97 / 59.94 only). A bare
    media file becomes one clip per shot (``shots``), or one clip over the whole file; ``split_shots`` splits a
    timeline's clips that hold several shots."""
    input_path = Path(input_path)
    outputs = [Path(p) for p in (output_path if isinstance(output_path, (list, tuple)) else [output_path])]
    for output in outputs:
        check_output(input_path, output, force)
    check_formats(outputs, output_format)
    started = time.perf_counter()
    analyzer = analyzer or Analyzer()
    files = decode.MediaFiles()  # every stage below asks it: each media file is probed once
    timeline = read_timeline(input_path, input_format, files=files, **(input_args or {}))
    if shots and is_media_file(input_path, input_format):
        timeline = shot_timeline(input_path, reporter or Reporter(), files, analyzer.scorer.use_cache,
                                 analyzer.runtime)
    if drop_frame is not None:
        schema.set_drop_frame(timeline, drop_frame)
    planned = planned_outputs(timeline, outputs, output_format, writer_args)
    for target, _name, _args in planned:
        if target not in outputs:  # an EDL's extra track files: the same rules before any analysis
            check_output(input_path, target, force)
    resolver = MediaResolver(input_path.resolve().parent, tuple(Path(p) for p in media_roots))
    if split_shots and not is_media_file(input_path, input_format):
        split_into_shots(timeline, resolver, reporter or Reporter(), files, analyzer.runtime)
    detection = time.perf_counter() - started
    pictured = {name for _t, name, _a in planned if by_name(name) is not None and by_name(name).pictures}
    collector = None
    if pictured:
        from .report import ThumbnailCollector

        collector = ThumbnailCollector(files)  # the pictures come from the frames the analysis decodes
    report = tag_timeline(timeline, resolver, analyzer, policy, reporter, collector, min_confidence, files,
                          catalogue)
    cut = layout(timeline, report.records)  # once, for every writer
    writer_args = dict(writer_args or {})
    if collector is not None:
        from .report import decode_thumbnails

        thumbnails = decode_thumbnails(cut, collector.thumbs)
        for name in pictured:
            writer_args[name] = {**writer_args.get(name, {}), "thumbnails": thumbnails}
    written = write_outputs(timeline, outputs, output_format, writer_args, cut)
    report.input, report.output = str(input_path), ", ".join(str(p) for p in written)
    report.seconds = time.perf_counter() - started  # reading, shots, analysis and writing
    report.reading_seconds = detection
    return report


def is_media_file(path: Path, input_format: str | None = None) -> bool:
    return input_format is None and reader_for(path) is None and path.suffix.lower() in decode.MEDIA_SUFFIXES


def detect_file_shots(path: Path, reporter: Reporter, files: decode.MediaFiles | None = None,
                      use_cache: bool = False, runtime: str | None = None):
    """A flat file's shots (TransNetV2 on ``runtime``), with progress; a detection stopped by damage is a
    warning. With ``use_cache`` an unchanged file's shots come from the result cache (by content and detector
    version)."""
    from . import runtimes, shots

    files = files or decode.MediaFiles()
    media = files.probe(path)
    cached = _ShotCache(files, path, media.frame_count) if use_cache else None
    found = cached.get() if cached is not None else None
    if found is None:
        if runtimes.export_pending(media.frame_count, runtime):
            reporter.note("preparing the shot detector for this machine (once, about 20 s a window size)")
        reporter.start(media.frame_count, "frame")
        try:
            found = shots.detect_shots(path, media.frame_count, progress=reporter.advance, files=files,
                                       runtime=runtime)
        finally:
            reporter.close()
        if cached is not None:
            cached.put(found)
    if found.error:
        reporter.warn(f"{path}: shot detection stopped early ({found.error}); the last shot runs to the end")
    return found


class _ShotCache:
    """The result cache's shots of one file: a missing, locked or foreign cache is no cache."""

    def __init__(self, files: decode.MediaFiles, path: Path, frames: int):
        from .shots import detector_version

        self.path, self.frames = path, frames
        try:
            self.key = (files.fingerprint(path), detector_version())
        except (OSError, CinemanetError):
            self.key = None

    def _cache(self):
        from .cache import ResultCache

        try:
            return ResultCache() if self.key is not None else None
        except (OSError, sqlite3.Error):
            return None

    def get(self):
        from .shots import Detection

        cache = self._cache()
        if cache is None:
            return None
        try:
            found = cache.get_shots(*self.key, 0, self.frames)
        except sqlite3.Error:
            found = None
        finally:
            cache.close()
        return Detection.from_cache(found) if found else None

    def put(self, detection) -> None:
        cache = self._cache()
        if cache is None:
            return
        try:
            cache.put_shots(*self.key, 0, self.frames, detection.to_cache())
        except sqlite3.Error:
            pass  # a full disk or a locked file: the shots are still in this run
        finally:
            cache.close()


def shot_timeline(path: Path, reporter: Reporter, files: decode.MediaFiles | None = None,
                  use_cache: bool = False, runtime: str | None = None) -> otio.schema.Timeline:
    """A flat file cut into its shots, one clip per shot."""
    files = files or decode.MediaFiles()
    found = detect_file_shots(path, reporter, files, use_cache, runtime)
    return media_timeline(path, found.shots, files.probe(path))


def split_into_shots(timeline: otio.schema.Timeline, resolver: MediaResolver, reporter: Reporter,
                     files: decode.MediaFiles | None = None, runtime: str | None = None) -> int:
    """Split every video clip that holds several shots (a long take, a reel cut in as one clip) into one clip
    per shot, in place; returns how many clips were added. Clips whose media cannot be read stay whole."""
    from . import shots

    files = files or decode.MediaFiles()
    added = 0
    clips = dict(video_clips(timeline))
    for ref in clip_refs(timeline, resolver):
        if ref.skip_reason or ref.source is None:
            continue
        try:
            media = files.probe(ref.media_path)
            span = sampling.media_range(ref, media)
            found = shots.detect_shots(ref.media_path, span.end - span.first, frames=range(span.first, span.end),
                                       files=files, runtime=runtime)
        except (CinemanetError, SkipClip) as exc:
            reporter.warn(f"{_describe(ref)}: not split into shots ({exc})")
            continue
        if len(found.shots) >= 2:
            _split_clip(clips[ref.key], found.shots, media)
            added += len(found.shots) - 1
    return added


def _split_clip(clip: otio.schema.Clip, found_shots, media: MediaInfo) -> None:
    """Replace ``clip`` in its track by one copy per shot, each trimmed to its shot, markers kept where they sit."""
    from .timecode import frames_on_grid

    source = clip.trimmed_range()
    rate = source.start_time.rate
    end = source.end_time_exclusive()
    pieces = []

    def at(frame: int) -> otio.opentime.RationalTime:  # a media frame of the clip's range, in its source time
        return source.start_time + otio.opentime.RationalTime(float(frames_on_grid(frame, media.rate, rate)), rate)

    for shot in found_shots:
        start = at(shot.first)
        stop = end if shot.index == len(found_shots) - 1 else at(shot.end)
        piece = clip.deepcopy()
        piece.name = f"{clip.name} ({shot.index + 1})"
        piece.source_range = otio.opentime.TimeRange(start, stop - start)
        for marker in list(piece.markers):
            if not (start <= marker.marked_range.start_time < stop):
                piece.markers.remove(marker)
        pieces.append(piece)
    parent = clip.parent()
    index = list(parent).index(clip)
    del parent[index]
    for offset, piece in enumerate(pieces):
        parent.insert(index + offset, piece)


def check_output(input_path: Path | None, output_path: Path, force: bool) -> None:
    """Refuse to overwrite the input (ever) or an existing output (without ``force``): the one overwrite policy
    of every command that writes a file."""
    output_path = Path(output_path)
    if output_path.exists() and input_path is not None and Path(input_path).exists() and \
            output_path.resolve() == Path(input_path).resolve():
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

    def lines(self, titles: dict[str, str], per_sample: bool = False) -> list[str]:
        """``classify``'s text for the file: its labels, and each sample's with ``per_sample``."""
        if self.error:
            return []

        def line(labels) -> str:
            return "; ".join(f"{titles.get(c, c)}: {lab.title} ({lab.confidence:.0%}{_unwritten(lab)})"
                             for c, lab in labels.items())

        return [self.path, f"  {line(self.labels)}"] + \
            ([f"  {t:9.3f}s  {line(labels)}" for t, labels in self.samples] if per_sample else [])


def _unwritten(label: CategoryLabel) -> str:
    """How ``classify``'s text marks a label ``tag`` would not write."""
    if label.not_applicable:
        return ", not applicable"
    return ", uncertain" if label.uncertain else ""


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
                   chunk: int = 256, reporter: Reporter | None = None,
                   min_confidence: float | None = None) -> list[Classification]:
    """Labels of images (one frame each) and videos (samples over the whole file, aggregated), folders
    expanded. Files are analysed ``chunk`` at a time through the same batched, cached path as ``tag``, and
    ``on_result`` hears about each file in order as its chunk completes; labels are decided as ``tag``
    decides them (``min_confidence`` replaces the heads' thresholds)."""
    analyzer = analyzer or Analyzer()
    decided = analyzer.label_policy(min_confidence)
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
                _fill(result, plans[path], scored, analyzer, decided)
            if on_result:
                on_result(result)
            out.append(result)
    return out


def _fill(result: Classification, plan: SamplePlan, scored: Scored, analyzer: Analyzer, decided: LabelPolicy) -> None:
    got = scored.samples(plan)
    report = scored.reports[plan.media_path]
    if not got:
        result.error = f"{result.path}: no frame could be decoded" + (f" ({report.error})" if report.error else "")
        return
    if len(got) < len(plan.frames):
        result.warning = f"{len(plan.frames) - len(got)} of {len(plan.frames)} samples not decoded" + \
            (f" ({report.error})" if report.error else "")
    for t, per in got:
        result.samples.append((t / plan.rate, decided.decide({cid: aggregate.label_for(cat, per[cid])
                                                              for cid, cat in analyzer.categories.items()})))
    result.labels = analyzer.labels(got, decided)
