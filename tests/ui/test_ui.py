"""Monocap as a user meets it: the extension zip installed into a real Blender (Debian trixie's 4.3, in a
chroot, under Xvfb) and worked through its window by simulated keys, mouse moves, clicks and typing.

Run by `python3 tools/dev.py test-ui` (and `test`); needs root (the chroot). A chroot that cannot be built
fails the suite, it never skips. Screenshots of every step are in the run folder, out/ui-run-<time>/
(printed at the start); tests/ui/README.md lists them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

# Inside the chroot this folder holds python3-numpy alone; covering it leaves Blender as Debian ships it, without
# numpy (covering only numpy/ would leave an empty folder that imports as a namespace package).
NUMPY_DIR = "/usr/lib/python3/dist-packages"


def _yup_to_zup(v: np.ndarray) -> np.ndarray:
    """world_yup (x, y, z) -> blender_zup (x, -z, y), written out here so the test does not trust the add-on."""
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


@pytest.fixture(scope="session")
def ui() -> harness.UIRun:
    try:
        run = harness.UIRun()
    except (harness.chroot.ChrootError, subprocess.CalledProcessError, OSError) as exc:
        pytest.fail(f"the real-window test setup failed: {exc}")
    print(f"\nUI run folder: {run.dir}", flush=True)
    return run


def _session(ui: harness.UIRun, name: str, script: str, **kw) -> dict:
    s = ui.session(name, script, **kw)
    assert s.rc == 0 and s.result.get("ok"), str(s)
    return s.result


@pytest.fixture(scope="session")
def preferences(ui) -> dict:
    return _session(ui, "step1", "step1_preferences.py")


@pytest.fixture(scope="session")
def capture(ui, preferences) -> harness.Session:
    return ui.session("step2", "step2_capture.py")


@pytest.fixture(scope="session")
def cli_take(ui) -> dict:
    """The command line's take of the same video, with the same options the panel passes."""
    from engine.take import read_take

    out = ui.dir / "cli_take.npz"
    subprocess.run([str(harness.ENGINE_PY), "-m", "engine", "capture", str(harness.SAMPLE), "-o", str(out),
                    "--progress", "none"], cwd=harness.ROOT, check=True)
    return read_take(out)


def test_1_enabled_and_engine_python_typed_into_preferences(preferences) -> None:
    assert preferences["enabled_at_start"]
    assert preferences["engine_python"] == str(harness.ENGINE_PY)


def test_1_without_numpy_the_user_is_told_where_they_look(ui) -> None:
    user = ui.dir / "user-no-numpy"
    out = ui.install(user, hide=[NUMPY_DIR])
    assert "No module named 'numpy'" not in out, out
    s = ui.session("step1-no-numpy", "step1_no_numpy.py", extra_env={"BLENDER_USER_RESOURCES": str(user)},
                   hide=[NUMPY_DIR])
    assert s.rc == 0 and s.result.get("ok"), str(s)
    assert s.result["enabled"] and s.result["has_numpy"] is False and s.result["panel"], s.result
    assert "Monocap: numpy is missing from Blender's Python" in s.log


def test_2_capture_by_clicks_matches_the_command_line(capture, cli_take) -> None:
    assert "2" in capture.result.get("done", []), str(capture)
    r = capture.result["step2"]
    fractions = [f for stage, f in r["progress"] if stage.startswith("Tracking the body")]
    assert fractions and 0.0 < min(fractions) < 1.0, f"the progress bar did not move: {r['progress']}"
    assert r["new_objects"] == [r["armature"]] and r["keys"] > 0
    assert abs(r["fps"] - float(cli_take["fps"])) < 1e-6
    names = list(cli_take["joint_names"])
    want = _yup_to_zup(np.asarray(cli_take["joints3d"][49], dtype=np.float64))  # frame 50 shows video frame 49
    got = np.array([r["frame50_heads"][n] for n in names])
    err = np.linalg.norm(got - want, axis=1)
    assert err.max() < 0.01, f"{names[int(err.argmax())]} is {100 * err.max():.1f} cm off"


def test_3_esc_halfway_ends_the_engine_and_leaves_the_scene(capture) -> None:
    assert "3" in capture.result.get("done", []), str(capture)
    r = capture.result["step3"]
    stage, fraction = r["status_at_esc"]
    assert stage.startswith("Tracking the body") and 0.3 <= fraction < 1.0
    assert r["engine_pids"] and not r["alive_after"]
    assert r["before"] == r["after"]


def test_5_graph_editor_smooth_reduce_and_undo(capture) -> None:
    assert "5" in capture.result.get("done", []), str(capture)
    r = capture.result["step5"]
    assert r["smoothed"][1] == r["start"][1] and r["smoothed"][2] != r["start"][2]
    assert r["reduced"][1] < r["smoothed"][1]
    assert r["undone"] == r["start"]


def test_6_broken_engine_python_and_missing_video_are_one_line_reports(capture) -> None:
    assert "6" in capture.result.get("done", []), str(capture)
    r = capture.result["step6"]
    broken, missing = r["broken-python"], r["missing-video"]
    assert broken["same"] and missing["same"]
    # The Info editor's copy drops the level; the screenshots show the error icon.
    assert len(broken["reports"]) == 1, broken
    assert broken["reports"][0].startswith("The engine Python /usr/bin/python3 cannot run the engine")
    assert missing["reports"] == [f"Video not found: {harness.ROOT}/samples/no-such-dance.mp4"], missing


def test_4_pmx_import_retarget_and_vmd_export_through_file_browsers(ui, preferences, cli_take) -> None:
    """The VMD the window wrote, read back by our reader, is the engine's own retarget of the same take
    onto the same model (through Blender's armature, keys and exporter: same bones, same keys)."""
    from engine.formats.pmx import read_pmx
    from engine.formats.vmd import read_vmd
    from engine.rig.retarget import retarget_to_vmd

    r = _session(ui, "step4", "step4_mmd.py", extra_env={"MONOCAP_UI_TAKE": str(ui.dir / "cli_take.npz")})
    assert r["vmd_written"] and r["armature"] == "ジェネ / Gene", r
    got = read_vmd(r["vmd"])
    want, _ = retarget_to_vmd(cli_take, read_pmx(harness.GENE), "auto")
    assert got.model_name == "ジェネ / Gene"
    gk, wk = got.bone_keys, want.bone_keys
    assert sorted(set(gk.name_table)) == sorted(set(wk.name_table)) and len(gk) == len(wk)
    for name in set(wk.name_table):
        gi, wi = gk.select(name), wk.select(name)
        assert np.array_equal(gk.frame[gi], wk.frame[wi]), name
        dot = np.abs(np.sum(gk.rotation[gi] * wk.rotation[wi], axis=1))
        degrees = np.degrees(2 * np.arccos(np.clip(dot, 0.0, 1.0)))
        assert degrees.max() < 0.5, f"{name}: {degrees.max():.2f} degrees"
        assert np.abs(gk.position[gi] - wk.position[wi]).max() < 0.01, name  # MMD units (8 cm)


@pytest.fixture(scope="session")
def review_folder(ui) -> Path:
    """Both people of the shared sports2d clip (1.5-3.0 s), captured by the command line, with the video
    beside their takes (the chroot sees the repository, not ../shared)."""
    import shutil

    folder = ui.dir / "review"
    folder.mkdir(exist_ok=True)
    video = harness.ROOT.parent / "shared" / "data" / "video" / "sports2d" / "demo.mp4"
    shutil.copy(video, folder / "demo.mp4")
    subprocess.run([str(harness.ENGINE_PY), "-m", "engine", "capture", str(video), "-o", str(folder / "take.npz"),
                    "--person", "all", "--start", "1.5", "--end", "3.0", "--hands", "--progress", "none"],
                   cwd=harness.ROOT, check=True)
    return folder


def _colour_pixels(png: Path, view: list, rgb: tuple) -> int:
    """Pixels of exactly one person's colour (within 6 of it: the blend of the thin lines is left out) inside
    the Image Editor's view of a screenshot."""
    import cv2

    img = cv2.imread(str(png))[:, :, ::-1].astype(int)
    x, y, w, h = view
    crop = img[y:y + h, x:x + w]
    return int(np.count_nonzero(np.abs(crop - np.array(rgb)).max(axis=2) <= 6))


def test_7_review_draws_everyone_and_an_edit_by_click_with_undo(ui, review_folder) -> None:
    """Start Review through the file browser: both people under review over the video; Mark Not Seen
    (person 0) clicked in the panel removes person 0's skeleton from the picture and leaves person 1's;
    Ctrl+Z gives the edit list and the skeleton back; Lift Again clicked lifts as the command line does."""
    r = _session(ui, "step7", "step7_review.py", extra_env={"MONOCAP_UI_REVIEW": str(review_folder)})
    assert r["people"] == [0, 1] and r["active"] and r["image_shown"], r
    assert r["edits_after_click"] == [["invalid", 0, 1, 0, 44]], r
    assert r["edits_after_undo"] == [], r
    # the panel's buttons carry its defaults: person 0 and 1, the whole take, a split into the free number 2
    assert "op:monocap.review_edit(kind='split', person_a=0, person_b=2, frame_start=66, frame_end=66)" \
        in r["panel"], r["panel"]
    green, magenta = (40, 220, 40), (220, 60, 220)  # person 0's and person 1's colours (engine/overlay.py)
    counts = {name: (_colour_pixels(ui.dir / f"step7-{name}.png", r["view"], green),
                     _colour_pixels(ui.dir / f"step7-{name}.png", r["view"], magenta))
              for name in ("review", "edited", "undone")}
    print(counts)
    p0, p1 = counts["review"]
    assert p0 > 100 and p1 > 100, counts  # both drawn
    assert counts["edited"][0] < 0.1 * p0 and counts["edited"][1] > 0.8 * p1, counts  # only person 0 gone
    assert counts["undone"][0] > 0.8 * p0, counts
    # Lift Again by click: both people on new armatures, the takes the command line's lift gives
    from engine.take import read_take

    assert r["new_armatures"] == ["Monocap_p0", "Monocap_p1"], r
    assert "Info: Lifted again: Monocap_p0 made, Monocap_p1 made" in (ui.dir / "step7.log").read_text()
    cli = ui.dir / "review-cli-lift"
    subprocess.run([str(harness.ENGINE_PY), "-m", "engine", "lift", str(review_folder / "take_p0.npz"),
                    str(review_folder / "take_p1.npz"), "-o", str(cli), "--progress", "none"],
                   cwd=harness.ROOT, check=True)
    for n in (0, 1):
        got, want = read_take(Path(r["lifted"]) / f"take_p{n}.npz"), read_take(cli / f"take_p{n}.npz")
        assert sorted(got) == sorted(want)
        for k in want:
            assert np.array_equal(np.asarray(got[k]), np.asarray(want[k])), (n, k)


def test_a_chroot_that_cannot_be_built_is_an_error(tmp_path, monkeypatch) -> None:
    """No registry (a closed port here): ChrootError with debootstrap's failure, and no stamp, so the next
    run builds again; the `ui` fixture turns that error into a failed suite, never a skip."""
    monkeypatch.setattr(harness.chroot, "MIRROR", "http://127.0.0.1:9/debian")
    root = tmp_path / "chroot"
    with pytest.raises(harness.chroot.ChrootError, match="debootstrap trixie failed"):
        harness.chroot.ensure_chroot(root)
    assert not harness.chroot.is_ready(root)
