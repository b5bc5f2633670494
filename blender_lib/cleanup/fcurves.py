"""Graph Editor cleanup on F-curves: smoothing, key reduction and flip repair, each treating the channels
of one property (a bone's quaternion, location, Euler rotation) together."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import bpy
import numpy as np

from ...engine.filters import (
    fix_quaternion_flips,
    lowpass_zero_phase,
    one_euro,
    quat_continuity,
    quat_normalize,
    reduce_keys,
    unwrap_euler,
)
from ...engine.filters.reduce import euclidean_error, quaternion_error
from ..actions import compat
from ..actions.keyframes import evaluate, read_keys, write_keys

_BONE = re.compile(r'^pose\.bones\["(?P<bone>(?:[^"\\]|\\.)*)"\]\.(?P<prop>\w+)$')
_SIZE = {"rotation_quaternion": 4, "rotation_euler": 3, "location": 3, "scale": 3, "rotation_axis_angle": 4}


class Group:
    """The F-curves of one property of one owner, ordered by array index (missing ones as None)."""

    def __init__(self, owner: bpy.types.ID, data_path: str, fcurves: list) -> None:
        self.owner = owner
        self.data_path = data_path
        self.fcurves = fcurves

    @property
    def prop(self) -> str:
        return self.data_path.rsplit(".", 1)[-1]

    @property
    def bone(self) -> str | None:
        m = _BONE.match(self.data_path)
        return m.group("bone") if m else None

    @property
    def complete(self) -> list[bpy.types.FCurve]:
        return [fc for fc in self.fcurves if fc is not None]

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """Frames (N,) and values (N, C). Keys on every whole frame are read as they are; anything else
        is sampled on every whole frame of its range (so filters see a uniform rate)."""
        fcs = self.complete
        keyed = [read_keys(fc) for fc in fcs]
        frames = keyed[0][0]
        uniform = len(frames) > 1 and all(len(k[0]) == len(frames) and np.array_equal(k[0], frames)
                                          for k in keyed) and np.allclose(np.diff(frames), 1.0)
        if uniform:
            return frames, np.stack([k[1] for k in keyed], axis=1)
        lo = np.floor(min(k[0].min() for k in keyed if len(k[0])))
        hi = np.ceil(max(k[0].max() for k in keyed if len(k[0])))
        frames = np.arange(lo, hi + 1)
        return frames, np.stack([evaluate(fc, frames) for fc in fcs], axis=1)

    def write(self, frames: np.ndarray, values: np.ndarray, interpolation: str = "LINEAR") -> None:
        for c, fc in enumerate(self.complete):
            write_keys(fc, frames, values[:, c], interpolation)


def selected_fcurves(context: bpy.types.Context) -> list[tuple[bpy.types.ID, bpy.types.FCurve]]:
    """(owner, F-curve) pairs to work on: the Graph Editor's selected editable curves, or else the active
    armature's curves of its selected bones (all bones if none is selected)."""
    found = getattr(context, "selected_editable_fcurves", None)
    obj = context.active_object
    if found:
        # A curve belongs to an action; its owner is the object that action animates (the active first).
        users = [o for o in [obj, *context.scene.objects] if o is not None and compat.assigned_action(o)]
        owner = {fc: next((o for o in users if compat.assigned_action(o) == fc.id_data), obj) for fc in found}
        return [(owner[fc], fc) for fc in found]
    if obj is None:
        return []
    chans = compat.channels(obj)
    if chans is None:
        return []
    fcs = list(chans)
    if obj.type == "ARMATURE":
        picked = {pb.name for pb in obj.pose.bones if compat.bone_selected(pb)}
        if picked:
            fcs = [fc for fc in fcs if (m := _BONE.match(fc.data_path)) and m.group("bone") in picked]
    return [(obj, fc) for fc in fcs]


def group_fcurves(pairs: Iterable[tuple[bpy.types.ID, bpy.types.FCurve]]) -> list[Group]:
    """Group curves by property; a quaternion always brings its four channels (quaternion-safe)."""
    groups: dict[tuple[int, str], Group] = {}
    for owner, fc in pairs:
        key = (id(owner), fc.data_path)
        if key in groups:
            continue
        prop = fc.data_path.rsplit(".", 1)[-1]
        size = _SIZE.get(prop, 0)
        if size and owner is not None and (chans := compat.channels(owner)) is not None:
            curves = [chans.find(fc.data_path, i) for i in range(size)]
            if not any(c == fc for c in curves):  # a curve of some other object: take it alone
                curves = [fc]
        else:
            curves = [fc]
        groups[key] = Group(owner, fc.data_path, curves)
    return [g for g in groups.values() if g.complete and len(g.complete[0].keyframe_points) > 1]


def smooth(groups: list[Group], fps: float, method: str = "BUTTERWORTH", cutoff: float = 6.0,
           min_cutoff: float = 1.0, beta: float = 0.05) -> int:
    """Low-pass every group in place; returns how many groups were smoothed."""
    if method == "BUTTERWORTH":
        cutoff = min(cutoff, 0.45 * fps)

        def filt(x: np.ndarray) -> np.ndarray:
            return lowpass_zero_phase(x, fps, cutoff)
    else:
        def filt(x: np.ndarray) -> np.ndarray:
            return one_euro(x, fps, min_cutoff=min_cutoff, beta=beta)
    # Groups sampled on the same frames are filtered as one (T, C) array: the filters loop over time in
    # Python, so one pass for all channels is what keeps 10,000-frame takes quick.
    buckets: dict[tuple[float, float, int], list[tuple[Group, np.ndarray, np.ndarray]]] = {}
    for g in groups:
        frames, values = g.sample()
        if len(frames) < 4:
            continue
        if g.prop == "rotation_quaternion" and values.shape[1] == 4:
            values = quat_continuity(values)
        buckets.setdefault((frames[0], frames[-1], len(frames)), []).append((g, frames, values))
    done = 0
    for items in buckets.values():
        out = filt(np.concatenate([v for _, _, v in items], axis=1))
        col = 0
        for g, frames, values in items:
            part = out[:, col:col + values.shape[1]]
            col += values.shape[1]
            if g.prop == "rotation_quaternion" and values.shape[1] == 4:
                part = quat_normalize(part)
            g.write(frames, part)
            done += 1
    return done


def _error_fn(prop: str, channels: int) -> tuple[Callable | None, float]:
    """Distance for key reduction and the factor from user units (degrees, cm) to it."""
    if prop == "rotation_quaternion" and channels == 4:
        return quaternion_error, 1.0
    if prop == "location":
        return euclidean_error, 0.01
    if prop == "rotation_euler":
        return (lambda a, b: np.degrees(np.max(np.abs(a - b), axis=1))), 1.0
    return None, 1.0


def reduce(groups: list[Group], tol_deg: float = 0.5, tol_cm: float = 0.5) -> tuple[int, int]:
    """Remove keys while linear interpolation stays within tolerance (degrees for rotations, cm for
    locations, the raw value otherwise). Returns (keys before, keys after)."""
    before = after = 0
    for g in groups:
        frames, values = g.sample()
        before += len(frames) * values.shape[1]
        err, unit = _error_fn(g.prop, values.shape[1])
        tol = (tol_deg if g.prop.startswith("rotation") else tol_cm) * unit
        if g.prop not in ("rotation_quaternion", "rotation_euler", "location"):
            tol = tol_cm * 0.01
        keep = reduce_keys(frames, values, tol, err)
        # Linear keys make the bound exact: Blender interpolates (and renormalises) the same way.
        g.write(frames[keep], values[keep], "LINEAR")
        after += int(keep.sum()) * values.shape[1]
    return before, after


def fix_flips(groups: list[Group], max_step_deg: float = 100.0) -> int:
    """Repair quaternion sign flips and sudden twists, and ±360° Euler jumps; returns steps repaired."""
    fixed = 0
    for g in groups:
        frames, values = g.sample()
        if g.prop == "rotation_quaternion" and values.shape[1] == 4:
            signs = int(np.count_nonzero(np.sum(values[1:] * values[:-1], axis=1) < 0))
            out, twists = fix_quaternion_flips(values, max_step_deg)
            count = signs + twists
        elif g.prop == "rotation_euler":
            out, count = unwrap_euler(values)
        else:
            continue
        if count:
            g.write(frames, out)
            fixed += count
    return fixed
