"""Finger shapes on the calibrated clip: each view's monocular fingers against the hands triangulated from all
four views (part of `lifter eval --real`).

The reference: each view's 21 hand points (the 2D capture's `hands2d`) triangulated with the same robust
subsets as the body (`realvideo.triangulate`), kept where all 21 points of a hand come from at least two views
that agree within REFERENCE_PX. The comparison is made in the hand's own frame (wrist to middle knuckle up,
little to index knuckle across), so it scores the shape of the fingers, not where the hand or the body points:
the angle between each of the 15 finger segments (each finger's three, the thumb's from its base) in ours and
in the reference. Scored per stage of the finger solve, and for a hand at rest (straight fingers) as the
do-nothing baseline. What it cannot show: the reference is built from the same hand graph's 2D, so an error
every view shares (a finger hidden in all of them) is in both.
"""

from __future__ import annotations

import numpy as np

from .. import skeleton as sk
from ..motion.fingers import finger_fields, fix_chirality
from ..motion.rotations import forward_kinematics
from ..motion.take3d import complete_takes
from .realvideo import Camera, triangulate, zup_to_yup

REFERENCE_PX = 15.0
# the 15 segments as (from, to) hand points: for each finger joint 1 -> 2, 2 -> 3, 3 -> tip
SEGMENTS = [(c[k], c[k + 1]) for f in sk.FINGERS for c in [sk.FINGER_POINTS[f]] for k in range(3)]
STAGES = ("rest hand (baseline)", "hand graph 3D", "mirroring fixed", "take fingers, unsmoothed",
          "take fingers, smoothed")


def hand_frame_directions(points: np.ndarray) -> np.ndarray:
    """points (..., 21, 3) -> (..., 15, 3) unit directions of the finger segments in the hand's own frame
    (x across the knuckles towards the index, y wrist to middle knuckle, z their normal); NaN for a hand with
    points on top of each other."""
    y = points[..., 9, :] - points[..., 0, :]
    x = points[..., 5, :] - points[..., 17, :]
    z = np.cross(x, y)
    x = np.cross(y, z)
    d = np.stack([points[..., b, :] - points[..., a, :] for a, b in SEGMENTS], -2)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = np.stack([v / np.linalg.norm(v, axis=-1, keepdims=True) for v in (x, y, z)], -1)
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return np.einsum("...ji,...sj->...si", frame, d)


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


def _take_hand_points(joints3d: np.ndarray) -> np.ndarray:
    """(T, 67, 3) take joints -> (T, 2, 21, 3) each hand's wrist and finger joints in the hand graph's order."""
    out = []
    for s in ("L", "R"):
        names = [f"Hand_{s}"] + [f"{f}{k}_{s}" for f in sk.FINGERS for k in ("1", "2", "3", "Tip")]
        out.append(joints3d[:, [sk.HAND_INDEX[n] for n in names]])
    return np.stack(out, 1)


def _rest_hands() -> np.ndarray:
    """(2, 21, 3) the skeleton's hands at rest (straight fingers), by their rest offsets."""
    joints = len(sk.HAND_SKELETON_PARENTS)
    unturned = np.tile([1.0, 0.0, 0.0, 0.0], (1, joints, 1))
    pos, _ = forward_kinematics(sk.HAND_SKELETON_REST, unturned, np.zeros((1, 3)), sk.HAND_SKELETON_PARENTS)
    return _take_hand_points(pos)[0]


def reference_hands(cams: list[Camera], takes: list[dict], frames: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Both hands triangulated: points (T, 2, 21, 3) world_yup metres, usable (T, 2), median reprojection px."""
    obs = np.stack([np.asarray(t["hands2d"][:frames], np.float64).reshape(frames, 42, 3) for t in takes])
    obs[..., 2] *= np.stack([np.repeat(np.asarray(t["hands_valid"][:frames]), 21, axis=1) for t in takes])
    points, err, used = triangulate(cams, obs, max_px=REFERENCE_PX)
    points = zup_to_yup(points).reshape(frames, 2, 21, 3)
    views = used.sum(-1).reshape(frames, 2, 21)
    usable = np.isfinite(points).all(-1).all(-1) & (views.min(-1) >= 2)
    with np.errstate(invalid="ignore"):
        reproj = float(np.nanmedian(np.where(used, err, np.nan))) if used.any() else float("nan")
    return points, usable, reproj


def evaluate_fingers(cams: list[Camera], takes: list[dict]) -> dict | None:
    """Per stage, the finger-segment direction error (degrees: mean, median, 90th percentile) over every view's
    frames where both the view and the reference have the hand; None where the takes have no hands."""
    if not all("hands2d" in t for t in takes):
        return None
    T = min(len(t["valid"]) for t in takes)
    ref, usable, reproj = reference_hands(cams, takes, T)
    ref_dirs = hand_frame_directions(ref)
    rest_dirs = hand_frame_directions(_rest_hands())
    errors: dict[str, list[np.ndarray]] = {s: [] for s in STAGES}
    compared = {}
    for cam, take in zip(cams, takes):
        seen = np.asarray(take["hands_valid"][:T], bool)
        graph = np.asarray(take["hands3d"][:T], np.float64)
        fixed = graph - graph[:, :, :1]
        for h, side in enumerate(("L", "R")):
            fixed[:, h] = fix_chirality(fixed[:, h], side, seen[:, h])[0]
        (body,), rotation = complete_takes([(take["joints2d"][:T], take["valid"][:T])],
                                           tuple(int(x) for x in take["image_size"]), float(take["fps"]),
                                           with_camera=True)
        stages = {"hand graph 3D": graph, "mirroring fixed": fixed}
        for smooth in (False, True):
            fields, _ = finger_fields(body, graph, seen, rotation, float(take["fps"]), smooth=smooth)
            stages[f"take fingers, {'smoothed' if smooth else 'unsmoothed'}"] = _take_hand_points(
                np.asarray(fields["joints3d"], np.float64))
        both = seen & usable
        compared[cam.name] = both.sum(0).tolist()
        for h in range(2):
            m = both[:, h]
            truth = ref_dirs[m, h]
            errors["rest hand (baseline)"].append(_angles(np.broadcast_to(rest_dirs[h], truth.shape), truth).ravel())
            for name, points in stages.items():
                errors[name].append(_angles(hand_frame_directions(points[m, h]), truth).ravel())
    out = {"reference_hands": usable.sum(0).tolist(), "frames": T, "reference_reprojection_px": reproj,
           "compared": compared, "stages": {}}
    for name, parts in errors.items():
        e = np.concatenate(parts)
        e = e[np.isfinite(e)]  # a degenerate hand (points on top of each other) has no frame
        out["stages"][name] = {"mean": float(e.mean()), "median": float(np.median(e)),
                               "p90": float(np.percentile(e, 90)), "n": int(e.size)}
    return out


def format_fingers(res: dict | None) -> str:
    if res is None:
        return "fingers: the 2D takes have no hands (captured with --no-hands?)"
    lines = [f"fingers: segment directions in the hand's frame against the hands triangulated from all views "
             f"({res['reference_hands'][0]} left, {res['reference_hands'][1]} right of {res['frames']} frames; "
             f"median reprojection {res['reference_reprojection_px']:.1f} px), degrees",
             "| stage | mean | median | 90th pct | segments |", "|---|---|---|---|---|"]
    for name, s in res["stages"].items():
        lines.append(f"| {name} | {s['mean']:.1f} | {s['median']:.1f} | {s['p90']:.1f} | {s['n']} |")
    return "\n".join(lines)
