"""The model registry: which backbone and heads are installed, their files, hashes and labels.

Like ``keras.applications`` the network definition (``backbone.py``) is separate from the weights, which are
files named in ``models/manifest.json`` (installed as the ``cinemanet_edit_models`` package) and verified by
sha256 before use. Heads are tiny (a matrix and a bias on the backbone's features or logits), so every head
reads the same backbone pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .backbone import INPUT_SIZE
from .errors import CinemanetError
from .taxonomy import Category, Label, describe, known_category

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
    thresholds: tuple[float, ...] | None = None  # per label, the score at which it is written (from training)

    def __call__(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        x = features if self.input == "features" else logits
        if self.drop_background:
            x = x[:, 1:]
        if self.kernel is not None:
            x = x @ self.kernel + self.bias
        return activate(x.astype(np.float64), self.activation == "sigmoid")


def activate(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Probabilities from a linear layer's outputs: one-vs-rest sigmoid (multi-label) or softmax."""
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class ModelSet:
    """The backbone weights file plus every installed head; ``version`` names this exact combination."""

    backbone_name: str
    backbone_file: Path
    input_size: int
    heads: tuple[Head, ...]
    version: str
    litert_file: Path | None = None  # an explicit LiteRT export; else runtimes.litert_path's cached one
    branch_file: Path | None = None  # fine-tuned upper blocks (see backbone.py), or None
    branch_from: int | None = None

    def to_json(self) -> dict:
        """What ``models list --json`` prints."""
        return {"version": self.version, "backbone": self.backbone_name,
                "branch": {"file": str(self.branch_file), "from_block": self.branch_from} if self.branch_file else None,
                "heads": [{"category": h.category.id, "labels": len(h.category.labels), "input": h.input}
                          for h in self.heads]}

    def lines(self) -> list[str]:
        """What ``models list`` prints: the version, the backbone and its branch, a line per head."""
        out = [self.version, f"backbone: {self.backbone_name} ({self.backbone_file})"]
        if self.branch_file is not None:
            out.append(f"fine-tuned branch: blocks {self.branch_from}-13 ({self.branch_file})")
        return out + [f"  {h.category.id}: {len(h.category.labels)} labels, reads the backbone's {h.input}"
                      for h in self.heads]

    @property
    def features_id(self) -> str:
        """Names the network that computes ``features``: trained heads and cached features depend on it."""
        ident = sha256(self.backbone_file)[:16]
        if self.input_size != INPUT_SIZE:  # the same weights at another size compute other features
            ident += f"-s{self.input_size}"
        if self.branch_file is not None:
            ident += f"-b{self.branch_from}-{sha256(self.branch_file)[:16]}"
        return ident


@lru_cache(maxsize=64)
def _sha256(path: Path, _stamp: tuple) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    stat = Path(path).stat()
    return _sha256(Path(path), (stat.st_size, stat.st_mtime_ns))


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
        if category is not None:  # a known category from another source keeps our titles and colours
            titles = {label.id: label.title for label in category.labels}
            labels = tuple(Label(label.id, titles.get(label.id, label.title)) for label in labels)
        base = describe(category_id)  # a vocabulary's title, colour, order and keyword policy
        category = replace(base, title=spec.get("title", base.title), labels=labels,
                           multi_label=spec.get("multi_label", False),
                           marker_color=spec.get("marker_color", base.marker_color), top_k=spec.get("top_k") or None)
    if category is None:
        raise CinemanetError(f"head for unknown category {category_id!r} has no labels_file")
    kernel = bias = thresholds = None
    if "file" in spec:
        with np.load(_verified(folder, spec)) as weights:
            kernel, bias = weights["kernel"].astype(np.float32), weights["bias"].astype(np.float32)
            if "thresholds" in weights.files:
                thresholds = tuple(float(t) for t in weights["thresholds"].reshape(-1))
        if kernel.shape[1] != len(category.labels) or thresholds is not None and len(thresholds) != kernel.shape[1]:
            raise CinemanetError(f"{spec['file']}: {kernel.shape[1]} outputs for {len(category.labels)} labels")
    return Head(category, spec.get("input", "features"), spec.get("activation", "softmax"), kernel, bias,
                spec.get("drop_background", False), source=spec.get("file", spec.get("labels_file", "")),
                thresholds=thresholds)


def load_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CinemanetError(f"cannot read model manifest {folder / MANIFEST}: {exc}") from None


def shot_detector_file(folder: Path | None = None) -> Path:
    """The shot detector's weights (TransNetV2, ``shots`` in the manifest), verified by sha256."""
    folder = Path(folder) if folder else bundled_models_dir()
    spec = load_manifest(folder).get("shots")
    if not spec:
        raise CinemanetError(f"{folder / MANIFEST}: no shot detector listed")
    return _verified(folder, spec)


def user_models_dir() -> Path:
    """Where ``train`` and ``models import-legacy`` install heads for this user (``CINEMANET_MODELS`` overrides)."""
    if os.environ.get("CINEMANET_MODELS"):
        return Path(os.environ["CINEMANET_MODELS"])
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "cinemanet-edit" / "models"


def load_model_set(folder: Path | None = None, user_folder: Path | None = None) -> ModelSet:
    """The bundled backbone and heads plus the user's installed heads (a user head replaces a bundled head of
    the same category). Every file is verified by sha256; ``version`` names the exact combination."""
    folder = Path(folder) if folder else bundled_models_dir()
    user_folder = Path(user_folder) if user_folder else user_models_dir()
    stamp = tuple((p / MANIFEST).stat().st_mtime_ns if (p / MANIFEST).exists() else 0
                  for p in (folder, user_folder))
    return _load(folder, user_folder, stamp)


@lru_cache(maxsize=8)
def _load(folder: Path, user_folder: Path, _stamp: tuple) -> ModelSet:
    manifest = load_manifest(folder)
    backbone = manifest["backbone"]
    backbone_file = _verified(folder, backbone)
    branch = backbone.get("branch") or {}
    branch_file = _verified(folder, branch) if branch else None
    heads = {spec["category"]: _load_head(folder, spec) for spec in manifest["heads"]}
    specs = [manifest["heads"]]
    if user_folder != folder and (user_folder / MANIFEST).exists():
        extra = load_manifest(user_folder)
        reads_features = any(spec.get("input", "features") == "features" for spec in extra.get("heads", []))
        if extra.get("backbone_sha256", backbone.get("sha256")) != backbone.get("sha256") or (
                reads_features and extra.get("branch_sha256") != branch.get("sha256")):
            raise CinemanetError(f"{user_folder / MANIFEST}: heads trained on another backbone; train them "
                                 "again or remove them")
        for spec in extra.get("heads", []):
            heads[spec["category"]] = _load_head(user_folder, spec)
        specs.append(extra.get("heads", []))
    identity = json.dumps({"backbone": backbone.get("sha256"), "branch": branch.get("sha256"), "heads": specs,
                           "input_size": backbone.get("input_size", INPUT_SIZE)}, sort_keys=True)
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:12]
    version = f"{backbone['name']}+{'+'.join(heads)}@{fingerprint}"
    litert = backbone.get("litert")
    litert_file = _verified(folder, litert) if litert else None
    return ModelSet(backbone["name"], backbone_file, int(backbone.get("input_size", INPUT_SIZE)), tuple(heads.values()),
                    version, litert_file, branch_file, branch.get("from_block") if branch else None)


def register_head(folder: Path, spec: dict, models: ModelSet | None = None) -> None:
    """Add or replace a category's head in ``folder``'s manifest (created for a user folder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    manifest = load_manifest(folder) if path.exists() else {"heads": []}
    if models is not None and "backbone" not in manifest:  # a user folder: remember what the heads read
        manifest["backbone_sha256"] = sha256(models.backbone_file)
        manifest.pop("branch_sha256", None)
        if models.branch_file is not None:
            manifest["branch_sha256"] = sha256(models.branch_file)
    heads = manifest.get("heads", [])
    if any(h["category"] == spec["category"] for h in heads):  # in place: the order names the model version
        manifest["heads"] = [spec if h["category"] == spec["category"] else h for h in heads]
    else:
        manifest["heads"] = [*heads, spec]
    write_manifest(folder, manifest)


def write_manifest(folder: Path, manifest: dict) -> None:
    from .files import atomic_write

    atomic_write(Path(folder) / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
