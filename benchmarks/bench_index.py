"""Archive indexing, side by side in one run: the local engine, Ray with 1 worker and Ray with 2 workers over
the same archive, plus the checks an archivist relies on.

    python benchmarks/bench_index.py [--files 100] [--workdir DIR] [--skip-checks]

The archive: FILES copies (under different names, in nested folders, each with a few trailing bytes of its
own so that its content differs: index analyses content it has seen once) cycling through the short files of
../shared/media, the damaged Theora file among them, and a text file. Prints, per engine: wall time, files/s,
footage seconds per wall second, the ratio of 2 workers to 1, and the peak resident memory of each worker
process. Checks (unless --skip-checks): local and Ray rows are equal (same shots and labels, largest
confidence difference); a Ray run in which one worker process is killed mid-run completes with every file;
a driver killed mid-run and run again analyses only the files not yet in the catalogue.
Needs the ray extra: pip install 'cinemanet-edit[ray]'.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "media"
SOURCES = ["bigbuckbunny_720p_h264.mp4", "bikes_h264.mp4", "city_mpeg2.mpg", "face_noface_hevc.mov",
           "no_face_h264.mp4", "pexels_face_av1_640x360.mp4", "pexels_face_dnxhd36_1920x1080.mov",
           "pexels_face_dnxhr_lb_640x360.mov", "pexels_face_ffv1_640x360.mkv", "pexels_face_hevc_640x360.mp4",
           "pexels_face_prores422_640x360.mov", "pexels_face_vp9_640x360.webm", "single_face_h264.mp4"]
BROKEN = "iscc_demo_theora_broken.ogv"


def build_archive(root: Path, files: int) -> Path:
    for i in range(files):
        source = SHARED / (BROKEN if i == files // 2 else SOURCES[i % len(SOURCES)])
        target = root / f"reel{i % 7:02d}" / f"day{i % 3}" / f"take{i:04d}{source.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        with target.open("ab") as f:  # content of its own: index analyses a copy of known content only once
            f.write(f"cinemanet-bench-{i:06d}".encode() * 8)
    (root / "reel00" / "notes.txt").write_text("not media")
    return root


def run(archive: Path, catalogue: Path, engine: str, workers: int, on_result=None) -> dict:
    from cinemanet_edit.engines import EngineOptions
    from cinemanet_edit.index import run_index

    peaks: dict[int, int] = {}

    def seen(result, report):
        peaks[result.worker] = max(peaks.get(result.worker, 0), result.peak_memory)
        if on_result:
            on_result(result, report)

    started = time.perf_counter()
    report = run_index([archive], catalogue, engine, EngineOptions(workers=workers), on_result=seen)
    wall = time.perf_counter() - started
    return {"engine": f"{engine}-{workers}", "seconds": round(wall, 1), "files": report.indexed,
            "skipped": len(report.skipped), "shots": report.shots,
            "files_per_s": round(report.indexed / wall, 3),
            "footage_x_realtime": round(report.media_seconds / wall, 2),
            "peak_mb_per_worker": sorted(round(v / 2**20) for v in peaks.values()), "processes": len(peaks)}


def compare(a: Path, b: Path) -> dict:
    from cinemanet_edit.catalogue import Catalogue

    x, y = Catalogue(a).rows(), Catalogue(b).rows()
    same_shots = [(r.path, r.shot, r.start_frame, r.end_frame) for r in x] == \
        [(r.path, r.shot, r.start_frame, r.end_frame) for r in y]
    same_labels = all({c: v.label for c, v in r.labels.items()} == {c: v.label for c, v in s.labels.items()}
                      for r, s in zip(x, y, strict=False))
    diff = max((abs(r.labels[c].confidence - s.labels[c].confidence) for r, s in zip(x, y, strict=False)
                for c in r.labels), default=0.0)
    return {"rows": [len(x), len(y)], "same_shots": same_shots, "same_labels": same_labels,
            "max_confidence_difference": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--skip-checks", action="store_true")
    parser.add_argument("--local-only", action="store_true",
                        help="only the local engine (no Ray needed); prints compute minutes per hour of footage")
    parser.add_argument("--only-driver-kill", action="store_true",
                        help="with --workdir of an earlier run: only the killed-driver check")
    args = parser.parse_args()
    os.environ["CINEMANET_NO_CACHE"] = "1"
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-index-"))
    if args.only_driver_kill:
        shutil.rmtree(work / "cat-kill-driver", ignore_errors=True)
        return kill_driver(work, work / "archive", args.files)
    archive = build_archive(work / "archive", args.files)
    if args.local_only:
        result = run(archive, work / "cat-local-1", "local", 1)
        print(json.dumps(result), flush=True)
        print(f"compute per hour of footage: {3600 / result['footage_x_realtime'] / 60:.1f} minutes", flush=True)
        return
    results = []
    for engine, workers in (("local", 1), ("ray", 1), ("ray", 2)):
        results.append(run(archive, work / f"cat-{engine}-{workers}", engine, workers))
        print(json.dumps(results[-1]), flush=True)
    ratio = results[2]["files_per_s"] / results[1]["files_per_s"]
    print(f"ray 2 workers / 1 worker throughput: {ratio:.2f}", flush=True)
    if args.skip_checks:
        return
    print("local vs ray-2:", json.dumps(compare(work / "cat-local-1", work / "cat-ray-2")), flush=True)

    killed = []

    def kill_one(result, report):
        if not killed and report.done == 3:
            os.kill(result.worker, signal.SIGKILL)
            killed.append(result.worker)

    killed_run = run(archive, work / "cat-kill-worker", "ray", 2, kill_one)
    print("a worker killed mid-run:", json.dumps(killed_run), "killed pid", killed, flush=True)
    print("  rows vs local:", json.dumps(compare(work / "cat-local-1", work / "cat-kill-worker")), flush=True)

    kill_driver(work, archive, args.files)


def kill_driver(work: Path, archive: Path, files: int) -> None:
    catalogue = work / "cat-kill-driver"
    command = [sys.executable, "-m", "cinemanet_edit", "index", str(archive), "-o", str(catalogue), "--engine",
               "ray", "--workers", "2", "-q", "--json"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(catalogue.glob("part-*.parquet"))) < files // 3 and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    ray_cli = Path(sys.executable).parent / "ray"
    subprocess.run([str(ray_cli), "stop", "--force"], capture_output=True, check=False)  # the driver's orphans
    before = len(list(catalogue.glob("part-*.parquet")))
    again = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    print(f"driver killed after {before} files; the re-run: already in catalogue {again['already_in_catalogue']}, "
          f"analysed {again['indexed']}, skipped {len(again['skipped'])}", flush=True)
    print("  rows vs local:", json.dumps(compare(work / "cat-local-1", catalogue)), flush=True)


if __name__ == "__main__":
    main()
