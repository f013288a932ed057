"""Avid Log Exchange (ALE) with our labels as bin columns (write only).

Media Composer imports an ALE into a bin, one row per master clip, and shows every column; editors then sort
and sift the bin by "Shot Framing" or "Shot Subject". One row per video clip of the cut (nested stacks
flattened as in ``cinemanet_edit.layout``): Name, Tracks, Start and End (source timecode counted at the ALE's
FPS, drop-frame as the cut), Source File, then a column per category with the label's title, its confidence
("Shot Framing Confidence"; both empty where tag writes no label: below its threshold, or not applicable) and
"Keywords". Text cells carry no tabs or newlines, which would break the table.
"""

from __future__ import annotations

from cinemanet_edit import timecode
from cinemanet_edit.layout import Layout, layout
from cinemanet_edit.sanitize import one_line
from cinemanet_edit.schema import ordered_categories
from cinemanet_edit.taxonomy import describe


def _cell(text) -> str:
    return one_line(text).replace("\t", " ")


def _fps(rate) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") if timecode.is_ntsc(rate) else str(round(rate))


def write_to_string(input_otio) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout."""
    return render(layout(input_otio))


def render(cut: Layout) -> str:
    clips = [c for track in cut.video for c in track if c.media is not None]
    categories = ordered_categories(dict.fromkeys(c for p in clips if p.record is not None for c in p.record.labels))

    def title(category: str) -> str:
        return describe(category).title

    columns = ["Name", "Tracks", "Start", "End", "Source File"]
    for category in categories:
        columns += [title(category), f"{title(category)} Confidence"]
    columns += ["Keywords", "CinemaNet Model"]
    width = next((c.media.width for c in clips if c.media.width), 1920)
    lines = ["Heading", "FIELD_DELIM\tTABS", f"VIDEO_FORMAT\t{1080 if width >= 1920 else 'CUSTOM'}",
             "AUDIO_FORMAT\t48khz", f"FPS\t{_fps(cut.rate)}", "", "Column", "\t".join(columns), "", "Data"]
    for placed in clips:
        record = placed.record
        labels = record.labels if record is not None else {}
        start, end = placed.source_on(cut.rate)
        row = [_cell(placed.name), "V", timecode.render(start, cut.rate, drop_frame=cut.drop_frame),
               timecode.render(end, cut.rate, drop_frame=cut.drop_frame), _cell(placed.media.path or "")]
        for category in categories:
            entry = labels.get(category)
            written = entry is not None and not entry.uncertain  # the bin sifts on what tag writes
            row += [_cell(entry.title), f"{entry.confidence:.2f}"] if written else ["", ""]
        row += [_cell(", ".join(record.keywords())) if labels else "", _cell(record.model if record else "")]
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"
