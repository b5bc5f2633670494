"""From 2D keypoints to the take's 3D fields: lift, level, solve rotations, find contacts.

`complete_take` is what `engine capture` calls after detection. Steps:
1. Pixels are normalised with the nominal focal length (60 degree field of view across the long side;
   `lifter.data`), the same assumption the lifter was trained around; the true focal length of a user's
   video is unknown, so depth and trajectory scale carry that uncertainty.
2. The lifter (committed weights, no network access) predicts Hips-relative joints and the Hips position in
   camera space for every frame. Invalid frames (person not seen) are fed as interpolated keypoints with
   confidence 0; afterwards their 3D joints are replaced by linear interpolation between the nearest valid
   frames (held at the ends), so the rotation solve sees a continuous motion. The `valid` mask is unchanged:
   the caller keeps it in the take.
3. Camera space (x right, y down, z forward) becomes world_yup by a half turn about X, then the camera's
   pitch and roll are removed by turning the lifter's up direction (averaged over the clip) onto +Y
   (weights without that output: turning about X until the mean torso direction Hips -> Neck is
   vertical); when the feet travel in depth (at least ~0.2 m spread) the lowest foot point of
   each frame is fitted by a line, height over depth, and the pitch corrected until that line is level.
   The floor (y = 0) is put 2.2 cm below the 5th percentile of the lowest heel/toe point, and the first
   valid frame's Root is moved to x = z = 0. The person faces +Z when facing the camera.
4. The subject's bone lengths are the lifter's (each bone already has one length over the clip:
   `lifter.infer.subject_bone_lengths`, weighted towards the frames where it lies across the view, left and
   right alike; the median here only reads them back); `rest_offsets` are the canonical directions with those
   lengths. Rotations are solved (`rotations.solve_rotations`) and `joints3d` is the forward
   kinematics of the solution, so joints3d, rotations and rest_offsets agree exactly.
5. Contacts (`contacts.foot_contacts`), then the body is moved up or down so the feet in contact touch the
   floor (`contacts.ground_feet`; between contacts the correction is interpolated).
"""

from __future__ import annotations

import numpy as np

from .. import skeleton as sk
from ..errors import BadInput
from .contacts import FLOOR_CLEARANCE, foot_contacts, ground_feet
from .rotations import forward_kinematics, solve_rotations

_LIFTERS: dict = {}


def _lifter(path=None):
    from ..lifter.infer import WEIGHTS, Lifter
    key = str(path or WEIGHTS)
    if key not in _LIFTERS:
        _LIFTERS[key] = Lifter(key)
    return _LIFTERS[key]


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rotation_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) that turns unit vector a onto unit vector b."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -0.999999:  # opposite: half turn about X (the only case here is an upside-down camera)
        return _rot_x(np.pi)
    k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def camera_to_world(joints_cam: np.ndarray, valid: np.ndarray, up_cam: np.ndarray | None = None) -> np.ndarray:
    """Camera-space joints (T, 27, 3) -> world_yup: half turn about X, camera tilt removed, floor at y = 0,
    first valid Root at x = z = 0. valid: (T,) bool (at least one True); up_cam: (T, 3) the lifter's
    estimate of the world's up direction in camera space, or None (then the mean torso is taken as up)."""
    return cameras_to_world([joints_cam], [valid], None if up_cam is None else [up_cam])[0]


def cameras_to_world(joints_cam: list[np.ndarray], valid: list[np.ndarray],
                     up_cam: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """`camera_to_world` for several people seen by one camera: one transform for all of them, so that they
    keep their places relative to each other. The camera's tilt and the floor come from everyone's valid
    frames together (one ground plane); the first person's first valid Root is put at x = z = 0.
    joints_cam: per person (T, 27, 3); valid: per person (T,) bool (the first with at least one True);
    up_cam: per person (T, 3) or None."""
    flip = np.array([1.0, -1.0, -1.0])
    w = [j * flip for j in joints_cam]
    if up_cam is not None:
        # the camera's pitch and roll from the lifter's up direction, averaged over the clip (a still camera)
        u = np.concatenate([u_[v] * flip for u_, v in zip(up_cam, valid)]).mean(0)
        u /= max(float(np.linalg.norm(u)), 1e-9)
        turn = _rotation_onto(u, np.array([0.0, 1.0, 0.0]))
        w = [x @ turn.T for x in w]
    else:
        torso = np.concatenate([x[v][:, sk.INDEX["Neck"]] - x[v][:, sk.INDEX["Hips"]] for x, v in zip(w, valid)])
        u = (torso / np.maximum(np.linalg.norm(torso, axis=-1, keepdims=True), 1e-9)).mean(0)
        pitch = np.clip(np.arctan2(-u[2], u[1]), -np.radians(35), np.radians(35))
        w = [x @ _rot_x(pitch).T for x in w]
    # then the floor: the lowest foot point of each frame lies on it; when those points spread in depth
    # (walking towards or away from the camera) a line fit of height over depth gives the remaining pitch
    feet = np.concatenate([x[v][:, sk.CONTACT_JOINTS] for x, v in zip(w, valid)])
    lowest = np.argmin(feet[..., 1], axis=1)
    ground = feet[np.arange(lowest.size), lowest]  # (N, 3)
    z, y = ground[:, 2], ground[:, 1]
    weight = float(np.clip((z.std() - 0.2) / 0.5, 0.0, 1.0)) if z.size > 2 else 0.0
    if weight > 0:
        keep = np.ones(z.size, dtype=bool)
        for _ in range(2):  # refit without the feet that were not on the floor
            a, c = np.polyfit(z[keep], y[keep], 1)
            keep = np.abs(y - (a * z + c)) < 0.05
            if keep.sum() < 3:
                break
        w = [x @ _rot_x(weight * np.clip(np.arctan(a), -np.radians(20), np.radians(20))).T for x in w]
    floor = np.percentile(np.concatenate([x[v][:, sk.CONTACT_JOINTS, 1].min(1) for x, v in zip(w, valid)]), 5)
    origin = w[0][np.argmax(valid[0]), sk.INDEX["Root"], [0, 2]].copy()
    for x in w:
        x[..., 1] -= floor - FLOOR_CLEARANCE
        x[..., [0, 2]] -= origin
    return w


def _fitted_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation R with b - mean(b) = (a - mean(a)) R^T (Kabsch): camera_to_world's turn, read back."""
    h = (a - a.mean(0)).T @ (b - b.mean(0))
    u, _, vt = np.linalg.svd(h)
    fix = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(vt.T @ u.T)))])
    return vt.T @ fix @ u.T


def subject_rest_offsets(joints: np.ndarray) -> np.ndarray:
    """Canonical rest offsets (27, 3) scaled to the median bone lengths of joints (T, 27, 3)."""
    lengths = np.median(sk.bone_lengths(joints), axis=0)
    rest = sk.REST_OFFSETS.copy()
    canon = np.linalg.norm(rest, axis=-1)
    has = canon > 1e-9
    rest[has] *= (lengths[has] / canon[has])[:, None]
    leg = [sk.INDEX["LowerLeg_L"], sk.INDEX["Foot_L"], sk.INDEX["LowerLeg_R"], sk.INDEX["Foot_R"]]
    rest[sk.INDEX["Hips"]] = sk.REST_OFFSETS[sk.INDEX["Hips"]] * lengths[leg].sum() / canon[leg].sum()
    return rest


def complete_take(joints2d: np.ndarray, valid: np.ndarray, image_size: tuple[int, int], fps: float,
                  weights=None) -> dict:
    """The take's 3D fields from 2D keypoints.

    joints2d: (T, 33, 3) float32 BlazePose keypoints in pixels (x right, y down) with confidence;
    valid: (T,) bool; image_size: (width, height) pixels; fps: frames per second.
    Returns joint_names (27), parents (27,), rest_offsets (27, 3), joints3d (T, 27, 3) float32 metres
    world_yup with the root trajectory, rotations (T, 27, 4) float32 w, x, y, z, contacts (T, 4) bool
    (left heel, left toe, right heel, right toe).
    """
    return complete_takes([(joints2d, valid)], image_size, fps, weights)[0]


def complete_takes(people: list[tuple[np.ndarray, np.ndarray]], image_size: tuple[int, int], fps: float,
                   weights=None, with_camera: bool = False) -> list[dict] | tuple[list[dict], np.ndarray]:
    """`complete_take` for several people seen by one camera, in one world frame (`cameras_to_world`): each
    lifted on their own, placed together. people: (joints2d (T, 33, 3), valid (T,)) per person, the same T;
    the first must have a valid frame (the world's origin is under them). with_camera: also return the (3, 3)
    rotation from camera axes to world_yup that everyone was turned by (not a take field: the hands, which
    come in camera axes, need it)."""
    from ..lifter import data as D

    cams, valids, ups = [], [], []
    for joints2d, valid in people:
        joints2d = np.asarray(joints2d, dtype=np.float32)
        valid = np.asarray(valid, dtype=bool)
        if joints2d.ndim != 3 or joints2d.shape[1:] != (33, 3) or valid.shape != joints2d.shape[:1]:
            raise BadInput(f"joints2d must be (T, 33, 3) with valid (T,), got {joints2d.shape} and {valid.shape}")
        if not valid.any():
            raise BadInput("no frame with a detected person: nothing to lift")
        if fps <= 0:
            raise BadInput(f"frame rate must be positive, got {fps}")
        T = joints2d.shape[0]
        pose, root, up = _lifter(weights).lift(D.normalise_pixels(joints2d, image_size), valid)
        cam = np.zeros((T, sk.J, 3))
        cam[:, D.LIFTER_JOINTS] = pose + root[:, None]
        cam[:, sk.INDEX["Root"]] = cam[:, sk.INDEX["Hips"]] - sk.REST_OFFSETS[sk.INDEX["Hips"]] * [1, -1, -1]
        cams.append(D.interpolate_gaps(cam.reshape(T, -1), valid).reshape(T, sk.J, 3).astype(np.float64))
        valids.append(valid)
        ups.append(up)
    worlds = cameras_to_world(cams, valids, None if any(u is None for u in ups) else ups)
    fields = [_solve(world, valid, fps) for world, valid in zip(worlds, valids)]
    if not with_camera:
        return fields
    # one camera for everyone: its turn, read back from all the people's joints
    camera_rotation = _fitted_rotation(np.concatenate([c[v].reshape(-1, 3) for c, v in zip(cams, valids)]),
                                       np.concatenate([w[v].reshape(-1, 3) for w, v in zip(worlds, valids)]))
    return fields, camera_rotation


def _solve(world: np.ndarray, valid: np.ndarray, fps: float) -> dict:
    """Rotations, forward kinematics and contacts of one person's world joints (T, 27, 3)."""
    rest = subject_rest_offsets(world[valid])
    rotations, _ = solve_rotations(world, rest)
    root_pos = world[:, sk.INDEX["Hips"]] - rest[sk.INDEX["Hips"]]
    joints3d, _ = forward_kinematics(rest, rotations, root_pos)
    contacts = foot_contacts(joints3d, fps)
    lift = ground_feet(joints3d, contacts, fps)
    joints3d[..., 1] += lift[:, None]
    return {
        "joint_names": list(sk.JOINT_NAMES),
        "parents": sk.PARENTS.copy(),
        "rest_offsets": rest.astype(np.float32),
        "joints3d": joints3d.astype(np.float32),
        "rotations": rotations.astype(np.float32),
        "contacts": contacts,
    }
