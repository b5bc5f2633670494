"""`engine.onnx_proto` (our ONNX protobuf writer, which lets the cpu profile leave the `onnx` package out)
against the `onnx` package as the independent writer and reader: the same nodes written by `onnx.helper` give
the same bytes, `onnx.checker` accepts ours, and ONNX Runtime gives identical outputs on real inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from engine import onnx_proto
from engine.lifter import data as D
from engine.lifter.infer import WEIGHTS, Lifter
from engine.lifter.members import read_members
from engine.lifter.onnx_graph import lifter_model
from engine.tflite_onnx import tflite_model

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ for blazepose_inputs
from blazepose_inputs import parity_inputs  # noqa: E402

TESTS = Path(__file__).resolve().parent


def by_onnx_helper(model: onnx_proto.Model) -> bytes:
    """The same model written the way the emitters wrote it before `onnx_proto`: onnx.helper + numpy_helper."""
    nodes = [helper.make_node(n.op_type, n.input, n.output, **n.attrs) for n in model.nodes]
    inits = [numpy_helper.from_array(v, k) for k, v in model.initializers.items()]
    graph = helper.make_graph(nodes, model.name, [helper.make_tensor_value_info(*v) for v in model.inputs],
                              [helper.make_tensor_value_info(*v) for v in model.outputs], inits)
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", model.opset)],
                            producer_name=model.producer)
    out.ir_version = model.ir_version
    return out.SerializeToString()


def _session(data: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _checked(data: bytes) -> onnx.ModelProto:
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    return model


def test_every_field_we_write_reads_back():
    """A small model with each kind of attribute, dimension and constant the writer covers, negative
    integers and a scalar included: byte for byte what onnx.helper writes, and ONNX Runtime runs it."""
    consts = {"starts": np.array([1, -9], np.int64), "ends": np.array([-1, 2 ** 40], np.int64),
              "axes": np.array([2, 3], np.int64), "lo": np.float32(-0.5), "hi": np.array(6.0, np.float32),
              "w": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) / 7, "i8": np.array([-128, 0, 127], np.int8),
              "u8": np.array([0, 255], np.uint8), "f16": np.array([1.5, -2.25], np.float16),
              "i32": np.array([-(2 ** 31), 2 ** 31 - 1], np.int32), "f64": np.array([np.pi]),
              "flag": np.array([True, False])}
    nodes = [onnx_proto.node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             onnx_proto.node("Conv", ["t", "w", ""], ["c"], kernel_shape=[2, 2], pads=[0, 1, 1, 0], group=1,
                             dilations=[1, 1]),
             onnx_proto.node("Slice", ["c", "starts", "ends", "axes"], ["s"]),
             onnx_proto.node("Clip", ["s", "lo", "hi"], ["k"]),
             onnx_proto.node("LeakyRelu", ["k"], ["lr"], alpha=0.25),
             onnx_proto.node("Resize", ["lr", "", "scales"], ["y"], mode="nearest",
                             coordinate_transformation_mode="asymmetric"),
             onnx_proto.node("Identity", ["i8"], ["i8_out"])]
    consts["scales"] = np.array([1, 1, 2, 2], np.float32)
    model = onnx_proto.Model("all_fields", nodes, consts, [("x", onnx_proto.FLOAT, ["n", 5, 6, 3])],
                             [("y", onnx_proto.FLOAT, ["n", 2, None, None]), ("i8_out", 3, [3])], opset=17)
    ours = model.encode()
    assert ours == by_onnx_helper(model)
    read = _checked(ours)
    for init in read.graph.initializer:
        np.testing.assert_array_equal(numpy_helper.to_array(init), consts[init.name])
    assert [a.f for a in read.graph.node[4].attribute] == [0.25]
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
    y, i8 = _session(ours).run(None, {"x": x})
    assert y.shape == (2, 2, 6, 12) and y.min() >= -0.5 and y.max() <= 6.0
    np.testing.assert_array_equal(i8, consts["i8"])


def test_what_it_cannot_write_is_named():
    with pytest.raises(TypeError, match="no ONNX tensor type for complex128"):
        onnx_proto.tensor("z", np.array([1j]))
    with pytest.raises(TypeError, match="attribute bad"):
        onnx_proto.node("Relu", ["x"], ["y"], bad={"a": 1}).encode()


def test_lifter_graph_is_what_onnx_helper_wrote():
    """The lifter's graph (both networks of the committed weights): the same bytes as onnx.helper's, accepted by
    the checker, and ONNX Runtime's answer on the real 2D of the four pose2sim views is identical."""
    meta, members = read_members(WEIGHTS, framework="numpy")
    model = lifter_model(meta, members)
    ours, ref = model.encode(), by_onnx_helper(model)
    assert ours == ref
    _checked(ours)
    lifter = Lifter(WEIGHTS, runtime="onnx")
    data = np.load(TESTS / "data" / "pose2sim_2d.npz")
    a, b = _session(ours), _session(ref)
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        kp = D.normalise_pixels(data[f"{cam}_joints2d"], (1080, 1920))
        x = D.features(kp, data[f"{cam}_valid"]).T[None]  # (1, FEATURES, T)
        ya, yb = a.run(None, {"x": x})[0], b.run(None, {"x": x})[0]
        assert ya.shape == (lifter.n_members, 1, 3 * D.NJ + 6, x.shape[2] - lifter.receptive_field + 1)
        np.testing.assert_array_equal(ya, yb)


def test_tflite_graphs_are_what_onnx_helper_wrote(model_paths):
    """Every .tflite the engine runs (body and hands), written whole and pruned to the outputs the engine reads:
    the same bytes as onnx.helper's, accepted by the checker; the body graphs give identical outputs on real
    crops."""
    inputs = parity_inputs()
    for name, path in model_paths.items():
        for outputs in ((0, 1), None) if name == "pose_landmark_full" else (None,):
            model = tflite_model(path, outputs)
            ours, ref = model.encode(), by_onnx_helper(model)
            assert ours == ref, name
            _checked(ours)
            if name in inputs:
                for p, q in zip(_session(ours).run(None, {"x": inputs[name]}),
                                _session(ref).run(None, {"x": inputs[name]})):
                    np.testing.assert_array_equal(p, q)
