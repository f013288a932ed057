"""Training data: labelled images, near-duplicate groups and a train/validation split by group.

Two layouts are read: a TF-for-Poets folder (one sub-folder per label, e.g. ``close-up/`` or
``shot.framing.close-up/``) and a CSV manifest with ``image,category,label`` columns (like CinemaNet's
labels.csv). The web images carry resized copies of each other, so validation must never see a near-copy
of a training image: images are grouped by a perceptual hash and the split is made per group. Film frames
snapped from one scene are alike without being copies, so a manifest may add a ``group`` column: images
naming the same group always fall on the same side of a split.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..decode import IMAGE_SUFFIXES
from ..errors import CinemanetError
from ..taxonomy import Category, known_category


@dataclass(frozen=True)
class Example:
    path: Path
    label: str  # full label id, e.g. "shot.framing.close-up"
    group: str = ""  # images with the same non-empty group never straddle a split (e.g. one film scene)
    domain: str = ""  # the source it came from, e.g. "cinemanet/labels": reports give a number per domain


def _label_id(category: Category, name: str) -> str | None:
    name = name.strip()
    for label in category.labels:
        slug = label.id.rsplit(".", 1)[1]
        if name in (label.id, slug, label.title) or name.lower().replace(" ", "-").replace("_", "-") == slug:
            return label.id
    return None


def domain_name(source: Path) -> str:
    """A source's name in per-domain reports: ``cinemanet/labels`` for ``.../cinemanet/labels.csv``."""
    source = Path(source)
    return f"{source.parent.name}/{source.stem}" if source.is_file() else source.name


def load_examples(source: Path, category_id: str, allow_empty: bool = False) -> list[Example]:
    """The labelled images of one category from a folder layout or a CSV manifest."""
    category = known_category(category_id)
    if category is None:
        raise CinemanetError(f"unknown category {category_id!r}")
    source = Path(source)
    examples = []
    if source.is_file():
        with open(source, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("category", category_id) != category_id:
                    continue
                label = _label_id(category, row["label"])
                if label is None:
                    raise CinemanetError(f"{source}: unknown label {row['label']!r} for {category_id}")
                group = (row.get("group") or "").strip()
                examples.append(Example(source.parent / row["image"], label, f"{source}:{group}" if group else "",
                                        domain_name(source)))
    elif source.is_dir():
        for folder in sorted(p for p in source.iterdir() if p.is_dir()):
            label = _label_id(category, folder.name)
            if label is None:
                continue
            examples += [Example(p, label, domain=domain_name(source))
                         for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        raise CinemanetError(f"{source}: no such file or folder")
    if not examples and not allow_empty:
        raise CinemanetError(f"{source}: no images for {category_id}")
    return examples


def load_sources(sources: list[Path], category_ids: list[str], allow_missing: bool = False
                 ) -> dict[str, list[Example]]:
    """Examples per category from several sources; a source may hold only some categories, but every
    category asked for needs at least one image (unless ``allow_missing``)."""
    found = {c: [e for s in sources for e in load_examples(s, c, allow_empty=True)] for c in category_ids}
    empty = [c for c, examples in found.items() if not examples]
    if empty and not allow_missing:
        raise CinemanetError(f"no images for {', '.join(empty)} in {', '.join(str(s) for s in sources)}")
    return found


def dhash(image: np.ndarray) -> int:
    """64-bit difference hash of an RGB image (robust to resizing and recompression)."""
    import av

    small = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
        width=9, height=8, format="gray", interpolation="AREA").to_ndarray().astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def group_near_duplicates(hashes: list[int], content: list[str], max_distance: int = 8,
                          named: list[str] | None = None) -> list[int]:
    """Group ids: identical files, dHashes within ``max_distance`` bits, or the same non-empty ``named``
    group (a manifest's ``group`` column) share a group (union-find)."""
    n = len(hashes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    first: dict[str, int] = {}
    for i, digest in enumerate(content):
        if digest in first:
            union(i, first[digest])
        first.setdefault(digest, i)
    first_named: dict[str, int] = {}
    for i, name in enumerate(named or ()):
        if name:
            union(i, first_named.setdefault(name, i))
    h = np.array(hashes, dtype=np.uint64)
    for i in range(n):
        x = h[i] ^ h[i + 1:]
        distance = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for j in np.nonzero(distance <= max_distance)[0]:
            union(i, i + 1 + int(j))
    return [find(i) for i in range(n)]


def file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def split_by_group(labels: list[str], groups: list[int], validation: float = 0.2, seed: int = 0
                   ) -> tuple[list[int], list[int]]:
    """Indices of (train, validation): whole groups go to one side, about ``validation`` of each label."""
    by_group: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    rng = random.Random(seed)
    order = sorted(by_group)
    rng.shuffle(order)
    target = defaultdict(float)
    for label in labels:
        target[label] += validation
    taken: dict[str, float] = defaultdict(float)
    val: list[int] = []
    for g in order:
        members = by_group[g]
        main = max(sorted({labels[i] for i in members}), key=lambda lab: sum(labels[i] == lab for i in members))
        if taken[main] + len(members) <= target[main] + 0.5:
            val += members
            for i in members:
                taken[labels[i]] += 1
    val_set = set(val)
    return [i for i in range(len(labels)) if i not in val_set], sorted(val)


def split_images(labels: list[str], hashes: list[int], digests: list[str], validation: float = 0.2,
                 seed: int = 0, named: list[str] | None = None) -> set[str]:
    """The file digests held out for validation when several categories train together (a fine-tuned
    branch serves every head, so no head may validate on an image the branch trained on). An image with
    labels in several categories appears once per label; it is stratified by its first."""
    first: dict[str, int] = {}
    for i, digest in enumerate(digests):
        first.setdefault(digest, i)
    rows = list(first.values())
    names = named or [""] * len(digests)
    name_of: dict[str, str] = {}
    for digest, name in zip(digests, names, strict=True):
        if name:
            name_of.setdefault(digest, name)
    groups = group_near_duplicates([hashes[i] for i in rows], [digests[i] for i in rows],
                                   named=[name_of.get(digests[i], "") for i in rows])
    _, val = split_by_group([labels[i] for i in rows], groups, validation, seed)
    return {digests[rows[i]] for i in val}
