"""Run a .tflite graph with Google's LiteRT runtime (`ai-edge-litert`): the reference for the torch port."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInput, ModelError


class LiteRTModel:
    """LiteRT interpreter for a single-input graph; batches are run one frame at a time.

    __call__(x: (N, H, W, C) float32) -> tuple of (N, ...) float32 arrays in the graph's output order.
    """

    def __init__(self, path: str | Path, num_threads: int = 2, preserve_all_tensors: bool = False):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ModelError("the LiteRT runtime is not installed (pip install ai-edge-litert)") from None
        self.path = Path(path)
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads,
                                           experimental_preserve_all_tensors=preserve_all_tensors)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"LiteRT cannot load {self.path.name}: {str(exc).splitlines()[0]}") from None
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise ModelError(f"{self.path.name}: only graphs with one input are supported")
        self._input = inputs[0]["index"]
        self.input_shape = tuple(int(v) for v in inputs[0]["shape"][1:])  # (H, W, C)
        # get_output_details lists the subgraph's outputs in graph order.
        self._outputs = [d["index"] for d in self.interpreter.get_output_details()]
        self.output_names = tuple(d["name"] for d in self.interpreter.get_output_details())

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise BadInput(f"{self.path.name} expects input (N, {', '.join(map(str, self.input_shape))}), "
                           f"got {x.shape}")
        per_frame = []
        for frame in x:
            self.interpreter.set_tensor(self._input, frame[None])
            self.interpreter.invoke()
            per_frame.append([self.interpreter.get_tensor(i)[0].copy() for i in self._outputs])
        return tuple(np.stack([f[k] for f in per_frame]) for k in range(len(self._outputs)))

    def tensor(self, name: str) -> np.ndarray:
        """An intermediate tensor by name (needs preserve_all_tensors=True), for debugging the port."""
        for d in self.interpreter.get_tensor_details():
            if d["name"] == name:
                return self.interpreter.get_tensor(d["index"])
        raise KeyError(name)
