"""Capture (modal: runs the engine, shows progress, Esc cancels) and Import Take."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ..blender_lib.engine_link.capture_session import CaptureSession
from ..blender_lib.take.apply import apply_takes, take_name
from ..engine.take import read_take
from .common import reports_errors


class MONOCAP_OT_capture(bpy.types.Operator):
    """Capture the person in the video and bake the motion (Esc cancels)"""

    bl_idname = "monocap.capture"
    bl_label = "Capture"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    _session: CaptureSession | None = None
    _timer = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.scene.monocap.running

    def _end(self, context: bpy.types.Context) -> set[str]:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        level, message = self._session.finish(context)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking run (scripts, tests, background mode)."""
        self._session = CaptureSession(context)
        self._session.wait()
        return self._end(context)

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self._session = CaptureSession(context)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self.cancel(context)
            self.report({"WARNING"}, "Capture cancelled")
            return {"CANCELLED"}
        if event.type == "TIMER" and self._session.tick(context):
            return self._end(context)
        return {"PASS_THROUGH"}  # Blender stays responsive while the engine runs

    def cancel(self, context: bpy.types.Context) -> None:
        """Esc, or Blender closing the operator: stop the engine and leave the scene as it was."""
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if self._session is not None:
            self._session.cancel(context)


class MONOCAP_OT_import_take(bpy.types.Operator, ImportHelper):
    """Load takes written by the command line and bake them with the sidebar's options. Several takes (the
    people of one capture, TAKE_p0.npz ...) each get an armature of their own, named after the person's number,
    in the capture's shared world frame"""

    bl_idname = "monocap.import_take"
    bl_label = "Import Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".npz"
    filter_glob: bpy.props.StringProperty(default="*.npz", options={"HIDDEN"})
    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: bpy.props.StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        paths = [str(Path(self.directory) / f.name) for f in self.files if f.name] or [self.filepath]
        summary = apply_takes(context, [(read_take(p), take_name(p)) for p in paths], context.scene.monocap)
        self.report({"INFO"}, summary)
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_capture, MONOCAP_OT_import_take]
