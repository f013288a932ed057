"""Timelines in: read any format OTIO reads (or a bare media file) and list the video clips to analyse with
their media files. Writing lives in ``formats``.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath

import opentimelineio as otio

from .decode import MEDIA_SUFFIXES, check_regular_file
from .errors import CinemanetError
from .files import url_to_path
from .formats import reader_for, title_of
from .types import ClipRef, MediaInfo, TimeSpan

MAX_TIMELINE_BYTES = 200 * 2**20


MAX_JSON_DEPTH = 400  # OTIO's JSON reader recurses per level; real timelines stay far below this


def check_timeline_size(path: Path) -> None:
    """Bound what a timeline may make us read: the file, a bundle folder's files, or a zip's contents once
    decompressed (a 1.6 MB .otioz can hold gigabytes)."""
    if path.is_dir():
        total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix.lower() in
                    (".otio", ".fcpxml", ".json", ".xml"))
    elif zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                total = sum(info.file_size for info in archive.infolist() if not info.filename.startswith("media/"))
        except (zipfile.BadZipFile, OSError) as exc:
            raise CinemanetError(f"{path}: damaged archive ({exc})") from None
    else:
        total = path.stat().st_size
    if total > MAX_TIMELINE_BYTES:
        raise CinemanetError(f"{path}: {total // 2**20} MB is too large for a timeline")


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def check_json_depth(path: Path) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH before a recursive parser sees it (it would crash), and
    bytes that are not UTF-8 (OTIO would hand out names Python cannot hold): the file itself, or the
    ``content.otio`` of an .otioz archive or .otiod folder."""
    if path.is_dir():
        data = (path / "content.otio").read_bytes() if (path / "content.otio").is_file() else b""
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            data = archive.read("content.otio") if "content.otio" in archive.namelist() else b""
    else:
        data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CinemanetError(f"{path}: not UTF-8 text (byte {exc.start}); OTIO files are UTF-8 JSON") from None
    depth = 0
    for token in _JSON_TOKENS.finditer(data):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise CinemanetError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep")
        elif char in (b"]", b"}"):
            depth -= 1


def media_timeline(path: Path, shots=None, media: MediaInfo | None = None) -> otio.schema.Timeline:
    """A timeline over a bare media file, starting at the file's own start timecode: one clip over the whole
    file, or one clip per shot (``shots``: ``shots.Shot`` frame ranges) with exact source ranges. ``media``:
    the file's probe, when the caller has it already."""
    from .decode import probe

    media = media or probe(path)
    rate = float(media.rate)
    RT = otio.opentime.RationalTime
    available = otio.opentime.TimeRange(RT(media.start_frame, rate), RT(media.frame_count, rate))

    def ref():
        return otio.schema.ExternalReference(target_url=path.resolve().as_uri(), available_range=available)

    if shots:
        clips = [otio.schema.Clip(name=f"{path.stem} {shot.index + 1:03d}", media_reference=ref(),
                                  source_range=otio.opentime.TimeRange(RT(media.start_frame + shot.first, rate),
                                                                       RT(shot.end - shot.first, rate)))
                 for shot in shots]
    else:
        clips = [otio.schema.Clip(name=path.stem, media_reference=ref())]
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video, children=clips)
    timeline = otio.schema.Timeline(name=path.stem)
    timeline.tracks.append(track)
    timeline.global_start_time = available.start_time
    return timeline


def shot_refs(path: Path, media: MediaInfo, shots) -> list[ClipRef]:
    """A flat file's shots (``shots.Shot`` frame ranges) as the clips to analyse, straight from their exact
    frames: the refs ``clip_refs`` gives for ``media_timeline(path, shots)``, without the timeline."""
    rate = float(media.rate)
    available = TimeSpan(float(media.start_frame), float(media.frame_count), rate)
    resolved = path.resolve()
    if not shots:
        return [ClipRef("V1.1", path.stem, resolved, available, available)]
    return [ClipRef(f"V1.{shot.index + 1}", f"{path.stem} {shot.index + 1:03d}", resolved,
                    TimeSpan(float(media.start_frame + shot.first), float(shot.end - shot.first), rate), available)
            for shot in shots]


def read_timeline(path: Path, format_name: str | None = None, *, files=None, **adapter_args) -> otio.schema.Timeline:
    """Read a timeline (OTIO, EDL, FCP7 XML, FCPXML ...) or wrap a bare media file; one-line errors.
    ``files``: the run's ``decode.MediaFiles``, which probes a bare media file (once for the whole run)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise CinemanetError(f"{path}: no such file")
    if not path.is_dir():  # .otiod and .fcpxmld bundles are folders
        check_regular_file(path, "file")
    adapter = reader_for(path, format_name)
    if adapter is not None:
        check_timeline_size(path)
    if adapter is None:
        if path.suffix.lower() in MEDIA_SUFFIXES:
            return media_timeline(path, media=files.probe(path) if files is not None else None)
        raise CinemanetError(f"{path}: unknown timeline format {path.suffix!r} (use --input-format)")
    if "rate" in adapter_args:  # only EDLs carry no rate of their own
        rate = adapter_args.pop("rate")
        if adapter in ("cmx_3600", "cinemanet_edl") and rate:
            from .timecode import exact_rate

            adapter_args["rate"] = float(exact_rate(rate))
    if "project" in adapter_args and adapter != "cinemanet_fcpxml":
        raise CinemanetError("--project applies to FCPXML input only")
    if adapter in ("otio_json", "otioz", "otiod"):
        check_json_depth(path)
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **adapter_args)
    except RecursionError:
        raise CinemanetError(f"{path}: nested too deeply to read") from None
    except Exception as exc:  # noqa: BLE001 - adapters raise anything from ValueError to KeyError
        message = " ".join(str(exc).split()) or type(exc).__name__
        title = title_of(adapter)
        raise CinemanetError(f"{path}: cannot read as {title}: {message[:300]}") from None
    if isinstance(result, otio.schema.SerializableCollection):
        result = _timeline_of(result, path)
    if not isinstance(result, otio.schema.Timeline):
        raise CinemanetError(f"{path}: holds a {type(result).__name__}, not a timeline")
    return result


def _timeline_of(collection: otio.schema.SerializableCollection, path: Path) -> otio.schema.Timeline:
    """A collection's first timeline; a bin of clips (an ALE) as one track of them, in the bin's order."""
    timelines = list(collection.find_children(descended_from_type=otio.schema.Timeline, shallow_search=True))
    if timelines:
        return timelines[0]
    clips = [c for c in collection if isinstance(c, otio.schema.Clip)]
    if not clips:
        raise CinemanetError(f"{path}: contains no timeline")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for clip in clips:
        track.append(clip.deepcopy())
    return otio.schema.Timeline(name=collection.name or Path(path).stem, tracks=[track])


class MediaResolver:
    """Finds a clip's media file: file URLs (percent-encoded too), plain paths, paths relative to the
    timeline's folder, then a search by file name under ``--media-root`` folders (for relinking)."""

    def __init__(self, timeline_dir: Path | None = None, media_roots: tuple[Path, ...] = ()):
        self.timeline_dir = timeline_dir
        self.media_roots = media_roots
        self._index: dict[str, list[Path]] | None = None

    def _by_name(self) -> dict[str, list[Path]]:
        if self._index is None:
            self._index = {}
            for root in self.media_roots:
                for dirpath, _dirs, files in os.walk(root):
                    for name in files:
                        self._index.setdefault(name.lower(), []).append(Path(dirpath) / name)
        return self._index

    def resolve(self, url: str | None, names: tuple[str, ...] = ()) -> tuple[Path | None, str]:
        """(existing path or None, what was looked for)."""
        candidates: list[Path] = []
        wanted = ""
        if url:
            path = url_to_path(url)
            if path is None:
                return None, f"not a local file: {url}"
            wanted = str(path)
            candidates.append(path)
            if not path.is_absolute() and self.timeline_dir is not None:
                candidates.append(self.timeline_dir / path)
        for candidate in candidates:
            if candidate.is_file():
                return candidate, wanted
        if self.media_roots:
            file_names = []
            if url:
                raw = url_to_path(url)
                file_names.append(PureWindowsPath(str(raw)).name if "\\" in str(raw) else raw.name)
            file_names.extend(n for n in names if n)
            index = self._by_name()
            for name in file_names:
                hits = index.get(name.lower())
                if hits:
                    return sorted(hits)[0], wanted or name
        return None, wanted or (names[0] if names else "")


def _reference_names(clip: otio.schema.Clip) -> tuple[str, ...]:
    """Names that may be a file name, for relinking clips with no usable URL (EDL clip names, reels)."""
    names = []
    ref = clip.media_reference
    if ref is not None and ref.name:
        names.append(ref.name)
    for key in ("cmx_3600", "fcp_xml"):
        meta = clip.metadata.get(key)
        if hasattr(meta, "get"):
            for field in ("source_file", "reel", "clip_name"):
                value = meta.get(field)
                if isinstance(value, str) and value:
                    names.append(value)
    if clip.name:
        names.append(clip.name)
    return tuple(dict.fromkeys(names))


def _source_file(clip: otio.schema.Clip) -> str | None:
    """The path in an EDL's ``* SOURCE FILE:`` comment (Resolve and Premiere write it), if any."""
    meta = clip.metadata.get("cmx_3600")
    for comment in (meta.get("comments") or []) if hasattr(meta, "get") else []:
        if isinstance(comment, str) and comment.upper().startswith("SOURCE FILE:"):
            return comment.split(":", 1)[1].strip()
    return None


def _walk(composition, key: str = "") -> Iterator[tuple[str, otio.schema.Clip]]:
    """Yield (key, clip) for every clip under a stack or track: video tracks only, nested stacks included.

    Keys name positions: "V2.3" is the third clip of the second video track; "V1.4/V1.2" is a clip inside
    the nested stack at V1.4. Gaps and transitions are not counted.
    """
    if isinstance(composition, otio.schema.Stack):
        video = 0
        for child in composition:
            if isinstance(child, otio.schema.Track) and child.kind == otio.schema.TrackKind.Audio:
                continue
            video += 1
            if isinstance(child, otio.schema.Clip):
                yield f"{key}V{video}", child
            elif isinstance(child, otio.core.Composition):
                yield from _walk(child, f"{key}V{video}")
        return
    index = 0
    for item in composition:
        if isinstance(item, (otio.schema.Gap, otio.schema.Transition)):
            continue
        index += 1
        if isinstance(item, otio.schema.Clip):
            yield f"{key}.{index}", item
        elif isinstance(item, otio.core.Composition):
            yield from _walk(item, f"{key}.{index}/")


def video_clips(timeline: otio.schema.Timeline) -> list[tuple[str, otio.schema.Clip]]:
    """(key, clip) of every video clip in timeline order, nested stacks included (see ``_walk``)."""
    return list(_walk(timeline.tracks))


def _span(time_range) -> TimeSpan | None:
    """A TimeSpan of an OTIO range; None when it is missing or not a usable range (NaN, infinite, rate 0)."""
    if time_range is None:
        return None
    span = TimeSpan(time_range.start_time.value, time_range.duration.value, time_range.start_time.rate)
    if not all(math.isfinite(v) for v in (span.start, span.duration, span.rate)) or span.rate <= 0 \
            or span.duration < 0:
        return None
    return span


def clip_refs(timeline: otio.schema.Timeline, resolver: MediaResolver) -> list[ClipRef]:
    """Every video clip in timeline order (nested stacks included), with its media file or a skip reason."""
    refs = []
    for key, clip in video_clips(timeline):
        try:
            source = _span(clip.trimmed_range())
        except Exception:  # noqa: BLE001 - OTIO raises its own types for clips without any range
            source = None
        ref = clip.media_reference
        if source is None:
            refs.append(ClipRef(key, clip.name or key, None, None, None, "clip has no usable source range"))
            continue
        path = reason = None
        if isinstance(ref, otio.schema.GeneratorReference):
            reason = "generator (no media)"
        elif isinstance(ref, otio.schema.ImageSequenceReference):
            reason = "image sequences are not supported yet"
        else:
            url = ref.target_url if isinstance(ref, otio.schema.ExternalReference) else _source_file(clip)
            path, wanted = resolver.resolve(url, _reference_names(clip) if resolver.media_roots else ())
            if path is None:
                if wanted.startswith("not a local file"):
                    reason = wanted
                elif wanted:
                    reason = f"media not found: {wanted}"
                elif isinstance(ref, otio.schema.MissingReference) and ref.name:
                    reason = f"clip has no media reference ({ref.name})"
                else:
                    reason = "clip has no media reference"
        try:
            available = _span(getattr(ref, "available_range", None))
        except Exception:  # noqa: BLE001
            available = None
        refs.append(ClipRef(key, clip.name or key, path, source, available, reason))
    return refs
