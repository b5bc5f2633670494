"""Preferences: 'Set up engine' makes a venv in the extension's user folder and pip-installs the engine's
requirements into it, in the background, never into Blender's own Python."""

from __future__ import annotations

import bpy

from ..blender_lib.engine_link import engine_python
from ..blender_lib.engine_link.process_jobs import REQUIREMENTS, SetupJob
from .common import reports_errors

_STATUS: dict[str, str | float] = {"text": "", "progress": 0.0}


def setup_status() -> tuple[str, float]:
    """(text, fraction) of the running or last set-up, for the preferences panel."""
    return str(_STATUS["text"]), float(_STATUS["progress"])


class MONOCAP_OT_setup_engine(bpy.types.Operator):
    """Create the engine's Python environment in the extension's folder and install its packages"""

    bl_idname = "monocap.setup_engine"
    bl_label = "Set up engine"
    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    requirements: bpy.props.StringProperty(default="", options={"HIDDEN", "SKIP_SAVE"},
                                           description="Requirements file (default: the engine's)")
    venv: bpy.props.StringProperty(default="", options={"HIDDEN", "SKIP_SAVE"},
                                   description="Folder of the environment (default: extension user folder)")

    _job: SetupJob | None = None
    _timer = None

    def _begin(self) -> SetupJob:
        venv = self.venv or str(engine_python.default_venv())
        _STATUS.update(text="Creating the environment", progress=0.0)
        return SetupJob(venv, self.requirements or REQUIREMENTS)

    def _end(self, context: bpy.types.Context) -> set[str]:
        st = self._job.state
        if st.error:
            _STATUS.update(text=f"Failed: {st.error}", progress=0.0)
            self.report({"ERROR"}, f"Engine set-up failed: {st.error}")
            return {"CANCELLED"}
        _STATUS.update(text=f"Engine ready: {st.result}", progress=1.0)
        prefs = engine_python.preferences(context)
        if prefs is not None and not self.venv:
            prefs.engine_python = ""  # empty means: use the venv 'Set up engine' made
        self.report({"INFO"}, f"Engine set up in {st.result}")
        return {"FINISHED"}

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        self._job = self._begin()
        self._job.wait()
        return self._end(context)

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self._job = self._begin()
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        st = self._job.poll()
        _STATUS.update(text=st.message or st.stage, progress=st.fraction)
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
        if not st.finished:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return self._end(context)

    def cancel(self, context: bpy.types.Context) -> None:
        if self._job is not None:
            self._job.cancel()
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)


CLASSES = [MONOCAP_OT_setup_engine]
