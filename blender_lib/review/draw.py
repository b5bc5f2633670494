"""Every person's 2D skeleton and number drawn over the review's video in the Image Editor, for the frame the
timeline is on (a `gpu` draw handler). The shapes come from `frame_shapes`, plain numbers, so they can be
checked without a screen; the handler only turns them into lines and text."""

from __future__ import annotations

import bpy
import numpy as np

from ...engine.overlay import BONES, HAND_BONES, LEFT, MIN_VISIBILITY, RIGHT, person_colour
from . import session

_HANDLE = None


def _rgba(bgr: tuple[int, int, int], alpha: float = 1.0) -> tuple[float, float, float, float]:
    return (bgr[2] / 255.0, bgr[1] / 255.0, bgr[0] / 255.0, alpha)


def frame_shapes(take: dict, k: int, number: int) -> list[tuple[str, tuple, np.ndarray]]:
    """What to draw of one person at the take's frame k, in image pixels (x right, y down):
    [("lines", rgba, (N, 2, 2) segment ends), ("points", rgba, (M, 2)), ("label", rgba, (1, 2) where the
    number goes)]; empty where the person is not seen. Bones keep the overlay video's left/right colours,
    joints and the number are in the person's colour (`engine.overlay`)."""
    if not bool(take["valid"][k]):
        return []
    pts = np.asarray(take["joints2d"][k], np.float64)
    seen = pts[:, 2] >= MIN_VISIBILITY
    mine = _rgba(person_colour(number))
    out: list[tuple[str, tuple, np.ndarray]] = []
    by_colour: dict[tuple, list] = {}
    for (a, b), colour in BONES:
        if seen[a] and seen[b]:
            by_colour.setdefault(colour, []).append((pts[a, :2], pts[b, :2]))
    for colour, segs in by_colour.items():
        out.append(("lines", _rgba(colour), np.asarray(segs)))
    if "hands2d" in take:
        for h in range(2):
            if bool(take["hands_valid"][k, h]):
                hp = np.asarray(take["hands2d"][k, h, :, :2], np.float64)
                segs = np.asarray([(hp[a], hp[b]) for a, b in HAND_BONES])
                out.append(("lines", _rgba(LEFT if h == 0 else RIGHT, 0.8), segs))
    if seen.any():
        out.append(("points", mine, pts[seen, :2]))
        top = pts[seen][np.argmin(pts[seen, 1])]
        out.append(("label", mine, np.array([[top[0], top[1] - 0.04 * float(np.ptp(pts[seen, 1]) + 50)]])))
    return out


def scene_shapes(review, scene_frame: int) -> list[tuple[int, list]]:
    """(person number, `frame_shapes`) of everyone at a scene frame."""
    return [(n, frame_shapes(t, k, n)) for n, t, k in session.people_at(review, scene_frame)]


def _draw() -> None:
    context = bpy.context
    scene = context.scene
    review = getattr(getattr(scene, "monocap", None), "review", None)
    space = context.space_data
    if review is None or not review.active or review.image is None or space.image != review.image:
        return
    import blf

    if not session.movie_in_step(space.image_user, review.image):
        # the video would show another frame than the skeletons' (an editor opened after Start Review)
        blf.color(0, 1.0, 0.8, 0.2, 1.0)
        blf.size(0, 16)
        blf.position(0, 20.0, 20.0, 0.0)
        blf.draw(0, "Monocap: press Show Video Here (sidebar, Monocap tab) to draw the skeletons in step")
        return
    try:
        shapes = scene_shapes(review, scene.frame_current)
    except Exception:  # a take moved or damaged: the panel says so when an edit is made; draw nothing
        return
    import gpu
    from gpu_extras.batch import batch_for_shader

    width, height = review.image.size[:]
    if not width or not height:
        return
    view = context.region.view2d
    origin = np.array(view.view_to_region(0.0, 0.0, clip=False), np.float64)
    corner = np.array(view.view_to_region(1.0, 1.0, clip=False), np.float64)
    scale = (corner - origin) / np.array([width, -height], np.float64)
    top = origin + np.array([0.0, corner[1] - origin[1]])

    def to_region(xy: np.ndarray) -> np.ndarray:  # image pixels (y down) -> region pixels (y up)
        return top + np.asarray(xy, np.float64).reshape(-1, 2) * scale

    shader = gpu.shader.from_builtin("UNIFORM_COLOR")
    gpu.state.blend_set("ALPHA")
    gpu.state.line_width_set(2.0)
    gpu.state.point_size_set(5.0)
    for number, items in shapes:
        for kind, colour, xy in items:
            if kind == "label":
                x, y = to_region(xy)[0]
                blf.color(0, *colour)
                blf.size(0, 20)
                blf.position(0, float(x) - 6.0, float(y), 0.0)
                blf.draw(0, str(number))
                continue
            coords = to_region(xy).astype(np.float32)
            batch = batch_for_shader(shader, "LINES" if kind == "lines" else "POINTS", {"pos": coords.tolist()})
            shader.uniform_float("color", colour)
            batch.draw(shader)
    gpu.state.line_width_set(1.0)
    gpu.state.point_size_set(1.0)
    gpu.state.blend_set("NONE")


def register() -> None:
    global _HANDLE
    if _HANDLE is None:
        _HANDLE = bpy.types.SpaceImageEditor.draw_handler_add(_draw, (), "WINDOW", "POST_PIXEL")


def unregister() -> None:
    global _HANDLE
    if _HANDLE is not None:
        bpy.types.SpaceImageEditor.draw_handler_remove(_HANDLE, "WINDOW")
        _HANDLE = None
