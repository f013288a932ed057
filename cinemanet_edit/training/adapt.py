"""Corrections teach: a head adapted to the labels editors gave, starting from the head it replaces.

Editors' corrections are few (tens, hundreds of media ranges), and a user has none of the images the shipped
heads were trained on. A head refitted on the corrections alone would forget everything else; so each head is
refitted on the corrections' frames with its weights pulled toward the ones it replaces (a Gaussian prior
centred on them: cross-entropy + strength * |W - W0|^2). With few corrections it stays close to the shipped
head; with many it moves toward what the editor's footage needs. The strength is chosen by group k-fold over
the corrections (the frames of one media range stay together, so no fold is judged on frames it was fitted on),
and the adapted head is kept only where it is at least as right as the head it replaces on held-out corrections.

Single-label categories only: a correction of a multi-label category (Shot Subject) names one label, not the
set that holds, so it says nothing about the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..corrections import Correction, CorrectionStore
from ..decode import MediaFiles, decode_frames
from ..errors import CinemanetError
from ..models import Head, ModelSet, activate, load_model_set, user_models_dir
from ..sampling import SamplingPolicy, sample_frames
from .linear import adam

STRENGTHS = (0.3, 0.1, 0.03, 0.01, 0.003)  # strongest first: ties go to the head that moves least
MIN_RANGES = 8  # corrected media ranges a category needs before its head is refitted
FOLDS = 4
STEPS = 200


@dataclass(frozen=True)
class LabelledFrames:
    """Backbone features of frames with the label an editor (or a held-back truth) gave them; ``groups``
    names the media range each frame came from."""

    features: np.ndarray  # [n, 1024]
    labels: np.ndarray  # [n] label index in the head's order
    groups: np.ndarray  # [n]


@dataclass(frozen=True)
class Adapted:
    """A head refitted on corrections, and how it did on corrections it was not fitted on."""

    category: str
    kernel: np.ndarray
    bias: np.ndarray
    strength: float
    ranges: int
    frames: int
    before: float  # held-out corrections the head it replaces gets right (share of frames)
    after: float  # the same frames, adapted on the other folds at the chosen strength

    @property
    def kept(self) -> bool:
        return self.after >= self.before

    def to_json(self) -> dict:
        return {"category": self.category, "strength": self.strength, "ranges": self.ranges, "frames": self.frames,
                "held_out_before": round(self.before, 4), "held_out_after": round(self.after, 4), "kept": self.kept}


def fit_anchored(x: np.ndarray, y: np.ndarray, kernel0: np.ndarray, bias0: np.ndarray, strength: float,
                 steps: int = STEPS, lr: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced softmax cross-entropy on (x, y) (as the shipped heads were trained: a label corrected
    often does not crowd out the rest) plus ``strength`` * squared distance to (kernel0, bias0), by
    full-batch Adam from (kernel0, bias0); returns (kernel, bias) on the same raw features."""
    x = x.astype(np.float64)
    w, b = kernel0.astype(np.float64).copy(), bias0.astype(np.float64).copy()
    counts = np.bincount(y, minlength=kernel0.shape[1]).astype(np.float64)
    weights = (1.0 / counts[y]) / np.count_nonzero(counts)  # each label present weighs the same, sums to 1
    onehot = np.eye(kernel0.shape[1])[y]

    def grads(w, b):
        g = (activate(x @ w + b, False) - onehot) * weights[:, None]
        return x.T @ g + 2 * strength * (w - kernel0), g.sum(axis=0) + 2 * strength * (b - bias0)

    adam((w, b), grads, steps, lr)
    return w.astype(np.float32), b.astype(np.float32)


def _folds(groups: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Indices of each fold's frames, whole groups to a fold."""
    names = np.unique(groups)
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[i]: n % k for n, i in enumerate(order)}
    assigned = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(assigned == f) for f in range(k)]


def adapt_head(head: Head, frames: LabelledFrames, seed: int = 0) -> Adapted:
    """``head`` refitted on ``frames`` at the strength that does best on held-out folds (log-likelihood)."""
    if head.kernel is None or head.activation != "softmax":
        raise ValueError(f"{head.category.id}: only a single-label linear head can be adapted")
    x, y, groups = frames.features, frames.labels, frames.groups
    folds = _folds(groups, min(FOLDS, len(np.unique(groups))), seed)
    before = float((np.argmax(x @ head.kernel + head.bias, axis=1) == y).mean())
    best = None
    for strength in STRENGTHS:
        right, loss = 0, 0.0
        for held in folds:
            fit = np.setdiff1d(np.arange(len(y)), held)
            kernel, bias = fit_anchored(x[fit], y[fit], head.kernel, head.bias, strength)
            p = activate((x[held] @ kernel + bias).astype(np.float64), False)
            right += int((p.argmax(axis=1) == y[held]).sum())
            loss -= float(np.log(np.clip(p[np.arange(len(held)), y[held]], 1e-12, 1)).sum())
        if best is None or loss < best[1] - 1e-9:
            best = (strength, loss, right / len(y))
    kernel, bias = fit_anchored(x, y, head.kernel, head.bias, best[0])
    return Adapted(head.category.id, kernel, bias, best[0], len(np.unique(groups)), len(y), before, best[2])


# ------------------------------------------------------------------------------------ learn --retrain


@dataclass
class RetrainReport:
    """What ``learn --retrain`` did: the heads adapted (and where), and what it could not use, with why."""

    folder: str = ""
    adapted: list[Adapted] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "category: why" or "media: why"

    def to_json(self) -> dict:
        return {"folder": self.folder, "adapted": [a.to_json() for a in self.adapted], "skipped": self.skipped}

    def lines(self) -> list[str]:
        out = [f"{a.category}: {'adapted' if a.kept else 'left as it was'} from {a.frames} frames of {a.ranges} "
               f"corrected ranges; held-out corrections right {a.before:.0%} before, {a.after:.0%} after"
               f" (strength {a.strength})" for a in self.adapted]
        if any(a.kept for a in self.adapted):
            out.append(f"installed in {self.folder} (remove a category's files there to go back)")
        return out + [f"not retrained: {why}" for why in self.skipped] or ["nothing to retrain"]


def retrain(store: CorrectionStore | None = None, models: ModelSet | None = None, folder: Path | None = None,
            seed: int = 0, classifier=None) -> RetrainReport:
    """Adapt each single-label head to the editors' corrections in ``store`` (frames decoded from the media
    each correction was learned on) and install the adapted heads in the user's model folder. A head is
    always adapted from the one it first replaced (kept beside it as ``<category>.base.npz``), never from an
    earlier adaptation, so running it again does not count a correction twice."""
    store = store or CorrectionStore()
    folder = Path(folder or user_models_dir())
    models = models or load_model_set(user_folder=folder)
    report = RetrainReport(str(folder))
    heads = {h.category.id: h for h in models.heads}
    by_category: dict[str, list[Correction]] = {}
    for c in store.all():
        by_category.setdefault(c.category, []).append(c)
    frames = _frames(by_category, heads, models, report, classifier)
    for category, found in frames.items():
        base = _base_head(folder, heads[category])
        ranges = len(np.unique(found.groups))
        if ranges < MIN_RANGES:
            report.skipped.append(f"{category}: {ranges} corrected ranges with frames; needs {MIN_RANGES}")
            continue
        adapted = adapt_head(base, found, seed)
        report.adapted.append(adapted)
        if adapted.kept:
            _install(folder, base, adapted, models)
    return report


def _frames(by_category: dict[str, list[Correction]], heads: dict[str, Head], models: ModelSet,
            report: RetrainReport, classifier) -> dict[str, LabelledFrames]:
    """The backbone features of every corrected range's sample frames (the frames tag analyses), by category.
    Each media file is checked and decoded once for all its corrections, and the frames go through the
    backbone in batches: thousands of corrections cost one pass over the frames they name."""
    usable: list[tuple[Correction, int]] = []  # (correction, its label's index in the head)
    for category, found in by_category.items():
        head = heads.get(category)
        if head is None or head.kernel is None or head.activation != "softmax":
            report.skipped.append(f"{category}: not a single-label head (a correction names one label, not a set)")
            continue
        labels = [label.id for label in head.category.labels]
        usable += [(c, labels.index(c.label)) for c in found if c.label in labels]
    features = _corrected_features([c for c, _ in usable], models, report, classifier)
    xs: dict[str, list] = {}
    for c, label in usable:
        for x in features.get(id(c), ()):
            xs.setdefault(c.category, []).append((x, label, f"{c.fingerprint}:{c.first}-{c.end}"))
    out = {}
    for category in by_category:
        if category in xs:
            x, y, groups = zip(*xs[category], strict=True)
            out[category] = LabelledFrames(np.stack(x), np.array(y), np.array(groups))
        elif category in {c.category for c, _ in usable}:
            report.skipped.append(f"{category}: no corrected frame could be read")
    return out


def _corrected_features(corrections: list[Correction], models: ModelSet, report: RetrainReport,
                        classifier) -> dict[int, list[np.ndarray]]:
    """id(correction) -> the backbone features of its sample frames, from the media it was learned on if that
    is unchanged. One check and one decoding pass per media file; frames go through the backbone in full
    batches and only their features are kept (a frame is 150 KB, its features 4 KB)."""
    from ..classify import BATCH_SIZE, Classifier

    by_media: dict[str, list[Correction]] = {}
    for c in corrections:
        if not c.media:
            report.skipped.append(f"{c.category} {c.first}-{c.end}: learned before media paths were kept")
        else:
            by_media.setdefault(c.media, []).append(c)
    files, out, pending = MediaFiles(), {}, []  # pending: (correction id, image)

    def flush():
        nonlocal classifier
        classifier = classifier or Classifier(models)
        features = classifier.backbone_outputs(np.stack([image for _, image in pending]))[0]
        for (key, _), x in zip(pending, features, strict=True):
            out.setdefault(key, []).append(x)
        pending.clear()

    for media, found in by_media.items():
        for key, image in _media_frames(Path(media), found, files, models.input_size, report):
            pending.append((key, image))
            if len(pending) == BATCH_SIZE:
                flush()
    if pending:
        flush()
    return out


def _media_frames(path: Path, corrections: list[Correction], files: MediaFiles, size: int,
                  report: RetrainReport):
    """(id(correction), image) of each sample frame of the corrections of one media file, decoded in one pass
    if the file is the one they were learned on."""
    try:
        info = files.probe(path)
        current = files.fingerprint(path)
    except (OSError, CinemanetError) as exc:
        report.skipped.append(f"{path}: {getattr(exc, 'strerror', None) or exc}")
        return
    stale = [c for c in corrections if c.fingerprint != current]
    if stale:
        report.skipped.append(f"{path}: changed or replaced since it was corrected ({len(stale)} corrections)")
    wanted: dict[int, list[int]] = {}
    for c in corrections:
        if c.fingerprint == current:
            for f in sample_frames(max(0, c.first), min(info.frame_count, c.end), info.rate, SamplingPolicy()):
                wanted.setdefault(f, []).append(id(c))
    for frame in decode_frames(path, wanted, size):
        for key in wanted[frame.index]:
            yield key, frame.image


def _base_head(folder: Path, head: Head) -> Head:
    """The head an adaptation starts from: the one the first adaptation replaced, else the current one."""
    stored = folder / f"{head.category.id}.base.npz"
    if not stored.is_file():
        return head
    with np.load(stored) as weights:
        return replace(head, kernel=weights["kernel"].astype(np.float32), bias=weights["bias"].astype(np.float32))


def _install(folder: Path, base: Head, adapted: Adapted, models: ModelSet) -> None:
    from ..files import atomic_write
    from ..models import register_head, sha256
    from .job import npz_bytes

    folder.mkdir(parents=True, exist_ok=True)
    category = base.category
    labels = np.array([label.id for label in category.labels])
    thresholds = {} if base.thresholds is None else {"thresholds": np.array(base.thresholds, np.float32)}
    base_file = folder / f"{category.id}.base.npz"
    if not base_file.is_file():
        atomic_write(base_file, npz_bytes(kernel=base.kernel, bias=base.bias, labels=labels, **thresholds))
    head_file = folder / f"{category.id}.npz"
    atomic_write(head_file, npz_bytes(kernel=adapted.kernel, bias=adapted.bias, labels=labels, **thresholds))
    register_head(folder, {"category": category.id, "file": head_file.name, "sha256": sha256(head_file),
                           "input": "features", "activation": "softmax",
                           "adapted": {**adapted.to_json(), "base": base_file.name}}, models)
