"""Timelines in and out: read any format OTIO reads (or a bare media file), list the video clips to
analyse with their media files, and write the annotated timeline atomically.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import opentimelineio as otio

from .errors import CinemanetError
from .layout import layout
from .types import ClipRef

MEDIA_SUFFIXES = {
    ".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m2ts", ".mts", ".ts",
    ".dv", ".ogv", ".wmv", ".flv", ".3gp", ".r3d", ".braw", ".mj2",
}


MAX_TIMELINE_BYTES = 200 * 2**20
# Input suffixes our own readers own (they handle NTSC rates, drop-frame, bundles and NLE quirks).
OUR_READERS = {".edl": "cinemanet_edl", ".fcpxml": "fcpxml", ".fcpxmld": "fcpxml", ".xml": "cinemanet_xmeml"}
READER_TITLES = {"cinemanet_edl": "EDL", "fcpxml": "FCPXML", "cinemanet_xmeml": "FCP7 XML"}


def _adapter_for(path: Path, format_name: str | None = None, reading: bool = False) -> str | None:
    if format_name:
        return format_name
    if reading and path.suffix.lower() in OUR_READERS:
        return OUR_READERS[path.suffix.lower()]
    try:
        return otio.adapters.from_filepath(str(path)).name
    except Exception:  # noqa: BLE001 - OTIO raises NoKnownAdapterForExtensionError and plugin errors
        return None


def media_timeline(path: Path) -> otio.schema.Timeline:
    """A one-clip timeline over a bare media file, starting at the file's own start timecode."""
    from .decode import probe

    media = probe(path)
    rate = float(media.rate)
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(media.start_frame, rate), otio.opentime.RationalTime(media.frame_count, rate))
    ref = otio.schema.ExternalReference(target_url=path.resolve().as_uri(), available_range=available)
    clip = otio.schema.Clip(name=path.stem, media_reference=ref)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video, children=[clip])
    timeline = otio.schema.Timeline(name=path.stem)
    timeline.tracks.append(track)
    timeline.global_start_time = available.start_time
    return timeline


def read_timeline(path: Path, format_name: str | None = None, **adapter_args) -> otio.schema.Timeline:
    """Read a timeline (OTIO, EDL, FCP7 XML, FCPXML ...) or wrap a bare media file; one-line errors."""
    path = Path(path)
    if not path.exists():
        raise CinemanetError(f"{path}: no such file")
    adapter = _adapter_for(path, format_name, reading=True)
    if adapter is not None and path.is_file() and path.stat().st_size > MAX_TIMELINE_BYTES:
        raise CinemanetError(f"{path}: {path.stat().st_size // 2**20} MB is too large for a timeline")
    if adapter is None:
        if path.suffix.lower() in MEDIA_SUFFIXES:
            return media_timeline(path)
        raise CinemanetError(f"{path}: unknown timeline format {path.suffix!r} (use --input-format)")
    if "rate" in adapter_args:  # only EDLs carry no rate of their own
        rate = adapter_args.pop("rate")
        if adapter in ("cmx_3600", "cinemanet_edl") and rate:
            from .timecode import exact_rate

            adapter_args["rate"] = float(exact_rate(rate))
    if "project" in adapter_args and adapter != "fcpxml":
        raise CinemanetError("--project applies to FCPXML input only")
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **adapter_args)
    except Exception as exc:  # noqa: BLE001 - adapters raise anything from ValueError to KeyError
        message = " ".join(str(exc).split()) or type(exc).__name__
        title = READER_TITLES.get(adapter, adapter)
        raise CinemanetError(f"{path}: cannot read as {title}: {message[:300]}") from None
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline, shallow_search=True))
        if not timelines:
            raise CinemanetError(f"{path}: contains no timeline")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise CinemanetError(f"{path}: holds a {type(result).__name__}, not a timeline")
    return result


def write_timeline(timeline: otio.schema.Timeline, path: Path, format_name: str | None = None,
                   writer_args: dict[str, dict] | None = None) -> None:
    """Write atomically: the whole document goes to a temporary file beside ``path``, then is renamed.

    ``writer_args`` maps an adapter name to the keyword arguments it takes (e.g. fcpxml_version)."""
    path = Path(path)
    adapter_name = _adapter_for(path, format_name)
    if adapter_name is None:
        raise CinemanetError(f"{path}: unknown output format {path.suffix!r} (use --format)")
    adapter = otio.adapters.from_name(adapter_name)
    options = (writer_args or {}).get(adapter_name, {})
    if adapter.has_feature("write_to_string"):
        try:
            text = otio.adapters.write_to_string(timeline, adapter_name, **options)
        except Exception as exc:  # noqa: BLE001
            raise CinemanetError(f"cannot write {adapter_name}: {' '.join(str(exc).split())[:300]}") from None
        if path.suffix.lower() == ".fcpxmld":  # a bundle: a folder holding Info.fcpxml, swapped in whole
            folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
            (folder / "Info.fcpxml").write_text(text, encoding="utf-8")
            if path.is_dir():
                shutil.rmtree(path)
            os.replace(folder, path)
        else:
            atomic_write(path, text.encode("utf-8"))
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent or ".")
    os.close(fd)
    try:
        otio.adapters.write_to_file(timeline, tmp, adapter_name=adapter_name, **options)
        os.replace(tmp, path)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, CinemanetError):
            raise
        raise CinemanetError(f"cannot write {adapter_name}: {exc}") from None


# Output suffixes our own writers own, whatever else is installed.
OUR_WRITERS = {".fcpxml": "fcpxml", ".fcpxmld": "fcpxml", ".edl": "cinemanet_edl", ".xml": "cinemanet_xmeml",
               ".csv": "cinemanet_csv", ".json": "cinemanet_json"}


# --format names (and any OTIO adapter name) -> the adapter that writes them.
FORMATS = {"otio": "otio_json", "fcpxml": "fcpxml", "edl": "cinemanet_edl", "xml": "cinemanet_xmeml",
           "csv": "cinemanet_csv", "json": "cinemanet_json"}


def check_formats(outputs: list[Path], format_name: str | None = None) -> None:
    """Fail before any analysis when an output's format is unknown."""
    for path in outputs:
        if format_name:
            try:
                otio.adapters.from_name(FORMATS.get(format_name, format_name))
            except Exception:  # noqa: BLE001 - OTIO's NotSupportedError
                raise CinemanetError(f"unknown format {format_name!r} (otio, fcpxml, edl, xml, csv, json)") from None
        elif OUR_WRITERS.get(Path(path).suffix.lower()) is None and _adapter_for(Path(path)) is None:
            raise CinemanetError(f"{path}: unknown output format {Path(path).suffix!r} (use --format)")


def planned_outputs(timeline: otio.schema.Timeline, outputs: list[Path], format_name: str | None = None,
                    writer_args: dict[str, dict] | None = None) -> list[tuple[Path, str, dict]]:
    """Every file the outputs make, with its adapter and options: an EDL gets one file per video track
    (``cut.edl``, ``cut.V2.edl`` ...). Two outputs that would make the same file are refused."""
    planned: list[tuple[Path, str, dict]] = []
    format_name = FORMATS.get(format_name, format_name) if format_name else None
    for path in outputs:
        path = Path(path)
        name = format_name or OUR_WRITERS.get(path.suffix.lower()) or _adapter_for(path)
        args = dict((writer_args or {}).get(name, {}))
        if name == "cinemanet_edl":
            for number in range(1, max(1, len(layout(timeline).video)) + 1):
                target = path if number == 1 else path.with_name(f"{path.stem}.V{number}{path.suffix}")
                planned.append((target, name, dict(args, track=number)))
        else:
            planned.append((path, name, args))
    seen: dict[Path, Path] = {}
    for target, _name, _args in planned:
        key = target.resolve()
        if key in seen:
            raise CinemanetError(f"{target}: written twice by this run (two outputs, or an EDL's extra track files)")
        seen[key] = target
    return planned


def write_outputs(timeline: otio.schema.Timeline, outputs: list[Path], format_name: str | None = None,
                  writer_args: dict[str, dict] | None = None) -> list[Path]:
    """Write every output (the format from ``format_name`` or each suffix, see ``planned_outputs``). One
    failing writer does not stop the others. Returns the files written."""
    written, failures = [], []
    for target, name, args in planned_outputs(timeline, outputs, format_name, writer_args):
        try:
            write_timeline(timeline, target, name, {name: args})
            written.append(target)
        except CinemanetError as exc:  # keep going: the other outputs still hold the results
            failures.append(f"{target}: {exc}")
    if failures:
        done = f" (written: {', '.join(str(p) for p in written)})" if written else ""
        raise CinemanetError("; ".join(failures) + done)
    return written


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``: readers never see a
    half-written file. The file gets the usual permissions (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    @staticmethod
    def url_to_path(url: str) -> Path:
        if "://" in url or url.startswith("file:"):
            parsed = urlparse(url)
            if parsed.scheme not in ("file", ""):
                return Path(unquote(parsed.path))
            local = url2pathname(unquote(parsed.path)) if os.name == "nt" else unquote(parsed.path)
            if parsed.netloc and parsed.netloc not in ("localhost",):
                local = f"//{parsed.netloc}{local}"
            return Path(local)
        return Path(url)

    def resolve(self, url: str | None, names: tuple[str, ...] = ()) -> tuple[Path | None, str]:
        """(existing path or None, what was looked for)."""
        candidates: list[Path] = []
        wanted = ""
        if url:
            path = self.url_to_path(url)
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
                raw = self.url_to_path(url)
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


def clip_refs(timeline: otio.schema.Timeline, resolver: MediaResolver) -> list[ClipRef]:
    """Every video clip in timeline order (nested stacks included), with its media file or a skip reason."""
    refs = []
    global_start = timeline.global_start_time
    for key, clip in _walk(timeline.tracks):
        try:
            record = clip.transformed_time(clip.trimmed_range().start_time, timeline.tracks)
            if global_start is not None:
                record = global_start + record.rescaled_to(global_start.rate)
        except Exception:  # noqa: BLE001 - a clip without range has no record time
            record = None
        ref = clip.media_reference
        path = reason = None
        if isinstance(ref, otio.schema.GeneratorReference):
            reason = "generator (no media)"
        elif isinstance(ref, otio.schema.ImageSequenceReference):
            reason = "image sequences are not supported yet"
        else:
            url = ref.target_url if isinstance(ref, otio.schema.ExternalReference) else _source_file(clip)
            path, wanted = resolver.resolve(url, _reference_names(clip) if resolver.media_roots else ())
            if path is None:
                reason = f"media not found: {wanted}" if wanted else "clip has no media reference"
        refs.append(ClipRef(key, clip.name or key, clip, path, record, reason))
    return refs
