"""The ``train`` job: split, fit and validate every head, refit, write heads, cards and the manifest.

The seed retrained one graph per category with TF-for-Poets. Here every head is a linear layer on the
backbone's 1024-d pooled features (so all heads share one backbone pass), trained with class-balanced
softmax (single-label) or one-vs-rest sigmoid (multi-label) cross-entropy and L2, its strength chosen by
cross-validation on the training groups only; the validation groups are touched once, for the report.
Features of each image and of its mirror image are cached by file content.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CinemanetError
from ..models import ModelSet
from ..taxonomy import Category
from .data import Example, group_near_duplicates, split_by_group
from .features import FeatureSet, extract_features, hash_images
from .linear import DomainFolds, Metrics, evaluate, fit_linear, fit_temperature, group_folds, predict_linear
from .thresholds import MEASURED_ON_FILM, PRECISION_TARGET, Coverage, choose_thresholds, cross_fitted, film_vetoes


@dataclass
class TrainResult:
    category: Category
    kernel: np.ndarray
    bias: np.ndarray
    l2: float
    cv: dict[float, float]
    validation: Metrics
    train_size: int
    validation_size: int
    groups: int
    seconds: float
    refit_size: int = 0  # images the shipped head was refitted on after validation (0: not refitted)
    temperature: float = 1.0  # the head's logits are divided by this (folded into kernel and bias)
    uncalibrated_ece: float | None = None  # validation ECE before the temperature
    domains: dict[str, dict] = field(default_factory=dict)  # repeated group k-fold per data source (DomainFolds)
    validation_domains: dict[str, Metrics] = field(default_factory=dict)  # the held-out images, per data source
    thresholds: np.ndarray | None = None  # per label: the score at which it is written by default
    coverage: dict[str, Coverage] = field(default_factory=dict)  # what the thresholds give: "all", per source

    def metrics_json(self) -> dict:
        """The validation metrics and how they were reached: ``<category>.metrics.json`` and ``train --json``."""
        return {**self.validation.to_json(), "refit_all_images": self.refit_size,
                "temperature": round(self.temperature, 4),
                "uncalibrated_expected_calibration_error":
                    None if self.uncalibrated_ece is None else round(self.uncalibrated_ece, 4),
                "domains": self.domains,
                "validation_domains": {d: m.to_json() for d, m in self.validation_domains.items()},
                "thresholds": {} if self.thresholds is None else
                {lab.id: float(t) for lab, t in zip(self.category.labels, self.thresholds, strict=True)},
                "written_labels": {d: c.to_json() for d, c in self.coverage.items()}}


def train_category(fs: FeatureSet, category: Category, validation: float = 0.2, seed: int = 0,
                   l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 0.3), folds: int = 5,
                   epochs: int = 300, validation_digests: set[str] | None = None,
                   refit_all: bool = False, domain_repeats: int = 3) -> TrainResult:
    """Fit one head. The validation images are about ``validation`` of each label's near-duplicate groups,
    or exactly the images in ``validation_digests`` (the split a fine-tuned branch was trained on).

    With ``refit_all`` the head is fitted once more, after validation, on every image with the chosen L2:
    the returned metrics stay those of the validated fit, and the returned weights are the refitted ones
    (a quarter more data; the usual last step once a recipe is chosen).

    The chosen recipe is also scored by ``domain_repeats`` repeats of group k-fold over every image, per data
    source (web stills, film frames): one split of a few hundred images cannot tell +0.02 from noise."""
    started = time.perf_counter()
    label_ids = [label.id for label in category.labels]
    present = [i for i, e in enumerate(fs.examples) if e.label in label_ids]
    if not present:
        raise CinemanetError(f"no examples for {category.id}")
    y_all = np.array([label_ids.index(fs.examples[i].label) for i in present])
    groups = np.array(group_near_duplicates([fs.hashes[i] for i in present], [fs.digests[i] for i in present],
                                            named=[fs.examples[i].group for i in present]))
    if validation_digests is None:
        train_idx, val_idx = split_by_group([label_ids[t] for t in y_all], list(groups), validation, seed)
    else:
        held = [fs.digests[i] in validation_digests for i in present]
        train_idx = [i for i, h in enumerate(held) if not h]
        val_idx = [i for i, h in enumerate(held) if h]
    train_idx, val_idx = np.array(train_idx), np.array(val_idx)
    x = fs.features[present]  # [n, 2, 1024]

    def flat(idx):  # image and mirror image both train
        return x[idx].reshape(-1, x.shape[-1]), np.repeat(y_all[idx], 2)

    cv: dict[float, float] = {}
    out_of_fold: dict[float, np.ndarray] = {}  # logits of each training image from the fold that held it out
    fold_masks = group_folds(groups[train_idx], folds, seed)
    for l2 in l2_grid:
        scores = []
        logits = np.zeros((len(train_idx), len(label_ids)))
        for mask in fold_masks:
            tr, va = train_idx[~mask], train_idx[mask]
            xt, yt = flat(tr)
            kernel, bias = fit_linear(xt, yt, len(label_ids), category.multi_label, l2, epochs, seed=seed)
            p = (predict_linear(x[va, 0], kernel, bias, category.multi_label)
                 + predict_linear(x[va, 1], kernel, bias, category.multi_label)) / 2
            scores.append(evaluate(y_all[va], p, label_ids).balanced_accuracy)
            logits[mask] = x[va, 0] @ kernel + bias
        cv[l2] = float(np.mean(scores))
        out_of_fold[l2] = logits
    best = max(cv, key=cv.get)
    temperature = fit_temperature(out_of_fold[best], y_all[train_idx], category.multi_label)
    xt, yt = flat(train_idx)
    kernel, bias = fit_linear(xt, yt, len(label_ids), category.multi_label, best, epochs, seed=seed)
    uncalibrated = evaluate(y_all[val_idx], predict_linear(x[val_idx, 0], kernel, bias, category.multi_label),
                            label_ids).ece
    kernel, bias = (kernel / temperature).astype(np.float32), (bias / temperature).astype(np.float32)
    p_val = predict_linear(x[val_idx, 0], kernel, bias, category.multi_label)
    metrics = evaluate(y_all[val_idx], p_val, label_ids)
    val_domains = np.array([fs.examples[present[i]].domain for i in val_idx])
    by_domain = {d: evaluate(y_all[val_idx][val_domains == d], p_val[val_domains == d], label_ids)
                 for d in dict.fromkeys(val_domains.tolist())} if len(set(val_domains.tolist())) > 1 else {}
    never = film_vetoes(label_ids)
    thresholds = choose_thresholds(y_all[val_idx], p_val, category.multi_label, val_domains, never=never)
    covered = cross_fitted(y_all[val_idx], p_val, groups[val_idx], val_domains, category.multi_label, seed, never)
    domains = {}
    if domain_repeats:
        folds_data = DomainFolds(x, y_all, np.array([fs.examples[i].domain for i in present]), groups,
                                 len(label_ids), category.multi_label)
        domains = folds_data.summary(folds_data.scores(1.0, None, folds, domain_repeats, best, epochs, seed))
    refit_size = 0
    if refit_all:
        xa, ya = flat(np.arange(len(present)))
        kernel, bias = fit_linear(xa, ya, len(label_ids), category.multi_label, best, epochs, seed=seed)
        kernel, bias = (kernel / temperature).astype(np.float32), (bias / temperature).astype(np.float32)
        refit_size = len(present)
    return TrainResult(category, kernel, bias, best, cv, metrics, len(train_idx), len(val_idx),
                       len(set(groups.tolist())), time.perf_counter() - started, refit_size, temperature,
                       uncalibrated, domains, by_domain, thresholds, covered)


# ---------------------------------------------------------------- head files and model cards


def _ece(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def write_head(folder: Path, result: TrainResult, models: ModelSet, command: str, sources: list[str],
               counts: dict[str, int], register: bool = True, shared_split: bool = False) -> dict:
    """Write ``<category>.npz`` and ``<category>.md`` (model card); returns the manifest entry, registered in
    the folder's manifest unless ``register`` is False (a fine-tune registers everything at once)."""
    import json

    from ..files import atomic_write
    from ..models import register_head, sha256

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    category = result.category
    head_file = folder / f"{category.id}.npz"
    extra = {} if result.thresholds is None else {"thresholds": result.thresholds.astype(np.float32)}
    atomic_write(head_file, npz_bytes(kernel=result.kernel, bias=result.bias,
                                      labels=np.array([lab.id for lab in category.labels]), **extra))
    card_file = folder / f"{category.id}.md"
    atomic_write(card_file, head_card(result, models, command, sources, counts, shared_split).encode("utf-8"))
    atomic_write(folder / f"{category.id}.metrics.json", json.dumps(result.metrics_json(), indent=1).encode("utf-8"))
    spec = {"category": category.id, "file": head_file.name, "sha256": sha256(head_file), "input": "features",
            "activation": "sigmoid" if category.multi_label else "softmax", "card": card_file.name}
    if register:
        register_head(folder, spec, models)
    return spec


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """A NumPy archive in memory, for ``files.atomic_write``."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def head_card(result: TrainResult, models: ModelSet, command: str, sources: list[str], counts: dict[str, int],
              shared_split: bool) -> str:
    """The head's model card: data, model, split, calibration, validation per label, the confusion matrix."""
    import datetime

    category = result.category
    metrics = result.metrics_json()
    rows = "\n".join(
        f"| {lab.title} (`{lab.id}`) | {counts.get(lab.id, 0)} | {m['support']} | {m['precision']:.3f} | "
        f"{m['recall']:.3f} |" for lab, m in zip(category.labels, metrics["per_class"].values(), strict=True))
    titles = [lab.title for lab in category.labels]
    confusion = "\n".join(f"| **{t}** | " + " | ".join(str(v) for v in row) + " |"
                          for t, row in zip(titles, metrics["confusion"], strict=True))
    cv = ", ".join(f"{k:g}: {v:.3f}" for k, v in result.cv.items())
    branch_note = (f": blocks {models.branch_from}-13 fine-tuned for cinematography, see "
                   f"`{models.branch_file.with_suffix('.md').name}`" if models.branch_file is not None else "")
    split_note = ("the validation images are those the fine-tune held out (about 20% of all groups, "
                  "stratified by each image's first label, seed 0), so the backbone never trained on them"
                  if shared_split else "about 20% of each label's groups held out for validation (seed 0)")
    refit_note = (f"After validation the head was **refitted on all {result.refit_size} images** (training and "
                  "validation) with the chosen L2 (`--refit-all`): the numbers below are those of the validated "
                  "fit, which never saw the validation images; the shipped head has seen them, so re-evaluating "
                  "it on this data overstates its accuracy." if result.refit_size else
                  "The validation images were used for this report only.")
    held_section = _held_out_section(category, metrics["validation_domains"])
    domain_section = _domain_section(result.domains)
    multi_note = "Multi-label head, scored here by its top label (the data gives one label per image)." \
        if category.multi_label else ""
    return f"""# Head: {category.title} (`{category.id}`)

Trained {datetime.date.today().isoformat()} by `cinemanet-edit train` in {result.seconds:.0f} s.

- **Command:** `{command}`
- **Data:** {', '.join(sources)}: {sum(counts.values())} images with a {category.id} label.
- **Model:** a linear {'one-vs-rest sigmoid' if category.multi_label else 'softmax'} layer on the 1024-d pooled
  features of `{models.backbone_name}` (features id `{models.features_id}`{branch_note}), so it shares the
  backbone pass with every other head. Class-balanced cross-entropy, L2 chosen by {len(result.cv)}-value grid
  over 5-fold cross-validation on the training groups only (balanced accuracy per L2: {cv}; chosen
  {result.l2:g}). Each training image is also used mirrored.
- **Split:** images grouped as near-duplicates (identical files, or 64-bit dHash within 8 bits: resized
  copies); {result.groups} groups; {split_note}:
  {result.train_size} training images, {result.validation_size} validation images. {refit_note}
- **Calibration:** the logits are divided by a temperature of {result.temperature:.3f}, fitted (negative
  log-likelihood) on the out-of-fold predictions of the training groups at the chosen L2, and folded into the
  layer's weights. Expected calibration error of the top label on the validation images (10 bins):
  {_ece(result.uncalibrated_ece)} before, **{_ece(metrics.get('expected_calibration_error'))}** after.

## Validation (held-out groups)

Balanced accuracy **{metrics['balanced_accuracy']:.3f}**, accuracy {metrics['accuracy']:.3f}
(n = {metrics['n']}). {multi_note}

| label | images | validation support | precision | recall |
|---|---|---|---|---|
{rows}

Confusion matrix (rows: true label, columns: predicted, in the order above):

| true \\ predicted | {' | '.join(titles)} |
|---|{'---|' * len(titles)}
{confusion}
{held_section}{_threshold_section(category, metrics)}{domain_section}"""


def _threshold_section(category, metrics: dict) -> str:
    """The card's default thresholds and what they give on the held-out images ('' for a head without)."""
    if not metrics.get("thresholds"):
        return ""
    limits = ", ".join(f"{lab.title} {'never' if t >= 1 else f'{t:.2f}'}"
                       for lab, t in zip(category.labels, metrics["thresholds"].values(), strict=True))
    def row(name: str, c: dict) -> str:
        precision = "-" if c["precision"] is None else f"{c['precision']:.3f}"
        return f"| {name} | {c['n']} | {c['written']} | {precision} | {c['share_labelled']:.0%} |"

    rows = "\n".join(row(name, c) for name, c in metrics["written_labels"].items())
    vetoed = "".join(f"\n{lab.title} is never written by default: {MEASURED_ON_FILM[lab.id]}; the web stills alone "
                     "would have let it through." for lab in category.labels if lab.id in MEASURED_ON_FILM)
    return f"""
## Default thresholds

A label is written (marker, keyword, metadata not marked uncertain) only at or above its threshold: the lowest
score at which, on the held-out images (the validated fit), that label when written was right at least
{PRECISION_TARGET:.0%} of the time, over all of them and in each data source with enough of them to judge by
("never": it did not get there; `--min-confidence` overrides all of them):
{limits}.{vetoed}

What they give, cross-fitted (thresholds chosen on one half of the held-out groups, scored on the other half,
both ways, pooled), all and per data source:

| images | n | labels written | precision of written labels | share of images labelled |
|---|---|---|---|---|
{rows}
"""


def _held_out_section(category, held: dict) -> str:
    """The card's table of held-out images per data source ('' when there is one source)."""
    if not held:
        return ""
    rows = "\n".join(
        f"| {name} | {m['n']} | {m['balanced_accuracy']:.3f} | {_ece(m.get('expected_calibration_error'))} | "
        + ", ".join(f"{lab.title} {c['recall']:.2f} ({c['support']})"
                    for lab, c in zip(category.labels, m["per_class"].values(), strict=True) if c["support"])
        + " |" for name, m in held.items())
    return f"""
Held-out images per data source (the same validated fit):

| data source | images | balanced accuracy | ECE | recall (support) |
|---|---|---|---|---|
{rows}
"""


def _domain_section(domains: dict) -> str:
    """The card's repeated group k-fold per data source ('' when it was not run)."""
    if not domains:
        return ""
    rows = "\n".join(
        f"| {name} | {m['n']} | {m['balanced_accuracy_mean']:.3f} ± {m['balanced_accuracy_std']:.3f} | "
        f"{m['expected_calibration_error_mean']:.3f} |" for name, m in domains.items())
    repeats = len(next(iter(domains.values()))["balanced_accuracy_per_repeat"])
    return f"""
## Per data source (repeated group k-fold)

The recipe above (chosen L2, no temperature) fitted on 4 of 5 group folds of every image and scored on the fifth,
{repeats} times with different folds: mean ± spread of balanced accuracy per data source, and expected calibration
error. Each image is scored by a head that never saw its group; the branch, though, has trained on most of
them, so these numbers are optimistic for a fine-tuned branch and are best read side by side.

| data source | images | balanced accuracy | ECE |
|---|---|---|---|
{rows}
"""


# ---------------------------------------------------------------- the whole job behind `cinemanet-edit train`


@dataclass
class TrainJob:
    """What ``train`` did: one result per category, the head entries written, and the branch if any."""

    results: list[TrainResult]
    heads: list[dict]
    branch: object | None = None  # finetune.FineTuneResult
    failed: list[tuple[Path, str]] = field(default_factory=list)
    output: Path = Path()

    def to_json(self) -> dict:
        """What ``train --json`` prints: one category's metrics, or every category's."""
        report = {r.category.id: {"head": str(self.output / spec["file"]), **r.metrics_json()}
                  for r, spec in zip(self.results, self.heads, strict=True)}
        if len(report) == 1 and self.branch is None:
            category, metrics = next(iter(report.items()))
            return {"category": category, **metrics}
        return {"categories": report}

    def lines(self) -> list[str]:
        """The validation report ``train`` prints: per head, per label and per data source."""
        out = []
        for result, spec in zip(self.results, self.heads, strict=True):
            metrics = result.metrics_json()
            refit = f", then refitted on all {result.refit_size} images" if result.refit_size else ""
            out.append(f"{result.category.id}: validation balanced accuracy {metrics['balanced_accuracy']:.3f} "
                       f"(n={metrics['n']}){refit}; wrote {self.output / spec['file']} and its model card")
            out += [f"  {label:40s} precision {m['precision']:.3f}  recall {m['recall']:.3f}  n={m['support']}"
                    for label, m in metrics["per_class"].items()]
            out += [f"  {domain:40s} group k-fold balanced accuracy {m['balanced_accuracy_mean']:.3f} "
                    f"+- {m['balanced_accuracy_std']:.3f} (n={m['n']})" for domain, m in result.domains.items()]
        return out


def train(by_category: dict[str, list[Example]], output: Path, models: ModelSet, command: str,
          sources: list[str], validation: float = 0.2, seed: int = 0, epochs: int = 300,
          fine_tune_from: int | None = None, fine_tune_epochs: int = 10, refit_all: bool = False,
          log=lambda _: None, progress_factory=None, split_examples: list[Example] | None = None) -> TrainJob:
    """Train a head per category (and first, with ``fine_tune_from``, a branch shared by all of them).

    A fine-tune writes the branch and its model card beside the backbone in ``output``, then every head,
    and changes the manifest once, at the end: a failure midway leaves the old manifest, whose sha256 checks
    then refuse any head file already replaced.

    Heads trained on an existing branch (no ``fine_tune_from``) validate on the images that branch's
    fine-tune held out: ``split_examples`` (every labelled image of the sources the branch was trained on)
    is split again exactly as the fine-tune split it, so no head validates on an image the branch learnt from.
    """
    from ..taxonomy import known_category

    output = Path(output)
    categories = [known_category(c) for c in by_category]
    steps = _Steps(progress_factory)
    validation_digests = branch = branch_file = None
    if fine_tune_from is None and models.branch_file is not None and split_examples:
        validation_digests = steps.split(split_examples, models, validation, seed)
    if fine_tune_from is not None:
        require_backbone_folder(output)  # before hours of work
        everything = [e for c in by_category for e in by_category[c]]
        validation_digests = steps.split(everything, models, validation, seed)
        branch, branch_file, models = _fine_tune_branch(steps.hashed, categories, models, output, validation_digests,
                                                        fine_tune_from, fine_tune_epochs, seed, command, sources, log)
    results, specs = [], []
    for category in categories:
        log(f"training {category.id}")
        fs = steps.run(extract_features, by_category[category.id], models)
        result = train_category(fs, category, validation, seed, epochs=epochs,
                                validation_digests=validation_digests, refit_all=refit_all)
        counts: dict[str, int] = {}
        for e in fs.examples:
            counts[e.label] = counts.get(e.label, 0) + 1
        specs.append(write_head(output, result, models, command, sources, counts, register=branch is None,
                                shared_split=validation_digests is not None))
        results.append(result)
    if branch is not None:
        _register_fine_tune(output, branch_file, fine_tune_from, specs)
    return TrainJob(results, specs, branch, steps.failed, output)


def train_from_sources(data: list[Path], categories: list[str] | None, output: Path | None, validation: float = 0.2,
                       seed: int = 0, epochs: int = 300, fine_tune_from: int | None = None, fine_tune_epochs: int = 10,
                       refit_all: bool = False, command: str = "", log=lambda _: None,
                       progress_factory=None) -> TrainJob:
    """``cinemanet-edit train``: the manifests or folders in ``data`` loaded, then ``train`` into ``output`` (the
    user's model folder by default). Without a fine-tune, heads trained on an installed branch validate on the
    images its fine-tune held out, split again from every labelled image of ``data``."""
    from ..models import load_model_set, user_models_dir
    from ..taxonomy import CINEMATOGRAPHY
    from .data import load_sources

    categories = categories or [c.id for c in CINEMATOGRAPHY]
    by_category = load_sources(data, list(dict.fromkeys(categories)))
    output = Path(output) if output else user_models_dir()
    if fine_tune_from is not None:
        require_backbone_folder(output)
        models = load_model_set(output, output)
    else:
        models = load_model_set()
    split_examples = None
    if fine_tune_from is None and models.branch_file is not None:  # validate where the branch never trained
        every = load_sources(data, [c.id for c in CINEMATOGRAPHY], allow_missing=True)
        split_examples = [e for c in CINEMATOGRAPHY for e in every.get(c.id, [])]
    return train(by_category, output, models, command, [str(s) for s in data], validation, seed, epochs,
                 fine_tune_from, fine_tune_epochs, refit_all, log=log, progress_factory=progress_factory,
                 split_examples=split_examples)


class _Steps:
    """The image passes of a training job, each behind a progress bar, collecting the images that failed."""

    def __init__(self, progress_factory):
        self.progress_factory = progress_factory
        self.failed: list[tuple[Path, str]] = []
        self.hashed = None

    def run(self, step, examples, *args):
        bar = self.progress_factory(len(examples)) if self.progress_factory else None
        try:
            found = step(examples, *args, progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
        self.failed.extend(f for f in found.failed if f not in self.failed)
        return found

    def split(self, examples: list[Example], models: ModelSet, validation: float, seed: int) -> set[str]:
        """The validation digests of a fine-tune's split (near-duplicate groups, stratified, seeded)."""
        from .data import split_images

        self.hashed = self.run(hash_images, examples, models.input_size)
        return split_images([e.label for e in self.hashed.examples], self.hashed.hashes, self.hashed.digests,
                            validation, seed, [e.group for e in self.hashed.examples])


def _fine_tune_branch(hashed, categories, models: ModelSet, output: Path, validation_digests: set[str],
                      fine_tune_from: int, fine_tune_epochs: int, seed: int, command: str, sources: list[str], log):
    """Fine-tune the branch and write it with its card; (branch, its file or None, the model set to train
    the heads on). A branch that never beat the frozen blocks is not written: the heads read the plain network."""
    import dataclasses

    from ..files import atomic_write
    from .finetune import fine_tune

    manifest = require_backbone_folder(output)
    branch = fine_tune(hashed.examples, hashed.hashes, hashed.digests, categories, models, validation_digests,
                       fine_tune_from, fine_tune_epochs, seed=seed, log=log)
    if branch.best_epoch == 0:  # a copy of the ImageNet blocks would cost time and change nothing
        log("fine-tuning never beat the frozen blocks on the inner hold-out: no branch; the heads read the "
            "plain network (validated on the same held-out images)")
        return branch, None, dataclasses.replace(models, branch_file=None, branch_from=None, litert_file=None)
    stem = Path(manifest["backbone"]["file"]).name.split(".weights")[0]
    branch_file = output / f"{stem}.branch{fine_tune_from}.npz"
    atomic_write(branch_file, npz_bytes(**branch.weights))
    models = dataclasses.replace(models, branch_file=branch_file, branch_from=fine_tune_from, litert_file=None)
    atomic_write(branch_file.with_suffix(".md"),
                 branch_card(branch, models, command, sources, len(validation_digests)).encode("utf-8"))
    return branch, branch_file, models


def _register_fine_tune(output: Path, branch_file: Path | None, fine_tune_from: int, specs: list[dict]) -> None:
    """The manifest changed once, at the end of a fine-tune: the branch (or none) and every new head."""
    from ..models import load_manifest, sha256, write_manifest

    manifest = load_manifest(output)
    stale = manifest["backbone"].get("branch") if branch_file is None else None
    if branch_file is None:
        manifest["backbone"].pop("branch", None)
    else:
        manifest["backbone"]["branch"] = {"file": branch_file.name, "sha256": sha256(branch_file),
                                          "from_block": fine_tune_from, "card": branch_file.with_suffix(".md").name}
    manifest["backbone"].pop("litert", None)  # a derived file, exported into the cache when first needed
    new = {spec["category"]: spec for spec in specs}  # replaced in place: the order names the model version
    manifest["heads"] = [new.pop(h["category"], h) for h in manifest["heads"]] + list(new.values())
    write_manifest(output, manifest)
    for name in (stale["file"], stale.get("card")) if stale else ():  # the old branch, now unreferenced
        if name:
            (output / name).unlink(missing_ok=True)


def require_backbone_folder(folder: Path) -> dict:
    """The manifest of a model folder that holds a backbone (where a fine-tuned branch can go)."""
    from ..models import load_manifest

    manifest = load_manifest(folder) if (Path(folder) / "manifest.json").exists() else {}
    if "backbone" not in manifest:
        raise CinemanetError(f"{folder}: fine-tuning writes a backbone branch; give -o a model folder that "
                             "holds a backbone (a copy of the shipped models/ folder)")
    return manifest


def branch_card(branch, models: ModelSet, command: str, sources: list[str], held_out: int) -> str:
    import datetime

    rows = "\n".join(f"| {h['epoch']} | {h['loss'] if h['loss'] is not None else '-'} | "
                     f"{h['stop_balanced_accuracy']:.3f} |" for h in branch.history)
    return f"""# Backbone branch: blocks {branch.branch_from}-13 fine-tuned for cinematography

Trained {datetime.date.today().isoformat()} by `cinemanet-edit train` in {branch.seconds:.0f} s.

- **Command:** `{command}`
- **Data:** {', '.join(sources)}. Every category trains at once: one shared copy of the blocks, one auxiliary
  linear layer per category (class-balanced cross-entropy, masked where an image has no label).
- **Start:** a copy of `{models.backbone_name}` blocks {branch.branch_from}-13 (ImageNet weights); the original
  blocks stay in the network for the ImageNet and legacy heads, and blocks 0-{branch.branch_from - 1} are shared.
- **Training:** Adam, one epoch of learning-rate warm-up then cosine decay, batch 32, BatchNorm frozen,
  dropout 0.2 before the auxiliary layers, framing-safe augmentation (crops keeping 85-100% of the side,
  aspect within 10%, mirror, brightness, contrast, saturation; no rotation). After each epoch, linear layers
  refitted on the new features are scored on an inner hold-out of 10% of the training groups
  ({branch.stop_images} images); the best epoch is kept, and training stops once that has not improved for 3
  epochs in the second half. {branch.train_images} images trained. Best epoch: {branch.best_epoch}.
- **Held out:** {held_out} images (whole near-duplicate groups) never trained on; every head's model card
  reports its balanced accuracy on them.

| epoch | loss | inner hold-out balanced accuracy of refitted linear layers (mean over categories) |
|---|---|---|
{rows}
"""
