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
        col = layout.column()
        col.prop(s, "person_mode")
        if s.person_mode == "NUMBER":
            col.prop(s, "person", text="Track")
        elif s.person_mode == "LIST":
            col.prop(s, "people")
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


class _ReviewPanel:
    """Review mode: the takes under review, the next edit's people and span, the edits made, Lift Again."""

    bl_label = "Review 2D"

    def draw(self, context: bpy.types.Context) -> None:
        review = context.scene.monocap.review
        layout = self.layout
        if not review.active:
            layout.operator("monocap.review_start", icon="SEQUENCE")
            layout.label(text="Choose the takes of a capture", icon="INFO")
            return
        people = ", ".join(str(t.person) for t in review.takes)
        layout.label(text=f"People {people} over {bpy.path.basename(review.video)}", icon="SEQUENCE")
        col = layout.column(align=True)
        row = col.row(align=True)
        row.prop(review, "person_a")
        row.prop(review, "person_b")
        row = col.row(align=True)
        row.prop(review, "span_start")
        row.prop(review, "span_end")
        frame = context.scene.frame_current
        from ..blender_lib.review import session

        try:
            people = sorted(session.edited(review))
        except Exception:  # a take moved away: the edit itself will say so
            people = [t.person for t in review.takes]
        # a split needs a number nobody has: Other if it is free, else the next one
        new = review.person_b if review.person_b not in people else max(people, default=-1) + 1
        col = layout.column(align=True)
        for kind, text, icon, span in (("swap_people", f"Swap People from {frame}", "UV_SYNC_SELECT", False),
                                       ("swap_sides", "Swap Left/Right in Span", "MOD_MIRROR", True),
                                       ("invalid", "Mark Not Seen in Span", "HIDE_ON", True),
                                       ("merge", "Merge Other into Person", "AUTOMERGE_ON", False),
                                       ("split", f"Split Person at {frame} into {new}", "MOD_EDGESPLIT", False)):
            op = col.operator("monocap.review_edit", text=text, icon=icon)
            op.kind, op.person_a = kind, review.person_a
            op.person_b = new if kind == "split" else review.person_b
            op.frame_start, op.frame_end = (review.span_start, review.span_end) if span else (frame, frame)
        box = layout.box()
        if len(review.edits):
            try:
                offset = session.scene_frame(review, 0)
            except Exception:  # a take moved away: the list still shows, in the takes' own frames
                offset = 0
            for i, edit in enumerate(session.edits(review)):
                box.label(text=f"{i + 1}. {edit.describe(offset)}")
        else:
            box.label(text="No edits yet")
        row = layout.row(align=True)
        row.operator("monocap.review_undo", icon="LOOP_BACK")
        if review.running:
            _progress(layout, review.progress, review.status or "Lifting")
            layout.label(text="Esc cancels", icon="INFO")
        else:
            row.operator("monocap.review_lift", icon="FILE_REFRESH")
        row = layout.row(align=True)
        row.operator("monocap.review_show", icon="IMAGE_DATA")
        row.operator("monocap.review_stop", icon="PANEL_CLOSE")


class MONOCAP_PT_review(_ReviewPanel, _Sidebar, bpy.types.Panel):
    bl_idname = "MONOCAP_PT_review"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (Blender reads a set)


class MONOCAP_PT_review_image(_ReviewPanel, bpy.types.Panel):
    """The same panel beside the video, in the Image Editor's sidebar."""

    bl_idname = "MONOCAP_PT_review_image"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Monocap"


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


CLASSES = [MONOCAP_PT_capture, MONOCAP_PT_mmd, MONOCAP_PT_review, MONOCAP_PT_export, MONOCAP_PT_graph_cleanup,
           MONOCAP_PT_review_image]
