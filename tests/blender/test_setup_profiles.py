"""'Set up engine' with the install profiles, run with the real pip against the real requirements of the `cpu`
profile (engine/requirements.txt): cancelled part way through, resumed, and then the preferences say which
profile is installed. The `gpu` profile's command line and its one line when torch sees no GPU are checked
against this machine's own gpu-profile environment (.venv, torch's CPU build)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import bpy
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE_PY = ROOT / ".venv" / "bin" / "python"


def test_cpu_profile_set_up_cancelled_resumed_and_shown(addon, tmp_path) -> None:
    from monocap.blender_lib.engine_link import engine_python
    from monocap.blender_lib.engine_link.process_jobs import (
        DOWNLOAD_MB,
        REQUIREMENTS_OF,
        SetupJob,
        read_profile_marker,
        venv_python,
    )
    from monocap.operators.setup import download_text

    assert DOWNLOAD_MB["cpu"] < 300 < DOWNLOAD_MB["gpu"] and download_text("gpu").endswith("GB")
    venv = tmp_path / "engine-venv"
    # 1. started in the background as the button does, cancelled once pip is busy with the packages
    job = SetupJob(venv, profile="cpu")
    assert job.requirements == REQUIREMENTS_OF["cpu"]
    seen = []
    t_end = time.monotonic() + 300
    while time.monotonic() < t_end:
        st = job.poll()
        seen.append((st.stage, st.fraction, st.message))
        if st.stage == "install" and any(m.startswith(("Collecting", "Downloading")) for _, _, m in seen):
            break
        assert not st.finished, st.error
        time.sleep(0.05)
    job.cancel()
    assert job.state.finished and job.state.error == "cancelled" and job.state.result is None
    assert job._job.proc.poll() is not None  # pip is gone
    python = venv_python(venv)
    assert python.is_file()
    made = python.stat().st_mtime
    # 2. the operator resumes into the same venv (kept, not made again) and finishes with the check
    assert bpy.ops.monocap.setup_engine(venv=str(venv), profile="cpu") == {"FINISHED"}
    assert python.stat().st_mtime == made
    report = read_profile_marker(python)
    assert report["profile"] == "cpu" and report["torch"] is None and report["line"].startswith("cpu profile")
    have = subprocess.run([str(python), "-c", "import importlib.util as u; print([u.find_spec(m) is not None for m in "
                                               "('onnxruntime', 'onnx', 'cv2', 'torch', 'setuptools')])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert have == "[True, False, True, False, False]"  # no setuptools either (MAKE_VENV)
    # pip did not byte-compile what it installed (--no-compile): only what the check imported is compiled
    assert not list(venv.glob("lib*/python*/site-packages/cv2/**/__pycache__/*.pyc"))
    # 3. the preferences show it once the engine Python points there
    prefs = engine_python.preferences()
    prefs.engine_python = str(python)
    try:
        assert engine_python.profile_line().startswith("cpu profile: the networks run on the CPU")
        engine_python.check_engine(str(python))  # what every capture checks first
    finally:
        prefs.engine_python = ""


def test_progress_is_counted_in_bytes_from_pips_lines(addon, tmp_path) -> None:
    """Fed the lines a pip >= 24.1 prints with --progress-bar raw, and those of an older pip."""
    from monocap.blender_lib.engine_link.process_jobs import SetupJob

    job = SetupJob(tmp_path / "v", profile="cpu", python="/nonexistent/python")  # only its line parser is used
    total = job._total_bytes
    assert total == 103_000_000
    job._raw = True
    job._pip_line("Collecting numpy==2.4.6 (from -r engine/requirements.txt (line 5))")
    job._pip_line("  Downloading numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl (16.9 MB)")
    job._pip_line("Progress 8000000 of 16900000")
    assert job.state.done == 8_000_000 and "8 of about 103 MB" in job.state.message
    job._pip_line("Progress 16900000 of 16900000")
    job._pip_line("  Using cached opencv_python_headless-5.0.0.93-cp37-abi3-manylinux_2_28_x86_64.whl (61.2 MB)")
    assert job.state.done == 16_900_000 + 61_200_000
    job._pip_line("Installing collected packages: numpy, opencv-python-headless")
    assert job.state.done == int(0.95 * total) and job.state.message.startswith("Installing")
    old = SetupJob(tmp_path / "w", profile="cpu", python="/nonexistent/python")
    old._raw = False
    old._pip_line("  Downloading onnxruntime-1.31.1-cp311-cp311-manylinux_2_27_x86_64.whl (23.8 MB)")
    assert old.state.done == 23_800_000


def test_gpu_profile_takes_torch_from_pytorchs_index_on_windows_only(addon, tmp_path) -> None:
    from monocap.blender_lib.engine_link.process_jobs import REQUIREMENTS_OF, TORCH_CUDA_INDEX, SetupJob

    for platform, extra in (("win32", True), ("linux", False)):
        job = SetupJob(tmp_path / platform, profile="gpu", python="/nonexistent/python", platform=platform)
        argv = job.pip_argv()
        assert argv[argv.index("-r") + 1] == str(REQUIREMENTS_OF["gpu"])
        assert (TORCH_CUDA_INDEX in argv) == extra
    assert "-r requirements.txt" in REQUIREMENTS_OF["gpu"].read_text()  # the cpu pins, one place


def test_gpu_profile_without_a_gpu_says_what_to_do_in_one_line(addon, tmp_path) -> None:
    """This machine's .venv is the gpu profile with torch's CPU-only build: the check `Set up engine` runs
    at its end says so, and the preferences show that one line, never a silent fall-back to the CPU."""
    from monocap.blender_lib.engine_link import engine_python
    from monocap.blender_lib.engine_link.process_jobs import ADDON_DIR, write_profile_marker

    out = subprocess.run([str(ENGINE_PY), "-m", "engine.profiles"], cwd=ADDON_DIR, capture_output=True, text=True,
                         check=True, timeout=300)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["profile"] == "gpu" and report["torch"].startswith("2.13.0")
    if report["cuda"]:
        pytest.fail("this test expects a machine whose torch sees no GPU (tests/gpu covers CUDA)")
    assert "\n" not in report["line"] and report["line"].startswith("gpu profile, but torch")
    assert "cpu profile" in report["line"]  # what to do
    # as 'Set up engine' leaves it: the report beside the environment's interpreter, shown by the preferences
    venv = tmp_path / "gpu-venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(ENGINE_PY)
    write_profile_marker(venv, report)
    prefs = engine_python.preferences()
    prefs.engine_python = str(venv / "bin" / "python")
    try:
        assert engine_python.profile_line() == report["line"]
    finally:
        prefs.engine_python = ""
