"""Frames -> per-category probabilities: one backbone pass per frame, every head reads it.

Two runtimes run the same network. LiteRT (XNNPACK) is the default where its wheel exists: about 1.5x
faster than Keras on this kind of CPU and it starts without loading TensorFlow. Keras (TensorFlow) is the
fallback and what training uses. The LiteRT file is exported from the Keras weights once per backbone and
cached (``litert_path``); a test pins it to Keras within 1e-4. Batches are padded to a few fixed sizes so
that graphs are built once per size rather than once per odd batch length.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .backbone import FEATURE_DIM, LOGIT_DIM
from .errors import CinemanetError
from .models import ModelSet

BATCH_SIZE = 32  # frames per backbone call: the default everywhere (tag, classify, training features)
BATCH_SIZES = (1, 2, 4, 8, 16, 32)  # batches are padded up to one of these, so graphs are built once per size


@contextmanager
def _stderr_silenced():
    """TensorFlow's C++ start-up chatter ignores TF_CPP_MIN_LOG_LEVEL; hide it at the file-descriptor level."""
    if os.environ.get("CINEMANET_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """Import TensorFlow (and Keras) with their start-up noise hidden; returns the tensorflow module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _stderr_silenced():
        import keras  # noqa: F401
        import tensorflow
    return tensorflow


def import_keras():
    import_tensorflow()
    import keras

    return keras


def load_keras_model(models: ModelSet, branch: bool = True):
    """The Keras backbone of a ``ModelSet`` with its weights (and its fine-tuned branch, if any)."""
    from .backbone import build_mobilenet_v1

    import_tensorflow()
    with _stderr_silenced():
        base = build_mobilenet_v1(input_size=models.input_size)
        base.load_weights(str(models.backbone_file))
        if not branch or models.branch_file is None:
            return base
        model = build_mobilenet_v1(models.branch_from, models.input_size)
        for layer in base.layers:
            if layer.weights:
                model.get_layer(layer.name).set_weights(layer.get_weights())
    with np.load(models.branch_file) as stored:
        set_branch_weights(model, {k: stored[k] for k in stored.files})
    return model


def branch_weights(model) -> dict[str, np.ndarray]:
    """The ``Branch_*`` layers' weights as ``{"<layer>/<i>": array}`` (what a branch file holds)."""
    from .backbone import BRANCH_PREFIX

    return {f"{layer.name}/{i}": w for layer in model.layers if layer.name.startswith(BRANCH_PREFIX)
            for i, w in enumerate(layer.get_weights())}


def set_branch_weights(model, stored: dict[str, np.ndarray]) -> None:
    from .backbone import BRANCH_PREFIX

    for layer in model.layers:
        if layer.name.startswith(BRANCH_PREFIX):
            try:
                layer.set_weights([stored[f"{layer.name}/{i}"] for i in range(len(layer.weights))])
            except (KeyError, ValueError) as exc:
                raise CinemanetError(f"branch weights do not fit layer {layer.name}: {exc}") from None


class Backbone(Protocol):
    """A runtime of the network: uint8-valued float images (N, S, S, 3) in, features (N, 1024) and ImageNet
    logits (N, 1001) out."""

    name: str

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Runtime:
    """A way to run the backbone: whether it can run here, how to build it for a model set, and how much
    "auto" prefers it on this machine (the available runtime of highest ``preference`` is chosen)."""

    name: str
    available: Callable[[], bool]
    build: Callable[[ModelSet], Backbone]
    preference: Callable[[], int] = lambda: 0
    auto_build: Callable[[ModelSet], Backbone] | None = None  # how "auto" builds it, where that differs
    # how it runs the shot detector's trunk: (weights file, weights) -> frames -> (block means, flat); the
    # built-in runtimes' come from ``shots``; a registered runtime without one leaves the trunk to "auto"
    trunk: Callable | None = None


RUNTIMES: dict[str, Runtime] = {}


def register_runtime(runtime: Runtime) -> None:
    """Add a runtime (a GPU runtime, for one) under its name; ``--runtime NAME`` then chooses it."""
    RUNTIMES[runtime.name] = runtime


class KerasBackbone:
    """The backbone in Keras (TensorFlow)."""

    name = "keras"

    def __init__(self, models: ModelSet):
        tf = import_tensorflow()
        self.model = load_keras_model(models)
        with _stderr_silenced():
            self._forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, logits = self._forward(x)
        return features.numpy(), logits.numpy()


class LiteRTModel:
    """A LiteRT file run with XNNPACK on every core; ``run`` gives the outputs whose last dimensions are asked
    for, re-allocating only when the input's shape changes. The backbone and the shot detector's trunk use it."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        with _stderr_silenced():  # "Created TensorFlow Lite XNNPACK delegate" goes to stderr
            self.interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.outputs = {int(o["shape"][-1]): o["index"] for o in self.interpreter.get_output_details()}
        self.shape = None

    def run(self, x: np.ndarray, *last_dims: int) -> tuple[np.ndarray, ...]:
        if self.shape != x.shape:
            self.interpreter.resize_tensor_input(self.input, list(x.shape))
            with _stderr_silenced():
                self.interpreter.allocate_tensors()
            self.shape = x.shape
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        return tuple(self.interpreter.get_tensor(self.outputs[d]).copy() for d in last_dims)


class LiteRTBackbone(LiteRTModel):
    """The backbone exported to LiteRT."""

    name = "litert"

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.run(x, FEATURE_DIM, LOGIT_DIM)


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def gpu_present() -> bool:
    """An NVIDIA GPU is visible (checked without importing TensorFlow)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists() and Path("/dev/nvidia-uvm").exists()


def litert_path(models: ModelSet) -> Path:
    """The LiteRT file of a model set: an explicit one, or the export cached under the network's identity.

    The file is derived from the Keras weights (``export_litert``), so it is not shipped: the first LiteRT run
    of a backbone exports it once (about 15 s), later runs load it without importing TensorFlow."""
    from .cache import cache_dir

    if models.litert_file is not None:
        return models.litert_file
    return cache_dir() / "litert" / f"{models.backbone_name}-{models.features_id}.tflite"


def _litert_backbone(models: ModelSet, required: bool = True) -> Backbone:
    """LiteRT on the cached export, made from the Keras weights on first use. Where the export cannot be
    written, the Keras model it was made from runs instead (unless LiteRT was asked for by name)."""
    path = litert_path(models)
    if not path.exists():
        keras_backbone = KerasBackbone(models)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _convert(keras_backbone, path)
        except OSError as exc:
            if required:
                raise CinemanetError(f"cannot write the LiteRT export {path}: {exc}") from None
            return keras_backbone
    return LiteRTBackbone(path)


# LiteRT first on a CPU (about 1.5x Keras); Keras where an NVIDIA GPU is visible (TensorFlow runs it there; LiteRT
# here is CPU-only). "auto" falls back to Keras where the LiteRT export cannot be written.
register_runtime(Runtime("litert", litert_available, _litert_backbone, preference=lambda: 1,
                         auto_build=lambda models: _litert_backbone(models, required=False)))
register_runtime(Runtime("keras", lambda: True, KerasBackbone, preference=lambda: 2 if gpu_present() else 0))


def choose_auto(can: Callable[[Runtime], bool] = lambda runtime: True) -> Runtime:
    """What "auto" runs: the available runtime this machine prefers most (first registered on a tie), a
    registered one included: Keras/TensorFlow when an NVIDIA GPU is visible, else LiteRT when installed.
    ``can`` narrows the choice (to runtimes that can run the shot detector, say)."""
    available = [r for r in RUNTIMES.values() if r.available() and can(r)]
    if not available:
        raise CinemanetError("no runtime for the network is available here")
    return max(available, key=lambda r: r.preference())  # max keeps the first of equals


def runtime_name(runtime: str | None = None) -> str:
    """The runtime asked for (``--runtime``, else ``CINEMANET_RUNTIME``, else "auto"), checked."""
    runtime = (runtime or os.environ.get("CINEMANET_RUNTIME") or "auto").lower()
    if runtime != "auto" and runtime not in RUNTIMES:
        raise CinemanetError(f"unknown runtime {runtime!r} ({', '.join(['auto', *RUNTIMES])})")
    return runtime


def make_backbone(models: ModelSet, runtime: str | None = None) -> Backbone:
    """The runtime asked for (``runtime_name``), or "auto" (``choose_auto``)."""
    runtime = runtime_name(runtime)
    if runtime == "auto":
        chosen = choose_auto()
        return (chosen.auto_build or chosen.build)(models)
    chosen = RUNTIMES[runtime]
    if not chosen.available():
        raise CinemanetError(f"the {runtime} runtime is not available here"
                             + (" (pip install ai-edge-litert)" if runtime == "litert" else ""))
    return chosen.build(models)


def export_litert(models: ModelSet, out: Path) -> None:
    """Write the LiteRT file of the Keras backbone (float32, dynamic batch)."""
    _convert(KerasBackbone(models), Path(out))


def _convert(backbone: KerasBackbone, out: Path) -> None:
    tf = import_tensorflow()
    import contextlib
    import io

    with _stderr_silenced(), contextlib.redirect_stdout(io.StringIO()):  # the converter prints its graph
        converter = tf.lite.TFLiteConverter.from_keras_model(backbone.model)
        data = converter.convert()
    from .files import atomic_write

    atomic_write(out, data)


class Classifier:
    """The backbone (in one runtime) plus the heads of a ``ModelSet``."""

    def __init__(self, models: ModelSet, batch_size: int = BATCH_SIZE, runtime: str | None = None,
                 backbone: Backbone | None = None):
        self.models = models
        self.batch_size = batch_size
        self.backbone = backbone if backbone is not None else make_backbone(models, runtime)
        self._logits_layer = None

    @property
    def runtime(self) -> str:
        return self.backbone.name

    def logits_from_features(self, features: np.ndarray) -> np.ndarray:
        """The ImageNet logits are a dense layer on the pooled features: cached features need no second pass.
        Not so with a fine-tuned branch, whose features are not what the logits read."""
        if self.models.branch_file is not None:
            raise CinemanetError("logits cannot be derived from a fine-tuned branch's features")
        if self._logits_layer is None:
            keras = self.backbone if isinstance(self.backbone, KerasBackbone) else KerasBackbone(self.models)
            self._logits_layer = keras.model.get_layer("Logits").get_weights()
        kernel, bias = self._logits_layer
        return features @ kernel + bias

    def backbone_outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features (N, 1024) and logits (N, 1001) of uint8 RGB images (N, S, S, 3), S the input size."""
        n = len(images)
        size = next((b for b in BATCH_SIZES if b >= n), n)
        x = np.zeros((size, *images.shape[1:]), np.float32)
        x[:n] = images
        features, logits = self.backbone(x)
        return features[:n], logits[:n]

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Probabilities per category for a batch of images: {category id: (N, labels)}."""
        out: dict[str, list[np.ndarray]] = {h.category.id: [] for h in self.models.heads}
        for start in range(0, len(images), self.batch_size):
            features, logits = self.backbone_outputs(images[start:start + self.batch_size])
            for head in self.models.heads:
                out[head.category.id].append(head(features, logits))
        return {k: np.concatenate(v) for k, v in out.items()}

    def predict_stream(self, items: Iterable[tuple[object, np.ndarray]]) -> Iterator[tuple[object, dict]]:
        """Classify (key, image) pairs in batches; yields (key, {category: probabilities}) in input order."""
        batch_keys: list[object] = []
        batch_images: list[np.ndarray] = []

        def flush():
            scores = self.predict(np.stack(batch_images))
            for i, key in enumerate(batch_keys):
                yield key, {category: probs[i] for category, probs in scores.items()}
            batch_keys.clear()
            batch_images.clear()

        for key, image in items:
            batch_keys.append(key)
            batch_images.append(image)
            if len(batch_images) == self.batch_size:
                yield from flush()
        if batch_images:
            yield from flush()
