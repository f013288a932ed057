"""Avid Log Exchange (ALE) with our labels as bin columns (write only).

Media Composer imports an ALE into a bin, one row per master clip, and shows every column; editors then sort
and sift the bin by "Shot Framing" or "Shot Subject". One row per video clip of the cut (nested stacks
flattened as in ``cinemanet_edit.layout``): Name, Tracks, Start and End (source timecode counted at the ALE's
FPS, drop-frame as the cut), Source File, then a column per category with the label's title, its confidence
("Shot Framing Confidence") and "Keywords". Text cells carry no tabs or newlines, which would break the table.
"""

from __future__ import annotations

from cinemanet_edit import timecode
from cinemanet_edit.annotate import NAMESPACE, keywords, ordered_categories
from cinemanet_edit.layout import layout
from cinemanet_edit.sanitize import one_line
from cinemanet_edit.taxonomy import VOCABULARY_TITLES, known_category


def _cell(text) -> str:
    return one_line(text).replace("\t", " ")


def _fps(rate) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") if timecode.is_ntsc(rate) else str(round(rate))


def write_to_string(input_otio) -> str:
    cut = layout(input_otio)
    clips = [c for track in cut.video for c in track if c.media is not None]
    categories: list[str] = []
    for placed in clips:
        data = placed.clip.metadata.get(NAMESPACE)
        for category in (data.get("labels", {}) if hasattr(data, "get") else {}):
            if category not in categories:
                categories.append(category)
    categories = ordered_categories(categories)

    def title(category: str) -> str:
        known = known_category(category)
        return known.title if known is not None else VOCABULARY_TITLES.get(category, category)

    columns = ["Name", "Tracks", "Start", "End", "Source File"]
    for category in categories:
        columns += [title(category), f"{title(category)} Confidence"]
    columns += ["Keywords", "CinemaNet Model"]
    width = next((c.media.width for c in clips if c.media.width), 1920)
    lines = ["Heading", "FIELD_DELIM\tTABS", f"VIDEO_FORMAT\t{1080 if width >= 1920 else 'CUSTOM'}",
             "AUDIO_FORMAT\t48khz", f"FPS\t{_fps(cut.rate)}", "", "Column", "\t".join(columns), "", "Data"]
    for placed in clips:
        data = placed.clip.metadata.get(NAMESPACE)
        labels = data.get("labels", {}) if hasattr(data, "get") else {}
        start, end = placed.source_on(cut.rate)
        row = [_cell(placed.name), "V", timecode.render(start, cut.rate, drop_frame=cut.drop_frame),
               timecode.render(end, cut.rate, drop_frame=cut.drop_frame), _cell(placed.media.path or "")]
        for category in categories:
            entry = labels.get(category)
            row += [_cell(entry["title"]), f"{entry['confidence']:.2f}"] if entry else ["", ""]
        row += [_cell(", ".join(keywords(labels))) if labels else "",
                _cell(data.get("model", "") if hasattr(data, "get") else "")]
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"
