"""Read a .tflite flatbuffer into plain Python objects, folding constant-only ops (DEQUANTIZE, DENSIFY).

Uses the schema bindings of the `tflite` package (generated from tensorflow/lite/schema/schema.fbs).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .sparse import DimMeta, densify

# TensorType enum of schema.fbs -> numpy dtype (only the types a float graph's constants use).
_DTYPES = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
    7: np.int16, 9: np.int8, 10: np.float64,
}


@dataclass
class TensorInfo:
    """A graph tensor: static NHWC-style `shape`, numpy `dtype`, and `data` when it is a constant."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: Any
    data: np.ndarray | None = None
    quant: tuple[np.ndarray, np.ndarray, int] | None = None  # (scale, zero_point, axis) of int tensors


# the interpreters keep rank-4 tensors in NCHW (the convolutions' layout), TFLite stores them NHWC
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)


def constant_value(t: TensorInfo) -> tuple[np.ndarray, str]:
    """A constant tensor as our interpreters hold it (torch and ONNX alike): float16 / float64 as float32,
    rank 4 turned to NCHW ("nchw"), the others as stored ("nhwc")."""
    data = t.data.astype(np.float32) if t.data.dtype in (np.float16, np.float64) else t.data
    if data.ndim == 4:
        return data.transpose(NHWC_TO_NCHW), "nchw"
    return data, "nhwc"


@dataclass
class OpInfo:
    """One operator: builtin name, input/output tensor indices (-1 = absent) and its parsed options."""

    name: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """Subgraph 0 of a model after constant folding."""

    path: Path
    tensors: list[TensorInfo]
    ops: list[OpInfo]
    inputs: list[int]
    outputs: list[int]


def _op_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _index_vector(kind: int, table) -> np.ndarray:
    """A SparseIndexVector union member (Int32Vector / Uint16Vector / Uint8Vector) as int64."""
    import tflite

    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}.get(kind)
    if cls is None or table is None:
        raise ModelError("sparse tensor has an index vector of unknown type")
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def _options(name: str, op) -> dict[str, Any]:
    """The options of the ops the interpreter supports, as a dict (empty for the others)."""
    import tflite

    table = op.BuiltinOptions()
    if table is None:
        return {}

    def view(cls):
        obj = cls()
        obj.Init(table.Bytes, table.Pos)
        return obj

    if name == "CONV_2D":
        o = view(tflite.Conv2DOptions)
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()),
                "dilation": (o.DilationHFactor(), o.DilationWFactor()), "act": o.FusedActivationFunction()}
    if name == "DEPTHWISE_CONV_2D":
        o = view(tflite.DepthwiseConv2DOptions)
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()),
                "dilation": (o.DilationHFactor(), o.DilationWFactor()), "act": o.FusedActivationFunction(),
                "multiplier": o.DepthMultiplier()}
    if name in ("ADD", "SUB", "MUL"):
        cls = {"ADD": tflite.AddOptions, "SUB": tflite.SubOptions, "MUL": tflite.MulOptions}[name]
        return {"act": view(cls).FusedActivationFunction()}
    if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        o = view(tflite.Pool2DOptions)
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()),
                "kernel": (o.FilterHeight(), o.FilterWidth()), "act": o.FusedActivationFunction()}
    if name == "RESIZE_BILINEAR":
        o = view(tflite.ResizeBilinearOptions)
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if name == "CONCATENATION":
        o = view(tflite.ConcatenationOptions)
        return {"axis": o.Axis(), "act": o.FusedActivationFunction()}
    if name == "DEPTH_TO_SPACE":
        return {"block": view(tflite.DepthToSpaceOptions).BlockSize()}
    if name == "FULLY_CONNECTED":
        o = view(tflite.FullyConnectedOptions)
        return {"act": o.FusedActivationFunction(), "keep_num_dims": bool(o.KeepNumDims()),
                "weights_format": o.WeightsFormat()}
    if name == "MEAN":
        return {"keep_dims": bool(view(tflite.ReducerOptions).KeepDims())}
    if name == "STRIDED_SLICE":
        o = view(tflite.StridedSliceOptions)
        return {"begin_mask": o.BeginMask(), "end_mask": o.EndMask(), "ellipsis_mask": o.EllipsisMask(),
                "new_axis_mask": o.NewAxisMask(), "shrink_axis_mask": o.ShrinkAxisMask()}
    return {}


def _buffer_bytes(model, raw: bytes, index: int) -> bytes | None:
    buf = model.Buffers(index)
    if buf is None:
        return None
    offset, size = buf.Offset(), buf.Size()
    if offset > 1:  # large models keep buffers after the flatbuffer (offset/size fields of schema.fbs)
        return raw[offset:offset + size]
    if buf.DataLength() == 0:
        return None
    return buf.DataAsNumpy().tobytes()


def _read_tensor(model, raw: bytes, graph, i: int) -> TensorInfo:
    t = graph.Tensors(i)
    shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    dtype = _DTYPES.get(t.Type())
    info = TensorInfo(i, t.Name().decode("utf-8", "replace"), shape, dtype)
    data = _buffer_bytes(model, raw, t.Buffer())
    if data is None:
        return info
    if dtype is None:
        raise ModelError(f"constant tensor {info.name} has an unsupported type {t.Type()}")
    values = np.frombuffer(data, dtype=dtype).copy()
    sp = t.Sparsity()
    if sp is not None:
        # Kept flat until the DENSIFY op that reads it expands it (see _fold_constants).
        dims = []
        for d in range(sp.DimMetadataLength()):
            m = sp.DimMetadata(d)
            if m.Format() == 0:
                dims.append(DimMeta(True, int(m.DenseSize())))
            else:
                dims.append(DimMeta(False, 0, _index_vector(m.ArraySegmentsType(), m.ArraySegments()),
                                    _index_vector(m.ArrayIndicesType(), m.ArrayIndices())))
        order = [int(v) for v in sp.TraversalOrderAsNumpy()] if sp.TraversalOrderLength() else []
        bmap = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
        info.data = densify(values, shape, order, bmap, dims)
    else:
        expected = int(np.prod(shape)) if shape else 1
        if values.size != expected:
            raise ModelError(f"constant tensor {info.name} holds {values.size} values, expected {expected}")
        info.data = values.reshape(shape)
    # Per-tensor or per-axis affine quantization, applied by DEQUANTIZE.
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        info.quant = (q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64),
                      int(q.QuantizedDimension()))
    return info


def _dequantize(src: TensorInfo) -> np.ndarray:
    data = src.data
    quant = src.quant
    if data.dtype in (np.float16, np.float64, np.float32):
        return data.astype(np.float32)
    if quant is None:
        raise ModelError(f"DEQUANTIZE input {src.name} has no quantization parameters")
    scale, zero, axis = quant
    shape = [1] * data.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    return ((data.astype(np.int64) - zero.reshape(shape)) * scale.reshape(shape)).astype(np.float32)


def read_graph(path: str | Path) -> Graph:
    """Parse subgraph 0 of a .tflite file; constants feeding DEQUANTIZE/DENSIFY are folded to float32."""
    import tflite

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}") from None
    try:
        model = tflite.Model.GetRootAsModel(raw, 0)
        if model.SubgraphsLength() < 1:
            raise ModelError(f"{path.name} has no subgraph")
        sub = model.Subgraphs(0)
        names = _op_names()
        tensors = [_read_tensor(model, raw, sub, i) for i in range(sub.TensorsLength())]
        ops = []
        for j in range(sub.OperatorsLength()):
            op = sub.Operators(j)
            code = model.OperatorCodes(op.OpcodeIndex())
            # builtin_code superseded the int8 deprecated_builtin_code; old files only fill the latter.
            num = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = names.get(num, f"BUILTIN_{num}")
            if name == "CUSTOM":
                name = "CUSTOM:" + (code.CustomCode() or b"").decode("utf-8", "replace")
            ops.append(OpInfo(name, [int(v) for v in op.InputsAsNumpy()], [int(v) for v in op.OutputsAsNumpy()],
                              _options(name, op)))
        inputs = [int(v) for v in sub.InputsAsNumpy()]
        outputs = [int(v) for v in sub.OutputsAsNumpy()]
    except ModelError:
        raise
    except (IndexError, ValueError, TypeError, AttributeError, struct.error) as exc:  # damaged flatbuffer
        raise ModelError(f"{path.name} is not a readable TFLite model ({type(exc).__name__})") from None

    kept = []
    for op in ops:
        ins = [tensors[i] for i in op.inputs if i >= 0]
        if op.name in ("DEQUANTIZE", "DENSIFY") and ins and all(t.data is not None for t in ins):
            src, dst = ins[0], tensors[op.outputs[0]]
            # Sparse constants were expanded when read, so DENSIFY is a copy here.
            dst.data = _dequantize(src) if op.name == "DEQUANTIZE" else src.data
            if op.name == "DENSIFY":
                dst.quant = src.quant
            dst.dtype = dst.data.dtype
            continue
        kept.append(op)
    return Graph(path, tensors, kept, inputs, outputs)
