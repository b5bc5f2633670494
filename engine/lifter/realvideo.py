"""`python -m engine lifter eval --real`: the lifter on real video, scored against a four-view reference.

Data: `shared/data/video/pose2sim-single` (Pose2Sim's demonstration, BSD-3-Clause): 100 frames at 60 fps of
one person moving fast, filmed by four calibrated cameras (`Calib.qca.txt`, Qualisys format). Steps:

1. 2D: each view captured on its own by the engine's capture (`capture.run_capture` without the lift), cached
   under out/cache/realvideo, keyed on the video's bytes, the detector models and the capture's source files.
2. 3D: each view's 2D lifted exactly as `engine capture` lifts it (`motion.take3d.complete_take` with the
   weights given), never cached (about a second a view): what is scored is the take's `joints3d`.
3. Reference: our own 2D of the four views, triangulated (`fix_swaps`, `triangulate`), then a zero-phase
   Butterworth low-pass at 6 Hz; in world_yup metres.
4. Scores on 12 body joints (`score`) for Monocap and for the peer, mediapipe 0.10.21's legacy Pose solution
   (model_complexity 1, its world landmarks), run in its own environment as the bench runs it
   (`MONOCAP_PEER_PYTHON` or `.venv-peer`); its answers are cached too.
5. Fingers (`realvideo_fingers.py`): each view's finger shapes against the hands triangulated from all four.

The 12 joints: shoulders, elbows, wrists, hips, knees, ankles. The reference has BlazePose keypoints; the
take's elbow, wrist, knee and ankle joints are compared as they are, but its shoulders and hips are joint
centres (UpperArm, UpperLeg), which sit narrower (and the shoulders lower) than BlazePose's keypoints. They are
turned into keypoints by the rule the training data uses to place them on mocap bodies
(`keypoints.surface_keypoints`).
The peer's world landmarks are BlazePose keypoints already.

Metrics, each per view over the frames where the estimate saw the person:
- PA-MPJPE (mm): mean joint distance after a per-frame similarity Procrustes fit onto the reference.
- limb direction (deg): mean angle between estimated and reference upper arms, forearms, thighs and shins
  after the same fit (only its rotation matters, which is the rotation-only Procrustes fit of the centred
  joints: the scale does not change the best rotation).
- jitter (10 m/s^3, as GVHMR and WHAM report it): mean norm of the third difference of joint positions
  (metres) times fps^3, divided by 10, on the Procrustes-fitted joints; the reference's own is reported too.
- swapped frames: frames where the estimate fits the reference with its left and right arms, legs or both
  exchanged (each exchange fitted again by Procrustes) with a PA-MPJPE more than 30 % lower than as it is.
- limb lengths: median over the clip of each limb's length, in metres (the estimate unaligned; thighs start
  at the hip keypoints, the take's made by the rule above).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import skeleton as sk
from .evaluate import mpjpe, procrustes_align
from . import keypoints as kp
from .keypoints import KEYPOINT_MIRROR, KEYPOINT_NAMES, surface_keypoints

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "video" / "pose2sim-single"
CACHE = ROOT / "out" / "cache" / "realvideo"
VIEWS = ("cam01", "cam02", "cam03", "cam04")

# triangulation
MIN_CONFIDENCE = 0.2  # a view's keypoint below this visibility is left out while two others remain
MAX_PX = 30.0  # a subset of views is consistent when each of its views reprojects within this
SWAP_RATIO = 0.5  # a view's group is relabelled when its mirrored labels reproject at most this ...
SWAP_MIN_PX = 20.0  # ... times the error as labelled, and that error is above this
CUTOFF_HZ = 6.0

# scoring
SWAP_MARGIN = 0.3  # a frame is swapped when an exchanged assignment's error is this much lower
BODY_KEYPOINTS = np.array([KEYPOINT_NAMES.index(f"{side}_{part}") for part in
                           ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for side in ("left", "right")])
BODY_JOINTS = np.array([sk.INDEX[f"{part}_{side}"] for part in
                        ("UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg", "Foot") for side in "LR"])
BODY_NAMES = [KEYPOINT_NAMES[k] for k in BODY_KEYPOINTS]
BODY_MIRROR = np.array([i + 1 if i % 2 == 0 else i - 1 for i in range(12)])  # left <-> right in the 12
ARMS, LEGS = np.arange(6), np.arange(6, 12)
# (parent, child) in the 12, with names; left before right
LIMBS = {"upper arm L": (0, 2), "upper arm R": (1, 3), "forearm L": (2, 4), "forearm R": (3, 5),
         "thigh L": (6, 8), "thigh R": (7, 9), "shin L": (8, 10), "shin R": (9, 11)}
# keypoints whose left/right labels a view may have swapped, one group at a time
_HAND = ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")
_FOOT = ("hip", "knee", "ankle", "heel", "foot_index")
SWAP_GROUPS = {
    "arms": np.array([KEYPOINT_NAMES.index(f"{s}_{p}") for p in _HAND for s in ("left", "right")]),
    "legs": np.array([KEYPOINT_NAMES.index(f"{s}_{p}") for p in _FOOT for s in ("left", "right")]),
    "face": np.array([i for i, n in enumerate(KEYPOINT_NAMES[:11]) if KEYPOINT_MIRROR[i] != i]),
}


# ---------------------------------------------------------------------------------------------------------
# cameras


@dataclass(frozen=True)
class Camera:
    """One calibrated view. World: the calibration's frame, metres, Z up. Pixels: the video's frames.

    A world point X projects as: c = R @ X + t (OpenCV camera: x right, y down, z forward), lens distortion of
    c's normalised coordinates, K, then `scale * p + offset` from calibration pixels to video pixels.
    """

    name: str
    K: np.ndarray  # (3, 3) intrinsics, calibration pixels
    dist: np.ndarray  # (4,) k1, k2, p1, p2 (OpenCV's order)
    R: np.ndarray  # (3, 3) world -> camera
    t: np.ndarray  # (3,) metres
    size: tuple[int, int]  # the calibration's image size, width, height
    scale: float = 1.0  # calibration pixels -> video pixels
    offset: tuple[float, float] = (0.0, 0.0)

    @property
    def centre(self) -> np.ndarray:
        """Camera centre (3,) in world metres."""
        return -self.R.T @ self.t

    def for_video(self, width: int, height: int) -> Camera:
        """The camera for frames of `width` x `height`: the calibrated image scaled to fit them and centred.

        cam01 and cam02 are 1080 x 1920 where the calibration is 1088 x 1920, and their frames have black bars
        of 7 rows above and below: the 1088-wide image scaled by 1080/1088 (1906 rows) and letterboxed. The
        reprojection error alone cannot tell this from an uncorrected frame (medians within 0.5 px at ~13 px).
        cam03 and cam04 are 1088 wide, as calibrated (cam03's principal point sits 31 px left of the centre,
        which is what it is, not a crop: its frames fill the width)."""
        s = min(width / self.size[0], height / self.size[1])
        off = (0.5 * (width - s * self.size[0]), 0.5 * (height - s * self.size[1]))
        return Camera(self.name, self.K, self.dist, self.R, self.t, self.size, s, off)


def read_qca(path: str | os.PathLike) -> dict[str, Camera]:
    """Cameras of a Qualisys `.qca.txt` calibration, by serial (e.g. "cam01").

    Intrinsics (focal lengths, principal point, relative to `fov_video`'s corner) and the four distortion
    coefficients are stored times 64; `r11..r33` maps world to the Qualisys camera frame, OpenCV's camera frame
    is that with Y and Z negated; `x, y, z` is the camera centre in millimetres. World Z is up.
    """
    cams = {}
    for node in ET.parse(path).getroot().iter("camera"):
        fov, tr, it = node.find("fov_video"), node.find("transform"), node.find("intrinsic")
        g = lambda e, k: float(e.get(k))
        left, top = g(fov, "left"), g(fov, "top")
        size = (int(g(fov, "right") - left + 1), int(g(fov, "bottom") - top + 1))
        K = np.array([[g(it, "focalLengthU") / 64, 0.0, g(it, "centerPointU") / 64 - left],
                      [0.0, g(it, "focalLengthV") / 64, g(it, "centerPointV") / 64 - top],
                      [0.0, 0.0, 1.0]])
        dist = np.array([g(it, k) / 64 for k in ("radialDistortion1", "radialDistortion2",
                                                   "tangentalDistortion1", "tangentalDistortion2")])
        stored = np.array([[g(tr, f"r{i}{j}") for j in (1, 2, 3)] for i in (1, 2, 3)])
        R = np.diag([1.0, -1.0, -1.0]) @ stored
        centre = np.array([g(tr, "x"), g(tr, "y"), g(tr, "z")]) / 1000.0
        cams[node.get("serial")] = Camera(node.get("serial"), K, dist, R, -R @ centre, size)
    return cams


def project(cam: Camera, points: np.ndarray) -> np.ndarray:
    """World points (..., 3) metres -> video pixels (..., 2), lens distortion included."""
    c = points @ cam.R.T + cam.t
    x, y = c[..., 0] / c[..., 2], c[..., 1] / c[..., 2]
    k1, k2, p1, p2 = cam.dist
    r2 = x * x + y * y
    radial = 1.0 + k1 * r2 + k2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    u = cam.K[0, 0] * xd + cam.K[0, 2]
    v = cam.K[1, 1] * yd + cam.K[1, 2]
    return np.stack([u, v], -1) * cam.scale + np.asarray(cam.offset)


def undistort(cam: Camera, pixels: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Video pixels (..., 2) -> undistorted normalised camera coordinates (..., 2) (x / z, y / z).

    Fixed-point inversion of `project`'s distortion, as OpenCV's undistortPoints does; these lenses distort
    little (k1 ~ -7e-4), so a few iterations reach machine precision."""
    p = (np.asarray(pixels, dtype=np.float64) - np.asarray(cam.offset)) / cam.scale
    xd = (p[..., 0] - cam.K[0, 2]) / cam.K[0, 0]
    yd = (p[..., 1] - cam.K[1, 2]) / cam.K[1, 1]
    k1, k2, p1, p2 = cam.dist
    x, y = xd.copy(), yd.copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1.0 + k1 * r2 + k2 * r2 * r2
        x = (xd - 2 * p1 * x * y - p2 * (r2 + 2 * x * x)) / radial
        y = (yd - p1 * (r2 + 2 * y * y) - 2 * p2 * x * y) / radial
    return np.stack([x, y], -1)


def zup_to_yup(points: np.ndarray) -> np.ndarray:
    """The calibration's world (Z up) -> world_yup (Y up, right-handed): (x, y, z) -> (x, z, -y). (..., 3)."""
    p = np.asarray(points)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


# ---------------------------------------------------------------------------------------------------------
# the reference


def dlt(rays: np.ndarray, weights: np.ndarray, cams: list[Camera]) -> np.ndarray:
    """Weighted linear triangulation. rays: (..., V, 2) undistorted normalised coordinates; weights: (..., V)
    (0 leaves a view out); cams: V cameras. Returns (..., 3) world metres (NaN with fewer than two views)."""
    P = np.stack([np.hstack([c.R, c.t[:, None]]) for c in cams])  # (V, 3, 4)
    w = weights[..., None]
    A = np.concatenate([w * (rays[..., 0:1] * P[:, 2] - P[:, 0]),
                        w * (rays[..., 1:2] * P[:, 2] - P[:, 1])], axis=-2)  # (..., 2V, 4)
    h = np.linalg.svd(A)[2][..., -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = h[..., :3] / h[..., 3:]
    x[(weights > 0).sum(-1) < 2] = np.nan
    return x


def reprojection_errors(cams: list[Camera], points: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Pixel distance of each view's keypoints from the projected points. points: (T, K, 3) world metres;
    obs: (V, T, K, >=2) video pixels. Returns (T, K, V)."""
    proj = np.stack([project(c, points) for c in cams])
    return np.moveaxis(np.linalg.norm(proj - obs[..., :2], axis=-1), 0, -1)


def triangulate(cams: list[Camera], obs: np.ndarray,
                max_px: float = MAX_PX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust triangulation of every keypoint in every frame.

    obs: (V, T, K, 3) video pixels and confidence (0 where the view did not see the person). A point's views
    are those with confidence >= MIN_CONFIDENCE (all that saw it when fewer than two pass). Every subset of
    two or more of them gives a DLT weighted by confidence; the point is taken from the largest subsets whose
    worst view reprojects within `max_px`, the one of them with the smallest worst error (when no subset is
    that consistent: the subset with the smallest worst error, in practice a pair). Dropping the worst view
    one at a time instead fails where one wrong view pulls the answer so far that a right view reprojects worst.
    Returns points (T, K, 3) world metres, reprojection errors (T, K, V) pixels, views used (T, K, V) bool.
    """
    V = len(cams)
    rays = np.moveaxis(np.stack([undistort(c, o[..., :2]) for c, o in zip(cams, obs)]), 0, 2)  # (T, K, V, 2)
    conf = np.moveaxis(obs[..., 2], 0, -1).astype(np.float64)  # (T, K, V)
    avail = conf >= MIN_CONFIDENCE
    few = avail.sum(-1) < 2
    avail[few] = conf[few] > 0
    best_key = np.full(conf.shape[:2], np.inf)
    points = np.full(conf.shape[:2] + (3,), np.nan)
    used = np.zeros(conf.shape, dtype=bool)
    for subset in itertools.chain.from_iterable(itertools.combinations(range(V), n) for n in range(2, V + 1)):
        mask = np.zeros(V, dtype=bool)
        mask[list(subset)] = True
        ok = avail[..., mask].all(-1)
        if not ok.any():
            continue
        x = dlt(rays, conf * mask, cams)
        worst = np.where(mask, reprojection_errors(cams, x, obs), 0.0).max(-1)
        # ranking: consistent subsets first, larger first, then by their worst error
        key = np.where(worst <= max_px, -len(subset) * 1e6, 0.0) + worst
        better = ok & (key < best_key)
        best_key[better] = key[better]
        points[better] = x[better]
        used[better] = mask
    return points, reprojection_errors(cams, points, obs), used


def fix_swaps(cams: list[Camera], obs: np.ndarray, passes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Undo left/right label swaps of single views before triangulating.

    For each view and frame, each group of keypoints (SWAP_GROUPS: arms with hands, legs with feet, face) is
    compared with the points triangulated from the other views: when its labels exchanged left for right
    reproject (median over the group) at most SWAP_RATIO times the error as labelled, and that error is over
    SWAP_MIN_PX, the view's labels in that group and frame are exchanged. Views are handled one after the
    other, twice over. obs: (V, T, K, 3). Returns the corrected copy and the swaps made (V, T, groups) bool.
    """
    obs = np.array(obs, dtype=np.float64)
    V, T = obs.shape[:2]
    swapped = np.zeros((V, T, len(SWAP_GROUPS)), dtype=bool)
    for _ in range(passes):
        for v in range(V):
            others = [u for u in range(V) if u != v]
            points = triangulate([cams[u] for u in others], obs[others])[0]
            proj = project(cams[v], points)  # (T, K, 2)
            for g, idx in enumerate(SWAP_GROUPS.values()):
                as_is = np.median(np.linalg.norm(obs[v][:, idx, :2] - proj[:, idx], axis=-1), axis=-1)
                mirrored = np.median(np.linalg.norm(obs[v][:, KEYPOINT_MIRROR[idx], :2] - proj[:, idx], axis=-1),
                                     axis=-1)
                flip = (mirrored <= SWAP_RATIO * as_is) & (as_is > SWAP_MIN_PX) & (obs[v][:, idx, 2] > 0).all(-1)
                rows = np.nonzero(flip)[0]
                obs[v][rows[:, None], idx] = obs[v][rows[:, None], KEYPOINT_MIRROR[idx]]
                swapped[v, flip, g] ^= True
    return obs, swapped


@dataclass
class Reference:
    """The triangulated reference of the clip."""

    points: np.ndarray  # (T, 33, 3) BlazePose keypoints, world_yup metres, low-passed
    raw_error_px: np.ndarray  # (T, 33, V) reprojection error of the unfiltered points; NaN for unused views
    error_px: np.ndarray  # (T, 33, V) reprojection error of the filtered points in every view
    used: np.ndarray  # (T, 33, V) bool: views the point was triangulated from
    swaps: np.ndarray  # (V, T, groups) bool: label swaps undone (groups as in SWAP_GROUPS)


def build_reference(cams: list[Camera], obs: np.ndarray, fps: float) -> Reference:
    """The reference from the views' 2D. obs: (V, T, 33, 3) video pixels and confidence."""
    from ..filters.butterworth import lowpass_zero_phase
    from . import data as D

    fixed, swaps = fix_swaps(cams, obs)
    points, err, used = triangulate(cams, fixed)
    ok = np.isfinite(points).all(-1)  # (T, K): frames seen by fewer than two views are interpolated
    T, K = ok.shape
    flat = np.where(ok[..., None], points, 0.0).transpose(1, 0, 2)  # (K, T, 3)
    filled = np.stack([D.interpolate_gaps(flat[k], ok[:, k]) if ok[:, k].any() else flat[k] for k in range(K)], 1)
    smooth = lowpass_zero_phase(filled, fps, CUTOFF_HZ)
    return Reference(zup_to_yup(smooth), np.where(used, err, np.nan),
                     reprojection_errors(cams, smooth, fixed), used, swaps)


# ---------------------------------------------------------------------------------------------------------
# scoring


def take_body(joints3d: np.ndarray) -> np.ndarray:
    """The 12 body joints of a take as BlazePose keypoints. joints3d: (T, 27, 3) world_yup metres -> (T, 12, 3).

    Shoulders and hips: joint centres -> keypoints by the training data's rule (`keypoints.surface_keypoints`)."""
    j = np.asarray(joints3d, dtype=np.float64)
    body = j[:, BODY_JOINTS].copy()
    for name, point in surface_keypoints(j).items():
        body[:, list(BODY_KEYPOINTS).index(kp.KEYPOINT_NAMES.index(name))] = point
    return body


def limb_directions_deg(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Angle (degrees) between each limb of pred and of gt. (T, 12, 3) each -> (T, 8), limbs as LIMBS."""
    a, b = (np.stack([x[:, c] - x[:, p] for p, c in LIMBS.values()], 1) for x in (pred, gt))
    cos = np.sum(a * b, -1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def jitter(points: np.ndarray, fps: float, valid: np.ndarray | None = None) -> float:
    """GVHMR / WHAM jitter: mean norm of the third difference of positions (T, N, 3) metres times fps^3 / 10,
    in 10 m/s^3, over the windows of four frames that are all `valid` (T,) bool (default: all)."""
    x = np.asarray(points, dtype=np.float64)
    if x.shape[0] < 4:
        return float("nan")
    d = (x[3:] - 3 * x[2:-1] + 3 * x[1:-2] - x[:-3]) * fps ** 3 / 10.0
    keep = np.ones(len(d), dtype=bool) if valid is None else valid[3:] & valid[2:-1] & valid[1:-2] & valid[:-3]
    return float(np.linalg.norm(d[keep], axis=-1).mean()) if keep.any() else float("nan")


def swapped_frames(pred: np.ndarray, gt: np.ndarray, margin: float = SWAP_MARGIN) -> np.ndarray:
    """Frames where pred (T, 12, 3) fits gt (T, 12, 3) better with left and right exchanged.

    The estimate is fitted (per-frame similarity Procrustes) as it is, with its arms exchanged, its legs
    exchanged, and both; a frame is swapped when the best exchanged fit's mean joint error is lower than
    (1 - margin) times the error as it is. Returns (T,) int: 0 none, 1 arms, 2 legs, 3 both."""
    errors = []
    for which in (np.array([], dtype=int), ARMS, LEGS, np.arange(12)):
        order = np.arange(12)
        order[which] = BODY_MIRROR[which]
        errors.append(mpjpe(procrustes_align(pred[:, order], gt), gt))
    errors = np.stack(errors, -1)  # (T, 4)
    best = 1 + errors[:, 1:].argmin(-1)
    return np.where(errors[:, 1:].min(-1) < (1.0 - margin) * errors[:, 0], best, 0)


def limb_lengths(points: np.ndarray, valid: np.ndarray | None = None) -> dict[str, float]:
    """Median length (metres) of each limb of points (T, 12, 3) over the `valid` (T,) frames."""
    x = points if valid is None else points[valid]
    return {name: float(np.median(np.linalg.norm(x[:, c] - x[:, p], axis=-1))) for name, (p, c) in LIMBS.items()}


def score(pred: np.ndarray, gt: np.ndarray, fps: float, valid: np.ndarray | None = None) -> dict:
    """All metrics of an estimate pred (T, 12, 3) against the reference gt (T, 12, 3), over the `valid` (T,)
    frames (default: where pred is finite). Keys: pa_mpjpe_mm, limb_dir_deg, jitter, swapped_frames (count),
    swapped (T,) per-frame kind (see `swapped_frames`), frames, limb_lengths."""
    ok = np.isfinite(pred).all((1, 2)) & np.isfinite(gt).all((1, 2))
    ok = ok if valid is None else ok & valid
    p = np.where(ok[:, None, None], pred, gt)  # unseen frames: placeholders, never counted
    aligned = procrustes_align(p, gt)
    kind = swapped_frames(p, gt)
    kind[~ok] = 0
    return {"pa_mpjpe_mm": float(mpjpe(aligned, gt)[ok].mean() * 1000.0),
            "limb_dir_deg": float(limb_directions_deg(aligned, gt)[ok].mean()),
            "jitter": jitter(aligned, fps, ok),
            "swapped_frames": int((kind > 0).sum()), "swapped": kind.tolist(),
            "frames": int(ok.sum()), "limb_lengths": limb_lengths(p, ok)}


# ---------------------------------------------------------------------------------------------------------
# the estimates


def _digest(*parts: bytes | str | os.PathLike) -> str:
    """Hex digest of byte strings, texts and the contents of files (paths)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(Path(p).read_bytes() if isinstance(p, Path) else p.encode() if isinstance(p, str) else p)
    return h.hexdigest()[:16]


def _capture_sources() -> list[Path]:
    """The source files the 2D depends on: a change to any of them makes the cached 2D stale."""
    engine = ROOT / "engine"
    return sorted([engine / "capture.py", engine / "video.py", engine / "models.py",
                   *(engine / "detector").glob("*.py"), *(engine / "tflite_torch").rglob("*.py")])


def capture_view(video: Path, cache: Path = CACHE) -> dict:
    """The 2D take of one video as `engine capture --no-lift` writes it (cached). Returns the take dict."""
    from ..capture import run_capture
    from ..models import MODEL_FILES
    from ..progress import Progress
    from ..take import read_take

    key = _digest(video, *(sha for _, sha in MODEL_FILES.values()), *_capture_sources())
    path = cache / f"{video.stem}_2d_{key}.npz"
    if not path.is_file():
        for stale in cache.glob(f"{video.stem}_2d_*.npz"):
            stale.unlink()
        run_capture(str(video), str(path), lift=False, progress=Progress("none"))
    return read_take(path)


def lift_view(take2d: dict, weights: str | os.PathLike | None = None) -> dict:
    """The take's 3D fields from its 2D, as `engine capture` makes them (`complete_take`)."""
    from ..motion.take3d import complete_take

    size = tuple(int(x) for x in take2d["image_size"])
    return complete_take(take2d["joints2d"], take2d["valid"], size, float(take2d["fps"]), weights)


# Runs in the peer's environment: the video's frames through mediapipe's legacy Pose solution, as the bench
# runs it; writes world landmarks (T, 33, 4: x, y, z metres, visibility; NaN where no pose was found).
PEER_SCRIPT = r"""
import sys, cv2, numpy as np, mediapipe as mp
cap = cv2.VideoCapture(sys.argv[1])
pose = mp.solutions.pose.Pose(model_complexity=1, static_image_mode=False)
world = []
while True:
    ok, frame = cap.read()
    if not ok:
        break
    r = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    lm = r.pose_world_landmarks
    world.append([(p.x, p.y, p.z, p.visibility) for p in lm.landmark] if lm else np.full((33, 4), np.nan))
np.save(sys.argv[2], np.asarray(world, dtype=np.float64))
print(mp.__version__)
"""


def peer_python() -> str | None:
    """The Python of the peer's environment (see `engine.bench.capture`), or None."""
    env = os.environ.get("MONOCAP_PEER_PYTHON")
    local = ROOT / ".venv-peer" / "bin" / "python"
    return env or (str(local) if local.exists() else None)


def peer_view(video: Path, python: str, cache: Path = CACHE) -> np.ndarray:
    """The peer's world landmarks of one video (cached). (T, 33, 4) x, y, z metres (camera-aligned axes, y
    down, hip-centred), visibility; NaN in frames where it found no pose."""
    path = cache / f"{video.stem}_peer_{_digest(video, PEER_SCRIPT)}.npy"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        for stale in cache.glob(f"{video.stem}_peer_*.npy"):
            stale.unlink()
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            out = Path(tmp) / "peer.npy"
            r = subprocess.run([python, "-c", PEER_SCRIPT, str(video), str(out)], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"the peer failed on {video.name}: {r.stderr.strip()[-300:]}")
            os.replace(out, path)
    return np.load(path)


# ---------------------------------------------------------------------------------------------------------
# the whole evaluation


def evaluate_real(weights: str | os.PathLike | None = None, data: Path = DATA, cache: Path = CACHE,
                  peer: bool = True, log=print) -> dict:
    """Capture (cached), lift, triangulate, score. Returns a dict of plain numbers and lists (see `main`)."""
    from ..errors import BadInput

    t0 = time.time()
    videos = [data / f"{v}.mp4" for v in VIEWS]
    missing = [p.name for p in [*videos, data / "Calib.qca.txt"] if not p.is_file()]
    if missing:
        raise BadInput(f"real-video data missing in {data}: {', '.join(missing)}")
    takes = [capture_view(v, cache) for v in videos]
    fps = float(takes[0]["fps"])
    calib = read_qca(data / "Calib.qca.txt")
    cams = [calib[v].for_video(*(int(x) for x in t["image_size"])) for v, t in zip(VIEWS, takes)]
    obs = np.stack([t["joints2d"] for t in takes]).astype(np.float64)
    obs[..., 2] *= np.stack([t["valid"] for t in takes])[..., None]  # a view that lost the person says nothing
    t1 = time.time()
    ref = build_reference(cams, obs, fps)
    gt = ref.points[:, BODY_KEYPOINTS]
    t2 = time.time()
    python = peer_python() if peer else None
    out = {"fps": fps, "frames": int(obs.shape[1]), "views": list(VIEWS), "weights": str(weights or "committed"),
           "peer": None, "reference": _reference_facts(ref, fps), "monocap": {}, "peer_scores": {}}
    for v, take in zip(VIEWS, takes):
        joints = lift_view(take, weights)["joints3d"]
        out["monocap"][v] = score(take_body(joints), gt, fps, np.asarray(take["valid"], dtype=bool))
    t3 = time.time()
    if python:
        out["peer"] = "mediapipe 0.10.21 Pose (model_complexity 1), world landmarks"
        for v, video in zip(VIEWS, videos):
            world = peer_view(video, python, cache)
            out["peer_scores"][v] = score(world[:, BODY_KEYPOINTS, :3], gt, fps)
    elif peer:
        log("peer skipped: no mediapipe environment (set MONOCAP_PEER_PYTHON, or make .venv-peer: "
            "python -m venv .venv-peer && .venv-peer/bin/pip install mediapipe==0.10.21)")
    t4 = time.time()
    from .realvideo_fingers import evaluate_fingers

    out["fingers"] = evaluate_fingers(cams, takes)
    out["seconds"] = {"capture": t1 - t0, "reference": t2 - t1, "lift_score": t3 - t2, "peer": t4 - t3,
                      "fingers": time.time() - t4}
    return out


def _reference_facts(ref: Reference, fps: float) -> dict:
    """What the reference's quality can be judged by."""
    body = ref.raw_error_px[:, BODY_KEYPOINTS]
    used = ref.used[:, BODY_KEYPOINTS]
    return {
        "reprojection_median_px": float(np.nanmedian(ref.raw_error_px)),
        "reprojection_median_body_px": float(np.nanmedian(body)),
        "reprojection_median_body_px_by_view": [float(np.nanmedian(body[..., v])) for v in range(body.shape[-1])],
        "filtered_reprojection_median_body_px": float(np.median(ref.error_px[:, BODY_KEYPOINTS])),
        "filtered_reprojection_median_px_by_view": np.median(ref.error_px, axis=(0, 1)).tolist(),
        "body_points_left_out_by_view": (~used).sum((0, 1)).tolist(),
        "body_points": int(used.shape[0] * used.shape[1]),
        "swaps_undone_frames_by_view": {g: ref.swaps[..., i].sum(1).tolist() for i, g in enumerate(SWAP_GROUPS)},
        "swapped_frames_by_view": [np.nonzero(ref.swaps[v].any(-1))[0].tolist() for v in range(ref.swaps.shape[0])],
        "jitter": jitter(ref.points[:, BODY_KEYPOINTS], fps),
        "limb_lengths": limb_lengths(ref.points[:, BODY_KEYPOINTS]),
    }


def format_tables(res: dict) -> str:
    """Markdown: the scores per view and their mean, the reference's facts, the limb lengths."""
    ours, peer = res["monocap"], res["peer_scores"]
    keys = [("pa_mpjpe_mm", "{:.0f}"), ("limb_dir_deg", "{:.1f}"), ("jitter", "{:.1f}"), ("swapped_frames", "{:d}")]

    def cell(v: str | None, key: str, fmt: str) -> str:
        a = fmt.format(ours[v][key]) if v else f"{np.mean([s[key] for s in ours.values()]):.1f}"
        if not peer:
            return a
        b = fmt.format(peer[v][key]) if v else f"{np.mean([s[key] for s in peer.values()]):.1f}"
        return f"{a} / {b}"

    who = "Monocap / peer" if peer else "Monocap"
    lines = [f"| view | PA-MPJPE (mm) {who} | limb direction (deg) {who} | jitter (10 m/s^3) {who} | "
             f"swapped frames {who} |", "|---|---|---|---|---|"]
    for v in list(ours) + [None]:
        lines.append(f"| {v or '**mean**'} | " + " | ".join(cell(v, k, f) for k, f in keys) + " |")
    r = res["reference"]
    n = res["frames"]
    lines.append("")
    lines.append(f"12 body joints, {n} frames at {res['fps']:g} fps; peer: {res['peer'] or 'skipped'}. "
                 f"Reference: four views triangulated from our 2D, Butterworth {CUTOFF_HZ:g} Hz; reprojection "
                 f"median {r['reprojection_median_px']:.1f} px (body {r['reprojection_median_body_px']:.1f}; by "
                 f"view {', '.join(f'{e:.1f}' for e in r['reprojection_median_body_px_by_view'])}; after the "
                 f"filter {r['filtered_reprojection_median_body_px']:.1f}); its jitter {r['jitter']:.1f}.")
    swaps = [f"{v}: {len(f)} frames" + (f" ({f[0]}-{f[-1]})" if f else "")
             for v, f in zip(res["views"], r["swapped_frames_by_view"])]
    dropped = [f"{v} {k}" for v, k in zip(res["views"], r["body_points_left_out_by_view"])]
    lines.append(f"Left/right swaps undone in the 2D: {'; '.join(swaps)}. Body points left out per view (of "
                 f"{r['body_points']}): {', '.join(dropped)}.")
    lines.append("")
    names = list(LIMBS)
    lines.append("| limb lengths (m) | " + " | ".join(n.rsplit(' ', 1)[0] + " L / R" for n in names[::2]) + " |")
    lines.append("|---|" + "---|" * (len(names) // 2))

    def row(label: str, lengths: dict) -> str:
        return f"| {label} | " + " | ".join(f"{lengths[a]:.2f} / {lengths[b]:.2f}"
                                             for a, b in zip(names[::2], names[1::2])) + " |"
    lines.append(row("reference", r["limb_lengths"]))
    for v in ours:
        lines.append(row(f"{v} Monocap", ours[v]["limb_lengths"]))
        if peer:
            lines.append(row(f"{v} peer", peer[v]["limb_lengths"]))
    return "\n".join(lines)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of `lifter eval --real` beside those `lifter eval` has (--weights, --json, --threads)."""
    ap.add_argument("--no-peer", action="store_true", help="with --real: leave out mediapipe's Pose (the peer)")
    ap.add_argument("--real-cache", default=str(CACHE),
                    help="with --real: folder of the cached 2D and peer answers (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """`lifter eval --real`: print the tables, write --json."""
    from ..fileio import atomic_write

    t = time.time()
    res = evaluate_real(args.weights, cache=Path(args.real_cache), peer=not args.no_peer,
                        log=lambda m: print(m, file=sys.stderr))
    print(f"real video: {DATA.name}, {len(VIEWS)} views ({time.time() - t:.0f} s)")
    print(format_tables(res))
    from .realvideo_fingers import format_fingers

    print(format_fingers(res["fingers"]))
    if args.json:
        with atomic_write(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0
