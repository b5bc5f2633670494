"""Monocap: motion capture from one video, baked onto Blender armatures.

This module only registers the add-on: its preferences (the engine's Python and device) and the classes of
`operators` and `panels`. The capture engine runs in its own Python as a subprocess.
"""

from __future__ import annotations

import bpy

try:
    import numpy  # noqa: F401  (every part of the add-on but the message below needs it)
except ImportError:
    HAS_NUMPY = False
else:
    HAS_NUMPY = True

if HAS_NUMPY:
    from . import operators, panels
from .panels import missing_numpy


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
        if HAS_NUMPY:
            panels.draw_preferences(self, context)
        else:
            missing_numpy.draw_message(self.layout)


def register() -> None:
    bpy.utils.register_class(MonocapPreferences)
    if not HAS_NUMPY:  # enabled anyway, so that the add-on list and the sidebar can say what is missing
        for cls in missing_numpy.CLASSES:
            bpy.utils.register_class(cls)
        print(missing_numpy.summary())
        return
    operators.register()
    panels.register()


def unregister() -> None:
    if not HAS_NUMPY:
        for cls in reversed(missing_numpy.CLASSES):
            bpy.utils.unregister_class(cls)
    else:
        panels.unregister()
        operators.unregister()
    bpy.utils.unregister_class(MonocapPreferences)
