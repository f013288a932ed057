"""JSON sidecar report for archivists: one object per video clip (write only)."""

from __future__ import annotations

import json

from cinemanet_edit_adapters._rows import rows


def write_to_string(input_otio) -> str:
    return json.dumps({"timeline": input_otio.name, "clips": rows(input_otio)}, indent=2, ensure_ascii=False) + "\n"
