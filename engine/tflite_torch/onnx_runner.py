"""Run a .tflite graph with ONNX Runtime on the CPU, from an ONNX graph made in memory when it is loaded.

The graph is written straight from the .tflite by `engine.tflite_onnx` (numpy and our protobuf writer
`engine.onnx_proto`: no torch, no `onnx` package; 0.4 s for the landmark graph); nothing is written to disk
or fetched. `source="torch"` exports our torch port (`module.TFLiteModule`) with torch's exporter instead, as
the engine did before: the tests check that both give the same numbers. Measured on the 2-core development
machine (before the emitter, with the torch export): the landmark graph 5.1 ms a frame against 6.3 ms for
our fused torch graph (one thread, batch 2), the whole 2D capture 133 against 107 frames/s; the detector ran
faster on LiteRT (6.2 against 8.0 ms a frame), but the whole capture does not (issue 22: the cpu profile has
no LiteRT).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from ..errors import BadInput, ModelError


def onnx_available() -> bool:
    """Whether ONNX Runtime is installed (the graphs are written without the `onnx` package)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxModel:
    """A .tflite graph as ONNX (`tflite_onnx`, or our torch port exported: `source="torch"`), run by ONNX
    Runtime on the CPU.

    __call__(x: (N, H, W, C) float32) -> tuple of (N, ...) float32 arrays, the outputs chosen by `outputs`
    (as build_module). Several threads may call one instance at once (ONNX Runtime sessions allow it).
    """

    def __init__(self, path: str | Path, outputs=None, num_threads: int = 1, source: str = "tflite",
                 spin: bool = True) -> None:
        if not onnx_available():
            raise ModelError("ONNX Runtime is not installed: set the engine up again "
                             "(pip install -r engine/requirements.txt)")
        import onnxruntime as ort

        self.path = Path(path)
        if source == "tflite":
            from ..tflite_onnx import tflite_to_onnx
            from .reader import read_graph

            graph = read_graph(self.path)
            chosen = tuple(range(len(graph.outputs))) if outputs is None else tuple(outputs)
            model = tflite_to_onnx(graph, chosen)
            self.input_shape = tuple(graph.tensors[graph.inputs[0]].shape[1:])
            self.output_names = tuple(graph.tensors[graph.outputs[k]].name for k in chosen)
        elif source == "torch":
            model = self._torch_export(outputs)
        else:
            raise ModelError(f"unknown ONNX source {source!r}: use tflite or torch")
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        if not spin:
            # idle threads sleep instead of spinning: for small graphs run between other work (the hand pass:
            # LiteRT graphs and the decoder beside), spinning took the cores they needed (cam01's hand pass
            # under load: 50 -> 30 ms a frame)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def _torch_export(self, outputs) -> bytes:
        """Our torch port of the graph exported with torch's exporter (the way before `tflite_onnx`)."""
        from ..profiles import require_torch

        torch = require_torch("exporting the torch port to ONNX")
        try:
            import onnx  # noqa: F401  torch's exporter writes with it
        except ImportError:
            raise ModelError("exporting the torch port to ONNX needs the onnx package "
                             "(pip install -r tests/requirements.txt)") from None
        from .module import build_module

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
        return buf.getvalue()

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise BadInput(f"{self.path.name} expects input (N, {', '.join(map(str, self.input_shape))}), "
                           f"got {x.shape}")
        return tuple(self.session.run(None, {"x": x}))
