"""The ``evaluate`` job: the installed heads scored on labelled images (balanced accuracy, per class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..classify import Classifier
from ..errors import CinemanetError
from ..models import load_model_set
from ..taxonomy import CINEMATOGRAPHY
from .data import group_near_duplicates, load_examples
from .features import extract_features, extract_logits
from .linear import DomainFolds, evaluate


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


def cross_validate(sources: list[Path], categories: list[str] | None = None, folds: int = 5, repeats: int = 3,
                   l2: float = 0.01, epochs: int = 300, seed: int = 0, curve: tuple[float, ...] = (),
                   curve_domain: str | None = None) -> tuple[str, dict[str, dict]]:
    """The training recipe (a linear head on the installed network's features, class-balanced, mirrored
    images) judged by repeated group k-fold over all ``sources`` pooled, scored per source (domain): mean and
    spread over the repeats of balanced accuracy and calibration error, so a change of +0.02 can be told from
    the noise of one split. Groups are near-duplicate groups and a manifest's ``group`` column (resized
    copies and one film scene never straddle a fold). A fine-tuned branch has seen some of its own training
    images: in-domain numbers on those are optimistic.

    With ``curve`` (fractions such as 0.25, 0.5, 1) the same folds are fitted again on that share of each
    fold's training groups (only those of ``curve_domain`` when given): a learning curve, which says whether
    more labelled images of a domain would still pay."""
    from ..taxonomy import known_category

    models = load_model_set()
    classifier = Classifier(models)
    wanted = categories or [c.id for c in CINEMATOGRAPHY]
    report = {}
    for category_id in wanted:
        category = known_category(category_id)
        labels = [lab.id for lab in category.labels]
        examples = [e for source in sources for e in load_examples(source, category_id, allow_empty=True)]
        if not examples:
            continue
        fs = extract_features(examples, models, classifier)
        y = np.array([labels.index(e.label) for e in fs.examples])
        domains = np.array([e.domain for e in fs.examples])
        if curve_domain is not None and curve_domain not in domains:
            raise CinemanetError(f"--curve-domain {curve_domain!r} is none of {', '.join(sorted(set(domains)))}")
        groups = np.array(group_near_duplicates(fs.hashes, fs.digests, named=[e.group for e in fs.examples]))

        fold = DomainFolds(fs.features, y, domains, groups, len(labels), category.multi_label)
        report[category_id] = {"folds": folds, "repeats": repeats, "l2": l2,
                               "domains": fold.summary(fold.scores(1.0, None, folds, repeats, l2, epochs, seed))}
        if curve:
            report[category_id]["learning_curve"] = {
                "domain": curve_domain or "all",
                "points": [{"fraction": f, "domains": fold.summary(fold.scores(f, curve_domain, folds, repeats, l2,
                                                                               epochs, seed))}
                           for f in sorted(curve) if f < 1]}
    return models.version, report


def evaluation_lines(report: dict[str, dict]) -> list[str]:
    """``evaluate``'s report of the installed heads, per category and label."""
    out = []
    for category_id, metrics in report.items():
        ece = metrics.get("expected_calibration_error")
        out.append(f"{category_id}: balanced accuracy {metrics['balanced_accuracy']:.3f}, accuracy "
                   f"{metrics['accuracy']:.3f} (n={metrics['n']})"
                   + (f", expected calibration error {ece:.3f}" if ece is not None else ""))
        out += [f"  {label:40s} precision {m['precision']:.3f}  recall {m['recall']:.3f}  n={m['support']}"
                for label, m in metrics["per_class"].items()]
    return out


def cross_validation_lines(report: dict[str, dict]) -> list[str]:
    """``evaluate --cross-validate``'s report: per category and data source, and per point of a learning curve."""
    out = []
    for category_id, result in report.items():
        out.append(f"{category_id}: {result['folds']}-fold x {result['repeats']}, L2 {result['l2']:g}")
        curve = result.get("learning_curve", {})
        points = [*curve.get("points", []), {"fraction": 1.0, "domains": result["domains"]}]
        for point in points if curve else points[-1:]:
            if curve:
                out.append(f" {point['fraction']:.0%} of the training groups of {curve['domain']}:")
            out += [f"  {domain:40s} balanced accuracy {m['balanced_accuracy_mean']:.3f} "
                    f"+- {m['balanced_accuracy_std']:.3f}  ECE {m['expected_calibration_error_mean']:.3f}  n={m['n']}"
                    for domain, m in point["domains"].items()]
    return out
