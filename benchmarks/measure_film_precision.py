"""Which framing labels can be right 9 times in 10 on film? Per label, precision of the top label at each
confidence, on film frames and web stills, out of fold (issue #23, "sure enough to be right" per domain).

    python benchmarks/measure_film_precision.py [--base git:2f5623a] [--repeats 2]

The shipped heads cannot be judged on the film frames (their branch and heads trained on 397 of the 452); the
recipe can: the base model's features (by default the last web-only model, commit 2f5623a, whose branch never
saw a film frame), a class-balanced linear head trained on web stills and four of five group folds of the film
frames, scored on the fifth (measure_pose.py's folds). Also: whether Shot Subject's people scores separate
the film frames wrongly called Extreme Long Shot (a veto by "somebody is in it"). Nothing from ../shared is
written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
THRESHOLDS = (0.5, 0.7, 0.9, 0.95, 0.98)
PEOPLE = ("shot.subject.face", "shot.subject.faces", "shot.subject.person", "shot.subject.people")


def _cell(y: np.ndarray, written: np.ndarray, label: int) -> str:
    return f"{(y[written] == label).mean():.2f} ({written.sum()})" if written.any() else "- (0)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="git:2f5623a")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import measure_pose as m
    from measure_corrections import base_models

    from cinemanet_edit.models import activate, load_model_set
    from cinemanet_edit.taxonomy import known_category

    models = load_model_set(base_models(args.base), user_folder=Path(tempfile.mkdtemp()))
    labels = [label.id for label in known_category("shot.framing").labels]
    film_x, film_ex = m.network_features(models, m._examples(m.FILM_CSV))
    web_x, web_ex = m.network_features(models, m._examples(m.WEB_CSV))
    examples, net = film_ex + web_ex, np.vstack([film_x, web_x])
    film = np.arange(len(examples)) < len(film_ex)
    y = np.array([labels.index(e.label) for e in examples])
    groups = np.array([("film:" if f else "web:") + (e.group or e.path.name)
                       for e, f in zip(examples, film, strict=True)])
    subject = next(h for h in models.heads if h.category.id == "shot.subject")
    names = [label.id for label in subject.category.labels]
    people = activate(net @ subject.kernel + subject.bias, subject.activation)[:, [names.index(i) for i in PEOPLE]]
    people = people.max(axis=1)
    extreme_long = labels.index("shot.framing.extreme-long")
    print(f"{film.sum()} film frames, {(~film).sum()} web stills; base {models.version}")
    for repeat in range(args.repeats):
        p = m.cross_fit(net, y, m._folds(groups, 5, repeat), np.ones(len(y), bool), len(labels), 0.03)
        top, confidence = p.argmax(1), p.max(1)
        print(f"repeat {repeat}: precision of the top label written at each confidence (labels written), "
              "film / web")
        print("| label | " + " | ".join(f">= {t}" for t in THRESHOLDS) + " |")
        print("|---|" + "---|" * len(THRESHOLDS))
        for k, label in enumerate(labels):
            cells = [f"{_cell(y, film & (top == k) & (confidence >= t), k)} / "
                     f"{_cell(y, ~film & (top == k) & (confidence >= t), k)}" for t in THRESHOLDS]
            print(f"| {label.rsplit('.', 1)[-1]} | " + " | ".join(cells) + " |")
        called = film & (top == extreme_long)
        print(f"  film frames called Extreme Long Shot: true labels {np.bincount(y[called], minlength=len(labels))} "
              f"(order {', '.join(lab.rsplit('.', 1)[-1] for lab in labels)}), Shot Subject's people score "
              f"median {np.median(people[called]):.2f}")
        for veto in (0.3, 0.5):
            kept = (top == extreme_long) & (confidence >= 0.75) & (people < veto)
            print(f"  Extreme Long at 0.75 unless a people score >= {veto}: "
                  f"film {_cell(y, film & kept, extreme_long)}, web {_cell(y, ~film & kept, extreme_long)}")


if __name__ == "__main__":
    main()
