"""Graph Editor cleanup operators: Smooth, Reduce Keys, Fix Flips, Foot Lock (all undoable)."""

from __future__ import annotations

import bpy
import numpy as np

from ..blender_lib.cleanup import fcurves
from ..blender_lib.cleanup.foot_lock import foot_lock
from ..blender_lib.take.bake import scene_fps
from ..engine.errors import BadInput
from .common import reports_errors


def _groups(context: bpy.types.Context) -> list[fcurves.Group]:
    groups = fcurves.group_fcurves(fcurves.selected_fcurves(context))
    if not groups:
        raise BadInput("No animation curves to work on: select bones or channels with keys")
    return groups


class _CurveOperator:
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.active_object is not None


class MONOCAP_OT_smooth(_CurveOperator, bpy.types.Operator):
    """Smooth the selected curves without lag (zero-phase Butterworth) or with One-Euro; quaternion-safe"""

    bl_idname = "monocap.smooth"
    bl_label = "Smooth"

    method: bpy.props.EnumProperty(
        name="Method",
        items=[("BUTTERWORTH", "Butterworth", "Zero-phase low-pass with a cutoff frequency"),
               ("ONE_EURO", "One-Euro", "Adaptive: smooths slow motion, keeps fast motion sharp")],
        default="BUTTERWORTH")
    cutoff: bpy.props.FloatProperty(name="Cutoff (Hz)", default=6.0, min=0.1, max=60.0)
    min_cutoff: bpy.props.FloatProperty(name="Min Cutoff (Hz)", default=2.0, min=0.01, max=30.0)
    beta: bpy.props.FloatProperty(name="Beta", default=10.0, min=0.0, max=100.0,
                                 description="How fast the cutoff rises with speed (less lag when moving)")

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        n = fcurves.smooth(_groups(context), scene_fps(context.scene), self.method, self.cutoff,
                           self.min_cutoff, self.beta)
        self.report({"INFO"}, f"Smoothed {n} channel group(s)")
        return {"FINISHED"}


class MONOCAP_OT_reduce_keys(_CurveOperator, bpy.types.Operator):
    """Remove keys while the curves stay within the tolerance"""

    bl_idname = "monocap.reduce_keys"
    bl_label = "Reduce Keys"

    tolerance_deg: bpy.props.FloatProperty(name="Rotation (°)", default=0.5, min=0.001, max=45.0)
    tolerance_cm: bpy.props.FloatProperty(name="Location (cm)", default=0.5, min=0.001, max=100.0)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        before, after = fcurves.reduce(_groups(context), self.tolerance_deg, self.tolerance_cm)
        gone = before - after
        self.report({"INFO"}, f"Removed {gone} of {before} keys ({100.0 * gone / max(before, 1):.0f}%)")
        return {"FINISHED"}


class MONOCAP_OT_fix_flips(_CurveOperator, bpy.types.Operator):
    """Repair quaternion sign flips, sudden 180° twists and 360° Euler jumps"""

    bl_idname = "monocap.fix_flips"
    bl_label = "Fix Flips"

    max_step: bpy.props.FloatProperty(name="Twist Threshold (°)", default=100.0, min=30.0, max=179.0,
                                      description="A frame-to-frame turn larger than this is a twist")

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        n = fcurves.fix_flips(_groups(context), self.max_step)
        self.report({"INFO"}, f"Fixed {n} flip(s)" if n else "No flips found")
        return {"FINISHED"}


class MONOCAP_OT_foot_lock(_CurveOperator, bpy.types.Operator):
    """Hold each foot still while it touches the ground, correcting through the legs (IK) or the root"""

    bl_idname = "monocap.foot_lock"
    bl_label = "Foot Lock"

    mode: bpy.props.EnumProperty(
        name="Correct With",
        items=[("IK", "Legs (IK)", "Bend the legs so the feet stay"),
               ("ROOT", "Root", "Move the whole body")],
        default="IK")
    source: bpy.props.EnumProperty(
        name="Contacts",
        items=[("AUTO", "Auto", "From the take when it has them, else detected"),
               ("TAKE", "Take", "Contacts the capture found"),
               ("DETECT", "Detect", "From foot height and speed")],
        default="AUTO")
    blend: bpy.props.IntProperty(name="Blend Frames", default=4, min=0, max=30,
                                 description="Frames over which the hold eases in and out")

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            raise BadInput("Foot Lock works on an armature: make one active")
        scene = context.scene
        frames = np.arange(scene.frame_start, scene.frame_end + 1, dtype=np.float64)
        counts = foot_lock(obj, frames, scene_fps(scene), self.mode, self.source, self.blend)
        self.report({"INFO"}, "Foot lock: " + ", ".join(f"{s} {n} contact frames" for s, n in counts.items()))
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_smooth, MONOCAP_OT_reduce_keys, MONOCAP_OT_fix_flips, MONOCAP_OT_foot_lock]
