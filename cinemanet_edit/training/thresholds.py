"""Default thresholds: the score at which each label is sure enough to be written, and what they give.

A label an editor sees must be right at least ``PRECISION_TARGET`` of the time. Each label's threshold is the
lowest score at which, on the held-out validation images (calibrated predictions of the validated fit), that
label when written was right that often; a label that never gets there is never written by default
(threshold 1). Out-of-fold predictions of the training groups cannot choose them: the fine-tuned branch has
trained on those images, so its scores there are too sure (thresholds chosen there gave 0.84 precision on the
held-out framing images). What the thresholds give is measured cross-fitted: thresholds chosen on one half of
the validation groups are scored on the other half, both ways, pooled per data source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRECISION_TARGET = 0.9
MIN_WRITTEN = 8  # a threshold needs at least this many written labels behind it
GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95
# A multi-label head's labels are independent yes/no answers, and its training data gives every image one of
# them, so validation never sees a picture where none holds: a "yes" below even odds is never written.
MULTI_LABEL_FLOOR = 0.5
NEVER = 1.0
# Labels measured far below the target on film frames, where the training labels hold positives only (so the
# rule above cannot see their mistakes there): never written by default, whatever the web stills say.
# `python benchmarks/measure_people.py` measures them again.
MEASURED_ON_FILM = {
    "shot.type.over-the-shoulder": "written on 330 HOHA film frames its precision is at most 0.20 at every threshold "
                                   "from 0.30 to 0.99 (counting every frame with two or more people as right)",
}


def film_vetoes(label_ids: list[str]) -> np.ndarray:
    """Which labels ``MEASURED_ON_FILM`` keeps from being written by default (a mask over ``label_ids``)."""
    return np.array([label in MEASURED_ON_FILM for label in label_ids], bool)


def written(p: np.ndarray, thresholds: np.ndarray, multi_label: bool) -> np.ndarray:
    """Which labels would be written (n, labels) bool: multi-label, each score at its threshold; single-label,
    the top label only, at its threshold."""
    if multi_label:
        return p >= thresholds[None, :]
    top = p.argmax(axis=1)
    out = np.zeros(p.shape, bool)
    rows = np.arange(len(p))
    out[rows, top] = p[rows, top] >= thresholds[top]
    return out


def choose_thresholds(y: np.ndarray, p: np.ndarray, multi_label: bool, domains: np.ndarray | None = None,
                      target: float = PRECISION_TARGET, min_written: int = MIN_WRITTEN,
                      never: np.ndarray | None = None) -> np.ndarray:
    """Per label, the lowest grid score whose written labels were right at least ``target`` of the time, over
    all images and in each data source (``domains``) that has ``min_written`` of them to judge by: film frames
    are harder than web stills, and an editor's footage is film."""
    domains = np.zeros(len(y), int) if domains is None else np.asarray(domains)
    sources = list(dict.fromkeys(domains.tolist()))
    out = np.full(p.shape[1], NEVER)
    for k in range(p.shape[1]):
        if never is not None and never[k]:
            continue  # measured elsewhere to be wrong too often (``MEASURED_ON_FILM``)
        chosen = p.argmax(axis=1) == k if not multi_label else np.ones(len(p), bool)
        for t in (t for t in GRID if not multi_label or t >= MULTI_LABEL_FLOOR):
            hit = chosen & (p[:, k] >= t)
            if hit.sum() < min_written or (y[hit] == k).mean() < target:
                continue
            in_source = [hit & (domains == d) for d in sources]
            if all((y[h] == k).mean() >= target for h in in_source if h.sum() >= min_written):
                out[k] = t
                break
    return out


@dataclass(frozen=True)
class Coverage:
    """What the thresholds give on a set of images: precision of the labels written, share of images with one."""

    n: int
    written: int  # labels written
    correct: int
    labelled: int  # images that got at least one label

    @property
    def precision(self) -> float | None:
        return self.correct / self.written if self.written else None

    @property
    def share(self) -> float:
        return self.labelled / self.n if self.n else 0.0

    def to_json(self) -> dict:
        return {"n": self.n, "written": self.written, "correct": self.correct, "labelled": self.labelled,
                "precision": None if self.precision is None else round(self.precision, 4),
                "share_labelled": round(self.share, 4)}


def coverage(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, multi_label: bool) -> Coverage:
    out = written(p, thresholds, multi_label)
    correct = int(out[np.arange(len(y)), y].sum()) if len(y) else 0
    return Coverage(len(y), int(out.sum()), correct, int(out.any(axis=1).sum()))


def cross_fitted(y: np.ndarray, p: np.ndarray, groups: np.ndarray, domains: np.ndarray, multi_label: bool,
                 seed: int = 0, never: np.ndarray | None = None) -> dict[str, Coverage]:
    """Coverage of thresholds chosen on one half of the groups and applied to the other, both ways: "all"
    and each data source."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups.tolist()))
    half = dict(zip(names, rng.permutation(len(names)) % 2, strict=True))
    side = np.array([half[g] for g in groups.tolist()], bool) if len(groups) else np.zeros(0, bool)
    parts: dict[str, list[Coverage]] = {}
    for chosen_on in (side, ~side):
        limits = choose_thresholds(y[chosen_on], p[chosen_on], multi_label, domains[chosen_on], never=never)
        scored = ~chosen_on
        for d in ["all", *dict.fromkeys(domains.tolist())]:
            mask = scored & (domains == d) if d != "all" else scored
            parts.setdefault(d, []).append(coverage(y[mask], p[mask], limits, multi_label))
    return {d: Coverage(*(sum(getattr(c, f) for c in cs) for f in ("n", "written", "correct", "labelled")))
            for d, cs in parts.items()}
