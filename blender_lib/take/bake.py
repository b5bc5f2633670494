"""Bake a take's rotations and root trajectory onto the canonical Monocap armature as keyframes."""

from __future__ import annotations

import bpy
import numpy as np

from ...engine.errors import BadInput
from ...engine.filters import quat_continuity, quat_normalize, resample_positions, resample_quaternions
from ..actions import compat
from ..actions.keyframes import write_keys
from .armature import YUP_TO_ZUP, rest_matrices

CONTACTS_KEY = "monocap_contacts"  # custom property: flattened (T, 4) contacts, one per baked frame
FIRST_FRAME_KEY = "monocap_first_frame"


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def clean_fps(fps: float) -> float:
    """30.00003 (a frame time written as 0.0333333 s) is 30; 29.97 (NTSC) stays as it is."""
    whole = round(fps)
    return float(whole) if whole > 0 and abs(fps - whole) < 1e-3 else float(fps)


def set_scene_fps(scene: bpy.types.Scene, fps: float) -> None:
    """Scene frame rate = `fps` exactly, also for 29.97-style rates (fps / fps_base)."""
    fps = clean_fps(fps)
    whole = max(1, round(fps))
    scene.render.fps = whole
    scene.render.fps_base = whole / fps


def check_take(take: dict) -> None:
    """A take must carry the 3D solve to be baked."""
    needed = ("joint_names", "parents", "rest_offsets", "rotations", "joints3d")
    missing = [k for k in needed if k not in take]
    if missing:
        raise BadInput(f"the take has no 3D motion ({', '.join(missing)} missing): "
                       "re-run the capture with lifting")


def prepare_motion(take: dict, fps_out: float | None, root_motion: bool) -> dict:
    """Rotations (T, J, 4), root (T, 3) world_yup and contacts (T, 4), resampled to `fps_out` if given."""
    fps = clean_fps(float(take["fps"]))
    rot = quat_normalize(quat_continuity(np.asarray(take["rotations"], dtype=np.float64)))
    root = np.asarray(take["joints3d"], dtype=np.float64)[:, 0].copy()
    contacts = np.asarray(take.get("contacts", np.zeros((len(rot), 4))), dtype=np.float64)
    if fps_out is not None and abs(fps_out - fps) > 1e-6:
        rot = resample_quaternions(rot, fps, fps_out)
        root = resample_positions(root, fps, fps_out)
        contacts = resample_positions(contacts, fps, fps_out) > 0.5
        fps = fps_out
    if not root_motion:
        # In place: the horizontal travel goes, the height stays so jumps and crouches still read.
        root[:, 0] = root[0, 0]
        root[:, 2] = root[0, 2]
    return {"rotations": rot, "root": root, "contacts": contacts.astype(bool), "fps": fps}


def bone_basis_quaternions(local_rot: np.ndarray, bone_rest: np.ndarray, space: np.ndarray = YUP_TO_ZUP
                           ) -> np.ndarray:
    """Pose-bone quaternions for a bone whose rest orientation is `bone_rest` (3, 3, armature space).

    A take's local rotation Q (identity-rest, world_yup) becomes B^T C Q C^T B in the bone's frame;
    conjugating by a rotation A = B^T C turns the vector part by A and keeps w.
    """
    a = bone_rest.T @ space
    out = local_rot.copy()
    out[..., 1:] = local_rot[..., 1:] @ a.T
    return out


def bake_take(context: bpy.types.Context, obj: bpy.types.Object, take: dict, frame_start: int,
              fps_mode: str = "SCENE", root_motion: bool = True, action_name: str = "MonocapTake"
              ) -> bpy.types.Action:
    """Key every joint's rotation and the root's location on `obj` (built by build_armature).

    fps_mode 'SCENE' sets the scene frame rate to the take's, 'RESAMPLE' resamples to the scene's.
    One new action is created and assigned; keys run from `frame_start`, one per (resampled) frame.
    """
    check_take(take)
    scene = context.scene
    names = list(take["joint_names"])
    missing = [n for n in names if n not in obj.data.bones]
    if missing:
        raise BadInput(f"{obj.name} is not a Monocap armature (no bone {missing[0]})")
    if fps_mode == "SCENE":
        set_scene_fps(scene, float(take["fps"]))
        motion = prepare_motion(take, None, root_motion)
    else:
        motion = prepare_motion(take, clean_fps(scene_fps(scene)), root_motion)
    rot, root = motion["rotations"], motion["root"]
    n = len(rot)
    frames = frame_start + np.arange(n, dtype=np.float64)
    rests, heads = rest_matrices(obj, names)

    action = compat.new_action(obj, action_name)
    chans = compat.channels(obj, create=True)
    parents = np.asarray(take["parents"])
    for j, name in enumerate(names):
        obj.pose.bones[name].rotation_mode = "QUATERNION"
        q = quat_continuity(bone_basis_quaternions(rot[:, j], rests[j]))
        path = f'pose.bones["{name}"].rotation_quaternion'
        for c in range(4):
            write_keys(chans.new(path, c, name), frames, q[:, c])
        if parents[j] < 0:
            # Root head goes to the trajectory point: location is in the bone's rest frame.
            loc = (root @ YUP_TO_ZUP.T - heads[j]) @ rests[j]
            path = f'pose.bones["{name}"].location'
            for c in range(3):
                write_keys(chans.new(path, c, name), frames, loc[:, c])
    store_take_range(obj, scene, motion["contacts"], frame_start, n)
    return action


def store_take_range(obj: bpy.types.Object, scene: bpy.types.Scene, contacts: np.ndarray, frame_start: int,
                     n: int) -> None:
    """After a bake of n frames: the take's contacts (T, 4) and first frame on the object (`stored_contacts` reads
    them back), and the scene's frame range set to the baked frames."""
    obj[CONTACTS_KEY] = contacts.astype(np.int32).ravel().tolist()
    obj[FIRST_FRAME_KEY] = int(frame_start)
    scene.frame_start = int(frame_start)
    scene.frame_end = int(frame_start + n - 1)


def stored_contacts(obj: bpy.types.Object) -> tuple[np.ndarray, int] | None:
    """(contacts (T, 4) bool, first frame) saved by the last bake, or None."""
    if CONTACTS_KEY not in obj or FIRST_FRAME_KEY not in obj:
        return None
    flat = np.asarray(obj[CONTACTS_KEY], dtype=bool)
    if flat.size % 4:
        return None
    return flat.reshape(-1, 4), int(obj[FIRST_FRAME_KEY])
