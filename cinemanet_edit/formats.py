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

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio
from cinemanet_edit_adapters.fcpxml import DEFAULT_VERSION as FCPXML_DEFAULT_VERSION
from cinemanet_edit_adapters.fcpxml import VERSIONS as FCPXML_VERSIONS

from .errors import CinemanetError
from .files import atomic_write, write_bundle
from .layout import layout, reused


@dataclass(frozen=True)
class Option:
    """A writer option: the CLI flag and the adapter keyword it fills."""

    flag: str  # "--fcpxml-version"
    keyword: str  # "fcpxml_version"
    help: str
    choices: tuple[str, ...] | None = None
    default: Any = None
    switch: bool = False  # a flag without a value (store_true)


@dataclass(frozen=True)
class Format:
    name: str  # the --format value
    title: str  # for messages
    adapter: str  # OTIO adapter name
    suffixes: tuple[str, ...]
    reads: bool = True  # our entry also reads it (else OTIO's adapter for the suffix, if any)
    writes: bool = True
    per_track: bool = False  # one file per video track: cut.edl, cut.V2.edl ...
    options: tuple[Option, ...] = ()
    summary: str = ""  # one phrase for the -o help
    writer: str | None = None  # "module:function" writing (timeline, path) itself, for formats that need more
    #                            than OTIO and lxml (the HTML report decodes thumbnails), so no OTIO adapter



FORMATS: tuple[Format, ...] = (
    Format("otio", "OTIO", "otio_json", (".otio",), summary="OpenTimelineIO, everything"),
    Format("fcpxml", "FCPXML", "fcpxml", (".fcpxml", ".fcpxmld"), summary="Final Cut Pro, Resolve", options=(
        Option("--fcpxml-version", "fcpxml_version", "FCPXML version to write (default 1.10: Final Cut Pro 10.6+ "
               "and Resolve 18+ import it)", FCPXML_VERSIONS, FCPXML_DEFAULT_VERSION),
        Option("--chapter-markers", "chapter_markers", "FCPXML: also a chapter marker per clip", switch=True,
               default=False))),
    Format("edl", "EDL", "cinemanet_edl", (".edl",), per_track=True, summary="CMX 3600 for Avid and Resolve, one "
           "file per video track", options=(
               Option("--edl-style", "style", "EDL: avid (events with * LOC locators) or resolve (timeline-marker "
                      "EDL)", ("avid", "resolve"), "avid"),)),
    Format("xml", "FCP7 XML", "cinemanet_xmeml", (".xml",), summary="FCP7 XML for Premiere and Resolve"),
    Format("ale", "ALE", "cinemanet_ale", (".ale",), reads=False, summary="Avid Log Exchange, labels as bin "
           "columns"),
    Format("html", "HTML report", "cinemanet_html", (".html",), reads=False,
           writer="cinemanet_edit.report:write_report",
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


def writer_options() -> list[tuple[Format, Option]]:
    return [(f, o) for f in FORMATS for o in f.options]


def check_formats(outputs: list[Path], format_name: str | None = None) -> None:
    """Fail before any analysis when an output's format is unknown."""
    for path in outputs:
        writer_for(Path(path), format_name)


def planned_outputs(timeline: otio.schema.Timeline, outputs: list[Path], format_name: str | None = None,
                    writer_args: dict[str, dict] | None = None) -> list[tuple[Path, str, dict]]:
    """Every file the outputs make, with its adapter and options; a per-track format gets one file per video
    track. Two outputs that would make the same file are refused."""
    planned: list[tuple[Path, str, dict]] = []
    for path in map(Path, outputs):
        name = writer_for(path, format_name)
        args = dict((writer_args or {}).get(name, {}))
        known = by_name(name)
        if known is not None and known.per_track:
            for number in range(1, max(1, len(layout(timeline).video)) + 1):
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


def write_timeline(timeline: otio.schema.Timeline, path: Path, adapter_name: str, options: dict | None = None) -> None:
    """Write one file atomically: the whole document goes to a temporary file beside ``path``, then is renamed
    (a ``.fcpxmld`` bundle folder is swapped in whole)."""
    path = Path(path)
    options = options or {}
    known = by_name(adapter_name)
    if known is not None and known.writer:
        import importlib

        module, function = known.writer.split(":")
        try:
            getattr(importlib.import_module(module), function)(timeline, path, **options)
        except OSError as exc:
            raise CinemanetError(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    adapter = otio.adapters.from_name(adapter_name)
    if known is None:  # another OTIO adapter: give it what several of them need
        timeline = with_available_ranges(timeline)
    if adapter.has_feature("write_to_string"):
        try:
            text = otio.adapters.write_to_string(timeline, adapter_name, **options)
        except Exception as exc:  # noqa: BLE001 - an adapter can raise anything
            raise CinemanetError(f"cannot write {title_of(adapter_name)}: {' '.join(str(exc).split())[:300]}") \
                from None
        try:
            if path.suffix.lower() == ".fcpxmld":  # a bundle: a folder holding Info.fcpxml
                write_bundle(path, {"Info.fcpxml": text.encode("utf-8")})
            else:
                atomic_write(path, text.encode("utf-8"))
        except OSError as exc:
            raise CinemanetError(f"cannot write {path}: {exc.strerror or exc}") from None
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
        raise CinemanetError(f"cannot write {title_of(adapter_name)}: {exc}") from None


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
                  writer_args: dict[str, dict] | None = None) -> list[Path]:
    """Write every output (see ``planned_outputs``). One failing writer does not stop the others; returns the
    files written."""
    written, failures = [], []
    with reused():  # every writer places clips from the same layout: compute it once
        for target, name, args in planned_outputs(timeline, outputs, format_name, writer_args):
            try:
                write_timeline(timeline, target, name, args)
                written.append(target)
            except CinemanetError as exc:  # keep going: the other outputs still hold the results
                failures.append(f"{target}: {exc}")
    if failures:
        done = f" (written: {', '.join(str(p) for p in written)})" if written else ""
        raise CinemanetError("; ".join(failures) + done)
    return written
