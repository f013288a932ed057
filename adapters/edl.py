"""CMX 3600 EDL writer for one video track, with our labels as locators (write only).

``style="avid"``: one event per clip (reel name if the clip's reel is a valid one, else ``AX`` plus
``* FROM CLIP NAME``), ``* SOURCE FILE`` for relinking, and per label a Media Composer locator
``* LOC: <record timecode> <COLOUR> <text>``. Locators carry RECORD (sequence) timecode, which is what Media
Composer imports and what DaVinci Resolve reads as timeline markers; they sit on the clip's first frames,
one frame apart (a frame holds one locator).

``style="resolve"``: the timeline-marker EDL that Resolve's "Import Timeline Markers from EDL" reads: per
clip one one-frame event followed by ``|C:ResolveColor<Colour> |M:<labels> |D:<clip length in frames>``.

The reader takes CMX 3600 as NLEs write it: byte-order marks, CR or CRLF line ends, drop-frame from
``FCM:`` or ``;``, a dissolve as the first event, ``* FROM CLIP NAME`` / ``* SOURCE FILE`` for relinking,
Avid ``* LOC`` locators and Resolve ``|C: |M: |D:`` marker lines (both as markers on the clip under them).

29.97 and 59.94 timelines are written drop-frame (``FCM: DROP FRAME``, ``;`` before the frames).
"""

from __future__ import annotations

import re

import opentimelineio as otio

from cinemanet_edit import timecode
from cinemanet_edit.annotate import NAMESPACE, media_path, ordered_categories
from cinemanet_edit.taxonomy import AVID_COLORS, RESOLVE_COLORS

RT = otio.opentime.RationalTime
REEL = re.compile(r"^[A-Za-z0-9_]{1,8}$")


def _frames(t: RT, rate: float) -> int:
    return round(timecode.frames_on_grid(t.value, t.rate, rate))


def _reel(clip: otio.schema.Clip) -> str:
    meta = clip.metadata.get("cmx_3600")
    reel = meta.get("reel") if hasattr(meta, "get") else None
    return reel if isinstance(reel, str) and REEL.match(reel) else "AX"


def _our_markers(clip):
    """(category, marker) of our markers, cinematography first."""
    ours = {m.metadata[NAMESPACE].get("category"): m for m in clip.markers if NAMESPACE in m.metadata}
    return [(c, ours[c]) for c in ordered_categories(ours)]


def _clean(text: str) -> str:
    return " ".join(str(text).replace("|", "/").split())


def write_to_string(input_otio, style: str = "avid", track: int = 1, title: str | None = None) -> str:
    """The EDL of video track ``track`` (1-based) of a timeline."""
    if style not in ("avid", "resolve"):
        raise ValueError("style must be 'avid' or 'resolve'")
    timeline = input_otio
    tracks = timeline.video_tracks()
    if not 1 <= int(track) <= max(1, len(tracks)):
        raise ValueError(f"the timeline has {len(tracks)} video tracks")
    video = tracks[int(track) - 1] if tracks else otio.schema.Track()
    start = timeline.global_start_time
    rate = start.rate if start is not None else next(
        (c.trimmed_range().start_time.rate for c in video.find_clips()), 24.0)
    drop = timecode.is_ntsc(rate) and round(rate) % 30 == 0
    offset = _frames(start, rate) if start is not None else 0
    lines = [f"TITLE: {_clean(title or timeline.name or 'cinemanet-edit')}",
             f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]

    def tc(frames: int, at: float) -> str:
        return timecode.render(frames, at)

    event = 0
    for clip in video.find_clips(shallow_search=True):
        source = clip.trimmed_range()
        record = clip.trimmed_range_in_parent()
        r_in = offset + _frames(record.start_time, rate)
        r_out = r_in + _frames(record.duration, rate)
        available = getattr(clip.media_reference, "available_range", None)
        media_rate = available.start_time.rate if available is not None else source.start_time.rate
        s_in = _frames(source.start_time, media_rate)
        s_out = s_in + _frames(source.duration, media_rate)
        markers = _our_markers(clip)
        if style == "resolve":
            # Resolve keys timeline markers by frame: one marker per clip, spanning it, naming every label.
            if markers:
                event += 1
                lines.append(f"{event:03d}  001      V     C        {tc(r_in, rate)} {tc(r_in + 1, rate)} "
                             f"{tc(r_in, rate)} {tc(r_in + 1, rate)}  ")
                color = RESOLVE_COLORS.get(str(markers[0][1].color).upper(), "Blue")
                name = ", ".join(_clean(m.name.split(": ", 1)[-1]) for _, m in markers)
                lines.append(f" |C:ResolveColor{color} |M:{name} |D:{max(1, r_out - r_in)}")
                lines.append("")
            continue
        event += 1
        lines.append(f"{event:03d}  {_reel(clip):<8} V     C        {tc(s_in, media_rate)} {tc(s_out, media_rate)} "
                     f"{tc(r_in, rate)} {tc(r_out, rate)}")
        lines.append(f"* FROM CLIP NAME: {_clean(clip.name)}")
        path = media_path(clip)
        if path:
            lines.append(f"* SOURCE FILE: {path}")
        # One locator per category, on successive frames from the clip's first (a frame holds one locator).
        for i, (_category, marker) in enumerate(markers[: max(1, r_out - r_in)]):
            color = AVID_COLORS.get(str(marker.color).upper(), "BLUE")
            lines.append(f"* LOC: {tc(r_in + i, rate)} {color:<7} {_clean(marker.name)}")
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


def read_from_string(input_str, rate: float = 24.0) -> otio.schema.Timeline:
    """Parse a CMX 3600 EDL: video events become clips on one track, gaps where the record jumps."""
    text = input_str.decode("utf-8", "replace") if isinstance(input_str, bytes) else input_str
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    rate = float(rate)
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
            body = line.lstrip("*").strip()
            key = body.upper()
            if key.startswith("FROM CLIP NAME:"):
                if not events[-1]["name"]:  # a dissolve names its incoming clip with TO CLIP NAME
                    events[-1]["name"] = body.split(":", 1)[1].strip()
            elif key.startswith("TO CLIP NAME:"):
                events[-1]["name"] = body.split(":", 1)[1].strip()
            elif key.startswith(("SOURCE FILE:", "FROM CLIP:", "FROM FILE:")):  # Resolve/Premiere; Avid
                events[-1]["file"] = body.split(":", 1)[1].strip()
                events[-1]["comments"].append(body)
            elif (loc := LOC.match(line)) is not None:
                events[-1]["locators"].append((loc.group(1), loc.group(2).upper(), loc.group(3).strip(), 1))
            else:
                events[-1]["comments"].append(body)
        elif events and (rm := RESOLVE_MARKER.search(line)) is not None:
            color = COLORS_BACK.get(rm.group(1).upper(), "BLUE")
            events[-1]["locators"].append((events[-1]["tc"][2], color, rm.group(2).strip(), int(rm.group(3))))
    any_semicolon = any(";" in t for e in events for t in e["tc"])
    use_drop = bool(drop) or any_semicolon
    if use_drop and round(rate) not in (30, 60):
        # drop-frame exists only at 29.97 and 59.94: frame numbers above 29 mean 59.94
        top = max((int(t[-2:]) for e in events for t in e["tc"]), default=0)
        rate = 60 if top > 29 else 30
    if use_drop and not timecode.is_ntsc(rate):
        rate = round(rate) * 1000 / 1001

    def frames(tc: str) -> int:
        return timecode.parse(tc, rate, drop_frame=(";" in tc or use_drop) if round(rate) in (30, 60)
                              and timecode.is_ntsc(rate) else False)

    timeline = otio.schema.Timeline(name=title)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    position = None
    for event in events:
        if "V" not in event["channels"] and event["channels"] != "B":
            continue  # audio-only events
        s_in, s_out, r_in, r_out = (frames(t) for t in event["tc"])
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
        name = event["name"] or event["reel"]
        if event["reel"].upper() in BLACK:
            track.append(otio.schema.Gap(duration=RT(r_out - r_in, rate)))
        else:
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
            track.append(clip)
        position = r_out
    return timeline
