"""TransNetV2 (Souček & Lokoč 2020, MIT): the network that gives each frame of a flat file the probability
that a transition passes there. A definition plus verified weights, as ``backbone.py`` is for MobileNet.

The network reads every frame scaled to 48x27. Its convolutional trunk (dilated 3-D convolutions) runs on a
runtime like the backbone (``runtimes``: LiteRT with int8 weights, Keras, or a registered runtime's ``trunk``); the two
similarity heads (learned frame features and colour histograms compared across 101 frames) and the classifier
are small and run in NumPy. The weights are the authors', converted once from the PyTorch port's file
(``cinemanet-edit models convert-transnetv2``) and shipped as ``models/transnetv2.npz`` with a hash; no PyTorch
at run time.

The trunk is convolutional in time, so a long window computes its middle frames once, with the same 25 frames
of context at each end (the authors' windows of 100 keep 50: every frame computed twice).
"""

from __future__ import annotations

import numpy as np

FRAME_HEIGHT, FRAME_WIDTH = 27, 48
WINDOW, STEP, CONTEXT = 100, 50, 25  # the authors' windows: frames per window, new frames, context on each side
LONG_WINDOW = 550  # our windows: 500 new frames each, the same context (the tail of a file may take the authors')
LOOKUP = 101  # frames each similarity head compares
BLOCK_MEANS, FLAT = 448, 4608  # the trunk's outputs' widths: every level's mean features, the last level flat
FILTERS, LEVELS, BLOCKS_PER_LEVEL = 16, 3, 2


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


STILL_LEVEL = 1.0  # mean absolute difference (0-255) from a window's first frame below which a frame is the same


def is_still(window: list[np.ndarray]) -> bool:
    """Every frame of the window (48x27, context included) is the first one's picture, up to coding noise:
    black leader, a freeze frame, a held title, a locked-off empty shot. No cut, dissolve or fade can pass in
    it, and the network, which sees only these frames, gives none: it need not run. Any change of picture,
    camera move or light ramp larger than STILL_LEVEL anywhere in the window runs it."""
    first = window[0].astype(np.int16)
    step = max(1, len(window) // 64)  # a coarse pass first: most windows that move, move everywhere
    for frames in (window[::step], window):
        if any(np.abs(f.astype(np.int16) - first).mean() >= STILL_LEVEL for f in frames):
            return False
    return True


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
    """Shot-transition probabilities per frame from the converted weights ``w``. ``trunk`` runs the
    convolutions: a callable from frames to (block means, flat features), on a runtime (``runtimes.make_trunk``;
    ``runtimes.detector`` gives the shipped network on the runtime asked for)."""

    def __init__(self, w: dict[str, np.ndarray], trunk):
        self.w = w
        self.trunk = trunk

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

    def predict(self, frames: np.ndarray, long_window: int | None = LONG_WINDOW) -> np.ndarray:
        """Per-frame transition probability of a whole file's frames (N, 27, 48, 3): the first and last frame
        repeated as context, windowed as ``stream`` windows them."""
        if not len(frames):
            return np.zeros(0, np.float32)
        return np.concatenate(list(self.stream(iter(frames), long_window)))

    def stream(self, frames, long_window: int | None = LONG_WINDOW, stats: dict | None = None) -> np.ndarray:
        """The same as ``predict`` over an iterator of frames, yielding probabilities a window's new frames at
        a time (the whole file never sits in memory): windows of ``long_window`` frames while the file lasts;
        its tail in one more long window padded with the last frame (as the authors pad theirs) where that costs
        less than the authors' windows of 100, which take it otherwise (``long_window=None``: the authors'
        windows throughout). A window whose frames are all the same picture (``is_still``) is not run:
        ``stats["skipped"]`` counts the frames it would have scored."""
        buffer: list[np.ndarray] = []
        first = None
        total = 0
        size = long_window or WINDOW
        stats = stats if stats is not None else {}
        stats.setdefault("skipped", 0)

        def scored(window: list[np.ndarray], keep: int) -> np.ndarray:
            if is_still(window):
                stats["skipped"] += keep
                return np.zeros(keep, np.float32)
            single, _ = self.window(np.stack(window)[None])
            return single[0, CONTEXT:CONTEXT + keep]

        for frame in frames:
            if first is None:
                first = frame
                buffer = [frame] * CONTEXT
            buffer.append(frame)
            total += 1
            if len(buffer) >= size:
                yield scored(buffer[:size], size - 2 * CONTEXT)
                buffer = buffer[size - 2 * CONTEXT:]
        if first is None:
            return
        remaining = len(buffer) - CONTEXT  # frames not scored yet
        if long_window and 2 * remaining > long_window:  # one long window, padded, costs less than short ones
            yield scored(buffer + [buffer[-1]] * (long_window - len(buffer)), remaining)
            return
        while len(buffer) >= WINDOW:  # the tail, shorter than a long window
            yield scored(buffer[:WINDOW], STEP)
            buffer = buffer[STEP:]
        done = total - (len(buffer) - CONTEXT)
        last = buffer[-1]
        while done < total:
            keep = min(STEP, total - done)
            yield scored((buffer + [last] * (WINDOW - len(buffer)))[:WINDOW], keep)
            done += keep
            buffer = buffer[STEP:]


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
