"""A small ONNX model writer: the protobuf wire format of the few messages our graph emitters use, written
with the standard library and numpy, so the engine's `cpu` profile needs neither the `onnx` package nor
protobuf (35 MB installed) to hand ONNX Runtime a graph.

Covered: ModelProto (ir_version, producer_name, graph, opset_import), GraphProto (node, name, initializer,
input, output), NodeProto (input, output, op_type, attribute), AttributeProto of type INT, FLOAT, STRING,
INTS, FLOATS, TensorProto as dims + data_type + name + raw_data (what `onnx.numpy_helper.from_array` writes),
and tensor-typed ValueInfoProto with fixed, named or unknown dimensions. Field numbers and types are those
of onnx/onnx.proto (proto2 syntax: repeated integers are not packed). Fields are written in field-number
order, as protobuf's own serialiser does, so a model written here is byte for byte what `onnx.helper` makes
of the same nodes (tests/test_onnx_proto.py checks it, and reads the bytes back with the `onnx` package).

Wire format (protobuf encoding guide): each field is a key varint (field number << 3 | wire type) then
the value; wire type 0 = varint (negative int64 as ten bytes, two's complement), 2 = length-delimited
(strings, bytes, embedded messages), 5 = 32-bit little-endian (float).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

# TensorProto.DataType
FLOAT = 1
_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6,
           np.dtype(np.int64): 7, np.dtype(np.bool_): 9, np.dtype(np.float16): 10, np.dtype(np.float64): 11}
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_FLOATS, _ATTR_INTS = 1, 2, 3, 6, 7


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields: negative numbers as their 64-bit two's complement
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(int(value))


def _bytes(num: int, value: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def _str(num: int, value: str) -> bytes:
    return _bytes(num, value.encode("utf-8"))


def _float(num: int, value: float) -> bytes:
    return _varint(num << 3 | 5) + struct.pack("<f", value)


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: the array's shape, element type and little-endian bytes (raw_data)."""
    a = np.asarray(array)
    if a.dtype not in _DTYPES:
        raise TypeError(f"no ONNX tensor type for {a.dtype}")
    a = np.asarray(a, dtype=a.dtype.newbyteorder("<"), order="C")  # keeps a 0-d array 0-d
    return (b"".join(_int(1, d) for d in a.shape) + _int(2, _DTYPES[a.dtype]) + _str(8, name)
            + _bytes(9, a.tobytes()))


def _attribute(name: str, value) -> bytes:
    """AttributeProto as `onnx.helper.make_attribute` types it: int, float, str, list of ints or floats."""
    if isinstance(value, (bool, int, np.integer)):
        return _str(1, name) + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, (float, np.floating)):
        return _str(1, name) + _float(2, float(value)) + _int(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return _str(1, name) + _bytes(4, value.encode("utf-8")) + _int(20, _ATTR_STRING)
    values = list(value)
    if values and all(isinstance(v, (int, np.integer)) for v in values):
        return _str(1, name) + b"".join(_int(8, int(v)) for v in values) + _int(20, _ATTR_INTS)
    if values and all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return _str(1, name) + b"".join(_float(7, float(v)) for v in values) + _int(20, _ATTR_FLOATS)
    raise TypeError(f"attribute {name}: cannot write {value!r}")


@dataclass
class Node:
    """One operator: `input` and `output` are tensor names ("" for an omitted optional input), `attrs` its
    attributes (written sorted by name, as onnx.helper.make_node does)."""

    op_type: str
    input: list[str]
    output: list[str]
    attrs: dict = field(default_factory=dict)

    def encode(self) -> bytes:
        return (b"".join(_str(1, i) for i in self.input) + b"".join(_str(2, o) for o in self.output)
                + _str(4, self.op_type)
                + b"".join(_bytes(5, _attribute(k, v)) for k, v in sorted(self.attrs.items()) if v is not None))


def node(op_type: str, inputs: list[str], outputs: list[str], **attrs) -> Node:
    return Node(op_type, list(inputs), list(outputs), attrs)


def value_info(name: str, elem_type: int, shape: list) -> bytes:
    """ValueInfoProto of a tensor: each dimension an int (fixed), a str (named) or None (unknown)."""
    dims = b""
    for d in shape:
        if d is None:
            dims += _bytes(1, b"")
        elif isinstance(d, str):
            dims += _bytes(1, _str(2, d))
        else:
            dims += _bytes(1, _int(1, int(d)))
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


@dataclass
class Model:
    """A whole model: the graph's nodes in order, its constants {name: array}, its inputs and outputs as
    `value_info` arguments (name, elem_type, shape)."""

    name: str
    nodes: list[Node]
    initializers: dict[str, np.ndarray]
    inputs: list[tuple[str, int, list]]
    outputs: list[tuple[str, int, list]]
    opset: int
    ir_version: int = 8  # readable by every ONNX Runtime since 1.10
    producer: str = "monocap"

    def encode(self) -> bytes:
        """The serialised ModelProto."""
        graph = (b"".join(_bytes(1, n.encode()) for n in self.nodes) + _str(2, self.name)
                 + b"".join(_bytes(5, tensor(k, v)) for k, v in self.initializers.items())
                 + b"".join(_bytes(11, value_info(*v)) for v in self.inputs)
                 + b"".join(_bytes(12, value_info(*v)) for v in self.outputs))
        opset = _str(1, "") + _int(2, self.opset)
        return _int(1, self.ir_version) + _str(2, self.producer) + _bytes(7, graph) + _bytes(8, opset)
