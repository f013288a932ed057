"""The correction loop's learning curve on film frames: how much a head learns from k editors' corrections.

    python benchmarks/measure_corrections.py [--base git:2f5623a] [--splits 5] [--counts 0,10,25,50,100,200,all]

The base model must never have seen the film frames, as the shipped heads have not seen an editor's footage:
by default the last web-only model (commit 2f5623a, 2026-12-01: branch and heads trained on web stills only;
the shipped ones since were trained with models/data/film.csv). Its files are taken from git into a
temporary folder (or give a model folder).

The film frames with a framing label (models/data/film.csv, HOHA and MovieShotClassification stills in
../shared/data/film) are split by group (a HOHA viewing session, or one still) into a pool (60%) and a test
set (40%). From the pool, k frames are drawn as "corrections" in two ways:
  - reviewed: k frames at random, each with its true label (an editor who checked k shots);
  - wrong only: k of the frames the base head gets wrong, with their true label (an editor who only fixes
    mistakes, which is all ``learn`` sees today).
Each set is given to ``training.adapt.adapt_head`` (what ``learn --retrain`` runs), and the adapted head is
scored on the test frames (accuracy and balanced accuracy) and on 400 web stills of the base's training set
(retention: the share it still gets right; not a held-out figure). Medians and ranges over --splits splits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FILM_CSV = ROOT / "models" / "data" / "film.csv"
WEB_CSV = ROOT.parent / "shared" / "data" / "cinemanet" / "labels.csv"
CATEGORY = "shot.framing"


def base_models(spec: str) -> Path:
    """A model folder: as given, or the files of ``git:COMMIT``'s models/ folder copied out of git."""
    if not spec.startswith("git:"):
        return Path(spec)
    commit = spec[4:]
    folder = Path(tempfile.mkdtemp(prefix="base-models-"))
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", commit, "models/"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{name}"], capture_output=True, check=True)
        (folder / Path(name).name).write_bytes(blob.stdout)
    return folder


def features(models, examples):
    from cinemanet_edit.training.features import extract_features

    fs = extract_features(examples, models)
    labels = [label.id for label in next(h for h in models.heads if h.category.id == CATEGORY).category.labels]
    y = np.array([labels.index(e.label) for e in fs.examples])
    return fs.features[:, 0], y, fs  # the image itself (not its mirror), as tag sees it


def balanced(y, predicted, classes):
    recalls = [float((predicted[y == c] == c).mean()) for c in range(classes) if (y == c).any()]
    return float(np.mean(recalls))


def one_split(x, y, groups, web, head, counts, seed):
    from cinemanet_edit.training.adapt import LabelledFrames, adapt_head

    rng = np.random.default_rng(seed)
    names = np.unique(groups)
    test_groups = set(rng.permutation(names)[: int(0.4 * len(names))])
    test = np.array([g in test_groups for g in groups])
    pool = np.flatnonzero(~test)
    wrong_pool = pool[np.argmax(x[pool] @ head.kernel + head.bias, axis=1) != y[pool]]
    classes = head.kernel.shape[1]
    out = {}
    for way, source in (("reviewed", pool), ("wrong only", wrong_pool)):
        for asked in counts:
            k = min(asked, len(source))
            picked = rng.permutation(source)[:k]
            kernel, bias, strength = head.kernel, head.bias, None
            if k >= 8:
                adapted = adapt_head(head, LabelledFrames(x[picked], y[picked], groups[picked].astype(str)), seed)
                kernel, bias, strength = adapted.kernel, adapted.bias, adapted.strength
            predicted = np.argmax(x[test] @ kernel + bias, axis=1)
            web_right = float((np.argmax(web[0] @ kernel + bias, axis=1) == web[1]).mean())
            out[(way, asked)] = {"k": k, "film_accuracy": float((predicted == y[test]).mean()),
                             "film_balanced": balanced(y[test], predicted, classes), "web_retention": web_right,
                             "strength": strength, "test_frames": int(test.sum())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="git:2f5623a")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--counts", default="0,10,25,50,100,200,all")
    args = parser.parse_args()
    from cinemanet_edit.models import load_model_set
    from cinemanet_edit.training.data import load_examples

    models = load_model_set(base_models(args.base), user_folder=Path(tempfile.mkdtemp()))
    head = next(h for h in models.heads if h.category.id == CATEGORY)
    film = load_examples(FILM_CSV, CATEGORY)
    x, y, fs = features(models, film)
    groups = np.array([e.group or e.path.name for e in fs.examples])
    web_examples = load_examples(WEB_CSV, CATEGORY)
    web_examples = [web_examples[i] for i in np.random.default_rng(0).permutation(len(web_examples))[:400]]
    wx, wy, _ = features(models, web_examples)
    counts = [10**6 if c == "all" else int(c) for c in args.counts.split(",")]
    runs = [one_split(x, y, groups, (wx, wy), head, counts, seed) for seed in range(args.splits)]
    print(f"base {models.version}; {len(y)} film frames in {len(np.unique(groups))} groups; "
          f"{args.splits} splits (pool 60% / test 40% of the groups)")
    print("| corrections | k (median) | film accuracy | film balanced | web retention | strength |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for key in runs[0]:
        rows = [r[key] for r in runs]

        def spread(name, rows=rows):
            values = [r[name] for r in rows]
            return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"

        strengths = sorted({r["strength"] for r in rows if r["strength"] is not None})
        way, k = key
        shown = "all" if k == 10**6 else k
        k_median = statistics.median(r["k"] for r in rows)
        print(f"| {way} {shown} | {k_median:.0f} | {spread('film_accuracy')} | {spread('film_balanced')} | "
              f"{spread('web_retention')} | {', '.join(map(str, strengths)) or '-'} |")
        summary[f"{way} {shown}"] = rows
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
