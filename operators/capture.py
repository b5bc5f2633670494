"""Capture (modal: runs the engine, shows progress, Esc cancels) and Import Take."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ..bake import engine_link
from ..bake.apply import apply_take, take_name, target_armature
from ..bake.jobs import CaptureJob, start_capture
from ..engine.errors import BadInput, MonocapError
from ..engine.take import read_take
from .common import reports_errors


def probe_video(path: str) -> tuple[int, float]:
    """(frame count, fps) of a video through Blender's own decoder; the clip datablock is removed again."""
    clip = bpy.data.movieclips.load(path)
    try:
        return int(clip.frame_duration), float(clip.fps)
    finally:
        bpy.data.movieclips.remove(clip)


def check_inputs(context: bpy.types.Context) -> tuple[str, dict]:
    """Validate the sidebar settings before anything runs: (engine python, capture options)."""
    s = context.scene.monocap
    video = bpy.path.abspath(s.video) if s.video else ""
    if not video:
        raise BadInput("Choose a video file first")
    if not os.path.isfile(video):
        raise BadInput(f"Video not found: {video}")
    target_armature(context, s.target)
    python = engine_link.engine_python(context)
    options: dict = {"device": engine_link.preferences(context).device if engine_link.preferences(context)
                     else "auto", "person": None if s.person_auto else s.person}
    if s.use_range:
        try:
            count, fps = probe_video(video)
        except RuntimeError:
            raise BadInput(f"Blender cannot read {Path(video).name} as a video") from None
        if s.video_start > s.video_end:
            raise BadInput(f"Frame range {s.video_start}-{s.video_end} is empty: End must not be before Start")
        if s.video_end >= count:
            raise BadInput(f"Frames {s.video_start}-{s.video_end} are outside the video "
                           f"(it has {count} frames, 0-{count - 1})")
        options["start"] = s.video_start / fps
        options["end"] = (s.video_end + 1) / fps
    engine_link.check_engine(python)
    return python, options


class MONOCAP_OT_capture(bpy.types.Operator):
    """Capture the person in the video and bake the motion (Esc cancels)"""

    bl_idname = "monocap.capture"
    bl_label = "Capture"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    _job: CaptureJob | None = None
    _timer = None
    _tmpdir: str = ""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.scene.monocap.running

    def _start(self, context: bpy.types.Context) -> None:
        python, options = check_inputs(context)
        s = context.scene.monocap
        self._tmpdir = tempfile.mkdtemp(prefix="monocap-")
        take = os.path.join(self._tmpdir, f"{Path(s.video).stem}.npz")
        self._job = start_capture(python, bpy.path.abspath(s.video), take, **options)
        s.running, s.progress, s.status = True, 0.0, "Starting the engine"

    def _update_ui(self, context: bpy.types.Context) -> None:
        s, st = context.scene.monocap, self._job.state
        s.progress = st.fraction
        s.status = f"{st.stage} {st.done}/{st.total}" if st.total else st.stage
        if context.workspace is not None:
            context.workspace.status_text_set(f"Monocap: {s.status} ({s.progress:.0%}) - Esc to cancel")
        for area in context.screen.areas if context.screen else []:
            if area.type == "VIEW_3D":
                area.tag_redraw()

    def _finish(self, context: bpy.types.Context) -> set[str]:
        """The job has ended: bake its take or report its error, then clean up."""
        st = self._job.state
        s = context.scene.monocap
        try:
            if st.error:
                self.report({"ERROR"}, f"Capture failed: {st.error}")
                return {"CANCELLED"}
            # Keep the take beside the temporary folder's removal: it is the user's result.
            keep = Path(bpy.app.tempdir or tempfile.gettempdir()) / Path(st.result).name
            shutil.copyfile(st.result, keep)
            s.last_take = str(keep)
            try:
                summary = apply_take(context, read_take(keep), s, take_name(s.video))
            except MonocapError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            self.report({"INFO"}, summary)
            return {"FINISHED"}
        finally:
            self._cleanup(context)

    def _cleanup(self, context: bpy.types.Context) -> None:
        s = context.scene.monocap
        s.running, s.status = False, ""
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking run (scripts, tests, background mode)."""
        self._start(context)
        self._job.wait()
        return self._finish(context)

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self._start(context)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self.cancel(context)
            self.report({"WARNING"}, "Capture cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._job.poll().finished:
            return self._finish(context)
        self._update_ui(context)
        return {"PASS_THROUGH"}

    def cancel(self, context: bpy.types.Context) -> None:
        """Esc, or Blender closing: stop the engine; nothing was baked yet, so the scene is as before."""
        if self._job is not None:
            self._job.cancel()
        self._cleanup(context)


class MONOCAP_OT_import_take(bpy.types.Operator, ImportHelper):
    """Load a take written by the command line and bake it with the sidebar's options"""

    bl_idname = "monocap.import_take"
    bl_label = "Import Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".npz"
    filter_glob: bpy.props.StringProperty(default="*.npz", options={"HIDDEN"})

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        take = read_take(self.filepath)
        summary = apply_take(context, take, context.scene.monocap, take_name(self.filepath))
        self.report({"INFO"}, summary)
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_capture, MONOCAP_OT_import_take]
