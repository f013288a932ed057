"""How soon a file copied into a watched folder is in the catalogue: ``index --watch`` on each engine.

    python benchmarks/bench_watch.py [--engine local|ray] [--files 5] [--settle 1] [--interval 0.5]

The CLI is started as a user starts it (its own process, models loading); once its first round has
indexed a warm-up file, --files copies of real media (the shipped example's files, each given a few bytes of
its own so none is a copy) are copied into the folder one at a time, and the time from the end of each copy to
its rows appearing in the catalogue is measured. Prints each latency, the median, and the floor the settings
set (a file must stay unchanged for --settle seconds, the folder is looked at every --interval seconds).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = sorted(p for p in (ROOT / "examples" / "media").iterdir() if p.suffix in (".mp4", ".mov"))


def indexed(catalogue: Path, path: Path) -> bool:
    from cinemanet_edit.catalogue import Catalogue

    if not catalogue.exists():
        return False
    return any(r.path == str(path.resolve()) for r in Catalogue(catalogue).rows())


def copy_in(source: Path, target: Path, n: int) -> None:
    target.write_bytes(source.read_bytes() + f"bench-watch {n} {time.time()}".encode())


def wait_for(catalogue: Path, path: Path, timeout: float = 300) -> float:
    started = time.perf_counter()
    while not indexed(catalogue, path):
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"{path} not indexed after {timeout} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="local")
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    inbox, catalogue = work / "inbox", work / "catalogue"
    inbox.mkdir()
    command = [sys.executable, "-m", "cinemanet_edit", "index", "--watch", str(inbox), "-o", str(catalogue),
               "--engine", args.engine, "--interval", str(args.interval), "--settle", str(args.settle), "-q"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=dict(os.environ, CINEMANET_NO_CACHE="1"), stderr=subprocess.PIPE,
                               text=True)
    try:
        warm = inbox / "warm-up.mp4"
        copy_in(MEDIA[0], warm, 0)
        first = wait_for(catalogue, warm)
        print(f"{args.engine}: first file (process start, models{', Ray' if args.engine == 'ray' else ''}) "
              f"{first:.1f} s after its copy ({time.perf_counter() - started:.1f} s after the start)")
        latencies = []
        for n in range(1, args.files + 1):
            source = MEDIA[n % len(MEDIA)]
            target = inbox / f"arrival-{n}{source.suffix}"
            copy_in(source, target, n)
            latencies.append(wait_for(catalogue, target))
            print(f"  {target.name}: in the catalogue {latencies[-1]:.2f} s after its copy finished")
        print(f"{args.engine}: median {statistics.median(latencies):.2f} s over {len(latencies)} files "
              f"(floor: settle {args.settle} s + up to one interval {args.interval} s + indexing the file)")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=120)
            print(f"stopped: rc {process.returncode}; {err.strip().splitlines()[-1] if err.strip() else ''}")
        except subprocess.TimeoutExpired:
            process.kill()
            print("did not stop within 120 s of SIGTERM")


if __name__ == "__main__":
    main()
