"""Regenerate the shipped example: short clips made from public-domain / CC0 stills, and a timeline.

The stills come from scikit-image's sample data (chelsea and coffee: CC0; astronaut and rocket: public
domain, see examples/README.md). Run with scikit-image installed:  python examples/make_example.py
The output is committed; tests do not need scikit-image.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio

HERE = Path(__file__).resolve().parent
RATE = Fraction(24000, 1001)
W, H = 640, 360


def ken_burns(image: np.ndarray, frames: int, zoom_to: float) -> list[np.ndarray]:
    """A slow push-in on the still: what a documentary editor would cut."""
    h, w = image.shape[:2]
    out = []
    for i in range(frames):
        z = 1 + (zoom_to - 1) * i / max(1, frames - 1)
        ch, cw = int(min(h, w * H / W) / z), int(min(w, h * W / H) / z)
        y, x = (h - ch) // 2, (w - cw) // 2
        crop = np.ascontiguousarray(image[y:y + ch, x:x + cw])
        frame = av.VideoFrame.from_ndarray(crop, format="rgb24").reformat(width=W, height=H)
        out.append(frame.to_ndarray(format="rgb24"))
    return out


def write_clip(path: Path, images: list[np.ndarray], codec: str, start_tc: str) -> None:
    with av.open(str(path), "w") as container:
        container.metadata["timecode"] = start_tc
        stream = container.add_stream(codec, rate=RATE)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "30", "preset": "slow", "g": "24"}
        else:
            stream.options = {"q:v": "8"}
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    import skimage.data

    media = HERE / "media"
    media.mkdir(exist_ok=True)
    clips = [  # (file, still, codec, start timecode, frames, zoom)
        ("cat.mov", "chelsea", "libx264", "01:00:00:00", 96, 1.3),
        ("espresso.mov", "coffee", "mjpeg", "02:10:00:00", 72, 1.4),
        ("astronaut.mp4", "astronaut", "libx264", "00:00:00:00", 72, 1.2),
        ("launch.mov", "rocket", "libx264", "10:00:00:00", 72, 1.3),
    ]
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    rate = float(RATE)
    for i, (name, still, codec, tc, frames, zoom) in enumerate(clips):
        write_clip(media / name, ken_burns(getattr(skimage.data, still)(), frames, zoom), codec, tc)
        start = otio.opentime.from_timecode(tc, rate)
        available = otio.opentime.TimeRange(start, otio.opentime.RationalTime(frames, rate))
        ref = otio.schema.ExternalReference(target_url=f"media/{name}", available_range=available)
        # Trimmed: each clip uses the middle of its media, as an edit would.
        source = otio.opentime.TimeRange(start + otio.opentime.RationalTime(12, rate),
                                         otio.opentime.RationalTime(frames - 24, rate))
        track.append(otio.schema.Clip(name=Path(name).stem, media_reference=ref, source_range=source))
        if i == 1:
            track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(12, rate)))
    timeline = otio.schema.Timeline(name="cinemanet-edit example")
    timeline.tracks.append(track)
    timeline.global_start_time = otio.opentime.from_timecode("01:00:00:00", rate)
    otio.adapters.write_to_file(timeline, str(HERE / "example.otio"))


if __name__ == "__main__":
    main()
