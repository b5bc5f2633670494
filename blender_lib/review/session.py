"""The review's state on the scene (`scene.monocap.review`) turned into numbers and back: the capture's 2D
takes as read from disk, the edit list as `engine.edits2d.Edit` records, and the edited 2D, which is always
the original takes with the edit list replayed (so Blender's undo of the edit list is the undo of the 2D)."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from ...engine.edits2d import Edit, apply_edit, apply_edits, two_d
from ...engine.errors import BadInput
from ...engine.take import read_take
from ..take.apply import armature_name

# (path, mtime) of every take -> the people read from them; one review at a time, so one entry is enough
_ORIGINALS: dict[tuple, dict[int, dict]] = {}
_EDITED: dict[tuple, dict[int, dict]] = {}


def _key(review) -> tuple:
    out = []
    for t in review.takes:
        if t.path:
            path = bpy.path.abspath(t.path)
            out.append((path, os.path.getmtime(path) if os.path.isfile(path) else -1.0))
    return tuple(out)


def originals(review) -> dict[int, dict]:
    """The 2D of the takes under review, {person number: take} (read once, then cached)."""
    key = _key(review)
    if key not in _ORIGINALS:
        people = {}
        for path, _ in key:
            take = two_d(read_take(path))
            people[int(take.get("person", 0))] = take
        if not people:
            raise BadInput("no takes under review: press Start Review and choose the takes of a capture")
        _ORIGINALS.clear()
        _ORIGINALS[key] = people
    return _ORIGINALS[key]


def edits(review) -> list[Edit]:
    return [Edit(e.kind, e.a, e.b, e.start, e.end) for e in review.edits]


def edited(review) -> dict[int, dict]:
    """The original 2D with the review's edits replayed (cached per edit list: the draw handler asks every
    redraw). The arrays are shared with the cache: read them, do not change them."""
    key = (_key(review), tuple(edits(review)))
    if key not in _EDITED:
        result = apply_edits(originals(review), list(key[1]))
        _EDITED.clear()
        _EDITED[key] = result
    return _EDITED[key]


def add_edit(review, edit: Edit) -> None:
    """Append `edit` after checking it on the 2D as the earlier edits left it (BadInput, nothing added)."""
    apply_edit(edited(review), edit, offset=scene_frame(review, 0))
    item = review.edits.add()
    item.kind, item.a, item.b, item.start, item.end = edit.kind, edit.a, edit.b, edit.start, edit.end


def undo_last(review) -> Edit:
    if not len(review.edits):
        raise BadInput("no edit to undo")
    last = edits(review)[-1]
    review.edits.remove(len(review.edits) - 1)
    return last


def first_frame(review) -> int:
    """The video frame of the takes' frame 0."""
    return int(next(iter(originals(review).values())).get("first_frame", 0))


def take_frame(review, scene_frame: int) -> int:
    """The takes' frame index shown at a scene frame: scene frame 1 shows video frame 0 (the movie placed at
    the scene's default start, as Import Take bakes with 'Set Scene Rate')."""
    return int(scene_frame) - 1 - first_frame(review)


def scene_frame(review, take_index: int) -> int:
    return int(take_index) + 1 + first_frame(review)


def find_video(paths: list[str], take: dict, hint: str = "") -> str:
    """The capture's video: `hint` (the sidebar's video) if its file name is the take's `source_video`, else
    a file of that name beside the takes or one folder up; BadInput if none is found."""
    name = str(take.get("source_video", ""))
    hint = bpy.path.abspath(hint) if hint else ""
    if hint and os.path.isfile(hint) and (not name or Path(hint).name == name):
        return hint
    for folder in {Path(p).parent for p in paths} | {Path(p).parent.parent for p in paths}:
        if name and (folder / name).is_file():
            return str(folder / name)
    raise BadInput(f"the capture's video {name or '(unnamed)'} was not found beside the takes: choose it as "
                   f"the Video in the Capture panel")


def start(context: bpy.types.Context, paths: list[str], video_hint: str = "") -> str:
    """Put the takes at `paths` (the people of one capture) under review, with no edits; returns a summary."""
    takes = [read_take(p) for p in paths]
    numbers = [int(t.get("person", 0)) for t in takes]
    if len(set(numbers)) != len(numbers):
        raise BadInput("two of the takes are the same person: choose the takes of one capture (STEM_pN.npz)")
    ref = takes[0]
    for t in takes[1:]:
        if len(t["valid"]) != len(ref["valid"]) or int(t.get("first_frame", 0)) != int(ref.get("first_frame", 0)):
            raise BadInput("the takes cover different frames: choose the takes of one capture")
    video = find_video(paths, ref, video_hint)
    review = context.scene.monocap.review
    review.takes.clear()
    review.edits.clear()
    for path, take, n in sorted(zip(paths, takes, numbers), key=lambda x: x[2]):
        item = review.takes.add()
        item.path, item.person = str(Path(path).resolve()), n
        obj = bpy.data.objects.get(armature_name(take))
        item.armature = obj if obj is not None and obj.type == "ARMATURE" else None
    review.video, review.lifted, review.active = video, "", True
    review.image = show_video(context, video)
    first = int(ref.get("first_frame", 0))
    review.span_start, review.span_end = first + 1, first + len(ref["valid"])
    review.person_a, review.person_b = min(numbers), (sorted(numbers)[1] if len(numbers) > 1 else max(numbers) + 1)
    text = f"Reviewing {len(takes)} people ({', '.join(map(str, sorted(numbers)))}) over {Path(video).name}"
    screen = context.screen
    if screen is not None and not any(a.type == "IMAGE_EDITOR" for a in screen.areas):
        text += ": open an Image Editor (Shift+F10) and press Show Video Here in its Monocap tab to see them"
    return text


def show_video(context: bpy.types.Context, video: str) -> bpy.types.Image:
    """The video as a movie image, shown in every Image Editor of the window so that scene frame f shows video
    frame f - 1 and follows the timeline."""
    # images.load's check_existing does not find a movie loaded before: look for it by path
    image = next((i for i in bpy.data.images if i.source == "MOVIE"
                  and os.path.normpath(bpy.path.abspath(i.filepath)) == os.path.normpath(video)), None)
    if image is None:
        try:
            image = bpy.data.images.load(video)
        except RuntimeError:
            raise BadInput(f"Blender cannot open the capture's video {video}") from None
    for area in context.screen.areas if context.screen else []:
        if area.type == "IMAGE_EDITOR":
            space = area.spaces.active
            space.image = image
            set_movie_frames(space.image_user, image)
            area.tag_redraw()
    return image


def set_movie_frames(user, image: bpy.types.Image) -> None:
    user.frame_start, user.frame_offset = 1, 0
    user.frame_duration = max(1, int(image.frame_duration))
    user.use_auto_refresh = True


def movie_in_step(user, image: bpy.types.Image) -> bool:
    """True if an Image Editor's image user shows video frame f - 1 at scene frame f (as `set_movie_frames`)."""
    return (user.frame_start == 1 and user.frame_offset == 0 and user.use_auto_refresh
            and user.frame_duration >= int(image.frame_duration))


def people_at(review, scene_frame: int) -> list[tuple[int, dict, int]]:
    """(person number, edited take, take frame index) of everyone at a scene frame (empty outside the takes)."""
    people = edited(review)
    k = take_frame(review, scene_frame)
    return [(n, t, k) for n, t in sorted(people.items()) if 0 <= k < len(t["valid"])]
