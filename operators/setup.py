"""Preferences: 'Set up engine' makes a venv in the extension's user folder and pip-installs one of the engine's
install profiles into it (cpu: no torch; gpu: with torch for CUDA), in the background, never into Blender's
own Python. It can be cancelled (the Cancel button or Esc) and resumed by pressing it again."""

from __future__ import annotations

import bpy

from ..blender_lib.engine_link import engine_python
from ..blender_lib.engine_link.process_jobs import DOWNLOAD_MB, SetupJob
from .common import reports_errors

_STATUS: dict[str, str | float | bool] = {"text": "", "progress": 0.0, "running": False, "cancel": False}


def setup_status() -> tuple[str, float]:
    """(text, fraction) of the running or last set-up, for the preferences panel."""
    return str(_STATUS["text"]), float(_STATUS["progress"])


def setup_running() -> bool:
    return bool(_STATUS["running"])


def download_text(profile: str) -> str:
    mb = DOWNLOAD_MB[profile]
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"


class MONOCAP_OT_setup_engine(bpy.types.Operator):
    """Create the engine's Python environment in the extension's folder and install its packages"""

    bl_idname = "monocap.setup_engine"
    bl_label = "Set up engine"
    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    profile: bpy.props.EnumProperty(
        name="Profile",
        items=[("cpu", "CPU", f"No torch: the networks run on the CPU (downloads about {download_text('cpu')})"),
               ("gpu", "GPU", "Adds torch with CUDA, for an NVIDIA GPU (downloads about "
                              f"{download_text('gpu')})")],
        default="cpu", options={"SKIP_SAVE"})
    requirements: bpy.props.StringProperty(default="", options={"HIDDEN", "SKIP_SAVE"},
                                           description="Requirements file (default: the profile's)")
    venv: bpy.props.StringProperty(default="", options={"HIDDEN", "SKIP_SAVE"},
                                   description="Folder of the environment (default: extension user folder)")

    _job: SetupJob | None = None
    _timer = None

    @classmethod
    def description(cls, context, properties) -> str:
        p = properties.profile
        what = "no torch, CPU only" if p == "cpu" else "torch with CUDA, for an NVIDIA GPU"
        return (f"Install the engine's {p} profile ({what}) into a Python environment in the extension's folder: "
                f"downloads about {download_text(p)}. Press again after a cancel to resume")

    def _begin(self) -> SetupJob:
        venv = self.venv or str(engine_python.default_venv())
        _STATUS.update(text=f"Setting up the {self.profile} profile (about {download_text(self.profile)} "
                            "to download)", progress=0.0, running=True, cancel=False)
        return SetupJob(venv, self.requirements or None, profile=self.profile)

    def _end(self, context: bpy.types.Context) -> set[str]:
        _STATUS["running"] = False
        st = self._job.state
        if st.error == "cancelled":
            _STATUS.update(text=f"Cancelled: press 'Set up engine ({self.profile.upper()})' again to resume "
                                "(finished downloads are kept)", progress=0.0)
            self.report({"WARNING"}, "Engine set-up cancelled")
            return {"CANCELLED"}
        if st.error:
            _STATUS.update(text=f"Failed: {st.error}", progress=0.0)
            self.report({"ERROR"}, f"Engine set-up failed: {st.error}")
            return {"CANCELLED"}
        line = (self._job.report or {}).get("line", "")
        _STATUS.update(text=line or f"Engine ready: {st.result}", progress=1.0)
        prefs = engine_python.preferences(context)
        if prefs is not None and not self.venv:
            prefs.engine_python = ""  # empty means: use the venv 'Set up engine' made
        self.report({"INFO"}, f"Engine set up in {st.result}" + (f": {line}" if line else ""))
        return {"FINISHED"}

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        self._job = self._begin()
        self._job.wait()
        return self._end(context)

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if setup_running():
            self.report({"WARNING"}, "An engine set-up is already running")
            return {"CANCELLED"}
        self._job = self._begin()
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC" or _STATUS["cancel"]:
            self._job.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        st = self._job.poll()
        if not st.finished:
            _STATUS.update(text=st.message or st.stage, progress=st.fraction)
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
        if not st.finished:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return self._end(context)

    def cancel(self, context: bpy.types.Context) -> None:
        _STATUS["running"] = False
        if self._job is not None:
            self._job.cancel()
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)


class MONOCAP_OT_cancel_setup(bpy.types.Operator):
    """Stop the running engine set-up (press Set up engine again to resume)"""

    bl_idname = "monocap.cancel_setup"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    def execute(self, context: bpy.types.Context) -> set[str]:
        _STATUS["cancel"] = True
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_setup_engine, MONOCAP_OT_cancel_setup]
