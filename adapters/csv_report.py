"""CSV sidecar report for archivists: one row per video clip (write only).

Columns: track, clip, record in/out, source file, source in/out (timecode), model, then per category its
label title and confidence (``shot.framing``, ``shot.framing.confidence`` ...); where tag writes no label (below
its threshold, not applicable) only the confidence. Text cells that a spreadsheet would run as a formula start
with an apostrophe.
"""

from __future__ import annotations

import csv
import io

from cinemanet_edit_adapters._rows import categories_of, rows

from cinemanet_edit.layout import Layout, layout
from cinemanet_edit.sanitize import csv_cell


def write_to_string(input_otio) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout."""
    return render(layout(input_otio))


def render(cut: Layout) -> str:
    categories = categories_of(cut)
    header = ["track", "clip", "record_in", "record_out", "source_file", "source_in", "source_out", "model"]
    for category in categories:
        header += [category, f"{category}.label", f"{category}.confidence"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows(cut):
        line = [csv_cell(row[k]) for k in header[:8]]
        for category in categories:
            entry = row["labels"].get(category)
            if entry and entry["written"]:
                line += [csv_cell(entry["title"]), csv_cell(entry["label"]), f"{entry['confidence']:.4f}"]
            else:  # not written by tag (below its threshold, not applicable): its score only
                line += ["", "", f"{entry['confidence']:.4f}" if entry else ""]
        writer.writerow(line)
    return buffer.getvalue()
