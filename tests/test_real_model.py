"""The shipped model, end to end: classify a photograph, tag the shipped example."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio

from cinemanet_edit import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_chelsea_is_a_cat(capsys):
    assert cli.main(["classify", "--json", str(EXAMPLES / "images/chelsea.png")]) == 0
    result = json.loads(capsys.readouterr().out)
    imagenet = result["labels"]["imagenet"]
    assert imagenet["title"] in ("Egyptian cat", "tabby") and imagenet["confidence"] > 0.5
    assert len(imagenet["scores"]) == 5 and imagenet["label"] == next(iter(imagenet["scores"]))


def test_tag_the_shipped_example(tmp_path, capsys):
    out = tmp_path / "tagged.otio"
    assert cli.main(["tag", str(EXAMPLES / "example.otio"), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["analysed"] == 4 and not summary["skipped"]
    clips = {c.name: c for c in otio.adapters.read_from_file(str(out)).find_clips()}
    titles = {name: c.metadata["cinemanet"]["labels"]["imagenet"]["title"] for name, c in clips.items()}
    assert titles["cat"] in ("Egyptian cat", "tabby")
    assert titles["espresso"] == "espresso"
    for c in clips.values():
        names = sorted(m.name.split(": ")[0] for m in c.markers)
        assert names == ["ImageNet", "Shot Angle", "Shot Framing", "Shot Subject", "Shot Type"]
        assert all(m.marked_range == c.trimmed_range() for m in c.markers)
        labels = c.metadata["cinemanet"]["labels"]
        assert set(labels["shot.framing"]["scores"]) == {f"shot.framing.{s}" for s in (
            "extreme-close-up", "close-up", "medium", "long", "extreme-long")}
        assert len(labels["shot.subject"]["scores"]) == 6


def test_a_letterboxed_copy_gets_the_same_labels(tmp_path, capsys):
    """The picture is classified, not the bars: letterboxed and pillarboxed copies of a still (generated from
    the example, bars of 1/6 and 1/5) get the same framing label and nearly the same probabilities."""
    import av
    import numpy as np
    from conftest import save_image

    with av.open(str(EXAMPLES / "images/chelsea.png")) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    h, w = image.shape[:2]
    letterbox = np.zeros((h + 2 * (h // 6), w, 3), np.uint8)
    letterbox[h // 6:h // 6 + h] = image
    pillarbox = np.zeros((h, w + 2 * (w // 5), 3), np.uint8)
    pillarbox[:, w // 5:w // 5 + w] = image
    paths = []
    for name, picture in (("plain", image), ("letterbox", letterbox), ("pillarbox", pillarbox)):
        paths.append(tmp_path / f"{name}.png")
        save_image(paths[-1], picture)
    assert cli.main(["classify", "--json", *map(str, paths)]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    framing = [r["labels"]["shot.framing"] for r in results]
    assert len({f["label"] for f in framing}) == 1
    for other in framing[1:]:
        assert max(abs(other["scores"][k] - framing[0]["scores"][k]) for k in other["scores"]) < 0.02
