"""The Resolve script against a stand-in of Resolve's scripting objects, with the real engine in-process
(frame-id classifier: labels name the media frame analysed) and, once, in a subprocess with the real model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
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
    assert [c[0] for c in changes] == ["keywords", "add marker"]
    assert not item.markers and not media.meta
    assert any(line.startswith("would add marker") for line in log)


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
    assert repr(sys.executable) in text and text.startswith(install.MARK)
    dry = target.with_name("CinemaNet Tag Timeline (dry run).py").read_text()
    assert "'dry_run': True" in dry and "'dry_run': False" in text
    namespace = {}
    exec(compile(dry.replace('if __name__ == "__main__":', "if False:"), "dry", "exec"), namespace)
    assert namespace["CONFIG"]["dry_run"] is True and namespace["CONFIG"]["python"] == sys.executable
    assert cli.main(["resolve", "uninstall"]) == 0 and not target.exists()
    assert not list(target.parent.iterdir())
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
