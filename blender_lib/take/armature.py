"""Build the canonical Monocap armature from a take's skeleton (joint names, parents, rest offsets)."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from ..actions import compat

# world_yup (x right, y up, z towards the viewer; the rest pose faces +Z) -> blender_zup (faces -Y).
YUP_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# Extra points (toe tips, heels, nose) make short bones but are never a parent bone's tail.
_NOT_A_TAIL = ("tip", "heel", "nose", "end")
_PREFERRED_TAIL = ("spine", "chest", "neck", "head", "toes", "hips")
_LEAF_MIN, _LEAF_MAX, _POINT_LEN = 0.06, 0.2, 0.03
MARKER = "monocap_skeleton"


def to_zup(v: np.ndarray) -> np.ndarray:
    """world_yup vectors (..., 3) -> blender_zup."""
    return np.asarray(v, dtype=np.float64) @ YUP_TO_ZUP.T


def rest_positions(parents: np.ndarray, rest_offsets: np.ndarray) -> np.ndarray:
    """(J, 3) rest positions from parent offsets; parents must come before children."""
    p = np.zeros((len(parents), 3))
    for j, par in enumerate(parents):
        p[j] = rest_offsets[j] if par < 0 else p[par] + rest_offsets[j]
    return p


def _tail_child(j: int, names: list[str], children: list[list[int]], pos: np.ndarray) -> int | None:
    cands = [c for c in children[j] if not any(k in names[c].lower() for k in _NOT_A_TAIL)
             and np.linalg.norm(pos[c] - pos[j]) > 1e-4]
    if not cands:
        return None
    for key in _PREFERRED_TAIL:
        for c in cands:
            if key in names[c].lower():
                return c
    return cands[0] if len(cands) == 1 else None


def bone_layout(names: list[str], parents: np.ndarray, rest_offsets_yup: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
    """Heads (J, 3), tails (J, 3) in blender_zup and each joint's tail child (None for leaves)."""
    pos = to_zup(rest_positions(parents, rest_offsets_yup))
    children: list[list[int]] = [[] for _ in names]
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    tails = np.zeros_like(pos)
    tail_child: list[int | None] = []
    for j, name in enumerate(names):
        c = _tail_child(j, names, children, pos)
        tail_child.append(c)
        if c is not None:
            tails[j] = pos[c]
            continue
        par = parents[j]
        incoming = pos[j] - pos[par] if par >= 0 else np.array([0.0, 0.0, 1.0])
        length = np.linalg.norm(incoming)
        if any(k in name.lower() for k in _NOT_A_TAIL) or length < 1e-6:
            direction = incoming / length if length > 1e-6 else np.array([0.0, 0.0, 1.0])
            tails[j] = pos[j] + direction * _POINT_LEN
        else:
            tails[j] = pos[j] + incoming / length * np.clip(0.6 * length, _LEAF_MIN, _LEAF_MAX)
    return pos, tails, tail_child


def _roll_reference(direction: np.ndarray) -> Vector:
    """Bone Z axis points forward (-Y), or up for bones that themselves point forward (feet)."""
    d = direction / max(np.linalg.norm(direction), 1e-12)
    if abs(d[1]) > 0.7:
        return Vector((0.0, 0.0, 1.0))
    return Vector((0.0, -1.0, 0.0))


def new_armature_in_edit_mode(context: bpy.types.Context, name: str, marker: str) -> bpy.types.Object:
    """A new, empty armature object in the active collection, tagged with `marker`, made the only selected
    and active object and put in Edit mode (the caller adds bones, then returns to Object mode)."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    context.collection.objects.link(obj)
    obj[marker] = True
    if context.view_layer.objects.active and context.view_layer.objects.active.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    for other in context.selected_objects:
        other.select_set(False)
    context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    return obj


def build_armature(context: bpy.types.Context, name: str, joint_names: list[str], parents: np.ndarray,
                   rest_offsets_yup: np.ndarray) -> bpy.types.Object:
    """A new armature object in the active collection, bones named after the joints, rest = T-pose.

    Leaves the new object active and selected, in Object mode.
    """
    heads, tails, _ = bone_layout(joint_names, parents, rest_offsets_yup)
    obj = new_armature_in_edit_mode(context, name, MARKER)
    data = obj.data
    try:
        ebones = []
        for j, jname in enumerate(joint_names):
            eb = data.edit_bones.new(jname)
            eb.head = Vector(heads[j])
            eb.tail = Vector(tails[j])
            eb.align_roll(_roll_reference(tails[j] - heads[j]))
            ebones.append(eb)
        for j, par in enumerate(parents):
            if par >= 0:
                ebones[j].parent = ebones[par]
                # Connected only where the parent's tail really is this head: keeps chains tidy.
                ebones[j].use_connect = bool(np.linalg.norm(tails[par] - heads[j]) < 1e-6)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
        # Selected, so the Graph Editor (showing only selected bones' curves by default) shows its keys.
        compat.set_bone_selected(pb, True)
    # Drawn in front: in the default scene the figure stands inside the 2 m cube and was hidden by it.
    obj.show_in_front = True
    return obj


def rest_matrices(obj: bpy.types.Object, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rest orientations (N, 3, 3) and heads (N, 3) in armature space of the named bones."""
    rots = np.zeros((len(names), 3, 3))
    heads = np.zeros((len(names), 3))
    for i, n in enumerate(names):
        m = np.array(obj.data.bones[n].matrix_local)
        rots[i] = m[:3, :3]
        heads[i] = m[:3, 3]
    return rots, heads


def update_rest(context: bpy.types.Context, obj: bpy.types.Object, joint_names: list[str], parents: np.ndarray,
                rest_offsets_yup: np.ndarray, tolerance: float = 1e-5) -> bool:
    """Move the bones of a Monocap armature (`build_armature`) to the rest pose of new rest offsets (a take
    lifted again measures the bones anew); nothing is done if they already match. True if the rest changed.
    The active object, the selection and the object's mode are given back."""
    heads, tails, _ = bone_layout(joint_names, parents, rest_offsets_yup)
    now = np.array([np.array(obj.data.bones[n].head_local) for n in joint_names])
    if np.abs(now - heads).max() <= tolerance:
        return False
    view_layer = context.view_layer
    active, selected, mode = view_layer.objects.active, list(context.selected_objects), obj.mode
    if active is not None and active.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for j, name in enumerate(joint_names):
            eb = obj.data.edit_bones[name]
            eb.use_connect = False  # a connected head would be pulled to the parent's old tail
            eb.head, eb.tail = Vector(heads[j]), Vector(tails[j])
            eb.align_roll(_roll_reference(tails[j] - heads[j]))
        for j, par in enumerate(parents):
            if par >= 0:
                obj.data.edit_bones[joint_names[j]].use_connect = bool(np.linalg.norm(tails[par] - heads[j]) < 1e-6)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for other in context.selected_objects:
        other.select_set(other in selected)
    view_layer.objects.active = active
    if active is not None and active.mode != mode and active == obj:
        bpy.ops.object.mode_set(mode=mode)
    return True
