"""Catalogue -> hits: the selects language evaluated inside Arrow, one row group at a time.

``search`` never holds the catalogue in Python: each row group is read with only the columns the query names,
the query becomes a boolean mask by vectorised compute (the same rules as ``select.matches``, row for row),
and only the rows that match are read whole and turned into ``ShotRow``. Time follows the rows scanned at
Arrow's speed; memory follows one row group and the hits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import opentimelineio as otio

from . import annotate, schema, timecode
from .catalogue import (
    Catalogue,
    DataFile,
    ShotRow,
    SkippedFile,
    arrow,
    column,
    hit_lines,
    line_columns,
    reason,
    rows_of,
    titled,
    vocabulary_titles,
)
from .errors import CinemanetError
from .layout import layout
from .models import load_model_set
from .sampling import SamplingPolicy, sample_frames
from .select import HAS_SCORE, Condition, Node, parse_query, string_out
from .taxonomy import Category, Label, describe
from .timecode import exact_rate
from .types import ClipLabels

SUFFIXES = ("", "_confidence", "_scores", "_threshold", "_uncertain", "_holds")


@dataclass
class Hits:
    """What a search found: the matching shots in (path, shot) order (as rows, or as the text lines of
    ``search_lines``), and the catalogue files it left out."""

    rows: list[ShotRow] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    scanned: int = 0  # rows looked at

    def warnings(self) -> list[str]:
        """One line per file left out, however many of its row groups failed."""
        first = {s.path: s.reason for s in reversed(self.skipped)}
        return [f"warning: {path}: left out of the search: {why}" for path, why in sorted(first.items())]


def search(catalogue_folder: Path, query: str, min_confidence: float = 0.0) -> Hits:
    """The catalogue's shots that satisfy ``query`` (over every category the catalogue holds), as rows."""
    hits = Hits()

    def take(data: DataFile, group, mask, titles: dict) -> None:
        hits.rows += rows_of(group.whole().filter(mask), data, titles)

    _matching(catalogue_folder, query, min_confidence, hits, take)
    hits.rows.sort(key=lambda r: (r.path, r.shot))
    return hits


def search_lines(catalogue_folder: Path, query: str, min_confidence: float = 0.0) -> Hits:
    """``search`` as the text lines it prints (``ShotRow.line``), made from the hits' columns: a broad query's
    time and memory go to the hits' few text columns, not to a ShotRow of every category per hit."""
    hits = Hits()
    keyed: list[tuple[str, int, str]] = []

    def take(data: DataFile, group, mask, titles: dict) -> None:
        keyed.extend(hit_lines(group.whole(line_columns(data)).filter(mask), data, titles))

    _matching(catalogue_folder, query, min_confidence, hits, take)
    keyed.sort(key=lambda k: (k[0], k[1]))
    hits.lines = [line for _path, _shot, line in keyed]
    return hits


def _matching(catalogue_folder: Path, query: str, min_confidence: float, hits: Hits, take) -> None:
    """Call ``take(file, row group, mask of its hits, vocabulary titles)`` for each row group with a hit;
    ``hits`` counts the rows scanned and keeps the files left out (a group that fails, in the mask or in
    ``take``, is one of them: the search goes on)."""
    catalogue = Catalogue(catalogue_folder)
    if not catalogue.is_catalogue():
        raise CinemanetError(f"{catalogue_folder}: no catalogue here (run cinemanet-edit index first)")
    found = catalogue.data_files()
    categories = catalogue_categories(catalogue, found, query)
    node = parse_query(query, categories)
    wanted = [column(c) + s for c in sorted(_categories_of(node)) for s in SUFFIXES]
    pa, _ = arrow()
    titles = vocabulary_titles(categories)
    for data, group in catalogue.scan(wanted, hits.skipped, found):
        hits.scanned += group.table.num_rows
        try:
            mask = evaluate(node, group.table, min_confidence)
            if mask.any():  # only now the hits' rows, with the columns the caller reads
                take(data, group, pa.array(mask), titles)
        except Exception as exc:  # noqa: BLE001 - a damaged page, or values no catalogue writes
            hits.skipped.append(SkippedFile(str(data.path), reason(exc)))


def _categories_of(node: Node) -> set[str]:
    if node.op == "cond":
        return {node.condition.category}
    return set().union(*(_categories_of(n) for n in node.children))


# ------------------------------------------------------------------------------------------------ the mask


def evaluate(node: Node, table, min_confidence: float = 0.0) -> np.ndarray:
    """``select.matches`` for every row of an Arrow table at once: a boolean array."""
    if node.op == "and":
        return np.logical_and.reduce([evaluate(n, table, min_confidence) for n in node.children])
    if node.op == "or":
        return np.logical_or.reduce([evaluate(n, table, min_confidence) for n in node.children])
    if node.op == "not":
        return ~evaluate(node.children[0], table, min_confidence)
    return _condition(node.condition, _Columns(table, node.condition), min_confidence)


class _Columns:
    """One category's columns of a row group as numpy arrays (a column the file lacks reads as nulls)."""

    def __init__(self, table, cond: Condition):
        pa, _ = arrow()
        import pyarrow.compute as pc

        c = column(cond.category)
        n = table.num_rows
        self.n = n

        def get(name):
            return table[name].combine_chunks() if name in table.column_names else None

        label = get(c)
        label = pa.nulls(n, pa.string()) if label is None else label
        wanted = pa.array(list(cond.labels), pa.string())
        self.present = label.is_valid().to_numpy(zero_copy_only=False)
        self.top = pc.fill_null(pc.index_in(label, value_set=wanted), -1).to_numpy(zero_copy_only=False)
        self.confidence = _floats(get(f"{c}_confidence"), n)
        self.decided = _valid(get(f"{c}_threshold"), n)
        uncertain = get(f"{c}_uncertain")
        self.uncertain = (np.zeros(n, bool) if uncertain is None
                          else pc.fill_null(uncertain, False).to_numpy(zero_copy_only=False))
        self._scores_column, self._wanted = get(f"{c}_scores"), cond.labels
        holds = get(f"{c}_holds")
        if holds is None or not n:
            self.hold_row, self.hold_code = np.zeros(0, int), np.zeros(0, int)
        else:
            self.hold_row = pc.list_parent_indices(holds).to_numpy(zero_copy_only=False)
            flat = pc.list_flatten(holds)
            self.hold_code = pc.fill_null(pc.index_in(flat, value_set=wanted), -1).to_numpy(zero_copy_only=False)

    @cached_property
    def scores(self) -> np.ndarray:
        """(rows, wanted labels): each wanted label's score, NaN where the row has none. Looked up only when a
        condition needs scores (a confidence bound, an undecided "has"): the map lookup is the dear part."""
        import pyarrow.compute as pc

        if not self.n:
            return np.zeros((0, len(self._wanted)))
        column = self._scores_column
        return np.column_stack([_floats(None if column is None else pc.map_lookup(column, w, "first"), self.n)
                                for w in self._wanted])

    def score_of(self, rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """``scores.get(label, confidence)`` for (row, wanted-label code) pairs."""
        found = self.scores[rows, codes]
        return np.where(np.isnan(found), self.confidence[rows], found)

    def any_hold(self, element_mask: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n, bool)
        out[self.hold_row[element_mask]] = True
        return out


def _floats(array, n: int) -> np.ndarray:
    if array is None:
        return np.full(n, np.nan)
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=float)


def _valid(array, n: int) -> np.ndarray:
    return np.zeros(n, bool) if array is None else array.is_valid().to_numpy(zero_copy_only=False)


def _condition(cond: Condition, cols: _Columns, min_confidence: float) -> np.ndarray:
    rows = np.arange(cols.n)
    top_in = cols.top >= 0
    hold_in = cols.hold_code >= 0
    if cond.op == "not in":
        hit = cols.uncertain | ~(top_in | cols.any_hold(hold_in))
    elif cond.op == "in" and min_confidence <= 0:  # every written label in the list is sure enough
        hit = ~cols.uncertain & (top_in | cols.any_hold(hold_in))
    elif cond.op == "in":
        top_sure = np.zeros(cols.n, bool)
        top_sure[top_in] = cols.score_of(rows[top_in], cols.top[top_in]) >= min_confidence
        hold_sure = np.zeros(len(hold_in), bool)
        hold_sure[hold_in] = cols.score_of(cols.hold_row[hold_in], cols.hold_code[hold_in]) >= min_confidence
        hit = ~cols.uncertain & (top_sure | cols.any_hold(hold_sure))
    elif min_confidence <= 0 and cols.decided.all():  # has, every row decided: written is all it takes
        hit = ~cols.uncertain & (top_in | cols.any_hold(hold_in))
    else:  # has
        score = cols.scores[:, 0]
        score = np.where(np.isnan(score), np.where(top_in, cols.confidence, 0.0), score)
        written = top_in | cols.any_hold(hold_in)
        decided = written & (score >= min_confidence)
        undecided = score >= max(HAS_SCORE, min_confidence)
        hit = ~cols.uncertain & np.where(cols.decided, decided, undecided)
    return cols.present & hit


# ------------------------------------------------------------------------------------------------ vocabularies


def catalogue_categories(catalogue: Catalogue, found: tuple[list[DataFile], list[SkippedFile]],
                         query: str = "") -> dict[str, Category]:
    """The installed model's categories, and each other category the catalogue holds that ``query`` names, with
    the labels its rows carry (a catalogue indexed with other heads stays searchable)."""
    categories = {h.category.id: h.category for h in load_model_set().heads}
    foreign = {c for f in found[0] for c in f.categories if c not in categories and c in query}
    for category_id in sorted(foreign):
        categories[category_id] = _seen_category(catalogue, category_id, found)
    return categories


def _seen_category(catalogue: Catalogue, category_id: str, found) -> Category:
    import pyarrow.compute as pc

    c = column(category_id)
    names: dict[str, str] = {}
    for _, group in catalogue.scan([c, f"{c}_scores"], [], found):
        table = group.table
        if c not in table.column_names:
            continue
        for label in pc.unique(table[c]).to_pylist():
            if label is not None:
                names.setdefault(label, label.rsplit(".", 1)[-1])
        if f"{c}_scores" in table.column_names:
            keys = table[f"{c}_scores"].combine_chunks().keys
            for label in pc.unique(keys).to_pylist():
                names.setdefault(label, label.rsplit(".", 1)[-1])
    return replace(describe(category_id), labels=tuple(Label(i, t) for i, t in names.items()))


def rows_categories(rows: list[ShotRow]) -> dict[str, Category]:
    """The installed model's categories and any other the rows carry, with the labels they name."""
    categories = {h.category.id: h.category for h in load_model_set().heads}
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        for category_id, label in row.labels.items():
            if category_id not in categories:
                names = seen.setdefault(category_id, {})
                names.setdefault(label.label, label.title)
                for label_id in label.scores:
                    names.setdefault(label_id, label_id.rsplit(".", 1)[-1])
    for category_id, names in seen.items():
        categories[category_id] = replace(describe(category_id), labels=tuple(Label(i, t) for i, t in names.items()))
    return categories


# ------------------------------------------------------------------------------------------------ hits out


def hits_timeline(rows: list[ShotRow], query: str, handles: int = 0, min_confidence: float = 0.0,
                  limit: int | None = None) -> otio.schema.Timeline:
    """A string-out of the hits across files, each clip labelled as ``tag`` labels it (markers, keywords,
    metadata, the frames its labels stand for) and its media described as ``tag`` describes it (frame size,
    rate, start timecode), with ``handles`` frames either side where the file has them."""
    rows = rows[:limit] if limit is not None else rows
    categories = rows_categories(rows)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    from .decode import MediaFiles  # only for rows without a frame size: PyAV stays out of search itself

    titles = vocabulary_titles(categories)
    files = MediaFiles()
    for row in rows:
        track.append(_hit_clip(_sized(row, files), categories, titles, f"V1.{len(track)}"))
    everything = otio.schema.Timeline(name="search")
    everything.tracks.append(track)
    cut = layout(everything)
    picked = [placed for placed in cut.video[0] if placed.media is not None] if cut.video else []
    return string_out(everything, cut, picked, query, handles, min_confidence)


def _sized(row: ShotRow, files) -> ShotRow:
    """A row of a catalogue from before frame sizes were kept, with its file's size where the file is here."""
    if row.width and row.height:
        return row
    try:
        info = files.probe(Path(row.path)) if Path(row.path).is_file() else None
    except CinemanetError:
        info = None
    return replace(row, width=info.width, height=info.height) if info is not None else row


def _hit_clip(row: ShotRow, categories: dict[str, Category], titles: dict, key: str) -> otio.schema.Clip:
    RT = otio.opentime.RationalTime
    rate = row.rate
    available = otio.opentime.TimeRange(RT(row.media_start_frame, rate), RT(row.media_frames, rate))
    ref = otio.schema.ExternalReference(target_url=Path(row.path).as_uri(), available_range=available)
    start_tc = timecode.render(row.media_start_frame, rate) if row.media_start_frame else ""
    schema.write_media_record(ref, schema.MediaRecord(row.path, row.width, row.height, rate, "", start_tc))
    clip = otio.schema.Clip(name=f"{Path(row.path).stem} {row.shot:03d}", media_reference=ref,
                            source_range=otio.opentime.TimeRange(RT(row.start_frame, rate),
                                                                 RT(row.end_frame - row.start_frame, rate)))
    first, end = row.start_frame - row.media_start_frame, row.end_frame - row.media_start_frame
    frames = sample_frames(first, end, exact_rate(rate), SamplingPolicy())  # the frames tag's default analyses
    labels = titled(row.labels, titles)
    annotate.annotate(clip, ClipLabels(key, labels, tuple(float(row.media_start_frame + f) for f in frames), rate,
                                       len(frames), frames), categories, row.model)
    return clip


def write_hits(rows: list[ShotRow], query: str, outputs: list[Path], format_name: str | None = None,
               writer_args: dict[str, dict] | None = None, handles: int = 0,
               min_confidence: float = 0.0) -> list[Path]:
    """The hits written as ``tag`` writes a timeline: a report gets the pictures of the frames each shot's
    labels stand for, decoded from the media."""
    from .formats import by_name, planned_outputs, write_outputs
    from .report import decode_thumbnails

    timeline = hits_timeline(rows, query, handles, min_confidence)
    cut = layout(timeline)
    writer_args = dict(writer_args or {})
    pictured = {name for _p, name, _a in planned_outputs(timeline, outputs, format_name, writer_args, cut)
                if by_name(name) is not None and by_name(name).pictures}
    if pictured:
        thumbnails = decode_thumbnails(cut)
        for name in pictured:
            writer_args[name] = {**writer_args.get(name, {}), "thumbnails": thumbnails}
    return write_outputs(timeline, outputs, format_name, writer_args, cut)
