"""Inside Blender: the scene's state as the tests compare it ("exactly as before")."""

import hashlib

import bpy


def fcurves_of(action):
    if hasattr(action, "fcurves"):
        return list(action.fcurves)
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves]


def keys_digest(action) -> tuple[int, int, str]:
    """(curves, keys, SHA-1 of every key's frame, value and handles)."""
    h = hashlib.sha1()
    n = 0
    for fc in sorted(fcurves_of(action), key=lambda f: (f.data_path, f.array_index)):
        h.update(f"{fc.data_path}[{fc.array_index}]".encode())
        for kp in fc.keyframe_points:
            h.update(repr((tuple(kp.co), tuple(kp.handle_left), tuple(kp.handle_right),
                           kp.interpolation)).encode())
            n += 1
    return len(fcurves_of(action)), n, h.hexdigest()


def scene_state() -> dict:
    """What 'exactly as before' means: objects, their transforms and actions, every action's keys, the scene's
    rate and range, and every other datablock count."""
    s = bpy.context.scene
    objects = {}
    for o in bpy.data.objects:
        act = o.animation_data.action if o.animation_data else None
        objects[o.name] = (o.type, [round(v, 6) for row in o.matrix_world for v in row],
                           act.name if act else None)
    return {"objects": objects,
            "actions": {a.name: keys_digest(a) for a in bpy.data.actions},
            "scene": (s.render.fps, s.render.fps_base, s.frame_start, s.frame_end, s.frame_current),
            "counts": {k: len(getattr(bpy.data, k)) for k in ("armatures", "meshes", "movieclips", "images",
                                                               "texts", "collections", "cameras")}}
