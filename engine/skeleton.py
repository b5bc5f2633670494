"""The canonical skeleton: one joint list, hierarchy and rest pose for the lifter, the take and the retarget.

Coordinate system `world_yup`: metres, right-handed, Y up; the rest pose is a T-pose facing +Z, so the
character's left is +X. Rest rotations are identity: a joint's local quaternion is its rotation relative to
this T-pose, and forward kinematics is p[j] = p[parent] + R_world[parent] @ rest_offsets[j].

Joints (27). The first 22 are the joints of the Bandai Namco mocap (same names, except the file's
`joint_Root` which is called `Root` here), then five points the mocap files do not carry but the retarget,
the head orientation and foot locking need:

| # | joint | parent | what it is |
|---|---|---|---|
| 0 | Root | - | ground point under the pelvis at rest height; carries the trajectory (Hips - rest offset) |
| 1 | Hips | Root | pelvis centre |
| 2-5 | Spine, Chest, Neck, Head | chain | lower spine, chest, base of the neck, skull base |
| 6-9 | Shoulder_L, UpperArm_L, LowerArm_L, Hand_L | Chest.. | clavicle root, shoulder joint, elbow, wrist |
| 10-13 | Shoulder_R .. Hand_R | Chest.. | mirror |
| 14-17 | UpperLeg_L, LowerLeg_L, Foot_L, Toes_L | Hips.. | hip joint, knee, ankle, ball of the foot |
| 18 | ToeTip_L | Toes_L | tip of the foot (BlazePose `left_foot_index`), 2 cm above the sole |
| 19 | Heel_L | Foot_L | back of the heel (BlazePose `left_heel`), 2.5 cm above the sole |
| 20-25 | UpperLeg_R .. Heel_R | | mirror |
| 26 | Nose | Head | tip of the nose, gives the head's pitch and yaw |

The mocap files store no toe tips, heels or face (their End Sites have zero length); `engine.lifter.keypoints`
places these points on the mocap body from the foot, toe and head joint frames (the choices are documented
there). Rest lengths are those of the Bandai Namco performer (about 1.72 m tall).

Heel/toe order used by `contacts`: left heel, left toe, right heel, right toe (joints 19, 18, 25, 24).
numpy only.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: list[str] = [
    "Root", "Hips", "Spine", "Chest", "Neck", "Head",
    "Shoulder_L", "UpperArm_L", "LowerArm_L", "Hand_L",
    "Shoulder_R", "UpperArm_R", "LowerArm_R", "Hand_R",
    "UpperLeg_L", "LowerLeg_L", "Foot_L", "Toes_L", "ToeTip_L", "Heel_L",
    "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R", "ToeTip_R", "Heel_R",
    "Nose",
]
J = len(JOINT_NAMES)
INDEX: dict[str, int] = {n: i for i, n in enumerate(JOINT_NAMES)}

PARENTS: np.ndarray = np.array([
    -1, 0, 1, 2, 3, 4,
    3, 6, 7, 8,
    3, 10, 11, 12,
    1, 14, 15, 16, 17, 16,
    1, 20, 21, 22, 23, 22,
    5,
], dtype=np.int64)

# Rest offsets of the left side and the centre line (metres); the right side mirrors X.
_REST_LEFT = {
    "Root": (0.0, 0.0, 0.0),
    "Hips": (0.0, 0.94, 0.0),
    "Spine": (0.0, 0.1574, 0.0),
    "Chest": (0.0, 0.0899, 0.0),
    "Neck": (0.0, 0.1638, 0.0),
    "Head": (0.0, 0.0646, 0.0),
    "Shoulder_L": (0.0498, 0.1299, -0.0024),
    "UpperArm_L": (0.0535, 0.0, 0.0),
    "LowerArm_L": (0.2433, 0.0, 0.0),
    "Hand_L": (0.2229, 0.0, 0.0),
    "UpperLeg_L": (0.0647, -0.0219, 0.0),
    "LowerLeg_L": (0.0, -0.3908, 0.0),
    "Foot_L": (0.0, -0.4099, 0.0),
    "Toes_L": (0.0, -0.0750, 0.0905),
    "ToeTip_L": (0.0, -0.0230, 0.0750),
    "Heel_L": (0.0, -0.0929, -0.0502),
    "Nose": (0.0, 0.1500, 0.1100),
}


def _rest_offsets() -> np.ndarray:
    out = np.zeros((J, 3))
    for name, i in INDEX.items():
        if name.endswith("_R"):
            x, y, z = _REST_LEFT[name[:-2] + "_L"]
            out[i] = (-x, y, z)
        else:
            out[i] = _REST_LEFT[name]
    return out


REST_OFFSETS: np.ndarray = _rest_offsets()

# joint index of the mirror image (left <-> right)
MIRROR: np.ndarray = np.array([
    INDEX[n[:-2] + ("_R" if n.endswith("_L") else "_L")] if n[-2:] in ("_L", "_R") else i
    for i, n in enumerate(JOINT_NAMES)
], dtype=np.int64)

# the four contact points: left heel, left toe, right heel, right toe
CONTACT_JOINTS: np.ndarray = np.array([INDEX[n] for n in ("Heel_L", "ToeTip_L", "Heel_R", "ToeTip_R")])

# mocap (Bandai Namco BVH) joint name -> canonical joint index
MOCAP_NAMES: list[str] = ["joint_Root"] + JOINT_NAMES[1:18] + JOINT_NAMES[20:24]
MOCAP_TO_CANONICAL: dict[str, int] = {
    m: INDEX["Root" if m == "joint_Root" else m] for m in MOCAP_NAMES
}


def rest_positions(rest_offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """World positions (J, 3) of the rest pose (identity rotations, Root at the origin)."""
    p = np.zeros((len(PARENTS), 3))
    for j, par in enumerate(PARENTS):
        p[j] = rest_offsets[j] if par < 0 else p[par] + rest_offsets[j]
    return p


def bone_lengths(positions: np.ndarray) -> np.ndarray:
    """Length of every joint's offset from its parent. positions: (..., J, 3) -> (..., J), Root's is 0."""
    par = np.where(PARENTS < 0, 0, PARENTS)
    d = np.linalg.norm(positions - positions[..., par, :], axis=-1)
    d[..., PARENTS < 0] = 0.0
    return d


# -- fingers -------------------------------------------------------------------------------------------------
# When a capture has hands, the take's skeleton is the body's 27 joints followed by 20 finger joints per hand
# (left hand first): for each finger three rotating joints and its tip (a point, like ToeTip), under Hand_L /
# Hand_R. The lifter and the body solve never see them. Rest: the T-pose hand, palm down, fingers straight
# along the arm, thumb forward and out; lengths of an adult hand (index finger 8.6 cm from knuckle to tip),
# replaced by the subject's own in a take (`motion.fingers`).
FINGERS = ("Thumb", "Index", "Middle", "Ring", "Little")
# the hand graph's 21 points (`detector.hands.HAND_POINT_NAMES`) each finger joint sits on: joints 1, 2, 3, tip
FINGER_POINTS = {"Thumb": (1, 2, 3, 4), "Index": (5, 6, 7, 8), "Middle": (9, 10, 11, 12),
                 "Ring": (13, 14, 15, 16), "Little": (17, 18, 19, 20)}
_FINGER_REST_LEFT = {  # offset of each finger joint from its parent (the wrist, then the previous joint)
    "Thumb": ((0.030, -0.012, 0.022), (0.032, 0.0, 0.022), (0.028, 0.0, 0.014), (0.025, 0.0, 0.008)),
    "Index": ((0.092, 0.0, 0.024), (0.040, 0.0, 0.0), (0.024, 0.0, 0.0), (0.022, 0.0, 0.0)),
    "Middle": ((0.095, 0.0, 0.004), (0.044, 0.0, 0.0), (0.027, 0.0, 0.0), (0.024, 0.0, 0.0)),
    "Ring": ((0.088, 0.0, -0.016), (0.040, 0.0, 0.0), (0.026, 0.0, 0.0), (0.023, 0.0, 0.0)),
    "Little": ((0.080, 0.0, -0.034), (0.032, 0.0, 0.0), (0.019, 0.0, 0.0), (0.021, 0.0, 0.0)),
}
FINGER_JOINT_NAMES: list[str] = [f"{f}{k}_{s}" for s in ("L", "R") for f in FINGERS for k in ("1", "2", "3", "Tip")]
HAND_SKELETON_NAMES: list[str] = JOINT_NAMES + FINGER_JOINT_NAMES
HAND_INDEX: dict[str, int] = {n: i for i, n in enumerate(HAND_SKELETON_NAMES)}


def _hand_skeleton() -> tuple[np.ndarray, np.ndarray]:
    parents = list(PARENTS)
    rest = list(REST_OFFSETS)
    for s, sign in (("L", 1.0), ("R", -1.0)):
        for f in FINGERS:
            for k, (x, y, z) in enumerate(_FINGER_REST_LEFT[f]):
                parents.append(INDEX["Hand_" + s] if k == 0 else len(parents) - 1)
                rest.append((sign * x, y, z))
    return np.array(parents, dtype=np.int64), np.array(rest, dtype=np.float64)


HAND_SKELETON_PARENTS, HAND_SKELETON_REST = _hand_skeleton()
