"""JSON sidecar report for archivists: one object per video clip (write only)."""

from __future__ import annotations

import json

from cinemanet_edit_adapters._rows import rows

from cinemanet_edit.layout import Layout, layout


def write_to_string(input_otio) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout."""
    return render(layout(input_otio))


def render(cut: Layout) -> str:
    return json.dumps({"timeline": cut.name, "clips": rows(cut)}, indent=2, ensure_ascii=False) + "\n"
