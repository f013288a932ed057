"""ClipLabels -> markers and ``metadata["cinemanet"]`` on the timeline's clips.

Everything we write is findable again: clip metadata under our own key, and markers whose metadata carries
the same key. Re-tagging removes exactly those and leaves everyone else's markers and metadata alone.
"""

from __future__ import annotations

import opentimelineio as otio

from . import schema
from .schema import ClipRecord, MarkerRecord, MediaRecord, Samples
from .taxonomy import Category
from .types import ClipLabels, MediaInfo


def clear(clip: otio.schema.Clip, category_titles=()) -> int:
    """Remove our markers and metadata from a clip; returns how many markers went."""
    ours = [m for m in clip.markers if schema.is_our_marker(m, category_titles)]
    for marker in ours:
        clip.markers.remove(marker)
    schema.clear(clip)
    return len(ours)


def marker_name(category: Category, title: str) -> str:
    return f"{category.title}: {title}"


def annotate(clip: otio.schema.Clip, result: ClipLabels, categories: dict[str, Category],
             model_version: str) -> ClipRecord:
    """Replace our markers and metadata on ``clip`` with ``result``; returns the record as written.

    One marker per category spans the clip's trimmed source range (a marker's range is in source time in
    every OTIO adapter), so NLEs show it on the clip and keyword ranges can be built from it. A label not to be
    written (``decide``: below its threshold, or not applicable) gets no marker and no keyword: its metadata
    entry says ``"uncertain": true`` and why.
    """
    clear(clip, [c.title for c in categories.values()])
    source = clip.trimmed_range()
    rate = source.start_time.rate
    labels = result.labels
    frames = tuple(round(t if rate == result.rate else t * rate / result.rate, 3) for t in result.source_times)
    written = schema.write_clip_record(clip, ClipRecord(model_version, labels,
                                                        Samples(rate, frames, result.frames_requested)))
    for category_id, label in labels.items():
        if label.uncertain:
            continue  # an editor must be able to trust every marker
        category = categories[category_id]
        sure = "editor's label" if label.editor else f"{label.confidence:.0%}"
        marker = otio.schema.Marker(
            name=marker_name(category, label.title),
            marked_range=source,
            color=category.marker_color,
            comment=f"{label.title} ({sure}) - {category.title}, cinemanet-edit",
        )
        schema.write_marker_record(marker, MarkerRecord(category_id, label.label, label.confidence))
        # OTIO's FCP7 XML writer takes a marker's comment from here (Premiere, Resolve show it)
        marker.metadata["fcp_xml"] = {"comment": f"{label.title} ({sure}) - {category.title}"}
        clip.markers.append(marker)
    return written


def describe_media(clip: otio.schema.Clip, media) -> None:
    """Record what we measured about a clip's media file on its reference (format writers need the frame
    size and rate), and give a reference without an ``available_range`` the one we measured (start timecode,
    length): several OTIO writers (FCP7 XML, FCPXML) cannot write a clip whose reference lacks it."""
    ref = clip.media_reference
    if not isinstance(ref, otio.schema.ExternalReference) or not isinstance(media, MediaInfo):
        return
    rate = float(media.rate)
    schema.write_media_record(ref, MediaRecord(str(media.path.resolve()), media.width, media.height, rate,
                                               media.codec, media.start_timecode or ""))
    if ref.available_range is None:
        ref.available_range = otio.opentime.TimeRange(otio.opentime.RationalTime(media.start_frame, rate),
                                                      otio.opentime.RationalTime(media.frame_count, rate))
