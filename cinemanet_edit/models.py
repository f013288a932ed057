"""The model registry: which backbone and heads are installed, their files, hashes and labels.

Like ``keras.applications`` the network definition (``backbone.py``) is separate from the weights, which are
files named in ``models/manifest.json`` (installed as the ``cinemanet_edit_models`` package) and verified by
sha256 before use. Heads are tiny (a matrix and a bias on the backbone's features or logits), so every head
reads the same backbone pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import CinemanetError
from .taxonomy import VOCABULARY_COLORS, VOCABULARY_TITLES, Category, Label, known_category

MANIFEST = "manifest.json"


def bundled_models_dir() -> Path:
    """The folder of models shipped with the package (the repository's ``models/``)."""
    import cinemanet_edit_models

    return Path(cinemanet_edit_models.__file__).parent


@dataclass(frozen=True)
class Head:
    """A linear classifier on the backbone output: ``activation(x @ kernel + bias)``.

    ``input`` is "features" (1024-d pooled) or "logits" (1001 ImageNet logits; the seed's heads read these).
    A head without a kernel is the ImageNet classifier itself: the logits, background dropped.
    """

    category: Category
    input: str
    activation: str  # "softmax" | "sigmoid"
    kernel: np.ndarray | None = field(default=None, repr=False)
    bias: np.ndarray | None = field(default=None, repr=False)
    drop_background: bool = False
    source: str = ""

    def __call__(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        x = features if self.input == "features" else logits
        if self.drop_background:
            x = x[:, 1:]
        if self.kernel is not None:
            x = x @ self.kernel + self.bias
        x = x.astype(np.float64)
        if self.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        x = x - x.max(axis=1, keepdims=True)
        e = np.exp(x)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class ModelSet:
    """The backbone weights file plus every installed head; ``version`` names this exact combination."""

    backbone_name: str
    backbone_file: Path
    input_size: int
    heads: tuple[Head, ...]
    version: str

    def categories(self) -> list[str]:
        return [h.category.id for h in self.heads]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(folder: Path, spec: dict) -> Path:
    path = folder / spec["file"]
    if not path.is_file():
        raise CinemanetError(f"model file missing: {path}")
    if "sha256" in spec and sha256(path) != spec["sha256"]:
        raise CinemanetError(f"model file corrupt (sha256 mismatch): {path}")
    return path


def read_label_file(path: Path, category_id: str) -> tuple[Label, ...]:
    """Labels from a ``.tsv`` (id-part<TAB>title...) or ``.txt`` (one title per line) file, in class order."""
    labels = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" in line:
            key, title = line.split("\t")[:2]
        else:
            title = line.strip()
            key = "-".join(title.lower().replace("/", " ").replace("_", " ").split())
        labels.append(Label(f"{category_id}.{key}", title))
    ids = [label.id for label in labels]
    if len(set(ids)) != len(ids):
        raise CinemanetError(f"{path}: duplicate label ids")
    return tuple(labels)


def _load_head(folder: Path, spec: dict) -> Head:
    category_id = spec["category"]
    category = known_category(category_id)
    if "labels_file" in spec:
        labels = read_label_file(_verified(folder, {"file": spec["labels_file"]}), category_id)
        category = Category(category_id, spec.get("title", VOCABULARY_TITLES.get(category_id, category_id)),
                            labels, multi_label=spec.get("multi_label", False),
                            marker_color=spec.get("marker_color", VOCABULARY_COLORS.get(category_id, "PURPLE")),
                            top_k=spec.get("top_k"))
    if category is None:
        raise CinemanetError(f"head for unknown category {category_id!r} has no labels_file")
    kernel = bias = None
    if "file" in spec:
        with np.load(_verified(folder, spec)) as weights:
            kernel, bias = weights["kernel"].astype(np.float32), weights["bias"].astype(np.float32)
        if kernel.shape[1] != len(category.labels):
            raise CinemanetError(f"{spec['file']}: {kernel.shape[1]} outputs for {len(category.labels)} labels")
    return Head(category, spec.get("input", "features"), spec.get("activation", "softmax"), kernel, bias,
                spec.get("drop_background", False), source=spec.get("file", spec.get("labels_file", "")))


def load_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CinemanetError(f"cannot read model manifest {folder / MANIFEST}: {exc}") from None


@lru_cache(maxsize=4)
def load_model_set(folder: Path | None = None) -> ModelSet:
    """Read and verify the manifest's backbone and heads (the hashes make ``version`` content-addressed)."""
    folder = Path(folder) if folder else bundled_models_dir()
    manifest = load_manifest(folder)
    backbone = manifest["backbone"]
    backbone_file = _verified(folder, backbone)
    heads = tuple(_load_head(folder, spec) for spec in manifest["heads"])
    fingerprint = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]
    version = f"{backbone['name']}+{'+'.join(h.category.id for h in heads)}@{fingerprint}"
    return ModelSet(backbone["name"], backbone_file, int(backbone.get("input_size", 224)), heads, version)
