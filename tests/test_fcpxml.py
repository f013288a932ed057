"""FCPXML adapter: DTD-valid, frame-exact output at every rate, round trips, and the structures real exports
use (media-rep, bundles, events and projects, lanes, compound and multicam clips, titles, hostile XML)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction

import opentimelineio as otio
import pytest
from conftest import FCPXML_EXPORT, SHARED, VIDEO_RATES, labelled_cut
from lxml import etree

from cinemanet_edit import annotate, schema, timecode
from cinemanet_edit.schema import is_our_marker
from cinemanet_edit.types import CategoryLabel

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
def dtd(version: str):
    """Apple's DTD from ../shared (None when absent: the other checks still run)."""
    path = SHARED / "dtd" / f"FCPXMLv{version.replace('.', '_')}.dtd"
    return etree.DTD(str(path)) if path.exists() else None


def written(timeline, version: str):
    """Our FCPXML of ``timeline`` as an element tree, checked against Apple's DTD of ``version`` when present."""
    root = etree.fromstring(otio.adapters.write_to_string(timeline, "cinemanet_fcpxml",
                                                          fcpxml_version=version).encode())
    checker = dtd(version)
    if checker is not None:
        assert checker.validate(root), checker.error_log.filter_from_errors()
    return root


def times_on_grid(root, frame: Fraction) -> list[str]:
    bad = []
    for el in root.iter():
        for attr in ("offset", "start", "duration", "tcStart"):
            value = el.get(attr)
            if value is None or el.tag in ("format", "asset"):
                continue
            assert re.fullmatch(r"\d+(/\d+)?s", value), value
            num = Fraction(value[:-1])
            if (num / frame).denominator != 1:
                bad.append(f"{el.tag}@{attr}={value}")
    return bad


@pytest.mark.parametrize("rate", VIDEO_RATES, ids=lambda r: f"{r:.3f}")
@pytest.mark.parametrize("version", ["1.8", "1.9", "1.10", "1.11"])
def test_valid_exact_and_round_trips(rate, version):
    tl = labelled_cut(rate)
    root = written(tl, version)
    text = etree.tostring(root, encoding="unicode")
    fmt = root.find("resources/format")
    frame = Fraction(fmt.get("frameDuration")[:-1])
    assert frame == 1 / Fraction(round(rate) * 1000, 1001) if round(rate) != rate else frame == Fraction(1, int(rate))
    assert times_on_grid(root.find("library"), frame) == []
    assets = root.findall("resources/asset")
    urls = [a.get("src") if version == "1.8" else a.find("media-rep").get("src") for a in assets]
    assert all(u.startswith("file:///Volumes/Media/") for u in urls)
    seq = root.find(".//sequence")
    assert seq.get("tcFormat") == ("DF" if round(rate) in (30, 60) and round(rate) != rate else "NDF")
    for clip in root.iter("asset-clip"):
        start, dur = Fraction(clip.get("start")[:-1]), Fraction(clip.get("duration")[:-1])
        for m in clip.findall("marker"):
            assert start <= Fraction(m.get("start")[:-1]) < start + dur
    first = root.find(".//spine/asset-clip")
    assert first.find("keyword").get("value") == "Close Up, Low"
    assert first.find("asset-clip[@lane='1']") is not None or root.find(".//gap/asset-clip[@lane='1']") is not None

    back = otio.adapters.read_from_string(text, "cinemanet_fcpxml")
    assert back.global_start_time.to_seconds() == pytest.approx(tl.global_start_time.to_seconds(), abs=1e-9)
    original = {c.name: c for c in tl.find_clips()}
    for c in back.find_clips():
        o = original[c.name]
        assert round(c.source_range.start_time.value) == round(o.source_range.start_time.value)
        assert round(c.source_range.duration.value) == round(o.source_range.duration.value)
        assert c.media_reference.target_url == o.media_reference.target_url
        assert dict(c.metadata["cinemanet"]["labels"]["shot.framing"]) == \
            dict(o.metadata["cinemanet"]["labels"]["shot.framing"])
        assert sorted(m.name for m in c.markers) == sorted(m.name for m in o.markers)
        assert sum(is_our_marker(m) for m in c.markers) == 2
    # the V2 clip comes back on its own track at its record time
    (c3,) = [c for c in back.find_clips() if c.name == "C003"]
    record = c3.transformed_time(c3.source_range.start_time, back.tracks)
    assert round(record.to_seconds() * rate) == 10


def test_otioconvert_uses_our_adapter_by_name(tmp_path):
    src = tmp_path / "tagged.otio"
    otio.adapters.write_to_file(labelled_cut(24000 / 1001), str(src))
    out = tmp_path / "out.fcpxml"
    bindir = __import__("pathlib").Path(sys.executable).parent
    subprocess.run([str(bindir / "otioconvert"), "-i", str(src), "-o", str(out), "-O", "cinemanet_fcpxml"],
                   check=True)
    text = out.read_text()
    assert 'frameDuration="1001/24000s"' in text and "<keyword" in text and "com.cinemanet-edit.labels" in text


def test_reads_what_final_cut_exports(tmp_path):
    bundle = tmp_path / "Cut.fcpxmld"
    bundle.mkdir()
    (bundle / "Info.fcpxml").write_text(FCPXML_EXPORT)
    tl = otio.adapters.read_from_file(str(bundle), "cinemanet_fcpxml", project="Cut 3")
    kinds = [type(item).__name__ for item in tl.tracks[0]]
    assert kinds == ["Gap", "Clip", "Clip", "Clip", "Gap"]  # the title becomes a gap
    a, compound, multicam = [item for item in tl.tracks[0] if isinstance(item, otio.schema.Clip)]
    assert a.media_reference.target_url == "file:///Volumes/RAID/Day%201/A001_C002.mov"
    assert a.source_range.start_time.rate == pytest.approx(24000 / 1001)
    assert round(a.source_range.start_time.value) == 240 and round(a.source_range.duration.value) == 120
    assert [m.name for m in a.markers] == ["Slate"] and a.markers[0].comment == "take 2"
    assert compound.media_reference.target_url.endswith("/B001.mov")
    assert compound.source_range.start_time.to_seconds() == pytest.approx(3612)
    assert multicam.media_reference.target_url.endswith("/cam2.mov")  # the active video angle
    assert multicam.source_range.start_time.to_seconds() == pytest.approx(10)
    (broll,) = list(tl.tracks[1].find_clips())
    assert broll.name == "B-roll" and broll.source_range.start_time.to_seconds() == pytest.approx(3620)
    record = broll.transformed_time(broll.source_range.start_time, tl.tracks)
    assert record.to_seconds() == pytest.approx(2.002 + 2.002, abs=1e-6)
    assert tl.global_start_time.to_seconds() == pytest.approx(3600)
    first = otio.adapters.read_from_string(FCPXML_EXPORT, "cinemanet_fcpxml")
    assert [c.name for c in first.find_clips()] == ["sel"]
    with pytest.raises(ValueError, match="no project named 'Nope'"):
        otio.adapters.read_from_string(FCPXML_EXPORT, "cinemanet_fcpxml", project="Nope")


@pytest.mark.parametrize("version", ["1.5", "1.6", "1.7", "1.12", "1.13"])
def test_other_versions_and_src_assets(version):
    text = (FCPXML_EXPORT.replace('version="1.11"', f'version="{version}"')
            .replace('<media-rep kind="original-media" src="file:///Volumes/RAID/B001.mov"/>', "")
            .replace('name="B001" start="3600s"', 'name="B001" src="file:///Volumes/RAID/B001.mov" start="3600s"'))
    tl = otio.adapters.read_from_string(text, "cinemanet_fcpxml", project="Cut 3")
    assert any(c.media_reference.target_url.endswith("/B001.mov") for c in tl.find_clips())


def test_hostile_xml_is_refused_safely(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = f"""<?xml version="1.0"?><!DOCTYPE fcpxml [<!ENTITY x SYSTEM "file://{secret}">]>
<fcpxml version="1.10"><library><event><project name="&x;"><sequence format="r1"><spine/></sequence></project>
</event></library></fcpxml>"""
    with pytest.raises(ValueError, match="external entity"):  # refused, never read
        otio.adapters.read_from_string(xxe, "cinemanet_fcpxml")
    laughs = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)) + \
        ']><fcpxml version="1.10"><library><event><project name="&i;"/></event></library></fcpxml>'
    with pytest.raises(Exception):  # noqa: B017 - lxml refuses the expansion; what matters is no blow-up
        otio.adapters.read_from_string(laughs, "cinemanet_fcpxml")
    with pytest.raises(ValueError, match="not FCPXML"):
        otio.adapters.read_from_string("<xmeml/>", "cinemanet_fcpxml")


def test_chapter_markers_validate_and_are_replaced_on_retag():
    text = otio.adapters.write_to_string(labelled_cut(25), "cinemanet_fcpxml", chapter_markers=True)
    root = etree.fromstring(text.encode())
    chapters = root.findall(".//spine/asset-clip/chapter-marker")
    assert [c.get("value") for c in chapters] == ["Close Up, Low", "Long Shot, High"]
    schema = dtd("1.10")
    if schema is not None:
        assert schema.validate(root), schema.error_log.filter_from_errors()
    back = otio.adapters.read_from_string(text, "cinemanet_fcpxml")
    a = next(c for c in back.find_clips() if c.name == "A001")
    assert annotate.clear(a) == 3 and [m.name for m in a.markers] == ["editor note"]


RESOLVE_18 = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.8">
    <resources>
        <format width="1920" id="r0" name="FFVideoFormat1080p2997" frameDuration="1001/30000s" height="1080"/>
        <asset id="r1" name="A002_C007.mov" src="file:///Users/colorist/Footage/A002_C007.mov" hasVideo="1"
               format="r0" start="0/1s" duration="360360/30000s" audioChannels="2" hasAudio="1"/>
        <effect id="r2" name="Solid Color" uid=".../Generators.localized/Solids.localized/Custom.localized/Custom.motn"/>
    </resources>
    <library>
        <event name="Timeline 1 (Resolve)">
            <project name="Timeline 1 (Resolve)">
                <sequence format="r0" tcStart="107999892/30000s" tcFormat="DF" duration="240240/30000s">
                    <spine>
                        <clip name="A002_C007.mov" offset="107999892/30000s" format="r0" tcFormat="DF" start="30030/30000s" duration="120120/30000s">
                            <video offset="30030/30000s" ref="r1" start="30030/30000s" duration="120120/30000s"/>
                            <marker start="60060/30000s" duration="1001/30000s" value="Marker 1" note="from Resolve"/>
                        </clip>
                        <video name="Solid Color" offset="108120012/30000s" ref="r2" start="0/1s" duration="120120/30000s"/>
                    </spine>
                </sequence>
            </project>
        </event>
    </library>
</fcpxml>
"""


def test_reads_resolve_fcpxml_18():
    tl = otio.adapters.read_from_string(RESOLVE_18, "cinemanet_fcpxml")
    clip, generator = list(tl.tracks[0])
    assert isinstance(generator, otio.schema.Gap)  # a Resolve generator is no media
    assert clip.media_reference.target_url == "file:///Users/colorist/Footage/A002_C007.mov"
    assert clip.source_range.start_time.rate == pytest.approx(30000 / 1001)
    assert round(clip.source_range.start_time.value) == 30 and round(clip.source_range.duration.value) == 120
    assert timecode.render(round(tl.global_start_time.value), 29.97) == "01:00:00;00"
    (marker,) = clip.markers
    assert marker.name == "Marker 1" and round(marker.marked_range.start_time.value) == 60


def test_our_markers_keep_their_colours_through_fcpxml():
    """FCPXML markers carry no colour: ours get their category's back from our metadata, so a select from
    .fcpxml to .edl colours its locators as one from .otio does."""
    cut = labelled_cut(25)
    colours = {m.name: m.color for c in cut.find_clips() for m in c.markers}
    assert len(set(colours.values())) > 1  # categories have colours of their own
    back = otio.adapters.read_from_string(otio.adapters.write_to_string(cut, "cinemanet_fcpxml"), "cinemanet_fcpxml")
    assert {m.name: m.color for c in back.find_clips() for m in c.markers} == colours


def _label(category, label_id, holds=(), uncertain=False):
    from cinemanet_edit.taxonomy import describe

    title = next(x.title for x in describe(category).labels if x.id == label_id)
    return CategoryLabel(category, label_id, title, 0.9, {label_id: 0.9}, holds=tuple(holds), uncertain=uncertain)


def test_fcp_shot_types_only_from_written_labels():
    from cinemanet_edit_adapters.fcpxml import fcp_shot_types

    def types(*labels):
        return fcp_shot_types({x.category: x for x in labels})

    assert types(_label("shot.framing", "shot.framing.extreme-close-up")) == ["closeUp"]
    assert types(_label("shot.framing", "shot.framing.medium"), _label("shot.subject", "shot.subject.person",
                                                                        ["shot.subject.face"])) == ["mediumShot",
                                                                                                    "onePerson"]
    assert types(_label("shot.framing", "shot.framing.extreme-long"),
                 _label("shot.subject", "shot.subject.people")) == ["wideShot", "group"]
    assert types(_label("shot.type", "shot.type.two-up"), _label("shot.subject", "shot.subject.faces")) == [
        "twoPersons"]
    assert types(_label("shot.framing", "shot.framing.close-up", uncertain=True),
                 _label("shot.subject", "shot.subject.animal")) == []  # not written, nobody: nothing


@pytest.mark.parametrize("version", ["1.8", "1.9", "1.10", "1.11"])
def test_browser_clips_keyword_and_smart_collections_and_shot_analysis(version):
    """Every tagged clip is also a browser clip of the event with our keyword range (a Keyword Collection in
    FCP) and FCP's analysis marker; smart collections gather each category and each FCP shot type; valid
    against Apple's DTD; our reader reads it all back, and a re-tag replaces it rather than adding to it."""
    cut = labelled_cut(24000 / 1001)
    first = cut.find_clips()[0]
    record = schema.clip_record(first)
    labels = dict(record.labels, **{"shot.subject": _label("shot.subject", "shot.subject.faces")})
    schema.write_clip_record(first, schema.ClipRecord(record.model, labels, record.samples))
    root = written(cut, version)
    text = etree.tostring(root, encoding="unicode")
    event = root.find("library/event")
    browser = event.findall("asset-clip")
    project_clips = [c for c in root.iter("asset-clip") if c.getparent().tag != "event"]
    assert len(browser) == len(project_clips) == 3
    def seen(clips):
        return sorted((c.get("ref"), c.get("start"), c.find("keyword").get("value")) for c in clips)

    assert seen(browser) == seen(project_clips)  # one browser clip per tagged media range, same keywords
    assert all(b.find("keyword").get("start") == b.get("start") for b in browser)
    analysis = [[s.get("value") for s in b.iter("shot-type")] for b in browser]
    assert analysis[0] == ["closeUp", "group"] and analysis[1][0] in ("closeUp", "mediumShot", "wideShot")
    collections = {c.get("name"): c for c in event.findall("smart-collection")}
    framing = collections["CinemaNet Shot Framing"]
    assert [k.get("value") for k in framing.iter("keyword-name")] == [
        "Extreme Close Up", "Close Up", "Medium", "Long Shot", "Extreme Long Shot"]
    assert collections["CinemaNet Shot Analysis: Group"].find("match-shot/shot-type").get("value") == "group"
    assert {k.get("name") for k in event.findall("keyword-collection")} >= {"Close Up", "Faces"}
    back = otio.adapters.read_from_string(text, "cinemanet_fcpxml")
    read = json.loads(otio.core.serialize_json_to_string(back.metadata["fcpxml"]))
    assert len(read["browser_clips"]) == 3
    assert read["browser_clips"][0]["shot_types"][0]["shot_types"] == ["closeUp", "group"]
    assert {c["name"] for c in read["collections"]} >= set(collections)
    again = etree.fromstring(otio.adapters.write_to_string(back, "cinemanet_fcpxml",
                                                           fcpxml_version=version).encode())
    assert len(again.findall("library/event/asset-clip")) == 3
    assert len(again.findall("library/event/smart-collection")) == len(collections)
