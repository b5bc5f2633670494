"""The add-on's operators: thin classes that read UI state, call `bake` and `engine` code, and report."""

from __future__ import annotations

import bpy

CLASSES: list[type] = []


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
