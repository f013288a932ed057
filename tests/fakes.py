"""A stand-in classifier that 'recognises' the frame index drawn by conftest.pattern.

It replaces only the backbone pass, so sampling, decoding, batching, heads, aggregation and annotation all
run for real: a clip's label tells which media frame the pipeline decoded for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import frame_id

from cinemanet_edit.classify import Classifier
from cinemanet_edit.models import Head, ModelSet
from cinemanet_edit.pipeline import Analyzer
from cinemanet_edit.taxonomy import Category, Label

FRAME = Category("test.frame", "Frame", tuple(Label(f"test.frame.{i}", str(i)) for i in range(1024)),
                 marker_color="ORANGE", top_k=3)


class FrameIdClassifier(Classifier):
    def __init__(self, models: ModelSet, batch_size: int = 8):
        self.models = models
        self.batch_size = batch_size
        self.seen: list[int] = []

    def backbone_outputs(self, images):
        features = np.zeros((len(images), 1024), np.float32)
        for i, image in enumerate(images):
            features[i, frame_id(image)] = 50.0
            self.seen.append(frame_id(image))
        return features, np.zeros((len(images), 1001), np.float32)


def frame_id_analyzer() -> Analyzer:
    models = ModelSet("fake", Path("fake.weights.h5"), 224, (Head(FRAME, "features", "softmax"),), "fake@1")
    analyzer = Analyzer(models, batch_size=8)
    analyzer._classifier = FrameIdClassifier(models)
    return analyzer
