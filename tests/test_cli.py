"""The command line, in-process: messages, exit codes, refusing to overwrite, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from fakes import frame_id_analyzer

from cinemanet_edit import cli
from cinemanet_edit.errors import CinemanetError

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


@pytest.fixture(autouse=True)
def fake_model(monkeypatch):
    """CLI tests check plumbing; the real model has its own tests (test_models, test_real_model)."""
    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())


@pytest.fixture
def cut(tmp_path, clip_25_mjpeg):
    track = otio.schema.Track(name="V1")
    for i, url in enumerate([clip_25_mjpeg.as_uri(), (tmp_path / "missing.mov").as_uri()]):
        ref = otio.schema.ExternalReference(target_url=url)
        track.append(otio.schema.Clip(name=f"c{i}", media_reference=ref, source_range=TR(RT(10, 25), RT(50, 25))))
    tl = otio.schema.Timeline(name="cut")
    tl.tracks.append(track)
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path


def test_tag_summary_and_warning(cut, tmp_path, capsys):
    out = tmp_path / "out.otio"
    assert cli.main(["tag", str(cut), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: skipping clip 'c1' (V1.2): media not found:" in err and "missing.mov" in err
    assert "tagged 1 of 2 clips" in err and "Traceback" not in err
    assert out.exists()


def test_strict_exits_1_but_keeps_the_output(cut, tmp_path):
    out = tmp_path / "out.otio"
    assert cli.main(["tag", str(cut), "-o", str(out), "--strict", "-q"]) == 1
    assert out.exists()


def test_json_summary(cut, tmp_path, capsys):
    out = tmp_path / "out.otio"
    assert cli.main(["tag", str(cut), "-o", str(out), "--json", "--samples", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["analysed"] == 1 and summary["clips"] == 2 and summary["frames_analysed"] == 2
    assert summary["skipped"][0]["clip"] == "c1" and summary["skipped"][0]["reason"].startswith("media not found")


def test_existing_output_needs_force(cut, tmp_path, capsys):
    out = tmp_path / "out.otio"
    out.write_text("precious")
    assert cli.main(["tag", str(cut), "-o", str(out), "-q"]) == 2
    assert "already exists (use --force" in capsys.readouterr().err
    assert out.read_text() == "precious"
    assert cli.main(["tag", str(cut), "-o", str(out), "-q", "--force"]) == 0
    assert out.read_text() != "precious"


def test_never_overwrites_the_input(cut, capsys):
    before = cut.read_bytes()
    assert cli.main(["tag", str(cut), "-o", str(cut), "--force"]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert cut.read_bytes() == before


@pytest.mark.parametrize("content,suffix,message", [
    ('{"OTIO_SCHEMA": "Timeline.1", "tracks": ', ".otio", "cannot read as OTIO"),
    ("not a timeline at all", ".xyz", "unknown timeline format"),
    ("<xmeml><sequence>", ".xml", "cannot read as FCP7 XML"),
])
def test_bad_timelines_are_one_line_errors(tmp_path, capsys, content, suffix, message):
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(content)
    out = tmp_path / "out.otio"
    assert cli.main(["tag", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()


def test_missing_input(tmp_path, capsys):
    assert cli.main(["tag", str(tmp_path / "nope.otio"), "-o", str(tmp_path / "o.otio")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_failed_write_leaves_no_partial_file(cut, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.otio"

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(otio.adapters, "write_to_string", broken)
    assert cli.main(["tag", str(cut), "-o", str(out), "-q"]) == 2
    assert "disk full" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [cut]


def test_other_formats_through_otio_adapters(cut, tmp_path, clip_25_mjpeg):
    """Any OTIO adapter writes the tagged timeline (--format names it): here OTIO's own fcp_xml writer, which
    needs every reference's available_range; we fill it from the probed media (one clip's media is missing)."""
    out = tmp_path / "out.xml"
    assert cli.main(["tag", str(cut), "-o", str(out), "--format", "fcp_xml", "-q"]) == 0
    assert "<xmeml" in out.read_text() and "cinemanet" not in out.read_text().split("<sequence")[0]
    clips = {c.name: c for c in otio.adapters.read_from_file(str(out), "fcp_xml").find_clips()}
    assert sorted(clips) == ["c0", "c1"]
    analysed = clips["c0"]
    (marker,) = analysed.markers  # the fake model's one category: the frame it saw, inside frames 10-59
    assert marker.name.startswith("Frame: ") and 10 <= int(marker.name.split(": ")[1]) < 60
    available = analysed.media_reference.available_range
    assert (available.start_time.value, available.duration.value) == (0, 100)  # the probed file: 100 frames
    assert len(clips["c1"].markers) == 0 and clips["c1"].source_range.duration.value == 50


def test_classify_json_contract(clip_25_mjpeg, tmp_path, capsys):
    assert cli.main(["classify", "--json", "--per-sample", "--samples", "3", str(clip_25_mjpeg)]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["path"] == str(clip_25_mjpeg)
    entry = line["labels"]["test.frame"]
    assert set(entry) == {"label", "title", "confidence", "scores", "threshold"} and len(entry["scores"]) == 3
    assert entry["threshold"] == 0.0  # a head without thresholds of its own writes its top label
    times = [s["time"] for s in line["samples"]]
    assert times == pytest.approx([100 / 25 * k / 6 for k in (1, 3, 5)], abs=0.05)
    assert [s["labels"]["test.frame"]["title"] for s in line["samples"]] == ["16", "50", "83"]


def test_classify_bad_file_continues(clip_25_mjpeg, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    assert cli.main(["classify", "--json", str(bad), str(clip_25_mjpeg)]) == 1
    captured = capsys.readouterr()
    lines = [json.loads(x) for x in captured.out.splitlines()]
    assert "error" in lines[0] and "labels" in lines[1]
    assert captured.err.count("\n") == 1


def test_cli_and_pipeline_import_without_tensorflow():
    """TensorFlow takes seconds to load: only the classifier may import it, and only when frames need it."""
    import subprocess
    import sys

    code = "import sys, cinemanet_edit.cli, cinemanet_edit.pipeline; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_unknown_output_format_fails_before_analysis(cut, tmp_path, capsys):
    assert cli.main(["tag", str(cut), "-o", str(tmp_path / "x.unknownformat"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "unknown output format '.unknownformat'" in err and "warning" not in err  # nothing analysed yet
    assert cli.main(["tag", str(cut), "-o", str(tmp_path / "x.out"), "--format", "docx", "-q"]) == 2
    assert "unknown format 'docx'" in capsys.readouterr().err


def test_one_failing_writer_does_not_lose_the_others(cut, tmp_path, monkeypatch, capsys):
    from cinemanet_edit import formats

    real = formats.write_timeline

    def failing(tl, path, *args, **kwargs):
        if str(path).endswith(".csv"):
            raise CinemanetError("disk full")
        return real(tl, path, *args, **kwargs)

    monkeypatch.setattr(formats, "write_timeline", failing)
    good, bad = tmp_path / "good.otio", tmp_path / "bad.csv"
    assert cli.main(["tag", str(cut), "-o", str(bad), "-o", str(good), "-q"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: disk full" in err and "written: " in err and good.exists() and not bad.exists()


def test_classify_a_folder_in_batches(tmp_path, clip_25_mjpeg, capsys):
    import shutil

    folder = tmp_path / "stills"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        shutil.copy(clip_25_mjpeg, folder / "sub" / f"take{i}.mov")
    (folder / "notes.txt").write_text("not media")
    assert cli.main(["classify", "--json", "--samples", "1", str(folder)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [Path(x["path"]).name for x in lines] == ["take0.mov", "take1.mov", "take2.mov"]
    assert all(x["labels"]["test.frame"]["title"] == "50" for x in lines)
