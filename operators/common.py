"""Shared bits of the operators: turning project errors into one-line reports, and the modal run of an
engine job."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ..engine.errors import MonocapError


def reports_errors(method: Callable) -> Callable:
    """Wrap execute/invoke: a MonocapError becomes self.report({'ERROR'}, msg) and CANCELLED; so does an
    OSError (a file the operator reads or writes: missing, unreadable, a full disk), as one line with its path.

    Blender checks the argument count of execute (2) and invoke (3), so the wrapper keeps it.
    """

    def run(self: bpy.types.Operator, *args) -> set[str]:
        try:
            return method(self, *args)
        except MonocapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            self.report({"ERROR"}, f"{exc.strerror or exc}{where}")
            return {"CANCELLED"}

    if method.__code__.co_argcount == 3:
        @functools.wraps(method)
        def invoke(self: bpy.types.Operator, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
            return run(self, context, event)
        return invoke

    @functools.wraps(method)
    def execute(self: bpy.types.Operator, context: bpy.types.Context) -> set[str]:
        return run(self, context)
    return execute


class EngineJobModal:
    """An operator that runs an engine job (a session with wait, tick, finish and cancel, e.g. CaptureSession):
    blocking in execute (scripts, tests, background mode), modal in invoke with a timer that polls the job, so
    Blender stays responsive; Esc (or Blender closing the operator) cancels it and leaves the scene as it was.
    The operator sets `session_class` and `what` (its name in the cancel message)."""

    session_class: type
    what = "The job"
    _session = None
    _timer = None

    def _stop_timer(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def _end(self, context: bpy.types.Context) -> set[str]:
        self._stop_timer(context)
        level, message = self._session.finish(context)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        self._session = self.session_class(context)
        self._session.wait()
        return self._end(context)

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self._session = self.session_class(context)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self.cancel(context)
            self.report({"WARNING"}, f"{self.what} cancelled")
            return {"CANCELLED"}
        if event.type == "TIMER" and self._session.tick(context):
            return self._end(context)
        return {"PASS_THROUGH"}  # Blender stays responsive while the engine runs

    def cancel(self, context: bpy.types.Context) -> None:
        self._stop_timer(context)
        if self._session is not None:
            self._session.cancel(context)


class TakeFiles(ImportHelper):
    """The file browser of an operator that reads one or several takes (the people of one capture,
    TAKE_p0.npz ...); `take_paths()` lists what was chosen."""

    filename_ext = ".npz"
    filter_glob: bpy.props.StringProperty(default="*.npz", options={"HIDDEN"})
    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: bpy.props.StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})

    def take_paths(self) -> list[str]:
        return [str(Path(self.directory) / f.name) for f in self.files if f.name] or [self.filepath]
