"""Compaction: a catalogue's many small part files rewritten into a few large ones.

One part per media file is what makes ``index`` resumable and safe to stop, and what makes a large archive
slow to read: tens of thousands of tiny Parquet files. Compaction keeps the first and removes the second:

1. under a lock file (one compaction at a time; ``index`` and ``search`` never wait), every readable file is
   streamed, a row group at a time, into new ``compact-G-N.parquet`` files (G the next generation), each
   written under a temporary name and renamed when complete;
2. the manifest ``_compacted.json`` is replaced atomically to name the new files: from that instant readers
   use them, and before it the old ones;
3. the old compacted files go, and each part folded in is removed only if it is still the file that was read
   (same inode, size and modification time). A part an ``index`` run rewrote meanwhile stays and, being a
   part, wins over its path's compacted rows.

A stop at any step leaves a catalogue that reads the same; leftovers are cleared by the next compaction.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .catalogue import COMPACT_ROWS, LOCK, MANIFEST, ROW_GROUP, Catalogue, DataFile, SkippedFile, arrow, schema
from .errors import CinemanetError
from .files import atomic_write


@dataclass
class CompactReport:
    """What ``compact`` did."""

    files: list[str] = field(default_factory=list)  # the compacted files now holding the rows
    rows: int = 0
    parts_folded: int = 0  # part files removed (their rows are in the compacted files)
    parts_kept: int = 0  # part files rewritten while compacting: kept, they win over their compacted rows
    skipped: list[SkippedFile] = field(default_factory=list)  # damaged or foreign files, left where they are

    def summary(self, folder: Path) -> str:
        line = f"{folder}: compacted {self.rows} shots into {len(self.files)} files ({self.parts_folded} parts in)"
        if self.parts_kept:
            line += f"; {self.parts_kept} parts rewritten meanwhile kept"
        return line + (f"; {len(self.skipped)} files left out (damaged or foreign)" if self.skipped else "")

    def to_json(self) -> dict:
        return {"files": self.files, "rows": self.rows, "parts_folded": self.parts_folded,
                "parts_kept": self.parts_kept, "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` or a one-line error if another compaction holds it (POSIX; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise CinemanetError(f"{path.parent}: another compaction is running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class _Writer:
    """Row groups in, ``compact-G-N.parquet`` files out: each under a temporary name until it is complete."""

    def __init__(self, folder: Path, generation: int, arrow_schema):
        self.folder, self.generation, self.schema = folder, generation, arrow_schema
        self.done: list[str] = []
        self.pending: list = []
        self.pending_rows = 0
        self.writer = None
        self.tmp: Path | None = None
        self.in_file = 0

    def add(self, table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= ROW_GROUP:
            self.flush()

    def flush(self, everything: bool = False) -> None:
        """Write whole row groups of ``ROW_GROUP`` rows (the rest waits for more, unless ``everything``)."""
        pa, pq = arrow()
        if not self.pending_rows:
            return
        table = pa.concat_tables(self.pending)
        size = table.num_rows if everything else table.num_rows - table.num_rows % ROW_GROUP
        rest = table.slice(size)
        self.pending, self.pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
        for start in range(0, size, ROW_GROUP):
            if self.writer is None:
                self.tmp = self.folder / f".compact-{self.generation}-{len(self.done)}.parquet.tmp"
                self.writer = pq.ParquetWriter(self.tmp, self.schema)
            group = table.slice(start, min(ROW_GROUP, size - start))
            self.writer.write_table(group, row_group_size=ROW_GROUP)
            self.in_file += group.num_rows
            if self.in_file >= COMPACT_ROWS:
                self.close_file()

    def close_file(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        name = f"compact-{self.generation}-{len(self.done)}.parquet"
        os.replace(self.tmp, self.folder / name)
        self.done.append(name)
        self.writer, self.tmp, self.in_file = None, None, 0

    def finish(self) -> list[str]:
        self.flush(everything=True)
        self.close_file()
        return self.done

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _conform(table, arrow_schema, version: int):
    """A row group in the current schema: columns a file lacks as nulls, shots numbered from 1."""
    pa, _ = arrow()
    if version < 2:
        import pyarrow.compute as pc

        table = table.set_column(table.column_names.index("shot"), "shot", pc.add(table["shot"], 1))
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in arrow_schema]
    return pa.Table.from_arrays(columns, schema=arrow_schema)


def compact(catalogue: Catalogue) -> CompactReport:
    """Fold every part and compacted file of ``catalogue`` into a few large files (see the module's text)."""
    folder = catalogue.folder
    if not catalogue.is_catalogue():
        raise CinemanetError(f"{folder}: no catalogue here (run cinemanet-edit index first)")
    report = CompactReport()
    with _locked(folder / LOCK):
        _clear_leftovers(catalogue)
        found = catalogue.data_files()
        files = found[0]
        stamps = {f.path: _stamp(f.path) for f in files if not f.compacted}
        categories = list(dict.fromkeys(c for f in files for c in f.categories))
        arrow_schema = schema(categories)
        generation = catalogue.manifest()["generation"] + 1
        writer = _Writer(folder, generation, arrow_schema)
        try:
            for data, group in catalogue.scan(None, report.skipped, found):  # the files stamped above
                report.rows += group.table.num_rows
                writer.add(_conform(group.table, arrow_schema, data.version))
            report.files = writer.finish()
        except BaseException:
            writer.abandon()
            raise
        failed = {s.path for s in report.skipped}
        atomic_write(folder / MANIFEST, json.dumps({"generation": generation, "files": report.files}).encode())
        _remove_folded(files, stamps, failed, report)
    return report


def _remove_folded(files: list[DataFile], stamps: dict, failed: set[str], report: CompactReport) -> None:
    for data in files:
        if str(data.path) in failed:
            continue  # it could not be read whole: its rows may not all be in the new files
        if data.compacted:
            data.path.unlink(missing_ok=True)
        elif _stamp(data.path) == stamps[data.path]:
            data.path.unlink(missing_ok=True)
            report.parts_folded += 1
        else:
            report.parts_kept += 1


def _clear_leftovers(catalogue: Catalogue) -> None:
    """Compacted files no manifest names and unfinished temporary ones: a compaction that stopped."""
    current = set(catalogue.manifest()["files"])
    for p in catalogue.folder.glob("compact-*.parquet"):
        if p.name not in current and not p.is_symlink():
            p.unlink(missing_ok=True)
    for p in catalogue.folder.glob(".compact-*.parquet.tmp"):
        p.unlink(missing_ok=True)
