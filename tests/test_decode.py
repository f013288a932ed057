"""Decoding: the frame delivered for an index is that frame, across seeks, codecs and rates."""

from fractions import Fraction

import numpy as np
import pytest
from conftest import frame_id, make_video, save_image, shared_media

from cinemanet_edit import decode
from cinemanet_edit.errors import CinemanetError


def test_probe_rate_length_timecode(clip_23976_tc, clip_2997_df, clip_25_mjpeg):
    info = decode.probe(clip_23976_tc)
    assert info.rate == Fraction(24000, 1001) and info.frame_count == 120
    assert info.start_timecode == "01:00:00:00" and info.start_frame == 86400
    info = decode.probe(clip_2997_df)
    assert info.rate == Fraction(30000, 1001)
    assert info.start_timecode == "00:59:59;00"
    assert info.start_frame == 107892 - 30  # one second (30 frames, no drop inside it) before 01:00:00;00
    info = decode.probe(clip_25_mjpeg)
    assert (info.rate, info.frame_count, info.start_frame, info.codec) == (25, 100, 0, "mjpeg")


@pytest.mark.parametrize("fixture", ["clip_23976_tc", "clip_25_mjpeg", "clip_2997_df", "clip_5994", "clip_24"])
def test_frames_are_the_requested_ones(fixture, request):
    path = request.getfixturevalue(fixture)
    count = decode.probe(path).frame_count
    wanted = sorted({0, 1, 5, count // 3, count // 3 + 1, count // 2, count - 60, count - 2, count - 1})
    report = decode.DecodeReport(path)
    frames = list(decode.decode_frames(path, wanted, 224, report))
    assert [f.index for f in frames] == wanted
    assert [frame_id(f.image) for f in frames] == wanted
    assert frames[0].image.shape == (224, 224, 3)
    assert report.missing == [] and report.error is None


def test_indices_past_the_end_are_reported(clip_25_mjpeg):
    report = decode.DecodeReport(clip_25_mjpeg)
    frames = list(decode.decode_frames(clip_25_mjpeg, [10, 500], 224, report))
    assert [f.index for f in frames] == [10]
    assert report.missing == [500]


def test_truncated_file_yields_the_frames_it_has(tmp_path):
    whole = make_video(tmp_path / "whole.ts", Fraction(25), 100, gop=10)
    broken = tmp_path / "broken.ts"
    raw = whole.read_bytes()
    broken.write_bytes(raw[: len(raw) // 2])
    report = decode.DecodeReport(broken)
    frames = list(decode.decode_frames(broken, [2, 20, 95], 224, report))
    assert [f.index for f in frames] == [2, 20]
    assert [frame_id(f.image) for f in frames] == [2, 20]
    assert report.missing == [95]


def test_garbage_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mov"
    bad.write_bytes(b"not a movie" * 100)
    with pytest.raises(CinemanetError, match="cannot open media"):
        decode.probe(bad)
    report = decode.DecodeReport(bad)
    assert list(decode.decode_frames(bad, [0], 224, report)) == []
    assert report.missing == [0] and "cannot open media" in report.error


def test_shared_media_decode():
    media = shared_media()
    for path in sorted(media.iterdir()):
        if path.suffix in (".md",):
            continue
        info = decode.probe(path)
        wanted = [0, info.frame_count // 2, max(0, info.frame_count - 2)]
        report = decode.DecodeReport(path)
        frames = list(decode.decode_frames(path, wanted, 224, report))
        if "broken" in path.name:
            assert frames, path  # decodes partly
            continue
        assert [f.index for f in frames] == sorted(set(wanted)), (path, report)


def test_close_samples_share_one_pass_and_far_ones_seek(clip_24, monkeypatch):
    seeks = []
    original = decode._Reader._restart

    def counting(self, target, back):
        seeks.append(target)
        return original(self, target, back)

    monkeypatch.setattr(decode._Reader, "_restart", counting)
    close = [300, 310, 320, 330]  # within SEEK_GAP_SECONDS of each other: one seek to reach 300, then forward
    assert [frame_id(f.image) for f in decode.decode_frames(clip_24, close, 224)] == close
    assert seeks == [300]
    seeks.clear()
    far = [10, 200, 400, 590]
    assert [frame_id(f.image) for f in decode.decode_frames(clip_24, far, 224)] == far
    assert seeks == [200, 400, 590]


def test_rotation_metadata_and_exif_orientation_are_respected(tmp_path):
    """A phone clip stored on its side (display rotation) and a photo with EXIF orientation 6 decode upright."""
    import struct

    import av

    from cinemanet_edit import decode

    image = np.zeros((180, 320, 3), np.uint8)
    image[:, :40] = 255  # a white band on the stored picture's left
    movie = tmp_path / "phone.mp4"
    with av.open(str(movie), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.set_display_rotation(90)  # shown turned 90 degrees counter-clockwise
        for _ in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    (frame,) = decode.decode_frames(movie, [2], 64)
    rows = frame.image[:, :, 0].mean(axis=1)
    assert rows[-1] > 200 and rows[0] < 50  # the left band is now at the bottom

    jpeg = tmp_path / "plain.jpg"
    save_image(jpeg, image)
    data = jpeg.read_bytes()
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    rotated = tmp_path / "exif6.jpg"
    rotated.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
    (frame,) = decode.decode_frames(rotated, [0], 64)
    rows = frame.image[:, :, 0].mean(axis=1)
    assert rows[0] > 200 and rows[-1] < 50  # orientation 6: turned clockwise, the left band on top


def test_bars_are_cropped_and_dark_scenes_are_not(tmp_path):
    """Pillarboxed and letterboxed copies of the frame-id media decode to the same model input as the plain
    file; a dark band on one side, or a dark but textured scene, is picture, not a bar."""
    import av
    from conftest import pattern

    from cinemanet_edit import decode

    plain = pattern(37, 320, 180)
    pillar = np.zeros((180, 400, 3), np.uint8)
    pillar[:, 40:360] = plain
    letter = np.zeros((240, 320, 3), np.uint8)
    letter[30:210] = plain
    base = decode._scaled(av.VideoFrame.from_ndarray(plain, format="rgb24"), 224, 224, crop_bars=True)
    for boxed in (pillar, letter):
        got = decode._scaled(av.VideoFrame.from_ndarray(boxed, format="rgb24"), 224, 224, crop_bars=True)
        assert np.abs(got.astype(int) - base.astype(int)).mean() < 1 and frame_id(got) == 37
        whole = decode._scaled(av.VideoFrame.from_ndarray(boxed, format="rgb24"), 224, 224, crop_bars=False)
        assert np.abs(whole.astype(int) - base.astype(int)).mean() > 5  # the explicit choice: bars kept
    one_sided = letter.copy()
    one_sided[210:] = 200  # a bright floor: the top band alone is no letterbox
    assert decode.picture_box(av.VideoFrame.from_ndarray(one_sided, format="rgb24")) is None
    rng = np.random.default_rng(0)
    night = (rng.random((180, 320, 3)) * 40).astype(np.uint8)  # dark, but with texture
    assert decode.picture_box(av.VideoFrame.from_ndarray(night, format="rgb24")) is None


def test_bars_with_a_logo_or_text_in_them_are_still_bars():
    """A distributor's logo in the bottom bar and a line of burned-in text in the top one: the bars are still
    found, whole, and the model input is the plain picture's."""
    import av
    from conftest import pattern

    from cinemanet_edit import decode

    plain = pattern(37, 320, 180)
    letter = np.zeros((240, 320, 3), np.uint8)
    letter[30:210] = plain
    letter[214:236, 250:300] = 230  # a logo: 16% of the width, most of the bar's height
    letter[12:18, 40:110:3] = 255  # burned-in text: thin strokes
    base = decode._scaled(av.VideoFrame.from_ndarray(plain, format="rgb24"), 224, 224, crop_bars=True)
    frame = av.VideoFrame.from_ndarray(letter, format="rgb24")
    box = decode.picture_box(frame)
    assert box is not None and abs(box[1] - 30 / 240) < 0.02 and abs(box[3] - 210 / 240) < 0.02
    got = decode._scaled(frame, 224, 224, crop_bars=True)
    assert np.abs(got.astype(int) - base.astype(int)).mean() < 1 and frame_id(got) == 37
