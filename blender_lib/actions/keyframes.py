"""Fast keyframe I/O: `keyframe_points.add` + `foreach_set`, never `keyframe_insert` in a loop."""

from __future__ import annotations

import bpy
import numpy as np

_INTERP = {"CONSTANT": 0, "LINEAR": 1, "BEZIER": 2}


def write_keys(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray,
               interpolation: str = "LINEAR") -> None:
    """Replace all keys of `fcurve` with (frames (N,), values (N,)) in one bulk write.

    Baked motion has a key every frame, so LINEAR is exact between samples and skips handle maths;
    reduced curves use BEZIER so the few keys left still ease.
    """
    n = len(frames)
    kp = fcurve.keyframe_points
    if len(kp):
        kp.clear()
    kp.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    kp.foreach_set("co", co)
    kp.foreach_set("interpolation", np.full(n, _INTERP[interpolation], dtype=np.int32))
    if interpolation == "BEZIER":
        # Handles must be recomputed for Bezier keys; LINEAR/CONSTANT keys never read them.
        fcurve.update()


def read_keys(fcurve: bpy.types.FCurve) -> tuple[np.ndarray, np.ndarray]:
    """(frames (N,), values (N,)) float64 of every key."""
    n = len(fcurve.keyframe_points)
    co = np.empty(2 * n, dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", co)
    return co[0::2].astype(np.float64), co[1::2].astype(np.float64)


def evaluate(fcurve: bpy.types.FCurve, frames: np.ndarray) -> np.ndarray:
    """The curve's value at each frame, as Blender evaluates it.

    Baked and reduced curves are all-LINEAR with constant extrapolation and no modifiers: for those,
    np.interp gives the same numbers without a Python call per frame. Anything else asks Blender.
    """
    n = len(fcurve.keyframe_points)
    if n and fcurve.extrapolation == "CONSTANT" and len(fcurve.modifiers) == 0:
        interp = np.empty(n, dtype=np.int32)
        fcurve.keyframe_points.foreach_get("interpolation", interp)
        if np.all(interp == _INTERP["LINEAR"]):
            keys, values = read_keys(fcurve)
            return np.interp(np.asarray(frames, dtype=np.float64), keys, values)
    return np.array([fcurve.evaluate(float(f)) for f in frames], dtype=np.float64)
