"""Linear heads on backbone features and the metrics they are judged by.

Every head is a linear layer on the 1024-d pooled features (so all heads share one backbone pass), trained
with class-balanced softmax (single-label) or one-vs-rest sigmoid (multi-label) cross-entropy and L2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import activate


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    return mean, std


def fit_linear(x: np.ndarray, y: np.ndarray, n_classes: int, multi_label: bool, l2: float,
               epochs: int = 300, lr: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced linear classifier by full-batch Adam; returns (kernel, bias) on raw features."""
    mean, std = _standardise(x)
    z = ((x - mean) / std).astype(np.float64)  # once, not an upcast copy per product (same numbers, 3x faster)
    zt = np.ascontiguousarray(z.T)
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.01, (z.shape[1], n_classes))
    b = np.zeros(n_classes)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = (len(y) / (n_classes * np.maximum(counts, 1)))[y]
    weights /= weights.sum()
    onehot = np.eye(n_classes)[y]

    def grads(w, b):
        g = (activate(z @ w + b, multi_label) - onehot) * weights[:, None]
        return [zt @ g + l2 * w, g.sum(axis=0)]

    adam((w, b), grads, epochs, lr)
    kernel = (w / std[:, None]).astype(np.float32)
    bias = (b - (mean / std) @ w).astype(np.float32)
    return kernel, bias


def adam(params: tuple[np.ndarray, ...], grads, steps: int, lr: float) -> None:
    """Full-batch Adam on ``params`` in place; ``grads(*params)`` gives their gradients (every linear fit here)."""
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        for k, (param, grad) in enumerate(zip(params, grads(*params), strict=True)):
            m[k] = 0.9 * m[k] + 0.1 * grad
            v[k] = 0.999 * v[k] + 0.001 * grad ** 2
            param -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)


def fit_temperature(logits: np.ndarray, y: np.ndarray, multi_label: bool) -> float:
    """The temperature T that makes ``activate(logits / T)`` most likely on held-out predictions (negative
    log-likelihood over a log grid): class-balanced training and L2 leave probabilities too sure or too timid,
    and one scalar per head fixes most of it without moving the top label."""
    if len(y) == 0:
        return 1.0
    onehot = np.eye(logits.shape[1])[y]
    best, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.2), np.log(5.0), 161)):
        p = np.clip(activate(logits / t, multi_label), 1e-12, 1 - 1e-12)
        nll = -(onehot * np.log(p) + (1 - onehot) * np.log(1 - p)).sum(1).mean() if multi_label \
            else -np.log((p * onehot).sum(1)).mean()
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def predict_linear(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, multi_label: bool) -> np.ndarray:
    return activate(x @ kernel + bias, multi_label)


# ---------------------------------------------------------------- metrics


@dataclass
class Metrics:
    labels: list[str]
    confusion: np.ndarray  # rows: true, columns: predicted
    n: int
    ece: float | None = None  # expected calibration error of the top label (10 equal-width bins)

    @property
    def recall(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)

    @property
    def precision(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=0), 1)

    @property
    def balanced_accuracy(self) -> float:
        present = self.confusion.sum(axis=1) > 0
        return float(self.recall[present].mean())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.n))

    def to_json(self) -> dict:
        out = {"n": self.n, "balanced_accuracy": round(self.balanced_accuracy, 4),
               "accuracy": round(self.accuracy, 4),
                "per_class": {lab: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                                    "support": int(s)}
                              for lab, p, r, s in zip(self.labels, self.precision, self.recall,
                                                      self.confusion.sum(axis=1), strict=True)},
               "confusion": self.confusion.tolist()}
        if self.ece is not None:
            out["expected_calibration_error"] = round(self.ece, 4)
        return out


def evaluate(y: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> Metrics:
    k = len(labels)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((k, k), dtype=int)
    for t, p in zip(y, predicted, strict=True):
        confusion[t, p] += 1
    return Metrics(labels, confusion, len(y), expected_calibration_error(y, probabilities))


def expected_calibration_error(y: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float | None:
    """How far the top label's confidence is from how often it is right, averaged over equal-width confidence
    bins weighted by their share of images: 0 means "80% sure" is right 80% of the time."""
    if len(y) == 0:
        return None
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def group_folds(groups: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    rng.shuffle(unique)
    fold_of = {g: i % k for i, g in enumerate(unique)}
    return [np.array([fold_of[g] == f for g in groups]) for f in range(k)]


@dataclass
class DomainFolds:
    """One category's images for repeated group k-fold scored per domain: features [n, 2, d] (image, mirror),
    label indices, each image's domain and group. The recipe is the shipped one: a class-balanced linear
    head fitted on image and mirror image."""

    features: np.ndarray
    y: np.ndarray
    domains: np.ndarray
    groups: np.ndarray
    classes: int
    multi_label: bool

    def scores(self, fraction: float, curve_domain: str | None, folds: int, repeats: int, l2: float, epochs: int,
               seed: int) -> dict[str, list[tuple[float, float]]]:
        """(balanced accuracy, ECE) per domain and repeat, fitted on ``fraction`` of each fold's training groups
        (of ``curve_domain`` only, when given)."""
        labels = list(range(self.classes))
        scores: dict[str, list[tuple[float, float]]] = {d: [] for d in dict.fromkeys(self.domains.tolist())}
        for r in range(repeats):
            p = np.zeros((len(self.y), self.classes))
            rng = np.random.default_rng(seed + 1000 + r)
            for mask in group_folds(self.groups, folds, seed + r):
                train = ~mask
                if fraction < 1:
                    thinned = train & ((self.domains == curve_domain) if curve_domain else True)
                    pool = np.unique(self.groups[thinned])
                    kept = rng.choice(pool, max(1, round(fraction * len(pool))), replace=False)
                    train &= ~thinned | np.isin(self.groups, kept)
                x = self.features[train].reshape(-1, self.features.shape[-1])
                kernel, bias = fit_linear(x, np.repeat(self.y[train], 2), self.classes, self.multi_label, l2, epochs,
                                          seed=seed)
                p[mask] = predict_linear(self.features[mask, 0], kernel, bias, self.multi_label)
            for d in scores:
                m = evaluate(self.y[self.domains == d], p[self.domains == d], labels)
                scores[d].append((m.balanced_accuracy, m.ece))
        return scores

    def summary(self, scores: dict[str, list[tuple[float, float]]]) -> dict[str, dict]:
        return {d: {"n": int((self.domains == d).sum()),
                    "balanced_accuracy_mean": round(float(np.mean([s[0] for s in v])), 4),
                    "balanced_accuracy_std": round(float(np.std([s[0] for s in v])), 4),
                    "balanced_accuracy_per_repeat": [round(s[0], 4) for s in v],
                    "expected_calibration_error_mean": round(float(np.mean([s[1] for s in v])), 4)}
                for d, v in scores.items()}
