"""MobileNet v1 1.0/224: the network definition, kept apart from its weights.

The layer names follow TF-slim's scopes (``Conv2d_0``, ``Conv2d_1_depthwise`` ...) so that the converter in
``legacy.py`` can copy a frozen TF-slim graph layer by layer and later fine-tuning can address blocks by name.
The model has two outputs: the 1024-d pooled features (what trained heads read) and the 1001 ImageNet logits
(index 0 is TF-slim's background class; the original CinemaNet heads read these).
"""

from __future__ import annotations

INPUT_SIZE = 224
FEATURE_DIM = 1024
LOGIT_DIM = 1001
BN_EPSILON = 1e-3

# (pointwise filters, depthwise stride) for blocks 1..13, as in the MobileNet paper.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def build_mobilenet_v1():
    """Return an uninitialised Keras model: uint8-range float RGB in, ``[features, logits]`` out.

    Input pixels are 0..255; the (x - 127.5) / 127.5 scaling of TF-slim is part of the model so that every
    runtime (Keras, exported models) sees the same input.
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

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
    x = conv_bn(x, "Conv2d_0", 32, 2, depthwise=False)
    for i, (filters, stride) in enumerate(BLOCKS, start=1):
        x = conv_bn(x, f"Conv2d_{i}_depthwise", None, stride, depthwise=True)
        x = conv_bn(x, f"Conv2d_{i}_pointwise", filters, 1, depthwise=False)
    features = layers.GlobalAveragePooling2D(name="features")(x)
    logits = layers.Dense(LOGIT_DIM, name="Logits")(features)
    return keras.Model(inputs, [features, logits], name="mobilenet_v1_1.0_224")
