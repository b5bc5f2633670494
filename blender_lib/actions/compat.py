"""One place for the action API differences between Blender 4.2 and 5.0.

4.2 has legacy actions: `action.fcurves`, `action.groups`. 4.4 added layered actions with slots, and 5.0
removed the legacy API: F-curves live in `action.layers[0].strips[0].channelbag(slot)`. Everything else in
the add-on goes through `Channels`, which wraps whichever container holds the F-curves.
"""

from __future__ import annotations

from collections.abc import Iterator

import bpy

LAYERED = "layers" in bpy.types.Action.bl_rna.properties


class Channels:
    """The F-curves (and groups) an action holds for one object, legacy or layered."""

    def __init__(self, container: bpy.types.bpy_struct) -> None:
        self._c = container

    @property
    def fcurves(self) -> bpy.types.bpy_prop_collection:
        return self._c.fcurves

    def __iter__(self) -> Iterator[bpy.types.FCurve]:
        return iter(self._c.fcurves)

    def find(self, data_path: str, index: int = 0) -> bpy.types.FCurve | None:
        return self._c.fcurves.find(data_path, index=index)

    def new(self, data_path: str, index: int = 0, group: str = "") -> bpy.types.FCurve:
        if LAYERED:
            fc = self._c.fcurves.new(data_path, index=index)
            if group:
                grp = self._c.groups.get(group) or self._c.groups.new(group)
                fc.group = grp
            return fc
        return self._c.fcurves.new(data_path, index=index, action_group=group)

    def ensure(self, data_path: str, index: int = 0, group: str = "") -> bpy.types.FCurve:
        return self.find(data_path, index) or self.new(data_path, index, group)

    def remove(self, fcurve: bpy.types.FCurve) -> None:
        self._c.fcurves.remove(fcurve)


def new_action(obj: bpy.types.Object, name: str) -> bpy.types.Action:
    """Create an action and assign it to `obj` (with a slot and a keyframe strip where layered)."""
    action = bpy.data.actions.new(name)
    anim = obj.animation_data or obj.animation_data_create()
    if LAYERED:
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        layer = action.layers.new("Layer")
        layer.strips.new(type="KEYFRAME")
        anim.action = action
        anim.action_slot = slot
    else:
        anim.action = action
    return action


def channels(obj: bpy.types.Object, create: bool = False) -> Channels | None:
    """The F-curves of the action assigned to `obj` (None if it has none and `create` is False)."""
    anim = obj.animation_data
    action = anim.action if anim else None
    if action is None:
        if not create:
            return None
        action = new_action(obj, f"{obj.name}Action")
        anim = obj.animation_data
    if not LAYERED:
        return Channels(action)
    slot = anim.action_slot
    if slot is None:
        if not create and len(action.slots) == 0:
            return None
        slot = action.slots[0] if len(action.slots) else action.slots.new(id_type="OBJECT", name=obj.name)
        anim.action_slot = slot
    if len(action.layers) == 0:
        if not create:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if len(layer.strips) == 0:
        if not create:
            return None
        layer.strips.new(type="KEYFRAME")
    bag = layer.strips[0].channelbag(slot, ensure=create)
    return Channels(bag) if bag is not None else None


def assigned_action(obj: bpy.types.Object) -> bpy.types.Action | None:
    anim = obj.animation_data
    return anim.action if anim else None


def bone_selected(pbone: bpy.types.PoseBone) -> bool:
    """Pose-bone selection moved from Bone.select to PoseBone.select in 5.0."""
    if "select" in pbone.bl_rna.properties:
        return bool(pbone.select)
    return bool(pbone.bone.select)


def set_bone_selected(pbone: bpy.types.PoseBone, state: bool) -> None:
    if "select" in pbone.bl_rna.properties:
        pbone.select = state
    else:
        pbone.bone.select = state
