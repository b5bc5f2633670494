"""What the user sees when Blender's Python has no numpy (Debian's and some other Linux distributions'
Blender packages leave it out; Blender from blender.org bundles it): the add-on still enables, and its
preferences entry and its sidebar tab say what is missing and how to get it, instead of an import error."""

from __future__ import annotations

import sys

import bpy

# Short lines: they fit the sidebar at its default width.
LINES = ("Monocap needs numpy, which",
         "this Blender's Python lacks.",
         "Debian, Ubuntu: install the",
         "python3-numpy package, then",
         "restart Blender. (Blender from",
         "blender.org includes numpy.)")


def summary() -> str:
    return (f"Monocap: numpy is missing from Blender's Python ({sys.executable}); install python3-numpy "
            "(Debian, Ubuntu) or use Blender from blender.org, then restart Blender")


def draw_message(layout: bpy.types.UILayout) -> None:
    col = layout.column(align=True)
    for i, line in enumerate(LINES):
        col.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


class MONOCAP_PT_missing_numpy(bpy.types.Panel):
    bl_label = "Monocap"
    bl_idname = "MONOCAP_PT_missing_numpy"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Monocap"

    def draw(self, context: bpy.types.Context) -> None:
        draw_message(self.layout)


CLASSES = [MONOCAP_PT_missing_numpy]
