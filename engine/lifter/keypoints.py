"""Where the 33 BlazePose keypoints (and the canonical skeleton's extra points) sit on a mocap body.

These choices decide how well a lifter trained on mocap transfers to real detections, so they are written
down here once. The Bandai Namco skeleton has joint centres only (hips, knees, ankles, ball of the foot,
shoulders, elbows, wrists, neck, skull base); its End Sites have zero length. Points are placed from the joint
positions and the joints' own rotation frames (world rotations from the BVH), in the file's units (cm):

- Local frames of the Bandai rig (checked on a standing frame): the bone axis is local +X on the left side
  and the centre line; a right-side joint's frame is its mirror image, so a right-side offset is the left
  one with X and Z negated. Head: +X up, +Y forward, +Z towards the left.
- elbow, wrist keypoints: the LowerArm and Hand joint centres.
- shoulder and hip keypoints: surface landmarks, wider (and the shoulders higher) than the joint centres; placed
  from the joints by `surface_keypoints` (rules and the real-video measurement beside `SHOULDER_OUT`).
- knee, ankle keypoints: LowerLeg and Foot joint centres.
- heel: a point fixed in the foot frame, 9.3 cm below and 5 cm behind the ankle on a flat foot (2.4 cm
  above the floor): local (2.06, 0, -10.36) of Foot_L. This is also the canonical joint Heel.
- foot_index: a point fixed in the toe frame, 7.5 cm ahead of the ball of the foot and 2.3 cm lower, at the
  tip of the shoe: local (7.80, 0, 0.80) of Toes_L. Also the canonical joint ToeTip.
- nose: 15 cm above and 11 cm ahead of the Head joint (skull base) in the head frame; also the canonical
  joint Nose. Eyes 3.5 cm above and 2.5 cm behind the nose, 3.2 cm either side (inner/outer corners
  1.4 cm nearer/farther); ears 1 cm above the nose height, 0.5 cm ahead of the Head joint, 5.5 cm either side;
  mouth corners 4 cm below and 1.5 cm behind the nose, 2.5 cm either side.
- hand points from the Hand joint frame (+X along the forearm to the fingers, +Z towards the thumb on the
  left hand): index knuckle (8.5, 0, 2.0), pinky knuckle (7.5, 0, -2.8), thumb (4.5, -1.0, 3.5) cm.

numpy only.
"""

from __future__ import annotations

import numpy as np

from .. import skeleton as sk

KEYPOINT_NAMES: list[str] = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]
K = len(KEYPOINT_NAMES)

# keypoint -> its mirror image
KEYPOINT_MIRROR: np.ndarray = np.array([
    KEYPOINT_NAMES.index(n.replace("left", "@").replace("right", "left").replace("@", "right"))
    for n in KEYPOINT_NAMES
], dtype=np.int64)

# canonical joint each keypoint hangs from (for bone-length scaling in training)
KEYPOINT_ATTACH: np.ndarray = np.array(
    [sk.INDEX["Head"]] * 11
    + [sk.INDEX[n] for n in ("UpperArm_L", "UpperArm_R", "LowerArm_L", "LowerArm_R", "Hand_L", "Hand_R")]
    + [sk.INDEX["Hand_L"], sk.INDEX["Hand_R"]] * 3
    + [sk.INDEX[n] for n in ("UpperLeg_L", "UpperLeg_R", "LowerLeg_L", "LowerLeg_R", "Foot_L", "Foot_R",
                             "Heel_L", "Heel_R", "ToeTip_L", "ToeTip_R")],
    dtype=np.int64)

# offsets in the head frame (cm): +X up, +Y forward, +Z left; measured from the Head joint
_NOSE = np.array([15.0, 11.0, 0.0])
_HEAD_POINTS = {  # left-side or centre points; right side mirrors Z
    "nose": _NOSE,
    "left_eye_inner": _NOSE + (3.5, -2.0, 1.8),
    "left_eye": _NOSE + (3.5, -2.5, 3.2),
    "left_eye_outer": _NOSE + (3.5, -3.3, 4.6),
    "left_ear": np.array([16.0, 0.5, 5.5]),
    "mouth_left": _NOSE + (-4.0, -1.5, 2.5),
}
_HAND_POINTS = {"pinky": (7.5, 0.0, -2.8), "index": (8.5, 0.0, 2.0), "thumb": (4.5, -1.0, 3.5)}
_HEEL_IN_FOOT_L = np.array([2.057, 0.0, -10.356])
_TIP_IN_TOES_L = np.array([7.804, 0.0, 0.803])
_MIRROR_LOCAL = np.array([-1.0, 1.0, -1.0])  # right-side frames of the Bandai rig
# BlazePose's shoulder and hip keypoints are surface landmarks, wider and (shoulders) higher than the joint
# centres the mocap has. Measured on the 3D triangulated from our own 2D of pose2sim-single's four calibrated views
# (`lifter eval --real`; one man): shoulder keypoints 0.36 m apart, hip keypoints 0.20 m, hip-to-shoulder
# midpoints 0.53 m, nose to the shoulders' midpoint 0.22 m, ears 0.10 m apart. The Bandai Namco joints give
# 0.21, 0.13 (hip joints), 0.40 and 0.27 m. So, since 2026-12-06:
# - shoulder keypoint: the UpperArm joint moved 6 cm further out along the clavicle (Shoulder -> UpperArm) and
#   6 cm up the chest (Chest -> Neck): 0.33 m apart, 0.06 m higher;
# - hip keypoint: 1.5 times the hip joints' half-width out from their midpoint, at their height (0.19 m apart);
#   until then 1.2 times and 3 cm up the pelvis, which the real view did not bear out;
# - ears 5.5 cm either side of the head's centre line (was 7.5).
SHOULDER_OUT, SHOULDER_UP = 0.06, 0.06
HIP_WIDEN, HIP_RAISE = 1.5, 0.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def surface_keypoints(joints: np.ndarray) -> dict[str, np.ndarray]:
    """The shoulder and hip keypoints of a body from its canonical joints (rules above).

    joints: (..., 27, 3) metres, any axes. Returns {"left_shoulder", "right_shoulder", "left_hip", "right_hip"}
    -> (..., 3). Used to place the keypoints on the mocap and to compare a take's joints with real keypoints.
    """
    j = np.asarray(joints, dtype=np.float64)

    def at(name: str) -> np.ndarray:
        return j[..., sk.INDEX[name], :]

    out = {}
    chest_up = _unit(at("Neck") - at("Chest"))
    pelvis_up = _unit(at("Spine") - at("Hips"))
    centre = 0.5 * (at("UpperLeg_L") + at("UpperLeg_R"))
    for s, word in (("L", "left"), ("R", "right")):
        arm = at(f"UpperArm_{s}")
        out[f"{word}_shoulder"] = arm + SHOULDER_OUT * _unit(arm - at(f"Shoulder_{s}")) + SHOULDER_UP * chest_up
        out[f"{word}_hip"] = centre + HIP_WIDEN * (at(f"UpperLeg_{s}") - centre) + HIP_RAISE * pelvis_up
    return out


def _head_tpose(off: np.ndarray) -> np.ndarray:
    """Head-frame offset (cm; +X up, +Y forward, +Z left) -> metres in the canonical T-pose (X left, Y up,
    Z forward)."""
    return 0.01 * np.array([off[2], off[0], off[1]])


# the same points as offsets in the canonical T-pose (facing +Z, palms down, thumbs forward), for skeletons whose
# joint frames are not the Bandai rig's (`mocap_retarget`); the right side mirrors X
HEAD_POINTS_TPOSE: dict[str, np.ndarray] = {}
for _name, _off in _HEAD_POINTS.items():
    HEAD_POINTS_TPOSE[_name] = _head_tpose(_off)
    if "left" in _name:
        HEAD_POINTS_TPOSE[_name.replace("left", "right")] = _head_tpose(_off * (1.0, 1.0, -1.0))
HAND_POINTS_TPOSE_LEFT: dict[str, np.ndarray] = {k: 0.01 * np.array(v) for k, v in _HAND_POINTS.items()}


def _at(rot: np.ndarray, pos: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Point fixed in a joint frame. rot: (T, 3, 3), pos: (T, 3), local: (3,) -> (T, 3)."""
    return pos + rot @ np.asarray(local, dtype=np.float64)


def place_on_mocap(world_rot: np.ndarray, world_pos: np.ndarray,
                   names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Canonical joints and BlazePose keypoints of a Bandai Namco mocap body.

    world_rot: (T, M, 3, 3), world_pos: (T, M, 3) cm, from `Bvh.world_transforms()`; names: the M joint names.
    Returns joints (T, 27, 3) and keypoints (T, 33, 3), metres, in the file's world axes (Y up). The
    canonical Root is the Hips minus the rest Hips offset.
    """
    idx = {n: i for i, n in enumerate(names)}

    def p(n: str) -> np.ndarray:
        return world_pos[:, idx[n]]

    def r(n: str) -> np.ndarray:
        return world_rot[:, idx[n]]

    T = world_pos.shape[0]
    joints = np.zeros((T, sk.J, 3))
    for name in sk.MOCAP_NAMES[1:]:
        joints[:, sk.INDEX[name]] = p(name)
    for side, m in (("L", np.ones(3)), ("R", _MIRROR_LOCAL)):
        joints[:, sk.INDEX["Heel_" + side]] = _at(r("Foot_" + side), p("Foot_" + side), _HEEL_IN_FOOT_L * m)
        joints[:, sk.INDEX["ToeTip_" + side]] = _at(r("Toes_" + side), p("Toes_" + side), _TIP_IN_TOES_L * m)
    joints[:, sk.INDEX["Nose"]] = _at(r("Head"), p("Head"), _NOSE)
    joints *= 0.01
    joints[:, sk.INDEX["Root"]] = joints[:, sk.INDEX["Hips"]] - sk.REST_OFFSETS[sk.INDEX["Hips"]]

    kp = np.zeros((T, K, 3))
    for name, off in _HEAD_POINTS.items():
        kp[:, KEYPOINT_NAMES.index(name)] = _at(r("Head"), p("Head"), off)
        if "left" in name:
            kp[:, KEYPOINT_NAMES.index(name.replace("left", "right"))] = _at(r("Head"), p("Head"),
                                                                              off * (1.0, 1.0, -1.0))
    for side, word, m in (("L", "left", np.ones(3)), ("R", "right", _MIRROR_LOCAL)):
        for kname, jname in (("shoulder", "UpperArm"), ("elbow", "LowerArm"), ("wrist", "Hand"),
                             ("knee", "LowerLeg"), ("ankle", "Foot")):
            kp[:, KEYPOINT_NAMES.index(f"{word}_{kname}")] = p(f"{jname}_{side}")
        for kname, off in _HAND_POINTS.items():
            kp[:, KEYPOINT_NAMES.index(f"{word}_{kname}")] = _at(r("Hand_" + side), p("Hand_" + side),
                                                                  np.array(off) * m)
        kp[:, KEYPOINT_NAMES.index(f"{word}_heel")] = joints[:, sk.INDEX["Heel_" + side]] * 100.0
        kp[:, KEYPOINT_NAMES.index(f"{word}_foot_index")] = joints[:, sk.INDEX["ToeTip_" + side]] * 100.0
    kp *= 0.01
    for name, point in surface_keypoints(joints).items():
        kp[:, KEYPOINT_NAMES.index(name)] = point
    return joints, kp
