"""Left/right swaps in the 2D keypoints: find the frames where the detector exchanged the body's sides, and
undo them before the 3D is lifted.

BlazePose decides from the image alone, frame by frame, whether it sees the person's front or back. In a
view partly from behind (pose2sim cam02, frames 41-77) it changes its mind back and forth, and every left
keypoint lands on the right limb and back; it also labels single limbs crossed for a few frames (the left
leg's points on the right leg and the right leg's on the left). The lifter would turn such 2D into a 3D body
that spins round or crosses its legs.

Groups (each keypoint pair belongs to one; the pairs of a group are exchanged together):
- `TORSO` (bit 4): eyes, ears, mouth corners, shoulders and hips. The detector turns these round together
  (in cam02 the ears swap with the shoulders), and they alone say which way the trunk faces;
- `ARMS` (bit 1): elbow, wrist, pinky, index and thumb of both arms, exchanged as whole arms: one arm's
  points stay together, only which shoulder they hang from changes;
- `LEGS` (bit 2): knee, ankle, heel and foot_index of both legs, likewise hanging from the hips.
The nose has no partner. A full-body swap is all three bits (7); a crossed pair of legs is `LEGS` alone.

How (`find_swaps`): every frame gets one of the 8 labellings {as detected, exchanged} per group, chosen
by a Viterbi pass over the whole sequence that minimises the sum of
1. continuity: each keypoint is predicted from the two frames before at constant velocity and the error
   (in units of the body's 2D size, capped so one bad frame cannot dominate) is paid. A swap onset shows
   as both limbs jumping onto each other's places, while a person turning round brings the two sides
   towards each other first and crosses them smoothly, which the velocity predicts. A prediction from one
   of the two frames alone is allowed at a small price (`DOUBT`): the detector sometimes puts a whole frame
   half way between the two sides, and a velocity read through it would point the wrong way;
2. a switching prior: each change of a group's labelling costs `SWITCH` (a whole-body change the same,
   since that is the detector's usual mistake), so labels do not flicker where the two sides overlap;
3. attachment: arms whose elbows lie farther from their own shoulders than from the other side's (legs:
   knees from hips) pay a little; it decides the limbs' labelling where continuity cannot (first frames,
   after a gap) and stays too weak to uncross a genuinely crossed stance that lasts;
4. a tiny cost per frame and exchanged group. Continuity cannot tell a labelling from its mirror image (the
   whole clip exchanged costs the same), so this picks the one that changes fewer frames: the detector is
   trusted where it is consistent, and the runs it got wrong are the minority.
One frame where the person was not seen is bridged (the frame before it predicts the one after); a longer
gap breaks the chain, and each side of it is labelled on its own.

Measured (tests/test_swaps.py, the 2D of tests/data): cam02 25 frames exchanged, all whole-body, the ones
seen wrong against the video (41-77); cam01, cam03, cam04 none; synthetic runs put into cam01 and cam04
(whole body, legs, arms, several, at the clip's ends, across missing frames) all found to the frame; a
mocap dance spun round at 1.5 turns a second (30 fps) not flagged. About 0.1 ms a frame. What it does to the
3D (`lifter eval --real`, cam02, without / with the correction): PA-MPJPE 129 -> 82 mm, limb direction
24.9 -> 15.5 deg, jitter 2,188 -> 268, frames scored as swapped 8 -> 0; the other views unchanged.

Limits: a swap that starts where the two sides overlap in the image (a side view, legs together) and
persists is invisible to continuity; a single limb drawn on top of the other (both labels on one leg) is no
exchange and is left as it is.

numpy only.
"""

from __future__ import annotations

import numpy as np

from ..lifter.keypoints import KEYPOINT_MIRROR, KEYPOINT_NAMES

ARMS, LEGS, TORSO = 1, 2, 4
ALL = ARMS | LEGS | TORSO
STATES = 8

# (bit, left keypoint names, weight of each pair): points that sit close together (the face's, a hand's)
# share one pair's weight, so the trunk is not judged by the face alone
_GROUPS: tuple[tuple[int, tuple[str, ...], tuple[float, ...]], ...] = (
    (ARMS, ("left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb"),
     (1.0, 1.0, 1 / 3, 1 / 3, 1 / 3)),
    (LEGS, ("left_knee", "left_ankle", "left_heel", "left_foot_index"), (1.0, 1.0, 0.5, 0.5)),
    (TORSO, ("left_eye_inner", "left_eye", "left_eye_outer", "left_ear", "mouth_left", "left_shoulder",
             "left_hip"), (0.2, 0.2, 0.2, 0.2, 0.2, 1.0, 1.0)),
)
_KI = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
_LIMB_POINTS = [_KI[f"{s}_{p}"] for s in ("left", "right")
                for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]
# (group bit, left root, left joint): the limb's first joint and the torso point it hangs from
_ATTACH = ((ARMS, _KI["left_shoulder"], _KI["left_elbow"]), (LEGS, _KI["left_hip"], _KI["left_knee"]))

# Costs, in units of the body's 2D size (RMS distance of the 12 limb keypoints from the hip centre, about
# half a metre on a standing adult). Tuned on pose2sim cam01-cam04 (the swaps of cam02) and on synthetic swaps
# put into cam01; see tests/test_swaps.py.
VELOCITY = 1.0  # constant-velocity prediction (0 would predict the last position)
CAP = 0.5  # a keypoint's prediction error counts up to this much
SWITCH = 0.1  # per change of a group's labelling (a whole-body change costs the same)
ATTACH = 0.05  # per unit of extra length of a limb hung from the other side's root
EXCHANGED = 1e-3  # per frame and exchanged group: the tie-break between a labelling and its mirror image
DOUBT = 0.03  # what a prediction from one frame alone costs over the velocity's (squared body sizes)
SCALE_WINDOW = 31  # frames over which the body's 2D size is taken (median)


def exchange_sides(values: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """Exchange the left and right keypoints of the groups flagged in each frame.

    values: (T, 33, ...) anything per keypoint (joints2d, presence); swapped: (T,) uint8 bit flags.
    Returns a new array; applying it twice gives the input back.
    """
    values = np.asarray(values)
    swapped = np.asarray(swapped, dtype=np.uint8)
    if values.shape[:2] != (swapped.shape[0], len(KEYPOINT_NAMES)):
        raise ValueError(f"values must be (T, 33, ...) with T = {swapped.shape[0]}, got {values.shape}")
    perm = _PERMUTATIONS[swapped & ALL]  # (T, 33)
    return np.take_along_axis(values, perm.reshape(perm.shape + (1,) * (values.ndim - 2)), axis=1)


def undo_swaps(joints2d: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Find and undo left/right swaps. joints2d: (T, 33, 3) pixels (x right, y down) and confidence;
    valid: (T,) bool. Returns the corrected joints2d (T, 33, 3) float32 and the flags (T,) uint8 of
    `find_swaps` (0 where nothing was changed)."""
    swapped = find_swaps(joints2d, valid)
    return exchange_sides(np.asarray(joints2d, np.float32), swapped), swapped


def find_swaps(joints2d: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The groups to exchange in each frame to undo the detector's left/right swaps.

    joints2d: (T, 33, 3) pixels and confidence; valid: (T,) bool. Returns (T,) uint8 bit flags: `ARMS` (1),
    `LEGS` (2), `TORSO` (4, head and trunk); 7 is a whole-body swap. Invalid frames get 0.
    """
    joints2d = np.asarray(joints2d, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    T = joints2d.shape[0]
    if joints2d.ndim != 3 or joints2d.shape[1:] != (len(KEYPOINT_NAMES), 3) or valid.shape != (T,):
        raise ValueError(f"joints2d must be (T, 33, 3) with valid (T,), got {joints2d.shape} and {valid.shape}")
    if valid.sum() < 2:
        return np.zeros(T, np.uint8)
    scale = body_size(joints2d, valid)
    group_costs = [_continuity(joints2d, valid, scale, bit, names, weights)
                   for bit, names, weights in _GROUPS]
    unary = _unary(joints2d, valid, scale)
    states = _viterbi(group_costs, unary, _transitions())
    states[~valid] = 0
    return states.astype(np.uint8)


def body_size(joints2d: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The body's 2D size per frame (T,) in pixels: RMS distance of the 12 limb keypoints from the hip
    centre, the median over `SCALE_WINDOW` valid frames around each frame. The same whichever way the sides
    are labelled; the median keeps a frame whose keypoints collapsed from changing it."""
    hip = 0.5 * (joints2d[:, _KI["left_hip"], :2] + joints2d[:, _KI["right_hip"], :2])
    size = np.sqrt(np.mean(np.sum((joints2d[:, _LIMB_POINTS, :2] - hip[:, None]) ** 2, -1), -1))
    frames = np.flatnonzero(valid)
    good = size[frames]
    half = SCALE_WINDOW // 2
    smooth = np.array([np.median(good[max(0, i - half):i + half + 1]) for i in range(good.size)])
    out = np.interp(np.arange(size.size), frames, smooth)
    return np.maximum(out, 1e-6)


def _pairs(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    left = np.array([_KI[n] for n in names])
    return left, KEYPOINT_MIRROR[left]


def _permutations() -> np.ndarray:
    """(8, 33) keypoint order for each labelling: index k of the corrected frame takes keypoint perm[k]."""
    perms = np.tile(np.arange(len(KEYPOINT_NAMES)), (STATES, 1))
    for s in range(STATES):
        for bit, names, _ in _GROUPS:
            if s & bit:
                left, right = _pairs(names)
                perms[s, left], perms[s, right] = right, left
    return perms


_PERMUTATIONS = _permutations()


def _continuity(joints2d: np.ndarray, valid: np.ndarray, scale: np.ndarray, bit: int,
                names: tuple[str, ...], weights: tuple[float, ...]) -> np.ndarray:
    """Continuity cost of one group: (T, 2, 2, 2) indexed [t, b(t-2), b(t-1), b(t)], b = 1 where the group
    is exchanged.

    Each keypoint of frame t pays the least of: its squared distance to the constant-velocity prediction from
    t-2 and t-1; to its place at t-1 plus `DOUBT`; to its place at t-2 plus `DOUBT` (all capped at `CAP`).
    The detector sometimes puts a frame's points half way between the two sides (pose2sim cam02 frames 46,
    55, 64, 68, 81); a velocity read through such a frame points the wrong way for the two frames after it,
    and the other two predictions let a single bad frame be stepped over. A swap that lasts is seen by all
    three. Missing frames: what is there of t-2 and t-1 is used; nothing when both are missing.
    """
    left, right = _pairs(names)
    order = (np.concatenate([left, right]), np.concatenate([right, left]))  # the group's slots, as b says
    kw = np.tile(np.asarray(weights), 2)
    xy = [joints2d[:, o, :2] / scale[:, None, None] for o in order]  # (T, 2n, 2) each
    conf = [np.clip(joints2d[:, o, 2], 0.0, 1.0) * kw for o in order]
    T = joints2d.shape[0]
    cost = np.zeros((T, 2, 2, 2))
    if T < 2:
        return cost
    now, last = valid[1:, None], valid[:-1, None]  # frames t = 1..T-1 and t-1
    before = np.concatenate([[False], valid[:-2]])[:, None]  # t-2
    for b2, b1, b0 in np.ndindex(2, 2, 2):
        x = xy[b0][1:]
        x1 = xy[b1][:-1]
        x2 = np.concatenate([xy[b2][:1], xy[b2][:-2]])  # frame t-2 (t = 1: a stand-in, never used)
        d1 = np.linalg.norm(x - x1, axis=-1) ** 2  # (T-1, 2n)
        d2 = np.linalg.norm(x - x2, axis=-1) ** 2
        dv = np.linalg.norm(x - x1 - VELOCITY * (x1 - x2), axis=-1) ** 2
        best = np.where(last & before, np.minimum(dv, np.minimum(d1, d2) + DOUBT),
                        np.where(last, d1, d2))
        cost[1:, b2, b1, b0] = np.where(now[:, 0] & (last | before)[:, 0],
                                        np.sum(conf[b0][1:] * np.minimum(best, CAP ** 2), -1), 0.0)
    return cost


def _unary(joints2d: np.ndarray, valid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per-frame cost of each labelling (T, 8): the attachment of arms and legs, and the tie-break."""
    T = joints2d.shape[0]
    states = np.arange(STATES)
    unary = np.zeros((T, STATES))
    for bit, _, _ in _GROUPS:
        unary += EXCHANGED * ((states & bit) > 0)
    xy, conf = joints2d[..., :2], np.clip(joints2d[..., 2], 0.0, 1.0)
    for bit, root_l, joint_l in _ATTACH:
        root_r, joint_r = KEYPOINT_MIRROR[root_l], KEYPOINT_MIRROR[joint_l]

        def dist(a: int, b: int) -> np.ndarray:
            return np.linalg.norm(xy[:, a] - xy[:, b], axis=-1)

        own = dist(root_l, joint_l) + dist(root_r, joint_r)
        crossed = dist(root_l, joint_r) + dist(root_r, joint_l)
        w = ATTACH * valid * conf[:, [root_l, root_r, joint_l, joint_r]].min(1) / scale
        # the limb's labelling relative to the torso's: exchanged when exactly one of the two bits is set
        relative = ((states & bit) > 0) != ((states & TORSO) > 0)
        unary += np.where(relative[None], w[:, None] * np.maximum(crossed - own, 0.0)[:, None],
                          w[:, None] * np.maximum(own - crossed, 0.0)[:, None])
    return unary


def _transitions() -> np.ndarray:
    """(8, 8) cost of going from labelling a to labelling b between two frames."""
    change = np.arange(STATES)[:, None] ^ np.arange(STATES)[None]
    flips = np.array([bin(c).count("1") for c in change.ravel()]).reshape(change.shape)
    cost = SWITCH * flips.astype(float)
    cost[change == ALL] = SWITCH  # the whole body turned round: one change, the detector's usual mistake
    return cost


def _viterbi(group_costs: list[np.ndarray], unary: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """The cheapest labelling (T,) under second-order continuity: the state is the pair (s(t-1), s(t))."""
    T = unary.shape[0]
    states = np.arange(STATES)
    # bit of each group for s(t-2), s(t-1), s(t) over the (8, 8, 8) grid of labellings
    grid = np.ix_(states, states, states)
    picks = [tuple(((g & bit) > 0).astype(int) for g in grid) for bit, _, _ in _GROUPS]
    if T == 1:
        return np.array([int(np.argmin(unary[0]))])
    # t = 1: (s0, s1) with the position-only continuity (the cost does not depend on s(t-2))
    c1 = sum(cost[1][p2, p1, p0] for cost, (p2, p1, p0) in zip(group_costs, picks))[0]  # (8, 8)
    value = unary[0][:, None] + trans + unary[1][None] + c1
    back = np.zeros((T, STATES, STATES), np.int8)
    for t in range(2, T):
        trip = sum(cost[t][p2, p1, p0] for cost, (p2, p1, p0) in zip(group_costs, picks))  # (8, 8, 8)
        total = value[:, :, None] + trip  # [s(t-2), s(t-1), s(t)]
        back[t] = np.argmin(total, axis=0)
        value = np.min(total, axis=0) + trans + unary[t][None]
    out = np.zeros(T, np.int64)
    out[T - 2], out[T - 1] = np.unravel_index(int(np.argmin(value)), value.shape)
    for t in range(T - 1, 1, -1):
        out[t - 2] = back[t, out[t - 1], out[t]]
    return out
