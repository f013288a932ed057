"""Per-frame probabilities -> one label per category (for a frame, a clip or a whole file).

A clip's score for a label is the mean of its samples' probabilities: robust to one odd frame, and for
multi-label categories (shot.subject) it is the share of the clip in which the label holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .taxonomy import Category
from .types import CategoryLabel


def label_for(category: Category, probabilities: np.ndarray) -> CategoryLabel:
    """The top label of one probability vector, with every score (or the top-k of a large vocabulary)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-probabilities, kind="stable")
    best = int(order[0])
    shown = order[: category.top_k] if category.top_k else range(len(category.labels))
    scores = {category.labels[int(i)].id: float(probabilities[int(i)]) for i in shown}
    top = category.labels[best]
    return CategoryLabel(category.id, top.id, top.title, float(probabilities[best]), scores)


def aggregate(category: Category, samples: Sequence[np.ndarray]) -> CategoryLabel:
    """The label of a clip from its samples' probabilities (mean over samples)."""
    return label_for(category, np.mean(np.stack(samples), axis=0))
