"""FCPXML (Final Cut Pro X XML) adapter: write 1.8-1.11 with keywords and markers, read 1.5-1.13.

Written for what Final Cut Pro and DaVinci Resolve import: a ``<format>`` with frameDuration, width and
height; assets with ``media-rep`` (1.9+) or ``src`` (1.8); clips placed by ``cinemanet_edit.layout`` (nested
stacks flattened, every clip kept): the first video track as the spine (holes as gaps), other video tracks as
connected clips (lanes 1, 2 ...), audio tracks as connected audio (lanes -1, -2 ...); per clip a ``<keyword>``
range with the labels ("Close Up, Low, Faces", as FCP's own analysis keywords) and a ``<marker>`` per label
with its note. All times are exact rationals on the frame grid (1001/24000s at 23.976). Our labels also ride
along in the clip's ``<metadata>`` so that reading our own file back restores ``metadata["cinemanet"]`` exactly.

The reader takes what FCP and Resolve export: ``.fcpxmld`` bundles, ``media-rep``, several events and
projects (``project=NAME``; default the first), connected clips on lanes, compound clips (``ref-clip``),
multicam clips (the active video angle's media), sync clips, titles and generators (read as gaps), exact
NTSC rates. It never fetches DTDs or external entities.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import opentimelineio as otio
from cinemanet_edit_adapters import FCPXMLError
from lxml import etree

from cinemanet_edit import schema
from cinemanet_edit.files import atomic_write, write_bundle
from cinemanet_edit.layout import Layout, PlacedClip, layout
from cinemanet_edit.sanitize import xml_text
from cinemanet_edit.schema import MarkerRecord, set_drop_frame
from cinemanet_edit.taxonomy import describe
from cinemanet_edit.timecode import exact_rate
from cinemanet_edit.types import WriterOption

VERSIONS = ("1.8", "1.9", "1.10", "1.11")
DEFAULT_VERSION = "1.10"  # imported by Final Cut Pro 10.6+ and DaVinci Resolve 18+
MAX_BYTES = 200 * 1024 * 1024
MD_KEY = "com.cinemanet-edit.labels"
OPTIONS = (
    WriterOption("--fcpxml-version", "fcpxml_version", "FCPXML version to write (default 1.10: Final Cut Pro 10.6+ "
                 "and Resolve 18+ import it)", VERSIONS, DEFAULT_VERSION),
    WriterOption("--chapter-markers", "chapter_markers", "FCPXML: also a chapter marker per clip", switch=True,
                 default=False),
)
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


# ----------------------------------------------------------------------------------------------- times


def fmt(value: Fraction) -> str:
    value = Fraction(value)
    if value.denominator == 1:
        return f"{value.numerator}s"
    return f"{value.numerator}/{value.denominator}s"


def parse_time(text: str | None, default: Fraction = Fraction(0)) -> Fraction:
    if not text:
        return default
    raw = text
    text = text.strip().rstrip("s")
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = Fraction(int(num), int(den))
        else:
            value = Fraction(text)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise FCPXMLError(f"not an FCPXML time: {raw!r}") from None
    if abs(value) > 10**9:  # 30 years: no cut is that long
        raise FCPXMLError(f"time out of range: {raw!r}")
    return value


def to_rt(value: Fraction, rate: Fraction) -> otio.opentime.RationalTime:
    return RT(float(value * rate), float(rate))


# ------------------------------------------------------------------------------------- FCP's own tools

# FCP's people analysis writes <analysis-marker><shot-type value=.../>; its Smart Collections and match-shot
# rules find these values. Our framing maps to its three shot sizes, our people labels to its counts.
FCP_SIZES = {"shot.framing.extreme-close-up": "closeUp", "shot.framing.close-up": "closeUp",
             "shot.framing.medium": "mediumShot", "shot.framing.long": "wideShot",
             "shot.framing.extreme-long": "wideShot"}
FCP_SHOT_TITLES = {"closeUp": "Close Up", "mediumShot": "Medium Shot", "wideShot": "Wide Shot",
                   "onePerson": "One Person", "twoPersons": "Two Persons", "group": "Group"}
ONE_PERSON = {"shot.subject.face", "shot.subject.person"}
SEVERAL_PEOPLE = {"shot.subject.faces", "shot.subject.people"}
COLLECTED = ("shot.framing", "shot.type", "shot.angle", "shot.subject")  # a smart collection each


def _written(labels, category: str) -> set[str]:
    """The label ids a category writes (its label and, multi-label, what else holds); none when uncertain."""
    label = labels.get(category)
    return set() if label is None or label.uncertain else {label.label, *label.holds}


def fcp_shot_types(labels) -> list[str]:
    """FCP shot types for a clip's labels, only from labels sure enough to be written: its size from our
    framing, its people count from Shot Type (Two Up: two) or Shot Subject (one face or person; several)."""
    out = [FCP_SIZES[x] for x in _written(labels, "shot.framing") if x in FCP_SIZES]
    subject = _written(labels, "shot.subject")
    if "shot.type.two-up" in _written(labels, "shot.type"):
        out.append("twoPersons")
    elif subject & SEVERAL_PEOPLE:
        out.append("group")
    elif subject & ONE_PERSON:
        out.append("onePerson")
    return out


# ----------------------------------------------------------------------------------------------- writer


class _Writer:
    """Builds the document from ``cinemanet_edit.layout``: track 1 is the spine (holes and generators as gaps),
    the other video tracks connect on lanes 1, 2 ..., audio tracks on lanes -1, -2 ..."""

    def __init__(self, cut: Layout, version: str, chapter_markers: bool):
        if version not in VERSIONS:
            raise FCPXMLError(f"fcpxml_version must be one of {', '.join(VERSIONS)}")
        self.cut = cut
        self.version = version
        self.chapter_markers = chapter_markers
        self.rate = self.cut.rate
        self.resources = etree.Element("resources")
        self.formats: dict[tuple, str] = {}
        self.assets: dict[str, etree._Element] = {}
        self.next_id = 1
        first = next((c.media for c in self.cut.all_clips() if c.media is not None and c.media.width), None)
        self.width = first.width if first is not None else 1920
        self.height = first.height if first is not None and first.height else 1080

    def _id(self) -> str:
        rid = f"r{self.next_id}"
        self.next_id += 1
        return rid

    def format_id(self, rate: Fraction, width: int, height: int) -> str:
        key = (rate, width, height)
        if key not in self.formats:
            rid = self._id()
            self.formats[key] = rid
            etree.SubElement(self.resources, "format", id=rid, frameDuration=fmt(1 / rate), width=str(width),
                             height=str(height))
        return self.formats[key]

    def asset_id(self, placed: PlacedClip) -> str:
        media = placed.media
        url = media.url or f"file:///missing/{quote(media.name or placed.name or 'clip')}"
        kind = "hasVideo" if placed.kind == "video" else "hasAudio"
        if url in self.assets:
            asset = self.assets[url]
            if asset.get(kind) != "1":  # a file used for picture and sound
                asset.set(kind, "1")
                if kind == "hasVideo":
                    asset.set("format", self.format_id(media.rate, media.width or self.width,
                                                       media.height or self.height))
            return asset.get("id")
        rid = self._id()
        attrs = {"id": rid, "name": Path(unquote(urlparse(url).path)).stem or rid}
        if media.duration is not None:
            attrs["start"] = fmt(Fraction(media.start) / media.rate)
            attrs["duration"] = fmt(Fraction(media.duration) / media.rate)
        else:  # unknown length: the clip's own range is what we know exists
            attrs["start"] = fmt(Fraction(placed.source_in) / media.rate)
            attrs["duration"] = fmt(Fraction(placed.source_out - placed.source_in) / media.rate)
        attrs[kind] = "1"
        if placed.kind == "video":
            attrs["format"] = self.format_id(media.rate, media.width or self.width, media.height or self.height)
        if self.version == "1.8":
            attrs["src"] = url
            asset = etree.SubElement(self.resources, "asset", **attrs)
        else:
            asset = etree.SubElement(self.resources, "asset", **attrs)
            etree.SubElement(asset, "media-rep", kind="original-media", src=url)
        self.assets[url] = asset
        return rid

    def tc_format(self, rate: Fraction) -> str:
        if rate == self.rate:
            return "DF" if self.cut.drop_frame else "NDF"
        return "DF" if rate.denominator == 1001 and round(rate) % 30 == 0 else "NDF"

    def clip_element(self, placed: PlacedClip, offset: Fraction, lane: int | None = None):
        rate = placed.media.rate
        start = Fraction(placed.source_in) / rate
        duration = Fraction(placed.duration) / self.rate
        el = etree.Element("asset-clip", ref=self.asset_id(placed))
        if lane is not None:
            el.set("lane", str(lane))
        el.set("offset", fmt(offset))
        el.set("name", xml_text(placed.name))
        el.set("start", fmt(start))
        el.set("duration", fmt(duration))
        if placed.kind == "audio":
            el.set("srcEnable", "audio")
        else:
            el.set("tcFormat", self.tc_format(rate))
        return el, start, duration, rate

    def decorate(self, el, placed: PlacedClip, start: Fraction, duration: Fraction, rate: Fraction) -> None:
        """Markers, keywords and our metadata, after any connected clips (the DTD's order)."""
        record = placed.record
        labels = record.labels if record is not None else None
        if labels and placed.kind == "video":
            words = record.keywords()
            if words:
                etree.SubElement(el, "keyword", start=fmt(start), duration=fmt(duration),
                                 value=xml_text(", ".join(words)), note="cinemanet-edit")
        frame = 1 / rate
        for marker in placed.markers:
            m_start = Fraction(placed.media_frame(marker.offset, self.rate)) / rate
            attrs = {"start": fmt(m_start), "duration": fmt(frame), "value": xml_text(marker.name)}
            if marker.comment:
                attrs["note"] = xml_text(marker.comment)
            etree.SubElement(el, "marker", **attrs)
        if labels and self.chapter_markers and placed.kind == "video":
            etree.SubElement(el, "chapter-marker", start=fmt(start), duration=fmt(frame),
                             value=xml_text(", ".join(record.keywords()) or placed.name or ""),
                             note="cinemanet-edit", posterOffset="0s")
        if record is not None:
            metadata = etree.SubElement(el, "metadata")
            etree.SubElement(metadata, "md", key=MD_KEY, value=json.dumps(record.to_metadata(), sort_keys=True))

    def _gap(self, spine, placed_items, start: Fraction, end: Fraction) -> None:
        el = etree.SubElement(spine, "gap", name="Gap", offset=fmt(start), start=fmt(start), duration=fmt(end - start))
        placed_items.append((start, end, el, start))

    def build(self) -> bytes:
        cut = self.cut
        sequence_format = self.format_id(self.rate, self.width, self.height)
        tc_start = Fraction(cut.start) / self.rate
        spine = etree.Element("spine")
        placed_items = []  # (record start, record end, element, local start) of spine items
        pending = []
        position = tc_start
        for placed in cut.video[0] if cut.video else ():
            record_in, record_out = Fraction(placed.record_in) / self.rate, Fraction(placed.record_out) / self.rate
            if record_in > position:
                self._gap(spine, placed_items, position, record_in)
            if placed.media is None:  # a generator: kept as a gap
                self._gap(spine, placed_items, record_in, record_out)
            else:
                el, start, length, rate = self.clip_element(placed, record_in)
                spine.append(el)
                pending.append((el, placed, start, length, rate))
                placed_items.append((record_in, record_out, el, start))
            position = record_out
        connected = [(number, placed) for number, track in enumerate(cut.video[1:], start=1) for placed in track]
        connected += [(-number, placed) for number, track in enumerate(cut.audio, start=1) for placed in track]
        for lane, placed in connected:
            if placed.media is not None:
                self._connect(placed, lane, placed_items, spine, pending)
        for args in pending:
            self.decorate(*args)
        total = (placed_items[-1][1] if placed_items else tc_start) - tc_start
        fcpxml = etree.Element("fcpxml", version=self.version)
        fcpxml.append(self.resources)
        library = etree.SubElement(fcpxml, "library")
        event = etree.SubElement(library, "event", name=xml_text(cut.name or "cinemanet-edit"))
        self.browser(event)
        project = etree.SubElement(event, "project", name=xml_text(cut.name or "Timeline"))
        sequence = etree.SubElement(project, "sequence", format=sequence_format, duration=fmt(total),
                                    tcStart=fmt(tc_start), tcFormat="DF" if cut.drop_frame else "NDF")
        sequence.append(spine)
        return etree.tostring(fcpxml, xml_declaration=True, encoding="UTF-8", pretty_print=True,
                              doctype="<!DOCTYPE fcpxml>")

    def browser(self, event) -> None:
        """What FCP's browser shows for the event: a clip per analysed media range with our keyword range
        (each keyword becomes a Keyword Collection) and FCP's analysis marker, then the keyword collections,
        and smart collections gathering each category's keywords and FCP's shot types."""
        tagged = [p for p in self.cut.all_clips() if p.kind == "video" and p.media is not None and p.record]
        words, shot_types = [], []
        for placed in tagged:
            el, start, _, rate = self.clip_element(placed, Fraction(0))
            del el.attrib["offset"]
            el.set("duration", fmt(Fraction(placed.source_out - placed.source_in) / rate))
            self._browser_items(el, placed, start, parse_time(el.get("duration")))
            event.append(el)
            words += [w for w in placed.record.keywords() if w not in words]
            shot_types += [s for s in fcp_shot_types(placed.record.labels) if s not in shot_types]
        for word in words:
            etree.SubElement(event, "keyword-collection", name=xml_text(word))
        self._smart_collections(event, tagged, shot_types)

    def _browser_items(self, el, placed: PlacedClip, start: Fraction, duration: Fraction) -> None:
        words = placed.record.keywords()
        if words:
            etree.SubElement(el, "keyword", start=fmt(start), duration=fmt(duration), value=xml_text(", ".join(words)),
                             note="cinemanet-edit")
        types = fcp_shot_types(placed.record.labels)
        if types:
            marker = etree.SubElement(el, "analysis-marker", start=fmt(start), duration=fmt(duration))
            for value in types:
                etree.SubElement(marker, "shot-type", value=value)
        metadata = etree.SubElement(el, "metadata")
        etree.SubElement(metadata, "md", key=MD_KEY, value=json.dumps(placed.record.to_metadata(), sort_keys=True))

    def _smart_collections(self, event, tagged: list[PlacedClip], shot_types: list[str]) -> None:
        present = {c for p in tagged for c in p.record.labels}
        for category_id in (c for c in COLLECTED if c in present):
            category = describe(category_id)
            titles = [label.title for label in category.labels]
            collection = etree.SubElement(event, "smart-collection", name=xml_text(f"CinemaNet {category.title}"),
                                          match="any")
            rule = etree.SubElement(collection, "match-keywords", rule="includesAny")
            for title in titles:
                etree.SubElement(rule, "keyword-name", value=xml_text(title))
        for value in shot_types:
            collection = etree.SubElement(event, "smart-collection", match="all",
                                          name=f"CinemaNet Shot Analysis: {FCP_SHOT_TITLES[value]}")
            etree.SubElement(etree.SubElement(collection, "match-shot", rule="includesAny"), "shot-type", value=value)

    def _connect(self, placed: PlacedClip, lane: int, placed_items, spine, pending) -> None:
        """Attach a clip of another track to the spine item under its start (a gap if need be)."""
        record = Fraction(placed.record_in) / self.rate
        end = Fraction(placed.record_out) / self.rate
        parent = next((p for p in placed_items if p[0] <= record < p[1]), None)
        if parent is None:  # past the end of the spine: extend it with a gap
            spine_end = placed_items[-1][1] if placed_items else Fraction(self.cut.start) / self.rate
            self._gap(spine, placed_items, spine_end, max(end, spine_end + 1 / self.rate))
            parent = placed_items[-1]
        p_start, _, p_el, p_local = parent
        el, start, length, rate = self.clip_element(placed, p_local + (record - p_start), lane)
        # anchored items go before the parent's markers and keywords, which are added afterwards
        p_el.append(el)
        pending.append((el, placed, start, length, rate))


def render(cut: Layout, fcpxml_version: str = DEFAULT_VERSION, chapter_markers: bool = False) -> str:
    """The cut as FCPXML ``fcpxml_version`` (1.8 to 1.11)."""
    if isinstance(chapter_markers, str):
        chapter_markers = chapter_markers.lower() in ("1", "true", "yes")
    return _Writer(cut, str(fcpxml_version), chapter_markers).build().decode("utf-8")


def write_to_string(input_otio, fcpxml_version: str = DEFAULT_VERSION, chapter_markers: bool = False) -> str:
    """OTIO's entry point: ``render`` of the timeline's layout."""
    if isinstance(input_otio, otio.schema.SerializableCollection):
        input_otio = next(iter(input_otio.find_children(descended_from_type=otio.schema.Timeline)), None)
    if not isinstance(input_otio, otio.schema.Timeline):
        raise FCPXMLError("FCPXML output needs a timeline")
    return render(layout(input_otio), fcpxml_version, chapter_markers)


# ----------------------------------------------------------------------------------------------- reader


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True)


class _Reader:
    def __init__(self, root, project: str | None):
        if root.tag != "fcpxml":
            raise FCPXMLError(f"not FCPXML: the root element is <{root.tag}>")
        self.root = root
        self.project_name = project
        resources = root.find("resources")
        self.formats = {}
        self.assets = {}
        self.media = {}
        for el in (resources if resources is not None else []):
            rid = el.get("id")
            if el.tag == "format":
                self.formats[rid] = el
            elif el.tag == "asset":
                self.assets[rid] = el
            elif el.tag == "media":
                self.media[rid] = el

    def rate_of(self, format_id: str | None, fallback: Fraction) -> Fraction:
        el = self.formats.get(format_id)
        if el is not None and el.get("frameDuration"):
            duration = parse_time(el.get("frameDuration"))
            if duration > 0:
                return 1 / duration
        return fallback

    def asset_url(self, asset) -> str | None:
        rep = asset.find("media-rep[@kind='original-media']")
        if rep is None:
            rep = asset.find("media-rep")
        if rep is not None and rep.get("src"):
            return rep.get("src")
        return asset.get("src")

    def sequence(self):
        projects = list(self.root.iter("project"))
        if self.project_name is not None:
            projects = [p for p in projects if p.get("name") == self.project_name]
            if not projects:
                names = ", ".join(repr(p.get("name")) for p in self.root.iter("project"))
                raise FCPXMLError(f"no project named {self.project_name!r} (projects: {names or 'none'})")
        if projects:
            return projects[0].get("name") or "Timeline", projects[0].find("sequence")
        # a bare clip or sequence export: take the first sequence anywhere
        seq = next(self.root.iter("sequence"), None)
        if seq is None:
            raise FCPXMLError("no project or sequence in this FCPXML")
        return "Timeline", seq

    def build(self) -> otio.schema.Timeline:
        name, seq = self.sequence()
        timeline = self._sequence(name, seq)
        event = next((a for a in seq.iterancestors("event")), None)
        browser = _browser(event) if event is not None else {}
        if browser:
            timeline.metadata["fcpxml"] = browser
        return timeline

    def _sequence(self, name: str, seq) -> otio.schema.Timeline:
        self.rate = self.rate_of(seq.get("format"), Fraction(24))
        tc_start = parse_time(seq.get("tcStart"))
        timeline = otio.schema.Timeline(name=name)
        timeline.global_start_time = to_rt(tc_start, self.rate)
        if seq.get("tcFormat") in ("DF", "NDF"):
            set_drop_frame(timeline, seq.get("tcFormat") == "DF")
        spine = seq.find("spine")
        lanes: dict[int, list] = {}
        track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
        position = tc_start
        for el in (spine if spine is not None else []):
            position = self._spine_item(el, track, position, lanes)
        timeline.tracks.append(track)
        for lane in sorted(k for k in lanes if k > 0):
            upper = otio.schema.Track(name=f"V{lane + 1}", kind=otio.schema.TrackKind.Video)
            cursor = tc_start
            for record, clip in sorted(lanes[lane], key=lambda x: x[0]):
                if record > cursor:
                    upper.append(otio.schema.Gap(duration=to_rt(record - cursor, self.rate)))
                elif record < cursor:
                    continue  # overlapping connected clips: keep the first
                upper.append(clip)
                cursor = record + Fraction(clip.source_range.duration.to_seconds()).limit_denominator(10**6)
            timeline.tracks.append(upper)
        return timeline

    def _spine_item(self, el, track, position: Fraction, lanes) -> Fraction:
        tag = el.tag
        if tag == "transition":
            duration = parse_time(el.get("duration"))
            half = to_rt(duration / 2, self.rate)
            if len(track) and not isinstance(track[-1], otio.schema.Transition):
                track.append(otio.schema.Transition(name=el.get("name") or "", in_offset=half, out_offset=half))
            return position
        offset = parse_time(el.get("offset"), position)
        duration = parse_time(el.get("duration"))
        clip = self.clip_from(el)
        if clip is None:
            track.append(otio.schema.Gap(name=el.get("name") or tag, duration=to_rt(duration, self.rate)))
        else:
            track.append(clip)
        self._anchored(el, offset, lanes)
        return position + duration

    def _anchored(self, parent, parent_offset: Fraction, lanes) -> None:
        """Connected clips: lane > 0 are video above the spine; their offsets are in the parent's time."""
        local_start = parse_time(parent.get("start"))
        for child in parent:
            lane = child.get("lane")
            if lane is None or int(lane) <= 0 or child.tag in ("marker", "keyword", "chapter-marker"):
                continue
            if child.tag == "spine":  # a connected storyline
                position = parse_time(child.get("offset"))
                for item in child:
                    record = parent_offset + (parse_time(item.get("offset"), position) - local_start)
                    clip = self.clip_from(item)
                    if clip is not None:
                        lanes.setdefault(int(lane), []).append((record, clip))
                    position = parse_time(item.get("offset"), position) + parse_time(item.get("duration"))
                continue
            clip = self.clip_from(child)
            if clip is not None:
                record = parent_offset + (parse_time(child.get("offset")) - local_start)
                lanes.setdefault(int(lane), []).append((record, clip))

    def clip_from(self, el):
        """An OTIO clip for a story element, or None for titles, generators, gaps and audio."""
        tag = el.tag
        start = parse_time(el.get("start"))
        duration = parse_time(el.get("duration"))
        name = el.get("name") or ""
        if tag == "asset-clip":
            asset = self.assets.get(el.get("ref"))
            if asset is None:  # kept as a clip without media, so that it is reported rather than lost
                rate = self.rate_of(el.get("format"), self.rate)
                missing = otio.schema.MissingReference(name=f"unknown asset {el.get('ref')!r}")
                return otio.schema.Clip(name=name, media_reference=missing,
                                        source_range=TR(to_rt(start, rate), to_rt(duration, rate)))
            if asset.get("hasVideo") == "0" or el.get("srcEnable") == "audio":
                return None
            return self._clip(name, asset, start, duration, el.get("format") or asset.get("format"), el)
        if tag == "clip":
            video = el.find("video")
            if video is not None and video.get("ref") in self.assets:
                v_offset = parse_time(video.get("offset"))
                v_start = parse_time(video.get("start"))
                asset = self.assets[video.get("ref")]
                return self._clip(name, asset, v_start + (start - v_offset), duration, asset.get("format"), el)
            inner = el.find("spine")
            return self._first_video(inner, start, duration, name, el) if inner is not None else None
        if tag == "mc-clip":
            return self._multicam(el, start, duration, name)
        if tag == "ref-clip":
            media = self.media.get(el.get("ref"))
            seq = media.find("sequence") if media is not None else None
            spine = seq.find("spine") if seq is not None else None
            return self._first_video(spine, start, duration, name, el) if spine is not None else None
        if tag == "sync-clip":
            inner = el.find("spine")
            container = inner if inner is not None else el
            return self._first_video(container, start, duration, name, el)
        if tag == "video" and el.get("ref") in self.assets:
            asset = self.assets[el.get("ref")]
            return self._clip(name, asset, start, duration, asset.get("format"), el)
        return None

    def _first_video(self, container, start: Fraction, duration: Fraction, name: str, outer):
        """The video under ``start`` in a nested storyline (compound, sync clip): its media and range."""
        position = Fraction(0)
        for item in container:
            if item.get("lane") not in (None, "0"):
                continue
            offset = parse_time(item.get("offset"), position)
            length = parse_time(item.get("duration"))
            if offset <= start < offset + length or (length == 0 and offset <= start):
                inner = self.clip_from(item)
                if inner is not None:
                    inner_start = Fraction(inner.source_range.start_time.to_seconds()).limit_denominator(10**7)
                    rate = exact_rate(inner.source_range.start_time.rate)
                    inner.source_range = TR(to_rt(inner_start + (start - offset), rate), to_rt(duration, rate))
                    inner.name = name or inner.name
                    self._markers(outer, inner, rate, shift=inner_start - offset)
                    return inner
            position = offset + length
        return None

    def _multicam(self, el, start: Fraction, duration: Fraction, name: str):
        media = self.media.get(el.get("ref"))
        multicam = media.find("multicam") if media is not None else None
        if multicam is None:
            return None
        active = None
        for source in el.findall("mc-source"):
            if source.get("srcEnable") in ("all", "video"):
                active = source.get("angleID")
        angles = multicam.findall("mc-angle")
        angle = next((a for a in angles if a.get("angleID") == active), angles[0] if angles else None)
        if angle is None:
            return None
        return self._first_video(angle, start, duration, name, el)

    def _clip(self, name, asset, start: Fraction, duration: Fraction, format_id, el):
        rate = self.rate_of(format_id or asset.get("format"), self.rate)
        url = self.asset_url(asset)
        available = TR(to_rt(parse_time(asset.get("start")), rate), to_rt(parse_time(asset.get("duration")), rate))
        if url:
            ref = otio.schema.ExternalReference(target_url=url, available_range=available)
        else:
            ref = otio.schema.MissingReference(name=asset.get("name") or "")
        ref.name = asset.get("name") or ""
        clip = otio.schema.Clip(name=name or asset.get("name") or "", media_reference=ref,
                                source_range=TR(to_rt(start, rate), to_rt(duration, rate)))
        self._markers(el, clip, rate)
        return clip

    def _markers(self, el, clip, rate: Fraction, shift: Fraction = Fraction(0)) -> None:
        """Markers, keywords, FCP's shot analysis and our metadata of ``el``; ``shift`` maps el's local time to
        the clip's."""
        keywords, analysis = [], []
        for child in el:
            if child.tag in ("marker", "chapter-marker"):
                m_start = parse_time(child.get("start")) + shift
                m_duration = parse_time(child.get("duration"), 1 / rate)
                marker = otio.schema.Marker(name=child.get("value") or "",
                                            marked_range=TR(to_rt(m_start, rate), to_rt(m_duration, rate)),
                                            comment=child.get("note") or "")
                if child.tag == "chapter-marker":
                    marker.metadata["fcpxml"] = {"chapter": True}
                    if child.get("note") == "cinemanet-edit":  # written from our labels: ours to replace
                        schema.write_marker_record(marker, MarkerRecord(None, chapter=True))
                clip.markers.append(marker)
            elif child.tag == "keyword":
                keywords.append(_keyword_range(child, shift))
            elif child.tag == "analysis-marker":
                analysis.append(_analysis_range(child, shift))
            elif child.tag == "metadata":
                for md in child.findall("md"):
                    if md.get("key") == MD_KEY:
                        _restore_record(clip, md.get("value") or "{}")
        found = {key: value for key, value in (("keywords", keywords), ("shot_types", analysis)) if value}
        if found:
            clip.metadata["fcpxml"] = found
        record = schema.clip_record(clip)
        if record is not None:  # our markers: give them back their identity
            by_name = {label.title: label for label in record.labels.values()}
            for marker in clip.markers:
                title = marker.name.split(": ", 1)[-1]
                if title in by_name and "cinemanet-edit" in (marker.comment or ""):
                    label = by_name[title]
                    schema.write_marker_record(marker, MarkerRecord(label.category, label.label, label.confidence))
                    marker.color = describe(label.category).marker_color  # FCPXML markers carry no colour


def _restore_record(clip: otio.schema.Clip, text: str) -> None:
    """Our labels as the writer embedded them; anything else under our key is left out."""
    try:
        record = schema.record_from_metadata(json.loads(text))
    except ValueError:
        return
    if record is not None:
        schema.write_clip_record(clip, record)


def _keyword_range(el, shift: Fraction = Fraction(0)) -> dict:
    return {"start": float(parse_time(el.get("start")) + shift), "duration": float(parse_time(el.get("duration"))),
            "value": el.get("value") or "", "note": el.get("note") or ""}


def _analysis_range(el, shift: Fraction = Fraction(0)) -> dict:
    """An ``<analysis-marker>``: FCP's shot types (closeUp, onePerson ...) over a range of the clip."""
    return {"start": float(parse_time(el.get("start")) + shift), "duration": float(parse_time(el.get("duration"))),
            "shot_types": [s.get("value") or "" for s in el.findall("shot-type")]}


BROWSER_CLIPS = ("asset-clip", "clip", "mc-clip", "sync-clip", "ref-clip")


def _browser(event) -> dict:
    """The event's browser clips (name, media, range, keyword and analysis ranges) and collections, as FCP
    shows them beside the project: kept in the timeline's metadata, so that what we wrote reads back."""
    clips = []
    for el in event:
        if el.tag in BROWSER_CLIPS:
            clips.append({"name": el.get("name") or "", "ref": el.get("ref") or "",
                          "start": float(parse_time(el.get("start"))),
                          "duration": float(parse_time(el.get("duration"))),
                          "keywords": [_keyword_range(k) for k in el.findall("keyword")],
                          "shot_types": [_analysis_range(a) for a in el.findall("analysis-marker")]})
    collections = [{"kind": el.tag, "name": el.get("name") or ""} for el in event.iter("keyword-collection",
                                                                                        "smart-collection")]
    return {"browser_clips": clips, "collections": collections} if clips or collections else {}


def read_from_string(input_str, project: str | None = None) -> otio.schema.Timeline:
    """Read FCPXML text (any version 1.5-1.13). ``project`` picks a project by name (default: the first)."""
    data = input_str.encode("utf-8") if isinstance(input_str, str) else input_str
    if len(data) > MAX_BYTES:
        raise FCPXMLError(f"FCPXML larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise FCPXMLError(f"malformed FCPXML: {exc}") from None
    try:
        return _Reader(root, project).build()
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as exc:
        if isinstance(exc, FCPXMLError):
            raise
        raise FCPXMLError(f"malformed FCPXML: {type(exc).__name__}: {exc}") from None


def read_from_file(filepath, project: str | None = None) -> otio.schema.Timeline:
    """Read an ``.fcpxml`` file or an ``.fcpxmld`` bundle (its Info.fcpxml)."""
    path = Path(filepath)
    if path.is_dir():
        path = path / "Info.fcpxml"
    if os.path.getsize(path) > MAX_BYTES:
        raise FCPXMLError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
    return read_from_string(path.read_bytes(), project=project)


def write_to_file(input_otio, filepath, fcpxml_version: str = DEFAULT_VERSION, chapter_markers: bool = False):
    """Write an ``.fcpxml`` file or an ``.fcpxmld`` bundle, whole or not at all."""
    data = write_to_string(input_otio, fcpxml_version, chapter_markers).encode("utf-8")
    path = Path(filepath)
    if path.suffix.lower() == ".fcpxmld":
        write_bundle(path, {"Info.fcpxml": data})
    else:
        atomic_write(path, data)
