"""Corrections teach: ``learn --retrain`` adapts the shipped heads to editors' corrections (frames decoded from
the media each was learned on) and installs them in the user's model folder, never compounding a second run."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from conftest import make_video, scene

from cinemanet_edit import cli
from cinemanet_edit.corrections import Correction, CorrectionStore
from cinemanet_edit.files import content_fingerprint
from cinemanet_edit.models import load_model_set, user_models_dir
from cinemanet_edit.training.adapt import LabelledFrames, adapt_head, fit_anchored, retrain

SHOT = 12  # frames per generated shot


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Ten static shots of different pictures in one file (each shot one corrected range below)."""
    path = tmp_path_factory.mktemp("media") / "reel.mp4"
    pictures = [np.ascontiguousarray(np.repeat(np.repeat(scene(k % 5, k), 2, 0), 2, 1)[:180, :320]) for k in range(10)]
    return make_video(path, Fraction(24), 10 * SHOT, image=lambda i: pictures[i // SHOT])


def _angle(models):
    return next(h for h in models.heads if h.category.id == "shot.angle")


def test_the_prior_keeps_a_head_near_its_weights_with_strength_and_lets_it_move_without():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16))
    kernel0, bias0 = rng.normal(size=(16, 3)).astype(np.float32), np.zeros(3, np.float32)
    y = np.full(40, 2)
    near, _ = fit_anchored(x, y, kernel0, bias0, strength=100.0)
    far, bias = fit_anchored(x, y, kernel0, bias0, strength=0.0)
    assert np.abs(near - kernel0).max() < np.abs(far - kernel0).max() / 10
    assert (np.argmax(x @ far + bias, axis=1) == 2).all()


def test_adapt_head_refuses_a_multi_label_head():
    models = load_model_set()
    subject = next(h for h in models.heads if h.category.id == "shot.subject")
    with pytest.raises(ValueError, match="single-label"):
        adapt_head(subject, LabelledFrames(np.zeros((8, 1024)), np.zeros(8, int), np.arange(8)))


def test_retrain_installs_an_adapted_head_that_gives_the_corrected_label(shots, tmp_path):
    models = load_model_set()
    head = _angle(models)
    labels = [label.id for label in head.category.labels]
    fingerprint = content_fingerprint(shots)
    store = CorrectionStore(tmp_path / "c.sqlite")
    # the label the shipped head gives these shots least: what an editor would have to correct
    from cinemanet_edit.classify import Classifier
    from cinemanet_edit.decode import decode_frames

    classifier = Classifier(models)
    images = np.stack([f.image for f in decode_frames(shots, [SHOT * k + SHOT // 2 for k in range(10)],
                                                          models.input_size)])
    before = np.argmax(classifier.backbone_outputs(images)[0] @ head.kernel + head.bias, axis=1)
    wanted = labels[int(np.argmin(np.bincount(before, minlength=len(labels))))]
    store.add([Correction(fingerprint, SHOT * k, SHOT * (k + 1), "shot.angle", wanted, "x", "edited.otio", str(shots))
               for k in range(10)])
    store.add([Correction(fingerprint, 0, SHOT, "shot.framing", "shot.framing.medium", "Medium", "e", str(shots))])
    folder = tmp_path / "user-models"
    report = retrain(store, models, folder, classifier=classifier)
    assert [a.category for a in report.adapted] == ["shot.angle"]
    adapted = report.adapted[0]
    assert adapted.kept and adapted.ranges == 10 and adapted.frames == 30 and adapted.after > adapted.before
    assert any("shot.framing: 1 corrected ranges" in s for s in report.skipped)  # too few to learn from
    spec = json.loads((folder / "manifest.json").read_text())["heads"][0]
    assert spec["category"] == "shot.angle" and spec["adapted"]["base"] == "shot.angle.base.npz"
    mine = _angle(load_model_set(user_folder=folder))
    after = np.argmax(classifier.backbone_outputs(images)[0] @ mine.kernel + mine.bias, axis=1)
    assert (after == labels.index(wanted)).mean() > (before == labels.index(wanted)).mean()
    assert mine.thresholds == head.thresholds  # written at the shipped head's thresholds
    # again: adapted from the head the first run replaced, not from its own result
    again = retrain(store, load_model_set(user_folder=folder), folder, classifier=classifier)
    with np.load(folder / "shot.angle.npz") as stored:
        assert np.array_equal(stored["kernel"], again.adapted[0].kernel)
        assert np.array_equal(stored["kernel"], adapted.kernel)


def test_each_media_file_is_decoded_once_for_all_its_corrections(shots, tmp_path, monkeypatch):
    from cinemanet_edit.training import adapt

    fingerprint, passes = content_fingerprint(shots), []
    real = adapt.decode_frames

    def counting(path, indices, size, *args, **kwargs):
        passes.append(sorted(indices))
        return real(path, indices, size, *args, **kwargs)

    monkeypatch.setattr(adapt, "decode_frames", counting)
    store = CorrectionStore(tmp_path / "c.sqlite")
    store.add([Correction(fingerprint, SHOT * k, SHOT * (k + 1), category, label, "x", "e.otio", str(shots))
               for k in range(8) for category, label in (("shot.angle", "shot.angle.low"),
                                                         ("shot.framing", "shot.framing.medium"))])
    report = retrain(store, load_model_set(), tmp_path / "user-models")
    assert len(passes) == 1 and len(passes[0]) == 24  # 8 ranges x 3 sample frames, shared by both categories
    assert sorted(a.category for a in report.adapted) == ["shot.angle", "shot.framing"]
    assert all(a.frames == 24 and a.ranges == 8 for a in report.adapted)


def test_corrections_whose_media_changed_or_went_are_named_not_learned(shots, tmp_path):
    store = CorrectionStore(tmp_path / "c.sqlite")
    moved = tmp_path / "gone.mp4"
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(shots.read_bytes() + b"edited")
    store.add([Correction(content_fingerprint(shots), 0, SHOT, "shot.angle", "shot.angle.low", "Low", "e", str(moved)),
               Correction(content_fingerprint(shots), SHOT, 2 * SHOT, "shot.angle", "shot.angle.low", "Low", "e",
                          str(changed))])
    report = retrain(store, load_model_set(), tmp_path / "user-models")
    assert report.adapted == []
    assert any(str(moved) in s for s in report.skipped) and any("changed or replaced" in s for s in report.skipped)
    assert not (tmp_path / "user-models").exists()


def test_learn_retrain_from_the_cli(capsys):
    code = cli.main(["learn", "--retrain"])  # the user's store is empty here
    assert code == 0 and "nothing to retrain" in capsys.readouterr().out
    assert not (user_models_dir() / "manifest.json").exists()
    assert cli.main(["learn"]) == 2
    assert "give edited timelines, or --retrain" in capsys.readouterr().err
