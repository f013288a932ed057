"""Editors' corrections: what an editor changed in a tagged timeline, kept per media range, given back on re-tag.

``learn`` compares what we wrote on each clip with what the clip shows now: one of our markers renamed to
another label of its category ("Shot Type: Master" -> "Shot Type: Two Up"), our FCPXML keywords changed (a
category's label replaced by another of its labels, or added where we wrote none), an ALE's label column
edited, an EDL locator retitled. What we wrote comes from the clip's own record where the format keeps one
(OTIO, FCPXML); EDLs and ALEs keep none, so ``tag`` also notes in the store what it wrote for each media range
(``record_written``), and ``learn`` compares with that. Each change is
kept as a ``Correction`` of the media's content fingerprint and source frames, in the user's data folder. Tagging
a clip whose media range an editor corrected gives the editor's label, marked as theirs, whatever the model
says; other clips, and other categories of that clip, are untouched.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .errors import CinemanetError
from .taxonomy import Category
from .types import CategoryLabel

COVERS = 0.5  # a correction applies to a clip whose media range it covers at least this share of


@dataclass(frozen=True)
class Correction:
    """One editor's label for one category over frames [first, end) of the media with this fingerprint."""

    fingerprint: str
    first: int
    end: int
    category: str
    label: str
    title: str
    source: str = ""  # the edited timeline it was learned from
    media: str = ""  # the media file's path when it was learned (its frames are what a retrain would need)


def corrections_path() -> Path:
    """The user's corrections (``CINEMANET_CORRECTIONS`` overrides): beside the user's models."""
    if os.environ.get("CINEMANET_CORRECTIONS"):
        return Path(os.environ["CINEMANET_CORRECTIONS"])
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "cinemanet-edit" / "corrections.sqlite"


class CorrectionStore:
    """The corrections in one SQLite file; a newer correction of the same media range and category replaces
    the older one."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or corrections_path())
        self._stamp: tuple[int, int] | None = None
        self._media: dict[str, list[Correction]] = {}

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if not create and not self.path.exists():
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path)
            db.execute("CREATE TABLE IF NOT EXISTS corrections (fingerprint TEXT, first INTEGER, end_ INTEGER, "
                       "category TEXT, label TEXT, title TEXT, source TEXT, at REAL, "
                       "PRIMARY KEY (fingerprint, first, end_, category))")
            db.execute("CREATE TABLE IF NOT EXISTS written (fingerprint TEXT, first INTEGER, end_ INTEGER, "
                       "category TEXT, label TEXT, at REAL, PRIMARY KEY (fingerprint, first, end_, category))")
            columns = {row[1] for row in db.execute("PRAGMA table_info(corrections)")}
            if "media" not in columns:  # a store from before media paths were kept
                db.execute("ALTER TABLE corrections ADD COLUMN media TEXT DEFAULT ''")
            return db
        except (OSError, sqlite3.Error) as exc:
            raise CinemanetError(f"{self.path}: cannot open the corrections ({exc})") from None

    def add(self, corrections: Iterable[Correction]) -> int:
        rows = [(c.fingerprint, c.first, c.end, c.category, c.label, c.title, c.source, time.time(), c.media)
                for c in corrections]
        self._stamp = None  # what this store read before is read again
        db = self._connect(create=True)
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO corrections (fingerprint, first, end_, category, label, title, "
                               "source, at, media) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise CinemanetError(f"{self.path}: cannot write the corrections ({exc})") from None
        finally:
            db.close()
        return len(rows)

    def for_range(self, fingerprint: str, first: int, end: int) -> dict[str, Correction]:
        """The newest correction per category that covers at least ``COVERS`` of frames [first, end)."""
        wanted = max(1, end - first) * COVERS
        return {c.category: c for c in self._of_media(fingerprint)
                if c.first < end and c.end > first and min(end, c.end) - max(first, c.first) >= wanted}

    def all(self) -> list[Correction]:
        """Every correction kept (one per media range and category, the newest), oldest first."""
        db = self._connect(create=False)
        if db is None:
            return []
        try:
            rows = db.execute("SELECT fingerprint, first, end_, category, label, title, source, media FROM "
                              "corrections ORDER BY at").fetchall()
        except sqlite3.Error as exc:
            raise CinemanetError(f"{self.path}: cannot read the corrections ({exc})") from None
        finally:
            db.close()
        return [Correction(*row[:7], media=row[7] or "") for row in rows]

    def _of_media(self, fingerprint: str) -> list[Correction]:
        """Every correction of one media file, oldest first: read once per file while the store is unchanged
        (a tag asks for each of its clips; a store another process writes meanwhile is read again)."""
        try:
            st = self.path.stat()
        except OSError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._stamp, self._media = stamp, {}
        if fingerprint not in self._media:
            self._media[fingerprint] = self._read_media(fingerprint)
        return self._media[fingerprint]

    def _read_media(self, fingerprint: str) -> list[Correction]:
        db = self._connect(create=False)
        if db is None:
            return []
        try:
            rows = db.execute("SELECT fingerprint, first, end_, category, label, title, source, media FROM "
                              "corrections WHERE fingerprint = ? ORDER BY at", (fingerprint,))
            return [Correction(*row[:7], media=row[7] or "") for row in rows]
        except sqlite3.Error as exc:
            raise CinemanetError(f"{self.path}: cannot read the corrections ({exc})") from None
        finally:
            db.close()

    def record_written(self, written: Iterable[tuple[str, int, int, Mapping[str, str]]]) -> None:
        """What tag wrote: (fingerprint, first, end, {category: label id}) per clip, replacing what an earlier
        run wrote for the same range (a category written before and not now is forgotten for it)."""
        entries = list(written)
        if not entries:
            return
        db = self._connect(create=True)
        try:
            with db:
                for fingerprint, first, end, labels in entries:
                    db.execute("DELETE FROM written WHERE fingerprint = ? AND first = ? AND end_ = ?",
                               (fingerprint, first, end))
                    db.executemany("INSERT INTO written VALUES (?, ?, ?, ?, ?, ?)",
                                   [(fingerprint, first, end, c, label, time.time()) for c, label in labels.items()])
        except sqlite3.Error as exc:
            raise CinemanetError(f"{self.path}: cannot write the corrections ({exc})") from None
        finally:
            db.close()

    def written_for(self, fingerprint: str, first: int, end: int) -> dict[str, str] | None:
        """What tag last wrote over most of frames [first, end) of this media: {category: label id}; None when
        no tag run wrote labels there (so nothing can be compared)."""
        db = self._connect(create=False)
        if db is None:
            return None
        try:
            rows = db.execute("SELECT first, end_, category, label FROM written WHERE fingerprint = ? AND "
                              "first < ? AND end_ > ? ORDER BY at", (fingerprint, end, first)).fetchall()
        except sqlite3.Error as exc:
            raise CinemanetError(f"{self.path}: cannot read the corrections ({exc})") from None
        finally:
            db.close()
        wanted = max(1, end - first) * COVERS
        ranges = [(a, b) for a, b, _, _ in rows if min(end, b) - max(first, a) >= wanted]
        if not ranges:
            return None
        best = max(ranges, key=lambda r: min(end, r[1]) - max(first, r[0]))
        return {c: label for a, b, c, label in rows if (a, b) == best}


def apply(labels: Mapping[str, CategoryLabel], corrections: Mapping[str, Correction]) -> dict[str, CategoryLabel]:
    """The clip's labels with the editor's in place of the model's (the model's scores kept beside them)."""
    out = dict(labels)
    for category, c in corrections.items():
        model = labels.get(category)
        scores = model.scores if model is not None else {}
        out[category] = CategoryLabel(category, c.label, c.title, 1.0, scores, editor=True)
    return out


# ---------------------------------------------------------------------------------------- what changed


def _by_title(category: Category, title: str):
    return next((label for label in category.labels if label.title.lower() == title.strip().lower()), None)


def _marker_changes(clip, record: schema.ClipRecord, categories: Mapping[str, Category]) -> dict[str, str]:
    """Our markers renamed to another label of their category: {category: label id}."""
    by_title = {f"{c.title}: ": c for c in categories.values()}
    out = {}
    for marker in clip.markers:
        name = marker.name or ""
        mine = schema.marker_record(marker)
        category = categories.get(mine.category) if mine is not None and mine.category else None
        if category is None and "cinemanet-edit" in (marker.comment or ""):
            category = next((c for prefix, c in by_title.items() if name.startswith(prefix)), None)
        if category is None:
            continue
        label = _by_title(category, name.split(": ", 1)[-1])
        written = record.labels.get(category.id)
        if label is not None and (written is None or written.uncertain or label.id != written.label):
            out[category.id] = label.id
    return out


def shown_changes(written: Mapping[str, str], shown: Iterable[str],
                  categories: Mapping[str, Category]) -> dict[str, str]:
    """Labels an editor put in place of ours: for each single-label category, exactly one of its labels among
    the ``shown`` titles (keywords, or the labels in a marker's name) and not the one we wrote (``written``:
    {category: label id}, only what we wrote). {category: label id}."""
    words = {w.strip().lower() for w in shown if w.strip()}
    out = {}
    for category in categories.values():
        if category.multi_label:
            continue  # several of its labels may stand together: a set, not one label, to learn from
        present = [label for label in category.labels if label.title.lower() in words]
        if len(present) == 1 and present[0].id != written.get(category.id):
            out[category.id] = present[0].id
    return out


def _written(record: schema.ClipRecord) -> dict[str, str]:
    return {c: label.label for c, label in record.labels.items() if not label.uncertain}


def _keyword_changes(clip, record: schema.ClipRecord, categories: Mapping[str, Category]) -> dict[str, str]:
    """Our FCPXML keywords edited: a category's label replaced by (or, where we wrote none, given) exactly one
    other of its labels. {category: label id}."""
    entries = (clip.metadata.get("fcpxml") or {}).get("keywords") if hasattr(clip.metadata, "get") else None
    if not entries:
        return {}
    words = [w for e in entries for w in str(e.get("value", "")).split(",")]
    return shown_changes(_written(record), words, categories)


def edited_labels(clip, categories: Mapping[str, Category]) -> dict[str, str]:
    """What the editor changed on a clip we tagged: {category: the editor's label id}; {} when untouched or
    never tagged."""
    record = schema.clip_record(clip)
    if record is None:
        return {}
    return {**_keyword_changes(clip, record, categories), **_marker_changes(clip, record, categories)}


def shown_labels(clip, categories: Mapping[str, Category]) -> dict[str, str]:
    """The labels a clip with no record of ours shows, as EDL locators ("Shot Framing: Medium", any colour) and
    ALE columns ("Shot Framing" = "Medium") name them: {category: label id}; single-label categories only."""
    shown: dict[str, str] = {}
    by_title = {c.title.lower(): c for c in categories.values() if not c.multi_label}
    for marker in clip.markers:
        category_title, _, label_title = (marker.name or "").partition(": ")
        category = by_title.get(category_title.strip().lower())
        label = _by_title(category, label_title) if category is not None else None
        if label is not None:
            shown[category.id] = label.id
    columns = clip.metadata.get("ALE") if hasattr(clip.metadata, "get") else None
    for name, value in (columns.items() if hasattr(columns, "items") else ()):
        category = by_title.get(str(name).strip().lower())
        label = _by_title(category, str(value)) if category is not None and value else None
        if label is not None:
            shown[category.id] = label.id
    return shown


def ledger_changes(shown: Mapping[str, str], written: Mapping[str, str]) -> dict[str, str]:
    """Labels shown that differ from what tag wrote there (or stand where it wrote none): {category: label}."""
    return {c: label for c, label in shown.items() if written.get(c) != label}


def titled(category: Category, label_id: str) -> str:
    return next((label.title for label in category.labels if label.id == label_id), label_id)
