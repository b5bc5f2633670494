"""Sidebar panels: 3D View tab "Monocap" (capture, bake, export) and the Graph Editor's cleanup panel."""

from __future__ import annotations

import bpy

CLASSES: list[type] = []


def draw_preferences(prefs: bpy.types.AddonPreferences, context: bpy.types.Context) -> None:
    prefs.layout.prop(prefs, "engine_python")


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
