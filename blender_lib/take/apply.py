"""Put a take into the scene the way the sidebar's options say: a new Monocap armature or the selected
armature, then optional smoothing and foot lock. Used by Capture and Import Take alike."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import bpy
import numpy as np

from ...engine.errors import BadInput
from ..actions import compat
from ..cleanup import fcurves
from ..cleanup.foot_lock import foot_lock
from .armature import build_armature
from .bake import bake_take, check_take, scene_fps
from .retarget import retarget_take


def target_armature(context: bpy.types.Context, target: str) -> bpy.types.Object | None:
    """None for a new armature; the active armature for 'SELECTED' (BadInput if there is none)."""
    if target == "NEW":
        return None
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise BadInput("Target is 'Selected Armature' but no armature is active: select one, or choose "
                       "'New Armature'")
    return obj


def apply_take(context: bpy.types.Context, take: dict, settings, name: str = "Take") -> str:
    """Bake `take` per `settings` (the scene's Monocap settings). Returns a one-line summary.

    Raises BadInput before touching the scene when the take or the target cannot be used.
    """
    return apply_takes(context, [(take, name)], settings)


def apply_takes(context: bpy.types.Context, takes: list[tuple[dict, str]], settings) -> str:
    """Bake (take, name) pairs per `settings`: one take as `apply_take`; several (the people of one capture)
    each on a new armature named after the person (`armature_name`), where the takes put them: a capture of
    several people gives them one world frame, so the armatures keep the people's spacing. All takes are
    checked before the scene is touched, and a failure in any leaves the scene as it was."""
    for take, _ in takes:
        check_take(take)
    if len(takes) > 1 and settings.target != "NEW":
        raise BadInput("several takes go onto new armatures, one per person: choose 'New Monocap armature'")
    target = target_armature(context, settings.target)
    with SceneGuard(context, target):
        return "; ".join(apply_one(context, take, settings, name, target) for take, name in takes)


def armature_name(take: dict) -> str:
    """'Monocap', or 'Monocap_pN' for person N of a capture of several people (a take with `people`)."""
    if "people" in take and "person" in take:
        return f"Monocap_p{int(take['person'])}"
    return "Monocap"


def apply_one(context: bpy.types.Context, take: dict, settings, name: str,
              target: bpy.types.Object | None) -> str:
    """Bake one checked take onto `target`, or onto a new armature when it is None; smoothing and foot lock
    per `settings`. No SceneGuard here: the caller holds one. Returns the summary line."""
    fps_mode = settings.fps_mode
    # Frame 1 shows video frame 0, as a movie clip placed at the scene's default start does.
    frame_start = 1 + video_offset(context, take, fps_mode)
    action_name = f"{name}_monocap"
    if target is None:
        obj = build_armature(context, armature_name(take), list(take["joint_names"]), np.asarray(take["parents"]),
                             np.asarray(take["rest_offsets"]))
        bake_take(context, obj, take, frame_start, fps_mode, settings.root_motion, action_name)
        summary = f"{name}: {len(take['rotations'])} frames on new armature {obj.name}"
    else:
        obj = target
        if obj.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        _, mapping, unmatched, conv = retarget_take(context, obj, take, frame_start, fps_mode,
                                                    settings.root_motion, action_name)
        summary = f"{name}: {len(mapping)} bones of {obj.name} matched ({conv} names)"
        if unmatched:
            summary += f"; not matched: {', '.join(unmatched)}"
    frames = np.arange(context.scene.frame_start, context.scene.frame_end + 1, dtype=np.float64)
    if settings.smoothing:
        groups = fcurves.group_fcurves((obj, fc) for fc in compat.channels(obj))
        fcurves.smooth(groups, scene_fps(context.scene), "BUTTERWORTH", settings.cutoff)
    if settings.foot_lock:
        foot_lock(obj, frames, scene_fps(context.scene), "IK" if settings.root_motion else "ROOT")
    return summary


def video_offset(context: bpy.types.Context, take: dict, fps_mode: str) -> int:
    """Scene frames from the video's first frame to the take's, so a capture of video frames 120-300
    lands where a movie clip of the video starting on frame 1 shows them."""
    first = int(take.get("first_frame", 0))
    if fps_mode == "RESAMPLE":
        return round(first * scene_fps(context.scene) / float(take["fps"]))
    return first


def take_name(path: str) -> str:
    return Path(path).stem


class SceneGuard:
    """Undo by hand what a failed bake did: new objects, armatures and actions go, the frame rate, frame
    range and the target's action, custom properties and mode come back. Used as `with SceneGuard(context):`."""

    def __init__(self, context: bpy.types.Context, target: bpy.types.Object | None = None) -> None:
        self.context = context
        self.target = target

    def __enter__(self) -> Self:
        scene = self.context.scene
        self.ids = {c: set(getattr(bpy.data, c)[:]) for c in ("objects", "armatures", "actions")}
        self.render = (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end)
        anim = self.target.animation_data if self.target else None
        self.action = anim.action if anim else None
        self.slot = anim.action_slot if anim and compat.LAYERED else None
        self.target_props = {k: self.target[k] for k in self.target.keys()} if self.target else {}  # noqa: SIM118
        self.mode = self.target.mode if self.target else "OBJECT"
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            return False
        for coll in ("objects", "actions", "armatures"):
            data = getattr(bpy.data, coll)
            for item in [i for i in data if i not in self.ids[coll]]:
                data.remove(item)
        scene = self.context.scene
        scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = self.render
        if self.target is not None:
            if self.target.animation_data:
                self.target.animation_data.action = self.action
                if self.slot is not None:
                    self.target.animation_data.action_slot = self.slot
            for k in list(self.target.keys()):
                if k not in self.target_props:
                    del self.target[k]
            for k, v in self.target_props.items():
                self.target[k] = v
            # The bake switched the target to Object mode: give it back the mode it was in.
            if self.target.mode != self.mode and self.context.view_layer.objects.active == self.target:
                bpy.ops.object.mode_set(mode=self.mode)
        return False
