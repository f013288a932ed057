"""EDL (Avid and Resolve styles), FCP7 XML markers, sidecar reports and several outputs at once."""

from __future__ import annotations

import csv
import io
import json

import opentimelineio as otio
import pycmx
import pytest
from conftest import FCPXML_EXPORT, VIDEO_RATES, labelled_cut, one_clip_otio, tc
from fakes import frame_id_analyzer, seen
from lxml import etree

from cinemanet_edit import cli, timecode
from cinemanet_edit.formats import write_outputs
from cinemanet_edit.timeline import read_timeline

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def edl_of(tl, **options) -> str:
    return otio.adapters.write_to_string(tl, "cinemanet_edl", **options)


@pytest.mark.parametrize("rate", VIDEO_RATES, ids=lambda r: f"{r:.3f}")
def test_avid_edl_parses_and_reads_back(rate):
    tl = labelled_cut(rate)
    text = edl_of(tl)
    drop = round(rate) in (30, 60) and round(rate) != rate
    edl = pycmx.parse_cmx3600(io.StringIO(text))
    events = list(edl.events)
    assert [e.edits[0].clip_name for e in events] == ["A001", "B002"]
    start = tc("01:00:00:00", rate)
    expected_in = [start, start + 48 + 12]
    assert [e.edits[0].record_in for e in events] == [timecode.render(f, rate) for f in expected_in]
    assert events[0].edits[0].record_in in ("01:00:00:00", "01:00:00;00")
    assert events[0].edits[0].source_in == timecode.render(tc("10:00:00:00", rate) + 100, rate)
    assert ("FCM: DROP FRAME" in text) == drop and (";" in events[0].edits[0].record_in) == drop
    locs = [s.text for s in events[0].statements if type(s).__name__ == "StmtRemark" and s.text.startswith("LOC")]
    assert locs == [f"LOC: {timecode.render(start, rate)} BLUE    Shot Framing: Close Up",
                    f"LOC: {timecode.render(start + 1, rate)} YELLOW  Shot Angle: Low",
                    f"LOC: {timecode.render(start + 5, rate)} RED     editor note"]
    back = otio.adapters.read_from_string(text, "cinemanet_edl", rate=round(rate))
    clips = list(back.find_clips())
    assert [c.name for c in clips] == ["A001", "B002"]
    a = clips[0]
    assert round(a.source_range.start_time.value) == tc("10:00:00:00", rate) + 100
    assert round(a.source_range.duration.value) == 48
    assert [(m.name, round(m.marked_range.start_time.value) - round(a.source_range.start_time.value))
            for m in a.markers] == [("Shot Framing: Close Up", 0), ("Shot Angle: Low", 1), ("editor note", 5)]
    assert round(back.global_start_time.value) == start
    assert isinstance(back.tracks[0][1], otio.schema.Gap) and round(back.tracks[0][1].duration().value) == 12


@pytest.mark.parametrize("rate", VIDEO_RATES, ids=lambda r: f"{r:.3f}")
def test_resolve_marker_edl(rate):
    text = edl_of(labelled_cut(rate), style="resolve")
    assert " |C:ResolveColorBlue |M:Close Up, Low |D:48" in text
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    assert len(events) == 2
    back = otio.adapters.read_from_string(text, "cinemanet_edl", rate=round(rate))
    (marker,) = list(back.find_clips())[0].markers
    assert marker.name == "Close Up, Low" and round(marker.marked_range.duration.value) == 48


def test_edl_per_video_track(tmp_path):
    tl = labelled_cut(25)
    written = write_outputs(tl, [tmp_path / "reel1.edl"], writer_args={"cinemanet_edl": {"style": "avid"}})
    assert [p.name for p in written] == ["reel1.edl", "reel1.V2.edl"]
    v2 = pycmx.parse_cmx3600(io.StringIO(written[1].read_text()))
    (event,) = list(v2.events)
    assert event.edits[0].clip_name == "C003" and event.edits[0].record_in == "01:00:00:10"


def test_edl_input_quirks():
    text = ("\ufeffTITLE: quirks\r\nFCM: DROP FRAME\r\n\r\n"
            "001  BL       V     D    030 00:00:00;00 00:00:01;00 01:00:00;00 01:00:01;00\r\n"
            "002  A001     V     C        10:00:00;00 10:00:02;00 01:00:01;00 01:00:03;00\r\n"
            "* FROM CLIP NAME: A001_C001.mov\r\n"
            "003  A002     A     C        10:00:00:00 10:00:02:00 01:00:01:00 01:00:03:00\r")
    tl = otio.adapters.read_from_string(text, "cinemanet_edl")  # 29.97 from the drop-frame marks
    clips = list(tl.find_clips())
    assert [c.name for c in clips] == ["A001_C001.mov"]
    assert clips[0].source_range.start_time.rate == pytest.approx(30000 / 1001)
    assert round(clips[0].source_range.start_time.value) == timecode.parse("10:00:00;00", 29.97)
    assert isinstance(tl.tracks[0][0], otio.schema.Gap)


@pytest.mark.parametrize("rate", VIDEO_RATES, ids=lambda r: f"{r:.3f}")
def test_fcp7_xml_keeps_markers_with_comments(tmp_path, rate):
    out = tmp_path / "cut.xml"
    write_outputs(labelled_cut(rate), [out])
    back = otio.adapters.read_from_file(str(out), "fcp_xml")
    a = next(c for c in back.find_clips() if c.name == "A001")
    comments = {m.name: m.metadata.get("fcp_xml", {}).get("comment") for m in a.markers}
    assert comments["Shot Framing: Close Up"] == "Close Up (80%) - Shot Framing, cinemanet-edit"
    assert "editor note" in comments
    ours = next(m for m in a.markers if m.name == "Shot Framing: Close Up")
    # xmeml counts clip markers like the clip's <in>: from the media's first frame (OTIO's reader keeps them so)
    media_start = a.media_reference.available_range.start_time
    assert round(ours.marked_range.start_time.value) == round((a.source_range.start_time - media_start).value) == 100
    assert round(a.source_range.duration.value) == 48
    ours_back = read_timeline(out)  # our reader puts them back in source time
    a = next(c for c in ours_back.find_clips() if c.name == "A001")
    assert [round((m.marked_range.start_time - a.source_range.start_time).value) for m in a.markers] == [0, 0, 5]


XMEML_NTSC = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xmeml>
<xmeml version="4">
  <sequence id="sequence-1">
    <name>Premiere cut</name>
    <duration>120</duration>
    <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
    <timecode><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><string>01:00:00:00</string>
      <frame>86400</frame><displayformat>NDF</displayformat></timecode>
    <media><video><track>
      <clipitem id="clipitem-1">
        <name>A001_C002.mov</name>
        <duration>2000</duration>
        <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
        <start>0</start><end>48</end><in>100</in><out>148</out>
        <file id="file-1">
          <name>A001_C002.mov</name>
          <pathurl>file://localhost/Volumes/RAID/Day%201/A001_C002.mov</pathurl>
          <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
          <duration>2000</duration>
          <timecode><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><string>10:00:00:00</string>
            <frame>864000</frame><displayformat>NDF</displayformat></timecode>
          <media><video><samplecharacteristics><width>1920</width><height>1080</height></samplecharacteristics></video></media>
        </file>
      </clipitem>
    </track></video></media>
  </sequence>
</xmeml>
"""


def test_premiere_ntsc_xmeml_input(tmp_path):
    path = tmp_path / "premiere.xml"
    path.write_text(XMEML_NTSC)
    from cinemanet_edit.timeline import MediaResolver, clip_refs, video_clips

    tl = read_timeline(path)
    (ref,) = clip_refs(tl, MediaResolver(tmp_path, (tmp_path,)))
    ((_key, clip),) = video_clips(tl)
    assert clip.media_reference.target_url.endswith("/Volumes/RAID/Day%201/A001_C002.mov")
    assert ref.source.rate == pytest.approx(24000 / 1001, abs=0.01)
    assert ref.skip_reason.startswith("media not found: /Volumes/RAID/Day 1/A001_C002.mov")


def test_sidecar_reports(tmp_path):
    csv_path, json_path = tmp_path / "report.csv", tmp_path / "report.json"
    write_outputs(labelled_cut(30000 / 1001), [csv_path, json_path])
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["clip"] for r in rows] == ["A001", "B002", "C003"]
    a = rows[0]
    assert (a["record_in"], a["record_out"]) == ("01:00:00;00", "01:00:01;18")
    assert a["source_in"] == "10:00:03;10"  # 100 frames after 10:00:00;00
    assert a["shot.framing"] == "Close Up" and a["shot.framing.confidence"] == "0.8000"
    assert a["source_file"] == "/Volumes/Media/A001.mov" and rows[2]["track"] == "V2"
    report = json.loads(json_path.read_text())
    assert report["clips"][1]["labels"]["shot.angle"]["title"] == "High"


def test_tag_writes_several_formats_at_once(tmp_path, clip_25_mjpeg, monkeypatch, capsys):
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    src = one_clip_otio(tmp_path, clip_25_mjpeg, "b", 10, 50)
    outs = [tmp_path / n for n in ("t.fcpxml", "t.edl", "t.csv", "t.json", "t.xml", "tagged.otio")]
    argv = ["tag", str(src), "-q"]
    for o in outs:
        argv += ["-o", str(o)]
    assert cli.main(argv) == 0
    assert all(o.exists() for o in outs)
    assert "* LOC: 00:00:00:00" in (tmp_path / "t.edl").read_text()
    retag = tmp_path / "again.fcpxml"
    assert cli.main(["tag", str(tmp_path / "t.fcpxml"), "-o", str(retag), "-q"]) == 0
    a = next(iter(otio.adapters.read_from_file(str(retag), "cinemanet_fcpxml").find_clips()))
    assert len([m for m in a.markers if "cinemanet" in m.metadata]) == 1  # replaced, not doubled


@pytest.mark.parametrize("suffix,extra", [(".edl", []), (".xml", []), (".fcpxml", ["--chapter-markers"]),
                                          (".txt", ["--format", "edl"])])
def test_retagging_each_format_replaces_only_our_markers(tmp_path, clip_25_mjpeg, monkeypatch, suffix, extra):
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    ref = otio.schema.ExternalReference(target_url=clip_25_mjpeg.as_uri())
    clip = otio.schema.Clip(name="b.mov", media_reference=ref, source_range=TR(RT(10, 25), RT(50, 25)))
    clip.markers.append(otio.schema.Marker(name="NOTE from the director", marked_range=TR(RT(12, 25), RT(1, 25))))
    tl = otio.schema.Timeline(name="t")
    tl.global_start_time = RT(90000, 25)
    tl.tracks.append(otio.schema.Track(children=[clip]))
    src = tmp_path / "t.otio"
    otio.adapters.write_to_file(tl, str(src))
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    assert cli.main(["tag", str(src), "-o", str(first), "-q", *extra]) == 0
    reader = ["--input-format", "cinemanet_edl"] if suffix == ".txt" else []
    assert cli.main(["tag", str(first), "-o", str(second), "-q", *extra, *reader, "--rate", "25"]
                    if suffix in (".edl", ".txt") else ["tag", str(first), "-o", str(second), "-q", *extra]) == 0
    fmt = {"edl": "cinemanet_edl", "xml": "fcp_xml", "fcpxml": "cinemanet_fcpxml", "txt": "cinemanet_edl"}[suffix[1:]]
    args = {"rate": 25} if fmt == "cinemanet_edl" else {}
    back = otio.adapters.read_from_file(str(second), fmt, **args)
    (c,) = list(back.find_clips())
    names = [m.name for m in c.markers]
    assert names.count("Frame: ") == 0 and sum(n.startswith("Frame: ") for n in names) <= 1
    if fmt != "cinemanet_edl":  # EDL locators keep only our labels
        assert sum("director" in n.lower() for n in names) == 1


def test_project_option_picks_an_fcpxml_project(tmp_path, monkeypatch, capsys):

    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    path = tmp_path / "lib.fcpxml"
    path.write_text(FCPXML_EXPORT)
    out = tmp_path / "out.otio"
    assert cli.main(["tag", str(path), "-o", str(out), "--project", "Cut 3", "--json"]) == 1  # no media here
    report = json.loads(capsys.readouterr().out)
    assert report["clips"] == 4  # A001, compound, multicam, the connected B-roll; media are missing here
    assert cli.main(["tag", str(path), "-o", str(out), "--force", "--project", "Nope", "-q"]) == 2
    assert "no project named 'Nope'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- issue 11


def _frames_seen(timeline_path, tmp_path, name, **kwargs) -> list[list[int]]:
    """The media frames the pipeline decodes for each clip (decoded frame ids, the cache off)."""
    from cinemanet_edit.pipeline import tag_file
    from cinemanet_edit.sampling import SamplingPolicy

    analyzer = frame_id_analyzer()
    analyzer.scorer.use_cache = False
    out = tmp_path / name
    tag_file(timeline_path, out, analyzer=analyzer, policy=SamplingPolicy(samples=3), **kwargs)
    return seen(analyzer), out


@pytest.mark.parametrize("rate_name", ["29.97", "59.94"])
def test_rereading_our_edl_analyses_the_same_frames(tmp_path, rate_name, clip_2997_df, clip_5994, clip_23976_tc):
    """A drop-frame cut with media that carry drop-frame start timecodes, and 23.976 media conformed into it:
    tagging our own EDL of it decodes exactly the frames the original timeline did."""
    rate = 30000 / 1001 if rate_name == "29.97" else 60000 / 1001
    native = clip_2997_df if rate_name == "29.97" else clip_5994
    native_start = timecode.parse("00:59:59;00" if rate_name == "29.97" else "10:00:00;00", rate)

    def clip(name, path, media_rate, media_start, first, frames):
        ref = otio.schema.ExternalReference(target_url=path.as_uri())
        return otio.schema.Clip(name=name, media_reference=ref, source_range=TR(
            RT(media_start + first, media_rate), RT(frames, media_rate)))

    a = clip("native", native, rate, native_start, 40, 60)
    b = clip("film", clip_23976_tc, 24000 / 1001, 86400, 12, 48)  # 23.976 media with a 01:00:00:00 start
    tl = otio.schema.Timeline(name="df")
    tl.global_start_time = RT(timecode.parse("01:00:00;00", rate), rate)
    tl.tracks.append(otio.schema.Track(children=[a, otio.schema.Gap(duration=RT(7, rate)), b]))
    src = tmp_path / "df.otio"
    otio.adapters.write_to_file(tl, str(src))
    first_seen, edl = _frames_seen(src, tmp_path, "df.edl")
    assert "FCM: DROP FRAME" in edl.read_text()
    again_seen, _ = _frames_seen(edl, tmp_path, "again.otio", input_args={"rate": rate})
    assert len(first_seen) == 6 and again_seen == first_seen


def test_ndf_2997_input_stays_ndf_and_the_override_wins(tmp_path, clip_25_mjpeg, monkeypatch):
    text = ("TITLE: ndf\nFCM: NON-DROP FRAME\n\n"
            f"001  AX       V     C        00:00:00:10 00:00:01:10 01:00:00:00 01:00:01:00\n"
            f"* FROM CLIP NAME: b\n* SOURCE FILE: {clip_25_mjpeg}\n")
    src = tmp_path / "ndf.edl"
    src.write_text(text)
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    outs = [tmp_path / n for n in ("o.edl", "o.fcpxml", "o.xml", "o.csv")]
    argv = ["tag", str(src), "--rate", "29.97", "-q"] + [x for o in outs for x in ("-o", str(o))]
    assert cli.main(argv) == 0
    edl = (tmp_path / "o.edl").read_text()
    assert "FCM: NON-DROP FRAME" in edl and "01:00:00:00 01:00:01:00" in edl and ";" not in edl
    assert 'tcFormat="NDF"' in (tmp_path / "o.fcpxml").read_text()
    assert "<displayformat>NDF</displayformat>" in (tmp_path / "o.xml").read_text()
    assert list(csv.DictReader((tmp_path / "o.csv").open()))[0]["record_in"] == "01:00:00:00"
    assert cli.main(argv + ["--force", "--drop-frame"]) == 0
    edl = (tmp_path / "o.edl").read_text()
    assert "FCM: DROP FRAME" in edl and "01:00:03;18" in edl  # the same frame, counted drop-frame
    assert 'tcFormat="DF"' in (tmp_path / "o.fcpxml").read_text()


def test_multi_track_edl_refuses_existing_track_files_and_collisions(tmp_path, capsys):
    src = tmp_path / "two.otio"
    otio.adapters.write_to_file(labelled_cut(25), str(src))
    (tmp_path / "cut.V2.edl").write_text("precious")
    assert cli.main(["tag", str(src), "-o", str(tmp_path / "cut.edl"), "-q"]) == 2
    assert "cut.V2.edl: already exists" in capsys.readouterr().err
    assert (tmp_path / "cut.V2.edl").read_text() == "precious" and not (tmp_path / "cut.edl").exists()
    assert cli.main(["tag", str(src), "-o", str(tmp_path / "x.edl"), "-o", str(tmp_path / "x.V2.edl"), "-q"]) == 2
    assert "written twice" in capsys.readouterr().err


def test_media_at_odd_rates_in_fcp7_xml_and_a_shot_used_three_times(tmp_path):
    """10, 12.5 and 15 fps media: no "SMPTE timecode does not support this rate"; three uses of one shot stay
    three clip items over one file."""
    ref = otio.schema.ExternalReference(target_url="file:///m/timelapse.mov",
                                        available_range=TR(RT(0, 12.5), RT(500, 12.5)))
    ref.metadata["cinemanet"] = {"rate": 12.5, "width": 640, "height": 360}
    uses = [otio.schema.Clip(name=f"use {i}", media_reference=ref, source_range=TR(RT(25 * i, 12.5), RT(25, 12.5)))
            for i in range(3)]
    tens = [otio.schema.Clip(name=f"r{r}", media_reference=otio.schema.ExternalReference(
        target_url=f"file:///m/{r}.mov", available_range=TR(RT(0, r), RT(100, r))),
        source_range=TR(RT(r, r), RT(r, r))) for r in (10, 15)]
    tl = otio.schema.Timeline(name="odd")
    tl.global_start_time = RT(0, 24000 / 1001)
    tl.tracks.append(otio.schema.Track(children=uses + tens))
    out = tmp_path / "odd.xml"
    write_outputs(tl, [out])
    back = otio.adapters.read_from_file(str(out), "fcp_xml")
    clips = list(back.find_clips())
    assert [c.name for c in clips] == ["use 0", "use 1", "use 2", "r10", "r15"]
    assert [round(c.range_in_parent().start_time.value) for c in clips] == [0, 48, 96, 144, 168]
    root = etree.parse(str(out)).getroot()
    files = root.findall(".//clipitem/file")
    assert len([f for f in files if f.find("pathurl") is not None]) == 3  # one full <file> per media file
    assert [i.findtext("in") for i in root.findall(".//clipitem")] == ["0", "48", "96", "24", "24"]


def test_text_is_sanitised_for_each_format(tmp_path):
    """A newline in a media path cannot add an EDL event; control characters do not break XML; formulas do not
    reach a spreadsheet."""
    ref = otio.schema.ExternalReference(target_url="file:///m/evil%0A002%20%20AX%20V%20C%2000:00:00:00.mov",
                                        available_range=TR(RT(0, 24), RT(100, 24)))
    clip = otio.schema.Clip(name="=cmd|' /C calc'!A0\x07", media_reference=ref, source_range=TR(RT(0, 24), RT(24, 24)))
    tl = otio.schema.Timeline(name="evil")
    tl.tracks.append(otio.schema.Track(children=[clip]))
    outs = [tmp_path / n for n in ("e.edl", "e.xml", "e.fcpxml", "e.csv")]
    write_outputs(tl, outs)
    events = list(pycmx.parse_cmx3600(io.StringIO(outs[0].read_text())).events)
    assert len(events) == 1
    assert otio.adapters.read_from_file(str(outs[1]), "fcp_xml") is not None
    etree.parse(str(outs[2]))
    row = next(csv.DictReader(outs[3].open()))
    assert row["clip"].startswith("'=")
