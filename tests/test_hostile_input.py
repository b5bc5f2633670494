"""Hostile input and interrupted runs (issue 21): every damaged file is our FormatError/BadInput, writers refuse
bad targets before writing, and `engine capture` fails in one line, leaves nothing behind, and exits 130/143
on SIGINT/SIGTERM.

The damaged files are made here: takes written by `write_take` then truncated, bit-flipped, given lying .npy
headers, other zip compressions and wrong field types; BVH text with odd digits; MP4 files written by OpenCV
whose time-to-sample table is rewritten (a variable frame rate, an absurd one).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import BadInput, FormatError
from engine.fileio import atomic_write_bytes, check_output, staged_outputs
from engine.formats.bvh import parse_bvh, read_bvh, write_bvh
from engine.formats.vmd import VmdBoneKeys, VmdMotion, read_vmd, write_vmd
from engine.take import read_take, write_take

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
# `tools/dev.py fuzz` raises the count for a long run
FUZZ = settings(max_examples=int(os.environ.get("MONOCAP_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------------------ takes

def _take(T: int = 12, J: int = 4) -> dict:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(T, J, 4)).astype(np.float32)
    return {
        "fps": np.float64(30.0), "image_size": np.array([640, 480], np.int32),
        "joints2d": rng.uniform(0, 400, (T, 33, 3)).astype(np.float32), "valid": np.ones(T, bool),
        "swapped": np.zeros(T, np.uint8), "first_frame": np.int32(0), "person": np.int32(0),
        "source_video": np.str_("clip.mp4"),
        "joint_names": np.array([f"J{j}" for j in range(J)]), "parents": np.arange(-1, J - 1),
        "rest_offsets": rng.normal(size=(J, 3)).astype(np.float32),
        "joints3d": rng.normal(size=(T, J, 3)).astype(np.float32),
        "rotations": q / np.linalg.norm(q, axis=-1, keepdims=True), "contacts": np.zeros((T, 4), bool),
    }


def _take_bytes(take: dict | None = None, **replace) -> bytes:
    """An .npz as write_take makes it, with fields replaced (None removes one) and no checks."""
    arrays = dict(take or _take())
    arrays["format_version"] = np.asarray("1.1")
    for k, v in replace.items():
        if v is None:
            arrays.pop(k, None)
        else:
            arrays[k] = v
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


GOOD_TAKE = _take_bytes()


def _read_take_bytes(tmp_path: Path, data: bytes, name: str = "t.npz") -> dict:
    p = tmp_path / name
    p.write_bytes(data)
    return read_take(p)


def _member_offsets(data: bytes, member: str) -> tuple[int, int]:
    """Offsets of a stored member's local header and of its data in an .npz made by np.savez."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    h = info.header_offset
    n, m = struct.unpack("<HH", data[h + 26:h + 30])
    return h, h + 30 + n + m


def test_an_intact_take_reads_back(tmp_path):
    take = _read_take_bytes(tmp_path, GOOD_TAKE)
    assert take["format_version"] == "1.1" and take["fps"] == 30.0 and take["joint_names"][2] == "J2"
    assert take["rotations"].shape == (12, 4, 4) and take["valid"].dtype == bool
    write_take(tmp_path / "w.npz", {k: v for k, v in _take().items()})
    assert read_take(tmp_path / "w.npz")["joints3d"].shape == (12, 4, 3)


def test_a_header_claiming_a_huge_shape_is_refused_before_any_allocation(tmp_path):
    data = bytearray(GOOD_TAKE)
    _, start = _member_offsets(GOOD_TAKE, "joints2d.npy")
    header = data[start:start + 128]
    old = b"(12, 33, 3)"
    new = b"(10000000000, 33, 3)"  # 4 TB of float32
    i = header.index(old)
    padded = header[:i] + new + header[i + len(old):]
    padded = padded[:127].rstrip(b" \n") + b" " * (127 - len(padded[:127].rstrip(b" \n"))) + b"\n"
    assert len(padded) == 128
    data[start:start + 128] = padded
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="joints2d.*claims shape"):
            _read_take_bytes(tmp_path, bytes(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(data) + (1 << 20)


def test_an_unsupported_zip_compression_is_a_format_error(tmp_path):
    data = bytearray(GOOD_TAKE)
    with zipfile.ZipFile(io.BytesIO(GOOD_TAKE)) as zf:
        infos = zf.infolist()
    for info in infos:  # method 14 (LZMA) in the local and the central headers
        struct.pack_into("<H", data, info.header_offset + 8, 14)
    cd = GOOD_TAKE.index(b"PK\x01\x02")
    while cd >= 0:
        struct.pack_into("<H", data, cd + 10, 14)
        cd = GOOD_TAKE.find(b"PK\x01\x02", cd + 4)
    with pytest.raises(FormatError, match="compression method 14"):
        _read_take_bytes(tmp_path, bytes(data))


@pytest.mark.parametrize("field, value, message", [
    ("fps", np.asarray("thirty"), "fps"),
    ("fps", np.array([30.0, 60.0]), "fps"),
    ("fps", np.float64(np.nan), "fps"),
    ("fps", np.float64(-30), "fps"),
    ("joint_names", np.str_("Hips"), "joint_names"),
    ("joint_names", np.arange(4), "joint_names"),
    ("format_version", np.asarray("1.\u0661"), "format_version"),
    ("format_version", np.asarray("1.1.1"), "format_version"),
    ("format_version", np.asarray([1, 1]), "format_version"),
    ("format_version", np.asarray("2.0"), "update Monocap"),
    ("valid", np.ones((12, 2), bool), "valid"),
    ("joints2d", np.zeros((12, 33), np.float32), "joints2d"),
    ("joints2d", np.zeros((12, 33, 3), np.complex64), "joints2d"),
    ("rotations", np.full((12, 4, 4), np.nan, np.float32), "NaN"),
    ("rotations", np.zeros((11, 4, 4), np.float32), "rotations"),
    ("parents", np.array([0, 0, 1, 2]), "hierarchy"),
    ("image_size", np.array([0, 480]), "image_size"),
    ("valid", None, "lacks valid"),
    ("fps", np.array([1], object), "fps|object|not plain"),
])
def test_wrong_field_types_shapes_and_versions_are_format_errors(tmp_path, field, value, message):
    if value is not None and value.dtype == object:
        arrays = dict(_take(), format_version=np.asarray("1.1"))
        arrays[field] = value
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # numpy pickles object arrays
        data = buf.getvalue()
    else:
        data = _take_bytes(**{field: value})
    with pytest.raises(FormatError, match=message):
        _read_take_bytes(tmp_path, data)


def test_a_take_truncated_anywhere_is_a_format_error(tmp_path):
    data = _take_bytes(_take(T=2, J=2))
    for cut in range(0, len(data), 7):
        with pytest.raises(FormatError):
            _read_take_bytes(tmp_path, data[:cut])


@st.composite
def _damaged_take(draw) -> bytes:
    data = GOOD_TAKE
    kind = draw(st.sampled_from(["truncate", "flip", "garbage", "header"]))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    out = bytearray(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 12))):
            out[draw(st.integers(0, len(out) - 1))] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "garbage":
        at = draw(st.integers(0, len(out)))
        return bytes(out[:at]) + draw(st.binary(min_size=1, max_size=64)) + bytes(out[at:])
    # a byte in some member's .npy header (shape, dtype, version) or in a zip header
    member = draw(st.sampled_from(["fps.npy", "joints2d.npy", "joint_names.npy", "format_version.npy"]))
    h, start = _member_offsets(data, member)
    pos = draw(st.one_of(st.integers(h, start - 1), st.integers(start, start + 127)))
    out[pos] = draw(st.integers(0, 255))
    return bytes(out)


@FUZZ
@given(data=_damaged_take())
def test_fuzz_damaged_takes_raise_only_format_errors_in_bounded_memory(tmp_path, data):
    tracemalloc.start()
    try:
        try:
            _read_take_bytes(tmp_path, data)
        except FormatError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(GOOD_TAKE) + (1 << 20)


# ------------------------------------------------------------------------------------------------ BVH

def _bvh_args(T: int = 3):
    q = np.zeros((T, 3, 4))
    q[..., 0] = 1
    return (["Hips", "Spine", "Head"], np.array([-1, 0, 1]), np.array([[0, 0, 0], [0, .1, 0], [0, .2, 0.]]), q,
            np.zeros((T, 3)), 30.0)


def _write_bvh_text(tmp_path) -> str:
    write_bvh(tmp_path / "ok.bvh", *_bvh_args())
    return (tmp_path / "ok.bvh").read_text()


@pytest.mark.parametrize("digits", ["\u0663", "\u00b3", "\uff13", "3.0", "-3"])
def test_bvh_frames_count_in_other_digits_is_a_format_error(tmp_path, digits):
    text = _write_bvh_text(tmp_path).replace("Frames: 3", f"Frames: {digits}")
    with pytest.raises(FormatError, match="Frames"):
        parse_bvh(text)


@pytest.mark.parametrize("fps", [0, -30, float("nan"), float("inf")])
def test_write_bvh_refuses_a_frame_rate_that_is_not_positive(tmp_path, fps):
    args = list(_bvh_args())
    args[-1] = fps
    with pytest.raises(BadInput, match="frame rate"):
        write_bvh(tmp_path / "x.bvh", *args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["Left\nArm", "Arm{", "Arm}", "Left Arm", "Tab\tbed", "", "Nul\0"])
def test_write_bvh_refuses_joint_names_bvh_cannot_store(tmp_path, name):
    args = list(_bvh_args())
    args[0] = ["Hips", name, "Head"]
    with pytest.raises(BadInput, match="joint names"):
        write_bvh(tmp_path / "x.bvh", *args)
    assert list(tmp_path.iterdir()) == []


def test_write_bvh_refuses_nan_rotations_instead_of_writing_zero(tmp_path):
    args = list(_bvh_args())
    args[3] = args[3].copy()
    args[3][1, 2] = np.nan
    with pytest.raises(BadInput, match="NaN"):
        write_bvh(tmp_path / "x.bvh", *args)
    assert list(tmp_path.iterdir()) == []


def test_bvh_names_that_pass_the_writer_read_back(tmp_path):
    args = list(_bvh_args())
    args[0] = ["Hips", "\u4e0a\u534a\u8eab", "Head.001"]
    write_bvh(tmp_path / "x.bvh", *args)
    assert read_bvh(tmp_path / "x.bvh").names == args[0]


@FUZZ
@given(st.data())
def test_fuzz_damaged_bvh_raises_only_format_errors(tmp_path, data):
    text = _write_bvh_text(tmp_path)
    kind = data.draw(st.sampled_from(["truncate", "replace", "insert"]))
    if kind == "truncate":
        text = text[:data.draw(st.integers(0, len(text)))]
    else:
        at = data.draw(st.integers(0, len(text) - 1))
        junk = data.draw(st.text(min_size=1, max_size=8))
        text = text[:at] + junk + text[at + (kind == "replace"):]
    try:
        parse_bvh(text)
    except FormatError:
        pass


# ------------------------------------------------------------------------------------------------ VMD

def _vmd(name: str, rotation=(0, 0, 0, 1)) -> VmdMotion:
    keys = VmdBoneKeys.build([name], np.array([0]), rotation=np.array([rotation], np.float32))
    return VmdMotion(model_name="m", bone_keys=keys)


def test_vmd_bone_name_with_a_nul_is_refused(tmp_path):
    with pytest.raises(BadInput, match="NUL"):
        write_vmd(tmp_path / "x.vmd", _vmd("\u8db3\0IK"))
    assert list(tmp_path.iterdir()) == []
    write_vmd(tmp_path / "x.vmd", _vmd("\u8db3IK"))
    assert read_vmd(tmp_path / "x.vmd").bone_keys.names == ["\u8db3IK"]


def test_vmd_nan_rotation_is_refused(tmp_path):
    with pytest.raises(BadInput, match="NaN"):
        write_vmd(tmp_path / "x.vmd", _vmd("\u982d", (np.nan, 0, 0, 1)))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ writers

WRITERS = {
    "take": lambda p: write_take(p, _take()),
    "bvh": lambda p: write_bvh(p, *_bvh_args()),
    "vmd": lambda p: write_vmd(p, _vmd("\u982d")),
    "bytes": lambda p: atomic_write_bytes(p, b"x"),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_writers_refuse_a_folder_a_file_in_the_path_and_a_read_only_file(tmp_path, writer):
    write = WRITERS[writer]
    (tmp_path / "dir.out").mkdir()
    with pytest.raises(BadInput, match="is a folder"):
        write(tmp_path / "dir.out")
    (tmp_path / "file").write_bytes(b"mine")
    with pytest.raises(BadInput, match="not a folder"):
        write(tmp_path / "file" / "x.out")
    ro = tmp_path / "ro.out"
    ro.write_bytes(b"mine")
    ro.chmod(0o444)
    with pytest.raises(BadInput, match="read-only"):
        write(ro)
    assert ro.read_bytes() == b"mine"
    with pytest.raises(BadInput):
        write("/proc/monocap-test.out")  # a file system nobody (root included) can create files in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.out", "file", "ro.out"]


def test_a_read_only_file_is_replaced_only_when_asked(tmp_path):
    ro = tmp_path / "ro.bin"
    ro.write_bytes(b"old")
    ro.chmod(0o444)
    atomic_write_bytes(ro, b"new", replace_read_only=True)
    assert ro.read_bytes() == b"new"


def test_staged_outputs_leave_nothing_when_the_block_fails(tmp_path):
    (tmp_path / "b.bin").write_bytes(b"users")
    with pytest.raises(KeyboardInterrupt), staged_outputs():
        atomic_write_bytes(tmp_path / "a.bin", b"a")
        atomic_write_bytes(tmp_path / "b.bin", b"b")
        assert not (tmp_path / "a.bin").exists()  # held back until the block ends
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin"]
    assert (tmp_path / "b.bin").read_bytes() == b"users"
    with staged_outputs():
        atomic_write_bytes(tmp_path / "a.bin", b"a")
    assert (tmp_path / "a.bin").read_bytes() == b"a"


def test_check_output_refuses_names_that_cannot_be_stored(tmp_path):
    with pytest.raises(BadInput):
        check_output(tmp_path / ("x" * 300 + ".npz"))
    with pytest.raises(BadInput):
        check_output(str(tmp_path / "a\0b.npz"))


# ------------------------------------------------------------------------------------------------ videos

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _rewrite_box(data: bytes, kind: bytes, fn) -> bytes:
    """Replace the body of the `kind` box inside moov/trak/mdia/minf/stbl with fn(body), sizes fixed."""
    def walk(start: int, end: int) -> bytes:
        out, pos = b"", start
        while pos + 8 <= end:
            size, k = struct.unpack(">I4s", data[pos:pos + 8])
            if k == kind:
                body = fn(data[pos + 8:pos + size])
                out += struct.pack(">I4s", len(body) + 8, k) + body
            elif k in _CONTAINERS:
                inner = walk(pos + 8, pos + size)
                out += struct.pack(">I4s", len(inner) + 8, k) + inner
            else:
                out += data[pos:pos + size]
            pos += size
        return out
    return walk(0, len(data))


def _make_video(path: Path, n: int = 60, fps: float = 30, size=(64, 48)) -> Path:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        f = np.zeros((size[1], size[0], 3), np.uint8)
        f[:, :i % size[0]] = 200
        w.write(f)
    w.release()
    return path


def _vfr_video(path: Path) -> Path:
    """60 frames, the first half 17 ms apart and the second half 50 ms apart (same total length)."""
    data = _make_video(path).read_bytes()

    def stts(body: bytes) -> bytes:
        count, delta = struct.unpack(">II", body[8:16])
        return body[:4] + struct.pack(">IIIII", 2, count // 2, delta // 2, count - count // 2, delta * 3 // 2)
    path.write_bytes(_rewrite_box(data, b"stts", stts))
    return path


def _absurd_fps_video(path: Path) -> Path:
    """Frames 1/12800 s apart: the container says 12800 fps, and so do its timestamps."""
    data = _make_video(path).read_bytes()
    path.write_bytes(_rewrite_box(data, b"stts", lambda b: b[:8] + struct.pack(">II", struct.unpack(">I", b[8:12])[0],
                                                                                1)))
    return path


def test_probe_times_a_variable_frame_rate_video_by_its_timestamps_with_a_warning(tmp_path):
    from engine.video import probe

    info = probe(_vfr_video(tmp_path / "vfr.mp4"))
    assert len(info.warnings) == 1 and "variable frame rate" in info.warnings[0]
    assert 25 <= info.fps <= 35  # the average (the container's), not the first frames' 60
    assert probe(_make_video(tmp_path / "cfr.mp4")).warnings == ()


def test_probe_reports_an_absurd_frame_rate_and_takes_the_users(tmp_path):
    from engine.video import probe

    path = _absurd_fps_video(tmp_path / "fast.mp4")
    with pytest.raises(BadInput, match="implausible frame rate.*--fps"):
        probe(path)
    assert probe(path, fps=25).fps == 25


@pytest.mark.parametrize("content", [b"", b"\0" * 1000, bytes(range(256)) * 40])
def test_probe_turns_non_videos_into_bad_input(tmp_path, content):
    from engine.video import probe

    p = tmp_path / "x.mp4"
    p.write_bytes(content)
    with pytest.raises(BadInput):
        probe(p)


def test_probe_turns_a_truncated_video_into_bad_input(tmp_path):
    from engine.video import probe

    data = _make_video(tmp_path / "v.mp4").read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[:len(data) // 2])  # the index (moov) is at the end: gone
    with pytest.raises(BadInput):
        probe(p)


# ------------------------------------------------------------------------------------------------ CLI

def _engine(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "capture", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kw)


def _lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]


def test_capture_checks_every_output_before_it_starts(tmp_path):
    (tmp_path / "existing.npz").write_bytes(b"users")
    (tmp_path / "folder.bvh").mkdir()
    t0 = time.monotonic()
    r = _engine(SAMPLE, "-o", tmp_path / "existing.npz", "--overlay", tmp_path / "o.mp4",
                "--bvh", tmp_path / "folder.bvh")
    assert r.returncode == 2, r.stderr
    assert _lines(r.stderr) == [f"error: BVH {tmp_path / 'folder.bvh'} is a folder; give a file name inside it"]
    assert time.monotonic() - t0 < 30  # refused before the video is decoded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.npz", "folder.bvh"]
    assert (tmp_path / "existing.npz").read_bytes() == b"users"

    r = _engine(SAMPLE, "-o", tmp_path / "t.npz", "--overlay", "/proc/monocap-overlay.mp4")
    assert r.returncode == 2 and len(_lines(r.stderr)) == 1 and "overlay" in r.stderr, r.stderr
    (tmp_path / "existing.npz").chmod(0o444)
    r = _engine(SAMPLE, "-o", tmp_path / "existing.npz")
    assert r.returncode == 2 and _lines(r.stderr)[0].endswith("is read-only; make it writable or choose another "
                                                               "name"), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.npz", "folder.bvh"]


@pytest.mark.parametrize("what", ["random", "truncated", "absurd_fps", "start_past_end"])
def test_bad_videos_fail_in_exactly_one_line(tmp_path, what):
    video = tmp_path / "in.mp4"
    extra = []
    if what == "random":
        video.write_bytes(np.random.default_rng(1).bytes(50_000))
    elif what == "truncated":
        data = _make_video(tmp_path / "whole.mp4").read_bytes()
        video.write_bytes(data[:len(data) * 2 // 3])
        (tmp_path / "whole.mp4").unlink()
    elif what == "absurd_fps":
        _absurd_fps_video(video)
    else:
        _make_video(video)
        extra = ["--start", "100"]
    r = _engine(video, "-o", tmp_path / "t.npz", *extra)
    assert r.returncode == 2, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def _interrupt(tmp_path: Path, sig: int, extra: list[str], jsonl: bool) -> tuple[int, str, str, Path]:
    """A real capture of the sample (under a folder and name with spaces and non-ASCII characters), sent `sig`
    once its networks are running."""
    folder = tmp_path / "my clips \u00e9t\u00e9"
    folder.mkdir()
    video = folder / "\u30c0\u30f3\u30b9 1.mp4"
    shutil.copy(SAMPLE, video)
    out = tmp_path / "out dir"
    out.mkdir()
    (out / "take.npz").write_bytes(b"the user's old take")
    cmd = [sys.executable, "-m", "engine", "capture", str(video), "-o", str(out / "take.npz"),
           "--overlay", str(out / "over lay.mp4"), "--bvh", str(out / "m.bvh"), *extra]
    if jsonl:
        cmd += ["--progress", "jsonl"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    stream = p.stdout if jsonl else p.stderr
    deadline = time.monotonic() + 90
    while b"landmarks" not in seen and time.monotonic() < deadline:
        chunk = stream.read1(4096)
        if not chunk:
            break
        seen += chunk
    assert b"landmarks" in seen, seen.decode(errors="replace")
    time.sleep(0.3)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    if jsonl:
        stdout = seen + stdout
    else:
        stderr = seen + stderr
    return p.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"), out


def test_sigint_exits_130_in_one_line_and_leaves_nothing(tmp_path, model_paths):
    rc, _, stderr, out = _interrupt(tmp_path, signal.SIGINT, [], jsonl=False)
    assert rc == 130, stderr
    assert "terminate called" not in stderr and "Traceback" not in stderr
    assert _lines(stderr)[-1] == "error: interrupted (Ctrl-C): nothing was written"
    assert sorted(os.listdir(out)) == ["take.npz"]  # no overlay, no BVH, no hidden temporary
    assert (out / "take.npz").read_bytes() == b"the user's old take"


def test_sigterm_exits_143_with_a_protocol_error_and_leaves_no_temporary(tmp_path, model_paths):
    import json

    rc, stdout, stderr, out = _interrupt(tmp_path, signal.SIGTERM, [], jsonl=True)
    assert rc == 143, stderr
    assert stderr.strip() == ""  # native libraries' chatter kept off stderr
    assert json.loads(stdout.splitlines()[-1]) == {"error": "terminated: nothing was written",
                                                   "kind": "interrupted"}
    assert sorted(os.listdir(out)) == ["take.npz"]
    assert (out / "take.npz").read_bytes() == b"the user's old take"
