"""File › Import and File › Export entries for the add-on's operators."""

from __future__ import annotations

import bpy

IMPORTS = [("monocap.import_take", "Monocap Take (.npz)"),
           ("monocap.import_pmx_skeleton", "PMX Skeleton (.pmx)"),
           ("monocap.import_vmd", "VMD Motion (.vmd)")]
EXPORTS = [("monocap.export_bvh", "Monocap BVH (.bvh)"),
           ("monocap.export_fbx", "Monocap FBX (.fbx)"),
           ("monocap.export_vmd", "VMD Motion (.vmd)")]


def _entries(layout: bpy.types.UILayout, entries: list[tuple[str, str]]) -> None:
    for idname, text in entries:
        module, name = idname.split(".")
        if hasattr(getattr(bpy.ops, module), name):  # only operators that are registered
            layout.operator(idname, text=text)


def menu_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    _entries(self.layout, IMPORTS)


def menu_export(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    _entries(self.layout, EXPORTS)


def register() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.types.TOPBAR_MT_file_export.append(menu_export)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
