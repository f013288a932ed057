"""Frames -> per-category probabilities: one backbone pass per frame, every head reads it.

The backbone runs on a runtime (``runtimes``: LiteRT, Keras, or a registered one); batches are padded to a few
fixed sizes so that graphs are built once per size rather than once per odd batch length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from .errors import CinemanetError
from .models import ModelSet
from .runtimes import Backbone, KerasBackbone, make_backbone

BATCH_SIZE = 32  # frames per backbone call: the default everywhere (tag, classify, training features)
BATCH_SIZES = (1, 2, 4, 8, 16, 32)  # batches are padded up to one of these, so graphs are built once per size


class Classifier:
    """The backbone (in one runtime) plus the heads of a ``ModelSet``."""

    def __init__(self, models: ModelSet, batch_size: int = BATCH_SIZE, runtime: str | None = None,
                 backbone: Backbone | None = None):
        self.models = models
        self.batch_size = batch_size
        self.backbone = backbone if backbone is not None else make_backbone(models, runtime)
        self._logits_layer = None

    @property
    def runtime(self) -> str:
        return self.backbone.name

    def logits_from_features(self, features: np.ndarray) -> np.ndarray:
        """The ImageNet logits are a dense layer on the pooled features: cached features need no second pass.
        Not so with a fine-tuned branch, whose features are not what the logits read."""
        if self.models.branch_file is not None:
            raise CinemanetError("logits cannot be derived from a fine-tuned branch's features")
        if self._logits_layer is None:
            keras = self.backbone if isinstance(self.backbone, KerasBackbone) else KerasBackbone(self.models)
            self._logits_layer = keras.model.get_layer("Logits").get_weights()
        kernel, bias = self._logits_layer
        return features @ kernel + bias

    def backbone_outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features (N, 1024) and logits (N, 1001) of uint8 RGB images (N, S, S, 3), S the input size."""
        n = len(images)
        size = next((b for b in BATCH_SIZES if b >= n), n)
        x = np.zeros((size, *images.shape[1:]), np.float32)
        x[:n] = images
        features, logits = self.backbone(x)
        return features[:n], logits[:n]

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
