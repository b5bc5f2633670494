"""VMD motions on Blender armatures: import (keys -> F-curves with Bezier handles) and export.

Conversion, per bone with rest orientation R (`bone.matrix_local`, armature space) and S the Y/Z swap:
    location   = Rᵀ S p · scale                 p: VMD position (MMD units), scale 0.08 m per unit
    quaternion = (w, -Rᵀ S v)                   VMD (x, y, z, w) = (v, w)
Export is the inverse (p = S R location · 12.5, v = -S R q_xyz); consecutive quaternions are kept in one
hemisphere both ways.

Interpolation. The curve stored on VMD key k (x1, y1, x2, y2 in 0..127) shapes the segment from key k-1 to
key k, so it becomes the right handle of key k-1, (f0 + x1/127 Δf, v0 + y1/127 Δv), and the left handle of
key k, (f0 + x2/127 Δf, v0 + y2/127 Δv), on every F-curve of that channel (the rotation curve on all four
quaternion components; a location channel takes the MMD axis it mostly shows). Export reads the handles
back where a segment is Bezier with both ends keyed and the channel moves; anything else (linear, constant,
handles outside the segment) is written as the linear curve (20, 20, 107, 107).

Property keys switch the IK constraints that aim at the named IK bones: their influence is keyed 1 or 0
(constant interpolation).
"""

from __future__ import annotations

import itertools
import re

import bpy
import numpy as np

from ...engine.errors import BadInput
from ...engine.formats.vmd import (
    LINEAR_CURVE,
    VmdBoneKeys,
    VmdMotion,
    curves_to_interpolation,
    interpolation_to_curves,
)
from ...engine.quaternion import quat_continuity
from ..actions.compat import channels, new_action
from .armature import SWAP, bone_lookup, find_bone, ik_constraints, japanese_name, nfkc, vmd_name

_BEZIER, _LINEAR, _CONSTANT = 2, 1, 0
_FREE = 0  # keyframe handle type HD_FREE
_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.(location|rotation_quaternion|rotation_euler)$')


def _rest(obj: bpy.types.Object, bone_name: str) -> np.ndarray:
    return np.array(obj.data.bones[bone_name].matrix_local, np.float64)[:3, :3]


def vmd_to_pose(rest: np.ndarray, position: np.ndarray, rotation_xyzw: np.ndarray, scale: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """VMD keys -> Blender location (K, 3) and quaternion (K, 4) w x y z for a bone with rest R (3, 3)."""
    a = rest.T @ SWAP
    loc = np.asarray(position, np.float64) @ a.T * scale
    rot = np.asarray(rotation_xyzw, np.float64)
    quat = np.concatenate([rot[:, 3:], -(rot[:, :3] @ a.T)], 1)
    quat /= np.maximum(np.linalg.norm(quat, axis=1, keepdims=True), 1e-12)
    return loc, quat_continuity(quat)


def pose_to_vmd(rest: np.ndarray, location: np.ndarray, quat_wxyz: np.ndarray, scale: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Blender location (K, 3) and quaternion (K, 4) -> VMD position (K, 3) and rotation (K, 4) x y z w."""
    b = SWAP @ rest
    pos = np.asarray(location, np.float64) @ b.T * scale
    q = np.asarray(quat_wxyz, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    rot = np.concatenate([-(q[:, 1:] @ b.T), q[:, :1]], 1)
    return pos, quat_continuity(rot)


def location_axes(rest: np.ndarray) -> np.ndarray:
    """For each Blender location channel (3,), the MMD axis (0 X, 1 Y, 2 Z) it mostly carries: the
    one-to-one assignment with the largest weights, so every MMD axis curve lands on one channel."""
    w = np.abs(rest.T @ SWAP)
    best = max(itertools.permutations(range(3)), key=lambda p: sum(w[i, p[i]] for i in range(3)))
    return np.array(best)


# ----------------------------------------------------------------------------------------------- import

def _write_curve(fc: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray, curve: np.ndarray | None) -> None:
    """Keys (K,) with Bezier handles from per-key curves (K, 4) (x1, y1, x2, y2 in 0..127; row k shapes the
    segment ending at key k), or constant keys when curve is None."""
    n = len(frames)
    kp = fc.keyframe_points
    if len(kp):
        kp.clear()
    kp.add(n)
    f = np.asarray(frames, np.float64)
    v = np.asarray(values, np.float64)
    co = np.stack([f, v], 1)
    left = co.copy()
    right = co.copy()
    if curve is None:
        interp = np.full(n, _CONSTANT, np.int32)
    else:
        interp = np.full(n, _BEZIER, np.int32)
        c = np.clip(np.asarray(curve, np.float64), 0, 127) / 127.0
        if n > 1:
            df = f[1:] - f[:-1]
            dv = v[1:] - v[:-1]
            right[:-1, 0] = f[:-1] + c[1:, 0] * df
            right[:-1, 1] = v[:-1] + c[1:, 1] * dv
            left[1:, 0] = f[:-1] + c[1:, 2] * df
            left[1:, 1] = v[:-1] + c[1:, 3] * dv
        # outer handles: flat, a third of a frame out (never evaluated inside the keyed range)
        left[0] = (f[0] - 1.0 / 3.0, v[0])
        right[-1] = (f[-1] + 1.0 / 3.0, v[-1])
    kp.foreach_set("co", co.astype(np.float32).ravel())
    kp.foreach_set("interpolation", interp)
    kp.foreach_set("handle_left_type", np.full(n, _FREE, np.int32))
    kp.foreach_set("handle_right_type", np.full(n, _FREE, np.int32))
    kp.foreach_set("handle_left", left.astype(np.float32).ravel())
    kp.foreach_set("handle_right", right.astype(np.float32).ravel())


def matched_bones(obj: bpy.types.Object, motion: VmdMotion) -> tuple[dict[str, str], list[str]]:
    """VMD bone name -> pose bone name (first VMD spelling per pose bone), and the VMD names not found."""
    lookup = bone_lookup(obj)
    out: dict[str, str] = {}
    used: set[str] = set()
    missing = []
    for name in motion.bone_keys.name_table:
        pb = find_bone(lookup, name)
        if pb is None:
            missing.append(name)
        elif pb not in used:
            out[name] = pb
            used.add(pb)
    return out, missing


def apply_vmd(obj: bpy.types.Object, motion: VmdMotion, scale: float = 0.08, frame_offset: int = 0,
              action_name: str | None = None) -> tuple[bpy.types.Action, list[str]]:
    """Key `motion` on armature `obj` as a new action (assigned to it). Returns the action and warnings.

    Raises BadInput (before changing anything) when no VMD bone matches the armature.
    """
    if obj is None or obj.type != "ARMATURE":
        raise BadInput("Select an armature to import the VMD onto")
    keys = motion.bone_keys
    mapping, missing = matched_bones(obj, motion)
    if len(keys) and not mapping:
        shown = ", ".join(keys.name_table[:5])
        raise BadInput(f"{obj.name} has none of the motion's {len(keys.name_table)} bones ({shown}...): "
                       "import it onto the MMD armature it was made for")
    warnings = []
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        warnings.append(f"{len(missing)} VMD bones not in {obj.name}, skipped: {shown}")
    if len(motion.morph_keys):
        warnings.append(f"{len(motion.morph_keys)} morph keys not imported (skeleton only)")

    if obj.animation_data is None:
        obj.animation_data_create()
    old_action = obj.animation_data.action
    action = new_action(obj, action_name or (motion.model_name or obj.name) + " VMD")
    try:
        ch = channels(obj, create=True)
        assert ch is not None
        vmd_names = list(mapping)
        selections = keys.select_many(vmd_names)
        curves_all = interpolation_to_curves(keys.interpolation)
        for vmd_name, idx in zip(vmd_names, selections):
            if idx.size == 0:
                continue
            bone = mapping[vmd_name]
            pb = obj.pose.bones[bone]
            pb.rotation_mode = "QUATERNION"
            rest = _rest(obj, bone)
            frames = keys.frame[idx].astype(np.float64) + frame_offset
            loc, quat = vmd_to_pose(rest, keys.position[idx], keys.rotation[idx], scale)
            curves = curves_all[idx]  # (K, 4 rows, 4)
            path = pb.path_from_id()
            for i in range(4):
                fc = ch.new(f"{path}.rotation_quaternion", i, group=bone)
                _write_curve(fc, frames, quat[:, i], curves[:, 3])
            if np.any(keys.position[idx] != 0):
                axes = location_axes(rest)
                for i in range(3):
                    fc = ch.new(f"{path}.location", i, group=bone)
                    _write_curve(fc, frames, loc[:, i], curves[:, axes[i]])
        _key_ik_switches(obj, motion, ch, frame_offset)
    except Exception:
        obj.animation_data.action = old_action
        bpy.data.actions.remove(action)
        raise
    return action, warnings


def _key_ik_switches(obj: bpy.types.Object, motion: VmdMotion, ch, frame_offset: int) -> None:
    if not motion.property_keys:
        return
    cons = ik_constraints(obj)
    lookup = bone_lookup(obj)
    states: dict[int, list[tuple[int, int]]] = {}
    cache: dict[int, bpy.types.Constraint] = {}
    for key in sorted(motion.property_keys, key=lambda k: k.frame):
        for s in key.ik:
            pb = find_bone(lookup, s.name)
            if pb is None:
                continue
            for con in cons.get(nfkc(japanese_name(obj.pose.bones[pb])), []):
                cache[id(con)] = con
                states.setdefault(id(con), []).append((key.frame + frame_offset, 1 if s.enabled else 0))
    for cid, seq in states.items():
        con = cache[cid]
        frames = np.array([f for f, _ in seq], np.float64)
        values = np.array([v for _, v in seq], np.float64)
        fc = ch.new(con.path_from_id("influence"), 0)
        _write_curve(fc, frames, values, None)


# ----------------------------------------------------------------------------------------------- export

def _keys_of(fc: bpy.types.FCurve) -> dict[str, np.ndarray]:
    n = len(fc.keyframe_points)
    out = {}
    for attr, width, dtype in (("co", 2, np.float32), ("handle_left", 2, np.float32),
                               ("handle_right", 2, np.float32), ("interpolation", 1, np.int32)):
        buf = np.empty(n * width, dtype)
        fc.keyframe_points.foreach_get(attr, buf)
        out[attr] = buf.reshape(n, width) if width > 1 else buf
    return out


def _values_at(fc: bpy.types.FCurve | None, keys: dict | None, frames: np.ndarray, default: float) -> np.ndarray:
    if fc is None:
        return np.full(len(frames), default)
    f = keys["co"][:, 0].astype(np.float64)
    out = np.empty(len(frames))
    pos = {float(x): i for i, x in enumerate(f)}
    for k, fr in enumerate(frames):
        i = pos.get(float(fr))
        out[k] = keys["co"][i, 1] if i is not None else fc.evaluate(float(fr))
    return out


def _segment_curves(keys: dict | None, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment k (ending at frames[k], k >= 1): the curve (x1, y1, x2, y2) read from the handles and the
    change of value |Δv|; the curve is -1 where it cannot be read."""
    n = len(frames)
    curve = np.full((n, 4), -1, np.int64)
    dv_out = np.zeros(n)
    if keys is None:
        return curve, dv_out
    f = keys["co"][:, 0].astype(np.float64)
    pos = {float(x): i for i, x in enumerate(f)}
    for k in range(1, n):
        i0, i1 = pos.get(float(frames[k - 1])), pos.get(float(frames[k]))
        if i0 is None or i1 is None or i1 != i0 + 1:
            continue
        f0, v0 = keys["co"][i0].astype(np.float64)
        f1, v1 = keys["co"][i1].astype(np.float64)
        df, dv = f1 - f0, v1 - v0
        dv_out[k] = abs(dv)
        if keys["interpolation"][i0] != _BEZIER or df <= 0 or abs(dv) < 1e-6:
            continue
        hr = keys["handle_right"][i0].astype(np.float64)
        hl = keys["handle_left"][i1].astype(np.float64)
        raw = np.array([(hr[0] - f0) / df, (hr[1] - v0) / dv, (hl[0] - f0) / df, (hl[1] - v0) / dv]) * 127.0
        if np.all(raw > -0.5) and np.all(raw < 127.5):
            curve[k] = np.clip(np.rint(raw), 0, 127)
    return curve, dv_out


def armature_to_vmd(obj: bpy.types.Object, scale: float = 12.5, frame_offset: int = 0,
                    model_name: str | None = None) -> tuple[VmdMotion, list[str]]:
    """The VMD motion of the action on armature `obj`: one key per keyed frame of every bone with location
    or rotation curves, at frame - frame_offset. Names are the bones' MMD names."""
    if obj is None or obj.type != "ARMATURE":
        raise BadInput("Select the MMD armature to export")
    ch = channels(obj)
    if ch is None:
        raise BadInput(f"{obj.name} has no animation to export")
    per_bone: dict[str, dict[tuple[str, int], bpy.types.FCurve]] = {}
    for fc in ch:
        m = _PATH.match(fc.data_path)
        if not m:
            continue
        bone = bpy.utils.unescape_identifier(m.group(1))
        if bone in obj.pose.bones:
            per_bone.setdefault(bone, {})[(m.group(2), fc.array_index)] = fc
    if not per_bone:
        raise BadInput(f"{obj.name}'s action has no bone location or rotation keys to export")
    warnings: list[str] = []
    names: list[str] = []
    f_all, p_all, r_all, i_all = [], [], [], []
    dropped = 0
    cut: list[str] = []
    linear = np.array(LINEAR_CURVE)
    for bone in obj.pose.bones:
        fcs = per_bone.get(bone.name)
        if not fcs:
            continue
        data = {key: _keys_of(fc) for key, fc in fcs.items()}
        frames = np.unique(np.rint(np.concatenate([d["co"][:, 0] for d in data.values()])).astype(np.float64))
        if frames.size == 0:
            continue
        rest = _rest(obj, bone.name)
        loc = np.stack([_values_at(fcs.get(("location", i)), data.get(("location", i)), frames, 0.0)
                        for i in range(3)], 1)
        if any(k[0] == "rotation_euler" for k in fcs) and not any(k[0] == "rotation_quaternion" for k in fcs):
            import mathutils
            eul = np.stack([_values_at(fcs.get(("rotation_euler", i)), data.get(("rotation_euler", i)), frames,
                                       0.0) for i in range(3)], 1)
            order = bone.rotation_mode if len(bone.rotation_mode) == 3 else "XYZ"
            quat = np.array([list(mathutils.Euler(e, order).to_quaternion()) for e in eul])
            rot_keys: list[dict | None] = [None] * 4
        else:
            quat = np.stack([_values_at(fcs.get(("rotation_quaternion", i)), data.get(("rotation_quaternion", i)),
                                        frames, 1.0 if i == 0 else 0.0) for i in range(4)], 1)
            rot_keys = [data.get(("rotation_quaternion", i)) for i in range(4)]
        pos, rot = pose_to_vmd(rest, loc, quat, scale)

        curves = np.tile(linear, (len(frames), 4, 1))
        axes = location_axes(rest)
        for i in range(3):  # location channel i carries MMD axis axes[i]
            c, _ = _segment_curves(data.get(("location", i)), frames)
            ok = c[:, 0] >= 0
            curves[ok, axes[i]] = c[ok]
        best_dv = np.zeros(len(frames))
        for d in rot_keys:
            c, dv = _segment_curves(d, frames)
            ok = (c[:, 0] >= 0) & (dv > best_dv)
            curves[ok, 3] = c[ok]
            best_dv = np.where(ok, dv, best_dv)

        out_frames = frames - frame_offset
        keep = out_frames >= 0
        dropped += int((~keep).sum())
        if not keep.any():
            continue
        jp = japanese_name(bone)
        short = vmd_name(jp)
        if short != jp:
            cut.append(jp)
        names += [short] * int(keep.sum())
        f_all.append(out_frames[keep])
        p_all.append(pos[keep])
        r_all.append(rot[keep])
        i_all.append(curves_to_interpolation(curves[keep]))
    if cut:
        warnings.append(f"{len(cut)} bone names cut to the VMD's 15 bytes: {', '.join(cut[:5])}")
    if dropped:
        warnings.append(f"{dropped} keys before frame {frame_offset} left out (VMD frames start at 0)")
    if not names:
        raise BadInput(f"{obj.name} has no keys at or after frame {frame_offset} to export")
    bone_keys = VmdBoneKeys.build(names, np.concatenate(f_all).astype(np.uint32), np.concatenate(p_all),
                                  np.concatenate(r_all), np.concatenate(i_all))
    name = model_name if model_name is not None else str(obj.get("mmd_model_name", obj.name))
    return VmdMotion(model_name=_fit_name(name), bone_keys=bone_keys), warnings


def _fit_name(name: str) -> str:
    """Model name cut to the VMD's 20 cp932 bytes (non-cp932 characters dropped: it is only a label)."""
    out = ""
    for ch in name:
        try:
            data = (out + ch).encode("cp932")
        except UnicodeEncodeError:
            continue
        if len(data) > 20:
            break
        out += ch
    return out
