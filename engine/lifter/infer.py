"""Run the committed lifter on a sequence: normalised 2D keypoints -> camera-space 3D joints and trajectory.

Whole-sequence convolution: the sequence is edge-padded by half the receptive field on both sides (as
VideoPose3D does), so any length works, one frame included. Invalid frames get their keypoints interpolated
from the nearest valid frames and confidence 0 (the network was trained on such gaps).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ModelError
from . import data as D

WEIGHTS = Path(__file__).resolve().parent / "weights" / "lifter.safetensors"
BASELINE_WEIGHTS = Path(__file__).resolve().parent / "weights" / "baseline.safetensors"


class Lifter:
    """A loaded lifter. `predict` is the only entry point."""

    def __init__(self, path: str | os.PathLike = WEIGHTS, threads: int | None = None):
        import torch
        from safetensors import SafetensorError, safe_open

        from .model import TemporalLifter

        path = Path(path)
        if not path.exists():
            raise ModelError(f"lifter weights not found: {path}")
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}
                state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
        except (OSError, SafetensorError) as exc:
            raise ModelError(f"cannot read lifter weights {path}: {exc}") from None
        if meta.get("features") != D.FEATURES or meta.get("keypoints") != "blazepose33":
            raise ModelError(f"lifter weights {path} were made for other inputs "
                             f"({meta.get('features')} features)")
        self.meta = meta
        self.model = TemporalLifter(tuple(meta["widths"]), channels=int(meta["channels"]))
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            raise ModelError(f"lifter weights {path} do not match the model: {missing or unexpected}")
        self.model.eval()
        self.model.fuse_batchnorm()
        self.receptive_field = self.model.receptive_field
        if threads is not None:
            torch.set_num_threads(threads)

    def predict(self, kp2d: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """kp2d: (T, 33, 3) normalised x, y (`data.normalise_pixels`) and confidence; valid: (T,) bool.

        Returns pose (T, 26, 3) Hips-relative and root (T, 3) Hips position, camera space (x right, y down,
        z forward), metres, float32.
        """
        import torch

        from .model import decode_root

        kp2d = np.asarray(kp2d, dtype=np.float32)
        T = kp2d.shape[0]
        if T == 0:
            return np.zeros((0, D.NJ, 3), np.float32), np.zeros((0, 3), np.float32)
        x = D.features(kp2d, valid)  # (T, F)
        pad = (self.receptive_field - 1) // 2
        xp = np.concatenate([np.repeat(x[:1], pad, 0), x, np.repeat(x[-1:], pad, 0)], 0)
        with torch.inference_mode():
            pose, traj = self.model(torch.from_numpy(xp.T[None].copy()))
            root = decode_root(traj[0], torch.from_numpy(x[:, -2:]))
        return pose[0].numpy(), root.numpy()
