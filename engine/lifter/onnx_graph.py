"""The lifter as an ONNX graph, written from its safetensors weights with numpy and our protobuf writer
(`onnx_proto`): no torch, no `onnx` package.

The graph is `model.TemporalLifter.forward` after `fuse_batchnorm`, for every network of a weights file at
once: input x (B, FEATURES, T) float32, output y (M, B, 3 * joints + 6, T - receptive_field + 1) with, per
network m and view b, the pose head's channels (joint-major x, y, z, Hips not yet subtracted), then the
trajectory head's three, then the up head's three (zeros when the weights have no up head). It is built in
memory when the lifter is loaded (a few milliseconds) and run by ONNX Runtime; nothing is written.
"""

from __future__ import annotations

import numpy as np

from .. import onnx_proto
from ..errors import ModelError

BN_EPS = 1e-5  # torch.nn.BatchNorm1d's default, what the networks were trained with
OPSET = 17


def _folded(state: dict, conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """A bias-free Conv1d followed by a BatchNorm1d as one convolution: (weight (O, I, k), bias (O,))."""
    w = state[f"{conv}.weight"].astype(np.float64)
    scale = state[f"{bn}.weight"].astype(np.float64) / np.sqrt(state[f"{bn}.running_var"].astype(np.float64) + BN_EPS)
    bias = state[f"{bn}.bias"].astype(np.float64) - state[f"{bn}.running_mean"].astype(np.float64) * scale
    return (w * scale[:, None, None]).astype(np.float32), bias.astype(np.float32)


def lifter_onnx(meta: dict, members: list[tuple[dict, dict]]) -> bytes:
    """The serialised ONNX model of all `members` ([(metadata, {name: numpy array}), ...] from
    `members.read_members(path, framework="numpy")`) sharing the shared metadata `meta`."""
    return lifter_model(meta, members).encode()


def lifter_model(meta: dict, members: list[tuple[dict, dict]]) -> onnx_proto.Model:
    """As `lifter_onnx`, the model before it is serialised."""
    widths = tuple(int(w) for w in meta["widths"])
    up_head = bool(meta.get("up_head", False))
    nodes, inits = [], {}

    def const(name: str, value: np.ndarray) -> str:
        inits[name] = np.ascontiguousarray(value)
        return name

    def conv(x: str, out: str, w: np.ndarray, b: np.ndarray, dilation: int) -> str:
        # as a 2D convolution over (B, C, 1, T): ONNX Runtime's blocked (NCHWc) convolution kernels take
        # those, not 1D ones; it cost 24 % less CPU time per frame than Conv1d (one thread, 4 views x 1,104
        # frames, 2026-12-06)
        nodes.append(onnx_proto.node("Conv", [x, const(out + ".w", w[:, :, None, :]), const(out + ".b", b)], [out],
                                      dilations=[1, dilation], kernel_shape=[1, w.shape[2]], pads=[0, 0, 0, 0],
                                      strides=[1, 1]))
        return out

    def relu(x: str, out: str) -> str:
        nodes.append(onnx_proto.node("Relu", [x], [out]))
        return out

    nodes.append(onnx_proto.node("Unsqueeze", ["x", const("axis2", np.array([2]))], ["x4"]))
    outs = []
    for m, (_, state) in enumerate(members):
        try:
            p = f"m{m}."
            h = relu(conv("x4", p + "expand", *_folded(state, "expand", "expand_bn"), 1), p + "h0")
            dil = widths[0]
            for i, w in enumerate(widths[1:]):
                pad = (w - 1) * dil // 2
                res = h
                if pad:
                    res = p + f"res{i}"
                    nodes.append(onnx_proto.node("Slice", [h, const(res + ".s", np.array([pad])),
                                                            const(res + ".e", np.array([-pad])),
                                                            const(res + ".a", np.array([3]))], [res]))
                a = relu(conv(h, p + f"c{2 * i}", *_folded(state, f"convs.{2 * i}", f"bns.{2 * i}"), dil),
                         p + f"a{2 * i}")
                b = relu(conv(a, p + f"c{2 * i + 1}", *_folded(state, f"convs.{2 * i + 1}", f"bns.{2 * i + 1}"),
                              1), p + f"a{2 * i + 1}")
                h = p + f"h{i + 1}"
                nodes.append(onnx_proto.node("Add", [res, b], [h]))
                dil *= w
            # the three 1x1 heads as one convolution
            heads = [state["pose_head.weight"], state["traj_head.weight"]]
            biases = [state["pose_head.bias"], state["traj_head.bias"]]
            if up_head:
                heads.append(state["up_head.weight"])
                biases.append(state["up_head.bias"])
            else:
                heads.append(np.zeros((3,) + heads[0].shape[1:], np.float32))
                biases.append(np.zeros(3, np.float32))
            y = conv(h, p + "heads", np.concatenate(heads).astype(np.float32),
                     np.concatenate(biases).astype(np.float32), 1)
        except KeyError as exc:
            raise ModelError(f"lifter weights: network {m} lacks the tensor {exc.args[0]}") from None
        # (B, C, 1, T) -> (1, B, C, T)
        nodes.append(onnx_proto.node("Transpose", [y], [p + "y"], perm=[2, 0, 1, 3]))
        outs.append(p + "y")
    nodes.append(onnx_proto.node("Concat", outs, ["y"], axis=0))
    features = int(meta["features"])
    return onnx_proto.Model("monocap_lifter", nodes, inits, [("x", onnx_proto.FLOAT, ["b", features, "t"])],
                            [("y", onnx_proto.FLOAT, [len(members), "b", None, None])], OPSET)


class OnnxLifterNets:
    """All networks of a weights file in one ONNX Runtime session.

    __call__(x: (B, FEATURES, T) float32) -> (M, B, 3 * joints + 6, T') float32 (see the module docstring).
    """

    def __init__(self, meta: dict, members: list[tuple[dict, dict]], threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError("ONNX Runtime is not installed: set the engine up again "
                             "(pip install -r engine/requirements.txt)") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(lifter_onnx(meta, members), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]
