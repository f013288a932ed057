"""ClipLabels -> markers and ``metadata["cinemanet"]`` on the timeline's clips.

Everything we write is findable again: clip metadata under our own key, and markers whose metadata carries
the same key. Re-tagging removes exactly those and leaves everyone else's markers and metadata alone.
"""

from __future__ import annotations

import opentimelineio as otio

from .taxonomy import Category
from .types import ClipLabels, MediaInfo

NAMESPACE = "cinemanet"
SCHEMA_VERSION = 1


def is_ours(marker: otio.schema.Marker) -> bool:
    return NAMESPACE in marker.metadata


def clear(clip: otio.schema.Clip) -> int:
    """Remove our markers and metadata from a clip; returns how many markers went."""
    ours = [m for m in clip.markers if is_ours(m)]
    for marker in ours:
        clip.markers.remove(marker)
    if NAMESPACE in clip.metadata:
        del clip.metadata[NAMESPACE]
    return len(ours)


def marker_name(category: Category, title: str) -> str:
    return f"{category.title}: {title}"


def annotate(clip: otio.schema.Clip, result: ClipLabels, categories: dict[str, Category],
             model_version: str) -> None:
    """Replace our markers and metadata on ``clip`` with ``result``.

    One marker per category spans the clip's trimmed source range (a marker's range is in source time in
    every OTIO adapter), so NLEs show it on the clip and keyword ranges can be built from it.
    """
    clear(clip)
    source = clip.trimmed_range()
    rate = source.start_time.rate
    clip.metadata[NAMESPACE] = {
        "schema": SCHEMA_VERSION,
        "model": model_version,
        "labels": {cat: label.to_json() for cat, label in result.labels.items()},
        "samples": {
            "rate": rate,
            "source_frames": [round(t.rescaled_to(rate).value, 3) for t in result.source_times],
            "requested": result.frames_requested,
        },
    }
    for category_id, label in result.labels.items():
        category = categories[category_id]
        marker = otio.schema.Marker(
            name=marker_name(category, label.title),
            marked_range=source,
            color=category.marker_color,
            comment=f"{label.title} ({label.confidence:.0%}) - {category.title}, cinemanet-edit",
            metadata={NAMESPACE: {"category": category_id, "label": label.label,
                                  "confidence": round(label.confidence, 6)}},
        )
        clip.markers.append(marker)


def fill_available_range(clip: otio.schema.Clip, media) -> None:
    """Give a file reference without an ``available_range`` the one we measured (start timecode, length).

    Several OTIO writers (FCP7 XML, FCPXML) cannot write a clip whose reference lacks it.
    """
    ref = clip.media_reference
    if isinstance(ref, otio.schema.ExternalReference) and ref.available_range is None and \
            isinstance(media, MediaInfo):
        rate = float(media.rate)
        ref.available_range = otio.opentime.TimeRange(otio.opentime.RationalTime(media.start_frame, rate),
                                                      otio.opentime.RationalTime(media.frame_count, rate))
