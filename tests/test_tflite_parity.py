"""The torch port of the TFLite graphs against Google's LiteRT runtime, on real video frames.

Also small graphs written here with the TFLite schema's flatbuffer builders, to pin op semantics the
BlazePose files do not exercise (asymmetric SAME padding, all RESIZE_BILINEAR modes, depth multiplier...).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
import tflite
import torch

from engine.errors import BadInput, ModelError
from engine.tflite_torch import SUPPORTED_OPS, build_module
from engine.tflite_torch.litert_runner import LiteRTModel
from engine.tflite_torch.onnx_runner import OnnxModel
from engine.tflite_torch.sparse import DimMeta, densify

# `model_paths` (the fetched BlazePose files) comes from conftest.py.
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ for blazepose_inputs
from blazepose_inputs import parity_inputs  # noqa: E402


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return parity_inputs()


def _run_torch(path: Path, x: np.ndarray, **kw) -> list[np.ndarray]:
    module = build_module(path, **kw)
    with torch.inference_mode():
        return [t.numpy() for t in module(torch.from_numpy(x))]


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))  # no overflow for large logits


def _close(a: np.ndarray, b: np.ndarray, rel: float) -> None:
    """|a - b| <= rel * max|b| everywhere (tolerance scaled to the output's magnitude)."""
    assert a.shape == b.shape
    tol = rel * float(np.abs(b).max())
    err = float(np.abs(a - b).max())
    assert err <= tol, f"max difference {err:.3g} > {tol:.3g}"


# -- the BlazePose graphs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("optimize", [True, False])
def test_detector_matches_litert(model_paths, inputs, optimize):
    path = model_paths["pose_detection"]
    x = inputs["pose_detection"]
    ours = _run_torch(path, x, optimize=optimize)
    ref = LiteRTModel(path)(x)
    assert [o.shape for o in ours] == [(6, 2254, 12), (6, 2254, 1)]
    _close(ours[0], ref[0], 2e-5)  # boxes and keypoints, anchor-relative pixels
    _close(ours[1], ref[1], 2e-5)  # score logits
    assert np.abs(_sigmoid(ours[1]) - _sigmoid(ref[1])).max() < 1e-4
    # The person on the treadmill is found (a real input, not noise).
    assert _sigmoid(ref[1][:3]).max(axis=(1, 2)).min() > 0.5


@pytest.mark.parametrize("optimize", [True, False])
def test_landmarks_match_litert(model_paths, inputs, optimize):
    path = model_paths["pose_landmark_full"]
    x = inputs["pose_landmark_full"]
    ours = _run_torch(path, x, optimize=optimize)
    ref = LiteRTModel(path)(x)
    assert [o.shape for o in ours] == [(6, 195), (6, 1), (6, 256, 256, 1), (6, 64, 64, 39), (6, 117)]
    p, q = ours[0].reshape(6, 39, 5), ref[0].reshape(6, 39, 5)
    assert np.abs(p[..., :2] - q[..., :2]).max() < 0.5  # x, y in pixels of the 256x256 crop
    assert np.abs(p[..., 2] - q[..., 2]).max() < 0.5  # z, same scale as x
    assert np.abs(_sigmoid(p[..., 3]) - _sigmoid(q[..., 3])).max() < 0.01  # visibility
    assert np.abs(_sigmoid(p[..., 4]) - _sigmoid(q[..., 4])).max() < 0.01  # presence
    assert np.abs(ours[1] - ref[1]).max() < 1e-3  # pose flag (already a probability)
    _close(ours[2], ref[2], 1e-3)  # segmentation logits
    _close(ours[3], ref[3], 1e-4)  # heatmaps
    assert np.abs(ours[4] - ref[4]).max() < 1e-3  # world landmarks, metres
    # Both runtimes see a person in every crop.
    assert ref[1].min() > 0.5


@pytest.mark.parametrize("name", ["pose_detection", "pose_landmark_full"])
def test_onnx_runtime_runs_our_graph_as_litert_does(model_paths, inputs, name):
    # The graph written as ONNX from the .tflite, run by ONNX Runtime (the CPU landmark path of `--backend auto`).
    path, x = model_paths[name], inputs[name]
    ours = OnnxModel(path)(x)
    ref = LiteRTModel(path)(x)
    assert [o.shape for o in ours] == [r.shape for r in ref]
    if name == "pose_detection":
        _close(ours[0], ref[0], 2e-5)
        assert np.abs(_sigmoid(ours[1]) - _sigmoid(ref[1])).max() < 1e-4
        return
    p, q = ours[0].reshape(6, 39, 5), ref[0].reshape(6, 39, 5)
    assert np.abs(p[..., :3] - q[..., :3]).max() < 0.5  # x, y, z in pixels of the 256x256 crop
    assert np.abs(_sigmoid(p[..., 3:]) - _sigmoid(q[..., 3:])).max() < 0.01  # visibility, presence
    assert np.abs(ours[1] - ref[1]).max() < 1e-3
    # pruned to what the capture reads, batch by batch as the capture calls it
    part = OnnxModel(path, outputs=(0, 1))
    assert part.output_names == ("Identity", "Identity_1")
    halves = [np.concatenate(o) for o in zip(part(x[:2]), part(x[2:]))]
    assert np.abs(halves[0] - ours[0]).max() < 1e-3 and np.abs(halves[1] - ours[1]).max() < 1e-5
    with pytest.raises(BadInput, match="256, 256, 3"):
        part(np.zeros((1, 224, 224, 3), np.float32))


def test_auto_backend_on_the_cpu_takes_the_fastest_runtime_per_graph(model_paths):
    from engine.detector.backends import PoseNets

    nets = PoseNets(model_paths["pose_detection"], model_paths["pose_landmark_full"], device="cpu")
    assert nets.runtimes == {"detector": "litert", "landmarks": "onnx"}
    assert nets.parallel_landmarks == ((os.cpu_count() or 1) > 1)


def test_pruned_outputs_match_full_graph(model_paths, inputs):
    path = model_paths["pose_landmark_full"]
    x = torch.from_numpy(inputs["pose_landmark_full"][:2])
    full = build_module(path)
    part = build_module(path, outputs=(0, 1, 4))
    assert part.output_names == ("Identity", "Identity_1", "Identity_4")
    # The segmentation and heatmap branches are gone, with their weights.
    assert sum(b.numel() for b in part.net.buffers()) < sum(b.numel() for b in full.net.buffers())
    assert len(part.net.graph.nodes) < len(full.net.graph.nodes)
    with torch.inference_mode():
        a, b = full(x), part(x)
    for k, j in enumerate((0, 1, 4)):
        assert torch.equal(a[j], b[k])


@pytest.mark.parametrize("name", ["pose_detection", "pose_landmark_full"])
def test_batch_of_four_equals_four_singles(model_paths, inputs, name):
    module = build_module(model_paths[name])
    x = torch.from_numpy(inputs[name][:4])
    with torch.inference_mode():
        batched = module(x)
        singles = [module(x[i:i + 1]) for i in range(4)]
    for k, out in enumerate(batched):
        one = torch.cat([s[k] for s in singles])
        scale = float(one.abs().max())
        assert float((out - one).abs().max()) <= 1e-5 * scale + 1e-6


def test_float16_module_stays_close(model_paths, inputs):
    # build_module takes float16 (not used by the capture: on CUDA it moved detector boxes by up to 56 px);
    # on the CPU the same module checks the dtype plumbing and the accuracy.
    path = model_paths["pose_landmark_full"]
    x = torch.from_numpy(inputs["pose_landmark_full"][:1])  # float16 convs are slow on the CPU
    half = build_module(path, dtype=torch.float16, outputs=(0, 1, 4))
    full = build_module(path, outputs=(0, 1, 4))
    assert not half.fused
    assert {b.dtype for b in half.net.buffers()} == {torch.float16}
    with torch.inference_mode():
        got = [t.float() for t in half(x)]
        ref = full(x)
    p, q = got[0].reshape(1, 39, 5), ref[0].reshape(1, 39, 5)
    assert float((p[..., :2] - q[..., :2]).abs().max()) < 3.0  # pixels of the 256 crop
    assert float((p[..., :2] - q[..., :2]).abs().mean()) < 0.5
    assert float((got[1] - ref[1]).abs().max()) < 0.01
    assert float((got[2] - ref[2]).abs().max()) < 0.05  # metres


def test_cpu_fusion_is_used(model_paths):
    # The fast path must actually engage on CPU; a silent fallback would only show up as lost speed.
    assert build_module(model_paths["pose_detection"]).fused
    assert not build_module(model_paths["pose_detection"], optimize=False).fused


def test_wrong_input_shape_is_bad_input(model_paths):
    module = build_module(model_paths["pose_detection"])
    with pytest.raises(BadInput, match="224, 224, 3"):
        module(torch.zeros(1, 256, 256, 3))


def test_unreadable_file_is_model_error(tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ModelError):
        build_module(bad)


# -- sparse tensors ---------------------------------------------------------------------------------------

def test_densify_block_sparse_example():
    # The 4x4 example of schema.fbs's sparsity comments: 2x2 blocks, block rows dense, block cols CSR.
    dense = np.array([[1, 2, 0, 0], [3, 4, 0, 0], [0, 0, 5, 6], [0, 0, 7, 8]], np.float32)
    dims = [DimMeta(True, 2), DimMeta(False, 0, np.array([0, 1, 2]), np.array([0, 1])),
            DimMeta(True, 2), DimMeta(True, 2)]
    got = densify(np.arange(1, 9, dtype=np.float32), (4, 4), [0, 1, 2, 3], [0, 1], dims)
    np.testing.assert_array_equal(got, dense)


def test_densify_csr_with_column_major_traversal():
    dense = np.array([[0, 9, 0], [4, 0, 0], [0, 7, 3]], np.float32)
    # Traverse columns first: col 0 holds row 1; col 1 holds rows 0, 2; col 2 holds row 2.
    dims = [DimMeta(True, 3), DimMeta(False, 0, np.array([0, 1, 3, 4]), np.array([1, 0, 2, 2]))]
    got = densify(np.array([4, 9, 7, 3], np.float32), (3, 3), [1, 0], [], dims)
    np.testing.assert_array_equal(got, dense)


# -- small graphs built here, run by both runtimes --------------------------------------------------------

class TinyGraph:
    """Write a one-subgraph .tflite file with the schema's flatbuffer builders (float32 activations)."""

    def __init__(self):
        self.tensors: list[tuple[list[int], int, int, str]] = []  # shape, type, buffer, name
        self.buffers: list[bytes] = [b""]
        self.ops: list[tuple[int, list[int], list[int], int, object]] = []
        self.codes: list[int] = []

    def tensor(self, shape, data: np.ndarray | None = None, ttype: int = tflite.TensorType.FLOAT32) -> int:
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append((list(shape), ttype, buf, f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def const(self, data: np.ndarray) -> int:
        ttype = {np.dtype(np.float32): tflite.TensorType.FLOAT32, np.dtype(np.float16): tflite.TensorType.FLOAT16,
                 np.dtype(np.int32): tflite.TensorType.INT32}[data.dtype]
        return self.tensor(data.shape, data, ttype)

    def op(self, code: int, inputs, outputs, options_type: int = 0, options=None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), list(inputs), list(outputs), options_type, options))

    def write(self, path: Path, inputs, outputs) -> Path:
        b = flatbuffers.Builder(1024)

        def ivec(values, start):
            start(b, len(values))
            for v in reversed(values):
                b.PrependInt32(int(v))
            return b.EndVector()

        def tables(offsets, start):
            start(b, len(offsets))
            for o in reversed(offsets):
                b.PrependUOffsetTRelative(o)
            return b.EndVector()

        bufs = []
        for data in self.buffers:
            vec = None
            if data:
                b.StartVector(1, len(data), 16)  # 16-byte aligned constant data
                b.head = b.head - len(data)
                b.Bytes[b.head:b.head + len(data)] = data
                vec = b.EndVector()
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            bufs.append(tflite.BufferEnd(b))
        tens = []
        for shape, ttype, buf, name in self.tensors:
            n = b.CreateString(name)
            s = ivec(shape, tflite.TensorStartShapeVector)
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, s)
            tflite.TensorAddType(b, ttype)
            tflite.TensorAddBuffer(b, buf)
            tflite.TensorAddName(b, n)
            tens.append(tflite.TensorEnd(b))
        ops = []
        for code_index, ins, outs, otype, options in self.ops:
            opt = options(b) if options is not None else None
            iv = ivec(ins, tflite.OperatorStartInputsVector)
            ov = ivec(outs, tflite.OperatorStartOutputsVector)
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, code_index)
            tflite.OperatorAddInputs(b, iv)
            tflite.OperatorAddOutputs(b, ov)
            if opt is not None:
                tflite.OperatorAddBuiltinOptionsType(b, otype)
                tflite.OperatorAddBuiltinOptions(b, opt)
            ops.append(tflite.OperatorEnd(b))
        codes = []
        for code in self.codes:
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, 1)
            codes.append(tflite.OperatorCodeEnd(b))
        tv = tables(tens, tflite.SubGraphStartTensorsVector)
        iv = ivec(inputs, tflite.SubGraphStartInputsVector)
        ov = ivec(outputs, tflite.SubGraphStartOutputsVector)
        opv = tables(ops, tflite.SubGraphStartOperatorsVector)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tv)
        tflite.SubGraphAddInputs(b, iv)
        tflite.SubGraphAddOutputs(b, ov)
        tflite.SubGraphAddOperators(b, opv)
        sub = tflite.SubGraphEnd(b)
        subs = tables([sub], tflite.ModelStartSubgraphsVector)
        cv = tables(codes, tflite.ModelStartOperatorCodesVector)
        bv = tables(bufs, tflite.ModelStartBuffersVector)
        desc = b.CreateString("monocap test graph")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, cv)
        tflite.ModelAddSubgraphs(b, subs)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, bv)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        path.write_bytes(bytes(b.Output()))
        return path


OP = tflite.BuiltinOperator
OPT = tflite.BuiltinOptions
ACT = tflite.ActivationFunctionType
SAME, VALID = tflite.Padding.SAME, tflite.Padding.VALID


def _conv_opts(padding, stride, act, dilation=1, depth_multiplier=None):
    def make(b):
        if depth_multiplier is None:
            tflite.Conv2DOptionsStart(b)
            add, end = tflite, "Conv2DOptions"
        else:
            tflite.DepthwiseConv2DOptionsStart(b)
            tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, depth_multiplier)
            add, end = tflite, "DepthwiseConv2DOptions"
        getattr(add, end + "AddPadding")(b, padding)
        getattr(add, end + "AddStrideH")(b, stride)
        getattr(add, end + "AddStrideW")(b, stride)
        getattr(add, end + "AddDilationHFactor")(b, dilation)
        getattr(add, end + "AddDilationWFactor")(b, dilation)
        getattr(add, end + "AddFusedActivationFunction")(b, act)
        return getattr(add, end + "End")(b)
    return make


def _compare(path: Path, x: np.ndarray, rel: float = 1e-5) -> None:
    """Our torch port (fused and plain) and the ONNX graph written from the .tflite, against LiteRT."""
    ref = LiteRTModel(path)(x)
    for optimize in (True, False, "onnx"):
        ours = OnnxModel(path)(x) if optimize == "onnx" else _run_torch(path, x, optimize=optimize)
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert a.shape == b.shape
            assert np.abs(a - b).max() <= rel * max(1.0, float(np.abs(b).max())), np.abs(a - b).max()


def test_op_semantics_match_litert(tmp_path):
    rng = np.random.default_rng(7)
    g = TinyGraph()
    x = g.tensor([1, 10, 12, 4])
    # float16 weights through DEQUANTIZE, SAME padding with stride 2 on even sizes (pads 0 before, 1 after).
    w16 = g.const(rng.normal(size=(6, 3, 3, 4)).astype(np.float16))
    w1 = g.tensor([6, 3, 3, 4])
    g.op(OP.DEQUANTIZE, [w16], [w1])
    c1 = g.tensor([1, 5, 6, 6])
    g.op(OP.CONV_2D, [x, w1, g.const(rng.normal(size=6).astype(np.float32))], [c1], OPT.Conv2DOptions,
         _conv_opts(SAME, 2, ACT.RELU6))
    # Depthwise with multiplier 2.
    d1 = g.tensor([1, 5, 6, 12])
    g.op(OP.DEPTHWISE_CONV_2D, [c1, g.const(rng.normal(size=(1, 3, 3, 12)).astype(np.float32)),
                                g.const(rng.normal(size=12).astype(np.float32))], [d1],
         OPT.DepthwiseConv2DOptions, _conv_opts(SAME, 1, ACT.RELU, depth_multiplier=2))
    # Max pool with asymmetric SAME padding on signed input.
    p1 = g.tensor([1, 5, 6, 4])

    def pool_opts(b):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, SAME)
        tflite.Pool2DOptionsAddStrideH(b, 2)
        tflite.Pool2DOptionsAddStrideW(b, 2)
        tflite.Pool2DOptionsAddFilterHeight(b, 3)
        tflite.Pool2DOptionsAddFilterWidth(b, 3)
        return tflite.Pool2DOptionsEnd(b)
    g.op(OP.MAX_POOL_2D, [x], [p1], OPT.Pool2DOptions, pool_opts)
    # Channel concatenation (negative axis), then depth-to-space.
    cat = g.tensor([1, 5, 6, 16])

    def cat_opts(b):
        tflite.ConcatenationOptionsStart(b)
        tflite.ConcatenationOptionsAddAxis(b, -1)
        return tflite.ConcatenationOptionsEnd(b)
    g.op(OP.CONCATENATION, [d1, p1], [cat], OPT.ConcatenationOptions, cat_opts)
    d2s = g.tensor([1, 10, 12, 4])

    def d2s_opts(b):
        tflite.DepthToSpaceOptionsStart(b)
        tflite.DepthToSpaceOptionsAddBlockSize(b, 2)
        return tflite.DepthToSpaceOptionsEnd(b)
    g.op(OP.DEPTH_TO_SPACE, [cat], [d2s], OPT.DepthToSpaceOptions, d2s_opts)
    # Residual add with a fused clamp to [-1, 1].
    s1 = g.tensor([1, 10, 12, 4])

    def add_opts(b):
        tflite.AddOptionsStart(b)
        tflite.AddOptionsAddFusedActivationFunction(b, ACT.RELU_N1_TO_1)
        return tflite.AddOptionsEnd(b)
    g.op(OP.ADD, [d2s, x], [s1], OPT.AddOptions, add_opts)
    # Broadcast add of a per-channel constant.
    s2 = g.tensor([1, 10, 12, 4])
    g.op(OP.ADD, [s1, g.const(np.array([0.5, -0.25, 2.0, 0.0], np.float32))], [s2], OPT.AddOptions, add_opts)
    # PAD on channels and unequal spatial sides, then a dilated VALID conv.
    pad = g.tensor([1, 13, 13, 6])
    g.op(OP.PAD, [s1, g.const(np.array([[0, 0], [1, 2], [0, 1], [1, 1]], np.int32))], [pad])
    c2 = g.tensor([1, 9, 9, 5])
    g.op(OP.CONV_2D, [pad, g.const(rng.normal(size=(5, 3, 3, 6)).astype(np.float32)),
                      g.const(rng.normal(size=5).astype(np.float32))], [c2], OPT.Conv2DOptions,
         _conv_opts(VALID, 1, ACT.NONE, dilation=2))
    # Spatial PAD read by a VALID strided conv (folded into it; BlazePose pads are symmetric).
    pad2 = g.tensor([1, 13, 15, 4])
    g.op(OP.PAD, [x, g.const(np.array([[0, 0], [1, 2], [2, 1], [0, 0]], np.int32))], [pad2])
    c3 = g.tensor([1, 6, 7, 3])
    g.op(OP.CONV_2D, [pad2, g.const(rng.normal(size=(3, 3, 3, 4)).astype(np.float32)),
                      g.const(rng.normal(size=3).astype(np.float32))], [c3], OPT.Conv2DOptions,
         _conv_opts(VALID, 2, ACT.NONE))
    # The same padded tensor read by a non-conv op too (the padding must then be materialised).
    p2 = g.tensor([1, 6, 7, 4])

    def pool2_opts(b):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, VALID)
        tflite.Pool2DOptionsAddStrideH(b, 2)
        tflite.Pool2DOptionsAddStrideW(b, 2)
        tflite.Pool2DOptionsAddFilterHeight(b, 2)
        tflite.Pool2DOptionsAddFilterWidth(b, 2)
        return tflite.Pool2DOptionsEnd(b)
    g.op(OP.MAX_POOL_2D, [pad2], [p2], OPT.Pool2DOptions, pool2_opts)
    sig = g.tensor([1, 9, 9, 5])
    g.op(OP.LOGISTIC, [c2], [sig])
    flat = g.tensor([1, 405])
    g.op(OP.RESHAPE, [c2, g.const(np.array([1, 405], np.int32))], [flat])
    path = g.write(tmp_path / "ops.tflite", [x], [sig, flat, c3, s1, s2, p2])
    _compare(path, rng.normal(size=(3, 10, 12, 4)).astype(np.float32))


@pytest.mark.parametrize("align_corners,half_pixel", [(False, False), (True, False), (False, True)])
def test_resize_bilinear_modes_match_litert(tmp_path, align_corners, half_pixel):
    g = TinyGraph()
    x = g.tensor([1, 5, 7, 3])
    y = g.tensor([1, 9, 4, 3])

    def opts(b):
        tflite.ResizeBilinearOptionsStart(b)
        tflite.ResizeBilinearOptionsAddAlignCorners(b, align_corners)
        tflite.ResizeBilinearOptionsAddHalfPixelCenters(b, half_pixel)
        return tflite.ResizeBilinearOptionsEnd(b)
    g.op(OP.RESIZE_BILINEAR, [x, g.const(np.array([9, 4], np.int32))], [y], OPT.ResizeBilinearOptions, opts)
    path = g.write(tmp_path / "resize.tflite", [x], [y])
    _compare(path, np.random.default_rng(3).normal(size=(2, 5, 7, 3)).astype(np.float32))


def test_unsupported_op_is_named(tmp_path):
    g = TinyGraph()
    x = g.tensor([1, 4, 4, 3])
    y = g.tensor([1, 4, 4, 3])
    g.op(OP.HARD_SWISH, [x], [y])
    path = g.write(tmp_path / "hardswish.tflite", [x], [y])
    assert "HARD_SWISH" not in SUPPORTED_OPS
    LiteRTModel(path)(np.zeros((1, 4, 4, 3), np.float32))  # a valid graph: LiteRT runs it
    with pytest.raises(ModelError, match="unsupported op HARD_SWISH in hardswish.tflite"):
        build_module(path)
    from engine.tflite_onnx import SUPPORTED_OPS as ONNX_OPS
    from engine.tflite_onnx import tflite_to_onnx

    assert ONNX_OPS == SUPPORTED_OPS  # the ONNX writer covers what the torch interpreter does
    with pytest.raises(ModelError, match="unsupported op HARD_SWISH in hardswish.tflite"):
        tflite_to_onnx(path)


@pytest.mark.parametrize("name", ["pose_detection", "pose_landmark_full"])
def test_onnx_written_from_the_tflite_matches_the_torch_port_export(model_paths, inputs, name):
    """The ONNX graph `tflite_onnx` writes (numpy + engine.onnx_proto, no torch: the cpu profile's path) against our
    torch port exported by torch's exporter (what the engine ran before), on real frames: keypoints within
    0.01 px of the 256x256 crop (they agree to float32 rounding), detector boxes and scores likewise."""
    import onnx

    from engine.tflite_onnx import tflite_to_onnx

    path, x = model_paths[name], inputs[name]
    outputs = (0, 1) if name == "pose_landmark_full" else None
    ours = OnnxModel(path, outputs=outputs)(x)
    ref = OnnxModel(path, outputs=outputs, source="torch")(x)
    assert [o.shape for o in ours] == [r.shape for r in ref]
    for a, b in zip(ours, ref):
        assert np.abs(a - b).max() < 1e-3
    if name == "pose_landmark_full":
        p, q = ours[0].reshape(len(x), 39, 5), ref[0].reshape(len(x), 39, 5)
        assert np.abs(p[..., :2] - q[..., :2]).max() < 0.01
    model = onnx.load_from_string(tflite_to_onnx(path, outputs))
    onnx.checker.check_model(model)
    # pruned: the landmark graph without its segmentation and heatmap branches is smaller
    if name == "pose_landmark_full":
        full = onnx.load_from_string(tflite_to_onnx(path))
        assert len(model.graph.node) < len(full.graph.node)
        assert [o.name for o in model.graph.output] == ["Identity", "Identity_1"]
