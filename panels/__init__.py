"""Sidebar panels: 3D View tab "Monocap" (capture, import, export) and the Graph Editor's cleanup panel."""

from __future__ import annotations

import bpy

from . import menus, sidebar

CLASSES: list[type] = list(sidebar.CLASSES)


def draw_preferences(prefs: bpy.types.AddonPreferences, context: bpy.types.Context) -> None:
    """The add-on preferences: engine Python, device, and the 'Set up engine' button with its status."""
    from ..operators.setup import setup_status

    layout = prefs.layout
    layout.prop(prefs, "engine_python")
    layout.prop(prefs, "device")
    row = layout.row()
    row.operator("monocap.setup_engine", icon="CONSOLE")
    text, progress = setup_status()
    if text:
        if 0.0 < progress < 1.0 and hasattr(layout, "progress"):
            layout.progress(factor=progress, type="BAR", text=text)
        else:
            layout.label(text=text)
    col = layout.column(align=True)  # one line was cut off in the default Preferences window
    col.label(text="Set up engine makes a Python environment in the extension's folder and installs")
    col.label(text="the engine's packages into it (several GB for torch); Blender's Python is not changed.")


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    menus.register()


def unregister() -> None:
    menus.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
