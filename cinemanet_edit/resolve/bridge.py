"""The engine side of the Resolve script: a JSON job of timeline items in, a JSON answer out.

The job describes each item as Resolve reports it (media file, source frames counted from the media's first
frame, media and timeline rates). The answer says exactly what to write: one marker per item (offset in
timeline frames from the item's start, colour, name, note, customData) and the keywords for its media.
All decisions live here so that the script Resolve runs stays a thin, testable applier.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from .. import annotate, timecode
from ..annotate import ordered_categories
from ..pipeline import Analyzer, Reporter, SamplingPolicy, tag_timeline
from ..taxonomy import RESOLVE_COLORS
from ..timeline import MediaResolver

JOB_VERSION = 1
TOOL = "cinemanet-edit"

def custom_data(keywords: list[str]) -> str:
    """The customData of our markers: identifies them and remembers the keywords we added."""
    return json.dumps({"tool": TOOL, "v": JOB_VERSION, "keywords": keywords}, sort_keys=True)


def _rate(value) -> Fraction:
    return timecode.exact_rate(Fraction(str(value).split()[0]))


def run_job(job: dict, analyzer: Analyzer, reporter: Reporter | None = None) -> dict:
    """Analyse the job's items; returns the answer the Resolve script applies."""
    if job.get("version") != JOB_VERSION:
        raise ValueError(f"unsupported job version {job.get('version')!r}")
    policy = SamplingPolicy(samples=job.get("samples"), every=job.get("every"))
    timeline_rate = _rate(job["timeline_fps"])
    track = otio.schema.Track(name="items")
    items = {}
    for item in job["items"]:
        media_rate = _rate(item.get("media_fps") or job["timeline_fps"])
        r = float(media_rate)
        start = int(item["source_start"])
        end = int(item.get("source_end") or 0)
        if end <= start:  # no GetSourceEndFrame (Resolve < 19.0.2): the item's length at the media's rate
            end = start + max(1, round(int(item["duration"]) * media_rate / timeline_rate))
        ref = otio.schema.ExternalReference(
            target_url=Path(item["path"]).as_uri() if item.get("path") else None,
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, r),
                                                    otio.opentime.RationalTime(end, r)))
        clip = otio.schema.Clip(name=item["id"], media_reference=ref, source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, r), otio.opentime.RationalTime(end - start, r)))
        track.append(clip)
        items[item["id"]] = (item, clip, media_rate)
    timeline = otio.schema.Timeline(name="resolve job")
    timeline.tracks.append(track)
    report = tag_timeline(timeline, MediaResolver(None), analyzer, policy, reporter)
    skipped = {s.name: s.reason for s in report.skipped}
    answers = []
    for item_id, (item, clip, media_rate) in items.items():
        data = clip.metadata.get("cinemanet")
        if data is None:
            answers.append({"id": item_id, "status": "skipped", "reason": skipped.get(item_id, "not analysed")})
            continue
        labels = {c: dict(v) for c, v in data["labels"].items()}
        for entry in labels.values():
            entry["scores"] = dict(entry["scores"])
        frames = [int(round(f)) for f in data["samples"]["source_frames"]]
        scale = timeline_rate / media_rate
        first = round((frames[0] - int(item["source_start"])) * scale)
        last = round((frames[-1] - int(item["source_start"])) * scale)
        first = max(0, min(first, int(item["duration"]) - 1))
        last = max(first, min(last, int(item["duration"]) - 1))
        ordered = ordered_categories(labels)
        head = analyzer.categories[ordered[0]]
        keywords = annotate.keywords(labels)
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
            "warnings": report.warnings, "frames_analysed": report.frames_analysed,
            "seconds": round(report.seconds, 3)}


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
