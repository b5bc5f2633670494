"""Joint rotations of the canonical skeleton: quaternions, forward kinematics, the solve from positions.

Quaternions are (w, x, y, z), local to the parent, relative to the canonical T-pose (`engine.skeleton`).

The solve (`solve_rotations`) gives each joint the world rotation that carries two rest-pose directions
onto the same two directions measured in the posed joints: a primary one (towards the joint's child, so the
child lands exactly where it was measured when the bone length matches) and a secondary one that fixes the
twist about the bone:

- Hips: primary to Spine, secondary from the right hip joint to the left one (the pelvis is rigid).
- Spine: secondary halfway between the hip line and the shoulder line (its twist is not measured, so the
  lower spine takes half of the pelvis-to-shoulders twist). Neck: the shoulder line (Shoulder_R -> _L).
- Chest: primary to Neck, secondary Shoulder_R -> Shoulder_L (its three children are rigid).
- Head: primary to Nose, secondary the shoulder line.
- Shoulder (clavicle): primary to UpperArm, secondary the chest's forward axis.
- UpperArm and LowerArm: both take their twist from the elbow's hinge axis, upper arm x forearm; so the
  forearm never spins about itself and the elbow stays a hinge. When the arm is nearly straight the hinge
  axis is undefined and the parent's frame is used instead (no twist), blended smoothly.
- UpperLeg and LowerLeg: both take their twist from the knee's hinge axis (thigh x shin) when the knee is
  bent, and from the foot's heading (Heel -> ToeTip, crossed with the bone) when it is straight, blended
  smoothly; the hinge axis is turned to agree with the parent's lateral axis, so a knee bent slightly the
  wrong way does not flip the leg. The knee stays a hinge and the shin never spins.
- Foot: primary to Toes, secondary to Heel (rigid triangle: gives the foot's roll too). Toes: primary to
  ToeTip, secondary the foot's lateral axis.
- Root: identity (the trajectory is its position); Hand, ToeTip, Heel, Nose: identity (no child measured).

numpy only.
"""

from __future__ import annotations

import numpy as np

from .. import skeleton as sk
from ..quaternion import frame_from_vectors as _frame
from ..quaternion import matrix_to_quat, quat_to_matrix
from ..quaternion import quat_continuity as quat_continuous
from ..quaternion import unit_vectors as _unit

__all__ = ["forward_kinematics", "matrix_to_quat", "quat_continuous", "quat_to_matrix", "solve_rotations"]


def forward_kinematics(rest_offsets: np.ndarray, rotations: np.ndarray, root_positions: np.ndarray,
                       parents: np.ndarray = sk.PARENTS) -> tuple[np.ndarray, np.ndarray]:
    """World positions and rotations.

    rest_offsets: (J, 3); rotations: (T, J, 4) local w, x, y, z; root_positions: (T, 3) joint 0's position.
    Returns positions (T, J, 3) and world rotation matrices (T, J, 3, 3).
    """
    local = quat_to_matrix(rotations)
    T, J = local.shape[:2]
    wr = np.empty((T, J, 3, 3))
    wp = np.empty((T, J, 3))
    for j, p in enumerate(parents):
        if p < 0:
            wr[:, j] = local[:, j]
            wp[:, j] = root_positions
        else:
            wr[:, j] = wr[:, p] @ local[:, j]
            wp[:, j] = wp[:, p] + wr[:, p] @ rest_offsets[j]
    return wp, wr


def _blend_secondary(b: np.ndarray, strength: np.ndarray, fallback: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Secondary b where it is well defined (strength ~ sin of the angle that defines it), else fallback."""
    s = np.clip((strength - 0.05) / 0.2, 0.0, 1.0)[..., None]
    a = _unit(a)
    bp = _unit(b - np.sum(a * b, -1, keepdims=True) * a)
    fp = _unit(fallback - np.sum(a * fallback, -1, keepdims=True) * a)
    return s * bp + (1 - s) * fp


I = sk.INDEX
_FWD = np.array([0.0, 0.0, 1.0])


def solve_rotations(joints: np.ndarray,
                    rest_offsets: np.ndarray = sk.REST_OFFSETS) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations of the canonical skeleton that reproduce measured joint positions.

    joints: (T, 27, 3) world_yup metres (canonical joint order); rest_offsets: (27, 3).
    Returns rotations (T, 27, 4) w, x, y, z (continuous in time) and root positions (T, 3): the Hips minus
    the rest Hips offset. Forward kinematics of the result puts every joint back exactly when the measured
    bone lengths equal the rest ones and the rigid groups (pelvis, chest, foot) are rigid.
    """
    P = np.asarray(joints, dtype=np.float64)
    T = P.shape[0]
    rest_pos = sk.rest_positions(rest_offsets)
    world = np.broadcast_to(np.eye(3), (T, sk.J, 3, 3)).copy()

    def d(a: str, b: str, pos: np.ndarray) -> np.ndarray:
        return pos[..., I[b], :] - pos[..., I[a], :]

    def set_world(j: str, a: np.ndarray, b: np.ndarray, a0: np.ndarray, b0: np.ndarray) -> None:
        world[:, I[j]] = _frame(a, b) @ np.swapaxes(_frame(a0, b0), -1, -2)

    # pelvis and spine
    hipline = d("UpperLeg_R", "UpperLeg_L", P)
    shoulders = d("Shoulder_R", "Shoulder_L", P)
    set_world("Hips", d("Hips", "Spine", P), hipline,
              d("Hips", "Spine", rest_pos), d("UpperLeg_R", "UpperLeg_L", rest_pos))
    # the spine's twist is not measured: give the lower spine half of the pelvis-to-shoulders twist
    half = _unit(hipline) + _unit(shoulders)
    for j, c, b in (("Spine", "Chest", half), ("Chest", "Neck", shoulders), ("Neck", "Head", shoulders),
                    ("Head", "Nose", shoulders)):
        set_world(j, d(j, c, P), b, d(j, c, rest_pos), d("Shoulder_R", "Shoulder_L", rest_pos))
    for s in ("L", "R"):
        # clavicle: twist from the chest's forward axis
        chest_fwd = world[:, I["Chest"]] @ _FWD
        set_world("Shoulder_" + s, d("Shoulder_" + s, "UpperArm_" + s, P), chest_fwd,
                  d("Shoulder_" + s, "UpperArm_" + s, rest_pos), _FWD)
        # arm: the elbow hinge axis, falling back to the clavicle's frame when the arm is straight
        up = d("UpperArm_" + s, "LowerArm_" + s, P)
        fo = d("LowerArm_" + s, "Hand_" + s, P)
        hinge = np.cross(up, fo)
        lengths = np.linalg.norm(up, axis=-1) * np.linalg.norm(fo, axis=-1)
        sin = np.linalg.norm(hinge, axis=-1) / np.maximum(lengths, 1e-12)
        up0 = d("UpperArm_" + s, "LowerArm_" + s, rest_pos)
        hinge0 = np.cross(up0, _FWD)  # rest elbow bends the forearm forward
        parent_hinge = world[:, I["Shoulder_" + s]] @ hinge0
        b = _blend_secondary(hinge, sin, parent_hinge, up)
        set_world("UpperArm_" + s, up, b, up0, hinge0)
        b = _blend_secondary(hinge, sin, parent_hinge, fo)
        set_world("LowerArm_" + s, fo, b, d("LowerArm_" + s, "Hand_" + s, rest_pos), hinge0)
        world[:, I["Hand_" + s]] = world[:, I["LowerArm_" + s]]
        # leg: the knee's hinge axis when the knee is bent, else the foot's heading (x the leg)
        thigh = d("UpperLeg_" + s, "LowerLeg_" + s, P)
        shin = d("LowerLeg_" + s, "Foot_" + s, P)
        heading = d("Heel_" + s, "ToeTip_" + s, P)
        heading0 = d("Heel_" + s, "ToeTip_" + s, rest_pos)
        knee = np.cross(thigh, shin)
        sin_knee = np.linalg.norm(knee, axis=-1) / np.maximum(
            np.linalg.norm(thigh, axis=-1) * np.linalg.norm(shin, axis=-1), 1e-12)
        lateral0 = np.array([1.0, 0.0, 0.0])
        for j, c, a, parent in (("UpperLeg_", "LowerLeg_", thigh, "Hips"),
                                ("LowerLeg_", "Foot_", shin, "UpperLeg_" + s)):
            a0 = d(j + s, c + s, rest_pos)
            b0 = np.cross(heading0, a0)
            side = np.cross(heading, a)
            sin_side = np.linalg.norm(np.cross(_unit(heading), _unit(a)), axis=-1)
            parent_lateral = world[:, I[parent]] @ lateral0
            fallback = _blend_secondary(side, sin_side, parent_lateral, a)
            # a knee bent the wrong way (noise, hyperextension) must not flip the leg round
            hinge = knee * np.where(np.sum(knee * parent_lateral, -1, keepdims=True) < 0, -1.0, 1.0)
            set_world(j + s, a, _blend_secondary(hinge, sin_knee, fallback, a), a0, b0)
        set_world("Foot_" + s, d("Foot_" + s, "Toes_" + s, P), d("Foot_" + s, "Heel_" + s, P),
                  d("Foot_" + s, "Toes_" + s, rest_pos), d("Foot_" + s, "Heel_" + s, rest_pos))
        set_world("Toes_" + s, d("Toes_" + s, "ToeTip_" + s, P), world[:, I["Foot_" + s]] @ lateral0,
                  d("Toes_" + s, "ToeTip_" + s, rest_pos), lateral0)
        world[:, I["ToeTip_" + s]] = world[:, I["Toes_" + s]]
        world[:, I["Heel_" + s]] = world[:, I["Foot_" + s]]
    world[:, I["Nose"]] = world[:, I["Head"]]

    parents = sk.PARENTS
    local = world.copy()
    local[:, 1:] = np.swapaxes(world[:, parents[1:]], -1, -2) @ world[:, 1:]
    rotations = quat_continuous(matrix_to_quat(local))
    root = P[:, I["Hips"]] - rest_offsets[I["Hips"]]
    return rotations.astype(np.float64), root
