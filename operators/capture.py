"""Capture (modal: runs the engine, shows progress, Esc cancels) and Import Take."""

from __future__ import annotations

import bpy

from ..blender_lib.engine_link.capture_session import CaptureSession
from ..blender_lib.take.apply import apply_takes, take_name
from ..engine.take import read_take
from .common import EngineJobModal, TakeFiles, reports_errors


class MONOCAP_OT_capture(bpy.types.Operator, EngineJobModal):
    """Capture the person in the video and bake the motion (Esc cancels)"""

    bl_idname = "monocap.capture"
    bl_label = "Capture"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    session_class = CaptureSession
    what = "Capture"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.scene.monocap.running


class MONOCAP_OT_import_take(bpy.types.Operator, TakeFiles):
    """Load takes written by the command line and bake them with the sidebar's options. Several takes (the
    people of one capture, TAKE_p0.npz ...) each get an armature of their own, named after the person's number,
    in the capture's shared world frame"""

    bl_idname = "monocap.import_take"
    bl_label = "Import Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        paths = self.take_paths()
        summary = apply_takes(context, [(read_take(p), take_name(p)) for p in paths], context.scene.monocap)
        self.report({"INFO"}, summary)
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_capture, MONOCAP_OT_import_take]
