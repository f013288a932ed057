"""MobileNet v1 1.0/224: the network definition, kept apart from its weights.

The layer names follow TF-slim's scopes (``Conv2d_0``, ``Conv2d_1_depthwise`` ...) so that the converter in
``legacy.py`` can copy a frozen TF-slim graph layer by layer and later fine-tuning can address blocks by name.
The model has two outputs: the 1024-d pooled features (what trained heads read) and the 1001 ImageNet logits
(index 0 is TF-slim's background class; the original CinemaNet heads read these).

A fine-tuned backbone is shipped as a *branch*: copies of the upper blocks (from ``branch_from`` on), trained for
cinematography, beside the untouched ImageNet blocks. The lower blocks run once; the features output then
comes from the branch and the logits from the original top, so ImageNet and legacy heads keep their inputs.
"""

from __future__ import annotations

import numpy as np

from .errors import CinemanetError

INPUT_SIZE = 224
FEATURE_DIM = 1024
LOGIT_DIM = 1001
BN_EPSILON = 1e-3

# (pointwise filters, depthwise stride) for blocks 1..13, as in the MobileNet paper.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


BRANCH_PREFIX = "Branch_"


def block_of(layer_name: str) -> int | None:
    """The block number of a ``Conv2d_<n>_...`` layer (0 for the stem), else None."""
    name = layer_name.removeprefix(BRANCH_PREFIX)
    if not name.startswith("Conv2d_"):
        return None
    return int(name.split("_")[1])


def build_mobilenet_v1(branch_from: int | None = None, input_size: int = INPUT_SIZE):
    """Return an uninitialised Keras model: uint8-range float RGB in, ``[features, logits]`` out.

    The network is fully convolutional up to the global pooling, so the same weights run at any
    ``input_size``: a larger input sees finer detail at (input_size / 224)^2 the cost (the manifest's
    ``input_size`` chooses it).

    Input pixels are 0..255; the (x - 127.5) / 127.5 scaling of TF-slim is part of the model so that every
    runtime (Keras, exported models) sees the same input. With ``branch_from`` (1..13) the blocks from there on
    are duplicated as ``Branch_*`` layers and ``features`` is the branch's pooled output.
    """
    import keras
    from keras import layers

    def conv_bn(x, name: str, filters: int | None, stride: int, depthwise: bool):
        if depthwise:
            x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=name)(x)
        else:
            k = 3 if name == "Conv2d_0" else 1
            x = layers.Conv2D(filters, k, strides=stride, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_relu")(x)

    def blocks(x, first: int, last: int, prefix: str = ""):
        for i in range(first, last + 1):
            filters, stride = BLOCKS[i - 1]
            x = conv_bn(x, f"{prefix}Conv2d_{i}_depthwise", None, stride, depthwise=True)
            x = conv_bn(x, f"{prefix}Conv2d_{i}_pointwise", filters, 1, depthwise=False)
        return x

    if branch_from is not None and not 1 <= branch_from <= len(BLOCKS):
        raise ValueError(f"branch_from must be 1..{len(BLOCKS)}")
    split = branch_from or len(BLOCKS) + 1
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
    trunk = blocks(conv_bn(x, "Conv2d_0", 32, 2, depthwise=False), 1, split - 1)
    top = blocks(trunk, split, len(BLOCKS))
    imagenet_features = layers.GlobalAveragePooling2D(name="imagenet_features" if branch_from else "features")(top)
    logits = layers.Dense(LOGIT_DIM, name="Logits")(imagenet_features)
    if branch_from is None:
        return keras.Model(inputs, [imagenet_features, logits], name="mobilenet_v1_1.0_224")
    branch = blocks(trunk, split, len(BLOCKS), BRANCH_PREFIX)
    features = layers.GlobalAveragePooling2D(name="features")(branch)
    return keras.Model(inputs, [features, logits], name=f"mobilenet_v1_1.0_224_branch{branch_from}")


def branch_weights(model) -> dict[str, np.ndarray]:
    """The ``Branch_*`` layers' weights as ``{"<layer>/<i>": array}`` (what a branch file holds)."""
    return {f"{layer.name}/{i}": w for layer in model.layers if layer.name.startswith(BRANCH_PREFIX)
            for i, w in enumerate(layer.get_weights())}


def set_branch_weights(model, stored: dict[str, np.ndarray]) -> None:
    for layer in model.layers:
        if layer.name.startswith(BRANCH_PREFIX):
            try:
                layer.set_weights([stored[f"{layer.name}/{i}"] for i in range(len(layer.weights))])
            except (KeyError, ValueError) as exc:
                raise CinemanetError(f"branch weights do not fit layer {layer.name}: {exc}") from None
