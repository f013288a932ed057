"""Result cache: per-frame probabilities keyed by media content, frame and model version, and the shots of
flat files keyed by media content, frame range and detector version.

Re-tagging after an edit only analyses frames it has not seen: a trimmed clip's new samples, new media.
The key is the file's content fingerprint (``files.content_fingerprint``: its size and samples spread over
it, the same key the archive catalogue uses), so a file rewritten under the same name is analysed again and a
copy under another name is not; the model version (which hashes every model file) keeps results of different
models apart. An unchanged re-run finds every
frame here and never loads the model. Stored with SQLite from the standard library.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np

CHUNKS = 16
CHUNK = 64 * 1024


def cache_dir() -> Path:
    """Where derived data lives: results and image features (``CINEMANET_CACHE`` overrides)."""
    base = os.environ.get("CINEMANET_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME")
                                                             or os.path.expanduser("~/.cache"), "cinemanet-edit")
    return Path(base)


def default_path() -> Path:
    return cache_dir() / "results.sqlite"


class ResultCache:
    """{(fingerprint, frame, model version): probabilities of every category}, in one SQLite file."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS frames (media TEXT, frame INTEGER, model TEXT, scores BLOB, "
                            "PRIMARY KEY (media, frame, model))")
            columns = [row[1] for row in self.db.execute("PRAGMA table_info(frames)")]
            if columns == ["media", "frame", "model", "scores"]:
                self.db.execute("CREATE TABLE IF NOT EXISTS shots (media TEXT, detector TEXT, first INTEGER, "
                                "end INTEGER, found TEXT, PRIMARY KEY (media, detector, first, end))")
        except sqlite3.Error:
            self.db.close()
            raise
        if columns != ["media", "frame", "model", "scores"]:  # another program's file: leave it alone
            self.db.close()
            raise sqlite3.DatabaseError(f"{self.path}: not a cinemanet-edit result cache")

    def get(self, media: str, frames: list[int], model: str, sizes: dict[str, int]) -> dict[int, dict]:
        """Cached probabilities of the given frames, split per category (``sizes``: labels per category)."""
        found = {}
        for start in range(0, len(frames), 500):
            chunk = frames[start:start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT frame, scores FROM frames WHERE media=? AND model=? AND frame IN ({marks})"
            rows = self.db.execute(query, (media, model, *chunk))
            for frame, blob in rows:
                if not isinstance(blob, bytes) or len(blob) != 4 * sum(sizes.values()):
                    continue
                values = np.frombuffer(blob, dtype=np.float32)
                if not np.isfinite(values).all():  # a damaged row: analyse the frame again
                    continue
                out, offset = {}, 0
                for category, n in sizes.items():
                    out[category] = values[offset:offset + n]
                    offset += n
                found[int(frame)] = out
        return found

    def put(self, media: str, model: str, results: dict[int, dict], sizes: dict[str, int]) -> None:
        rows = [(media, int(frame), model,
                 np.concatenate([np.asarray(scores[c], np.float32) for c in sizes]).tobytes())
                for frame, scores in results.items()]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?)", rows)

    def get_shots(self, media: str, detector: str, first: int, end: int) -> dict | None:
        """A detection of media frames [first, end) by ``detector``, as ``put_shots`` stored it; None if absent
        or unreadable (then the file is detected again)."""
        import json

        row = self.db.execute("SELECT found FROM shots WHERE media=? AND detector=? AND first=? AND end=?",
                              (media, detector, first, end)).fetchone()
        try:
            found = json.loads(row[0]) if row else None
        except (TypeError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def put_shots(self, media: str, detector: str, first: int, end: int, found: dict) -> None:
        import json

        with self.db:
            self.db.execute("INSERT OR REPLACE INTO shots VALUES (?, ?, ?, ?, ?)",
                            (media, detector, first, end, json.dumps(found)))

    def close(self) -> None:
        self.db.close()
