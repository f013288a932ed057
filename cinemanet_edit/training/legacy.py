"""Read frozen TF-slim / TF-for-Poets graphs (the seed's format) and convert them.

The original CinemaNet shipped MobileNet v1 as a frozen ``GraphDef`` whose constants are the TF-slim
checkpoint. ``convert_backbone`` copies those constants into ``backbone.build_mobilenet_v1()``; the
conversion is pinned by a test that compares logits with the graph's own output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backbone import BLOCKS, BN_EPSILON
from ..errors import CinemanetError

SLIM_SCOPE = "MobilenetV1"
LOGITS_NODE = "MobilenetV1/Predictions/Reshape:0"
INPUT_NODE = "input:0"


def read_graph_constants(graph_path: Path) -> dict[str, np.ndarray]:
    """All ``Const`` nodes of a frozen graph, by node name."""
    from tensorflow.python.framework import tensor_util

    from ..runtimes import import_tensorflow

    tf = import_tensorflow()

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(Path(graph_path).read_bytes())
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, but also others on garbage
        raise CinemanetError(f"{graph_path}: not a frozen TensorFlow graph ({exc})") from None
    return {
        node.name: tensor_util.MakeNdarray(node.attr["value"].tensor)
        for node in graph_def.node
        if node.op == "Const"
    }


def _bn_weights(consts: dict[str, np.ndarray], scope: str) -> list[np.ndarray]:
    """gamma, beta, mean, variance, with the graph's epsilon folded into the variance if it differs."""
    bn = f"{SLIM_SCOPE}/{scope}/BatchNorm"
    eps_node = f"{SLIM_SCOPE}/{SLIM_SCOPE}/{scope}/BatchNorm/batchnorm/add/y"
    eps = float(consts.get(eps_node, BN_EPSILON))
    variance = consts[f"{bn}/moving_variance"] + (eps - BN_EPSILON)
    return [consts[f"{bn}/gamma"], consts[f"{bn}/beta"], consts[f"{bn}/moving_mean"], variance]


def convert_backbone(graph_path: Path, out_path: Path) -> None:
    """Write the Keras weights file of MobileNet v1 1.0/224 taken from a frozen TF-slim graph."""
    from ..backbone import build_mobilenet_v1

    consts = read_graph_constants(graph_path)
    if f"{SLIM_SCOPE}/Conv2d_0/weights" not in consts:
        raise CinemanetError(f"{graph_path}: no MobileNet v1 (TF-slim) weights in this graph")
    model = build_mobilenet_v1()
    scopes = ["Conv2d_0"] + [f"Conv2d_{i}_{kind}" for i in range(1, len(BLOCKS) + 1)
                             for kind in ("depthwise", "pointwise")]
    for scope in scopes:
        kernel_name = "depthwise_weights" if scope.endswith("depthwise") else "weights"
        model.get_layer(scope).set_weights([consts[f"{SLIM_SCOPE}/{scope}/{kernel_name}"]])
        model.get_layer(f"{scope}_bn").set_weights(_bn_weights(consts, scope))
    kernel = consts[f"{SLIM_SCOPE}/Logits/Conv2d_1c_1x1/weights"]
    model.get_layer("Logits").set_weights(
        [kernel.reshape(kernel.shape[-2:]), consts[f"{SLIM_SCOPE}/Logits/Conv2d_1c_1x1/biases"]]
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out_path))


def _load_graph(graph_path: Path):
    """(tensorflow, the frozen graph imported into a fresh tf.Graph) to run a seed graph as a reference."""
    from ..runtimes import import_tensorflow

    tf = import_tensorflow()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(graph_path).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    return tf, graph


def graph_logits(graph_path: Path, images: np.ndarray) -> np.ndarray:
    """Run the frozen graph itself on uint8 RGB 224x224 images; returns the 1001 logits per image.

    Used to pin conversions in tests: the graph is the reference.
    """
    tf, graph = _load_graph(graph_path)
    out = []
    with tf.compat.v1.Session(graph=graph) as session:
        for image in images:
            x = (image.astype(np.float32)[None] - 127.5) / 127.5
            out.append(session.run(LOGITS_NODE, {INPUT_NODE: x})[0])
    return np.stack(out)


# ---------------------------------------------------------------- TF-for-Poets heads (the seed's classifiers)

HEAD_INPUT = "input_1/BottleneckInputPlaceholder:0"
HEAD_OUTPUT = "final_result:0"
HEAD_WEIGHTS = "final_training_ops/weights/final_weights"
HEAD_BIASES = "final_training_ops/biases/final_biases"

# The seed's file prefixes and what they are in our taxonomy.
KNOWN_HEADS = {
    "PlacesNet": ("places365", "Places365"),
    "CinemaNetShotAngles": ("legacy.shot.angle", "Shot Angle (CinemaNet 2018)"),
    "CinemaNetShotFraming": ("legacy.shot.framing", "Shot Framing (CinemaNet 2018)"),
    "CinemaNetShotSubject": ("legacy.shot.subject", "Shot Subject (CinemaNet 2018)"),
    "CinemaNetShotType": ("legacy.shot.type", "Shot Type (CinemaNet 2018)"),
}
# The seed's label lines that name our labels differently.
LABEL_ALIASES = {"two shot": "two-up", "close up": "close-up", "extreme close up": "extreme-close-up",
                 "extreme long": "extreme-long", "over the shoulder": "over-the-shoulder"}


def _slug(text: str) -> str:
    return "-".join(text.lower().replace("/", " ").replace("_", " ").split())


def read_legacy_head(graph_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The final layer of a TF-for-Poets head graph: kernel [1001, K] and bias [K]."""
    consts = read_graph_constants(graph_path)
    if HEAD_WEIGHTS not in consts or HEAD_BIASES not in consts:
        raise CinemanetError(f"{graph_path}: not a TF-for-Poets head (no {HEAD_WEIGHTS})")
    kernel, bias = consts[HEAD_WEIGHTS].astype(np.float32), consts[HEAD_BIASES].astype(np.float32)
    if kernel.shape[0] != 1001 or kernel.shape[1] != bias.shape[0]:
        raise CinemanetError(f"{graph_path}: head shape {kernel.shape} does not read MobileNet's 1001 logits")
    return kernel, bias


def legacy_labels(label_file: Path, category_id: str) -> list[tuple[str, str]]:
    """(label id, title) per line of a seed label file, mapped onto our ids and titles where they match."""
    from ..taxonomy import known_category

    ours = known_category(category_id.removeprefix("legacy."))
    out = []
    for line in label_file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        name = line.strip()
        slug = LABEL_ALIASES.get(name.lower(), _slug(name))
        title = name
        if ours is not None:
            for label in ours.labels:
                if label.id.endswith("." + slug):
                    title = label.title
        out.append((slug, title))
    return out


def import_legacy(folder: Path, destination: Path) -> list[tuple[str, Path, int]]:
    """Convert every ``*Classifier.pb`` with its ``*Labels.txt`` in ``folder`` into a head in ``destination``.

    Returns (category id, head file, number of labels) per head. The graphs' weights are copied unchanged.
    """
    from ..files import atomic_write
    from ..models import register_head, sha256

    folder, destination = Path(folder), Path(destination)
    graphs = sorted(folder.glob("*Classifier.pb"))
    if not graphs:
        raise CinemanetError(f"{folder}: no *Classifier.pb head graphs")
    destination.mkdir(parents=True, exist_ok=True)
    done = []
    for graph in graphs:
        prefix = graph.name[: -len("Classifier.pb")]
        label_file = folder / f"{prefix}Labels.txt"
        if not label_file.exists():
            raise CinemanetError(f"{graph}: no label file {label_file.name}")
        category_id, title = KNOWN_HEADS.get(prefix, (f"legacy.{_slug(prefix)}", prefix))
        kernel, bias = read_legacy_head(graph)
        labels = legacy_labels(label_file, category_id)
        if len(labels) != kernel.shape[1]:
            raise CinemanetError(f"{label_file}: {len(labels)} labels for {kernel.shape[1]} outputs")
        head_file = destination / f"{category_id}.npz"
        np.savez(head_file, kernel=kernel, bias=bias)
        tsv = destination / f"{category_id}.labels.tsv"
        atomic_write(tsv, ("".join(f"{slug}\t{t}\n" for slug, t in labels)).encode("utf-8"))
        register_head(destination, {
            "category": category_id, "title": title, "file": head_file.name, "sha256": sha256(head_file),
            "labels_file": tsv.name, "input": "logits", "activation": "softmax",
            "top_k": 5 if len(labels) > 20 else None, "source": f"imported from {graph.name}",
        })
        done.append((category_id, head_file, len(labels)))
    return done


def legacy_head_output(graph_path: Path, logits: np.ndarray) -> np.ndarray:
    """Run a head graph itself on 1001-logit vectors (the reference for tests)."""
    tf, graph = _load_graph(graph_path)
    batch = graph.get_tensor_by_name(HEAD_INPUT).shape[0]  # some seed graphs fix it (PlacesNet: 365)
    step = int(batch) if batch is not None else len(logits)
    out = []
    with tf.compat.v1.Session(graph=graph) as session:
        for start in range(0, len(logits), step):
            chunk = logits[start:start + step].astype(np.float32)
            padded = np.zeros((step, chunk.shape[1]), np.float32)
            padded[: len(chunk)] = chunk
            out.append(session.run(HEAD_OUTPUT, {HEAD_INPUT: padded})[: len(chunk)])
    return np.concatenate(out)
