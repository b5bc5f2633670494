"""Where the two BlazePose graphs run: our torch interpreter (CPU or CUDA, batched) or LiteRT (CPU).

`--device auto` takes CUDA when torch sees it. On the CPU, `auto` mixes the two where each is faster
(`python -m engine bench`): the detector on LiteRT, whose kernels skip the detector's sparse weights,
and the landmark graph on torch, pruned to the outputs used and run in batches. Without the LiteRT wheel
torch runs both; torch is the only GPU path.
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
    import torch

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


class PoseNets:
    """The detector and landmark graphs behind one interface, numpy in and out."""

    def __init__(self, detector: Path, landmarks: Path, device: str = "auto", backend: str = "auto",
                 threads: int | None = None) -> None:
        self.device = resolve_device(device)
        if backend not in ("auto", "litert", "torch"):
            raise BadInput(f"unknown backend {backend!r}: use auto, torch or litert")
        if backend == "litert" and self.device != "cpu":
            raise BadInput("the LiteRT backend runs on the CPU only; use --backend torch for CUDA")
        if backend == "auto":
            det_rt = "litert" if self.device == "cpu" and _litert_available() else "torch"
            lm_rt = "torch"
        else:
            det_rt = lm_rt = backend
        self.runtimes = {"detector": det_rt, "landmarks": lm_rt}
        import os

        # One core is left to the decoding thread, which runs beside the networks: on a 2-core machine one
        # inference thread gave 49.8 frames/s against 37.8 with two (whole 2D capture, loaded machine).
        threads = threads or max(1, min(4, (os.cpu_count() or 2) - 1))
        if "torch" in (det_rt, lm_rt):
            import torch

            if self.device == "cpu":
                torch.set_num_threads(threads)
            # float16 on CUDA moves landmarks by ~0.1 px on the 256 crop (measured on CPU emulation).
            self._torch = torch
            self._dtype = torch.float16 if self.device == "cuda" else torch.float32
        self._det = self._load(detector, det_rt, threads, None)
        # Only the landmarks and the pose flag are read: the segmentation and heatmap branches are pruned.
        self._lm = self._load(landmarks, lm_rt, threads, (0, 1))
        # The scan and the landmark pass run in two threads; a LiteRT interpreter must not be entered twice.
        # Our torch graphs keep no state between calls: several threads may run one at once.
        self._locks = {id(m): threading.Lock() if rt == "litert" else contextlib.nullcontext()
                       for m, rt in ((self._det, det_rt), (self._lm, lm_rt))}

    def _load(self, path: Path, runtime: str, threads: int, outputs):
        if runtime == "litert":
            from ..tflite_torch.litert_runner import LiteRTModel

            return LiteRTModel(path, num_threads=threads)
        from ..tflite_torch import build_module

        return build_module(path, device=self.device, dtype=self._dtype, outputs=outputs)

    @property
    def parallel_landmarks(self) -> bool:
        """Whether two threads may run the landmark graph at once to advantage (torch on a multi-core CPU)."""
        import os

        return self.runtimes["landmarks"] == "torch" and self.device == "cpu" and (os.cpu_count() or 1) > 1

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
        if not hasattr(model, "forward"):  # LiteRT
            return model(np.ascontiguousarray(x, dtype=np.float32))
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device, self._dtype)
            return tuple(o.float().cpu().numpy() for o in model(t))

    def detect(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (N, 224, 224, 3) in [-1, 1] -> raw boxes (N, 2254, 12), raw score logits (N, 2254)."""
        out = self._run(self._det, x)
        return out[0], out[1].reshape(len(x), -1)

    def landmarks(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (N, 256, 256, 3) in [0, 1] -> raw landmarks (N, 195), pose flag (N,) in [0, 1]."""
        out = self._run(self._lm, x)
        return out[0].reshape(len(x), -1), out[1].reshape(len(x))
