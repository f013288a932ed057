"""Tagging speed, side by side, in one run: end to end vs decode-only + inference-only vs a seed-style baseline.

    python benchmarks/bench_tag.py [--clips 300] [--runs 3] [--workdir DIR] [--memory-clips 5000]

Generates mixed media once (1080p DNxHD, 1080p and 720p and 360p H.264, ProRes, HEVC; 23.976, 25, 29.97;
a start timecode) and a timeline of CLIPS two-second clips over it, three samples per clip. Then, RUNS
times each, it measures:

- end to end: ``tag_timeline`` in-process (model already loaded, result cache off), frames/s;
- decode only: the same samples through ``decode.decode_frames`` (one pass per file, as tag does);
- inference only: the same number of frames through the classifier (batched, default runtime);
- bound: decode only + inference only; the ratio bound / end to end (>= 0.8 wanted; > 1 means the
  pipeline overlaps decoding and inference);
- seed-style baseline: the same decode plus, per frame, one full backbone pass per category (six, as the
  seed ran one graph per category) at batch 1 in Keras; its inference time is measured on a subset of
  frames and scaled to all frames (stated in the output);
- a re-run of the unchanged timeline with the result cache, as a subprocess (no model load);
- peak memory (max RSS) of a ``cinemanet-edit tag`` subprocess on this timeline and on a MEMORY-CLIPS one.

Medians of RUNS runs are printed. The machine is shared: compare within one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cinemanet_edit import decode, sampling  # noqa: E402
from cinemanet_edit.pipeline import Analyzer, SamplingPolicy, tag_timeline  # noqa: E402
from cinemanet_edit.timeline import MediaResolver, clip_refs  # noqa: E402

MEDIA = [  # name, codec, width, height, rate, seconds, pix_fmt, options, timecode
    ("dnxhd_1080p2398.mov", "dnxhd", 1920, 1080, Fraction(24000, 1001), 12, "yuv422p", {"b": "36M"}, None),
    ("h264_1080p2398_tc.mov", "libx264", 1920, 1080, Fraction(24000, 1001), 20, "yuv420p",
     {"preset": "veryfast", "g": "48"}, "01:00:00:00"),
    ("h264_720p25.mp4", "libx264", 1280, 720, Fraction(25), 40, "yuv420p", {"preset": "veryfast", "g": "50"}, None),
    ("h264_360p2997.mp4", "libx264", 640, 360, Fraction(30000, 1001), 60, "yuv420p",
     {"preset": "veryfast", "g": "60"}, None),
    ("prores_360p2398.mov", "prores_ks", 640, 360, Fraction(24000, 1001), 20, "yuv422p10le", {"profile": "2"},
     None),
    ("hevc_360p25.mp4", "libx265", 640, 360, Fraction(25), 40, "yuv420p",
     {"preset": "ultrafast", "x265-params": "log-level=error:keyint=50"}, None),
]


def make_media(folder: Path) -> list[Path]:
    """Moving gradients and shapes: cheap to generate, realistic enough to decode."""
    paths = []
    for name, codec, w, h, rate, seconds, pix_fmt, options, tc in MEDIA:
        path = folder / name
        paths.append(path)
        if path.exists():
            continue
        yy, xx = np.mgrid[:h, :w]
        with av.open(str(path), "w") as out:
            if tc:
                out.metadata["timecode"] = tc
            stream = out.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            stream.options = dict(options)
            frames = int(seconds * rate)
            for i in range(frames):
                image = np.empty((h, w, 3), np.uint8)
                image[..., 0] = (xx + 3 * i) % 256
                image[..., 1] = (yy + 2 * i) % 256
                image[..., 2] = ((xx // 40 + yy // 40 + i // 12) % 2) * 200
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        print(f"  made {name}", file=sys.stderr)
    return paths


def make_timeline(media: list[Path], clips: int, path: Path) -> Path:
    infos = [decode.probe(p) for p in media]
    rng = np.random.default_rng(1)
    track = otio.schema.Track(name="V1")
    for i in range(clips):
        info = infos[i % len(infos)]
        rate = float(info.rate)
        length = int(2 * info.rate)
        start = int(rng.integers(0, max(1, info.frame_count - length)))
        available = otio.opentime.TimeRange(otio.opentime.RationalTime(info.start_frame, rate),
                                            otio.opentime.RationalTime(info.frame_count, rate))
        ref = otio.schema.ExternalReference(target_url=info.path.as_uri(), available_range=available)
        source = otio.opentime.TimeRange(otio.opentime.RationalTime(info.start_frame + start, rate),
                                         otio.opentime.RationalTime(length, rate))
        track.append(otio.schema.Clip(name=f"clip{i:05d}", media_reference=ref, source_range=source))
    timeline = otio.schema.Timeline(name=f"bench {clips}")
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def wanted_frames(timeline_path: Path, policy: SamplingPolicy) -> dict[Path, set[int]]:
    timeline = otio.adapters.read_from_file(str(timeline_path))
    wanted: dict[Path, set[int]] = {}
    infos = {}
    for ref in clip_refs(timeline, MediaResolver(timeline_path.parent)):
        info = infos.setdefault(ref.media_path, decode.probe(ref.media_path))
        plan, _ = sampling.plan(ref, info, policy)
        wanted.setdefault(plan.media_path, set()).update(plan.frames)
    return wanted


def time_decode(wanted, size: int) -> tuple[float, list[np.ndarray]]:
    started = time.perf_counter()
    images = []
    for path, indices in wanted.items():
        images += [f.image for f in decode.decode_frames(path, indices, size)]
    return time.perf_counter() - started, images


def time_inference(classifier, images) -> float:
    started = time.perf_counter()
    classifier.predict(np.stack(images))
    return time.perf_counter() - started


def time_seed_style(images, models, sample: int) -> float:
    """Seconds per frame of six full Keras backbone passes at batch 1 (the seed's one graph per category)."""
    from cinemanet_edit.classify import Classifier

    keras = Classifier(models, batch_size=1, runtime="keras")
    keras.backbone_outputs(images[0][None])  # build the graph once
    started = time.perf_counter()
    for image in images[:sample]:
        for _ in range(6):
            keras.backbone_outputs(image[None])
    return (time.perf_counter() - started) / min(sample, len(images))


def cli_run(args: list[str], env=None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a cinemanet-edit subprocess."""
    started = time.perf_counter()
    cmd = [sys.executable, "-c", "import sys; from cinemanet_edit.cli import main; sys.exit(main())", *args]
    # ru_maxrss of children is the max over all children so far: measure in a fresh wrapper process
    wrapper = [sys.executable, "-c",
               "import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:]); "
               "print(json.dumps([r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))", *cmd]
    out = subprocess.run(wrapper, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    code, rss_kb = json.loads(out.stdout.strip().splitlines()[-1])
    if code != 0:
        raise RuntimeError(out.stderr[-2000:])
    return seconds, rss_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--memory-clips", type=int, default=5000)
    parser.add_argument("--seed-sample", type=int, default=60, help="frames timed for the seed-style baseline")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cinemanet-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", file=sys.stderr)
    media = make_media(work)
    timeline_path = make_timeline(media, args.clips, work / f"bench{args.clips}.otio")
    policy = SamplingPolicy(samples=3)
    wanted = wanted_frames(timeline_path, policy)
    n_frames = sum(len(v) for v in wanted.values())
    analyzer = Analyzer(cache=False)
    classifier = analyzer.classifier
    runtime = classifier.runtime
    size = analyzer.models.input_size
    _, warm = time_decode({p: sorted(v)[:2] for p, v in wanted.items()}, size)
    time_inference(classifier, warm)

    e2e, dec, inf = [], [], []
    images = None
    for run in range(args.runs):
        timeline = otio.adapters.read_from_file(str(timeline_path))
        started = time.perf_counter()
        report = tag_timeline(timeline, MediaResolver(work), analyzer, policy)
        e2e.append(time.perf_counter() - started)
        assert report.frames_analysed == n_frames, report.to_json()
        seconds, images = time_decode(wanted, size)
        dec.append(seconds)
        inf.append(time_inference(classifier, images))
        print(f"  run {run + 1}: end to end {e2e[-1]:.2f} s, decode {dec[-1]:.2f} s, inference {inf[-1]:.2f} s",
              file=sys.stderr)
    seed_per_frame = time_seed_style(images, analyzer.models, args.seed_sample)

    e2e_s, dec_s, inf_s = statistics.median(e2e), statistics.median(dec), statistics.median(inf)
    bound = dec_s + inf_s
    seed = dec_s + seed_per_frame * n_frames
    out = timeline_path.with_suffix(".tagged.otio")
    cache_env = dict(os.environ, CINEMANET_CACHE=tempfile.mkdtemp(prefix="cache-", dir=work))  # starts empty
    first_s, first_mb = cli_run(["tag", str(timeline_path), "-o", str(out), "--force", "-q", "--samples", "3"],
                                env=cache_env)
    rerun_s, rerun_mb = cli_run(["tag", str(timeline_path), "-o", str(out), "--force", "-q", "--samples", "3"],
                                env=cache_env)
    big = make_timeline(media, args.memory_clips, work / f"bench{args.memory_clips}.otio")
    big_s, big_mb = cli_run(["tag", str(big), "-o", str(big.with_suffix(".tagged.otio")), "--force", "-q",
                             "--samples", "3", "--no-cache"])

    rows = [
        ("clips / sampled frames", f"{args.clips} / {n_frames}", ""),
        ("runtime", runtime, f"{os.cpu_count()} cores"),
        ("end to end (in-process, model loaded)", f"{e2e_s:.2f} s", f"{n_frames / e2e_s:.1f} frames/s"),
        ("decode only", f"{dec_s:.2f} s", f"{n_frames / dec_s:.1f} frames/s"),
        ("inference only", f"{inf_s:.2f} s", f"{1000 * inf_s / n_frames:.2f} ms/frame"),
        ("bound = decode + inference", f"{bound:.2f} s", f"{n_frames / bound:.1f} frames/s"),
        ("seed-style baseline (decode + 6 x Keras batch 1)", f"{seed:.2f} s",
         f"{1000 * seed_per_frame:.1f} ms/frame inference, timed on {min(args.seed_sample, n_frames)} frames"),
        ("bound / end to end (>= 0.8)", f"{bound / e2e_s:.2f}", ""),
        ("end to end vs seed-style (>= 3)", f"{seed / e2e_s:.2f}x", ""),
        ("CLI first run (fresh process, cache empty)", f"{first_s:.2f} s", f"peak {first_mb:.0f} MB"),
        ("CLI unchanged re-run (cache)", f"{rerun_s:.2f} s", f"{rerun_s / first_s:.1%} of the first run (<= 10%)"),
        (f"CLI {args.memory_clips} clips, no cache", f"{big_s:.1f} s", f"peak {big_mb:.0f} MB (< 1536 MB)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"medians of {args.runs} runs")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
