"""What the shipped network costs against the plain MobileNet v1 1.0/224, side by side, in one run.

    python benchmarks/bench_branch.py [--frames 256] [--runs 5]

The shipped models carry a branch (blocks N..13 duplicated and fine-tuned, see backbone.py) and may run at a
larger input size than 224 (the manifest's ``input_size``). This script exports the plain network at 224 and
the branched one at 224 to temporary LiteRT files, then times, alternating, RUNS times each, every network in
every runtime: plain 224, branch 224, and the shipped one (branch at its input size) when that differs, at
batch 32 on FRAMES random frames. It prints the median ms/frame of each and its ratio to plain 224, and the
multiply-accumulates of each network, which do not depend on this machine's noise.
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


def macs(branch_from: int | None, input_size: int = 224) -> int:
    """Multiply-accumulates of one frame through the network (convolutions and the logits layer)."""
    from cinemanet_edit.backbone import BLOCKS

    size, channels = -(-input_size // 2), 32
    total = size * size * 3 * 3 * 3 * 32
    per_block = []
    for filters, stride in BLOCKS:
        size = -(-size // stride)  # "same" padding rounds up
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

    from cinemanet_edit.classify import Classifier
    from cinemanet_edit.models import load_model_set
    from cinemanet_edit.runtimes import export_litert, litert_available

    shipped = load_model_set()
    if shipped.branch_file is None:
        print("the shipped models have no branch: nothing to compare")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        nets = {}  # name -> (model set, input size, branch_from)
        for name, ms in (("plain 224", dataclasses.replace(shipped, branch_file=None, branch_from=None)),
                         ("branch 224", shipped)):
            ms = dataclasses.replace(ms, input_size=224, litert_file=Path(tmp) / f"{name.split()[0]}.tflite")
            export_litert(ms, ms.litert_file)
            nets[name] = ms
        if shipped.input_size != 224:
            nets[f"shipped {shipped.input_size}"] = shipped
        rng = np.random.default_rng(0)
        images = {n: rng.integers(0, 256, (args.frames, ms.input_size, ms.input_size, 3), dtype=np.uint8)
                  for n, ms in nets.items()}
        runtimes = ["litert", "keras"] if litert_available() else ["keras"]
        classifiers = {(rt, n): Classifier(ms, runtime=rt) for rt in runtimes for n, ms in nets.items()}
        for (_, n), c in classifiers.items():  # warm up: graphs built, tensors allocated
            c.predict(images[n][:32])
        times: dict[tuple[str, str], list[float]] = {k: [] for k in classifiers}
        for _ in range(args.runs):
            for (rt, n), c in classifiers.items():
                start = time.perf_counter()
                c.predict(images[n])
                times[(rt, n)].append((time.perf_counter() - start) * 1000 / args.frames)
    print(f"frames {args.frames}, batch 32, runs {args.runs} (medians, ms/frame; ratio to plain 224)")
    for rt in runtimes:
        base = statistics.median(times[(rt, "plain 224")])
        print(f"{rt:7s} " + "  ".join(f"{n} {statistics.median(times[(rt, n)]):6.2f} "
                                      f"({statistics.median(times[(rt, n)]) / base:.2f}x)" for n in nets))
    m0 = macs(None)
    print("MACs per frame: " + "  ".join(
        f"{n} {macs(ms.branch_from, ms.input_size) / 1e6:.0f} M ({macs(ms.branch_from, ms.input_size) / m0:.2f}x)"
        for n, ms in nets.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
