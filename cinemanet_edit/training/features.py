"""Backbone features of training images, cached by file content, and the images' near-duplicate hashes.

Each image is decoded once at the network's input size; its features and its mirror image's are cached under
the file's digest and the network's identity, so re-training after adding images only runs the new ones.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import decode
from ..backbone import FEATURE_DIM, LOGIT_DIM
from ..cache import cache_dir
from ..classify import BATCH_SIZE
from ..files import atomic_write
from ..models import ModelSet
from .data import Example, dhash, file_digest


@dataclass
class FeatureSet:
    """Backbone features of the images that decoded: [n, 2 (image, mirror), 1024], plus hashes."""

    examples: list[Example]
    features: np.ndarray
    hashes: list[int]
    digests: list[str]
    failed: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class HashedImages:
    """The images that decoded, with their file digests and near-duplicate hashes: what a split needs, and
    independent of the network (only of the decoded size)."""

    examples: list[Example]
    hashes: list[int]
    digests: list[str]
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _hash_folder(size: int) -> Path:
    folder = cache_dir() / "dhash" / f"full-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _decode_and_hash(path: Path, size: int, hash_file: Path) -> tuple[np.ndarray, int] | None:
    """The first frame as the network sees it at ``size``, and the dHash (saved to ``hash_file``) of the whole
    frame, bars included: the near-duplicate groups, and so a fine-tune's held-out split, must not move when
    the network's input preparation changes (cropping letterbox bars did). None if it does not decode."""
    frames = list(decode.decode_frames(path, [0], size))
    whole = list(decode.decode_frames(path, [0], size, crop_bars=False))
    if not frames or not whole:
        return None
    h = dhash(whole[0].image)
    atomic_write(hash_file, str(h).encode())  # a run killed mid-write must not leave a wrong hash behind
    return frames[0].image, h


def hash_images(examples: list[Example], size: int, progress=None) -> HashedImages:
    """Digests and dHashes of every image, cached per file: a split without a backbone pass."""
    folder = _hash_folder(size)
    out = HashedImages([], [], [])
    for example in examples:
        try:
            digest = file_digest(example.path)
        except OSError as exc:
            out.failed.append((example.path, str(exc)))
            continue
        hash_file = folder / f"{digest}.dhash"
        if hash_file.exists():
            h = int(hash_file.read_text())
        else:
            decoded = _decode_and_hash(example.path, size, hash_file)
            if decoded is None:
                out.failed.append((example.path, "cannot decode"))
                continue
            h = decoded[1]
        out.examples.append(example)
        out.hashes.append(h)
        out.digests.append(digest)
        if progress:
            progress(1)
    return out


def extract_features(examples: list[Example], models: ModelSet, classifier=None, progress=None) -> FeatureSet:
    """Features of every image and its mirror image, cached under the network's features id and the file's
    digest (the dHash beside it, under the decoded size)."""
    folder = cache_dir() / "features" / models.backbone_file.stem / models.features_id
    folder.mkdir(parents=True, exist_ok=True)
    hash_folder = _hash_folder(models.input_size)
    kept, feats, hashes, digests, failed = [], [], [], [], []
    pending: list[tuple[int, np.ndarray, Path]] = []

    def flush():
        nonlocal classifier
        if not pending:
            return
        if classifier is None:
            from ..classify import Classifier

            classifier = Classifier(models)
        images = np.stack([im for _, im, _ in pending] + [im[:, ::-1] for _, im, _ in pending])
        f, _ = classifier.backbone_outputs(images) if len(images) <= 64 else _batched(classifier, images)
        half = len(pending)
        for k, (slot, _, cache_file) in enumerate(pending):
            pair = np.stack([f[k], f[half + k]]).astype(np.float32)
            buffer = io.BytesIO()
            np.save(buffer, pair)
            atomic_write(cache_file, buffer.getvalue())
            feats[slot] = pair
        pending.clear()

    for example in examples:
        try:
            digest = file_digest(example.path)
        except OSError as exc:
            failed.append((example.path, str(exc)))
            continue
        cache_file = folder / f"{digest}.npy"
        hash_file = hash_folder / f"{digest}.dhash"
        slot = len(kept)
        kept.append(example)
        digests.append(digest)
        if cache_file.exists() and hash_file.exists():
            feats.append(np.load(cache_file))
            hashes.append(int(hash_file.read_text()))
        else:
            decoded = _decode_and_hash(example.path, models.input_size, hash_file)
            if decoded is None:
                kept.pop()
                digests.pop()
                failed.append((example.path, "cannot decode"))
                continue
            image, h = decoded
            hashes.append(h)
            feats.append(None)
            pending.append((slot, image, cache_file))
            if len(pending) == BATCH_SIZE:
                flush()
        if progress:
            progress(1)
    flush()
    return FeatureSet(kept, np.stack(feats) if feats else np.zeros((0, 2, FEATURE_DIM), np.float32), hashes, digests,
                      failed)


def extract_logits(paths: list[Path], models: ModelSet, classifier) -> np.ndarray:
    """The ImageNet logits of images that ``extract_features`` decoded (not cached: few heads read them)."""
    out = []
    for start in range(0, len(paths), 32):
        images = np.stack([next(iter(decode.decode_frames(p, [0], models.input_size))).image
                           for p in paths[start:start + 32]])
        out.append(classifier.backbone_outputs(images)[1])
    return np.concatenate(out) if out else np.zeros((0, LOGIT_DIM), np.float32)


def _batched(classifier, images: np.ndarray):
    outs = [classifier.backbone_outputs(images[i:i + BATCH_SIZE]) for i in range(0, len(images), BATCH_SIZE)]
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])
