"""Clips labelled from an archive catalogue instead of analysed: ``tag cut.otio --catalogue CAT``.

An archive indexed once already holds every shot of its media with its labels. A cut made from that media
needs no decoding: each clip's media is found in the catalogue (by content fingerprint; by file name and
timecode when asked, for proxies and copies that differ in content), and the clip takes the labels of the
catalogued shot that covers most of its source range, if that shot covers at least half of it. Clips the
catalogue does not cover are analysed as usual, and so is a clip that two catalogued files of its name would
both cover (camera cards reuse names). The labels and the model version are the catalogue's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .catalogue import Catalogue, ShotRow, SkippedFile, arrow, rows_of, titled, vocabulary_titles
from .errors import CinemanetError
from .sampling import SamplingPolicy, SkipClip, media_range, sample_frames
from .taxonomy import Category
from .timecode import exact_rate, frames_on_grid
from .types import ClipLabels, ClipRef, MediaInfo

MATCHES = ("content", "name")
COVER = Fraction(1, 2)  # the shot must cover at least this share of the clip


@dataclass(frozen=True)
class Recalled:
    """A clip's labels taken from a catalogued shot."""

    labels: ClipLabels
    model: str
    row: ShotRow


@dataclass
class Recall:
    """What the catalogue gave a cut: labels by clip key, and the catalogue files it could not read."""

    clips: dict[str, Recalled] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)


def recall(refs: list[ClipRef], catalogue_folder: Path, probe, fingerprint, match: str = "content",
           categories: dict[str, Category] | None = None) -> Recall:
    """Labels from the catalogue for every clip of ``refs`` it covers. ``probe(path) -> MediaInfo`` and
    ``fingerprint(path) -> str`` are the run's (each file probed and read once)."""
    if match not in MATCHES:
        raise CinemanetError(f"--catalogue-match: {match!r} is not one of {', '.join(MATCHES)}")
    catalogue = Catalogue(catalogue_folder)
    if not catalogue.is_catalogue():
        raise CinemanetError(f"{catalogue_folder}: no catalogue here (run cinemanet-edit index first)")
    wanted = _media_keys(refs, probe, fingerprint, match)
    result = Recall()
    titles = vocabulary_titles(categories or {})
    rows = _rows_for(catalogue, {k for k, _ in wanted.values()}, match, result.skipped)
    for ref in refs:
        if ref.key not in wanted:
            continue
        key, info = wanted[ref.key]
        found = _covering(ref, info, rows.get(key, []), match)
        if found is not None:
            result.clips[ref.key] = _recalled(ref, info, found, titles)
    return result


def _media_keys(refs, probe, fingerprint, match) -> dict[str, tuple[str, MediaInfo]]:
    """clip key -> (what its media is looked up by, the media's probe), for clips with readable media."""
    out = {}
    for ref in refs:
        if ref.skip_reason or ref.media_path is None or ref.source is None:
            continue
        try:
            info = probe(ref.media_path)
            out[ref.key] = (fingerprint(ref.media_path) if match == "content" else Path(ref.media_path).name, info)
        except (CinemanetError, OSError):
            continue  # analysed as usual, which reports why it cannot be
    return out


def _rows_for(catalogue: Catalogue, keys: set[str], match: str, skipped: list) -> dict[str, list[ShotRow]]:
    """The catalogue's rows of the wanted media, by fingerprint (or file name), reading only groups that hold
    one of them."""
    pa, _ = arrow()
    import pyarrow.compute as pc

    if not keys:
        return {}
    value_set = pa.array(sorted(keys), pa.string())
    out: dict[str, list[ShotRow]] = {}
    for data, group in catalogue.scan(["fingerprint"], skipped):
        column = group.table["fingerprint"] if match == "content" else _names(group.table["path"])
        mask = pc.is_in(column, value_set=value_set)
        if not pc.any(mask).as_py():
            continue
        for row in rows_of(group.whole().filter(mask), data):
            out.setdefault(row.fingerprint if match == "content" else Path(row.path).name, []).append(row)
    return out


def _names(paths):
    import pyarrow.compute as pc

    return pc.replace_substring_regex(paths, pattern=r"^.*/", replacement="")


def _covering(ref: ClipRef, info: MediaInfo, rows: list[ShotRow], match: str) -> ShotRow | None:
    """The row whose shot covers most of the clip's media range, if it covers at least ``COVER`` of it."""
    try:
        r = media_range(ref, info)
    except SkipClip:
        return None
    best, most, sources = None, 0, set()
    for row in rows:
        if match == "name" and exact_rate(row.rate) != info.rate:
            continue  # a proxy at another rate: its frame numbers are not this file's
        offset = row.media_start_frame if match == "content" else int(r.origin)
        lo, hi = max(r.first, row.start_frame - offset), min(r.end, row.end_frame - offset)
        if hi - lo >= COVER * (r.end - r.first):
            sources.add(row.fingerprint)
        if hi - lo > most:
            best, most = row, hi - lo
    if len(sources) > 1:
        return None  # two files of that name cover the clip (camera cards reuse names): analysed, not guessed
    return best if best is not None and most >= COVER * (r.end - r.first) else None


def _recalled(ref: ClipRef, info: MediaInfo, row: ShotRow, titles: dict[str, dict[str, str]]) -> Recalled:
    """The row's labels as the clip's, with the frames they came from in the clip's source time."""
    r = media_range(ref, info)
    shot_first = row.start_frame - row.media_start_frame
    frames = sample_frames(shot_first, row.end_frame - row.media_start_frame, info.rate, SamplingPolicy())
    times = tuple(r.source_start + float(frames_on_grid(r.origin + m - r.source_first, info.rate, ref.source.rate))
                  for m in frames)
    labels = titled(row.labels, titles)
    return Recalled(ClipLabels(ref.key, labels, times, ref.source.rate, len(frames), frames), row.model, row)
