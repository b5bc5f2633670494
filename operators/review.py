"""Review mode: start it on the takes of a capture, edit the 2D (swap people, swap sides, mark unseen, merge,
split), undo, Lift Again (modal: the engine runs, Esc cancels), stop."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ..blender_lib.review import session
from ..blender_lib.review.lift_again import LiftSession
from ..engine.edits2d import Edit
from ..engine.errors import BadInput
from .common import reports_errors


class MONOCAP_OT_review_start(bpy.types.Operator, ImportHelper):
    """Review the 2D of a capture: choose its takes (TAKE_p0.npz, TAKE_p1.npz ...); the video is shown in the
    Image Editor with every person's skeleton and number over it, following the timeline"""

    bl_idname = "monocap.review_start"
    bl_label = "Start Review"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    filename_ext = ".npz"
    filter_glob: bpy.props.StringProperty(default="*.npz", options={"HIDDEN"})
    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: bpy.props.StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        paths = [str(Path(self.directory) / f.name) for f in self.files if f.name] or [self.filepath]
        self.report({"INFO"}, session.start(context, paths, context.scene.monocap.video))
        return {"FINISHED"}


class MONOCAP_OT_review_edit(bpy.types.Operator):
    """Edit the 2D under review (frames are scene frames); undo with Ctrl+Z or Undo Last Edit"""

    bl_idname = "monocap.review_edit"
    bl_label = "Edit 2D"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    kind: bpy.props.EnumProperty(items=[
        ("swap_people", "Swap People", "The two people exchange identities from the first frame on"),
        ("swap_sides", "Swap Left/Right", "Exchange the person's left and right (body and hands) over the span"),
        ("invalid", "Mark Not Seen", "Mark the person not seen over the span"),
        ("merge", "Merge", "The other person's track joins this person's (fills the frames it lacks)"),
        ("split", "Split", "From the first frame on, this person's track becomes a new person (the other number)"),
    ])
    person_a: bpy.props.IntProperty(name="Person")
    person_b: bpy.props.IntProperty(name="Other", default=-1)
    frame_start: bpy.props.IntProperty(name="From")
    frame_end: bpy.props.IntProperty(name="To")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        review = context.scene.monocap.review
        return review.active and not review.running

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        review = context.scene.monocap.review
        edit = Edit(self.kind, self.person_a, self.person_b, session.take_frame(review, self.frame_start),
                    session.take_frame(review, self.frame_end))
        session.add_edit(review, edit)
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
        self.report({"INFO"}, f"Edit {len(review.edits)}: {edit.describe(session.scene_frame(review, 0))}")
        return {"FINISHED"}


class MONOCAP_OT_review_undo(bpy.types.Operator):
    """Drop the last edit of the 2D"""

    bl_idname = "monocap.review_undo"
    bl_label = "Undo Last Edit"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        review = context.scene.monocap.review
        return review.active and not review.running

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        review = context.scene.monocap.review
        edit = session.undo_last(review)
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
        self.report({"INFO"}, f"Undone: {edit.describe(session.scene_frame(review, 0))}")
        return {"FINISHED"}


class MONOCAP_OT_review_lift(bpy.types.Operator):
    """Lift the edited 2D to 3D again in the engine and re-bake everyone's armature (only the take's own
    channels are rewritten; Esc cancels)"""

    bl_idname = "monocap.review_lift"
    bl_label = "Lift Again"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    _session: LiftSession | None = None
    _timer = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        review = context.scene.monocap.review
        return review.active and not review.running

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
        self._session = LiftSession(context)
        self._session.wait()
        return self._end(context)

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self._session = LiftSession(context)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self.cancel(context)
            self.report({"WARNING"}, "Lift Again cancelled")
            return {"CANCELLED"}
        if event.type == "TIMER" and self._session.tick(context):
            return self._end(context)
        return {"PASS_THROUGH"}

    def cancel(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if self._session is not None:
            self._session.cancel(context)


class MONOCAP_OT_review_show(bpy.types.Operator):
    """Show the review's video in every open Image Editor, following the timeline"""

    bl_idname = "monocap.review_show"
    bl_label = "Show Video Here"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene.monocap.review.active

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        review = context.scene.monocap.review
        review.image = session.show_video(context, bpy.path.abspath(review.video))
        return {"FINISHED"}


class MONOCAP_OT_review_stop(bpy.types.Operator):
    """Stop reviewing: the skeletons are no longer drawn (the edits are kept until the next Start Review)"""

    bl_idname = "monocap.review_stop"
    bl_label = "Stop Review"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        review = context.scene.monocap.review
        if review.running:
            raise BadInput("Lift Again is running: wait for it or press Esc")
        review.active = False
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_review_start, MONOCAP_OT_review_edit, MONOCAP_OT_review_undo, MONOCAP_OT_review_lift,
           MONOCAP_OT_review_show, MONOCAP_OT_review_stop]
