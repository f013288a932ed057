"""Frames of a flat file -> shot boundaries: TransNetV2 (Souček & Lokoč 2020, MIT).

The network reads every frame scaled to 48x27 in windows of 100 frames (50 new ones each, the rest context)
and gives each frame the probability that a transition passes there. Its convolutional trunk (dilated 3-D
convolutions) runs in LiteRT or Keras like the backbone; the two similarity heads (learned frame features and
colour histograms compared across 101 frames) and the classifier are small and run in NumPy. The weights are
the authors', converted once from the PyTorch port's file (``cinemanet-edit models convert-transnetv2``) and
shipped as ``models/transnetv2.npz`` with a hash; no PyTorch at run time.

A transition becomes one boundary: a run of frames above the threshold (one frame for a cut, several for a
dissolve or fade) splits the shots at its middle, so the shots cover the file without holes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import CinemanetError

if TYPE_CHECKING:
    from .decode import MediaFiles

FRAME_HEIGHT, FRAME_WIDTH = 27, 48
WINDOW, STEP, CONTEXT = 100, 50, 25  # frames per window, new frames per window, context on each side
LOOKUP = 101  # frames each similarity head compares
BLOCK_MEANS, FLAT = 448, 4608  # the trunk's outputs' widths: every level's mean features, the last level flat
THRESHOLD = 0.5  # the authors' default
SAME_SCENE = 0.8  # normalised luma correlation above which the frames around a transition are one scene
SURE = 0.9  # transitions scored at least this high are kept whatever the frames around them look like
DARK = 16  # mean luma (0-255) of a black frame in a fade
FADE_GAP = 20  # frames between the two halves of a fade through black
FILTERS, LEVELS, BLOCKS_PER_LEVEL = 16, 3, 2


@dataclass(frozen=True)
class Shot:
    """A shot of a flat file: media frames [first, end)."""

    index: int
    first: int
    end: int


def _separable_conv_layer():
    """A Keras layer for the port's separable 3-D convolution: a 3x3 spatial convolution on each frame, then a
    3-tap temporal convolution dilated by ``dilation`` frames (zero-padded in time). Written as a per-frame
    Conv2D and three shifted matrix products so that LiteRT (XNNPACK) runs it with built-in operators."""
    import keras
    from keras import ops

    class SeparableConv3D(keras.layers.Layer):
        def __init__(self, filters: int, dilation: int, **kwargs):
            super().__init__(**kwargs)
            self.filters, self.dilation = filters, dilation

        def build(self, input_shape):
            channels = input_shape[-1]
            self.spatial = self.add_weight(shape=(3, 3, channels, 2 * self.filters), name="spatial")
            self.temporal = self.add_weight(shape=(3, 2 * self.filters, self.filters), name="temporal")

        def call(self, x):
            shape = ops.shape(x)
            y = ops.reshape(x, (-1, x.shape[2], x.shape[3], x.shape[4]))
            y = ops.conv(y, self.spatial, padding="same")
            y = ops.reshape(y, (shape[0], shape[1], x.shape[2], x.shape[3], 2 * self.filters))
            d = self.dilation
            p = ops.pad(y, [[0, 0], [d, d], [0, 0], [0, 0], [0, 0]])
            channels = 2 * self.filters

            def tap(part, k):  # a 2-D matrix product, which LiteRT runs as a fully connected layer
                return ops.matmul(ops.reshape(part, (-1, channels)), self.temporal[k])

            z = tap(p[:, : -2 * d], 0) + tap(p[:, d:-d], 1) + tap(p[:, 2 * d:], 2)
            return ops.reshape(z, (shape[0], shape[1], x.shape[2], x.shape[3], self.filters))

    return SeparableConv3D


def build_trunk():
    """The convolutional trunk in Keras: uint8-valued float frames (B, T, 27, 48, 3) in; out the per-frame mean
    of every level's features (B, T, 448) and the last level's features flattened (B, T, 4608). Layer names
    follow the PyTorch port's parameter names."""
    import keras
    from keras import layers, ops

    conv_layer = _separable_conv_layer()

    def ddcnn(x, name: str, filters: int, activation: bool):
        x = layers.Concatenate(axis=-1, name=f"{name}.cat")(
            [conv_layer(filters, d, name=f"{name}.Conv3D_{d}")(x) for d in (1, 2, 4, 8)])
        x = layers.BatchNormalization(epsilon=1e-3, name=f"{name}.bn")(x)
        return layers.ReLU(name=f"{name}.relu")(x) if activation else x

    def pool(t):  # 2x2 average over each frame
        shape = ops.shape(t)
        frames = ops.reshape(t, (-1, t.shape[2], t.shape[3], t.shape[4]))
        pooled = ops.average_pool(frames, 2, strides=2, padding="valid")
        return ops.reshape(pooled, (shape[0], shape[1], t.shape[2] // 2, t.shape[3] // 2, t.shape[4]))

    inputs = keras.Input((None, FRAME_HEIGHT, FRAME_WIDTH, 3), name="frames")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    means = []
    for level in range(LEVELS):
        filters = FILTERS * 2 ** level
        shortcut = None
        for block in range(BLOCKS_PER_LEVEL):
            x = ddcnn(x, f"SDDCNN.{level}.DDCNN.{block}", filters, activation=block != BLOCKS_PER_LEVEL - 1)
            shortcut = x if shortcut is None else shortcut
        x = layers.ReLU(name=f"SDDCNN.{level}.relu")(x)
        x = layers.Add(name=f"SDDCNN.{level}.shortcut")([x, shortcut])
        x = layers.Lambda(pool, name=f"SDDCNN.{level}.pool")(x)
        means.append(layers.Lambda(lambda t: ops.mean(t, axis=(2, 3)), name=f"SDDCNN.{level}.mean")(x))
    block_means = layers.Concatenate(axis=-1, name="block_means")(means)
    flat = layers.Lambda(lambda t: ops.reshape(t, (ops.shape(t)[0], ops.shape(t)[1], -1)), name="flat")(x)
    return keras.Model(inputs, [block_means, flat], name="transnetv2_trunk")


def _windows(similarities: np.ndarray) -> np.ndarray:
    """(B, T, T) similarities -> (B, T, LOOKUP): each frame against the 50 before and after it (0 past the ends)."""
    half = (LOOKUP - 1) // 2
    batch, frames, _ = similarities.shape
    padded = np.pad(similarities, ((0, 0), (0, 0), (half, half)))
    rows = np.arange(frames)[:, None] + np.arange(LOOKUP)[None, :]
    return padded[:, np.arange(frames)[:, None], rows]


def color_histograms(frames: np.ndarray) -> np.ndarray:
    """(B, T, 27, 48, 3) uint8 -> (B, T, 512) L2-normalised 8x8x8 RGB histograms."""
    f = frames.astype(np.int32)
    bins = ((f[..., 0] >> 5) << 6) + ((f[..., 1] >> 5) << 3) + (f[..., 2] >> 5)
    batch, count = frames.shape[:2]
    flat = bins.reshape(batch * count, -1)
    offsets = (np.arange(batch * count) * 512)[:, None]
    hist = np.bincount((flat + offsets).ravel(), minlength=batch * count * 512).reshape(batch, count, 512)
    hist = hist.astype(np.float32)
    return hist / np.maximum(np.linalg.norm(hist, axis=2, keepdims=True), 1e-12)


class TransNetV2:
    """Shot-transition probabilities per frame. ``trunk`` runs the convolutions: a callable from frames to
    (block means, flat features); by default the converted network in LiteRT (or Keras where LiteRT is absent)."""

    def __init__(self, weights: Path, trunk=None):
        with np.load(weights) as stored:
            self.w = {k: stored[k] for k in stored.files}
        self.trunk = trunk or _make_trunk(weights, self.w)

    def _heads(self, frames: np.ndarray, block_means: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.w
        x = block_means @ w["frame_sim_layer.projection.weight"].T + w["frame_sim_layer.projection.bias"]
        x = x / np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-12)
        sim = _windows(x @ x.transpose(0, 2, 1))
        frame_sim = np.maximum(sim @ w["frame_sim_layer.fc.weight"].T + w["frame_sim_layer.fc.bias"], 0)
        h = color_histograms(frames)
        hist_sim = _windows(h @ h.transpose(0, 2, 1))
        color = np.maximum(hist_sim @ w["color_hist_layer.fc.weight"].T + w["color_hist_layer.fc.bias"], 0)
        x = np.concatenate([color, frame_sim, flat], axis=2)
        x = np.maximum(x @ w["fc1.weight"].T + w["fc1.bias"], 0)
        one = x @ w["cls_layer1.weight"].T + w["cls_layer1.bias"]
        many = x @ w["cls_layer2.weight"].T + w["cls_layer2.bias"]
        return 1 / (1 + np.exp(-one[..., 0])), 1 / (1 + np.exp(-many[..., 0]))

    def window(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities for one or more windows (B, T, 27, 48, 3) uint8: (single-frame, many-hot), (B, T)."""
        block_means, flat = self.trunk(frames.astype(np.float32))
        return self._heads(frames, np.asarray(block_means, np.float32), np.asarray(flat, np.float32))

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Per-frame transition probability of a whole file's frames (N, 27, 48, 3), windowed as the authors do:
        the first and last frame repeated as context, windows of 100 frames keeping the middle 50."""
        return np.concatenate([p for p in self.stream(iter(frames))]) if len(frames) else np.zeros(0, np.float32)

    def stream(self, frames) -> np.ndarray:
        """The same as ``predict`` over an iterator of frames, yielding probabilities 50 frames at a time: the
        whole file never sits in memory."""
        buffer: list[np.ndarray] = []
        first = None
        total = 0
        for frame in frames:
            if first is None:
                first = frame
                buffer = [frame] * CONTEXT
            buffer.append(frame)
            total += 1
            while len(buffer) >= WINDOW:
                single, _ = self.window(np.stack(buffer[:WINDOW])[None])
                yield single[0, CONTEXT:CONTEXT + STEP]
                buffer = buffer[STEP:]
        if first is None:
            return
        done = total - (len(buffer) - CONTEXT)
        last = buffer[-1]
        while done < total:
            window = buffer + [last] * (WINDOW - len(buffer))
            single, _ = self.window(np.stack(window[:WINDOW])[None])
            keep = min(STEP, total - done)
            yield single[0, CONTEXT:CONTEXT + keep]
            done += keep
            buffer = buffer[STEP:]


def _make_trunk(weights: Path, stored: dict[str, np.ndarray]):
    """LiteRT on a cached export of the Keras trunk (exported on first use), else Keras."""
    from .cache import cache_dir
    from .classify import _stderr_silenced, import_tensorflow, litert_available
    from .models import sha256

    keras_model = None

    def keras_trunk():
        nonlocal keras_model
        if keras_model is None:
            import_tensorflow()
            with _stderr_silenced():
                keras_model = build_trunk()
            set_trunk_weights(keras_model, stored)
        return keras_model

    if litert_available() and os.environ.get("CINEMANET_RUNTIME", "auto").lower() in ("auto", "litert"):
        path = cache_dir() / "litert" / f"transnetv2-{sha256(weights)[:16]}.tflite"
        if not path.exists():
            try:
                export_trunk(keras_trunk(), path)
            except OSError:
                path = None
        if path is not None:
            from .classify import LiteRTModel

            model = LiteRTModel(path)
            return lambda x: model.run(x, BLOCK_MEANS, FLAT)
    model = keras_trunk()
    return lambda x: [t.numpy() if hasattr(t, "numpy") else t for t in model(x, training=False)]


def export_trunk(model, out: Path) -> None:
    """Write the trunk as a LiteRT file (fixed window of 100 frames)."""
    import contextlib
    import io

    import keras
    import tensorflow as tf

    from .classify import _stderr_silenced
    from .files import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    frames = keras.Input((WINDOW, FRAME_HEIGHT, FRAME_WIDTH, 3), batch_size=1, name="frames")
    fixed = keras.Model(frames, model(frames))  # one window: static shapes, weights frozen as constants
    with _stderr_silenced(), contextlib.redirect_stdout(io.StringIO()):
        data = tf.lite.TFLiteConverter.from_keras_model(fixed).convert()
    atomic_write(out, data)


def set_trunk_weights(model, stored: dict[str, np.ndarray]) -> None:
    """Copy the converted PyTorch parameters into the Keras trunk (layouts turned to channels-last)."""
    for layer in model.layers:
        name = layer.name
        if ".Conv3D_" in name and not name.endswith(".cat"):
            spatial = stored[f"{name}.layers.0.weight"][:, :, 0].transpose(2, 3, 1, 0)  # (out,in,h,w) -> (h,w,in,out)
            temporal = stored[f"{name}.layers.1.weight"][:, :, :, 0, 0].transpose(2, 1, 0)  # (out,in,t) -> (t,in,out)
            layer.set_weights([spatial, temporal])
        elif name.endswith(".bn"):
            layer.set_weights([stored[f"{name}.weight"], stored[f"{name}.bias"], stored[f"{name}.running_mean"],
                               stored[f"{name}.running_var"]])


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of True."""
    runs, i, n = [], 0, len(flags)
    while i < n:
        if flags[i]:
            j = i
            while j + 1 < n and flags[j + 1]:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    return runs


def same_scene(a: np.ndarray, b: np.ndarray) -> bool:
    """Two small luma pictures show the same scene, whatever the exposure: their normalised correlation is
    high (a flash or a brightness change leaves the picture's structure in place; a new shot does not)."""
    a, b = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return norm > 1e-3 and float(a @ b) / norm > SAME_SCENE


def boundaries(probabilities: np.ndarray, threshold: float = THRESHOLD, luma: np.ndarray | None = None) -> list[int]:
    """Frames where a new shot starts. Each run of frames above ``threshold`` is one transition, cut in its
    middle (after it for a one-frame cut). With ``luma`` (small grey pictures of every frame):

    - a run scored below SURE whose frames just before and after show the same scene is no transition (a camera
      flash, a change of light, which the network sometimes scores above the threshold; cuts score above 0.95);
    - a fade through black is one transition: runs of (near-)black frames between two shots are transitions of
      their own (the network scores fades weakly), and transitions that touch one fade merge, cut at the middle
      of the black.

    Runs touching the file's first or last frame (a fade-in at the head, a fade-out at the tail) start no shot.
    """
    probabilities = np.asarray(probabilities)
    n = len(probabilities)
    runs = _runs(probabilities > threshold)
    if luma is not None and len(luma) == n:
        kept = []
        for i, j in runs:
            before, after = max(0, i - 2), min(n - 1, j + 2)
            sure = probabilities[i:j + 1].max() >= SURE
            if i > 0 and j < n - 1 and not sure and same_scene(luma[before], luma[after]):
                continue
            kept.append((i, j))
        flat = luma.reshape(n, -1).astype(np.float32)
        dark = (flat.mean(axis=1) < DARK) & (flat.std(axis=1) < DARK / 2)  # black, not a night scene
        fades = [(i, j) for i, j in _runs(dark) if i > 0 and j < n - 1]
        merged: list[tuple[int, int]] = []
        for i, j in sorted(kept + fades):
            if merged and i <= merged[-1][1] + FADE_GAP and (_dark_between(dark, merged[-1], (i, j))):
                merged[-1] = (merged[-1][0], max(merged[-1][1], j))
            else:
                merged.append((i, j))
        starts = []
        for i, j in merged:
            black = [k for k in range(i, j + 1) if dark[k]]
            cut = (black[0] + black[-1]) // 2 + 1 if black else (i + j) // 2 + 1
            if i > 0 and j < n - 1:
                starts.append(cut)
        return starts
    return [(i + j) // 2 + 1 for i, j in runs if i > 0 and j < n - 1]


def _dark_between(dark: np.ndarray, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Two transitions belong to one fade when black frames lie in or between them."""
    return bool(dark[first[0]:second[1] + 1].any())


def shots_from_boundaries(starts: list[int], frame_count: int) -> list[Shot]:
    edges = [0, *[s for s in starts if 0 < s < frame_count], frame_count]
    return [Shot(i, a, b) for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False)) if b > a]


@dataclass
class Detection:
    """The shots of one file, with what it took."""

    shots: list[Shot]
    probabilities: np.ndarray  # per frame
    frames: int
    seconds: float
    error: str | None = None  # decoding stopped early: the shots cover the frames that decoded


_DETECTOR: TransNetV2 | None = None


def detector() -> TransNetV2:
    """The shipped TransNetV2, built once per process."""
    global _DETECTOR
    if _DETECTOR is None:
        from .models import shot_detector_file

        _DETECTOR = TransNetV2(shot_detector_file())
    return _DETECTOR


def detect_shots(path: Path, frame_count: int | None = None, threshold: float = THRESHOLD,
                 net: TransNetV2 | None = None, progress=None, frames: range | None = None,
                 files: MediaFiles | None = None) -> Detection:
    """Decode every frame of ``path`` at 48x27 in one pass, score it, and cut the file into shots. The
    shots cover [0, frame_count) when given (the probe's count), else the frames that decoded. With ``frames``
    only that range of the file is read (a clip's source range), and the shots count from its first frame.
    ``files``: the run's knowledge of its media files (a file found damaged is read on deterministic threads)."""
    import time

    from .decode import MediaFiles

    started = time.perf_counter()
    net = net or detector()
    media = files or MediaFiles()
    report = media.report(Path(path))
    detection = _detect(path, frame_count, threshold, net, progress, frames, report)
    if media.learn(report):  # damage met on frame threads: again, the same every run
        detection = _detect(path, frame_count, threshold, net, None, frames, media.report(Path(path)))
    detection.seconds = time.perf_counter() - started
    return detection


def _detect(path: Path, frame_count: int | None, threshold: float, net: TransNetV2, progress,
            frames: range | None, report) -> Detection:
    from .decode import decode_frames, every_frame

    lumas: list[np.ndarray] = []

    def small_frames():
        if frames is None:
            yield from every_frame(path, FRAME_WIDTH, FRAME_HEIGHT, report)
            return
        for frame in decode_frames(path, frames, FRAME_WIDTH, report, height=FRAME_HEIGHT, crop_bars=False):
            yield frame.image

    def frames_and_luma():
        for frame in small_frames():
            grey = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            lumas.append(grey[:26].reshape(13, 2, 24, 2).mean(axis=(1, 3)).astype(np.uint8))  # 24x13: 312 bytes
            yield frame

    parts = []
    for part in net.stream(frames_and_luma()):
        parts.append(part)
        if progress is not None:
            progress(len(part))
    probabilities = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    total = frame_count if frame_count else len(probabilities)
    if report.error and not len(probabilities):
        raise CinemanetError(report.error)
    luma = np.stack(lumas) if lumas else None
    shots = shots_from_boundaries(boundaries(probabilities, threshold, luma), max(total, 1))
    return Detection(shots, probabilities, len(probabilities), 0.0, report.error)
