"""Frames -> per-category probabilities: one backbone pass per frame, every head reads it.

This is the only module that imports TensorFlow. Batches are padded to a few fixed sizes so that the
compiled graph is traced once per size rather than once per odd batch length.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np

from .models import ModelSet

BATCH_SIZES = (1, 2, 4, 8, 16, 32)


@contextmanager
def _stderr_silenced():
    """TensorFlow's C++ start-up chatter ignores TF_CPP_MIN_LOG_LEVEL; hide it at the file-descriptor level."""
    if os.environ.get("CINEMANET_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """Import TensorFlow (and Keras) with their start-up noise hidden; returns the tensorflow module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _stderr_silenced():
        import keras  # noqa: F401
        import tensorflow
    return tensorflow


def import_keras():
    import_tensorflow()
    import keras

    return keras


class Classifier:
    """The backbone (Keras) plus the heads of a ``ModelSet``."""

    def __init__(self, models: ModelSet, batch_size: int = 32):
        from .backbone import build_mobilenet_v1

        import_keras()
        self.models = models
        self.batch_size = batch_size
        with _stderr_silenced():
            self.backbone = build_mobilenet_v1()
            self.backbone.load_weights(str(models.backbone_file))
            import tensorflow as tf

            self._forward = tf.function(lambda x: self.backbone(x, training=False), reduce_retracing=True)

    def logits_from_features(self, features: np.ndarray) -> np.ndarray:
        """The ImageNet logits are a dense layer on the pooled features: cached features need no second pass."""
        kernel, bias = self.backbone.get_layer("Logits").get_weights()
        return features @ kernel + bias

    def backbone_outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features (N, 1024) and logits (N, 1001) of uint8 RGB images (N, 224, 224, 3)."""
        n = len(images)
        size = next((b for b in BATCH_SIZES if b >= n), n)
        x = np.zeros((size, *images.shape[1:]), np.float32)
        x[:n] = images
        features, logits = self._forward(x)
        return features.numpy()[:n], logits.numpy()[:n]

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Probabilities per category for a batch of images: {category id: (N, labels)}."""
        out: dict[str, list[np.ndarray]] = {h.category.id: [] for h in self.models.heads}
        for start in range(0, len(images), self.batch_size):
            features, logits = self.backbone_outputs(images[start:start + self.batch_size])
            for head in self.models.heads:
                out[head.category.id].append(head(features, logits))
        return {k: np.concatenate(v) for k, v in out.items()}

    def predict_stream(self, items: Iterable[tuple[object, np.ndarray]]) -> Iterator[tuple[object, dict]]:
        """Classify (key, image) pairs in batches; yields (key, {category: probabilities}) in input order."""
        batch_keys: list[object] = []
        batch_images: list[np.ndarray] = []

        def flush():
            scores = self.predict(np.stack(batch_images))
            for i, key in enumerate(batch_keys):
                yield key, {category: probs[i] for category, probs in scores.items()}
            batch_keys.clear()
            batch_images.clear()

        for key, image in items:
            batch_keys.append(key)
            batch_images.append(image)
            if len(batch_images) == self.batch_size:
                yield from flush()
        if batch_images:
            yield from flush()
