"""The add-on's operators: thin classes that read UI state, call `blender_lib` and `engine` code, and report."""

from __future__ import annotations

import bpy

from . import capture, cleanup, export, mmd, review, settings, setup

CLASSES: list[type] = [*settings.CLASSES, *capture.CLASSES, *setup.CLASSES, *cleanup.CLASSES, *export.CLASSES,
                       *mmd.CLASSES, *review.CLASSES]


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    settings.register()


def unregister() -> None:
    settings.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
