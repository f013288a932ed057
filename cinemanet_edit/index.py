"""The archive jobs: ``index`` (files -> shots and labels -> catalogue) and ``search`` (catalogue -> hits ->
a string-out timeline), what the CLI calls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .archive import AnalyzerSpec, FileResult, MediaFile, find_media
from .catalogue import Catalogue, SkippedFile
from .engines import ENGINES, EngineOptions
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
    interrupted: bool = False

    def to_json(self) -> dict:
        return {"catalogue": self.catalogue, "engine": self.engine, "model": self.model, "files": self.files,
                "indexed": self.indexed, "already_in_catalogue": self.already, "shots": self.shots,
                "hours": round(self.media_seconds / 3600, 4), "seconds": round(self.seconds, 2),
                "interrupted": self.interrupted,
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
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
        if self.warnings:
            line += f"; {len({p for p, _ in self.warnings})} files indexed with warnings"
        if self.interrupted:
            line += " (interrupted: the files done so far are kept; run again to finish)"
        return line

    @property
    def failed(self) -> bool:
        """Nothing could be indexed although there was something to index."""
        return self.indexed == 0 and self.files > self.already


def run_index(paths: Iterable[Path], catalogue_folder: Path, engine: str = "local",
              options: EngineOptions | None = None, spec: AnalyzerSpec | None = None,
              on_result: Callable[[FileResult, IndexReport], None] | None = None,
              report: IndexReport | None = None) -> IndexReport:
    """Index every media file under ``paths`` not yet in the catalogue; each file's rows are written as soon
    as it is done. ``report`` (optional) is filled in place, so a caller interrupted mid-run still has it."""
    if engine not in ENGINES:
        raise CinemanetError(f"unknown engine {engine!r} (engines: {', '.join(ENGINES)})")
    options = options or EngineOptions()
    spec = spec or AnalyzerSpec()
    started = time.perf_counter()
    report = report if report is not None else IndexReport()
    report.catalogue, report.engine = str(catalogue_folder), engine
    catalogue = Catalogue(catalogue_folder)
    model = load_model_set().version
    report.model = model
    files, skipped = find_media(paths)
    report.files = len(files)
    report.skipped.extend(skipped)
    present = catalogue.entries()
    todo = []
    for path in files:
        try:
            fingerprint = content_fingerprint(path)
        except OSError as exc:
            report.skipped.append(SkippedFile(str(path), f"cannot read ({exc.strerror or exc})"))
            continue
        if present.get(str(path)) == (fingerprint, model):
            report.already += 1
        else:
            todo.append(MediaFile(path, fingerprint))
    report.todo = len(todo)
    try:
        for result in ENGINES[engine](todo, spec, options):
            report.done += 1
            report.warnings += [(result.path, w) for w in result.warnings]
            report.seconds = time.perf_counter() - started
            if result.error:
                report.skipped.append(SkippedFile(result.path, result.error))
            else:
                catalogue.add(result.rows, list(result.rows[0].labels))
                report.indexed += 1
                report.shots += len(result.rows)
                report.media_seconds += result.media_seconds
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
