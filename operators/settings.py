"""The sidebar's settings, stored per scene as `scene.monocap`."""

from __future__ import annotations

import bpy


class MonocapReviewEdit(bpy.types.PropertyGroup):
    """One review edit (`engine.edits2d.Edit`): frames are the takes' own frame indices."""

    kind: bpy.props.StringProperty()
    a: bpy.props.IntProperty()
    b: bpy.props.IntProperty(default=-1)
    start: bpy.props.IntProperty()
    end: bpy.props.IntProperty()


class MonocapReviewPerson(bpy.types.PropertyGroup):
    """A 2D take under review and the armature its motion is baked on (None until Lift Again makes one)."""

    path: bpy.props.StringProperty(subtype="FILE_PATH")
    person: bpy.props.IntProperty()
    armature: bpy.props.PointerProperty(type=bpy.types.Object)


class MonocapReview(bpy.types.PropertyGroup):
    """Review mode: the takes of one capture, the video under them and the edits made to their 2D."""

    active: bpy.props.BoolProperty()
    video: bpy.props.StringProperty(subtype="FILE_PATH")
    image: bpy.props.PointerProperty(type=bpy.types.Image)
    takes: bpy.props.CollectionProperty(type=MonocapReviewPerson)
    edits: bpy.props.CollectionProperty(type=MonocapReviewEdit)
    lifted: bpy.props.StringProperty(name="Lifted", subtype="DIR_PATH",
                                     description="Folder of the takes the last Lift Again wrote")
    # the panel's inputs for the next edit
    person_a: bpy.props.IntProperty(name="Person", min=0, description="The person the edit is about")
    person_b: bpy.props.IntProperty(name="Other", min=0,
                                    description="The other person (swap, merge) or the new number (split)")
    span_start: bpy.props.IntProperty(name="From", description="First scene frame of the span")
    span_end: bpy.props.IntProperty(name="To", description="Last scene frame of the span (included)")
    # run state of Lift Again
    running: bpy.props.BoolProperty(options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, options={"SKIP_SAVE"})
    status: bpy.props.StringProperty(options={"SKIP_SAVE"})


class MonocapSettings(bpy.types.PropertyGroup):
    video: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                    description="Video of one person to capture")
    use_range: bpy.props.BoolProperty(name="Frame Range", description="Capture only part of the video")
    video_start: bpy.props.IntProperty(name="Start", min=0, default=0,
                                       description="First video frame (from 0)")
    video_end: bpy.props.IntProperty(name="End", min=0, default=100,
                                     description="Last video frame (included)")
    person_mode: bpy.props.EnumProperty(
        name="Person",
        items=[("AUTO", "Auto", "The most prominent person in the video"),
               ("NUMBER", "Number", "One person, by track number (0 = the most prominent; the log lists them)"),
               ("ALL", "Everyone", "Everyone the detector is sure of: one armature per person, Monocap_pN"),
               ("LIST", "List", "The people numbered in the list (0,2): one armature per person")],
        default="AUTO")
    person: bpy.props.IntProperty(name="Person", min=0, default=0,
                                  description="Track number to follow (0 = most prominent)")
    people: bpy.props.StringProperty(name="People", default="0,1",
                                     description="Track numbers to capture, separated by commas (0,2)")
    smoothing: bpy.props.BoolProperty(name="Smoothing", default=True,
                                      description="Zero-phase low-pass on the baked curves")
    cutoff: bpy.props.FloatProperty(name="Cutoff", default=6.0, min=0.5, max=30.0, subtype="NONE",
                                    description="Smoothing cutoff frequency in Hz (lower is smoother)")
    foot_lock: bpy.props.BoolProperty(name="Foot Lock", default=True,
                                      description="Hold feet still while they touch the ground")
    root_motion: bpy.props.BoolProperty(name="Root Motion", default=True,
                                        description="Keep the travel through space (off: in place)")
    target: bpy.props.EnumProperty(
        name="Target",
        items=[("NEW", "New Armature", "Build the Monocap skeleton and bake onto it"),
               ("SELECTED", "Selected Armature", "Retarget onto the active armature by bone names")],
        default="NEW")
    fps_mode: bpy.props.EnumProperty(
        name="Frame Rate",
        items=[("SCENE", "Set Scene Rate", "Set the scene's frame rate to the video's"),
               ("RESAMPLE", "Resample", "Keep the scene's frame rate and resample the motion")],
        default="SCENE")
    # Run state, shown by the panel while a capture runs.
    running: bpy.props.BoolProperty(options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, options={"SKIP_SAVE"})
    status: bpy.props.StringProperty(options={"SKIP_SAVE"})
    last_take: bpy.props.StringProperty(name="Last Take", subtype="FILE_PATH")
    review: bpy.props.PointerProperty(type=MonocapReview)


CLASSES = [MonocapReviewEdit, MonocapReviewPerson, MonocapReview, MonocapSettings]


def register() -> None:
    bpy.types.Scene.monocap = bpy.props.PointerProperty(type=MonocapSettings)


def unregister() -> None:
    del bpy.types.Scene.monocap
