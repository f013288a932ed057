"""Fine-tune the backbone's upper blocks for cinematography, as a branch beside the ImageNet blocks.

Frozen ImageNet features plateau on this task (framing, type and angle need layout cues that ImageNet does
not reward). Retraining the upper blocks on every category at once (one shared copy, one auxiliary linear
layer per category, masked losses) moved subject, type and angle up by 0.045, 0.030 and 0.012 on held-out groups
(mean of three paired splits; framing lost 0.014; models/MODEL_CARD.md). The
copy is a *branch* (``backbone.py``): ImageNet and legacy heads keep the original blocks and the lower blocks
run once, so all heads still read one pass.

Training choices, each for a reason:
- BatchNorm stays frozen (inference mode): batches of 32 web images would give noisy statistics.
- Augmentation keeps framing: crops keep 85-100% of the side (a tight crop would turn a long shot into a
  medium), mirror, brightness, contrast and saturation; no rotation (Tilted is a label).
- The auxiliary layers start from the frozen features' linear solution, so early steps do not wreck the copy.
- One epoch of learning-rate warm-up, then cosine decay. After each epoch linear layers are refitted on
  the new features and scored on a 10% inner hold-out of the training groups (what the shipped heads will
  see); the best epoch is kept, and training stops once that has not improved for ``patience`` epochs in the
  second half. The validation split is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import decode
from ..errors import CinemanetError
from ..models import ModelSet
from ..taxonomy import Category
from .data import Example, group_near_duplicates

BATCH = 32  # images per fine-tuning step

CROP_MARGIN = 240 / 224  # images are stored this much larger and cropped to the input size while training


@dataclass
class FineTuneResult:
    branch_from: int
    weights: dict[str, np.ndarray]
    history: list[dict] = field(default_factory=list)  # per epoch: loss, inner hold-out balanced accuracy
    best_epoch: int = 0
    train_images: int = 0
    stop_images: int = 0
    seconds: float = 0.0


def _label_matrix(examples: list[Example], categories: list[Category], digests: list[str]
                  ) -> tuple[list[Path], list[str], np.ndarray]:
    """Distinct images (by content) and their label index per category (-1: none)."""
    row_of: dict[str, int] = {}
    paths: list[Path] = []
    rows: list[list[int]] = []
    for example, digest in zip(examples, digests, strict=True):
        if digest not in row_of:
            row_of[digest] = len(paths)
            paths.append(example.path)
            rows.append([-1] * len(categories))
        for c, category in enumerate(categories):
            ids = [label.id for label in category.labels]
            if example.label in ids:
                rows[row_of[digest]][c] = ids.index(example.label)
    return paths, list(row_of), np.array(rows, dtype=np.int32)


def _decode(paths: list[Path], size: int) -> np.ndarray:
    out = np.zeros((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(paths):
        frames = list(decode.decode_frames(path, [0], size))
        if not frames:
            raise CinemanetError(f"{path}: cannot decode")
        out[i] = frames[0].image
    return out


def fine_tune(examples: list[Example], hashes: list[int], digests: list[str], categories: list[Category],
              models: ModelSet, validation_digests: set[str], branch_from: int = 11, epochs: int = 10,
              learning_rate: float = 3e-4, patience: int = 3, seed: int = 0,
              log: Callable[[str], None] = lambda _: None) -> FineTuneResult:
    """Train a branch from block ``branch_from`` on every category in ``examples`` at once."""
    from ..backbone import branch_weights
    from ..runtimes import import_tensorflow

    started = time.perf_counter()
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # the model card's command must give the same branch

    paths, image_digests, y = _label_matrix(examples, categories, digests)
    rng = np.random.default_rng(seed)
    fit_rows, stop_rows = _inner_split(examples, hashes, digests, image_digests, validation_digests, rng)
    log(f"decoding {len(paths)} images")
    big = _decode(paths, round(models.input_size * CROP_MARGIN))
    small = _decode(paths, models.input_size)
    model, features = _branch_model(models, branch_from)

    def extract(rows: np.ndarray) -> np.ndarray:
        return np.concatenate([features(small[rows[i:i + 64]].astype(np.float32), training=False).numpy()
                               for i in range(0, len(rows), 64)])

    log("fitting the auxiliary layers on frozen features")
    heads, weight_table = _auxiliary_heads(extract(fit_rows), y[fit_rows], categories, seed)
    train_step = _train_step(features, heads, weight_table, len(fit_rows), epochs, learning_rate, models.input_size,
                             seed)
    probe_rows = np.sort(rng.choice(fit_rows, min(len(fit_rows), 1200), replace=False))

    def stop_score() -> float:
        """What the shipped heads will see: linear layers refitted on the current features (of a fixed
        subset of the training images), scored on the inner hold-out."""
        return _refit_score(extract(probe_rows), y[probe_rows], extract(stop_rows), y[stop_rows], categories, seed)

    result = FineTuneResult(branch_from, branch_weights(model), train_images=len(fit_rows),
                            stop_images=len(stop_rows))
    _train_epochs(result, model, train_step, stop_score, big, y, fit_rows, rng, epochs, patience, seed, log)
    result.seconds = time.perf_counter() - started
    return result


def _inner_split(examples: list[Example], hashes: list[int], digests: list[str], image_digests: list[str],
                 validation_digests: set[str], rng) -> tuple[np.ndarray, np.ndarray]:
    """(rows to fit, rows for early stopping): the inner hold-out is 10% of the training groups."""
    hash_of = dict(zip(digests, hashes, strict=True))
    name_of: dict[str, str] = {}
    for example, digest in zip(examples, digests, strict=True):
        if example.group:
            name_of.setdefault(digest, example.group)
    held = np.array([d in validation_digests for d in image_digests])
    train_rows = np.nonzero(~held)[0]
    groups = np.array(group_near_duplicates([hash_of[image_digests[i]] for i in train_rows],
                                            [image_digests[i] for i in train_rows],
                                            named=[name_of.get(image_digests[i], "") for i in train_rows]))
    unique = np.unique(groups)
    stop_groups = set(rng.choice(unique, max(1, len(unique) // 10), replace=False).tolist())
    is_stop = np.array([g in stop_groups for g in groups])
    return train_rows[~is_stop], train_rows[is_stop]


def _branch_model(models: ModelSet, branch_from: int):
    """(the backbone with a trainable copy of blocks ``branch_from``..13, its features model), both starting
    from the shipped ImageNet weights."""
    import keras

    from ..backbone import BRANCH_PREFIX, block_of, build_mobilenet_v1
    from ..runtimes import load_keras_model

    base = load_keras_model(models, branch=False)
    model = build_mobilenet_v1(branch_from, models.input_size)
    for layer in base.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
            if block_of(layer.name) is not None and block_of(layer.name) >= branch_from:
                model.get_layer(BRANCH_PREFIX + layer.name).set_weights(layer.get_weights())
    for layer in model.layers:
        layer.trainable = layer.name.startswith(BRANCH_PREFIX) and not layer.name.endswith("_bn")
    return model, keras.Model(model.input, model.get_layer("features").output)


def _auxiliary_heads(start_features: np.ndarray, y: np.ndarray, categories: list[Category], seed: int):
    """A linear layer per category fitted on the frozen features (the branch starts from a good head), and
    the class weights that balance each category's loss."""
    import keras

    from ..runtimes import import_tensorflow
    from .linear import fit_linear

    tf = import_tensorflow()
    heads, class_weights = [], []
    for c, category in enumerate(categories):
        mask = y[:, c] >= 0
        kernel, bias = fit_linear(start_features[mask], y[:, c][mask], len(category.labels), False, 0.1, 200,
                                  seed=seed)
        dense = keras.layers.Dense(len(category.labels), name=f"aux_{c}")
        dense.build((None, start_features.shape[1]))
        dense.set_weights([kernel, bias])
        heads.append(dense)
        counts = np.bincount(y[:, c][mask], minlength=len(category.labels))
        class_weights.append(mask.sum() / (len(category.labels) * np.maximum(counts, 1)))
    return heads, tf.constant(np.stack([np.pad(w, (0, 8 - len(w))) for w in class_weights]), tf.float32)


def _train_step(features, heads, weight_table, fit_images: int, epochs: int, learning_rate: float, size: int,
                seed: int):
    """One optimiser step on a batch: augmented images, class-balanced cross-entropy summed over the categories
    each image is labelled in, a little weight decay; Adam with a one-epoch warm-up and cosine decay."""
    import keras

    from ..runtimes import import_tensorflow

    tf = import_tensorflow()
    variables = features.trainable_variables + [v for h in heads for v in h.trainable_variables]
    steps = epochs * int(np.ceil(fit_images / BATCH))
    warmup = min(steps // 2, int(np.ceil(fit_images / BATCH)))  # one epoch: Adam's first steps are large
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        0.0, steps - warmup, warmup_target=learning_rate, warmup_steps=warmup))
    dropout = keras.layers.Dropout(0.2, seed=seed)

    @tf.function(reduce_retracing=True)
    def train_step(images, labels, step_seed):
        x = _augment(tf, images, step_seed, size)
        with tf.GradientTape() as tape:
            f = dropout(features(x, training=True), training=True)
            loss = 0.0
            for c, head in enumerate(heads):
                present = labels[:, c] >= 0
                target = tf.maximum(labels[:, c], 0)
                w = tf.where(present, tf.gather(weight_table[c], target), 0.0)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(target, head(f))
                loss += tf.reduce_sum(ce * w) / (tf.reduce_sum(tf.cast(present, tf.float32)) + 1e-6)
            loss += 1e-5 * tf.add_n([tf.reduce_sum(v ** 2) for v in variables if len(v.shape) > 1])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    return train_step


def _refit_score(f_fit: np.ndarray, y_fit: np.ndarray, f_stop: np.ndarray, y_stop: np.ndarray,
                 categories: list[Category], seed: int) -> float:
    """Mean balanced accuracy on the inner hold-out of linear heads refitted on ``f_fit``."""
    from .linear import evaluate, fit_linear

    scores = []
    for c, category in enumerate(categories):
        fit, stop = y_fit[:, c] >= 0, y_stop[:, c] >= 0
        if stop.any() and fit.any():
            kernel, bias = fit_linear(f_fit[fit], y_fit[:, c][fit], len(category.labels), False, 0.1, 150, seed=seed)
            scores.append(evaluate(y_stop[:, c][stop], f_stop[stop] @ kernel + bias,
                                   [lab.id for lab in category.labels]).balanced_accuracy)
    return float(np.mean(scores))


def _train_epochs(result: FineTuneResult, model, train_step, stop_score, big: np.ndarray, y: np.ndarray,
                  fit_rows: np.ndarray, rng, epochs: int, patience: int, seed: int, log) -> None:
    """The epochs, keeping the branch of the best inner hold-out score and stopping once it stops improving."""
    from ..backbone import branch_weights
    from ..runtimes import import_tensorflow

    tf = import_tensorflow()
    best = stop_score()
    result.history.append({"epoch": 0, "loss": None, "stop_balanced_accuracy": round(best, 4)})
    log(f"epoch 0: inner hold-out balanced accuracy {best:.3f}")
    waited = 0
    min_epochs = (epochs + 1) // 2  # the copy first gets worse while the layers adapt to each other
    for epoch in range(1, epochs + 1):
        order = rng.permutation(fit_rows)
        total = 0.0
        for k, start in enumerate(range(0, len(order), BATCH)):
            rows = np.sort(order[start:start + BATCH])
            total += float(train_step(big[rows], y[rows], tf.constant([seed, epoch * 100000 + k], tf.int32)))
        score = stop_score()
        loss = total / max(1, k + 1)
        result.history.append({"epoch": epoch, "loss": round(loss, 4), "stop_balanced_accuracy": round(score, 4)})
        log(f"epoch {epoch}: loss {loss:.3f}, inner hold-out balanced accuracy {score:.3f}")
        if score > best:
            best, waited = score, 0
            result.weights, result.best_epoch = branch_weights(model), epoch
        elif (waited := waited + 1) >= patience and epoch - patience >= min_epochs:
            log(f"stopping early: no gain in {patience} epochs")
            break


def _augment(tf, images, seed, size: int):
    """Framing-safe augmentation of uint8 [n, s', s', 3] images into float [n, size, size, 3]."""
    n = tf.shape(images)[0]
    x = tf.cast(images, tf.float32)

    def uniform(k, low, high, shape=None):
        return tf.random.stateless_uniform(shape if shape is not None else [n], seed + [0, k], low, high)

    side = uniform(1, 0.85, 1.0)
    aspect = tf.exp(uniform(2, -0.1, 0.1))
    h = tf.minimum(side * tf.sqrt(aspect), 1.0)
    w = tf.minimum(side / tf.sqrt(aspect), 1.0)
    y0 = uniform(3, 0.0, 1.0) * (1 - h)
    x0 = uniform(4, 0.0, 1.0) * (1 - w)
    x = tf.image.crop_and_resize(x, tf.stack([y0, x0, y0 + h, x0 + w], 1), tf.range(n), [size, size])
    x = tf.where(uniform(5, 0.0, 1.0, [n, 1, 1, 1]) < 0.5, x[:, :, ::-1], x)
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * uniform(6, 0.8, 1.2, [n, 1, 1, 1]) + mean + uniform(7, -20.0, 20.0, [n, 1, 1, 1])
    grey = tf.reduce_mean(x, axis=3, keepdims=True)
    x = grey + (x - grey) * uniform(8, 0.7, 1.3, [n, 1, 1, 1])
    return tf.clip_by_value(x, 0.0, 255.0)
