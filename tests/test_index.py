"""Archives: `index` cuts every media file under folders into shots and labels them into a Parquet catalogue
(resumable, never corrupt), `search` finds shots across files; the Ray engine gives the same rows.

The media are tiny generated files with hard cuts between static scenes, so TransNetV2 and the shipped heads
run for real in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pycmx
import pytest
from conftest import SHARED, make_video, scene

from cinemanet_edit import cli
from cinemanet_edit.archive import find_media
from cinemanet_edit.catalogue import Catalogue, ShotRow
from cinemanet_edit.engines import EngineOptions
from cinemanet_edit.files import content_fingerprint
from cinemanet_edit.formats import write_outputs
from cinemanet_edit.index import IndexReport, run_index
from cinemanet_edit.search import hits_timeline, search
from cinemanet_edit.types import CategoryLabel

pa = pytest.importorskip("pyarrow")
import pyarrow.dataset as ds  # noqa: E402


def _copy_of(folder: Path, target: Path) -> Path:
    """A copy of a catalogue folder (the module's catalogue stays as the fixture made it)."""
    target.mkdir()
    for part in folder.iterdir():
        (target / part.name).write_bytes(part.read_bytes())
    return target


def _keys(rows) -> list[tuple[str, int]]:
    return [(r.path, r.shot) for r in rows]


def make_cut(path: Path, scenes: list[int], shot_frames: int = 24, rate: Fraction = Fraction(24),
             timecode: str | None = None) -> Path:
    """Static scenes joined by hard cuts (each ``shot_frames`` long)."""
    pictures = [np.ascontiguousarray(np.repeat(np.repeat(scene(k % 5, seed), 2, 0), 2, 1)[:180, :320])
                for k, seed in enumerate(scenes)]
    return make_video(path, rate, len(scenes) * shot_frames, timecode=timecode, gop=250,
                      image=lambda i: pictures[i // shot_frames])


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    (root / "reel1").mkdir()
    (root / "reel1" / "deeper").mkdir()
    make_cut(root / "reel1" / "a.mp4", [1, 2, 3])
    make_cut(root / "reel1" / "deeper" / "b.mov", [4, 5], rate=Fraction(25), timecode="10:00:00:00")
    make_cut(root / "c.mp4", [6, 7], rate=Fraction(30000, 1001))
    (root / "notes.txt").write_text("not media")
    (root / ".DS_Store").write_bytes(b"\0" * 10)
    (root / "broken.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(3000))
    return root


def test_find_media_walks_folders_and_lists_the_rest_as_skipped(archive, tmp_path):
    (archive / "loop").symlink_to(archive, target_is_directory=True)
    try:
        files, skipped = find_media([archive, tmp_path / "nowhere"])
    finally:
        (archive / "loop").unlink()
    assert [f.name for f in files] == ["broken.mp4", "c.mp4", "a.mp4", "b.mov"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons == {".DS_Store": "hidden file", "notes.txt": "not a media file (.txt)",
                       "nowhere": "no such file or folder"}


def test_fingerprint_follows_content_not_name(archive, tmp_path):
    copy = tmp_path / "copy.mp4"
    copy.write_bytes((archive / "c.mp4").read_bytes())
    assert content_fingerprint(copy) == content_fingerprint(archive / "c.mp4")
    copy.write_bytes((archive / "c.mp4").read_bytes() + b"x")
    assert content_fingerprint(copy) != content_fingerprint(archive / "c.mp4")


@pytest.fixture(scope="module")
def catalogue(archive, tmp_path_factory) -> tuple[Path, IndexReport]:
    folder = tmp_path_factory.mktemp("cat") / "catalogue"
    report = run_index([archive], folder)
    return folder, report


def test_index_writes_one_row_per_shot_readable_by_any_parquet_reader(catalogue, archive):
    folder, report = catalogue
    assert (report.files, report.indexed, report.already) == (4, 3, 0)
    assert {Path(s.path).name: s.reason for s in report.skipped}.keys() == {"broken.mp4", ".DS_Store", "notes.txt"}
    table = ds.dataset(folder, format="parquet").to_table()  # pyarrow's reader: the folder is one table
    assert table.num_rows == report.shots == 7
    rows = sorted(table.to_pylist(), key=lambda r: (r["path"], r["shot"]))
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(Path(r["path"]).name, []).append(r)
    # shots exactly where the cuts are, in each file's own frames and timecode
    assert [(r["start_frame"], r["end_frame"]) for r in by_file["a.mp4"]] == [(0, 24), (24, 48), (48, 72)]
    b = by_file["b.mov"]
    assert [(r["start_frame"], r["end_frame"]) for r in b] == [(900000, 900024), (900024, 900048)]
    assert [(r["start_timecode"], r["end_timecode"]) for r in b] == [("10:00:00:00", "10:00:00:24"),
                                                                     ("10:00:00:24", "10:00:01:23")]
    assert [r["start_seconds"] for r in b] == [0.0, 0.96]
    c = by_file["c.mp4"]
    assert c[1]["start_seconds"] == pytest.approx(24 * 1001 / 30000)
    assert c[1]["start_timecode"] == "00:00:00;24"  # 29.97 counts drop-frame
    for r in rows:
        assert r["model"] and len(r["fingerprint"]) == 40 and r["shots"] == len(by_file[Path(r["path"]).name])
        assert r["shot_framing"].startswith("shot.framing.")
        assert 0 < r["shot_framing_confidence"] <= 1
        assert dict(r["shot_framing_scores"])[r["shot_framing"]] == pytest.approx(r["shot_framing_confidence"])
    skipped = json.loads((folder / "_skipped.json").read_text())
    assert any(s["path"].endswith("broken.mp4") for s in skipped)


def test_a_second_run_analyses_nothing_and_a_changed_file_again(catalogue, archive, tmp_path):
    folder, _ = catalogue
    work = _copy_of(folder, tmp_path / "cat")
    again = run_index([archive], work)
    assert (again.indexed, again.already, again.shots) == (0, 3, 0)
    before = {p.name: p.read_bytes() for p in work.glob("part-*")}

    # a file changed in place is analysed again and its rows replaced, the others untouched
    moved = tmp_path / "arch"
    moved.mkdir()
    one = make_cut(moved / "x.mp4", [1, 2])
    run_index([moved], work)
    make_cut(one, [3, 4, 5])
    changed = run_index([moved], work)
    assert (changed.indexed, changed.already) == (1, 0)
    rows = [r for r in Catalogue(work).rows() if r.path == str(one.resolve())]
    assert [r.shot for r in rows] == [1, 2, 3]
    assert all(p.read_bytes() == before[p.name] for p in work.glob("part-*") if p.name in before)


def test_an_interrupted_run_keeps_finished_files_and_resumes(archive, tmp_path):
    folder = tmp_path / "cat"
    calls = []

    def stop_after_first(result, report):
        calls.append(result.path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    report = IndexReport()
    with pytest.raises(KeyboardInterrupt):
        run_index([archive], folder, on_result=stop_after_first, report=report)
    assert report.interrupted
    parts = list(folder.glob("part-*.parquet"))
    assert len(parts) == report.indexed >= 1
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    resumed = run_index([archive], folder)
    assert resumed.already == report.indexed
    assert resumed.indexed == 3 - report.indexed
    assert len(list(folder.glob("part-*.parquet"))) == 3


def test_killing_the_cli_mid_run_loses_only_the_file_in_flight(archive, tmp_path):
    folder = tmp_path / "cat"
    env = dict(os.environ, CINEMANET_NO_CACHE="1")
    command = [sys.executable, "-m", "cinemanet_edit", "index", str(archive), "-o", str(folder), "-q"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list(folder.glob("part-*.parquet")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(list(folder.glob("part-*.parquet")))
    assert done >= 1
    for part in folder.glob("part-*.parquet"):
        assert pa.parquet.read_table(part).num_rows >= 1  # every part whole
    result = subprocess.run(command[:-1] + ["--json"], env=env, capture_output=True, text=True, timeout=600)
    summary = json.loads(result.stdout)
    assert summary["already_in_catalogue"] == done
    assert summary["indexed"] == 3 - done


def test_search_prints_hits_and_writes_a_string_out_every_reader_takes(catalogue, tmp_path, capsys):
    folder, _ = catalogue
    rows = Catalogue(folder).rows()
    wanted = rows[0].labels["shot.framing"].label.rsplit(".", 1)[1]
    expected = [r for r in rows if r.labels["shot.framing"].label.endswith("." + wanted)]
    assert _keys(search(folder, f"shot.framing in ({wanted})").rows) == _keys(expected)
    out_xml, out_edl, out_otio = tmp_path / "hits.fcpxml", tmp_path / "hits.edl", tmp_path / "hits.otio"
    code = cli.main(["search", str(folder), "--where", f"shot.framing in ({wanted})", "--handles", "2",
                     "-o", str(out_xml), "-o", str(out_edl), "-o", str(out_otio)])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == len(expected)
    timeline = otio.adapters.read_from_file(str(out_otio))
    clips = list(timeline.find_clips())
    assert len(clips) == len(expected)
    for clip, row in zip(clips, expected, strict=True):
        assert clip.media_reference.target_url == Path(row.path).as_uri()
        first = max(row.start_frame - 2, row.media_start_frame)
        end = min(row.end_frame + 2, row.media_start_frame + row.media_frames)
        assert clip.source_range.start_time.to_frames() == first
        assert clip.source_range.duration.to_frames() == end - first
        assert clip.metadata["cinemanet"]["labels"]["shot.framing"]["label"] == row.labels["shot.framing"].label
    edl = pycmx.parse_cmx3600(out_edl.open())  # a reader nobody here wrote
    assert len([e for e in edl.events]) == len(expected)
    dtd = SHARED / "dtd" / "FCPXMLv1_10.dtd"
    if dtd.exists():
        from lxml import etree

        assert etree.DTD(str(dtd)).validate(etree.parse(str(out_xml)))


def test_search_works_on_every_category_the_catalogue_holds(catalogue, tmp_path):
    folder, _ = catalogue
    rows = Catalogue(folder).rows()
    top = rows[0].labels["imagenet"].label  # a vocabulary whose labels come from the model's label file
    expected = [r for r in rows if r.labels["imagenet"].label == top and not r.labels["imagenet"].uncertain]
    hits = search(folder, f"imagenet = {top.rsplit('.', 1)[1]}").rows
    assert expected and _keys(hits) == _keys(expected)
    assert all(not h.labels["imagenet"].title.startswith("n0") for h in hits)  # the vocabulary's names, not ids
    assert any(r.labels["imagenet"].uncertain for r in rows)  # below 0.5: kept in the catalogue, never a hit
    has = [r for r in rows if r.labels["imagenet"].scores.get(top, 0) >= 0.5]
    assert _keys(search(folder, f"imagenet has {top.rsplit('.', 1)[1]}").rows) == _keys(has)
    out = tmp_path / "hits.otio"
    assert cli.main(["search", str(folder), "--where", f"imagenet = {top.rsplit('.', 1)[1]}", "-o", str(out)]) == 0
    assert len(list(otio.adapters.read_from_file(str(out)).find_clips())) == len(expected)
    # a catalogue made with heads this installation lacks stays searchable by what its rows name
    other = tmp_path / "other"
    extra = [replace(r, path=r.path + ".copy", labels={**r.labels, "legacy.shot.mood": CategoryLabel(
        "legacy.shot.mood", "legacy.shot.mood.dark" if i % 2 else "legacy.shot.mood.bright", "x", 0.9,
        {"legacy.shot.mood.dark": 0.9 if i % 2 else 0.1})}) for i, r in enumerate(rows)]
    Catalogue(other).add(extra, list(extra[0].labels))
    dark = [r for r in Catalogue(other).rows() if r.labels["legacy.shot.mood"].label.endswith(".dark")]
    assert dark and _keys(search(other, "legacy.shot.mood = dark").rows) == _keys(dark)


def test_search_errors_are_one_line(catalogue, tmp_path, capsys):
    folder, _ = catalogue
    assert cli.main(["search", str(folder), "--where", "shot.framing in (medium-wide)"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "medium-wide" in err and "close-up" in err
    assert cli.main(["search", str(tmp_path), "--where", "shot.framing in (medium)"]) == 2
    assert "no catalogue" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert cli.main(["search", str(tmp_path / "file"), "--where", "shot.framing in (medium)"]) == 2


def test_the_cli_summary_counts_files_hours_shots_and_skips(archive, tmp_path, capsys):
    folder = tmp_path / "cat"
    assert cli.main(["index", str(archive / "reel1"), str(archive / "notes.txt"), "-o", str(folder)]) == 0
    err = capsys.readouterr().err
    summary = err.strip().splitlines()[-1]
    assert "2 media files; indexed 2 (5 shots" in summary
    assert "skipped 1: 1 (not a media file (.txt))" in summary
    assert "h of footage" in summary


# ---------------------------------------------------------------- Ray


def test_ray_gives_the_same_rows_and_survives_a_killed_worker(catalogue, archive, tmp_path):
    pytest.importorskip("ray")
    folder = tmp_path / "cat"
    killed = []

    def kill_one_worker(result, report):
        if not killed and report.done == 1:  # the other actor is busy: kill the one that finished
            os.kill(result.worker, signal.SIGKILL)
            killed.append(result.worker)

    report = run_index([archive], folder, "ray", EngineOptions(workers=2), on_result=kill_one_worker)
    assert killed
    assert (report.indexed, len(report.skipped)) == (3, 3)
    local = Catalogue(catalogue[0]).rows()
    remote = Catalogue(folder).rows()
    assert [(r.path, r.shot, r.start_frame, r.end_frame) for r in remote] == \
        [(r.path, r.shot, r.start_frame, r.end_frame) for r in local]
    for a, b in zip(local, remote, strict=True):
        assert {c: x.label for c, x in a.labels.items()} == {c: x.label for c, x in b.labels.items()}
        assert max(abs(a.labels[c].confidence - b.labels[c].confidence) for c in a.labels) < 1e-4


def test_an_unreachable_ray_cluster_is_one_line(archive, tmp_path, capsys):
    pytest.importorskip("ray")
    code = cli.main(["index", str(archive / "c.mp4"), "-o", str(tmp_path / "cat"), "--engine", "ray",
                     "--address", "127.0.0.1:1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("cinemanet-edit: error: cannot start or reach Ray")


def test_catalogue_timecodes_and_hits_at_every_rate_agree_with_outside_readers(tmp_path):
    """23.976 and 29.97 NDF files starting at 01:00:00:00, a 29.97 DF file starting at 00:59:59;28, 59.94 without
    a start timecode and 12.5 fps: the rows' timecodes are what the `timecode` package makes of their frames, in
    each file's own mode, and the hits timeline is read back by pycmx, OTIO's FCP7 reader and Apple's DTD."""
    from lxml import etree
    from timecode import Timecode

    root = tmp_path / "rates"
    root.mkdir()
    make_cut(root / "a.mov", [1, 2], rate=Fraction(24000, 1001), timecode="01:00:00:00")
    make_cut(root / "b.mov", [3, 4], rate=Fraction(30000, 1001), timecode="01:00:00:00")
    make_cut(root / "c.mov", [5, 6], rate=Fraction(30000, 1001), timecode="00:59:59;28")
    make_cut(root / "d.mov", [7, 8], rate=Fraction(60000, 1001))
    make_cut(root / "e.mov", [9, 0], rate=Fraction(25, 2))
    report = run_index([root], tmp_path / "cat")
    assert (report.indexed, report.shots) == (5, 10)
    everything = "shot.framing in (extreme-close-up, close-up, medium, long, extreme-long)"
    rows = search(tmp_path / "cat", everything).rows
    by = {(Path(r.path).stem, r.shot): r for r in rows}
    modes = {"a": ("23.976", False), "b": ("29.97", False), "c": ("29.97", True), "d": ("59.94", True)}
    starts = {"a": "01:00:00:00", "b": "01:00:00:00", "c": "00:59:59;28", "d": "00:00:00;00"}
    for name, (fps, drop) in modes.items():
        first = Timecode(fps, starts[name], force_non_drop_frame=not drop).frames - 1
        for shot in (1, 2):
            row = by[(name, shot)]
            assert (row.start_frame, row.end_frame) == (first + 24 * (shot - 1), first + 24 * shot)
            for frame, text in ((row.start_frame, row.start_timecode), (row.end_frame, row.end_timecode)):
                assert text == str(Timecode(fps, frames=frame + 1, force_non_drop_frame=not drop)), (name, text)
    assert by[("e", 2)].start_seconds == pytest.approx(24 / 12.5)

    hits = hits_timeline(rows, everything)
    out = [tmp_path / n for n in ("h.edl", "h.xml", "h.fcpxml")]
    write_outputs(hits, out, None, {})
    edl = list(pycmx.parse_cmx3600(out[0].open()).events)
    assert len(edl) == 10
    for event, row in zip(edl[:2], [by[("a", 1)], by[("a", 2)]], strict=True):  # the EDL's own rate: exact
        edit = event.edits[0]
        assert Timecode("23.976", edit.source_in, force_non_drop_frame=True).frames - 1 == row.start_frame
        assert Timecode("23.976", edit.source_out, force_non_drop_frame=True).frames - 1 == row.end_frame
    fcp7 = otio.adapters.read_from_file(str(out[1]), adapter_name="fcp_xml")
    clips = list(fcp7.find_clips())
    assert len(clips) == 10 and clips[0].source_range.start_time.to_frames() == by[("a", 1)].start_frame
    dtd = SHARED / "dtd" / "FCPXMLv1_10.dtd"
    if dtd.exists():
        assert etree.DTD(str(dtd)).validate(etree.parse(str(out[2])))


# ---------------------------------------------------------------- the search path as good as tag's


def test_copies_are_analysed_once_and_listed(archive, tmp_path, capsys):
    folder = tmp_path / "copies"
    folder.mkdir()
    for name in ("one.mp4", "two.mp4", "three.mp4"):
        (folder / name).write_bytes((archive / "c.mp4").read_bytes())
    report = run_index([folder], tmp_path / "cat")
    assert (report.indexed, len(report.copies)) == (1, 2)
    rows = Catalogue(tmp_path / "cat").rows()
    by_path: dict[str, list] = {}
    for r in rows:
        by_path.setdefault(Path(r.path).name, []).append(replace(r, path=""))
    assert sorted(by_path) == ["one.mp4", "three.mp4", "two.mp4"]
    assert by_path["one.mp4"] == by_path["two.mp4"] == by_path["three.mp4"]  # the same rows, each its own path
    # a fourth copy later: from the catalogue, nothing analysed
    (folder / "four.mp4").write_bytes((archive / "c.mp4").read_bytes())
    again = run_index([folder], tmp_path / "cat")
    assert (again.indexed, again.already, len(again.copies)) == (0, 3, 1)
    assert "copies of files already analysed" in again.summary()


def test_a_missing_input_folder_is_an_error(tmp_path, capsys):
    assert cli.main(["index", str(tmp_path / "no" / "such"), "-o", str(tmp_path / "cat")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no such file or folder" in err
    assert not (tmp_path / "cat").exists()


def test_index_compact_from_the_cli_keeps_every_answer(catalogue, tmp_path, capsys):
    folder, _ = catalogue
    work = _copy_of(folder, tmp_path / "cat")
    query = "shot.framing in (extreme-close-up, close-up, medium, long, extreme-long)"
    before = _keys(search(work, query).rows)
    assert cli.main(["index", "--compact", "-o", str(work)]) == 0
    assert "compacted 7 shots into 1 files (3 parts in)" in capsys.readouterr().err
    assert not list(work.glob("part-*.parquet")) and _keys(search(work, query).rows) == before
    assert cli.main(["index", "-o", str(work)]) == 2  # neither paths nor --compact
    assert "--compact" in capsys.readouterr().err


def test_shots_are_numbered_from_one_in_text_json_parquet_and_clip_names(catalogue, tmp_path, capsys):
    folder, _ = catalogue
    table = ds.dataset(folder, format="parquet").to_table(columns=["path", "shot"]).to_pylist()
    a = sorted(r["shot"] for r in table if r["path"].endswith("a.mp4"))
    assert a == [1, 2, 3]
    out = tmp_path / "hits.otio"
    query = "shot.framing in (extreme-close-up, close-up, medium, long, extreme-long)"
    assert cli.main(["search", str(folder), "--where", query, "-o", str(out)]) == 0
    text = [line for line in capsys.readouterr().out.splitlines() if line.split("\t")[0].endswith("a.mp4")]
    assert [line.split("\t")[1] for line in text] == ["shot 1", "shot 2", "shot 3"]
    assert cli.main(["search", str(folder), "--where", query, "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(h["shot"] for h in hits if h["path"].endswith("a.mp4")) == [1, 2, 3]
    names = [c.name for c in otio.adapters.read_from_file(str(out)).find_clips() if c.name.startswith("a ")]
    assert names == ["a 001", "a 002", "a 003"]


def test_no_match_is_one_rule_for_select_and_search(catalogue, tmp_path, capsys):
    folder, _ = catalogue
    nothing = "shot.framing = close-up and shot.framing = long"
    out = tmp_path / "hits.otio"
    assert cli.main(["search", str(folder), "--where", nothing, "-o", str(out)]) == 1
    assert "no shot matches" in capsys.readouterr().err and not out.exists()
    query = "shot.framing in (extreme-close-up, close-up, medium, long, extreme-long)"
    assert cli.main(["search", str(folder), "--where", query, "-o", str(out)]) == 0
    selects = tmp_path / "selects.otio"
    assert cli.main(["select", str(out), "--where", nothing, "-o", str(selects)]) == 1
    assert "no clip matches" in capsys.readouterr().err and not selects.exists()


def test_hits_of_files_of_several_sizes_and_rates_are_written_as_tag_writes_them(tmp_path, capsys):
    """Formats from each file's own frame size and rate, titles from the vocabulary, pictures in the report."""
    from lxml import etree

    root = tmp_path / "mixed"
    root.mkdir()
    pictures = [np.ascontiguousarray(np.repeat(np.repeat(scene(k, 0), 3, 0), 3, 1)[:240, :426]) for k in (1, 3)]
    small = make_video(root / "small.mp4", Fraction(25), 50, size=(426, 240), gop=250,
                       image=lambda i: pictures[i // 25])
    make_cut(root / "wide.mov", [4, 6], rate=Fraction(30000, 1001), timecode="01:00:00;00")
    run_index([root], tmp_path / "cat")
    query = "shot.framing in (extreme-close-up, close-up, medium, long, extreme-long)"
    hits, tagged = tmp_path / "hits.fcpxml", tmp_path / "tagged.fcpxml"
    page = tmp_path / "hits.html"
    assert cli.main(["search", str(tmp_path / "cat"), "--where", query, "-o", str(hits), "-o", str(page)]) == 0
    assert cli.main(["tag", str(small), "-o", str(tagged)]) == 0
    capsys.readouterr()

    def formats(path):
        tree = etree.parse(str(path))
        by_id = {f.get("id"): (f.get("width"), f.get("height"), f.get("frameDuration")) for f in tree.iter("format")}
        return {Path(a.find("media-rep").get("src")).name: by_id[a.get("format")] for a in tree.iter("asset")}

    found = formats(hits)
    assert found["small.mp4"] == formats(tagged)["small.mp4"] == ("426", "240", "1/25s")
    assert found["wide.mov"][:2] == ("320", "180") and found["wide.mov"][2] == "1001/30000s"
    dtd = SHARED / "dtd" / "FCPXMLv1_10.dtd"
    if dtd.exists():
        assert etree.DTD(str(dtd)).validate(etree.parse(str(hits)))
    html = page.read_text()
    assert html.count("<img") >= 4 and "no picture" not in html  # every card shows its shot's frames
    assert "n0" not in "".join(etree.fromstring(hits.read_bytes()).xpath("//keyword/@value"))
    # the same shots as tag cuts and labels them: the same frames behind the labels, the same titles
    as_otio, tagged_otio = tmp_path / "hits.otio", tmp_path / "tagged.otio"
    every = "shot.framing != close-up or shot.framing = close-up"  # every shot, written framing or not
    assert cli.main(["search", str(tmp_path / "cat"), "--where", every, "-o", str(as_otio)]) == 0
    assert cli.main(["tag", str(small), "-o", str(tagged_otio)]) == 0
    capsys.readouterr()

    def shots(path):
        out = {}
        for clip in otio.adapters.read_from_file(str(path)).find_clips():
            if not clip.media_reference.target_url.endswith("small.mp4"):
                continue
            record = clip.metadata["cinemanet"]
            start = clip.source_range.start_time.to_frames()
            out[start] = (list(record["samples"]["source_frames"]),
                          {c: v["title"] for c, v in record["labels"].items()})
        return out

    assert shots(as_otio) == shots(tagged_otio) and len(shots(as_otio)) == 2
    _pictures_load_in_chromium(page)


def _pictures_load_in_chromium(page: Path) -> None:
    """Every card's pictures decode in a real browser (skipped where Chromium is not installed)."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        return
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", "<script>window.addEventListener('load', () => {"
                     "const imgs = [...document.querySelectorAll('.card img')];"
                     "document.body.dataset.loaded = imgs.filter(i => i.naturalWidth > 0).length;"
                     "document.body.dataset.images = imgs.length;"
                     "document.body.dataset.cards = document.querySelectorAll('.card').length;"
                     "document.body.dataset.empty = document.querySelectorAll('.card .empty').length;"
                     "});</script></body>"))
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          "--virtual-time-budget=3000", probe.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    import re

    found = {k: int(v) for k, v in re.findall(r'data-(loaded|images|cards|empty)="(\d+)"', dom)}
    assert found["cards"] >= 2 and found["empty"] == 0 and found["loaded"] == found["images"] >= found["cards"]


# ---------------------------------------------------------------- tag from the catalogue


def _cut_of(paths_and_ranges, rate=24) -> otio.schema.Timeline:
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    track = otio.schema.Track(name="V1")
    for i, (path, start, length) in enumerate(paths_and_ranges):
        track.append(otio.schema.Clip(name=f"c{i}", media_reference=otio.schema.ExternalReference(
            target_url=Path(path).as_uri()), source_range=TR(RT(start, rate), RT(length, rate))))
    return otio.schema.Timeline(name="cut", tracks=[track])


def test_tag_from_the_catalogue_takes_its_labels_and_analyses_only_the_rest(catalogue, archive, tmp_path, capsys):
    folder, _ = catalogue
    a = (archive / "reel1" / "a.mp4").resolve()
    other = make_cut(tmp_path / "new.mp4", [2, 3])  # not in the catalogue
    cut = tmp_path / "cut.otio"
    # inside shot 2; across shots 1-2 with most in shot 1; a sliver of shot 3 (mostly its own); new media
    otio.adapters.write_to_file(_cut_of([(a, 26, 20), (a, 4, 24), (a, 50, 12), (other, 0, 20)]), str(cut))
    out = tmp_path / "tagged.otio"
    assert cli.main(["tag", str(cut), "-o", str(out), "--catalogue", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["from_catalogue"], summary["analysed"]) == (3, 1)
    rows = {r.shot: r for r in Catalogue(folder).rows() if r.path == str(a)}
    clips = list(otio.adapters.read_from_file(str(out)).find_clips())
    for clip, shot in zip(clips[:3], (2, 1, 3), strict=True):
        record = clip.metadata["cinemanet"]
        assert record["model"] == rows[shot].model
        for category, label in rows[shot].labels.items():
            assert record["labels"][category]["label"] == label.label
            assert record["labels"][category]["confidence"] == pytest.approx(label.confidence, abs=1e-6)
    assert "labels" in clips[3].metadata["cinemanet"]  # analysed as usual


def test_tag_from_the_catalogue_by_name_for_a_proxy(catalogue, archive, tmp_path, capsys):
    folder, _ = catalogue
    proxies = tmp_path / "proxies" / "reel1"
    proxies.mkdir(parents=True)
    proxy = make_cut(proxies / "a.mp4", [1, 2, 3])  # the same pictures, other bytes, same name
    with proxy.open("ab") as f:
        f.write(b"\0" * 64)
    assert content_fingerprint(proxy) != content_fingerprint(archive / "reel1" / "a.mp4")
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(_cut_of([(proxy, 26, 20)]), str(cut))
    out = tmp_path / "tagged.otio"
    assert cli.main(["tag", str(cut), "-o", str(out), "--catalogue", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["from_catalogue"] == 0  # other content: not matched by default
    assert cli.main(["tag", str(cut), "-o", str(out), "--catalogue", str(folder), "--catalogue-match", "name",
                     "--json", "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["from_catalogue"] == 1
    # another card's a.mp4 with the same timecode in the catalogue: which one is it? analysed, not guessed
    other_card = tmp_path / "card2" / "a.mp4"
    other_card.parent.mkdir()
    make_cut(other_card, [4, 5, 6])
    two = _copy_of(folder, tmp_path / "two")
    run_index([other_card], two)
    assert cli.main(["tag", str(cut), "-o", str(out), "--catalogue", str(two), "--catalogue-match", "name",
                     "--json", "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["from_catalogue"] == 0


# ---------------------------------------------------------------- watch folders


def test_a_watch_summary_names_copies_apart_from_files_analysed():
    from cinemanet_edit.index import WatchReport

    line = WatchReport(rounds=2, indexed=0, shots=1, copies=1).summary(Path("cat"))
    assert "indexed 0 files and 1 copies of files already analysed (1 shots) in 2 rounds" in line


def test_a_file_counts_as_arrived_once_it_stops_changing(tmp_path):
    from cinemanet_edit.index import _Arrivals

    arrivals, f = _Arrivals(settle=2.0), tmp_path / "x.mp4"
    f.write_bytes(b"a")
    assert arrivals.ready([f], 0.0) == []  # first seen
    f.write_bytes(b"ab")  # still growing
    assert arrivals.ready([f], 1.5) == [] and arrivals.ready([f], 3.0) == []  # changed at 1.5: wait from there
    assert arrivals.ready([f], 3.6) == [f]
    arrivals.indexed([f])
    assert arrivals.ready([f], 10.0) == []  # done, unchanged
    f.write_bytes(b"abc")
    assert arrivals.ready([f], 11.0) == [] and arrivals.ready([f], 13.5) == [f]  # changed: once more


def _parts_for(folder: Path, path: Path) -> list:
    return [r for r in Catalogue(folder).rows() if r.path == str(path.resolve())] if folder.exists() else []


def test_watch_indexes_arrivals_not_files_being_written_and_loses_nothing_over_a_restart(archive, tmp_path):
    inbox, folder = tmp_path / "inbox", tmp_path / "cat"
    inbox.mkdir()
    env = dict(os.environ, CINEMANET_NO_CACHE="1")
    command = [sys.executable, "-m", "cinemanet_edit", "index", "--watch", str(inbox), "-o", str(folder),
               "--interval", "0.2", "--settle", "1.0", "-q"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        data = (archive / "c.mp4").read_bytes()
        growing = inbox / "growing.mp4"
        with growing.open("wb") as f:  # written slowly: never still for the settle time
            for i in range(0, len(data), max(1, len(data) // 12)):
                f.write(data[i:i + max(1, len(data) // 12)])
                f.flush()
                time.sleep(0.4)
                assert not _parts_for(folder, growing), "indexed half-way"
        done_writing = time.monotonic()
        deadline = done_writing + 120
        while not _parts_for(folder, growing) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _parts_for(folder, growing)
        arrived_after = time.monotonic() - done_writing
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0 and "stopped watching; indexed 1 files" in err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
    assert arrived_after < 60  # model loading included on this machine; the poll itself is 0.2 s + settle
    rows = _parts_for(folder, growing)
    # arrived while no watch ran: the restarted watch indexes it and keeps the first
    (inbox / "later.mp4").write_bytes((archive / "reel1" / "a.mp4").read_bytes())
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _parts_for(folder, inbox / "later.mp4") and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"the watch did not stop on SIGINT: {process.communicate()[1][-3000:]}")
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and _parts_for(folder, inbox / "later.mp4"), err
    assert _parts_for(folder, growing) == rows


def test_watch_on_ray_starts_ray_and_its_actors_once_for_every_round(catalogue, archive, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from cinemanet_edit.index import WatchReport, watch

    inbox, folder = tmp_path / "inbox", tmp_path / "cat"
    inbox.mkdir()
    (inbox / "first.mp4").write_bytes((archive / "c.mp4").read_bytes())
    inits, workers, report, now = [], set(), WatchReport(), [0.0]
    real_init = ray.init
    monkeypatch.setattr(ray, "init", lambda *a, **k: inits.append(1) or real_init(*a, **k))

    def tick():
        now[0] += 1.0
        return now[0]

    def between_rounds(_seconds):  # a second file lands after the first round
        if report.rounds == 1 and not (inbox / "second.mp4").exists():
            (inbox / "second.mp4").write_bytes((archive / "reel1" / "a.mp4").read_bytes())

    watch([inbox], folder, "ray", EngineOptions(workers=1), on_result=lambda r, _: workers.add(r.worker),
          settle=0.5, stop=lambda: report.rounds >= 2, report=report, clock=tick, sleep=between_rounds)
    assert (report.rounds, report.indexed) == (2, 2)
    assert len(inits) == 1 and len(workers) == 1  # one Ray, one actor holding the models, for both rounds
    assert not ray.is_initialized()  # shut down when the watch ends
    local = {(Path(r.path).name, r.shot): r for r in Catalogue(catalogue[0]).rows()}
    watched = Catalogue(folder).rows()
    assert len(watched) == 5  # c.mp4's 2 shots and a.mp4's 3: the same rows as a local index gives
    for row in watched:
        original = local[("c.mp4" if row.path.endswith("first.mp4") else "a.mp4", row.shot)]
        assert {c: x.label for c, x in original.labels.items()} == {c: x.label for c, x in row.labels.items()}


def test_a_watch_on_ray_from_the_cli_ends_cleanly_on_sigterm(archive, tmp_path):
    pytest.importorskip("ray")
    inbox, folder = tmp_path / "inbox", tmp_path / "cat"
    inbox.mkdir()
    command = [sys.executable, "-m", "cinemanet_edit", "index", "--watch", str(inbox), "-o", str(folder),
               "--engine", "ray", "--interval", "0.2", "--settle", "0.5", "-q"]
    process = subprocess.Popen(command, env=dict(os.environ, CINEMANET_NO_CACHE="1"), stderr=subprocess.PIPE,
                               text=True)
    try:
        (inbox / "arrived.mp4").write_bytes((archive / "c.mp4").read_bytes())
        deadline = time.monotonic() + 120
        while not _parts_for(folder, inbox / "arrived.mp4") and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)  # Ray's own handler would exit with status 15 and no summary
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and "stopped watching; indexed 1 files" in err, err[-2000:]
    assert _parts_for(folder, inbox / "arrived.mp4")


def test_index_over_a_damaged_part_names_it_and_indexes_its_file_again(catalogue, archive, tmp_path, capsys):
    folder, _ = catalogue
    work = _copy_of(folder, tmp_path / "cat")
    damaged = sorted(work.glob("part-*.parquet"))[0]
    damaged.write_bytes(damaged.read_bytes()[:100])
    assert cli.main(["index", str(archive), "-o", str(work), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["indexed"], summary["already_in_catalogue"]) == (1, 2)
    assert [line for line in err.splitlines() if "left out of the catalogue" in line] == [
        line for line in err.splitlines() if str(damaged) in line] and str(damaged) in err
    assert len(Catalogue(work).rows()) == 7 and "Traceback" not in err  # the part is whole again


def test_hits_from_a_catalogue_without_frame_sizes_take_the_files_own(tmp_path):
    from lxml import etree

    clip = make_video(tmp_path / "small.mp4", Fraction(25), 30, size=(426, 240))
    row = ShotRow(path=str(clip), fingerprint="f", model="m", shot=1, shots=1, start_seconds=0, end_seconds=1.2,
                  start_frame=0, end_frame=30, rate=25.0, start_timecode="00:00:00:00", end_timecode="00:00:01:05",
                  media_start_frame=0, media_frames=30,
                  labels={"shot.framing": CategoryLabel("shot.framing", "shot.framing.medium", "Medium", 0.9,
                                                        {"shot.framing.medium": 0.9})})
    out = tmp_path / "hits.fcpxml"
    write_outputs(hits_timeline([row], "shot.framing = medium"), [out], None, {})
    (fmt,) = etree.parse(str(out)).iter("format")
    assert (fmt.get("width"), fmt.get("height")) == ("426", "240")
