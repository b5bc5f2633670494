"""Finger rotations: the hand graph's 21 points of each hand turned into rotations of the take's finger joints.

Steps, per hand:
1. The graph's metric points (camera axes, `detector.hands`) are turned into world_yup with the body's camera
   rotation and hung from the body's wrist (Hand_L / Hand_R): the body places the hand, the hand graph shapes it.
2. Smoothing: a One Euro filter per point over each run of frames the hand was seen (no smoothing across a
   gap). It smooths a still hand strongly and lets a quick gesture through (its cutoff rises with speed).
3. The hand's own rotation (the palm: wrist -> middle knuckle, little -> index knuckle) replaces the wrist's,
   which the body alone could not see.
4. Each finger joint gets the swing that turns its rest direction onto the measured one, with no twist,
   clamped to what fingers do (`LIMITS`): the outer joints are hinges that bend towards the palm, the
   knuckles also spread sideways a little, the thumb's base is freer. The clamp works on the direction in the
   parent's frame, so a point the graph put behind the finger cannot bend it backwards.
5. Frames where the hand was not seen get rotations interpolated between the nearest frames it was (held
   at the ends); `hands_valid` in the take still says which frames were measured.
numpy only.
"""

from __future__ import annotations

import numpy as np

from .. import skeleton as sk
from ..filters.one_euro import one_euro
from ..quaternion import frame_from_vectors, matrix_to_quat, quat_continuity, quat_to_matrix, unit_vectors
from .rotations import forward_kinematics

# (flexion min, max, sideways spread max) in degrees, per joint of a finger; flexion > 0 bends to the palm.
# Ranges of motion from hand anatomy tables (e.g. Hume et al. 1990, functional ranges; passive limits are a
# little wider): MCP -30..90 with +-25 spread, PIP 0..110, DIP 0..90; thumb CMC freer, thumb MCP/IP hinges.
LIMITS = {
    "finger": ((-30.0, 90.0, 25.0), (-5.0, 110.0, 0.0), (-5.0, 90.0, 0.0)),
    "Thumb": ((-45.0, 60.0, 45.0), (-10.0, 80.0, 10.0), (-15.0, 90.0, 0.0)),
}
SMOOTH_MIN_CUTOFF = 2.0  # Hz: a still hand
SMOOTH_BETA = 4.0  # per (m/s): how fast the cutoff rises with the points' speed
_PALM_DOWN = np.array([0.0, -1.0, 0.0])  # rest: palms face down, so fingers bend towards -Y
CORRECTION_REPORTED = 10.0  # degrees: a measured direction moved more than this by the limits is counted
_BACKWARDS = 0.2  # fingers bent back by more than about 12 degrees on average: the depth is mirrored
CHIRALITY_SWITCH = 1.0  # the cost of changing the mirroring between frames (in curl units, see fix_chirality)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def smooth_points(points: np.ndarray, valid: np.ndarray, fps: float) -> np.ndarray:
    """One Euro over each run of valid frames of points (T, 21, 3) metres; invalid frames untouched."""
    out = points.copy()
    for a, b in _runs(valid):
        out[a:b] = one_euro(points[a:b], fps, SMOOTH_MIN_CUTOFF, SMOOTH_BETA)
    return out


def _swing(u: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) of the shortest turn from unit u (3,) onto unit d (T, 3)."""
    axis = np.cross(u, d)
    s = np.linalg.norm(axis, axis=-1)
    c = d @ u
    k = axis / np.maximum(s, 1e-12)[:, None]
    K = np.zeros(d.shape[:1] + (3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K = K - np.swapaxes(K, 1, 2)
    eye = np.broadcast_to(np.eye(3), K.shape)
    return eye + s[:, None, None] * K + (1 - c)[:, None, None] * (K @ K)


def clamp_direction(u: np.ndarray, d: np.ndarray, limits: tuple[float, float, float]) -> np.ndarray:
    """The direction d (T, 3) (in the joint's rest frame, where the bone points along unit u) brought within
    `limits` (flexion min, max, spread, degrees)."""
    down = _PALM_DOWN - u * (_PALM_DOWN @ u)
    down /= np.linalg.norm(down)
    side = np.cross(u, down)
    along, bend, across = d @ u, d @ down, d @ side
    flex = np.degrees(np.arctan2(bend, along))
    spread = np.degrees(np.arctan2(across, np.hypot(along, bend)))
    lo, hi, wide = limits
    f = np.radians(np.clip(flex, lo, hi))
    w = np.radians(np.clip(spread, -wide, wide))
    out = np.cos(w)[:, None] * (np.cos(f)[:, None] * u + np.sin(f)[:, None] * down) + np.sin(w)[:, None] * side
    return out


def palm_curl(points: np.ndarray, side: str) -> np.ndarray:
    """How far the fingers bend towards the palm of a `side` ("L"/"R") hand, per frame: the mean over the four
    fingers of (knuckle -> tip) . palm normal / its length; below 0 they bend backwards. points (T, 21, 3)."""
    b = points[:, 9] - points[:, 0]  # wrist -> middle knuckle
    a = points[:, 5] - points[:, 17]  # little -> index knuckle
    # the palm's side: (b x a) for a left hand, (a x b) for a right one, in right-handed axes
    n = unit_vectors(np.cross(b, a) if side == "L" else np.cross(a, b))
    curl = []
    for tip, knuckle in ((8, 5), (12, 9), (16, 13), (20, 17)):
        seg = points[:, tip] - points[:, knuckle]
        curl.append(np.sum(seg * n, -1) / np.maximum(np.linalg.norm(seg, axis=-1), 1e-9))
    return np.mean(curl, axis=0)


def fix_chirality(points: np.ndarray, side: str, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mirror the depth of frames whose hand has the other hand's shape (T, 21, 3) camera axes, wrist-relative.

    Depth is what one view sees least: the hand graph sometimes answers the mirror image of the hand in depth
    (on pose2sim cam01 it could not tell the left hand's side: handedness 0.44), which keeps the 2D but bends
    every finger backwards. The body says which hand it is. A frame is mirrored where the fingers bend more
    than `_BACKWARDS` (of their length) away from that hand's palm; over each run of `valid` frames the choice
    is made by a two-state Viterbi with a cost `CHIRALITY_SWITCH` for changing it, so that a hand whose depth
    the graph is unsure of does not flip from frame to frame (on cam02 that took the fingertip jitter from
    1,032 to 815; valid None: every frame on its own). Returns the points and the frames mirrored.
    """
    score = palm_curl(points, side)
    # cost of keeping the frame as it is, and of mirroring it
    cost = np.stack([np.maximum(0.0, -score - _BACKWARDS), np.maximum(0.0, score + _BACKWARDS)], axis=1)
    mirrored = cost[:, 1] < cost[:, 0]
    if valid is not None:
        for a, b in _runs(np.asarray(valid, bool)):
            mirrored[a:b] = _two_state_path(cost[a:b], CHIRALITY_SWITCH)
    out = points.copy()
    out[mirrored, :, 2] *= -1.0
    return out, mirrored


def _two_state_path(cost: np.ndarray, switch: float) -> np.ndarray:
    """The cheapest sequence of states 0/1 for per-frame costs (T, 2) with `switch` paid at each change."""
    total = cost[0].copy()
    came_from = np.zeros((len(cost), 2), np.int8)
    for t in range(1, len(cost)):
        stay, change = total, total[::-1] + switch
        came_from[t] = np.where(stay <= change, [0, 1], [1, 0])
        total = np.minimum(stay, change) + cost[t]
    state = int(np.argmin(total))
    path = np.empty(len(cost), bool)
    for t in range(len(cost) - 1, -1, -1):
        path[t] = bool(state)
        state = int(came_from[t, state])
    return path


def _fill_gaps(q: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Quaternions (T, 4) of invalid frames interpolated between the nearest valid ones (held at the ends)."""
    if valid.all():
        return q
    if not valid.any():
        return np.tile([1.0, 0.0, 0.0, 0.0], (len(q), 1))
    t = np.arange(len(q))
    q = quat_continuity(q.copy())
    out = np.stack([np.interp(t, t[valid], q[valid, c]) for c in range(4)], axis=-1)
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def _subject_rest(points: np.ndarray, valid: np.ndarray, side: str) -> np.ndarray:
    """Rest offsets (20, 3) of one hand's finger joints: canonical directions, the subject's median lengths."""
    first = sk.HAND_INDEX[f"Thumb1_{side}"]
    rest = sk.HAND_SKELETON_REST[first:first + 20].copy()
    if not valid.any():
        return rest
    for f, finger in enumerate(sk.FINGERS):
        chain = (0,) + sk.FINGER_POINTS[finger]
        for k in range(4):
            seg = points[valid, chain[k + 1]] - points[valid, chain[k]]
            length = float(np.median(np.linalg.norm(seg, axis=-1)))
            row = rest[4 * f + k]
            if 0.005 < length < 0.2:  # a hand graph point that collapsed keeps the canonical length
                rest[4 * f + k] = row / np.linalg.norm(row) * length
    return rest


def _rest_points(rest: np.ndarray) -> np.ndarray:
    """The 21 hand points (wrist-relative) of one hand's finger rest offsets (20, 3)."""
    out = np.zeros((21, 3))
    for f, finger in enumerate(sk.FINGERS):
        chain = (0,) + sk.FINGER_POINTS[finger]
        for k in range(4):
            out[chain[k + 1]] = out[chain[k]] + rest[4 * f + k]
    return out


def finger_fields(body: dict, hands3d: np.ndarray, hands_valid: np.ndarray, camera_rotation: np.ndarray,
                  fps: float, smooth: bool = True) -> tuple[dict, dict]:
    """The take's skeleton fields with the fingers added, and a report.

    body: the take's body fields (joint_names, parents, rest_offsets, joints3d, rotations for the 27 joints);
    hands3d (T, 2, 21, 3) the hand graph's metric points in camera axes; hands_valid (T, 2);
    camera_rotation (3, 3): camera axes -> world_yup as the body was turned (`take3d.complete_take`).
    Returns (fields, report): fields replace joint_names, parents, rest_offsets, joints3d and rotations with
    the 67-joint skeleton (`skeleton.HAND_SKELETON_NAMES`); report holds per hand the frames seen, the frames
    whose depth was mirrored, the share of measured finger directions the limits moved by more than
    CORRECTION_REPORTED degrees (small sideways bends of the hinge joints are the graph's noise and are not
    counted) and the largest move.
    """
    T = len(hands_valid)
    rot_body = np.asarray(body["rotations"], np.float64)
    rest = np.concatenate([np.asarray(body["rest_offsets"], np.float64),
                           np.zeros((len(sk.FINGER_JOINT_NAMES), 3))])
    rotations = np.concatenate([rot_body, np.tile([1.0, 0.0, 0.0, 0.0], (T, len(sk.FINGER_JOINT_NAMES), 1))], 1)
    root = np.asarray(body["joints3d"], np.float64)[:, 0]
    _, world_body = forward_kinematics(rest[:sk.J], rot_body, root, sk.PARENTS)
    report = {}
    for h, side in enumerate(("L", "R")):
        valid = np.asarray(hands_valid[:, h], bool)
        pts = np.asarray(hands3d[:, h], np.float64)
        pts, mirrored = fix_chirality(pts - pts[:, :1], side, valid)  # wrist-relative
        pts = pts @ camera_rotation.T
        if smooth:
            pts = smooth_points(pts, valid, fps)
        first = sk.HAND_INDEX[f"Thumb1_{side}"]
        rest[first:first + 20] = _subject_rest(pts, valid, side)
        pts[~valid] = _rest_points(rest[first:first + 20])  # unseen: replaced by interpolation below
        hand = sk.INDEX["Hand_" + side]
        forearm = world_body[:, sk.INDEX["LowerArm_" + side]]
        # the palm's frame: wrist -> middle knuckle, little knuckle -> index knuckle
        r_mid, r_idx, r_lit = (rest[first + 4 * f] for f in (2, 1, 4))
        palm = frame_from_vectors(pts[:, 9], pts[:, 5] - pts[:, 17])
        palm0 = frame_from_vectors(r_mid[None], (r_idx - r_lit)[None])[0]
        hand_world = np.where(valid[:, None, None], palm @ palm0.T, forearm)
        local = np.swapaxes(forearm, 1, 2) @ hand_world
        rotations[:, hand] = _fill_gaps(matrix_to_quat(local), valid)
        hand_world = forearm @ quat_to_matrix(rotations[:, hand])
        moved, worst = 0, 0.0
        for f, finger in enumerate(sk.FINGERS):
            limits = LIMITS["Thumb" if finger == "Thumb" else "finger"]
            chain = sk.FINGER_POINTS[finger]
            parent_world = hand_world
            for k in range(3):
                j = first + 4 * f + k
                u = rest[j + 1] / np.linalg.norm(rest[j + 1])
                d = unit_vectors(np.einsum("tji,tj->ti", parent_world, pts[:, chain[k + 1]] - pts[:, chain[k]]))
                clamped = clamp_direction(u, d, limits[k])
                change = np.degrees(np.arccos(np.clip(np.sum(clamped * d, -1), -1.0, 1.0)))[valid]
                moved += int(np.count_nonzero(change > CORRECTION_REPORTED))
                worst = max(worst, float(change.max()) if change.size else 0.0)
                q = _fill_gaps(matrix_to_quat(_swing(u, clamped)), valid)
                rotations[:, j] = q
                parent_world = parent_world @ quat_to_matrix(q)
        report[side] = {"frames": int(valid.sum()), "mirrored": int((mirrored & valid).sum()),
                        "clamped_share": moved / max(1, 15 * int(valid.sum())), "clamped_max_deg": worst}
    rotations = quat_continuity(rotations)
    joints3d, _ = forward_kinematics(rest, rotations, root, sk.HAND_SKELETON_PARENTS)
    fields = {
        "joint_names": list(sk.HAND_SKELETON_NAMES),
        "parents": sk.HAND_SKELETON_PARENTS.copy(),
        "rest_offsets": rest.astype(np.float32),
        "joints3d": joints3d.astype(np.float32),
        "rotations": rotations.astype(np.float32),
    }
    return fields, report


def fingertip_jitter(joints3d: np.ndarray, fps: float, valid: np.ndarray) -> float:
    """Mean jitter of the ten finger tips relative to their wrist (GVHMR/WHAM definition: third difference
    x fps^3, in 10 m/s^3), over frames where both neighbours were measured."""
    vals = []
    for h, side in enumerate(("L", "R")):
        tips = [sk.HAND_INDEX[f"{f}Tip_{side}"] for f in sk.FINGERS]
        rel = joints3d[:, tips] - joints3d[:, [sk.INDEX["Hand_" + side]]]
        jerk = np.linalg.norm(np.diff(rel, n=3, axis=0), axis=-1) * fps ** 3 / 10.0
        ok = valid[:, h]
        ok = ok[3:] & ok[2:-1] & ok[1:-2] & ok[:-3]
        if ok.any():
            vals.append(jerk[ok].mean())
    return float(np.mean(vals)) if vals else float("nan")
