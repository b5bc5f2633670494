"""Monocap: motion capture from one video, baked onto Blender armatures.

This module only registers the add-on: its preferences (the engine's Python and device) and the classes of
`operators` and `panels`. The capture engine runs in its own Python as a subprocess.
"""

from __future__ import annotations

import bpy

from . import operators, panels


class MonocapPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_python: bpy.props.StringProperty(
        name="Engine Python",
        description="Python interpreter of the capture engine's environment (leave empty to use the one "
                    "'Set up engine' creates)",
        subtype="FILE_PATH",
        default="",
    )
    device: bpy.props.EnumProperty(
        name="Device",
        items=[("auto", "Auto", "CUDA when available, else CPU"),
               ("cpu", "CPU", "Always run on the CPU"),
               ("cuda", "CUDA", "NVIDIA GPU (fails if none is available)")],
        default="auto",
    )

    def draw(self, context: bpy.types.Context) -> None:
        panels.draw_preferences(self, context)


def register() -> None:
    bpy.utils.register_class(MonocapPreferences)
    operators.register()
    panels.register()


def unregister() -> None:
    panels.unregister()
    operators.unregister()
    bpy.utils.unregister_class(MonocapPreferences)
