"""Read frozen TF-slim / TF-for-Poets graphs (the seed's format) and convert them.

The original CinemaNet shipped MobileNet v1 as a frozen ``GraphDef`` whose constants are the TF-slim
checkpoint. ``convert_backbone`` copies those constants into ``backbone.build_mobilenet_v1()``; the
conversion is pinned by a test that compares logits with the graph's own output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .backbone import BLOCKS, BN_EPSILON
from .errors import CinemanetError

SLIM_SCOPE = "MobilenetV1"
LOGITS_NODE = "MobilenetV1/Predictions/Reshape:0"
INPUT_NODE = "input:0"


def read_graph_constants(graph_path: Path) -> dict[str, np.ndarray]:
    """All ``Const`` nodes of a frozen graph, by node name."""
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

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
    from .backbone import build_mobilenet_v1

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


def graph_logits(graph_path: Path, images: np.ndarray) -> np.ndarray:
    """Run the frozen graph itself on uint8 RGB 224x224 images; returns the 1001 logits per image.

    Used to pin conversions in tests: the graph is the reference.
    """
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(graph_path).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    out = []
    with tf.compat.v1.Session(graph=graph) as session:
        for image in images:
            x = (image.astype(np.float32)[None] - 127.5) / 127.5
            out.append(session.run(LOGITS_NODE, {INPUT_NODE: x})[0])
    return np.stack(out)
