"""Where the networks run: the backbone and the shot detector's trunk, built, exported, cached and chosen here.

Two runtimes come built in. LiteRT (XNNPACK) is the default where its wheel exists: about 1.5x faster than Keras
on this kind of CPU, and it starts without loading TensorFlow. Keras (TensorFlow) is the fallback, what a visible
NVIDIA GPU runs, and what training uses. A LiteRT file is exported from the Keras network once per network and
machine into the cache (the backbone with a dynamic batch; the trunk per window size, its weights int8) and loaded
from there after; a test pins each to Keras. ``register_runtime`` adds another (a GPU runtime, say): ``--runtime
NAME`` and "auto" then reach both networks through it. The networks' definitions and weight mappings stay in
``backbone.py`` and ``transnetv2.py``; what runs them is here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .backbone import FEATURE_DIM, LOGIT_DIM, build_mobilenet_v1, set_branch_weights
from .errors import CinemanetError
from .models import ModelSet, sha256, shot_detector_file
from .transnetv2 import (
    BLOCK_MEANS,
    FLAT,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    LONG_WINDOW,
    WINDOW,
    TransNetV2,
    build_trunk,
    set_trunk_weights,
)

TRUNK_PRECISION = os.environ.get("CINEMANET_SHOT_PRECISION", "dynamic-int8")  # of the LiteRT trunk: or "float32"


@contextmanager
def stderr_silenced():
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
    with stderr_silenced():
        import keras  # noqa: F401
        import tensorflow
    return tensorflow


def import_keras():
    import_tensorflow()
    import keras

    return keras


def load_keras_model(models: ModelSet, branch: bool = True):
    """The Keras backbone of a ``ModelSet`` with its weights (and its fine-tuned branch, if any)."""
    import_tensorflow()
    with stderr_silenced():
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


# ---------------------------------------------------------------- runtimes


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
        with stderr_silenced():
            self._forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, logits = self._forward(x)
        return features.numpy(), logits.numpy()


class LiteRTModel:
    """A LiteRT file run with XNNPACK on every core; ``run`` gives the outputs whose last dimensions are asked
    for, re-allocating only when the input's shape changes. The backbone and the shot detector's trunk use it."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        with stderr_silenced():  # "Created TensorFlow Lite XNNPACK delegate" goes to stderr
            self.interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.outputs = {int(o["shape"][-1]): o["index"] for o in self.interpreter.get_output_details()}
        self.shape = None

    def run(self, x: np.ndarray, *last_dims: int) -> tuple[np.ndarray, ...]:
        if self.shape != x.shape:
            self.interpreter.resize_tensor_input(self.input, list(x.shape))
            with stderr_silenced():
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
    if models.litert_file is not None:
        return models.litert_file
    return litert_folder() / f"{models.backbone_name}-{models.features_id}.tflite"


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
    to_litert(backbone.model, out)


def to_litert(model, out: Path, precision: str = "float32") -> None:
    """Write a Keras model as a LiteRT file, atomically. "dynamic-int8" stores the weights as int8 and runs the
    convolutions on int8 (activations quantised on the fly)."""
    import contextlib
    import io

    from .files import atomic_write

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision != "float32":
        raise CinemanetError(f"unknown precision {precision!r} (float32, dynamic-int8)")
    with stderr_silenced(), contextlib.redirect_stdout(io.StringIO()):  # the converter prints its graph
        data = converter.convert()
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, data)


def litert_folder() -> Path:
    """Where the LiteRT exports of both networks are cached."""
    from .cache import cache_dir

    return cache_dir() / "litert"


# ---------------------------------------------------------------- the shot detector's trunk


def make_trunk(weights: Path, stored: dict[str, np.ndarray], runtime: str | None = None):
    """The trunk on the runtime asked for (``--runtime``, ``CINEMANET_RUNTIME``, a registered runtime with a
    ``trunk``) or chosen by "auto" among those that can run it: LiteRT on a cached export per window size,
    Keras where a GPU is visible or LiteRT is absent."""
    chosen = trunk_runtime(runtime)
    return (chosen.trunk or TRUNKS[chosen.name])(weights, stored)


def trunk_runtime(runtime: str | None = None):
    """The ``Runtime`` that runs the trunk: the one asked for when it can, else "auto"'s choice among the
    runtimes that can."""
    name = runtime_name(runtime)
    can_run = lambda r: (r.trunk or TRUNKS.get(r.name)) is not None  # noqa: E731
    if name == "auto" or not can_run(RUNTIMES[name]):
        return choose_auto(can_run)
    if not RUNTIMES[name].available():
        raise CinemanetError(f"the {name} runtime is not available here")
    return RUNTIMES[name]


def _keras_trunk(weights: Path, stored: dict[str, np.ndarray]):
    import_tensorflow()
    with stderr_silenced():
        model = build_trunk()
    set_trunk_weights(model, stored)
    return lambda x: [t.numpy() if hasattr(t, "numpy") else t for t in model(x, training=False)]


def _litert_trunk(weights: Path, stored: dict[str, np.ndarray]):
    """LiteRT on exports of the Keras trunk, one per window size, made on first use into the cache; Keras runs
    it where the cache cannot be written."""
    folder = litert_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return _keras_trunk(weights, stored)
    if not os.access(folder, os.W_OK):
        return _keras_trunk(weights, stored)
    name = f"{sha256(weights)[:16]}-{TRUNK_PRECISION}"
    models: dict[int, LiteRTModel] = {}
    keras_model = []

    def trunk(x: np.ndarray):
        frames = x.shape[1]
        if frames not in models:
            path = folder / f"transnetv2-{name}-{frames}.tflite"
            if not path.exists():
                if not keras_model:
                    import_tensorflow()
                    with stderr_silenced():
                        keras_model.append(build_trunk())
                    set_trunk_weights(keras_model[0], stored)
                export_trunk(keras_model[0], path, frames, TRUNK_PRECISION)
            models[frames] = LiteRTModel(path)
        return models[frames].run(x, BLOCK_MEANS, FLAT)

    return trunk


TRUNKS = {"litert": _litert_trunk, "keras": _keras_trunk}  # the built-in runtimes' ways to run the trunk


def export_trunk(model, out: Path, frames: int = WINDOW, precision: str = "float32") -> None:
    """Write the trunk as a LiteRT file for windows of ``frames`` frames (static shapes). "dynamic-int8":
    about half the time of float32 on this machine's CPU (see benchmarks/RESULTS.md)."""
    import keras

    window = keras.Input((frames, FRAME_HEIGHT, FRAME_WIDTH, 3), batch_size=1, name="frames")
    to_litert(keras.Model(window, model(window)), out, precision)  # one window: static shapes, weights constant


_DETECTORS: dict[str, TransNetV2] = {}


def export_pending(frame_count: int, runtime: str | None = None) -> bool:
    """Whether detecting a file of ``frame_count`` frames will first export the trunk for LiteRT (once per
    window size and machine, about 20 s each): worth a word to the user before a long silence."""
    if trunk_runtime(runtime).name != "litert":
        return False
    name = f"{sha256(shot_detector_file())[:16]}-{TRUNK_PRECISION}"
    sizes = [WINDOW] + ([LONG_WINDOW] if 2 * frame_count > LONG_WINDOW else [])
    return any(not (litert_folder() / f"transnetv2-{name}-{n}.tflite").exists() for n in sizes)


def detector(runtime: str | None = None) -> TransNetV2:
    """The shipped TransNetV2 on ``runtime`` (see ``make_trunk``), built once per process and runtime."""
    name = runtime_name(runtime)
    if name not in _DETECTORS:
        weights = shot_detector_file()
        with np.load(weights) as stored:
            w = {k: stored[k] for k in stored.files}
        _DETECTORS[name] = TransNetV2(w, make_trunk(weights, w, name))
    return _DETECTORS[name]
