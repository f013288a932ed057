"""A stand-in backbone that 'recognises' the frame index drawn by conftest.pattern.

It replaces only the network, so sampling, decoding, batching, heads, aggregation and annotation all run for
real: a clip's label tells which media frame the pipeline decoded for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import frame_id

from cinemanet_edit.backbone import FEATURE_DIM, LOGIT_DIM
from cinemanet_edit.classify import Classifier
from cinemanet_edit.models import Head, ModelSet
from cinemanet_edit.pipeline import Analyzer
from cinemanet_edit.taxonomy import Category, Label

FRAME = Category("test.frame", "Frame", tuple(Label(f"test.frame.{i}", str(i)) for i in range(1024)),
                 marker_color="ORANGE", top_k=3)


class FrameIdBackbone:
    """A ``runtimes.Backbone``: feature i lights up for an image showing frame index i."""

    name = "frame-id"

    def __init__(self):
        self.seen: list[int] = []

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = np.zeros((len(x), FEATURE_DIM), np.float32)
        for i, image in enumerate(x):
            features[i, frame_id(image)] = 50.0
            if image.any():  # batches are padded with black images
                self.seen.append(frame_id(image))
        return features, np.zeros((len(x), LOGIT_DIM), np.float32)


def frame_id_analyzer(batch_size: int = 8) -> Analyzer:
    models = ModelSet("fake", Path("fake.weights.h5"), 224, (Head(FRAME, "features", "softmax"),), "fake@1")
    return Analyzer(models, batch_size=batch_size,
                    classifier_factory=lambda: Classifier(models, batch_size, backbone=FrameIdBackbone()))


def seen(analyzer: Analyzer) -> list[int]:
    """The frame indices the fake backbone was shown."""
    return analyzer.classifier.backbone.seen
