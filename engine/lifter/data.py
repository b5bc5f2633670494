"""Training data for the lifter: mocap clips -> (cached) 3D points -> random cameras -> detector-like 2D.

Pipeline
- `load_clips`: every BVH under the mocap folder is read once, its forward kinematics run and the canonical
  joints and BlazePose keypoints placed (`keypoints.place_on_mocap`); the result is cached as one .npz.
  Clips on other skeletons (the CMU folders) are mapped onto the canonical body first (`mocap_retarget`).
- Split by clip (never by frame): held out are all Bandai Namco clips of the styles in `HELDOUT_STYLES`
  (feminine in both datasets, giant in dataset 1, elderly in dataset 2), the Bandai Namco dance clip, and the
  CMU clips in `HELDOUT_CMU` (two salsa takes, both dancers; two modern-dance clips); everything else trains.
- Clips are drawn in proportion to their duration, dance (`DANCE_MOTIONS`) `DANCE_WEIGHT` times as often.
- `Synth.batch`: windows of a clip resampled to a random frame rate, mirrored, bone lengths scaled, in some
  windows the pose itself bent (torso, arms, legs turned about their joints, `bend_pose`), seen through a
  random pinhole camera, with detector-like noise, turned into network features.

Camera model. The 2D input is normalised by a *nominal* focal length: a 60 degree field of view across the
image's long side, f_nom = (long side / 2) / tan(30 deg); x_n = (u - w/2) / f_nom, y_n = (v - h/2) / f_nom.
The true focal length in training is drawn from a 45-75 degree field of view, so at inference (where the
focal length of a phone video is unknown) the same nominal value is assumed; the depth error that comes from
a wrong focal length is part of what the trajectory head learns to average over.

numpy only (no torch), so the synthesis can be tested on its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import skeleton as sk
from ..errors import BadInput
from ..formats.bvh import read_bvh
from ..quaternion import quat_from_axis_angle, quat_to_matrix
from . import keypoints as kp

HELDOUT_STYLES = ("feminine", "giant", "elderly")
HELDOUT_MOTIONS = ("dance-short", "dance-long")
# CMU clips held out (file stems): salsa takes 14 and 15 (lead and follow), modern dance 005_11 and 005_12
HELDOUT_CMU = ("60_14_scaled", "61_14_scaled", "60_15_scaled", "61_15_scaled", "005_11", "005_12")
DANCE_MOTIONS = ("dance-short", "dance-long", "salsa", "modern-dance")
# dance is what users film most and what the lifter knew least (90 mm on the held-out dance against 34 mm for the
# rest, 2026-11-23): drawn twice as often as its duration alone would give
DANCE_WEIGHT = 2.0
# what each CMU subject of the iClone folder does (its README)
CMU_SUBJECTS = {"001": "playground", "002": "mixed", "003": "walk-terrain", "005": "modern-dance",
                "006": "basketball", "007": "walk"}
# Frame rates that the files get wrong. The salsa files say 1/120 s a frame, but CMU's index lists subjects 60 and
# 61 at 60 fps, and read at 120 fps their feet move implausibly fast (95th percentile 3.2-4.4 m/s, folder README)
FPS_BY_FOLDER = {"cmu-salsa": 60.0}
LIFTER_JOINTS = np.arange(1, sk.J)  # every canonical joint but Root; Hips first
NJ = len(LIFTER_JOINTS)
NK = kp.K
NOMINAL_HFOV_DEG = 60.0
# per keypoint x, y (hip-relative, over the body's 2D size) and confidence; log 2D size; hip centre x, y
FEATURES = NK * 3 + 3
SCALE_SMOOTH = 31  # frames over which the body's 2D size is averaged
L_HIP, R_HIP = kp.KEYPOINT_NAMES.index("left_hip"), kp.KEYPOINT_NAMES.index("right_hip")
CACHE_VERSION = 3

_NAME = re.compile(r"dataset-(\d)_(.+?)_([a-z-]+)_(\d+)\.bvh$")


@dataclass
class Clip:
    name: str
    dataset: int  # Bandai Namco 1 or 2; 0 for the CMU clips
    motion: str
    style: str  # Bandai Namco: the style; CMU: the subject
    points: np.ndarray  # (T, 27 + 33, 3) float32 metres, world Y up: canonical joints then keypoints
    fps: float

    @property
    def heldout(self) -> bool:
        if self.dataset == 0:
            return Path(self.name).stem in HELDOUT_CMU
        return self.style in HELDOUT_STYLES or self.motion in HELDOUT_MOTIONS

    @property
    def dance(self) -> bool:
        return self.motion in DANCE_MOTIONS

    @property
    def source(self) -> str:
        """bandai-namco, cmu-salsa or cmu (the other CMU subjects)."""
        if self.dataset:
            return "bandai-namco"
        return "cmu-salsa" if self.motion == "salsa" else "cmu"


def parse_clip_name(filename: str) -> tuple[int, str, str]:
    """(dataset, motion, style) from a clip's file name: dataset-1_walk-back_happy_001.bvh -> (1, 'walk-back',
    'happy'); CMU: 60_01_scaled.bvh -> (0, 'salsa', '60'), 005_03.bvh -> (0, 'modern-dance', '005')."""
    m = _NAME.search(filename)
    if m:
        return int(m.group(1)), m.group(2), m.group(3)
    stem = Path(filename).stem
    subject = stem.split("_")[0]
    if subject in ("60", "61"):
        return 0, "salsa", subject
    if subject in CMU_SUBJECTS:
        return 0, CMU_SUBJECTS[subject], subject
    return 0, stem, "unknown"


def _place(path: Path) -> tuple[np.ndarray, float]:
    """One BVH file -> (T, 60, 3) float32 points (canonical joints, then keypoints) and its frame rate."""
    from .mocap_retarget import place_on_foreign, table_for

    b = read_bvh(path)
    if table_for(b.names) is not None:
        joints, kps, _ = place_on_foreign(b)
    else:
        wr, wp = b.world_transforms()
        joints, kps = kp.place_on_mocap(wr, wp, b.names)
    fps = FPS_BY_FOLDER.get(path.parent.name, b.fps)
    return np.concatenate([joints, kps], 1).astype(np.float32), fps


def load_clips(mocap_dir: str | os.PathLike, cache: str | os.PathLike | None = None) -> list[Clip]:
    """All clips under `mocap_dir` (recursively), from the cache when it is there and current."""
    mocap_dir = Path(mocap_dir)
    files = sorted(mocap_dir.rglob("*.bvh"))
    if not files:
        raise BadInput(f"no .bvh files under {mocap_dir}")
    if cache is not None and Path(cache).exists():
        z = np.load(cache, allow_pickle=False)
        names = [str(n) for n in z["names"]]
        if int(z["version"]) == CACHE_VERSION and names == [f.name for f in files]:
            starts, points, fps = z["starts"], z["points"], z["fps"]
            clips = []
            for i, n in enumerate(names):
                d, mo, st = parse_clip_name(n)
                clips.append(Clip(n, d, mo, st, points[starts[i]:starts[i + 1]], float(fps[i])))
            return clips
    clips = []
    for f in files:
        points, fps = _place(f)
        d, mo, st = parse_clip_name(f.name)
        clips.append(Clip(f.name, d, mo, st, points, fps))
    if cache is not None:
        from ..fileio import atomic_write
        starts = np.cumsum([0] + [c.points.shape[0] for c in clips])
        with atomic_write(cache, "wb") as fh:
            np.savez(fh, version=CACHE_VERSION, names=np.array([c.name for c in clips]), starts=starts,
                     fps=np.array([c.fps for c in clips]), points=np.concatenate([c.points for c in clips]))
    return clips


def split(clips: list[Clip]) -> tuple[list[Clip], list[Clip]]:
    """(train, held-out) by clip."""
    return [c for c in clips if not c.heldout], [c for c in clips if c.heldout]


# parents of the combined point set (27 joints + 33 keypoints), for bone-length scaling
POINT_PARENTS = np.concatenate([sk.PARENTS, kp.KEYPOINT_ATTACH])
POINT_MIRROR = np.concatenate([sk.MIRROR, kp.KEYPOINT_MIRROR + sk.J])


def _chains(parents: np.ndarray) -> np.ndarray:
    """(P, P) float32: [j, k] = 1 when bone k (from parents[k] to k) lies on the chain from the root to j."""
    m = np.zeros((parents.size, parents.size), np.float32)
    for j in range(parents.size):
        k = j
        while parents[k] >= 0:
            m[j, k] = 1.0
            k = parents[k]
    return m


POINT_CHAINS = _chains(POINT_PARENTS)
# Spread of the body sizes the lifter is trained on, relative to the mocap performer (1.72 m): adult stature
# is roughly normal with a standard deviation near 5.5 % of the mean for men and women pooled (about 9 cm),
# and the lengths of the limbs relative to stature vary by a few percent. Draws are clipped to 0.85-1.15
# (1.46-1.98 m) and 0.9-1.1. Until 2026-11-23 both were uniform over those ranges (standard deviations 8.7 %
# and 5.8 %), wider than people are. The size cannot be told from 2D, so the lifter guesses towards the middle;
# with these spreads exact-2D MPJPE on the held-out clips (one performer, 1.72 m) went 41.3 -> 37.2 mm, and the
# pose itself (N-MPJPE) improved at every height, but at 1.51 and 1.93 m MPJPE is 2.6-4.8 mm worse (the model
# card's "Body sizes").
HEIGHT_SD = 0.055
PROPORTION_SD = 0.04
# People's shoulders and hips differ in width more than their limb lengths do; the keypoints' placement
# (`keypoints.surface_keypoints`) gives the average real widths, and `augment="real"` spreads them: the outer
# clavicle (5 cm) scaled by N(1, 0.3), clipped to 0.5-1.8 (shoulder keypoints 0.28-0.41 m apart), the hip
# keypoints' spread about their midpoint by N(1, 0.08), clipped to 0.8-1.2.
CLAVICLE_SCALE = (1.0, 0.3, 0.5, 1.8)  # mean, sd, clip low, clip high
# Forearms: the Bandai Namco performer's elbow-to-wrist is 0.13 of his height, where anthropometric tables give
# about 0.146 for adults, and the pose2sim triangulation has 0.26 m of forearm against 0.37 m of shin (0.70;
# Bandai Namco 0.54). With forearms drawn about the performer's, the lifter answered 0.19 m on that clip and its
# forearms were the limbs furthest off in direction (27-38 degrees, against 18-23 for mediapipe's world
# landmarks on three of the four views). `augment="real"` draws the forearm group from N(1.1, 0.06), clipped to
# 0.95-1.3.
FOREARM_SCALE = (1.1, 0.06, 0.95, 1.3)
HIP_SPREAD = (1.0, 0.08, 0.8, 1.2)
# bone groups scaled together: 0 spine/neck, 1 head, 2 upper arms, 3 forearms+hands, 4 thighs, 5 shins, 6 feet,
# 7 the outer clavicle (Shoulder -> UpperArm: how far apart the shoulder joints are)
_GROUP = {"Spine": 0, "Chest": 0, "Neck": 0, "Head": 1, "Nose": 1, "Shoulder": 0, "UpperArm": 7,
          "LowerArm": 2, "Hand": 3, "UpperLeg": 0, "LowerLeg": 4, "Foot": 5, "Toes": 6, "ToeTip": 6,
          "Heel": 6}
POINT_GROUP = np.array([_GROUP.get(n.split("_")[0], 0) for n in sk.JOINT_NAMES]
                       + [1] * 11 + [0] * 2 + [2] * 2 + [3] * 8 + [0] * 2 + [4, 4, 5, 5, 6, 6, 6, 6])
# keypoint sets swapped by a detector's left/right confusion: legs and arms
_SWAP_LEGS = [(kp.KEYPOINT_NAMES.index(f"left_{n}"), kp.KEYPOINT_NAMES.index(f"right_{n}"))
              for n in ("knee", "ankle", "heel", "foot_index")]
_SWAP_ARMS = [(kp.KEYPOINT_NAMES.index(f"left_{n}"), kp.KEYPOINT_NAMES.index(f"right_{n}"))
              for n in ("elbow", "wrist", "pinky", "index", "thumb")]
_SMALL_PARTS = ("pinky", "index", "thumb", "wrist", "heel", "eye", "ear", "mouth")
_LIMBS = [kp.KEYPOINT_NAMES.index(f"{side}_{n}") for side in ("left", "right")
          for n in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]
_EXTREMITY = np.array([i for i, n in enumerate(kp.KEYPOINT_NAMES) if any(w in n for w in _SMALL_PARTS)])


def _subtree(bone: str) -> np.ndarray:
    """Indices of the points whose chain runs through `bone` (the bone ending at that joint)."""
    return np.nonzero(POINT_CHAINS[:, sk.INDEX[bone]])[0]


# pose bending: (pivot joint, points turned about it, spread of the constant and the swaying angle, rad).
# The moving parts start one bone below the pivot so that the points fixed to the pivot's own frame (the hip
# keypoints sit on the thigh bones but belong to the pelvis) stay. The torso comes first: it carries the arms.
_BENDS = [("Spine", _subtree("Chest"), 0.15, 0.10)] + [
    (f"UpperArm_{s}", _subtree(f"LowerArm_{s}"), 0.45, 0.30) for s in "LR"] + [
    (f"UpperLeg_{s}", _subtree(f"LowerLeg_{s}"), 0.25, 0.15) for s in "LR"]


def bend_pose(pts: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Poses the mocap never had, for `share` of the windows pts (n, T, 60, 3) (changed in place, returned).

    In a chosen window each of the torso (about the Spine), the arms (about the shoulder joints) and the legs
    (about the hip joints) is turned, with probability 0.7, by a random rotation that sways over time (a
    constant part plus a sine of 0.2-1 cycles a second at 30 fps): an arm held differently, a lean, a
    different step. Bone lengths stay; nothing stops a limb passing through the body, which does not
    matter to the lifter. Meant for motion the clips lack, like the held-out dance. Alone it made the dance
    better and the other clips and noisy 2D worse, so `lifter train --bend` is off by default; the second of
    the two committed networks trains with `--bend 0.5`, and the pair beats either (model card).
    """
    n, T = pts.shape[:2]
    t = np.arange(T, dtype=np.float64)
    for b in np.nonzero(rng.random(n) < share)[0]:
        for pivot, moving, const, sway in _BENDS:
            if rng.random() >= 0.7:
                continue
            freq = rng.uniform(0.2, 1.0) / 30.0
            phase = rng.uniform(0, 2 * np.pi)
            w = rng.normal(0, const, 3) + rng.normal(0, sway, 3) * np.sin(2 * np.pi * freq * t + phase)[:, None]
            angle = np.linalg.norm(w, axis=-1)
            axis = w / np.maximum(angle, 1e-9)[:, None]
            R = quat_to_matrix(quat_from_axis_angle(axis, angle), normalize=False).astype(np.float32)  # (T, 3, 3)
            centre = pts[b, :, sk.INDEX[pivot]][:, None]  # (T, 1, 3)
            pts[b][:, moving] = np.matmul(pts[b][:, moving] - centre, R.transpose(0, 2, 1)) + centre
    return pts


def look_at(cam: np.ndarray, target: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """World (Y up) -> camera (x right, y down, z forward) rotations. cam, target: (B, 3); roll: (B,) rad.

    Returns (B, 3, 3) with rows = camera axes in world coordinates.
    """
    f = target - cam
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    up = np.array([0.0, 1.0, 0.0])
    x = np.cross(f, up)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(f, x)
    c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
    return np.stack([c * x + s * y, -s * x + c * y, f], axis=1)


def interpolate_gaps(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid frames by linear interpolation between the nearest valid frames (edges: hold).

    x: (..., T, F) any features; valid: (..., T) bool. All-invalid sequences are returned unchanged.
    """
    x = np.array(x, dtype=np.float32, copy=True)
    flat_x = x.reshape((-1,) + x.shape[-2:])
    flat_v = np.asarray(valid, dtype=bool).reshape(-1, x.shape[-2])
    t = np.arange(x.shape[-2])
    for b in range(flat_x.shape[0]):
        v = flat_v[b]
        if v.all() or not v.any():
            continue
        good = t[v]
        for f in range(flat_x.shape[-1]):
            flat_x[b, ~v, f] = np.interp(t[~v], good, flat_x[b, v, f])
    return flat_x.reshape(x.shape)


def body_scale(kp2d: np.ndarray) -> np.ndarray:
    """2D size of the body per frame: confidence-weighted RMS distance of the 12 limb keypoints (shoulders,
    elbows, wrists, hips, knees, ankles) from the hip centre, averaged in log space over 31 frames.

    kp2d: (..., T, 33, 3) -> (..., T). The average keeps the detector's jitter out of the scale; what is left
    follows the distance to the camera, not the pose of a single frame.
    """
    hip = 0.5 * (kp2d[..., L_HIP, :2] + kp2d[..., R_HIP, :2])
    d2 = np.sum((kp2d[..., _LIMBS, :2] - hip[..., None, :]) ** 2, axis=-1)
    w = kp2d[..., _LIMBS, 2] + 1e-3
    log_s = 0.5 * np.log(np.maximum(np.sum(w * d2, -1) / np.sum(w, -1), 1e-8))
    T = log_s.shape[-1]
    half = min(SCALE_SMOOTH // 2, T - 1)
    padded = np.concatenate([np.repeat(log_s[..., :1], half, -1), log_s,
                             np.repeat(log_s[..., -1:], half, -1)], -1)
    c = np.cumsum(np.concatenate([np.zeros(log_s.shape[:-1] + (1,)), padded], -1), -1)
    return np.exp((c[..., 2 * half + 1:] - c[..., :-2 * half - 1]) / (2 * half + 1))


def features(kp2d: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Network input from normalised 2D keypoints.

    kp2d: (..., T, 33, 3) x_n, y_n (see module docstring) and confidence; valid: (..., T) bool or None.
    Invalid frames are filled by interpolation and get confidence 0. Returns (..., T, FEATURES) float32:
    per keypoint x, y relative to the hip centre and divided by the body's 2D size (`body_scale`), then 33
    confidences, then the log of the body's 2D size, then the hip centre x, y (always last: the trajectory
    head decodes the root along the ray through it). Dividing by the 2D size makes the pose input the same
    whether the person is near or far and whatever the focal length, so the network does not have to learn
    every pose at every size.
    """
    kp2d = np.asarray(kp2d, dtype=np.float32)
    shape = kp2d.shape
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        flat = interpolate_gaps(kp2d.reshape(shape[:-2] + (-1,)), valid).reshape(shape)
        flat[..., 2] = np.where(valid[..., None], flat[..., 2], 0.0)
        kp2d = flat
    hip = 0.5 * (kp2d[..., L_HIP, :2] + kp2d[..., R_HIP, :2])
    scale = body_scale(kp2d)
    rel = (kp2d[..., :2] - hip[..., None, :]) / scale[..., None, None]
    return np.concatenate([rel.reshape(shape[:-2] + (-1,)), kp2d[..., 2], np.log(scale)[..., None], hip],
                          axis=-1).astype(np.float32)


def _nominal_focal(w: float, h: float) -> float:
    return 0.5 * max(w, h) / np.tan(np.radians(NOMINAL_HFOV_DEG / 2))


def normalise_pixels(joints2d: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Pixels (..., 3) with confidence -> normalised coordinates with the nominal focal length."""
    w, h = float(image_size[0]), float(image_size[1])
    f_nom = _nominal_focal(w, h)
    out = np.array(joints2d, dtype=np.float32, copy=True)
    out[..., 0] = (out[..., 0] - 0.5 * w) / f_nom
    out[..., 1] = (out[..., 1] - 0.5 * h) / f_nom
    return out


def denormalise_pixels(kp2d: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The inverse of `normalise_pixels`: normalised coordinates (..., 3) -> pixels of an image this size."""
    w, h = float(image_size[0]), float(image_size[1])
    f_nom = _nominal_focal(w, h)
    out = np.array(kp2d, dtype=np.float32, copy=True)
    out[..., 0] = out[..., 0] * f_nom + 0.5 * w
    out[..., 1] = out[..., 1] * f_nom + 0.5 * h
    return out


@dataclass
class Batch:
    """x: (B, T, FEATURES) float32; pose: (B, T, NJ, 3) camera-space, Hips-relative, metres;
    root: (B, T, 3) Hips in camera space, metres; kp2d: (B, T, 33, 3) normalised 2D + confidence;
    valid: (B, T) bool, frames where the person was "detected"; up: (B, 3) the world's up direction in
    camera space (unit; the camera is still during a window)."""

    x: np.ndarray
    pose: np.ndarray
    root: np.ndarray
    kp2d: np.ndarray
    valid: np.ndarray | None = None
    up: np.ndarray | None = None


class Synth:
    """Random training windows from a set of clips. All randomness comes from `rng`."""

    def __init__(self, clips: list[Clip], rng: np.random.Generator, bend: float = 0.0, augment: str = "real"):
        """bend: share of the windows whose pose is bent (`bend_pose`). augment: "real" (since 2026-12-06:
        cameras up to 3 m high looking down up to 45 degrees, people near the edges and cut off by the frame,
        runs of left/right swaps, limbs snapping to the other side, real shoulder and hip spreads) or "classic"
        (the distribution before, which `lifter eval` keeps by default so its figures stay comparable)."""
        if augment not in ("real", "classic"):
            raise ValueError(f"augment must be 'real' or 'classic', not {augment!r}")
        self.clips = clips
        self.rng = rng
        self.bend = bend
        self.real = augment == "real"
        # drawn by duration, dance DANCE_WEIGHT times as often
        weight = np.array([c.points.shape[0] / c.fps * (DANCE_WEIGHT if c.dance else 1.0) for c in clips])
        self.p_clip = weight / weight.sum()

    def sample_points(self, n: int, length: int) -> np.ndarray:
        """(n, length, 60, 3) windows: random clip, frame rate 20-60 fps, start, bent pose, mirror, bone
        scale."""
        rng = self.rng
        p_clip = self.p_clip
        out = np.empty((n, length, POINT_PARENTS.size, 3), dtype=np.float32)
        pad = length // 2
        for b in range(n):
            clip = self.clips[rng.choice(len(self.clips), p=p_clip)]
            P = clip.points
            T = P.shape[0]
            step = clip.fps / rng.choice([20.0, 24.0, 25.0, 30.0, 30.0, 50.0, 60.0])
            t0 = rng.uniform(-pad * step, T - 1 - (length - 1 - pad) * step + 1e-6)
            t = np.clip(t0 + step * np.arange(length), 0, T - 1)  # clamping = edge padding
            i0 = np.floor(t).astype(np.int64)
            i1 = np.minimum(i0 + 1, T - 1)
            a = (t - i0)[:, None, None]
            out[b] = (1 - a) * P[i0] + a * P[i1]
        if self.bend > 0:
            bend_pose(out, rng, self.bend)
        mirror = rng.random(n) < 0.5
        out[mirror] = out[mirror][:, :, POINT_MIRROR]
        out[mirror, :, :, 0] *= -1
        # bone lengths: one overall scale and one factor per bone group (`HEIGHT_SD`, `PROPORTION_SD`); a point
        # is its root plus the sum of the scaled bones on its chain (POINT_CHAINS), one matrix product for all
        overall = np.clip(rng.normal(1.0, HEIGHT_SD, n), 0.85, 1.15).astype(np.float32)
        group = np.clip(rng.normal(1.0, PROPORTION_SD, (n, POINT_GROUP.max() + 1)), 0.9, 1.1).astype(np.float32)
        if self.real:
            for g, (m, sd, lo, hi) in ((7, CLAVICLE_SCALE), (3, FOREARM_SCALE)):
                group[:, g] = np.clip(rng.normal(m, sd, n), lo, hi)
        else:
            group[:, 7] = group[:, 2]  # the clavicle went with the upper arms
        s = group[:, POINT_GROUP]  # (n, 60)
        rel = (out - out[:, :, np.maximum(POINT_PARENTS, 0)]) * s[:, None, :, None]
        root = out[:, :, :1]
        P = POINT_PARENTS.size
        chained = (POINT_CHAINS @ rel.transpose(2, 0, 1, 3).reshape(P, -1)).reshape(P, n, length, 3)
        pts = root + overall[:, None, None, None] * chained.transpose(1, 2, 0, 3)
        if self.real:
            m, sd, lo, hi = HIP_SPREAD
            spread = np.clip(rng.normal(m, sd, n), lo, hi).astype(np.float32)[:, None, None]
            hips = pts[:, :, sk.J + np.array([L_HIP, R_HIP])]
            centre = hips.mean(2, keepdims=True)
            pts[:, :, sk.J + np.array([L_HIP, R_HIP])] = centre + spread[..., None] * (hips - centre)
        return pts

    def cameras(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Random cameras for windows pts (B, T, 60, 3).

        Returns rotation (B, 3, 3), centre (B, 3), focal length over the nominal one (B,)."""
        rng = self.rng
        B = pts.shape[0]
        hips = pts[:, :, sk.INDEX["Hips"]]
        centre = hips.mean(1)
        real = self.real
        fov = rng.uniform(40, 80, B) if real else rng.uniform(45, 75, B)  # phones: about 60-75 on the long side
        k = np.tan(np.radians(NOMINAL_HFOV_DEG / 2)) / np.tan(np.radians(fov / 2))
        portrait = rng.random(B) < (0.45 if real else 0.35)
        img_h = np.where(portrait, 2.0, 2.0 * 9 / 16) * np.tan(np.radians(NOMINAL_HFOV_DEG / 2))
        frac = rng.uniform(0.3, 0.9, B)  # body height over image height
        if real:  # some windows framed tighter than the body: feet or head out of the frame
            tight = rng.random(B) < 0.15
            frac[tight] = rng.uniform(0.9, 1.4, tight.sum())
        height = pts[:, :, sk.INDEX["Nose"], 1].max(1) - pts[:, :, sk.INDEX["Heel_L"], 1].min(1) + 0.1
        dist = np.maximum(k * height / (frac * img_h), 1.5)
        az = rng.uniform(0, 2 * np.pi, B)
        cam = centre.copy()
        cam[:, 0] += dist * np.sin(az)
        cam[:, 2] += dist * np.cos(az)
        target = centre.copy()
        if real:  # tripods, hand-held phones and cameras high on a wall: 0.3-3 m, looking down up to 45 degrees
            cam[:, 1] = np.where(rng.random(B) < 0.3, rng.uniform(2.2, 3.0, B), rng.uniform(0.3, 2.2, B))
            target[:, 1] = rng.uniform(0.5, 1.4, B)
            cam[:, 1] = np.minimum(cam[:, 1], target[:, 1] + dist * np.tan(np.radians(45)))
        else:
            cam[:, 1] = rng.uniform(0.3, 2.2, B)
            target[:, 1] = rng.uniform(0.6, 1.3, B)
        lateral = np.stack([np.cos(az), np.zeros(B), -np.sin(az)], 1)
        side = 0.4 if real else 0.25  # near the edges of the frame
        target += lateral * (rng.uniform(-side, side, B) * dist * img_h)[:, None]
        R = look_at(cam, target, np.radians(rng.normal(0, 3, B)))
        # a person moving through the window (runs) must stay in front of the camera: step back if needed
        depth = np.einsum("btj,bj->bt", hips - cam[:, None], R[:, 2])
        cam -= R[:, 2] * np.maximum(0.0, 1.5 - depth.min(1))[:, None]
        # the image's half extents in normalised coordinates (x, y), for the keypoints that leave the frame
        long_half = np.tan(np.radians(NOMINAL_HFOV_DEG / 2))
        self.last_frame = np.stack([np.where(portrait, long_half * 9 / 16, long_half),
                                    np.where(portrait, long_half, long_half * 9 / 16)], 1)
        return R, cam, k

    def noise(self, uv: np.ndarray, size: np.ndarray, frame_half: np.ndarray | None = None,
              away: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Detector-like noise on clean 2D uv (B, T, 33, 2); size: (B,) body height in the same units;
        frame_half: (B, 2) the image's half extents (x, y), or None; away: (B, T) bool, frames where the person
        turns their back to the camera, or None. The last two only count with `augment="real"`.

        Returns noisy (B, T, 33, 3) with confidence and valid (B, T).
        """
        rng = self.rng
        B, T = uv.shape[:2]
        sigma = (rng.uniform(0.003, 0.015, B) * size)[:, None, None, None].astype(np.float32)
        scale = np.ones(NK)
        scale[_EXTREMITY] = 1.6
        jitter = rng.standard_normal(uv.shape, dtype=np.float32) * sigma * scale[:, None]
        # slowly varying bias per keypoint (a detector's systematic offset)
        bias = rng.normal(0, 1, (B, 1, NK, 2)) * sigma * 0.8
        drift = np.cumsum(rng.standard_normal(uv.shape, dtype=np.float32), axis=1) * sigma * 0.05
        drift -= drift.mean(1, keepdims=True)
        out = uv + jitter + bias + drift
        # BlazePose reports 0.87-1.0 for points it sees (measured on the shared videos); lower for the rest
        conf = rng.uniform(0.75, 1.0, (B, T, NK)).astype(np.float32)
        # left/right swaps of legs or arms for a few frames
        for b in np.nonzero(rng.random(B) < 0.3)[0]:
            for _ in range(rng.integers(1, 4)):
                a = rng.integers(0, T)
                e = min(T, a + rng.integers(1, 8))
                for li, ri in (_SWAP_LEGS if rng.random() < 0.6 else _SWAP_ARMS):
                    out[b, a:e, [li, ri]] = out[b, a:e, [ri, li]]
                    conf[b, a:e, [li, ri]] *= 0.7
        if self.real:
            self._real_errors(out, conf, uv, sigma, frame_half, away)
        # dropped points: low confidence, position far off
        p_drop = rng.uniform(0, 0.06, B)[:, None, None]
        drop = rng.random((B, T, NK)) < p_drop
        far = np.repeat(sigma.reshape(B), drop.sum((1, 2)))[:, None] * 8
        out[drop] += rng.normal(0, 1, (drop.sum(), 2)) * far
        conf[drop] = rng.uniform(0, 0.3, drop.sum())
        # whole frames missed (the person not found): gaps of 1-15 frames
        valid = np.ones((B, T), dtype=bool)
        for b in np.nonzero(rng.random(B) < 0.25)[0]:
            a = rng.integers(0, T)
            valid[b, a:a + rng.integers(1, 16)] = False
        return np.concatenate([out, conf[..., None]], -1), valid

    def _real_errors(self, out: np.ndarray, conf: np.ndarray, uv: np.ndarray, sigma: np.ndarray,
                     frame_half: np.ndarray | None, away: np.ndarray | None) -> None:
        """BlazePose's errors on real video beyond jitter (out, conf changed in place), as seen on the shared
        clips: on pose2sim cam02, seen partly from behind, the whole body is read mirrored for 20-30 frames;
        limbs snap to the other side's limb for a few frames; points outside the image are guessed, unsure."""
        rng = self.rng
        B, T = out.shape[:2]
        if frame_half is not None:  # outside the frame: low confidence, a guess several sigmas off
            outside = np.any(np.abs(uv) > frame_half[:, None, None, :], axis=-1)
            n_out = int(outside.sum())
            if n_out:
                conf[outside] = rng.uniform(0.0, 0.5, n_out)
                out[outside] += rng.normal(0, 1, (n_out, 2)) * np.broadcast_to(sigma, outside.shape + (1,))[
                    outside] * 4
        # the whole body mirrored for a run of frames, mostly when the person turns away
        for b in range(B):
            back = away is not None and away[b].mean() > 0.5
            if rng.random() >= (0.35 if back else 0.08):
                continue
            run = int(rng.integers(5, 41))
            a = int(rng.integers(0, max(1, T - run)))
            out[b, a:a + run] = out[b, a:a + run][:, kp.KEYPOINT_MIRROR]
            conf[b, a:a + run] *= 0.9
        # one limb snaps onto the other side's limb (both drawn in one place) for 1-6 frames
        for b in np.nonzero(rng.random(B) < 0.2)[0]:
            pairs = _SWAP_LEGS if rng.random() < 0.6 else _SWAP_ARMS
            a = int(rng.integers(0, T))
            e = min(T, a + int(rng.integers(1, 7)))
            take_right = rng.random() < 0.5
            for li, ri in pairs:
                src, dst = (ri, li) if take_right else (li, ri)
                out[b, a:e, dst] = out[b, a:e, src] + rng.normal(0, 1, (e - a, 2)) * sigma[b, 0, 0]

    def view(self, pts: np.ndarray, clean: np.ndarray) -> Batch:
        """Windows pts (B, T, 60, 3) through random cameras; clean: (B,) bool, exact 2D without noise."""
        R, cam, k = self.cameras(pts)
        Rt = R.transpose(0, 2, 1)[:, None].astype(np.float32)
        pc = np.matmul(pts - cam[:, None, None].astype(np.float32), Rt)
        z = np.maximum(pc[..., 2:3], 0.1)
        uv = k[:, None, None, None].astype(np.float32) * pc[..., :2] / z
        kp_uv = uv[:, :, sk.J:]
        size = k * 1.7 / pc[:, :, sk.INDEX["Hips"], 2].mean(1)
        # seen from behind: the left hip keypoint left of the right one in the image
        away = pc[:, :, sk.J + L_HIP, 0] < pc[:, :, sk.J + R_HIP, 0]
        noisy, valid = self.noise(kp_uv, size, self.last_frame, away)
        noisy[clean, :, :, :2] = kp_uv[clean]
        noisy[clean, :, :, 2] = 1.0
        valid[clean] = True
        joints = pc[:, :, LIFTER_JOINTS]
        root = joints[:, :, 0].copy()
        x = features(noisy, valid)
        up = R[:, :, 1]  # world +Y in camera axes (x right, y down, z forward)
        return Batch(x, (joints - root[:, :, None]).astype(np.float32), root.astype(np.float32),
                     noisy.astype(np.float32), valid, up.astype(np.float32))

    def batch(self, n: int, length: int, clean_fraction: float = 0.2) -> Batch:
        """n windows of `length` frames with targets."""
        pts = self.sample_points(n, length)
        return self.view(pts, self.rng.random(n) < clean_fraction)
