"""The ``evaluate`` job: the installed heads scored on labelled images (balanced accuracy, per class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..classify import Classifier
from ..errors import CinemanetError
from ..models import load_model_set
from ..taxonomy import CINEMATOGRAPHY
from .data import load_examples
from .features import extract_features, extract_logits
from .linear import evaluate


def evaluate_heads(sources: list[Path], categories: list[str] | None = None) -> tuple[str, dict[str, dict]]:
    """(model version, {category: metrics as JSON}) of the installed cinematography heads on ``sources``."""
    models = load_model_set()
    heads = {h.category.id: h for h in models.heads if h.category.id in {c.id for c in CINEMATOGRAPHY}}
    wanted = categories or list(heads)
    missing = [c for c in wanted if c not in heads]
    if missing:
        raise CinemanetError(f"no installed head for {', '.join(missing)}")
    classifier = Classifier(models)
    report = {}
    for category_id in wanted:
        head = heads[category_id]
        examples = [e for source in sources for e in load_examples(source, category_id)]
        features = extract_features(examples, models, classifier)
        labels = [lab.id for lab in head.category.labels]
        y = np.array([labels.index(e.label) for e in features.examples])
        x = features.features[:, 0]
        if head.input == "features":
            logits = None
        elif models.branch_file is None:
            logits = classifier.logits_from_features(x)
        else:  # a branch's features are not what the logits read: run the images again
            logits = extract_logits([e.path for e in features.examples], models, classifier)
        report[category_id] = evaluate(y, head(x, logits), labels).to_json()
    return models.version, report
