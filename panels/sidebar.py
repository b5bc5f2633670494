"""3D View sidebar tab "Monocap": video, range, person, options, target, Capture; import and export."""

from __future__ import annotations

import bpy


def _progress(layout: bpy.types.UILayout, factor: float, text: str) -> None:
    """A progress bar where Blender has one (4.0+), else the text."""
    if hasattr(layout, "progress"):
        layout.progress(factor=factor, type="BAR", text=text)
    else:
        layout.label(text=f"{text} ({factor:.0%})")


class _Sidebar:
    """Where the Monocap panels sit: the 3D View's sidebar (N), tab "Monocap" (Blender reads these from
    mixins as it does in its own UI scripts)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Monocap"


class MONOCAP_PT_capture(_Sidebar, bpy.types.Panel):
    bl_label = "Capture"
    bl_idname = "MONOCAP_PT_capture"

    def draw(self, context: bpy.types.Context) -> None:
        s = context.scene.monocap
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        # The whole width for the path (split, it showed a dozen characters at the default sidebar width).
        col = layout.column(align=True)
        col.use_property_split = False
        col.label(text="Video")
        col.prop(s, "video", text="")
        col = layout.column(heading="Range")
        col.prop(s, "use_range", text="Part of the Video")
        sub = col.column(align=True)
        sub.active = s.use_range
        sub.prop(s, "video_start")
        sub.prop(s, "video_end")
        col = layout.column(heading="Person")
        col.prop(s, "person_auto", text="Auto")
        row = col.row()
        row.active = not s.person_auto
        row.prop(s, "person", text="Track")
        col = layout.column(heading="Options")
        col.prop(s, "smoothing")
        sub = col.column()
        sub.active = s.smoothing
        sub.prop(s, "cutoff", text="Cutoff Hz")
        col.prop(s, "foot_lock")
        col.prop(s, "root_motion")
        layout.prop(s, "target")
        layout.prop(s, "fps_mode")
        if s.running:
            _progress(layout, s.progress, s.status or "Capturing")
            layout.label(text="Esc cancels", icon="INFO")
        else:
            layout.operator("monocap.capture", icon="REC")
        layout.operator("monocap.import_take", icon="IMPORT")


class MONOCAP_PT_mmd(_Sidebar, bpy.types.Panel):
    """MMD: a PMX model's skeleton, a take retargeted onto it, VMD in and out."""

    bl_label = "MMD"
    bl_idname = "MONOCAP_PT_mmd"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (Blender reads a set)

    def draw(self, context: bpy.types.Context) -> None:
        col = self.layout.column(align=True)
        col.operator("monocap.import_pmx_skeleton", icon="ARMATURE_DATA")
        col.operator("monocap.retarget_take_mmd", text="Retarget Take to MMD Rig", icon="CON_ARMATURE")
        row = col.row(align=True)
        row.operator("monocap.import_vmd", text="Import VMD", icon="IMPORT")
        row.operator("monocap.export_vmd", text="Export VMD", icon="EXPORT")


class MONOCAP_PT_export(_Sidebar, bpy.types.Panel):
    bl_label = "Export"
    bl_idname = "MONOCAP_PT_export"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (Blender reads a set)

    def draw(self, context: bpy.types.Context) -> None:
        row = self.layout.row(align=True)
        row.operator("monocap.export_bvh", text="BVH", icon="EXPORT")
        row.operator("monocap.export_fbx", text="FBX", icon="EXPORT")


class MONOCAP_PT_graph_cleanup(bpy.types.Panel):
    """Graph Editor sidebar: cleanup of the selected bones' or channels' curves."""

    bl_label = "Monocap Cleanup"
    bl_idname = "MONOCAP_PT_graph_cleanup"
    bl_space_type = "GRAPH_EDITOR"
    bl_region_type = "UI"
    bl_category = "Monocap"

    def draw(self, context: bpy.types.Context) -> None:
        col = self.layout.column(align=True)
        op = col.operator("monocap.smooth", text="Smooth (Butterworth)", icon="MOD_SMOOTH")
        op.method = "BUTTERWORTH"
        op = col.operator("monocap.smooth", text="Smooth (One-Euro)", icon="MOD_SMOOTH")
        op.method = "ONE_EURO"
        col.operator("monocap.reduce_keys", icon="KEYFRAME")
        col.operator("monocap.fix_flips", icon="MOD_MIRROR")
        col.operator("monocap.foot_lock", icon="PINNED")
        self.layout.label(text="Settings: F9 after a click", icon="INFO")


CLASSES = [MONOCAP_PT_capture, MONOCAP_PT_mmd, MONOCAP_PT_export, MONOCAP_PT_graph_cleanup]
