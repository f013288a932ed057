"""The archive catalogue: one row per shot, stored as a Parquet dataset (a folder of ``.parquet`` files).

Each media file's rows are one part file, written atomically (a temporary name, then a rename), so a run
stopped at any moment leaves every finished file's rows and nothing half-written; the next run reads which
(path, fingerprint, model) triples are present and analyses only the rest. ``compact`` folds the parts into a
few large files (``compact-G-N.parquet``, named by ``_compacted.json``): tens of thousands of tiny files are
what every Parquet engine reads slowest. A part newer than the compacted files (the file indexed again) wins
over their rows of the same path. Any Parquet reader (pyarrow, DuckDB, pandas, Spark) reads the folder as one
table; ``_skipped.json`` beside the parts lists the files the last run could not index (names starting with
``_`` are ignored by Parquet dataset readers).

A catalogue folder is treated as hostile like any input: a damaged, truncated or foreign Parquet file, or a
link, is named in a warning and left out; the rest is read.

Columns, for each category id ``c`` (``shot.framing`` -> ``shot_framing``): ``c`` the label id,
``c_confidence`` its probability, ``c_scores`` every label's probability (top ones for large vocabularies).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import CinemanetError
from .files import atomic_write
from .sanitize import one_line
from .taxonomy import Category, known_category
from .types import CategoryLabel

SCHEMA_VERSION = 2  # 2: ``shot`` counts from 1 as everywhere else; ``width``/``height`` (1: from 0, no size)
SKIPPED_FILE = "_skipped.json"
MANIFEST = "_compacted.json"  # which compact-*.parquet files are the catalogue (others: a compaction unfinished)
LOCK = "_compact.lock"
COMPACT_ROWS = 1_000_000  # rows per compacted file
ROW_GROUP = 65_536  # rows per row group: what one search step reads
AUTO_COMPACT_PARTS = 2_000  # index compacts by itself past this many part files
MAX_MANIFEST = 1 << 20  # bytes: a manifest names a handful of files
MAX_GROUP_BYTES = 1 << 31  # a row group that would unpack to more than this is a hostile file, not ours


def vocabulary_titles(categories: dict[str, Category]) -> dict[str, dict[str, str]]:
    """category id -> label id -> display name, for ``titled``."""
    return {c: {label.id: label.title for label in category.labels} for c, category in categories.items()}


def titled(labels: dict[str, CategoryLabel], titles: dict[str, dict[str, str]]) -> dict[str, CategoryLabel]:
    """The labels with their display names from the model's vocabularies (ImageNet: "stopwatch", not its id):
    the catalogue stores ids, titles come from whichever model reads it."""
    out = {}
    for category, label in labels.items():
        title = titles.get(category, {}).get(label.label)
        out[category] = label if title is None or title == label.title else replace(label, title=title)
    return out


def _title(category_id: str, label_id: str) -> str:
    category = known_category(category_id)
    try:
        return category.label(label_id).title if category else label_id.rsplit(".", 1)[-1]
    except KeyError:
        return label_id.rsplit(".", 1)[-1]


def column(category_id: str) -> str:
    return category_id.replace(".", "_").replace("-", "_")


@dataclass(frozen=True)
class ShotRow:
    """One shot of one media file and its labels: a catalogue row."""

    path: str  # absolute path of the media file
    fingerprint: str
    model: str
    shot: int  # 1-based, in file order: "shot 1" in text, JSON, Parquet and clip names alike
    shots: int  # shots in the file
    start_seconds: float  # from the file's first frame
    end_seconds: float
    start_frame: int  # source frames on the media's timecode (start timecode included), end exclusive
    end_frame: int
    rate: float  # the media's frame rate
    start_timecode: str
    end_timecode: str  # exclusive, like an EDL's source out
    media_start_frame: int  # the media's start timecode as frames
    media_frames: int
    labels: dict[str, CategoryLabel] = field(default_factory=dict)
    width: int | None = None  # the media's frame size (catalogues before schema 2: unknown)
    height: int | None = None

    def label_json(self) -> dict[str, dict]:
        """The labels as tag writes them into clip metadata."""
        return {c: label.to_json() for c, label in self.labels.items()}

    def to_json(self) -> dict:
        """A search hit as ``search --json`` prints it."""
        return {"path": self.path, "shot": self.shot, "start": self.start_timecode, "end": self.end_timecode,
                "start_seconds": round(self.start_seconds, 3), "end_seconds": round(self.end_seconds, 3),
                "labels": self.label_json()}

    def line(self) -> str:
        """A search hit as one tab-separated line: file, shot, source timecodes, the cinematography labels tag
        writes (an uncertain or not-applicable one is only in ``--json``, with its score and reason)."""
        return hit_line(self.path, self.shot, self.start_timecode, self.end_timecode,
                        [(label.title or label.label, label.confidence) for c, label in self.labels.items()
                         if c.startswith("shot.") and not label.uncertain])


def hit_line(path: str, shot: int, start: str, end: str, labels: list[tuple[str, float]]) -> str:
    """The one text form of a search hit (``ShotRow.line`` and ``search``'s column path both write it)."""
    text = ", ".join(f"{title} {confidence:.0%}" for title, confidence in labels)
    path = one_line(path).replace("\t", " ")  # a hostile name must not break the line format
    return f"{path}\tshot {shot}\t{start}-{end}\t{one_line(text)}"


@dataclass
class SkippedFile:
    path: str
    reason: str


SIZE_COLUMNS = ["width", "height"]  # optional: parts of schema 1 lack them
BASE_COLUMNS = ["path", "fingerprint", "model", "shot", "shots", "start_seconds", "end_seconds", "start_frame",
                "end_frame", "rate", "start_timecode", "end_timecode", "media_start_frame", "media_frames"]


def arrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise CinemanetError("the catalogue needs pyarrow: pip install pyarrow") from exc
    return pa, pq


def schema(categories: list[str]):
    pa, _ = arrow()
    types = {"path": pa.string(), "fingerprint": pa.string(), "model": pa.string(), "shot": pa.int32(),
             "shots": pa.int32(), "start_seconds": pa.float64(), "end_seconds": pa.float64(),
             "start_frame": pa.int64(), "end_frame": pa.int64(), "rate": pa.float64(),
             "start_timecode": pa.string(), "end_timecode": pa.string(), "media_start_frame": pa.int64(),
             "media_frames": pa.int64()}
    fields = [pa.field(name, types[name]) for name in BASE_COLUMNS] + [pa.field(n, pa.int32()) for n in SIZE_COLUMNS]
    for category in categories:
        c = column(category)
        fields += [pa.field(c, pa.string()), pa.field(f"{c}_confidence", pa.float32()),
                   pa.field(f"{c}_scores", pa.map_(pa.string(), pa.float32())),
                   # what tag would write (decide.py): the threshold, not written and why, the other labels
                   pa.field(f"{c}_threshold", pa.float32()), pa.field(f"{c}_uncertain", pa.bool_()),
                   pa.field(f"{c}_not_applicable", pa.bool_()), pa.field(f"{c}_holds", pa.list_(pa.string()))]
    return pa.schema(fields, metadata={"cinemanet.schema": str(SCHEMA_VERSION),
                                       "cinemanet.categories": json.dumps(categories)})


def _labels(table, category: str, titles: dict[str, str]) -> list[CategoryLabel | None]:
    """One category's label of every row of a table, read column by column (columns of later schemas that a
    file lacks read as undecided)."""
    c = column(category)

    def values(suffix: str) -> list:
        name = c + suffix
        return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows

    out: list[CategoryLabel | None] = []
    for label, confidence, scores, threshold, uncertain, not_applicable, holds in zip(
            values(""), values("_confidence"), values("_scores"), values("_threshold"), values("_uncertain"),
            values("_not_applicable"), values("_holds"), strict=True):
        if label is None or not isinstance(confidence, (int, float)):  # no label, or one no catalogue writes
            out.append(None)
            continue
        threshold = threshold if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else None
        out.append(CategoryLabel(
            category, label, titles.get(label) or _title(category, label), float(confidence), dict(scores or []),
            uncertain=uncertain is True, threshold=None if threshold is None else float(threshold),
            not_applicable=not_applicable is True,
            holds=tuple(h for h in holds if isinstance(h, str)) if isinstance(holds, list) else ()))
    return out


@dataclass(frozen=True)
class DataFile:
    """One readable Parquet file of the catalogue: a part (one media file's rows) or a compacted file."""

    path: Path
    categories: tuple[str, ...]
    columns: frozenset[str]
    compacted: bool
    version: int = SCHEMA_VERSION


def _mistyped(found) -> str | None:
    """The first column whose type is not the one our schema gives it (a hostile or foreign part)."""
    expected = schema([])
    types = {f.name: f.type for f in expected}
    suffixes = {f.name.removeprefix("c"): f.type for f in schema(["c"]) if f.name.startswith("c")}
    for f in found:
        want = types.get(f.name)
        if want is None:
            want = next((t for suffix, t in suffixes.items() if suffix and f.name.endswith(suffix)), None)
        if want is not None and not f.type.equals(want):
            return f.name
    return None


def _version(meta: dict) -> int:
    try:
        return int(meta.get(b"cinemanet.schema", b"1"))
    except ValueError:
        return 1


def reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"damaged or truncated ({type(exc).__name__}: {text[:120]})"


@dataclass(frozen=True)
class RowGroup:
    """One row group as ``Catalogue.scan`` read it: ``table`` has the columns asked for; ``whole()`` reads the
    same rows again with every column (a search reads only its hits' groups whole)."""

    reader: object  # pyarrow.parquet.ParquetFile
    index: int
    keep: object | None  # the rows kept (a compacted group's rows a newer part replaces are not)
    table: object  # pyarrow.Table

    def whole(self, columns: list[str] | None = None):
        """The group's rows with every column (or ``columns``), less those a newer part holds."""
        table = self.reader.read_row_group(self.index, columns=columns)
        return table if self.keep is None else table.filter(self.keep)


def _size(value) -> int | None:
    return value if isinstance(value, int) and 0 < value < 100_000 else None


class Catalogue:
    """A catalogue folder: which files it holds, adding one file's rows, reading rows back, compacting."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise CinemanetError(f"{self.folder}: a catalogue is a folder (a Parquet dataset), not a file")

    @staticmethod
    def part_name(path: str) -> str:
        return f"part-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:20]}.parquet"

    def parts(self) -> list[Path]:
        """The per-file parts (regular files only)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("part-*.parquet") if p.is_file() and not p.is_symlink())

    def manifest(self) -> dict:
        """The compacted files' generation and names (an unreadable, oversized or linked manifest reads as
        none: its files are then left out, never something outside the folder taken in)."""
        path = self.folder / MANIFEST
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MANIFEST:
                return {"generation": 0, "files": []}
            data = json.loads(path.read_text(encoding="utf-8"))
            files = [f for f in data["files"] if isinstance(f, str) and f.startswith("compact-") and "/" not in f
                     and "\\" not in f]
            return {"generation": max(0, int(data["generation"])), "files": files}
        except (OSError, ValueError, KeyError, TypeError, OverflowError, RecursionError):
            return {"generation": 0, "files": []}

    def is_catalogue(self) -> bool:
        return self.folder.is_dir() and any(self._candidates())

    def _candidates(self) -> Iterator[Path]:
        """Every Parquet file in the folder that readers would take for data, compacted files not (yet) named
        by the manifest left out: a compaction still running or one that stopped half-way."""
        current = set(self.manifest()["files"])
        for p in sorted(self.folder.glob("*.parquet")):
            if p.name.startswith(("_", ".")) or (p.name.startswith("compact-") and p.name not in current):
                continue
            yield p

    def data_files(self) -> tuple[list[DataFile], list[SkippedFile]]:
        """The readable files (parts first, then compacted ones) and every other one with why it is left out."""
        _, pq = arrow()
        good, bad = [], []
        for p in self._candidates() if self.folder.is_dir() else ():
            if p.is_symlink() or not p.is_file():
                bad.append(SkippedFile(str(p), "a link or not a regular file, not a catalogue part"))
                continue
            try:
                meta = pq.read_metadata(p)
                found = meta.schema.to_arrow_schema()
            except Exception as exc:  # noqa: BLE001 - whatever a damaged file raises, it is one warning
                bad.append(SkippedFile(str(p), reason(exc)))
                continue
            if any(meta.row_group(i).total_byte_size > MAX_GROUP_BYTES for i in range(meta.num_row_groups)):
                bad.append(SkippedFile(str(p), "a row group larger than any catalogue writes (over 2 GB unpacked)"))
                continue
            keys = found.metadata or {}
            if b"cinemanet.schema" not in keys or not set(BASE_COLUMNS) <= set(found.names):
                bad.append(SkippedFile(str(p), "not a catalogue part (a Parquet file of something else)"))
                continue
            wrong = _mistyped(found)
            if wrong:
                bad.append(SkippedFile(str(p), f"not a catalogue part (column {wrong} has the wrong type)"))
                continue
            try:
                categories = tuple(c for c in json.loads(keys.get(b"cinemanet.categories", b"[]"))
                                   if isinstance(c, str) and {column(c), f"{column(c)}_confidence",
                                                              f"{column(c)}_scores"} <= set(found.names))
            except (ValueError, TypeError, RecursionError):
                categories = ()
            if any(not found.field(column(c)).type.equals(arrow()[0].string()) for c in categories):
                bad.append(SkippedFile(str(p), "not a catalogue part (a label column is not text)"))
                continue
            good.append(DataFile(p, categories, frozenset(found.names), p.name.startswith("compact-"),
                                 _version(keys)))
        return sorted(good, key=lambda f: f.compacted), bad

    def scan(self, columns: list[str] | None, skipped: list[SkippedFile],
             found: tuple[list[DataFile], list[SkippedFile]] | None = None) -> Iterator[tuple[DataFile, RowGroup]]:
        """Every row group of every readable file, read with ``columns`` (those the file has; None: all),
        ``path`` always among them. A compacted row whose path a part holds is left out (the part is newer).
        ``found``: what ``data_files`` gave, when the caller already asked (each footer is read once). A file
        that fails while being read is added to ``skipped``; its earlier row groups stand."""
        pa, pq = arrow()
        import pyarrow.compute as pc

        files, bad = found if found is not None else self.data_files()
        skipped.extend(bad)
        in_parts: set[str] = set()
        newer = None  # the paths parts hold, as an Arrow array: parts come first, so it is built once
        for data in files:
            wanted = None if columns is None else [c for c in dict.fromkeys(["path", *columns]) if c in data.columns]
            if data.compacted and newer is None:
                newer = pa.array(sorted(in_parts), pa.string())
            try:
                reader = pq.ParquetFile(data.path)
                for index in range(reader.num_row_groups):
                    table = reader.read_row_group(index, columns=wanted)
                    keep = None
                    if not data.compacted:
                        in_parts.update(table.column("path").unique().to_pylist())
                    elif len(newer):
                        keep = pc.invert(pc.is_in(table["path"], value_set=newer))
                        table = table.filter(keep)
                    yield data, RowGroup(reader, index, keep, table)
            except Exception as exc:  # noqa: BLE001 - a damaged page: the file is named, the search goes on
                skipped.append(SkippedFile(str(data.path), reason(exc)))

    def entries(self, skipped: list[SkippedFile] | None = None) -> dict[str, tuple[str, str]]:
        """path -> (fingerprint, model) of every file in the catalogue (damaged files: in ``skipped``)."""
        found = {}
        for _, group in self.scan(["fingerprint", "model"], skipped if skipped is not None else []):
            table = group.table
            columns = (table.column(c).to_pylist() for c in ("path", "fingerprint", "model"))
            for path, fingerprint, model in zip(*columns, strict=True):
                found.setdefault(path, (fingerprint, model))
        return found

    def add(self, rows: list[ShotRow], categories: list[str]) -> Path:
        """Write one file's rows as its part (replacing an older part of the same path) atomically."""
        pa, pq = arrow()
        if not rows:
            raise CinemanetError("no rows to write")
        self.folder.mkdir(parents=True, exist_ok=True)
        table = pa.table(_columns(rows, categories), schema=schema(categories))
        target = self.folder / self.part_name(rows[0].path)
        buffer = pa.BufferOutputStream()  # one file's shots: small enough to write whole, atomically
        pq.write_table(table, buffer)
        atomic_write(target, buffer.getvalue().to_pybytes())
        return target

    def write_skipped(self, skipped: list[SkippedFile]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / SKIPPED_FILE,
                     json.dumps([{"path": s.path, "reason": s.reason} for s in skipped], indent=1).encode("utf-8"))

    def rows_of_paths(self, paths: set[str], skipped: list[SkippedFile] | None = None) -> list[ShotRow]:
        """The rows of these media files, in (path, shot) order, reading only groups that hold one of them."""
        pa, _ = arrow()
        import pyarrow.compute as pc

        wanted = pa.array(sorted(paths), pa.string())
        out = []
        for data, group in self.scan(["shot"], skipped if skipped is not None else []):
            mask = pc.is_in(group.table["path"], value_set=wanted)
            if pc.any(mask).as_py():
                out += rows_of(group.whole().filter(mask), data)
        return sorted(out, key=lambda r: (r.path, r.shot))

    def rows(self, skipped: list[SkippedFile] | None = None) -> list[ShotRow]:
        """Every row, in (path, shot) order: for small catalogues and tests (``search`` streams)."""
        out = []
        for data, group in self.scan(None, skipped if skipped is not None else []):
            out += rows_of(group.table, data)
        return sorted(out, key=lambda r: (r.path, r.shot))


def _columns(rows: list[ShotRow], categories: list[str]) -> dict[str, list]:
    data: dict[str, list] = {name: [getattr(r, name) for r in rows] for name in BASE_COLUMNS + SIZE_COLUMNS}
    for category in categories:
        c = column(category)
        labels = [r.labels.get(category) for r in rows]
        data[c] = [lab.label if lab else None for lab in labels]
        data[f"{c}_confidence"] = [lab.confidence if lab else None for lab in labels]
        data[f"{c}_scores"] = [list(lab.scores.items()) if lab else None for lab in labels]
        data[f"{c}_threshold"] = [lab.threshold if lab else None for lab in labels]
        data[f"{c}_uncertain"] = [lab.uncertain if lab else None for lab in labels]
        data[f"{c}_not_applicable"] = [lab.not_applicable if lab else None for lab in labels]
        data[f"{c}_holds"] = [list(lab.holds) if lab else None for lab in labels]
    return data


def rows_of(table, data: DataFile, titles: dict[str, dict[str, str]] | None = None) -> list[ShotRow]:
    """A pyarrow Table of rows of the file ``data`` as ShotRows (its categories, its schema's numbering), the
    labels named from ``titles`` (``vocabulary_titles``) where given."""
    titles = titles or {}
    first = 1 if data.version < 2 else 0
    base = {name: table.column(name).to_pylist() for name in BASE_COLUMNS}
    base["shot"] = [shot + first for shot in base["shot"]]
    sizes = [[_size(v) for v in table.column(n).to_pylist()] if n in table.column_names else [None] * table.num_rows
             for n in SIZE_COLUMNS]
    labels = {category: _labels(table, category, titles.get(category, {})) for category in data.categories}
    out = []
    for i in range(table.num_rows):
        row_labels = {c: found[i] for c, found in labels.items() if found[i] is not None}
        out.append(ShotRow(**{name: values[i] for name, values in base.items()}, labels=row_labels,
                           width=sizes[0][i], height=sizes[1][i]))
    return out


def line_columns(data: DataFile) -> list[str]:
    """The columns ``hit_lines`` reads from ``data``: a text hit shows only the cinematography labels."""
    wanted = ["path", "shot", "start_timecode", "end_timecode"]
    for category in data.categories:
        if category.startswith("shot."):
            c = column(category)
            wanted += [n for n in (c, f"{c}_confidence", f"{c}_uncertain") if n in data.columns]
    return wanted


def hit_lines(table, data: DataFile, titles: dict[str, dict[str, str]]) -> list[tuple[str, int, str]]:
    """(path, shot, ``ShotRow.line``) of each row of ``table`` (read with ``line_columns``), straight from the
    columns: what a broad search prints, without a ShotRow per hit."""
    first = 1 if data.version < 2 else 0
    paths = table.column("path").to_pylist()
    shots = [shot + first for shot in table.column("shot").to_pylist()]
    per_row: list[list[tuple[str, float]]] = [[] for _ in paths]
    for category in data.categories:
        if category.startswith("shot."):
            _add_titled(per_row, table, category, titles.get(category, {}))
    starts, ends = table.column("start_timecode").to_pylist(), table.column("end_timecode").to_pylist()
    return [(path, shot, hit_line(path, shot, start, end, labels))
            for path, shot, start, end, labels in zip(paths, shots, starts, ends, per_row, strict=True)]


def _add_titled(per_row: list[list[tuple[str, float]]], table, category: str, titles: dict[str, str]) -> None:
    """Append (title, confidence) of ``category``'s label to each row that has one written (``_labels``' rules:
    a label with a confidence, not uncertain)."""
    c = column(category)
    names = table.column_names
    if c not in names or f"{c}_confidence" not in names:
        return
    uncertain = table.column(f"{c}_uncertain").to_pylist() if f"{c}_uncertain" in names else [None] * len(per_row)
    seen: dict[str, str] = {}
    for out, label, confidence, unsure in zip(per_row, table.column(c).to_pylist(),
                                             table.column(f"{c}_confidence").to_pylist(), uncertain, strict=True):
        if label is None or confidence is None or unsure is True:
            continue
        title = seen.get(label)
        if title is None:
            title = seen[label] = titles.get(label) or _title(category, label) or label
        out.append((title, confidence))
