"""Search at archive scale, side by side in one run: a million shots in 10,000 parts, then the same
catalogue compacted; and ``tag --catalogue`` against a normal ``tag`` of the same cut.

    python benchmarks/bench_catalogue.py [--shots 1000000] [--parts 10000] [--workdir DIR] [--repeat 3]
                                         [--clips 300]

Real rows first: the shipped example media (and a few files of ../shared/media where present) are indexed for
real. The large catalogue is made from them: each part is a media file of its own (its own path and
fingerprint) whose shots are real rows drawn at random, renumbered. Then, each query in a fresh process (so
its peak memory is its own): ``cinemanet-edit search CAT --where QUERY`` wall time and the process's peak
resident memory, before compaction, after ``index --compact``, with the hits counted. Medians of --repeat.

Before that, ``tag --catalogue`` against a normal ``tag``: a cut of --clips clips, each inside one shot of
indexed media, tagged in fresh processes with the result cache off, alternately --repeat times: normally
(decoding and analysing every clip) and with ``--catalogue`` (labels from the catalogue's shots); median wall
times, their ratio, and whether every clip's labels equal their catalogue row's. Twice: over the small archive
files above, and over bench_tag.py's generated editorial media (1080p DNxHD and H.264, 720p, 360p), indexed
first.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "media"
REAL = [ROOT / "examples" / "media", *(SHARED / n for n in (
    "bikes_h264.mp4", "cars_h264.mp4", "city_mpeg2.mpg", "iscc_demo_h264.mp4", "pexels_face_h264.mp4",
    "bigbuckbunny_720p_h264.mp4", "face_noface_hevc.mov", "single_face_h264.mp4"))]
# a narrow query and a broad one (on the rows drawn from the real ones: about 0.7 % and 6 % of the shots)
QUERIES = ["shot.framing = close-up and shot.subject has face",
           "shot.subject has person and shot.angle = aerial"]


def real_rows(workdir: Path):
    from cinemanet_edit.index import run_index

    folder = workdir / "real"
    run_index([p for p in REAL if p.exists()], folder)
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in sorted(folder.glob("part-*.parquet"))]
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="default")


def build(pool, target: Path, shots: int, parts: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(1)
    target.mkdir(parents=True)
    per = shots // parts
    groups = _column_groups(pool.column_names)
    for n in range(parts):
        # each category's columns from a real row of its own: real labels, more combinations than the pool has
        columns = {}
        for names in groups:
            picked = pool.select(names).take([rng.randrange(pool.num_rows) for _ in range(per)])
            columns.update({name: picked[name] for name in names})
        table = pa.table({name: columns[name] for name in pool.column_names}, schema=pool.schema)
        path = f"/archive/reel{n // 100:03d}/take{n:05d}.mov"
        table = table.set_column(table.column_names.index("path"), "path", pa.array([path] * per))
        table = table.set_column(table.column_names.index("fingerprint"), "fingerprint",
                                 pa.array([f"{n:040x}"] * per))
        table = table.set_column(table.column_names.index("shot"), "shot", pa.array(range(1, per + 1), pa.int32()))
        table = table.set_column(table.column_names.index("shots"), "shots", pa.array([per] * per, pa.int32()))
        name = f"part-{n:020x}.parquet"
        pq.write_table(table, target / name)


def _column_groups(names: list[str]) -> list[list[str]]:
    """The base columns, then one group per category (its label, confidence, scores, decision columns)."""
    from cinemanet_edit.catalogue import BASE_COLUMNS, SIZE_COLUMNS

    base = [n for n in names if n in BASE_COLUMNS + SIZE_COLUMNS]
    rest = [n for n in names if n not in base]
    heads = [n for n in rest if f"{n}_confidence" in rest]
    return [base] + [[n for n in rest if n == h or n.startswith(h + "_") and n[len(h) + 1:] in SUFFIXES]
                     for h in heads]


SUFFIXES = {"confidence", "scores", "threshold", "uncertain", "not_applicable", "holds"}


def timed(args: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak resident bytes, lines on stdout) of one CLI run in its own process."""
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's across fork and exec)
    code = ("import sys; from cinemanet_edit import cli; rc = cli.main(sys.argv[1:]); sys.stdout.flush();"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
            "print(hwm, file=sys.stderr); sys.exit(rc)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"search failed: {done.stderr.strip()}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return wall, peak_kib * 1024, len(done.stdout.splitlines())


def measure(catalogue: Path, repeat: int) -> dict:
    out = {}
    for query in QUERIES:
        runs = [timed(["search", str(catalogue), "--where", query]) for _ in range(repeat)]
        out[query] = {"seconds": statistics.median(r[0] for r in runs),
                      "peak_mb": statistics.median(r[1] for r in runs) / 2**20, "hits": runs[0][2]}
    return out


def make_cut(real: Path, clips: int, target: Path) -> None:
    import opentimelineio as otio

    from cinemanet_edit.catalogue import Catalogue

    rng = random.Random(2)
    rows = [r for r in Catalogue(real).rows() if r.end_frame - r.start_frame >= 4]
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    track = otio.schema.Track(name="V1")
    for i in range(clips):
        row = rng.choice(rows)
        length = max(2, (row.end_frame - row.start_frame) // 2)
        start = row.start_frame + rng.randrange(row.end_frame - row.start_frame - length + 1)
        available = TR(RT(row.media_start_frame, row.rate), RT(row.media_frames, row.rate))
        ref = otio.schema.ExternalReference(target_url=Path(row.path).as_uri(), available_range=available)
        track.append(otio.schema.Clip(name=f"clip {i + 1}", media_reference=ref,
                                      source_range=TR(RT(start, row.rate), RT(length, row.rate))))
    otio.adapters.write_to_file(otio.schema.Timeline(name="cut", tracks=[track]), str(target))


def same_labels(tagged: Path, real: Path) -> bool:
    """Every clip's labels equal those of the catalogue row it lies in."""
    import opentimelineio as otio

    from cinemanet_edit.catalogue import Catalogue

    rows = Catalogue(real).rows()
    for clip in otio.adapters.read_from_file(str(tagged)).find_clips():
        path = clip.media_reference.target_url.removeprefix("file://")
        start = clip.source_range.start_time.to_frames()
        row = next(r for r in rows if r.path == path and r.start_frame <= start < r.end_frame)
        labels = clip.metadata["cinemanet"]["labels"]
        if any(labels[c]["label"] != v.label or abs(labels[c]["confidence"] - v.confidence) > 1e-6
               for c, v in row.labels.items()):
            return False
    return True


def hd_catalogue(workdir: Path) -> Path:
    """bench_tag.py's generated media (1080p DNxHD and H.264, 720p, 360p ProRes/HEVC/H.264) indexed."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_tag import make_media

    from cinemanet_edit.index import run_index

    folder = workdir / "hd-media"
    folder.mkdir(exist_ok=True)
    make_media(folder)
    run_index([folder], workdir / "hd-catalogue")
    return workdir / "hd-catalogue"


def tag_side_by_side(workdir: Path, catalogue: Path, clips: int, name: str, repeat: int) -> dict:
    """Both tags of the same cut, alternated ``repeat`` times (a noisy machine slows both alike); medians."""
    cut = workdir / f"cut-{name}.otio"
    make_cut(catalogue, clips, cut)
    normal, recalled = [], []
    for _ in range(repeat):
        normal.append(timed(["tag", str(cut), "-o", str(workdir / f"normal-{name}.otio"), "-q", "--force"])[0])
        recalled.append(timed(["tag", str(cut), "-o", str(workdir / f"recalled-{name}.otio"), "-q", "--force",
                               "--catalogue", str(catalogue)])[0])
    normal_s, recalled_s = statistics.median(normal), statistics.median(recalled)
    ratios = sorted(r / n for r, n in zip(recalled, normal, strict=True))
    equal = same_labels(workdir / f"recalled-{name}.otio", catalogue)
    print(f"tag of {clips} clips ({name} media), medians of {repeat}: normal {normal_s:.2f} s, --catalogue "
          f"{recalled_s:.2f} s ({recalled_s / normal_s:.3f} of normal; pairs {ratios[0]:.3f}-{ratios[-1]:.3f}); "
          f"labels equal the catalogue rows': {equal}")
    return {"clips": clips, "normal_seconds": normal_s, "catalogue_seconds": recalled_s,
            "ratio": recalled_s / normal_s, "pair_ratios": ratios, "labels_equal": equal}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--only-tag", action="store_true", help="only the tag --catalogue comparisons")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-catalogue-"))
    os.environ["CINEMANET_NO_CACHE"] = "1"  # both tags analyse for real: the result cache would hide it
    started = time.perf_counter()
    pool = real_rows(workdir)
    print(f"real rows: {pool.num_rows} shots of {len(set(pool['path'].to_pylist()))} files "
          f"({time.perf_counter() - started:.0f} s)")
    tagging = {"real": tag_side_by_side(workdir, workdir / "real", args.clips, "archive", args.repeat),
               "hd": tag_side_by_side(workdir, hd_catalogue(workdir), args.clips, "hd", args.repeat)}
    if args.only_tag:
        print(json.dumps({"tag": tagging}))
        return
    catalogue = workdir / "big"
    shutil.rmtree(catalogue, ignore_errors=True)
    started = time.perf_counter()
    build(pool, catalogue, args.shots, args.parts)
    size = sum(p.stat().st_size for p in catalogue.iterdir()) / 2**20
    print(f"built {args.shots} shots in {args.parts} parts, {size:.0f} MB ({time.perf_counter() - started:.0f} s)")
    before = measure(catalogue, args.repeat)
    compact_s, compact_peak, _ = timed(["index", "--compact", "-o", str(catalogue), "-q"])
    size = sum(p.stat().st_size for p in catalogue.iterdir()) / 2**20
    files = len(list(catalogue.glob("*.parquet")))
    print(f"compacted in {compact_s:.1f} s, peak {compact_peak / 2**20:.0f} MB: {files} files, {size:.0f} MB")
    after = measure(catalogue, args.repeat)
    for query in QUERIES:
        b, a = before[query], after[query]
        assert a["hits"] == b["hits"], "compaction changed the answer"
        print(f"{query!r}: {a['hits']} hits; before compaction {b['seconds']:.2f} s, {b['peak_mb']:.0f} MB; "
              f"after {a['seconds']:.2f} s, {a['peak_mb']:.0f} MB; speed-up {b['seconds'] / a['seconds']:.1f}x")
    print(json.dumps({"shots": args.shots, "parts": args.parts, "before": before, "after": after,
                      "compact_seconds": compact_s, "compact_peak_mb": compact_peak / 2**20, "tag": tagging}))


if __name__ == "__main__":
    main()
