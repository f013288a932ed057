"""The format registry: one entry per format, the OTIO manifest in step with it, the CLI built from it, and
ALE, the format added through it, read back by OTIO's own ALE adapter."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import EDITORIAL_RATES, source_cut

from cinemanet_edit import cli, formats
from cinemanet_edit.taxonomy import describe

MANIFEST = Path(__file__).resolve().parents[1] / "adapters" / "plugin_manifest.json"


def test_manifest_and_registry_agree():
    manifest = {a["name"]: a for a in json.loads(MANIFEST.read_text())["adapters"]}
    ours = {f.adapter: f for f in formats.FORMATS if f.adapter in manifest}
    assert set(manifest) == set(ours)  # every adapter we ship has a registry entry
    for name, entry in manifest.items():
        module = MANIFEST.parent / entry["filepath"]
        assert module.exists(), name
        assert set(entry["suffixes"]) <= {s.lstrip(".") for s in ours[name].suffixes}
        otio.adapters.from_name(name)  # OTIO loads it


def test_suffixes_and_names_are_unique():
    suffixes = [s for f in formats.FORMATS for s in f.suffixes]
    assert len(suffixes) == len(set(suffixes))
    assert len({f.name for f in formats.FORMATS}) == len(formats.FORMATS)


# Every suffix an adapter of OTIO's own claims (the core, the opentimelineio-plugins bundle and the
# adapters spun out of OTIO's contrib), installed here or not: ours may claim none of them.
OTIO_SUFFIXES = {"otio", "otioz", "otiod", "edl", "xml", "fcpxml", "fcpxmld", "aaf", "ale", "svg", "xges", "m3u8",
                 "rv", "ma", "kdenlive", "burnins"}


def test_no_suffix_is_claimed_twice_beside_otios_fcpxml_adapter():
    """OTIO picks an adapter by suffix from every manifest: two claims make the choice depend on load order."""
    pytest.importorskip("otio_fcpx_xml_adapter")  # OTIO's own FCPXML adapter (fcpx_xml), installed by [test]
    claimed = [s for a in otio.plugins.ActiveManifest().adapters for s in a.suffixes]
    assert "fcpx_xml" in {a.name for a in otio.plugins.ActiveManifest().adapters}
    assert len(claimed) == len(set(claimed)), sorted(s for s in claimed if claimed.count(s) > 1)
    ours = {s for a in json.loads(MANIFEST.read_text())["adapters"] for s in a["suffixes"]}
    assert not ours & OTIO_SUFFIXES
    assert otio.adapters.from_filepath("cut.fcpxml").name == "fcpx_xml"  # otioconvert's choice is OTIO's
    assert formats.writer_for(Path("cut.fcpxml")) == "cinemanet_fcpxml"  # ours, picked by name, is ours


def test_cli_offers_every_writer_option_and_format():
    tag = cli.build_parser()._subparsers._group_actions[0].choices["tag"]
    output = next(a for a in tag._actions if "--output" in a.option_strings)
    entries = output.help.split(". Repeat")[0].split(": ", 1)[1].split("; ")  # the -o help lists every writer
    assert entries == [f"{'/'.join(f.suffixes)} ({f.summary})" for f in formats.FORMATS if f.writes]
    for fmt in formats.FORMATS:
        for option in fmt.options:
            action = next(a for a in tag._actions if option.flag in a.option_strings)
            assert action.dest == option.keyword and action.default == option.default
            assert tuple(action.choices or ()) == tuple(option.choices or ())
    args = cli.build_parser().parse_args(["tag", "in.otio", "-o", "x.fcpxml", "--fcpxml-version", "1.8",
                                          "--edl-style", "resolve", "--chapter-markers"])
    by_adapter = cli._writer_args(args)  # each option reaches its own format's adapter, by keyword
    assert by_adapter["cinemanet_fcpxml"] == {"fcpxml_version": "1.8", "chapter_markers": True}
    assert by_adapter["cinemanet_edl"] == {"style": "resolve"}


@pytest.mark.parametrize("rate_id", ["23.976", "29.97DF", "25"])
def test_ale_read_by_otios_ale_adapter(tmp_path, rate_id):
    rid, rate, drop, fps = next(r for r in EDITORIAL_RATES if r[0] == rate_id)
    tl, expected, _sound = source_cut(rate, drop, fps)
    out = tmp_path / "cut.ale"
    formats.write_outputs(tl, [out])
    pytest.importorskip("otio_ale_adapter")
    collection = otio.adapters.read_from_file(str(out), "ale")
    clips = list(collection.find_clips())
    by_name = {c.name: c for c in clips}
    assert sorted(by_name) == sorted(x.name for x in expected)
    n = round(rate)
    for x in expected:
        c = by_name[x.name]
        start = round(c.source_range.start_time.value)
        assert start == round((x.media_start / (round(x.media_rate) if x.media_rate.denominator in (1, 1001)
                                                 else x.media_rate) + x.source_offset) * n), x.name
        assert round(c.source_range.duration.value) == x.record_out - x.record_in
        assert c.media_reference.target_url == x.path
        assert c.metadata["ALE"]["Shot Framing"] == "Close Up"
        assert c.metadata["ALE"]["Shot Angle Confidence"] == "0.80"
    text = out.read_text()
    assert f"FPS\t{fps}" in text
    first = next(line for line in text.splitlines() if line.startswith("A\t"))
    assert (";" in first.split("\t")[2]) == drop


def test_ale_tape_is_the_timelines_reel_else_the_file_name(tmp_path):
    """Media Composer merges ALE rows into known clips by Tape: every row has one, as OTIO's ALE adapter reads."""
    pytest.importorskip("otio_ale_adapter")
    tl, _expected, _sound = source_cut(Fraction(24000, 1001), False, "23.976")
    clips = {c.name: c for c in tl.find_clips()}
    clips["A"].metadata["cmx_3600"] = {"reel": "A001"}  # from an EDL
    clips["B"].media_reference.metadata["fcp_xml"] = {"reel": {"name": "B_ROLL_07"}}  # from FCP7 XML
    clips["C"].metadata["cmx_3600"] = {"reel": "AX"}  # an EDL's "no tape": the file name instead
    out = tmp_path / "cut.ale"
    formats.write_outputs(tl, [out])
    back = otio.adapters.read_from_file(str(out), "ale")
    rows = {c.name: dict(c.metadata["ALE"]) for c in back.find_clips()}
    assert rows["A"]["Tape"] == "A001" and rows["B"]["Tape"] == "B_ROLL_07"
    for name in ("C", "D", "E", "F"):
        assert rows[name]["Tape"] == Path(clips[name].media_reference.target_url).name, name
    assert all(row["Shot Scale"] == "2" for row in rows.values())  # Close Up: second smallest


def test_ale_keeps_to_avids_64_columns():
    from cinemanet_edit_adapters import ale

    few, kept = ale._columns(["shot.framing", "shot.type"])
    assert few[:6] == ["Name", "Tracks", "Start", "End", "Tape", "Source File"]
    assert few[6:9] == ["Shot Framing", "Shot Framing Confidence", "Shot Scale"]
    assert kept == ["shot.framing", "shot.type"]
    many = ["shot.framing"] + [f"custom.head{i}" for i in range(80)]
    columns, kept = ale._columns(many)
    assert len(columns) == 64 == len(set(columns))
    assert kept == many[:len(kept)] and len(kept) == 64 - 6 - 2 - 1  # every title kept, no room for confidences
    assert all(describe(c).title in columns for c in kept)
