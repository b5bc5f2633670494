"""Foot lock on an animated armature: during contacts each foot is held still (armature space), by
re-solving the legs with two-bone IK or by moving the root; the hold eases in and out."""

from __future__ import annotations

import bpy
import numpy as np

from ...engine.errors import BadInput
from ...engine.filters import (
    contact_segments,
    detect_contacts,
    lock_weights,
    locked_targets,
    matrix_to_quat,
    quat_continuity,
    quat_normalize,
    quat_to_matrix,
    two_bone_ik,
)
from ..actions.pose_fk import basis_rotations, pose_matrices, write_locations, write_rotations
from ..take.bake import stored_contacts
from ..take.retarget import match_bones

LEG = ("UpperLeg_{s}", "LowerLeg_{s}", "Foot_{s}")
POINTS = ("Heel_{s}", "ToeTip_{s}", "Toes_{s}")
_JOINTS = [j.format(s=s) for s in "LR" for j in LEG + POINTS] + ["Hips", "Root"]


def _contact_masks(obj: bpy.types.Object, frames: np.ndarray, heel: np.ndarray, toe: np.ndarray,
                   fps: float, side: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(heel (T,), toe (T,)) contact masks from the take stored at bake time, or detected."""
    stored = stored_contacts(obj) if source in ("AUTO", "TAKE") else None
    if stored is not None:
        contacts, first = stored
        idx = frames.astype(int) - first
        if idx.min() >= 0 and idx.max() < len(contacts):
            return contacts[idx, 2 * side], contacts[idx, 2 * side + 1]
    if source == "TAKE":
        raise BadInput(f"{obj.name} carries no contacts from a take for frames "
                       f"{int(frames[0])}-{int(frames[-1])}")
    mw = np.array(obj.matrix_world)

    def world(p: np.ndarray) -> np.ndarray:
        return p @ mw[:3, :3].T + mw[:3, 3]
    # Detection thresholds are in metres: the points are taken to world space first.
    return detect_contacts(world(heel), fps), detect_contacts(world(toe), fps)


def _in_frame(mats: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (T, 3) in the local frame (rotation only) of posed matrices (T, 4, 4)."""
    return np.einsum("tji,tj->ti", mats[:, :3, :3], points - mats[:, :3, 3])


def held_orientation(rot: np.ndarray, mask: np.ndarray, blend_frames: int) -> np.ndarray:
    """Rotations (T, 3, 3) held at their mean over each contact of `mask`, easing in and out."""
    q = quat_continuity(matrix_to_quat(rot))
    weight, owner = lock_weights(mask, blend_frames)
    target = q.copy()
    for k, (s, e) in enumerate(contact_segments(mask)):
        mean = q[s:e].mean(axis=0)
        target[owner == k] = mean / np.linalg.norm(mean)
    # Nearby rotations: a normalised blend is as good as a slerp here.
    target *= np.where(np.sum(target * q, axis=1) < 0, -1.0, 1.0)[:, None]
    return quat_to_matrix(quat_normalize(q + weight[:, None] * (target - q)))


def foot_lock(obj: bpy.types.Object, frames: np.ndarray, fps: float, mode: str = "IK", source: str = "AUTO",
              blend_frames: int = 4) -> dict[str, int]:
    """Lock both feet. Returns {side: contact frames} for the report. BadInput if no legs are found."""
    mapping, _ = match_bones(_JOINTS, [b.name for b in obj.data.bones])
    sides = [s for s in "LR" if all(j.format(s=s) in mapping for j in LEG)]
    if not sides:
        raise BadInput(f"{obj.name} has no legs Monocap recognises (thigh, shin and foot bones by name)")
    bones = [mapping[j.format(s=s)] for s in sides for j in LEG + POINTS if j.format(s=s) in mapping]
    mats = pose_matrices(obj, bones, frames)
    deltas, weights, report = {}, {}, {}
    for s in sides:
        up, low, foot = (mapping[j.format(s=s)] for j in LEG)
        ankle = mats[foot][:, :3, 3]
        heel = mats[mapping[f"Heel_{s}"]][:, :3, 3] if f"Heel_{s}" in mapping else ankle
        tip = mapping.get(f"ToeTip_{s}") or mapping.get(f"Toes_{s}")
        foot_len = obj.data.bones[foot].length
        toe = mats[tip][:, :3, 3] if tip else ankle + mats[foot][:, :3, :3] @ [0.0, foot_len, 0.0]
        heel_c, toe_c = _contact_masks(obj, frames, heel, toe, fps, "LR".index(s), source)
        th, wh = locked_targets(heel, heel_c, blend_frames)
        tt, wt = locked_targets(toe, toe_c, blend_frames)
        delta = (wh[:, None] * (th - heel) + wt[:, None] * (tt - toe)) / np.maximum(1.0, wh + wt)[:, None]
        deltas[s], weights[s] = delta, np.maximum(wh, wt)
        report[s] = int(np.count_nonzero(heel_c | toe_c))
        if mode != "IK":
            continue
        hip_m, knee_m, foot_m = mats[up], mats[low], mats[foot]
        # While the foot is flat (heel and toe down) its orientation is held too, so heel and toe stay put
        # together; the ankle goes where the held foot puts the locked heel and toe.
        foot_rot = held_orientation(foot_m[:, :3, :3], heel_c & toe_c, blend_frames)
        ankle_target = ankle + delta
        if heel is not ankle:
            via_heel = th - np.einsum("tij,tj->ti", foot_rot, _in_frame(foot_m, heel))
            via_toe = tt - np.einsum("tij,tj->ti", foot_rot, _in_frame(foot_m, toe))
            ankle_target = ankle + (wh[:, None] * (via_heel - ankle) + wt[:, None] * (via_toe - ankle)) \
                / np.maximum(1.0, wh + wt)[:, None]
        d_up, d_low = two_bone_ik(hip_m[:, :3, 3], knee_m[:, :3, 3], ankle, ankle_target,
                                  bend_axis=knee_m[:, :3, 0])
        new_up = d_up @ hip_m[:, :3, :3]
        new_low = d_up @ d_low @ knee_m[:, :3, :3]
        rest = {b: np.array(obj.data.bones[b].matrix_local)[:3, :3] for b in (up, low, foot)}
        parent = obj.data.bones[up].parent
        par_posed = mats[parent.name][:, :3, :3] if parent else np.eye(3)[None]
        par_rest = np.array(parent.matrix_local)[:3, :3] if parent else np.eye(3)

        def basis(r: np.ndarray, pr: np.ndarray, pp: np.ndarray, posed: np.ndarray) -> np.ndarray:
            return r.T @ pr @ np.swapaxes(pp, -1, -2) @ posed
        # Only frames that move are rewritten with new values; the others keep theirs exactly.
        moved = weights[s] > 0
        for bone, new in ((up, basis(rest[up], par_rest, par_posed, new_up)),
                          (low, basis(rest[low], rest[up], new_up, new_low)),
                          (foot, basis(rest[foot], rest[low], new_low, foot_rot))):
            old = basis_rotations(obj, bone, frames)
            write_rotations(obj, bone, frames, np.where(moved[:, None, None], new, old))
    if mode == "ROOT":
        root = mapping.get("Hips")
        while obj.data.bones[root].parent is not None and obj.data.bones[root].parent.name in mats:
            root = obj.data.bones[root].parent.name  # the top bone carries the travel
        total_w = sum(weights.values())
        shift = sum(weights[s][:, None] * deltas[s] for s in sides) / np.maximum(total_w, 1.0)[:, None]
        rest_rot = np.array(obj.data.bones[root].matrix_local)[:3, :3]
        loc = mats[root][:, :3, 3]  # posed head; loc basis = rest_rot^T (head - rest head) for a top bone
        base = (loc - np.array(obj.data.bones[root].head_local)) @ rest_rot
        write_locations(obj, root, frames, base + shift @ rest_rot)
    return report
