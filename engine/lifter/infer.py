"""Run the committed lifter on a sequence: normalised 2D keypoints -> camera-space 3D joints and trajectory.

Whole-sequence convolution: the sequence is edge-padded by half the receptive field on both sides (as
VideoPose3D does), so any length works, one frame included. Test-time augmentation: the sequence is seen
as if the camera were rolled about its axis by -9 and by +9 degrees, and each of the two also mirrored;
the four answers are turned (and mirrored) back and averaged. A weights file may hold several networks
(`members.py`; the committed one holds two): each sees every view, and all their answers are averaged.
Invalid frames get their keypoints interpolated from the nearest valid frames and confidence 0 (the network
was trained on such gaps). Last, every bone gets one length for the whole sequence (`hold_bone_lengths`),
weighted towards the frames where it lies across the view, the same on both sides.
"""

from __future__ import annotations

import math
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
_BONE_MIRROR = _JOINT_MIRROR[1:] - 1  # bone k ends at lifter joint k + 1
# camera rolls (degrees) the sequence is seen through. A roll about the optical axis turns the 2D about the
# image centre and the camera-space answer about the z axis, exactly, so it can be undone. `lifter eval` on
# the weights of 2026-11-21, against the plain view and its mirror (43.1 / 51.2 mm exact / noisy MPJPE, root
# 442): rolls +-9 42.4 / 50.6, root 458; +-6 42.5 / 50.8, root 448; +-12 42.7 / 50.8, root 478. Rolls of
# -12, 0 and +12 did 42.3 / 50.5 but ran at 9,500 frames/s in the bench, under its 10,000 target. The angle was
# picked on the held-out clips themselves: the choice is worth a few tenths of a millimetre there. With the
# two networks of 2026-11-22: +-9 41.6 / 50.2, root 483; +-6 41.9 / 50.4, root 474; none 42.6 / 50.9, root 470.
TTA_ROLLS_DEG = (-9.0, 9.0)
# output frames per piece of a long sequence (see `lift`). Timed by a script like the bench's lifter row (9,000
# frames, 2 networks x 4 views, 2 threads):
# pieces of 512 / 1,024 / 2,048 frames ran at 14,400 / 16,400 / 12,500-17,000 frames/s in bfloat16 and 9,000 /
# 9,800-10,000 / 7,900-8,500 in float32
CHUNK_FRAMES = 1024


class Lifter:
    """A loaded lifter. `predict` is the only entry point."""

    def __init__(self, path: str | os.PathLike = WEIGHTS, threads: int | None = None,
                 rolls_deg: tuple[float, ...] = TTA_ROLLS_DEG, bf16: bool | None = None, same_bones: bool = True,
                 runtime: str = "auto"):
        """runtime: "onnx" (ONNX Runtime, float32, the graph written from the weights without torch: see
        `onnx_graph`), "torch", or "auto": ONNX Runtime where it is installed (and bf16 is not asked for),
        else torch. Both runtimes in float32 agree to 0.001 mm.
        bf16 (torch only): compute the convolutions in bfloat16 (None: where the CPU has AVX-512 BF16, see
        `_fast_bf16`). same_bones: give every bone one length over the whole sequence (`hold_bone_lengths`);
        False gives the networks' averaged answer as it is."""
        from .members import read_members

        if runtime not in ("auto", "onnx", "torch"):
            raise ModelError(f"unknown lifter runtime {runtime!r}: use auto, onnx or torch")
        if runtime == "auto":  # bfloat16 asked for: only torch computes it
            runtime = "onnx" if _onnxruntime_available() and not bf16 else "torch"
        self.runtime = runtime
        meta, members = read_members(path, framework="numpy")
        if meta.get("features") != D.FEATURES or meta.get("keypoints") != "blazepose33":
            raise ModelError(f"lifter weights {path} were made for other inputs "
                             f"({meta.get('features')} features)")
        self.meta = meta
        self.n_members = len(members)
        self.members = [m for m, _ in members]
        self.up_head = bool(meta.get("up_head", False))
        self.receptive_field = math.prod(int(w) for w in meta["widths"])
        self.rolls_deg = tuple(float(a) for a in rolls_deg) or (0.0,)
        self.same_bones = bool(same_bones)
        self.bf16 = False
        if runtime == "onnx":
            from .onnx_graph import OnnxLifterNets

            self._onnx = OnnxLifterNets(meta, members, threads)
            return
        self._init_torch(path, members, threads, bf16)

    def _init_torch(self, path, members, threads: int | None, bf16: bool | None) -> None:
        from ..profiles import require_torch

        torch = require_torch("the lifter's torch runtime")
        from .model import TemporalLifter

        meta = self.meta
        self.models = []
        for _, state in members:
            model = TemporalLifter(tuple(meta["widths"]), channels=int(meta["channels"]),
                                   up_head=bool(meta.get("up_head", False)))
            state = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
            missing, unexpected = model.load_state_dict(state, strict=False)
            if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
                raise ModelError(f"lifter weights {path} do not match the model: {missing or unexpected}")
            model.eval()
            self.models.append(model.fuse_batchnorm())
        self.bf16 = _fast_bf16() if bf16 is None else bool(bf16)
        # weights cast once (after the batch norms are folded in, in float32), not by autocast at every call:
        # 2-20 % faster, timed as the bench does. The 1x1 heads stay float32: they cost little, and bfloat16's 8 bits
        # would round a 0.5 m joint offset to 2 mm and the depth to 0.4 %
        self.dtype = torch.bfloat16 if self.bf16 else torch.float32
        for model in self.models:
            model.to(self.dtype)
            for head in (model.pose_head, model.traj_head, model.up_head):
                if head is not None:
                    head.float()
        if threads is not None:
            torch.set_num_threads(threads)

    def predict(self, kp2d: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """kp2d: (T, 33, 3) normalised x, y (`data.normalise_pixels`) and confidence; valid: (T,) bool.

        Returns pose (T, 26, 3) Hips-relative and root (T, 3) Hips position, camera space (x right, y down,
        z forward), metres, float32.
        """
        pose, root, _ = self.lift(kp2d, valid)
        return pose, root

    def _nets_torch(self, xp: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """xp: (V, T + rf - 1, F) padded features -> pose (M*V, T, NJ, 3), raw traj (M*V, T, 3), up or None."""
        import torch

        rf = self.receptive_field
        poses, trajs, ups = [], [], []
        with torch.inference_mode():
            for s in range(0, T, CHUNK_FRAMES):
                piece = torch.from_numpy(xp[:, s:min(T, s + CHUNK_FRAMES) + rf - 1].transpose(0, 2, 1).copy())
                piece = piece.to(self.dtype)
                # every member sees every view; their answers are averaged as the views' are
                outs = [model(piece) for model in self.models]
                poses.append(torch.cat([o[0].float() for o in outs]))
                trajs.append(torch.cat([o[1].float() for o in outs]))
                ups.append(torch.cat([o[2].float() for o in outs]) if self.up_head else None)
        up = torch.cat(ups, 1).numpy() if ups[0] is not None else None
        return torch.cat(poses, 1).numpy(), torch.cat(trajs, 1).numpy(), up

    def _nets_onnx(self, xp: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """As `_nets_torch`, on ONNX Runtime (float32), in the same pieces."""
        rf = self.receptive_field
        pieces = [self._onnx(xp[:, s:min(T, s + CHUNK_FRAMES) + rf - 1].transpose(0, 2, 1))
                  for s in range(0, T, CHUNK_FRAMES)]
        y = np.concatenate(pieces, 3) if len(pieces) > 1 else pieces[0]  # (M, V, C, T)
        y = y.reshape(-1, y.shape[2], T).transpose(0, 2, 1)  # (M*V, T, C), members one after the other
        pose = y[..., :3 * D.NJ].reshape(y.shape[0], T, D.NJ, 3)
        pose = pose - pose[:, :, :1]  # joint 0 is Hips: exactly zero, as TemporalLifter.forward makes it
        up = np.ascontiguousarray(y[..., -3:]) if self.up_head else None
        return pose, np.ascontiguousarray(y[..., 3 * D.NJ:3 * D.NJ + 3]), up

    def lift(self, kp2d: np.ndarray, valid: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """As `predict`, plus the world's up direction in camera space per frame (T, 3), unit length
        (None for weights without the up head)."""
        kp2d = np.asarray(kp2d, dtype=np.float32)
        T = kp2d.shape[0]
        if T == 0:
            up = np.zeros((0, 3), np.float32) if self.up_head else None
            return np.zeros((0, D.NJ, 3), np.float32), np.zeros((0, 3), np.float32), up
        # every roll of the sequence and its mirror image in one batch; the mirrored answers are mirrored back
        # (test-time flip, as VideoPose3D does: the network's left/right biases cancel), the rolled ones turned
        # back, and all averaged
        turns = [_roll_matrix(a) for a in self.rolls_deg]
        views = []
        for m in turns:
            rolled = kp2d.copy()
            rolled[..., :2] = kp2d[..., :2] @ m[:2, :2].T
            mirrored = rolled[:, kp.KEYPOINT_MIRROR]
            mirrored[..., 0] *= -1
            views += [rolled, mirrored]
        x = np.stack([D.features(v, valid) for v in views])  # (2 x rolls, T, F)
        pad = (self.receptive_field - 1) // 2
        xp = np.concatenate([np.repeat(x[:, :1], pad, 1), x, np.repeat(x[:, -1:], pad, 1)], 1)
        # in pieces of CHUNK_FRAMES output frames (each with its receptive field's context): the answer is the
        # same, and the activations of every view of a long clip stay small enough to be fast (six views of
        # 9,000 frames at once ran at half the speed; see CHUNK_FRAMES)
        nets = self._nets_onnx if self.runtime == "onnx" else self._nets_torch
        pose, traj, up = nets(xp, T)
        hip2d = np.concatenate([x[..., -2:]] * self.n_members)
        root = decode_root(traj, hip2d)
        if up is not None:  # each view's up direction counts alike: unit length before the average
            up = _unit(up)
        flip = np.array([-1.0, 1.0, 1.0], np.float32)
        pose_sum, root_sum, up_sum = 0.0, 0.0, 0.0
        views_per_member = 2 * len(turns)
        for k in range(0, pose.shape[0], views_per_member):  # the members' answers follow each other
            member_up = 0.0
            for i, m in enumerate(turns):
                a, b = k + 2 * i, k + 2 * i + 1  # the rolled view and its mirror image
                # a camera-space vector v was seen as m v; row vectors: v = (m v) m
                pose_sum = pose_sum + (pose[a] + pose[b][:, _JOINT_MIRROR] * flip) @ m
                root_sum = root_sum + (root[a] + root[b] * flip) @ m
                if up is not None:
                    member_up = member_up + (up[a] + up[b] * flip) @ m
            if up is not None:  # each member's up direction counts alike, as each view's does
                up_sum = up_sum + _unit(member_up)
        n = pose.shape[0]
        pose, root = pose_sum / n, root_sum / n
        if up is not None:
            up = _unit(up_sum).astype(np.float32)
        if self.same_bones:
            pose = hold_bone_lengths(pose, valid, root)
        return pose.astype(np.float32), root.astype(np.float32), up


def decode_root(traj: np.ndarray, hip2d: np.ndarray) -> np.ndarray:
    """Hips position in camera space from the trajectory head, as `model.decode_root` (numpy, float32).

    traj: (..., 3) raw output (du, dv, log-depth offset); hip2d: (..., 2) normalised 2D hip centre."""
    z = np.float32(4.0) * np.exp(np.clip(traj[..., 2:3], -4.0, 3.0))
    xy = (hip2d + np.float32(0.1) * traj[..., :2]) * z
    return np.concatenate([xy, z], axis=-1).astype(np.float32)


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# bone lengths (`subject_bone_lengths`): the weight of a frame is the sine of the angle between the bone and the
# camera's viewing ray to this power, so the frames where the bone lies across the view decide
ACROSS_POWER = 8
# left and right get the same length unless one side's estimate is more than this much longer than the other's,
# relative to their mean (1.8 times): the lifter's own left/right differences on held-out mocap, whose bodies are
# symmetric, reach 0.62 (forearms; 99th percentile 0.28), and 0.57 on pose2sim cam01-cam04
SIDES_TOLERANCE = 0.6


def subject_bone_lengths(pose: np.ndarray, valid: np.ndarray | None = None,
                         root: np.ndarray | None = None) -> np.ndarray:
    """One length per bone for the whole sequence, not biased short by foreshortening.

    pose: (T, 26, 3) Hips-relative lifter joints, camera space (x right, y down, z forward), metres; valid: (T,)
    bool or None (all); root: (T, 3) the Hips in camera space, or None (then the viewing ray is taken as +z).
    Returns (25,) lengths, bone k ending at lifter joint k + 1.

    1. Each bone's length is the weighted median of its per-frame lengths, a frame weighing sin(a)^8 where a
       is the angle between the bone and the viewing ray to its midpoint: where a bone points at the camera
       its length rests on the depth, the least sure part of the answer, and the networks answer short there
       (on held-out mocap the plain median was 5 % short on upper arms and 8-10 % on forearms);
    2. left and right are given the longer of their two lengths unless they differ by more than
       `SIDES_TOLERANCE`: a person's sides match, both estimates err short (the networks' bias, and a limb
       that points at the camera all along still comes out short), so the longer one is the nearer.
    On the whole held-out Bandai Namco set, against the plain median (exact / noisy 2D): MPJPE 37.15 / 45.53 ->
    37.08 / 45.49 mm, mean error of the limb lengths 4.5 / 4.8 % -> 2.5 / 2.8 % (the model card has more).
    Tried and left out: the detector's 2D as evidence (a bone's image length at the lifter's depth, scaled by
    the body's 2D-to-projected-3D size, as a lower bound on its length, or as a fit of the bone's projection
    to it): limb lengths 2.4 % off on held-out mocap, but MPJPE 0.1-0.6 mm worse, and on pose2sim cam01 it
    lengthened the shins away from the reference while the arms, whose projection already matches the 2D,
    hardly moved.
    """
    parents = sk.PARENTS[D.LIFTER_JOINTS] - 1  # lifter joint -> its parent's lifter index (Hips: -1)
    pose = np.asarray(pose, dtype=np.float64)
    bones = pose[:, 1:] - pose[:, parents[1:]]
    lengths = np.linalg.norm(bones, axis=-1)  # (T, 25)
    use = np.asarray(valid, bool) if valid is not None and np.any(valid) else np.ones(len(pose), bool)
    if root is None:
        ray = np.array([0.0, 0.0, 1.0])
    else:
        mid = 0.5 * (pose[:, 1:] + pose[:, parents[1:]]) + np.asarray(root, np.float64)[:, None]
        ray = _unit(mid)
    along = np.abs(np.sum(bones * ray, -1)) / np.maximum(lengths, 1e-9)
    across = np.sqrt(np.clip(1.0 - along ** 2, 0.0, 1.0))
    held = _weighted_median(lengths[use], across[use] ** ACROSS_POWER + 1e-6)
    other = held[_BONE_MIRROR]
    similar = np.abs(held - other) <= SIDES_TOLERANCE * 0.5 * (held + other)
    return np.where(similar, np.maximum(held, other), held)


def hold_bone_lengths(pose: np.ndarray, valid: np.ndarray | None = None,
                      root: np.ndarray | None = None) -> np.ndarray:
    """The pose with one length per bone over the whole sequence (`subject_bone_lengths`): each bone keeps its
    direction and takes that length; the joints are placed again outwards from the Hips.

    A person's bones do not change length, but the networks' answers do from frame to frame (the depth of a
    bone pointing at the camera is the least sure). The take keeps one length per bone (its rotations are
    solved onto them), so this gives the lifter's answer the bones the take will have. Moving both ends of each
    bone to fix its length (keeping the joints near where they were) gained nothing; the directions carry the
    information. pose: (T, 26, 3) Hips-relative, Hips first; valid: (T,) bool or None; root: (T, 3) or None.
    """
    parents = sk.PARENTS[D.LIFTER_JOINTS] - 1
    bones = pose[:, 1:] - pose[:, parents[1:]]
    lengths = np.linalg.norm(bones, axis=-1)
    held = subject_bone_lengths(pose, valid, root)
    out = pose.copy()
    for j in range(1, pose.shape[1]):  # parents come before their children
        out[:, j] = out[:, parents[j]] + bones[:, j - 1] * (held[j - 1] / np.maximum(lengths[:, j - 1], 1e-9))[:, None]
    return out


def _weighted_median(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Column-wise weighted median: x, w (N, B) -> (B,); the smallest value with half the weight at or below."""
    order = np.argsort(x, axis=0)
    xs, cum = np.take_along_axis(x, order, 0), np.cumsum(np.take_along_axis(w, order, 0), axis=0)
    k = np.argmax(cum >= 0.5 * cum[-1:], axis=0)
    return xs[k, np.arange(x.shape[1])]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16): there the lifter's convolutions ran
    2-3 times faster in bfloat16 (384 channels: 238 -> 722 GFLOP/s), and `lifter eval` moved by under
    0.1 mm. Elsewhere bfloat16 is emulated and slower, so float32 it is."""
    import torch

    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def _roll_matrix(degrees: float) -> np.ndarray:
    """(3, 3) rotation about the camera's z axis; its top-left 2x2 turns normalised image points alike."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], np.float32)
