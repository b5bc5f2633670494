"""CPU fast path: rewrite conv (+ activation, + residual add) nodes into fused oneDNN calls.

On CPU in float32, `torch.ops.mkldnn._convolution_pointwise` runs a convolution with its activation
(and, in the `.binary` overload, a residual add) as one oneDNN primitive with weights reordered once at
build time. That saves the separate clamp/add passes over memory and the per-call weight reorder, and it
keeps small 1x1 convs on oneDNN (F.conv2d sends small single-image 1x1 convs to a slower im2col path).
These are internal ops of PyTorch's CPU backend (the ones torch.compile's freezing pass emits), so the
rewrite is applied only when a quick self-check on the real graph passes; otherwise the plain graph stays.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx

_PW = None


def _pointwise():
    global _PW
    if _PW is None:
        _PW = torch.ops.mkldnn._convolution_pointwise
    return _PW


def available() -> bool:
    """True when this torch build has the fused oneDNN convolution ops."""
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise") \
            and _pointwise() is not None
    except (AttributeError, RuntimeError):
        return False


def _unary(node: fx.Node) -> tuple[str, list] | None:
    """The oneDNN post-op for an activation node emitted by the builder, or None."""
    if node.op != "call_function":
        return None
    if node.target is torch.relu_:
        return "relu", [None]
    if node.target is torch.clamp_ and len(node.args) == 3:
        return "hardtanh", [float(node.args[1]), float(node.args[2])]
    return None


def fuse(gm: fx.GraphModule, input_hw: dict[str, tuple[int, ...]]) -> fx.GraphModule:
    """Rewrite F.conv2d nodes of `gm` in place; `input_hw` maps weight name -> conv input shape (N, C, H, W).

    Weights are reordered into oneDNN's blocked layout and kept as plain attributes (not buffers), so the
    result is tied to the CPU and float32.
    """
    pw = _pointwise()
    graph = gm.graph
    packed: dict[str, torch.Tensor] = {}
    convs = [n for n in graph.nodes if n.op == "call_function" and n.target is F.conv2d]
    for conv in convs:
        x, w, b, stride, padding, dilation, groups = conv.args
        name = w.target
        weight = getattr(gm, name)
        if name not in packed:
            packed[name] = torch._C._nn.mkldnn_reorder_conv2d_weight(
                weight.contiguous(memory_format=torch.channels_last).to_mkldnn(), list(padding), list(stride),
                list(dilation), groups, list(input_hw[name]))
        common = (w, b, list(padding), list(stride), list(dilation), groups)
        users = list(conv.users)
        act = _unary(users[0]) if len(users) == 1 else None
        if act is not None:
            act_node = users[0]
            with graph.inserting_before(act_node):
                fused = graph.call_function(pw, (x,) + common + (act[0], act[1], ""))
            act_node.replace_all_uses_with(fused)
            graph.erase_node(act_node)
            graph.erase_node(conv)
            continue
        if len(users) == 1 and users[0].op == "call_function" and users[0].target is torch.add:
            add = users[0]
            other = add.args[1] if add.args[0] is conv else add.args[0]
            # Constants may be broadcast (1, C, 1, 1) operands; the fused add wants a full-size tensor.
            if other is not conv and isinstance(other, fx.Node) and other.op != "get_attr":
                # conv(x) + other as one primitive; "add" writes a new tensor (other may be used again).
                with graph.inserting_before(add):
                    fused = graph.call_function(pw.binary, (x, other) + common + ("add", None, None, [], None))
                add.replace_all_uses_with(fused)
                graph.erase_node(add)
                graph.erase_node(conv)
                continue
        with graph.inserting_before(conv):
            fused = graph.call_function(pw, (x,) + common + ("none", [], ""))
        conv.replace_all_uses_with(fused)
        graph.erase_node(conv)
    for name, tensor in packed.items():
        delattr(gm, name)
        setattr(gm, name, tensor)
    graph.lint()
    gm.recompile()
    return gm
