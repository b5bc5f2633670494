"""Capture from the sidebar: the engine runs as a subprocess (the real one, in the engine venv) and its
JSON-lines progress drives the job; errors, crashes, cancelling and bad input leave the scene as it was.
The last test is the whole path through the panel's operators: capture -> bake -> cleanup -> BVH/FBX."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import bpy
import numpy as np
import pytest
from monocap_testdata import VIDEO

ROOT = Path(__file__).resolve().parents[2]
ENGINE_PY = ROOT / ".venv" / "bin" / "python"


def _scene_state() -> tuple:
    s = bpy.context.scene
    return (len(bpy.data.objects), len(bpy.data.actions), len(bpy.data.armatures), s.render.fps,
            s.render.fps_base, s.frame_start, s.frame_end)


@pytest.fixture()
def settings(capture_settings):
    """The sidebar's capture settings (conftest.capture_settings)."""
    return capture_settings


def test_capture_job_reports_progress_and_result(addon, tmp_path) -> None:
    from monocap.blender_lib.engine_link.process_jobs import start_capture

    take = tmp_path / "take.npz"
    job = start_capture(str(ENGINE_PY), str(VIDEO), str(take), device="cpu", start=0.0, end=0.2)
    stages, fractions = set(), []
    while not job.poll().finished:
        stages.add(job.state.stage)
        fractions.append(job.state.fraction)
        time.sleep(0.02)
    st = job.state
    assert st.error is None, st.error
    assert st.result == str(take) and take.is_file()
    assert {"landmarks", "lift"} & stages and max(fractions) > 0.0


def test_cancel_ends_the_engine_and_writes_nothing(addon, tmp_path) -> None:
    from monocap.blender_lib.engine_link.process_jobs import start_capture

    take = tmp_path / "take.npz"
    job = start_capture(str(ENGINE_PY), str(VIDEO), str(take), device="cpu")
    t_end = time.monotonic() + 60
    while job.poll().stage == "starting" and time.monotonic() < t_end:
        time.sleep(0.02)
    assert not job.state.finished, job.state.error
    job.cancel()
    assert job.proc.poll() is not None  # the process is gone
    assert job.state.finished and job.state.result is None and job.state.error == "cancelled"
    assert not take.exists() and not list(tmp_path.iterdir())


def test_engine_crash_is_reported(addon, tmp_path) -> None:
    from monocap.blender_lib.engine_link.process_jobs import start_capture

    job = start_capture(str(ENGINE_PY), str(VIDEO), str(tmp_path / "t.npz"), device="cpu")
    while job.poll().stage == "starting" and not job.state.finished:
        time.sleep(0.02)
    os.kill(job.proc.pid, signal.SIGKILL)  # a real crash: the engine dies mid-run
    st = job.wait(timeout=30)
    assert st.result is None
    assert st.error.startswith("python stopped unexpectedly (signal 9)"), st.error


def test_engine_error_message_reaches_the_user(settings, tmp_path) -> None:
    fake = tmp_path / "not_a_video.mp4"
    fake.write_bytes(b"this is not a video" * 100)
    settings.video, settings.use_range = str(fake), False
    before = _scene_state()
    with pytest.raises(RuntimeError, match="Capture failed: ") as info:
        bpy.ops.monocap.capture()
    assert "\n" not in str(info.value).strip() and "Traceback" not in str(info.value)
    assert _scene_state() == before


def test_capture_everyone_from_the_sidebar(settings) -> None:
    """Person 'Everyone' on the two-person clip: one armature per person, Monocap_p0 and _p1, each baked from
    its own take (kept in a folder of the capture's takes); a list naming a person who is not there is the
    engine's one line, and a list that is no list is refused before the engine starts."""
    from monocap.blender_lib.take.armature import to_zup
    from monocap.engine.take import read_take

    settings.video = str(ROOT.parent / "shared" / "data" / "video" / "sports2d" / "demo.mp4")
    settings.video_start, settings.video_end = 45, 74  # 1 s where both are seen
    settings.smoothing, settings.foot_lock, settings.person_mode = False, False, "ALL"
    assert bpy.ops.monocap.capture() == {"FINISHED"}
    kept = Path(settings.last_take)
    assert sorted(p.name for p in kept.parent.glob("*.npz")) == ["demo_p0.npz", "demo_p1.npz"]
    scene = bpy.context.scene
    for n in (0, 1):
        take = read_take(kept.parent / f"demo_p{n}.npz")
        assert take["people"].tolist() == [0, 1] and int(take["person"]) == n
        obj = bpy.data.objects[f"Monocap_p{n}"]
        scene.frame_set(46 + 12)  # video frame 57: take frame 12
        head = np.array(obj.matrix_world @ obj.pose.bones["Head"].head)
        want = to_zup(take["joints3d"][12, list(take["joint_names"]).index("Head")])
        assert np.abs(head - want).max() < 2e-3
    before = _scene_state()
    settings.person_mode, settings.people = "LIST", "0,5"
    with pytest.raises(RuntimeError, match="Capture failed: .*5") as info:
        bpy.ops.monocap.capture()
    assert "\n" not in str(info.value).strip() and _scene_state() == before
    settings.people = "0,x"
    with pytest.raises(RuntimeError, match="not a list of track numbers"):
        bpy.ops.monocap.capture()
    settings.people, settings.target = "0,1", "SELECTED"
    bpy.context.view_layer.objects.active = bpy.data.objects["Monocap_p0"]
    with pytest.raises(RuntimeError, match="one per person"):
        bpy.ops.monocap.capture()
    assert _scene_state() == before
    settings.person_mode, settings.people = "AUTO", "0,1"


@pytest.mark.parametrize(("change", "message"), [
    ({"video": "/nonexistent/clip.mp4"}, "Video not found"),
    ({"video": ""}, "Choose a video file"),
    ({"video_start": 90, "video_end": 140}, "outside the video"),
    ({"video_start": 20, "video_end": 10}, "is empty"),
    ({"target": "SELECTED"}, "no armature is active"),
])
def test_bad_input_changes_nothing(settings, change: dict, message: str) -> None:
    for k, v in change.items():
        setattr(settings, k, v)
    before = _scene_state()
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.monocap.capture()
    assert _scene_state() == before
    assert not settings.running


def test_no_engine_configured(settings) -> None:
    from monocap.blender_lib.engine_link import engine_python

    engine_python.preferences().engine_python = ""
    assert not engine_python.venv_python(engine_python.default_venv()).exists()
    with pytest.raises(RuntimeError, match="No capture engine is set up"):
        bpy.ops.monocap.capture()
    engine_python.preferences().engine_python = "/nonexistent/python3"
    with pytest.raises(RuntimeError, match="Engine Python not found"):
        bpy.ops.monocap.capture()


def test_engine_python_without_torch(settings, tmp_path) -> None:
    from monocap.blender_lib.engine_link import engine_python

    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    engine_python.preferences().engine_python = str(venv / "bin" / "python")
    before = _scene_state()
    with pytest.raises(RuntimeError, match=r"cannot run the engine .*numpy"):
        bpy.ops.monocap.capture()
    assert _scene_state() == before


def test_setup_engine_creates_a_venv_and_reports_failures(addon, tmp_path) -> None:
    from monocap.blender_lib.engine_link.process_jobs import venv_python

    venv = tmp_path / "engine-venv"
    ok = tmp_path / "ok.txt"
    ok.write_text("# nothing to install: the test checks the venv and pip steps\n")
    assert bpy.ops.monocap.setup_engine(venv=str(venv), requirements=str(ok)) == {"FINISHED"}
    py = venv_python(venv)
    assert py.is_file()
    out = subprocess.run([str(py), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # a real venv, not Blender's Python
    bad = tmp_path / "bad.txt"
    bad.write_text("=== not a requirement\n")
    with pytest.raises(RuntimeError, match="installing the engine packages failed"):
        bpy.ops.monocap.setup_engine(venv=str(venv), requirements=str(bad))
    with pytest.raises(RuntimeError, match="requirements file not found"):
        bpy.ops.monocap.setup_engine(venv=str(venv), requirements=str(tmp_path / "missing.txt"))


def test_capture_bake_cleanup_export_through_the_operators(settings, tmp_path) -> None:
    """The whole path on a shared video, as a user clicks it."""
    from monocap.blender_lib.take.armature import to_zup
    from monocap.engine.take import read_take

    assert bpy.ops.monocap.capture() == {"FINISHED"}
    obj = bpy.data.objects["Monocap"]
    scene = bpy.context.scene
    take = read_take(settings.last_take)
    n = len(take["rotations"])
    assert n == 12 and scene.render.fps == 60 and (scene.frame_start, scene.frame_end) == (1, n)
    assert obj.animation_data.action is not None
    # The baked (smoothed, foot-locked) hips follow the captured ones closely.
    heads = []
    for f in range(1, n + 1):
        scene.frame_set(f)
        heads.append(np.array(obj.matrix_world @ obj.pose.bones["Hips"].head))
    assert np.abs(np.array(heads) - to_zup(take["joints3d"][:, 1])).max() < 0.05
    # hands of ~70 px: captured by default; the armature has the finger bones (the BVH below carries them)
    assert "hands2d" in take and take["hands_valid"].any() and len(take["joint_names"]) == 67
    assert {"Thumb1_L", "IndexTip_R", "Little3_L"} <= set(obj.pose.bones.keys())

    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.monocap.fix_flips() == {"FINISHED"}
    assert bpy.ops.monocap.smooth(method="BUTTERWORTH", cutoff=8.0) == {"FINISHED"}
    assert bpy.ops.monocap.foot_lock(mode="IK", source="AUTO") == {"FINISHED"}
    assert bpy.ops.monocap.reduce_keys(tolerance_deg=0.5, tolerance_cm=0.5) == {"FINISHED"}

    want = []
    for f in range(1, n + 1):
        scene.frame_set(f)
        want.append([np.array(obj.matrix_world @ pb.head) for pb in obj.pose.bones])
    bvh, fbx = tmp_path / "cap.bvh", tmp_path / "cap.fbx"
    assert bpy.ops.monocap.export_bvh(filepath=str(bvh)) == {"FINISHED"}
    assert bpy.ops.monocap.export_fbx(filepath=str(fbx), preset="UNITY") == {"FINISHED"}
    assert bvh.stat().st_size > 1000 and fbx.stat().st_size > 1000
    bpy.ops.import_anim.bvh(filepath=str(bvh), axis_forward="Y", axis_up="Z", frame_start=1)
    back = bpy.context.active_object
    assert back is not obj and back.type == "ARMATURE"
    got = []
    for f in range(1, n + 1):
        scene.frame_set(f)
        got.append([np.array(back.matrix_world @ back.pose.bones[pb.name].head) for pb in obj.pose.bones])
    assert np.abs(np.array(got) - np.array(want)).max() < 2e-3


def test_modal_flow_progress_then_esc_leaves_scene_as_before(settings) -> None:
    """What the modal operator does on its timer and on Esc, driven step by step."""
    from monocap.blender_lib.engine_link.capture_session import CaptureSession

    settings.use_range = False  # the whole video: long enough to press Esc in the middle
    before = _scene_state()
    session = CaptureSession(bpy.context)
    assert settings.running and settings.status == "Starting the engine"
    t_end = time.monotonic() + 60
    while not 0.0 < settings.progress < 1.0 and time.monotonic() < t_end:
        assert not session.tick(bpy.context)
        time.sleep(0.02)
    assert 0.0 < settings.progress < 1.0 and "/" in settings.status  # e.g. "Tracking the body 12/100"
    session.cancel(bpy.context)  # Esc
    assert session.job.proc.poll() is not None
    assert not settings.running and settings.progress == 0.0 and settings.status == ""
    assert not Path(session.tmpdir).exists()
    assert _scene_state() == before


def test_modal_flow_to_the_end_bakes(settings) -> None:
    from monocap.blender_lib.engine_link.capture_session import CaptureSession

    settings.video_end, settings.target = 5, "NEW"
    session = CaptureSession(bpy.context)
    seen = set()
    while not session.tick(bpy.context):
        seen.add(settings.status.split(" ")[0])
        time.sleep(0.02)
    level, message = session.finish(bpy.context)
    assert level == "INFO" and "6 frames on new armature Monocap" in message, message
    assert "Starting" in seen and len(seen) >= 3  # "Starting the engine", "Tracking the body 3/6"...
    assert not settings.running
