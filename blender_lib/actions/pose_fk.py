"""Forward kinematics of an armature's animation in numpy: sample the pose curves, chain the bones."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Euler, Matrix

from ...engine.filters import matrix_to_quat, quat_continuity, quat_to_matrix
from . import compat
from .keyframes import evaluate, write_keys


def _curve_values(chans: compat.Channels | None, path: str, size: int, default,
                  frames: np.ndarray) -> np.ndarray:
    out = np.tile(np.asarray(default, dtype=np.float64), (len(frames), 1))
    if chans is None:
        return out
    for i in range(size):
        fc = chans.find(path, i)
        if fc is not None and len(fc.keyframe_points):
            out[:, i] = evaluate(fc, frames)
    return out


def basis_rotations(obj: bpy.types.Object, bone: str, frames: np.ndarray) -> np.ndarray:
    """(T, 3, 3) pose-bone rotations (in the bone's rest frame) from the curves, any rotation mode."""
    pb = obj.pose.bones[bone]
    chans = compat.channels(obj)
    base = f'pose.bones["{bone}"].'
    if pb.rotation_mode == "QUATERNION":
        quat = _curve_values(chans, base + "rotation_quaternion", 4, pb.rotation_quaternion, frames)
        return quat_to_matrix(quat)
    if pb.rotation_mode == "AXIS_ANGLE":
        aa = _curve_values(chans, base + "rotation_axis_angle", 4, pb.rotation_axis_angle, frames)
        return np.array([np.array(Matrix.Rotation(a[0], 3, a[1:])) for a in aa])
    eul = _curve_values(chans, base + "rotation_euler", 3, pb.rotation_euler, frames)
    return np.array([np.array(Euler(e, pb.rotation_mode).to_matrix()) for e in eul])


def pose_matrices(obj: bpy.types.Object, bones: list[str], frames: np.ndarray) -> dict[str, np.ndarray]:
    """Armature-space posed matrices (T, 4, 4) of `bones` and all their ancestors (scale ignored)."""
    need: list[bpy.types.Bone] = []
    for name in bones:
        b = obj.data.bones[name]
        chain = []
        while b is not None and b not in need:
            chain.append(b)
            b = b.parent
        need.extend(reversed(chain))
    chans = compat.channels(obj)
    out: dict[str, np.ndarray] = {}
    n = len(frames)
    for b in need:
        rest = np.array(b.matrix_local)
        basis = np.tile(np.eye(4), (n, 1, 1))
        basis[:, :3, :3] = basis_rotations(obj, b.name, frames)
        basis[:, :3, 3] = _curve_values(chans, f'pose.bones["{b.name}"].location', 3,
                                        obj.pose.bones[b.name].location, frames)
        if b.parent is None:
            out[b.name] = rest @ basis
        else:
            out[b.name] = out[b.parent.name] @ (np.linalg.inv(np.array(b.parent.matrix_local)) @ rest) @ basis
    return out


def write_rotations(obj: bpy.types.Object, bone: str, frames: np.ndarray, basis: np.ndarray) -> None:
    """Key (T, 3, 3) basis rotations on `bone` on every frame, in the bone's own rotation mode."""
    pb = obj.pose.bones[bone]
    chans = compat.channels(obj, create=True)
    base = f'pose.bones["{bone}"].'
    if pb.rotation_mode == "QUATERNION":
        vals, path = quat_continuity(matrix_to_quat(basis)), base + "rotation_quaternion"
    elif pb.rotation_mode == "AXIS_ANGLE":
        vals, path = [], base + "rotation_axis_angle"
        for m in basis:
            axis, angle = Matrix(m.tolist()).to_quaternion().to_axis_angle()
            vals.append([angle, *axis])
        vals = np.array(vals)
    else:
        vals, path, prev = [], base + "rotation_euler", None
        for m in basis:
            e = Matrix(m.tolist()).to_euler(pb.rotation_mode, prev) if prev else \
                Matrix(m.tolist()).to_euler(pb.rotation_mode)
            vals.append(tuple(e))
            prev = e
        vals = np.array(vals)
    for c in range(vals.shape[1]):
        write_keys(chans.ensure(path, c, bone), frames, vals[:, c])


def write_locations(obj: bpy.types.Object, bone: str, frames: np.ndarray, loc: np.ndarray) -> None:
    chans = compat.channels(obj, create=True)
    path = f'pose.bones["{bone}"].location'
    for c in range(3):
        write_keys(chans.ensure(path, c, bone), frames, loc[:, c])
