"""Steps 2, 3, 6 and 5 (in Blender, one session, each on the scene the one before left; 6 is in
step6_errors.py):

2. Capture the sample video from the sidebar by clicks and typing only (Smoothing and Foot Lock clicked off,
   so the pose compares with the command line's take): the progress bar moves, the capture finishes, a
   Monocap armature with keys appears; its joints at frame 50 go to the results (compared by the test).
3. Capture again and press Esc halfway: the engine process ends, the scene is exactly as before.
5. The Graph Editor's sidebar: Smooth and Reduce Keys by clicks change the keys; two
   Ctrl+Z give them back exactly.
"""

import os
import sys
import time

sys.path.insert(0, os.environ["MONOCAP_UI_TESTS"])

import bpy  # noqa: E402
import driver as d  # noqa: E402
from blender_state import keys_digest, scene_state  # noqa: E402
from step6_errors import step6  # noqa: E402

ROOT = os.environ["MONOCAP_UI_ROOT"]
VIDEO = os.path.join(ROOT, "samples", "pose2sim_cam01.mp4")


def engine_pids() -> list[int]:
    """Engine captures this Blender runs now (`python -m engine capture ...`, children of this process), by
    their command lines in /proc (which shows the host's processes too: other captures may run there)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    argv = fh.read().split(b"\0")
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().split(")")[-1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if b"engine" in argv and b"capture" in argv and parent == os.getpid():
                pids.append(int(entry))
    return pids


def describe(pid: int) -> str:
    """'pid ppid state argv' of a process, for the log."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().split(")")[-1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().replace(b"\0", b" ").decode(errors="replace")
        return f"{pid} parent {fields[1]} state {fields[0]}: {argv}"
    except OSError:
        return f"{pid} gone"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def monocap_armature():
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE" and o.name.startswith("Monocap")]
    return arms[0] if len(arms) == 1 else None


def step2(ev, area, found):
    s = bpy.context.scene.monocap
    yield from ev.click(*d.find(found, ".monocap.video"))
    yield from ev.key("A", ctrl=True)
    yield from ev.type_text(VIDEO)
    yield from ev.key("RET", pause=0.5)
    assert bpy.path.abspath(s.video) == VIDEO, f"the Video field holds {s.video!r}"
    for name in ("smoothing", "foot_lock"):
        yield from ev.click(*d.find(found, f".monocap.{name}"))
    assert not s.smoothing and not s.foot_lock, "clicks on Smoothing and Foot Lock did not switch them off"
    yield from d.redrawn(area)
    d.screenshot("settings")
    before = scene_state()
    yield from ev.click(*d.find(found, "monocap.capture()"), pause=0.05)
    yield from d.wait_until(lambda: s.running, 30, "the capture to start")
    t0 = time.monotonic()
    progress, shot = [], False
    while s.running:
        if not progress or progress[-1] != (s.status, round(s.progress, 3)):
            progress.append((s.status, round(s.progress, 3)))
        if not shot and s.status.startswith("Tracking the body") and 0.3 < s.progress < 0.9:
            d.screenshot("progress")  # the bar in the panel, the status bar's line
            shot = True
        if time.monotonic() - t0 > 300:
            raise TimeoutError("the capture ran for more than 300 s")
        yield 0.05
    d.log(f"capture took {time.monotonic() - t0:.1f} s; progress seen: {progress}")
    yield 1.0
    d.screenshot("captured")
    obj = monocap_armature()
    after = scene_state()
    new_objects = sorted(set(after["objects"]) - set(before["objects"]))
    assert obj is not None, f"no Monocap armature after the capture; new objects: {new_objects}"
    act = obj.animation_data.action if obj.animation_data else None
    curves, keys, _ = keys_digest(act) if act else (0, 0, "")
    bpy.context.scene.frame_set(50)
    heads = {pb.name: list(obj.matrix_world @ pb.head) for pb in obj.pose.bones}
    d.RESULT["step2"] = {"progress": progress, "new_objects": new_objects, "armature": obj.name,
                         "curves": curves, "keys": keys, "frame50_heads": heads, "take": s.last_take,
                         "fps": bpy.context.scene.render.fps / bpy.context.scene.render.fps_base}
    assert keys > 0, "the armature has no keys"
    bpy.context.scene.frame_set(1)


def step3(ev, area, found):
    s = bpy.context.scene.monocap
    yield from d.redrawn(area)
    before = scene_state()
    yield from ev.click(*d.find(found, "monocap.capture()"), pause=0.05)
    yield from d.wait_until(lambda: s.running, 30, "the second capture to start")
    yield from d.wait_until(lambda: s.status.startswith("Tracking the body") and s.progress >= 0.3, 120,
                            "the second capture to be halfway", poll=0.02)
    pids = engine_pids()
    d.log("engine processes: " + "; ".join(describe(p) for p in pids) + f"; Blender is {os.getpid()}")
    status = (s.status, round(s.progress, 3))
    d.screenshot("halfway")
    yield from ev.move(*d.center(d.region_of(area, "WINDOW")), pause=0.05)
    yield from ev.key("ESC", pause=0.5)
    yield from d.wait_until(lambda: not s.running, 30, "Esc to end the capture")
    yield 1.0
    d.log("after Esc: " + "; ".join(describe(p) for p in pids))
    d.screenshot("cancelled")
    after = scene_state()
    d.RESULT["step3"] = {"status_at_esc": status, "engine_pids": pids,
                         "alive_after": [p for p in pids if alive(p)], "same": before == after,
                         "before": before, "after": after}
    assert pids, "no engine process was found while the capture ran"
    assert not d.RESULT["step3"]["alive_after"], "the engine still runs after Esc"
    assert before == after, "the scene changed"


def step5(ev, area):
    """The 3D View becomes a Graph Editor (Shift+F6); A selects every key; the sidebar's buttons work."""
    obj = monocap_armature()
    name = obj.animation_data.action.name
    yield from ev.move(*d.center(d.region_of(area, "WINDOW")))
    yield from ev.key("F6", shift=True, pause=1.0)
    assert area.type == "GRAPH_EDITOR", f"Shift+F6 made a {area.type}"
    yield from ev.move(*d.center(d.region_of(area, "WINDOW")))
    yield from ev.key("A", pause=0.5)
    yield from ev.key("HOME", pause=0.5)  # View All: the curves fill the editor in the screenshots
    yield from d.open_sidebar_tab(ev, area, "Monocap")
    ui = d.region_of(area, "UI")
    found = yield from d.scan(ev, ui)
    d.screenshot("graph-editor")
    start = keys_digest(bpy.data.actions[name])
    yield from ev.click(*d.find(found, "monocap.smooth(method='BUTTERWORTH')"), pause=1.0)
    smoothed = keys_digest(bpy.data.actions[name])
    yield from ev.click(*d.find(found, "monocap.reduce_keys()"), pause=1.0)
    reduced = keys_digest(bpy.data.actions[name])
    yield from d.redrawn(area)
    d.screenshot("reduced")
    yield from ev.move(*d.center(d.region_of(area, "WINDOW")))
    yield from ev.key("Z", ctrl=True, pause=1.0)
    yield from ev.key("Z", ctrl=True, pause=1.0)
    undone = keys_digest(bpy.data.actions[name])  # undo rebuilt the data: look the action up again
    yield from d.redrawn(area)
    d.screenshot("undone")
    d.RESULT["step5"] = {"start": start, "smoothed": smoothed, "reduced": reduced, "undone": undone}
    assert smoothed[1] == start[1] and smoothed[2] != start[2], "Smooth did not change the keys"
    assert reduced[1] < smoothed[1], "Reduce Keys removed nothing"
    assert undone == start, "two undos did not give the keys back"


def step():
    ev = d.Events()
    yield from d.first_draw()
    yield from d.close_splash(ev)
    area = d.area_of("VIEW_3D")
    yield from d.open_sidebar_tab(ev, area, "Monocap")
    d.screenshot("sidebar")
    found = yield from d.scan(ev, d.region_of(area, "UI"))
    yield from step2(ev, area, found)
    d.RESULT["done"] = ["2"]
    yield from step3(ev, area, found)
    d.RESULT["done"].append("3")
    yield from step6(ev, area, found)
    d.RESULT["done"].append("6")
    yield from step5(ev, area)
    d.RESULT["done"].append("5")


if __name__ == "__main__":
    d.start(step)
