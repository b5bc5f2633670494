"""`python -m engine batch` (issue 19): real captures of the shared clips, cut short with --start/--end, in a
subprocess as a user runs it; the outputs are read back with engine/take.py's and engine/formats/bvh.py's
readers.

- A library of the clips, a corrupt file, a video with nobody in it and a second dance.mp4 in another folder:
  the manifest's rows, the exit code, the outputs; run again: the done ones skipped, the failed ones retried.
- The batch killed (SIGKILL) after its first video, then run again: nothing duplicated or half-written.
- Ray: a cluster started by the test (`ray start --head` on 127.0.0.1), a worker killed while it holds a
  video: every video done once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
SHARED = ROOT.parent / "shared" / "data" / "video"
CLIP = ["--start", "0", "--end", "0.4"]  # 24 frames of the 60 fps clips, 12 of the 30 fps one


def _batch(*args, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "batch", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]


def _black_video(path: Path, frames: int = 30) -> None:
    """A video with nobody in it: black frames written with OpenCV."""
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    for _ in range(frames):
        w.write(np.zeros((240, 320, 3), np.uint8))
    w.release()
    assert path.stat().st_size > 0


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def library(tmp_path_factory, shared_data) -> Path:
    """a/dance.mp4 (pose2sim cam01), b/dance.mp4 (sports2d: the same name in another folder), corrupt.mp4
    (the head of a real MP4), nobody.mp4 (black), and list.txt naming pose2sim's cam02 in the shared data."""
    lib = tmp_path_factory.mktemp("library")
    (lib / "a").mkdir()
    (lib / "b").mkdir()
    shutil.copy(SAMPLE, lib / "a" / "dance.mp4")
    shutil.copy(shared_data / "video" / "sports2d" / "demo.mp4", lib / "b" / "dance.mp4")
    (lib / "corrupt.mp4").write_bytes(SAMPLE.read_bytes()[:60_000])
    _black_video(lib / "nobody.mp4")
    (lib / "notes.md").write_text("not a video: left out of the folder search")
    (lib.parent / f"{lib.name}-list.txt").write_text(
        f"# the shared clips\n{shared_data / 'video' / 'pose2sim-single' / 'cam02.mp4'}\n")
    return lib


def _list(library: Path) -> Path:
    return library.parent / f"{library.name}-list.txt"


def test_library_with_bad_videos_and_a_duplicate_name(library, tmp_path):
    from engine.formats.bvh import read_bvh
    from engine.take import read_take

    out = tmp_path / "out"
    r = _batch(library, _list(library), "--out", out, "--bvh", "--workers", "2", *CLIP)
    assert r.returncode == 3, r.stderr  # some failed
    rows = _rows(out)
    by_name = {(Path(row["video"]).parent.name, Path(row["video"]).name): row for row in rows}
    assert len(rows) == 5 and len(by_name) == 5, rows
    assert by_name[(library.name, "corrupt.mp4")]["status"] == "failed"
    assert "not a video that can be decoded" in by_name[(library.name, "corrupt.mp4")]["error"]
    assert by_name[(library.name, "nobody.mp4")]["status"] == "failed"
    assert by_name[(library.name, "nobody.mp4")]["error"] == "no person found in the video"
    done = [by_name[("a", "dance.mp4")], by_name[("b", "dance.mp4")], by_name[("pose2sim-single", "cam02.mp4")]]
    assert [row["status"] for row in done] == ["done"] * 3
    assert len({row["folder"] for row in done}) == 3  # the two dance.mp4 do not collide
    for row, frames in zip(done, (24, 12, 24), strict=True):
        assert row["frames"] == frames and row["error"] is None and row["people"] >= 1
        assert 0.9 <= row["valid_share"] <= 1.0 and row["fps"] > 0 and row["seconds"] > 0
        assert set(row["outputs"]) == {"take", "bvh"}
        take = read_take(out / row["outputs"]["take"])
        assert take["joints3d"].shape == (frames, len(take["joint_names"]), 3)
        assert take["valid"].sum() == round(row["valid_share"] * frames)
        assert str(take["source_video"]) == Path(row["video"]).name
        bvh = read_bvh(out / row["outputs"]["bvh"])
        assert len(bvh.motion) == frames
    # nothing of a failed video stays, no temporary anywhere
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(row["folder"] for row in done)
    assert not _temporaries(out)
    assert "batch: 3 done, 2 failed, 0 skipped" in r.stderr
    assert r.stderr.count("FAILED ") == 2 and r.stderr.count("done   ") == 3

    # the same command again: the done videos skipped (their files untouched), the failed ones tried again
    stamps = {row["outputs"]["take"]: (out / row["outputs"]["take"]).stat().st_mtime_ns for row in done}
    r2 = _batch(library, _list(library), "--out", out, "--bvh", "--workers", "2", *CLIP)
    assert r2.returncode == 3, r2.stderr
    again = _rows(out)[5:]
    assert sorted(row["status"] for row in again) == ["failed", "failed", "skipped", "skipped", "skipped"]
    assert {(out / k).stat().st_mtime_ns for k in stamps} == set(stamps.values())
    assert "batch: 0 done, 2 failed, 3 skipped" in r2.stderr

    # other options are another result: the videos are captured again (here: without the BVH)
    r3 = _batch(library / "a", "--out", out, *CLIP)
    assert r3.returncode == 0, r3.stderr
    last = _rows(out)[-1]
    assert last["status"] == "done" and last["options"] != done[0]["options"] and set(last["outputs"]) == {"take"}


def test_everyone_in_a_video_and_their_hands_through_the_batch(tmp_path):
    """Capture options reach every video: `--person all --hands` writes one take per person (STEM_pN, as
    `capture` does), the manifest lists those files, and a rerun skips the video because they are there."""
    from engine.take import read_take

    out = tmp_path / "out"
    r = _batch(SHARED / "sports2d" / "demo.mp4", "--out", out, "--person", "all", "--hands", "--end", "1.5", "--bvh")
    assert r.returncode == 0, r.stderr
    (row,) = _rows(out)
    assert row["status"] == "done" and set(row["outputs"]) >= {"take_p0", "bvh_p0"}, row
    for rel in row["outputs"].values():
        assert (out / rel).is_file(), rel
    take = read_take(out / row["outputs"]["take_p0"])
    assert take["hands2d"].shape[1:] == (2, 21, 3) and len(take["joint_names"]) == 67
    again = _batch(SHARED / "sports2d" / "demo.mp4", "--out", out, "--person", "all", "--hands", "--end", "1.5",
                   "--bvh")
    assert again.returncode == 0 and [r["status"] for r in _rows(out)] == ["done", "skipped"], again.stderr


def test_bad_arguments_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _batch(empty, "--out", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error: no videos found")
    r = _batch(SAMPLE, "--out", tmp_path / "out", "--vmd")
    assert r.returncode == 2 and "--vmd and --rig go together" in r.stderr
    assert not (tmp_path / "out").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text:
            kids.append(int(status.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("\nState:\t")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _three_copies(tmp_path: Path) -> list:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("one", "two", "three"):
        shutil.copy(SAMPLE, lib / f"{name}.mp4")
    return [sys.executable, "-m", "engine", "batch", lib, "--out", tmp_path / "out", "--workers", "1", "--start", "0",
            "--end", "1.0"]


def _after_first_video(cmd: list, **kw) -> subprocess.Popen:
    """The batch started, returned once the manifest has its first row."""
    p = subprocess.Popen(list(map(str, cmd)), cwd=ROOT, **kw)
    manifest = Path(cmd[6]) / "manifest.jsonl"
    deadline = time.monotonic() + 300
    while not (manifest.exists() and manifest.read_text().count("\n") >= 1):
        assert p.poll() is None and time.monotonic() < deadline, "the batch ended before its first video"
        time.sleep(0.05)
    return p


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in pids):
        assert time.monotonic() < deadline, "a worker outlived the batch"
        time.sleep(0.1)


def test_resume_after_the_batch_is_killed(tmp_path):
    from engine.take import read_take

    cmd = _three_copies(tmp_path)
    out = tmp_path / "out"
    p = _after_first_video(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = _children(p.pid)
    p.send_signal(signal.SIGKILL)  # a crash: no clean-up in the batch itself
    p.wait()
    first = _rows(out)
    assert len(first) == 1 and first[0]["status"] == "done"
    _wait_gone(workers)  # its worker notices and stops, removing the temporaries of the video it held
    assert not _temporaries(out)

    r = _batch(*cmd[4:])
    assert r.returncode == 0, r.stderr
    rows = _rows(out)
    assert sorted(row["status"] for row in rows[1:]) == ["done", "done", "skipped"]
    assert next(row for row in rows[1:] if row["status"] == "skipped")["video"] == first[0]["video"]
    done_per_video = {}
    for row in rows:
        done_per_video[row["video"]] = done_per_video.get(row["video"], 0) + (row["status"] == "done")
    assert sorted(done_per_video.values()) == [1, 1, 1]
    assert not _temporaries(out)
    for row in rows:
        assert read_take(out / row["outputs"]["take"])["joints2d"].shape[0] == 60
    assert len([p for p in out.iterdir() if p.is_dir()]) == 3


def test_ctrl_c_stops_the_batch_and_its_workers(tmp_path):
    cmd = _three_copies(tmp_path)
    out = tmp_path / "out"
    p = _after_first_video(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers = _children(p.pid)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted (Ctrl-C)"
    assert "run the same command again" in err
    _wait_gone(workers)
    assert not _temporaries(out)
    rows = _rows(out)
    assert [row["status"] for row in rows] == ["done"] * len(rows) and len(rows) >= 1
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(row["folder"] for row in rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _task_pids() -> list[int]:
    """Processes running the batch's Ray task: Ray titles a worker with the function it runs."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::capture_video_task"):
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def ray_env() -> dict:
    """Token authentication as Ray 2.60 has it by default, with a token of the test's own (a driver that
    joins a cluster by address needs RAY_AUTH_MODE=token and the token; the user's ~/.ray is not used)."""
    return dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=os.urandom(16).hex())


@pytest.fixture
def ray_cluster(ray_env):
    """A one-node Ray cluster on loopback, started as a user starts a head node, stopped afterwards."""
    pytest.importorskip("ray", reason="pip install -r engine/requirements-ray.txt")
    port = _free_port()
    ray_bin = Path(sys.executable).with_name("ray")
    temp = Path("/tmp") / f"rt{os.getpid()}"  # short: Ray's socket paths must fit in 107 bytes
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", f"--port={port}",
                             "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=0",
                             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=ray_env)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops the node's processes on SIGTERM
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_cluster_with_a_worker_killed(library, tmp_path, ray_cluster, ray_env):
    from engine.take import read_take

    out = tmp_path / "out"
    killed: list[int] = []
    stop = threading.Event()

    def kill_first_task() -> None:
        while not stop.is_set() and not killed:
            pids = _task_pids()
            if pids:
                time.sleep(0.5)  # inside the capture by now
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_task, daemon=True)
    killer.start()
    try:
        r = _batch(library / "a", library / "b", library / "corrupt.mp4", "--out", out, "--ray", ray_cluster,
                   "--threads", "1", *CLIP, env=ray_env)
    finally:
        stop.set()
        killer.join()
    assert killed, f"no Ray task was seen running: {r.stderr}"
    assert r.returncode == 3, r.stderr
    assert "Ray (127.0.0.1:" in r.stderr
    rows = _rows(out)
    assert sorted((Path(row["video"]).parent.name, row["status"]) for row in rows) == [
        ("a", "done"), ("b", "done"), (library.name, "failed")]
    for row in rows:
        if row["status"] == "done":
            take = read_take(out / row["outputs"]["take"])
            assert take["joints3d"].shape[0] == row["frames"] > 0
            assert not row["worker"].endswith(f":{killed[0]}")  # finished by another worker than the one killed
    assert not _temporaries(out)


def test_ray_alone_starts_a_local_instance(library, tmp_path):
    """`--ray` with no address: the batch starts Ray on this machine and stops it afterwards."""
    from engine.take import read_take

    pytest.importorskip("ray", reason="pip install -r engine/requirements-ray.txt")
    out = tmp_path / "out"
    r = _batch("--ray", library / "a", "--out", out, *CLIP)  # the input after --ray is not taken for an address
    assert r.returncode == 0, r.stderr
    assert "Ray (started here): 1 node(s)" in r.stderr
    (row,) = _rows(out)
    assert row["status"] == "done" and read_take(out / row["outputs"]["take"])["joints3d"].shape[0] == 24
    assert not _task_pids()
