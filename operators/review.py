"""Review mode: start it on the takes of a capture, edit the 2D (swap people, swap sides, mark unseen, merge,
split), undo, Lift Again (modal: the engine runs, Esc cancels), stop."""

from __future__ import annotations


import bpy

from ..blender_lib.review import session
from ..blender_lib.review.lift_again import LiftSession
from ..engine.edits2d import Edit
from ..engine.errors import BadInput
from .common import EngineJobModal, TakeFiles, reports_errors


def _editable(context: bpy.types.Context) -> bool:
    """A review is open and Lift Again is not running: the edit list may change."""
    review = context.scene.monocap.review
    return review.active and not review.running


def _redraw(context: bpy.types.Context) -> None:
    """Every area of the screen draws again (the skeletons follow the edit list)."""
    for area in context.screen.areas if context.screen else []:
        area.tag_redraw()


class MONOCAP_OT_review_start(bpy.types.Operator, TakeFiles):
    """Review the 2D of a capture: choose its takes (TAKE_p0.npz, TAKE_p1.npz ...); the video is shown in the
    Image Editor with every person's skeleton and number over it, following the timeline"""

    bl_idname = "monocap.review_start"
    bl_label = "Start Review"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        paths = self.take_paths()
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
        return _editable(context)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        review = context.scene.monocap.review
        edit = Edit(self.kind, self.person_a, self.person_b, session.take_frame(review, self.frame_start),
                    session.take_frame(review, self.frame_end))
        session.add_edit(review, edit)
        _redraw(context)
        self.report({"INFO"}, f"Edit {len(review.edits)}: {edit.describe(session.scene_frame(review, 0))}")
        return {"FINISHED"}


class MONOCAP_OT_review_undo(bpy.types.Operator):
    """Drop the last edit of the 2D"""

    bl_idname = "monocap.review_undo"
    bl_label = "Undo Last Edit"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _editable(context)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        review = context.scene.monocap.review
        edit = session.undo_last(review)
        _redraw(context)
        self.report({"INFO"}, f"Undone: {edit.describe(session.scene_frame(review, 0))}")
        return {"FINISHED"}


class MONOCAP_OT_review_lift(bpy.types.Operator, EngineJobModal):
    """Lift the edited 2D to 3D again in the engine and re-bake everyone's armature (only the take's own
    channels are rewritten; Esc cancels)"""

    bl_idname = "monocap.review_lift"
    bl_label = "Lift Again"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    session_class = LiftSession
    what = "Lift Again"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _editable(context)


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
        _redraw(context)
        return {"FINISHED"}


CLASSES = [MONOCAP_OT_review_start, MONOCAP_OT_review_edit, MONOCAP_OT_review_undo, MONOCAP_OT_review_lift,
           MONOCAP_OT_review_show, MONOCAP_OT_review_stop]
