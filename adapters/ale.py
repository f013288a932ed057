"""Avid Log Exchange (ALE) with our labels as bin columns (write only).

Media Composer imports an ALE into a bin, one row per master clip, and shows every column; editors then sort
and sift the bin by "Shot Framing" or "Shot Subject". One row per video clip of the cut (nested stacks
flattened as in ``cinemanet_edit.layout``): Name, Tracks, Start and End (source timecode counted at the ALE's
FPS, drop-frame as the cut), Tape (the reel or tape name the timeline gives, else the file name: Media
Composer merges ALE rows into known clips by Tape and timecode, or by Source File), Source File, then a column
per category with the label's title, its confidence ("Shot Framing Confidence"; both empty where tag writes no
label: below its threshold, or not applicable), "Shot Scale" (1 Extreme Close Up ... 5 Extreme Long, to sort
by size), "Keywords" and the model. At most 64 columns, Avid's limit. Text cells carry no tabs or newlines,
which would break the table.
"""

from __future__ import annotations

from cinemanet_edit import timecode
from cinemanet_edit.layout import Layout, layout
from cinemanet_edit.sanitize import one_line
from cinemanet_edit.schema import ordered_categories
from cinemanet_edit.taxonomy import SHOT_FRAMING, describe

MAX_COLUMNS = 64  # Media Composer reads no more columns than this from an ALE


def _cell(text) -> str:
    return one_line(text).replace("\t", " ")


def _fps(rate) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") if timecode.is_ntsc(rate) else str(round(rate))


def write_to_string(input_otio) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout."""
    return render(layout(input_otio))


def _columns(categories: list[str]) -> tuple[list[str], list[str]]:
    """The header and the categories it holds, within Avid's 64 columns: every category's title first, then
    confidences for as many as fit (a custom set of heads can be long)."""
    fixed, tail = ["Name", "Tracks", "Start", "End", "Tape", "Source File"], ["Keywords", "CinemaNet Model"]
    scale = 1 if SHOT_FRAMING.id in categories else 0
    room = MAX_COLUMNS - len(fixed) - len(tail) - scale
    kept = categories[:room]
    confident = set(kept[: room - len(kept)])
    columns = list(fixed)
    for category in kept:
        title = describe(category).title
        columns += [title, f"{title} Confidence"] if category in confident else [title]
        if category == SHOT_FRAMING.id:
            columns.append("Shot Scale")
    return columns + tail, kept


def _scale(label_id: str) -> str:
    """Shot Scale: 1 for Extreme Close Up up to 5 for Extreme Long Shot, so that sorting the bin by it orders
    clips by shot size (sorting the titles would order them alphabetically)."""
    ids = [label.id for label in SHOT_FRAMING.labels]
    return str(ids.index(label_id) + 1) if label_id in ids else ""


def _cells(placed, categories: list[str]) -> dict[str, str]:
    record = placed.record
    labels = record.labels if record is not None else {}
    cells = {}
    for category in categories:
        entry = labels.get(category)
        if entry is None or entry.uncertain:  # the bin sifts on what tag writes
            continue
        title = describe(category).title
        cells[title], cells[f"{title} Confidence"] = _cell(entry.title), f"{entry.confidence:.2f}"
        if category == SHOT_FRAMING.id:
            cells["Shot Scale"] = _scale(entry.label)
    cells["Keywords"] = _cell(", ".join(record.keywords())) if labels else ""
    cells["CinemaNet Model"] = _cell(record.model if record else "")
    return cells


def render(cut: Layout) -> str:
    clips = [c for track in cut.video for c in track if c.media is not None]
    found = ordered_categories(dict.fromkeys(c for p in clips if p.record is not None for c in p.record.labels))
    columns, categories = _columns(found)
    width = next((c.media.width for c in clips if c.media.width), 1920)
    lines = ["Heading", "FIELD_DELIM\tTABS", f"VIDEO_FORMAT\t{1080 if width >= 1920 else 'CUSTOM'}",
             "AUDIO_FORMAT\t48khz", f"FPS\t{_fps(cut.rate)}", "", "Column", "\t".join(columns), "", "Data"]
    for placed in clips:
        start, end = placed.source_on(cut.rate)
        cells = {"Name": _cell(placed.name), "Tracks": "V",
                 "Start": timecode.render(start, cut.rate, drop_frame=cut.drop_frame),
                 "End": timecode.render(end, cut.rate, drop_frame=cut.drop_frame),
                 "Tape": _cell(placed.media.reel or placed.media.name), "Source File": _cell(placed.media.path or ""),
                 **_cells(placed, categories)}
        lines.append("\t".join(cells.get(column, "") for column in columns))
    return "\n".join(lines) + "\n"
