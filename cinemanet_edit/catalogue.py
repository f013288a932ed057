"""The archive catalogue: one row per shot, stored as a Parquet dataset (a folder of ``.parquet`` files).

Each media file's rows are one part file, written atomically (a temporary name, then a rename), so a run
stopped at any moment leaves every finished file's rows and nothing half-written; the next run reads which
(path, fingerprint, model) triples are present and analyses only the rest. Any Parquet reader (pyarrow,
DuckDB, pandas, Spark) reads the folder as one table; ``_skipped.json`` beside the parts lists the files the
last run could not index (names starting with ``_`` are ignored by Parquet dataset readers).

Columns, for each category id ``c`` (``shot.framing`` -> ``shot_framing``): ``c`` the label id,
``c_confidence`` its probability, ``c_scores`` every label's probability (top ones for large vocabularies).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CinemanetError
from .files import atomic_write
from .taxonomy import known_category
from .types import CategoryLabel

SCHEMA_VERSION = 1
SKIPPED_FILE = "_skipped.json"


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
    shot: int  # 0-based, in file order
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

    def label_json(self) -> dict[str, dict]:
        """The labels as tag writes them into clip metadata."""
        return {c: label.to_json() for c, label in self.labels.items()}

    def to_json(self) -> dict:
        """A search hit as ``search --json`` prints it."""
        return {"path": self.path, "shot": self.shot, "start": self.start_timecode, "end": self.end_timecode,
                "start_seconds": round(self.start_seconds, 3), "end_seconds": round(self.end_seconds, 3),
                "labels": self.label_json()}

    def line(self) -> str:
        """A search hit as one tab-separated line: file, shot, source timecodes, cinematography labels."""
        labels = ", ".join(f"{label.title or label.label} {label.confidence:.0%}"
                           for c, label in self.labels.items() if c.startswith("shot."))
        return f"{self.path}\tshot {self.shot + 1}\t{self.start_timecode}-{self.end_timecode}\t{labels}"


@dataclass
class SkippedFile:
    path: str
    reason: str


BASE_COLUMNS = ["path", "fingerprint", "model", "shot", "shots", "start_seconds", "end_seconds", "start_frame",
                "end_frame", "rate", "start_timecode", "end_timecode", "media_start_frame", "media_frames"]


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise CinemanetError("the catalogue needs pyarrow: pip install pyarrow") from exc
    return pa, pq


def schema(categories: list[str]):
    pa, _ = _pyarrow()
    types = {"path": pa.string(), "fingerprint": pa.string(), "model": pa.string(), "shot": pa.int32(),
             "shots": pa.int32(), "start_seconds": pa.float64(), "end_seconds": pa.float64(),
             "start_frame": pa.int64(), "end_frame": pa.int64(), "rate": pa.float64(),
             "start_timecode": pa.string(), "end_timecode": pa.string(), "media_start_frame": pa.int64(),
             "media_frames": pa.int64()}
    fields = [pa.field(name, types[name]) for name in BASE_COLUMNS]
    for category in categories:
        c = column(category)
        fields += [pa.field(c, pa.string()), pa.field(f"{c}_confidence", pa.float32()),
                   pa.field(f"{c}_scores", pa.map_(pa.string(), pa.float32())),
                   # what tag would write (decide.py): the threshold, not written and why, the other labels
                   pa.field(f"{c}_threshold", pa.float32()), pa.field(f"{c}_uncertain", pa.bool_()),
                   pa.field(f"{c}_not_applicable", pa.bool_()), pa.field(f"{c}_holds", pa.list_(pa.string()))]
    return pa.schema(fields, metadata={"cinemanet.schema": str(SCHEMA_VERSION),
                                       "cinemanet.categories": json.dumps(categories)})


def _label(category: str, c: str, record: dict) -> CategoryLabel:
    """One category's label from a row (parts written before decisions were stored read as undecided)."""
    threshold, holds = record.get(f"{c}_threshold"), record.get(f"{c}_holds")
    holds = tuple(h for h in holds if isinstance(h, str)) if isinstance(holds, list) else ()
    threshold = threshold if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else None
    return CategoryLabel(category, record[c], _title(category, record[c]), float(record[f"{c}_confidence"]),
                         dict(record[f"{c}_scores"] or []), uncertain=record.get(f"{c}_uncertain") is True,
                         threshold=None if threshold is None else float(threshold),
                         not_applicable=record.get(f"{c}_not_applicable") is True,
                         holds=holds)


class Catalogue:
    """A catalogue folder: which files it holds, adding one file's rows, reading rows back."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise CinemanetError(f"{self.folder}: a catalogue is a folder (a Parquet dataset), not a file")

    def parts(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("part-*.parquet") if p.is_file())

    @staticmethod
    def part_name(path: str) -> str:
        return f"part-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:20]}.parquet"

    def entries(self) -> dict[str, tuple[str, str]]:
        """path -> (fingerprint, model) of every file in the catalogue."""
        _, pq = _pyarrow()
        found = {}
        for part in self.parts():
            try:
                table = pq.read_table(part, columns=["path", "fingerprint", "model"])
            except Exception as exc:  # noqa: BLE001 - a foreign or damaged file is reported, not fatal
                raise CinemanetError(f"{part}: not a readable catalogue part ({exc}); move it away") from exc
            if table.num_rows:
                found[table.column("path")[0].as_py()] = (table.column("fingerprint")[0].as_py(),
                                                          table.column("model")[0].as_py())
        return found

    def add(self, rows: list[ShotRow], categories: list[str]) -> Path:
        """Write one file's rows as its part (replacing an older part of the same path) atomically."""
        pa, pq = _pyarrow()
        if not rows:
            raise CinemanetError("no rows to write")
        self.folder.mkdir(parents=True, exist_ok=True)
        data: dict[str, list] = {name: [getattr(r, name) for r in rows] for name in BASE_COLUMNS}
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
        table = pa.table(data, schema=schema(categories))
        target = self.folder / self.part_name(rows[0].path)
        buffer = pa.BufferOutputStream()  # one file's shots: small enough to write whole, atomically
        pq.write_table(table, buffer)
        atomic_write(target, buffer.getvalue().to_pybytes())
        return target

    def write_skipped(self, skipped: list[SkippedFile]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / SKIPPED_FILE,
                     json.dumps([{"path": s.path, "reason": s.reason} for s in skipped], indent=1).encode("utf-8"))

    def rows(self) -> list[ShotRow]:
        """Every row, in (path, shot) order."""
        _, pq = _pyarrow()
        out = []
        for part in self.parts():
            table = pq.read_table(part)
            categories = json.loads((table.schema.metadata or {}).get(b"cinemanet.categories", b"[]"))
            for record in table.to_pylist():
                labels = {}
                for category in categories:
                    c = column(category)
                    if record.get(c) is None:
                        continue
                    labels[category] = _label(category, c, record)
                out.append(ShotRow(**{name: record[name] for name in BASE_COLUMNS}, labels=labels))
        return sorted(out, key=lambda r: (r.path, r.shot))
