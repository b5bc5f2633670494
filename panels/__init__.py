"""Sidebar panels: 3D View tab "Monocap" (capture, import, export) and the Graph Editor's cleanup panel."""

from __future__ import annotations

import bpy

from . import menus, sidebar

CLASSES: list[type] = list(sidebar.CLASSES)


def draw_preferences(prefs: bpy.types.AddonPreferences, context: bpy.types.Context) -> None:
    """The add-on preferences: engine Python, device with the installed profile, the two 'Set up engine'
    buttons (each with its download size), the running set-up's progress and its Cancel button."""
    from ..blender_lib.engine_link.engine_python import profile_line
    from ..operators.setup import download_text, setup_running, setup_status

    layout = prefs.layout
    layout.prop(prefs, "engine_python")
    layout.prop(prefs, "device")
    line = profile_line(context)
    layout.label(text=line, icon="ERROR" if "sees no GPU" in line or "CPU-only build" in line else "INFO")
    row = layout.row()
    row.enabled = not setup_running()
    for profile in ("cpu", "gpu"):
        op = row.operator("monocap.setup_engine", text=f"Set up engine ({profile.upper()}, "
                                                       f"{download_text(profile)})", icon="CONSOLE")
        op.profile = profile
    text, progress = setup_status()
    if text:
        row = layout.row()
        if setup_running() and hasattr(row, "progress"):
            row.progress(factor=progress, type="BAR", text=text)
        else:
            row.label(text=text)
        if setup_running():
            row.operator("monocap.cancel_setup", icon="CANCEL")
    col = layout.column(align=True)  # one line was cut off in the default Preferences window
    col.label(text="Set up engine makes a Python environment in the extension's folder and installs the")
    col.label(text="engine into it (CPU: no torch; GPU: torch with CUDA); Blender's Python is not changed.")


def register() -> None:
    # imported here: the review's drawing needs numpy, and this package must import without it (the add-on
    # then shows panels/missing_numpy's message)
    from ..blender_lib.review import draw

    for cls in CLASSES:
        bpy.utils.register_class(cls)
    menus.register()
    draw.register()


def unregister() -> None:
    from ..blender_lib.review import draw

    draw.unregister()
    menus.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
