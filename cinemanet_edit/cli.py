"""Command line: argument parsing and messages only; the work happens in ``pipeline``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import CinemanetError
from .pipeline import Analyzer, Classification, Reporter, SamplingPolicy, classify_paths, tag_file

EXIT_OK, EXIT_INCOMPLETE, EXIT_ERROR = 0, 1, 2


class ConsoleReporter(Reporter):
    """A progress bar on stderr (hidden with -q or when stderr is not a terminal) and one-line warnings."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def start(self, total: int, unit: str) -> None:
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


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _add_sampling(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--samples", type=_positive_int, metavar="N",
                       help="frames analysed per clip (default: 3, plus one per 10 s beyond 10 s)")
    group.add_argument("--every", type=_positive_float, metavar="SECONDS",
                       help="analyse one frame every SECONDS instead")
    p.add_argument("--batch-size", type=_positive_int, default=32, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cinemanet-edit",
        description="Label every shot of a cut with CinemaNet's cinematography terms and write them back.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("classify", help="label image and video files")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="one JSON object per input, one per line")
    p.add_argument("--per-sample", action="store_true", help="also report each sampled frame (videos)")
    _add_sampling(p)

    p = sub.add_parser("tag", help="label every clip of a timeline and write it back")
    p.add_argument("input", type=Path, metavar="INPUT",
                   help="timeline (.otio, .edl, .xml, .fcpxml ...) or a media file")
    p.add_argument("-o", "--output", type=Path, required=True, help="tagged timeline to write")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--media-root", type=Path, action="append", default=[], metavar="DIR",
                   help="relink: look for media by file name under DIR (repeatable)")
    p.add_argument("--input-format", metavar="ADAPTER", help="OTIO adapter to read INPUT with")
    p.add_argument("--format", metavar="ADAPTER", help="OTIO adapter to write OUTPUT with")
    p.add_argument("--strict", action="store_true", help="exit 1 if any clip could not be analysed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    _add_sampling(p)

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
    m = msub.add_parser("convert-backbone",
                        help="write MobileNet v1 Keras weights from a frozen TF-slim / TF-for-Poets graph")
    m.add_argument("graph", type=Path, help="frozen graph (.pb)")
    m.add_argument("-o", "--output", type=Path, required=True, help="weights file to write (.weights.h5)")
    return parser


def _policy(args) -> SamplingPolicy:
    return SamplingPolicy(samples=args.samples, every=args.every)


def _print_classification(result: Classification, as_json: bool, per_sample: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(per_sample)), flush=True)
        return
    if result.error:
        return
    parts = [f"{label.title} ({label.confidence:.0%})" for label in result.labels.values()]
    print(f"{result.path}: " + "; ".join(parts), flush=True)
    if per_sample:
        for t, labels in result.samples:
            print(f"  {t:9.3f}s  " + "; ".join(f"{lab.title} ({lab.confidence:.0%})" for lab in labels.values()))


def cmd_classify(args) -> int:
    analyzer = Analyzer(batch_size=args.batch_size)
    failed = 0

    def show(result: Classification) -> None:
        nonlocal failed
        if result.error:
            failed += 1
            print(f"error: {result.error}", file=sys.stderr)
        elif result.warning:
            print(f"warning: {result.path}: {result.warning}", file=sys.stderr)
        _print_classification(result, args.json, args.per_sample)

    classify_paths(args.paths, analyzer, _policy(args), on_result=show)
    return EXIT_INCOMPLETE if failed else EXIT_OK


def cmd_tag(args) -> int:
    reporter = ConsoleReporter(args.quiet)
    report = tag_file(args.input, args.output, analyzer=Analyzer(batch_size=args.batch_size), policy=_policy(args),
                      media_roots=args.media_root, input_format=args.input_format, output_format=args.format,
                      force=args.force, reporter=reporter)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif not args.quiet:
        line = (f"tagged {report.analysed} of {report.clips} clips -> {report.output} "
                f"({report.frames_analysed} frames in {report.seconds:.1f} s, {report.frames_per_second:.1f} frames/s)")
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


def cmd_models(args) -> int:
    if args.models_command == "convert-backbone":
        from .legacy import convert_backbone

        if args.output.exists():
            raise CinemanetError(f"{args.output}: already exists")
        convert_backbone(args.graph, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
        return EXIT_OK
    from .models import load_model_set

    models = load_model_set()
    if args.json:
        print(json.dumps({"version": models.version, "backbone": models.backbone_name,
                          "heads": [{"category": h.category.id, "labels": len(h.category.labels),
                                     "input": h.input} for h in models.heads]}, indent=2))
    else:
        print(f"{models.version}\nbackbone: {models.backbone_name} ({models.backbone_file})")
        for h in models.heads:
            print(f"  {h.category.id}: {len(h.category.labels)} labels, reads the backbone's {h.input}")
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
    from .resolve.bridge import LineReporter, run_job
    from .timeline import atomic_write

    try:
        job = json.loads(args.job.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CinemanetError(f"{args.job}: cannot read the job: {exc}") from None
    if args.samples or args.every:
        job["samples"], job["every"] = args.samples, args.every
    try:
        answer = run_job(job, Analyzer(batch_size=args.batch_size), LineReporter(sys.stderr))
    except (KeyError, ValueError, TypeError) as exc:
        raise CinemanetError(f"{args.job}: malformed job: {exc}") from None
    atomic_write(args.output, json.dumps(answer, indent=1).encode("utf-8"))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {"classify": cmd_classify, "tag": cmd_tag, "models": cmd_models, "resolve": cmd_resolve}[args.command]
    try:
        return handler(args)
    except CinemanetError as exc:
        print(f"cinemanet-edit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cinemanet-edit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
