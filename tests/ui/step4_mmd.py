"""Step 4 (in Blender): the sidebar's MMD panel. Import PMX Skeleton (assets/gene/Gene.pmx), Retarget Take to
MMD Rig (the command line's take of the sample video) and Export VMD, each through Blender's file browser with
the folder and the file name typed in; the test reads the VMD back with engine/formats/vmd.py."""

import os
import sys

sys.path.insert(0, os.environ["MONOCAP_UI_TESTS"])

import bpy  # noqa: E402
import driver as d  # noqa: E402

ROOT = os.environ["MONOCAP_UI_ROOT"]
PMX = os.path.join(ROOT, "assets", "gene", "Gene.pmx")
TAKE = os.environ["MONOCAP_UI_TAKE"]
VMD = os.path.join(os.environ["MONOCAP_UI_RUN"], "step4-gene.vmd")


def open_mmd_panel(ev, area, found):
    """Click down below the Capture panel's last button until the MMD panel's header opens it (its first
    button then sits under the header)."""
    ui = d.region_of(area, "UI")
    x, y_last = d.find(found, "monocap.import_take()")
    y = y_last - 16
    while y > y_last - 90:
        yield from ev.click(x, y, pause=0.4)
        for dy in (24, 30, 36):
            name = yield from d.probe(ev, x, y - dy)
            if name == "op:monocap.import_pmx_skeleton()":
                more = yield from d.scan(ev, ui, top=y - 10, bottom=y - 140)
                return more
        y -= 6
    raise LookupError("the MMD panel's header was not found below the Capture panel")


_browser_fields: dict = {}


def in_file_browser(ev, button, folder: str, name: str, what: str):
    """Click `button`; in the file browser window that opens, type the folder into the path field at the top
    and the file name into the field at the bottom, then press Return twice (the second one confirms)."""
    wm = bpy.context.window_manager
    n = len(wm.windows)
    yield from ev.click(*button, pause=1.0)
    yield from d.wait_until(lambda: len(wm.windows) > n, 20, f"the file browser of {what}")
    win = wm.windows[-1]
    fev = d.Events(win)
    yield 2.0
    area = d.area_of("FILE_BROWSER", win)
    key = (win.width, win.height, tuple((r.type, r.x, r.y, r.width, r.height) for r in area.regions))
    found = _browser_fields.get(key)
    if found is None:  # each browser opens the same way: point at its fields once
        found = {}
        for region in ("UI", "EXECUTE"):
            r = next((r for r in area.regions if r.type == region and r.height > 5), None)
            if r is not None:
                found.update((yield from d.scan(fev, r, columns=(0.5,), step=6)))
        _browser_fields[key] = found
    d.screenshot(f"{what}-browser")
    yield from fev.click(*d.find(found, ".directory"))
    yield from fev.key("A", ctrl=True)
    yield from fev.type_text(folder)
    yield from fev.key("RET", pause=1.0)
    yield from fev.click(*d.find(found, ".filename"))
    yield from fev.key("A", ctrl=True)
    yield from fev.type_text(name)
    yield from fev.key("RET", pause=0.5)
    d.screenshot(f"{what}-typed")
    yield from fev.key("RET", pause=1.0)
    yield from d.wait_until(lambda: len(wm.windows) == n, 30, f"the file browser of {what} to close")
    yield 1.0


def step():
    ev = d.Events()
    yield from d.first_draw()
    yield from d.close_splash(ev)
    area = d.area_of("VIEW_3D")
    yield from d.open_sidebar_tab(ev, area, "Monocap")
    found = yield from d.scan(ev, d.region_of(area, "UI"))
    mmd = yield from open_mmd_panel(ev, area, found)
    d.screenshot("mmd-panel")
    yield from in_file_browser(ev, d.find(mmd, "monocap.import_pmx_skeleton()"), os.path.dirname(PMX) + "/",
                               os.path.basename(PMX), "import-pmx")
    arm = bpy.context.active_object
    assert arm is not None and arm.type == "ARMATURE", f"no armature active after the import: {arm}"
    d.RESULT["armature"] = arm.name
    d.RESULT["bones"] = len(arm.data.bones)
    yield from in_file_browser(ev, d.find(mmd, "monocap.retarget_take_mmd()"), os.path.dirname(TAKE) + "/",
                               os.path.basename(TAKE), "retarget")
    act = arm.animation_data.action if arm.animation_data else None
    assert act is not None, "the retarget left the armature without an action"
    d.RESULT["action"] = act.name
    yield from in_file_browser(ev, d.find(mmd, "monocap.export_vmd()"), os.path.dirname(VMD) + "/",
                               os.path.basename(VMD), "export-vmd")
    d.RESULT["vmd"] = VMD
    d.RESULT["vmd_written"] = os.path.isfile(VMD)
    yield from d.redrawn(area)
    d.screenshot("exported")


if __name__ == "__main__":
    d.start(step)
