"""The fine-tuned branch: network plumbing, the branch file, and `train --fine-tune` end to end (one tiny epoch)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from conftest import scene

from cinemanet_edit import cli, models
from cinemanet_edit.backbone import branch_weights
from cinemanet_edit.classify import Classifier
from cinemanet_edit.errors import CinemanetError
from cinemanet_edit.runtimes import import_keras, litert_available, load_keras_model


def _images(size: int, n=4):
    return np.stack([np.asarray(np.resize(scene(i % 5, i), (size, size, 3)), np.uint8) for i in range(n)])


def test_a_copied_branch_reproduces_the_backbone_and_logits_never_move(tmp_path):
    """A branch that equals the original blocks gives the original features; changing it changes only them."""
    import_keras()
    from cinemanet_edit.backbone import BRANCH_PREFIX, build_mobilenet_v1

    base_set = dataclasses.replace(models.load_model_set(), branch_file=None, branch_from=None, litert_file=None)
    base = load_keras_model(base_set)
    branched = build_mobilenet_v1(12, base_set.input_size)
    for layer in base.layers:
        if layer.weights:
            branched.get_layer(layer.name).set_weights(layer.get_weights())
            if layer.name.startswith(("Conv2d_12", "Conv2d_13")):
                branched.get_layer(BRANCH_PREFIX + layer.name).set_weights(layer.get_weights())
    weights = branch_weights(branched)
    assert weights and all(k.startswith(BRANCH_PREFIX + "Conv2d_1") for k in weights)
    x = _images(base_set.input_size).astype(np.float32)
    f0, l0 = (t.numpy() for t in base(x))
    f1, l1 = (t.numpy() for t in branched(x))
    assert np.abs(f0 - f1).max() < 1e-5 and np.abs(l0 - l1).max() < 1e-4

    path = tmp_path / "b.npz"
    np.savez(path, **{k: v * (1.5 if k.endswith("pointwise/0") else 1.0) for k, v in weights.items()})
    changed = dataclasses.replace(base_set, branch_file=path, branch_from=12, litert_file=None)
    f2, l2 = Classifier(changed, runtime="keras").backbone_outputs(_images(base_set.input_size))
    assert np.abs(l2 - l0).max() < 1e-4  # ImageNet and legacy heads keep their input
    assert np.abs(f2 - f0).max() > 1e-2
    with pytest.raises(CinemanetError, match="branch"):
        Classifier(changed, runtime="keras").logits_from_features(f2)
    np.savez(path, **{k: v for k, v in list(weights.items())[1:]})
    with pytest.raises(CinemanetError, match="do not fit"):
        load_keras_model(changed)


def test_train_fine_tune_writes_branch_litert_and_heads(poets_folder, tmp_path, monkeypatch, capsys):
    from cinemanet_edit.training import finetune

    real = finetune.fine_tune

    def as_if_it_helped(*args, **kwargs):
        """The synthetic scenes are separated perfectly by the frozen blocks, so no epoch can beat epoch 0 and
        no branch would ship: count the run's (deterministic) result as a gain to exercise the branch path."""
        result = real(*args, **kwargs)
        result.best_epoch = max(result.best_epoch, 1)
        return result

    monkeypatch.setattr(finetune, "fine_tune", as_if_it_helped)
    folder = tmp_path / "models"
    shutil.copytree(models.bundled_models_dir(), folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    before = json.loads((folder / "manifest.json").read_text())
    argv = ["train", str(poets_folder), "--category", "shot.framing", "--fine-tune", "13",
            "--fine-tune-epochs", "1", "--epochs", "100", "-o", str(folder), "--json"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)["categories"]["shot.framing"]
    assert report["n"] >= 10
    manifest = json.loads((folder / "manifest.json").read_text())
    branch = manifest["backbone"]["branch"]
    assert branch["from_block"] == 13 and (folder / branch["file"]).exists()
    assert "litert" not in manifest["backbone"]  # exported into the cache when first needed, never shipped
    card = (folder / branch["card"]).read_text()
    assert "--fine-tune 13" in card and "Best epoch" in card
    assert "fine-tuned" in (folder / "shot.framing.md").read_text()
    # the other heads are untouched; the trained one reads the branch
    assert [h for h in manifest["heads"] if h["category"] == "shot.type"] == \
        [h for h in before["heads"] if h["category"] == "shot.type"]
    tuned = models.load_model_set(folder, folder)
    assert tuned.branch_file is not None and tuned.features_id != models.load_model_set().features_id
    images = _images(tuned.input_size)
    keras_out = Classifier(tuned, runtime="keras").predict(images)
    if litert_available():
        litert_out = Classifier(tuned, runtime="litert").predict(images)
        for category in keras_out:
            assert np.abs(keras_out[category] - litert_out[category]).max() < 1e-4
    plain = Classifier(models.load_model_set(), runtime="keras").predict(images)
    assert np.abs(plain["imagenet"] - keras_out["imagenet"]).max() < 1e-4
    # the model card's command reproduces the branch and the head exactly
    first_branch = dict(np.load(folder / branch["file"]))
    first_head = np.load(folder / "shot.framing.npz")["kernel"].copy()
    assert cli.main(argv) == 0
    again = np.load(folder / branch["file"])
    assert all(np.array_equal(again[k], v) for k, v in first_branch.items())
    assert np.array_equal(np.load(folder / "shot.framing.npz")["kernel"], first_head)


def test_fine_tune_needs_a_folder_with_a_backbone(poets_folder, tmp_path, capsys):
    argv = ["train", str(poets_folder), "--category", "shot.framing", "--fine-tune", "13", "-o", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "holds a backbone" in capsys.readouterr().err


def test_user_heads_trained_on_another_branch_are_refused(tmp_path):
    base = models.bundled_models_dir()
    user = tmp_path / "user"
    user.mkdir()
    (user / "manifest.json").write_text(json.dumps({
        "backbone_sha256": models.sha256(base / "mobilenet_v1_1.0_224.weights.h5"),
        "branch_sha256": "0" * 64, "heads": [{"category": "shot.framing", "file": "x.npz"}]}))
    with pytest.raises(CinemanetError, match="another backbone"):
        models.load_model_set(user_folder=user)


def test_a_fine_tune_that_never_beats_the_frozen_blocks_ships_no_branch(poets_folder, tmp_path, monkeypatch,
                                                                          capsys):
    """Best epoch 0 means the branch would be a copy of the ImageNet blocks: extra time for the same features.
    Then no branch is written, an old one is removed, and the heads read the plain network."""
    from cinemanet_edit.training import finetune

    folder = tmp_path / "models"
    shutil.copytree(models.bundled_models_dir(), folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    old = dict(json.loads((folder / "manifest.json").read_text())["backbone"].get("branch") or {})
    if not old:  # give the copy a branch to replace
        old = {"file": "old.branch13.npz", "card": "old.branch13.md"}
        (folder / old["file"]).write_bytes(b"")
        (folder / old["card"]).write_text("old")
    seen = {}

    def no_gain(examples, hashes, digests, categories, model_set, validation_digests, branch_from, *a, **k):
        seen["held_out"] = len(validation_digests)
        return finetune.FineTuneResult(branch_from, {}, [{"epoch": 0, "loss": None, "stop_balanced_accuracy": .5}])

    monkeypatch.setattr(finetune, "fine_tune", no_gain)
    argv = ["train", str(poets_folder), "--category", "shot.framing", "--fine-tune", "13", "--epochs", "100",
            "-o", str(folder)]
    assert cli.main(argv) == 0
    assert "no branch" in capsys.readouterr().err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "branch" not in manifest["backbone"]
    assert not (folder / old["file"]).exists() and not (folder / old["card"]).exists()
    tuned = models.load_model_set(folder, folder)
    assert tuned.branch_file is None and seen["held_out"] > 0
    card = (folder / "shot.framing.md").read_text()
    assert "the fine-tune held out" in card and "fine-tuned for cinematography" not in card
