"""What the fine-tuned branch costs: inference per frame with and without it, side by side, in one run.

    python benchmarks/bench_branch.py [--frames 256] [--runs 5]

The shipped models carry a branch (blocks N..13 duplicated and fine-tuned, see backbone.py). This script
exports the same backbone without the branch to a temporary LiteRT file, then times, alternating, RUNS
times each: LiteRT plain, LiteRT with branch, Keras plain, Keras with branch, at batch 32 on FRAMES random
frames. It prints the median ms/frame of each and the ratios branch / plain. It also prints the
multiply-accumulates of both networks, which do not depend on this machine's noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def macs(branch_from: int | None) -> int:
    """Multiply-accumulates of one frame through the network (convolutions and the logits layer)."""
    from cinemanet_edit.backbone import BLOCKS

    size, channels = 112, 32
    total = 112 * 112 * 3 * 3 * 3 * 32
    per_block = []
    for filters, stride in BLOCKS:
        size //= stride
        cost = size * size * channels * 9 + size * size * channels * filters
        per_block.append(cost)
        channels = filters
    total += sum(per_block) + 1024 * 1001
    if branch_from is not None:
        total += sum(per_block[branch_from - 1:])
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from cinemanet_edit.classify import Classifier, export_litert, litert_available
    from cinemanet_edit.models import load_model_set

    shipped = load_model_set()
    if shipped.branch_file is None:
        print("the shipped models have no branch: nothing to compare")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        plain = dataclasses.replace(shipped, branch_file=None, branch_from=None, litert_file=None)
        plain_litert = Path(tmp) / "plain.tflite"
        export_litert(plain, plain_litert)
        plain = dataclasses.replace(plain, litert_file=plain_litert)
        images = np.random.default_rng(0).integers(0, 256, (args.frames, 224, 224, 3), dtype=np.uint8)
        runtimes = ["litert", "keras"] if litert_available() else ["keras"]
        classifiers = {(rt, name): Classifier(ms, runtime=rt) for rt in runtimes
                       for name, ms in (("plain", plain), ("branch", shipped))}
        for c in classifiers.values():  # warm up: graphs built, tensors allocated
            c.predict(images[:32])
        times: dict[tuple[str, str], list[float]] = {k: [] for k in classifiers}
        for _ in range(args.runs):
            for key, c in classifiers.items():
                start = time.perf_counter()
                c.predict(images)
                times[key].append((time.perf_counter() - start) * 1000 / args.frames)
    print(f"frames {args.frames}, batch 32, runs {args.runs} (medians, ms/frame)")
    for rt in runtimes:
        p, b = statistics.median(times[(rt, "plain")]), statistics.median(times[(rt, "branch")])
        print(f"{rt:7s} plain {p:6.2f}  with branch from block {shipped.branch_from} {b:6.2f}  ratio {b / p:.2f}")
    m0, m1 = macs(None), macs(shipped.branch_from)
    print(f"MACs per frame: plain {m0 / 1e6:.0f} M, with branch {m1 / 1e6:.0f} M, ratio {m1 / m0:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
