"""CMX 3600 EDL: one file per video track with our labels as locators, and a reader for what NLEs write.

``style="avid"``: one event per clip (reel name if the clip's reel is a valid one, else ``AX`` plus
``* FROM CLIP NAME``), ``* SOURCE FILE`` for relinking, and per label a Media Composer locator
``* LOC: <record timecode> <COLOUR> <text>``. Locators carry RECORD (sequence) timecode, which is what Media
Composer imports and what DaVinci Resolve reads as timeline markers; ours sit on the clip's first frames,
one frame apart (a frame holds one locator), other markers on their own frame. The first file also holds
the audio tracks' events (``A``, ``A2`` ...).

``style="resolve"``: the timeline-marker EDL that Resolve's "Import Timeline Markers from EDL" reads: per
clip one one-frame event followed by ``|C:ResolveColor<Colour> |M:<labels> |D:<clip length in frames>``.

Clips are placed by ``cinemanet_edit.layout`` (nested stacks flattened, every clip kept). Source timecodes
count frames of the EDL's rate, whatever the media's rate, so source and record durations are equal. The
timecode mode is the input's (``FCM:``), else drop-frame at 29.97 and 59.94; ``;`` marks drop-frame.

The reader takes CMX 3600 as NLEs write it: byte-order marks, CR or CRLF line ends, drop-frame from
``FCM:`` or ``;``, a dissolve as the first event, ``* FROM CLIP NAME`` / ``* SOURCE FILE`` for relinking,
Avid ``* LOC`` locators and Resolve ``|C: |M: |D:`` marker lines (both as markers on the clip under them).
"""

from __future__ import annotations

import re

import opentimelineio as otio
from cinemanet_edit_adapters import EDLError

from cinemanet_edit import timecode
from cinemanet_edit.layout import Layout, PlacedClip, layout
from cinemanet_edit.sanitize import one_line
from cinemanet_edit.schema import ordered_categories, set_drop_frame, set_reader_warnings
from cinemanet_edit.taxonomy import AVID_COLORS, RESOLVE_COLORS
from cinemanet_edit.types import WriterOption

RT = otio.opentime.RationalTime
REEL = re.compile(r"^[A-Za-z0-9_]{1,8}$")


def _reel(placed: PlacedClip) -> str:
    reel = placed.media.reel if placed.media is not None else None
    return reel if reel and REEL.match(reel) else "AX"


def _clean(text: str) -> str:
    return " ".join(one_line(text).split())


def _ordered(placed: PlacedClip):
    """Our markers (cinematography first), then everyone else's in time order."""
    ours = {m.category: m for m in placed.markers if m.category}
    others = sorted((m for m in placed.markers if not m.category), key=lambda m: m.offset)
    return [ours[c] for c in ordered_categories(ours)], others


def _channel(kind: str, track: int) -> str:
    if kind == "video":
        return "V"
    return "A" if track == 1 else f"A{track}"


OPTIONS = (WriterOption("--edl-style", "style", "EDL: avid (events with * LOC locators) or resolve (timeline-marker "
                        "EDL)", ("avid", "resolve"), "avid"),)


def write_to_string(input_otio, style: str = "avid", track: int = 1, title: str | None = None,
                    drop_frame: bool | None = None) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout."""
    return render(layout(input_otio), style, track, title, drop_frame)


def render(cut: Layout, style: str = "avid", track: int = 1, title: str | None = None,
           drop_frame: bool | None = None) -> str:
    """The EDL of video track ``track`` (1-based, nested stacks flattened as in ``layout``); the first file also
    carries the audio tracks' events (channels A, A2, A3 ...). Source timecodes count frames of the EDL's own
    rate and timecode mode, so source and record durations agree."""
    if style not in ("avid", "resolve"):
        raise EDLError("style must be 'avid' or 'resolve'")
    if drop_frame is not None:
        cut = cut.with_drop_frame(str(drop_frame).lower() in ("1", "true", "yes"))
    if not 1 <= int(track) <= max(1, len(cut.video)):
        raise EDLError(f"the timeline has {len(cut.video)} video tracks")
    rate, drop = cut.rate, cut.drop_frame
    video = cut.video[int(track) - 1] if cut.video else ()
    lines = [f"TITLE: {_clean(title or cut.name or 'cinemanet-edit')}",
             f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]

    def tc(frames: int) -> str:
        return timecode.render(frames, rate, drop_frame=drop)

    event = 0
    if style == "resolve":
        for placed in video:
            ours, _others = _ordered(placed)
            if not ours:
                continue
            # Resolve keys timeline markers by frame: one marker per clip, spanning it, naming every label.
            event += 1
            r_in = placed.record_in
            lines.append(f"{event:03d}  001      V     C        {tc(r_in)} {tc(r_in + 1)} {tc(r_in)} {tc(r_in + 1)}  ")
            color = RESOLVE_COLORS.get(ours[0].color.upper(), "Blue")
            name = ", ".join(_clean(m.name.split(": ", 1)[-1]).replace("|", "/") for m in ours)
            lines.append(f" |C:ResolveColor{color} |M:{name} |D:{max(1, placed.duration)}")
            lines.append("")
        return "\n".join(lines) + "\n"

    events = list(video)
    if int(track) == 1:
        events += [c for t in cut.audio for c in t]
    events.sort(key=lambda c: (c.record_in, c.kind != "video", c.track))
    for placed in events:
        event += 1
        s_in, s_out = placed.source_on(rate)
        channel = _channel(placed.kind, placed.track)
        lines.append(f"{event:03d}  {_reel(placed):<8} {channel:<5} C        {tc(s_in)} {tc(s_out)} "
                     f"{tc(placed.record_in)} {tc(placed.record_out)}")
        lines.append(f"* FROM CLIP NAME: {_clean(placed.name)}")
        if placed.media is not None and placed.media.path:
            lines.append(f"* SOURCE FILE: {one_line(placed.media.path)}")
        if placed.kind != "video":
            lines.append("")
            continue
        ours, others = _ordered(placed)
        # One locator per category on successive frames from the clip's first (a frame holds one locator),
        # then everyone else's markers on their own frames.
        for i, marker in enumerate(ours[: max(1, placed.duration)]):
            color = AVID_COLORS.get(marker.color.upper(), "BLUE")
            lines.append(f"* LOC: {tc(placed.record_in + i)} {color:<7} {_clean(marker.name)}")
        for marker in others:
            color = AVID_COLORS.get(marker.color.upper(), "RED")
            lines.append(f"* LOC: {tc(placed.record_in + marker.offset)} {color:<7} {_clean(marker.name)}")
        lines.append("")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- reader

EVENT = re.compile(r"^(\d{1,6})\s+(\S+)\s+(\S+)\s+(C|D|W\d*|K\s*B?|K\s*O?)\s*(\d{0,4})\s+"
                   r"(\d\d[:;.]\d\d[:;.]\d\d[:;.,]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.,]\d\d)\s+"
                   r"(\d\d[:;.]\d\d[:;.]\d\d[:;.,]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.,]\d\d)")
LOC = re.compile(r"^\*\s*LOC:\s*(\S+)\s+(\w+)\s*(.*)$")
RESOLVE_MARKER = re.compile(r"\|C:ResolveColor(\w+)\s*\|M:(.*?)\s*\|D:(\d+)")
BLACK = {"BL", "BLK", "BLACK"}
FILE_NAME = re.compile(r"^[^/\\:*?\"<>|]+\.(mov|mp4|m4v|mxf|mkv|avi|mpg|mpeg|mts|m2ts|r3d|braw|ari|dng|exr|dpx|"
                       r"tif|tiff|jpg|jpeg|png|webm|wav)$", re.IGNORECASE)
COLORS_BACK = {v.upper(): k for k, v in RESOLVE_COLORS.items()}


def decode_text(data: bytes) -> str:
    """EDLs come as UTF-8 or in an old single-byte code page (Avid on Windows writes cp1252)."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def read_from_file(filepath, rate: float = 24.0) -> otio.schema.Timeline:
    """Read an EDL file whatever its text encoding."""
    with open(filepath, "rb") as f:
        return read_from_string(f.read(), rate=rate)


def read_from_string(input_str, rate: float = 24.0) -> otio.schema.Timeline:
    """Parse a CMX 3600 EDL: video events become clips on one track, gaps where the record jumps."""
    text = decode_text(input_str) if isinstance(input_str, bytes) else input_str
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    title, drop, events = _parse(text)
    rate, use_drop = _rate_and_mode(events, float(rate), drop)

    def frames(tc: str) -> int:
        return timecode.parse(tc, rate, drop_frame=(";" in tc or use_drop) if round(rate) in (30, 60)
                              and timecode.is_ntsc(rate) else False)

    timeline = otio.schema.Timeline(name=title)
    set_drop_frame(timeline, use_drop and timecode.is_ntsc(rate) and round(rate) % 30 == 0)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    if not events:
        raise EDLError("no events: not a CMX 3600 EDL (or an empty one)")
    warnings = _place_events(events, track, timeline, rate, frames)
    if warnings:
        set_reader_warnings(timeline, warnings)
    return timeline


def _parse(text: str) -> tuple[str, bool | None, list[dict]]:
    """(title, drop-frame as FCM: says it or None, the events with their names, files and locators)."""
    drop = None
    title = ""
    events: list[dict] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper.startswith("TITLE:"):
            title = line.split(":", 1)[1].strip()
        elif upper.startswith("FCM:"):
            drop = "NON" not in upper and "DROP" in upper
        elif (m := EVENT.match(line)) is not None:
            number, reel, channels, trans, _dur, s_in, s_out, r_in, r_out = m.groups()
            events.append({"number": int(number), "reel": reel, "channels": channels.upper(),
                           "trans": trans, "tc": (s_in, s_out, r_in, r_out), "name": "", "file": None,
                           "locators": [], "comments": []})
        elif events and (line.startswith("*") or upper.startswith(("FROM CLIP NAME:", "TO CLIP NAME:"))):
            _comment(events[-1], line)
        elif events and (rm := RESOLVE_MARKER.search(line)) is not None:
            color = COLORS_BACK.get(rm.group(1).upper(), "BLUE")
            events[-1]["locators"].append((events[-1]["tc"][2], color, rm.group(2).strip(), int(rm.group(3))))
    return title, drop, events


def _comment(event: dict, line: str) -> None:
    """A comment line under an event: its clip name, its source file, an Avid locator, or a plain comment."""
    body = line.lstrip("*").strip()
    key = body.upper()
    if key.startswith("FROM CLIP NAME:"):
        if not event["name"]:  # a dissolve names its incoming clip with TO CLIP NAME
            event["name"] = body.split(":", 1)[1].strip()
    elif key.startswith("TO CLIP NAME:"):
        event["name"] = body.split(":", 1)[1].strip()
    elif key.startswith(("SOURCE FILE:", "FROM CLIP:", "FROM FILE:")):  # Resolve/Premiere; Avid
        event["file"] = body.split(":", 1)[1].strip()
        event["comments"].append(body)
    elif (loc := LOC.match(line)) is not None:
        event["locators"].append((loc.group(1), loc.group(2).upper(), loc.group(3).strip(), 1))
    else:
        event["comments"].append(body)


def _rate_and_mode(events: list[dict], rate: float, drop: bool | None) -> tuple[float, bool]:
    """The EDL's rate and whether it counts drop-frame: FCM: or a ``;`` in any timecode says drop-frame, which
    exists only at 29.97 and 59.94 (frame numbers above 29 mean 59.94)."""
    use_drop = bool(drop) or any(";" in t for e in events for t in e["tc"])
    if use_drop and round(rate) not in (30, 60):
        top = max((int(t[-2:]) for e in events for t in e["tc"]), default=0)
        rate = 60 if top > 29 else 30
    if use_drop and not timecode.is_ntsc(rate):
        rate = round(rate) * 1000 / 1001
    return rate, use_drop


def _place_events(events: list[dict], track, timeline, rate: float, frames) -> list[str]:
    """The video events as clips (gaps where the record jumps, black as gaps); returns what was skipped."""
    position = None
    warnings = []
    for event in events:
        if "V" not in event["channels"] and event["channels"] != "B":
            continue  # audio-only events
        s_in, s_out, r_in, r_out = (frames(t) for t in event["tc"])
        if r_out < r_in or s_out < s_in:
            warnings.append(f"EDL event {event['number']:03d} skipped: its out point is before its in point")
            continue
        if position is None:
            position = r_in
            timeline.global_start_time = RT(r_in, rate)
        if r_out <= r_in:
            continue  # the zero-length "from" half of a dissolve
        if r_in > position:
            track.append(otio.schema.Gap(duration=RT(r_in - position, rate)))
        elif r_in < position:  # overlaps (dissolve pairs): keep the later event's visible part
            s_in += position - r_in
            r_in = position
            if r_out <= r_in:
                continue
        if event["reel"].upper() in BLACK:
            track.append(otio.schema.Gap(duration=RT(r_out - r_in, rate)))
        else:
            track.append(_clip(event, s_in, r_in, r_out, rate, frames))
        position = r_out
    return warnings


def _clip(event: dict, s_in: int, r_in: int, r_out: int, rate: float, frames) -> otio.schema.Clip:
    """One event's clip: its media by source file, else by a clip name that is a file name; its locators."""
    name = event["name"] or event["reel"]
    if event["file"]:
        ref = otio.schema.ExternalReference(target_url=event["file"])
    elif FILE_NAME.match(event["name"]):  # the clip name is a file name: relink by it
        ref = otio.schema.ExternalReference(target_url=event["name"])
    else:
        ref = otio.schema.MissingReference(name=name)
    clip = otio.schema.Clip(name=name, media_reference=ref,
                            source_range=otio.opentime.TimeRange(RT(s_in, rate), RT(r_out - r_in, rate)))
    clip.metadata["cmx_3600"] = {"reel": event["reel"], "comments": event["comments"]}
    for loc_tc, color, text_, duration in event["locators"]:
        offset = frames(loc_tc) - r_in
        if 0 <= offset < r_out - r_in:
            clip.markers.append(otio.schema.Marker(
                name=text_, color=color if color in otio.schema.MarkerColor.__dict__ else "RED",
                marked_range=otio.opentime.TimeRange(RT(s_in + offset, rate), RT(duration, rate))))
    return clip
