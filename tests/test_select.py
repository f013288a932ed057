"""Selects: the query language, string-outs in timeline order with handles, and valid files in every format."""

from __future__ import annotations

import io

import opentimelineio as otio
import pycmx
import pytest
from conftest import SHARED, tagged_cut
from lxml import etree

from cinemanet_edit import cli
from cinemanet_edit.errors import CinemanetError
from cinemanet_edit.schema import labels_from_json
from cinemanet_edit.select import matches, parse_query, select

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def names(tl) -> list[str]:
    return [c.name for c in tl.find_clips()]


def test_queries_and_their_errors():
    q = parse_query("shot.framing in (close-up, \"Extreme Close Up\") and not shot.angle = high")
    labels = labels_from_json({"shot.framing": {"label": "shot.framing.close-up", "confidence": 0.8, "scores": {}},
                               "shot.angle": {"label": "shot.angle.low", "confidence": 0.6, "scores": {}}})
    assert matches(q, labels) and matches(q, labels, min_confidence=0.7)  # "not" needs no confidence
    sure = parse_query("shot.framing in (close-up, \"Extreme Close Up\") and shot.angle = low")
    assert matches(sure, labels) and not matches(sure, labels, min_confidence=0.7)  # the angle is only 0.6
    assert matches(parse_query("shot.angle = high or shot.framing is shot.framing.close-up"), labels)
    subject = labels_from_json({"shot.subject": {"label": "shot.subject.face", "confidence": 0.9,
                                                 "scores": {"shot.subject.face": 0.9, "shot.subject.faces": 0.55}}})
    assert matches(parse_query("shot.subject has faces"), subject)
    assert not matches(parse_query("shot.subject has faces"), subject, min_confidence=0.6)
    with pytest.raises(CinemanetError, match=r"unknown category 'shot.frame' \(categories: shot.framing"):
        parse_query("shot.frame = close-up")
    with pytest.raises(CinemanetError, match=r"shot.framing has no label 'closeup' \(labels: extreme-close-up"):
        parse_query("shot.framing = closeup")
    for bad in ("", "shot.framing in (close-up", "shot.framing ~ long", "shot.framing = long and"):
        with pytest.raises(CinemanetError):
            parse_query(bad)


def test_string_out_in_timeline_order_with_handles(tmp_path):
    tl = tagged_cut(tmp_path)
    out = select(tl, "shot.framing in (close-up, extreme-close-up)", handles=12)
    assert names(out) == ["a", "d", "c"]  # by record in: a at 0, d at 60 (V2), c at 100
    a, d, c = list(out.find_clips())
    assert (a.source_range.start_time.value, a.source_range.duration.value) == (90000, 62)  # clamped at the head
    assert (d.source_range.start_time.value, d.source_range.duration.value) == (90008, 44)
    assert (c.source_range.start_time.value, c.source_range.duration.value) == (90178, 22)  # clamped at the tail
    assert all("cinemanet" in x.metadata for x in out.find_clips())
    assert names(select(tl, "shot.framing = long")) == ["b"]
    assert names(select(tl, "shot.angle = low", limit=1)) == ["a"]
    with pytest.raises(CinemanetError, match="no labels"):
        select(otio.schema.Timeline(tracks=[otio.schema.Track()]), "shot.angle = low")


def test_select_writes_valid_files_in_every_format(tmp_path, capsys):
    src = tmp_path / "tagged.otio"
    otio.adapters.write_to_file(tagged_cut(tmp_path), str(src))
    outs = [tmp_path / f"s.{ext}" for ext in ("otio", "fcpxml", "edl", "xml", "ale", "csv", "json")]
    argv = ["select", str(src), "--where", "shot.framing in (close-up, extreme-close-up)", "--handles", "5"]
    assert cli.main(argv + [x for o in outs for x in ("-o", str(o))]) == 0
    assert "selected 3 of 4 clips" in capsys.readouterr().err
    assert names(otio.adapters.read_from_file(str(outs[0]))) == ["a", "d", "c"]
    doc = etree.parse(str(outs[1]))
    dtd = SHARED / "dtd" / "FCPXMLv1_10.dtd"
    if dtd.exists():
        assert etree.DTD(str(dtd)).validate(doc)
    assert [e.get("name") for e in doc.iter("asset-clip") if e.getparent().tag == "spine"] == ["a", "d", "c"]
    events = list(pycmx.parse_cmx3600(io.StringIO(outs[2].read_text())).events)
    assert [e.edits[0].clip_name for e in events] == ["a", "d", "c"]
    assert [e.edits[0].record_in for e in events] == ["01:00:00:00", "01:00:02:05", "01:00:03:10"]  # 55, 30, 15 frames
    assert names(otio.adapters.read_from_file(str(outs[3]), "fcp_xml")) == ["a", "d", "c"]
    assert outs[4].read_text().count("\n") > 10 and outs[5].read_text().count("\n") == 4
    assert cli.main(["select", str(src), "--where", "shot.framing = nope", "-o", str(tmp_path / "x.otio")]) == 2
    err = capsys.readouterr().err
    assert "has no label 'nope'" in err and len(err.strip().splitlines()) == 1
