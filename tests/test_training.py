"""Training data handling and the train / evaluate / import-legacy commands, on tiny generated images."""

from __future__ import annotations

import json
import os

import av
import numpy as np
import pytest
from conftest import SHARED, save_image, scene

from cinemanet_edit import cli, models
from cinemanet_edit.taxonomy import SHOT_FRAMING
from cinemanet_edit.training import data as dataset

RNG = np.random.default_rng(7)



def test_near_duplicates_share_a_group():
    a = RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    b = av.VideoFrame.from_ndarray(a, format="rgb24").reformat(width=40, height=40).to_ndarray(format="rgb24")
    c = RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    hashes = [dataset.dhash(a), dataset.dhash(b), dataset.dhash(c)]
    groups = dataset.group_near_duplicates(hashes, ["x", "y", "z"])
    assert groups[0] == groups[1] != groups[2]
    assert dataset.group_near_duplicates([1, 2**63], ["same", "same"])[0] == \
        dataset.group_near_duplicates([1, 2**63], ["same", "same"])[1]


def test_split_keeps_groups_whole():
    labels = ["a"] * 50 + ["b"] * 50
    groups = [i // 2 for i in range(100)]
    train, val = dataset.split_by_group(labels, groups, 0.2, seed=3)
    assert not set(train) & set(val) and len(train) + len(val) == 100
    assert {groups[i] for i in train}.isdisjoint({groups[i] for i in val})
    assert 14 <= len(val) <= 26 and sum(labels[i] == "a" for i in val) >= 6


def test_a_manifest_group_keeps_its_images_on_one_side_of_every_split(tmp_path):
    """Frames of one film scene are alike without being near-copies: the manifest's group column binds them."""
    csv = tmp_path / "film.csv"
    rows = "".join(f"img/{i}.jpg,shot.framing,shot.framing.close-up,{'scene-a' if i < 10 else ''}\n"
                   for i in range(40))
    csv.write_text("image,category,label,group\n" + rows)
    examples = dataset.load_examples(csv, "shot.framing")
    named = [e.group for e in examples]
    assert len(set(named[:10])) == 1 and named[0] and not any(named[10:])
    hashes = [int(RNG.integers(0, 2**63)) for _ in examples]  # far apart: no near-duplicates
    digests = [str(i) for i in range(40)]
    groups = dataset.group_near_duplicates(hashes, digests, named=named)
    assert len(set(groups[:10])) == 1 and len(set(groups)) == 31
    for seed in range(8):
        held = dataset.split_images([e.label for e in examples], hashes, digests, 0.3, seed, named)
        assert len({d in held for d in digests[:10]}) == 1
    assert dataset.group_near_duplicates(hashes, digests) == list(range(40))  # no column, no grouping


def test_manifest_and_folder_layouts(tmp_path, poets_folder):
    csv = tmp_path / "labels.csv"
    csv.write_text("image,category,label\nimg/a.jpg,shot.framing,shot.framing.close-up\n"
                   "img/b.jpg,shot.type,shot.type.master\nimg/c.jpg,shot.framing,Long Shot\n")
    examples = dataset.load_examples(csv, "shot.framing")
    assert [(e.path.name, e.label) for e in examples] == [("a.jpg", "shot.framing.close-up"),
                                                          ("c.jpg", "shot.framing.long")]
    assert len(dataset.load_examples(poets_folder, "shot.framing")) == 5 * 14
    csv.write_text("image,category,label\nimg/a.jpg,shot.framing,wide\n")
    with pytest.raises(Exception, match="unknown label 'wide'"):
        dataset.load_examples(csv, "shot.framing")


def test_train_writes_a_reproducible_head_and_card(poets_folder, tmp_path, capsys):
    out = tmp_path / "models"
    argv = ["train", str(poets_folder), "--category", "shot.framing", "-o", str(out), "--epochs", "150", "--json"]
    assert cli.main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["balanced_accuracy"] >= 0.8 and metrics["n"] >= 10
    head = np.load(out / "shot.framing.npz")
    card = (out / "shot.framing.md").read_text()
    assert "cinemanet-edit train" in card and "Balanced accuracy" in card and "Close Up" in card
    assert "**Calibration:** the logits are divided by a temperature of" in card
    assert metrics["temperature"] > 0 and "uncalibrated_expected_calibration_error" in metrics
    per_source = metrics["domains"][poets_folder.name]  # repeated group k-fold, one row per data source
    assert per_source["n"] == 70 and len(per_source["balanced_accuracy_per_repeat"]) == 3
    assert "## Per data source" in card and f"| {poets_folder.name} | 70 | " in card
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["heads"][0]["category"] == "shot.framing"
    assert metrics["refit_all_images"] == 0 and "used for this report only" in card
    first = head["kernel"].copy()
    assert cli.main(argv) == 0  # the same command again gives the same head
    assert np.array_equal(np.load(out / "shot.framing.npz")["kernel"], first)
    capsys.readouterr()
    assert cli.main(argv + ["--refit-all"]) == 0
    refit = json.loads(capsys.readouterr().out)
    assert refit["refit_all_images"] == 70 and refit["balanced_accuracy"] == metrics["balanced_accuracy"]
    assert "refitted on all 70 images" in (out / "shot.framing.md").read_text()
    assert not np.array_equal(np.load(out / "shot.framing.npz")["kernel"], first)
    # Installed as a user head, classify and tag report the new category under the same contract.
    model_set = models.load_model_set(user_folder=out)
    assert "shot.framing" in [h.category.id for h in model_set.heads]
    assert cli.main(["evaluate", str(poets_folder), "--category", "shot.framing", "--json"]) == 0
    bundled = json.loads(capsys.readouterr().out)  # the shipped head, not the one just written elsewhere
    assert bundled["categories"]["shot.framing"]["n"] == 70


def test_refit_all_validates_first_then_fits_every_image():
    """--refit-all: the reported metrics are the validated fit's; the weights are a fit on every image."""
    from pathlib import Path

    from cinemanet_edit.training.features import FeatureSet
    from cinemanet_edit.training.job import train_category
    from cinemanet_edit.training.linear import fit_linear

    labels = [label.id for label in SHOT_FRAMING.labels]
    y = np.arange(100) % 5
    x = RNG.normal(0, 1, (100, 2, 16)).astype(np.float32)
    x[np.arange(100), :, y] += 2.0  # separable enough to learn, noisy enough that the data matters
    fs = FeatureSet([dataset.Example(Path(f"{i}.png"), labels[t]) for i, t in enumerate(y)], x,
                    [int(h) for h in RNG.integers(0, 2**62, 100)], [f"d{i}" for i in range(100)])
    plain = train_category(fs, SHOT_FRAMING, epochs=60, l2_grid=(0.1,))
    refit = train_category(fs, SHOT_FRAMING, epochs=60, l2_grid=(0.1,), refit_all=True)
    assert plain.refit_size == 0 and refit.refit_size == 100
    assert np.array_equal(refit.validation.confusion, plain.validation.confusion)
    assert not np.allclose(refit.kernel, plain.kernel)
    kernel, _ = fit_linear(x.reshape(200, 16), np.repeat(y, 2), 5, False, 0.1, 60)
    assert np.allclose(refit.kernel, kernel / refit.temperature)  # the same temperature, folded in
    assert refit.temperature == plain.temperature and refit.temperature != 1.0


def test_temperature_recovers_how_over_sure_a_head_is():
    from cinemanet_edit.training.linear import expected_calibration_error, fit_temperature

    true_logits = RNG.normal(0, 2, (4000, 5))
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = np.array([RNG.choice(5, p=row) for row in p])
    over_sure = true_logits * 3  # what a head trained too long reports
    t = fit_temperature(over_sure, y, multi_label=False)
    assert t == pytest.approx(3, rel=0.1)

    def soft(z):
        return np.exp(z) / np.exp(z).sum(1, keepdims=True)

    assert expected_calibration_error(y, soft(over_sure / t)) < 0.03 < expected_calibration_error(y, soft(over_sure))
    sig = 1 / (1 + np.exp(-true_logits))  # one-vs-rest: each label on with its own probability
    on = RNG.random(sig.shape) < sig
    first = on.argmax(1)  # a single label per image, as the data gives them
    keep = on.any(1)
    assert 0.2 < fit_temperature(true_logits[keep] * 0.5, first[keep], multi_label=True) < 5


def test_evaluate_installed_head(poets_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CINEMANET_MODELS", str(tmp_path / "user"))
    assert cli.main(["train", str(poets_folder), "--category", "shot.framing", "--epochs", "150", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(poets_folder), "--category", "shot.framing", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["categories"]["shot.framing"]["balanced_accuracy"] >= 0.8
    assert cli.main(["classify", "--json", str(poets_folder / "close-up" / "0.png")]) == 0
    entry = json.loads(capsys.readouterr().out)["labels"]["shot.framing"]
    assert set(entry["scores"]) == {label.id for label in SHOT_FRAMING.labels}
    assert entry["title"] in {label.title for label in SHOT_FRAMING.labels}


def test_imported_legacy_heads_match_the_graphs(tmp_path):
    legacy = SHARED / "legacy-cinemanet"
    if not legacy.is_dir():
        pytest.skip("../shared/legacy-cinemanet is absent")
    from cinemanet_edit.training.legacy import import_legacy, legacy_head_output

    installed = {c: n for c, _, n in import_legacy(legacy, tmp_path)}
    assert installed["places365"] == 365 and installed["legacy.shot.framing"] == 5
    model_set = models.load_model_set(user_folder=tmp_path)
    heads = {h.category.id: h for h in model_set.heads}
    logits = np.random.default_rng(0).normal(0, 3, (16, 1001)).astype(np.float32)
    for prefix, category in (("PlacesNet", "places365"), ("CinemaNetShotAngles", "legacy.shot.angle"),
                             ("CinemaNetShotFraming", "legacy.shot.framing"),
                             ("CinemaNetShotSubject", "legacy.shot.subject"),
                             ("CinemaNetShotType", "legacy.shot.type")):
        reference = legacy_head_output(legacy / f"{prefix}Classifier.pb", logits)
        ours = heads[category](np.zeros((16, 1024)), logits)
        assert np.abs(ours - reference).max() < 1e-5, category
    places = heads["places365"].category
    assert places.labels[0].id == "places365.office-building" and places.top_k == 5
    assert heads["legacy.shot.type"].category.label("legacy.shot.type.two-up").title == "Two Up"


def test_expected_calibration_error():
    from cinemanet_edit.training.linear import evaluate, expected_calibration_error

    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 0, 1, 1])
    # bins: 0.9 right (0.1), 0.8 right (0.2), 0.6 wrong (0.6), 0.7 right (0.3), a quarter each
    assert expected_calibration_error(y, p) == pytest.approx(0.3)
    assert evaluate(y, p, ["a", "b"]).to_json()["expected_calibration_error"] == 0.3
    sure_and_right = np.eye(3)
    assert expected_calibration_error(np.arange(3), sure_and_right) == 0


def test_near_duplicate_hashes_see_the_whole_frame_bars_included(tmp_path):
    """The split must not move when the network's input preparation changes (bars are cropped for the
    network): the dHash is taken from the whole frame."""
    from cinemanet_edit import decode
    from cinemanet_edit.training.features import _decode_and_hash

    image = (RNG.random((180, 320, 3)) * 200 + 40).astype(np.uint8)
    image[:30] = 0
    image[-30:] = 0  # letterbox bars
    path = tmp_path / "bars.png"
    save_image(path, image)
    network_view, h = _decode_and_hash(path, 224, tmp_path / "h")
    whole = next(iter(decode.decode_frames(path, [0], 224, crop_bars=False))).image
    assert h == dataset.dhash(whole) != dataset.dhash(network_view)
    assert int((tmp_path / "h").read_text()) == h


def film_like_source(folder, per_label: int, seed: int, grouped: bool = False, letterbox: bool = True):
    """A second data source of generated frames (letterboxed like film frames; ``grouped``: pairs of
    frames share a scene group): its labels.csv, one row per frame."""
    folder.mkdir()
    rows = ["image,category,label" + (",group" if grouped else "")]
    for i, label in enumerate(SHOT_FRAMING.labels):
        for k in range(per_label):
            image = scene(i, seed + 10 * i + k)
            if letterbox:
                image[:20] = 0
                image[-20:] = 0
            save_image(folder / f"{i}_{k}.png", image)
            rows.append(f"{i}_{k}.png,shot.framing,{label.id}" + (f",scene-{i}-{k // 2}" if grouped else ""))
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder / "labels.csv"


def test_cross_validation_scores_each_domain_with_a_spread(poets_folder, tmp_path, capsys):
    """evaluate --cross-validate: the recipe over repeated group folds of the sources pooled, per source."""
    film = film_like_source(tmp_path / "film", 6, 7000)
    argv = ["evaluate", str(poets_folder), str(film), "--category", "shot.framing",
            "--cross-validate", "3", "--repeats", "2", "--json"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)["cross_validation"]["shot.framing"]
    assert (report["folds"], report["repeats"], report["l2"]) == (3, 2, 0.01)
    domains = report["domains"]
    assert set(domains) == {poets_folder.name, "film/labels"}
    assert domains["film/labels"]["n"] == 30 and domains[poets_folder.name]["n"] == 70
    for m in domains.values():
        assert len(m["balanced_accuracy_per_repeat"]) == 2
        assert 0.5 <= m["balanced_accuracy_mean"] <= 1 and m["balanced_accuracy_std"] >= 0
        assert 0 <= m["expected_calibration_error_mean"] <= 1
    assert cli.main(argv[:-1]) == 0
    out = capsys.readouterr().out
    assert "shot.framing: 3-fold x 2" in out and "film/labels" in out and "+-" in out


def test_learning_curve_thins_one_domain_and_rejects_bad_shares(poets_folder, tmp_path, capsys):
    """evaluate --learning-curve: fewer training groups of the named domain, the held-out folds unchanged."""
    film = film_like_source(tmp_path / "film", 6, 9000, grouped=True, letterbox=False)
    base = ["evaluate", str(poets_folder), str(film), "--category", "shot.framing",
            "--cross-validate", "3", "--repeats", "2"]
    assert cli.main([*base, "--learning-curve", "0.2,0.6", "--curve-domain", "film/labels", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["cross_validation"]["shot.framing"]
    curve = report["learning_curve"]
    assert curve["domain"] == "film/labels" and [p["fraction"] for p in curve["points"]] == [0.2, 0.6]
    for point in curve["points"]:
        assert point["domains"]["film/labels"]["n"] == 30  # every image is still scored
        assert len(point["domains"]["film/labels"]["balanced_accuracy_per_repeat"]) == 2
    assert cli.main([*base, "--learning-curve", "0.5"]) == 0
    assert "50% of the training groups of all" in capsys.readouterr().out
    for bad in (["--learning-curve", "0"], ["--learning-curve", "1.5"], ["--learning-curve", "x"]):
        with pytest.raises(SystemExit):
            cli.main([*base, *bad])
    assert cli.main([*base, "--learning-curve", "0.5", "--curve-domain", "nope"]) != 0
    assert cli.main(base[:-4] + ["--learning-curve", "0.5"]) != 0
    assert "need --cross-validate" in capsys.readouterr().err


def test_train_reports_held_out_images_per_data_source(poets_folder, tmp_path, capsys):
    """Two sources (web-like and letterboxed film-like): the card gives each its own held-out number."""
    film = film_like_source(tmp_path / "film", 8, 5000, grouped=True)
    out = tmp_path / "models"
    assert cli.main(["train", str(poets_folder), str(film), "--category", "shot.framing",
                     "-o", str(out), "--epochs", "150", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    held = metrics["validation_domains"]
    assert set(held) == {poets_folder.name, "film/labels"}
    assert sum(m["n"] for m in held.values()) == metrics["n"]
    assert set(metrics["domains"]) == set(held) and metrics["domains"]["film/labels"]["n"] == 40
    card = (out / "shot.framing.md").read_text()
    assert "Held-out images per data source" in card and f"| film/labels | {held['film/labels']['n']} | " in card


def test_the_split_does_not_depend_on_python_hash_seed():
    """A group whose images carry two labels equally often was given to whichever label a set listed first:
    the split (and so a branch's held-out images) changed from run to run."""
    import subprocess
    import sys

    code = ("from cinemanet_edit.training.data import split_by_group\n"
            "labels = ['shot.framing.long', 'shot.framing.medium'] * 5 + ['shot.framing.medium'] * 40\n"
            "groups = [i // 2 for i in range(10)] + list(range(100, 140))\n"
            "print(split_by_group(labels, groups, 0.2, 0)[1])\n")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(6)}
    assert len(outputs) == 1
