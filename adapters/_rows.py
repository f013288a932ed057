"""Shared by the sidecar reports: one row per video clip, with record and source timecodes and labels."""

from __future__ import annotations

from cinemanet_edit import timecode
from cinemanet_edit.layout import Layout, PlacedClip
from cinemanet_edit.schema import ordered_categories


def categories_of(cut: Layout) -> list[str]:
    """Every category any video clip of the cut carries, in our order."""
    return ordered_categories(dict.fromkeys(c for track in cut.video for placed in track if placed.record
                                            for c in placed.record.labels))


def _source_tc(placed: PlacedClip, cut: Layout, frame: int) -> str:
    """A media frame as timecode at the media's rate; media at a rate timecode cannot count (12.5 fps) are
    shown on the timeline's rate."""
    media_rate = placed.media.rate if placed.media is not None else cut.rate
    if media_rate == cut.rate:
        return timecode.render(frame, cut.rate, drop_frame=cut.drop_frame)
    if timecode.is_video_rate(media_rate):
        return timecode.render(frame, media_rate)
    return timecode.render(round(timecode.frames_on_grid(frame, media_rate, cut.rate)), cut.rate,
                           drop_frame=cut.drop_frame)


def _entry(label) -> dict:
    """A label as the sidecars show it: ``written`` False (and why) where tag writes no marker or keyword."""
    out = {"label": label.label, "title": label.title, "confidence": label.confidence,
           "written": not label.uncertain}
    if label.reason:
        out["reason"] = label.reason
    return out


def rows(cut: Layout) -> list[dict]:
    """One dict per video clip (nested stacks flattened as in ``layout``), in track then timeline order."""
    out = []
    for number, track in enumerate(cut.video, start=1):
        for placed in track:
            record = placed.record
            labels = record.labels if record is not None else {}
            out.append({
                "track": f"V{number}",
                "clip": placed.name,
                "record_in": timecode.render(placed.record_in, cut.rate, drop_frame=cut.drop_frame),
                "record_out": timecode.render(placed.record_out, cut.rate, drop_frame=cut.drop_frame),
                "source_file": (placed.media.path or "") if placed.media is not None else "",
                "source_in": _source_tc(placed, cut, placed.source_in),
                "source_out": _source_tc(placed, cut, placed.source_out),
                "model": record.model if record is not None else "",
                "labels": {c: _entry(e) for c, e in labels.items()},
            })
    return out
