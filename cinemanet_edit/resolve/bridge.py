"""The engine side of the Resolve script: a JSON job of timeline items in, a JSON answer out.

The job describes each item as Resolve reports it (media file, source frames counted from the media's first
frame, media and timeline rates). The answer says exactly what to write: one marker per item (offset in
timeline frames from the item's start, colour, name, note, customData), the keywords for its media and the
Metadata Editor fields Smart Bins filter on (Description: the labels; Comments: confidences and what was left
out). A learn job sends back what the editor changed since. All decisions live here so that the script
Resolve runs stays a thin, testable applier.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .. import corrections, decode, schema, timecode
from ..errors import CinemanetError
from ..pipeline import Analyzer, LearnReport, Reporter, SamplingPolicy, analyse, learn_clip
from ..taxonomy import RESOLVE_COLORS
from ..timeline import MediaResolver
from ..types import ClipRef, TimeSpan

JOB_VERSION = 1
TOOL = "cinemanet-edit"

@dataclass(frozen=True)
class JobItem:
    """One timeline item as the script describes it: media frames counted from the media's first frame."""

    id: str
    path: str | None
    source_start: int
    source_end: int  # exclusive; 0 when Resolve could not say (< 19.0.2)
    duration: int  # timeline frames
    media_rate: Fraction


@dataclass(frozen=True)
class Job:
    timeline_rate: Fraction
    items: tuple[JobItem, ...]
    samples: int | None = None
    every: float | None = None


def _rate(value) -> Fraction:
    rate = timecode.exact_rate(Fraction(str(value).split()[0]))
    if rate <= 0:
        raise ValueError(f"not a frame rate: {value!r}")
    return rate


def read_job(job: dict) -> Job:
    """The job the script wrote, checked: anything not as the script writes it is a one-line error."""
    if not isinstance(job, dict) or job.get("version") != JOB_VERSION:
        found = job.get("version") if isinstance(job, dict) else type(job).__name__
        raise CinemanetError(f"unsupported job version {found!r}")
    try:
        timeline_rate = _rate(job["timeline_fps"])
        items = tuple(JobItem(str(item["id"]), str(item["path"]) if item.get("path") else None,
                              int(item["source_start"]), int(item.get("source_end") or 0), int(item["duration"]),
                              _rate(item.get("media_fps") or job["timeline_fps"])) for item in job["items"])
        samples = int(job["samples"]) if job.get("samples") else None
        every = float(job["every"]) if job.get("every") else None
    except (KeyError, ValueError, TypeError, ArithmeticError, AttributeError) as exc:
        raise CinemanetError(f"malformed job: {type(exc).__name__}: {exc}") from None
    return Job(timeline_rate, items, samples, every)


def _refs(job: Job) -> tuple[list[ClipRef], dict[str, JobItem]]:
    """One clip reference per job item, its media range counted as Resolve counts source frames."""
    resolver = MediaResolver(None)
    refs, items = [], {}
    for item in job.items:
        r = float(item.media_rate)
        start, end = item.source_start, item.source_end
        if end <= start:  # no GetSourceEndFrame (Resolve < 19.0.2): the item's length at the media's rate
            end = start + max(1, round(item.duration * item.media_rate / job.timeline_rate))
        path, wanted = resolver.resolve(Path(item.path).as_uri() if item.path else None)
        reason = None
        if path is None:
            reason = f"media not found: {wanted}" if wanted else "clip has no media reference"
        refs.append(ClipRef(item.id, item.id, path, TimeSpan(start, end - start, r), TimeSpan(0, end, r), reason))
        items[item.id] = item
    return refs, items


def run_job(job: dict, analyzer: Analyzer, reporter: Reporter | None = None) -> dict:
    """Analyse the job's items; returns the answer the Resolve script applies. A learn job (``"action":
    "learn"``) keeps the editor's corrections instead (``learn_job``)."""
    if isinstance(job, dict) and job.get("action") == "learn":
        return learn_job(job, analyzer)
    job = read_job(job)
    policy = SamplingPolicy(samples=job.samples, every=job.every)
    refs, items = _refs(job)
    started = time.perf_counter()
    reporter = reporter or Reporter()
    try:
        analysis = analyse(refs, analyzer, policy, reporter)
    finally:
        reporter.close()
    results = analysis.labels
    skipped = {s.name: s.reason for s in analysis.skipped}
    answers = []
    for item_id, item in items.items():
        result = results.get(item_id)
        if result is None:
            answers.append({"id": item_id, "status": "skipped", "reason": skipped.get(item_id, "not analysed")})
        else:
            answers.append(_answer(item, result, job.timeline_rate, analyzer))
    return {"version": JOB_VERSION, "model": analyzer.models.version, "items": answers,
            "warnings": analysis.warnings, "frames_analysed": analysis.frames_analysed,
            "seconds": round(time.perf_counter() - started, 3)}


def _shown(entry: dict, key: str) -> list[str]:
    value = entry.get(key) or []
    return [str(v) for v in value] if isinstance(value, list) else []


def learn_job(job: dict, analyzer: Analyzer) -> dict:
    """The editor's corrections on the open timeline: for each item, the labels we wrote (from our marker's
    customData), its marker's name and its media's keywords now. A label of a category put in place of ours,
    in the marker's name or else in the keywords, is kept for the item's media range (as ``learn`` keeps
    them from files); the answer counts them per category."""
    parsed = read_job(job)
    categories = analyzer.categories
    refs, _items = _refs(parsed)
    entries = {str(e.get("id")): e for e in job.get("items", []) if isinstance(e, dict)}
    report, files = LearnReport(timelines=1), decode.MediaFiles()
    for ref in refs:
        entry = entries.get(ref.key, {})
        written = entry.get("written") if isinstance(entry.get("written"), dict) else {}
        changed = {**corrections.shown_changes(written, _shown(entry, "keywords"), categories),
                   **corrections.shown_changes(written, str(entry.get("marker_name") or "").split(","), categories)}
        if changed:
            learn_clip(ref, changed, categories, files, f"Resolve timeline {job.get('timeline') or ''}".strip(),
                       report)
    analyzer.corrections.add(report.corrections)
    return {"version": JOB_VERSION, "action": "learn", **report.to_json(), "summary": report.summary()}


def _answer(item: JobItem, result, timeline_rate: Fraction, analyzer: Analyzer) -> dict:
    """What the script writes for one analysed item: a marker over the sampled frames, keywords, labels."""
    labels = {c: label.to_json() for c, label in result.labels.items()}
    frames = list(result.media_frames)  # counted from the media's first frame, as Resolve counts source frames
    scale = timeline_rate / item.media_rate
    first = round((frames[0] - item.source_start) * scale)
    last = round((frames[-1] - item.source_start) * scale)
    first = max(0, min(first, item.duration - 1))
    last = max(first, min(last, item.duration - 1))
    ordered = [c for c in schema.ordered_categories(labels) if not result.labels[c].uncertain]
    left_out = [c for c in schema.ordered_categories(labels) if result.labels[c].uncertain]
    head = analyzer.categories[(ordered or left_out)[0]]
    note = "; ".join(f"{analyzer.categories[c].title}: {labels[c]['title']} ({_sure(result.labels[c])})"
                     for c in ordered)
    if left_out:  # what was left out and why, where an editor reads the marker
        note += ("; " if note else "") + "not written: " + ", ".join(
            f"{analyzer.categories[c].title} ({'not applicable' if result.labels[c].not_applicable else 'unsure'})"
            for c in left_out)
    name = ", ".join(labels[c]["title"] for c in ordered)
    return {
        "id": item.id,
        "status": "ok",
        "labels": labels,
        "written": {c: labels[c]["label"] for c in ordered},  # kept in the marker: what learn compares with
        "sample_frames": frames,
        "keywords": schema.keywords(result.labels),
        # the Metadata Editor's fields that Smart Bins filter on, besides Keywords
        "fields": {"Description": name, "Comments": note + f" [{TOOL} {analyzer.models.version}]"},
        "marker": {
            "offset": first,
            "duration": last - first + 1,
            "color": RESOLVE_COLORS.get(str(head.marker_color).upper(), "Blue"),
            "name": name or "no label sure enough",
            "note": note + f" [{TOOL}]",
        },
    }


def _sure(label) -> str:
    return "editor's label" if label.editor else f"{label.confidence:.0%}"


class LineReporter(Reporter):
    """Progress as plain lines on stderr ("PROGRESS done total"), which the Resolve script relays."""

    def __init__(self, stream):
        self.stream = stream
        self.total = 0
        self.done = 0

    def start(self, total: int, unit: str) -> None:
        self.total = total
        print(f"PROGRESS 0 {total}", file=self.stream, flush=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.done == self.total or self.done % 8 == 0:
            print(f"PROGRESS {self.done} {self.total}", file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        print(f"WARNING {message}", file=self.stream, flush=True)
