"""Other mocap skeletons mapped onto the canonical one, so their motion trains the lifter beside Bandai Namco's.

The CMU clips come on two skeletons that are not the canonical one (a DAZ-style template for the salsa, Character
Creator's for the rest), with other proportions, other rest poses and other joint frames. Only the *motion* is
taken from them; the body is the canonical one, so every dataset trains the same skeleton and the training's own
body-size spread (`data.Synth`) does the rest:

- Bones between joint centres (spine, neck, head, clavicles, arms, legs) keep the foreign bone's direction in
  every frame and take the canonical rest length (`skeleton.REST_OFFSETS`), placed outwards from the Hips.
- The pelvis (Hips, hip joints, the lower spine) is placed as a rigid piece in a frame built from the two foreign
  hip joints (left-right) and the foreign lower-spine joint (up).
- Points fixed in a body part (toes, toe tips, heels, nose, face, hand points) are placed from the part's turn
  away from the canonical T-pose (`part_turns`) and the canonical T-pose offsets, the same points
  `keypoints.place_on_mocap` places on the Bandai Namco bodies.
- The Hips' trajectory is the foreign one scaled by the ratio of the leg lengths (so a step covers the same share
  of a leg), and the clip is moved up or down so the feet stand on the floor where the canonical feet do.

A part's turn away from the T-pose cannot be read from the foreign joint rotations alone (the rest poses differ:
Character Creator's zero pose is not a T-pose at all). Each part gets a frame built from joint positions in every
frame (hand: wrist to middle knuckle and index to pinky knuckle; head: the eyes and the neck; foot: the knee, ankle
and ball), and one constant rotation C per part is fitted over the whole clip so that R_world(t) @ C follows it
(least squares, the polar factor of the summed products). The joint rotation then carries the part through the
frames where the position frame is ill-defined (a foot pointed in line with the shin). For the foot, "T-pose"
means flat on the floor: the foreign ankle-to-ball pitch of a foot that stands still on the floor is measured
(`flat_foot_pitch`; Character Creator's ball sits nearly level with its ankle) and mapped to the canonical
flat foot.

numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import skeleton as sk
from ..errors import BadInput
from ..formats.bvh import Bvh
from . import keypoints as kp


@dataclass(frozen=True)
class SkeletonTable:
    """Which foreign joint plays each canonical part. Left side given; `right` turns a left name into the right."""

    name: str
    hips: str  # the foreign pelvis root (only to recognise the skeleton)
    spine: str  # lower spine joint: the pelvis' up direction from the hip joints' midpoint
    chest: str
    neck: str
    head: str
    eyes: tuple[str, str]  # left, right
    clavicle: str
    upper_arm: str
    forearm: str
    hand: str
    middle1: str
    index1: str
    pinky1: str
    thigh: str
    shin: str
    foot: str
    toe: str | None  # None: the foot's End Site is the ball of the foot
    left: str
    right: str

    def side(self, joint: str, side: str) -> str:
        return joint if side == "L" else joint.replace(self.left, self.right, 1)


# DAZ-style template (CMU salsa, subjects 60/61): T-pose facing +Z at rest, metres, no toe joint.
DAZ = SkeletonTable("daz", hips="hip", spine="abdomen", chest="chest", neck="neck", head="head",
                    eyes=("leftEye", "rightEye"), clavicle="lCollar", upper_arm="lShldr", forearm="lForeArm",
                    hand="lHand", middle1="lMid1", index1="lIndex1", pinky1="lPinky1", thigh="lThigh",
                    shin="lShin", foot="lFoot", toe=None, left="l", right="r")
# Character Creator (CMU subjects 1-3, 5-7 via iClone): centimetres, zero pose not a T-pose.
CC = SkeletonTable("character-creator", hips="CC_Base_Hip", spine="CC_Base_Waist", chest="CC_Base_Spine02",
                   neck="CC_Base_NeckTwist01", head="CC_Base_Head", eyes=("CC_Base_L_Eye", "CC_Base_R_Eye"),
                   clavicle="CC_Base_L_Clavicle", upper_arm="CC_Base_L_Upperarm", forearm="CC_Base_L_Forearm",
                   hand="CC_Base_L_Hand", middle1="CC_Base_L_Mid1", index1="CC_Base_L_Index1",
                   pinky1="CC_Base_L_Pinky1", thigh="CC_Base_L_Thigh", shin="CC_Base_L_Calf", foot="CC_Base_L_Foot",
                   toe="CC_Base_L_ToeBase", left="_L_", right="_R_")
TABLES = (DAZ, CC)


def table_for(names: list[str]) -> SkeletonTable | None:
    """The table whose joints are all in `names` (None: the Bandai Namco skeleton or one we do not know)."""
    have = set(names)
    for t in TABLES:
        need = [t.spine, t.chest, t.neck, t.head, t.hand, t.thigh, t.foot, t.side(t.hand, "R")]
        if t.hips in have and all(n in have for n in need):
            return t
    return None


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def frame_from(x_dir: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """Right-handed frames (T, 3, 3) whose columns are x = unit(x_dir), y = z x x, z = z_hint made normal to x."""
    x = _unit(x_dir)
    z = _unit(z_hint - np.sum(z_hint * x, -1, keepdims=True) * x)
    return np.stack([x, np.cross(z, x), z], axis=-1)


def fit_constant_turn(world_rot: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """The rotation C (3, 3) with world_rot(t) @ C closest to target(t) over all frames (Frobenius, weighted).

    world_rot, target: (T, 3, 3); weight: (T,) or None. C is the polar factor of sum_t w_t world_rot(t)^T target(t).
    """
    w = np.ones(world_rot.shape[0]) if weight is None else weight
    m = np.einsum("t,tba,tbc->ac", w, world_rot, target)
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def flat_foot_pitch(ankle: np.ndarray, ball: np.ndarray, fps: float) -> float:
    """Pitch (rad, negative: the ball lower) of ankle -> ball on frames where the foot stands still on the floor.

    ankle, ball: (T, 3) metres, Y up. Still: both points within 3 cm of their lowest 5 % and moving under
    0.2 m/s. Falls back to all frames' median when no frame qualifies.
    """
    v = ball - ankle
    pitch = np.arctan2(v[:, 1], np.hypot(v[:, 0], v[:, 2]))
    low = (ankle[:, 1] < np.percentile(ankle[:, 1], 5) + 0.03) & (ball[:, 1] < np.percentile(ball[:, 1], 5) + 0.03)
    speed = np.r_[0.0, np.linalg.norm(np.diff(ball, axis=0), axis=-1) * fps]
    still = low & (speed < 0.2)
    return float(np.median(pitch[still] if still.sum() >= 5 else pitch))


def _rest(name: str) -> np.ndarray:
    return sk.REST_OFFSETS[sk.INDEX[name]]


def _leg_length(points: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(points[0] - points[1], axis=-1) + np.linalg.norm(points[1] - points[2],
                                                                                           axis=-1)))


def part_turns(bvh: Bvh, table: SkeletonTable, pos: np.ndarray, rot: np.ndarray) -> dict[str, np.ndarray]:
    """Each part's turn away from the canonical T-pose, per frame: {"Head", "Hand_L", "Hand_R", "Foot_L",
    "Foot_R"} -> (T, 3, 3). pos: (T, M, 3) metres, rot: (T, M, 3, 3) world rotations of the foreign joints."""
    idx = {n: i for i, n in enumerate(bvh.names)}

    def p(n: str) -> np.ndarray:
        return pos[:, idx[n]]

    turns = {}
    eye_l, eye_r = p(table.eyes[0]), p(table.eyes[1])
    head_frame = frame_from(eye_l - eye_r, np.cross(eye_l - eye_r, p(table.head) - p(table.neck)))
    turns["Head"] = rot[:, idx[table.head]] @ fit_constant_turn(rot[:, idx[table.head]], head_frame)
    for s in "LR":
        hand = table.side(table.hand, s)
        along = p(table.side(table.middle1, s)) - p(hand)
        across = p(table.side(table.index1, s)) - p(table.side(table.pinky1, s))  # thumb side: +Z in the T-pose
        frame = frame_from(along if s == "L" else -along, across)
        turns["Hand_" + s] = rot[:, idx[hand]] @ fit_constant_turn(rot[:, idx[hand]], frame)
        foot, knee = table.side(table.foot, s), p(table.side(table.shin, s))
        if table.toe is not None:
            ball = p(table.side(table.toe, s))
        else:
            e = int(np.nonzero(bvh.end_sites == idx[foot])[0][0])
            ball = p(foot) + np.einsum("tab,b->ta", rot[:, idx[foot]], bvh.end_offsets[e] * _units(bvh))
        ankle = p(foot)
        lateral = np.cross(knee - ankle, ball - ankle)  # +X (the character's left) for either foot at rest
        frame = frame_from(lateral, ball - ankle)
        a = flat_foot_pitch(ankle, ball, bvh.fps)
        flat = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), np.sin(a)], [0.0, -np.sin(a), np.cos(a)]])
        # frames where knee, ankle and ball are nearly in line say little about the foot's side axis
        weight = np.linalg.norm(lateral, axis=-1) / np.maximum(
            np.linalg.norm(knee - ankle, axis=-1) * np.linalg.norm(ball - ankle, axis=-1), 1e-9)
        turns["Foot_" + s] = rot[:, idx[foot]] @ fit_constant_turn(rot[:, idx[foot]], frame @ flat.T, weight)
    return turns


def _units(bvh: Bvh) -> float:
    """Metres per file unit: centimetres when the leg is longer than 10 units."""
    t = table_for(bvh.names)
    if t is None:
        return 0.01
    i = {n: k for k, n in enumerate(bvh.names)}
    leg = np.linalg.norm(bvh.offsets[i[t.shin]]) + np.linalg.norm(bvh.offsets[i[t.foot]])
    return 0.01 if leg > 10 else 1.0


def place_on_foreign(bvh: Bvh) -> tuple[np.ndarray, np.ndarray, dict]:
    """Canonical joints (T, 27, 3) and BlazePose keypoints (T, 33, 3), metres, Y up, from a foreign BVH.

    Returns also facts about the mapping: {"skeleton", "scale" (trajectory), "foot_pitch_deg" (left, right)}.
    Raises BadInput for a skeleton with no table.
    """
    table = table_for(bvh.names)
    if table is None:
        raise BadInput("this BVH skeleton has no mapping onto the canonical skeleton")
    u = _units(bvh)
    rot, pos = bvh.world_transforms()
    pos = pos * u
    idx = {n: i for i, n in enumerate(bvh.names)}

    def p(n: str) -> np.ndarray:
        return pos[:, idx[n]]

    T = pos.shape[0]
    J = np.zeros((T, sk.J, 3))
    th_l, th_r = p(table.thigh), p(table.side(table.thigh, "R"))
    mid = 0.5 * (th_l + th_r)
    pelvis = frame_from(th_l - th_r, np.cross(th_l - th_r, p(table.spine) - mid))  # columns: left, up, forward
    canon_leg = np.linalg.norm(_rest("LowerLeg_L")) + np.linalg.norm(_rest("Foot_L"))
    foreign_leg = 0.5 * sum(_leg_length(np.stack([p(table.side(n, s)) for n in (table.thigh, table.shin, table.foot)]))
                            for s in "LR")
    scale = canon_leg / foreign_leg
    hips = scale * mid - np.einsum("tab,b->ta", pelvis, _rest("UpperLeg_L") * (0.0, 1.0, 0.0))
    J[:, sk.INDEX["Hips"]] = hips
    for name in ("Spine", "UpperLeg_L", "UpperLeg_R"):
        J[:, sk.INDEX[name]] = hips + np.einsum("tab,b->ta", pelvis, _rest(name))
    # bones between joint centres: canonical length along the foreign bone, parents first
    chain = [("Chest", table.spine, table.chest), ("Neck", table.chest, table.neck), ("Head", table.neck, table.head)]
    for s in "LR":
        t = table.side
        chain += [(f"Shoulder_{s}", table.chest, t(table.clavicle, s)),
                  (f"UpperArm_{s}", t(table.clavicle, s), t(table.upper_arm, s)),
                  (f"LowerArm_{s}", t(table.upper_arm, s), t(table.forearm, s)),
                  (f"Hand_{s}", t(table.forearm, s), t(table.hand, s)),
                  (f"LowerLeg_{s}", t(table.thigh, s), t(table.shin, s)),
                  (f"Foot_{s}", t(table.shin, s), t(table.foot, s))]
    for name, a, b in chain:
        j = sk.INDEX[name]
        J[:, j] = J[:, sk.PARENTS[j]] + np.linalg.norm(_rest(name)) * _unit(p(b) - p(a))
    turns = part_turns(bvh, table, pos, rot)

    def fixed(part: str, origin: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return origin + np.einsum("tab,b->ta", turns[part], offset)

    for s in "LR":
        foot = J[:, sk.INDEX[f"Foot_{s}"]]
        J[:, sk.INDEX[f"Toes_{s}"]] = fixed(f"Foot_{s}", foot, _rest(f"Toes_{s}"))
        J[:, sk.INDEX[f"ToeTip_{s}"]] = fixed(f"Foot_{s}", J[:, sk.INDEX[f"Toes_{s}"]], _rest(f"ToeTip_{s}"))
        J[:, sk.INDEX[f"Heel_{s}"]] = fixed(f"Foot_{s}", foot, _rest(f"Heel_{s}"))
    J[:, sk.INDEX["Nose"]] = fixed("Head", J[:, sk.INDEX["Head"]], _rest("Nose"))
    # on the floor: the lowest heels and toe tips where the canonical ones are at rest (2-2.4 cm up)
    soles = J[:, [sk.INDEX[n] for n in ("Heel_L", "ToeTip_L", "Heel_R", "ToeTip_R")], 1].min(1)
    J[..., 1] -= np.percentile(soles, 5) - 0.02
    J[:, sk.INDEX["Root"]] = J[:, sk.INDEX["Hips"]] - _rest("Hips")

    K = np.zeros((T, kp.K, 3))
    head = J[:, sk.INDEX["Head"]]
    for name, off in kp.HEAD_POINTS_TPOSE.items():
        K[:, kp.KEYPOINT_NAMES.index(name)] = fixed("Head", head, off)
    for s, word in (("L", "left"), ("R", "right")):
        for kname, jname in (("shoulder", "UpperArm"), ("elbow", "LowerArm"), ("wrist", "Hand"),
                             ("knee", "LowerLeg"), ("ankle", "Foot"), ("heel", "Heel"), ("foot_index", "ToeTip")):
            K[:, kp.KEYPOINT_NAMES.index(f"{word}_{kname}")] = J[:, sk.INDEX[f"{jname}_{s}"]]
        sign = np.array([1.0 if s == "L" else -1.0, 1.0, 1.0])
        for kname, off in kp.HAND_POINTS_TPOSE_LEFT.items():
            K[:, kp.KEYPOINT_NAMES.index(f"{word}_{kname}")] = fixed(f"Hand_{s}", J[:, sk.INDEX[f"Hand_{s}"]],
                                                                    off * sign)
    for name, point in kp.surface_keypoints(J).items():
        K[:, kp.KEYPOINT_NAMES.index(name)] = point
    facts = {"skeleton": table.name, "scale": round(float(scale), 4)}
    return J.astype(np.float32), K.astype(np.float32), facts
