"""The format registry: one entry per format, the OTIO manifest in step with it, the CLI built from it, and
ALE, the format added through it, read back by OTIO's own ALE adapter."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import EDITORIAL_RATES, source_cut

from cinemanet_edit import cli, formats

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
    assert by_adapter["fcpxml"] == {"fcpxml_version": "1.8", "chapter_markers": True}
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
