"""People counted, not guessed (issue #23 item 5): a face detector's count against the subject heads, on film.

    python benchmarks/measure_people.py --detector PATH/face_detection_full_range_sparse.tflite [--film DIR]

Truth: the HOHA frames of ../shared/data/film (330 frames with face, small-face and person boxes). A frame's
people count is the larger of its person boxes and its face boxes (a person may be boxed by face, body or both).
Three answers to "one person or several?", each scored where it answers:
- the heads: Faces, People or Two Up written -> several; Face or Person written -> one; else no answer;
- the detector: MediaPipe's full-range BlazeFace (Apache-2.0, from the mediapipe 0.10.14 wheel; run in LiteRT,
  decoded here): faces at score >= 0.5 after non-maximum suppression; no face -> no answer;
- the detector deciding, the heads where it has no answer.
Prints coverage and accuracy with 95 % bootstrap intervals (1,000 resamples of frames), and the face count's
exact agreement with the face boxes; Over the Shoulder's precision at each threshold; and framing from the
largest face's size (three edges fitted on one half of the 452 film frames with a framing label, scored on the
other, both ways). Nothing from ../shared is written anywhere.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FILM = ROOT.parent / "shared" / "data" / "film"


def truth(film: Path) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """image -> people count, image -> face count, the frames with an over-the-shoulder box (HOHA only)."""
    faces, persons, ots = defaultdict(int), defaultdict(int), set()
    with open(film / "boxes.csv") as f:
        for row in csv.DictReader(f):
            if row["kind"] in ("face", "face_es"):
                faces[row["image"]] += 1
            elif row["kind"] == "person":
                persons[row["image"]] += 1
            elif row["kind"] == "ots":
                ots.add(row["image"])
    images = set(faces) | set(persons) | ots
    return {i: max(faces[i], persons[i]) for i in images}, {i: faces[i] for i in images}, ots


class BlazeFace:
    """Full-range BlazeFace: 192x192 input in [-1, 1], 2304 anchors on a 48x48 grid (stride 4), box = centre
    offset and size in input pixels; sigmoid scores; weighted non-maximum suppression at IoU 0.3."""

    def __init__(self, path: Path, threshold: float = 0.5):
        from ai_edge_litert.interpreter import Interpreter

        self.net = Interpreter(model_path=str(path), num_threads=2)
        self.net.allocate_tensors()
        self.input = self.net.get_input_details()[0]["index"]
        outputs = sorted(self.net.get_output_details(), key=lambda d: d["shape"][-1])
        self.scores_out, self.boxes_out = outputs[0]["index"], outputs[1]["index"]
        grid = (np.arange(48) + 0.5) / 48
        self.anchors = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)  # (x, y), row-major
        self.threshold = threshold

    def faces(self, image: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """(score, x1, y1, x2, y2) in fractions of the square the image was padded to."""
        h, w = image.shape[:2]
        side = max(h, w)
        square = np.zeros((side, side, 3), np.uint8)
        square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = image
        import av

        small = av.VideoFrame.from_ndarray(square, format="rgb24").reformat(192, 192, "rgb24")
        small = small.to_ndarray().astype(np.float32)
        self.net.set_tensor(self.input, (small / 127.5 - 1)[None])
        self.net.invoke()
        raw = self.net.get_tensor(self.boxes_out)[0]
        scores = 1 / (1 + np.exp(-np.clip(self.net.get_tensor(self.scores_out)[0, :, 0], -50, 50)))
        keep = scores >= self.threshold
        cx = raw[keep, 0] / 192 + self.anchors[keep, 0]
        cy = raw[keep, 1] / 192 + self.anchors[keep, 1]
        bw, bh = raw[keep, 2] / 192, raw[keep, 3] / 192
        boxes = np.stack([scores[keep], cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        return _nms(boxes)


def _nms(boxes: np.ndarray, iou_limit: float = 0.3) -> list:
    out, rest = [], boxes[np.argsort(-boxes[:, 0])]
    while len(rest):
        best = rest[0]
        x1, y1 = np.maximum(best[1], rest[:, 1]), np.maximum(best[2], rest[:, 2])
        x2, y2 = np.minimum(best[3], rest[:, 3]), np.minimum(best[4], rest[:, 4])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = (rest[:, 3] - rest[:, 1]) * (rest[:, 4] - rest[:, 2])
        iou = inter / (area[0] + area - inter + 1e-9)
        out.append(tuple(best))
        rest = rest[iou < iou_limit]
    return out


def _rgb(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


OTS_SCORES: dict[str, float] = {}  # image -> Over the Shoulder score, where Shot Type applies


def ots_sweep(ots: set[str], people: dict[str, int]) -> None:
    """Precision of Over the Shoulder if it were written at each threshold (as the top label or not): against
    the ots boxes (a floor: HOHA labels positives only) and counting any frame with several people as right
    (a ceiling: an over-the-shoulder shot needs two people in it)."""
    for limit in (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99):
        said = [i for i, score in OTS_SCORES.items() if score >= limit]
        floor = sum(i in ots for i in said)
        ceiling = sum(i in ots or people[i] >= 2 for i in said)
        n = max(1, len(said))
        print(f"  Over the Shoulder at {limit:.2f}: {len(said)} frames, precision between {floor / n:.2f} and "
              f"{ceiling / n:.2f}, ots frames found {floor}/{len(ots)}")


WRITTEN: dict[str, set[str]] = {}  # image -> every label the heads write for it (top labels and holds)

# what each people label needs to be right, from the frame's (face boxes, people count)
NEEDS = {"shot.subject.face": lambda faces, people: faces >= 1 and people == 1,
         "shot.subject.faces": lambda faces, people: faces >= 2,
         "shot.subject.person": lambda faces, people: people == 1,
         "shot.subject.people": lambda faces, people: people >= 2,
         "shot.type.portrait": lambda faces, people: people == 1,
         "shot.type.two-up": lambda faces, people: people == 2}


def people_label_precision(people: dict[str, int], faces: dict[str, int], rng: random.Random) -> None:
    """Precision of each written people label against the boxes (95 % bootstrap interval), and the share of
    frames it is written on. For Portrait and Two Up the boxes say only whether the count fits (a ceiling)."""
    for label, needs in NEEDS.items():
        said = [i for i in people if label in WRITTEN.get(i, set())]
        if not said:
            print(f"  {label}: never written on these frames")
            continue
        hits = np.array([needs(faces[i], people[i]) for i in said], float)
        boots = [np.mean(rng.choices(hits, k=len(hits))) for _ in range(1000)]
        low, high = np.percentile(boots, [2.5, 97.5])
        kind = "at most" if label.startswith("shot.type") else "precision"
        print(f"  {label}: written on {len(said)} of {len(people)} frames, {kind} {hits.mean():.3f} "
              f"[{low:.3f}, {high:.3f}]")


def head_answers(paths: list[Path]) -> tuple[dict[str, int | None], set[str]]:
    """image -> 1, 2 (several) or None, from the written subject and type labels; the frames called Over the
    Shoulder."""
    from cinemanet_edit.pipeline import classify_paths

    out, over = {}, set()
    OTS_SCORES.clear()
    for result in classify_paths(paths):
        written = set()
        for label in result.labels.values():
            if not label.uncertain and not label.not_applicable:
                written.update((label.label, *label.holds))
        WRITTEN[f"images/{Path(result.path).name}"] = written
        several = written & {"shot.subject.faces", "shot.subject.people", "shot.type.two-up"}
        one = written & {"shot.subject.face", "shot.subject.person"}
        out[f"images/{Path(result.path).name}"] = 2 if several else 1 if one else None
        if "shot.type.over-the-shoulder" in written:
            over.add(f"images/{Path(result.path).name}")
        kind = result.labels.get("shot.type")
        if kind is not None and not kind.not_applicable:
            OTS_SCORES[f"images/{Path(result.path).name}"] = kind.scores.get("shot.type.over-the-shoulder", 0.0) \
                if kind.label != "shot.type.over-the-shoulder" else kind.confidence
    return out, over


def scored(answers: dict[str, int | None], people: dict[str, int], rng: random.Random) -> str:
    answered = [i for i, a in answers.items() if a is not None]
    hits = np.array([min(answers[i], 2) == min(people[i], 2) for i in answered], float)
    if not len(hits):
        return "no answers"
    boots = [rng.choices(hits, k=len(hits)) for _ in range(1000)]
    low, high = np.percentile([np.mean(b) for b in boots], [2.5, 97.5])
    said_several = [i for i in answered if answers[i] >= 2]
    right_several = sum(people[i] >= 2 for i in said_several)
    several = [i for i in answered if people[i] >= 2]
    return (f"answers {len(answered)}/{len(answers)} ({len(answered) / len(answers):.0%}), "
            f"accuracy {hits.mean():.3f} [{low:.3f}, {high:.3f}]; 'several' said {len(said_several)} times, "
            f"right {right_several}; of {len(several)} answered frames with several people, "
            f"{sum(answers[i] >= 2 for i in several)} called several")


FRAMING = ["shot.framing.extreme-close-up", "shot.framing.close-up", "shot.framing.medium", "shot.framing.long",
           "shot.framing.extreme-long"]


def framing_truth(film: Path) -> dict[str, str]:
    with open(film / "labels.csv") as f:
        return {r["image"]: r["label"] for r in csv.DictReader(f) if r["category"] == "shot.framing"}


def largest_face(detector: BlazeFace, image: np.ndarray) -> float:
    """The largest face's share of the picture's area (0 without a face)."""
    h, w = image.shape[:2]
    side = max(h, w)
    areas = [(x2 - x1) * (y2 - y1) * side * side / (h * w) for _, x1, y1, x2, y2 in detector.faces(image)]
    return max(areas, default=0.0)


def _by_edges(area: float, edges: list[float]) -> str:
    """Framing from face size: above edges[0] ECU, above edges[1] CU, above edges[2] Medium, a face -> Long,
    none -> Extreme Long is never said (no face: no answer)."""
    for label, edge in zip(FRAMING[:3], edges, strict=True):
        if area >= edge:
            return label
    return FRAMING[3]


def framing_from_faces(detector: BlazeFace, film: Path, rng: random.Random) -> None:
    """Face size as framing, edges fitted on one half of the film frames and scored on the other (both ways),
    against the framing head's top label on the same frames."""
    from cinemanet_edit.pipeline import classify_paths

    truth_ = framing_truth(film)
    images = sorted(truth_)
    areas = {i: largest_face(detector, _rgb(film / i)) for i in images}
    results = classify_paths([film / i for i in images])
    heads = {f"images/{Path(r.path).name}": r.labels["shot.framing"] for r in results}
    grid = [0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.035, 0.025, 0.015, 0.01, 0.006, 0.003, 0.001]
    candidates = [(a, b, c) for a in grid for b in grid for c in grid if a > b > c]
    order = images[:]
    rng.shuffle(order)
    halves = [order[::2], order[1::2]]
    right = answered = 0
    for fit, score in ((halves[0], halves[1]), (halves[1], halves[0])):
        with_face = [i for i in fit if areas[i] > 0]
        best = max(candidates, key=lambda e: sum(_by_edges(areas[i], list(e)) == truth_[i] for i in with_face))
        scored = [i for i in score if areas[i] > 0]
        answered += len(scored)
        right += sum(_by_edges(areas[i], list(best)) == truth_[i] for i in scored)
    top = np.mean([heads[i].label == truth_[i] for i in images])
    written = [i for i in images if not heads[i].uncertain]
    precision = np.mean([heads[i].label == truth_[i] for i in written]) if written else float("nan")
    same = [i for i in images if areas[i] > 0]
    print(f"framing on {len(images)} film frames: face size (edges fitted on the other half) answers "
          f"{answered} at accuracy {right / max(1, answered):.3f}; the framing head's top label on those "
          f"{len(same)} frames {np.mean([heads[i].label == truth_[i] for i in same]):.3f}, on all {top:.3f}; "
          f"its written labels {len(written)} at precision {precision:.3f} (the shipped framing head was refitted on "
          "these very frames, models/data/film.csv: its figures here are not held out; the card's are)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detector", type=Path, required=True)
    parser.add_argument("--film", type=Path, default=FILM)
    args = parser.parse_args()
    if not (args.film / "boxes.csv").exists():
        raise SystemExit(f"{args.film}: no film frames here")
    people, faces, ots = truth(args.film)
    images = sorted(people)
    detector = BlazeFace(args.detector)
    found = {i: len(detector.faces(_rgb(args.film / i))) for i in images}
    detected = {i: (2 if n >= 2 else 1) if n else None for i, n in found.items()}
    heads, over = head_answers([args.film / i for i in images])
    both = {i: detected[i] if detected[i] is not None else heads[i] for i in images}
    rng = random.Random(0)
    print(f"{len(images)} HOHA frames; truth: {sum(p == 1 for p in people.values())} with one person, "
          f"{sum(p >= 2 for p in people.values())} with several")
    for name, answers in (("heads", heads), ("face detector", detected), ("detector, else heads", both)):
        print(f"{name}: {scored(answers, people, rng)}")
    same = [i for i in images if heads[i] is not None and detected[i] is not None]
    print(f"where both answer ({len(same)} frames): heads {scored({i: heads[i] for i in same}, people, rng)}; "
          f"detector {scored({i: detected[i] for i in same}, people, rng)}")
    right = len(over & ots)
    print(f"Over the Shoulder written on {len(over)} frames, {right} of them with an ots box "
          f"(precision {right / max(1, len(over)):.2f}); {len(ots)} frames have one, {right} of them called so")
    ots_sweep(ots, people)
    print("people labels as written, against the boxes (Face: one person, a face box; Faces: two face boxes or "
          "more; Person: one person; People: two or more; Portrait: one person; Two Up: two):")
    people_label_precision(people, faces, rng)
    framing_from_faces(detector, args.film, rng)
    exact = np.mean([found[i] == faces[i] for i in images])
    print(f"face count equal to the face boxes: {exact:.3f} of frames (boxes include small distant faces)")


if __name__ == "__main__":
    main()
