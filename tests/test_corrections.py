"""Editors' corrections: found in edited timelines, kept per media range, given back by the next tag."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
from conftest import LABELLED_CATEGORIES, labelled, tagged_cut

from cinemanet_edit import cli
from cinemanet_edit.corrections import Correction, CorrectionStore, edited_labels

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_a_correction_applies_to_the_media_range_it_covers(tmp_path):
    store = CorrectionStore(tmp_path / "c.sqlite")
    assert store.for_range("abc", 0, 100) == {}  # nothing learned yet: no file is made
    assert not (tmp_path / "c.sqlite").exists()
    store.add([Correction("abc", 100, 200, "shot.framing", "shot.framing.medium", "Medium")])
    assert store.for_range("abc", 100, 200)["shot.framing"].label == "shot.framing.medium"
    assert store.for_range("abc", 120, 220)  # covers 80% of that clip
    assert store.for_range("abc", 180, 300) == {}  # 20%: another shot of the same file
    assert store.for_range("other", 100, 200) == {}  # another file
    store.add([Correction("abc", 100, 200, "shot.framing", "shot.framing.long", "Long Shot")])
    assert store.for_range("abc", 100, 200)["shot.framing"].label == "shot.framing.long"  # the newest


def test_a_renamed_marker_and_a_changed_keyword_are_corrections():
    cut = tagged_cut()
    clip = next(iter(cut.find_clips()))
    assert edited_labels(clip, LABELLED_CATEGORIES) == {}  # untouched
    framing = next(m for m in clip.markers if m.name.startswith("Shot Framing"))
    framing.name = "Shot Framing: Medium"
    assert edited_labels(clip, LABELLED_CATEGORIES) == {"shot.framing": "shot.framing.medium"}
    framing.name = "Shot Framing: Nonsense"  # not a label of the category: nothing to learn
    assert edited_labels(clip, LABELLED_CATEGORIES) == {}
    other = otio.schema.Clip(name="x", source_range=clip.source_range)
    labelled(other, "shot.framing.close-up", "shot.angle.low")
    other.metadata["fcpxml"] = {"keywords": [{"value": "Extreme Long Shot, Low", "note": "cinemanet-edit"}]}
    assert edited_labels(other, LABELLED_CATEGORIES) == {"shot.framing": "shot.framing.extreme-long"}
    other.metadata["fcpxml"] = {"keywords": [{"value": "Close Up, Low, B-roll", "note": "cinemanet-edit"}]}
    assert edited_labels(other, LABELLED_CATEGORIES) == {}  # the editor's own keyword is no correction


def _labels(path: Path) -> dict[str, dict]:
    """Every clip's label entries, as plain data."""
    clips = otio.adapters.read_from_file(str(path)).find_clips()
    return {c.name: json.loads(otio.core.serialize_json_to_string(c.metadata))["cinemanet"]["labels"] for c in clips}


def test_an_editors_correction_survives_a_retag_in_otio_and_fcpxml(tmp_path, capsys):
    """The shipped example tagged, one marker renamed in the .otio and one keyword changed in the .fcpxml;
    `learn` keeps both; re-tagging either timeline gives the editor's labels, and no other clip changes."""
    tagged, tagged_xml = tmp_path / "tagged.otio", tmp_path / "tagged.fcpxml"
    assert cli.main(["tag", str(EXAMPLES / "example.otio"), "-o", str(tagged), "-o", str(tagged_xml), "-q"]) == 0
    before = _labels(tagged)
    cut = otio.adapters.read_from_file(str(tagged))
    espresso = next(c for c in cut.find_clips() if c.name == "espresso")
    marker = next(m for m in espresso.markers if m.name.startswith("Shot Angle"))
    marker.name = "Shot Angle: High"  # the editor's fix of "Aerial"
    edited = tmp_path / "edited.otio"
    otio.adapters.write_to_file(cut, str(edited))
    xml = tagged_xml.read_text(encoding="utf-8")
    # on the project's clip and its browser clip: FCP keeps a clip's keywords on its event clip, so an edit
    # in FCP changes both
    assert xml.count('value="Extreme Close Up, Animal, Egyptian cat"') == 2
    edited_xml = tmp_path / "edited.fcpxml"
    edited_xml.write_text(xml.replace('value="Extreme Close Up, Animal, Egyptian cat"',
                                      'value="Close Up, Animal, Egyptian cat"'), encoding="utf-8")
    capsys.readouterr()
    roots = ["--media-root", str(EXAMPLES / "media")]  # the example names its media relative to itself
    assert cli.main(["learn", str(edited), str(edited_xml), "--json", *roots]) == 0
    learned = json.loads(capsys.readouterr().out)
    assert learned == {"timelines": 2, "corrections": {"shot.angle": 1, "shot.framing": 1}, "skipped": []}
    again = tmp_path / "again.otio"
    assert cli.main(["tag", str(edited), "-o", str(again), "-q", *roots]) == 0
    after = _labels(again)
    fixed_angle, fixed_framing = after["espresso"]["shot.angle"], after["cat"]["shot.framing"]
    assert fixed_angle["label"] == "shot.angle.high" and fixed_angle["editor"] is True
    assert fixed_framing["label"] == "shot.framing.close-up" and fixed_framing["editor"] is True
    for name, labels in before.items():  # everything else as the model wrote it the first time
        for category, entry in labels.items():
            if (name, category) not in {("espresso", "shot.angle"), ("cat", "shot.framing")}:
                assert after[name][category] == entry, (name, category)
    markers = {m.name for c in otio.adapters.read_from_file(str(again)).find_clips() for m in c.markers}
    assert "Shot Angle: High" in markers and "Shot Angle: Aerial" not in markers
    from_xml = tmp_path / "again.fcpxml"
    assert cli.main(["tag", str(edited_xml), "-o", str(from_xml), "-q", *roots]) == 0
    assert 'value="Close Up, Animal, Egyptian cat"' in from_xml.read_text(encoding="utf-8")


def test_learn_says_when_there_is_nothing_to_learn(tmp_path, capsys):
    tagged = tmp_path / "tagged.otio"
    otio.adapters.write_to_file(tagged_cut(), str(tagged))
    assert cli.main(["learn", str(tagged)]) == 0
    assert capsys.readouterr().out.strip() == "no corrections found in 1 timeline(s)"
    assert cli.main(["learn", str(tmp_path / "missing.otio")]) == 2


def test_a_retitled_edl_locator_and_an_edited_ale_column_are_learned(tmp_path, capsys):
    """EDLs and ALEs keep no record of ours: learn compares what they show with what tag noted it wrote for
    each media range. The EDL is read by OTIO's cmx_3600 adapter, the ALE by OTIO's ALE adapter."""
    edl, ale = tmp_path / "tagged.edl", tmp_path / "tagged.ale"
    roots = ["--media-root", str(EXAMPLES / "media")]
    assert cli.main(["tag", str(EXAMPLES / "example.otio"), "-o", str(edl), "-o", str(ale), "-q"]) == 0
    capsys.readouterr()
    assert cli.main(["learn", str(edl), str(ale), "--json", *roots]) == 0  # as written: nothing to learn
    assert json.loads(capsys.readouterr().out)["corrections"] == {}
    text = edl.read_text()
    assert text.count("Shot Framing: Extreme Close Up") == 2  # cat, espresso
    edited_edl = tmp_path / "edited.edl"
    edited_edl.write_text(text.replace("Shot Framing: Extreme Close Up", "Shot Framing: Close Up", 1))
    rows = ale.read_text().splitlines()
    header = next(i for i, line in enumerate(rows) if line == "Column") + 1
    columns = rows[header].split("\t")
    espresso = next(i for i, line in enumerate(rows) if line.startswith("espresso\t"))
    cells = rows[espresso].split("\t")
    assert cells[columns.index("Shot Angle")] == "Aerial"
    cells[columns.index("Shot Angle")] = "High"  # the assistant's fix in the bin column
    rows[espresso] = "\t".join(cells)
    edited_ale = tmp_path / "edited.ale"
    edited_ale.write_text("\n".join(rows) + "\n")
    assert cli.main(["learn", str(edited_edl), str(edited_ale), "--json", *roots]) == 0
    assert json.loads(capsys.readouterr().out)["corrections"] == {"shot.framing": 1, "shot.angle": 1}
    again = tmp_path / "again.otio"
    assert cli.main(["tag", str(EXAMPLES / "example.otio"), "-o", str(again), "-q"]) == 0
    after = _labels(again)
    assert after["cat"]["shot.framing"]["label"] == "shot.framing.close-up" and after["cat"]["shot.framing"]["editor"]
    assert after["espresso"]["shot.angle"]["label"] == "shot.angle.high"
    assert after["espresso"]["shot.framing"]["label"] == "shot.framing.extreme-close-up"  # not edited


def test_a_store_from_before_media_paths_were_kept_still_reads_and_takes_them(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE corrections (fingerprint TEXT, first INTEGER, end_ INTEGER, category TEXT, label TEXT, "
               "title TEXT, source TEXT, at REAL, PRIMARY KEY (fingerprint, first, end_, category))")
    db.execute("INSERT INTO corrections VALUES ('abc', 0, 100, 'shot.framing', 'shot.framing.medium', 'Medium', "
               "'cut.otio', 1.0)")
    db.commit()
    db.close()
    store = CorrectionStore(path)
    assert store.for_range("abc", 0, 100)["shot.framing"].media == ""
    store.add([Correction("abc", 200, 300, "shot.angle", "shot.angle.low", "Low", "cut.otio", "/media/a.mov")])
    assert store.for_range("abc", 200, 300)["shot.angle"].media == "/media/a.mov"
    assert store.for_range("abc", 0, 100)["shot.framing"].label == "shot.framing.medium"
