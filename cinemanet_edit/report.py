"""The HTML report's pictures: JPEG thumbnails of the frames the analysis used (``schema.ClipRecord.samples``),
kept as the analysis decodes them (``ThumbnailCollector``) or decoded here, one pass per file. The page itself
is written by the ``cinemanet_html`` adapter (``adapters/html_report.py``), which takes them as an option.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from cinemanet_edit_adapters.html_report import sample_frames

from .layout import Layout, layout

THUMB_WIDTH = 144


def _jpeg_encoder(width: int, height: int):
    import av

    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = 1
    codec.options = {"qscale": "8"}
    codec.open()

    def encode(image: np.ndarray) -> bytes:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
            width=width, height=height, format="yuvj420p")
        return b"".join(bytes(p) for p in codec.encode(frame))

    return encode


class ThumbnailCollector:
    """Keeps a JPEG of each frame the analysis decodes (model-size squares, put back to the picture's shape)."""

    def __init__(self, files=None):
        self.files = files  # the run's decode.MediaFiles: the frame size is known from its probe
        self.thumbs: dict[tuple[str, int], bytes] = {}
        self._encoders: dict[tuple[int, int], object] = {}
        self._sizes: dict[str, tuple[int, int]] = {}

    def __call__(self, path: Path, index: int, image: np.ndarray) -> None:
        key = str(Path(path).resolve())
        if key not in self._sizes:
            from . import decode

            info = (self.files or decode.MediaFiles()).probe(Path(path))
            height = max(2, round(THUMB_WIDTH * info.height / max(1, info.width) / 2) * 2)
            self._sizes[key] = (THUMB_WIDTH, height)
        size = self._sizes[key]
        if size not in self._encoders:
            self._encoders[size] = _jpeg_encoder(*size)
        self.thumbs[(key, index)] = self._encoders[size](image)  # the encoder scales it to size


def decode_thumbnails(cut: Layout, existing: dict | None = None) -> dict[tuple[str, int], bytes]:
    """JPEG thumbnails of every clip's analysed frames: reused from ``existing`` ((path, frame) -> JPEG bytes),
    the rest decoded, one forward pass per file."""
    from . import decode
    from .errors import CinemanetError

    thumbs = dict(existing or {})
    wanted: dict[str, set[int]] = defaultdict(set)
    sizes: dict[str, tuple[int, int]] = {}
    for placed in cut.all_clips():
        if placed.kind != "video" or placed.media is None or not placed.media.path:
            continue
        for frame in sample_frames(placed):
            if (placed.media.path, frame) not in thumbs:
                wanted[placed.media.path].add(frame)
        width, height = placed.media.width or 16, placed.media.height or 9
        sizes[placed.media.path] = (THUMB_WIDTH, max(2, round(THUMB_WIDTH * height / width / 2) * 2))
    for path, frames in wanted.items():
        width, height = sizes[path]
        encode = _jpeg_encoder(width, height)
        try:
            for frame in decode.decode_frames(Path(path), sorted(frames), width, height=height, crop_bars=False):
                thumbs[(path, frame.index)] = encode(frame.image)
        except CinemanetError:
            continue  # offline or unreadable media: the card shows no picture
    return thumbs


def write_report(timeline, path: Path) -> None:
    """Write the page for a tagged ``timeline`` to ``path`` (atomically), its pictures decoded from the media."""
    from .formats import by_name, write_outputs

    cut = layout(timeline)
    page = by_name("html")  # whatever the file's name: the report command writes the page
    write_outputs(timeline, [Path(path)], page.name, {page.adapter: {"thumbnails": decode_thumbnails(cut)}}, cut)

