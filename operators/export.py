"""BVH and FBX export of the active armature's animation, wrapping Blender's own exporters with presets."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import addon_utils
import bpy
from bpy_extras.io_utils import ExportHelper

from ..engine.errors import BadInput
from ..engine.fileio import check_output, commit, discard, temporary_beside
from .common import reports_errors

# name -> (label, exporter keywords); the rest of the settings are in _FBX_COMMON.
FBX_PRESETS: dict[str, tuple[str, dict]] = {
    "UNITY": ("Unity", {"axis_forward": "-Z", "axis_up": "Y", "apply_scale_options": "FBX_SCALE_ALL"}),
    "UNREAL": ("Unreal Engine", {"axis_forward": "-Z", "axis_up": "Y",
                                 "apply_scale_options": "FBX_SCALE_NONE"}),
    "MAYA": ("Maya / MotionBuilder (Y up, cm)", {"axis_forward": "Z", "axis_up": "Y",
                                                 "apply_scale_options": "FBX_SCALE_UNITS"}),
    "BLENDER": ("Blender (Z up)", {"axis_forward": "-Y", "axis_up": "Z",
                                   "apply_scale_options": "FBX_SCALE_NONE"}),
}
_FBX_COMMON = {
    "use_selection": True, "object_types": {"ARMATURE"}, "add_leaf_bones": False, "bake_anim": True,
    "bake_anim_use_all_actions": False, "bake_anim_use_nla_strips": False,
    "bake_anim_force_startend_keying": True, "bake_anim_simplify_factor": 0.0,
    "use_armature_deform_only": False, "primary_bone_axis": "Y", "secondary_bone_axis": "X",
}
BVH_PRESETS: dict[str, tuple[str, dict]] = {
    "METRES": ("Metres, native rotation order", {"global_scale": 1.0, "rotate_mode": "NATIVE"}),
    "CENTIMETRES_ZXY": ("Centimetres, ZXY (mocap tools)", {"global_scale": 100.0, "rotate_mode": "ZXY"}),
}


def _ensure_addon(module: str) -> None:
    """Blender's exporters are bundled add-ons; enable them if the user has not."""
    if not addon_utils.check(module)[1]:
        addon_utils.enable(module, default_set=True)


def _armature(context: bpy.types.Context) -> bpy.types.Object:
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise BadInput("Select the armature to export (make it the active object)")
    if obj.animation_data is None or obj.animation_data.action is None:
        raise BadInput(f"{obj.name} has no animation to export: capture or import a take first")
    return obj


@contextlib.contextmanager
def only_selected(context: bpy.types.Context, obj: bpy.types.Object) -> Iterator[None]:
    """Select just `obj` for the exporter, then give the user's selection back."""
    before = [o for o in context.view_layer.objects if o.select_get()]
    active = context.view_layer.objects.active
    mode = obj.mode
    if mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    for o in before:
        o.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    try:
        yield
    finally:
        obj.select_set(False)
        for o in before:
            o.select_set(True)
        context.view_layer.objects.active = active
        if mode != "OBJECT":
            bpy.ops.object.mode_set(mode=mode)


def export_atomically(context: bpy.types.Context, obj: bpy.types.Object, filepath: str, kind: str,
                      exporter: Callable[[str], set[str]]) -> None:
    """Run Blender's `exporter(path)` for `obj` alone, atomically: the target is checked first (a folder, a
    read-only file or an unwritable folder is a BadInput before any work), the exporter writes a temporary
    file beside it, and only a finished export takes the target's name. A failure inside Blender's exporter
    (bpy.ops raises it as RuntimeError with its traceback) is one line; the user's file is left as it was."""
    target = check_output(filepath, f"{kind} file")
    tmp = temporary_beside(target, suffix=".tmp" + target.suffix)
    try:
        with only_selected(context, obj):
            result = exporter(str(tmp))
    except RuntimeError as exc:
        discard(tmp)
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Location:")]
        raise BadInput(f"{kind} export of {obj.name} failed: {lines[-1] if lines else 'no reason given'}") from None
    except BaseException:
        discard(tmp)
        raise
    if "FINISHED" not in result:
        discard(tmp)
        raise BadInput(f"{kind} export of {obj.name} failed")
    commit(tmp, target)


class MONOCAP_OT_export_bvh(bpy.types.Operator, ExportHelper):
    """Export the active armature's animation as BVH (scene frame range, Blender's BVH exporter)"""

    bl_idname = "monocap.export_bvh"
    bl_label = "Export BVH"
    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".bvh"
    filter_glob: bpy.props.StringProperty(default="*.bvh", options={"HIDDEN"})
    preset: bpy.props.EnumProperty(name="Preset", items=[(k, v[0], "") for k, v in BVH_PRESETS.items()],
                                   default="METRES")

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _armature(context)
        _ensure_addon("io_anim_bvh")
        scene = context.scene
        export_atomically(context, obj, self.filepath, "BVH", lambda path: bpy.ops.export_anim.bvh(
            filepath=path, frame_start=scene.frame_start, frame_end=scene.frame_end, root_transform_only=True,
            **BVH_PRESETS[self.preset][1]))
        self.report({"INFO"}, f"Exported {obj.name} to {self.filepath}")
        return {"FINISHED"}


class MONOCAP_OT_export_fbx(bpy.types.Operator, ExportHelper):
    """Export the active armature with its baked animation as FBX (Blender's FBX exporter)"""

    bl_idname = "monocap.export_fbx"
    bl_label = "Export FBX"
    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".fbx"
    filter_glob: bpy.props.StringProperty(default="*.fbx", options={"HIDDEN"})
    preset: bpy.props.EnumProperty(name="Target", items=[(k, v[0], "") for k, v in FBX_PRESETS.items()],
                                   default="UNITY")

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _armature(context)
        _ensure_addon("io_scene_fbx")
        options = {**_FBX_COMMON, **FBX_PRESETS[self.preset][1]}
        export_atomically(context, obj, self.filepath, "FBX",
                          lambda path: bpy.ops.export_scene.fbx(filepath=path, **options))
        self.report({"INFO"}, f"Exported {obj.name} to {self.filepath}")
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_export_bvh, MONOCAP_OT_export_fbx]
