"""Run our torch port of a .tflite graph with ONNX Runtime on the CPU: the same graph, a faster executor.

The TFLiteModule (plain, not the oneDNN-fused one) is exported to ONNX in memory with torch's exporter when
the model is loaded (0.8 s for the landmark graph) and handed to an ONNX Runtime session; nothing is
written or fetched. Measured on the 2-core development machine: the landmark graph 5.1 ms a frame against
6.3 ms for our fused torch graph (one thread, batch 2), the whole 2D capture 133 against 107 frames/s
(best of 6, alternating); the keypoints agree with torch to 0.0002 px. The detector stays on LiteRT,
which ran it faster (6.2 against 8.0 ms a frame).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from ..errors import BadInput, ModelError


def onnx_available() -> bool:
    """Whether ONNX Runtime and the onnx package (which torch's exporter needs) are installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxModel:
    """The torch port of a .tflite graph, exported to ONNX and run by ONNX Runtime on the CPU.

    __call__(x: (N, H, W, C) float32) -> tuple of (N, ...) float32 arrays, the outputs chosen by `outputs`
    (as build_module). Several threads may call one instance at once (ONNX Runtime sessions allow it).
    """

    def __init__(self, path: str | Path, outputs=None, num_threads: int = 1) -> None:
        if not onnx_available():
            raise ModelError("ONNX Runtime is not installed (pip install onnxruntime onnx)")
        import onnxruntime as ort
        import torch

        from .module import build_module

        self.path = Path(path)
        module = build_module(self.path, outputs=outputs, optimize=False).eval()
        self.input_shape = module.input_shape
        self.output_names = module.output_names
        buf = io.BytesIO()
        example = torch.zeros((1, *self.input_shape))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer notes on the input check, the exporter's deprecation
                torch.onnx.export(module, (example,), buf, dynamo=False, input_names=["x"],
                                  output_names=list(self.output_names), dynamic_axes={"x": {0: "n"}},
                                  opset_version=17)
        except Exception as exc:  # the exporter's errors have no common base class
            raise ModelError(f"cannot export {self.path.name} to ONNX: {str(exc).splitlines()[0]}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise BadInput(f"{self.path.name} expects input (N, {', '.join(map(str, self.input_shape))}), "
                           f"got {x.shape}")
        return tuple(self.session.run(None, {"x": x}))
