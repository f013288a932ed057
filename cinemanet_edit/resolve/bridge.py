"""The engine side of the Resolve script: a JSON job of timeline items in, a JSON answer out.

The job describes each item as Resolve reports it (media file, source frames counted from the media's first
frame, media and timeline rates). The answer says exactly what to write: one marker per item (offset in
timeline frames from the item's start, colour, name, note, customData) and the keywords for its media.
All decisions live here so that the script Resolve runs stays a thin, testable applier.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

from .. import schema, timecode
from ..pipeline import Analyzer, Reporter, SamplingPolicy, analyse
from ..taxonomy import RESOLVE_COLORS
from ..timeline import MediaResolver
from ..types import ClipRef, TimeSpan

JOB_VERSION = 1
TOOL = "cinemanet-edit"

def _rate(value) -> Fraction:
    return timecode.exact_rate(Fraction(str(value).split()[0]))


def run_job(job: dict, analyzer: Analyzer, reporter: Reporter | None = None) -> dict:
    """Analyse the job's items; returns the answer the Resolve script applies."""
    if job.get("version") != JOB_VERSION:
        raise ValueError(f"unsupported job version {job.get('version')!r}")
    policy = SamplingPolicy(samples=job.get("samples"), every=job.get("every"))
    timeline_rate = _rate(job["timeline_fps"])
    resolver = MediaResolver(None)
    refs, items = [], {}
    for item in job["items"]:
        media_rate = _rate(item.get("media_fps") or job["timeline_fps"])
        r = float(media_rate)
        start = int(item["source_start"])
        end = int(item.get("source_end") or 0)
        if end <= start:  # no GetSourceEndFrame (Resolve < 19.0.2): the item's length at the media's rate
            end = start + max(1, round(int(item["duration"]) * media_rate / timeline_rate))
        path, wanted = resolver.resolve(Path(item["path"]).as_uri() if item.get("path") else None)
        reason = None
        if path is None:
            reason = f"media not found: {wanted}" if wanted else "clip has no media reference"
        refs.append(ClipRef(item["id"], item["id"], path, TimeSpan(start, end - start, r), TimeSpan(0, end, r),
                            reason))
        items[item["id"]] = (item, media_rate)
    started = time.perf_counter()
    reporter = reporter or Reporter()
    try:
        analysis = analyse(refs, analyzer, policy, reporter)
    finally:
        reporter.close()
    results = analysis.labels
    skipped = {s.name: s.reason for s in analysis.skipped}
    answers = []
    for item_id, (item, media_rate) in items.items():
        result = results.get(item_id)
        if result is None:
            answers.append({"id": item_id, "status": "skipped", "reason": skipped.get(item_id, "not analysed")})
            continue
        labels = {c: label.to_json() for c, label in result.labels.items()}
        frames = list(result.media_frames)  # counted from the media's first frame, as Resolve counts source frames
        scale = timeline_rate / media_rate
        first = round((frames[0] - int(item["source_start"])) * scale)
        last = round((frames[-1] - int(item["source_start"])) * scale)
        first = max(0, min(first, int(item["duration"]) - 1))
        last = max(first, min(last, int(item["duration"]) - 1))
        ordered = schema.ordered_categories(labels)
        head = analyzer.categories[ordered[0]]
        keywords = schema.keywords(result.labels)
        answers.append({
            "id": item_id,
            "status": "ok",
            "labels": labels,
            "sample_frames": frames,
            "keywords": keywords,
            "marker": {
                "offset": first,
                "duration": last - first + 1,
                "color": RESOLVE_COLORS.get(str(head.marker_color).upper(), "Blue"),
                "name": ", ".join(labels[c]["title"] for c in ordered),
                "note": "; ".join(f"{analyzer.categories[c].title}: {labels[c]['title']} "
                                  f"({labels[c]['confidence']:.0%})" for c in ordered) + f" [{TOOL}]",
            },
        })
    return {"version": JOB_VERSION, "model": analyzer.models.version, "items": answers,
            "warnings": analysis.warnings, "frames_analysed": analysis.frames_analysed,
            "seconds": round(time.perf_counter() - started, 3)}


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
