"""Bake a take lifted again onto the armature it was baked on before, leaving the user's other keys alone:
only the take's own channels (each joint's rotation, the root's location) are rewritten, and on those only
the take's frames; every other F-curve of the action, and keys outside the take's frames, stay as they were.
The armature's rest pose follows the new lift's bone lengths (`armature.update_rest`)."""

from __future__ import annotations

import bpy
import numpy as np

from ...engine.errors import BadInput
from ...engine.filters import quat_continuity
from ..actions import compat
from ..actions.keyframes import read_keys, write_keys
from ..cleanup import fcurves
from ..cleanup.foot_lock import foot_lock
from ..take.armature import YUP_TO_ZUP, rest_matrices, update_rest
from ..take.bake import (bone_basis_quaternions, check_take, clean_fps, prepare_motion, scene_fps, set_scene_fps,
                         store_take_range)
from ..take.apply import video_offset


def replace_span(fc: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """The curve's keys within frames[0]..frames[-1] replaced by (frames, values); keys outside kept."""
    old_f, old_v = read_keys(fc)
    keep = (old_f < frames[0] - 0.5) | (old_f > frames[-1] + 0.5)
    f = np.concatenate([old_f[keep], frames])
    v = np.concatenate([old_v[keep], values])
    order = np.argsort(f, kind="stable")
    write_keys(fc, f[order], v[order])


def rebake(context: bpy.types.Context, obj: bpy.types.Object, take: dict, settings) -> list[bpy.types.FCurve]:
    """Key the take on `obj` (a Monocap armature that has the take's joints) in its current action, as
    `bake.bake_take` would place them, then smooth and lock the feet per `settings` on those curves only.
    Returns the F-curves written."""
    check_take(take)
    names = list(take["joint_names"])
    missing = [n for n in names if n not in obj.data.bones]
    if missing:
        raise BadInput(f"{obj.name} is not a Monocap armature (no bone {missing[0]}): Lift Again re-bakes the "
                       f"armatures Import Take made")
    scene = context.scene
    if obj.mode != "OBJECT" and context.view_layer.objects.active == obj:
        bpy.ops.object.mode_set(mode="OBJECT")
    # the bones as long as this lift measured them, or the pose would not reach the take's joints
    update_rest(context, obj, names, np.asarray(take["parents"]), np.asarray(take["rest_offsets"]))
    if settings.fps_mode == "SCENE":
        set_scene_fps(scene, float(take["fps"]))
        motion = prepare_motion(take, None, settings.root_motion)
    else:
        motion = prepare_motion(take, clean_fps(scene_fps(scene)), settings.root_motion)
    frame_start = 1 + video_offset(context, take, settings.fps_mode)
    rot, root = motion["rotations"], motion["root"]
    n = len(rot)
    frames = frame_start + np.arange(n, dtype=np.float64)
    rests, heads = rest_matrices(obj, names)
    chans = compat.channels(obj, create=True)
    parents = np.asarray(take["parents"])
    written = []
    for j, name in enumerate(names):
        obj.pose.bones[name].rotation_mode = "QUATERNION"
        q = quat_continuity(bone_basis_quaternions(rot[:, j], rests[j]))
        for c in range(4):
            written.append(chans.ensure(f'pose.bones["{name}"].rotation_quaternion', c, name))
            replace_span(written[-1], frames, q[:, c])
        if parents[j] < 0:
            loc = (root @ YUP_TO_ZUP.T - heads[j]) @ rests[j]
            for c in range(3):
                written.append(chans.ensure(f'pose.bones["{name}"].location', c, name))
                replace_span(written[-1], frames, loc[:, c])
    store_take_range(obj, scene, motion["contacts"], frame_start, n)
    if settings.smoothing:
        fcurves.smooth(fcurves.group_fcurves((obj, fc) for fc in written), scene_fps(scene), "BUTTERWORTH",
                       settings.cutoff)
    if settings.foot_lock:
        foot_lock(obj, frames, scene_fps(scene), "IK" if settings.root_motion else "ROOT")
    return written
