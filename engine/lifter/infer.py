"""Run the committed lifter on a sequence: normalised 2D keypoints -> camera-space 3D joints and trajectory.

Whole-sequence convolution: the sequence is edge-padded by half the receptive field on both sides (as
VideoPose3D does), so any length works, one frame included. The mirrored sequence is run alongside and its
answer mirrored back and averaged in. Invalid frames get their keypoints interpolated from the nearest valid
frames and confidence 0 (the network was trained on such gaps).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .. import skeleton as sk
from ..errors import ModelError
from . import data as D
from . import keypoints as kp

WEIGHTS = Path(__file__).resolve().parent / "weights" / "lifter.safetensors"
BASELINE_WEIGHTS = Path(__file__).resolve().parent / "weights" / "baseline.safetensors"
# lifter joint -> its mirror image (the lifter's joints are the canonical ones without Root)
_JOINT_MIRROR = sk.MIRROR[D.LIFTER_JOINTS] - 1


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
        self.model = TemporalLifter(tuple(meta["widths"]), channels=int(meta["channels"]),
                                    up_head=bool(meta.get("up_head", False)))
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
        pose, root, _ = self.lift(kp2d, valid)
        return pose, root

    def lift(self, kp2d: np.ndarray, valid: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """As `predict`, plus the world's up direction in camera space per frame (T, 3), unit length
        (None for weights without the up head)."""
        import torch

        from .model import decode_root

        kp2d = np.asarray(kp2d, dtype=np.float32)
        T = kp2d.shape[0]
        if T == 0:
            up = np.zeros((0, 3), np.float32) if self.model.up_head is not None else None
            return np.zeros((0, D.NJ, 3), np.float32), np.zeros((0, 3), np.float32), up
        # the sequence and its mirror image in one batch; the mirrored answer is mirrored back and the two
        # averaged (test-time flip, as VideoPose3D does): the network's left/right biases cancel
        mirrored = kp2d[:, kp.KEYPOINT_MIRROR].copy()
        mirrored[..., 0] *= -1
        x = np.stack([D.features(kp2d, valid), D.features(mirrored, valid)])  # (2, T, F)
        pad = (self.receptive_field - 1) // 2
        xp = np.concatenate([np.repeat(x[:, :1], pad, 1), x, np.repeat(x[:, -1:], pad, 1)], 1)
        with torch.inference_mode():
            pose, traj, up = self.model(torch.from_numpy(xp.transpose(0, 2, 1).copy()))
            root = decode_root(traj, torch.from_numpy(x[..., -2:])).numpy()
        pose = pose.numpy()
        flip = np.array([-1.0, 1.0, 1.0], np.float32)
        pose = 0.5 * (pose[0] + pose[1][:, _JOINT_MIRROR] * flip)
        root = 0.5 * (root[0] + root[1] * flip)
        if up is not None:
            up = up.numpy()
            up = up[0] / np.linalg.norm(up[0], axis=-1, keepdims=True) + \
                up[1] * flip / np.linalg.norm(up[1], axis=-1, keepdims=True)
            up = (up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)).astype(np.float32)
        return pose.astype(np.float32), root.astype(np.float32), up
