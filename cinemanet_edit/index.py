"""The archive jobs: ``index`` (files -> shots and labels -> catalogue) and ``search`` (catalogue -> hits ->
a string-out timeline), what the CLI calls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .archive import AnalyzerSpec, FileResult, MediaFile, find_media
from .catalogue import AUTO_COMPACT_PARTS, Catalogue, ShotRow, SkippedFile
from .compaction import CompactReport, compact
from .engines import Engine, EngineOptions, open_engine
from .errors import CinemanetError
from .files import content_fingerprint
from .models import load_model_set
from .pipeline import count_reasons


@dataclass
class IndexReport:
    """What an index run did, for the summary line and ``--json``."""

    catalogue: str = ""
    engine: str = "local"
    model: str = ""
    files: int = 0  # media files found
    indexed: int = 0  # analysed in this run
    already: int = 0  # found in the catalogue with the same fingerprint and model: not analysed again
    todo: int = 0  # files this run set out to analyse
    done: int = 0  # of those, finished (indexed or skipped)
    shots: int = 0  # rows written in this run
    media_seconds: float = 0.0  # footage analysed in this run
    seconds: float = 0.0
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, message): indexed, with damage
    copies: list[tuple[str, str]] = field(default_factory=list)  # (path, the file with the same content)
    catalogue_damage: list[SkippedFile] = field(default_factory=list)  # catalogue files left unread
    interrupted: bool = False

    def to_json(self) -> dict:
        return {"catalogue": self.catalogue, "engine": self.engine, "model": self.model, "files": self.files,
                "indexed": self.indexed, "already_in_catalogue": self.already, "shots": self.shots,
                "hours": round(self.media_seconds / 3600, 4), "seconds": round(self.seconds, 2),
                "interrupted": self.interrupted,
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
                "copies": [{"path": p, "copy_of": c} for p, c in self.copies],
                "catalogue_damage": [{"path": s.path, "reason": s.reason} for s in self.catalogue_damage],
                "warnings": [{"path": p, "message": m} for p, m in self.warnings]}

    def progress(self) -> str:
        """The progress line printed while the run goes on."""
        speed = f", {self.media_seconds / self.seconds:.1f}x real time" if self.seconds > 0 else ""
        return (f"{self.done}/{self.todo} files, {self.shots} shots, {self.media_seconds / 3600:.2f} h of footage, "
                f"{self.done / max(self.seconds, 1e-9):.2f} files/s{speed}")

    def summary(self) -> str:
        """The one line ``index`` prints when it is done (or interrupted)."""
        hours = self.media_seconds / 3600
        speed = f", {self.media_seconds / self.seconds:.1f}x real time" if self.seconds > 0 and hours else ""
        line = (f"{self.catalogue}: {self.files} media files; indexed {self.indexed} ({self.shots} shots, "
                f"{hours:.2f} h of footage) in {self.seconds:.0f} s{speed}; {self.already} already in the catalogue")
        if self.skipped:
            reasons = count_reasons((s.reason, s.path) for s in self.skipped)
            line += f"; skipped {len(self.skipped)}: " + ", ".join(f"{n} ({r})" for r, n in reasons.items())
        if self.copies:
            line += f"; {len(self.copies)} copies of files already analysed (not analysed again)"
        if self.warnings:
            line += f"; {len({p for p, _ in self.warnings})} files indexed with warnings"
        if self.interrupted:
            line += " (interrupted: the files done so far are kept; run again to finish)"
        return line

    @property
    def failed(self) -> bool:
        """Nothing could be indexed although there was something to index."""
        return self.indexed == 0 and self.files > self.already


def run_index(paths: Iterable[Path], catalogue_folder: Path, engine: str | Engine = "local",
              options: EngineOptions | None = None, spec: AnalyzerSpec | None = None,
              on_result: Callable[[FileResult, IndexReport], None] | None = None,
              report: IndexReport | None = None) -> IndexReport:
    """Index every media file under ``paths`` not yet in the catalogue; each file's rows are written as soon
    as it is done. A file whose content the catalogue (or this run) already has under another name is not
    analysed again: it gets that file's rows under its own path and is listed as a copy. ``engine``: a name
    (opened and closed for this run) or an engine already open (``open_engine``: a watch keeps one). ``report``
    (optional) is filled in place, so a caller interrupted mid-run still has it."""
    if isinstance(engine, str):
        with open_engine(engine, spec, options) as opened:
            return run_index(paths, catalogue_folder, opened, on_result=on_result, report=report)
    paths = [Path(p) for p in paths]
    for missing in (p for p in paths if not p.exists()):
        raise CinemanetError(f"{missing}: no such file or folder")
    started = time.perf_counter()
    report = report if report is not None else IndexReport()
    report.catalogue, report.engine = str(catalogue_folder), engine.name
    catalogue = Catalogue(catalogue_folder)
    report.model = load_model_set().version
    files, skipped = find_media(paths)
    report.files = len(files)
    report.skipped.extend(skipped)
    plan = _plan(files, catalogue, report)
    try:
        _copy_known(plan, catalogue, report)
        for result in engine.run(plan.todo):
            _record(result, plan, catalogue, report, started)
            if on_result:
                on_result(result, report)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.seconds = time.perf_counter() - started
        if report.skipped or catalogue.folder.exists():
            catalogue.write_skipped(report.skipped)
    return report


@dataclass
class _Plan:
    todo: list[MediaFile] = field(default_factory=list)  # one file per content: analysed
    copies: dict[str, list[MediaFile]] = field(default_factory=dict)  # fingerprint -> other files with it
    known: dict[str, str] = field(default_factory=dict)  # fingerprint -> a catalogued path with this model


def _plan(files: list[Path], catalogue: Catalogue, report: IndexReport) -> _Plan:
    """What to analyse: each content once, nothing the catalogue already holds for this model."""
    present = catalogue.entries(report.catalogue_damage)
    plan = _Plan(known={fp: path for path, (fp, model) in sorted(present.items()) if model == report.model})
    for path in files:
        try:
            fingerprint = content_fingerprint(path)
        except OSError as exc:
            report.skipped.append(SkippedFile(str(path), f"cannot read ({exc.strerror or exc})"))
            continue
        if present.get(str(path)) == (fingerprint, report.model):
            report.already += 1
        elif fingerprint in plan.known or fingerprint in plan.copies:
            plan.copies.setdefault(fingerprint, []).append(MediaFile(path, fingerprint))
        else:
            plan.copies[fingerprint] = []
            plan.todo.append(MediaFile(path, fingerprint))
    report.todo = len(plan.todo)
    return plan


def _copy_known(plan: _Plan, catalogue: Catalogue, report: IndexReport) -> None:
    """Copies of content the catalogue already holds get its rows under their own path, now."""
    wanted = {plan.known[fp]: fp for fp in plan.copies if fp in plan.known and plan.copies[fp]}
    if not wanted:
        return
    rows: dict[str, list[ShotRow]] = {}
    for row in catalogue.rows_of_paths(set(wanted)):
        rows.setdefault(row.path, []).append(row)
    for source, fingerprint in wanted.items():
        for copy in plan.copies[fingerprint]:
            _write_copy(rows.get(source, []), source, copy, catalogue, report)


def _write_copy(rows: list[ShotRow], source: str, copy: MediaFile, catalogue: Catalogue, report: IndexReport) -> None:
    if not rows:
        return
    catalogue.add([replace(r, path=str(copy.path)) for r in rows], list(rows[0].labels))
    report.copies.append((str(copy.path), source))
    report.shots += len(rows)


def _record(result: FileResult, plan: _Plan, catalogue: Catalogue, report: IndexReport, started: float) -> None:
    """One analysed file's rows into the catalogue, and the same rows for each copy of it found in this run."""
    report.done += 1
    report.warnings += [(result.path, w) for w in result.warnings]
    report.seconds = time.perf_counter() - started
    if result.error:
        report.skipped.append(SkippedFile(result.path, result.error))
        return
    catalogue.add(result.rows, list(result.rows[0].labels))
    report.indexed += 1
    report.shots += len(result.rows)
    report.media_seconds += result.media_seconds
    for copy in plan.copies.get(result.fingerprint, []):
        _write_copy(result.rows, result.path, copy, catalogue, report)


def maybe_compact(catalogue_folder: Path, asked: bool) -> CompactReport | None:
    """Compact when asked, or by itself once the catalogue has more than ``AUTO_COMPACT_PARTS`` part files."""
    catalogue = Catalogue(catalogue_folder)
    if asked or len(catalogue.parts()) > AUTO_COMPACT_PARTS:
        return compact(catalogue)
    return None


# ---------------------------------------------------------------- watch folders


@dataclass
class WatchReport:
    """What a watch did so far: rounds that indexed something, and their totals."""

    rounds: int = 0
    indexed: int = 0
    shots: int = 0
    copies: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    last: IndexReport | None = None

    def summary(self, folder: Path) -> str:
        copies = f" and {self.copies} copies of files already analysed" if self.copies else ""
        line = (f"{folder}: stopped watching; indexed {self.indexed} files{copies} ({self.shots} shots) in "
                f"{self.rounds} rounds")
        return line + (f", {len(self.skipped)} skipped" if self.skipped else "")


class _Arrivals:
    """Which files under the folders are complete: size and modification time unchanged for ``settle``
    seconds (a file still being copied or written keeps changing), and not yet indexed as they are now."""

    def __init__(self, settle: float):
        self.settle = settle
        self.seen: dict[Path, tuple[tuple[int, int], float]] = {}  # path -> (size, mtime), since when
        self.done: dict[Path, tuple[int, int]] = {}

    def ready(self, files: list[Path], now: float) -> list[Path]:
        out = []
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            signature = (st.st_size, st.st_mtime_ns)
            previous = self.seen.get(path)
            if previous is None or previous[0] != signature:
                self.seen[path] = (signature, now)
            elif now - previous[1] >= self.settle and self.done.get(path) != signature:
                out.append(path)
        return out

    def indexed(self, paths: list[Path]) -> None:
        for path in paths:
            self.done[path] = self.seen[path][0]


def watch(folders: Iterable[Path], catalogue_folder: Path, engine: str = "local",
          options: EngineOptions | None = None, spec: AnalyzerSpec | None = None,
          on_result: Callable[[FileResult, IndexReport], None] | None = None, interval: float = 2.0,
          settle: float = 2.0, stop: Callable[[], bool] = lambda: False, report: WatchReport | None = None,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> WatchReport:
    """Index files as they arrive in ``folders`` until ``stop()`` (or Ctrl-C / SIGTERM, which the caller
    turns into KeyboardInterrupt): each complete file once, each changed file again. A restart loses
    nothing: the catalogue says what is done, and the first round indexes only what it lacks."""
    folders = [Path(f) for f in folders]
    for missing in (f for f in folders if not f.is_dir()):
        raise CinemanetError(f"{missing}: not a folder to watch")
    report = report if report is not None else WatchReport()
    arrivals = _Arrivals(settle)
    with open_engine(engine, spec, options) as opened:  # the models (Ray and its actors) once, every round
        while not stop():
            files, _ = find_media(folders)
            ready = arrivals.ready(files, clock())
            if ready:
                done = run_index(ready, catalogue_folder, opened, on_result=on_result)
                arrivals.indexed(ready)
                report.rounds += 1
                report.indexed, report.shots = report.indexed + done.indexed, report.shots + done.shots
                report.copies += len(done.copies)
                report.skipped += done.skipped
                report.last = done
                maybe_compact(catalogue_folder, False)
            sleep(interval)
    return report
