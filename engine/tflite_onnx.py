"""Write a TFLite graph (the BlazePose detector and landmark graphs) as an ONNX graph, with numpy and our own
protobuf writer (`onnx_proto`) only: what ONNX Runtime runs on the CPU, without torch or the `onnx` package.

It covers the ops our torch interpreter does (`tflite_torch.module.SUPPORTED_OPS`), with the same semantics
(the TFLite reference kernels, see that module's docstring), mapped onto ONNX operators:
CONV_2D / DEPTHWISE_CONV_2D -> Conv (weights OHWI / 1HW(C*M) -> OIHW, groups; SAME padding as explicit
pads, the odd pixel after), fused activations -> Relu / Clip, PAD -> Pad (or folded into the next
convolution's pads), MAX_POOL_2D -> MaxPool (padding never wins a max, as in TFLite), RESIZE_BILINEAR ->
Resize linear with half_pixel / align_corners / asymmetric coordinates, DEPTH_TO_SPACE -> DepthToSpace in
DCR order (TFLite's: channel (i * block + j) * C_out + c), LOGISTIC -> Sigmoid; for the hand graphs PRELU ->
Relu + slope * Min(x, 0) (the same numbers; ONNX Runtime's PRelu is slow), MEAN over H, W -> ReduceMean,
FULLY_CONNECTED -> Gemm, STRIDED_SLICE -> Slice
(the batch dimension always whole).
Rank-4 tensors are kept NCHW (ONNX's convolution layout); they go back to TFLite's NHWC only where an op
reads the memory order (RESHAPE, CONCATENATION of mixed tensors) and at the outputs. The batch dimension is
left free, so frames can be run in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import onnx_proto
from .errors import ModelError
from .tflite_torch.reader import NCHW_TO_NHWC, NHWC_TO_NCHW, Graph, constant_value, read_graph

SUPPORTED_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD", "MAX_POOL_2D", "RESIZE_BILINEAR", "DEPTH_TO_SPACE",
    "RESHAPE", "CONCATENATION", "LOGISTIC", "DEQUANTIZE", "DENSIFY",
    "FULLY_CONNECTED", "MEAN", "PRELU", "STRIDED_SLICE",  # the hand graphs (palm, hand landmarks, recrop)
)
OPSET = 17
_SAME = 0  # tflite Padding enum


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding (before, after) along one axis: the odd pixel goes after."""
    eff = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


class _Emitter:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.nodes: list[onnx_proto.Node] = []
        self.inits: dict[str, np.ndarray] = {}
        self.values: dict[int, tuple[str, str]] = {}  # tensor index -> (ONNX name, "nchw" | "nhwc")
        self.folded_pad: dict[int, tuple[int, tuple[int, int, int, int]]] = {}  # PAD output -> (input, pads)
        self.uses: dict[int, list[str]] = {}
        for op in graph.ops:
            for i in op.inputs:
                if i >= 0:
                    self.uses.setdefault(i, []).append(op.name)
        self.count = 0

    # -- helpers -------------------------------------------------------------------------------------------
    def where(self) -> str:
        return self.g.path.name

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, value: np.ndarray, stem: str = "c") -> str:
        name = self.fresh(stem)
        self.inits[name] = np.ascontiguousarray(value)
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attrs) -> str:
        out = self.fresh(stem or op.lower())
        self.nodes.append(onnx_proto.node(op, inputs, [out], **attrs))
        return out

    def data(self, i: int) -> np.ndarray:
        t = self.g.tensors[i]
        if t.data is None:
            raise ModelError(f"{self.where()}: tensor {t.name} must be a constant")
        return t.data

    def shape(self, i: int) -> tuple[int, ...]:
        return self.g.tensors[i].shape

    def get(self, i: int, layout: str | None = None) -> tuple[str, str]:
        """The ONNX name of tensor i, transposed to `layout` when given ("nchw" only for rank 4)."""
        if i not in self.values:
            t = self.g.tensors[i]
            if t.data is None:
                raise ModelError(f"{self.where()}: tensor {t.name} is used before it is computed")
            data, lay = constant_value(t)
            self.values[i] = (self.const(data), lay)
        name, lay = self.values[i]
        if layout is None or layout == lay:
            return name, lay
        perm = NHWC_TO_NCHW if layout == "nchw" else NCHW_TO_NHWC
        return self.node("Transpose", [name], perm=list(perm)), layout

    def act(self, x: str, act: int) -> str:
        """A TFLite fused activation (ActivationFunctionType enum), applied as TFLite's clamp range."""
        if act == 0:
            return x
        if act == 1:
            return self.node("Relu", [x])
        if act in (2, 3):
            lo, hi = (-1.0, 1.0) if act == 2 else (0.0, 6.0)
            return self.node("Clip", [x, self.const(np.float32(lo)), self.const(np.float32(hi))])
        raise ModelError(f"unsupported fused activation {act} in {self.where()}")

    # -- ops -----------------------------------------------------------------------------------------------
    def op_conv(self, op, depthwise: bool) -> None:
        o = op.options
        xi, wi = op.inputs[0], op.inputs[1]
        bi = op.inputs[2] if len(op.inputs) > 2 else -1
        w = self.data(wi).astype(np.float32)
        in_shape = self.shape(xi)
        kh, kw = w.shape[1], w.shape[2]
        if depthwise:  # (1, kh, kw, C*M) -> (C*M, 1, kh, kw), one group per input channel
            weight, groups = w.transpose(3, 0, 1, 2), in_shape[3]
        else:  # (O, kh, kw, I) -> (O, I, kh, kw); grouped where I divides the input channels
            weight, groups = w.transpose(0, 3, 1, 2), in_shape[3] // w.shape[3]
        pads = [0, 0, 0, 0]  # top, left, bottom, right (ONNX order: all begins, then all ends)
        if o["padding"] == _SAME:
            pt, pb = _same_pads(in_shape[1], kh, o["stride"][0], o["dilation"][0])
            pl, pr = _same_pads(in_shape[2], kw, o["stride"][1], o["dilation"][1])
            pads = [pt, pl, pb, pr]
        if xi in self.folded_pad:  # a zero PAD read by this convolution only: one op
            xi, (t, b, left, r) = self.folded_pad[xi]
            pads = [pads[0] + t, pads[1] + left, pads[2] + b, pads[3] + r]
        x, _ = self.get(xi, "nchw")
        bias = self.data(bi).astype(np.float32) if bi >= 0 else np.zeros(weight.shape[0], np.float32)
        y = self.node("Conv", [x, self.const(weight, "w"), self.const(bias, "b")], "conv",
                      kernel_shape=[kh, kw], strides=list(o["stride"]), dilations=list(o["dilation"]),
                      pads=pads, group=int(groups))
        self.values[op.outputs[0]] = (self.act(y, o["act"]), "nchw")

    def op_pad(self, op) -> None:
        xi, out = op.inputs[0], op.outputs[0]
        p = self.data(op.inputs[1]).astype(np.int64).reshape(-1, 2)
        rank = len(self.shape(xi))
        users = self.uses.get(out, [])
        if (rank == 4 and not p[0].any() and not p[3].any() and out not in self.g.outputs and len(users) == 1
                and users[0] in ("CONV_2D", "DEPTHWISE_CONV_2D")):
            self.folded_pad[out] = (xi, (int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])))
            return
        if rank == 4:
            x, lay = self.get(xi, "nchw")
            p = p[list(NHWC_TO_NCHW)]
        else:
            x, lay = self.get(xi, "nhwc")
        pads = np.concatenate([p[:, 0], p[:, 1]]).astype(np.int64)
        self.values[out] = (self.node("Pad", [x, self.const(pads)], mode="constant"), lay)

    def op_add(self, op) -> None:
        a, b = op.inputs[0], op.inputs[1]
        rank = max(len(self.shape(a)), len(self.shape(b)))
        small = [i for i in (a, b) if len(self.shape(i)) < rank]
        lay = "nchw" if rank == 4 and all(self.g.tensors[i].data is not None for i in small) else "nhwc"

        def operand(i: int) -> str:
            data = self.g.tensors[i].data
            if lay == "nchw" and data is not None and data.ndim < 4:
                data = data.astype(np.float32).reshape((1,) * (4 - data.ndim) + data.shape)
                return self.const(data.transpose(NHWC_TO_NCHW))
            return self.get(i, lay)[0]

        y = self.node("Add", [operand(a), operand(b)])
        self.values[op.outputs[0]] = (self.act(y, op.options.get("act", 0)), lay)

    def op_max_pool(self, op) -> None:
        o = op.options
        xi = op.inputs[0]
        h, w = self.shape(xi)[1:3]
        (kh, kw), (sh, sw) = o["kernel"], o["stride"]
        pads = [0, 0, 0, 0]
        if o["padding"] == _SAME:
            pt, pb = _same_pads(h, kh, sh, 1)
            pl, pr = _same_pads(w, kw, sw, 1)
            pads = [pt, pl, pb, pr]
        x, _ = self.get(xi, "nchw")
        y = self.node("MaxPool", [x], kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
        self.values[op.outputs[0]] = (self.act(y, o["act"]), "nchw")

    def op_resize(self, op) -> None:
        o = op.options
        x, _ = self.get(op.inputs[0], "nchw")
        size = self.data(op.inputs[1]).astype(np.int64).reshape(2)
        if o["align_corners"]:
            mode = "align_corners"
        elif o["half_pixel_centers"]:
            mode = "half_pixel"  # (dst + 0.5) * in/out - 0.5, clamped at the borders as TFLite does
        else:
            mode = "asymmetric"  # legacy TF: dst * in/out
        # sizes (N, C, H', W') with the batch taken from the input, so any batch runs
        nc = self.node("Slice", [self.node("Shape", [x]), self.const(np.array([0])), self.const(np.array([2]))])
        sizes = self.node("Concat", [nc, self.const(size)], axis=0)
        y = self.node("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode=mode)
        self.values[op.outputs[0]] = (y, "nchw")

    def op_depth_to_space(self, op) -> None:
        x, _ = self.get(op.inputs[0], "nchw")
        y = self.node("DepthToSpace", [x], blocksize=int(op.options["block"]), mode="DCR")
        self.values[op.outputs[0]] = (y, "nchw")

    def op_reshape(self, op) -> None:
        xi, out = op.inputs[0], op.outputs[0]
        shape = self.shape(out)
        if not shape or shape[0] != 1 or self.shape(xi)[:1] != (1,):
            raise ModelError(f"{self.where()}: RESHAPE that changes the batch dimension is not supported")
        x, _ = self.get(xi, "nhwc")
        y = self.node("Reshape", [x, self.const(np.array((-1,) + tuple(shape[1:]), np.int64))])
        self.values[out] = (y, "nhwc")

    def op_concat(self, op) -> None:
        ins = op.inputs
        rank = len(self.shape(ins[0]))
        axis = op.options["axis"] % rank
        if rank == 4 and all(self.values.get(i, (None, "nchw"))[1] == "nchw" for i in ins):
            lay, dim = "nchw", NHWC_TO_NCHW.index(axis)
        else:
            lay, dim = "nhwc", axis
        y = self.node("Concat", [self.get(i, lay)[0] for i in ins], axis=int(dim))
        self.values[op.outputs[0]] = (self.act(y, op.options.get("act", 0)), lay)

    def op_logistic(self, op) -> None:
        x, lay = self.get(op.inputs[0])
        self.values[op.outputs[0]] = (self.node("Sigmoid", [x]), lay)

    def op_prelu(self, op) -> None:
        alpha = self.data(op.inputs[1]).astype(np.float32)
        channels = self.shape(op.inputs[0])[-1]
        rank = len(self.shape(op.inputs[0]))
        if alpha.size != channels or alpha.shape[-1] != channels or rank not in (2, 4):
            raise ModelError(f"{self.where()}: PRELU with alpha {alpha.shape} on rank {rank} is not supported")
        lay = "nchw" if rank == 4 else "nhwc"
        x, _ = self.get(op.inputs[0], lay)
        slope = alpha.reshape(-1, 1, 1) if rank == 4 else alpha.reshape(-1)
        # Relu(x) + slope * Min(x, 0), the same numbers as PRelu: ONNX Runtime's PRelu kernel took as long as
        # every convolution of the hand graphs together and left its blocked (NCHWc) layout around each
        # one (CPU time a crop, one thread: hand_recrop 2.29 -> 1.57 ms, palm_detection_full 14.0 -> 10.0)
        negative = self.node("Min", [x, self.const(np.zeros((), np.float32), "zero")])
        scaled = self.node("Mul", [negative, self.const(slope, "slope")])
        self.values[op.outputs[0]] = (self.node("Add", [self.node("Relu", [x]), scaled]), lay)

    def op_mean(self, op) -> None:
        xi = op.inputs[0]
        rank = len(self.shape(xi))
        axes = sorted({int(a) % rank for a in np.atleast_1d(self.data(op.inputs[1]))})
        keep = int(op.options["keep_dims"])
        if 0 in axes:
            raise ModelError(f"{self.where()}: MEAN over the batch dimension is not supported")
        if rank == 4 and not keep and axes == [1, 2]:  # global average pooling: NCHW mean over H, W
            x, _ = self.get(xi, "nchw")
            self.values[op.outputs[0]] = (self.node("ReduceMean", [x], axes=[2, 3], keepdims=0), "nhwc")
            return
        x, _ = self.get(xi, "nhwc")
        self.values[op.outputs[0]] = (self.node("ReduceMean", [x], axes=axes, keepdims=keep), "nhwc")

    def op_fully_connected(self, op) -> None:
        o = op.options
        xi, wi = op.inputs[0], op.inputs[1]
        w = self.data(wi).astype(np.float32)  # (out, in)
        shape = self.shape(xi)
        if o["weights_format"] != 0 or o["keep_num_dims"] or len(shape) != 2 or shape[-1] != w.shape[1]:
            raise ModelError(f"{self.where()}: FULLY_CONNECTED on input {shape} is not supported")
        x, _ = self.get(xi, "nhwc")
        ins = [x, self.const(w, "w")]
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            ins.append(self.const(self.data(op.inputs[2]).astype(np.float32), "b"))
        y = self.node("Gemm", ins, transB=1)
        self.values[op.outputs[0]] = (self.act(y, o["act"]), "nhwc")

    def op_strided_slice(self, op) -> None:
        o = op.options
        if o["ellipsis_mask"] or o["new_axis_mask"] or o["shrink_axis_mask"]:
            raise ModelError(f"{self.where()}: STRIDED_SLICE with ellipsis, new or shrunk axes is not supported")
        xi = op.inputs[0]
        shape = self.shape(xi)
        begin, end, step = (np.atleast_1d(self.data(i)).astype(np.int64) for i in op.inputs[1:4])
        if begin[0] != 0 or step[0] != 1 or not (o["end_mask"] & 1 or end[0] >= shape[0]):
            raise ModelError(f"{self.where()}: STRIDED_SLICE across the batch dimension is not supported")
        big = np.iinfo(np.int64).max
        starts, ends, steps = [], [], []
        for d in range(1, len(shape)):  # the batch stays whole
            starts.append(0 if o["begin_mask"] >> d & 1 else int(begin[d]))
            ends.append((big if step[d] > 0 else -big) if o["end_mask"] >> d & 1 else int(end[d]))
            steps.append(int(step[d]))
        axes = list(range(1, len(shape)))
        lay = "nchw" if len(shape) == 4 else "nhwc"
        if lay == "nchw":
            axes = [NHWC_TO_NCHW.index(a) for a in axes]
        x, _ = self.get(xi, lay)
        args = [self.const(np.array(v, np.int64), n) for v, n in
                ((starts, "starts"), (ends, "ends"), (axes, "axes"), (steps, "steps"))]
        self.values[op.outputs[0]] = (self.node("Slice", [x, *args]), lay)

    def op_dequantize(self, op) -> None:
        # a float16 activation tensor: computing in float32 covers it
        self.values[op.outputs[0]] = self.get(op.inputs[0])

    # -- whole graph ---------------------------------------------------------------------------------------
    def build(self, outputs: Sequence[int]) -> onnx_proto.Model:
        g = self.g
        if len(g.inputs) != 1 or len(self.shape(g.inputs[0])) != 4:
            raise ModelError(f"{self.where()}: only graphs with one image-batch input (N, H, W, C) are supported")
        for op in g.ops:  # fail before any work, naming the first op we cannot write
            if op.name not in SUPPORTED_OPS:
                raise ModelError(f"unsupported op {op.name} in {self.where()}")
        inp = g.inputs[0]
        self.values[inp] = (self.node("Transpose", ["x"], perm=list(NHWC_TO_NCHW)), "nchw")
        handlers = {
            "CONV_2D": lambda op: self.op_conv(op, False),
            "DEPTHWISE_CONV_2D": lambda op: self.op_conv(op, True),
            "ADD": self.op_add, "PAD": self.op_pad, "MAX_POOL_2D": self.op_max_pool,
            "RESIZE_BILINEAR": self.op_resize, "DEPTH_TO_SPACE": self.op_depth_to_space,
            "RESHAPE": self.op_reshape, "CONCATENATION": self.op_concat, "LOGISTIC": self.op_logistic,
            "DEQUANTIZE": self.op_dequantize, "PRELU": self.op_prelu, "MEAN": self.op_mean,
            "FULLY_CONNECTED": self.op_fully_connected, "STRIDED_SLICE": self.op_strided_slice,
        }
        for op in g.ops:
            handlers[op.name](op)
        names, infos = [], []
        for k in outputs:
            t = g.tensors[g.outputs[k]]
            name, _ = self.get(g.outputs[k], "nhwc" if len(t.shape) == 4 else None)
            self.nodes.append(onnx_proto.node("Identity", [name], [t.name]))
            names.append(t.name)
            infos.append((t.name, onnx_proto.FLOAT, ["n", *t.shape[1:]]))
        nodes, inits = _prune(self.nodes, self.inits, names)
        h, w, c = self.shape(inp)[1:]
        return onnx_proto.Model(g.path.stem, nodes, inits, [("x", onnx_proto.FLOAT, ["n", h, w, c])], infos, OPSET)


def _prune(nodes: list, inits: dict, outputs: list[str]) -> tuple[list, dict]:
    """Only the nodes (in order) and constants that the `outputs` depend on: unused branches are dropped."""
    needed = set(outputs)
    kept = []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            kept.append(n)
            needed.update(i for i in n.input if i)
    return kept[::-1], {k: v for k, v in inits.items() if k in needed}


def tflite_to_onnx(path: str | Path | Graph, outputs: Sequence[int] | None = None) -> bytes:
    """The serialised ONNX model of the .tflite graph at `path` (or read already: a `Graph`): input "x"
    (N, H, W, C) float32, outputs named as in the .tflite (the chosen `outputs` indices, default all), each
    (N, ...) with TFLite's shape.
    ModelError for an unreadable file or an op outside SUPPORTED_OPS."""
    return tflite_model(path, outputs).encode()


def tflite_model(path: str | Path | Graph, outputs: Sequence[int] | None = None) -> onnx_proto.Model:
    """As `tflite_to_onnx`, the model before it is serialised."""
    graph = path if isinstance(path, Graph) else read_graph(path)
    n_out = len(graph.outputs)
    chosen = tuple(range(n_out)) if outputs is None else tuple(int(k) for k in outputs)
    if not chosen or any(k < 0 or k >= n_out for k in chosen):
        raise ModelError(f"{graph.path.name} has {n_out} outputs; cannot select {chosen}")
    return _Emitter(graph).build(chosen)
