"""Shared fixtures: tiny media generated with PyAV whose frames carry their own index.

Each frame shows its index as 8 dark-grey/white vertical bars (bit 7 on the left), which survive H.264 and JPEG
compression and scaling to 224x224: ``frame_id(image)`` reads the index back, so a test can check that
the decoder delivered exactly the frame the timecode arithmetic asked for.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest

from cinemanet_edit.taxonomy import SHOT_FRAMING

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BITS = 10  # frame indices up to 1023
DARK_BIT = 60


def pattern(index: int, width: int = 320, height: int = 180) -> np.ndarray:
    """0-bits are dark grey, not black: black bands at both sides would be pillarbox bars to the decoder."""
    image = np.full((height, width, 3), DARK_BIT, np.uint8)
    band = width // BITS
    for bit in range(BITS):
        if index >> (BITS - 1 - bit) & 1:
            image[:, bit * band:(bit + 1) * band] = 255
    return image


def frame_id(image: np.ndarray) -> int:
    width = image.shape[1]
    band = width / BITS
    value = 0
    for bit in range(BITS):
        column = image[:, int(bit * band + band / 4):int((bit + 1) * band - band / 4)]
        value = value << 1 | int(column.mean() > 127)
    return value


def make_video(path: Path, rate: Fraction, frames: int, codec: str = "libx264", timecode: str | None = None,
               gop: int = 12, size: tuple[int, int] = (320, 180), first_index: int = 0, image=None) -> Path:
    """Write ``frames`` frames of ``pattern(first_index + i)`` (or ``image(i)``) at ``rate``; optional start
    timecode."""
    with av.open(str(path), "w") as container:
        if timecode:
            container.metadata["timecode"] = timecode
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"g": str(gop), "preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            picture = pattern(first_index + i, *size) if image is None else image(i)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def one_clip_otio(folder: Path, media: Path, name: str, first: int, duration: int, rate: float = 25) -> Path:
    """``folder/t.otio``: one clip of ``media`` over [first, first + duration) at ``rate``."""
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline(name="t")
    timeline.tracks.append(otio.schema.Track(children=[otio.schema.Clip(
        name=name, media_reference=otio.schema.ExternalReference(target_url=media.as_uri()),
        source_range=TR(RT(first, rate), RT(duration, rate)))]))
    path = folder / "t.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_23976_tc(media_dir) -> Path:
    """23.976 H.264 .mov with start timecode 01:00:00:00, 120 frames."""
    return make_video(media_dir / "a 23976 tc.mov", Fraction(24000, 1001), 120, timecode="01:00:00:00")


@pytest.fixture(scope="session")
def clip_25_mjpeg(media_dir) -> Path:
    """25 fps MJPEG (intra) .mov, no timecode, 100 frames."""
    return make_video(media_dir / "b_25_mjpeg.mov", Fraction(25), 100, codec="mjpeg")


@pytest.fixture(scope="session")
def clip_2997_df(media_dir) -> Path:
    """29.97 H.264 .mp4 with drop-frame start timecode 00:59:59;00, 150 frames."""
    return make_video(media_dir / "c_2997.mp4", Fraction(30000, 1001), 150, timecode="00:59:59;00")


@pytest.fixture(scope="session")
def clip_5994(media_dir) -> Path:
    """59.94 H.264 .mov with timecode 10:00:00;00, 180 frames."""
    return make_video(media_dir / "d_5994.mov", Fraction(60000, 1001), 180, timecode="10:00:00;00", gop=30)


@pytest.fixture(scope="session")
def clip_24(media_dir) -> Path:
    """24 fps H.264 .mp4, long GOP (48), 600 frames: seeks matter here."""
    return make_video(media_dir / "e_24.mp4", Fraction(24), 600, gop=48)


def shared_media() -> Path:
    media = SHARED / "media"
    if not media.is_dir():
        pytest.skip("../shared/media is absent (only developer machines have it)")
    return media


@pytest.fixture(autouse=True)
def isolated_user_models(tmp_path_factory, monkeypatch):
    """Tests never read or write the real user's model folder."""
    monkeypatch.setenv("CINEMANET_MODELS", str(tmp_path_factory.mktemp("user-models")))
    monkeypatch.setenv("CINEMANET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


# ---------------------------------------------------------------- labelled images for training tests


def save_image(path, image):
    """Write a PNG/JPEG through PyAV's image encoders (no Pillow needed)."""
    codec = "png" if path.suffix == ".png" else "mjpeg"
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream(codec, rate=1)
        stream.width, stream.height = image.shape[1], image.shape[0]
        stream.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def scene(label_index: int, seed: int) -> np.ndarray:
    """A picture whose 'framing' is how much of it one big disc fills: learnable from MobileNet features."""
    rng = np.random.default_rng(seed)
    size = 160
    yy, xx = np.mgrid[:size, :size]
    radius = [75, 55, 35, 18, 7][label_index]
    cx, cy = rng.integers(70, 90, 2)
    image = (rng.random((size, size, 3)) * 60 + 40).astype(np.uint8)
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < radius ** 2
    image[disc] = np.array([220, 180, 40]) + rng.integers(-20, 20, 3)
    return image


@pytest.fixture(scope="session")
def poets_folder(tmp_path_factory):
    """TF-for-Poets layout: one folder per label, with a resized near-copy of some images."""
    root = tmp_path_factory.mktemp("poets")
    for i, label in enumerate(SHOT_FRAMING.labels):
        folder = root / label.id.rsplit(".", 1)[1]
        folder.mkdir()
        for k in range(12):
            image = scene(i, 100 * i + k)
            save_image(folder / f"{k}.png", image)
            if k < 2:  # a resized copy: must land on the same side of the split
                small = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(width=97, height=97)
                save_image(folder / f"{k}_small.jpg", small.to_ndarray(format="rgb24"))
    return root
