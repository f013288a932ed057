"""Framing from the body (issue #23 item 7): do pose landmarks tell shot scale better than the network does?

    python benchmarks/measure_pose.py --mediapipe DIR [--base git:2f5623a] [--repeats 3] [--web 1582]

DIR holds ``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite`` (unzipped from the ``mediapipe==0.10.14`` wheel,
Apache-2.0); both run in LiteRT here, no mediapipe runtime. The pipeline is BlazePose's own: the detector
(224x224, SSD anchors) finds people and their hip centre and body-scale keypoints, a rotated square around
them (1.25x the body circle) goes to the landmark model (256x256, 33 landmarks with visibility).

Per frame, for the most confident person: which of eyes, shoulders, elbows, hips, knees and ankles are seen
inside the picture (visibility x inside, the better side), the landmarks' height share of the picture, and the
people count (detections at 0.5 after suppression). Three ways to frame, scored out of fold (group folds of
the film frames, folds of the web stills, the same folds for every way; training on web + film):
  - the network: a linear head on the base model's features (``--base``: by default the last web-only model,
    commit 2f5623a, whose branch never saw a film frame, so film folds are held out for its features too);
  - the network and the body: the same head with the pose features appended;
  - the body alone: a linear head on the pose features, on the frames where a pose was found.
Spreads: mean and range over --repeats repeats of 5 folds. Costs: ms per frame of the pose pair against the
backbone (LiteRT, batch 32), measured in the same run. People: the detector's count against HOHA's face and
person boxes, as measure_people.py scores the heads and the face detector. Nothing from ../shared is written.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from measure_people import _nms  # noqa: E402 - the same suppression as the face detector's

FILM_CSV = ROOT / "models" / "data" / "film.csv"
WEB_CSV = ROOT.parent / "shared" / "data" / "cinemanet" / "labels.csv"
FILM = ROOT.parent / "shared" / "data" / "film"
PARTS = {"eyes": (2, 5), "shoulders": (11, 12), "elbows": (13, 14), "hips": (23, 24), "knees": (25, 26),
         "ankles": (27, 28)}


def _sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(x, -50, 50)))


def _anchors() -> np.ndarray:
    """BlazePose detector's SSD anchor centres (strides 8, 16, 32, 32, 32 at 224; two anchors per layer and
    cell; fixed size), in the order of its 2254 outputs."""
    strides, out, layer = [8, 16, 32, 32, 32], [], 0
    while layer < len(strides):
        same = [i for i in range(layer, len(strides)) if strides[i] == strides[layer]]
        cells = math.ceil(224 / strides[layer])
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * (2 * len(same))
        layer = same[-1] + 1
    return np.array(out)


class BlazePose:
    """Detector + full landmark model in LiteRT; ``people(image)`` and ``landmarks(image)``."""

    def __init__(self, folder: Path, threshold: float = 0.5):
        from ai_edge_litert.interpreter import Interpreter

        modules = folder / "mediapipe" / "modules"
        self.detector = Interpreter(model_path=str(modules / "pose_detection/pose_detection.tflite"), num_threads=2)
        self.landmarker = Interpreter(model_path=str(modules / "pose_landmark/pose_landmark_full.tflite"),
                                      num_threads=2)
        for net in (self.detector, self.landmarker):
            net.allocate_tensors()
        self.anchors = _anchors()
        self.threshold = threshold

    def detect(self, square: np.ndarray) -> np.ndarray:
        """(score, x1, y1, x2, y2, hip x, hip y, scale x, scale y) per person, in fractions of ``square``."""
        import av

        small = av.VideoFrame.from_ndarray(square, format="rgb24").reformat(224, 224, "rgb24").to_ndarray()
        net = self.detector
        net.set_tensor(net.get_input_details()[0]["index"], (small.astype(np.float32) / 127.5 - 1)[None])
        net.invoke()
        outs = {d["name"]: net.get_tensor(d["index"])[0] for d in net.get_output_details()}
        raw, scores = outs["Identity"], _sigmoid(outs["Identity_1"][:, 0])
        keep = scores >= self.threshold
        raw, a = raw[keep] / 224, self.anchors[keep]
        cx, cy, w, h = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1], raw[:, 2], raw[:, 3]
        found = np.stack([scores[keep], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2,
                          raw[:, 4] + a[:, 0], raw[:, 5] + a[:, 1], raw[:, 6] + a[:, 0], raw[:, 7] + a[:, 1]], 1)
        return _nms(found)

    def landmarks(self, square: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, float]:
        """33 landmarks (x, y in fractions of ``square``, visibility) of ``person``, and the pose flag."""
        side = square.shape[0]
        hip = person[5:7] * side
        scale = person[7:9] * side
        radius = float(np.hypot(*(scale - hip)))
        angle = math.pi / 2 - math.atan2(-(scale[1] - hip[1]), scale[0] - hip[0])
        crop_side = 2 * radius * 1.25
        crop = _rotated_crop(square, hip, crop_side, angle, 256)
        net = self.landmarker
        net.set_tensor(net.get_input_details()[0]["index"], (crop.astype(np.float32) / 255)[None])
        net.invoke()
        outs = {d["name"]: net.get_tensor(d["index"])[0] for d in net.get_output_details()}
        points = outs["Identity"].reshape(39, 5)[:33]
        u, v = points[:, 0] / 256 - 0.5, points[:, 1] / 256 - 0.5  # crop fractions about its centre
        cos, sin = math.cos(angle), math.sin(angle)
        x = hip[0] + crop_side * (u * cos - v * sin)
        y = hip[1] + crop_side * (u * sin + v * cos)
        flag = float(outs["Identity_1"][0])  # the pose flag is already a probability; visibility is a logit
        return np.stack([x / side, y / side, _sigmoid(points[:, 3])], 1), flag


def _rotated_crop(image: np.ndarray, centre: np.ndarray, side: float, angle: float, size: int) -> np.ndarray:
    """The square of ``side`` pixels about ``centre`` turned by ``angle``, resampled to size x size (bilinear;
    outside the image: black, as MediaPipe pads)."""
    grid = (np.arange(size) + 0.5) / size - 0.5
    u, v = np.meshgrid(grid * side, grid * side)
    cos, sin = math.cos(angle), math.sin(angle)
    x = centre[0] + u * cos - v * sin - 0.5
    y = centre[1] + u * sin + v * cos - 0.5
    h, w = image.shape[:2]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    padded = np.zeros((h + 2, w + 2, 3), np.float32)
    padded[1:-1, 1:-1] = image
    xi, yi = np.clip(x0 + 1, 0, w + 1), np.clip(y0 + 1, 0, h + 1)
    xj, yj = np.clip(x0 + 2, 0, w + 1), np.clip(y0 + 2, 0, h + 1)
    top = padded[yi, xi] * (1 - fx) + padded[yi, xj] * fx
    bottom = padded[yj, xi] * (1 - fx) + padded[yj, xj] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.uint8)


def _square(image: np.ndarray) -> tuple[np.ndarray, int, int]:
    h, w = image.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top:top + h, left:left + w] = image
    return square, top, left


FEATURES = ["pose found", *(f"{p} seen" for p in PARTS), "body height", "people 1", "people 2+"]


def pose_features(model: BlazePose, image: np.ndarray) -> tuple[np.ndarray, int, dict[str, float]]:
    """The frame's pose features (``FEATURES``), its people count, and the per-stage milliseconds."""
    h, w = image.shape[:2]
    square, top, left = _square(image)
    side = square.shape[0]
    started = time.perf_counter()
    people = model.detect(square)
    detected = time.perf_counter()
    out = np.zeros(len(FEATURES), np.float32)
    out[-2], out[-1] = len(people) == 1, len(people) >= 2
    cost = {"detector": 1000 * (detected - started), "landmarks": 0.0}
    if not len(people):
        return out, 0, cost
    points, flag = model.landmarks(square, people[0])
    cost["landmarks"] = 1000 * (time.perf_counter() - detected)
    x, y = points[:, 0] * side - left, points[:, 1] * side - top
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    seen = points[:, 2] * inside
    out[0] = flag
    for n, (a, b) in enumerate(PARTS.values()):
        out[1 + n] = max(seen[a], seen[b])
    visible = seen > 0.5
    out[7] = (y[visible].max() - y[visible].min()) / h if visible.sum() >= 2 else 0.0
    return out, len(people), cost


def _rgb(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def _examples(csv_path: Path, limit: int | None = None):
    from cinemanet_edit.training.data import load_examples

    examples = load_examples(csv_path, "shot.framing")
    if limit is not None and limit < len(examples):
        examples = [examples[i] for i in sorted(np.random.default_rng(0).permutation(len(examples))[:limit])]
    return examples


def network_features(models, examples):
    from cinemanet_edit.training.features import extract_features

    fs = extract_features(examples, models)
    return fs.features[:, 0], fs.examples  # the image itself (not its mirror), as tag sees it


def _folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number per item, whole groups to a fold."""
    names = np.unique(groups)
    fold_of = dict(zip(np.random.default_rng(seed).permutation(names), np.arange(len(names)) % k, strict=True))
    return np.array([fold_of[g] for g in groups])


def _scores(y: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[float, float]:
    recalls = [float((predicted[y == c] == c).mean()) for c in range(classes) if (y == c).any()]
    return float((predicted == y).mean()), float(np.mean(recalls))


def cross_fit(x: np.ndarray, y: np.ndarray, fold: np.ndarray, rows: np.ndarray, classes: int,
              l2: float) -> np.ndarray:
    """Out-of-fold class probabilities of a class-balanced linear head for ``rows`` (the rest: zeros)."""
    from cinemanet_edit.training.linear import fit_linear, predict_linear

    out = np.zeros((len(y), classes))
    for k in range(5):
        train, test = rows & (fold != k), rows & (fold == k)
        kernel, bias = fit_linear(x[train], y[train], classes, False, l2)
        out[test] = predict_linear(x[test], kernel, bias, False)
    return out


def ways_of_framing(net: np.ndarray, pose: np.ndarray, y: np.ndarray, fold: np.ndarray,
                    classes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """way -> (out-of-fold probabilities, rows it answers), every way on the same folds. "stacked": a linear
    head on the network's out-of-fold probabilities and the body features (the network's features outnumber
    the body's 100 to 1, and fit the training folds without them, so appended they go unused)."""
    every, found = np.ones(len(y), bool), pose[:, 0] > 0.5
    network = cross_fit(net, y, fold, every, classes, 0.03)
    return {"network": (network, every),
            "network + body": (cross_fit(np.hstack([net, pose]), y, fold, every, classes, 0.03), every),
            "body alone": (cross_fit(pose, y, fold, found, classes, 0.001), found),
            "stacked": (cross_fit(np.hstack([np.log(network + 1e-6), pose]), y, fold, every, classes, 0.001),
                        every)}


def compare(net: np.ndarray, pose: np.ndarray, y: np.ndarray, groups: np.ndarray, film: np.ndarray,
            classes: int, repeats: int) -> tuple[dict, dict]:
    """(accuracy, balanced accuracy) per repeat, per way and domain; and the network's written labels with and
    without the body's veto (precision, share labelled) per repeat and domain."""
    found = pose[:, 0] > 0.5
    out: dict[str, dict[str, list]] = {}
    veto: dict[str, dict[str, list]] = {}
    for repeat in range(repeats):
        fold = _folds(groups, 5, repeat)
        ways = ways_of_framing(net, pose, y, fold, classes)
        for way, (probabilities, rows) in ways.items():
            predicted = probabilities.argmax(1)
            for domain, mask in (("film", film & rows), ("film, pose found", film & found), ("web", ~film & rows)):
                if way == "body alone" and domain == "film":
                    continue
                out.setdefault(way, {}).setdefault(domain, []).append(_scores(y[mask], predicted[mask], classes))
        _vetoes(veto, ways, y, film)
    return out, veto


def _vetoes(veto: dict, ways: dict, y: np.ndarray, film: np.ndarray) -> None:
    """The network's top label written at confidence >= t, alone or only where the body (where it answers)
    names the same label: precision and share labelled."""
    network, _ = ways["network"]
    body, body_rows = ways["body alone"]
    agrees = ~body_rows | (body.argmax(1) == network.argmax(1))
    for t in (0.5, 0.7, 0.9):
        sure = network.max(1) >= t
        for name, written in ((f"network >= {t}", sure), (f"network >= {t}, body agrees", sure & agrees)):
            for domain, mask in (("film", film), ("web", ~film)):
                w = written & mask
                right = float((network.argmax(1)[w] == y[w]).mean()) if w.any() else float("nan")
                veto.setdefault(name, {}).setdefault(domain, []).append((right, float(w.sum() / mask.sum())))


def _spread(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def backbone_ms(models, images: list[np.ndarray]) -> float:
    """The network's milliseconds per frame at batch 32 (what tag runs), median of 5 batches."""
    import av

    from cinemanet_edit.classify import Classifier

    size = models.input_size
    batch = np.stack([av.VideoFrame.from_ndarray(im, format="rgb24").reformat(size, size, "rgb24").to_ndarray()
                      for im in images[:32]])
    classifier = Classifier(models)
    classifier.backbone_outputs(batch)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        classifier.backbone_outputs(batch)
        times.append(1000 * (time.perf_counter() - started) / len(batch))
    return statistics.median(times)


def people_counts(counts: dict[str, int]) -> None:
    """The pose detector's people count against HOHA's boxes, scored as measure_people.py scores the heads."""
    from measure_people import scored, truth

    people, _, _ = truth(FILM)
    answers = {i: (2 if counts[i] >= 2 else 1) if counts.get(i) else None for i in people if i in counts}
    print(f"people on {len(answers)} HOHA frames (pose detector, 0.5): "
          f"{scored(answers, people, random.Random(0))}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mediapipe", type=Path, required=True)
    parser.add_argument("--base", default="git:2f5623a")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--web", type=int, default=None, help="web stills to use (default: all with a framing)")
    parser.add_argument("--pose-cache", type=Path, help="an .npz to keep the pose features in between runs")
    args = parser.parse_args()
    import tempfile

    from measure_corrections import base_models

    from cinemanet_edit.models import load_model_set
    from cinemanet_edit.taxonomy import known_category

    models = load_model_set(base_models(args.base), user_folder=Path(tempfile.mkdtemp()))
    labels = [label.id for label in known_category("shot.framing").labels]
    film_x, film_ex = network_features(models, _examples(FILM_CSV))
    web_x, web_ex = network_features(models, _examples(WEB_CSV, args.web))
    examples = film_ex + web_ex
    net = np.vstack([film_x, web_x])
    film = np.arange(len(examples)) < len(film_ex)
    y = np.array([labels.index(e.label) for e in examples])
    groups = np.array([f"film:{e.group or e.path.name}" if f else f"web:{e.group or e.path.name}"
                       for e, f in zip(examples, film, strict=True)])
    pose, counts, (detector_ms, landmark_ms, network_ms) = _pose_of(args, examples, film)
    print(f"{film.sum()} film frames, {(~film).sum()} web stills; base {models.version}")
    print(f"cost per frame (medians): pose detector {detector_ms:.1f} ms, landmarks {landmark_ms:.1f} ms "
          f"(with a person); the shipped network {network_ms:.1f} ms at batch 32: the pair costs "
          f"{(detector_ms + landmark_ms) / network_ms:.2f}x the network "
          f"({detector_ms / network_ms:.2f}x the detector alone)")
    for domain, mask in (("film", film), ("web", ~film)):
        print(f"pose found on {domain}: " + ", ".join(
            f"{label.rsplit('.', 1)[-1]} {np.mean(pose[mask & (y == c), 0] > 0.5):.0%}"
            for c, label in enumerate(labels) if (mask & (y == c)).any()))
    results, veto = compare(net, pose, y, groups, film, len(labels), args.repeats)
    print(f"framing out of fold (5 folds x {args.repeats} repeats; mean [range] of the repeats): "
          "accuracy / balanced accuracy")
    print("| way | film | film, pose found | web |")
    print("|---|---|---|---|")
    for way, domains in results.items():
        cells = [" / ".join(_spread([r[i] for r in domains[d]]) for i in (0, 1)) if domains.get(d) else "-"
                 for d in ("film", "film, pose found", "web")]
        print(f"| {way} | {' | '.join(cells)} |")
    print("the network's top label written at a confidence, alone or where the body agrees (or has no answer): "
          "precision / share labelled")
    print("| written | film | web |")
    print("|---|---|---|")
    for name, domains in veto.items():
        cells = [" / ".join(_spread([r[i] for r in domains[d]]) for i in (0, 1)) for d in ("film", "web")]
        print(f"| {name} | {' | '.join(cells)} |")
    people_counts(counts)


def _pose_of(args, examples, film) -> tuple[np.ndarray, dict[str, int], tuple[float, float, float]]:
    """Pose features and people counts of every example, and the costs (detector, landmarks, network ms)."""
    from cinemanet_edit.models import load_model_set

    if args.pose_cache and args.pose_cache.exists():
        kept = np.load(args.pose_cache, allow_pickle=False)
        counts = dict(zip(kept["names"].tolist(), kept["counts"].tolist(), strict=True))
        return kept["pose"], counts, tuple(kept["costs"].tolist())
    model = BlazePose(args.mediapipe)
    pose, costs, counts, images = [], [], {}, []
    for e, is_film in zip(examples, film, strict=True):
        image = _rgb(e.path)
        features, count, cost = pose_features(model, image)
        pose.append(features)
        costs.append(cost)
        if is_film:
            counts[f"images/{e.path.name}"] = count
        if len(images) < 32:
            images.append(image)
    detector_ms = statistics.median(c["detector"] for c in costs)
    landmark_ms = statistics.median(c["landmarks"] for c in costs if c["landmarks"])
    measured = (detector_ms, landmark_ms, backbone_ms(load_model_set(), images))
    if args.pose_cache:
        np.savez(args.pose_cache, pose=np.array(pose), names=np.array(list(counts)),
                 counts=np.array(list(counts.values())), costs=np.array(measured))
    return np.array(pose), counts, measured


if __name__ == "__main__":
    main()
