"""Shared by the sidecar reports: one row per video clip, with record and source timecodes and labels."""

from __future__ import annotations

import opentimelineio as otio

from cinemanet_edit import timecode
from cinemanet_edit.annotate import NAMESPACE, media_path, ordered_categories

RT = otio.opentime.RationalTime


def _tc(t: RT, rate: float) -> str:
    return timecode.render(round(timecode.frames_on_grid(t.value, t.rate, rate)), rate)


def categories_of(timeline) -> list[str]:
    seen = []
    for clip in timeline.find_clips():
        data = clip.metadata.get(NAMESPACE)
        for category in (data.get("labels", {}) if hasattr(data, "get") else {}):
            if category not in seen:
                seen.append(category)
    return ordered_categories(seen)


def rows(timeline: otio.schema.Timeline) -> list[dict]:
    """One dict per video clip, in track then timeline order."""
    start = timeline.global_start_time
    rate = start.rate if start is not None else None
    out = []
    for number, track in enumerate(timeline.video_tracks(), start=1):
        for clip in track.find_clips():
            source = clip.trimmed_range()
            record = clip.transformed_time_range(source, timeline.tracks)
            timeline_rate = rate or source.start_time.rate
            if start is not None:
                record = otio.opentime.TimeRange(start + record.start_time.rescaled_to(start.rate),
                                                 record.duration.rescaled_to(start.rate))
            available = getattr(clip.media_reference, "available_range", None)
            media_rate = available.start_time.rate if available is not None else source.start_time.rate
            data = clip.metadata.get(NAMESPACE)
            labels = data.get("labels", {}) if hasattr(data, "get") else {}
            row = {
                "track": f"V{number}",
                "clip": clip.name,
                "record_in": _tc(record.start_time, timeline_rate),
                "record_out": _tc(record.end_time_exclusive(), timeline_rate),
                "source_file": media_path(clip) or "",
                "source_in": _tc(source.start_time, media_rate),
                "source_out": _tc(source.end_time_exclusive(), media_rate),
                "model": data.get("model", "") if hasattr(data, "get") else "",
                "labels": {c: {"label": e["label"], "title": e["title"], "confidence": e["confidence"]}
                           for c, e in labels.items()},
            }
            out.append(row)
    return out
