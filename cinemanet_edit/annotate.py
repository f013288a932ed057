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


def _our_prefixes(extra_titles=()) -> tuple[str, ...]:
    from .taxonomy import CINEMATOGRAPHY, VOCABULARY_TITLES

    titles = [c.title for c in CINEMATOGRAPHY] + list(VOCABULARY_TITLES.values()) + list(extra_titles)
    return tuple(f"{title}: " for title in titles)


def is_ours(marker: otio.schema.Marker, category_titles=()) -> bool:
    """Ours: it carries our metadata, or (after a trip through a format that keeps only names, such as an EDL
    or FCP7 XML) its name is one we write, "<Category>: <Label>"."""
    return NAMESPACE in marker.metadata or (marker.name or "").startswith(_our_prefixes(category_titles))


def clear(clip: otio.schema.Clip, category_titles=()) -> int:
    """Remove our markers and metadata from a clip; returns how many markers went."""
    ours = [m for m in clip.markers if is_ours(m, category_titles)]
    for marker in ours:
        clip.markers.remove(marker)
    if NAMESPACE in clip.metadata:
        del clip.metadata[NAMESPACE]
    return len(ours)


def marker_name(category: Category, title: str) -> str:
    return f"{category.title}: {title}"


def annotate(clip: otio.schema.Clip, result: ClipLabels, categories: dict[str, Category],
             model_version: str, min_confidence: float = 0.0) -> None:
    """Replace our markers and metadata on ``clip`` with ``result``.

    One marker per category spans the clip's trimmed source range (a marker's range is in source time in
    every OTIO adapter), so NLEs show it on the clip and keyword ranges can be built from it. A label less sure
    than ``min_confidence`` gets no marker and no keyword: its metadata entry says ``"uncertain": true``.
    """
    clear(clip, [c.title for c in categories.values()])
    source = clip.trimmed_range()
    rate = source.start_time.rate
    clip.metadata[NAMESPACE] = {
        "schema": SCHEMA_VERSION,
        "model": model_version,
        "labels": {cat: dict(label.to_json(), **({"uncertain": True} if label.confidence < min_confidence else {}))
                   for cat, label in result.labels.items()},
        "samples": {
            "rate": rate,
            "source_frames": [round(t if rate == result.rate else t * rate / result.rate, 3)
                              for t in result.source_times],
            "requested": result.frames_requested,
        },
    }
    for category_id, label in result.labels.items():
        if label.confidence < min_confidence:
            continue  # an editor must be able to trust every marker
        category = categories[category_id]
        marker = otio.schema.Marker(
            name=marker_name(category, label.title),
            marked_range=source,
            color=category.marker_color,
            comment=f"{label.title} ({label.confidence:.0%}) - {category.title}, cinemanet-edit",
            metadata={NAMESPACE: {"category": category_id, "label": label.label,
                                  "confidence": round(label.confidence, 6)},
                      # OTIO's FCP7 XML writer takes a marker's comment from here (Premiere, Resolve show it)
                      "fcp_xml": {"comment": f"{label.title} ({label.confidence:.0%}) - {category.title}"}},
        )
        clip.markers.append(marker)


def describe_media(clip: otio.schema.Clip, media) -> None:
    """Record what we measured about a clip's media file on its reference (format writers need the frame
    size and rate), and give a reference without an ``available_range`` the one we measured (start timecode,
    length): several OTIO writers (FCP7 XML, FCPXML) cannot write a clip whose reference lacks it."""
    ref = clip.media_reference
    if not isinstance(ref, otio.schema.ExternalReference) or not isinstance(media, MediaInfo):
        return
    rate = float(media.rate)
    ref.metadata[NAMESPACE] = {"path": str(media.path.resolve()), "width": media.width, "height": media.height,
                               "rate": rate,
                               "codec": media.codec, "start_timecode": media.start_timecode or ""}
    if ref.available_range is None:
        ref.available_range = otio.opentime.TimeRange(otio.opentime.RationalTime(media.start_frame, rate),
                                                      otio.opentime.RationalTime(media.frame_count, rate))


# Large vocabularies only become keywords when the model is fairly sure.
VOCABULARY_KEYWORD_CONFIDENCE = 0.5
MULTI_LABEL_KEYWORD_SCORE = 0.5
PRIORITY = ("shot.framing", "shot.type", "shot.angle", "shot.subject", "imagenet", "places365")


def ordered_categories(categories) -> list[str]:
    """Cinematography first, in the seed's order; then the large vocabularies; then anything else."""
    return sorted(categories, key=lambda c: PRIORITY.index(c) if c in PRIORITY else len(PRIORITY))


def keywords(labels: dict, multi_label: set[str] = frozenset({"shot.subject"})) -> list[str]:
    """Editor-facing keywords from a clip's ``metadata["cinemanet"]["labels"]``: each cinematography
    category's label ("Close Up"), every multi-label label that holds (score >= 0.5), and an ImageNet or
    Places365 label only when its confidence is at least 0.5."""
    out: list[str] = []
    for category in ordered_categories(labels):
        entry = labels[category]
        if hasattr(entry, "get") and entry.get("uncertain"):
            continue
        if category in ("imagenet", "places365") or category.startswith("legacy."):
            if category.startswith("legacy.") or entry["confidence"] < VOCABULARY_KEYWORD_CONFIDENCE:
                continue
        titles = [entry["title"]]
        if category in multi_label:
            from .taxonomy import known_category

            known = known_category(category)
            for label_id, score in entry["scores"].items():
                if score >= MULTI_LABEL_KEYWORD_SCORE and known is not None:
                    title = known.label(label_id).title
                    if title not in titles:
                        titles.append(title)
        out += [t for t in titles if t not in out]
    return out
