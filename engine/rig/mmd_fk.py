"""Forward kinematics of a PMX skeleton posed by VMD keys, with append (付与) bones and CCD IK as MMD does it.

All in MMD model coordinates (left-handed, Y up, 1 unit = 8 cm). MMD bones have no rest rotation, so a
VMD rotation acts directly in the model's axes and the quaternion algebra is the usual one on coordinate
triples (handedness only matters when converting to another system).

Per bone b with parent p (as in MMD and its common reimplementations):
    local rotation   r_b = ik_b * key_b * append_b
    local offset     t_b = rest_b - rest_p + key_translation_b + append_translation_b
    world            R_b = R_p * r_b,   P_b = P_p + R_p (t_b)
Bones are evaluated in MMD's deform order (after-physics flag, deform layer, index): a bone's append is
taken from its source's current rotation, and an IK bone runs its CCD solve when its turn comes.

Quaternions here are w, x, y, z (VMD stores x, y, z, w; `pose_world` converts). numpy only.
"""

from __future__ import annotations

import numpy as np

from ..formats.pmx import PmxModel
from ..formats.vmd import VmdMotion, ik_enabled, quat_slerp, sample_bones
from ..quaternion import (
    cross,
    quat_conj,
    quat_from_axis_angle,
    quat_mul,
    quat_normalize,
    quat_rotate,
    quat_to_matrix,
    unit_vectors_and_norms,
)

_MAX_IK_LOOPS = 1000
_EX, _EY, _EZ = np.eye(3)


def euler_xyz_to_quat(angles: np.ndarray) -> np.ndarray:
    """(..., 3) angles a, b, c -> quaternion of Rx(a) Ry(b) Rz(c) (the order MMD's IK limits use)."""
    rx, ry, rz = (quat_from_axis_angle(e, angles[..., k]) for k, e in enumerate((_EX, _EY, _EZ)))
    return quat_mul(quat_mul(rx, ry), rz)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def decompose_xyz(q: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Angles (..., 3) with Rx(a) Ry(b) Rz(c) = rotation of q, choosing among the equivalent triples the
    one closest to `prev` (..., 3), so clamping to limits stays continuous across CCD steps."""
    m = quat_to_matrix(q, normalize=False)  # q is unit: a product of unit quaternions
    sb = np.clip(m[..., 0, 2], -1.0, 1.0)
    b = np.arcsin(sb)
    a = np.arctan2(-m[..., 1, 2], m[..., 2, 2])
    c = np.arctan2(-m[..., 0, 1], m[..., 0, 0])
    # Gimbal lock (b = ±90°): only c + sign(b) a is defined; keep a from prev.
    lock = 1.0 - np.abs(sb) < 1e-6
    if np.any(lock):
        s = np.sign(sb)
        sum_ac = np.arctan2(m[..., 1, 0], m[..., 1, 1])
        a = np.where(lock, prev[..., 0], a)
        c = np.where(lock, sum_ac - s * prev[..., 0], c)
    base = np.stack([a, b, c], -1)
    pi = np.pi
    cands = [base]
    for dx in (pi, -pi):
        for by in (pi, -pi):
            for dz in (pi, -pi):
                cands.append(np.stack([a + dx, by - b, c + dz], -1))
    cands = np.stack(cands, 0)  # (9, ..., 3)
    err = np.abs(_wrap(cands - prev[None])).sum(-1)
    pick = np.argmin(err, axis=0)
    return np.take_along_axis(cands, pick[None, ..., None], 0)[0]


# ----------------------------------------------------------------------------------------------- the rig

class MmdPose:
    """Evaluates one model; build once, call `evaluate` for local channels of T frames.

    Inputs of `evaluate`: key_rot (T, B, 4) w x y z, key_pos (T, B, 3) bone-local translation keys,
    ik_on (T, n_ik) bool per IK bone in `self.ik_bones`.
    """

    def __init__(self, model: PmxModel):
        self.model = model
        bones = model.bones
        self.n = len(bones)
        self.rest = model.rest_positions()
        self.parent = model.parents()
        parent_rest = np.where(self.parent[:, None] >= 0, self.rest[self.parent.clip(0)], 0.0)
        self.offset = self.rest - parent_rest  # (B, 3)
        depth = np.zeros(self.n, np.int64)
        for b in range(self.n):  # the reader guarantees chains end
            p = self.parent[b]
            while p >= 0:
                depth[b] += 1
                p = self.parent[p]
        self.depth = depth
        self.levels = [np.flatnonzero(depth == d) for d in range(int(depth.max()) + 1)] if self.n else []
        self.order = sorted(range(self.n), key=lambda i: (bones[i].after_physics, bones[i].layer, i))
        self.ik_bones = [b.index for b in bones if b.ik is not None]

    # ---- world transforms

    def _world_all(self, lrot: np.ndarray, lpos: np.ndarray, wrot: np.ndarray, wpos: np.ndarray) -> None:
        """World rotation/position of every bone from local channels, level by level (parents first)."""
        for d, level in enumerate(self.levels):
            if d == 0:
                wrot[:, level] = lrot[:, level]
                wpos[:, level] = lpos[:, level]
            else:
                par = self.parent[level]
                wrot[:, level] = quat_mul(wrot[:, par], lrot[:, level])
                wpos[:, level] = wpos[:, par] + quat_rotate(wrot[:, par], lpos[:, level])

    def _world_some(self, bones: list[int], lrot, lpos, wrot, wpos) -> None:
        for b in bones:  # in parent-first order
            p = self.parent[b]
            if p < 0:
                wrot[:, b] = lrot[:, b]
                wpos[:, b] = lpos[:, b]
            else:
                wrot[:, b] = quat_mul(wrot[:, p], lrot[:, b])
                wpos[:, b] = wpos[:, p] + quat_rotate(wrot[:, p], lpos[:, b])

    def _ancestors(self, b: int) -> list[int]:
        out = []
        while b >= 0:
            out.append(b)
            b = int(self.parent[b])
        return out

    # ---- evaluation

    def evaluate(self, key_rot: np.ndarray, key_pos: np.ndarray, ik_on: np.ndarray | None = None,
                 solve_ik: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """World positions (T, B, 3) and rotations (T, B, 4) w x y z from key channels."""
        t = key_rot.shape[0]
        bones = self.model.bones
        ident = np.zeros((t, 4))
        ident[:, 0] = 1.0
        self.key_rot = key_rot = quat_normalize(np.asarray(key_rot, np.float64))
        key_pos = np.asarray(key_pos, np.float64)
        self.ik_rot = np.broadcast_to(ident[:, None], (t, self.n, 4)).copy()
        self.app_rot = self.ik_rot.copy()
        self.app_pos = np.zeros((t, self.n, 3))
        lrot = key_rot.copy()
        lpos = self.offset[None] + key_pos
        wrot = np.zeros((t, self.n, 4))
        wpos = np.zeros((t, self.n, 3))
        ik_slot = {b: k for k, b in enumerate(self.ik_bones)}
        for b in self.order:
            bone = bones[b]
            if bone.append_rotate or bone.append_translate:
                self._append(b, key_pos)
                lrot[:, b] = quat_mul(quat_mul(self.ik_rot[:, b], key_rot[:, b]), self.app_rot[:, b])
                lpos[:, b] = self.offset[b] + key_pos[:, b] + self.app_pos[:, b]
            if bone.ik is not None and solve_ik and bone.ik.links:
                on = np.ones(t, bool) if ik_on is None else np.asarray(ik_on[:, ik_slot[b]], bool)
                if on.any():
                    self._world_all(lrot, lpos, wrot, wpos)
                    self._solve(b, on, lrot, lpos, wrot, wpos)
        self._world_all(lrot, lpos, wrot, wpos)
        return wpos, wrot

    def _append(self, b: int, key_pos: np.ndarray) -> None:
        bone = self.model.bones[b]
        src = bone.append_parent
        sb = self.model.bones[src]
        if bone.append_rotate:
            if not bone.append_local and sb.append_rotate:
                a = self.app_rot[:, src]  # a chained append passes its source's (weighted) append on
            else:
                a = self.key_rot[:, src]
            a = quat_mul(self.ik_rot[:, src], a)
            ident = np.zeros_like(a)
            ident[:, 0] = 1.0
            self.app_rot[:, b] = quat_slerp(ident, a, np.full(a.shape[0], bone.append_ratio))
        if bone.append_translate:
            if not bone.append_local and sb.append_translate:
                v = self.app_pos[:, src]
            else:
                v = key_pos[:, src]
            self.app_pos[:, b] = v * bone.append_ratio

    def _solve(self, ik_bone: int, on: np.ndarray, lrot, lpos, wrot, wpos) -> None:
        """MMD's CCD: per iteration, each link turns the target toward the IK bone; stop when the distance
        no longer shrinks (per frame). Links limited on one axis only rotate in that plane (knees)."""
        ik = self.model.bones[ik_bone].ik
        assert ik is not None
        target = ik.target
        links = [lk for lk in ik.links if lk.bone != target]
        if not links:
            return
        t = on.shape[0]
        link_ids = [lk.bone for lk in links]
        # Bones whose world transform changes when a link turns: the links' descendants on the way to the
        # target (and to the IK bone, when it hangs below a link).
        link_set = set(link_ids)
        affected: set[int] = set()
        for end in (target, ik_bone):
            path = self._ancestors(end)
            top = max((k for k, b in enumerate(path) if b in link_set), default=-1)
            affected.update(path[:top + 1])
        chain = sorted(affected, key=lambda b: self.depth[b])

        ident = np.zeros((t, 4))
        ident[:, 0] = 1.0
        for b in link_ids:
            self.ik_rot[:, b] = ident
            lrot[:, b] = quat_mul(self.key_rot[:, b], self.app_rot[:, b])
        self._world_some(chain, lrot, lpos, wrot, wpos)

        prev = {b: np.zeros((t, 3)) for b in link_ids}
        plane = {b: np.zeros(t) for b in link_ids}
        saved = {b: ident.copy() for b in link_ids}
        best = np.full(t, np.inf)
        active = on.copy()
        limit = float(ik.limit_angle)
        # A damaged model may ask for 2**31 loops; real rigs use at most a few hundred.
        for it in range(min(max(int(ik.loop_count), 0), _MAX_IK_LOOPS)):
            ik_pos = wpos[:, ik_bone].copy()
            for lk in links:
                b = lk.bone
                rc = wrot[:, b]
                inv = quat_conj(rc)
                to_ik, _ = unit_vectors_and_norms(quat_rotate(inv, ik_pos - wpos[:, b]))
                to_tg, _ = unit_vectors_and_norms(quat_rotate(inv, wpos[:, target] - wpos[:, b]))
                dot = np.clip(np.sum(to_ik * to_tg, -1), -1.0, 1.0)
                angle = np.arccos(dot)
                axis_k = _plane_axis(lk)
                if axis_k is not None:
                    new = self._plane_angle(lk, axis_k, it, to_ik, to_tg, np.minimum(angle, limit), plane[b])
                    plane[b] = new
                    e = np.eye(3)[axis_k]
                    ikr = quat_mul(quat_from_axis_angle(e, new), quat_conj(self.key_rot[:, b]))
                else:
                    axis, size = unit_vectors_and_norms(cross(to_tg, to_ik))
                    skip = (np.degrees(angle) < 1e-3) | (size < 1e-9)
                    rot = quat_from_axis_angle(axis, np.minimum(angle, limit))
                    chain_rot = quat_mul(quat_mul(self.ik_rot[:, b], self.key_rot[:, b]), rot)
                    if lk.limit_min is not None and lk.limit_max is not None:
                        xyz = decompose_xyz(chain_rot, prev[b])
                        xyz = np.clip(xyz, lk.limit_min, lk.limit_max)
                        xyz = np.clip(xyz - prev[b], -limit, limit) + prev[b]
                        prev[b] = np.where(skip[:, None], prev[b], xyz)
                        chain_rot = euler_xyz_to_quat(xyz)
                    ikr = np.where(skip[:, None], self.ik_rot[:, b], quat_mul(chain_rot, quat_conj(self.key_rot[:, b])))
                self.ik_rot[:, b] = quat_normalize(ikr)
                lrot[:, b] = quat_mul(quat_mul(self.ik_rot[:, b], self.key_rot[:, b]), self.app_rot[:, b])
                self._world_some(chain, lrot, lpos, wrot, wpos)
            dist = np.linalg.norm(wpos[:, target] - wpos[:, ik_bone], axis=-1)
            better = active & (dist < best)
            best = np.where(better, dist, best)
            active = better
            for b in link_ids:
                saved[b] = np.where(better[:, None], self.ik_rot[:, b], saved[b])
                self.ik_rot[:, b] = saved[b]  # frames that stopped improving go back to their best
                lrot[:, b] = quat_mul(quat_mul(saved[b], self.key_rot[:, b]), self.app_rot[:, b])
            self._world_some(chain, lrot, lpos, wrot, wpos)
            if not active.any():
                break

    @staticmethod
    def _plane_angle(lk, k: int, it: int, to_ik, to_tg, angle, current) -> np.ndarray:
        e = np.eye(3)[k]
        dot1 = np.sum(quat_rotate(quat_from_axis_angle(e, angle), to_tg) * to_ik, -1)
        dot2 = np.sum(quat_rotate(quat_from_axis_angle(e, -angle), to_tg) * to_ik, -1)
        new = current + np.where(dot1 > dot2, angle, -angle)
        lo, hi = lk.limit_min[k], lk.limit_max[k]
        if it == 0:
            # First step: if the angle falls outside the limits, try the mirrored bend (MMD does).
            out = (new < lo) | (new > hi)
            mirror_ok = (-new > lo) & (-new < hi)
            half = 0.5 * (lo + hi)
            flip = out & (mirror_ok | (np.abs(half - new) > np.abs(half + new)))
            new = np.where(flip, -new, new)
        return np.clip(new, lo, hi)


def _plane_axis(lk) -> int | None:
    """The single axis a limited link may turn about (MMD's rule for knees), or None."""
    if lk.limit_min is None or lk.limit_max is None:
        return None
    lo, hi = lk.limit_min, lk.limit_max
    for k in range(3):
        others = [j for j in range(3) if j != k]
        if (lo[k] != 0 or hi[k] != 0) and all(lo[j] == 0 or hi[j] == 0 for j in others):
            return k
    return None


def pose_channels(model: PmxModel, motion: VmdMotion | None, frames: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Key channels of every model bone at `frames` (T,): rotations (T, B, 4) w x y z, translations
    (T, B, 3), and IK switches (T, n_ik) in the order of `MmdPose(model).ik_bones`."""
    frames = np.asarray(frames, np.float64).reshape(-1)
    names = [b.name for b in model.bones]
    ik_names = [b.name for b in model.bones if b.ik is not None]
    if motion is None:
        rot = np.zeros((frames.size, len(names), 4))
        rot[..., 0] = 1.0
        return rot, np.zeros((frames.size, len(names), 3)), np.ones((frames.size, len(ik_names)), bool)
    pos, rot_xyzw = sample_bones(motion.bone_keys, names, frames)
    rot = np.concatenate([rot_xyzw[..., 3:], rot_xyzw[..., :3]], -1)
    return rot, pos, ik_enabled(motion, ik_names, frames)


def pose_world(model: PmxModel, motion: VmdMotion | None, frames: np.ndarray, solve_ik: bool = True,
               chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Pose a PMX skeleton with a VMD motion.

    frames: (T,) frame numbers (30 per second). Returns world positions (T, B, 3) float64 in MMD units and
    world rotations (T, B, 4) float64 w x y z (rotation from rest), B = len(model.bones). With no motion,
    the rest pose. IK bones are solved (CCD, link limits honoured) where the motion's property keys leave
    them on, unless solve_ik is False. Frames are evaluated `chunk` at a time to bound memory.
    """
    frames = np.asarray(frames, np.float64).reshape(-1)
    rig = MmdPose(model)
    out_pos = np.empty((frames.size, rig.n, 3))
    out_rot = np.empty((frames.size, rig.n, 4))
    for start in range(0, frames.size, max(int(chunk), 1)):
        part = frames[start:start + chunk]
        rot, pos, on = pose_channels(model, motion, part)
        out_pos[start:start + part.size], out_rot[start:start + part.size] = rig.evaluate(
            rot, pos, on, solve_ik=solve_ik)
    return out_pos, out_rot
