"""What we write under ``metadata["cinemanet"]``, read and written as typed records: the one home of our namespace.

OTIO objects carry our data under one key, as OTIO's own adapters keep theirs (``metadata["fcp_xml"]``):

- a clip: ``ClipRecord`` (the model, each category's ``CategoryLabel``, the samples the labels came from);
- one of our markers: ``MarkerRecord`` (its category and label), or our FCPXML chapter marker;
- a clip's media reference: ``MediaRecord`` (what we measured of the file: path, size, rate, codec);
- the timeline: its timecode mode as a reader found it, the reader's warnings, and a selects' query.

Everything read back comes from a file somebody else may have edited: readers return None (or leave an entry
out) for anything that is not what we write, and never raise. Only the standard library and our foundations
here: the OTIO adapters import this whenever OTIO lists plugins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .taxonomy import CINEMATOGRAPHY, VOCABULARY_TITLES, describe
from .types import CategoryLabel

NAMESPACE = "cinemanet"
SCHEMA_VERSION = 1


def _mapping(value: Any) -> Mapping | None:
    """``value`` when it reads like a dict (a dict, OTIO's AnyDictionary), else None."""
    return value if hasattr(value, "get") and hasattr(value, "items") else None


def _snapshot(value: Any) -> Mapping | None:
    """A mapping to read many keys of: OTIO's AnyDictionary copied (shallowly) into a dict once, since each of
    its lookups crosses into C++ and back (reading labels twice as fast); anything else as ``_mapping``."""
    if type(value).__name__ == "AnyDictionary":
        return dict(value.items())
    return _mapping(value)


def ours(obj: Any) -> Mapping | None:
    """``obj.metadata["cinemanet"]`` when it is a mapping, else None (absent, or not what we write)."""
    metadata = _mapping(getattr(obj, "metadata", None))
    return _mapping(metadata.get(NAMESPACE)) if metadata is not None else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def plain(value: Any) -> Any:
    """OTIO AnyDictionary / AnyVector -> JSON-able Python (for writers that embed our data as JSON)."""
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "AnyVector":
        return [plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------- labels


def label_from_json(category: str, entry: Any) -> CategoryLabel | None:
    """One category's entry as ``CategoryLabel.to_json`` wrote it; None when it is not one."""
    entry = _snapshot(entry)
    if entry is None or not isinstance(entry.get("label"), str):
        return None
    confidence = _number(entry.get("confidence"))
    if confidence is None:
        return None
    scores = {}
    for label_id, score in (_snapshot(entry.get("scores")) or {}).items():
        if isinstance(label_id, str) and _number(score) is not None:
            scores[label_id] = _number(score)
    title, reason = entry.get("title"), entry.get("reason")
    holds = entry.get("holds")
    holds = tuple(h for h in holds if isinstance(h, str)) if isinstance(holds, (list, tuple)) or \
        type(holds).__name__ == "AnyVector" else ()
    return CategoryLabel(category, entry["label"], title if isinstance(title, str) else entry["label"], confidence,
                         scores, uncertain=entry.get("uncertain") is True, threshold=_number(entry.get("threshold")),
                         reason=reason if isinstance(reason, str) else None,
                         not_applicable=entry.get("not_applicable") is True, holds=holds,
                         editor=entry.get("editor") is True)


def labels_from_json(entries: Any) -> dict[str, CategoryLabel]:
    """Every well-formed entry of a ``labels`` mapping, in the order written."""
    out = {}
    for category, entry in (_mapping(entries) or {}).items():
        label = label_from_json(category, entry) if isinstance(category, str) else None
        if label is not None:
            out[category] = label
    return out


# ----------------------------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class Samples:
    """Which frames the labels came from: source frames at ``rate`` (the clip's source range's rate)."""

    rate: float
    source_frames: tuple[float, ...]
    requested: int


@dataclass(frozen=True)
class ClipRecord:
    """A clip's labels as we write them into its metadata."""

    model: str
    labels: dict[str, CategoryLabel]
    samples: Samples | None = None
    schema: int = SCHEMA_VERSION

    def to_metadata(self) -> dict:
        out: dict[str, Any] = {"schema": self.schema, "model": self.model,
                               "labels": {c: label.to_json() for c, label in self.labels.items()}}
        if self.samples is not None:
            out["samples"] = {"rate": self.samples.rate, "source_frames": list(self.samples.source_frames),
                              "requested": self.samples.requested}
        return out

    def certain(self) -> dict[str, CategoryLabel]:
        """The labels an editor is shown as markers and keywords (not below the run's --min-confidence)."""
        return {c: label for c, label in self.labels.items() if not label.uncertain}

    def keywords(self) -> list[str]:
        return keywords(self.labels)


def _samples(data: Any) -> Samples | None:
    data = _mapping(data)
    if data is None:
        return None
    frames = data.get("source_frames")
    frames = [f for f in frames if _number(f) is not None] if isinstance(frames, (list, tuple)) or \
        type(frames).__name__ == "AnyVector" else []
    requested = data.get("requested")
    return Samples(_number(data.get("rate")) or 0.0, tuple(float(f) for f in frames),
                   requested if isinstance(requested, int) and not isinstance(requested, bool) else 0)


def clip_record(clip: Any) -> ClipRecord | None:
    """The labels we wrote on ``clip``, or None when it carries none."""
    return record_from_metadata(ours(clip))


def record_from_metadata(data: Any) -> ClipRecord | None:
    """A ``ClipRecord`` from what ``to_metadata`` wrote (a mapping, e.g. parsed from a file's embedded JSON)."""
    data = _mapping(data)
    if data is None:
        return None
    model = data.get("model")
    schema = data.get("schema")
    return ClipRecord(model if isinstance(model, str) else "", labels_from_json(data.get("labels")),
                      _samples(data.get("samples")),
                      schema if isinstance(schema, int) and not isinstance(schema, bool) else SCHEMA_VERSION)


def write_clip_record(clip: Any, record: ClipRecord) -> ClipRecord:
    """Write ``record`` on the clip; returns it as any reader will read it back (rounded as written), so a
    writer laying out the cut right after need not cross into OTIO's metadata again."""
    data = record.to_metadata()
    clip.metadata[NAMESPACE] = data
    return record_from_metadata(data)


def has_record(clip: Any) -> bool:
    return NAMESPACE in clip.metadata


def clear(obj: Any) -> None:
    """Remove our data from ``obj``'s metadata, leaving everyone else's."""
    if NAMESPACE in obj.metadata:
        del obj.metadata[NAMESPACE]


# ----------------------------------------------------------------------------------------------- keywords


def keywords(labels: Mapping[str, CategoryLabel]) -> list[str]:
    """Editor-facing keywords from a clip's labels, cinematography first: what each category's keyword policy
    (``taxonomy.Category.keywords``) admits; labels below the run's --min-confidence give none."""
    out: list[str] = []
    for category_id in ordered_categories(labels):
        label = labels[category_id]
        if label.uncertain:
            continue
        for title in describe(category_id).keyword_titles(label):
            if title not in out:
                out.append(title)
    return out


def ordered_categories(categories) -> list[str]:
    """Cinematography first, in the seed's order; then the large vocabularies; then anything else."""
    return sorted(categories, key=lambda c: describe(c).order)


# ----------------------------------------------------------------------------------------------- markers


@dataclass(frozen=True)
class MarkerRecord:
    """What our marker says of itself: its category and label, or that it is our FCPXML chapter marker."""

    category: str | None
    label: str | None = None
    confidence: float | None = None
    chapter: bool = False

    def to_metadata(self) -> dict:
        if self.chapter:
            return {"chapter": True}
        return {"category": self.category, "label": self.label,
                "confidence": round(self.confidence, 6) if self.confidence is not None else None}


def marker_record(marker: Any) -> MarkerRecord | None:
    data = ours(marker)
    if data is None:
        return None
    category, label = data.get("category"), data.get("label")
    return MarkerRecord(category if isinstance(category, str) else None, label if isinstance(label, str) else None,
                        _number(data.get("confidence")), chapter=bool(data.get("chapter")))


def _our_prefixes(extra_titles=()) -> tuple[str, ...]:
    titles = [c.title for c in CINEMATOGRAPHY] + list(VOCABULARY_TITLES.values()) + list(extra_titles)
    return tuple(f"{title}: " for title in titles)


def is_our_marker(marker: Any, category_titles=()) -> bool:
    """Ours: it carries our metadata, or (after a trip through a format that keeps only names, such as an EDL
    or FCP7 XML) its name is one we write, "<Category>: <Label>"."""
    return NAMESPACE in marker.metadata or (marker.name or "").startswith(_our_prefixes(category_titles))


def write_marker_record(marker: Any, record: MarkerRecord) -> None:
    marker.metadata[NAMESPACE] = record.to_metadata()


# ----------------------------------------------------------------------------------------------- media


@dataclass(frozen=True)
class MediaRecord:
    """What we measured of a clip's media file, kept on its reference for the writers."""

    path: str | None
    width: int | None = None
    height: int | None = None
    rate: float | None = None
    codec: str = ""
    start_timecode: str = ""

    def to_metadata(self) -> dict:
        return {"path": self.path, "width": self.width, "height": self.height, "rate": self.rate,
                "codec": self.codec, "start_timecode": self.start_timecode}


def media_record(ref: Any) -> MediaRecord | None:
    data = ours(ref) if ref is not None else None
    if data is None:
        return None

    def whole(key: str) -> int | None:
        value = _number(data.get(key))
        return int(value) if value else None

    path = data.get("path")
    return MediaRecord(str(path) if path else None, whole("width"), whole("height"), _number(data.get("rate")) or None,
                       str(data.get("codec") or ""), str(data.get("start_timecode") or ""))


def write_media_record(ref: Any, record: MediaRecord) -> None:
    ref.metadata[NAMESPACE] = record.to_metadata()


# ----------------------------------------------------------------------------------------------- timelines


def drop_frame(timeline: Any) -> bool | None:
    """The timecode mode a reader found (or the user asked for), if any."""
    data = ours(timeline)
    value = data.get("drop_frame") if data is not None else None
    return value if isinstance(value, bool) else None


def _timeline_data(timeline: Any) -> Any:
    if ours(timeline) is None:
        timeline.metadata[NAMESPACE] = {}
    return timeline.metadata[NAMESPACE]


def set_drop_frame(timeline: Any, value: bool) -> None:
    _timeline_data(timeline)["drop_frame"] = bool(value)


def reader_warnings(timeline: Any) -> list[str]:
    """What a reader of ours could not take from the file (skipped events), to pass on to the user."""
    data = ours(timeline)
    warnings = data.get("reader_warnings") if data is not None else None
    return [str(w) for w in warnings] if isinstance(warnings, (list, tuple)) or \
        type(warnings).__name__ == "AnyVector" else []


def set_reader_warnings(timeline: Any, warnings: list[str]) -> None:
    _timeline_data(timeline)["reader_warnings"] = list(warnings)


def set_selects(timeline: Any, query: str, handles: int, min_confidence: float, source: str, rate: float) -> None:
    """A selects timeline says what it was selected by."""
    timeline.metadata[NAMESPACE] = {"selects": {"query": query, "handles": handles, "min_confidence": min_confidence,
                                                "from": source, "rate": rate}}
