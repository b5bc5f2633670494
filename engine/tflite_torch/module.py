"""Build a torch module that executes a TFLite graph (the BlazePose detector and landmark graphs).

The TFLite graph is translated once into a `torch.fx` graph: straight-line Python code with one torch call
per op, no interpreter loop at run time. Feature maps run in NCHW; a contiguous NHWC input permuted to NCHW
is already a channels_last tensor, so the layout change at the input and at the outputs costs no copy.
Tensors leave NCHW only where an op needs TFLite's own (NHWC) order: RESHAPE, and the graph outputs.

Semantics follow the TFLite reference kernels (tensorflow/lite/kernels/internal/reference/*):
SAME padding puts the odd pixel after (pad_before = total // 2), RESIZE_BILINEAR with half_pixel_centers
maps dst -> (dst + 0.5) * in/out - 0.5 clamped at the borders (the same as torch's align_corners=False),
DEPTH_TO_SPACE takes channel (i * block + j) * C_out + c for the pixel offset (i, j).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import BadInput, ModelError
from .reader import NHWC_TO_NCHW, Graph, TensorInfo, constant_value, read_graph

SUPPORTED_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD", "MAX_POOL_2D", "RESIZE_BILINEAR", "DEPTH_TO_SPACE",
    "RESHAPE", "CONCATENATION", "LOGISTIC", "DEQUANTIZE", "DENSIFY",
    "FULLY_CONNECTED", "MEAN", "PRELU", "STRIDED_SLICE",  # the hand graphs (palm, hand landmarks, recrop)
)
_SAME, _VALID = 0, 1  # tflite Padding enum


def _act(graph: fx.Graph, node: fx.Node, act: int, where: str) -> fx.Node:
    """Apply a TFLite fused activation in place on a fresh tensor (ActivationFunctionType enum).

    TFLite applies fused activations as a clamp range (CalculateActivationRange in kernel_util.h).
    """
    if act == 0:
        return node
    if act == 1:
        return graph.call_function(torch.relu_, (node,))
    if act == 2:
        return graph.call_function(torch.clamp_, (node, -1.0, 1.0))
    if act == 3:
        return graph.call_function(torch.clamp_, (node, 0.0, 6.0))
    # TANH (4) and SIGN_BIT (5) are not clamp ranges; TFLite's kernels do not apply them as fused activations.
    raise ModelError(f"unsupported fused activation {act} in {where}")


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding (before, after) along one axis."""
    eff = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """NCHW depth-to-space with TFLite's channel order (offset-major, unlike torch's pixel_shuffle).

    Done on the NHWC view: out[n, h*b + i, w*b + j, c] = in[n, h, w, (i*b + j)*C_out + c]; the copy it
    makes is NHWC-contiguous, so the result is a channels_last NCHW tensor like the rest of the graph.
    """
    n, c, h, w = x.shape
    co = c // (block * block)
    y = x.permute(0, 2, 3, 1).reshape(n, h, w, block, block, co).permute(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * block, w * block, co).permute(0, 3, 1, 2)


def _resize_axis(size_in: int, size_out: int, align_corners: bool, half_pixel: bool):
    """Source indices (lo, hi) and weights of hi, TFLite's bilinear rules, along one axis."""
    if align_corners and size_out > 1:
        scale = (size_in - 1) / (size_out - 1)
    else:
        scale = size_in / size_out
    dst = np.arange(size_out, dtype=np.float64)
    src = (dst + 0.5) * scale - 0.5 if half_pixel else dst * scale
    lo = np.floor(src)
    frac = src - lo
    lo_i = np.clip(lo, 0, size_in - 1).astype(np.int64)
    hi_i = np.clip(np.ceil(src), 0, size_in - 1).astype(np.int64)
    return lo_i, hi_i, frac.astype(np.float32)


def _resize_legacy(x: torch.Tensor, ylo, yhi, yw, xlo, xhi, xw) -> torch.Tensor:
    """Bilinear resize of NCHW `x` with precomputed index/weight vectors (modes torch lacks)."""
    top = x.index_select(2, ylo)
    bot = x.index_select(2, yhi)
    rows = top + (bot - top) * yw.view(1, 1, -1, 1)
    left = rows.index_select(3, xlo)
    right = rows.index_select(3, xhi)
    return left + (right - left) * xw.view(1, 1, 1, -1)


def _slice(x: torch.Tensor, spec: tuple[tuple[int, int, int], ...]) -> torch.Tensor:
    return x[tuple(slice(b, e, st) for b, e, st in spec)]


def _to_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def _to_nchw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def _batch_reshape(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return x.reshape((x.shape[0],) + shape)


class _Builder:
    """Translate the ops of a Graph into fx nodes; holds the constants as buffers of `root`."""

    def __init__(self, graph: Graph, channels_last: bool):
        self.g = graph
        self.fx = fx.Graph()
        self.root = nn.Module()
        self.channels_last = channels_last
        self.values: dict[int, tuple[fx.Node, str]] = {}  # tensor index -> (node, "nchw" | "nhwc")
        self.pending_pad: dict[int, tuple[int, tuple[int, int, int, int]]] = {}  # folded into a conv
        self.nconst = 0
        self.conv_inputs: dict[str, tuple[int, int, int, int]] = {}  # weight buffer -> conv input NCHW

    # -- helpers -------------------------------------------------------------------------------------------
    def where(self) -> str:
        return self.g.path.name

    def tensor(self, i: int) -> TensorInfo:
        return self.g.tensors[i]

    def const(self, i: int) -> np.ndarray:
        data = self.g.tensors[i].data
        if data is None:
            raise ModelError(f"{self.where()}: tensor {self.g.tensors[i].name} must be a constant")
        return data

    def buffer(self, array: np.ndarray | torch.Tensor, prefix: str = "c") -> fx.Node:
        name = f"{prefix}{self.nconst}"
        self.nconst += 1
        t = torch.as_tensor(np.ascontiguousarray(array)) if isinstance(array, np.ndarray) else array
        self.root.register_buffer(name, t)
        return self.fx.get_attr(name)

    def call(self, fn, *args, **kwargs) -> fx.Node:
        return self.fx.call_function(fn, args, kwargs)

    def get(self, i: int, layout: str | None = None) -> tuple[fx.Node, str]:
        """The node of tensor i, converted to `layout` when given ("nchw" only for rank-4 tensors)."""
        if i in self.pending_pad and i not in self.values:
            self.materialize_pad(i)
        if i not in self.values:
            t = self.tensor(i)
            if t.data is None:
                raise ModelError(f"{self.where()}: tensor {t.name} is used before it is computed")
            data, lay = constant_value(t)
            self.values[i] = (self.buffer(data), lay)
        node, lay = self.values[i]
        if layout is None or layout == lay:
            return node, lay
        if layout == "nchw":
            return self.call(_to_nchw, node), "nchw"
        return self.call(_to_nhwc, node), "nhwc"

    def set(self, i: int, node: fx.Node, layout: str) -> None:
        self.values[i] = (node, layout)

    def rank(self, i: int) -> int:
        return len(self.tensor(i).shape)

    def materialize_pad(self, i: int) -> None:
        src, (top, bottom, left, right) = self.pending_pad.pop(i)
        x, _ = self.get(src, "nchw")
        self.set(i, self.call(F.pad, x, (left, right, top, bottom)), "nchw")

    # -- ops -----------------------------------------------------------------------------------------------
    def op_conv(self, op, depthwise: bool) -> None:
        o = op.options
        xi, wi = op.inputs[0], op.inputs[1]
        bi = op.inputs[2] if len(op.inputs) > 2 else -1
        w = self.const(wi).astype(np.float32)
        in_shape = self.tensor(xi).shape
        if depthwise:  # (1, kh, kw, C*M) -> (C*M, 1, kh, kw), one group per input channel
            kh, kw = w.shape[1], w.shape[2]
            weight = w.transpose(3, 0, 1, 2)
            groups = in_shape[3]
        else:  # (O, kh, kw, I) -> (O, I, kh, kw); grouped conv when I divides the input channels
            kh, kw = w.shape[1], w.shape[2]
            weight = w.transpose(0, 3, 1, 2)
            groups = in_shape[3] // w.shape[3]
        pads = [0, 0, 0, 0]  # top, bottom, left, right
        if xi in self.pending_pad and xi not in self.values:
            xi, pads = self.pending_pad[xi][0], list(self.pending_pad[xi][1])
            in_shape = self.tensor(xi).shape
            in_shape = (in_shape[0], in_shape[1] + pads[0] + pads[1], in_shape[2] + pads[2] + pads[3],
                        in_shape[3])
        if o["padding"] == _SAME:
            pt, pb = _same_pads(in_shape[1], kh, o["stride"][0], o["dilation"][0])
            pl, pr = _same_pads(in_shape[2], kw, o["stride"][1], o["dilation"][1])
            pads = [pads[0] + pt, pads[1] + pb, pads[2] + pl, pads[3] + pr]
        x, _ = self.get(xi, "nchw")
        src = self.tensor(xi).shape
        conv_in = (1, src[3], src[1], src[2])  # the shape the conv itself sees, for weight prepacking
        if pads[0] == pads[1] and pads[2] == pads[3]:
            padding = (pads[0], pads[2])
        else:
            x = self.call(F.pad, x, (pads[2], pads[3], pads[0], pads[1]))
            padding = (0, 0)
            conv_in = (1, src[3], src[1] + pads[0] + pads[1], src[2] + pads[2] + pads[3])
        wt = torch.from_numpy(np.ascontiguousarray(weight))
        if self.channels_last:
            wt = wt.contiguous(memory_format=torch.channels_last)
        wn = self.buffer(wt, "w")
        self.conv_inputs[wn.target] = conv_in
        bn = self.buffer(self.const(bi).astype(np.float32), "b") if bi >= 0 else None
        y = self.call(F.conv2d, x, wn, bn, tuple(o["stride"]), padding, tuple(o["dilation"]), groups)
        self.set(op.outputs[0], _act(self.fx, y, o["act"], self.where()), "nchw")

    def op_pad(self, op) -> None:
        xi, out = op.inputs[0], op.outputs[0]
        p = self.const(op.inputs[1]).astype(np.int64).reshape(-1, 2)
        if self.rank(xi) == 4 and not p[0].any() and not p[3].any() and out not in self.g.outputs:
            # Spatial zero padding: kept pending so a following VALID conv can absorb it.
            self.pending_pad[out] = (xi, (int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])))
            return
        if self.rank(xi) == 4:
            x, _ = self.get(xi, "nchw")
            perm = NHWC_TO_NCHW
            lay = "nchw"
        else:
            x, _ = self.get(xi, "nhwc")
            perm = tuple(range(self.rank(xi)))
            lay = "nhwc"
        spec: list[int] = []
        for d in reversed(perm):  # F.pad lists the last storage dim first
            spec += [int(p[d, 0]), int(p[d, 1])]
        self.set(out, self.call(F.pad, x, tuple(spec)), lay)

    def op_add(self, op) -> None:
        a, b = op.inputs[0], op.inputs[1]
        rank = max(self.rank(a), self.rank(b))
        small = [i for i in (a, b) if self.rank(i) < rank]
        # NCHW works when every lower-rank operand is a constant that can be reshaped to broadcast there.
        lay = "nchw" if rank == 4 and all(self.tensor(i).data is not None for i in small) else "nhwc"

        def operand(i: int) -> fx.Node:
            data = self.tensor(i).data
            if lay == "nchw" and data is not None and data.ndim < 4:
                data = data.astype(np.float32).reshape((1,) * (4 - data.ndim) + data.shape)
                return self.buffer(data.transpose(NHWC_TO_NCHW))
            return self.get(i, lay)[0]

        # A fused activation may work in place on the fresh sum.
        y = self.call(torch.add, operand(a), operand(b))
        self.set(op.outputs[0], _act(self.fx, y, op.options.get("act", 0), self.where()), lay)

    def op_max_pool(self, op) -> None:
        o = op.options
        xi = op.inputs[0]
        h, w = self.tensor(xi).shape[1:3]
        (kh, kw), (sh, sw) = o["kernel"], o["stride"]
        x, _ = self.get(xi, "nchw")
        if o["padding"] == _SAME:
            pt, pb = _same_pads(h, kh, sh, 1)
            pl, pr = _same_pads(w, kw, sw, 1)
            if (pt, pl) != (pb, pr):
                x = self.call(F.pad, x, (pl, pr, pt, pb), "constant", float("-inf"))
                pt = pl = 0
            padding = (pt, pl)
        else:
            padding = (0, 0)
        y = self.call(F.max_pool2d, x, (kh, kw), (sh, sw), padding)
        self.set(op.outputs[0], _act(self.fx, y, o["act"], self.where()), "nchw")

    def op_resize(self, op) -> None:
        o = op.options
        xi = op.inputs[0]
        size = tuple(int(v) for v in self.const(op.inputs[1]))
        x, _ = self.get(xi, "nchw")
        if o["half_pixel_centers"] and not o["align_corners"]:
            y = self.call(F.interpolate, x, size=size, mode="bilinear", align_corners=False)
        elif o["align_corners"] and not o["half_pixel_centers"]:
            y = self.call(F.interpolate, x, size=size, mode="bilinear", align_corners=True)
        else:  # legacy TF mapping (dst * in/out), no torch equivalent
            h, w = self.tensor(xi).shape[1:3]
            ylo, yhi, yw = _resize_axis(h, size[0], o["align_corners"], o["half_pixel_centers"])
            xlo, xhi, xw = _resize_axis(w, size[1], o["align_corners"], o["half_pixel_centers"])
            args = [self.buffer(v, "r") for v in (ylo, yhi, yw, xlo, xhi, xw)]
            y = self.call(_resize_legacy, x, *args)
        self.set(op.outputs[0], y, "nchw")

    def op_depth_to_space(self, op) -> None:
        x, _ = self.get(op.inputs[0], "nchw")
        self.set(op.outputs[0], self.call(_depth_to_space, x, int(op.options["block"])), "nchw")

    def op_reshape(self, op) -> None:
        xi, out = op.inputs[0], op.outputs[0]
        shape = self.tensor(out).shape
        x, _ = self.get(xi, "nhwc")
        if not shape or shape[0] != 1 or self.tensor(xi).shape[:1] != (1,):
            raise ModelError(f"{self.where()}: RESHAPE that changes the batch dimension is not supported")
        self.set(out, self.call(_batch_reshape, x, tuple(shape[1:])), "nhwc")

    def op_concat(self, op) -> None:
        ins = op.inputs
        rank = self.rank(ins[0])
        axis = op.options["axis"] % rank
        if rank == 4 and all(self.values.get(i, (None, "nchw"))[1] == "nchw" for i in ins):
            lay, dim = "nchw", NHWC_TO_NCHW.index(axis)
        else:
            lay, dim = "nhwc", axis
        xs = [self.get(i, lay)[0] for i in ins]
        y = self.call(torch.cat, xs, dim)
        self.set(op.outputs[0], _act(self.fx, y, op.options.get("act", 0), self.where()), lay)

    def op_logistic(self, op) -> None:
        x, lay = self.get(op.inputs[0])
        self.set(op.outputs[0], self.call(torch.sigmoid, x), lay)

    def op_prelu(self, op) -> None:
        # y = max(x, 0) + alpha * min(x, 0); the hand graphs' alpha is per channel, shape (1, 1, C).
        alpha = self.const(op.inputs[1]).astype(np.float32)
        channels = self.tensor(op.inputs[0]).shape[-1]
        if alpha.size != channels or alpha.shape[-1] != channels:
            raise ModelError(f"{self.where()}: PRELU with alpha {alpha.shape} (not per channel) is not supported")
        x, lay = self.get(op.inputs[0], "nchw" if self.rank(op.inputs[0]) == 4 else "nhwc")
        if lay == "nhwc" and self.rank(op.inputs[0]) != 2:
            raise ModelError(f"{self.where()}: PRELU on a rank-{self.rank(op.inputs[0])} tensor is not supported")
        self.set(op.outputs[0], self.call(F.prelu, x, self.buffer(alpha.reshape(-1), "a")), lay)

    def op_mean(self, op) -> None:
        xi = op.inputs[0]
        rank = self.rank(xi)
        axes = sorted({int(a) % rank for a in np.atleast_1d(self.const(op.inputs[1]))})
        if 0 in axes:
            raise ModelError(f"{self.where()}: MEAN over the batch dimension is not supported")
        keep = op.options["keep_dims"]
        if rank == 4 and not keep and axes == [1, 2]:  # global average pooling: NCHW mean over H, W
            x, _ = self.get(xi, "nchw")
            self.set(op.outputs[0], self.call(torch.mean, x, (2, 3)), "nhwc")
            return
        x, _ = self.get(xi, "nhwc")
        self.set(op.outputs[0], self.call(torch.mean, x, tuple(axes), keep), "nhwc")

    def op_fully_connected(self, op) -> None:
        o = op.options
        xi, wi = op.inputs[0], op.inputs[1]
        bi = op.inputs[2] if len(op.inputs) > 2 else -1
        if o["weights_format"] != 0 or self.tensor(wi).data is None:
            raise ModelError(f"{self.where()}: FULLY_CONNECTED needs constant float weights in the default format")
        w = self.const(wi).astype(np.float32)  # (out, in)
        shape = self.tensor(xi).shape
        if o["keep_num_dims"] or shape[-1] != w.shape[1] or len(shape) != 2:
            raise ModelError(f"{self.where()}: FULLY_CONNECTED on input {shape} is not supported")
        x, _ = self.get(xi, "nhwc")
        bn = self.buffer(self.const(bi).astype(np.float32), "b") if bi >= 0 else None
        y = self.call(F.linear, x, self.buffer(w, "w"), bn)
        self.set(op.outputs[0], _act(self.fx, y, o["act"], self.where()), "nhwc")

    def op_strided_slice(self, op) -> None:
        o = op.options
        if o["ellipsis_mask"] or o["new_axis_mask"] or o["shrink_axis_mask"]:
            raise ModelError(f"{self.where()}: STRIDED_SLICE with ellipsis, new or shrunk axes is not supported")
        xi = op.inputs[0]
        shape = self.tensor(xi).shape
        begin, end, step = (np.atleast_1d(self.const(i)).astype(np.int64) for i in op.inputs[1:4])
        if begin[0] != 0 or step[0] != 1 or not (o["end_mask"] & 1 or end[0] >= shape[0]):
            raise ModelError(f"{self.where()}: STRIDED_SLICE across the batch dimension is not supported")
        spec = [(None, None, 1)]  # the whole batch: the graph's batch of 1 is any N here
        for d in range(1, len(shape)):
            b = None if o["begin_mask"] >> d & 1 else int(begin[d])
            e = None if o["end_mask"] >> d & 1 else int(end[d])
            spec.append((b, e, int(step[d])))
        if len(shape) == 4:  # slice in NCHW: the spec's dimensions follow the layout
            x, _ = self.get(xi, "nchw")
            spec = [spec[k] for k in NHWC_TO_NCHW]
            self.set(op.outputs[0], self.call(_slice, x, tuple(spec)), "nchw")
        else:
            x, _ = self.get(xi, "nhwc")
            self.set(op.outputs[0], self.call(_slice, x, tuple(spec)), "nhwc")

    def op_dequantize(self, op) -> None:
        # A float16 activation tensor: computing in the module's dtype already covers it.
        x, lay = self.get(op.inputs[0])
        self.set(op.outputs[0], x, lay)

    # -- whole graph ---------------------------------------------------------------------------------------
    def build(self, outputs: Sequence[int]) -> fx.GraphModule:
        g = self.g
        if len(g.inputs) != 1:
            raise ModelError(f"{self.where()}: only graphs with one input are supported")
        inp = g.inputs[0]
        if self.rank(inp) != 4:
            raise ModelError(f"{self.where()}: the input must be an image batch (N, H, W, C)")
        for op in g.ops:  # fail before any work, naming the first op the interpreter cannot run
            if op.name not in SUPPORTED_OPS:
                raise ModelError(f"unsupported op {op.name} in {self.where()}")
        x = self.fx.placeholder("x")
        self.set(inp, self.call(_to_nchw, x), "nchw")
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
            handler = handlers.get(op.name)
            if handler is None:
                raise ModelError(f"unsupported op {op.name} in {self.where()}")
            handler(op)
        results = []
        for k in outputs:
            node, lay = self.get(g.outputs[k])
            if lay == "nchw":
                node = self.call(_to_nhwc, node)
            results.append(self.fx.call_method("contiguous", (node,)))
        self.fx.output(tuple(results))
        self.fx.eliminate_dead_code()
        gm = fx.GraphModule(self.root, self.fx)
        # Drop the constants of pruned branches.
        used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
        for name in [n for n, _ in gm.named_buffers() if n not in used]:
            delattr(gm, name)
        return gm


class TFLiteModule(nn.Module):
    """A TFLite graph as a torch module. forward(x: (N, H, W, C) float) -> tuple of the chosen outputs.

    Each output has TFLite's shape with batch N (detector: (N, 2254, 12), (N, 2254, 1)). Inputs are cast
    to the module's dtype and moved to its device. Call it under torch.inference_mode() for speed.
    When `fused` (the CPU fast path), the module cannot be moved or cast; build another one instead.
    """

    def __init__(self, net: fx.GraphModule, graph: Graph, outputs: Sequence[int], dtype: torch.dtype):
        super().__init__()
        self.net = net
        self.dtype = dtype
        inp = graph.tensors[graph.inputs[0]]
        self.input_shape: tuple[int, int, int] = tuple(inp.shape[1:])  # (H, W, C)
        self.output_indices = tuple(outputs)
        self.output_names = tuple(graph.tensors[graph.outputs[k]].name for k in outputs)
        self.output_shapes = tuple(tuple(graph.tensors[graph.outputs[k]].shape[1:]) for k in outputs)
        self.source = graph.path.name
        self.fused = False
        self.device = torch.device("cpu")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise BadInput(f"{self.source} expects input (N, {', '.join(map(str, self.input_shape))}), "
                           f"got {tuple(x.shape)}")
        return self.net(x.to(device=self.device, dtype=self.dtype))

    def _apply(self, fn, recurse=True):
        # The fused CPU graph keeps oneDNN-packed weights outside the buffers: .to() cannot carry them.
        if self.fused:
            raise ModelError("this module is built for the CPU in float32; to move or cast it, "
                             "build it again with build_module(path, device=..., dtype=...)")
        module = super()._apply(fn, recurse)
        self.device = module_device(self)
        return module


def build_module(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    outputs: Sequence[int] | None = None,
    channels_last: bool = True,
    optimize: bool = True,
) -> TFLiteModule:
    """Translate the .tflite graph at `path` into a TFLiteModule on `device` in `dtype`.

    outputs: indices into the graph's outputs to compute (default all, in graph order); branches that feed
    only other outputs are pruned. channels_last: store conv weights channels_last (faster on CPU/CUDA).
    optimize: on CPU in float32, run convs through fused oneDNN kernels (module.fused says if it took).
    Raises ModelError for an unreadable file or an op outside SUPPORTED_OPS.
    """
    graph = read_graph(path)
    n_out = len(graph.outputs)
    chosen = tuple(range(n_out)) if outputs is None else tuple(int(k) for k in outputs)
    if not chosen or any(k < 0 or k >= n_out for k in chosen):
        raise ModelError(f"{graph.path.name} has {n_out} outputs; cannot select {chosen}")
    builder = _Builder(graph, channels_last)
    net = builder.build(chosen)
    module = TFLiteModule(net, graph, chosen, dtype)
    module.to(device=device, dtype=dtype)
    module.eval()
    if optimize and module_device(module).type == "cpu" and dtype == torch.float32:
        module.fused = _try_cpu_fusion(module, builder.conv_inputs)
    return module


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first buffer (CPU when it has none)."""
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def _try_cpu_fusion(module: TFLiteModule, conv_inputs: dict[str, tuple[int, int, int, int]]) -> bool:
    """Swap in the fused oneDNN graph when it is available and agrees with the plain one on a test input."""
    from . import cpu_fusion

    if not cpu_fusion.available():
        return False
    plain = module.net
    h, w, c = module.input_shape
    probe = torch.linspace(-1.0, 1.0, h * w * c).reshape(1, h, w, c)
    try:
        with torch.inference_mode():
            expected = plain(probe)
            fused = cpu_fusion.fuse(copy.deepcopy(plain), conv_inputs)
            got = fused(probe)
    except (RuntimeError, NotImplementedError, TypeError, AttributeError):
        return False
    for a, b in zip(expected, got):
        scale = float(a.abs().max()) + 1e-6
        if a.shape != b.shape or float((a - b).abs().max()) > 1e-3 * scale:
            return False
    module.net = fused
    return True
