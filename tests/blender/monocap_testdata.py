"""Takes made from real mocap for the Blender tests (numpy only).

A Bandai Namco BVH clip is mapped onto the canonical skeleton: each joint's world rotation is the
mocap's times a constant rest alignment (found from the child offsets), local rotations follow, and
joints3d is forward kinematics with the canonical rest offsets. Contacts come from heel/toe height and
speed. This is test data, so it favours plain code over speed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import skeleton as sk
from engine.filters import detect_contacts, matrix_to_quat, quat_to_matrix
from engine.quaternion import quat_from_axis_angle
from engine.formats.bvh import read_bvh

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MOCAP = SHARED / "mocap" / "bandai-namco-1"
VIDEO = SHARED / "video" / "pose2sim-single" / "cam01.mp4"


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R with R @ src_i ≈ dst_i (directions, (N, 3)). One vector: the minimal rotation."""
    src, dst = _unit(src), _unit(dst)
    if len(src) == 1:
        a, b = src[0], dst[0]
        v, c = np.cross(a, b), float(np.dot(a, b))
        vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
        return np.eye(3) + vx + vx @ vx / (1.0 + c)
    u, _, vt = np.linalg.svd(src.T @ dst)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def mocap_take(clip: str = "dataset-1_walk_normal_001.bvh", frames: int | None = None) -> dict:
    """A take dict (DESIGN.md fields) from one mocap clip."""
    bvh = read_bvh(MOCAP / clip)
    wr, wp = bvh.world_transforms()
    if frames is not None:
        wr, wp = wr[:frames], wp[:frames]
    t_len = len(wr)
    bvh_index = {sk.MOCAP_TO_CANONICAL[n]: i for i, n in enumerate(bvh.names) if n in sk.MOCAP_TO_CANONICAL}
    parents, offsets = sk.PARENTS, sk.REST_OFFSETS
    glob = np.broadcast_to(np.eye(3), (t_len, sk.J, 3, 3)).copy()
    align: dict[int, np.ndarray] = {}
    for j in range(sk.J):
        if j not in bvh_index or parents[j] < 0:
            if parents[j] >= 0:
                glob[:, j] = glob[:, parents[j]]  # extra points ride on their parent
            continue
        kids = [c for c in range(sk.J) if parents[c] == j and c in bvh_index]
        if kids:
            src = np.array([offsets[c] for c in kids])
            dst = np.array([bvh.offsets[bvh_index[c]] for c in kids])
            align[j] = _align(src, dst)
        else:
            align[j] = align[parents[j]]
        glob[:, j] = wr[:, bvh_index[j]] @ align[j]
    local = glob.copy()
    for j in range(sk.J):
        if parents[j] >= 0:
            local[:, j] = np.swapaxes(glob[:, parents[j]], -1, -2) @ glob[:, j]
    rotations = matrix_to_quat(local)
    root = wp[:, bvh_index[sk.INDEX["Hips"]]] / 100.0 - offsets[sk.INDEX["Hips"]]
    joints3d = fk(rotations, root)
    contacts = np.stack([detect_contacts(joints3d[:, j], bvh.fps, up_axis=1) for j in sk.CONTACT_JOINTS], 1)
    return {
        "format_version": "1.0", "fps": float(bvh.fps), "image_size": np.array([1920, 1080]),
        "joints2d": np.zeros((t_len, 33, 3), np.float32), "valid": np.ones(t_len, bool),
        "joint_names": list(sk.JOINT_NAMES), "parents": parents.copy(), "rest_offsets": offsets.copy(),
        "joints3d": joints3d.astype(np.float32), "rotations": rotations.astype(np.float32),
        "contacts": contacts,
    }


def fk(rotations: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Canonical forward kinematics: (T, J, 4) local rotations, (T, 3) root -> (T, J, 3) world_yup."""
    mats = quat_to_matrix(rotations)
    glob = np.empty_like(mats)
    pos = np.zeros((*rotations.shape[:2], 3))
    for j, p in enumerate(sk.PARENTS):
        if p < 0:
            glob[:, j], pos[:, j] = mats[:, j], root
        else:
            glob[:, j] = glob[:, p] @ mats[:, j]
            pos[:, j] = pos[:, p] + glob[:, p] @ sk.REST_OFFSETS[j]
    return pos


def hand_points(side: str, flex: dict[str, tuple[float, float, float]], palm_turn: np.ndarray) -> np.ndarray:
    """The 21 points of a hand (wrist-relative, world_yup) posed from the canonical rest: each finger's three
    joints bent by the given degrees towards the palm, the whole hand turned by palm_turn (3, 3)."""
    first = sk.HAND_INDEX[f"Thumb1_{side}"]
    rest = sk.HAND_SKELETON_REST[first:first + 20]
    pts = np.zeros((21, 3))
    for f, finger in enumerate(sk.FINGERS):
        chain = (0,) + sk.FINGER_POINTS[finger]
        world = np.eye(3)
        pts[chain[1]] = rest[4 * f]
        for k in range(3):
            u = rest[4 * f + k + 1] / np.linalg.norm(rest[4 * f + k + 1])
            axis = np.cross(u, [0.0, -1.0, 0.0])  # bends u towards the palm (-Y)
            bend = quat_to_matrix(quat_from_axis_angle(axis / np.linalg.norm(axis), np.radians(flex[finger][k])))
            world = world @ bend
            pts[chain[k + 2]] = pts[chain[k + 1]] + world @ rest[4 * f + k + 1]
    return pts @ palm_turn.T


def with_fingers(take: dict) -> dict:
    """The take with fingers: both hands opening and closing (flexion 5..75 degrees, a second's cycle, the
    thumb less), hung from the take's forearms, solved by the engine's finger solve (`motion.fingers`)."""
    from engine.motion.fingers import finger_fields
    from engine.motion.rotations import forward_kinematics

    T = len(take["joints3d"])
    cam_rot = np.diag([1.0, -1.0, -1.0])  # a camera facing the person: camera axes -> world_yup
    _, world = forward_kinematics(np.asarray(take["rest_offsets"], np.float64), np.asarray(take["rotations"]),
                                  np.asarray(take["joints3d"], np.float64)[:, 0])
    hands3d = np.zeros((T, 2, 21, 3))
    for t in range(T):
        bend = 40.0 - 35.0 * np.cos(2 * np.pi * t / take["fps"])
        flex = {f: (bend * (0.5 if f == "Thumb" else 1.0), bend, 0.7 * bend) for f in sk.FINGERS}
        for h, side in enumerate("LR"):
            pts = hand_points(side, flex, world[t, sk.INDEX["LowerArm_" + side]])
            hands3d[t, h] = pts @ cam_rot  # world = cam_rot @ camera
    fields, _ = finger_fields(take, hands3d, np.ones((T, 2), bool), cam_rot, take["fps"], smooth=False)
    return {**take, **fields}
