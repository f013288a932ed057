"""The format registry: every timeline format we read or write, declared once.

Each ``Format`` says its ``--format`` name, the suffixes it owns, the OTIO adapter that reads and writes it,
the writer options the CLI offers for it, and whether it makes one file per video track. The CLI builds its
help and options from here; ``timeline.read_timeline`` finds readers here; ``write_outputs`` plans and writes
files from here. Adding a format is one adapter module in ``adapters/`` plus one entry below and its line in
``adapters/plugin_manifest.json`` (a test keeps the two in step).

Formats not listed (AAF, ALE, otioz ...) are still read and written through whatever OTIO adapter owns the
suffix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio
from cinemanet_edit_adapters import edl, fcpxml

from .errors import CinemanetError
from .files import atomic_write, atomic_write_via, write_bundle
from .layout import Layout, layout
from .types import WriterOption


@dataclass(frozen=True)
class Format:
    name: str  # the --format value
    title: str  # for messages
    adapter: str  # OTIO adapter name
    suffixes: tuple[str, ...]
    reads: bool = True  # our entry also reads it (else OTIO's adapter for the suffix, if any)
    writes: bool = True
    per_track: bool = False  # one file per video track: cut.edl, cut.V2.edl ...
    options: tuple[WriterOption, ...] = ()  # declared by the adapter (its OPTIONS)
    summary: str = ""  # one phrase for the -o help
    pictures: bool = False  # its writer takes the analysed frames as JPEGs (option ``thumbnails``)


FORMATS: tuple[Format, ...] = (
    Format("otio", "OTIO", "otio_json", (".otio",), summary="OpenTimelineIO, everything"),
    Format("fcpxml", "FCPXML", "cinemanet_fcpxml", (".fcpxml", ".fcpxmld"), summary="Final Cut Pro, Resolve",
           options=fcpxml.OPTIONS),
    Format("edl", "EDL", "cinemanet_edl", (".edl",), per_track=True, summary="CMX 3600 for Avid and Resolve, one "
           "file per video track", options=edl.OPTIONS),
    Format("xml", "FCP7 XML", "cinemanet_xmeml", (".xml",), summary="FCP7 XML for Premiere and Resolve"),
    Format("ale", "ALE", "cinemanet_ale", (".ale",), reads=False, summary="Avid Log Exchange, labels as bin "
           "columns"),
    Format("html", "HTML report", "cinemanet_html", (".html",), reads=False, pictures=True,
           summary="a page of cards with the analysed frames, filters and the shot-size chart"),
    Format("csv", "CSV report", "cinemanet_csv", (".csv",), reads=False, summary="sidecar report"),
    Format("json", "JSON report", "cinemanet_json", (".json",), reads=False, summary="sidecar report"),
)


def by_name(name: str) -> Format | None:
    """A format by its --format name or adapter name."""
    return next((f for f in FORMATS if name in (f.name, f.adapter)), None)


def by_suffix(path: Path, writing: bool) -> Format | None:
    suffix = Path(path).suffix.lower()
    return next((f for f in FORMATS if suffix in f.suffixes and (f.writes if writing else f.reads)), None)


def _otio_adapter(path: Path) -> str | None:
    try:
        return otio.adapters.from_filepath(str(path)).name
    except Exception:  # noqa: BLE001 - OTIO raises NoKnownAdapterForExtensionError and plugin errors
        return None


def reader_for(path: Path, format_name: str | None = None) -> str | None:
    """The adapter that reads ``path``: the one named, ours for the suffix, else OTIO's; None if none."""
    if format_name:
        known = by_name(format_name)
        return known.adapter if known else format_name
    known = by_suffix(path, writing=False)
    return known.adapter if known else _otio_adapter(path)


def writer_for(path: Path, format_name: str | None = None) -> str:
    """The adapter that writes ``path`` (the format named, else by suffix); a one-line error when none does."""
    if format_name:
        known = by_name(format_name)
        if known is not None and known.writes:
            return known.adapter
        name = format_name
        try:
            otio.adapters.from_name(name)
        except Exception:  # noqa: BLE001 - OTIO's NotSupportedError
            names = ", ".join(f.name for f in FORMATS if f.writes)
            raise CinemanetError(f"unknown format {format_name!r} ({names})") from None
        return name
    known = by_suffix(path, writing=True)
    name = known.adapter if known else _otio_adapter(path)
    if name is None:
        raise CinemanetError(f"{path}: unknown output format {Path(path).suffix!r} (use --format)")
    return name


def title_of(adapter: str) -> str:
    known = by_name(adapter)
    return known.title if known else adapter


def writer_options() -> list[tuple[Format, WriterOption]]:
    return [(f, o) for f in FORMATS for o in f.options]


def check_formats(outputs: list[Path], format_name: str | None = None) -> None:
    """Fail before any analysis when an output's format is unknown."""
    for path in outputs:
        writer_for(Path(path), format_name)


def planned_outputs(timeline: otio.schema.Timeline, outputs: list[Path], format_name: str | None = None,
                    writer_args: dict[str, dict] | None = None,
                    cut: Layout | None = None) -> list[tuple[Path, str, dict]]:
    """Every file the outputs make, with its adapter and options; a per-track format gets one file per video
    track. Two outputs that would make the same file are refused."""
    planned: list[tuple[Path, str, dict]] = []
    for path in map(Path, outputs):
        name = writer_for(path, format_name)
        args = dict((writer_args or {}).get(name, {}))
        known = by_name(name)
        if known is not None and known.per_track:
            cut = cut or layout(timeline)
            for number in range(1, max(1, len(cut.video)) + 1):
                target = path if number == 1 else path.with_name(f"{path.stem}.V{number}{path.suffix}")
                planned.append((target, name, dict(args, track=number)))
        else:
            planned.append((path, name, args))
    seen: set[Path] = set()
    for target, _name, _args in planned:
        key = target.resolve()
        if key in seen:
            raise CinemanetError(f"{target}: written twice by this run (two outputs, or an EDL's extra track files)")
        seen.add(key)
    return planned


def renderer(adapter_name: str) -> Callable[..., str] | None:
    """Our adapter's ``render(cut, **options)``; None for an adapter of someone else's (it takes a timeline)."""
    if by_name(adapter_name) is None:
        return None
    return getattr(otio.adapters.from_name(adapter_name).module(), "render", None)


def write_timeline(timeline: otio.schema.Timeline, path: Path, adapter_name: str, options: dict | None = None,
                   cut: Layout | None = None) -> None:
    """Write one file whole or not at all: ours render the cut's layout (``cut``, computed here when not given);
    any other OTIO adapter writes the timeline."""
    path, options = Path(path), options or {}
    render = renderer(adapter_name)
    try:
        if render is not None:
            _write_text(path, render(cut or layout(timeline), **options))
            return
        timeline = with_available_ranges(timeline)  # what several OTIO writers need
        if otio.adapters.from_name(adapter_name).has_feature("write_to_string"):
            _write_text(path, otio.adapters.write_to_string(timeline, adapter_name, **options))
        else:
            atomic_write_via(path, lambda tmp: otio.adapters.write_to_file(timeline, str(tmp),
                                                                           adapter_name=adapter_name, **options))
    except OSError as exc:
        raise CinemanetError(f"cannot write {path}: {exc.strerror or exc}") from None
    except CinemanetError:
        raise
    except Exception as exc:  # noqa: BLE001 - an adapter can raise anything
        raise CinemanetError(f"cannot write {title_of(adapter_name)}: {' '.join(str(exc).split())[:300]}") from None


def _write_text(path: Path, text: str) -> None:
    """The one write path of a rendered document: a ``.fcpxmld`` bundle (a folder holding Info.fcpxml) is
    swapped in whole, any other file written atomically."""
    if path.suffix.lower() == ".fcpxmld":
        write_bundle(path, {"Info.fcpxml": text.encode("utf-8")})
    else:
        atomic_write(path, text.encode("utf-8"))


def with_available_ranges(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy in which every media reference without an ``available_range`` has its clip's source range:
    OTIO's FCP7 XML writer (and others) cannot write a clip whose media is missing otherwise. Our own files keep
    only what was measured."""
    copy = timeline.deepcopy()
    for clip in copy.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ExternalReference) and ref.available_range is None and clip.source_range:
            ref.available_range = clip.source_range
    return copy


def write_outputs(timeline: otio.schema.Timeline, outputs: list[Path], format_name: str | None = None,
                  writer_args: dict[str, dict] | None = None, cut: Layout | None = None) -> list[Path]:
    """Write every output (see ``planned_outputs``), each of ours from the same layout (``cut``, computed once
    here when not given). One failing writer does not stop the others; returns the files written."""
    written, failures = [], []
    cut = cut or layout(timeline)
    for target, name, args in planned_outputs(timeline, outputs, format_name, writer_args, cut):
        try:
            write_timeline(timeline, target, name, args, cut)
            written.append(target)
        except CinemanetError as exc:  # keep going: the other outputs still hold the results
            failures.append(f"{target}: {exc}")
    if failures:
        done = f" (written: {', '.join(str(p) for p in written)})" if written else ""
        raise CinemanetError("; ".join(failures) + done)
    return written
