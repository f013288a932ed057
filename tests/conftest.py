"""Shared fixtures: tiny media generated with PyAV whose frames carry their own index.

Each frame shows its index as 8 dark-grey/white vertical bars (bit 7 on the left), which survive H.264 and JPEG
compression and scaling to 224x224: ``frame_id(image)`` reads the index back, so a test can check that
the decoder delivered exactly the frame the timecode arithmetic asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from timecode import Timecode

from cinemanet_edit import annotate, timecode
from cinemanet_edit.taxonomy import SHOT_ANGLE, SHOT_FRAMING
from cinemanet_edit.types import CategoryLabel, ClipLabels

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
    monkeypatch.setenv("CINEMANET_CORRECTIONS", str(tmp_path_factory.mktemp("user-data") / "corrections.sqlite"))
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


# ---------------------------------------------------------------- labelled timelines shared by the format tests

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


VIDEO_RATES = [24000 / 1001, 24, 25, 30000 / 1001, 30, 50, 60000 / 1001, 60]
LABELLED_CATEGORIES = {c.id: c for c in (SHOT_FRAMING, SHOT_ANGLE)}


def labelled(clip: otio.schema.Clip, framing: str, angle: str) -> None:
    def lab(cat, label_id):
        return CategoryLabel(cat.id, label_id, cat.label(label_id).title, 0.8,
                             {lab.id: (0.8 if lab.id == label_id else 0.2 / (len(cat.labels) - 1))
                              for lab in cat.labels})

    source = clip.trimmed_range()
    annotate.annotate(clip, ClipLabels("k", {"shot.framing": lab(SHOT_FRAMING, framing),
                                             "shot.angle": lab(SHOT_ANGLE, angle)},
                                       (source.start_time.value,), source.start_time.rate), LABELLED_CATEGORIES,
                      "test@1")


def tc(text: str, rate: float) -> int:
    """Frames of an hour-style timecode at ``rate``: drop-frame (01:00:00;00) at 29.97 and 59.94."""
    drop = round(rate) in (30, 60) and round(rate) != rate
    return timecode.parse(text[:-3] + (";" if drop else ":") + text[-2:], rate)


def labelled_cut(rate: float) -> otio.schema.Timeline:
    """01:00:00:00 timeline; media whose timecode starts at 10:00:00:00; a gap; a clip on V2."""
    media_start = RT(tc("10:00:00:00", rate), rate)

    def clip(name, start_frames, frames):
        ref = otio.schema.ExternalReference(target_url=f"file:///Volumes/Media/{name}.mov",
                                            available_range=TR(media_start, RT(5000, rate)))
        ref.metadata["cinemanet"] = {"width": 1920, "height": 1080, "rate": rate}
        return otio.schema.Clip(name=name, media_reference=ref,
                                source_range=TR(media_start + RT(start_frames, rate), RT(frames, rate)))

    a, b, c = clip("A001", 100, 48), clip("B002", 7, 31), clip("C003", 250, 20)
    labelled(a, "shot.framing.close-up", "shot.angle.low")
    labelled(b, "shot.framing.long", "shot.angle.high")
    labelled(c, "shot.framing.medium", "shot.angle.straight")
    a.markers.append(otio.schema.Marker(name="editor note", marked_range=TR(a.source_range.start_time + RT(5, rate),
                                                                            RT(1, rate)), comment="keep"))
    v1 = otio.schema.Track(children=[a, otio.schema.Gap(duration=RT(12, rate)), b])
    v2 = otio.schema.Track(children=[otio.schema.Gap(duration=RT(10, rate)), c])
    tl = otio.schema.Timeline(name="reel 1")
    tl.global_start_time = RT(tc("01:00:00:00", rate), rate)
    tl.tracks.append(v1)
    tl.tracks.append(v2)
    return tl


def tagged_cut(tmp_path=None) -> otio.schema.Timeline:
    """Five clips on two tracks, labelled; media of 200 frames starting at 01:00:00:00."""
    rate = 25

    def clip(name, start, length, framing, angle):
        ref = otio.schema.ExternalReference(target_url=f"file:///m/{name}.mov",
                                            available_range=TR(RT(90000, rate), RT(200, rate)))
        ref.metadata["cinemanet"] = {"rate": rate, "width": 1920, "height": 1080}
        c = otio.schema.Clip(name=name, media_reference=ref, source_range=TR(RT(90000 + start, rate),
                                                                               RT(length, rate)))
        labelled(c, framing, angle)
        return c

    v1 = otio.schema.Track(children=[clip("a", 0, 50, "shot.framing.close-up", "shot.angle.low"),
                                     clip("b", 100, 50, "shot.framing.long", "shot.angle.high"),
                                     clip("c", 190, 10, "shot.framing.extreme-close-up", "shot.angle.low")])
    v2 = otio.schema.Track(children=[otio.schema.Gap(duration=RT(60, rate)),
                                     clip("d", 20, 20, "shot.framing.close-up", "shot.angle.high")])
    tl = otio.schema.Timeline(name="cut")
    tl.global_start_time = RT(90000, rate)
    tl.tracks.extend([v1, v2])
    return tl


FCPXML_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.11">
  <resources>
    <format id="r1" name="FFVideoFormat1080p2997" frameDuration="1001/30000s" width="1920" height="1080"/>
    <format id="r2" name="FFVideoFormat1080p2398" frameDuration="1001/24000s" width="1920" height="1080"/>
    <asset id="r3" name="A001_C002" uid="X" start="0s" duration="60060/1000s" hasVideo="1" format="r2" hasAudio="1">
      <media-rep kind="original-media" sig="Y" src="file:///Volumes/RAID/Day%201/A001_C002.mov"/>
      <metadata><md key="com.apple.proapps.studio.reel" value="A001"/></metadata>
    </asset>
    <asset id="r4" name="B001" start="3600s" duration="100s" hasVideo="1" format="r1">
      <media-rep kind="original-media" src="file:///Volumes/RAID/B001.mov"/>
    </asset>
    <asset id="r5" name="cam2" start="0s" duration="100s" hasVideo="1" format="r1">
      <media-rep kind="original-media" src="file:///Volumes/RAID/cam2.mov"/>
    </asset>
    <effect id="r6" name="Basic Title" uid=".../Titles.localized/Basic Text.localized/Basic Title.localized/Basic Title.moti"/>
    <media id="r7" name="Compound Clip">
      <sequence format="r1" duration="10s" tcStart="0s">
        <spine>
          <asset-clip ref="r4" offset="0s" name="B001 inside" start="3610s" duration="10s"/>
        </spine>
      </sequence>
    </media>
    <media id="r8" name="Multicam">
      <multicam format="r1" tcStart="0s">
        <mc-angle name="Cam 1" angleID="a1">
          <asset-clip ref="r4" offset="0s" name="B001" start="3600s" duration="100s"/>
        </mc-angle>
        <mc-angle name="Cam 2" angleID="a2">
          <asset-clip ref="r5" offset="0s" name="cam2" start="0s" duration="100s"/>
        </mc-angle>
      </multicam>
    </media>
  </resources>
  <library>
    <event name="Dailies">
      <project name="Selects">
        <sequence format="r1" duration="5s" tcStart="0s"><spine>
          <asset-clip ref="r4" offset="0s" name="sel" start="3605s" duration="5s"/>
        </spine></sequence>
      </project>
    </event>
    <event name="Edit">
      <project name="Cut 3">
        <sequence format="r1" duration="40s" tcStart="3600s" tcFormat="DF">
          <spine>
            <title ref="r6" offset="3600s" name="Opening" start="0s" duration="2002/1000s"/>
            <asset-clip ref="r3" offset="36020020/10000s" name="A001_C002" start="1001/100s" duration="5005/1000s" tcFormat="NDF">
              <asset-clip ref="r4" lane="1" offset="12012/1000s" name="B-roll" start="3620s" duration="2s"/>
              <marker start="11011/1000s" duration="1001/24000s" value="Slate" note="take 2"/>
            </asset-clip>
            <ref-clip ref="r7" offset="36070070/10000s" name="Compound" start="2s" duration="3s"/>
            <mc-clip ref="r8" offset="36100100/10000s" name="Multicam" start="10s" duration="4s">
              <mc-source angleID="a1" srcEnable="audio"/>
              <mc-source angleID="a2" srcEnable="video"/>
            </mc-clip>
            <gap offset="36140140/10000s" name="Gap" duration="1s"/>
          </spine>
        </sequence>
      </project>
    </event>
  </library>
</fcpxml>
"""


# ---------------------------------------------------------------- the editorial truth: a cut and what readers find


# (id, exact rate, drop-frame, the timecode package's name for the rate)
EDITORIAL_RATES = [
    ("23.976", Fraction(24000, 1001), False, "23.976"),
    ("24", Fraction(24), False, "24"),
    ("25", Fraction(25), False, "25"),
    ("29.97DF", Fraction(30000, 1001), True, "29.97"),
    ("29.97NDF", Fraction(30000, 1001), False, "29.97"),
    ("59.94DF", Fraction(60000, 1001), True, "59.94"),
]


def frames_of(tc: str, fps: str, drop: bool) -> int:
    """Frame count of a timecode by the ``timecode`` package (its frames are 1-based)."""
    return Timecode(fps, tc, force_non_drop_frame=not drop).frames - 1


@dataclass
class Expect:
    track: str  # "V1", "V2", "V3", "A1"
    name: str
    record_in: int  # timeline frames, start timecode included
    record_out: int
    path: str
    media_rate: Fraction
    media_start: int  # media frames of its start timecode
    source_offset: Fraction  # seconds of (time)code from the media's first frame to the clip's first visible frame
    markers: list  # (name, record frame)


def truth_media(name: str, rate: Fraction, start_frames: int = 0, length_s: int = 600):
    ref = otio.schema.ExternalReference(target_url=f"file:///Volumes/Media/{name}.mov",
                                        available_range=TR(RT(start_frames, float(rate)),
                                                           RT(round(length_s * rate), float(rate))))
    ref.metadata["cinemanet"] = {"width": 1920, "height": 1080, "rate": float(rate)}
    return ref


def per_second(rate: Fraction) -> int:
    """Frames per second of timecode: the nominal rate at video rates; 12.5 fps counts real seconds."""
    return round(rate) if rate.denominator in (1, 1001) else rate


def source_cut(rate: Fraction, drop: bool, fps: str):
    """The test timeline and what every reader must find in our files."""
    n = round(rate)
    sep = ";" if drop else ":"
    start = frames_of(f"01:00:00{sep}00", fps, drop)
    a_start = frames_of(f"10:00:00{sep}00", fps, drop)
    f_rate = Fraction(15)

    def clip(name, ref, offset_s, length_s):
        r = Fraction(ref.available_range.start_time.rate).limit_denominator(1001)
        k = per_second(r)
        first = ref.available_range.start_time.value + offset_s * k
        return otio.schema.Clip(name=name, media_reference=ref,
                                source_range=TR(RT(float(first), float(r)), RT(float(length_s * k), float(r))))

    def fr(seconds):  # record frames from the timeline's start
        return start + round(Fraction(seconds) * n)

    a = clip("A", truth_media("A", rate, a_start), 4, 2)
    b = clip("B", truth_media("B", rate), 1, 4)
    c = clip("C", truth_media("C30", Fraction(30)), 2, 2)
    d = clip("D", truth_media("D10", Fraction(10)), 2, 2)
    e = clip("E", truth_media("E12", Fraction(25, 2)), 2, 2)
    f = clip("F", truth_media("F15", f_rate, 54000), 3, 1)
    sound = clip("A sound", truth_media("A", rate, a_start), 4, 3)
    for x in (a, b, c, d, e, f):
        labelled(x, "shot.framing.close-up", "shot.angle.low")
    def marker(name, clip_, offset_frames, length):
        at = clip_.source_range.start_time + RT(offset_frames, float(rate))
        clip_.markers.append(otio.schema.Marker(name=name, marked_range=TR(at, RT(length, float(rate)))))

    marker("note A", a, n, 0)
    marker("note B", b, 2 * n, 1)
    marker("hidden", b, n // 2, 1)  # in the second the nested stack hides
    inner1 = otio.schema.Track(children=[b])
    inner2 = otio.schema.Track(children=[otio.schema.Gap(duration=RT(n, float(rate))), c])
    stack = otio.schema.Stack(name="nest", children=[inner1, inner2],
                              source_range=TR(RT(n, float(rate)), RT(3 * n, float(rate))))
    v1 = otio.schema.Track(children=[a, otio.schema.Gap(duration=RT(n, float(rate))), stack, d, e])
    v2 = otio.schema.Track(children=[otio.schema.Gap(duration=RT(n, float(rate))), f])
    a1 = otio.schema.Track(kind=otio.schema.TrackKind.Audio, children=[sound])
    tl = otio.schema.Timeline(name="truth")
    tl.global_start_time = RT(start, float(rate))
    tl.metadata["cinemanet"] = {"drop_frame": drop}
    tl.tracks.extend([v1, v2, a1])
    ours = ["Shot Framing: Close Up", "Shot Angle: Low"]

    def expect(track, name, rec, length, file, m_rate, m_start, offset, notes=()):
        r_in = fr(rec)
        return Expect(track, name, r_in, fr(rec + length), f"/Volumes/Media/{file}.mov", m_rate, m_start,
                      Fraction(offset), [(o, r_in) for o in ours] + [(nm, r_in + k) for nm, k in notes])

    expected = [
        expect("V1", "A", 0, 2, "A", rate, a_start, 4, [("note A", n)]),
        expect("V1", "B", 3, 3, "B", rate, 0, 2, [("note B", n)]),  # the stack hides B's first second
        expect("V1", "D", 6, 2, "D10", Fraction(10), 0, 2),
        expect("V1", "E", 8, 2, "E12", Fraction(25, 2), 0, 2),
        expect("V2", "F", 1, 1, "F15", f_rate, 54000, 3),
        expect("V3", "C", 3, 2, "C30", Fraction(30), 0, 2),  # the nested stack's second track
    ]
    sound_expect = Expect("A1", "A sound", fr(0), fr(3), "/Volumes/Media/A.mov", rate, a_start, Fraction(4), [])
    return tl, expected, sound_expect
