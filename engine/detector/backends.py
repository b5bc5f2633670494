"""Where the two BlazePose graphs run: our torch interpreter (CPU or CUDA, batched), LiteRT (CPU), or the
graph written as ONNX (`engine.tflite_onnx`) and run by ONNX Runtime (CPU).

`--device auto` takes CUDA when torch is installed and sees a GPU. On the CPU, `auto` takes for each graph the
runtime that ran it fastest (`python -m engine bench`): the detector on LiteRT, whose kernels skip the
detector's sparse weights, and the landmark graph, pruned to the outputs used and run in batches, on ONNX
Runtime; where one of the two is missing, the other runs that graph, and torch only where both are. None of
this imports torch (the `cpu` install profile has none); torch is the only GPU path.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np

from ..errors import BadInput


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise BadInput(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cpu":
        return "cpu"
    from ..profiles import require_torch, torch_installed

    if device == "auto" and not torch_installed():
        return "cpu"
    torch = require_torch("--device cuda")
    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise BadInput("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return "cpu"


def _litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def load_graph(path: Path, runtime: str, device: str, threads: int, outputs=None, cuda_graphs: bool = True,
               spin: bool = True):
    """A .tflite graph ready to run on `runtime` (litert, onnx or torch); `outputs` picks graph outputs
    (ONNX and torch prune the branches that feed only the others); `spin=False` lets ONNX Runtime's idle
    threads sleep."""
    if runtime == "litert":
        from ..tflite_torch.litert_runner import LiteRTModel

        return LiteRTModel(path, num_threads=threads)
    if runtime == "onnx":
        from ..tflite_torch.onnx_runner import OnnxModel

        return OnnxModel(path, outputs=outputs, num_threads=threads, spin=spin)
    from ..tflite_torch import build_module

    module = build_module(path, device=device, outputs=outputs)  # float32 on both devices
    if device == "cuda" and cuda_graphs:
        from ..tflite_torch.cuda_graphs import GraphedModule

        return GraphedModule(module)
    return module


def run_graph(model, runtime: str, device: str, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Run a graph from `load_graph` on a batch: numpy (N, H, W, C) in, numpy outputs out."""
    if runtime != "torch":  # LiteRT, ONNX Runtime: numpy in and out
        return model(np.ascontiguousarray(x, dtype=np.float32))
    import torch

    with torch.inference_mode():
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
        return tuple(o.float().cpu().numpy() for o in model(t))


class PoseNets:
    """The detector and landmark graphs behind one interface, numpy in and out."""

    def __init__(self, detector: Path, landmarks: Path, device: str = "auto", backend: str = "auto",
                 threads: int | None = None, cuda_graphs: bool = True) -> None:
        self.device = resolve_device(device)
        self.cuda_graphs = cuda_graphs  # CUDA: replay the graphs through CUDA graphs (tflite_torch.cuda_graphs)
        if backend not in ("auto", "litert", "torch", "onnx"):
            raise BadInput(f"unknown backend {backend!r}: use auto, torch, litert or onnx")
        if backend in ("litert", "onnx") and self.device != "cpu":
            raise BadInput(f"the {backend} backend runs on the CPU only; use --backend torch for CUDA")
        if backend == "auto":
            from ..tflite_torch.onnx_runner import onnx_available

            have = [rt for rt, ok in (("litert", _litert_available()), ("onnx", onnx_available())) if ok]
            if self.device != "cpu" or not have:
                det_rt = lm_rt = "torch"
            else:
                det_rt = "litert" if "litert" in have else have[0]
                lm_rt = "onnx" if "onnx" in have else have[0]
        else:
            det_rt = lm_rt = backend
        self.runtimes = {"detector": det_rt, "landmarks": lm_rt}
        import os

        # One core is left to the decoding thread, which runs beside the networks: on a 2-core machine one
        # inference thread gave 49.8 frames/s against 37.8 with two (whole 2D capture, loaded machine).
        threads = threads or max(1, min(4, (os.cpu_count() or 2) - 1))
        if "torch" in (det_rt, lm_rt):
            from ..profiles import require_torch

            torch = require_torch("running the pose graphs on torch")

            if self.device == "cpu":
                torch.set_num_threads(threads)
            else:
                # Plain float32 on CUDA, TF32 off: measured on an H100, TF32 convolutions moved detector boxes
                # by up to 2.9 px and float16 by 56 px (landmarks 0.3 px), and neither was faster (the graphs
                # are too small to be compute-bound); float32 matches LiteRT to 0.003 px.
                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cuda.matmul.allow_tf32 = False
            self._torch = torch
        self._det = self._load(detector, det_rt, threads, None)
        # Only the landmarks and the pose flag are read: the segmentation and heatmap branches are pruned.
        self._lm = self._load(landmarks, lm_rt, threads, (0, 1))
        # The scan and the landmark pass run in two threads; a LiteRT interpreter must not be entered twice.
        # Our torch graphs and ONNX Runtime sessions allow several threads at once on the CPU. On
        # CUDA the replayed graphs own fixed buffers, and one lock for both keeps any other thread's work off
        # the GPU while a graph is captured.
        self._runtime_of = {id(self._det): det_rt, id(self._lm): lm_rt}
        gpu = threading.Lock()
        self._locks = {id(m): threading.Lock() if rt == "litert" else gpu if self.device == "cuda"
                       else contextlib.nullcontext() for m, rt in ((self._det, det_rt), (self._lm, lm_rt))}

    def _load(self, path: Path, runtime: str, threads: int, outputs):
        return load_graph(path, runtime, self.device, threads, outputs, self.cuda_graphs)

    @property
    def parallel_landmarks(self) -> bool:
        """Whether two threads may run the landmark graph at once to advantage (torch or ONNX Runtime on a
        multi-core CPU)."""
        import os

        return self.runtimes["landmarks"] in ("torch", "onnx") and self.device == "cpu" and (os.cpu_count() or 1) > 1

    @property
    def name(self) -> str:
        r = self.runtimes
        if r["detector"] == r["landmarks"]:
            what = r["detector"]
        else:
            what = f"detector {r['detector']}, landmarks {r['landmarks']}"
        return f"{what} on {self.device}"

    def _run(self, model, x: np.ndarray) -> tuple[np.ndarray, ...]:
        with self._locks[id(model)]:
            return self._run_unlocked(model, x)

    def _run_unlocked(self, model, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return run_graph(model, self._runtime_of[id(model)], self.device, x)

    def detect(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (N, 224, 224, 3) in [-1, 1] -> raw boxes (N, 2254, 12), raw score logits (N, 2254)."""
        out = self._run(self._det, x)
        return out[0], out[1].reshape(len(x), -1)

    def landmarks(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (N, 256, 256, 3) in [0, 1] -> raw landmarks (N, 195), pose flag (N,) in [0, 1]."""
        out = self._run(self._lm, x)
        return out[0].reshape(len(x), -1), out[1].reshape(len(x))
