"""MMD operators: import a PMX skeleton, import/export VMD motions on it, retarget a take onto it.

Thin: files are read and everything is checked before the scene changes, so an error (a truncated file, a
name VMD cannot store, an armature without the expected bones) is a one-line report and nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..blender_lib.mmd.armature import DEFAULT_SCALE, armature_scale, build_pmx_armature, model_from_armature
from ..blender_lib.mmd.vmd_action import apply_vmd, armature_to_vmd
from ..engine.errors import BadInput
from ..engine.formats.pmx import read_pmx
from ..engine.formats.vmd import read_vmd, write_vmd
from .common import TakeFiles, reports_errors


def _active_armature(context: bpy.types.Context) -> bpy.types.Object:
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise BadInput("Select an MMD armature (import a PMX skeleton first) and make it active")
    return obj


@contextlib.contextmanager
def _object_mode(context: bpy.types.Context) -> Iterator[None]:
    """Object mode for the block; if the block fails, the active object goes back to the mode it was in."""
    obj = context.active_object
    mode = obj.mode if obj is not None else "OBJECT"
    if mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    try:
        yield
    except BaseException:
        if mode != "OBJECT" and context.view_layer.objects.active == obj and obj.mode != mode:
            bpy.ops.object.mode_set(mode=mode)
        raise


def _update_scene(context: bpy.types.Context, action: bpy.types.Action) -> None:
    """MMD plays 30 frames per second: set the scene to that and its frame range to the action's."""
    scene = context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    start, end = (int(round(x)) for x in action.frame_range)
    scene.frame_start, scene.frame_end = start, max(end, start + 1)


_UPDATE_SCENE = {"name": "Update Scene", "default": True,
                 "description": "Set the scene to 30 fps (MMD's rate) and its frame range to the motion's"}


def _report_warnings(op: bpy.types.Operator, warnings: list[str]) -> None:
    for w in warnings:
        op.report({"WARNING"}, w)


class MONOCAP_OT_import_pmx_skeleton(bpy.types.Operator, ImportHelper):
    """Import the bones of a PMX model as an armature (Japanese bone names, leg IK constraints)"""

    bl_idname = "monocap.import_pmx_skeleton"
    bl_label = "Import PMX Skeleton"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".pmx"
    filter_glob: bpy.props.StringProperty(default="*.pmx", options={"HIDDEN"})
    scale: bpy.props.FloatProperty(name="Scale", description="Metres per MMD unit", default=DEFAULT_SCALE,
                                   min=1e-4, soft_max=1.0)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        model = read_pmx(self.filepath)
        with _object_mode(context):
            obj = build_pmx_armature(context, model, model.name or Path(self.filepath).stem, self.scale)
        self.report({"INFO"}, f"Imported {len(model.bones)} bones of {model.name or obj.name}")
        return {"FINISHED"}


class MONOCAP_OT_import_vmd(bpy.types.Operator, ImportHelper):
    """Import a VMD motion onto the active MMD armature as a new action"""

    bl_idname = "monocap.import_vmd"
    bl_label = "Import VMD"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".vmd"
    filter_glob: bpy.props.StringProperty(default="*.vmd", options={"HIDDEN"})
    scale: bpy.props.FloatProperty(name="Scale", description="Metres per MMD unit (0: the armature's own)",
                                   default=0.0, min=0.0, soft_max=1.0)
    frame_offset: bpy.props.IntProperty(name="Frame Offset", description="Added to every key's frame",
                                        default=0)
    update_scene: bpy.props.BoolProperty(**_UPDATE_SCENE)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _active_armature(context)
        motion = read_vmd(self.filepath)
        scale = self.scale or armature_scale(obj)
        with _object_mode(context):
            action, warnings = apply_vmd(obj, motion, scale, self.frame_offset, Path(self.filepath).stem)
        if self.update_scene:
            _update_scene(context, action)
        _report_warnings(self, warnings)
        self.report({"INFO"}, f"Imported {len(motion.bone_keys)} bone keys onto {obj.name} as {action.name}")
        return {"FINISHED"}


class MONOCAP_OT_export_vmd(bpy.types.Operator, ExportHelper):
    """Export the active MMD armature's action as a VMD motion"""

    bl_idname = "monocap.export_vmd"
    bl_label = "Export VMD"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".vmd"
    filter_glob: bpy.props.StringProperty(default="*.vmd", options={"HIDDEN"})
    scale: bpy.props.FloatProperty(name="Scale", description="MMD units per metre (0: the armature's own)",
                                   default=0.0, min=0.0)
    frame_offset: bpy.props.IntProperty(name="Frame Offset",
                                        description="Subtracted from every key's frame (keys before it are left out)",
                                        default=0)

    every_selected: bpy.props.BoolProperty(
        name="Every Selected Armature", default=False,
        description="One VMD per selected armature (the people of one capture), FILE_<armature name>.vmd")

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..engine.fileio import check_output, staged_outputs

        objs = [_active_armature(context)]
        if self.every_selected:
            objs = sorted((o for o in context.selected_objects if o.type == "ARMATURE"), key=lambda o: o.name)
            objs = objs or [_active_armature(context)]
        path = Path(self.filepath)
        targets = [path] if len(objs) == 1 else [path.with_name(f"{path.stem}_{o.name}{path.suffix}") for o in objs]
        for target in targets:
            check_output(target, "VMD")
        # every motion made before anything is written; then all files, or none
        made = [armature_to_vmd(o, self.scale or 1.0 / armature_scale(o), self.frame_offset) for o in objs]
        with staged_outputs():
            for target, (motion, _) in zip(targets, made):
                write_vmd(target, motion)
        for obj, target, (motion, warnings) in zip(objs, targets, made):
            _report_warnings(self, warnings)
            self.report({"INFO"}, f"Exported {len(motion.bone_keys)} bone keys of {obj.name} to {target}")
        return {"FINISHED"}


class MONOCAP_OT_retarget_take_mmd(bpy.types.Operator, TakeFiles):
    """Retarget a Monocap take onto the active MMD armature (keys its bones as a VMD import would). Several
    takes (the people of one capture, TAKE_p0.npz ...) go onto as many selected MMD armatures in one step:
    in person order onto the armatures in name order"""

    bl_idname = "monocap.retarget_take_mmd"
    # Short: the file browser's confirm button shows it (the longer name was cut off there); the sidebar
    # button says "Retarget Take to MMD Rig".
    bl_label = "Retarget to MMD"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    leg_mode: bpy.props.EnumProperty(
        name="Legs", default="auto",
        items=[("auto", "Auto", "Leg IK when the rig has 足ＩＫ, else rotations"),
               ("ik", "IK", "Key 足ＩＫ/つま先ＩＫ so the feet land where the take put them"),
               ("fk", "FK", "Key the leg bones' rotations (leg IK switched off)")])
    frame_offset: bpy.props.IntProperty(name="Frame Offset", description="Added to every key's frame",
                                        default=0)
    update_scene: bpy.props.BoolProperty(**_UPDATE_SCENE)

    def _pairs(self, context: bpy.types.Context) -> list[tuple[str, dict, bpy.types.Object]]:
        """(path, take, MMD armature) for each take chosen; BadInput if they cannot be paired."""
        from ..engine.take import read_take

        paths = self.take_paths()
        if len(paths) == 1:
            return [(paths[0], read_take(paths[0]), _active_armature(context))]
        takes = sorted(((int(t.get("person", i)), p, t) for i, (p, t) in
                        enumerate((p, read_take(p)) for p in paths)), key=lambda x: x[0])
        rigs = sorted((o for o in context.selected_objects if o.type == "ARMATURE"
                       and not o.get("monocap_skeleton")), key=lambda o: o.name)
        if len(rigs) != len(takes):
            raise BadInput(f"{len(takes)} takes need as many selected MMD armatures, one per person "
                           f"({len(rigs)} selected): import the PMX skeleton once per person and select them all")
        return [(p, t, o) for (_, p, t), o in zip(takes, rigs)]

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..engine.rig.retarget import retarget_to_vmd

        made = []  # every motion made before any armature is keyed
        for path, take, obj in self._pairs(context):
            motion, warnings = retarget_to_vmd(take, model_from_armature(obj), self.leg_mode)
            if not len(motion.bone_keys):
                raise BadInput(f"{obj.name} has none of the MMD bones the retarget keys (センター, 上半身, 腕...)")
            made.append((path, obj, motion, warnings))
        active = context.view_layer.objects.active
        for path, obj, motion, warnings in made:
            context.view_layer.objects.active = obj
            with _object_mode(context):
                action, more = apply_vmd(obj, motion, armature_scale(obj), self.frame_offset, Path(path).stem)
            if self.update_scene:
                _update_scene(context, action)
            _report_warnings(self, warnings + more)
            self.report({"INFO"}, f"Retargeted {Path(path).name} onto {obj.name} ({action.name})")
        context.view_layer.objects.active = active
        return {"FINISHED"}


classes = (MONOCAP_OT_import_pmx_skeleton, MONOCAP_OT_import_vmd, MONOCAP_OT_export_vmd,
           MONOCAP_OT_retarget_take_mmd)
CLASSES = list(classes)
