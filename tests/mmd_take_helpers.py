"""Takes from the shared mocap for the MMD retarget tests (numpy only, shared by engine and Blender tests).

A Bandai Namco BVH clip becomes a canonical take the way a capture does: the canonical joints are placed on
the mocap body (`engine.lifter.keypoints.place_on_mocap`), the subject's rest offsets are the median bone
lengths (`take3d.subject_rest_offsets`), rotations are solved (`rotations.solve_rotations`), joints3d is
their forward kinematics, and contacts come from `contacts.foot_contacts`. `with_rest_arms` re-expresses a
take against a rest pose whose arms hang down (an A-pose take), keeping joints3d.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import skeleton as sk
from engine.formats.bvh import read_bvh
from engine.lifter.keypoints import place_on_mocap
from engine.motion.contacts import foot_contacts
from engine.motion.rotations import forward_kinematics, matrix_to_quat, quat_continuous, solve_rotations
from engine.motion.take3d import subject_rest_offsets

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MOCAP = SHARED / "mocap" / "bandai-namco-1"
GENE = SHARED / "mmd" / "gene" / "Gene.pmx"
BABYLON = SHARED / "mmd" / "babylon-mmd"


def _take(joints: np.ndarray, rest: np.ndarray, fps: float) -> dict:
    rotations, _ = solve_rotations(joints, rest)
    root = joints[:, sk.INDEX["Hips"]] - rest[sk.INDEX["Hips"]]
    joints3d, _ = forward_kinematics(rest, rotations, root)
    t = joints.shape[0]
    return {
        "format_version": "1.0", "fps": float(fps), "image_size": np.array([1920, 1080]),
        "joints2d": np.zeros((t, 33, 3), np.float32), "valid": np.ones(t, bool),
        "joint_names": list(sk.JOINT_NAMES), "parents": sk.PARENTS.copy(),
        "rest_offsets": rest.astype(np.float64), "joints3d": joints3d, "rotations": rotations,
        "contacts": foot_contacts(joints3d, fps),
    }


def mocap_take(clip: str = "dataset-1_walk_normal_001.bvh", start: int = 0, frames: int | None = 90,
               step: int = 1) -> dict:
    """A take (float64 arrays) from frames start, start+step, ... of a mocap clip."""
    bvh = read_bvh(MOCAP / clip)
    wr, wp = bvh.world_transforms()
    stop = None if frames is None else start + frames * step
    wr, wp = wr[start:stop:step], wp[start:stop:step]
    joints, _ = place_on_mocap(wr, wp, bvh.names)
    floor = np.percentile(joints[:, sk.CONTACT_JOINTS, 1].min(1), 5) - 0.022
    joints[..., 1] -= floor
    rest = subject_rest_offsets(joints)
    return _take(joints, rest, bvh.fps / step)


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def with_rest_arms(take: dict, degrees: float = 40.0) -> dict:
    """The same motion (same joints3d, same world orientation of every bone) described against a rest pose
    whose arms hang `degrees` lower: the elbow and wrist offsets turn about the forward axis, and the arm
    joints' world rotations G become G Rz^T, so G rest_offset is unchanged (an A-pose take)."""
    rest = np.array(take["rest_offsets"], np.float64)
    joints3d = np.asarray(take["joints3d"], np.float64)
    _, world = forward_kinematics(rest, np.asarray(take["rotations"]), joints3d[:, 0])
    for side, sign in (("L", -1.0), ("R", 1.0)):
        rz = _rot_z(sign * degrees)
        for n in ("LowerArm", "Hand"):
            rest[sk.INDEX[f"{n}_{side}"]] = rz @ rest[sk.INDEX[f"{n}_{side}"]]
        for n in ("UpperArm", "LowerArm", "Hand"):
            world[:, sk.INDEX[f"{n}_{side}"]] = world[:, sk.INDEX[f"{n}_{side}"]] @ rz.T
    local = world.copy()
    local[:, 1:] = np.swapaxes(world[:, sk.PARENTS[1:]], -1, -2) @ world[:, 1:]
    out = dict(take)
    out["rest_offsets"] = rest
    out["rotations"] = quat_continuous(matrix_to_quat(local))
    return out
