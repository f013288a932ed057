"""The Resolve script against a stand-in of Resolve's scripting objects, with the real engine in-process
(frame-id classifier: labels name the media frame analysed) and, once, in a subprocess with the real model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import SHARED
from fake_resolve import MediaPoolItem, Resolve, Timeline, TimelineItem, place
from fakes import frame_id_analyzer

from cinemanet_edit import cli
from cinemanet_edit.resolve import install, script
from cinemanet_edit.resolve.bridge import run_job

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def engine(job, log):
    return run_job(job, frame_id_analyzer())


class Lines(list):
    def __call__(self, message):
        self.append(message)


def ours(item):
    return {f: m for f, m in item.markers.items() if script.parse_custom_data(m["customData"])}


@pytest.mark.parametrize("fps,start,fixture,media_fps", [
    ("24", 86400, "clip_24", "24"),
    ("23.976", 86400, "clip_23976_tc", "23.976"),
    ("29.97", 107892, "clip_2997_df", "29.97"),  # 01:00:00;00 drop-frame
])
def test_markers_at_the_sampled_frames(fps, start, fixture, media_fps, request):
    path = str(request.getfixturevalue(fixture))
    media = MediaPoolItem("shot", path, media_fps, keywords="Interview, Day 2")
    trimmed = TimelineItem("shot", 0, 60, source_start=30, media=media)
    second_use = TimelineItem("shot again", 0, 30, source_start=0, media=media)
    title = TimelineItem("Title", 0, 24, 0, media=None)
    missing = TimelineItem("gone", 0, 24, 0, media=MediaPoolItem("gone", "/nowhere/gone.mov", media_fps))
    place([trimmed, title, missing, second_use], start)
    resolve = Resolve(Timeline("cut", fps, start, [[trimmed, title], [missing, second_use]]))
    log = Lines()
    script.run(resolve, log, engine=engine)

    # Three centred samples in 60 frames: media frames 30 + 10/30/50; marker from the first to the last.
    (frame, marker), = ours(trimmed).items()
    assert frame == 10 and marker["duration"] == 41
    assert marker["color"] == "Sand"  # the test category is ORANGE, which Resolve calls Sand
    assert set(json.loads(marker["customData"])["keywords"]) <= set(media.meta["Keywords"].split(", "))
    (frame2, _), = ours(second_use).items()
    assert frame2 == 5
    assert not missing.markers and not title.markers
    assert any("skipping V1.2 'Title': no media" in line for line in log)
    assert any("skipped V2.1" in line and "media not found" in line for line in log)
    keywords = media.meta["Keywords"].split(", ")
    assert keywords[:2] == ["Interview", "Day 2"] and len(keywords) == 4  # one label per item added


def test_second_run_replaces_only_our_markers_and_keywords(clip_24):
    media = MediaPoolItem("shot", str(clip_24), "24", keywords="Interview")
    item = place([TimelineItem("shot", 0, 48, source_start=100, media=media)], 86400)[0]
    item.AddMarker(0, "Red", "editor's note", "keep me", 1, "")
    resolve = Resolve(Timeline("cut", "24", 86400, [[item]]))
    script.run(resolve, Lines(), engine=engine)
    first_markers, first_keywords = dict(item.markers), media.meta["Keywords"]
    script.run(resolve, Lines(), engine=engine)
    assert item.markers == first_markers and media.meta["Keywords"] == first_keywords
    assert item.markers[0]["name"] == "editor's note" and len(ours(item)) == 1
    media.meta["Keywords"] += ", Favourite"  # the user adds a keyword between runs
    script.run(resolve, Lines(), engine=engine)
    assert media.meta["Keywords"].startswith("Interview") and "Favourite" in media.meta["Keywords"]
    assert len(media.meta["Keywords"].split(", ")) == 3


def test_dry_run_changes_nothing(clip_24):
    media = MediaPoolItem("shot", str(clip_24), "24")
    item = place([TimelineItem("shot", 0, 48, source_start=0, media=media)], 0)[0]
    log = Lines()
    changes = script.run(Resolve(Timeline("cut", "24", 0, [[item]])), log, dry_run=True, engine=engine)
    assert [c[0] for c in changes] == ["keywords", "set Description", "set Comments", "add marker"]
    assert not item.markers and not media.meta
    assert any(line.startswith("would add marker") for line in log)


def test_description_and_comments_for_smart_bins_and_the_editors_text_kept(clip_24):
    """Smart Bins filter on the Metadata Editor's fields: Description gets the labels, Comments the
    confidences; a field holding the editor's own text is left alone, ours is replaced on the next run."""
    media = MediaPoolItem("shot", str(clip_24), "24")
    media.meta["Description"] = "Wide of the harbour"  # the editor's own
    first = TimelineItem("shot", 0, 30, source_start=0, media=media)
    second = TimelineItem("shot", 0, 30, source_start=90, media=media)
    place([first, second], 0)
    resolve = Resolve(Timeline("cut", "24", 0, [[first, second]]))
    log = Lines()
    script.run(resolve, log, engine=engine)
    assert media.meta["Description"] == "Wide of the harbour"
    assert any("left the Description of shot alone" in line for line in log)
    assert media.meta["Comments"].startswith("Frame: 5 (") and " | Frame: 95 (" in media.meta["Comments"]
    assert "fake@1" in media.meta["Comments"]  # the model that wrote them
    del media.meta["Description"]
    script.run(resolve, Lines(), engine=engine)
    assert media.meta["Description"] == "5 | 95"  # both uses of the file, in timeline order
    second.source_start = 120  # re-cut: the next run replaces what it wrote
    script.run(resolve, Lines(), engine=engine)
    assert media.meta["Description"] == "5 | 125"


def test_learn_menu_entry_keeps_a_renamed_marker(clip_24):
    """The editor renames our marker in Resolve; "CinemaNet Learn Corrections" keeps it, the next tag gives
    the editor's label on that item and the model's on the other."""
    media = MediaPoolItem("shot", str(clip_24), "24")
    first = TimelineItem("shot", 0, 30, source_start=0, media=media)
    second = TimelineItem("shot", 0, 30, source_start=90, media=media)
    place([first, second], 0)
    resolve = Resolve(Timeline("cut", "24", 0, [[first, second]]))
    script.run(resolve, Lines(), engine=engine)
    (marker,) = ours(first).values()
    assert marker["name"] == "5"
    marker["name"] = "300"  # the editor's fix
    log = Lines()
    answer = script.learn(resolve, log, engine=engine)
    assert answer["corrections"] == {"test.frame": 1} and "learned 1 correction(s)" in log[-1]
    script.run(resolve, Lines(), engine=engine)
    (marker,) = ours(first).values()
    assert marker["name"] == "300" and "Frame: 300 (editor's label)" in marker["note"]
    assert json.loads(marker["customData"])["written"] == {"test.frame": "test.frame.300"}
    (other,) = ours(second).values()
    assert other["name"] == "95"  # untouched
    assert script.learn(resolve, Lines(), engine=engine)["corrections"] == {}  # nothing new to learn


def test_older_resolve_without_source_frames(clip_24):
    media = MediaPoolItem("shot", str(clip_24), "24")
    item = place([TimelineItem("shot", 0, 30, source_start=200, media=media, has_source_frames=False)], 0)[0]
    script.run(Resolve(Timeline("cut", "24", 0, [[item]])), Lines(), engine=engine)
    (frame, marker), = ours(item).items()
    assert frame == 5 and marker["name"] == "205"  # left offset 200 + first centred sample


def test_outside_resolve_errors():
    with pytest.raises(script.ScriptError, match="DaVinciResolveScript"):
        script.get_resolve({})

    class Bmd:
        @staticmethod
        def scriptapp(name):
            return None

    with pytest.raises(script.ScriptError, match="not running"):
        script.get_resolve({"bmd": Bmd()})
    with pytest.raises(script.ScriptError, match="no project"):
        script.run(Resolve(None), Lines(), engine=engine)


@pytest.mark.parametrize("platform,scope,env,expected", [
    ("macos", "user", {"HOME": "/Users/ed"},
     "/Users/ed/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Utility"),
    ("macos", "system", {"HOME": "/Users/ed"},
     "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Utility"),
    ("windows", "user", {"APPDATA": r"C:\Users\ed\AppData\Roaming"},
     r"C:\Users\ed\AppData\Roaming\Blackmagic Design\DaVinci Resolve\Support\Fusion\Scripts\Utility"),
    ("windows", "system", {"PROGRAMDATA": r"C:\ProgramData"},
     r"C:\ProgramData\Blackmagic Design\DaVinci Resolve\Fusion\Scripts\Utility"),
    ("linux", "user", {"HOME": "/home/ed"}, "/home/ed/.local/share/DaVinciResolve/Fusion/Scripts/Utility"),
    ("linux", "system", {"HOME": "/home/ed"}, "/opt/resolve/Fusion/Scripts/Utility"),
])
def test_script_folders(platform, scope, env, expected):
    assert str(install.scripts_folder(scope, platform, env)) == expected


def test_install_dry_run_prints_the_folder(capsys):
    assert cli.main(["resolve", "install", "--dry-run", "--platform", "windows", "--system"]) == 0
    out = capsys.readouterr().out
    assert "Blackmagic Design\\DaVinci Resolve\\Fusion\\Scripts\\Utility\\CinemaNet Tag Timeline.py" in out


def test_install_and_uninstall(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    assert cli.main(["resolve", "install"]) == 0
    target = tmp_path / ".local/share/DaVinciResolve/Fusion/Scripts/Utility/CinemaNet Tag Timeline.py"
    text = target.read_text()
    compile(text, str(target), "exec")
    learn = target.with_name("CinemaNet Learn Corrections.py").read_text()
    assert "'action': 'learn'" in learn and "'action': 'tag'" in text
    out = capsys.readouterr().out
    assert out.count("installed: ") == 3 and "CinemaNet Learn Corrections" in out
    assert "Free DaVinci Resolve 21.1" in out and "Timeline Markers from EDL" in out
    assert repr(sys.executable) in text and text.startswith(install.MARK)
    dry = target.with_name("CinemaNet Tag Timeline (dry run).py").read_text()
    assert "'dry_run': True" in dry and "'dry_run': False" in text
    namespace = {}
    exec(compile(dry.replace('if __name__ == "__main__":', "if False:"), "dry", "exec"), namespace)
    assert namespace["CONFIG"]["dry_run"] is True and namespace["CONFIG"]["python"] == sys.executable
    assert cli.main(["resolve", "uninstall"]) == 0 and not target.exists()
    assert not list(target.parent.iterdir())
    assert capsys.readouterr().out.count("removed: ") == 3  # every file it wrote, by name
    target.write_text("someone else's script")
    assert cli.main(["resolve", "uninstall"]) == 2
    assert target.exists() and "not installed by cinemanet-edit" in capsys.readouterr().err


def test_script_runs_the_engine_in_the_users_python(monkeypatch):
    """The subprocess path with the real model: Resolve's Python never imports TensorFlow."""
    monkeypatch.setitem(script.CONFIG, "python", sys.executable)
    cat = EXAMPLES / "media/cat.mov"
    media = MediaPoolItem("cat", str(cat), "23.976", keywords="B-roll")
    item = place([TimelineItem("cat", 0, 48, source_start=24, media=media)], 86400)[0]
    log = Lines()
    script.run(Resolve(Timeline("example", "23.976", 86400, [[item]])), log)
    (marker,) = ours(item).values()
    names = marker["name"].split(", ")
    assert ("Egyptian cat" in names or "tabby" in names) and "Portrait" not in names  # only what is written
    assert marker["color"] == "Blue"  # the colour of its first category, shot framing
    assert "Shot Framing: " in marker["note"] and "ImageNet: " in marker["note"]
    assert "not written: " in marker["note"] and "Shot Type (not applicable)" in marker["note"]  # a cat: nobody
    assert media.meta["Keywords"].startswith("B-roll, ")
    assert any(line.startswith("analysed 3 of 3 frames") for line in log)


def test_free_resolve_path_needs_no_scripting(tmp_path, clip_2997_df, monkeypatch):
    """Free Resolve 21.1 runs no Python scripts: its FCPXML export (29.97 DF, 01:00:00;00 start, media with a
    start timecode) -> `tag` -> a Resolve marker EDL for Timeline > Import > Timeline Markers from EDL, read by
    pycmx and the `timecode` package at the clip's record timecode, and a tagged FCPXML valid against Apple's
    DTD for File > Import > Timeline."""
    import io

    import pycmx
    from fakes import frame_id_analyzer
    from lxml import etree
    from timecode import Timecode

    from cinemanet_edit import timecode as tc

    monkeypatch.setattr(cli, "Analyzer", lambda **kwargs: frame_id_analyzer())
    rate = 30000 / 1001
    media_start = tc.parse("00:59:59;00", rate, drop_frame=True)
    record_start = tc.parse("01:00:00;00", rate, drop_frame=True)
    export = tmp_path / "Timeline 1.fcpxml"  # as Resolve's File > Export > Timeline writes FCPXML 1.8
    export.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.8">
 <resources>
  <format id="r0" name="FFVideoFormat1080p2997" frameDuration="1001/30000s" width="1920" height="1080"/>
  <asset id="r1" name="c_2997.mp4" src="{clip_2997_df.as_uri()}" hasVideo="1" format="r0"
         start="{media_start * 1001}/30000s" duration="{150 * 1001}/30000s"/>
 </resources>
 <library><event name="Timeline 1 (Resolve)"><project name="Timeline 1 (Resolve)">
  <sequence format="r0" tcStart="{record_start * 1001}/30000s" tcFormat="DF" duration="{60 * 1001}/30000s">
   <spine>
    <clip name="c_2997.mp4" offset="{record_start * 1001}/30000s" format="r0" tcFormat="DF"
          start="{(media_start + 30) * 1001}/30000s" duration="{60 * 1001}/30000s">
     <video offset="{(media_start + 30) * 1001}/30000s" ref="r1" start="{(media_start + 30) * 1001}/30000s"
            duration="{60 * 1001}/30000s"/>
    </clip>
   </spine>
  </sequence>
 </project></event></library>
</fcpxml>
""", encoding="utf-8")
    markers, tagged = tmp_path / "markers.edl", tmp_path / "tagged.fcpxml"
    assert cli.main(["tag", str(export), "-o", str(markers), "--edl-style", "resolve", "-o", str(tagged),
                     "-q"]) == 0
    (event,) = pycmx.parse_cmx3600(io.StringIO(markers.read_text(encoding="utf-8"))).events
    edit = event.edits[0]
    assert Timecode("29.97", edit.record_in) == Timecode("29.97", "01:00:00;00")
    line = next(x for x in markers.read_text(encoding="utf-8").splitlines() if x.startswith(" |C:"))
    color, name, duration = (part.split(":", 1)[1].strip() for part in line.strip().split(" |"))
    assert color == "ResolveColorSand" and duration == "60"  # the marker spans the clip
    assert 30 <= int(name) < 90  # the media frame analysed, inside the clip's source range
    root = etree.parse(str(tagged)).getroot()
    dtd_path = SHARED / "dtd" / f"FCPXMLv{root.get('version').replace('.', '_')}.dtd"
    if dtd_path.exists():  # Apple's DTD (../shared): skipped without it, the rest still checked
        assert etree.DTD(str(dtd_path)).validate(root)
    assert [m.get("value") for m in root.iter("marker")] == [f"Frame: {name}"]
